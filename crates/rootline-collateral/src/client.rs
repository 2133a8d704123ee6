//! The fetching client: cache first, then the network (unless offline),
//! with timeouts, bounded retries on 429/503 and a progress line.

use std::io::{IsTerminal as _, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::cache::{self, cache_path, issuer_chain_path};
use crate::{Artifact, Error};

/// Largest response accepted (the largest real artifact, a TCB info, is
/// about 30 KB; a PCK CRL can grow to a few hundred KB).
const MAX_BODY: u64 = 8 << 20;

/// How the client behaves.
#[derive(Clone, Debug)]
pub struct Config {
    /// The cache folder; [`Config::default_cache_dir`] when `None`.
    pub cache_dir: Option<PathBuf>,
    /// Never touch the network.
    pub offline: bool,
    /// Timeout of one request, connection included.
    pub timeout: Duration,
    /// Attempts per artifact when the service answers 429 or 503.
    pub max_attempts: u32,
    /// First backoff delay when the service sends no `Retry-After`; doubled
    /// on each retry.
    pub backoff: Duration,
    /// Longest single wait, whatever `Retry-After` asks.
    pub max_wait: Duration,
    /// Print a progress line on stderr when a download takes longer than this.
    pub progress_after: Option<Duration>,
    /// Fetch an artifact again this long before its nextUpdate (CRLs, TCB
    /// info, QE identity), so that a verifier never waits for the vendor at
    /// the moment the cached copy expires. Zero: only once it has expired.
    pub refresh_before: Duration,
    /// After a failed download, the network is not asked for the same
    /// artifact again for this long: the cached copy is served meanwhile
    /// (or the failure repeated when there is none), so that an unreachable
    /// vendor costs one timeout per interval rather than one per request.
    pub retry_failed_after: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            cache_dir: None,
            offline: false,
            timeout: Duration::from_secs(30),
            max_attempts: 5,
            backoff: Duration::from_millis(500),
            max_wait: Duration::from_secs(60),
            progress_after: Some(Duration::from_secs(1)),
            refresh_before: Duration::ZERO,
            retry_failed_after: Duration::ZERO,
        }
    }
}

impl Config {
    /// `$XDG_CACHE_HOME/rootline`, else `$HOME/.cache/rootline`.
    pub fn default_cache_dir() -> Option<PathBuf> {
        let nonempty = |k| std::env::var_os(k).filter(|v| !v.is_empty());
        nonempty("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| nonempty("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .map(|d| d.join("rootline"))
    }
}

/// Where an artifact came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Read from the on-disk cache.
    Cache,
    /// Read from the cache shared with other replicas ([`SharedCache`]).
    Shared,
    /// Downloaded (and cached).
    Network,
}

/// An artifact as kept in a [`SharedCache`]: its bytes as cached (CRLs in
/// DER) and its issuer chain (PEM) when it has one.
#[derive(Clone, Debug)]
pub struct SharedEntry {
    /// The artifact.
    pub body: Vec<u8>,
    /// Its issuer chain.
    pub chain: Option<Vec<u8>>,
}

/// A cache shared by several verifiers (the broker's replicas keep it in
/// their common store), consulted after the on-disk cache and before the
/// network, and filled with whatever is fetched. Entries are re-checked on
/// the way out like any cached file, and verified later against the pinned
/// roots: a shared cache is not trusted for its content.
///
/// Both calls may block; failures are the implementation's to log (a cache
/// that cannot be read is a miss, one that cannot be written loses nothing).
pub trait SharedCache: Send + Sync + std::fmt::Debug {
    /// The entry kept for `url`.
    fn load(&self, url: &str) -> Option<SharedEntry>;
    /// Keeps `entry` for `url`, replacing what was there.
    fn store(&self, url: &str, entry: &SharedEntry);
}

/// What a client has done since it was made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Artifacts served from the on-disk cache.
    pub disk_hits: u64,
    /// Artifacts served from the shared cache.
    pub shared_hits: u64,
    /// Artifacts downloaded.
    pub fetched: u64,
    /// Downloads that failed (after their retries).
    pub fetch_failures: u64,
    /// Artifacts handed over past their nextUpdate (offline, or the vendor
    /// unreachable): the verifier refuses them.
    pub stale_used: u64,
}

#[derive(Debug, Default)]
struct Counters {
    disk_hits: AtomicU64,
    shared_hits: AtomicU64,
    fetched: AtomicU64,
    fetch_failures: AtomicU64,
    stale_used: AtomicU64,
}

/// A cached artifact and where it was found.
struct Cached {
    bytes: Vec<u8>,
    chain: Option<Vec<u8>>,
    next: Option<i64>,
    source: Source,
}

impl Cached {
    fn into_fetched(
        self,
        path: PathBuf,
        chain_path: PathBuf,
        notes: Vec<String>,
        refresh_error: Option<String>,
    ) -> Fetched {
        Fetched {
            issuer_chain: self.chain.map(|c| (chain_path, c)),
            path,
            bytes: self.bytes,
            source: self.source,
            notes,
            refresh_error,
        }
    }
}

fn fmt_time(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| t.to_string())
}

/// An artifact's bytes, and its issuer chain when it has one.
#[derive(Clone, Debug)]
pub struct Fetched {
    /// The artifact's cache file.
    pub path: PathBuf,
    /// Its bytes (CRLs in DER).
    pub bytes: Vec<u8>,
    /// The issuer chain (PEM) and its cache file.
    pub issuer_chain: Option<(PathBuf, Vec<u8>)>,
    /// Cache or network.
    pub source: Source,
    /// Caveats (a stale artifact used offline...).
    pub notes: Vec<String>,
    /// Set when the artifact is past its nextUpdate and fetching a new one
    /// failed: why, and since when it is stale.
    pub refresh_error: Option<String>,
}

/// A cache plus an HTTP client.
#[derive(Debug)]
pub struct Client {
    cfg: Config,
    dir: Option<PathBuf>,
    agent: std::sync::OnceLock<ureq::Agent>,
    requests: AtomicU32,
    shared: Option<Arc<dyn SharedCache>>,
    stats: Counters,
    /// The last failed download per URL: when, and why.
    failed: std::sync::Mutex<std::collections::HashMap<String, (Instant, String)>>,
    /// Artifacts read recently, by URL (see [`MEMORY_FOR`]).
    memory: std::sync::Mutex<std::collections::HashMap<String, Remembered>>,
}

/// How long an artifact read from a cache is served from memory without
/// looking at the disk and the shared cache again: a broker verifies many
/// guests of one platform, and reading and re-checking the same files for
/// each cost more than verifying its quote. Short enough that another
/// replica's refresh (through the shared cache) is seen within it.
const MEMORY_FOR: Duration = Duration::from_secs(30);

/// An artifact kept in memory: what `get` returned, its nextUpdate, when.
#[derive(Clone, Debug)]
struct Remembered {
    fetched: Fetched,
    next: Option<i64>,
    at: Instant,
}

enum Attempt {
    Done(Vec<u8>, Option<String>),
    Retry(u16, Option<Duration>),
}

impl Client {
    /// A client with `cfg`.
    pub fn new(cfg: Config) -> Self {
        let dir = cfg.cache_dir.clone().or_else(Config::default_cache_dir);
        Self {
            cfg,
            dir,
            agent: std::sync::OnceLock::new(),
            requests: AtomicU32::new(0),
            shared: None,
            stats: Counters::default(),
            failed: Default::default(),
            memory: Default::default(),
        }
    }

    /// Also keeps what is fetched in `shared`, and reads from it what the
    /// on-disk cache lacks.
    pub fn with_shared(mut self, shared: Arc<dyn SharedCache>) -> Self {
        self.shared = Some(shared);
        self
    }

    /// What this client has served, fetched and failed to fetch.
    pub fn stats(&self) -> Stats {
        let l = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Stats {
            disk_hits: l(&self.stats.disk_hits),
            shared_hits: l(&self.stats.shared_hits),
            fetched: l(&self.stats.fetched),
            fetch_failures: l(&self.stats.fetch_failures),
            stale_used: l(&self.stats.stale_used),
        }
    }

    /// True when this client never touches the network.
    pub fn is_offline(&self) -> bool {
        self.cfg.offline
    }

    /// The cache folder in use.
    pub fn cache_dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// HTTP requests sent so far (retries included).
    pub fn requests(&self) -> u32 {
        self.requests.load(Ordering::Relaxed)
    }

    /// The cache file of `a`.
    pub fn path_of(&self, a: &Artifact) -> Result<PathBuf, Error> {
        cache_path(self.dir.as_deref().ok_or(Error::NoCacheDir)?, &a.url)
    }

    /// The artifact from the cache when there and fresh at `at` (unix
    /// seconds; the verification time), else from the shared cache, else
    /// from the network (unless offline), cached before it is returned.
    ///
    /// An artifact within [`Config::refresh_before`] of its nextUpdate is
    /// fetched again ahead of time; while the vendor cannot be reached the
    /// cached copy is kept (with a note) until its nextUpdate, and after
    /// that it is still returned, marked in [`Fetched::refresh_error`], so
    /// that the verifier refuses it for being stale and says since when.
    pub fn get(&self, a: &Artifact, at: i64) -> Result<Fetched, Error> {
        let remembered = self
            .memory
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&a.url)
            .cloned();
        if let Some(r) = remembered {
            let comfortable = r
                .next
                .is_none_or(|n| at.saturating_add(self.cfg.refresh_before.as_secs() as i64) <= n);
            if comfortable && r.at.elapsed() < MEMORY_FOR {
                self.count_hit(Source::Cache);
                return Ok(r.fetched);
            }
        }
        let got = self.get_uncached(a, at)?;
        // Only a copy good for a while is remembered: not a stale one, not
        // one kept despite a failed refresh (those are looked at again).
        if got.refresh_error.is_none() && got.notes.is_empty() {
            if let Ok((_, next)) = cache::check(a.kind, &got.bytes) {
                let mut m = self
                    .memory
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if m.len() >= 4096 {
                    m.clear();
                }
                m.insert(
                    a.url.clone(),
                    Remembered {
                        fetched: Fetched {
                            source: Source::Cache,
                            ..got.clone()
                        },
                        next,
                        at: Instant::now(),
                    },
                );
            }
        }
        Ok(got)
    }

    fn get_uncached(&self, a: &Artifact, at: i64) -> Result<Fetched, Error> {
        let path = self.path_of(a)?;
        let chain_path = issuer_chain_path(&path);
        let wants_chain = !a.issuer_chain_headers.is_empty();
        let mut notes = Vec::new();
        let mut cached: Option<Cached> = None;
        if let Some(bytes) = cache::read(&path)? {
            let chain = if wants_chain {
                cache::read(&chain_path)?
            } else {
                None
            };
            match cache::check(a.kind, &bytes) {
                Ok((bytes, next)) if !wants_chain || chain.is_some() => {
                    cached = Some(Cached {
                        bytes,
                        chain,
                        next,
                        source: Source::Cache,
                    });
                }
                Ok(_) => {}
                Err(e) => notes.push(format!(
                    "{} in the cache ({}) is unreadable ({e}); fetching it again",
                    a.what,
                    path.display()
                )),
            }
        }
        let comfortable = |c: &Option<Cached>| {
            c.as_ref().is_some_and(|c| {
                c.next.is_none_or(|n| {
                    at.saturating_add(self.cfg.refresh_before.as_secs() as i64) <= n
                })
            })
        };
        if !comfortable(&cached) {
            if let Some(shared) = &self.shared {
                if let Some(e) = shared.load(&a.url) {
                    match cache::check(a.kind, &e.body) {
                        Ok((bytes, next)) if !wants_chain || e.chain.is_some() => {
                            let newer = match &cached {
                                None => true,
                                Some(c) => next.unwrap_or(i64::MAX) > c.next.unwrap_or(i64::MAX),
                            };
                            if newer {
                                // Best effort: the disk is a cache of the
                                // shared cache.
                                if let Some(c) = &e.chain {
                                    let _ = cache::write_atomic(&chain_path, c);
                                }
                                let _ = cache::write_atomic(&path, &bytes);
                                cached = Some(Cached {
                                    bytes,
                                    chain: e.chain,
                                    next,
                                    source: Source::Shared,
                                });
                            }
                        }
                        _ => notes.push(format!(
                            "{} in the shared cache is unusable; fetching it again",
                            a.what
                        )),
                    }
                }
            }
        }
        let fresh = |c: &Cached| c.next.is_none_or(|n| at <= n);
        if comfortable(&cached) || (self.cfg.offline && cached.is_some()) {
            if let Some(c) = cached {
                if !fresh(&c) {
                    self.stats.stale_used.fetch_add(1, Ordering::Relaxed);
                    notes.push(format!(
                        "{} in the cache ({}) is past its nextUpdate; --offline keeps it",
                        a.what,
                        path.display()
                    ));
                }
                self.count_hit(c.source);
                return Ok(c.into_fetched(path, chain_path, notes, None));
            }
        }
        if self.cfg.offline {
            let extra = if wants_chain {
                format!(
                    " and its issuer chain (the {} response header, as PEM) at {}",
                    a.issuer_chain_headers.first().copied().unwrap_or_default(),
                    chain_path.display()
                )
            } else if let Some(p) = &a.post {
                format!(
                    " (its name ends with the base64url of the DER request POSTed to {})",
                    p.to
                )
            } else {
                String::new()
            };
            return Err(Error::Offline {
                what: a.what.clone(),
                kind: a.kind,
                path,
                url: a.url.clone(),
                extra,
            });
        }
        match self.fetch_throttled(a) {
            Ok((bytes, chain)) => {
                self.stats.fetched.fetch_add(1, Ordering::Relaxed);
                // The chain first: an artifact without its chain is not a cache hit.
                if let Some(c) = &chain {
                    cache::write_atomic(&chain_path, c)?;
                }
                cache::write_atomic(&path, &bytes)?;
                if let Some(shared) = &self.shared {
                    shared.store(
                        &a.url,
                        &SharedEntry {
                            body: bytes.clone(),
                            chain: chain.clone(),
                        },
                    );
                }
                Ok(Fetched {
                    issuer_chain: chain.map(|c| (chain_path, c)),
                    path,
                    bytes,
                    source: Source::Network,
                    notes,
                    refresh_error: None,
                })
            }
            Err(e) => {
                self.stats.fetch_failures.fetch_add(1, Ordering::Relaxed);
                let Some(c) = cached else { return Err(e) };
                self.count_hit(c.source);
                let until = c.next.map(fmt_time).unwrap_or_default();
                let refresh_error = if fresh(&c) {
                    notes.push(format!(
                        "{} could not be refreshed ahead of its nextUpdate ({until}): {e}; the cached copy is used until then",
                        a.what
                    ));
                    None
                } else {
                    self.stats.stale_used.fetch_add(1, Ordering::Relaxed);
                    Some(format!(
                        "{} is stale since {until} (its nextUpdate) and could not be refreshed: {e}",
                        a.what
                    ))
                };
                Ok(c.into_fetched(path, chain_path, notes, refresh_error))
            }
        }
    }

    /// [`Self::fetch`], unless the last attempt for the same URL failed
    /// less than [`Config::retry_failed_after`] ago: then that failure again.
    fn fetch_throttled(&self, a: &Artifact) -> Result<(Vec<u8>, Option<Vec<u8>>), Error> {
        if !self.cfg.retry_failed_after.is_zero() {
            if let Some((when, why)) = self.failed().get(&a.url) {
                if when.elapsed() < self.cfg.retry_failed_after {
                    return Err(Error::Transport {
                        what: a.what.clone(),
                        url: a.url.clone(),
                        reason: format!(
                            "{why} (the last attempt, {} s ago; the next in at most {} s)",
                            when.elapsed().as_secs(),
                            self.cfg.retry_failed_after.as_secs()
                        ),
                    });
                }
            }
        }
        let r = self.fetch(a);
        let mut f = self.failed();
        match &r {
            Ok(_) => {
                f.remove(&a.url);
            }
            Err(e) if !self.cfg.retry_failed_after.is_zero() => {
                // Bounded: one entry per artifact URL a verifier asked for.
                if f.len() > 4096 {
                    f.clear();
                }
                f.insert(a.url.clone(), (Instant::now(), e.to_string()));
            }
            Err(_) => {}
        }
        r
    }

    fn failed(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, (Instant, String)>> {
        self.failed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn count_hit(&self, source: Source) {
        match source {
            Source::Shared => &self.stats.shared_hits,
            _ => &self.stats.disk_hits,
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    /// Downloads `a` and checks it is the artifact asked for; returns it
    /// normalised, with its issuer chain when it has one.
    fn fetch(&self, a: &Artifact) -> Result<(Vec<u8>, Option<Vec<u8>>), Error> {
        let wants_chain = !a.issuer_chain_headers.is_empty();
        let (raw, chain) = self.download(a)?;
        let (bytes, _) = cache::check(a.kind, &raw).map_err(|reason| Error::BadResponse {
            what: a.what.clone(),
            url: a.url.clone(),
            reason,
        })?;
        let chain = match (wants_chain, chain) {
            (false, _) => None,
            (true, None) => {
                return Err(Error::BadResponse {
                    what: a.what.clone(),
                    url: a.url.clone(),
                    reason: format!(
                        "no {} header with the issuer chain",
                        a.issuer_chain_headers.join(" or ")
                    ),
                });
            }
            (true, Some(c)) => {
                let pem = c.into_bytes();
                let certs = cache::pem_blocks(&pem, "CERTIFICATE").unwrap_or_default();
                if certs.is_empty() {
                    return Err(Error::BadResponse {
                        what: a.what.clone(),
                        url: a.url.clone(),
                        reason: "the issuer chain header holds no PEM certificate".into(),
                    });
                }
                Some(pem)
            }
        };
        Ok((bytes, chain))
    }

    fn agent(&self) -> &ureq::Agent {
        self.agent.get_or_init(|| {
            let crypto = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            let tls = ureq::tls::TlsConfig::builder()
                .provider(ureq::tls::TlsProvider::Rustls)
                .unversioned_rustls_crypto_provider(crypto)
                .build();
            ureq::Agent::config_builder()
                .tls_config(tls)
                .http_status_as_error(false)
                .timeout_global(Some(self.cfg.timeout))
                .max_redirects(4)
                .user_agent(concat!("rootline/", env!("CARGO_PKG_VERSION")))
                .build()
                .new_agent()
        })
    }

    /// Downloads with retries; returns the body and the first issuer-chain
    /// header found, URL-decoded.
    fn download(&self, a: &Artifact) -> Result<(Vec<u8>, Option<String>), Error> {
        let mut delay = self.cfg.backoff;
        let attempts = self.cfg.max_attempts.max(1);
        for n in 1..=attempts {
            match self.attempt(a)? {
                Attempt::Done(body, chain) => return Ok((body, chain)),
                Attempt::Retry(status, after) => {
                    if n == attempts {
                        return Err(Error::GaveUp {
                            what: a.what.clone(),
                            url: a.url.clone(),
                            status,
                            attempts,
                        });
                    }
                    let wait = after.unwrap_or(delay).min(self.cfg.max_wait);
                    if self.cfg.progress_after.is_some() {
                        eprintln!(
                            "rootline: {} answered HTTP {status} for {}; retrying in {:.1} s ({n}/{attempts})",
                            host(&a.url),
                            a.what,
                            wait.as_secs_f64()
                        );
                    }
                    std::thread::sleep(wait);
                    delay = delay.saturating_mul(2);
                }
            }
        }
        Err(Error::GaveUp {
            what: a.what.clone(),
            url: a.url.clone(),
            status: 0,
            attempts,
        })
    }

    fn attempt(&self, a: &Artifact) -> Result<Attempt, Error> {
        let received = AtomicU64::new(0);
        let done = AtomicBool::new(false);
        let (received, done) = (&received, &done);
        std::thread::scope(|s| {
            if let Some(after) = self.cfg.progress_after {
                s.spawn(move || progress(a, after, received, done));
            }
            let r = self.request(a, received);
            done.store(true, Ordering::Release);
            r
        })
    }

    fn request(&self, a: &Artifact, received: &AtomicU64) -> Result<Attempt, Error> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let fail = |e: ureq::Error| match e {
            ureq::Error::Timeout(_) => Error::Timeout {
                what: a.what.clone(),
                url: a.url.clone(),
                secs: self.cfg.timeout.as_secs(),
            },
            other => Error::Transport {
                what: a.what.clone(),
                url: a.url.clone(),
                reason: other.to_string(),
            },
        };
        let mut resp = match &a.post {
            Some(p) => self
                .agent()
                .post(&p.to)
                .header("Content-Type", p.content_type)
                .send(&p.body[..])
                .map_err(fail)?,
            None => self.agent().get(&a.url).call().map_err(fail)?,
        };
        let status = resp.status().as_u16();
        if status == 429 || status == 503 {
            let after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            return Ok(Attempt::Retry(status, after));
        }
        if status != 200 {
            return Err(Error::Status {
                what: a.what.clone(),
                url: a.url.clone(),
                status,
            });
        }
        let chain = a.issuer_chain_headers.iter().find_map(|h| {
            let v = resp.headers().get(*h)?.to_str().ok()?;
            Some(
                percent_encoding::percent_decode_str(v)
                    .decode_utf8_lossy()
                    .into_owned(),
            )
        });
        let mut reader = resp.body_mut().with_config().limit(MAX_BODY).reader();
        let mut body = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        loop {
            let n = reader
                .read(&mut buf)
                .map_err(|e| fail(ureq::Error::from(e)))?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(buf.get(..n).unwrap_or_default());
            received.fetch_add(n as u64, Ordering::Relaxed);
        }
        Ok(Attempt::Done(body, chain))
    }
}

fn host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest)
}

/// After `after`, prints what is being fetched and how much has arrived;
/// on a terminal the line is redrawn, elsewhere printed once and again at
/// the end.
fn progress(a: &Artifact, after: Duration, received: &AtomicU64, done: &AtomicBool) {
    let start = Instant::now();
    let step = Duration::from_millis(50);
    while start.elapsed() < after {
        if done.load(Ordering::Acquire) {
            return;
        }
        std::thread::sleep(step);
    }
    let tty = std::io::stderr().is_terminal();
    let line = || {
        format!(
            "rootline: fetching {} from {}: {:.1} KiB, {:.1} s",
            a.what,
            host(&a.url),
            received.load(Ordering::Relaxed) as f64 / 1024.0,
            start.elapsed().as_secs_f64()
        )
    };
    let mut err = std::io::stderr();
    if tty {
        let _ = write!(err, "\r{}", line());
    } else {
        let _ = writeln!(err, "{}", line());
    }
    let mut last = Instant::now();
    while !done.load(Ordering::Acquire) {
        std::thread::sleep(step);
        if tty && last.elapsed() >= Duration::from_millis(250) {
            let _ = write!(err, "\r{}", line());
            last = Instant::now();
        }
    }
    if tty {
        let _ = writeln!(err, "\r{} (done)", line());
    } else {
        let _ = writeln!(err, "{} (done)", line());
    }
}

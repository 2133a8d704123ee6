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
    /// Read from the cache.
    Cache,
    /// Downloaded (and cached).
    Network,
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
}

/// A cache plus an HTTP client.
#[derive(Debug)]
pub struct Client {
    cfg: Config,
    dir: Option<PathBuf>,
    agent: std::sync::OnceLock<ureq::Agent>,
    requests: AtomicU32,
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
        }
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
    /// seconds; the verification time), else from the network (unless
    /// offline), cached before it is returned.
    pub fn get(&self, a: &Artifact, at: i64) -> Result<Fetched, Error> {
        let path = self.path_of(a)?;
        let chain_path = issuer_chain_path(&path);
        let wants_chain = !a.issuer_chain_headers.is_empty();
        let mut notes = Vec::new();
        if let Some(bytes) = cache::read(&path)? {
            let chain = if wants_chain {
                cache::read(&chain_path)?
            } else {
                None
            };
            match cache::check(a.kind, &bytes) {
                Ok((bytes, next)) if !wants_chain || chain.is_some() => {
                    let fresh = next.is_none_or(|n| at <= n);
                    if fresh || self.cfg.offline {
                        if !fresh {
                            notes.push(format!(
                                "{} in the cache ({}) is past its nextUpdate; --offline keeps it",
                                a.what,
                                path.display()
                            ));
                        }
                        return Ok(Fetched {
                            issuer_chain: chain.map(|c| (chain_path, c)),
                            path,
                            bytes,
                            source: Source::Cache,
                            notes,
                        });
                    }
                }
                Ok(_) => {}
                Err(e) => notes.push(format!(
                    "{} in the cache ({}) is unreadable ({e}); fetching it again",
                    a.what,
                    path.display()
                )),
            }
        }
        if self.cfg.offline {
            let extra = if wants_chain {
                format!(
                    " and its issuer chain (the {} response header, as PEM) at {}",
                    a.issuer_chain_headers.first().copied().unwrap_or_default(),
                    chain_path.display()
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
        // The chain first: an artifact without its chain is not a cache hit.
        if let Some(c) = &chain {
            cache::write_atomic(&chain_path, c)?;
        }
        cache::write_atomic(&path, &bytes)?;
        Ok(Fetched {
            issuer_chain: chain.map(|c| (chain_path, c)),
            path,
            bytes,
            source: Source::Network,
            notes,
        })
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
        let mut resp = self.agent().get(&a.url).call().map_err(fail)?;
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

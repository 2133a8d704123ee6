//! The KBS client: the guest's side of Trustee's protocol 0.4.0.
//!
//! `POST /kbs/v0/auth` gives a nonce and a `kbs-session-id` cookie; the
//! client makes a fresh TEE key (EC P-256, as guests do), binds
//! `hash(JCS({nonce, tee-pubkey, additional-evidence: ""}))` into its
//! evidence as current guests do (SHA-384 unless the broker selected
//! another), `POST /kbs/v0/attest` returns the EAR token, and `GET
//! /kbs/v0/resource/REPO/TYPE/TAG` returns a flattened JWE that only the
//! TEE key opens. Retries follow the guests: the handshake up to 5 times
//! one second apart, a resource GET up to 3 times; a refusal (400, 403,
//! 404, and a 401 whose problem type is a policy denial) is final and not
//! retried. Towards a broker that is not rootline (no `rootline-version`
//! in its challenge), evidence goes in guest-components' forms.
//!
//! HTTP is blocking `ureq` over rustls on aws-lc-rs. The token is shown,
//! not verified: the attester has no reason to trust or distrust its own
//! token, the broker and relying parties check it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rootline_jose::TeeKey;
use serde_json::{Value, json};
use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, DefaultConnector, NextTimeout, Transport,
};

use crate::{Attester, Error};

/// The protocol version this client speaks.
pub const PROTOCOL_VERSION: &str = "0.4.0";
/// The largest response body read (a token, a JWE of a resource).
const MAX_BODY: u64 = 16 << 20;

/// How often to try.
#[derive(Debug, Clone)]
pub struct Retry {
    /// Handshake attempts (auth + attest).
    pub handshake: u32,
    /// Resource GET attempts.
    pub resource: u32,
    /// Pause between attempts.
    pub delay: Duration,
}

impl Default for Retry {
    /// What Confidential Containers guests do: 5 handshakes 1 s apart, 3 GETs.
    fn default() -> Self {
        Self {
            handshake: 5,
            resource: 3,
            delay: Duration::from_secs(1),
        }
    }
}

impl Retry {
    /// One attempt each (load tests measure failures, they do not hide them).
    pub fn none() -> Self {
        Self {
            handshake: 1,
            resource: 1,
            delay: Duration::ZERO,
        }
    }
}

/// The host of `uri` when it is an IP address (IPv6 without its brackets),
/// and its port (the scheme's, 80 or 443, when none is written).
pub fn ip_and_port(uri: &ureq::http::Uri) -> (Option<std::net::IpAddr>, Option<u16>) {
    let ip = uri
        .host()
        .and_then(|h| h.trim_start_matches('[').trim_end_matches(']').parse().ok());
    let port = uri.port_u16().or(match uri.scheme_str() {
        Some("http") => Some(80),
        Some("https") => Some(443),
        _ => None,
    });
    (ip, port)
}

/// Resolves a URL whose host is an IP address without a lookup.
///
/// With a timeout set, ureq's default resolver runs every lookup on a new
/// thread so that it can give up on a slow DNS server, and it looks up
/// before it checks the connection pool, so every request started a thread,
/// even for `127.0.0.1`. Under load (`rootline bench kbs`: three requests a
/// handshake from each guest) those thread starts and their stacks' unmaps
/// were most of the load generator's system calls, and the unmaps sent
/// TLB-shootdown interrupts to the broker's core. Names still go to the
/// default resolver.
#[derive(Debug)]
struct LiteralResolver;

impl ureq::unversioned::resolver::Resolver for LiteralResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        match ip_and_port(uri) {
            (Some(ip), Some(port)) => {
                let mut addrs = self.empty();
                addrs.push(std::net::SocketAddr::new(ip, port));
                Ok(addrs)
            }
            _ => ureq::unversioned::resolver::DefaultResolver::default()
                .resolve(uri, config, timeout),
        }
    }
}

/// Sends each request's head and body in one write, as guests' HTTP
/// clients (hyper, under reqwest) do.
///
/// ureq transmits the head and then the body, so every POST reached the
/// broker as two segments: two reads there, often with a wake-up between
/// them, for one request. The connection's output is kept until the client
/// waits for the answer (`await_input`, or 64 KiB pending) and then written
/// at once; over TLS that also makes one record instead of two.
///
/// ureq may skip `await_input` when input is already buffered (an early
/// answer, or more after a `100 Continue`); output still pending then is
/// never sent, and such a connection reports itself closed so that the
/// pool never reuses it with those bytes in front of the next request.
#[derive(Debug)]
struct Coalesce;

/// Output pending in a [`Coalesced`] transport before it is written anyway.
const COALESCE_MAX: usize = 64 * 1024;

impl Connector<Box<dyn Transport>> for Coalesce {
    type Out = Coalesced;

    fn connect(
        &self,
        _: &ConnectionDetails,
        chained: Option<Box<dyn Transport>>,
    ) -> Result<Option<Coalesced>, ureq::Error> {
        Ok(chained.map(|inner| Coalesced {
            inner,
            pending: Vec::new(),
            broken: false,
        }))
    }
}

/// A transport whose output waits in `pending`; see [`Coalesce`].
struct Coalesced {
    inner: Box<dyn Transport>,
    pending: Vec<u8>,
    /// A write failed part-way: what is on the wire is unknown.
    broken: bool,
}

impl std::fmt::Debug for Coalesced {
    // Not the pending bytes: they hold cookies and tokens.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Coalesced({} bytes pending)", self.pending.len())
    }
}

impl Coalesced {
    /// Writes what is pending, dropping each part once it is sent.
    fn flush(&mut self, timeout: NextTimeout) -> Result<(), ureq::Error> {
        while !self.pending.is_empty() {
            let out = self.inner.buffers().output();
            let n = out.len().min(self.pending.len());
            if n == 0 {
                self.broken = true;
                return Err(ureq::Error::Io(std::io::Error::other(
                    "the connection has no output buffer",
                )));
            }
            out.iter_mut().zip(&self.pending).for_each(|(d, s)| *d = *s);
            if let Err(e) = self.inner.transmit_output(n, timeout) {
                self.broken = true;
                return Err(e);
            }
            self.pending.drain(..n);
        }
        Ok(())
    }
}

impl Transport for Coalesced {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        let out = self.inner.buffers().output();
        self.pending
            .extend_from_slice(out.get(..amount).unwrap_or(out));
        if self.pending.len() >= COALESCE_MAX {
            self.flush(timeout)?;
        }
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.flush(timeout)?;
        self.inner.await_input(timeout)
    }

    fn is_open(&mut self) -> bool {
        self.pending.is_empty() && !self.broken && self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}

/// A client for one broker.
#[derive(Debug, Clone)]
pub struct KbsClient {
    base: String,
    agent: ureq::Agent,
    /// Retry policy.
    pub retry: Retry,
}

/// An attested session: the cookie, the token and the TEE key that the
/// broker encrypts resources to.
#[derive(Debug)]
pub struct Session {
    /// The `kbs-session-id` cookie value.
    pub cookie: String,
    /// The EAR token (a JWT).
    pub token: String,
    /// The TEE key whose public half was attested.
    pub key: TeeKey,
    /// The runtime data bound into the evidence.
    pub runtime_data: Value,
    /// Time spent collecting evidence (the TEE's part of the handshake).
    pub evidence_time: Duration,
}

impl Session {
    /// The token's claims (its payload, decoded; not verified here).
    pub fn claims(&self) -> Result<Value, Error> {
        let payload = self
            .token
            .split('.')
            .nth(1)
            .ok_or_else(|| Error::malformed("token", "not a JWT"))?;
        let bytes = URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .map_err(|_| Error::malformed("token", "payload is not base64url"))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::malformed("token", format!("payload is not JSON: {e}")))
    }
}

/// A failure worth retrying: the transport, a server error, or a 401
/// (an expired or lost session: a new handshake may succeed).
fn transient(e: &Error) -> bool {
    match e {
        Error::Http { .. } => true,
        Error::Broker { status, .. } => {
            !e.is_policy_denial() && (*status >= 500 || *status == 401 || *status == 429)
        }
        _ => false,
    }
}

/// The `kbs-session-id` value from `Set-Cookie` headers.
pub(crate) fn session_cookie<'a>(headers: impl Iterator<Item = &'a str>) -> Option<String> {
    headers.into_iter().find_map(|h| {
        let first = h.split(';').next()?.trim();
        let (k, v) = first.split_once('=')?;
        (k.trim() == "kbs-session-id").then(|| v.trim().to_owned())
    })
}

impl KbsClient {
    /// A client for the broker at `base` (`http://` or `https://`), trusting
    /// `ca_pem` for TLS when given, else the Mozilla roots.
    pub fn new(base: &str, ca_pem: Option<&[u8]>) -> Result<Self, Error> {
        let base = base.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(Error::malformed(
                "kbs url",
                format!("{base:?} is not http(s)://"),
            ));
        }
        let roots = match ca_pem {
            None => RootCerts::WebPki,
            Some(pem) => {
                let certs: Vec<Certificate<'static>> = ureq::tls::parse_pem(pem)
                    .filter_map(|i| match i {
                        Ok(ureq::tls::PemItem::Certificate(c)) => Some(c.to_owned()),
                        _ => None,
                    })
                    .collect();
                if certs.is_empty() {
                    return Err(Error::malformed(
                        "ca certificate",
                        "no PEM certificate found",
                    ));
                }
                RootCerts::Specific(Arc::new(certs))
            }
        };
        let tls = TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .unversioned_rustls_crypto_provider(Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ))
            .root_certs(roots)
            .build();
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .tls_config(tls)
            .build();
        let agent = ureq::Agent::with_parts(
            config,
            DefaultConnector::default().chain(Coalesce),
            LiteralResolver,
        );
        Ok(Self {
            base,
            agent,
            retry: Retry::default(),
        })
    }

    /// A client over a transport the caller built (`kbs_serial`).
    pub(crate) fn from_agent(base: &str, agent: ureq::Agent) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            agent,
            retry: Retry::default(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request and reads the body; non-2xx answers become
    /// [`Error::Broker`] with the RFC 7807 `detail` when there is one.
    pub(crate) fn exchange(
        &self,
        method: &str,
        path: &str,
        cookie: Option<&str>,
        bearer: Option<&str>,
        body: Option<&Value>,
    ) -> Result<(Vec<u8>, Vec<String>), Error> {
        let url = self.url(path);
        let http = |e: ureq::Error| Error::Http {
            url: url.clone(),
            reason: e.to_string(),
        };
        let mut resp = match method {
            "GET" => {
                let mut r = self.agent.get(&url);
                if let Some(c) = cookie {
                    r = r.header("Cookie", format!("kbs-session-id={c}"));
                }
                if let Some(t) = bearer {
                    r = r.header("Authorization", format!("Bearer {t}"));
                }
                r.call().map_err(http)?
            }
            _ => {
                let mut r = self.agent.post(&url).content_type("application/json");
                if let Some(c) = cookie {
                    r = r.header("Cookie", format!("kbs-session-id={c}"));
                }
                let bytes = serde_json::to_vec(body.unwrap_or(&Value::Null))
                    .map_err(|e| Error::malformed("request", e.to_string()))?;
                r.send(&bytes[..]).map_err(http)?
            }
        };
        let status = resp.status().as_u16();
        let cookies: Vec<String> = resp
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()
            .map_err(http)?;
        if !(200..300).contains(&status) {
            let problem = serde_json::from_slice::<Value>(&bytes).ok();
            let field = |k: &str| {
                problem
                    .as_ref()
                    .and_then(|v| v.get(k).and_then(Value::as_str).map(str::to_owned))
            };
            let detail = field("detail")
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes).chars().take(500).collect());
            return Err(Error::Broker {
                status,
                url,
                detail,
                kind: field("type"),
            });
        }
        Ok((bytes, cookies))
    }

    /// Runs the handshake with retries (see [`Retry`]).
    pub fn attest(&self, attester: &mut dyn Attester) -> Result<Session, Error> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.attest_once(attester) {
                Ok(s) => return Ok(s),
                Err(e) if transient(&e) && attempt < self.retry.handshake => {
                    std::thread::sleep(self.retry.delay);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One handshake: auth, evidence, attest.
    pub fn attest_once(&self, attester: &mut dyn Attester) -> Result<Session, Error> {
        let challenge = self.auth(attester.tee())?;
        let (key, runtime_data, report_data) = bind_new_key(&challenge)?;
        let t = Instant::now();
        // A rootline broker says so in its challenge and reads the richer
        // forms (TPM: every bank, the event log); any other broker gets the
        // forms guest-components sends, which Trustee's KBS reads.
        let evidence = if challenge.rootline {
            attester.evidence(&report_data)?
        } else {
            attester.guest_components_evidence(&report_data)?
        };
        let evidence_time = t.elapsed();
        let token = self.post_attest(&challenge.cookie, &runtime_data, evidence)?;
        Ok(Session {
            cookie: challenge.cookie,
            token,
            key,
            runtime_data,
            evidence_time,
        })
    }

    /// The request step: `POST /kbs/v0/auth` for `tee`, checked.
    pub(crate) fn auth(&self, tee: &str) -> Result<Challenge, Error> {
        let req = json!({
            "version": PROTOCOL_VERSION,
            "tee": tee,
            "extra-params": {"supported-hash-algorithms": ["sha256", "sha384", "sha512"]},
        });
        let (body, cookies) = self.exchange("POST", "/kbs/v0/auth", None, None, Some(&req))?;
        let challenge: kbs_types::Challenge = serde_json::from_slice(&body)
            .map_err(|e| Error::malformed("challenge", e.to_string()))?;
        let cookie = session_cookie(cookies.iter().map(String::as_str))
            .ok_or_else(|| Error::malformed("challenge", "no kbs-session-id cookie was set"))?;
        if challenge.nonce.is_empty() || challenge.nonce.len() > 1024 {
            return Err(Error::malformed("challenge", "nonce is empty or too long"));
        }
        let hash = challenge
            .extra_params
            .get("selected-hash-algorithm")
            .and_then(Value::as_str)
            .unwrap_or("sha384")
            .to_ascii_lowercase();
        let rootline = challenge
            .extra_params
            .get(ROOTLINE_MARK)
            .is_some_and(|v| !v.is_null());
        Ok(Challenge {
            cookie,
            nonce: challenge.nonce,
            hash,
            rootline,
        })
    }

    /// The attestation step: `POST /kbs/v0/attest` with the runtime data and
    /// the evidence; returns the token.
    pub(crate) fn post_attest(
        &self,
        cookie: &str,
        runtime_data: &Value,
        evidence: Value,
    ) -> Result<String, Error> {
        let attestation = json!({
            "runtime-data": runtime_data,
            "tee-evidence": {"primary_evidence": evidence, "additional_evidence": ""},
        });
        let (body, _) = self.exchange(
            "POST",
            "/kbs/v0/attest",
            Some(cookie),
            None,
            Some(&attestation),
        )?;
        serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v.get("token").and_then(Value::as_str).map(str::to_owned))
            .ok_or_else(|| Error::malformed("attestation response", "no token string"))
    }

    /// Fetches and decrypts `repo/type/tag` with retries (see [`Retry`]),
    /// authorised by the session cookie and the token.
    pub fn get_resource(&self, session: &Session, path: &str) -> Result<Vec<u8>, Error> {
        let path = resource_path(path)?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let r = self
                .exchange(
                    "GET",
                    &format!("/kbs/v0/resource/{path}"),
                    Some(&session.cookie),
                    Some(&session.token),
                    None,
                )
                .and_then(|(body, _)| {
                    session
                        .key
                        .decrypt(&body)
                        .map_err(|e| Error::Crypto(format!("resource {path}: {e}")))
                });
            match r {
                Ok(v) => return Ok(v),
                Err(e) if transient(&e) && attempt < self.retry.resource => {
                    std::thread::sleep(self.retry.delay);
                }
                Err(e) => return Err(e),
            }
        }
    }
}

pub use rootline_kbs::ROOTLINE_MARK;

/// What `/auth` answered: the session cookie, the nonce, the hash the
/// broker selected for the binding, and whether the broker is rootline.
pub(crate) struct Challenge {
    pub(crate) cookie: String,
    pub(crate) nonce: String,
    pub(crate) hash: String,
    pub(crate) rootline: bool,
}

/// A fresh P-256 tee key, the runtime data `{nonce, tee-pubkey}` sent with
/// it, and the report data the evidence must carry: the binding current
/// guests compute, over `{nonce, tee-pubkey, additional-evidence: ""}`
/// (this attester sends no device evidence).
pub(crate) fn bind_new_key(c: &Challenge) -> Result<(TeeKey, Value, Vec<u8>), Error> {
    let key = TeeKey::generate_ec("P-256").map_err(|e| Error::Crypto(e.to_string()))?;
    let runtime_data = json!({
        "nonce": c.nonce,
        "tee-pubkey": key.public_jwk().map_err(|e| Error::Crypto(e.to_string()))?,
    });
    let report_data = binding(&runtime_data, &c.hash)?;
    Ok((key, runtime_data, report_data))
}

/// The report data for `runtime_data` (`{nonce, tee-pubkey}`) as current
/// guests bind it: the selected hash of the RFC 8785 canonical JSON of the
/// runtime data with `additional-evidence: ""` added (rootline-kbs).
pub fn binding(runtime_data: &Value, hash: &str) -> Result<Vec<u8>, Error> {
    let h = rootline_kbs::BindingHash::from_name(hash).ok_or_else(|| {
        Error::Unsupported(format!("binding hash {hash:?} selected by the broker"))
    })?;
    rootline_kbs::Binding::current(runtime_data, "", h)
        .map(|b| b.digest)
        .map_err(|e| Error::malformed("runtime-data", e))
}

/// `kbs:///REPO/TYPE/TAG` or `REPO/TYPE/TAG` to `REPO/TYPE/TAG`, each
/// segment letters, digits, `.`, `_` or `-` (and not `..`).
pub fn resource_path(uri: &str) -> Result<String, Error> {
    let p = uri
        .strip_prefix("kbs:///")
        .or_else(|| uri.strip_prefix("kbs://"))
        .unwrap_or(uri)
        .trim_start_matches('/');
    let segs: Vec<&str> = p.split('/').collect();
    let ok = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    };
    if segs.len() != 3 || !segs.iter().all(|s| ok(s)) {
        return Err(Error::malformed(
            "resource",
            format!("{uri:?} is not kbs:///REPOSITORY/TYPE/TAG"),
        ));
    }
    Ok(segs.join("/"))
}

/// Standard base64, for callers printing binary secrets.
pub fn base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn resource_uris() {
        assert_eq!(
            resource_path("kbs:///default/key/one").unwrap(),
            "default/key/one"
        );
        assert_eq!(resource_path("default/key/one").unwrap(), "default/key/one");
        for bad in [
            "kbs:///a/b",
            "kbs:///a/../b",
            "kbs:///a/b/c/d",
            "a/b/c%2f",
            "a//b",
        ] {
            assert!(resource_path(bad).is_err(), "{bad}");
        }
    }

    /// An inner transport that records each write, and fails writes when
    /// told to.
    #[derive(Debug)]
    struct Recording {
        buffers: ureq::unversioned::transport::LazyBuffers,
        writes: Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
        fail: bool,
    }

    impl Transport for Recording {
        fn buffers(&mut self) -> &mut dyn Buffers {
            &mut self.buffers
        }
        fn transmit_output(&mut self, amount: usize, _: NextTimeout) -> Result<(), ureq::Error> {
            if self.fail {
                return Err(ureq::Error::Io(std::io::Error::other("refused")));
            }
            let data = self.buffers.output()[..amount].to_vec();
            self.writes.lock().unwrap().push(data);
            Ok(())
        }
        fn await_input(&mut self, _: NextTimeout) -> Result<bool, ureq::Error> {
            Ok(false)
        }
        fn is_open(&mut self) -> bool {
            true
        }
    }

    /// A coalescing transport over a recording one (output buffer `out`
    /// bytes), and the record.
    fn coalesced(out: usize, fail: bool) -> (Coalesced, Arc<std::sync::Mutex<Vec<Vec<u8>>>>) {
        let writes = Arc::new(std::sync::Mutex::new(Vec::new()));
        let inner = Recording {
            buffers: ureq::unversioned::transport::LazyBuffers::new(1024, out),
            writes: writes.clone(),
            fail,
        };
        let t = Coalesced {
            inner: Box::new(inner),
            pending: Vec::new(),
            broken: false,
        };
        (t, writes)
    }

    /// Writes `data` through `t` as ureq does: into the output buffer, then
    /// `transmit_output`.
    fn send(t: &mut Coalesced, data: &[u8]) {
        t.buffers().output()[..data.len()].copy_from_slice(data);
        t.transmit_output(data.len(), NextTimeout::default())
            .unwrap();
    }

    #[test]
    fn head_and_body_leave_in_one_write_when_the_answer_is_awaited() {
        let (mut t, writes) = coalesced(4096, false);
        send(&mut t, b"POST /kbs/v0/attest HTTP/1.1\r\n\r\n");
        send(&mut t, b"{\"body\":1}");
        assert!(writes.lock().unwrap().is_empty(), "nothing before the wait");
        // Bytes still pending: the pool must not take the connection.
        assert!(!t.is_open());
        t.await_input(NextTimeout::default()).unwrap();
        assert_eq!(
            *writes.lock().unwrap(),
            [b"POST /kbs/v0/attest HTTP/1.1\r\n\r\n{\"body\":1}".to_vec()]
        );
        assert!(t.is_open());

        // More than the inner buffer holds: in order, in its chunks.
        let (mut t, writes) = coalesced(8, false);
        for part in [&b"01234567"[..], b"89abcdef", b"gh"] {
            send(&mut t, part);
        }
        t.await_input(NextTimeout::default()).unwrap();
        let w = writes.lock().unwrap();
        assert_eq!(w.concat(), b"0123456789abcdefgh");
        assert_eq!(w.iter().map(Vec::len).collect::<Vec<_>>(), [8, 8, 2]);
    }

    #[test]
    fn a_failed_write_closes_the_connection() {
        let (mut t, _) = coalesced(4096, true);
        send(&mut t, b"GET / HTTP/1.1\r\n\r\n");
        assert!(t.await_input(NextTimeout::default()).is_err());
        assert!(!t.is_open());
    }

    #[test]
    fn ip_literals_resolve_without_a_lookup() {
        use ureq::unversioned::resolver::Resolver as _;
        let config = ureq::config::Config::default();
        let resolve = |u: &str| {
            let uri: ureq::http::Uri = u.parse().unwrap();
            LiteralResolver
                .resolve(&uri, &config, Default::default())
                .map(|a| a.iter().copied().collect::<Vec<_>>())
        };
        assert_eq!(
            resolve("http://127.0.0.1:8080/kbs").unwrap(),
            ["127.0.0.1:8080".parse().unwrap()]
        );
        assert_eq!(
            resolve("https://[::1]/kbs").unwrap(),
            ["[::1]:443".parse().unwrap()]
        );
        // A name still goes to the system resolver.
        let local = resolve("http://localhost:9/").unwrap();
        assert!(!local.is_empty() && local.iter().all(|a| a.ip().is_loopback() && a.port() == 9));
    }

    #[test]
    fn cookie_from_set_cookie() {
        let h = [
            "other=1; Path=/",
            "kbs-session-id=abc.def; Secure; HttpOnly; SameSite=Strict",
        ];
        assert_eq!(session_cookie(h.into_iter()).unwrap(), "abc.def");
        assert!(session_cookie(["x=1"].into_iter()).is_none());
    }

    #[test]
    fn binding_is_the_hash_of_the_canonical_json() {
        // Key order and whitespace do not change the binding; values do.
        let a: Value = serde_json::from_str(
            r#"{"tee-pubkey": {"y": "Y", "x": "X", "kty": "EC"}, "nonce": "n"}"#,
        )
        .unwrap();
        let b: Value =
            serde_json::from_str(r#"{"nonce":"n","tee-pubkey":{"kty":"EC","x":"X","y":"Y"}}"#)
                .unwrap();
        // As current guests: additional-evidence "" is part of the hash.
        let canon =
            br#"{"additional-evidence":"","nonce":"n","tee-pubkey":{"kty":"EC","x":"X","y":"Y"}}"#;
        let want = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA384, canon);
        assert_eq!(binding(&a, "sha384").unwrap(), want.as_ref());
        assert_eq!(binding(&b, "sha384").unwrap(), want.as_ref());
        assert_eq!(binding(&a, "sha512").unwrap().len(), 64);
        assert!(binding(&a, "md5").is_err());
    }
}

//! The relying party: a key broker that speaks Trustee's KBS protocol 0.4
//! (`kbs-types` wire shapes) and releases secrets only to attested
//! workloads, wrapped as a JWE to the key the workload attested.
//!
//! The server is a library: [`app`] turns a [`Broker`] (store, verifier
//! settings, appraiser, signing keys) into an axum `Router`; `rootline serve`
//! only loads configuration and runs it. Handshakes survive load balancing:
//! challenges are signed cookies and nonces are claimed once in the shared
//! store (see [`session`]). Resources are sealed at rest under a KEK
//! ([`kek`]); every release and denial is written to the audit log.
//!
//! Non-goals: no evidence parsing here (that is `rootline-verifier`'s), no
//! TLS termination policy beyond what `rootline serve` offers, no plugin
//! system beyond the `resource` plugin.

pub mod admin;
pub mod appraise;
pub mod audit;
pub mod cache;
pub mod collateral;
pub mod config;
pub mod devices;
mod error;
pub mod evidence;
pub mod floor;
pub mod health;
pub mod jwe;
pub mod kbs;
pub mod kek;
pub mod keys;
pub mod metrics;
pub mod openapi;
pub mod policy;
pub mod se;
pub mod server;
pub mod service;
pub mod session;
pub mod sim;
pub mod store;
pub mod tls;
pub mod token;
pub mod tpm_activation;
pub mod trustee_admin;
pub mod web;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::Router;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::MethodRouter;

pub use config::Config;
pub use error::{Error, Result, loggable};

use crate::appraise::{Appraiser, PolicyAppraiser};
use crate::evidence::VerifierConfig;
use crate::kek::Kek;
use crate::keys::PublicKey;
use crate::policy::PolicyCache;
use crate::session::SessionKeys;
use crate::store::Store;
use crate::token::{TokenSigner, TokenVerifier};

/// The broker's clock: system time plus an offset that tests may move.
#[derive(Debug, Clone, Default)]
pub struct Clock(Arc<AtomicI64>);

impl Clock {
    /// Unix seconds now.
    pub fn now(&self) -> i64 {
        let sys = time::OffsetDateTime::now_utc().unix_timestamp();
        sys + self.0.load(Ordering::Relaxed)
    }

    /// Moves the clock forward (tests: expiry without sleeping).
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::Relaxed);
    }
}

/// Everything a broker is built from, already loaded.
pub struct BrokerOptions {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The key-encryption key.
    pub kek: Kek,
    /// What the verifier trusts.
    pub verifier: VerifierConfig,
    /// The appraiser.
    pub appraiser: Arc<dyn Appraiser>,
    /// A configured token key (PKCS#8); shared through the store when absent.
    pub token_key: Option<Vec<u8>>,
    /// Passport signers trusted besides the broker's own key (P-256 points).
    pub passport_signers: Vec<Vec<u8>>,
    /// The admin key; the admin API is closed when absent.
    pub admin_key: Option<PublicKey>,
    /// Challenge lifetime in seconds.
    pub session_ttl: i64,
    /// Token lifetime in seconds.
    pub token_ttl: i64,
    /// Mark cookies Secure.
    pub secure_cookies: bool,
    /// The clock.
    pub clock: Clock,
    /// Trustee's `[admin]` section for the Trustee-compatible admin routes;
    /// closed when absent.
    pub trustee_admin: Option<trustee_admin::AdminConfig>,
    /// Days audit rows are kept (0: for ever).
    pub audit_retention_days: i64,
    /// `/auth` and `/attest` requests a second per client address, loopback
    /// exempt (0: no limit).
    pub rate_limit_per_client: f64,
}

impl BrokerOptions {
    /// Options for a broker on `store` sealing with `kek`, everything else
    /// at its default: the verifier's pinned roots and no simulated or
    /// sample TEE, the built-in reference-value appraiser (`from_config`
    /// uses rootline-policy's), a generated token key shared through the
    /// store, no passport signers, the admin API closed, and `Config`'s
    /// defaults for lifetimes, cookies, audit retention and rate limits.
    /// Embedded brokers (tests, the demo, `bench kbs`) change what they need
    /// with `BrokerOptions { field, ..BrokerOptions::new(store, kek) }`.
    pub fn new(store: Arc<dyn Store>, kek: Kek) -> Self {
        let cfg = Config::default();
        Self {
            store,
            kek,
            verifier: VerifierConfig::default(),
            appraiser: Arc::new(appraise::ReferenceValueAppraiser),
            token_key: None,
            passport_signers: Vec::new(),
            admin_key: None,
            session_ttl: i64::try_from(cfg.session_ttl_secs).unwrap_or(300),
            token_ttl: i64::try_from(cfg.token_ttl_secs).unwrap_or(300),
            secure_cookies: cfg.secure_cookies,
            clock: Clock::default(),
            trustee_admin: None,
            audit_retention_days: i64::try_from(cfg.audit_retention_days).unwrap_or(i64::MAX),
            rate_limit_per_client: cfg.rate_limit_per_client,
        }
    }

    /// Options from a configuration, reading the key and collateral files it
    /// names. Appraisal is `rootline-policy`'s default policies (strict
    /// settings) for hardware evidence.
    pub fn from_config(cfg: &Config, store: Arc<dyn Store>, kek: Kek) -> Result<Self> {
        let (verifier, fetcher) = collateral::verifier_from_config(cfg, Some(store.clone()))?;
        let read = |p: &std::path::Path| {
            std::fs::read(p).map_err(|e| Error::Config(format!("cannot read {}: {e}", p.display())))
        };
        let sim_roots = cfg
            .sim_roots
            .iter()
            .map(|h| {
                hex::decode(h.trim())
                    .map_err(|_| Error::Config(format!("sim_roots entry {h:?} is not hex")))
            })
            .collect::<Result<Vec<_>>>()?;
        let collateral = cfg
            .collateral
            .iter()
            .map(|p| {
                Ok(rootline_verifier::Collateral {
                    origin: p.clone(),
                    bytes: read(p)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let admin_key = cfg
            .admin_public_key
            .as_deref()
            .map(|p| keys::public_key_pem(&read(p)?))
            .transpose()?;
        let passport_signers = cfg
            .passport_signers
            .iter()
            .map(|p| match keys::public_key_pem(&read(p)?)? {
                PublicKey::P256(pt) => Ok(pt),
                PublicKey::Ed25519(_) => Err(Error::Config(format!(
                    "passport signer {} must be a P-256 key (tokens are ES256)",
                    p.display()
                ))),
            })
            .collect::<Result<Vec<_>>>()?;
        let token_key = cfg
            .token_key
            .as_deref()
            .map(|p| keys::private_key_pem(&read(p)?))
            .transpose()?;
        Ok(Self {
            store,
            kek,
            verifier: VerifierConfig {
                sim_roots,
                insecure_sample: cfg.insecure_sample_tee,
                collateral,
                verifier,
                fetcher,
                se: crate::se::SeConfig::from_config(
                    cfg,
                    time::OffsetDateTime::now_utc().unix_timestamp(),
                )?
                .map(Arc::new),
            },
            appraiser: Arc::new(PolicyAppraiser::with_defaults(
                if cfg.tpm_required_pcrs.is_empty() {
                    serde_json::json!({})
                } else {
                    serde_json::json!({"tpm_required_pcrs": cfg.tpm_required_pcrs})
                },
            )?),
            token_key,
            passport_signers,
            admin_key,
            session_ttl: i64::try_from(cfg.session_ttl_secs).unwrap_or(300),
            token_ttl: i64::try_from(cfg.token_ttl_secs).unwrap_or(300),
            secure_cookies: cfg.secure_cookies,
            clock: Clock::default(),
            trustee_admin: cfg.admin.clone(),
            audit_retention_days: i64::try_from(cfg.audit_retention_days).unwrap_or(i64::MAX),
            rate_limit_per_client: cfg.rate_limit_per_client,
        })
    }
}

/// A running broker's state, shared by all requests.
pub struct Broker {
    store: Arc<dyn Store>,
    kek: Kek,
    verifier: Arc<VerifierConfig>,
    appraiser: Arc<dyn Appraiser>,
    signer: TokenSigner,
    tokens: TokenVerifier,
    sessions: SessionKeys,
    recent: session::Recent,
    policies: PolicyCache,
    admin_key: Option<admin::AdminKey>,
    session_ttl: i64,
    token_ttl: i64,
    secure_cookies: bool,
    clock: Clock,
    tpm: tpm_activation::TpmTrust,
    metrics: metrics::Metrics,
    /// The last scan of the collateral caches (`/readyz`, `/metrics`).
    collateral_memo: health::Memo,
    trustee_admin: Option<trustee_admin::TrusteeAdmin>,
    /// Audit rows are kept this many seconds (0: for ever).
    audit_retention: i64,
    /// Refusals audited per client address in the current minute.
    refusal_budget: std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, (i64, u32)>>,
    /// Handshake requests a second per client address (0: no limit).
    rate_per_client: f64,
    /// Token buckets of the client addresses.
    rate_buckets:
        std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, (f64, std::time::Instant)>>,
}

/// Refusals written to the audit log per client address and minute.
pub const REFUSALS_AUDITED_PER_MINUTE: u32 = 60;

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("signer", &self.signer)
            .field("admin_api", &self.admin_key.is_some())
            .field("insecure_sample", &self.verifier.insecure_sample)
            .finish_non_exhaustive()
    }
}

/// The name of the shared session MAC key in the store.
const SESSION_KEY_NAME: &str = "session-mac-v1";
/// The name of the shared token key in the store.
const TOKEN_KEY_NAME: &str = "token-es256-v1";

impl Broker {
    /// Builds a broker: loads or creates the keys that replicas share.
    pub async fn new(o: BrokerOptions) -> Result<Arc<Self>> {
        if o.verifier.insecure_sample {
            for _ in 0..3 {
                tracing::warn!(
                    "INSECURE TEST MODE: the unsigned `sample` TEE is accepted; every token it yields is marked {}; never use this in production",
                    token::INSECURE_CLAIM
                );
            }
        }
        if !o.verifier.sim_roots.is_empty() {
            tracing::warn!(
                roots = o.verifier.sim_roots.len(),
                "simulated-TEE roots are trusted: evidence signed by them is accepted"
            );
        }
        // Shared secrets: the first replica's candidate wins; all open the
        // same sealed value afterwards.
        let mut mac = [0u8; 32];
        aws_lc_rs::rand::fill(&mut mac)
            .map_err(|_| Error::Crypto("random generator failed".into()))?;
        let sealed = o
            .store
            .shared_value(SESSION_KEY_NAME, &o.kek.seal(SESSION_KEY_NAME, &mac)?)
            .await?;
        let mac = o.kek.open(SESSION_KEY_NAME, &sealed)?;
        let signer = match &o.token_key {
            Some(k) => TokenSigner::from_pkcs8(k)?,
            None => {
                let (_, candidate) = TokenSigner::generate()?;
                let sealed = o
                    .store
                    .shared_value(TOKEN_KEY_NAME, &o.kek.seal(TOKEN_KEY_NAME, &candidate)?)
                    .await?;
                TokenSigner::from_pkcs8(&o.kek.open(TOKEN_KEY_NAME, &sealed)?)?
            }
        };
        let tokens = TokenVerifier::new(
            std::iter::once(signer.public_point())
                .chain(o.passport_signers.iter().map(Vec::as_slice)),
        );
        let trustee_admin = trustee_admin::TrusteeAdmin::load(o.trustee_admin.as_ref())?;
        let admin_key = match o.admin_key {
            Some(k) => Some(admin::AdminKey::new(&k)),
            None => {
                tracing::warn!("no admin key configured: the admin API is closed (401)");
                None
            }
        };
        // Reference values, resources and policies are read by every
        // handshake and change only by administration: cached, kept honest
        // by the store's configuration revision (see `cache`).
        let store: Arc<dyn Store> = Arc::new(cache::CachedStore::new(o.store));
        Ok(Arc::new(Self {
            store,
            kek: o.kek,
            verifier: Arc::new(o.verifier),
            appraiser: o.appraiser,
            signer,
            tokens,
            sessions: SessionKeys::new(&mac),
            recent: session::Recent::default(),
            policies: PolicyCache::default(),
            admin_key,
            session_ttl: o.session_ttl,
            token_ttl: o.token_ttl,
            secure_cookies: o.secure_cookies,
            clock: o.clock,
            tpm: Default::default(),
            metrics: Default::default(),
            collateral_memo: Default::default(),
            trustee_admin,
            audit_retention: o.audit_retention_days.saturating_mul(86_400),
            refusal_budget: Default::default(),
            rate_per_client: o.rate_limit_per_client,
            rate_buckets: Default::default(),
        }))
    }

    /// The store, behind the broker's cache: write through this one, and
    /// the change is in force at once (a write that bypasses it is seen
    /// within `cache::MAX_AGE`).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The token signer (its public key is published as JWKS).
    pub fn signer(&self) -> &TokenSigner {
        &self.signer
    }

    /// Drops expired sessions; returns how many rows went from the store.
    pub async fn purge(&self) -> Result<u64> {
        let now = self.clock.now();
        self.recent.purge(now);
        if self.audit_retention > 0 {
            let n = self
                .store
                .purge_audit(now.saturating_sub(self.audit_retention))
                .await?;
            if n > 0 {
                tracing::info!(rows = n, "audit rows past their retention dropped");
            }
        }
        self.store.purge_sessions(now).await
    }

    /// Admits one `/auth` or `/attest` request from `client` (address and
    /// port), or refuses it with 429 when the address has spent its rate.
    /// A token bucket per address: `rate_limit_per_client` requests a
    /// second, bursts of twice that (a guest makes two per boot, a fleet
    /// behind one NAT booting together fits in the burst). Loopback is
    /// exempt: those are the owner's own processes (a relay for guests
    /// without a network, load generators). Unknown addresses are not
    /// limited. Hardening finding 5: one address could spend the broker's
    /// CPU on handshakes without bound.
    pub(crate) fn rate_limit(&self, ip: Option<std::net::IpAddr>) -> Result<()> {
        let Some(ip) = ip.filter(|ip| !ip.is_loopback()) else {
            return Ok(());
        };
        if self.rate_per_client <= 0.0 {
            return Ok(());
        }
        let now = std::time::Instant::now();
        let burst = self.rate_per_client * 2.0;
        let mut m = self
            .rate_buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if m.len() > 100_000 {
            // Buckets that refilled completely hold no state worth keeping.
            let rate = self.rate_per_client;
            m.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * rate < burst
            });
        }
        let (tokens, at) = m.entry(ip).or_insert((burst, now));
        *tokens =
            (*tokens + now.duration_since(*at).as_secs_f64() * self.rate_per_client).min(burst);
        *at = now;
        if *tokens < 1.0 {
            return Err(Error::RateLimited(format!(
                "{ip} sent more than {} handshake requests a second; retry after a second",
                self.rate_per_client
            )));
        }
        *tokens -= 1.0;
        Ok(())
    }

    /// Whether a refusal from `client` (address and port) gets an audit
    /// row: at most [`REFUSALS_AUDITED_PER_MINUTE`] per client address a
    /// minute. Hardening finding 5: one free cookie made 5,000 failing
    /// `/attest` rows in 2.2 s. Releases are always recorded (and a release
    /// fails when its row cannot be written); refusals beyond the budget
    /// are counted in the log instead.
    pub(crate) fn refusal_audited(&self, client: audit::ClientAddr, now: i64) -> bool {
        // Clients of unknown address share one budget.
        let ip = client
            .ip()
            .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        let mut m = self
            .refusal_budget
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if m.len() > 10_000 {
            m.retain(|_, (start, _)| now - *start < 60);
            if m.len() > 10_000 {
                m.clear();
            }
        }
        let e = m.entry(ip).or_insert((now, 0));
        if now - e.0 >= 60 {
            *e = (now, 0);
        }
        e.1 += 1;
        if e.1 == REFUSALS_AUDITED_PER_MINUTE + 1 {
            tracing::warn!(%client, "more than {REFUSALS_AUDITED_PER_MINUTE} refusals from one address this minute: the rest are not written to the audit log");
        }
        e.1 <= REFUSALS_AUDITED_PER_MINUTE
    }
}

/// One route the broker serves: a method, a path template (axum's syntax)
/// and its handler. [`routes`] lists them all and [`app`] is built from
/// that list alone, so the list is the router: the OpenAPI test
/// (`tests/openapi.rs`) compares it with `docs/openapi.json` both ways,
/// and a route cannot be added without the document saying so.
pub struct Route {
    /// The method.
    pub method: Method,
    /// The path template (`/kbs/v0/resource/{repo}/{kind}/{tag}`).
    pub path: &'static str,
    handler: MethodRouter<Arc<Broker>>,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

/// The route constructors: the method a route is listed under and the one
/// its handler answers come from one name, so they cannot disagree.
impl Route {
    /// `GET path` (axum answers `HEAD` with it too).
    pub(crate) fn get<H: Handler<T, Arc<Broker>>, T: 'static>(path: &'static str, h: H) -> Self {
        Self::new(Method::GET, path, axum::routing::get(h))
    }

    /// `POST path`.
    pub(crate) fn post<H: Handler<T, Arc<Broker>>, T: 'static>(path: &'static str, h: H) -> Self {
        Self::new(Method::POST, path, axum::routing::post(h))
    }

    /// `PUT path`.
    pub(crate) fn put<H: Handler<T, Arc<Broker>>, T: 'static>(path: &'static str, h: H) -> Self {
        Self::new(Method::PUT, path, axum::routing::put(h))
    }

    /// `DELETE path`.
    pub(crate) fn delete<H: Handler<T, Arc<Broker>>, T: 'static>(path: &'static str, h: H) -> Self {
        Self::new(Method::DELETE, path, axum::routing::delete(h))
    }

    fn new(method: Method, path: &'static str, handler: MethodRouter<Arc<Broker>>) -> Self {
        Self {
            method,
            path,
            handler,
        }
    }
}

/// Every route of the broker: the KBS protocol under `/kbs/v0` (with
/// Trustee's admin routes there), TPM credential activation, the admin API
/// under `/admin/v0`, the read-only web view under `/ui/`, the token keys
/// at `/.well-known/jwks.json`, `/healthz`, `/readyz`, `/metrics` and
/// `/openapi.json`.
pub fn routes() -> Vec<Route> {
    let mut r = kbs::routes();
    r.extend(tpm_activation::routes());
    r.extend(admin::routes());
    r.extend(web::routes());
    r.extend([
        Route::get("/healthz", health::healthz),
        Route::get("/readyz", health::readyz),
        Route::get("/metrics", metrics_text),
        Route::get("/openapi.json", openapi::document),
    ]);
    r
}

/// The broker's HTTP routes, those of [`routes`]; any other path is a 404
/// with a problem document (Trustee's empty body made guest clients report
/// "error decoding response body" instead of the cause).
pub fn app(state: Arc<Broker>) -> Router {
    routes()
        .into_iter()
        .fold(Router::new(), |router, r| router.route(r.path, r.handler))
        .fallback(no_route)
        .method_not_allowed_fallback(no_method)
        .with_state(state)
}

/// `GET /metrics`: Prometheus text exposition.
async fn metrics_text(
    axum::extract::State(b): axum::extract::State<Arc<Broker>>,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        {
            let mut text = b.metrics.render();
            if let Some(f) = &b.verifier.fetcher {
                metrics::render_collateral(&mut text, &f.stats());
                let scan = b.collateral_scan().await;
                metrics::render_collateral_freshness(
                    &mut text,
                    scan.next_update.values().copied(),
                    b.clock.now(),
                );
            }
            text
        },
    )
        .into_response()
}

async fn no_route(uri: axum::http::Uri) -> Error {
    Error::NotFound(format!(
        "route {} (this broker serves /kbs/v0/auth, /kbs/v0/attest, /kbs/v0/resource/REPO/TYPE/TAG, /admin/v0/..., /ui/, /healthz, /readyz, /metrics and /openapi.json)",
        uri.path()
    ))
}

async fn no_method(method: axum::http::Method, uri: axum::http::Uri) -> Error {
    Error::MethodNotAllowed(format!("{method} {}", uri.path()))
}

//! `GET /healthz` and `GET /readyz`: whether the process serves, and
//! whether it can do its job.
//!
//! `/healthz` answers 200 `{"status":"ok"}` whenever the process answers at
//! all (a liveness probe: restart the process when it stops). `/readyz`
//! runs three checks and answers 200 only when all pass, else 503 naming
//! each failed check and why (a readiness probe: send no guests here):
//!
//! - `store`: the store answers a one-row primary-key read (the
//!   configuration revision) within [`STORE_WAIT`];
//! - `keys`: the KEK opens what it seals, and a token signed with the
//!   broker's signing key verifies with the keys the broker publishes;
//! - `collateral`: no artifact in the broker's collateral caches (the
//!   replicas' shared cache in the store and the on-disk cache) is past its
//!   nextUpdate while the broker may not fetch a fresh one. With consent to
//!   fetch (`fetch`, `kds_url`, `pcs_url`), a stale artifact is fetched
//!   again when a guest needs it, so it is listed but does not fail the
//!   check: failing it would take every replica out of service, and then no
//!   guest would ever come to trigger the refresh. Only artifacts with a
//!   nextUpdate (CRLs, TCB info, QE identity) can be stale; certificates
//!   are judged by the verifier. Configured `collateral` files are not
//!   caches and are not checked here.
//!
//! Store errors are logged, not sent: the body is unauthenticated (the
//! same rule as `error`'s problem documents). The collateral scan reads
//! every cached artifact, so its result is kept for [`COLLATERAL_MEMO`]
//! rather than redone for each probe.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rootline_collateral::bundle;
use rootline_core::TeeKind;
use serde::Serialize;
use serde_json::json;

use crate::{Broker, loggable};

/// Longest `/readyz` waits for the store before it counts as unreachable
/// (sqlx itself would wait up to its 30 s acquire timeout).
pub const STORE_WAIT: Duration = Duration::from_secs(2);

/// How long one scan of the collateral caches is reused.
pub const COLLATERAL_MEMO: Duration = Duration::from_secs(10);

/// `GET /healthz`: the process serves requests.
pub(crate) async fn healthz() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

/// `GET /readyz`: 200 when every check of [`Broker::readiness`] passes,
/// else 503; the body is the report either way.
pub(crate) async fn readyz(State(b): State<Arc<Broker>>) -> Response {
    let r = b.readiness().await;
    let status = if r.ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(r)).into_response()
}

/// One check's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// Whether it passed.
    pub ok: bool,
    /// What was found (why it failed, when it failed).
    pub detail: String,
    /// Stale collateral artifacts (the `collateral` check only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stale: Vec<StaleArtifact>,
}

impl Check {
    fn pass(detail: impl Into<String>) -> Self {
        Self {
            ok: true,
            detail: detail.into(),
            stale: Vec::new(),
        }
    }

    fn fail(detail: impl Into<String>) -> Self {
        Self {
            ok: false,
            ..Self::pass(detail)
        }
    }
}

/// A cached artifact past its nextUpdate.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StaleArtifact {
    /// The URL it is cached under.
    pub url: String,
    /// Its nextUpdate (RFC 3339).
    pub next_update: String,
    /// Whether the broker may fetch a fresh copy (then the next guest that
    /// needs it refreshes it).
    pub refreshable: bool,
}

/// The `/readyz` report.
#[derive(Debug, Clone, Serialize)]
pub struct Readiness {
    /// `ready` or `not ready`.
    pub status: &'static str,
    /// The names of the checks that failed.
    pub failed: Vec<&'static str>,
    /// Every check by name: `store`, `keys`, `collateral`.
    pub checks: BTreeMap<&'static str, Check>,
}

impl Readiness {
    /// Whether every check passed.
    pub fn ready(&self) -> bool {
        self.failed.is_empty()
    }
}

/// What one scan of the collateral caches found.
#[derive(Debug, Clone, Default)]
pub(crate) struct CollateralScan {
    /// Artifacts with a nextUpdate, by URL: the latest nextUpdate of the
    /// copies found (a replica may have refreshed the shared copy while
    /// this one's disk copy aged).
    pub(crate) next_update: BTreeMap<String, i64>,
    /// Caches that could not be read, with why (for the log only).
    pub(crate) unreadable: Vec<String>,
}

/// The last collateral scan and when it was made.
#[derive(Debug, Default)]
pub(crate) struct Memo(Mutex<Option<(Instant, Arc<CollateralScan>)>>);

pub(crate) fn rfc3339(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| t.to_string())
}

/// The TEE whose collateral client serves `url`: AMD KDS paths, else Intel
/// PCS/PCCS.
pub(crate) fn vendor_of(url: &str) -> TeeKind {
    let path = url.split('?').next().unwrap_or(url);
    if path.contains("/vcek/v1/") || path.contains("/vlek/v1/") {
        TeeKind::Snp
    } else {
        TeeKind::Tdx
    }
}

impl Broker {
    /// Runs the readiness checks (see the module documentation).
    pub async fn readiness(&self) -> Readiness {
        let mut checks = BTreeMap::new();
        checks.insert("store", self.check_store().await);
        checks.insert("keys", self.check_keys());
        checks.insert("collateral", self.check_collateral().await);
        let failed: Vec<&'static str> = checks
            .iter()
            .filter(|(_, c)| !c.ok)
            .map(|(n, _)| *n)
            .collect();
        Readiness {
            status: if failed.is_empty() {
                "ready"
            } else {
                "not ready"
            },
            failed,
            checks,
        }
    }

    async fn check_store(&self) -> Check {
        match tokio::time::timeout(STORE_WAIT, self.store.config_revision()).await {
            Ok(Ok(_)) => Check::pass("the store answered"),
            Ok(Err(e)) => {
                tracing::warn!(error = %loggable(&e.to_string()), "readiness: the store failed");
                Check::fail("the store's query failed (the broker's log has the error)")
            }
            Err(_) => {
                tracing::warn!(
                    "readiness: the store did not answer within {} s",
                    STORE_WAIT.as_secs()
                );
                Check::fail(format!(
                    "the store did not answer within {} s",
                    STORE_WAIT.as_secs()
                ))
            }
        }
    }

    fn check_keys(&self) -> Check {
        const PROBE: &[u8] = b"readiness probe";
        let kek = self
            .kek
            .seal("readyz", PROBE)
            .and_then(|s| self.kek.open("readyz", &s));
        if !kek.is_ok_and(|p| p == PROBE) {
            return Check::fail("the KEK does not open what it seals");
        }
        let now = self.clock.now();
        let signed = self
            .signer
            .sign(&json!({"purpose": "readiness probe", "exp": now.saturating_add(60)}))
            .and_then(|t| self.tokens.verify(&t, now));
        if signed.is_err() {
            return Check::fail(
                "a token signed with the token key does not verify with the published keys",
            );
        }
        let kid = self
            .signer
            .jwk()
            .get("kid")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("?");
        Check::pass(format!("KEK and token-signing key (kid {kid}) loaded"))
    }

    async fn check_collateral(&self) -> Check {
        let Some(fetcher) = self.verifier.fetcher.clone() else {
            return Check::pass(
                "no collateral cache in use (collateral_offline): only the configured collateral files are read, and the verifier judges their freshness",
            );
        };
        let scan = self.collateral_scan().await;
        let now = self.clock.now();
        let stale: Vec<StaleArtifact> = scan
            .next_update
            .iter()
            .filter(|(_, next)| **next <= now)
            .map(|(url, next)| StaleArtifact {
                url: url.clone(),
                next_update: rfc3339(*next),
                refreshable: !fetcher.client(vendor_of(url)).is_offline(),
            })
            .collect();
        let blocking = stale.iter().filter(|s| !s.refreshable).count();
        let cached = scan.next_update.len();
        let mut c = if !scan.unreadable.is_empty() {
            Check::fail(format!(
                "{} collateral cache(s) could not be read (the broker's log says why)",
                scan.unreadable.len()
            ))
        } else if blocking > 0 {
            Check::fail(format!(
                "{blocking} of {cached} cached artifacts are past their nextUpdate and this broker may not fetch fresh ones: import fresh collateral (rootline collateral import) or consent to fetching (fetch, kds_url, pcs_url, nvidia_ocsp_url)"
            ))
        } else if stale.is_empty() {
            Check::pass(format!(
                "{cached} cached artifacts with a nextUpdate, none past it"
            ))
        } else {
            Check::pass(format!(
                "{} of {cached} cached artifacts are past their nextUpdate; each is fetched again when a guest needs it",
                stale.len()
            ))
        };
        c.stale = stale;
        c
    }

    /// The collateral caches' artifacts and their nextUpdate, scanned at
    /// most once per [`COLLATERAL_MEMO`]; empty without a collateral source.
    pub(crate) async fn collateral_scan(&self) -> Arc<CollateralScan> {
        {
            let m = self
                .collateral_memo
                .0
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some((at, scan)) = m.as_ref() {
                if at.elapsed() < COLLATERAL_MEMO {
                    return scan.clone();
                }
            }
        }
        let scan = Arc::new(self.scan_collateral().await);
        *self
            .collateral_memo
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some((Instant::now(), scan.clone()));
        scan
    }

    async fn scan_collateral(&self) -> CollateralScan {
        let mut out = CollateralScan::default();
        let Some(fetcher) = self.verifier.fetcher.clone() else {
            return out;
        };
        let mut entries = Vec::new();
        match tokio::time::timeout(STORE_WAIT, self.store.list_collateral()).await {
            Ok(Ok(rows)) => entries.extend(rows.into_iter().map(|(url, r)| bundle::Entry {
                url,
                body: r.body,
                chain: r.chain,
            })),
            Ok(Err(e)) => out
                .unreadable
                .push(format!("shared cache: {}", loggable(&e.to_string()))),
            Err(_) => out.unreadable.push(format!(
                "shared cache: no answer within {} s",
                STORE_WAIT.as_secs()
            )),
        }
        let mut dirs: Vec<std::path::PathBuf> = [TeeKind::Snp, TeeKind::Tdx]
            .iter()
            .filter_map(|k| fetcher.client(*k).cache_dir().map(ToOwned::to_owned))
            .collect();
        dirs.dedup();
        for dir in dirs {
            let d = dir.clone();
            let read = tokio::task::spawn_blocking(move || {
                if d.exists() {
                    bundle::read_cache_dir(&d).map(|(e, _skipped)| e)
                } else {
                    Ok(Vec::new())
                }
            })
            .await;
            match read {
                Ok(Ok(e)) => entries.extend(e),
                Ok(Err(e)) => {
                    out.unreadable
                        .push(format!("{}: {}", dir.display(), loggable(&e.to_string())))
                }
                Err(e) => out.unreadable.push(format!("{}: {e}", dir.display())),
            }
        }
        for e in &entries {
            if let Ok((_, Some(next))) = bundle::check(e) {
                let n = out.next_update.entry(e.url.clone()).or_insert(next);
                *n = (*n).max(next);
            }
        }
        for u in &out.unreadable {
            tracing::warn!(cache = %u, "readiness: a collateral cache could not be read");
        }
        out
    }
}

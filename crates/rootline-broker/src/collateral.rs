//! Collateral for the broker: the verifier built once from the configured
//! trust anchors, and the source of what evidence needs beyond what the
//! guest sent (per-chip VCEKs, CRLs, TCB info, QE identity).
//!
//! Layers, first hit wins: the configured `collateral` files (always handed
//! over), the on-disk cache in the data directory, the cache shared by the
//! replicas of one store ([`StoreCache`], the `collateral` table), and AMD
//! KDS or Intel PCS/PCCS only with the owner's consent (`fetch = true` for
//! the vendors' public hosts, or a `kds_url`/`pcs_url` the owner named).
//! CRLs, TCB info and QE identity are fetched again `collateral_refresh_hours`
//! before their nextUpdate; while a vendor is unreachable the cached copy is
//! served until it expires, after which the verifier refuses it and the
//! refusal names what is stale and since when.

use std::sync::Arc;
use std::time::Duration;

use rootline_collateral::{Client, Fetcher, SharedCache, SharedEntry, kds, pcs};
use rootline_verifier::Verifier;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::store::{CollateralRow, Store};

/// Longest a verification waits for the shared cache before it counts as a
/// miss (the store is down or slow: the network or a refusal follows).
const SHARED_CACHE_WAIT: Duration = Duration::from_secs(5);

/// The store's `collateral` table as the fetching client's shared cache.
///
/// The client is synchronous (it runs on the verifying thread, off the async
/// workers); the store is asynchronous: each call runs on the runtime the
/// verification was started from and is waited for here.
#[derive(Clone)]
pub struct StoreCache {
    store: Arc<dyn Store>,
}

impl std::fmt::Debug for StoreCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreCache")
    }
}

impl StoreCache {
    /// The shared cache over `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    fn wait<T: Send + 'static>(
        &self,
        what: &str,
        fut: impl std::future::Future<Output = Result<T>> + Send + 'static,
    ) -> Option<T> {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(
                "shared collateral cache: no runtime to reach the store from; {what} skipped"
            );
            return None;
        };
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        handle.spawn(async move {
            let _ = tx.send(fut.await);
        });
        match rx.recv_timeout(SHARED_CACHE_WAIT) {
            Ok(Ok(v)) => Some(v),
            Ok(Err(e)) => {
                tracing::warn!(error = %crate::loggable(&e.to_string()), "shared collateral cache: {what} failed");
                None
            }
            Err(_) => {
                tracing::warn!(
                    "shared collateral cache: {what} took longer than {} s",
                    SHARED_CACHE_WAIT.as_secs()
                );
                None
            }
        }
    }
}

impl SharedCache for StoreCache {
    fn load(&self, url: &str) -> Option<SharedEntry> {
        let store = self.store.clone();
        let url = url.to_owned();
        self.wait("read", async move { store.get_collateral(&url).await })
            .flatten()
            .map(|r| SharedEntry {
                body: r.body,
                chain: r.chain,
            })
    }

    fn store(&self, url: &str, entry: &SharedEntry) {
        let store = self.store.clone();
        let url = url.to_owned();
        let row = CollateralRow {
            body: entry.body.clone(),
            chain: entry.chain.clone(),
        };
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        self.wait("write", async move {
            store.put_collateral(&url, &row, now).await
        });
    }
}

/// The verifier a configuration describes: AMD's and Intel's pinned roots
/// plus `snp_trust_anchors` (or `dcap_trust_anchor` in place of Intel's)
/// and the CCA platform keys of `cca_trust_anchors`, the GPU roots of
/// `nvidia_trust_anchors` (in place of NVIDIA's),
/// and, unless `collateral_offline`, the fetching source over the data
/// directory's cache and `store`'s shared cache. Returns the source too, for
/// its counters in `/metrics`.
pub fn verifier_from_config(
    cfg: &Config,
    store: Option<Arc<dyn Store>>,
) -> Result<(Arc<Verifier>, Option<Arc<Fetcher>>)> {
    let read = |p: &std::path::Path| {
        std::fs::read(p).map_err(|e| Error::Config(format!("cannot read {}: {e}", p.display())))
    };
    let mut v = Verifier::pinned();
    for p in &cfg.snp_trust_anchors {
        v = v
            .with_snp_root(&read(p)?)
            .map_err(|e| Error::Config(format!("snp_trust_anchors {}: {e}", p.display())))?;
    }
    if let Some(p) = &cfg.dcap_trust_anchor {
        v = v
            .with_dcap_root(&read(p)?)
            .map_err(|e| Error::Config(format!("dcap_trust_anchor {}: {e}", p.display())))?;
    }
    for p in &cfg.cca_trust_anchors {
        v = v
            .with_cca_anchors(&read(p)?)
            .map_err(|e| Error::Config(format!("cca_trust_anchors {}: {e}", p.display())))?;
    }
    // The NVIDIA roots are replaced, not added to: each file is given with
    // the ones before it, so that all are trusted and an error names its file.
    let mut nvidia_pem = Vec::new();
    for p in &cfg.nvidia_trust_anchors {
        nvidia_pem.extend(read(p)?);
        nvidia_pem.push(b'\n');
        v = v
            .with_nvidia_roots(&nvidia_pem)
            .map_err(|e| Error::Config(format!("nvidia_trust_anchors {}: {e}", p.display())))?;
    }
    // The same key SE challenges are sealed with (crate::se): the verifier
    // opens the request secret the guest echoes.
    if let Some(k) = crate::se::sealing_key(cfg)? {
        v = v.with_se_sealing_key(k);
    }
    if cfg.collateral_offline {
        return Ok((Arc::new(v), None));
    }
    let kds_url = cfg.kds_url.as_deref().unwrap_or(kds::DEFAULT_URL);
    let pcs_url = cfg.pcs_url.as_deref().unwrap_or(pcs::DEFAULT_URL);
    let cache_dir = cfg
        .collateral_cache_dir
        .clone()
        .unwrap_or_else(|| cfg.data_dir.join("collateral"));
    let client = |network: bool| {
        let c = Client::new(rootline_collateral::Config {
            cache_dir: Some(cache_dir.clone()),
            offline: !network,
            timeout: Duration::from_secs(cfg.collateral_fetch_timeout_secs.max(1)),
            // A guest waits for its handshake: one retry, and never the
            // minute a CLI user may wait for a rate-limited vendor.
            max_attempts: 2,
            max_wait: Duration::from_secs(5),
            progress_after: None,
            refresh_before: Duration::from_secs(cfg.collateral_refresh_hours.saturating_mul(3600)),
            retry_failed_after: Duration::from_secs(60),
            ..rootline_collateral::Config::default()
        });
        match &store {
            Some(s) => c.with_shared(Arc::new(StoreCache::new(s.clone()))),
            None => c,
        }
    };
    let amd = client(cfg.fetch || cfg.kds_url.is_some());
    let intel = client(cfg.fetch || cfg.pcs_url.is_some());
    let gpu = client(cfg.fetch || cfg.nvidia_ocsp_url.is_some());
    let ocsp_url = cfg
        .nvidia_ocsp_url
        .as_deref()
        .unwrap_or(rootline_collateral::nvidia::DEFAULT_OCSP_URL);
    let fetcher = Arc::new(Fetcher::new(amd, intel, kds_url, pcs_url).with_nvidia(gpu, ocsp_url));
    Ok((Arc::new(v.with_source(fetcher.clone())), Some(fetcher)))
}

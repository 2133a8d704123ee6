//! A read cache in front of the store for what every handshake reads and
//! almost nothing writes: reference values, resources and policies.
//!
//! Without it each handshake asked the database three questions whose
//! answers change only when an administrator acts. The cache is kept honest
//! by the store's configuration revision (`Store::config_revision`), which
//! every change by any replica moves on in the same transaction:
//!
//! - a change made through this broker drops the cached copies at once (the
//!   next request reads the store);
//! - a change made through another replica is seen here within
//!   [`MAX_AGE`]: the revision is read again when the last reading is older
//!   than that, and a new revision drops everything cached.
//!
//! A writer that does not move the revision on (a replica of an older
//! version during a rolling upgrade, an operator's SQL) is still seen within
//! [`MAX_COPY_LIFE`]: copies older than that are dropped whatever the
//! revision says.
//!
//! These bounds are far inside the lifetime of the tokens already issued (a
//! token appraised before a reference value was deleted stays valid for its
//! `token_ttl`, minutes), so it adds no window that did not exist. A store
//! without a revision (`None`) is never cached. Sessions, audit rows and
//! admin listings pass straight through.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::error::Result;
use crate::store::{
    AuditRow, AuditStore, CollateralRow, CollateralStore, ConfigStore, ReferenceValue,
    ReferenceValueChange, ResourceInfo, ResourceRow, SessionClaim, SessionRow, SessionStore, Store,
};

/// How stale a copy may be when another replica changed the store.
pub const MAX_AGE: Duration = Duration::from_millis(100);

/// How long a copy is used at most, whatever the revision says.
pub const MAX_COPY_LIFE: Duration = Duration::from_secs(5);

/// Entries kept per map (a caller probing many absent paths fills the map
/// once; further misses are read from the store and not kept).
const MAX_ENTRIES: usize = 16_384;

/// The caching store; see the module documentation.
pub struct CachedStore {
    inner: Arc<dyn Store>,
    state: Mutex<State>,
}

impl std::fmt::Debug for CachedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CachedStore")
    }
}

#[derive(Default)]
struct State {
    /// The store keeps no revision: never cache.
    uncacheable: bool,
    /// The revision the cached copies belong to.
    revision: Option<i64>,
    /// When the revision was last read.
    checked: Option<Instant>,
    /// When the copies were last dropped.
    dropped: Option<Instant>,
    /// Moves on whenever the copies are dropped: a read that began before
    /// stores nothing (it may hold what was just changed).
    epoch: u64,
    resources: HashMap<String, Option<ResourceRow>>,
    policies: HashMap<String, Option<String>>,
    reference_values: Option<Vec<ReferenceValue>>,
}

impl State {
    fn drop_copies(&mut self) {
        self.dropped = Some(Instant::now());
        self.epoch = self.epoch.wrapping_add(1);
        self.resources.clear();
        self.policies.clear();
        self.reference_values = None;
    }
}

/// Keeps `v` under `key` unless the map holds [`MAX_ENTRIES`] already.
fn keep<V>(map: &mut HashMap<String, V>, key: &str, v: V) {
    if map.len() < MAX_ENTRIES {
        map.insert(key.to_owned(), v);
    }
}

impl CachedStore {
    /// Caches `inner`.
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self {
            inner,
            state: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is consistent after any panic-free section; a poisoned
        // lock only means another thread panicked elsewhere.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The epoch to tag a read with, or `None` when copies may not be used.
    async fn usable(&self) -> Result<Option<u64>> {
        let due = {
            let s = self.lock();
            if s.uncacheable {
                return Ok(None);
            }
            s.checked.is_none_or(|t| t.elapsed() >= MAX_AGE)
        };
        if due {
            let rev = self.inner.config_revision().await?;
            let mut s = self.lock();
            match rev {
                None => {
                    s.uncacheable = true;
                    s.drop_copies();
                    return Ok(None);
                }
                Some(r) => {
                    let old = s.dropped.is_none_or(|t| t.elapsed() >= MAX_COPY_LIFE);
                    if s.revision != Some(r) || old {
                        s.drop_copies();
                        s.revision = Some(r);
                    }
                    s.checked = Some(Instant::now());
                }
            }
        }
        Ok(Some(self.lock().epoch))
    }

    /// The cached copy that `get` finds when copies are usable, else what
    /// `load` reads from the store, handed to `put` to keep unless the
    /// copies were dropped meanwhile.
    async fn through<V: Clone>(
        &self,
        get: impl FnOnce(&State) -> Option<V>,
        put: impl FnOnce(&mut State, V),
        load: impl std::future::Future<Output = Result<V>>,
    ) -> Result<V> {
        let Some(epoch) = self.usable().await? else {
            return load.await;
        };
        if let Some(hit) = get(&self.lock()) {
            return Ok(hit);
        }
        let v = load.await?;
        let mut s = self.lock();
        if s.epoch == epoch {
            put(&mut s, v.clone());
        }
        Ok(v)
    }

    /// A change through this broker: runs `write`, then drops the copies
    /// (whether or not it succeeded: a failed write may have committed).
    async fn changing<T>(&self, write: impl std::future::Future<Output = Result<T>>) -> Result<T> {
        let r = write.await;
        let mut s = self.lock();
        s.drop_copies();
        // Read the revision again before trusting any copy.
        s.checked = None;
        r
    }
}

#[async_trait]
impl ConfigStore for CachedStore {
    async fn put_resource(
        &self,
        path: &str,
        sealed: &str,
        policy: Option<&str>,
        now: i64,
    ) -> Result<()> {
        self.changing(self.inner.put_resource(path, sealed, policy, now))
            .await
    }

    async fn get_resource(&self, path: &str) -> Result<Option<ResourceRow>> {
        self.through(
            |s| s.resources.get(path).cloned(),
            |s, v| keep(&mut s.resources, path, v),
            self.inner.get_resource(path),
        )
        .await
    }

    async fn delete_resource(&self, path: &str) -> Result<bool> {
        self.changing(self.inner.delete_resource(path)).await
    }

    async fn list_resources(&self) -> Result<Vec<ResourceInfo>> {
        self.inner.list_resources().await
    }

    async fn put_policy(&self, name: &str, rego: &str, now: i64) -> Result<()> {
        self.changing(self.inner.put_policy(name, rego, now)).await
    }

    async fn get_policy(&self, name: &str) -> Result<Option<String>> {
        self.through(
            |s| s.policies.get(name).cloned(),
            |s, v| keep(&mut s.policies, name, v),
            self.inner.get_policy(name),
        )
        .await
    }

    async fn delete_policy(&self, name: &str) -> Result<bool> {
        self.changing(self.inner.delete_policy(name)).await
    }

    async fn list_policies(&self) -> Result<Vec<String>> {
        self.inner.list_policies().await
    }

    async fn put_reference_value(&self, rv: &ReferenceValue, now: i64) -> Result<()> {
        self.changing(self.inner.put_reference_value(rv, now)).await
    }

    async fn list_reference_values(&self) -> Result<Vec<ReferenceValue>> {
        self.through(
            |s| s.reference_values.clone(),
            |s, v| s.reference_values = Some(v),
            self.inner.list_reference_values(),
        )
        .await
    }

    async fn delete_reference_value(&self, name: &str) -> Result<bool> {
        self.changing(self.inner.delete_reference_value(name)).await
    }

    async fn config_revision(&self) -> Result<Option<i64>> {
        self.inner.config_revision().await
    }

    async fn reference_value_history(&self, limit: i64) -> Result<Vec<ReferenceValueChange>> {
        self.inner.reference_value_history(limit).await
    }
}

#[async_trait]
impl SessionStore for CachedStore {
    async fn record_session(&self, nonce: &str, row: &SessionRow) -> Result<SessionClaim> {
        self.inner.record_session(nonce, row).await
    }

    async fn get_session(&self, nonce: &str, now: i64) -> Result<Option<SessionRow>> {
        self.inner.get_session(nonce, now).await
    }

    async fn purge_sessions(&self, now: i64) -> Result<u64> {
        self.inner.purge_sessions(now).await
    }

    async fn shared_value(&self, name: &str, candidate: &str) -> Result<String> {
        self.inner.shared_value(name, candidate).await
    }
}

#[async_trait]
impl AuditStore for CachedStore {
    async fn audit(&self, row: &AuditRow) -> Result<()> {
        self.inner.audit(row).await
    }

    async fn list_audit(&self, limit: i64) -> Result<Vec<AuditRow>> {
        self.inner.list_audit(limit).await
    }

    async fn purge_audit(&self, before: i64) -> Result<u64> {
        self.inner.purge_audit(before).await
    }
}

#[async_trait]
impl CollateralStore for CachedStore {
    async fn get_collateral(&self, url: &str) -> Result<Option<CollateralRow>> {
        self.inner.get_collateral(url).await
    }

    async fn put_collateral(&self, url: &str, row: &CollateralRow, now: i64) -> Result<()> {
        self.inner.put_collateral(url, row, now).await
    }

    async fn list_collateral(&self) -> Result<Vec<(String, CollateralRow)>> {
        self.inner.list_collateral().await
    }
}

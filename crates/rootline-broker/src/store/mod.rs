//! Storage: a narrow async trait, and one SQL implementation for SQLite (the
//! embedded default) and PostgreSQL (several replicas) over sqlx's Any
//! driver, with one set of numbered migrations portable between the two.
//!
//! The parts, one file each: the row types and the [`Store`] trait (here),
//! the migrations (`migrations`), the SQL store over sqlx (`sql`), the
//! group commit of the handshake's writes (`batch`), the SQLite writer
//! that commits them on a connection of its own (`sqlite`) and the
//! statements both spell (`statements`). Each file uses only the ones
//! after it: sql, batch, sqlite, statements, then the row types here.
//!
//! The store sees only sealed secrets: sealing and opening with the KEK is
//! the broker's business, so a database dump reveals no resource.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

mod batch;
mod migrations;
mod sql;
mod sqlite;
mod statements;

pub use sql::SqlStore;

/// The store's traits, for code that calls them on a concrete store
/// (`use rootline_broker::store::prelude::*`).
pub mod prelude {
    pub use super::{AuditStore, CollateralStore, ConfigStore, SessionStore, Store};
}
pub use sqlite::sqlite_file;

/// A stored resource (its value still sealed).
#[derive(Debug, Clone)]
pub struct ResourceRow {
    /// Sealed value (see `kek`).
    pub sealed: String,
    /// The policy it names; the default policy when absent.
    pub policy: Option<String>,
}

/// A resource as listed (never its value).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ResourceInfo {
    /// `repository/type/tag`.
    pub path: String,
    /// The policy it names.
    pub policy: Option<String>,
    /// Last change, Unix seconds.
    pub updated_at: i64,
}

/// A reference value: the claim `claim` of evidence from `tee` must be one
/// of `values`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReferenceValue {
    /// Unique name.
    pub name: String,
    /// KBS tee name (`snp`, `tdx`, `tpm`, `rootline-sim`...).
    pub tee: String,
    /// Claim name as the verifier spells it (`measurement`, `mr_td`...);
    /// nested claims with dots (`pcrs.sha256.4`).
    pub claim: String,
    /// Accepted values (hex in lower case for byte claims).
    pub values: Vec<String>,
    /// 1 for a new name, one more for each replacement; set by the store
    /// (what a writer puts here is ignored).
    #[serde(default)]
    pub version: i64,
}

/// An attested session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    /// Unix seconds after which the session is gone.
    pub expires_at: i64,
    /// Digest of the evidence that attested it.
    pub evidence_digest: String,
    /// Digest of the runtime data (nonce and tee-pubkey) it bound.
    pub binding_digest: String,
    /// The token it was given.
    pub token: String,
}

/// What happened when a session was recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionClaim {
    /// The nonce was fresh; the row is ours.
    New,
    /// The nonce was already used; here is the row that used it.
    Existing(SessionRow),
}

/// An artifact of collateral as the replicas share it: its bytes as cached
/// (CRLs in DER) and its issuer chain (PEM) when it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollateralRow {
    /// The artifact.
    pub body: Vec<u8>,
    /// Its issuer chain.
    pub chain: Option<Vec<u8>>,
}

/// One audit-log row: every release and every denial.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuditRow {
    /// Unix seconds.
    pub at: i64,
    /// Client address.
    pub client: String,
    /// Digest of the evidence behind the token, when known.
    pub evidence_digest: Option<String>,
    /// The resource asked for.
    pub resource: String,
    /// The policy applied.
    pub policy: String,
    /// `attested`, `rejected`, `released` or `denied`.
    pub result: String,
    /// Why.
    pub reason: String,
    /// The KBS tee name of the evidence, when known (migration 5; empty in
    /// rows written before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tee: Option<String>,
    /// What identifies the workload: its identifying claim as
    /// `claim=value` (`measurement=...`, `mr_td=...`), when the evidence
    /// was verified (see `audit::workload_of`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<String>,
    /// The TCB status the verifier reported, when it reported one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcb_status: Option<String>,
    /// For a denial: the appraisal findings that failed, one per line
    /// (`cpu0: reference value ...: measurement is ...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
}

/// One version of a reference value, or its deletion.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReferenceValueChange {
    /// The reference value as it was set (for a deletion: as it was last).
    pub value: ReferenceValue,
    /// Unix seconds of the change.
    pub at: i64,
    /// Whether this is the deletion of that version.
    pub deleted: bool,
}

/// The operator's configuration: resources (sealed), policies and reference
/// values, and a revision that moves whenever any of them changes.
#[async_trait]
pub trait ConfigStore: Send + Sync {
    /// Sets a resource.
    async fn put_resource(
        &self,
        path: &str,
        sealed: &str,
        policy: Option<&str>,
        now: i64,
    ) -> Result<()>;
    /// Reads a resource.
    async fn get_resource(&self, path: &str) -> Result<Option<ResourceRow>>;
    /// Deletes a resource; false when there was none.
    async fn delete_resource(&self, path: &str) -> Result<bool>;
    /// Lists resources (names and policies only).
    async fn list_resources(&self) -> Result<Vec<ResourceInfo>>;
    /// Sets a named Rego policy.
    async fn put_policy(&self, name: &str, rego: &str, now: i64) -> Result<()>;
    /// Reads a policy.
    async fn get_policy(&self, name: &str) -> Result<Option<String>>;
    /// Deletes a policy; false when there was none.
    async fn delete_policy(&self, name: &str) -> Result<bool>;
    /// Lists policy names.
    async fn list_policies(&self) -> Result<Vec<String>>;
    /// Sets a reference value.
    async fn put_reference_value(&self, rv: &ReferenceValue, now: i64) -> Result<()>;
    /// Lists reference values.
    async fn list_reference_values(&self) -> Result<Vec<ReferenceValue>>;
    /// Deletes a reference value; false when there was none.
    async fn delete_reference_value(&self, name: &str) -> Result<bool>;
    /// Every version of every reference value and their deletions, newest
    /// first, at most `limit` (a store that keeps no history: none).
    async fn reference_value_history(&self, limit: i64) -> Result<Vec<ReferenceValueChange>> {
        let _ = limit;
        Ok(Vec::new())
    }
    /// A number that changes whenever a resource, policy or reference value
    /// changes (by any replica), or `None` when this store keeps none; a
    /// cache in front of the store (see `cache`) is only used with one.
    async fn config_revision(&self) -> Result<Option<i64>> {
        Ok(None)
    }
}

/// Attested sessions (a nonce is single-use across replicas) and the values
/// replicas share (the token key, the cookie key).
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Records an attested session unless its nonce was already used.
    async fn record_session(&self, nonce: &str, row: &SessionRow) -> Result<SessionClaim>;
    /// Reads an unexpired session.
    async fn get_session(&self, nonce: &str, now: i64) -> Result<Option<SessionRow>>;
    /// Drops sessions that expired before `now`.
    async fn purge_sessions(&self, now: i64) -> Result<u64>;
    /// Returns the shared value `name`, storing `candidate` when there is none
    /// yet (the first replica to start wins; all agree afterwards).
    async fn shared_value(&self, name: &str, candidate: &str) -> Result<String>;
}

/// The audit log.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends an audit row.
    async fn audit(&self, row: &AuditRow) -> Result<()>;
    /// The newest `limit` audit rows, newest first.
    async fn list_audit(&self, limit: i64) -> Result<Vec<AuditRow>>;
    /// Drops audit rows older than `before` (retention); returns how many.
    async fn purge_audit(&self, before: i64) -> Result<u64> {
        let _ = before;
        Ok(0)
    }
}

/// Vendor collateral shared by the replicas of one store.
#[async_trait]
pub trait CollateralStore: Send + Sync {
    /// Collateral shared by the replicas of this store (see
    /// `collateral::StoreCache`), by the URL it is served at. A store that
    /// shares nothing (an in-memory benchmark store) keeps the defaults: the
    /// cache is then always a miss and each replica fetches for itself.
    async fn get_collateral(&self, _url: &str) -> Result<Option<CollateralRow>> {
        Ok(None)
    }
    /// Keeps collateral for every replica of this store.
    async fn put_collateral(&self, _url: &str, _row: &CollateralRow, _now: i64) -> Result<()> {
        Ok(())
    }
    /// Every collateral row (`rootline collateral export`).
    async fn list_collateral(&self) -> Result<Vec<(String, CollateralRow)>> {
        Ok(Vec::new())
    }
}

/// The broker's storage as one object (`Arc<dyn Store>`): the four parts
/// above. Code imports the part whose methods it calls; any type that
/// implements all four is a `Store`.
pub trait Store: ConfigStore + SessionStore + AuditStore + CollateralStore {}

impl<T: ConfigStore + SessionStore + AuditStore + CollateralStore + ?Sized> Store for T {}

/// `N` bytes for a key: the time in milliseconds (six bytes, big-endian)
/// followed by random bytes. Keys made close in time sort close together
/// (in hex, at the end of the b-tree; in base64, whose alphabet is not in
/// byte order, in runs that move every few seconds), so a batch of inserts
/// touches a few neighbouring index pages rather than one random page each
/// (SQLite writes every page a commit touches to its WAL whole, 4 KiB). The
/// random part (26 bytes of a nonce,
/// 10 of an audit id) keeps them unpredictable and unique.
pub(crate) fn time_ordered<const N: usize>() -> Result<[u8; N]> {
    let mut out = [0u8; N];
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let ms = u64::try_from(ms).unwrap_or(u64::MAX).to_be_bytes();
    let (time, rand) = out.split_at_mut(6);
    time.copy_from_slice(&ms[2..]);
    aws_lc_rs::rand::fill(rand).map_err(|_| Error::Crypto("random generator failed".into()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Keys made later sort after earlier ones (the index appends), and
    /// their random parts still differ.
    #[test]
    fn time_ordered_keys_sort_by_time_and_stay_unique() {
        let a = time_ordered::<16>().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(3));
        let b = time_ordered::<16>().unwrap();
        assert!(hex::encode(a) < hex::encode(b));
        let ms = |k: &[u8; 16]| {
            let mut t = [0u8; 8];
            t[2..].copy_from_slice(&k[..6]);
            u64::from_be_bytes(t)
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        assert!(ms(&a) <= ms(&b) && ms(&b) <= now && now - ms(&a) < 60_000);
        let c = time_ordered::<16>().unwrap();
        let d = time_ordered::<16>().unwrap();
        assert_ne!(c[6..], d[6..]);
    }
}

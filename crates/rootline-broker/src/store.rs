//! Storage: a narrow async trait, and one SQL implementation for SQLite (the
//! embedded default) and PostgreSQL (several replicas) over sqlx's Any
//! driver, with one set of numbered migrations portable between the two.
//!
//! The store sees only sealed secrets: sealing and opening with the KEK is
//! the broker's business, so a database dump reveals no resource.

use std::borrow::Cow;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, Row, SqlSafeStr};

use crate::error::{Error, Result};

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
    /// `released` or `denied`.
    pub result: String,
    /// Why.
    pub reason: String,
}

/// The broker's storage.
#[async_trait]
pub trait Store: Send + Sync {
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
    /// Records an attested session unless its nonce was already used.
    async fn record_session(&self, nonce: &str, row: &SessionRow) -> Result<SessionClaim>;
    /// Reads an unexpired session.
    async fn get_session(&self, nonce: &str, now: i64) -> Result<Option<SessionRow>>;
    /// Drops sessions that expired before `now`.
    async fn purge_sessions(&self, now: i64) -> Result<u64>;
    /// Returns the shared value `name`, storing `candidate` when there is none
    /// yet (the first replica to start wins; all agree afterwards).
    async fn shared_value(&self, name: &str, candidate: &str) -> Result<String>;
    /// Appends an audit row.
    async fn audit(&self, row: &AuditRow) -> Result<()>;
    /// The newest `limit` audit rows, newest first.
    async fn list_audit(&self, limit: i64) -> Result<Vec<AuditRow>>;
}

/// The numbered migrations, embedded at build time (no database needed).
fn migrator() -> Migrator {
    let m = |version, desc: &'static str, sql: &'static str| {
        Migration::new(
            version,
            Cow::Borrowed(desc),
            MigrationType::Simple,
            sql.into_sql_str(),
            false,
        )
    };
    Migrator::with_migrations(vec![m(
        1,
        "initial",
        include_str!("../migrations/0001_initial.sql"),
    )])
}

/// SQLite or PostgreSQL through sqlx.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: AnyPool,
}

impl SqlStore {
    /// Runs `DELETE ... WHERE key = $1`; true when a row went.
    async fn delete_by_key(&self, sql: &'static str, key: &str) -> Result<bool> {
        let r = sqlx::query(sql).bind(key).execute(&self.pool).await?;
        Ok(rows_affected(r))
    }

    /// Connects to `url` (`sqlite://...` or `postgres://...`) and applies
    /// the migrations; SQLite commits with `synchronous=NORMAL`.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, false).await
    }

    /// As [`SqlStore::connect`]; `sqlite_full_sync` makes SQLite sync the
    /// WAL on every commit (`synchronous=FULL`). With NORMAL, the default, a
    /// killed process loses no committed write (the WAL is in the OS), but a
    /// power loss or kernel crash may roll back the last commits; FULL costs
    /// about 2 ms per handshake here (two commits: session and audit row).
    /// PostgreSQL's durability is its own `synchronous_commit` setting.
    pub async fn connect_with(url: &str, sqlite_full_sync: bool) -> Result<Self> {
        install_default_drivers();
        let sqlite = url.starts_with("sqlite:");
        let pool = AnyPoolOptions::new()
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if sqlite {
                        let sync = if sqlite_full_sync {
                            "PRAGMA synchronous=FULL"
                        } else {
                            "PRAGMA synchronous=NORMAL"
                        };
                        sqlx::query(sync).execute(conn).await?;
                    }
                    Ok(())
                })
            })
            .max_connections(if sqlite { 4 } else { 8 })
            .connect(url)
            .await
            .map_err(|e| Error::Storage(format!("cannot open the database: {e}")))?;
        if sqlite {
            // WAL lets readers proceed while one writer commits.
            sqlx::query("PRAGMA journal_mode=WAL")
                .execute(&pool)
                .await?;
        }
        migrator().run(&pool).await?;
        Ok(Self { pool })
    }

    /// The pool (for tests and maintenance).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

fn rows_affected(r: sqlx::any::AnyQueryResult) -> bool {
    r.rows_affected() > 0
}

#[async_trait]
impl Store for SqlStore {
    async fn put_resource(
        &self,
        path: &str,
        sealed: &str,
        policy: Option<&str>,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO resources (path, sealed, policy, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (path) DO UPDATE SET sealed = excluded.sealed, policy = excluded.policy, \
             updated_at = excluded.updated_at",
        )
        .bind(path)
        .bind(sealed)
        .bind(policy)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn get_resource(&self, path: &str) -> Result<Option<ResourceRow>> {
        let row = sqlx::query("SELECT sealed, policy FROM resources WHERE path = $1")
            .bind(path)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(ResourceRow {
                sealed: r.try_get("sealed")?,
                policy: r.try_get("policy")?,
            })
        })
        .transpose()
    }

    async fn delete_resource(&self, path: &str) -> Result<bool> {
        self.delete_by_key("DELETE FROM resources WHERE path = $1", path)
            .await
    }

    async fn list_resources(&self) -> Result<Vec<ResourceInfo>> {
        let rows = sqlx::query("SELECT path, policy, updated_at FROM resources ORDER BY path")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(ResourceInfo {
                    path: r.try_get("path")?,
                    policy: r.try_get("policy")?,
                    updated_at: r.try_get("updated_at")?,
                })
            })
            .collect()
    }

    async fn put_policy(&self, name: &str, rego: &str, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO policies (name, rego, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET rego = excluded.rego, updated_at = excluded.updated_at",
        )
        .bind(name)
        .bind(rego)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn get_policy(&self, name: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT rego FROM policies WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| r.try_get("rego").map_err(Error::from))
            .transpose()
    }

    async fn delete_policy(&self, name: &str) -> Result<bool> {
        self.delete_by_key("DELETE FROM policies WHERE name = $1", name)
            .await
    }

    async fn list_policies(&self) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT name FROM policies ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| r.try_get("name").map_err(Error::from))
            .collect()
    }

    async fn put_reference_value(&self, rv: &ReferenceValue, now: i64) -> Result<()> {
        let vals = serde_json::to_string(&rv.values).map_err(|e| Error::Storage(e.to_string()))?;
        sqlx::query(
            "INSERT INTO reference_values (name, tee, claim, vals, updated_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (name) DO UPDATE SET tee = excluded.tee, claim = excluded.claim, \
             vals = excluded.vals, updated_at = excluded.updated_at",
        )
        .bind(&rv.name)
        .bind(&rv.tee)
        .bind(&rv.claim)
        .bind(vals)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn list_reference_values(&self) -> Result<Vec<ReferenceValue>> {
        let rows = sqlx::query("SELECT name, tee, claim, vals FROM reference_values ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let vals: String = r.try_get("vals")?;
                Ok(ReferenceValue {
                    name: r.try_get("name")?,
                    tee: r.try_get("tee")?,
                    claim: r.try_get("claim")?,
                    values: serde_json::from_str(&vals)
                        .map_err(|e| Error::Storage(format!("reference value row: {e}")))?,
                })
            })
            .collect()
    }

    async fn delete_reference_value(&self, name: &str) -> Result<bool> {
        self.delete_by_key("DELETE FROM reference_values WHERE name = $1", name)
            .await
    }

    async fn record_session(&self, nonce: &str, row: &SessionRow) -> Result<SessionClaim> {
        // The primary key makes this atomic across replicas: exactly one
        // INSERT of a nonce succeeds.
        let r = sqlx::query(
            "INSERT INTO sessions (nonce, expires_at, evidence_digest, binding_digest, token) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (nonce) DO NOTHING",
        )
        .bind(nonce)
        .bind(row.expires_at)
        .bind(&row.evidence_digest)
        .bind(&row.binding_digest)
        .bind(&row.token)
        .execute(&self.pool)
        .await?;
        if rows_affected(r) {
            return Ok(SessionClaim::New);
        }
        let existing =
            sqlx::query("SELECT expires_at, evidence_digest, binding_digest, token FROM sessions WHERE nonce = $1")
                .bind(nonce)
                .fetch_one(&self.pool)
                .await?;
        Ok(SessionClaim::Existing(SessionRow {
            expires_at: existing.try_get("expires_at")?,
            evidence_digest: existing.try_get("evidence_digest")?,
            binding_digest: existing.try_get("binding_digest")?,
            token: existing.try_get("token")?,
        }))
    }

    async fn get_session(&self, nonce: &str, now: i64) -> Result<Option<SessionRow>> {
        let row = sqlx::query(
            "SELECT expires_at, evidence_digest, binding_digest, token FROM sessions \
             WHERE nonce = $1 AND expires_at > $2",
        )
        .bind(nonce)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(SessionRow {
                expires_at: r.try_get("expires_at")?,
                evidence_digest: r.try_get("evidence_digest")?,
                binding_digest: r.try_get("binding_digest")?,
                token: r.try_get("token")?,
            })
        })
        .transpose()
    }

    async fn purge_sessions(&self, now: i64) -> Result<u64> {
        let r = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected())
    }

    async fn shared_value(&self, name: &str, candidate: &str) -> Result<String> {
        sqlx::query(
            "INSERT INTO broker_keys (name, sealed) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(candidate)
        .execute(&self.pool)
        .await?;
        let r = sqlx::query("SELECT sealed FROM broker_keys WHERE name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await?;
        Ok(r.try_get("sealed")?)
    }

    async fn audit(&self, row: &AuditRow) -> Result<()> {
        let mut id = [0u8; 16];
        aws_lc_rs::rand::fill(&mut id)
            .map_err(|_| Error::Crypto("random generator failed".into()))?;
        sqlx::query(
            "INSERT INTO audit_log (id, at, client, evidence_digest, resource, policy, result, reason) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(hex::encode(id))
        .bind(row.at)
        .bind(&row.client)
        .bind(row.evidence_digest.as_deref())
        .bind(&row.resource)
        .bind(&row.policy)
        .bind(&row.result)
        .bind(&row.reason)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn list_audit(&self, limit: i64) -> Result<Vec<AuditRow>> {
        let rows = sqlx::query(
            "SELECT at, client, evidence_digest, resource, policy, result, reason FROM audit_log \
             ORDER BY at DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditRow {
                    at: r.try_get("at")?,
                    client: r.try_get("client")?,
                    evidence_digest: r.try_get("evidence_digest")?,
                    resource: r.try_get("resource")?,
                    policy: r.try_get("policy")?,
                    result: r.try_get("result")?,
                    reason: r.try_get("reason")?,
                })
            })
            .collect()
    }
}

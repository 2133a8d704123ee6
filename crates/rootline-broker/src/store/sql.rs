//! The SQL store over sqlx's Any driver: SQLite or PostgreSQL.

use std::sync::Arc;

use async_trait::async_trait;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Row};
use tokio::sync::oneshot;

use super::statements::session_row;

use super::batch::{Batcher, Write};
use super::migrations::migrator;
use super::sqlite::DirectSqlite;
use super::sqlite_file;
use super::{
    AuditRow, AuditStore, CollateralRow, CollateralStore, ConfigStore, ReferenceValue,
    ReferenceValueChange, ResourceInfo, ResourceRow, SessionClaim, SessionRow, SessionStore,
};
use crate::error::{Error, Result};

/// SQLite or PostgreSQL through sqlx.
///
/// The two writes of every handshake (the nonce's session row and the audit
/// row of the release) are group-committed: callers queue them and wait,
/// and whichever arrives while no batch is being written starts a task that
/// writes everything queued so far in one transaction (on PostgreSQL, one
/// multi-row statement per table), then answers each caller. Under load a
/// batch holds many handshakes, so the per-commit cost (a WAL commit on
/// SQLite, through a connection of our own; a round trip to PostgreSQL) is
/// shared by all of them; alone, a write is a batch of one and waits for
/// nothing. Nothing is acknowledged before its batch has committed.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: AnyPool,
    writes: Arc<Batcher>,
}

impl SqlStore {
    /// Runs `DELETE ... WHERE key = $1` and moves the configuration
    /// revision on; true when a row went.
    async fn delete_by_key(&self, sql: &'static str, key: &str) -> Result<bool> {
        self.change_config(sqlx::query(sql).bind(key)).await
    }

    /// Runs a change to resources, policies or reference values and, when
    /// it touched a row, moves the configuration revision on in the same
    /// transaction (see `cache`); true when a row was touched.
    async fn change_config(
        &self,
        q: sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> Result<bool> {
        self.change_config_then(q, None).await
    }

    /// As [`SqlStore::change_config`], running `then` after `q` in the
    /// same transaction when `q` touched a row.
    async fn change_config_then(
        &self,
        q: sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments>,
        then: Option<sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments>>,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let changed = rows_affected(q.execute(&mut *tx).await?);
        if changed {
            if let Some(then) = then {
                then.execute(&mut *tx).await?;
            }
            sqlx::query("UPDATE config_revision SET rev = rev + 1 WHERE id = 1")
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(changed)
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
        // One connection first, for its error: the pool retries until its
        // acquire timeout (30 s) and then says only "pool timed out", not
        // that the server refused the connection or the password.
        {
            use sqlx::Connection as _;
            let c = sqlx::AnyConnection::connect(url)
                .await
                .map_err(|e| Error::Storage(format!("cannot open the database: {e}")))?;
            let _ = c.close().await;
        }
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
        let direct = if sqlite {
            sqlite_file(url)
                .map(|p| DirectSqlite::open(&p, sqlite_full_sync).map(Arc::new))
                .transpose()?
        } else {
            None
        };
        Ok(Self {
            writes: Arc::new(Batcher::new(pool.clone(), direct)),
            pool,
        })
    }

    /// The pool (for tests and maintenance).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

/// A `sessions` row selected with its four columns by name.
fn collateral_row(r: &sqlx::any::AnyRow) -> Result<CollateralRow> {
    use base64::Engine as _;
    let body: String = r.try_get("body")?;
    let chain: Option<String> = r.try_get("chain")?;
    Ok(CollateralRow {
        body: base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|e| Error::Storage(format!("collateral row: body is not base64: {e}")))?,
        chain: chain.map(String::into_bytes),
    })
}

fn rows_affected(r: sqlx::any::AnyQueryResult) -> bool {
    r.rows_affected() > 0
}

#[async_trait]
impl ConfigStore for SqlStore {
    async fn put_resource(
        &self,
        path: &str,
        sealed: &str,
        policy: Option<&str>,
        now: i64,
    ) -> Result<()> {
        self.change_config(
            sqlx::query(
                "INSERT INTO resources (path, sealed, policy, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (path) DO UPDATE SET sealed = excluded.sealed, policy = excluded.policy, \
             updated_at = excluded.updated_at",
            )
            .bind(path)
            .bind(sealed)
            .bind(policy)
            .bind(now),
        )
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
        self.change_config(
            sqlx::query(
                "INSERT INTO policies (name, rego, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET rego = excluded.rego, updated_at = excluded.updated_at",
            )
            .bind(name)
            .bind(rego)
            .bind(now)
        )
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
        // The new version enters the history in the same transaction.
        self.change_config_then(
            sqlx::query(
                "INSERT INTO reference_values (name, tee, claim, vals, updated_at, version) VALUES ($1, $2, $3, $4, $5, 1) \
                 ON CONFLICT (name) DO UPDATE SET tee = excluded.tee, claim = excluded.claim, \
                 vals = excluded.vals, updated_at = excluded.updated_at, \
                 version = reference_values.version + 1",
            )
            .bind(&rv.name)
            .bind(&rv.tee)
            .bind(&rv.claim)
            .bind(vals)
            .bind(now),
            Some(
                sqlx::query(
                    "INSERT INTO reference_value_history (name, version, tee, claim, vals, at, deleted) \
                     SELECT name, version, tee, claim, vals, updated_at, 0 FROM reference_values \
                     WHERE name = $1 ON CONFLICT DO NOTHING",
                )
                .bind(&rv.name),
            ),
        )
        .await?;
        Ok(())
    }

    async fn list_reference_values(&self) -> Result<Vec<ReferenceValue>> {
        let rows = sqlx::query(
            "SELECT name, tee, claim, vals, version FROM reference_values ORDER BY name",
        )
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
                    version: r.try_get("version")?,
                })
            })
            .collect()
    }

    async fn delete_reference_value(&self, name: &str) -> Result<bool> {
        // The deletion enters the history first, in the same transaction
        // (the trait gives no time for a deletion: the store's clock).
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO reference_value_history (name, version, tee, claim, vals, at, deleted) \
             SELECT name, version, tee, claim, vals, $2, 1 FROM reference_values WHERE name = $1 \
             ON CONFLICT DO NOTHING",
        )
        .bind(name)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let changed = rows_affected(
            sqlx::query("DELETE FROM reference_values WHERE name = $1")
                .bind(name)
                .execute(&mut *tx)
                .await?,
        );
        if changed {
            sqlx::query("UPDATE config_revision SET rev = rev + 1 WHERE id = 1")
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(changed)
    }

    async fn reference_value_history(&self, limit: i64) -> Result<Vec<ReferenceValueChange>> {
        let rows = sqlx::query(
            "SELECT name, version, tee, claim, vals, at, deleted FROM reference_value_history \
             ORDER BY at DESC, name, version DESC, deleted DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let vals: String = r.try_get("vals")?;
                let deleted: i64 = r.try_get("deleted")?;
                Ok(ReferenceValueChange {
                    value: ReferenceValue {
                        name: r.try_get("name")?,
                        tee: r.try_get("tee")?,
                        claim: r.try_get("claim")?,
                        values: serde_json::from_str(&vals).map_err(|e| {
                            Error::Storage(format!("reference value history row: {e}"))
                        })?,
                        version: r.try_get("version")?,
                    },
                    at: r.try_get("at")?,
                    deleted: deleted != 0,
                })
            })
            .collect()
    }

    async fn config_revision(&self) -> Result<Option<i64>> {
        let r = sqlx::query("SELECT rev FROM config_revision WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok(Some(r.try_get("rev")?))
    }
}

#[async_trait]
impl SessionStore for SqlStore {
    async fn record_session(&self, nonce: &str, row: &SessionRow) -> Result<SessionClaim> {
        let (reply, answer) = oneshot::channel();
        self.writes.enqueue(Write::Session {
            nonce: nonce.to_owned(),
            row: row.clone(),
            reply,
        });
        answer
            .await
            .map_err(|_| Error::Storage("the session write was abandoned".into()))?
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
        row.as_ref().map(session_row).transpose()
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
}

#[async_trait]
impl AuditStore for SqlStore {
    async fn purge_audit(&self, before: i64) -> Result<u64> {
        let r = sqlx::query("DELETE FROM audit_log WHERE at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected())
    }

    async fn audit(&self, row: &AuditRow) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.writes.enqueue(Write::Audit {
            row: row.clone(),
            reply,
        });
        answer
            .await
            .map_err(|_| Error::Storage("the audit write was abandoned".into()))?
    }

    async fn list_audit(&self, limit: i64) -> Result<Vec<AuditRow>> {
        let rows = sqlx::query(
            "SELECT at, client, evidence_digest, resource, policy, result, reason, \
             tee, workload, tcb_status, failed FROM audit_log \
             ORDER BY at DESC, id DESC LIMIT $1",
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
                    tee: r.try_get("tee")?,
                    workload: r.try_get("workload")?,
                    tcb_status: r.try_get("tcb_status")?,
                    failed: r.try_get("failed")?,
                })
            })
            .collect()
    }
}

#[async_trait]
impl CollateralStore for SqlStore {
    async fn get_collateral(&self, url: &str) -> Result<Option<CollateralRow>> {
        let row = sqlx::query("SELECT body, chain FROM collateral WHERE url = $1")
            .bind(url)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| collateral_row(&r)).transpose()
    }

    async fn put_collateral(&self, url: &str, row: &CollateralRow, now: i64) -> Result<()> {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let chain = row
            .chain
            .as_deref()
            .map(|c| String::from_utf8_lossy(c).into_owned());
        sqlx::query(
            "INSERT INTO collateral (url, body, chain, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (url) DO UPDATE SET body = excluded.body, chain = excluded.chain, \
             updated_at = excluded.updated_at",
        )
        .bind(url)
        .bind(b64.encode(&row.body))
        .bind(chain)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn list_collateral(&self) -> Result<Vec<(String, CollateralRow)>> {
        let rows = sqlx::query("SELECT url, body, chain FROM collateral ORDER BY url")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("url")?, collateral_row(r)?)))
            .collect()
    }
}

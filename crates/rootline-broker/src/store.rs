//! Storage: a narrow async trait, and one SQL implementation for SQLite (the
//! embedded default) and PostgreSQL (several replicas) over sqlx's Any
//! driver, with one set of numbered migrations portable between the two.
//!
//! The store sees only sealed secrets: sealing and opening with the KEK is
//! the broker's business, so a database dump reveals no resource.

use std::borrow::Cow;
use std::sync::{Arc, LazyLock, Mutex};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, Row, SqlSafeStr};
use tokio::sync::oneshot;

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
    /// A number that changes whenever a resource, policy or reference value
    /// changes (by any replica), or `None` when this store keeps none; a
    /// cache in front of the store (see `cache`) is only used with one.
    async fn config_revision(&self) -> Result<Option<i64>> {
        Ok(None)
    }
    /// The newest `limit` audit rows, newest first.
    async fn list_audit(&self, limit: i64) -> Result<Vec<AuditRow>>;
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
    /// Drops audit rows older than `before` (retention); returns how many.
    async fn purge_audit(&self, before: i64) -> Result<u64> {
        let _ = before;
        Ok(0)
    }
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
    Migrator::with_migrations(vec![
        m(1, "initial", include_str!("../migrations/0001_initial.sql")),
        m(
            2,
            "config revision",
            include_str!("../migrations/0002_config_revision.sql"),
        ),
        m(
            3,
            "shared collateral",
            include_str!("../migrations/0003_collateral.sql"),
        ),
        m(
            4,
            "reference value versions",
            include_str!("../migrations/0004_reference_versions.sql"),
        ),
    ])
}

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
    writes: Arc<WriteQueue>,
    /// SQLite databases in a file: the batches are written through a
    /// connection of our own rather than sqlx's (see [`DirectSqlite`]).
    direct: Option<Arc<DirectSqlite>>,
}

/// The handshake's two writes on SQLite, through `rusqlite` on a connection
/// of our own, deliberately beside sqlx.
///
/// sqlx runs every SQLite statement on a worker thread of its own and hands
/// the statement over and the answer back through channels: two thread
/// wake-ups per statement. Measured with `rootline bench kbs` (one broker
/// thread, 8 guests): the session row and the audit row cost the broker
/// 200-300 us of CPU per handshake that way, a third of all it spent; the
/// same two inserts on a connection used directly cost a few tens of
/// microseconds. Everything else (migrations, administration, reads, and
/// PostgreSQL entirely) stays on sqlx.
///
/// The batch runs on the writer task itself: an insert into a WAL database
/// with the page cache warm takes microseconds, less than a hand-off to a
/// blocking thread. It waits only when another connection holds SQLite's
/// write lock (an administrator's change, a session purge), for as long as
/// that commit takes, up to the busy timeout.
struct DirectSqlite {
    conn: Mutex<rusqlite::Connection>,
}

impl std::fmt::Debug for DirectSqlite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DirectSqlite")
    }
}

/// The database file of a sqlx SQLite URL (`sqlite://PATH?mode=rwc`,
/// `sqlite:PATH`), or `None` for an in-memory database, which a second
/// connection would not share.
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let (path, options) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path == ":memory:" || options.contains("mode=memory") {
        return None;
    }
    Some(path.into())
}

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

fn direct_error(e: &rusqlite::Error) -> Error {
    Error::Storage(e.to_string())
}

/// The handshake's two inserts and the session row's read, spelled once for
/// both writers: the rusqlite one (a row a statement) and sqlx's multi-row
/// statements append `placeholders(rows, columns)` and the conflict clause.
/// (SQLite takes `$1` as a parameter named "$1", bound by position.)
const SESSION_INSERT: &str =
    "INSERT INTO sessions (nonce, expires_at, evidence_digest, binding_digest, token) VALUES ";
/// The primary key makes the nonce single-use: a row that exists already
/// is left as it is, and the insert reports no change.
const SESSION_CONFLICT: &str = " ON CONFLICT (nonce) DO NOTHING";
const AUDIT_INSERT: &str = "INSERT INTO audit_log \
    (id, at, client, evidence_digest, resource, policy, result, reason) VALUES ";
const SESSION_SELECT: &str =
    "SELECT expires_at, evidence_digest, binding_digest, token FROM sessions WHERE nonce = $1";

type SessionWrite = (String, SessionRow, oneshot::Sender<Result<SessionClaim>>);
type AuditWrite = (AuditRow, oneshot::Sender<Result<()>>);

impl DirectSqlite {
    fn open(path: &std::path::Path, full_sync: bool) -> Result<Self> {
        let conn = rusqlite::Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| direct_error(&e))?;
        // As sqlx's connections: wait for the write lock rather than fail.
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(|e| direct_error(&e))?;
        conn.execute_batch(if full_sync {
            "PRAGMA synchronous=FULL"
        } else {
            "PRAGMA synchronous=NORMAL"
        })
        .map_err(|e| direct_error(&e))?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    /// Writes one batch in one transaction and answers every caller. When
    /// another connection holds the write lock: with `wait`, waits for it
    /// (up to the busy timeout); without, writes nothing and hands the batch
    /// back.
    fn write(
        &self,
        sessions: Vec<SessionWrite>,
        audits: Vec<AuditWrite>,
        wait: bool,
    ) -> Option<(Vec<SessionWrite>, Vec<AuditWrite>)> {
        let mut conn = self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let timeout = if wait {
            std::time::Duration::from_secs(5)
        } else {
            std::time::Duration::ZERO
        };
        if let Err(e) = conn.busy_timeout(timeout) {
            drop(conn);
            fail_all(sessions, audits, &direct_error(&e));
            return None;
        }
        let mut ids = Vec::with_capacity(audits.len());
        for _ in &audits {
            match time_ordered::<16>() {
                Ok(id) => ids.push(hex::encode(id)),
                Err(e) => {
                    fail_all(sessions, audits, &e);
                    return None;
                }
            }
        }
        let tx = match conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate) {
            Ok(tx) => tx,
            // Nothing was written: the lock is another connection's.
            Err(e) if !wait && e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) => {
                return Some((sessions, audits));
            }
            Err(e) => {
                fail_all(sessions, audits, &direct_error(&e));
                return None;
            }
        };
        let written = (|| -> rusqlite::Result<Vec<bool>> {
            let mut inserted = Vec::with_capacity(sessions.len());
            {
                static ONE_SESSION: LazyLock<String> = LazyLock::new(|| {
                    format!("{SESSION_INSERT}{}{SESSION_CONFLICT}", placeholders(1, 5))
                });
                static ONE_AUDIT: LazyLock<String> =
                    LazyLock::new(|| format!("{AUDIT_INSERT}{}", placeholders(1, 8)));
                let mut st = tx.prepare_cached(&ONE_SESSION)?;
                for (nonce, row, _) in &sessions {
                    inserted.push(
                        st.execute(rusqlite::params![
                            nonce,
                            row.expires_at,
                            row.evidence_digest,
                            row.binding_digest,
                            row.token
                        ])? > 0,
                    );
                }
                let mut st = tx.prepare_cached(&ONE_AUDIT)?;
                for ((row, _), id) in audits.iter().zip(&ids) {
                    st.execute(rusqlite::params![
                        id,
                        row.at,
                        row.client,
                        row.evidence_digest,
                        row.resource,
                        row.policy,
                        row.result,
                        row.reason
                    ])?;
                }
            }
            tx.commit()?;
            Ok(inserted)
        })();
        let inserted = match written {
            Ok(i) => i,
            Err(e) => {
                drop(conn);
                fail_all(sessions, audits, &direct_error(&e));
                return None;
            }
        };
        for (_, reply) in audits {
            let _ = reply.send(Ok(()));
        }
        for ((nonce, _, reply), new) in sessions.into_iter().zip(inserted) {
            let answer = if new {
                Ok(SessionClaim::New)
            } else {
                existing_direct(&conn, &nonce)
            };
            let _ = reply.send(answer);
        }
        None
    }
}

fn existing_direct(conn: &rusqlite::Connection, nonce: &str) -> Result<SessionClaim> {
    conn.query_row(SESSION_SELECT, [nonce], |r| {
        Ok(SessionRow {
            expires_at: r.get(0)?,
            evidence_digest: r.get(1)?,
            binding_digest: r.get(2)?,
            token: r.get(3)?,
        })
    })
    .map(SessionClaim::Existing)
    .map_err(|e| direct_error(&e))
}

fn fail_all(sessions: Vec<SessionWrite>, audits: Vec<AuditWrite>, e: &Error) {
    for (_, _, reply) in sessions {
        let _ = reply.send(Err(Error::Storage(e.to_string())));
    }
    for (_, reply) in audits {
        let _ = reply.send(Err(Error::Storage(e.to_string())));
    }
}

/// Writes waiting for the next group commit.
#[derive(Debug, Default)]
struct WriteQueue {
    state: Mutex<QueueState>,
}

#[derive(Debug, Default)]
struct QueueState {
    pending: Vec<Write>,
    /// A task is writing batches; it takes what arrives meanwhile.
    running: bool,
}

#[derive(Debug)]
enum Write {
    Session {
        nonce: String,
        row: SessionRow,
        reply: oneshot::Sender<Result<SessionClaim>>,
    },
    Audit {
        row: AuditRow,
        reply: oneshot::Sender<Result<()>>,
    },
}

/// Owned by the writer task. However the task ends (done, a panic, its
/// runtime shutting down before or while it runs), dropping this lets the
/// next write start a writer and answers the writes still queued, instead of
/// leaving them waiting forever.
struct Running {
    store: SqlStore,
    /// Cleared when the writer ended normally (it found the queue empty and
    /// said so under the queue's lock).
    armed: bool,
}

impl Running {
    /// The writer ended normally: nothing to clean up.
    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let left = {
            let mut s = self.store.queue();
            s.running = false;
            std::mem::take(&mut s.pending)
        };
        for w in left {
            let e = Error::Storage("the store's writer stopped".into());
            match w {
                Write::Session { reply, .. } => {
                    let _ = reply.send(Err(e));
                }
                Write::Audit { reply, .. } => {
                    let _ = reply.send(Err(e));
                }
            }
        }
    }
}

/// Rows per multi-row INSERT (5 and 8 parameters a row: far below
/// SQLite's 32,766 and PostgreSQL's 65,535 parameters a statement).
const BATCH_ROWS: usize = 128;

fn storage_error(e: &sqlx::Error) -> Error {
    Error::Storage(e.to_string())
}

/// `($1, $2, ...), ($k, ...)`: `rows` groups of `cols` numbered placeholders.
fn placeholders(rows: usize, cols: usize) -> String {
    let mut out = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        if r > 0 {
            out.push_str(", ");
        }
        out.push('(');
        for c in 0..cols {
            if c > 0 {
                out.push_str(", ");
            }
            out.push('$');
            out.push_str(&(r * cols + c + 1).to_string());
        }
        out.push(')');
    }
    out
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
        let mut tx = self.pool.begin().await?;
        let changed = rows_affected(q.execute(&mut *tx).await?);
        if changed {
            sqlx::query("UPDATE config_revision SET rev = rev + 1 WHERE id = 1")
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(changed)
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, QueueState> {
        // The queue is consistent after any panic-free section.
        self.writes
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues a write and starts a writer task unless one is running.
    fn enqueue(&self, w: Write) {
        let start = {
            let mut s = self.queue();
            s.pending.push(w);
            !std::mem::replace(&mut s.running, true)
        };
        if start {
            // A task of its own, not the caller's future: a caller whose
            // client hangs up is dropped, and the others waiting on its
            // batch must still be answered.
            let running = Running {
                store: self.clone(),
                armed: true,
            };
            tokio::spawn(async move {
                running.store.write_batches().await;
                running.disarm();
            });
        }
    }

    async fn write_batches(&self) {
        loop {
            // Let the requests that are ready run first: those reaching
            // their write queue it here, and one commit serves them all.
            // (With a single runtime thread nothing else runs while a batch
            // is written, so without this every batch held one write.)
            tokio::task::yield_now().await;
            let batch = {
                let mut s = self.queue();
                if s.pending.is_empty() {
                    s.running = false;
                    return;
                }
                std::mem::take(&mut s.pending)
            };
            self.write_batch(batch).await;
        }
    }

    async fn write_batch(&self, batch: Vec<Write>) {
        let mut sessions = Vec::new();
        let mut audits = Vec::new();
        let mut later = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for w in batch {
            match w {
                // The same nonce twice in one statement could not say which
                // caller's row went in: the second waits for the next batch.
                Write::Session { ref nonce, .. } if !seen.insert(nonce.clone()) => later.push(w),
                Write::Session { nonce, row, reply } => sessions.push((nonce, row, reply)),
                Write::Audit { row, reply } => audits.push((row, reply)),
            }
        }
        if !later.is_empty() {
            let mut s = self.queue();
            s.pending.extend(later);
        }
        if let Some(direct) = &self.direct {
            // Without waiting first: another connection holding SQLite's
            // write lock (an administrator's transaction, driven from this
            // very runtime) must not be waited for on a runtime thread.
            if let Some((sessions, audits)) = direct.write(sessions, audits, false) {
                let direct = direct.clone();
                let waited = tokio::task::spawn_blocking(move || {
                    direct.write(sessions, audits, true);
                })
                .await;
                if let Err(e) = waited {
                    tracing::error!(error = %e, "the blocking SQLite write failed");
                }
            }
            return;
        }
        while !sessions.is_empty() {
            let rest = sessions.split_off(sessions.len().min(BATCH_ROWS));
            let chunk = std::mem::replace(&mut sessions, rest);
            self.write_sessions(chunk).await;
        }
        while !audits.is_empty() {
            let rest = audits.split_off(audits.len().min(BATCH_ROWS));
            let chunk = std::mem::replace(&mut audits, rest);
            self.write_audits(chunk).await;
        }
    }

    async fn write_sessions(&self, chunk: Vec<SessionWrite>) {
        // The primary key makes this atomic across replicas: exactly one
        // INSERT of a nonce succeeds; RETURNING names the rows that did.
        let sql = format!(
            "{SESSION_INSERT}{}{SESSION_CONFLICT} RETURNING nonce",
            placeholders(chunk.len(), 5)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (nonce, row, _) in &chunk {
            q = q
                .bind(nonce.as_str())
                .bind(row.expires_at)
                .bind(row.evidence_digest.as_str())
                .bind(row.binding_digest.as_str())
                .bind(row.token.as_str());
        }
        let inserted: std::collections::HashSet<String> = match q.fetch_all(&self.pool).await {
            Ok(rows) => rows
                .iter()
                .filter_map(|r| r.try_get::<String, _>("nonce").ok())
                .collect(),
            Err(e) => {
                for (_, _, reply) in chunk {
                    let _ = reply.send(Err(storage_error(&e)));
                }
                return;
            }
        };
        for (nonce, _, reply) in chunk {
            let answer = if inserted.contains(&nonce) {
                Ok(SessionClaim::New)
            } else {
                self.existing_session(&nonce).await
            };
            // The caller may have gone; the row stands either way.
            let _ = reply.send(answer);
        }
    }

    async fn existing_session(&self, nonce: &str) -> Result<SessionClaim> {
        let existing = sqlx::query(SESSION_SELECT)
            .bind(nonce)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| {
                Error::Storage("the nonce's session row was neither inserted nor found".into())
            })?;
        Ok(SessionClaim::Existing(session_row(&existing)?))
    }

    async fn write_audits(&self, chunk: Vec<AuditWrite>) {
        let sql = format!("{AUDIT_INSERT}{}", placeholders(chunk.len(), 8));
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (row, _) in &chunk {
            let Ok(id) = time_ordered::<16>() else {
                for (_, reply) in chunk {
                    let _ = reply.send(Err(Error::Crypto("random generator failed".into())));
                }
                return;
            };
            q = q
                .bind(hex::encode(id))
                .bind(row.at)
                .bind(row.client.as_str())
                .bind(row.evidence_digest.as_deref())
                .bind(row.resource.as_str())
                .bind(row.policy.as_str())
                .bind(row.result.as_str())
                .bind(row.reason.as_str());
        }
        let r = q.execute(&self.pool).await;
        for (_, reply) in chunk {
            let _ = reply.send(r.as_ref().map(|_| ()).map_err(storage_error));
        }
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
            pool,
            writes: Arc::default(),
            direct,
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

fn session_row(r: &sqlx::any::AnyRow) -> Result<SessionRow> {
    Ok(SessionRow {
        expires_at: r.try_get("expires_at")?,
        evidence_digest: r.try_get("evidence_digest")?,
        binding_digest: r.try_get("binding_digest")?,
        token: r.try_get("token")?,
    })
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
        self.change_config(
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
            .bind(now)
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
        self.delete_by_key("DELETE FROM reference_values WHERE name = $1", name)
            .await
    }

    async fn record_session(&self, nonce: &str, row: &SessionRow) -> Result<SessionClaim> {
        let (reply, answer) = oneshot::channel();
        self.enqueue(Write::Session {
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

    async fn purge_audit(&self, before: i64) -> Result<u64> {
        let r = sqlx::query("DELETE FROM audit_log WHERE at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected())
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
        let (reply, answer) = oneshot::channel();
        self.enqueue(Write::Audit {
            row: row.clone(),
            reply,
        });
        answer
            .await
            .map_err(|_| Error::Storage("the audit write was abandoned".into()))?
    }

    async fn config_revision(&self) -> Result<Option<i64>> {
        let r = sqlx::query("SELECT rev FROM config_revision WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok(Some(r.try_get("rev")?))
    }

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

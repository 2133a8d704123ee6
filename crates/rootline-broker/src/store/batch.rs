//! Group commit: the handshake's two writes (the nonce's session row, the
//! audit row of a release) queued and written in one transaction by
//! whichever caller finds no batch running (see `SqlStore`).

use std::sync::{Arc, Mutex};

use sqlx::AnyPool;

use sqlx::Row;
use tokio::sync::oneshot;

use super::sqlite::DirectSqlite;
use super::statements::{
    AUDIT_COLUMNS, AUDIT_INSERT, AuditWrite, SESSION_CONFLICT, SESSION_INSERT, SESSION_SELECT,
    SessionWrite, placeholders, session_row, storage_error,
};
use super::{AuditRow, SessionClaim, SessionRow, time_ordered};
use crate::error::{Error, Result};

/// The group-commit writer: where batches go (the pool, or on SQLite the
/// connection of its own) and the writes waiting for the next batch.
#[derive(Debug)]
pub(super) struct Batcher {
    pool: AnyPool,
    direct: Option<Arc<DirectSqlite>>,
    state: Mutex<QueueState>,
}

#[derive(Debug, Default)]
pub(super) struct QueueState {
    pending: Vec<Write>,
    /// A task is writing batches; it takes what arrives meanwhile.
    running: bool,
}

#[derive(Debug)]
pub(super) enum Write {
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
pub(super) struct Running {
    batcher: Arc<Batcher>,
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
            let mut s = self.batcher.queue();
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

/// Rows per multi-row INSERT (5 and 12 parameters a row: far below
/// SQLite's 32,766 and PostgreSQL's 65,535 parameters a statement).
pub(super) const BATCH_ROWS: usize = 128;

impl Batcher {
    /// A writer for `pool`, through `direct` on SQLite.
    pub(super) fn new(pool: AnyPool, direct: Option<Arc<DirectSqlite>>) -> Self {
        Self {
            pool,
            direct,
            state: Mutex::default(),
        }
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, QueueState> {
        // The queue is consistent after any panic-free section.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues a write and starts a writer task unless one is running.
    pub(super) fn enqueue(self: &Arc<Self>, w: Write) {
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
                batcher: self.clone(),
                armed: true,
            };
            tokio::spawn(async move {
                running.batcher.write_batches().await;
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
        let sql = format!("{AUDIT_INSERT}{}", placeholders(chunk.len(), AUDIT_COLUMNS));
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
                .bind(row.reason.as_str())
                .bind(row.tee.as_deref())
                .bind(row.workload.as_deref())
                .bind(row.tcb_status.as_deref())
                .bind(row.failed.as_deref());
        }
        let r = q.execute(&self.pool).await;
        for (_, reply) in chunk {
            let _ = reply.send(r.as_ref().map(|_| ()).map_err(storage_error));
        }
    }
}

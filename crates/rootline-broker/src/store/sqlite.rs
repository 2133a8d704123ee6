//! The handshake's writes on SQLite through a connection of our own.

use std::sync::{LazyLock, Mutex};

use super::statements::{
    AUDIT_COLUMNS, AUDIT_INSERT, AuditWrite, SESSION_CONFLICT, SESSION_INSERT, SESSION_SELECT,
    SessionWrite, fail_all, placeholders,
};
use super::{SessionClaim, SessionRow, time_ordered};
use crate::error::{Error, Result};

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
pub(super) struct DirectSqlite {
    pub(super) conn: Mutex<rusqlite::Connection>,
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

pub(super) fn direct_error(e: &rusqlite::Error) -> Error {
    Error::Storage(e.to_string())
}

impl DirectSqlite {
    pub(super) fn open(path: &std::path::Path, full_sync: bool) -> Result<Self> {
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
    pub(super) fn write(
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
                    LazyLock::new(|| format!("{AUDIT_INSERT}{}", placeholders(1, AUDIT_COLUMNS)));
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
                        row.reason,
                        row.tee,
                        row.workload,
                        row.tcb_status,
                        row.failed
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

pub(super) fn existing_direct(conn: &rusqlite::Connection, nonce: &str) -> Result<SessionClaim> {
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

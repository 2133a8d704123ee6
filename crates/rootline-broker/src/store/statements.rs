//! What the SQL writers share: the handshake's statements, spelled once
//! for the rusqlite writer (`sqlite`) and sqlx's multi-row batches
//! (`batch`), and how their callers are answered.

use sqlx::Row;
use tokio::sync::oneshot;

use super::{AuditRow, SessionClaim, SessionRow};
use crate::error::{Error, Result};

/// The handshake's two inserts and the session row's read, spelled once for
/// both writers: the rusqlite one (a row a statement) and sqlx's multi-row
/// statements append `placeholders(rows, columns)` and the conflict clause.
/// (SQLite takes `$1` as a parameter named "$1", bound by position.)
pub(super) const SESSION_INSERT: &str =
    "INSERT INTO sessions (nonce, expires_at, evidence_digest, binding_digest, token) VALUES ";
/// The primary key makes the nonce single-use: a row that exists already
/// is left as it is, and the insert reports no change.
pub(super) const SESSION_CONFLICT: &str = " ON CONFLICT (nonce) DO NOTHING";
pub(super) const AUDIT_INSERT: &str = "INSERT INTO audit_log \
    (id, at, client, evidence_digest, resource, policy, result, reason, \
    tee, workload, tcb_status, failed) VALUES ";
/// The columns of [`AUDIT_INSERT`].
pub(super) const AUDIT_COLUMNS: usize = 12;
pub(super) const SESSION_SELECT: &str =
    "SELECT expires_at, evidence_digest, binding_digest, token FROM sessions WHERE nonce = $1";

pub(super) type SessionWrite = (String, SessionRow, oneshot::Sender<Result<SessionClaim>>);
pub(super) type AuditWrite = (AuditRow, oneshot::Sender<Result<()>>);

pub(super) fn storage_error(e: &sqlx::Error) -> Error {
    Error::Storage(e.to_string())
}

/// `($1, $2, ...), ($k, ...)`: `rows` groups of `cols` numbered placeholders.
pub(super) fn placeholders(rows: usize, cols: usize) -> String {
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

pub(super) fn session_row(r: &sqlx::any::AnyRow) -> Result<SessionRow> {
    Ok(SessionRow {
        expires_at: r.try_get("expires_at")?,
        evidence_digest: r.try_get("evidence_digest")?,
        binding_digest: r.try_get("binding_digest")?,
        token: r.try_get("token")?,
    })
}

pub(super) fn fail_all(sessions: Vec<SessionWrite>, audits: Vec<AuditWrite>, e: &Error) {
    for (_, _, reply) in sessions {
        let _ = reply.send(Err(Error::Storage(e.to_string())));
    }
    for (_, reply) in audits {
        let _ = reply.send(Err(Error::Storage(e.to_string())));
    }
}

//! The audit log's events: who asked for what, what was decided and why.
//!
//! Releases are always recorded, and a release whose row cannot be written
//! does not happen ([`Broker::audit_release`], hardening finding 3).
//! Refusals are recorded within a per-client budget
//! ([`Broker::refusal_audited`]) and a failed write leaves the refusal
//! standing: a refusal releases nothing, so it needs no record to be safe.

use std::net::SocketAddr;

use crate::Broker;
use crate::error::{Error, Result};
use crate::store::AuditRow;

/// The client's address, when the server records it (tests that call the
/// router directly have none). Printed as the address and port, or
/// `unknown`.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<SocketAddr>);

impl ClientAddr {
    /// The client's IP address, when known.
    pub fn ip(self) -> Option<std::net::IpAddr> {
        self.0.map(|a| a.ip())
    }
}

impl std::fmt::Display for ClientAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(a) => a.fmt(f),
            None => f.write_str("unknown"),
        }
    }
}

/// What was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A secret left the broker.
    Released,
    /// A resource request was refused (by policy, or for its token).
    Denied,
    /// Evidence (or a TPM activation) was refused.
    Rejected,
}

impl Outcome {
    /// The `result` column's word.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Released => "released",
            Outcome::Denied => "denied",
            Outcome::Rejected => "rejected",
        }
    }
}

/// One audit event.
#[derive(Debug, Clone, Copy)]
pub struct AuditEvent<'a> {
    /// Who asked.
    pub client: ClientAddr,
    /// The SHA-384 of the evidence behind the request, when known.
    pub evidence_digest: Option<&'a str>,
    /// The resource path, or `-` for an attestation.
    pub resource: &'a str,
    /// The policy that decided, `attestation`, `tpm-activation`, or `-`.
    pub policy: &'a str,
    /// What was decided.
    pub outcome: Outcome,
    /// Why, as a person reads it.
    pub reason: &'a str,
}

impl AuditEvent<'_> {
    fn row(&self, at: i64) -> AuditRow {
        AuditRow {
            at,
            client: self.client.to_string(),
            evidence_digest: self.evidence_digest.map(str::to_owned),
            resource: self.resource.to_owned(),
            policy: self.policy.to_owned(),
            result: self.outcome.as_str().to_owned(),
            reason: self.reason.to_owned(),
        }
    }
}

impl Broker {
    /// Records a refusal, within the client's budget. A failed write is
    /// logged and the refusal stands.
    pub(crate) async fn audit_refusal(&self, event: AuditEvent<'_>) {
        let now = self.clock.now();
        if !self.refusal_audited(event.client, now) {
            return;
        }
        if let Err(e) = self.store.audit(&event.row(now)).await {
            tracing::error!(error = %crate::loggable(&e.to_string()), "audit log write failed");
        }
    }

    /// Records a release before it happens: an error means the row is not
    /// committed, and the caller must not release.
    pub(crate) async fn audit_release(&self, event: AuditEvent<'_>) -> Result<()> {
        self.store
            .audit(&event.row(self.clock.now()))
            .await
            .map_err(|e| {
                tracing::error!(error = %crate::loggable(&e.to_string()), path = %event.resource, "audit write failed: the release is withheld");
                Error::Storage(format!(
                    "the audit row of a release could not be written, so nothing was released: {e}"
                ))
            })
    }
}

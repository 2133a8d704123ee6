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
    /// Evidence verified and a token was issued (with the EAR status the
    /// reason names: a contraindicated workload is attested too, and denied
    /// when it asks for a secret).
    Attested,
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
            Outcome::Attested => "attested",
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
    /// The workload the event is about, when its evidence was verified.
    pub workload: Option<&'a Workload>,
    /// For a denial: the findings that failed, one per line.
    pub failed: Option<&'a str>,
}

/// What identifies a workload in the audit log. The broker keeps no
/// workload names: a workload is its TEE and the claim that names its code
/// (the launch measurement, MRTD...), as the verifier reported them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Workload {
    /// The KBS tee name.
    pub tee: Option<String>,
    /// `claim=value` of the identifying claim (see [`identifying_claim`]).
    pub id: Option<String>,
    /// The TCB status the verifier reported.
    pub tcb_status: Option<String>,
}

/// The claims that name a workload's code, by TEE, the first present
/// wins: SNP (and the simulated TEE) `measurement`, TDX `mr_td`, SGX
/// `mr_enclave`, CCA `realm.initial_measurement`, a TPM's PCR 4 (the boot
/// loader and kernel) in the SHA-256 bank.
const IDENTIFYING_CLAIMS: [&str; 5] = [
    "measurement",
    "mr_td",
    "mr_enclave",
    "realm.initial_measurement",
    "pcrs.sha256.4",
];

/// `claim=value` of the first of [`IDENTIFYING_CLAIMS`] that `claims` hold.
pub fn identifying_claim(claims: &serde_json::Map<String, serde_json::Value>) -> Option<String> {
    IDENTIFYING_CLAIMS.iter().find_map(|c| {
        let v = crate::appraise::lookup(claims, c)?;
        let text = match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        Some(format!("{c}={text}"))
    })
}

impl Workload {
    /// The workload of verified evidence.
    pub fn of_evidence(e: &crate::evidence::Evidence) -> Self {
        Self {
            tee: Some(e.tee.clone()),
            id: identifying_claim(&e.claims),
            tcb_status: e.tcb_status.clone(),
        }
    }

    /// The workload an attestation token's `cpu0` describes (its
    /// annotated evidence: `tee`, the claims under the tee's name,
    /// `tcb_status`).
    pub fn of_token(claims: &serde_json::Value) -> Self {
        let annotated = claims.pointer("/submods/cpu0/ear.veraison.annotated-evidence");
        let text = |k: &str| {
            annotated
                .and_then(|a| a.get(k))
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
        };
        let tee = text("tee");
        let id = tee
            .as_deref()
            .and_then(|t| annotated?.get(t)?.as_object())
            .and_then(identifying_claim);
        Self {
            tee,
            id,
            tcb_status: text("tcb_status"),
        }
    }
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
            tee: self.workload.and_then(|w| w.tee.clone()),
            workload: self.workload.and_then(|w| w.id.clone()),
            tcb_status: self.workload.and_then(|w| w.tcb_status.clone()),
            failed: self.failed.map(str::to_owned),
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

    /// Records an attestation that issued a token. Its commit is not
    /// awaited (an attestation releases nothing, so it needs no record to
    /// be safe): the row joins the next group commit, usually the one of
    /// the release that follows. A failed write is logged.
    ///
    /// The write is polled once here before it is left to a task: the SQL
    /// store queues a row on its first poll, so this row is queued before
    /// the answer leaves and is ordered before whatever the guest does
    /// next. (Spawned unpolled, it was once queued after the denial that
    /// followed, and the web view showed the workload's last status as
    /// `attested`.)
    pub(crate) fn audit_attested(self: &std::sync::Arc<Self>, event: AuditEvent<'_>) {
        use std::future::Future as _;
        let row = event.row(self.clock.now());
        let b = self.clone();
        let mut write = Box::pin(async move {
            if let Err(e) = b.store.audit(&row).await {
                tracing::error!(error = %crate::loggable(&e.to_string()), "audit log write failed");
            }
        });
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        if write.as_mut().poll(&mut cx).is_pending() {
            tokio::spawn(write);
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

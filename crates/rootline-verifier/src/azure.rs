//! Azure confidential VMs (`az-snp-vtpm`, `az-tdx-vtpm`): the paravisor's
//! HCL report with the hardware report inside, its runtime data and the
//! vTPM quote, through `rootline-azure` (which verifies on rootline's own
//! SNP, DCAP and TPM code).
//!
//! Evidence comes in guest-components' forms or as the MAA request bodies
//! Azure's tooling prints (platform `{report | quote, runtimeData}`,
//! AzureGuest `{AttestationInfo}`); `rootline-azure` reads all of them.
//!
//! The nonce is the vTPM quote's extraData (and, for evidence version 2,
//! the start of the runtime data's `user-data`), where guest-components
//! puts the KBS binding. The MAA platform request has no vTPM quote: its
//! nonce must start the runtime data's `user-data`.

use std::sync::OnceLock;

use rootline_azure::{AzureKind, Collateral, Options, Verifier};
use rootline_core::TeeKind;

use crate::{Claims, Rejection, Request, Verdict, Verified};

fn verifier() -> Result<&'static Verifier, String> {
    static V: OnceLock<Result<Verifier, String>> = OnceLock::new();
    V.get_or_init(|| Verifier::pinned().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(Clone::clone)
}

/// Verifies Azure vTPM evidence of `kind`.
pub(crate) fn verify(req: &Request, kind: TeeKind, evidence: &[u8]) -> Verdict {
    let reject = |reason: String| Err(Box::new(Rejection::new(Some(kind), reason)));
    let Some(az) = AzureKind::from_tee(kind) else {
        return reject(format!("{kind} is not an Azure kind"));
    };
    let v = match verifier() {
        Ok(v) => v,
        Err(e) => return reject(e),
    };
    let mut coll = Collateral::default();
    for c in &req.collateral {
        if let Err(e) = coll.add(az, &c.origin.display().to_string(), &c.bytes) {
            return reject(e.to_string());
        }
    }
    let opts = Options {
        at: req.at,
        report_data: req.nonce.clone(),
        ..Default::default()
    };
    match v.verify(evidence, Some(az), &coll, &opts) {
        Ok(a) => {
            let a = a.into_inner();
            Ok(
                Verified::new(kind, Claims::Azure(Box::new(a.claims)), a.warnings)
                    .with_tcb(a.tcb_status, a.advisory_ids),
            )
        }
        Err(r) => Err(Box::new(Rejection {
            claims: r.claims,
            tcb_status: r.tcb_status,
            advisory_ids: r.advisory_ids,
            warnings: r.warnings,
            ..Rejection::new(Some(kind), r.error.to_string())
        })),
    }
}

/// Recognises Azure vTPM evidence by content.
pub(crate) fn detect(evidence: &[u8]) -> Option<TeeKind> {
    rootline_azure::detect(evidence).map(AzureKind::tee)
}

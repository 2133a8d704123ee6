//! A TEE report carried beside vTPM quotes (GCP confidential VMs): the
//! SEV-SNP report or TD quote of a Google Cloud Attestation request or of
//! Confidential Space launcher evidence, verified by the SNP or DCAP code
//! exactly as if it had come alone.
//!
//! How it is reported: the evidence stays of kind `tpm` (the vTPM quotes
//! are what the forms are built around, and what the AK certificate
//! anchors), and the TEE's claims nest under `snp` or `tdx` in the TPM
//! claims, with its TCB status as the verdict's. Azure is reported the
//! other way round (kind `azure-snp`, the vTPM under `tpm`) because there
//! the hardware report signs the vTPM's AK through the HCL report; on GCP
//! nothing binds the AK to the TEE report. go-tpm-tools puts the
//! attestation nonce, zero-filled to 64 bytes, in REPORT_DATA (unless its
//! caller chose another `TEENonce`) and its verifier checks exactly that
//! (`server.SevSnpDefaultOptions(nonce)`): the nonce is the only link. So a
//! `--nonce` is checked against both (the quotes' extraData, and
//! REPORT_DATA zero-filled, as the SNP and DCAP code always check it), a
//! relying party binds both ([`crate::Claims::paired_report_data`]), and
//! without a nonce the output says that neither freshness nor the link was
//! checked.
//!
//! Collateral: one list serves both halves. Files that are not
//! certificates (DCAP collateral JSON, CRLs) and certificate files that
//! name AMD or Intel go to the TEE; the other certificates anchor the AK.
//! This routes, it does not trust: each half verifies what it gets.

use rootline_core::TeeKind;
use rootline_tpm::certs::{certificates_from_bytes, parse_certificate};
use rootline_tpm::evidence::TeePart;
use serde_json::{Map, Value};

use crate::{Claims, Decoded, Rejection, Request, Verdict};

/// The TEE half of a TPM + TEE pair, verified.
#[derive(Debug, Clone)]
pub struct PairedTee {
    /// Its claims (SNP or DCAP).
    pub claims: Claims,
}

impl PairedTee {
    /// The key its claims nest under in the TPM claims.
    pub(crate) fn key(&self) -> &'static str {
        key_of(&self.claims)
    }
}

fn key_of(c: &Claims) -> &'static str {
    match c {
        Claims::Dcap(_) => "tdx",
        _ => "snp",
    }
}

/// Organisation names of the TEE vendors' certificates, as they appear in
/// the DER (AMD KDS: VCEK, VLEK, ASK, ARK; Intel: PCK and SGX roots).
const TEE_VENDORS: [&[u8]; 2] = [b"Advanced Micro Devices", b"Intel Corporation"];

fn is_tee_collateral(bytes: &[u8]) -> bool {
    match certificates_from_bytes(bytes) {
        Ok(certs) if certs.iter().all(|c| parse_certificate(c).is_ok()) => certs.iter().any(|c| {
            TEE_VENDORS
                .iter()
                .any(|v| c.windows(v.len()).any(|w| w == *v))
        }),
        _ => true,
    }
}

/// The request for the TPM half and the one for the TEE half.
pub(crate) fn split(req: &Request) -> (Request, Request) {
    let (tee, tpm): (Vec<_>, Vec<_>) = req
        .collateral
        .iter()
        .cloned()
        .partition(|c| is_tee_collateral(&c.bytes));
    let tpm_req = Request {
        collateral: tpm,
        ..req.clone()
    };
    let tee_req = Request {
        evidence: Vec::new(),
        tee: None,
        collateral: tee,
        at: req.at,
        nonce: req.nonce.clone(),
        // The TPM's event log is not a CCEL: the TEE half replays only what
        // its own field carried.
        extra: crate::Extra::default(),
    };
    (tpm_req, tee_req)
}

/// The name a person knows the part by.
fn what(part: &TeePart) -> &'static str {
    match part {
        TeePart::Snp { .. } => "SEV-SNP report",
        TeePart::Tdx { .. } => "TD quote",
    }
}

/// Verifies the TEE half with `verify` (the verifier's own entry for
/// decoded evidence, so collateral sources are asked as for any report).
/// `extra_data` is the verified quotes' extraData. On failure: the
/// rejection, with its claims under the part's key, for the caller to merge.
pub(crate) fn verify(
    part: &TeePart,
    req: &Request,
    extra_data: &[u8],
    warnings: &mut Vec<String>,
    verify: &dyn Fn(&Request, &Decoded) -> Verdict,
) -> Result<(PairedTee, Option<String>, Vec<String>), Box<Rejection>> {
    let decoded = match part {
        TeePart::Snp {
            report,
            certificates,
            ..
        } => Decoded::Snp(rootline_snp::evidence::Raw {
            report: report.clone(),
            table: certificates.clone(),
            entries: Vec::new(),
        }),
        TeePart::Tdx { quote, ccel, .. } => Decoded::Dcap {
            tee: TeeKind::Tdx,
            quote: rootline_dcap::evidence::Decoded {
                quote: quote.clone(),
                eventlog: ccel.clone(),
            },
        },
    };
    let field = part.field();
    warnings.push(format!(
        "the vTPM quote and the {} ({field}) are not cryptographically bound: nothing ties the AK to the TEE report; only the nonce links them",
        what(part)
    ));
    match verify(req, &decoded) {
        Ok(v) => {
            for w in v.warnings() {
                warnings.push(format!("{field}: {w}"));
            }
            let claims = v.claims().clone();
            if req.nonce.is_none() {
                // go-tpm-tools' default: REPORT_DATA is the nonce the quotes
                // carry, zero-filled. Another value is allowed (TEENonce),
                // but then nothing at all links the two.
                let rd = claims.report_data().map(|r| r.bytes).unwrap_or_default();
                let mut padded = extra_data.to_vec();
                padded.resize(rd.len().max(extra_data.len()), 0);
                if rd != padded {
                    warnings.push(format!(
                        "{field}: REPORT_DATA is not the quotes' extraData zero-filled (go-tpm-tools' default): without --nonce nothing shows that the two come from one attestation"
                    ));
                }
            }
            Ok((
                PairedTee { claims },
                v.tcb_status().map(str::to_owned),
                v.advisory_ids().to_vec(),
            ))
        }
        Err(r) => {
            let mut r = *r;
            r.reason = format!("{field}: {}", r.reason);
            let mut nested = Map::new();
            let key = match part {
                TeePart::Snp { .. } => "snp",
                TeePart::Tdx { .. } => "tdx",
            };
            nested.insert(key.into(), Value::Object(std::mem::take(&mut r.claims)));
            r.claims = nested;
            r.warnings = r
                .warnings
                .into_iter()
                .map(|w| format!("{field}: {w}"))
                .collect();
            Err(Box::new(r))
        }
    }
}

//! The verifier's answer: [`Verified`] claims, typed per TEE, or a
//! [`Rejection`] that explains itself.
//!
//! A [`Verified`] can only be made inside this crate, at the end of a
//! verification in which every signature, chain, freshness and replay check
//! passed: holding one is the proof, and nothing downstream (the broker, the
//! policy engine) can turn a boolean or a JSON file back into one. Claims are
//! typed per TEE ([`Claims`]); the questions the protocol asks of every kind
//! (where is the report data, which field binds init-data, what is PCR n)
//! are methods, so no caller reads them through JSON paths. JSON appears only
//! at the edges: [`Verified::claims_json`] for policy input, tokens and
//! command-line output, and [`Outcome`] for the `verify --json` contract.

use std::sync::OnceLock;

use rootline_core::TeeKind;
use serde_json::{Map, Value};

use crate::Outcome;
use crate::tpm::TpmClaims;

/// What the verifier returns. The rejection is boxed: it is the rare,
/// explained path, and the verified one should not pay for its size.
pub type Verdict = Result<Verified, Box<Rejection>>;

/// Claims of verified evidence, by TEE.
///
/// Each kind's claims are its evidence crate's typed struct (TPM's, which
/// add the event-log replay done here, are [`TpmClaims`]): bytes and
/// integers, turned into JSON only at the edges
/// ([`Verified::claims_json`], [`Outcome`]).
#[derive(Debug, Clone)]
pub enum Claims {
    /// An SEV-SNP attestation report.
    Snp(Box<rootline_snp::claims::Claims>),
    /// A TDX or SGX DCAP quote (with the CCEL replay for TDX, when given).
    Dcap(Box<rootline_dcap::claims::Claims>),
    /// A TPM quote with its PCRs (and event-log replay, when given).
    Tpm(Box<TpmClaims>),
    /// An Azure confidential VM: the hardware report plus its vTPM quote.
    Azure(Box<rootline_azure::claims::Claims>),
    /// An Arm CCA attestation token: platform and realm claims.
    Cca(Box<rootline_cca::Claims>),
    /// NVIDIA GPU evidence: one entry per device.
    Nvidia(Box<rootline_nvidia::Claims>),
    /// IBM Z Secure Execution: the image's SE header fields, the guest's
    /// configuration UID, user data and host-key hashes.
    Se(Box<rootline_se::Claims>),
}

/// Where evidence carries the report data a relying party chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportData {
    /// The claim that holds it, for messages (`report_data`, `extra_data`).
    pub field: &'static str,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// True for a TPM quote's extraData (at most 64 bytes, often cut to 32),
    /// false for a fixed 64-byte report-data field (zero-padded).
    pub tpm_extra_data: bool,
}

impl Claims {
    /// The report data the evidence carries, where its TEE defines one:
    /// SNP, TDX and SGX REPORT_DATA; a TPM quote's extraData (for Azure,
    /// the vTPM quote's, signed by the AK the hardware report binds).
    pub fn report_data(&self) -> Option<ReportData> {
        let (field, bytes, tpm_extra_data) = match self {
            Claims::Snp(c) => ("report_data", hex::decode(&c.report_data).ok()?, false),
            Claims::Dcap(c) => ("report_data", c.report_data().to_vec(), false),
            Claims::Tpm(c) => ("extra_data", c.quote.as_ref()?.extra_data.clone(), true),
            Claims::Azure(c) => ("extra_data", c.extra_data.clone()?, true),
            Claims::Cca(c) => ("realm.challenge", c.realm.challenge.to_vec(), false),
            // A GPU is bound through the CPU evidence it travels with (the
            // KBS additional-evidence), not as the session's primary TEE.
            Claims::Nvidia(_) => return None,
            Claims::Se(c) => ("report_data", hex::decode(&c.report_data).ok()?, false),
        };
        Some(ReportData {
            field,
            bytes,
            tpm_extra_data,
        })
    }

    /// The report data of an SEV-SNP report or TD quote verified beside TPM
    /// quotes (GCP): nothing but the nonce ties it to the quotes, so a
    /// relying party binds it as well as [`Claims::report_data`].
    pub fn paired_report_data(&self) -> Option<ReportData> {
        match self {
            Claims::Tpm(c) => c.tee.as_ref()?.claims.report_data(),
            _ => None,
        }
    }

    /// The launch-time configuration field an owner sets for the guest
    /// (SNP HOST_DATA, TDX MRCONFIGID, the CCA realm personalization value,
    /// where Trustee also expects the init-data digest), with its claim
    /// name; `None` for kinds without one (SGX, TPM: theirs is a PCR, see
    /// [`Claims::pcr`]).
    pub fn config_id(&self) -> Option<(&'static str, Vec<u8>)> {
        match self {
            Claims::Snp(c) => Some(("host_data", hex::decode(&c.host_data).ok()?)),
            Claims::Dcap(c) => Some(("mr_config_id", c.td()?.mr_config_id.to_vec())),
            Claims::Cca(c) => Some((
                "realm.personalization_value",
                c.realm.personalization_value.to_vec(),
            )),
            Claims::Se(c) => Some(("cuid", hex::decode(&c.cuid).ok()?)),
            Claims::Tpm(_) | Claims::Azure(_) | Claims::Nvidia(_) => None,
        }
    }

    /// A quoted PCR value (`bank` as `sha256`, `sha384`...), for TPM and
    /// Azure vTPM evidence.
    pub fn pcr(&self, bank: &str, index: u32) -> Option<Vec<u8>> {
        match self {
            Claims::Tpm(c) => c.pcr(bank, index).map(<[u8]>::to_vec),
            Claims::Azure(c) => c.pcr(bank, index).map(<[u8]>::to_vec),
            Claims::Snp(_)
            | Claims::Dcap(_)
            | Claims::Cca(_)
            | Claims::Nvidia(_)
            | Claims::Se(_) => None,
        }
    }

    pub(crate) fn to_json(&self) -> Map<String, Value> {
        match self {
            Claims::Snp(c) => match serde_json::to_value(c) {
                Ok(Value::Object(m)) => m,
                _ => Map::new(),
            },
            Claims::Cca(c) => match serde_json::to_value(c) {
                Ok(Value::Object(m)) => m,
                _ => Map::new(),
            },
            Claims::Nvidia(c) => match serde_json::to_value(c) {
                Ok(Value::Object(m)) => m,
                _ => Map::new(),
            },
            Claims::Se(c) => match serde_json::to_value(c) {
                Ok(Value::Object(m)) => m,
                _ => Map::new(),
            },
            Claims::Dcap(c) => c.to_json(),
            Claims::Tpm(c) => c.to_json(),
            Claims::Azure(c) => c.to_json(),
        }
    }
}

/// Evidence that passed every check, with its claims. Only this crate makes
/// one.
#[derive(Debug)]
pub struct Verified<C = Claims> {
    tee: TeeKind,
    claims: C,
    tcb_status: Option<String>,
    advisory_ids: Vec<String>,
    warnings: Vec<String>,
    json: OnceLock<Map<String, Value>>,
}

impl Clone for Verified<Claims> {
    fn clone(&self) -> Self {
        Self {
            tee: self.tee,
            claims: self.claims.clone(),
            tcb_status: self.tcb_status.clone(),
            advisory_ids: self.advisory_ids.clone(),
            warnings: self.warnings.clone(),
            json: self.json.clone(),
        }
    }
}

impl Verified<Claims> {
    /// Made by the verifier only, once every check passed.
    pub(crate) fn new(tee: TeeKind, claims: Claims, warnings: Vec<String>) -> Self {
        Self {
            tee,
            claims,
            tcb_status: None,
            advisory_ids: Vec::new(),
            warnings,
            json: OnceLock::new(),
        }
    }

    pub(crate) fn with_tcb(mut self, status: Option<String>, advisories: Vec<String>) -> Self {
        self.tcb_status = status;
        self.advisory_ids = advisories;
        self
    }

    /// Also records caveats that did not cause rejection.
    pub(crate) fn warn(&mut self, notes: impl IntoIterator<Item = String>) {
        self.warnings.extend(notes);
    }

    /// Test support (feature `test-util`, never in a binary): the same
    /// verified evidence with another TCB status, for policy tests of
    /// statuses no real vector has.
    #[cfg(feature = "test-util")]
    pub fn with_tcb_status_for_tests(self, status: &str) -> Self {
        let advisories = self.advisory_ids.clone();
        self.with_tcb(Some(status.to_owned()), advisories)
    }

    /// The kind that was verified.
    pub fn tee(&self) -> TeeKind {
        self.tee
    }

    /// The typed claims.
    pub fn claims(&self) -> &Claims {
        &self.claims
    }

    /// The claims as the JSON object of the command-line contract (and of
    /// policy input and tokens), built once.
    pub fn claims_json(&self) -> &Map<String, Value> {
        self.json.get_or_init(|| self.claims.to_json())
    }

    /// TCB status where the TEE defines one.
    pub fn tcb_status(&self) -> Option<&str> {
        self.tcb_status.as_deref()
    }

    /// Vendor advisories attached to the TCB status.
    pub fn advisory_ids(&self) -> &[String] {
        &self.advisory_ids
    }

    /// Things a person should know that did not cause rejection.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }
}

/// Evidence that failed a check: the first failure as a sentence a person
/// can act on, and whatever could be parsed, to explain it.
#[derive(Debug, Clone)]
pub struct Rejection {
    /// The kind, when it could be told.
    pub tee: Option<TeeKind>,
    /// The first failed check.
    pub reason: String,
    /// Claims parsed before the failure (they prove nothing).
    pub claims: Map<String, Value>,
    /// TCB status, when it was evaluated before the failure.
    pub tcb_status: Option<String>,
    /// Vendor advisories attached to that status.
    pub advisory_ids: Vec<String>,
    /// Caveats gathered on the way.
    pub warnings: Vec<String>,
}

impl Rejection {
    /// A rejection of evidence of `tee` for `reason`, with nothing parsed.
    pub(crate) fn new(tee: Option<TeeKind>, reason: impl Into<String>) -> Self {
        Self {
            tee,
            reason: reason.into(),
            claims: Map::new(),
            tcb_status: None,
            advisory_ids: Vec::new(),
            warnings: Vec::new(),
        }
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for Rejection {}

impl Outcome {
    /// The JSON edge of a verdict (`rootline verify --json`).
    pub fn of(verdict: &Verdict) -> Self {
        match verdict {
            Ok(v) => Self {
                tee: Some(v.tee),
                verified: true,
                error: None,
                tcb_status: v.tcb_status.clone(),
                advisory_ids: v.advisory_ids.clone(),
                claims: v.claims_json().clone(),
                warnings: v.warnings.clone(),
            },
            Err(r) => Self {
                tee: r.tee,
                verified: false,
                error: Some(r.reason.clone()),
                tcb_status: r.tcb_status.clone(),
                advisory_ids: r.advisory_ids.clone(),
                claims: r.claims.clone(),
                warnings: r.warnings.clone(),
            },
        }
    }
}

impl From<Verdict> for Outcome {
    fn from(v: Verdict) -> Self {
        match v {
            Ok(v) => {
                let claims = match v.json.into_inner() {
                    Some(m) => m,
                    None => v.claims.to_json(),
                };
                Self {
                    tee: Some(v.tee),
                    verified: true,
                    error: None,
                    tcb_status: v.tcb_status,
                    advisory_ids: v.advisory_ids,
                    claims,
                    warnings: v.warnings,
                }
            }
            Err(r) => {
                let r = *r;
                Self {
                    tee: r.tee,
                    verified: false,
                    error: Some(r.reason),
                    tcb_status: r.tcb_status,
                    advisory_ids: r.advisory_ids,
                    claims: r.claims,
                    warnings: r.warnings,
                }
            }
        }
    }
}

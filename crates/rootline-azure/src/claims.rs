//! Claims of Azure evidence as typed values: the hardware report's claims
//! (`rootline-snp`'s or `rootline-dcap`'s), the HCL report's header, the
//! runtime data and the vTPM quote.
//!
//! The JSON (`rootline verify --json`, policy input, tokens) is written
//! only at the edge ([`Claims::to_json`]): the hardware claims first, then
//! `evidence_version` (guest-components' forms) or `evidence_form` (MAA
//! requests: `maa-platform`, `maa-azure-guest`), `hcl_report`,
//! `runtime_data`, `user_data`, `extra_data` and `tpm` (with the replayed
//! `TcgLogs`' `event_log` and `events` when the request carried a log). MAA
//! requests carry no HCL report, and the platform request no vTPM quote:
//! those members are then absent.

use rootline_eventlog::quoted::EventLogClaims;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value, json};

use crate::hcl::{HashType, HclReport, ReportType, RequestType};
use crate::maa::MaaForm;
use crate::vtpm::VtpmQuote;

/// The hardware report's claims.
#[derive(Debug, Clone)]
pub enum Hardware {
    /// An SEV-SNP report.
    Snp(Box<rootline_snp::Claims>),
    /// A TDX quote (made from the TDREPORT in the HCL report).
    Tdx(Box<rootline_dcap::claims::Claims>),
}

impl Hardware {
    fn write_json(&self, m: &mut Map<String, Value>) {
        let hw = match self {
            Hardware::Snp(c) => match serde_json::to_value(c) {
                Ok(Value::Object(o)) => o,
                _ => Map::new(),
            },
            Hardware::Tdx(c) => c.to_json(),
        };
        m.extend(hw);
    }
}

/// The HCL report's header fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HclClaims {
    /// Header version.
    pub version: u32,
    /// Request type.
    pub request_type: RequestType,
    /// Which hardware report it carries.
    pub report_type: ReportType,
    /// Runtime-data header version.
    pub runtime_data_version: u32,
    /// How the runtime data is hashed into the hardware report.
    pub hash_type: HashType,
    /// SHA-256 of the runtime data.
    pub runtime_data_sha256: Vec<u8>,
}

impl HclClaims {
    /// The header of `hcl`, with the runtime data's hash.
    pub fn of(hcl: &HclReport<'_>, var_hash: &[u8]) -> Self {
        Self {
            version: hcl.version,
            request_type: hcl.request_type,
            report_type: hcl.report_type,
            runtime_data_version: hcl.runtime_version,
            hash_type: hcl.hash_type,
            runtime_data_sha256: var_hash.to_vec(),
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "version": self.version,
            "request_type": self.request_type.to_string(),
            "report_type": self.report_type.to_string(),
            "runtime_data_version": self.runtime_data_version,
            "hash_type": self.hash_type.to_string(),
            "runtime_data_sha256": hex::encode(&self.runtime_data_sha256),
        })
    }
}

/// Claims of Azure evidence. Verified evidence has all of them but
/// `user_data` (evidence without one), `hcl_report` (MAA requests) and
/// `tpm`/`extra_data` (the MAA platform request); a rejection has those
/// read before the failing check.
#[derive(Debug, Clone)]
pub struct Claims {
    /// The hardware report's claims.
    pub hardware: Option<Hardware>,
    /// The evidence version (0, 1, 2) of guest-components' forms; 0 for
    /// MAA requests, which `evidence_form` names.
    pub evidence_version: u32,
    /// The MAA request the evidence came as; `None` for guest-components' forms.
    pub evidence_form: Option<MaaForm>,
    /// The HCL report's header.
    pub hcl_report: Option<HclClaims>,
    /// The runtime data as received (a JSON object the paravisor writes).
    pub runtime_data: Option<Map<String, Value>>,
    /// The runtime data's `user-data`, decoded.
    pub user_data: Option<Vec<u8>>,
    /// The vTPM quote's extraData.
    pub extra_data: Option<Vec<u8>>,
    /// The verified vTPM quote and its PCRs.
    pub tpm: Option<VtpmQuote>,
    /// The AzureGuest request's `TcgLogs` replayed against the quote's PCRs
    /// (written inside `tpm` as `event_log` and `events`, the TPM claims'
    /// shape).
    pub event_log: Option<EventLogClaims>,
}

impl Claims {
    /// No claims yet, for evidence of `evidence_version`.
    pub fn new(evidence_version: u32) -> Self {
        Self {
            hardware: None,
            evidence_version,
            evidence_form: None,
            hcl_report: None,
            runtime_data: None,
            user_data: None,
            extra_data: None,
            tpm: None,
            event_log: None,
        }
    }

    /// No claims yet, for an MAA request of `form`.
    pub fn maa(form: MaaForm) -> Self {
        Self {
            evidence_form: Some(form),
            ..Self::new(0)
        }
    }

    /// A quoted vTPM PCR value (`bank` as the JSON names it: `sha256`).
    pub fn pcr(&self, bank: &str, index: u32) -> Option<&[u8]> {
        rootline_tpm::claims::pcr_by_name(self.tpm.as_ref()?.pcrs.banks(), bank, index)
    }

    /// All claims as one JSON object, in the shape of `rootline verify --json`.
    pub fn to_json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        if let Some(hw) = &self.hardware {
            hw.write_json(&mut m);
        }
        match self.evidence_form {
            Some(f) => m.insert("evidence_form".into(), json!(f.name())),
            None => m.insert("evidence_version".into(), json!(self.evidence_version)),
        };
        if let Some(h) = &self.hcl_report {
            m.insert("hcl_report".into(), h.to_json());
        }
        if let Some(r) = &self.runtime_data {
            m.insert("runtime_data".into(), Value::Object(r.clone()));
        }
        if let Some(u) = &self.user_data {
            m.insert("user_data".into(), json!(hex::encode(u)));
        }
        if let Some(x) = &self.extra_data {
            m.insert("extra_data".into(), json!(hex::encode(x)));
        }
        if let Some(q) = &self.tpm {
            let mut t = q.claims();
            if let Some(l) = &self.event_log {
                l.write_json(&mut t);
            }
            m.insert("tpm".into(), Value::Object(t));
        }
        m
    }
}

impl Serialize for Claims {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

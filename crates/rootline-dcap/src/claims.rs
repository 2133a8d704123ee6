//! Claims of a quote as typed values: the report body's registers as bytes
//! and integers, named as Intel's specs name them.
//!
//! They are turned into JSON (snake_case names, lower-case hex) only when a
//! caller asks ([`Claims::to_json`], or serde through the same object): the
//! verification path keeps bytes, and the JSON edge (`rootline verify
//! --json`, policy input, tokens) pays for hex once, when it needs it.

use rootline_core::Digest;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value, json};

use crate::quote::{Body, EnclaveReport, Quote, TdReport};

/// Claims of one quote, plus the CCEL replay a verifier adds for TDX.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// The quote's version (3 SGX, 4 or 5 TDX).
    pub quote_version: u16,
    /// The report body.
    pub body: ReportBody,
    /// FMSPC from the PCK certificate in the quote.
    pub fmspc: Option<[u8; 6]>,
    /// RTMR0..3 as the CCEL replays them, when a log was replayed.
    pub ccel: Option<CcelReplay>,
}

/// The body the quote attests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportBody {
    /// A TD report (TDX 1.0, or 1.5 with TEE_TCB_SVN2 and MRSERVICETD).
    Td {
        /// 2 for TDX 1.0, 3 for TDX 1.5 (v5 states it; v4 implies 2).
        body_type: u16,
        /// The TD report body.
        report: Box<TdReport>,
    },
    /// An SGX enclave report.
    Enclave(EnclaveReport),
}

/// RTMR0..3 replayed from a CCEL event log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CcelReplay {
    /// The replayed registers.
    pub rtmr: [Digest; 4],
    /// Events in the log (the header excluded).
    pub events: usize,
}

impl CcelReplay {
    /// Adds `ccel_rtmr0`..`ccel_rtmr3` and `ccel_events` to `m`.
    pub fn write_json(&self, m: &mut Map<String, Value>) {
        for (i, d) in self.rtmr.iter().enumerate() {
            m.insert(format!("ccel_rtmr{i}"), h(&d.bytes));
        }
        m.insert("ccel_events".into(), Value::from(self.events));
    }
}

impl Claims {
    /// REPORTDATA.
    pub fn report_data(&self) -> &[u8; 64] {
        match &self.body {
            ReportBody::Td { report, .. } => &report.report_data,
            ReportBody::Enclave(r) => &r.report_data,
        }
    }

    /// The TD report, for TDX quotes.
    pub fn td(&self) -> Option<&TdReport> {
        match &self.body {
            ReportBody::Td { report, .. } => Some(report),
            ReportBody::Enclave(_) => None,
        }
    }

    /// The enclave report, for SGX quotes.
    pub fn enclave(&self) -> Option<&EnclaveReport> {
        match &self.body {
            ReportBody::Td { .. } => None,
            ReportBody::Enclave(r) => Some(r),
        }
    }

    /// All claims as one JSON object, in the shape of `rootline verify --json`.
    pub fn to_json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("quote_version".into(), json!(self.quote_version));
        match &self.body {
            ReportBody::Td { body_type, report } => td_json(&mut m, *body_type, report),
            ReportBody::Enclave(r) => enclave_json(&mut m, r),
        }
        if let Some(f) = &self.fmspc {
            m.insert("fmspc".into(), h(f));
        }
        if let Some(c) = &self.ccel {
            c.write_json(&mut m);
        }
        m
    }

    /// [`Claims::to_json`], the name older callers use.
    pub fn to_map(&self) -> Map<String, Value> {
        self.to_json()
    }
}

impl Serialize for Claims {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

fn td_json(m: &mut Map<String, Value>, body_type: u16, t: &TdReport) {
    m.insert("body_type".into(), json!(body_type));
    m.insert("mr_td".into(), h(&t.mr_td));
    for (i, r) in t.rtmr.iter().enumerate() {
        m.insert(format!("rtmr{i}"), h(r));
    }
    m.insert("mr_seam".into(), h(&t.mr_seam));
    m.insert("mr_signer_seam".into(), h(&t.mr_signer_seam));
    m.insert("seam_attributes".into(), h(&t.seam_attributes));
    m.insert("td_attributes".into(), h(&t.td_attributes));
    m.insert("debug_allowed".into(), json!(t.debug()));
    let bit = |byte: usize, mask: u8| t.td_attributes.get(byte).is_some_and(|b| b & mask != 0);
    m.insert(
        "td_attributes_decoded".into(),
        json!({
            "debug": t.debug(),
            "sept_ve_disable": t.sept_ve_disable(),
            "pks": bit(3, 0x40),
            "kl": bit(3, 0x80),
            "migratable": t.migratable(),
            "perfmon": bit(7, 0x80),
        }),
    );
    m.insert("xfam".into(), h(&t.xfam));
    m.insert("mr_config_id".into(), h(&t.mr_config_id));
    m.insert("mr_owner".into(), h(&t.mr_owner));
    m.insert("mr_owner_config".into(), h(&t.mr_owner_config));
    m.insert("tee_tcb_svn".into(), h(&t.tee_tcb_svn));
    if let Some(s) = &t.tee_tcb_svn2 {
        m.insert("tee_tcb_svn2".into(), h(s));
    }
    if let Some(s) = &t.mr_service_td {
        m.insert("mr_service_td".into(), h(s));
    }
    m.insert("report_data".into(), h(&t.report_data));
}

fn enclave_json(m: &mut Map<String, Value>, r: &EnclaveReport) {
    m.insert("mr_enclave".into(), h(&r.mr_enclave));
    m.insert("mr_signer".into(), h(&r.mr_signer));
    m.insert("isv_prod_id".into(), json!(r.isv_prod_id));
    m.insert("isv_svn".into(), json!(r.isv_svn));
    m.insert("attributes".into(), h(&r.attributes));
    m.insert("debug_allowed".into(), json!(r.debug()));
    m.insert("cpu_svn".into(), h(&r.cpu_svn));
    m.insert("misc_select".into(), h(&r.misc_select.to_le_bytes()));
    m.insert("report_data".into(), h(&r.report_data));
}

/// Lower-case hex through a table: `hex::encode` goes a char iterator at a
/// time, and a TD report's registers are about 1.3 KB of hex.
fn h(b: &[u8]) -> Value {
    let digit = |n: u8| if n < 10 { b'0' + n } else { b'a' + n - 10 };
    let mut out = Vec::with_capacity(b.len() * 2);
    for byte in b {
        out.push(digit(byte >> 4));
        out.push(digit(byte & 0x0f));
    }
    Value::String(String::from_utf8(out).unwrap_or_default())
}

/// Reads the claims of a quote (no FMSPC, no CCEL: the verifier adds them).
pub fn from_quote(q: &Quote<'_>) -> Claims {
    let body = match &q.body {
        Body::Td(t) => ReportBody::Td {
            body_type: q.body_type,
            report: t.clone(),
        },
        Body::Sgx(r) => ReportBody::Enclave(r.clone()),
    };
    Claims {
        quote_version: q.header.version,
        body,
        fmspc: None,
        ccel: None,
    }
}

//! Claims of a TPM quote as typed values, and their JSON shape.
//!
//! Verifiers keep bytes and integers; the JSON of `rootline verify --json`
//! (`extra_data` in lower-case hex, `firmware_version` as 0x-prefixed hex,
//! `pcrs {bank: {index: hex}}`) is written only when a caller asks, at the
//! edge.

use std::collections::BTreeMap;

use rootline_core::HashAlg;
use serde_json::{Map, Value, json};

use crate::{Attest, ClockInfo, PcrSelection};

/// What a TPMS_ATTEST states about the TPM and the quote, beside what it
/// attests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuoteInfo {
    /// extraData: the nonce the quote carries.
    pub extra_data: Vec<u8>,
    /// firmwareVersion.
    pub firmware_version: u64,
    /// clockInfo.
    pub clock_info: ClockInfo,
    /// qualifiedSigner: the AK's qualified name.
    pub qualified_signer: Vec<u8>,
}

impl QuoteInfo {
    /// The facts of `a`.
    pub fn from_attest(a: &Attest) -> Self {
        Self {
            extra_data: a.extra_data.clone(),
            firmware_version: a.firmware_version,
            clock_info: a.clock_info,
            qualified_signer: a.qualified_signer.clone(),
        }
    }

    /// Adds `extra_data`, `firmware_version`, `clock`, `reset_count`,
    /// `restart_count`, `safe` and `qualified_signer` to `m`, in that order.
    pub fn write_json(&self, m: &mut Map<String, Value>) {
        m.insert("extra_data".into(), json!(hex::encode(&self.extra_data)));
        m.insert(
            "firmware_version".into(),
            json!(format!("{:#018x}", self.firmware_version)),
        );
        m.insert("clock".into(), json!(self.clock_info.clock));
        m.insert("reset_count".into(), json!(self.clock_info.reset_count));
        m.insert("restart_count".into(), json!(self.clock_info.restart_count));
        m.insert("safe".into(), json!(self.clock_info.safe));
        m.insert(
            "qualified_signer".into(),
            json!(hex::encode(&self.qualified_signer)),
        );
    }
}

/// PCR values as `{bank: {index: hex}}`, banks and indices in order.
pub fn pcrs_json(banks: &BTreeMap<HashAlg, BTreeMap<u8, Vec<u8>>>) -> Value {
    let mut out = Map::new();
    for (bank, regs) in banks {
        let mut m = Map::new();
        for (i, v) in regs {
            m.insert(i.to_string(), json!(hex::encode(v)));
        }
        out.insert(bank.to_string(), Value::Object(m));
    }
    Value::Object(out)
}

/// A PCR selection as `{bank: [indices]}`, banks in the selection's order.
pub fn selection_json(sel: &PcrSelection) -> Value {
    let mut m = Map::new();
    for b in &sel.banks {
        m.insert(b.hash.to_string(), json!(b.indices()));
    }
    Value::Object(m)
}

/// The value of PCR `index` in the bank named `bank` (`sha256`...), as
/// the JSON names banks.
pub fn pcr_by_name<'a>(
    banks: &'a BTreeMap<HashAlg, BTreeMap<u8, Vec<u8>>>,
    bank: &str,
    index: u32,
) -> Option<&'a [u8]> {
    let index = u8::try_from(index).ok()?;
    banks
        .iter()
        .find(|(b, _)| b.to_string() == bank)?
        .1
        .get(&index)
        .map(Vec::as_slice)
}

//! Evidence forms: a raw quote, hex text of one, or a JSON wrapper that holds
//! one (hex, base64 or a byte array) under a field whose name says "quote".
//!
//! Wrappers seen in the wild: dstack/tappd (`{"quote": "<hex>", "event_log":
//! ...}`), Trustee's TDX evidence (`{"quote": "<base64>", "cc_eventlog":
//! ...}`), go-tdx-guest/GCP style (`{"tdx": {"quote": ...}}`). A candidate is
//! accepted only if it parses as a DCAP quote header.

use base64_like::decode_b64;
use serde_json::Value;

/// Largest evidence we look into (a quote is about 5 KiB).
const MAX_EVIDENCE: usize = 1 << 20;

/// True when `b` starts like a DCAP quote (version 3/4/5, ECDSA P-256 key,
/// SGX or TDX TEE type).
pub fn looks_like_quote(b: &[u8]) -> bool {
    let [v0, v1, k0, k1, t0, t1, t2, t3, ..] = b else {
        return false;
    };
    let v = u16::from_le_bytes([*v0, *v1]);
    let k = u16::from_le_bytes([*k0, *k1]);
    let t = u32::from_le_bytes([*t0, *t1, *t2, *t3]);
    b.len() >= 48 && k == 2 && matches!((v, t), (3, 0) | (4, 0x81) | (5, 0x81))
}

/// The raw quote inside `evidence`, with any event log a wrapper carries.
pub fn decode(evidence: &[u8]) -> Option<Decoded> {
    if evidence.len() > MAX_EVIDENCE {
        return None;
    }
    if looks_like_quote(evidence) {
        return Some(Decoded {
            quote: evidence.to_vec(),
            eventlog: None,
        });
    }
    let text = std::str::from_utf8(evidence).ok()?;
    let t = text.trim();
    if let Ok(b) = rootline_core::from_hex(t) {
        if looks_like_quote(&b) {
            return Some(Decoded {
                quote: b,
                eventlog: None,
            });
        }
    }
    if t.starts_with('{') {
        let v: Value = serde_json::from_str(t).ok()?;
        let quote = find(
            &v,
            0,
            &|k| k.to_ascii_lowercase().contains("quote"),
            &looks_like_quote,
        )?;
        let eventlog = find(
            &v,
            0,
            &|k| {
                let k = k.to_ascii_lowercase();
                k == "cc_eventlog" || k == "ccel" || k == "ccel_data" || k == "event_log"
            },
            &|_| true,
        );
        return Some(Decoded { quote, eventlog });
    }
    None
}

/// A quote and, when the wrapper had one, a CCEL event log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The raw quote.
    pub quote: Vec<u8>,
    /// The CCEL from the wrapper.
    pub eventlog: Option<Vec<u8>>,
}

fn bytes_of(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::String(s) => rootline_core::from_hex(s).ok().or_else(|| decode_b64(s)),
        Value::Array(a) => a
            .iter()
            .map(|x| x.as_u64().and_then(|n| u8::try_from(n).ok()))
            .collect(),
        _ => None,
    }
}

/// Depth-first search of JSON objects (at most five levels) for a field whose
/// name passes `key_ok` and whose value decodes to bytes that pass `val_ok`.
fn find(
    v: &Value,
    depth: usize,
    key_ok: &dyn Fn(&str) -> bool,
    val_ok: &dyn Fn(&[u8]) -> bool,
) -> Option<Vec<u8>> {
    if depth > 4 {
        return None;
    }
    let Value::Object(m) = v else { return None };
    let direct = m
        .iter()
        .filter(|(k, _)| key_ok(k))
        .filter_map(|(_, x)| bytes_of(x))
        .find(|b| val_ok(b));
    direct.or_else(|| m.values().find_map(|x| find(x, depth + 1, key_ok, val_ok)))
}

mod base64_like {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

    pub(super) fn decode_b64(s: &str) -> Option<Vec<u8>> {
        let s = s.trim();
        [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
            .iter()
            .find_map(|e| e.decode(s).ok())
    }
}

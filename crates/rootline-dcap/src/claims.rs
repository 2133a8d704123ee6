//! Claims from a parsed quote, named as Intel's specs name the fields
//! (snake_case, lower-case hex), in the shape of `rootline verify --json`.

use serde_json::{Map, Value, json};

use crate::quote::{Body, Quote};

/// Claims of one quote.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Claims {
    /// Fields read from the quote itself.
    pub fields: Map<String, Value>,
    /// FMSPC from the PCK certificate in the quote, lower-case hex.
    pub fmspc: Option<String>,
}

impl Claims {
    /// All claims as one JSON object.
    pub fn to_map(&self) -> Map<String, Value> {
        self.clone().into_map()
    }

    /// All claims as one JSON object, without copying them.
    pub fn into_map(self) -> Map<String, Value> {
        let mut m = self.fields;
        if let Some(f) = self.fmspc {
            m.insert("fmspc".into(), Value::String(f));
        }
        m
    }
}

/// Lower-case hex through a table: `hex::encode` goes a char iterator at a
/// time, and the claims of every quote (about 1.3 KB of registers) are
/// encoded on the verification path.
fn h(b: &[u8]) -> Value {
    let digit = |n: u8| if n < 10 { b'0' + n } else { b'a' + n - 10 };
    let mut out = Vec::with_capacity(b.len() * 2);
    for byte in b {
        out.push(digit(byte >> 4));
        out.push(digit(byte & 0x0f));
    }
    Value::String(String::from_utf8(out).unwrap_or_default())
}

/// Reads the claims of a quote.
pub fn from_quote(q: &Quote<'_>) -> Claims {
    let mut m = Map::new();
    m.insert("quote_version".into(), json!(q.header.version));
    match &q.body {
        Body::Td(t) => {
            m.insert("body_type".into(), json!(q.body_type));
            m.insert("mr_td".into(), h(&t.mr_td));
            for (i, r) in t.rtmr.iter().enumerate() {
                m.insert(format!("rtmr{i}"), h(r));
            }
            m.insert("mr_seam".into(), h(&t.mr_seam));
            m.insert("mr_signer_seam".into(), h(&t.mr_signer_seam));
            m.insert("seam_attributes".into(), h(&t.seam_attributes));
            m.insert("td_attributes".into(), h(&t.td_attributes));
            m.insert("debug_allowed".into(), json!(t.debug()));
            let bit =
                |byte: usize, mask: u8| t.td_attributes.get(byte).is_some_and(|b| b & mask != 0);
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
        Body::Sgx(r) => {
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
    }
    Claims {
        fields: m,
        fmspc: None,
    }
}

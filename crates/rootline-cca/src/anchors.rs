//! Platform trust anchors: the CPAK public keys the caller trusts, read from
//! the JSON forms the CCA tooling writes.
//!
//! Accepted forms (every one of them is in the shared vectors or upstream):
//! - a bare EC JWK: `cpak.json`, `cpak-pub.json` (rust-ccatoken, trustee);
//! - an array of store entries `{"pkey": JWK, "implementation-id": hex,
//!   "instance-id": hex}`: `ta.json`, `ta-tfa.json` (rust-ccatoken) and
//!   trustee's `tastore.json`, the form `ccatoken`'s trust-anchor store loads;
//! - one such entry on its own, a JWK set `{"keys": [JWK...]}`, or an array
//!   of bare JWKs.
//!
//! An entry's IDs restrict its key to the platform they name: the token's
//! instance ID (and implementation ID, when the entry gives one) must equal
//! them. `ccatoken` looks a CPAK up by instance ID only; rootline also
//! compares the implementation ID when the entry has one, which can only
//! reject more. A bare JWK carries no IDs and vouches for any platform whose
//! token it signs: the key is the trust.
//!
//! A JWK holding a private key (`d`) is refused: a trust-anchor file has no
//! business carrying one, and refusing keeps it out of logs and memory.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use crate::cose::{CoseAlg, Curve, EcKey};
use crate::error::{Error, Result};

/// The largest trust-anchor JSON accepted (a store of a few thousand CPAKs).
pub const MAX_ANCHORS_JSON_LEN: usize = 4 << 20;

/// One trusted platform attestation key (CPAK) and the platform it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cpak {
    key: EcKey,
    alg: Option<CoseAlg>,
    implementation_id: Option<[u8; 32]>,
    instance_id: Option<[u8; 33]>,
}

impl Cpak {
    /// The public key.
    pub fn key(&self) -> &EcKey {
        &self.key
    }

    /// The implementation ID this key is restricted to, if any.
    pub fn implementation_id(&self) -> Option<&[u8; 32]> {
        self.implementation_id.as_ref()
    }

    /// The instance ID this key is restricted to, if any.
    pub fn instance_id(&self) -> Option<&[u8; 33]> {
        self.instance_id.as_ref()
    }

    /// Whether this anchor may vouch for the platform with these IDs.
    pub(crate) fn names(&self, implementation_id: &[u8; 32], instance_id: &[u8; 33]) -> bool {
        self.instance_id.is_none_or(|i| &i == instance_id)
            && self
                .implementation_id
                .is_none_or(|i| &i == implementation_id)
    }

    /// Verifies `sig` over `tbs` if the key fits `alg`.
    pub(crate) fn verify(
        &self,
        alg: CoseAlg,
        tbs: &[u8],
        sig: &[u8],
    ) -> std::result::Result<(), String> {
        if let Some(a) = self.alg.filter(|a| *a != alg) {
            return Err(format!("the trust anchor is for {a}, the token uses {alg}"));
        }
        self.key.verify(alg, tbs, sig)
    }
}

/// The CPAKs a caller trusts, from one or more trust-anchor JSON files.
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut anchors = rootline_cca::TrustAnchors::from_json(&std::fs::read("tastore.json")?)?;
/// anchors.add_json(&std::fs::read("cpak.json")?)?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustAnchors {
    cpaks: Vec<Cpak>,
}

impl TrustAnchors {
    /// No anchors: every token is rejected as from an unknown platform.
    pub fn new() -> Self {
        Self::default()
    }

    /// Anchors from one trust-anchor JSON document (see the module docs for
    /// the forms).
    pub fn from_json(json: &[u8]) -> Result<Self> {
        let mut a = Self::new();
        a.add_json(json)?;
        Ok(a)
    }

    /// Adds the anchors of one more JSON document; returns how many it held.
    /// On error nothing is added.
    pub fn add_json(&mut self, json: &[u8]) -> Result<usize> {
        if json.len() > MAX_ANCHORS_JSON_LEN {
            return Err(Error::TooLarge {
                what: "trust-anchor JSON",
                len: json.len(),
                max: MAX_ANCHORS_JSON_LEN,
            });
        }
        let v: Value = serde_json::from_slice(json)
            .map_err(|e| Error::TrustAnchor(format!("not JSON: {e}")))?;
        let found = parse_document(&v).map_err(Error::TrustAnchor)?;
        if found.is_empty() {
            return Err(Error::TrustAnchor("no keys in the document".into()));
        }
        let n = found.len();
        self.cpaks.extend(found);
        Ok(n)
    }

    /// The anchors, in the order they were added.
    pub fn cpaks(&self) -> &[Cpak] {
        &self.cpaks
    }

    /// How many anchors there are.
    pub fn len(&self) -> usize {
        self.cpaks.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.cpaks.is_empty()
    }
}

const FORMS: &str = "an EC JWK (cpak.json), a JWK set {\"keys\": [...]}, a store entry \
{\"pkey\", \"implementation-id\", \"instance-id\"}, or an array of JWKs or store entries \
(ta.json, tastore.json)";

fn parse_document(v: &Value) -> std::result::Result<Vec<Cpak>, String> {
    match v {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::Object(o) => parse_object(o).map_err(|e| format!("entry {i}: {e}")),
                _ => Err(format!("entry {i} is not an object; tried {FORMS}")),
            })
            .collect(),
        Value::Object(o) if o.contains_key("keys") => match o.get("keys") {
            Some(Value::Array(keys)) => keys
                .iter()
                .enumerate()
                .map(|(i, k)| match k {
                    Value::Object(o) => parse_jwk(o).map_err(|e| format!("keys[{i}]: {e}")),
                    _ => Err(format!("keys[{i}] is not an object")),
                })
                .collect(),
            _ => Err("keys is not an array".into()),
        },
        Value::Object(o) => parse_object(o).map(|c| vec![c]),
        _ => Err(format!("not an object or array; tried {FORMS}")),
    }
}

/// A store entry (has `pkey`) or a bare JWK (has `kty`).
fn parse_object(o: &Map<String, Value>) -> std::result::Result<Cpak, String> {
    if let Some(pkey) = o.get("pkey") {
        let Value::Object(jwk) = pkey else {
            return Err("pkey is not a JWK object".into());
        };
        let mut c = parse_jwk(jwk).map_err(|e| format!("pkey: {e}"))?;
        c.implementation_id = hex_field(o, "implementation-id")?;
        c.instance_id = hex_field(o, "instance-id")?;
        Ok(c)
    } else if o.contains_key("kty") {
        parse_jwk(o)
    } else {
        let keys: Vec<&str> = o.keys().map(String::as_str).take(8).collect();
        Err(format!(
            "object with keys {keys:?} is none of the forms tried: {FORMS}"
        ))
    }
}

fn hex_field<const N: usize>(
    o: &Map<String, Value>,
    name: &str,
) -> std::result::Result<Option<[u8; N]>, String> {
    let Some(v) = o.get(name) else {
        return Ok(None);
    };
    let Value::String(s) = v else {
        return Err(format!("{name} is not a string"));
    };
    let b = rootline_core::from_hex(s).map_err(|e| format!("{name}: not hex: {e}"))?;
    let n = b.len();
    <[u8; N]>::try_from(b)
        .map(Some)
        .map_err(|_| format!("{name}: {n} bytes, expected {N}"))
}

fn parse_jwk(o: &Map<String, Value>) -> std::result::Result<Cpak, String> {
    let s = |name: &str| -> std::result::Result<Option<&str>, String> {
        match o.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(format!("{name} is not a string")),
        }
    };
    if o.contains_key("d") {
        return Err("holds a private key (d); give the public key only".into());
    }
    match s("kty")? {
        Some("EC") => {}
        Some(k) => return Err(format!("kty {k:?} is not supported (EC only)")),
        None => return Err("no kty".into()),
    }
    let crv = s("crv")?.ok_or("no crv")?;
    let curve = Curve::from_name(crv)
        .ok_or_else(|| format!("crv {crv:?} is not supported (P-256, P-384, P-521)"))?;
    let coord = |name: &str| -> std::result::Result<Vec<u8>, String> {
        let t = s(name)?.ok_or_else(|| format!("no {name}"))?;
        URL_SAFE_NO_PAD
            .decode(t.trim_end_matches('='))
            .map_err(|e| format!("{name}: not base64url: {e}"))
    };
    let key = EcKey::from_xy(curve, &coord("x")?, &coord("y")?)?;
    let alg = match s("alg")? {
        None => None,
        Some(a) => {
            let alg = CoseAlg::from_jose(a)
                .ok_or_else(|| format!("alg {a:?} is not supported (ES256, ES384, ES512)"))?;
            if alg.curve() != curve {
                return Err(format!("alg {a} does not fit crv {crv}"));
            }
            Some(alg)
        }
    };
    Ok(Cpak {
        key,
        alg,
        implementation_id: None,
        instance_id: None,
    })
}

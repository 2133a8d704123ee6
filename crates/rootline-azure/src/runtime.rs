//! The HCL report's variable data: the paravisor's runtime-data JSON, whose
//! SHA-256 the hardware report carries.
//!
//! It holds the vTPM's attestation key as a JWK (`keys[]` entry with `kid`
//! `HCLAkPub`, an RSA key), the VM configuration, and since evidence v2 a
//! `user-data` hex string into which guest-components' attester puts the KBS
//! report data. Only what verification needs is interpreted; the object is
//! kept whole for the claims.

use base64::Engine as _;
use rootline_tpm::PublicKey;
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// The `kid` of the vTPM attestation key.
pub const AK_KID: &str = "HCLAkPub";

/// The runtime data, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeData {
    /// The JSON object as received.
    pub json: Map<String, Value>,
    /// The vTPM attestation key (`HCLAkPub`).
    pub ak: PublicKey,
    /// `user-data` as received, when present.
    pub user_data: Option<String>,
}

fn b64url(field: String, s: &str) -> Result<Vec<u8>> {
    // JWK fields are base64url; padding is tolerated (RFC 7515 omits it).
    crate::evidence::B64URL
        .decode(s)
        .map_err(|e| Error::runtime(field, format!("not base64url: {e}")))
}

fn strip_zeros(b: &[u8]) -> Vec<u8> {
    let skip = b.iter().take_while(|x| **x == 0).count();
    b.get(skip..).unwrap_or_default().to_vec()
}

impl RuntimeData {
    /// Parses the variable data. It must be one JSON object with exactly one
    /// RSA key whose `kid` is `HCLAkPub`.
    pub fn parse(var_data: &[u8]) -> Result<Self> {
        let v: Value = serde_json::from_slice(var_data)
            .map_err(|e| Error::runtime("variable data", format!("not JSON: {e}")))?;
        let Value::Object(json) = v else {
            return Err(Error::runtime("variable data", "not a JSON object"));
        };
        let keys = json
            .get("keys")
            .ok_or_else(|| Error::runtime("keys", "missing"))?
            .as_array()
            .ok_or_else(|| Error::runtime("keys", "not an array"))?;
        let mut aks = keys
            .iter()
            .filter(|k| k.get("kid").and_then(Value::as_str) == Some(AK_KID));
        let ak = aks
            .next()
            .ok_or_else(|| Error::runtime("keys", format!("no key with kid {AK_KID}")))?;
        if aks.next().is_some() {
            return Err(Error::runtime(
                "keys",
                format!("more than one key with kid {AK_KID}"),
            ));
        }
        let field = |name: &str| -> Result<&str> {
            ak.get(name).and_then(Value::as_str).ok_or_else(|| {
                Error::runtime(format!("keys[{AK_KID}].{name}"), "missing or not a string")
            })
        };
        let kty = field("kty")?;
        if kty != "RSA" {
            return Err(Error::Unsupported {
                field: "attestation key type",
                value: format!("{kty:?} (the vtpm's {AK_KID} is an RSA key)"),
            });
        }
        let n = strip_zeros(&b64url(format!("keys[{AK_KID}].n"), field("n")?)?);
        let e = strip_zeros(&b64url(format!("keys[{AK_KID}].e"), field("e")?)?);
        if n.is_empty() || e.is_empty() {
            return Err(Error::runtime(
                format!("keys[{AK_KID}]"),
                "the modulus or exponent is zero",
            ));
        }
        let user_data = match json.get("user-data") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(Error::runtime("user-data", "not a string")),
        };
        Ok(Self {
            ak: PublicKey::Rsa { n, e },
            json,
            user_data,
        })
    }

    /// `user-data` decoded from hex (`None` when absent).
    pub fn user_data_bytes(&self) -> Result<Option<Vec<u8>>> {
        self.user_data
            .as_deref()
            .map(|s| {
                hex::decode(s).map_err(|e| Error::runtime("user-data", format!("not hex: {e}")))
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_ak() {
        let j = br#"{"keys":[{"kid":"HCLEkPub","kty":"RSA","n":"AQ","e":"AQAB"},{"kid":"HCLAkPub","kty":"RSA","n":"AAEC","e":"AQAB"}],"user-data":"00ff"}"#;
        let r = RuntimeData::parse(j).unwrap();
        assert_eq!(
            r.ak,
            PublicKey::Rsa {
                n: vec![1, 2],
                e: vec![1, 0, 1]
            }
        );
        assert_eq!(r.user_data_bytes().unwrap(), Some(vec![0, 0xff]));
    }

    #[test]
    fn two_aks_are_ambiguous() {
        let j = br#"{"keys":[{"kid":"HCLAkPub","kty":"RSA","n":"AQ","e":"AQAB"},{"kid":"HCLAkPub","kty":"RSA","n":"Ag","e":"AQAB"}]}"#;
        let e = RuntimeData::parse(j).unwrap_err();
        assert!(e.to_string().contains("more than one"), "{e}");
    }

    #[test]
    fn missing_ak_names_the_field() {
        let e = RuntimeData::parse(br#"{"keys":[]}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "malformed hcl runtime data: keys: no key with kid HCLAkPub"
        );
    }
}

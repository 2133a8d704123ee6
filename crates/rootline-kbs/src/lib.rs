//! The KBS protocol's pieces that both ends must compute alike, with no
//! server or client dependencies: the runtime-data binding, its hash
//! negotiation, and RFC 8785 canonical JSON.
//!
//! # The binding, as guests compute it
//! guest-components' `kbs_protocol` (every Confidential Containers guest and
//! Trustee's `kbs-client`) sends `runtime-data` as `{nonce, tee-pubkey}` in
//! the `/attest` body, but since mid-2025 hashes a third member into the
//! TEE's report data: `additional-evidence`, the composite (device)
//! evidence string it sends in `tee-evidence.additional_evidence` (empty
//! when there is none). Older guests hash `{nonce, tee-pubkey}` only. The
//! hash is the one the broker selected in its challenge (`sha384` unless the
//! guest asked otherwise). [`Binding::candidates`] gives both forms, the
//! current one first, so that the broker accepts both without trusting
//! either; [`Binding::current`] is what this workspace's own attester binds.
//!
//! Non-goals: no HTTP, no evidence parsing, no JWE (that is `rootline-jose`).

use aws_lc_rs::digest;
use serde_json::{Map, Value};

/// The member that current guests add to the runtime data they hash.
pub const ADDITIONAL_EVIDENCE: &str = "additional-evidence";

/// The challenge's extra-params member by which a rootline broker says it
/// is one (its value: the broker's version), so that rootline's attester
/// sends its richer evidence forms; guests ignore members they do not know.
pub const ROOTLINE_MARK: &str = "rootline-version";

/// Hash algorithms a guest may negotiate for the runtime-data binding, by
/// the names guest-components' `HashAlgorithm` uses on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindingHash {
    /// SHA-256.
    Sha256,
    /// SHA-384, the default.
    Sha384,
    /// SHA-512 (IBM SE).
    Sha512,
}

impl BindingHash {
    /// Its name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
        }
    }

    /// Parses a wire name (any case, as the guest does).
    pub fn from_name(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "sha256" => Some(Self::Sha256),
            "sha384" => Some(Self::Sha384),
            "sha512" => Some(Self::Sha512),
            _ => None,
        }
    }

    /// The broker's choice from the guest's `extra-params`: SHA-384 when the
    /// guest lists it or lists nothing (Trustee's choice too); otherwise the
    /// strongest the guest lists among ours.
    pub fn negotiate(extra_params: &Value) -> Self {
        let listed: Vec<Self> = extra_params
            .get("supported-hash-algorithms")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .filter_map(Self::from_name)
                    .collect()
            })
            .unwrap_or_default();
        if listed.is_empty() || listed.contains(&Self::Sha384) {
            Self::Sha384
        } else if listed.contains(&Self::Sha512) {
            Self::Sha512
        } else {
            Self::Sha256
        }
    }

    /// Hashes `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        let alg = match self {
            Self::Sha256 => &digest::SHA256,
            Self::Sha384 => &digest::SHA384,
            Self::Sha512 => &digest::SHA512,
        };
        digest::digest(alg, data).as_ref().to_vec()
    }
}

/// Which form of the runtime data a binding covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindingForm {
    /// `{nonce, tee-pubkey, additional-evidence}` (guests since mid-2025).
    WithAdditionalEvidence,
    /// The runtime data exactly as sent (older guests: `{nonce, tee-pubkey}`).
    AsSent,
}

impl BindingForm {
    /// A short name for logs and tokens.
    pub fn name(self) -> &'static str {
        match self {
            Self::WithAdditionalEvidence => "runtime-data+additional-evidence",
            Self::AsSent => "runtime-data",
        }
    }
}

/// One report-data value the evidence may carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The form of runtime data it hashes.
    pub form: BindingForm,
    /// The digest (the expected report data, before zero-padding).
    pub digest: Vec<u8>,
}

/// The runtime data with `additional-evidence` added, as current guests
/// hash it; `None` when the runtime data is not an object or already has
/// the member (then it is hashed as sent).
pub fn with_additional_evidence(runtime_data: &Value, additional_evidence: &str) -> Option<Value> {
    let m = runtime_data.as_object()?;
    if m.contains_key(ADDITIONAL_EVIDENCE) {
        return None;
    }
    let mut m: Map<String, Value> = m.clone();
    m.insert(
        ADDITIONAL_EVIDENCE.into(),
        Value::String(additional_evidence.to_owned()),
    );
    Some(Value::Object(m))
}

impl Binding {
    /// What a current guest binds: `hash(JCS({nonce, tee-pubkey,
    /// additional-evidence}))` over `runtime_data` (`{nonce, tee-pubkey}`)
    /// and the additional evidence it sends (`""` when none).
    pub fn current(
        runtime_data: &Value,
        additional_evidence: &str,
        hash: BindingHash,
    ) -> Result<Self, String> {
        let full = with_additional_evidence(runtime_data, additional_evidence)
            .unwrap_or_else(|| runtime_data.clone());
        Ok(Self {
            form: BindingForm::WithAdditionalEvidence,
            digest: hash.digest(&canonical_json(&full)?),
        })
    }

    /// Every report data a guest may have bound for this runtime data and
    /// additional evidence, the current form first.
    pub fn candidates(
        runtime_data: &Value,
        additional_evidence: &str,
        hash: BindingHash,
    ) -> Result<Vec<Self>, String> {
        let as_sent = canonical_json(runtime_data)?;
        Self::candidates_from(runtime_data, &as_sent, additional_evidence, hash)
    }

    /// As [`Binding::candidates`], given the canonical JSON of the runtime
    /// data as sent (which a caller may need for itself too).
    ///
    /// The current form's canonical JSON is the as-sent one with the
    /// `additional-evidence` member spliced in first: JCS sorts members, and
    /// `additional-evidence` sorts before `nonce` and `tee-pubkey`. That
    /// saves canonicalising the runtime data twice on every attestation;
    /// when another member would sort first, the object is canonicalised
    /// whole (`splice_agrees_with_canonicalising_whole` checks both).
    pub fn candidates_from(
        runtime_data: &Value,
        as_sent: &[u8],
        additional_evidence: &str,
        hash: BindingHash,
    ) -> Result<Vec<Self>, String> {
        let mut out = Vec::with_capacity(2);
        if let Some(m) = runtime_data
            .as_object()
            .filter(|m| !m.contains_key(ADDITIONAL_EVIDENCE))
        {
            let first_sorts_later = m.keys().all(|k| {
                k.encode_utf16()
                    .cmp(ADDITIONAL_EVIDENCE.encode_utf16())
                    .is_gt()
            });
            let full = match as_sent.strip_prefix(b"{") {
                Some(rest) if first_sorts_later => {
                    let mut v = Vec::with_capacity(as_sent.len() + additional_evidence.len() + 32);
                    v.extend_from_slice(b"{\"additional-evidence\":");
                    serde_json::to_writer(&mut v, additional_evidence)
                        .map_err(|e| e.to_string())?;
                    if rest != b"}" {
                        v.push(b',');
                    }
                    v.extend_from_slice(rest);
                    v
                }
                _ => canonical_json(
                    &with_additional_evidence(runtime_data, additional_evidence)
                        .unwrap_or_else(|| runtime_data.clone()),
                )?,
            };
            out.push(Self {
                form: BindingForm::WithAdditionalEvidence,
                digest: hash.digest(&full),
            });
        }
        out.push(Self {
            form: BindingForm::AsSent,
            digest: hash.digest(as_sent),
        });
        Ok(out)
    }

    /// Whether a TPM quote's extraData holds this digest: whole, or cut to
    /// 32 bytes, as guest-components' TPM attester does (`report_data.
    /// resize(32, 0)`: a TPM's qualifying data is at most one digest of
    /// its bank). At least 32 bytes (256 bits) must match.
    pub fn matches_tpm_extra_data(&self, carried: &[u8]) -> bool {
        carried == self.digest.as_slice()
            || (carried.len() >= 32
                && carried.len() < self.digest.len()
                && self.digest.starts_with(carried))
    }

    /// Whether `carried` (a TEE's report-data field) holds this digest,
    /// zero-padded to the field's size (SNP, TDX, SGX, the simulated TEE:
    /// 64 bytes), or exactly (a TPM quote's extraData).
    pub fn matches(&self, carried: &[u8]) -> bool {
        carried.len() >= self.digest.len()
            && carried.starts_with(&self.digest)
            && carried
                .get(self.digest.len()..)
                .is_some_and(|rest| rest.iter().all(|b| *b == 0))
    }
}

/// RFC 8785 (JCS) canonical JSON of `v`.
///
/// Deliberately beside `serde_json_canonicalizer`, which stays the reference
/// (and serialises anything with a non-integer number): it re-serialises the
/// value through its own formatter, buffering every object's members to sort
/// them, and cost 3-5 us for a runtime-data object of six strings, twice per
/// attestation (runtime data and evidence digest). The values a guest sends
/// are strings, objects, arrays, booleans and integers; for those JCS is
/// plain JSON with members sorted by their names' UTF-16 code units and
/// strings escaped as ECMAScript does, which is serde_json's escaping
/// (`\"`, `\\`, `\b \t \n \f \r`, other controls as lowercase `\u00xx`,
/// nothing else). Integers within 2^53 print alike in both.
/// `canonical_json_agrees_with_the_library` checks the two against each
/// other.
pub fn canonical_json(v: &Value) -> Result<Vec<u8>, String> {
    fn fast(v: &Value, out: &mut Vec<u8>) -> bool {
        match v {
            Value::Null => out.extend_from_slice(b"null"),
            Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Value::Number(n) => {
                // Integers that a double holds exactly print as serde_json
                // prints them; anything else goes to the library.
                const EXACT: u64 = 1 << 53;
                match (n.as_i64(), n.as_u64()) {
                    (Some(i), _) if i.unsigned_abs() <= EXACT => {
                        out.extend_from_slice(i.to_string().as_bytes());
                    }
                    (_, Some(u)) if u <= EXACT => out.extend_from_slice(u.to_string().as_bytes()),
                    _ => return false,
                }
            }
            Value::String(s) => {
                if serde_json::to_writer(&mut *out, s).is_err() {
                    return false;
                }
            }
            Value::Array(a) => {
                out.push(b'[');
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    if !fast(x, out) {
                        return false;
                    }
                }
                out.push(b']');
            }
            Value::Object(m) => {
                let mut members: Vec<(&String, &Value)> = m.iter().collect();
                members.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
                out.push(b'{');
                for (i, (k, x)) in members.into_iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    if serde_json::to_writer(&mut *out, k).is_err() {
                        return false;
                    }
                    out.push(b':');
                    if !fast(x, out) {
                        return false;
                    }
                }
                out.push(b'}');
            }
        }
        true
    }
    let mut out = Vec::with_capacity(256);
    if fast(v, &mut out) {
        return Ok(out);
    }
    serde_json_canonicalizer::to_vec(v).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn negotiation() {
        let n = |v: Value| BindingHash::negotiate(&v);
        assert_eq!(n(json!({})), BindingHash::Sha384);
        assert_eq!(n(json!("")), BindingHash::Sha384);
        assert_eq!(
            n(json!({"supported-hash-algorithms": ["sha512"]})),
            BindingHash::Sha512
        );
        assert_eq!(
            n(json!({"supported-hash-algorithms": ["SHA256"]})),
            BindingHash::Sha256
        );
        // What guest-components sends (HashAlgorithm::list_all()).
        assert_eq!(
            n(json!({"supported-hash-algorithms": ["sha256", "sha384", "sha512"]})),
            BindingHash::Sha384
        );
    }

    /// The current guests' binding, spelled out byte for byte: the JCS of
    /// `{additional-evidence, nonce, tee-pubkey}` in that (sorted) order.
    #[test]
    fn current_binding_hashes_the_three_members() {
        let rd = json!({"tee-pubkey": {"y": "2", "x": "1", "kty": "EC"}, "nonce": "n"});
        let b = Binding::current(&rd, "", BindingHash::Sha384).unwrap();
        let canon =
            br#"{"additional-evidence":"","nonce":"n","tee-pubkey":{"kty":"EC","x":"1","y":"2"}}"#;
        assert_eq!(b.digest, BindingHash::Sha384.digest(canon));
        let c = Binding::candidates(&rd, "", BindingHash::Sha384).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[0], b);
        let old = br#"{"nonce":"n","tee-pubkey":{"kty":"EC","x":"1","y":"2"}}"#;
        assert_eq!(c[1].digest, BindingHash::Sha384.digest(old));
        assert_eq!(c[1].form, BindingForm::AsSent);
        // Device evidence changes the binding.
        let d = Binding::current(&rd, "{\"nvidia\":\"x\"}", BindingHash::Sha384).unwrap();
        assert_ne!(d.digest, b.digest);
        // Runtime data that already carries the member is hashed as sent.
        let rd3 = json!({"nonce": "n", "tee-pubkey": {}, "additional-evidence": "z"});
        let c = Binding::candidates(&rd3, "", BindingHash::Sha384).unwrap();
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn tpm_extra_data_whole_or_cut_to_32_bytes() {
        let b = Binding {
            form: BindingForm::WithAdditionalEvidence,
            digest: (0u8..48).collect(),
        };
        assert!(b.matches_tpm_extra_data(&b.digest));
        assert!(b.matches_tpm_extra_data(&b.digest[..32]));
        assert!(!b.matches_tpm_extra_data(&b.digest[..31]));
        assert!(!b.matches_tpm_extra_data(&b.digest[1..33]));
        assert!(!b.matches_tpm_extra_data(&[]));
    }

    #[test]
    fn splice_agrees_with_canonicalising_whole() {
        let cases = [
            json!({"nonce": "n", "tee-pubkey": {"kty": "EC", "x": "1"}}),
            json!({}),
            json!({"b": 1}),
            json!({"a": 1, "nonce": "n"}),
            json!({"additional-evidencf": 1}),
            json!({"additional-evidenc": 1}),
            json!({"\u{e000}": 1, "nonce": "x"}),
        ];
        for rd in cases {
            for ae in ["", "{\"nvidia\":{\"x\":\"\\n\"}}"] {
                let got = Binding::candidates(&rd, ae, BindingHash::Sha384).unwrap();
                let full = with_additional_evidence(&rd, ae).unwrap();
                let want =
                    BindingHash::Sha384.digest(&serde_json_canonicalizer::to_vec(&full).unwrap());
                assert_eq!(got[0].digest, want, "{rd} {ae}");
            }
        }
    }

    #[test]
    fn matches_zero_padded_or_exact() {
        let b = Binding {
            form: BindingForm::AsSent,
            digest: vec![1, 2, 3],
        };
        assert!(b.matches(&[1, 2, 3]));
        assert!(b.matches(&[1, 2, 3, 0, 0]));
        assert!(!b.matches(&[1, 2, 3, 0, 1]));
        assert!(!b.matches(&[1, 2]));
        assert!(!b.matches(&[0, 1, 2, 3]));
    }

    #[test]
    fn canonical_json_agrees_with_the_library() {
        let cases = [
            json!({"nonce": "AAECAw==", "tee-pubkey": {"kty": "EC", "crv": "P-256", "alg": "ECDH-ES+A256KW", "x": "a", "y": "b"}}),
            json!({"b": 1, "a": [true, false, null, -3, 9007199254740992_u64, "x"], "": {}}),
            json!({"\u{e000}": 1, "\u{1f600}": 2, "\u{ffff}": 3, "z": 4, "\u{80}": 5}),
            json!({"ctl": "\u{0}\u{1}\u{8}\t\n\u{b}\u{c}\r\u{1f}\u{7f}\"\\/\u{2028}\u{2029}é😀"}),
            json!([
                1.5,
                1e21,
                0.1,
                -0.0,
                9007199254740993_u64,
                -9007199254740993_i64
            ]),
            json!({"deep": [[[{"y": [], "x": {}}]]], "n": -9007199254740992_i64}),
            json!("just a string"),
            json!(12345),
        ];
        for v in cases {
            assert_eq!(
                String::from_utf8(canonical_json(&v).unwrap()).unwrap(),
                String::from_utf8(serde_json_canonicalizer::to_vec(&v).unwrap()).unwrap(),
                "{v}"
            );
        }
    }
}

//! Attestation tokens: EAR claims (draft-ietf-rats-ear) as an ES256 JWT
//! (RFC 7515 compact serialization, RFC 7518 section 3.4 signature form),
//! and their verification for cookie sessions and passport-model Bearer use.
//!
//! The JWS composition is written here over aws-lc-rs with the key parsed
//! once: jsonwebtoken re-parses the PKCS#8 key on every signature, which cost
//! a measurable share of a handshake. A token is trusted when its `kid` names
//! the broker's own key or one of the configured passport signers, its
//! signature verifies and it has not expired. Tokens stay small (claims, not
//! raw evidence), because large tokens have broken header limits in Trustee
//! (#1563).

use std::collections::HashMap;
use std::sync::Arc;

use aws_lc_rs::digest;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _,
    ParsedPublicKey,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use crate::appraise::AppraisalResult;
use crate::error::{Error, Result};
use crate::evidence::Evidence;

/// The EAR profile.
pub const EAR_PROFILE: &str = "tag:github.com,2023:veraison/ear";
/// The claim that marks tokens yielded by insecure test mode.
pub const INSECURE_CLAIM: &str = "rootline.insecure-test-mode";

/// The `kid` of a P-256 public point: its JWK's RFC 7638 thumbprint, as
/// `rootline appraise` names its keys (one key-id scheme, so that a token
/// from `appraise` is a passport here and ours can be checked against a
/// JWKS anywhere).
pub fn kid_of(point: &[u8]) -> String {
    let x = URL_SAFE_NO_PAD.encode(point.get(1..33).unwrap_or_default());
    let y = URL_SAFE_NO_PAD.encode(point.get(33..65).unwrap_or_default());
    // RFC 7638: the required members in lexicographic order, no spaces.
    let input = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, input.as_bytes()).as_ref())
}

/// The `kid` this broker gave its keys before it used RFC 7638 thumbprints
/// (hex of the first 16 bytes of the point's SHA-256), still accepted so that
/// tokens issued just before an upgrade (minutes of lifetime) stay valid.
fn legacy_kid_of(point: &[u8]) -> String {
    let d = digest::digest(&digest::SHA256, point);
    hex::encode(d.as_ref().get(..16).unwrap_or_default())
}

/// The public JWK of a P-256 point (RFC 7518 section 6.2.1).
fn p256_jwk(point: &[u8], kid: &str) -> Value {
    let x = point.get(1..33).unwrap_or_default();
    let y = point.get(33..65).unwrap_or_default();
    json!({
        "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid,
        "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y),
    })
}

/// Signs tokens.
pub struct TokenSigner {
    key: EcdsaKeyPair,
    point: Vec<u8>,
    kid: String,
    jwk: Value,
    /// base64url of the protected header, the same for every token.
    header_b64: String,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenSigner(kid {})", self.kid)
    }
}

impl TokenSigner {
    /// A fresh P-256 key; returns it and its PKCS#8 document.
    pub fn generate() -> Result<(Self, Vec<u8>)> {
        let doc =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .map_err(|_| Error::Crypto("P-256 key generation failed".into()))?;
        let pkcs8 = doc.as_ref().to_vec();
        Ok((Self::from_pkcs8(&pkcs8)?, pkcs8))
    }

    /// A signer from a P-256 PKCS#8 document.
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self> {
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
            .map_err(|_| Error::Config("the token key is not a P-256 PKCS#8 key".into()))?;
        let point = key.public_key().as_ref().to_vec();
        let kid = kid_of(&point);
        let jwk = p256_jwk(&point, &kid);
        let header = json!({"alg": "ES256", "typ": "JWT", "kid": kid, "jwk": jwk});
        let header_b64 = URL_SAFE_NO_PAD.encode(header.to_string());
        Ok(Self {
            key,
            point,
            kid,
            jwk,
            header_b64,
        })
    }

    /// The public point (uncompressed SEC1).
    pub fn public_point(&self) -> &[u8] {
        &self.point
    }

    /// The public key as a JWK (for `/.well-known/jwks.json`).
    pub fn jwk(&self) -> &Value {
        &self.jwk
    }

    /// Signs `claims` as an attestation token for a session this broker has
    /// just attested: the token, and the claims as [`Attested`].
    pub fn issue(&self, claims: Value) -> Result<(String, Attested)> {
        let token = self.sign(&claims)?;
        Ok((token, Attested(Arc::new(claims))))
    }

    /// Signs `claims`: `header.claims.signature`, each base64url.
    pub fn sign(&self, claims: &Value) -> Result<String> {
        let body = serde_json::to_vec(claims).map_err(|e| Error::Crypto(e.to_string()))?;
        let mut out = format!("{}.{}", self.header_b64, URL_SAFE_NO_PAD.encode(body));
        let sig = self
            .key
            .sign(&SystemRandom::new(), out.as_bytes())
            .map_err(|_| Error::Crypto("token signing failed".into()))?;
        out.push('.');
        out.push_str(&URL_SAFE_NO_PAD.encode(sig.as_ref()));
        Ok(out)
    }
}

/// The claims of an attestation token that a key this broker trusts signed.
///
/// Made only in this module: by [`TokenSigner::issue`] (the broker signing
/// claims it has just verified and appraised, in `/attest`) and by
/// [`TokenVerifier::attested`] (a token checked against the broker's key and
/// its passport signers, not expired). Releasing a resource takes one (and
/// a `policy::Allow`), so no code path can release on claims that were
/// neither verified here nor signed by a trusted verifier.
#[derive(Debug, Clone)]
pub struct Attested(Arc<Value>);

impl Attested {
    /// The claims, exactly as signed.
    pub fn claims(&self) -> &Value {
        &self.0
    }
}

/// Verifies tokens from trusted signers.
pub struct TokenVerifier {
    keys: HashMap<String, ParsedPublicKey>,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenVerifier({} keys)", self.keys.len())
    }
}

impl TokenVerifier {
    /// Trusts the given P-256 public points (points that do not parse are
    /// left out, with a log line).
    pub fn new<'a>(points: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let keys = points
            .into_iter()
            .filter_map(
                |p| match ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, p) {
                    Ok(k) => Some([(kid_of(p), k.clone()), (legacy_kid_of(p), k)]),
                    Err(_) => {
                        tracing::error!("a trusted token key is not a P-256 point; ignored");
                        None
                    }
                },
            )
            .flatten()
            .collect();
        Self { keys }
    }

    /// Checks a token (a trusted signer, ES256, not expired at `now`) and
    /// returns its claims as [`Attested`].
    pub fn attested(&self, token: &str, now: i64) -> Result<Attested> {
        Ok(Attested(Arc::new(self.verify(token, now)?)))
    }

    /// Checks a token and returns its claims.
    pub fn verify(&self, token: &str, now: i64) -> Result<Value> {
        let unauth = |m: String| Error::Unauthenticated(format!("attestation token {m}"));
        if token.len() > 64 * 1024 {
            return Err(unauth("is too large".into()));
        }
        let mut parts = token.split('.');
        let (Some(h), Some(c), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(unauth("is not a compact JWS".into()));
        };
        let decode = |what: &str, t: &str| {
            URL_SAFE_NO_PAD
                .decode(t)
                .map_err(|_| unauth(format!("{what} is not base64url")))
        };
        let header: Value = serde_json::from_slice(&decode("header", h)?)
            .map_err(|_| unauth("header is not JSON".into()))?;
        if header.get("alg").and_then(Value::as_str) != Some("ES256") {
            return Err(unauth(format!(
                "uses {}; only ES256 is accepted",
                header.get("alg").unwrap_or(&Value::Null)
            )));
        }
        if header.get("crit").is_some() {
            return Err(unauth(
                "has critical header parameters, which are not supported".into(),
            ));
        }
        let kid = header
            .get("kid")
            .and_then(Value::as_str)
            .ok_or_else(|| unauth("has no kid".into()))?;
        let key = self.keys.get(kid).ok_or_else(|| {
            unauth(format!(
                "is signed by key {kid}, which this broker does not trust"
            ))
        })?;
        let signing_input = token
            .get(..h.len() + 1 + c.len())
            .ok_or_else(|| unauth("is malformed".into()))?;
        key.verify_sig(signing_input.as_bytes(), &decode("signature", s)?)
            .map_err(|_| unauth("signature does not verify".into()))?;
        let mut claims: Value = serde_json::from_slice(&decode("claims", c)?)
            .map_err(|_| unauth("claims are not JSON".into()))?;
        check_exp(&claims, now)?;
        trustee_layout(&mut claims);
        Ok(claims)
    }
}

/// Reads an EAR written with draft-04 member names (`ear_status`,
/// `ear_trustworthiness_vector`, `ear_appraisal_policy_ids`,
/// `ear_attester_claims`: what the `ear` crate writes, so what `rootline
/// appraise` signs) in the layout the broker and Trustee's resource policies
/// read (`ear.status`, `ear.trustworthiness-vector`,
/// `ear.appraisal-policy-id`, `ear.veraison.annotated-evidence`). The
/// draft-04 members stay; a member already present in the older form wins.
/// Only applied after the signature has been checked.
pub fn trustee_layout(claims: &mut Value) {
    let Some(submods) = claims.get_mut("submods").and_then(Value::as_object_mut) else {
        return;
    };
    for sub in submods.values_mut() {
        let Some(m) = sub.as_object_mut() else {
            continue;
        };
        let mut add = |from: &str, to: &str, f: &dyn Fn(&Value) -> Option<Value>| {
            if !m.contains_key(to) {
                if let Some(v) = m.get(from).and_then(f) {
                    m.insert(to.to_owned(), v);
                }
            }
        };
        add("ear_status", "ear.status", &|v| Some(v.clone()));
        add(
            "ear_trustworthiness_vector",
            "ear.trustworthiness-vector",
            &|v| Some(v.clone()),
        );
        add(
            "ear_appraisal_policy_ids",
            "ear.appraisal-policy-id",
            &|v| v.as_array().and_then(|a| a.first()).cloned(),
        );
        add(
            "ear_attester_claims",
            "ear.veraison.annotated-evidence",
            &|v| v.is_object().then(|| v.clone()),
        );
    }
}

/// Whether claims carry the insecure-test-mode mark with any value but
/// `false` (the default resource policy reads it the same way).
pub fn is_insecure(claims: &Value) -> bool {
    claims
        .get(INSECURE_CLAIM)
        .is_some_and(|v| *v != Value::Bool(false))
}

/// Refuses claims whose `exp` is absent or not after `now`.
pub fn check_exp(claims: &Value, now: i64) -> Result<()> {
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or_else(|| Error::Unauthenticated("attestation token has no exp".into()))?;
    if exp <= now {
        return Err(Error::Unauthenticated(
            "attestation token has expired: attest again".into(),
        ));
    }
    Ok(())
}

/// The appraisal of one device beside the CPU (composite evidence).
#[derive(Debug, Clone)]
pub struct DeviceResult {
    /// Its tee name as the guest sent it (`nvidia`...).
    pub tee: String,
    /// Its EAR status.
    pub status: &'static str,
    /// Why, when not affirming.
    pub reasons: Vec<String>,
    /// What the verified evidence says of the device (model, FWID,
    /// versions), for the token's annotated evidence.
    pub claims: Option<Map<String, Value>>,
}

/// The EAR submodule class of a device of kind `tee`: `gpu` for GPUs,
/// `dev` otherwise; its submodules are `gpu0`, `gpu1`...
pub fn device_class(tee: &str) -> &'static str {
    match tee {
        "nvidia" | "amd-gpu" => "gpu",
        _ => "dev",
    }
}

/// Init-data as a token carries it (Trustee's `init_data` and
/// `init_data_claims`).
#[derive(Debug, Clone)]
pub struct InitDataClaims {
    /// The digest the TEE's config field holds, hex.
    pub digest: String,
    /// The document's `data` table as JSON (`cdh.toml` and `aa.toml`
    /// parsed into objects, as Trustee does).
    pub claims: Value,
}

/// Inputs of one token.
#[derive(Debug)]
pub struct TokenInput<'a> {
    /// Devices beside the CPU, each its own submodule.
    pub devices: &'a [DeviceResult],
    /// The verified evidence.
    pub evidence: &'a Evidence,
    /// Its appraisal.
    pub appraisal: &'a AppraisalResult,
    /// The runtime data as received.
    pub runtime_data: &'a Value,
    /// Init-data, when it was sent.
    pub init_data: Option<InitDataClaims>,
    /// SHA-384 of the evidence, hex.
    pub evidence_digest: &'a str,
    /// Issue time.
    pub now: i64,
    /// Lifetime in seconds.
    pub ttl: i64,
}

/// The EAR claims of a token.
pub fn ear_claims(t: &TokenInput<'_>) -> Value {
    let mut cpu0 = Map::new();
    cpu0.insert("ear.status".into(), t.appraisal.status.into());
    cpu0.insert(
        "ear.trustworthiness-vector".into(),
        Value::Object(t.appraisal.trust_vector.clone()),
    );
    cpu0.insert(
        "ear.appraisal-policy-id".into(),
        t.appraisal.policy_id.clone().into(),
    );
    // Trustee's layout (its EAR broker's `transform_claims`), so that
    // resource policies written for Trustee read the same paths: the
    // verifier's claims under the TEE's name, `runtime_data_claims`,
    // `init_data` and `init_data_claims`; rootline adds `tee`, `tcb_status`
    // and `evidence_digest`.
    let mut annotated = Map::new();
    // The per-event listing of a TPM event log served appraisal (naming
    // the first event a reference does not accept); the token keeps the
    // replay's summary (`event_log`) and the PCRs, not every event, so that
    // it stays small enough for an Authorization header (Trustee #1563).
    let mut claims = t.evidence.claims.clone();
    claims.remove("events");
    annotated.insert(t.evidence.tee.clone(), Value::Object(claims));
    annotated.insert("tee".into(), t.evidence.tee.clone().into());
    if let Some(rd) = t.evidence.claims.get("report_data") {
        annotated.insert("report_data".into(), rd.clone());
    }
    annotated.insert("runtime_data_claims".into(), t.runtime_data.clone());
    if let Some(init) = &t.init_data {
        annotated.insert("init_data".into(), init.digest.clone().into());
        annotated.insert("init_data_claims".into(), init.claims.clone());
    } else {
        annotated.insert("init_data_claims".into(), Value::Null);
    }
    annotated.insert("tcb_status".into(), json!(t.evidence.tcb_status));
    annotated.insert("evidence_digest".into(), t.evidence_digest.into());
    cpu0.insert(
        "ear.veraison.annotated-evidence".into(),
        Value::Object(annotated),
    );
    if !t.appraisal.reasons.is_empty() {
        cpu0.insert("rootline.reasons".into(), json!(t.appraisal.reasons));
    }
    let mut submods = Map::new();
    submods.insert("cpu0".into(), Value::Object(cpu0));
    let mut per_kind: HashMap<&str, usize> = HashMap::new();
    for d in t.devices {
        let class = device_class(&d.tee);
        let n = per_kind.entry(class).or_default();
        let mut m = Map::new();
        m.insert("ear.status".into(), d.status.into());
        m.insert(
            "ear.appraisal-policy-id".into(),
            "rootline/device-evidence".into(),
        );
        let mut annotated = d.claims.clone().unwrap_or_default();
        annotated.insert("tee".into(), d.tee.clone().into());
        m.insert(
            "ear.veraison.annotated-evidence".into(),
            Value::Object(annotated),
        );
        if !d.reasons.is_empty() {
            m.insert("rootline.reasons".into(), json!(d.reasons));
        }
        submods.insert(format!("{class}{n}"), Value::Object(m));
        *n += 1;
    }
    let mut claims = json!({
        "eat_profile": EAR_PROFILE,
        "iat": t.now,
        "exp": t.now + t.ttl,
        "ear.verifier-id": {"developer": "rootline", "build": concat!("rootline-broker ", env!("CARGO_PKG_VERSION"))},
        "submods": Value::Object(submods),
    });
    if t.evidence.insecure {
        if let Some(m) = claims.as_object_mut() {
            m.insert(INSECURE_CLAIM.into(), true.into());
        }
    }
    claims
}

/// The tee-pubkey a token binds (cpu0's runtime data).
pub fn tee_pubkey(claims: &Value) -> Result<kbs_types::TeePubKey> {
    // Ours (and EAR-shaped tokens) carry it in cpu0's runtime data; Trustee's
    // older tokens at the top level.
    let v = claims
        .pointer("/submods/cpu0/ear.veraison.annotated-evidence/runtime_data_claims/tee-pubkey")
        .or_else(|| claims.get("tee-pubkey"))
        .ok_or_else(|| Error::Unauthenticated("attestation token binds no tee-pubkey".into()))?;
    serde_json::from_value(v.clone())
        .map_err(|_| Error::Unauthenticated("attestation token's tee-pubkey is not a JWK".into()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Our tokens verify with jsonwebtoken (an independent JWS reader), and
    /// tampering, other keys, other algorithms and expiry are refused.
    #[test]
    fn tokens_interoperate_and_fail_closed() {
        let (s, _) = TokenSigner::generate().unwrap();
        let tok = s.sign(&json!({"exp": 2_000_000_000i64, "a": 1})).unwrap();
        let p = s.public_point();
        let key = jsonwebtoken::DecodingKey::from_ec_der(p);
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
        v.validate_exp = false;
        let d = jsonwebtoken::decode::<Value>(&tok, &key, &v).unwrap();
        assert_eq!(d.claims["a"], 1);
        assert_eq!(d.header.kid.as_deref(), Some(kid_of(p).as_str()));
        let ver = TokenVerifier::new([p]);
        assert_eq!(ver.verify(&tok, 1_000).unwrap()["a"], 1);
        assert!(ver.verify(&tok, 2_000_000_000).is_err(), "expired");
        let (other, _) = TokenSigner::generate().unwrap();
        assert!(
            TokenVerifier::new([other.public_point()])
                .verify(&tok, 0)
                .is_err()
        );
        let mut parts: Vec<&str> = tok.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(br#"{"exp":2000000000,"a":2}"#);
        parts[1] = &forged;
        assert!(ver.verify(&parts.join("."), 0).is_err(), "edited claims");
        let none_hdr = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"none","kid":"{}"}}"#, kid_of(p)));
        let t2 = format!("{none_hdr}.{}.", tok.split('.').nth(1).unwrap());
        assert!(ver.verify(&t2, 0).is_err(), "alg none");
    }
}

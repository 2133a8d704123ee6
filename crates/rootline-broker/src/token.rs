//! Attestation tokens: EAR claims (draft-ietf-rats-ear) signed ES256, and
//! their verification for cookie sessions and passport-model Bearer use.
//!
//! A token is trusted when its `kid` names the broker's own key or one of the
//! configured passport signers, its signature verifies and it has not
//! expired. Tokens stay small (claims, not raw evidence), because large tokens
//! have broken header limits in Trustee (#1563).

use std::collections::HashMap;

use aws_lc_rs::digest;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Map, Value, json};

use crate::appraise::AppraisalResult;
use crate::error::{Error, Result};
use crate::evidence::Evidence;

/// The EAR profile.
pub const EAR_PROFILE: &str = "tag:github.com,2023:veraison/ear";
/// The claim that marks tokens yielded by insecure test mode.
pub const INSECURE_CLAIM: &str = "rootline.insecure-test-mode";

/// The `kid` of a P-256 public point: hex of the first 16 bytes of its SHA-256.
pub fn kid_of(point: &[u8]) -> String {
    let d = digest::digest(&digest::SHA256, point);
    hex::encode(d.as_ref().get(..16).unwrap_or_default())
}

/// Signs tokens.
pub struct TokenSigner {
    encoding: EncodingKey,
    point: Vec<u8>,
    kid: String,
    jwk: Jwk,
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
        let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
            .map_err(|_| Error::Config("the token key is not a P-256 PKCS#8 key".into()))?;
        let point = kp.public_key().as_ref().to_vec();
        let encoding = EncodingKey::from_ec_der(pkcs8);
        let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::ES256)
            .map_err(|e| Error::Crypto(format!("token key JWK: {e}")))?;
        let kid = kid_of(&point);
        jwk.common.key_id = Some(kid.clone());
        Ok(Self {
            encoding,
            point,
            kid,
            jwk,
        })
    }

    /// The public point (uncompressed SEC1).
    pub fn public_point(&self) -> &[u8] {
        &self.point
    }

    /// The public key as a JWK (for `/.well-known/jwks.json`).
    pub fn jwk(&self) -> &Jwk {
        &self.jwk
    }

    /// Signs `claims`.
    pub fn sign(&self, claims: &Value) -> Result<String> {
        let mut h = Header::new(Algorithm::ES256);
        h.kid = Some(self.kid.clone());
        h.jwk = Some(self.jwk.clone());
        jsonwebtoken::encode(&h, claims, &self.encoding)
            .map_err(|e| Error::Crypto(format!("token signing: {e}")))
    }
}

/// Verifies tokens from trusted signers.
pub struct TokenVerifier {
    keys: HashMap<String, DecodingKey>,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenVerifier({} keys)", self.keys.len())
    }
}

impl TokenVerifier {
    /// Trusts the given P-256 public points.
    pub fn new<'a>(points: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let keys = points
            .into_iter()
            .map(|p| (kid_of(p), DecodingKey::from_ec_der(p)))
            .collect();
        Self { keys }
    }

    /// Checks a token and returns its claims.
    pub fn verify(&self, token: &str, now: i64) -> Result<Value> {
        let unauth = |m: String| Error::Unauthenticated(format!("attestation token {m}"));
        if token.len() > 64 * 1024 {
            return Err(unauth("is too large".into()));
        }
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| unauth("is malformed".into()))?;
        if header.alg != Algorithm::ES256 {
            return Err(unauth(format!(
                "uses {:?}; only ES256 is accepted",
                header.alg
            )));
        }
        let kid = header.kid.ok_or_else(|| unauth("has no kid".into()))?;
        let key = self.keys.get(&kid).ok_or_else(|| {
            unauth(format!(
                "is signed by key {kid}, which this broker does not trust"
            ))
        })?;
        let mut v = Validation::new(Algorithm::ES256);
        v.set_required_spec_claims(&["exp"]);
        v.validate_exp = false; // checked below against the broker's clock
        v.validate_aud = false;
        let data = jsonwebtoken::decode::<Value>(token, key, &v)
            .map_err(|e| unauth(format!("does not verify: {e}")))?;
        let exp = data.claims.get("exp").and_then(Value::as_i64).unwrap_or(0);
        if exp <= now {
            return Err(unauth("has expired: attest again".into()));
        }
        Ok(data.claims)
    }
}

/// Inputs of one token.
#[derive(Debug)]
pub struct TokenInput<'a> {
    /// The verified evidence.
    pub evidence: &'a Evidence,
    /// Its appraisal.
    pub appraisal: &'a AppraisalResult,
    /// The runtime data as received.
    pub runtime_data: &'a Value,
    /// Init-data claims (algorithm and digest), when init-data was sent.
    pub init_data: Option<Value>,
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
    cpu0.insert(
        "ear.veraison.annotated-evidence".into(),
        json!({
            "tee": t.evidence.tee,
            "claims": t.evidence.claims,
            "tcb_status": t.evidence.tcb_status,
            "evidence_digest": t.evidence_digest,
            "init_data_claims": t.init_data,
            "runtime_data_claims": t.runtime_data,
        }),
    );
    if !t.appraisal.reasons.is_empty() {
        cpu0.insert("rootline.reasons".into(), json!(t.appraisal.reasons));
    }
    let mut claims = json!({
        "eat_profile": EAR_PROFILE,
        "iat": t.now,
        "exp": t.now + t.ttl,
        "ear.verifier-id": {"developer": "rootline", "build": concat!("rootline-broker ", env!("CARGO_PKG_VERSION"))},
        "submods": {"cpu0": Value::Object(cpu0)},
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

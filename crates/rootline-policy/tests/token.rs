//! EAR tokens: verified by our checker, by the `ear` crate and by a generic
//! JWT library against the published JWKS; tampering, a wrong key, expiry and
//! a wrong issuer are rejected.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rootline_policy::reference::{ReferenceValues, apply_add, from_verified};
use rootline_policy::token::{Alg, DEFAULT_TTL_SECS, KEY_FILE};
use rootline_policy::{
    Appraisal, Appraiser, Jwks, PolicySet, SigningKey, TokenOptions, verify_token,
};
use serde_json::json;
use time::OffsetDateTime;

const ISSUER: &str = "https://verifier.test";

/// Signing validates `exp` against the system clock (the `ear` crate's
/// `validate`), so tokens are made at the real time.
fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

fn appraisal() -> Option<Appraisal> {
    let o = common::tdx()?;
    let mut records = Vec::new();
    apply_add(
        &mut records,
        from_verified(o.as_ref().unwrap(), "test").unwrap(),
        OffsetDateTime::now_utc(),
    )
    .unwrap();
    let refs = ReferenceValues::active(&records, OffsetDateTime::now_utc());
    let ap = Appraiser::new(&PolicySet::defaults().unwrap(), &refs, &json!({})).unwrap();
    let a = ap.appraise(&[("cpu0", &o)]);
    assert!(a.is_affirming());
    Some(a)
}

fn opts() -> TokenOptions {
    TokenOptions {
        developer: ISSUER.into(),
        nonce: Some(b"0123456789abcdef".to_vec()),
        now: Some(now()),
        ..TokenOptions::default()
    }
}

fn tamper(token: &str) -> String {
    // Flip the status of the payload and re-encode it: a well-formed token
    // whose signature no longer matches.
    let parts: Vec<&str> = token.split('.').collect();
    let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    assert!(payload.contains("\"affirming\""));
    let forged = payload.replace("\"affirming\"", "\"warning\"");
    format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(forged),
        parts[2]
    )
}

#[test]
fn es256_token_verifies_three_ways_and_tampering_is_rejected_three_ways() {
    let Some(a) = appraisal() else { return };
    let key = SigningKey::generate(Alg::Es256).unwrap();
    let o = opts();
    let now_ = o.now.unwrap();
    let token = key.sign(&a, &o).unwrap();
    let jwks = key.jwks();
    let jwks_json = serde_json::to_string(&jwks).unwrap();

    // Ours.
    let v = verify_token(&token, &jwks, ISSUER, Some(now_ + 1)).unwrap();
    assert_eq!(v.kid, key.kid());
    assert_eq!(v.ear.iat, now_);
    assert_eq!(v.ear.exp, Some(now_ + DEFAULT_TTL_SECS));
    assert_eq!(v.ear.submods["cpu0"].status, ear::TrustTier::Affirming);
    assert_eq!(
        v.ear.submods["cpu0"].trust_vector.executables.get(),
        a.devices[0].trust_vector.get("executables").unwrap()
    );
    assert!(v.ear.nonce.is_some());

    // The ear crate, with the JWK out of the published JWKS.
    let jwk = serde_json::to_vec(&jwks.keys[0]).unwrap();
    let e = ear::Ear::from_jwt_jwk(&token, ear::Algorithm::ES256, &jwk).unwrap();
    assert_eq!(e.vid.developer, ISSUER);
    assert_eq!(e.submods.len(), 1);

    // A generic JWT library: jsonwebtoken with the JWKS as published.
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_str(&jwks_json).unwrap();
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
    let found = set.find(header.kid.as_deref().unwrap()).unwrap();
    let dk = jsonwebtoken::DecodingKey::from_jwk(found).unwrap();
    let mut val = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    val.validate_exp = false;
    let claims = jsonwebtoken::decode::<serde_json::Value>(&token, &dk, &val)
        .unwrap()
        .claims;
    assert_eq!(claims["ear_verifier_id"]["developer"], ISSUER);
    assert_eq!(claims["submods"]["cpu0"]["ear_status"], "affirming");
    assert_eq!(claims["exp"], now_ + DEFAULT_TTL_SECS);

    let bad = tamper(&token);
    let err = verify_token(&bad, &jwks, ISSUER, Some(now_ + 1)).unwrap_err();
    assert!(err.to_string().contains("InvalidSignature"), "{err}");
    assert!(ear::Ear::from_jwt_jwk(&bad, ear::Algorithm::ES256, &jwk).is_err());
    assert!(jsonwebtoken::decode::<serde_json::Value>(&bad, &dk, &val).is_err());
}

#[test]
fn wrong_key_expired_wrong_issuer_and_unknown_kid_are_rejected() {
    let Some(a) = appraisal() else { return };
    let key = SigningKey::generate(Alg::Es256).unwrap();
    let other = SigningKey::generate(Alg::Es256).unwrap();
    let o = opts();
    let now_ = o.now.unwrap();
    let token = key.sign(&a, &o).unwrap();

    // The other key under our kid: the signature check fails.
    let mut swapped = other.public_jwk().clone();
    swapped["kid"] = json!(key.kid());
    let err = verify_token(
        &token,
        &Jwks {
            keys: vec![swapped.clone()],
        },
        ISSUER,
        Some(now_),
    )
    .unwrap_err();
    assert!(err.to_string().contains("InvalidSignature"), "{err}");
    let jwk = serde_json::to_vec(&swapped).unwrap();
    assert!(ear::Ear::from_jwt_jwk(&token, ear::Algorithm::ES256, &jwk).is_err());

    // A JWKS without our key.
    let err = verify_token(&token, &other.jwks(), ISSUER, Some(now_)).unwrap_err();
    assert!(err.to_string().contains("no key"), "{err}");

    // Expiry is enforced at exactly exp.
    let exp = now_ + DEFAULT_TTL_SECS;
    assert!(verify_token(&token, &key.jwks(), ISSUER, Some(exp - 1)).is_ok());
    let err = verify_token(&token, &key.jwks(), ISSUER, Some(exp)).unwrap_err();
    assert!(err.to_string().contains("expired"), "{err}");

    let err = verify_token(&token, &key.jwks(), "https://someone.else", Some(now_)).unwrap_err();
    assert!(err.to_string().contains("issued by"), "{err}");

    // A token from the future.
    let err = verify_token(&token, &key.jwks(), ISSUER, Some(now_ - 3600)).unwrap_err();
    assert!(err.to_string().contains("future"), "{err}");
}

#[test]
fn es384_tokens_verify_with_their_jwk() {
    let Some(a) = appraisal() else { return };
    let key = SigningKey::generate(Alg::Es384).unwrap();
    let o = opts();
    let now_ = o.now.unwrap();
    let token = key.sign(&a, &o).unwrap();
    assert_eq!(key.public_jwk()["crv"], "P-384");
    verify_token(&token, &key.jwks(), ISSUER, Some(now_)).unwrap();
    let jwk = serde_json::to_vec(key.public_jwk()).unwrap();
    ear::Ear::from_jwt_jwk(&token, ear::Algorithm::ES384, &jwk).unwrap();
}

#[test]
fn short_nonce_is_kept_as_a_verifier_claim() {
    let Some(a) = appraisal() else { return };
    let key = SigningKey::generate(Alg::Es256).unwrap();
    let o = TokenOptions {
        nonce: Some(vec![0x5e, 0xed, 0, 4, 0xdd]),
        ..opts()
    };
    let now_ = o.now.unwrap();
    let v = verify_token(&key.sign(&a, &o).unwrap(), &key.jwks(), ISSUER, Some(now_)).unwrap();
    assert!(v.ear.nonce.is_none());
    assert!(v.ear.submods["cpu0"].verifier_claims.contains_key("nonce"));
}

#[test]
fn generated_key_is_persisted_0600_and_reloaded() {
    let dir = tempfile::tempdir().unwrap();
    let k1 = SigningKey::load_or_generate(dir.path()).unwrap();
    let k2 = SigningKey::load_or_generate(dir.path()).unwrap();
    assert_eq!(k1.kid(), k2.kid());
    let path = dir.path().join(KEY_FILE);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let k3 = SigningKey::from_file(&path).unwrap();
    assert_eq!(k3.kid(), k1.kid());
    assert!(!format!("{k1:?}").contains("PRIVATE"));
}

#[test]
fn sec1_pem_key_loads_and_garbage_is_a_clear_error() {
    // The ear crate's documented test key (PKCS#8, P-256).
    const PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgPp4XZRnRHSMhGg0t
6yjQCRV35J4TUY4idLgiCu6EyLqhRANCAAQbx8C533c2AKDwL/RtjVipVnnM2WRv
5w2wZNCJrubSK0StYKJ71CikDgkhw8M90ojfRIowqpl0uLA3kW3PEZy9
-----END PRIVATE KEY-----
";
    let k = SigningKey::from_pem(PEM.as_bytes()).unwrap();
    // Its published public half, from the ear crate's documentation.
    assert_eq!(
        k.public_jwk()["x"],
        "G8fAud93NgCg8C_0bY1YqVZ5zNlkb-cNsGTQia7m0is"
    );
    assert_eq!(
        k.public_jwk()["y"],
        "RK1gonvUKKQOCSHDwz3SiN9EijCqmXS4sDeRbc8RnL0"
    );
    let err =
        SigningKey::from_pem(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
            .unwrap_err();
    assert!(err.to_string().contains("CERTIFICATE"), "{err}");
}

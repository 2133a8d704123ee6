//! Fuzzes Arm CCA tokens: detection, the tag-399 collection, both COSE_Sign1
//! tokens and their claims, each check, and full verification against the
//! TF-A test CPAK (a public key; seed the corpus with the shared vectors'
//! `cca/*/*.cbor` to start from tokens it verifies). Also the trust-anchor
//! JSON and the KBS evidence wrapper. Any bytes give a value or an error,
//! never a panic, and a decoded token's claims are the ones `decode` returns.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rootline_cca::{PlatformClaims, RealmClaims, Token, TrustAnchors};

/// The well-known TF-A/FVP test CPAK (rust-ccatoken `cpak.json`).
const TFA_CPAK: &str = r#"{"kty": "EC", "crv": "P-384",
  "x": "IShnxS4rlQiwpCCpBWDzlNLfqiG911FP8akBr-fh94uxHU5m-Kijivp2r2oxxN6M",
  "y": "hM4tr8mWQli1P61xh3T0ViDREbF26DGOEYfbAjWjGNN7pZf-6A4OTHYqEryz6m7U"}"#;

fn anchors() -> Option<&'static TrustAnchors> {
    static A: OnceLock<Option<TrustAnchors>> = OnceLock::new();
    A.get_or_init(|| TrustAnchors::from_json(TFA_CPAK.as_bytes()).ok())
        .as_ref()
}

fuzz_target!(|data: &[u8]| {
    let _ = rootline_cca::detect(data);
    let _ = TrustAnchors::from_json(data);
    let _ = PlatformClaims::from_cbor(data);
    let _ = RealmClaims::from_cbor(data);
    if let Ok(token) = rootline_cca::token_from_kbs_evidence(data) {
        let _ = rootline_cca::decode(&token);
    }
    let decoded = rootline_cca::decode(data);
    if let Ok(t) = Token::parse(data) {
        assert_eq!(decoded.as_ref().ok(), Some(t.claims()));
        let _ = t.check_realm_signature();
        let _ = t.check_binding();
        let _ = t.check_nonce(&t.claims().realm.challenge[..32]);
        if let Some(a) = anchors() {
            let _ = t.check_platform_signature(a);
            let _ = t.verify(a, None);
        }
    } else {
        assert!(decoded.is_err());
    }
    if let Some(a) = anchors() {
        let _ = rootline_cca::verify(data, a, Some(&[0u8; 64]));
    }
});

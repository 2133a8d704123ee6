//! kbs-types wire shapes round-trip against the examples of Trustee's
//! `kbs/docs/kbs_attestation_protocol.md` (placeholders filled, the
//! document's `/* */` comments removed as it instructs), and the broker
//! accepts them where it should.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::{Value, json};

fn round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(doc: &str) -> T {
    let v: Value = serde_json::from_str(doc).unwrap();
    let t: T = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(
        serde_json::to_value(&t).unwrap(),
        v,
        "round trip changed {doc}"
    );
    t
}

#[test]
fn request_challenge_attestation_response_round_trip() {
    // Request, with the tee-metadata extra-params of the document.
    let req: kbs_types::Request = round_trip(
        r#"{"version": "0.1.1", "tee": "tdx", "extra-params": {"tee-metadata": {
            "primary_tee": {"tee": "tdx", "metadata": {}},
            "additional_tees": [{"tee": "nvidia", "metadata": {}}]}}}"#,
    );
    assert_eq!(req.tee, kbs_types::Tee::Tdx);
    let _: kbs_types::Request =
        round_trip(r#"{"version": "0.4.0", "tee": "snp", "extra-params": ""}"#);
    let ch: kbs_types::Challenge =
        round_trip(r#"{"nonce": "c2VjcmV0IG5vbmNl", "extra-params": {}}"#);
    assert_eq!(ch.nonce, "c2VjcmV0IG5vbmNl");
    // Attestation with init-data, an EC tee-pubkey and composite evidence.
    let att: kbs_types::Attestation = round_trip(
        r#"{
          "init-data": {"format": "json", "body": "{\"algorithm\":\"sha256\"}"},
          "runtime-data": {"nonce": "c2VjcmV0IG5vbmNl",
            "tee-pubkey": {"kty": "EC", "crv": "P-256", "alg": "ECDH-ES+A256KW", "x": "eA", "y": "eQ"}},
          "tee-evidence": {"primary_evidence": {}, "additional_evidence": "{}"}
        }"#,
    );
    assert!(matches!(
        att.runtime_data.tee_pubkey,
        kbs_types::TeePubKey::EC { .. }
    ));
    // The RSA key format.
    let _: kbs_types::TeePubKey =
        round_trip(r#"{"kty": "RSA", "alg": "RSA-OAEP-256", "n": "AQAB", "e": "AQAB"}"#);
    // The resource response (flattened JWE).
    let resp: kbs_types::Response = round_trip(
        r#"{"protected": "eyJhbGciOiJmYWtlYWxnIiwiZW5jIjoiZmFrZWVuYyJ9",
            "encrypted_key": "ZmFrZWtleQ", "iv": "cmFuZG9tZGF0YQ",
            "ciphertext": "ZmFrZWVuY291dHB1dA", "tag": "ZmFrZXRhZw"}"#,
    );
    assert_eq!(resp.protected.alg, "fakealg");
    // The token answer.
    let tok: Value = serde_json::from_str(r#"{"token": "a.b.c"}"#).unwrap();
    assert_eq!(tok["token"], "a.b.c");
}

/// The broker answers the document's Request with the document's Challenge
/// shape, and its JWE parses as the document's Response.
#[tokio::test]
async fn broker_speaks_the_documented_shapes() {
    let f = fixture().await;
    let c = Client::in_process(&f.broker);
    // The document's version 0.1.1 is inside the accepted range.
    let r = c
        .call(
            "POST",
            "/kbs/v0/auth",
            &[],
            json!({"version": "0.1.1", "tee": "tdx", "extra-params": ""})
                .to_string()
                .into_bytes(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let _: kbs_types::Challenge = serde_json::from_slice(&r.body).unwrap();
    const M: [u8; 48] = [7; 48];
    provision(&c, &f.shared, &M, "repo/type/tag", b"payload").await;
    let mut g = Guest::new(&f.shared, M);
    g.auth(&c).await;
    g.attest(&c).await;
    let r = g.resource(&c, "repo/type/tag").await;
    let resp: kbs_types::Response = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(resp.protected.alg, "ECDH-ES+A256KW");
    assert_eq!(resp.protected.enc, "A256GCM");
    assert!(resp.protected.other_fields.contains_key("epk"));
    // And it round-trips through kbs-types unchanged.
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(serde_json::to_value(&resp).unwrap(), v);
}

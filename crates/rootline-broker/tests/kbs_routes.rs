//! The KBS routes in process (`oneshot`): release, denial with its reason,
//! replay, expiry, key binding, passport tokens, sample-TEE refusal, admin
//! authentication, audit rows and error shapes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use aws_lc_rs::agreement::{self, ECDH_P256};
use common::*;
use serde_json::json;

const M: [u8; 48] = [0x11; 48];

#[tokio::test]
async fn secret_released_and_decrypted_with_cookie_and_bearer() {
    let f = fixture().await;
    let c = Client::in_process(&f.broker);
    provision(&c, &f.shared, &M, "default/key/1", b"top secret").await;
    let mut g = Guest::new(&f.shared, M);
    let r = g.auth(&c).await;
    let sc = r.header("set-cookie").unwrap();
    assert!(
        sc.contains("HttpOnly") && sc.contains("SameSite=Strict"),
        "{sc}"
    );
    let nonce = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        r.json()["nonce"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(nonce.len(), 32);
    assert_eq!(g.attest(&c).await.status, 200);
    let first = g.token.clone().unwrap();
    // A second /attest on the attested session returns the same token.
    assert_eq!(g.attest(&c).await.status, 200);
    assert_eq!(g.token.clone().unwrap(), first);
    let r = g.resource(&c, "default/key/1").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(g.decrypt(&r), b"top secret");
    // Passport: the token alone, no cookie.
    let r = g.resource_bearer(&c, "default/key/1").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(g.decrypt(&r), b"top secret");
    // The JWE is for our key only.
    let other = agreement::PrivateKey::generate(&ECDH_P256).unwrap();
    let resp: kbs_types::Response = serde_json::from_slice(&r.body).unwrap();
    assert!(rootline_broker::jwe::decrypt_ec(&other, &resp).is_err());
    // Unknown resource with an allowing policy: 404.
    let r = g.resource(&c, "default/key/absent").await;
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
}

#[tokio::test]
async fn wrong_measurement_is_denied_with_401_and_the_reason() {
    let f = fixture().await;
    let c = Client::in_process(&f.broker);
    provision(&c, &f.shared, &M, "default/key/1", b"top secret").await;
    let mut g = Guest::new(&f.shared, [0x22; 48]);
    assert_eq!(g.auth(&c).await.status, 200);
    assert_eq!(
        g.attest(&c).await.status,
        200,
        "the token records the contraindication"
    );
    let r = g.resource(&c, "default/key/1").await;
    assert_eq!(r.status, 401, "{}", r.text());
    let p = r.json();
    // 401 as Trustee answers a policy denial; the problem type tells it
    // from an authentication failure.
    assert_eq!(p["status"], 401);
    assert!(
        p["type"].as_str().unwrap().ends_with("/policy-denied"),
        "{p}"
    );
    let detail = p["detail"].as_str().unwrap();
    assert!(detail.contains("contraindicated"), "{detail}");
    assert!(
        detail.contains("measurement") && detail.contains(&hex::encode([0x22; 48])),
        "{detail}"
    );
    // Audit: one denial with the reason, nothing released.
    let rows = f.broker.store().list_audit(10).await.unwrap();
    assert!(
        rows.iter()
            .any(|r| r.result == "denied" && r.reason.contains("measurement"))
    );
    assert!(!rows.iter().any(|r| r.result == "released"));
}

#[tokio::test]
async fn replayed_nonce_and_replayed_evidence_are_rejected() {
    let f = fixture().await;
    let c = Client::in_process(&f.broker);
    provision(&c, &f.shared, &M, "default/key/1", b"s").await;
    let mut g = Guest::new(&f.shared, M);
    g.auth(&c).await;
    assert_eq!(g.attest(&c).await.status, 200);
    // The used nonce with another key (fresh evidence bound to it): replay.
    let mut thief = Guest::new(&f.shared, M);
    thief.cookie = g.cookie.clone();
    thief.nonce = g.nonce.clone();
    let again = thief.attestation(&jwk_of(&thief.tee_key));
    let r = thief.post_attestation(&c, &again).await;
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(r.text().contains("replay"), "{}", r.text());
    // The old evidence under a new challenge: the nonce does not match.
    let old = g.attestation(&jwk_of(&g.tee_key));
    g.auth(&c).await;
    let r = g.post_attestation(&c, &old).await;
    assert_eq!(r.status, 401, "{}", r.text());
}

#[tokio::test]
async fn expired_session_is_rejected() {
    let f = fixture().await;
    let c = Client::in_process(&f.broker);
    provision(&c, &f.shared, &M, "default/key/1", b"s").await;
    let mut g = Guest::new(&f.shared, M);
    g.auth(&c).await;
    f.broker.clock().advance(301);
    let r = g.attest(&c).await;
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(r.text().contains("expired"), "{}", r.text());
    // And an attested session expires too (cookie and token).
    let mut g = Guest::new(&f.shared, M);
    g.auth(&c).await;
    assert_eq!(g.attest(&c).await.status, 200);
    f.broker.clock().advance(301);
    assert_eq!(g.resource(&c, "default/key/1").await.status, 401);
    assert_eq!(g.resource_bearer(&c, "default/key/1").await.status, 401);
}

#[tokio::test]
async fn evidence_bound_to_another_key_is_rejected() {
    let f = fixture().await;
    let c = Client::in_process(&f.broker);
    let mut g = Guest::new(&f.shared, M);
    g.auth(&c).await;
    let other = agreement::PrivateKey::generate(&ECDH_P256).unwrap();
    let body = g.attestation(&jwk_of(&other));
    let r = g.post_attestation(&c, &body).await;
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(r.text().contains("report_data"), "{}", r.text());
}

#[tokio::test]
async fn untrusted_sim_root_and_sample_tee_are_refused_by_default() {
    let f = fixture().await;
    let c = Client::in_process(&f.broker);
    // A guest whose simulated TEE root the broker does not list.
    let other = Shared::new();
    let mut g = Guest::new(&other, M);
    g.auth(&c).await;
    let r = g.attest(&c).await;
    assert_eq!(r.status, 401, "{}", r.text());
    // Trustee's sample TEE: refused unless insecure mode is on.
    let sample = |nonce: &str, key: &kbs_types::TeePubKey| {
        let rd = rootline_broker::evidence::runtime_data_hash(
            &json!({"nonce": nonce, "tee-pubkey": key}),
            rootline_broker::evidence::BindingHash::Sha384,
        )
        .unwrap();
        json!({
            "runtime-data": {"nonce": nonce, "tee-pubkey": key},
            "tee-evidence": {"primary_evidence": {"svn": "1", "report_data": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, rd)}, "additional_evidence": ""},
        })
    };
    async fn auth_sample(c: &Client) -> (String, String) {
        common::auth_as(c, "sample", json!("")).await
    }
    let key = agreement::PrivateKey::generate(&ECDH_P256).unwrap();
    // Refused at /auth already, with 401 (a guest reads that problem's
    // detail) naming the setting.
    let r = c
        .call(
            "POST",
            "/kbs/v0/auth",
            &[],
            json!({"version": "0.4.0", "tee": "sample", "extra-params": ""})
                .to_string()
                .into_bytes(),
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(r.text().contains("insecure_sample_tee"), "{}", r.text());
    // An unknown tee: 401 too, as Trustee.
    let r = c
        .call(
            "POST",
            "/kbs/v0/auth",
            &[],
            json!({"version": "0.4.0", "tee": "nosuchtee", "extra-params": ""})
                .to_string()
                .into_bytes(),
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(r.text().contains("nosuchtee"), "{}", r.text());

    // Insecure test mode: accepted, and the token says so.
    let f2 = fixture_with(Arc::new(Shared::new()), None, |o| {
        o.verifier.insecure_sample = true
    })
    .await;
    let c2 = Client::in_process(&f2.broker);
    let (cookie, nonce) = auth_sample(&c2).await;
    let r = c2
        .call(
            "POST",
            "/kbs/v0/attest",
            &[("cookie", &cookie)],
            sample(&nonce, &jwk_of(&key)).to_string().into_bytes(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let tok = r.json()["token"].as_str().unwrap().to_owned();
    let claims = f2.broker.signer().public_point().to_vec();
    let v = rootline_broker::token::TokenVerifier::new([claims.as_slice()]);
    let c = v.verify(&tok, f2.broker.clock().now()).unwrap();
    assert_eq!(c[rootline_broker::token::INSECURE_CLAIM], true);
}

#[tokio::test]
async fn admin_needs_a_valid_jwt_and_is_closed_without_a_key() {
    let f = fixture().await;
    let c = Client::in_process(&f.broker);
    let r = c.call("GET", "/admin/v0/resources", &[], Vec::new()).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    // Signed by another key.
    let wrong = Shared::new();
    let r = admin(
        &c,
        &wrong.admin_pkcs8,
        "PUT",
        "/admin/v0/resources/a/b/c",
        b"x".to_vec(),
    )
    .await;
    assert_eq!(r.status, 401, "{}", r.text());
    // Garbage.
    let r = c
        .call(
            "GET",
            "/admin/v0/resources",
            &[("authorization", "Bearer x.y.z")],
            Vec::new(),
        )
        .await;
    assert_eq!(r.status, 401);
    // The right key: set, list, delete.
    let r = admin(
        &c,
        &f.shared.admin_pkcs8,
        "PUT",
        "/admin/v0/resources/a/b/c?policy=p1",
        b"x".to_vec(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = admin(
        &c,
        &f.shared.admin_pkcs8,
        "GET",
        "/admin/v0/resources",
        Vec::new(),
    )
    .await;
    assert_eq!(r.json()[0]["path"], "a/b/c");
    assert_eq!(r.json()[0]["policy"], "p1");
    assert!(!r.text().contains("\"x\""), "listing never shows values");
    let r = admin(
        &c,
        &f.shared.admin_pkcs8,
        "DELETE",
        "/admin/v0/resources/a/b/c",
        Vec::new(),
    )
    .await;
    assert_eq!(r.status, 204);
    let r = admin(
        &c,
        &f.shared.admin_pkcs8,
        "DELETE",
        "/admin/v0/resources/a/b/c",
        Vec::new(),
    )
    .await;
    assert_eq!(r.status, 404);
    // A policy that does not compile is refused.
    let r = admin(
        &c,
        &f.shared.admin_pkcs8,
        "PUT",
        "/admin/v0/policies/p1",
        b"package policy\nallow if {".to_vec(),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text());

    // No admin key configured: closed even to a well-formed JWT.
    let f2 = fixture_with(Arc::new(Shared::new()), None, |o| o.admin_key = None).await;
    let c2 = Client::in_process(&f2.broker);
    let r = admin(
        &c2,
        &f2.shared.admin_pkcs8,
        "GET",
        "/admin/v0/resources",
        Vec::new(),
    )
    .await;
    assert_eq!(r.status, 401);
    assert!(r.text().contains("closed"), "{}", r.text());
}

#[tokio::test]
async fn per_resource_policy_applies() {
    let f = fixture().await;
    let c = Client::in_process(&f.broker);
    provision(&c, &f.shared, &M, "default/key/1", b"one").await;
    // A policy that denies everything, named by a second resource.
    let deny = b"package policy\nimport rego.v1\ndefault allow := false\n".to_vec();
    assert_eq!(
        admin(
            &c,
            &f.shared.admin_pkcs8,
            "PUT",
            "/admin/v0/policies/never",
            deny
        )
        .await
        .status,
        200
    );
    let r = admin(
        &c,
        &f.shared.admin_pkcs8,
        "PUT",
        "/admin/v0/resources/default/key/2?policy=never",
        b"two".to_vec(),
    )
    .await;
    assert_eq!(r.status, 200);
    // A resource naming a policy that does not exist is denied, not released.
    let r = admin(
        &c,
        &f.shared.admin_pkcs8,
        "PUT",
        "/admin/v0/resources/default/key/3?policy=ghost",
        b"three".to_vec(),
    )
    .await;
    assert_eq!(r.status, 200);
    let mut g = Guest::new(&f.shared, M);
    assert_eq!(g.fetch(&c, "default/key/1").await, b"one");
    let r = g.resource(&c, "default/key/2").await;
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(r.text().contains("never"));
    let r = g.resource(&c, "default/key/3").await;
    assert_eq!(r.status, 401, "{}", r.text());
    let rows = f.broker.store().list_audit(10).await.unwrap();
    assert_eq!(rows.iter().filter(|r| r.result == "released").count(), 1);
    assert_eq!(rows.iter().filter(|r| r.result == "denied").count(), 2);
    assert!(
        rows.iter()
            .all(|r| r.evidence_digest.as_deref().is_some_and(|d| d.len() == 96))
    );
}

#[tokio::test]
async fn protocol_errors() {
    let f = fixture().await;
    let c = Client::in_process(&f.broker);
    let r = c
        .call(
            "POST",
            "/kbs/v0/auth",
            &[],
            json!({"version": "1.0.0", "tee": "snp", "extra-params": ""})
                .to_string()
                .into_bytes(),
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.text());
    let meta = json!({"version": "0.4.0", "tee": "snp", "extra-params": {"tee-metadata": {"primary_tee": {"tee": "tdx"}}}});
    let r = c
        .call("POST", "/kbs/v0/auth", &[], meta.to_string().into_bytes())
        .await;
    assert_eq!(r.status, 400, "{}", r.text());
    let r = c.call("POST", "/kbs/v0/auth", &[], b"{".to_vec()).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["status"], 400);
    let r = c.call("POST", "/kbs/v0/attest", &[], b"{}".to_vec()).await;
    assert_eq!(r.status, 401, "no cookie");
    let r = c
        .call("GET", "/kbs/v0/resource/a/b/c", &[], Vec::new())
        .await;
    assert_eq!(r.status, 401);
    let r = c
        .call(
            "GET",
            "/kbs/v0/resource/a/b/c",
            &[("cookie", "kbs-session-id=forged.value")],
            Vec::new(),
        )
        .await;
    assert_eq!(r.status, 401);
    let r = c
        .call(
            "GET",
            "/kbs/v0/resource/a/b/c",
            &[("authorization", "Bearer not-a-token")],
            Vec::new(),
        )
        .await;
    assert_eq!(r.status, 401);
    // A cookie for an unattested session is not enough.
    let mut g = Guest::new(&f.shared, M);
    g.auth(&c).await;
    assert_eq!(g.resource(&c, "a/b/c").await.status, 401);
    // The JWKS publishes the token key.
    let r = c
        .call("GET", "/.well-known/jwks.json", &[], Vec::new())
        .await;
    assert_eq!(r.json()["keys"][0]["kty"], "EC");
}

#[tokio::test]
async fn rsa_tee_key_gets_rsa_oaep() {
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::rsa::{KeySize, PrivateDecryptingKey};
    use x509_parser::prelude::FromDer as _;
    let f = fixture().await;
    let c = Client::in_process(&f.broker);
    provision(&c, &f.shared, &M, "default/key/1", b"rsa secret").await;
    let sk = PrivateDecryptingKey::generate(KeySize::Rsa2048).unwrap();
    let spki = sk.public_key().as_der().unwrap();
    let (_, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(spki.as_ref()).unwrap();
    let x509_parser::public_key::PublicKey::RSA(rsa) = spki.parsed().unwrap() else {
        panic!()
    };
    let b64 =
        |d: &[u8]| base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, d);
    let jwk = kbs_types::TeePubKey::RSA {
        alg: "RSA-OAEP-256".into(),
        k_mod: b64(rsa.modulus),
        k_exp: b64(rsa.exponent),
    };
    let mut g = Guest::new(&f.shared, M);
    g.auth(&c).await;
    let nonce = g.nonce.clone().unwrap();
    let rd = rootline_broker::evidence::runtime_data_hash(
        &json!({"nonce": nonce, "tee-pubkey": jwk}),
        rootline_broker::evidence::BindingHash::Sha384,
    )
    .unwrap();
    let ev = g.sim.evidence(&M, &[], &rd).unwrap();
    let body = json!({"runtime-data": {"nonce": nonce, "tee-pubkey": jwk}, "tee-evidence": {"primary_evidence": ev, "additional_evidence": ""}});
    assert_eq!(g.post_attestation(&c, &body).await.status, 200);
    let r = g.resource(&c, "default/key/1").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let resp: kbs_types::Response = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(resp.protected.alg, "RSA-OAEP-256");
    let pkcs8 = sk.as_der().unwrap();
    assert_eq!(
        rootline_broker::jwe::decrypt_rsa(pkcs8.as_ref(), &resp).unwrap(),
        b"rsa secret"
    );
}

#[tokio::test]
async fn init_data_must_match_the_simulated_host_data() {
    let f = fixture().await;
    let c = Client::in_process(&f.broker);
    provision(&c, &f.shared, &M, "default/key/1", b"with init-data").await;
    let body = "version = \"0.1.0\"\nalgorithm = \"sha256\"\n[data]\n\"policy.rego\" = \"package agent_policy\"\n";
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, body.as_bytes());
    for (host_data, want) in [(digest.as_ref().to_vec(), 200), (vec![0u8; 32], 401)] {
        let mut g = Guest::new(&f.shared, M);
        g.auth(&c).await;
        let runtime = json!({"nonce": g.nonce.clone().unwrap(), "tee-pubkey": jwk_of(&g.tee_key)});
        let rd = rootline_broker::evidence::runtime_data_hash(
            &runtime,
            rootline_broker::evidence::BindingHash::Sha384,
        )
        .unwrap();
        let ev = g.sim.evidence(&M, &host_data, &rd).unwrap();
        let att = json!({
            "init-data": {"format": "toml", "body": body},
            "runtime-data": runtime,
            "tee-evidence": {"primary_evidence": ev, "additional_evidence": ""},
        });
        let r = g.post_attestation(&c, &att).await;
        assert_eq!(r.status, want, "{}", r.text());
        if want == 200 {
            let claims =
                rootline_broker::token::TokenVerifier::new([f.broker.signer().public_point()])
                    .verify(g.token.as_ref().unwrap(), f.broker.clock().now())
                    .unwrap();
            assert_eq!(
                claims
                    .pointer("/submods/cpu0/ear.veraison.annotated-evidence/init_data")
                    .unwrap(),
                &json!(hex::encode(digest.as_ref()))
            );
            // Trustee's init_data_claims: the document's data table.
            assert_eq!(
                claims
                    .pointer(
                        "/submods/cpu0/ear.veraison.annotated-evidence/init_data_claims/policy.rego"
                    )
                    .unwrap(),
                "package agent_policy"
            );
            assert_eq!(
                g.decrypt(&g.resource(&c, "default/key/1").await),
                b"with init-data"
            );
        } else {
            assert!(r.text().contains("host_data"), "{}", r.text());
        }
    }
}

/// Drop-in finding 5: an unmatched route answered an empty body (guest
/// clients: "error decoding response body"), and there was no `/healthz`
/// or `/metrics`, which Trustee serves and its deployments probe.
#[tokio::test]
async fn healthz_metrics_and_unmatched_routes_answer_as_documented() {
    let f = fixture().await;
    let c = Client::in_process(&f.broker);
    let r = c.call("GET", "/healthz", &[], Vec::new()).await;
    assert_eq!(r.status, 200);
    for (method, path, status) in [
        ("GET", "/no/such/route", 404),
        ("GET", "/kbs/v0/nosuchplugin/a/b/c", 404),
        ("GET", "/kbs/v0/auth", 405),
        ("PATCH", "/kbs/v0/resource/a/b/c", 405),
    ] {
        let r = c.call(method, path, &[], Vec::new()).await;
        assert_eq!(r.status, status, "{method} {path}: {}", r.text());
        assert_eq!(r.header("content-type"), Some("application/problem+json"));
        let p = r.json();
        assert_eq!(p["status"], status);
        assert!(p["detail"].as_str().unwrap().contains(path), "{p}");
    }
    // One full handshake and one denial, then the counters say so.
    provision(&c, &f.shared, &M, "default/key/1", b"s").await;
    let mut g = Guest::new(&f.shared, M);
    assert_eq!(g.fetch(&c, "default/key/1").await, b"s");
    let mut bad = Guest::new(&f.shared, [0x22; 48]);
    bad.auth(&c).await;
    bad.attest(&c).await;
    assert_eq!(bad.resource(&c, "default/key/1").await.status, 401);
    let r = c.call("GET", "/metrics", &[], Vec::new()).await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    let text = r.text();
    for line in [
        "rootline_auth_total{tee=\"rootline-sim\",result=\"success\"} 2",
        "rootline_attestations_total{tee=\"rootline-sim\",result=\"affirming\"} 1",
        "rootline_attestations_total{tee=\"rootline-sim\",result=\"contraindicated\"} 1",
        "rootline_releases_total{result=\"released\"} 1",
        "rootline_releases_total{result=\"denied\"} 1",
        "kbs_resource_reads_total{resource_path=\"default/key/1\"} 1",
        "rootline_http_request_duration_seconds_count{route=\"/kbs/v0/attest\"} 2",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line}:\n{text}");
    }
}

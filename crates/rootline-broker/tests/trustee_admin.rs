//! Trustee's admin API as `kbs-client config ...` calls it (paths, bodies,
//! the bearer token of Trustee's `[admin]` configuration): a resource, the
//! resource policy and reference values go into rootline, and a guest then
//! gets the resource; without `[admin]` every call is refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::{Client, Guest, Resp, Shared, fixture, fixture_with};
use rootline_broker::trustee_admin::{
    AclRule, AdminConfig, AuthenticationType, AuthorizerType, BearerJwtConfig, IssuerConfig,
    RegexAclConfig,
};
use serde_json::{Value, json};

const M: [u8; 48] = [0x11; 48];

/// An Ed25519 identity provider as Trustee's docker-compose setup makes it.
struct Idp {
    pkcs8: Vec<u8>,
    _dir: tempfile::TempDir,
    config: AdminConfig,
}

fn idp(acls: &[(&str, &str)]) -> Idp {
    let doc = Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new()).unwrap();
    let kp = Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap();
    // SubjectPublicKeyInfo for Ed25519 (RFC 8410): fixed prefix + 32 bytes.
    let mut spki = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    spki.extend_from_slice(kp.public_key().as_ref());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("admin.pub");
    std::fs::write(
        &path,
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            STANDARD.encode(&spki)
        ),
    )
    .unwrap();
    let config = AdminConfig::AuthenticatedAuthorization {
        authentication: AuthenticationType::BearerJwt(BearerJwtConfig {
            identity_providers: vec![IssuerConfig {
                issuer: Some("TrusteeInDocker".into()),
                audience: Some("KBS".into()),
                public_key_uri: Some(path.display().to_string()),
                jwk_set_uri: None,
            }],
        }),
        authorization: AuthorizerType::RegexAcl(RegexAclConfig {
            acls: acls
                .iter()
                .map(|(role, re)| AclRule {
                    role: (*role).into(),
                    allowed_endpoints: (*re).into(),
                })
                .collect(),
        }),
    };
    Idp {
        pkcs8: doc.as_ref().to_vec(),
        _dir: dir,
        config,
    }
}

/// A token as Trustee's setup.sh mints it (EdDSA; iss, sub, aud, role).
fn token(pkcs8: &[u8], claims: Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA),
        &claims,
        &jsonwebtoken::EncodingKey::from_ed_der(pkcs8),
    )
    .unwrap()
}

fn admin_claims(role: &str, exp: i64) -> Value {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    json!({"iss": "TrusteeInDocker", "sub": "admin", "aud": ["KBS"], "role": role, "iat": now, "exp": now + exp})
}

/// One call as kbs-client makes it.
async fn call(c: &Client, tok: Option<&str>, method: &str, path: &str, body: Vec<u8>) -> Resp {
    let auth = tok.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("content-type", "application/json")];
    if method == "POST" && path.starts_with("/kbs/v0/resource/") {
        headers[0] = ("content-type", "application/octet-stream");
    }
    if let Some(a) = &auth {
        headers.push(("authorization", a.as_str()));
    }
    c.call(method, path, &headers, body).await
}

fn policy_body(rego: &str) -> Vec<u8> {
    json!({"policy": URL_SAFE_NO_PAD.encode(rego)})
        .to_string()
        .into_bytes()
}

fn rv_body(map: Value) -> Vec<u8> {
    json!({"version": "0.1.0", "type": "sample", "payload": STANDARD.encode(map.to_string())})
        .to_string()
        .into_bytes()
}

/// A resource policy in Trustee's shape: `data.plugin`, `data["resource-path"]`
/// as a list, every submodule affirming.
const TRUSTEE_STYLE_POLICY: &str = r#"package policy

default allow = false

allow if {
	data.plugin == "resource"
	data["resource-path"][0] == "default"
	count(input.submods) > 0
	not any_not_affirming
}

any_not_affirming if {
	some _, submod in input.submods
	submod["ear.status"] != "affirming"
}
"#;

#[tokio::test]
async fn kbs_client_admin_calls_provision_a_resource_a_guest_then_gets() {
    let p = idp(&[("admin", "^/kbs/.+$")]);
    let f = fixture_with(Arc::new(Shared::new()), None, |o| {
        o.trustee_admin = Some(p.config.clone())
    })
    .await;
    let c = Client::in_process(&f.broker);
    let tok = token(&p.pkcs8, admin_claims("admin", 3600));
    let t = Some(tok.as_str());

    // kbs-client config set-resource --path default/key/k1 --resource-file F
    let r = call(
        &c,
        t,
        "POST",
        "/kbs/v0/resource/default/key/k1",
        b"trustee secret".to_vec(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.body.is_empty());
    // kbs-client config set-resource-policy --policy-file F
    let r = call(
        &c,
        t,
        "POST",
        "/kbs/v0/resource-policy",
        policy_body(TRUSTEE_STYLE_POLICY),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = call(&c, t, "GET", "/kbs/v0/resource-policy", Vec::new()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json().as_array().unwrap().contains(&json!("default")));
    // kbs-client config set-sample-reference-value, in rootline's key.
    let m = hex::encode(M);
    let r = call(
        &c,
        t,
        "POST",
        "/kbs/v0/reference-value",
        rv_body(json!({"rootline-sim.measurement": [m]})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    // kbs-client config get-reference-value --id ...
    let r = call(
        &c,
        t,
        "GET",
        "/kbs/v0/reference-value/rootline-sim.measurement",
        Vec::new(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!([m]));

    // A guest with that measurement gets the secret under the stored policy.
    let mut g = Guest::new(&f.shared, M);
    assert_eq!(g.fetch(&c, "default/key/k1").await, b"trustee secret");
    // Another measurement: denied (401, as Trustee).
    let mut bad = Guest::new(&f.shared, [0x22; 48]);
    bad.auth(&c).await;
    bad.attest(&c).await;
    assert_eq!(bad.resource(&c, "default/key/k1").await.status, 401);

    // Trustee attestation policies are refused with what to do instead.
    let r = call(
        &c,
        t,
        "POST",
        "/kbs/v0/attestation-policy",
        json!({"type": "rego", "policy_id": "default_cpu", "policy": URL_SAFE_NO_PAD.encode("package policy")})
            .to_string()
            .into_bytes(),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("reference-value"), "{}", r.text());
    // An id that maps to no claim is refused, nothing is stored.
    let r = call(
        &c,
        t,
        "POST",
        "/kbs/v0/reference-value",
        rv_body(json!({"snp_launch_measurement": ["ab"], "launch_digest": ["abcde"]})),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("launch_digest"), "{}", r.text());
    let r = call(
        &c,
        t,
        "GET",
        "/kbs/v0/reference-value/snp_launch_measurement",
        Vec::new(),
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.text());

    // kbs-client config delete-resource --path default/key/k1
    let r = call(
        &c,
        t,
        "DELETE",
        "/kbs/v0/resource/default/key/k1",
        Vec::new(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let mut g = Guest::new(&f.shared, M);
    g.auth(&c).await;
    g.attest(&c).await;
    assert_eq!(g.resource(&c, "default/key/k1").await.status, 404);
}

#[tokio::test]
async fn trustee_admin_calls_are_refused_without_a_valid_token() {
    // No [admin] configured: closed, naming the setting.
    let f = fixture().await;
    let c = Client::in_process(&f.broker);
    let p = idp(&[("admin", "^/kbs/.+$")]);
    let tok = token(&p.pkcs8, admin_claims("admin", 3600));
    for (m, path) in [
        ("POST", "/kbs/v0/resource/default/key/k1"),
        ("DELETE", "/kbs/v0/resource/default/key/k1"),
        ("POST", "/kbs/v0/resource-policy"),
        ("GET", "/kbs/v0/resource-policy"),
        ("POST", "/kbs/v0/attestation-policy"),
        ("POST", "/kbs/v0/reference-value"),
        ("GET", "/kbs/v0/reference-value/svn"),
    ] {
        let r = call(&c, Some(&tok), m, path, b"{}".to_vec()).await;
        assert_eq!(r.status, 401, "{m} {path}: {}", r.text());
        assert!(r.text().contains("[admin]"), "{}", r.text());
    }

    // Configured: wrong key, wrong role, path outside the role's ACL,
    // expired, missing role, wrong issuer, HMAC, no token.
    let p = idp(&[
        ("admin", "^/kbs/.+$"),
        ("reader", "^/kbs/v0/reference-value/.+$"),
    ]);
    let f = fixture_with(Arc::new(Shared::new()), None, |o| {
        o.trustee_admin = Some(p.config.clone())
    })
    .await;
    let c = Client::in_process(&f.broker);
    let other = idp(&[]);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let hs = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &admin_claims("admin", 3600),
        &jsonwebtoken::EncodingKey::from_secret(b"secret"),
    )
    .unwrap();
    let cases = [
        (
            "another key",
            token(&other.pkcs8, admin_claims("admin", 3600)),
        ),
        (
            "a role with no rule",
            token(&p.pkcs8, admin_claims("guest", 3600)),
        ),
        (
            "reader on a write",
            token(&p.pkcs8, admin_claims("reader", 3600)),
        ),
        ("expired", token(&p.pkcs8, admin_claims("admin", -120))),
        (
            "no role",
            token(
                &p.pkcs8,
                json!({"iss": "TrusteeInDocker", "aud": "KBS", "exp": now + 60}),
            ),
        ),
        (
            "another issuer",
            token(
                &p.pkcs8,
                json!({"iss": "someone", "aud": "KBS", "role": "admin", "exp": now + 60}),
            ),
        ),
        (
            "not valid yet",
            token(
                &p.pkcs8,
                json!({"iss": "TrusteeInDocker", "aud": "KBS", "role": "admin", "exp": now + 7200, "nbf": now + 3600}),
            ),
        ),
        (
            "huge exp, negative iat",
            token(
                &p.pkcs8,
                json!({"iss": "TrusteeInDocker", "aud": "KBS", "role": "guest", "exp": i64::MAX, "iat": i64::MIN}),
            ),
        ),
        ("HS256", hs),
    ];
    for (what, tok) in &cases {
        let r = call(
            &c,
            Some(tok),
            "POST",
            "/kbs/v0/resource/default/key/k1",
            b"x".to_vec(),
        )
        .await;
        assert_eq!(r.status, 401, "{what}: {}", r.text());
    }
    let r = call(
        &c,
        None,
        "POST",
        "/kbs/v0/resource/default/key/k1",
        b"x".to_vec(),
    )
    .await;
    assert_eq!(r.status, 401, "{}", r.text());
    // Nothing was stored by any of them.
    let r = common::admin(
        &c,
        &f.shared.admin_pkcs8,
        "GET",
        "/admin/v0/resources",
        Vec::new(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!([]));
    // The reader may read what its rule allows.
    let reader = token(&p.pkcs8, admin_claims("reader", 3600));
    let r = call(
        &c,
        Some(&reader),
        "GET",
        "/kbs/v0/reference-value/svn",
        Vec::new(),
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.text());
}

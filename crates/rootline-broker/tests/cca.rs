//! Arm CCA realms at the broker, end to end in process: `/auth` as tee
//! `cca`, `/attest` with a synthetic token (`rootline_testkit::cca`) in
//! guest-components' form, `/resource` decrypted with the realm's key. A
//! broker trusts a platform only through `cca_trust_anchors` (there is no
//! Arm root to pin); the realm challenge must hold this session's binding
//! digest, the personalization value the init-data digest when init-data is
//! sent; the default CCA policy affirms only a stored initial measurement on
//! a platform in a secured lifecycle state, and the default resource policy
//! releases only to an affirming token.

mod common;

use std::sync::Arc;

use aws_lc_rs::agreement::{self, ECDH_P256};
use common::{
    Client, Fixture, Resp, Shared, admin, attest_then_fetch, auth_as, fixture_with, jwk_of,
};
use rootline_broker::appraise::PolicyAppraiser;
use rootline_broker::evidence::{Binding, BindingHash};
use rootline_testkit::cca::{Curve, Platform, RealmSpec, kbs_evidence, pad64};
use serde_json::{Value, json};

const SECRET: &[u8] = b"disk key of a CCA realm";
const PATH: &str = "default/key/cca";
/// The realm initial measurement stored as a reference value.
const RIM: [u8; 64] = [0xa5; 64];
/// An init-data document as guest-components sends it (Trustee's
/// initdata.md form).
const INIT_DATA: &str = "version = \"0.1.0\"\nalgorithm = \"sha256\"\n[data]\n\"policy.rego\" = \"package agent_policy\"\n";

/// A broker whose `cca_trust_anchors` (set in TOML, as an operator writes
/// it) name `trusted`'s CPAK, with `RIM` as the reference value
/// `cca.realm.initial_measurement` and the secret at `PATH`.
async fn broker(trusted: &Platform) -> (Fixture, Client) {
    let dir = tempfile::tempdir().unwrap();
    let anchors = dir.path().join("cpak.json");
    std::fs::write(&anchors, trusted.cpak_json().to_string()).unwrap();
    let toml = format!(
        "data_dir = {:?}\ncollateral_offline = true\ncca_trust_anchors = [{:?}]\n",
        dir.path(),
        anchors
    );
    let cfg = rootline_broker::Config::from_toml(&toml).unwrap();
    let (verifier, _) = rootline_broker::collateral::verifier_from_config(&cfg, None).unwrap();
    // The default CCA policy, as `BrokerOptions::from_config` (and so
    // `rootline serve`) appraises; the test harness's options keep the
    // plain reference-value appraiser, which has no lifecycle rule.
    let appraiser = PolicyAppraiser::with_defaults(json!({})).unwrap();
    let f = fixture_with(Arc::new(Shared::new()), None, |o| {
        o.verifier.verifier = verifier;
        o.appraiser = Arc::new(appraiser);
    })
    .await;
    let c = Client::in_process(&f.broker);
    // The reference value goes in through the admin API, as an operator
    // registers it (regression: check_reference_value refused tee "cca"
    // after CCA verification landed, so no CCA realm could be affirmed).
    let rv = json!({
        "tee": "cca",
        "claim": "realm.initial_measurement",
        "values": [hex::encode(RIM)],
    });
    let r = admin(
        &c,
        &f.shared.admin_pkcs8,
        "PUT",
        "/admin/v0/reference-values/cca-rim",
        rv.to_string().into_bytes(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    // A claim CCA evidence does not have is refused with a suggestion.
    let typo = json!({"tee": "cca", "claim": "realm.initial_measurment", "values": ["00"]});
    let r = admin(
        &c,
        &f.shared.admin_pkcs8,
        "PUT",
        "/admin/v0/reference-values/cca-typo",
        typo.to_string().into_bytes(),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("did you mean"), "{}", r.text());
    let r = admin(
        &c,
        &f.shared.admin_pkcs8,
        "PUT",
        &format!("/admin/v0/resources/{PATH}"),
        SECRET.to_vec(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    (f, c)
}

/// What a realm got: the `/attest` and `/resource` answers, and its key.
struct Realm {
    attest: Resp,
    resource: Resp,
    tee_key: agreement::PrivateKey,
}

impl Realm {
    /// The released secret, decrypted with the realm's key.
    fn secret(&self) -> Vec<u8> {
        assert_eq!(self.resource.status, 200, "{}", self.resource.text());
        let resp: kbs_types::Response = serde_json::from_slice(&self.resource.body).unwrap();
        rootline_broker::jwe::decrypt_ec(&self.tee_key, &resp).unwrap()
    }

    /// The claims of the attestation token, checked with the broker's key.
    fn ear(&self, f: &Fixture) -> Value {
        assert_eq!(self.attest.status, 200, "{}", self.attest.text());
        let token = self.attest.json()["token"].as_str().unwrap().to_owned();
        rootline_broker::token::TokenVerifier::new([f.broker.signer().public_point()])
            .verify(&token, f.broker.clock().now())
            .unwrap()
    }
}

/// The report data a guest binds for `runtime` (current form, SHA-384, no
/// additional evidence), zero-padded to the realm challenge.
fn challenge(runtime: &Value) -> [u8; 64] {
    pad64(
        &Binding::current(runtime, "", BindingHash::Sha384)
            .unwrap()
            .digest,
    )
}

/// A realm as guest-components makes its requests: `/auth` as `cca`, then
/// `/attest` with `platform`'s token for the spec `spec` makes from this
/// session's challenge, and `init` as init-data; then `/resource` at
/// `PATH` on the same session, whatever `/attest` answered.
async fn realm(
    c: &Client,
    platform: &Platform,
    init: Option<&str>,
    spec: impl FnOnce([u8; 64]) -> RealmSpec,
) -> Realm {
    let (cookie, nonce) = auth_as(c, "cca", json!({})).await;
    let tee_key = agreement::PrivateKey::generate(&ECDH_P256).unwrap();
    let runtime = json!({"nonce": nonce, "tee-pubkey": jwk_of(&tee_key)});
    let token = platform.token(&spec(challenge(&runtime)));
    let mut body = json!({
        "runtime-data": runtime,
        "tee-evidence": {"primary_evidence": kbs_evidence(&token), "additional_evidence": ""},
    });
    if let Some(doc) = init {
        body["init-data"] = json!({"format": "toml", "body": doc});
    }
    let (attest, resource) = attest_then_fetch(c, &cookie, &body, PATH).await;
    Realm {
        attest,
        resource,
        tee_key,
    }
}

/// A realm spec bound to `challenge`, measured as `RIM`.
fn good(challenge: [u8; 64]) -> RealmSpec {
    RealmSpec {
        challenge,
        initial_measurement: RIM.to_vec(),
        ..RealmSpec::default()
    }
}

fn sha256(b: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b)
        .as_ref()
        .to_vec()
}

async fn released(f: &Fixture) -> usize {
    let rows = f.broker.store().list_audit(100).await.unwrap();
    rows.iter().filter(|r| r.result == "released").count()
}

#[tokio::test]
async fn a_bound_realm_with_a_stored_initial_measurement_gets_its_secret() {
    let platform = Platform::new(Curve::P384);
    let (f, c) = broker(&platform).await;
    let r = realm(&c, &platform, None, good).await;
    let ear = r.ear(&f);
    let cpu0 = &ear["submods"]["cpu0"];
    assert_eq!(cpu0["ear.status"], "affirming", "{ear:#}");
    let policy = cpu0["ear.appraisal-policy-id"].as_str().unwrap();
    assert!(policy.starts_with("default cca@"), "{policy}");
    let claims = &cpu0["ear.veraison.annotated-evidence"]["cca"];
    assert_eq!(
        claims["realm"]["initial_measurement"],
        hex::encode(RIM),
        "{ear:#}"
    );
    assert_eq!(r.secret(), SECRET);
    assert_eq!(released(&f).await, 1);

    // The same realm measured otherwise: a token, but contraindicated, and
    // no secret. The stored reference value is what made the first affirm.
    let r = realm(&c, &platform, None, |ch| RealmSpec {
        initial_measurement: vec![0x5a; 64],
        ..good(ch)
    })
    .await;
    assert_eq!(
        r.ear(&f)["submods"]["cpu0"]["ear.status"],
        "contraindicated"
    );
    assert_eq!(r.resource.status, 401, "{}", r.resource.text());
    assert!(
        r.resource.text().contains("initial_measurement"),
        "{}",
        r.resource.text()
    );
    assert_eq!(released(&f).await, 1);
}

#[tokio::test]
async fn a_token_from_a_platform_the_broker_does_not_trust_is_refused() {
    let trusted = Platform::new(Curve::P384);
    let (f, c) = broker(&trusted).await;
    // Another platform, same identity (instance ID) and curve, its own CPAK.
    let stranger = Platform::new(Curve::P384);
    let r = realm(&c, &stranger, None, good).await;
    assert_eq!(r.attest.status, 401, "{}", r.attest.text());
    let why = r.attest.text();
    assert!(
        why.contains("bad signature: platform token") && why.contains("none verifies"),
        "{why}"
    );
    eprintln!("untrusted CPAK: {why}");
    assert_eq!(r.resource.status, 401, "{}", r.resource.text());
    // And the trusted one still passes on the same broker.
    assert_eq!(realm(&c, &trusted, None, good).await.secret(), SECRET);
    assert_eq!(released(&f).await, 1);
}

#[tokio::test]
async fn a_token_bound_to_another_sessions_runtime_data_is_refused() {
    let platform = Platform::new(Curve::P384);
    let (f, c) = broker(&platform).await;
    // A session the token was made for (another nonce, another key).
    let (_, other_nonce) = auth_as(&c, "cca", json!({})).await;
    let other_key = agreement::PrivateKey::generate(&ECDH_P256).unwrap();
    let other = challenge(&json!({"nonce": other_nonce, "tee-pubkey": jwk_of(&other_key)}));
    let r = realm(&c, &platform, None, |_| good(other)).await;
    assert_eq!(r.attest.status, 401, "{}", r.attest.text());
    let why = r.attest.text();
    assert!(
        why.contains("realm.challenge") && why.contains("does not bind this session"),
        "{why}"
    );
    assert_eq!(r.resource.status, 401, "{}", r.resource.text());
    assert_eq!(released(&f).await, 0);
}

#[tokio::test]
async fn init_data_is_accepted_only_when_the_personalization_value_holds_its_digest() {
    let platform = Platform::new(Curve::P384);
    let (f, c) = broker(&platform).await;
    let digest = sha256(INIT_DATA.as_bytes());
    let r = realm(&c, &platform, Some(INIT_DATA), |ch| RealmSpec {
        personalization_value: pad64(&digest),
        ..good(ch)
    })
    .await;
    let ear = r.ear(&f);
    let evidence = &ear["submods"]["cpu0"]["ear.veraison.annotated-evidence"];
    assert_eq!(evidence["init_data"], hex::encode(&digest), "{ear:#}");
    assert_eq!(
        evidence["init_data_claims"]["policy.rego"],
        "package agent_policy"
    );
    assert_eq!(r.secret(), SECRET);

    // Another personalization value (the default 0x66.., and the digest of
    // other init-data): refused, naming the field.
    let other = sha256(b"algorithm = \"sha256\"\n");
    for pv in [RealmSpec::default().personalization_value, pad64(&other)] {
        let r = realm(&c, &platform, Some(INIT_DATA), |ch| RealmSpec {
            personalization_value: pv,
            ..good(ch)
        })
        .await;
        assert_eq!(r.attest.status, 401, "{}", r.attest.text());
        let why = r.attest.text();
        assert!(why.contains("realm.personalization_value"), "{why}");
        assert_eq!(r.resource.status, 401, "{}", r.resource.text());
    }
    assert_eq!(released(&f).await, 1);
}

#[tokio::test]
async fn a_platform_outside_the_secured_lifecycle_states_is_not_affirming() {
    let platform = Platform::new(Curve::P384);
    let (f, c) = broker(&platform).await;
    // Provisioning, RoT debug, decommissioned: defined states, so the token
    // verifies; none is secured (0x3000-0x30ff), so the CCA policy lowers
    // the hardware claim and the default resource policy, which releases
    // only to an affirming token, denies.
    for lifecycle in [0x2000, 0x5003, 0x6000] {
        let r = realm(&c, &platform, None, |ch| RealmSpec {
            lifecycle,
            ..good(ch)
        })
        .await;
        let ear = r.ear(&f);
        let cpu0 = &ear["submods"]["cpu0"];
        assert_eq!(cpu0["ear.status"], "warning", "0x{lifecycle:x}: {ear:#}");
        assert_eq!(
            cpu0["ear.trustworthiness-vector"]["hardware"], 32,
            "0x{lifecycle:x}: {ear:#}"
        );
        assert_eq!(r.resource.status, 401, "{}", r.resource.text());
        let p = r.resource.json();
        assert!(
            p["type"].as_str().unwrap().ends_with("/policy-denied"),
            "{p}"
        );
        let detail = p["detail"].as_str().unwrap();
        assert!(detail.contains("lifecycle"), "0x{lifecycle:x}: {detail}");
    }
    // The last state of the secured range still releases.
    let r = realm(&c, &platform, None, |ch| RealmSpec {
        lifecycle: 0x30ff,
        ..good(ch)
    })
    .await;
    assert_eq!(r.secret(), SECRET);
    assert_eq!(released(&f).await, 1);
}

//! IBM Z Secure Execution guests at the broker, end to end in process, as
//! Trustee and guest-components speak it: `/auth` as tee `se` answers with
//! a challenge whose nonce is the JSON `SeAttestationRequest` (an ARCB for
//! the configured host keys, the request secret sealed under the broker's
//! key, the expected image's header fields); the testkit's Ultravisor plays
//! the guest, with the SHA-512 of the runtime data as its user data;
//! `/attest` opens the sealed secret, verifies the measurement and the
//! binding, and the default SE policy affirms a stored `se.tag`.

mod common;

use std::sync::Arc;

use aws_lc_rs::agreement::{self, ECDH_P256};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::{
    Client, Fixture, Resp, Shared, admin, attest_then_fetch, auth_as, fixture_with, jwk_of,
};
use rootline_broker::appraise::PolicyAppraiser;
use rootline_broker::evidence::{Binding, BindingHash};
use rootline_testkit::se::{Host, Image, Pki, evidence_json};
use serde_json::{Value, json};

const SECRET: &[u8] = b"disk key of an SE guest";
const PATH: &str = "default/key/se";

/// A broker configured in TOML, as an operator writes it, for `host` of
/// `pki` and `image`, with `image`'s tag as the reference value `se.tag`
/// and the secret at `PATH`.
async fn broker(pki: &Pki, host: &Host, image: &Image) -> (Fixture, Client) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let w = |name: &str, b: &[u8]| {
        let p = d.join(name);
        std::fs::write(&p, b).unwrap();
        p
    };
    let toml = format!(
        "data_dir = {:?}\ncollateral_offline = true\n\
         se_host_key_documents = [{:?}]\nse_ibm_signing_key = {:?}\n\
         se_intermediates = [{:?}]\nse_roots = [{:?}]\nse_crls = [{:?}, {:?}, {:?}]\n\
         se_image_hdr_tags = {:?}\nse_sealing_key_file = {:?}\n",
        d,
        w("hkd.crt", &host.der),
        w("signing.crt", &pki.signing_der),
        w("inter.crt", &pki.inter_der),
        w("root.crt", &pki.root_der),
        w("root.crl", &pki.root_crl),
        w("inter.crl", &pki.inter_crl),
        w("signing.crl", &pki.signing_crl(&[])),
        hex::encode(image.hdr_tags),
        w("sealing.key", hex::encode([0x3c_u8; 32]).as_bytes()),
    );
    let cfg = rootline_broker::Config::from_toml(&toml).unwrap();
    let (verifier, _) = rootline_broker::collateral::verifier_from_config(&cfg, None).unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let se = rootline_broker::se::SeConfig::from_config(&cfg, now)
        .unwrap()
        .unwrap();
    let appraiser = PolicyAppraiser::with_defaults(json!({})).unwrap();
    let f = fixture_with(Arc::new(Shared::new()), None, |o| {
        o.verifier.verifier = verifier;
        o.verifier.se = Some(Arc::new(se));
        o.appraiser = Arc::new(appraiser);
    })
    .await;
    let c = Client::in_process(&f.broker);
    let rv = json!({
        "tee": "se",
        "claim": "tag",
        "values": [hex::encode(&image.hdr_tags[192..])],
    });
    let r = admin(
        &c,
        &f.shared.admin_pkcs8,
        "PUT",
        "/admin/v0/reference-values/se-tag",
        rv.to_string().into_bytes(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
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

/// How the guest spoils its answer, if it does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Guest {
    Honest,
    /// Binds other runtime data than it sends.
    WrongBinding,
    /// One bit of the measurement flipped.
    FlippedMeasurement,
    /// Echoes the sealed secret of another session's challenge.
    OtherSessionSecret,
}

struct Outcome {
    attest: Resp,
    resource: Resp,
    tee_key: agreement::PrivateKey,
}

/// A guest as guest-components makes its requests, with `host`'s
/// Ultravisor running `image`.
async fn guest(c: &Client, host: &Host, image: &Image, how: Guest) -> Outcome {
    let (cookie, nonce) = auth_as(c, "se", json!({})).await;
    let ch: Value = serde_json::from_str(&nonce).unwrap();
    let arcb = STANDARD
        .decode(ch["request_blob"].as_str().unwrap())
        .unwrap();
    let tee_key = agreement::PrivateKey::generate(&ECDH_P256).unwrap();
    let runtime = json!({"nonce": nonce, "tee-pubkey": jwk_of(&tee_key)});
    let bound = if how == Guest::WrongBinding {
        json!({"nonce": "another", "tee-pubkey": jwk_of(&tee_key)})
    } else {
        runtime.clone()
    };
    let user_data = Binding::current(&bound, "", BindingHash::Sha512)
        .unwrap()
        .digest;
    assert_eq!(user_data.len(), 64);
    let uv = host.ultravisor(image.clone());
    let mut answer = uv.answer(&arcb, &user_data).unwrap();
    if how == Guest::FlippedMeasurement {
        answer.measurement[9] ^= 0x20;
    }
    let sealed = if how == Guest::OtherSessionSecret {
        let (_, other) = auth_as(c, "se", json!({})).await;
        serde_json::from_str(&other).unwrap()
    } else {
        ch.clone()
    };
    let b = |k: &str| STANDARD.decode(sealed[k].as_str().unwrap()).unwrap();
    let evidence = evidence_json(
        &answer,
        image,
        &user_data,
        &b("encr_measurement_key"),
        &b("encr_request_nonce"),
    );
    let body = json!({
        "runtime-data": runtime,
        "tee-evidence": {"primary_evidence": evidence, "additional_evidence": ""},
    });
    let (attest, resource) = attest_then_fetch(c, &cookie, &body, PATH).await;
    Outcome {
        attest,
        resource,
        tee_key,
    }
}

#[tokio::test]
async fn an_se_guest_answering_the_challenge_gets_its_secret() {
    let pki = Pki::new();
    let host = pki.host(1);
    let image = Image::default();
    let (f, c) = broker(&pki, &host, &image).await;
    let g = guest(&c, &host, &image, Guest::Honest).await;
    assert_eq!(g.attest.status, 200, "{}", g.attest.text());
    let token = g.attest.json()["token"].as_str().unwrap().to_owned();
    let ear = rootline_broker::token::TokenVerifier::new([f.broker.signer().public_point()])
        .verify(&token, f.broker.clock().now())
        .unwrap();
    let cpu0 = &ear["submods"]["cpu0"];
    assert_eq!(cpu0["ear.status"], "affirming", "{ear:#}");
    let claims = &cpu0["ear.veraison.annotated-evidence"]["se"];
    assert_eq!(
        claims["tag"],
        hex::encode(&image.hdr_tags[192..]),
        "{ear:#}"
    );
    assert_eq!(claims["cuid"], hex::encode(image.cuid), "{ear:#}");
    assert_eq!(g.resource.status, 200, "{}", g.resource.text());
    let resp: kbs_types::Response = serde_json::from_slice(&g.resource.body).unwrap();
    assert_eq!(
        rootline_broker::jwe::decrypt_ec(&g.tee_key, &resp).unwrap(),
        SECRET
    );
}

#[tokio::test]
async fn a_spoiled_se_answer_gets_nothing() {
    let pki = Pki::new();
    let host = pki.host(1);
    let image = Image::default();
    let (_f, c) = broker(&pki, &host, &image).await;
    for (how, why) in [
        (Guest::WrongBinding, "does not bind"),
        (Guest::FlippedMeasurement, "measurement"),
        (Guest::OtherSessionSecret, "this session"),
    ] {
        let g = guest(&c, &host, &image, how).await;
        assert_ne!(g.attest.status, 200, "{why}: {}", g.attest.text());
        assert!(g.attest.text().contains(why), "{why}: {}", g.attest.text());
        assert_ne!(g.resource.status, 200, "{why}: {}", g.resource.text());
    }
    // Another image: the Ultravisor's HMAC covers its header fields, which
    // then differ from the challenge's.
    let mut other = Image::default();
    other.hdr_tags[200] ^= 1;
    let g = guest(&c, &host, &other, Guest::Honest).await;
    assert_ne!(g.attest.status, 200, "{}", g.attest.text());
}

#[tokio::test]
async fn a_broker_without_se_settings_refuses_tee_se() {
    let f = fixture_with(Arc::new(Shared::new()), None, |_| {}).await;
    let c = Client::in_process(&f.broker);
    let r = c
        .call(
            "POST",
            "/kbs/v0/auth",
            &[("content-type", "application/json")],
            json!({"version": "0.4.0", "tee": "se", "extra-params": {}})
                .to_string()
                .into_bytes(),
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(r.text().contains("se_host_key_documents"), "{}", r.text());
}

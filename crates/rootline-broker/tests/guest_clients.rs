//! The broker driven by requests shaped exactly as Confidential Containers
//! guests send them (guest-components `kbs_protocol`, which Trustee's
//! `kbs-client` runs too), recorded here as test code rather than captured
//! bytes because every handshake has a fresh nonce:
//! - `/auth`: `{"version":"0.4.0","tee":...,"extra-params":
//!   {"supported-hash-algorithms":["sha256","sha384","sha512","sm3"]}}`;
//! - the binding: hash (the `selected-hash-algorithm`, else SHA-384) of
//!   `serde_json_canonicalizer` over `{"tee-pubkey","nonce",
//!   "additional-evidence"}` (current guests) or `{nonce, tee-pubkey}`
//!   (older guests), computed with the library the guest uses, not ours;
//! - `/attest`: `{"init-data": null, "runtime-data": {nonce, tee-pubkey},
//!   "tee-evidence": {"primary_evidence", "additional_evidence"}}`, the
//!   tee-pubkey `{kty, crv, alg, x, y}` (EC) or `{kty, alg, n, e}` (RSA);
//! - evidence as guest-components' attesters make it: `sample`, `tpm`
//!   (`{"tpm_quote": {signature, message, pcrs}, "ak_public"}` with extraData
//!   the digest cut to 32 bytes) and the simulated TEE;
//! - the answer decrypted after rebuilding the AAD with kbs-types'
//!   `ProtectedHeader::generate_aad` from the parsed response.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use aws_lc_rs::agreement::{self, ECDH_P256, ECDH_P521};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::{Client, Resp, Shared, admin, fixture_with};
use rootline_core::HashAlg;
use rootline_tpm::synthetic::SyntheticAk;
use rootline_tpm::{PcrBank, PcrSelection, PcrValues};
use serde_json::{Value, json};

const ALLOW_ALL: &str = "package policy\nimport rego.v1\ndefault allow := true\n";

/// The guest's key: what it sends as tee-pubkey and how it opens the JWE.
enum TeeKey {
    Ec(agreement::PrivateKey, &'static str),
    Rsa(aws_lc_rs::rsa::PrivateDecryptingKey),
}

impl TeeKey {
    /// The JWK as kbs-types serialises `TeePubKey` (tag first).
    fn jwk(&self) -> Value {
        match self {
            Self::Ec(k, crv) => {
                let p = k.compute_public_key().unwrap();
                let p = p.as_ref();
                let n = (p.len() - 1) / 2;
                json!({"kty": "EC", "crv": crv, "alg": "ECDH-ES+A256KW",
                    "x": URL_SAFE_NO_PAD.encode(&p[1..1 + n]), "y": URL_SAFE_NO_PAD.encode(&p[1 + n..])})
            }
            Self::Rsa(k) => {
                use aws_lc_rs::encoding::AsDer as _;
                use x509_parser::prelude::FromDer as _;
                let spki = k.public_key().as_der().unwrap();
                let (_, spki) =
                    x509_parser::x509::SubjectPublicKeyInfo::from_der(spki.as_ref()).unwrap();
                let x509_parser::public_key::PublicKey::RSA(rsa) = spki.parsed().unwrap() else {
                    panic!()
                };
                json!({"kty": "RSA", "alg": "RSA-OAEP-256",
                    "n": URL_SAFE_NO_PAD.encode(rsa.modulus), "e": URL_SAFE_NO_PAD.encode(rsa.exponent)})
            }
        }
    }

    /// Opens the answer as the guest does: parse into kbs_types::Response,
    /// AAD from `protected.generate_aad()`.
    fn open(&self, body: &[u8]) -> Vec<u8> {
        let resp: kbs_types::Response = serde_json::from_slice(body).unwrap();
        match self {
            Self::Ec(k, _) => rootline_broker::jwe::decrypt_ec(k, &resp).unwrap(),
            Self::Rsa(k) => {
                use aws_lc_rs::encoding::AsDer as _;
                rootline_broker::jwe::decrypt_rsa(k.as_der().unwrap().as_ref(), &resp).unwrap()
            }
        }
    }
}

/// Which runtime data the guest hashes.
#[derive(Clone, Copy, Debug)]
enum Binding {
    /// `{nonce, tee-pubkey, additional-evidence}` (guests since mid-2025).
    Current,
    /// `{nonce, tee-pubkey}`.
    Older,
}

/// The evidence a guest-components attester makes for `report_data`.
enum Attester {
    Sample,
    Tpm(SyntheticAk),
    Sim(rootline_broker::sim::SimKey, [u8; 48]),
}

impl Attester {
    fn tee(&self) -> &'static str {
        match self {
            Self::Sample => "sample",
            Self::Tpm(_) => "tpm",
            Self::Sim(..) => rootline_broker::sim::TEE_NAME,
        }
    }

    fn evidence(&self, report_data: &[u8]) -> Value {
        match self {
            // attester/src/sample: svn and standard base64 of the digest.
            Self::Sample => json!({"svn": "1", "report_data": STANDARD.encode(report_data)}),
            // attester/src/tpm: extraData is the digest resized to 32 bytes,
            // the whole SHA-256 bank quoted, TPMT_SIGNATURE, DER SPKI.
            Self::Tpm(ak) => {
                let mut extra = report_data.to_vec();
                extra.resize(32, 0);
                let sel = PcrSelection {
                    banks: vec![PcrBank::new(HashAlg::SHA256, &(0..24).collect::<Vec<u8>>())],
                };
                let mut vals = PcrValues::new();
                let mut hex_pcrs = Vec::new();
                for i in 0..24u8 {
                    let d = HashAlg::SHA256.hash(&[i]).unwrap().bytes;
                    hex_pcrs.push(hex::encode(&d));
                    vals.insert(HashAlg::SHA256, i, d).unwrap();
                }
                let (attest, sig) = ak.quote(&extra, &sel, &vals).unwrap();
                let spki = ak.ak().unwrap().key.spki_der().unwrap();
                json!({
                    "tpm_quote": {
                        "signature": STANDARD.encode(sig),
                        "message": STANDARD.encode(attest),
                        "pcrs": hex_pcrs,
                    },
                    "ak_public": STANDARD.encode(spki),
                })
            }
            Self::Sim(k, m) => {
                let mut rd = [0u8; 48];
                rd.copy_from_slice(&report_data[..48]);
                k.evidence(m, &[], &rd).unwrap()
            }
        }
    }
}

/// One handshake and one resource request, as `kbs_protocol` makes them.
async fn guest_get(
    c: &Client,
    attester: &Attester,
    key: &TeeKey,
    binding: Binding,
    path: &str,
) -> (Resp, Resp) {
    let auth = json!({
        "version": "0.4.0",
        "tee": attester.tee(),
        "extra-params": {"supported-hash-algorithms": ["sha256", "sha384", "sha512", "sm3"]},
    });
    let r = c
        .call(
            "POST",
            "/kbs/v0/auth",
            &[("content-type", "application/json")],
            auth.to_string().into_bytes(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let cookie = r
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let challenge = r.json();
    let nonce = challenge["nonce"].as_str().unwrap().to_owned();
    let hash = match challenge["extra-params"].get("selected-hash-algorithm") {
        Some(v) => v.as_str().unwrap().to_lowercase(),
        None => "sha384".into(),
    };
    let alg = match hash.as_str() {
        "sha256" => &aws_lc_rs::digest::SHA256,
        "sha384" => &aws_lc_rs::digest::SHA384,
        "sha512" => &aws_lc_rs::digest::SHA512,
        other => panic!("hash {other}"),
    };
    let tee_pubkey = key.jwk();
    let bound = match binding {
        Binding::Current => {
            json!({"tee-pubkey": tee_pubkey, "nonce": nonce, "additional-evidence": ""})
        }
        Binding::Older => json!({"nonce": nonce, "tee-pubkey": tee_pubkey}),
    };
    let canon = serde_json_canonicalizer::to_vec(&bound).unwrap();
    let report_data = aws_lc_rs::digest::digest(alg, &canon).as_ref().to_vec();
    // Serialised in kbs_types::Attestation's field order.
    let body = format!(
        r#"{{"init-data":null,"runtime-data":{{"nonce":{},"tee-pubkey":{}}},"tee-evidence":{{"primary_evidence":{},"additional_evidence":""}}}}"#,
        Value::String(nonce.clone()),
        tee_pubkey,
        attester.evidence(&report_data)
    );
    let attest = c
        .call(
            "POST",
            "/kbs/v0/attest",
            &[("content-type", "application/json"), ("cookie", &cookie)],
            body.into_bytes(),
        )
        .await;
    let res = c
        .call(
            "GET",
            &format!("/kbs/v0/resource/{path}"),
            &[("cookie", &cookie)],
            Vec::new(),
        )
        .await;
    (attest, res)
}

#[tokio::test]
async fn guest_components_requests_for_each_tee_key_and_binding_get_the_secret() {
    let shared = Arc::new(Shared::new());
    let f = fixture_with(shared.clone(), None, |o| o.verifier.insecure_sample = true).await;
    let c = Client::in_process(&f.broker);
    let adm = |m: &'static str, p: &'static str, b: Vec<u8>| {
        let c = c.clone();
        let k = shared.admin_pkcs8.clone();
        async move {
            let r = admin(&c, &k, m, p, b).await;
            assert!(r.status < 300, "{p}: {}", r.text());
        }
    };
    adm("PUT", "/admin/v0/policies/allow_all", ALLOW_ALL.into()).await;
    adm(
        "PUT",
        "/admin/v0/resources/default/key/k1?policy=allow_all",
        b"for any guest".to_vec(),
    )
    .await;
    let attesters = [
        Attester::Sample,
        Attester::Tpm(SyntheticAk::rsa_2048().unwrap()),
        Attester::Sim(shared.sim(), [0x11; 48]),
    ];
    let keys = [
        TeeKey::Ec(
            agreement::PrivateKey::generate(&ECDH_P256).unwrap(),
            "P-256",
        ),
        TeeKey::Ec(
            agreement::PrivateKey::generate(&ECDH_P521).unwrap(),
            "P-521",
        ),
        TeeKey::Rsa(
            aws_lc_rs::rsa::PrivateDecryptingKey::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                .unwrap(),
        ),
    ];
    for attester in &attesters {
        for key in &keys {
            for binding in [Binding::Current, Binding::Older] {
                let what = format!("{} {:?} {}", attester.tee(), binding, key.jwk()["kty"]);
                let (a, r) = guest_get(&c, attester, key, binding, "default/key/k1").await;
                assert_eq!(a.status, 200, "{what}: attest {}", a.text());
                assert_eq!(r.status, 200, "{what}: resource {}", r.text());
                assert_eq!(key.open(&r.body), b"for any guest", "{what}");
            }
        }
    }
}

/// Evidence bound to another key, or to runtime data with other device
/// evidence than what is sent, is refused in both binding forms.
#[tokio::test]
async fn guest_components_binding_to_anything_else_is_refused() {
    let shared = Arc::new(Shared::new());
    let f = fixture_with(shared.clone(), None, |o| o.verifier.insecure_sample = true).await;
    let c = Client::in_process(&f.broker);
    let key = TeeKey::Ec(
        agreement::PrivateKey::generate(&ECDH_P256).unwrap(),
        "P-256",
    );
    let other = TeeKey::Ec(
        agreement::PrivateKey::generate(&ECDH_P256).unwrap(),
        "P-256",
    );
    for attester in [
        Attester::Sample,
        Attester::Tpm(SyntheticAk::rsa_2048().unwrap()),
    ] {
        let (cookie, nonce) = common::auth_as(&c, attester.tee(), json!({})).await;
        // Bound to `other`'s key, sent with `key`'s; then bound with device
        // evidence that is not sent.
        for bound in [
            json!({"tee-pubkey": other.jwk(), "nonce": nonce, "additional-evidence": ""}),
            json!({"tee-pubkey": key.jwk(), "nonce": nonce, "additional-evidence": "{\"nvidia\":{}}"}),
        ] {
            let rd = aws_lc_rs::digest::digest(
                &aws_lc_rs::digest::SHA384,
                &serde_json_canonicalizer::to_vec(&bound).unwrap(),
            );
            let body = json!({
                "runtime-data": {"nonce": nonce, "tee-pubkey": key.jwk()},
                "tee-evidence": {"primary_evidence": attester.evidence(rd.as_ref()), "additional_evidence": ""},
            });
            let r = c
                .call(
                    "POST",
                    "/kbs/v0/attest",
                    &[("cookie", &cookie)],
                    body.to_string().into_bytes(),
                )
                .await;
            assert_eq!(r.status, 401, "{}: {}", attester.tee(), r.text());
            assert!(
                r.text()
                    .contains("does not bind this session's runtime data"),
                "{}",
                r.text()
            );
        }
    }
}

/// Device evidence in `additional_evidence` is named in its own submodule;
/// evidence that does not verify (here an empty device list) is not
/// trusted, and the default policy then denies, saying which device.
#[tokio::test]
async fn device_evidence_gets_its_own_submodule_and_unverified_evidence_denies() {
    let shared = Arc::new(Shared::new());
    let f = fixture_with(shared.clone(), None, |_| {}).await;
    let c = Client::in_process(&f.broker);
    common::provision(&c, &shared, &[0x11; 48], "default/key/1", b"s").await;
    let key = TeeKey::Ec(
        agreement::PrivateKey::generate(&ECDH_P256).unwrap(),
        "P-256",
    );
    let (cookie, nonce) = common::auth_as(&c, rootline_broker::sim::TEE_NAME, json!({})).await;
    let device = json!({"nvidia": {"evidence_list": []}}).to_string();
    let bound = json!({"tee-pubkey": key.jwk(), "nonce": nonce, "additional-evidence": device});
    let rd = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA384,
        &serde_json_canonicalizer::to_vec(&bound).unwrap(),
    );
    let ev = Attester::Sim(shared.sim(), [0x11; 48]).evidence(rd.as_ref());
    let body = json!({
        "runtime-data": {"nonce": nonce, "tee-pubkey": key.jwk()},
        "tee-evidence": {"primary_evidence": ev, "additional_evidence": device},
    });
    let r = c
        .call(
            "POST",
            "/kbs/v0/attest",
            &[("cookie", &cookie)],
            body.to_string().into_bytes(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let tok = r.json()["token"].as_str().unwrap().to_owned();
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(tok.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["submods"]["cpu0"]["ear.status"], "affirming");
    assert_eq!(claims["submods"]["gpu0"]["ear.status"], "contraindicated");
    assert_eq!(
        claims["submods"]["gpu0"]["ear.veraison.annotated-evidence"]["tee"],
        "nvidia"
    );
    let r = c
        .call(
            "GET",
            "/kbs/v0/resource/default/key/1",
            &[("cookie", &cookie)],
            Vec::new(),
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(
        r.text().contains("gpu0") && r.text().contains("nvidia"),
        "{}",
        r.text()
    );
}

/// Trustee's default resource policy's rule (release to any TEE but
/// `sample`, read from the annotated evidence under the TEE's name) runs
/// unchanged on rootline's tokens.
#[tokio::test]
async fn trustee_default_policy_rule_reads_rootline_tokens() {
    let shared = Arc::new(Shared::new());
    let f = fixture_with(shared.clone(), None, |o| o.verifier.insecure_sample = true).await;
    let c = Client::in_process(&f.broker);
    let trustee_default = "package policy\n\ndefault allow = false\n\nplugin = data.plugin\n\nallow if {\n\tplugin == \"resource\"\n\tnot input[\"submods\"][\"cpu0\"][\"ear.veraison.annotated-evidence\"][\"sample\"]\n}\n";
    let r = admin(
        &c,
        &shared.admin_pkcs8,
        "PUT",
        "/admin/v0/policies/trustee_default",
        trustee_default.into(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = admin(
        &c,
        &shared.admin_pkcs8,
        "PUT",
        "/admin/v0/resources/default/key/k1?policy=trustee_default",
        b"not for sample".to_vec(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let key = TeeKey::Ec(
        agreement::PrivateKey::generate(&ECDH_P256).unwrap(),
        "P-256",
    );
    let (a, r) = guest_get(
        &c,
        &Attester::Sample,
        &key,
        Binding::Current,
        "default/key/k1",
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(r.status, 401, "{}", r.text());
    let sim = Attester::Sim(shared.sim(), [0x11; 48]);
    let (a, r) = guest_get(&c, &sim, &key, Binding::Current, "default/key/k1").await;
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(key.open(&r.body), b"not for sample");
}

/// Azure evidence as guest-components' az-snp-vtpm attester sends it
/// (Trustee's real fixture) is read and verified by the broker: it fails
/// only on the binding, since it was made for another nonce, and the
/// refusal names the vTPM quote's extraData.
#[tokio::test]
async fn azure_snp_vtpm_evidence_is_read_and_judged_on_its_binding() {
    let Some(dir) = rootline_testkit::vector("azure/trustee-az-snp-vtpm") else {
        return;
    };
    let evidence: Value =
        serde_json::from_slice(&std::fs::read(dir.join("evidence-v1.json")).unwrap()).unwrap();
    let f = fixture_with(Arc::new(Shared::new()), None, |_| {}).await;
    let c = Client::in_process(&f.broker);
    let key = TeeKey::Ec(
        agreement::PrivateKey::generate(&ECDH_P256).unwrap(),
        "P-256",
    );
    let (cookie, nonce) = common::auth_as(&c, "az-snp-vtpm", json!({})).await;
    let body = json!({
        "runtime-data": {"nonce": nonce, "tee-pubkey": key.jwk()},
        "tee-evidence": {"primary_evidence": evidence, "additional_evidence": ""},
    });
    let r = c
        .call(
            "POST",
            "/kbs/v0/attest",
            &[("cookie", &cookie)],
            body.to_string().into_bytes(),
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(
        r.text()
            .contains("extra_data 6368616c6c656e6765 does not bind"),
        "{}",
        r.text()
    );
}

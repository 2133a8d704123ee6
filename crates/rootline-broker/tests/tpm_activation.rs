//! `/kbs/v0/tpm/activate` and the activation check at `/kbs/v0/attest`, in
//! process, with a synthetic EK (P-256, certified by an rcgen test CA) and a
//! synthetic AK (`rootline_tpm::synthetic`). The TPM's own part, TPM2_
//! ActivateCredential, is exercised against swtpm by the binary's
//! `tpm_activation_cli` test and in the VM by `vm_boot`; here: which EKs and
//! AKs get a credential at all, and which attestations the check refuses.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rootline_broker::evidence::{BindingHash, runtime_data_hash};
use rootline_core::HashAlg;
use rootline_tpm::synthetic::SyntheticAk;
use rootline_tpm::{PcrBank, PcrSelection, PcrValues};
use serde_json::{Value, json};
use time::macros::datetime;

use common::{Client, Resp, Shared};

/// A CA and an EK certificate it issued for `ek`.
fn ca_and_ek_cert(ek: &KeyPair, cn: &str) -> (Vec<u8>, Vec<u8>) {
    let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut ca = CertificateParams::default();
    ca.distinguished_name.push(DnType::CommonName, cn);
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.not_before = datetime!(2020-01-01 00:00 UTC);
    ca.not_after = datetime!(2045-01-01 00:00 UTC);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let mut leaf = CertificateParams::default();
    leaf.distinguished_name
        .push(DnType::CommonName, "synthetic EK");
    leaf.not_before = datetime!(2020-01-01 00:00 UTC);
    leaf.not_after = datetime!(2045-01-01 00:00 UTC);
    let ek_cert = leaf
        .signed_by(ek, &Issuer::from_params(&ca, &ca_key))
        .unwrap();
    (ca_cert.der().to_vec(), ek_cert.der().to_vec())
}

/// The TPMT_PUBLIC of an ECC P-256 EK (the TCG default template's shape:
/// restricted decryption key, AES-128-CFB, fixed to its TPM) for `ek`.
fn ek_public(ek: &KeyPair) -> Vec<u8> {
    let point = ek.public_key_raw(); // 04 || x || y
    let mut t = Vec::new();
    t.extend_from_slice(&0x0023u16.to_be_bytes()); // TPM_ALG_ECC
    t.extend_from_slice(&0x000bu16.to_be_bytes()); // nameAlg SHA-256
    t.extend_from_slice(&0x0003_00b2u32.to_be_bytes()); // fixedTPM|fixedParent|sensitiveDataOrigin|adminWithPolicy|restricted|decrypt
    let policy =
        hex::decode("837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa").unwrap();
    t.extend_from_slice(&32u16.to_be_bytes());
    t.extend_from_slice(&policy);
    t.extend_from_slice(&0x0006u16.to_be_bytes()); // AES
    t.extend_from_slice(&128u16.to_be_bytes());
    t.extend_from_slice(&0x0043u16.to_be_bytes()); // CFB
    t.extend_from_slice(&0x0010u16.to_be_bytes()); // scheme NULL
    t.extend_from_slice(&0x0003u16.to_be_bytes()); // NIST P-256
    t.extend_from_slice(&0x0010u16.to_be_bytes()); // kdf NULL
    for coord in [&point[1..33], &point[33..65]] {
        t.extend_from_slice(&32u16.to_be_bytes());
        t.extend_from_slice(coord);
    }
    t
}

async fn auth(c: &Client, tee: &str) -> (String, String) {
    let r = c
        .call(
            "POST",
            "/kbs/v0/auth",
            &[("content-type", "application/json")],
            json!({"version": "0.4.0", "tee": tee})
                .to_string()
                .into_bytes(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let cookie = r.header("set-cookie").unwrap().split(';').next().unwrap();
    (
        cookie.to_owned(),
        r.json()["nonce"].as_str().unwrap().to_owned(),
    )
}

async fn post(c: &Client, path: &str, cookie: Option<&str>, body: &Value) -> Resp {
    let mut h = vec![("content-type", "application/json")];
    if let Some(ck) = cookie {
        h.push(("cookie", ck));
    }
    c.call("POST", path, &h, body.to_string().into_bytes())
        .await
}

fn activation(ek_cert: &[u8], ek_pub: &[u8], ak_pub: &[u8]) -> Value {
    json!({
        "ek_cert": STANDARD.encode(ek_cert),
        "ek_public": STANDARD.encode(ek_pub),
        "ak_public": STANDARD.encode(ak_pub),
    })
}

#[tokio::test]
async fn credentials_only_for_a_certified_ek_and_a_restricted_ak() {
    let f = common::fixture_with(Shared::new().into(), None, |_| {}).await;
    let ek = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let (ca, ek_cert) = ca_and_ek_cert(&ek, "test EK CA");
    let ek_pub = ek_public(&ek);
    let ak = SyntheticAk::ecc_p256().unwrap();
    let ak_pub = ak.tpmt_public().raw.clone();
    let c = Client::in_process(&f.broker);
    let (cookie, _) = auth(&c, "tpm").await;
    let good = activation(&ek_cert, &ek_pub, &ak_pub);

    // No EK CA configured: nothing to activate against.
    let r = post(&c, "/kbs/v0/tpm/activate", Some(&cookie), &good).await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("trusts no EK CA"), "{}", r.text());

    f.broker.trust_ek_roots(std::slice::from_ref(&ca)).unwrap();
    let r = post(&c, "/kbs/v0/tpm/activate", Some(&cookie), &good).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    let blob = STANDARD
        .decode(v["credential_blob"].as_str().unwrap())
        .unwrap();
    let enc = STANDARD
        .decode(v["encrypted_secret"].as_str().unwrap())
        .unwrap();
    // TPM2B_ID_OBJECT: size, integrity HMAC (TPM2B, SHA-256), encrypted
    // TPM2B secret (2 + 32 bytes); TPM2B_ENCRYPTED_SECRET for an ECC EK: an
    // ephemeral point, two 32-byte coordinates.
    assert_eq!(
        blob.len(),
        2 + (2 + 32) + (2 + 32),
        "{}",
        hex::encode(&blob)
    );
    assert_eq!(enc.len(), 2 + (2 + 32) + (2 + 32));

    // Without a session, or in a session for another TEE.
    let r = post(&c, "/kbs/v0/tpm/activate", None, &good).await;
    assert_eq!(r.status, 401);
    let (sim_cookie, _) = auth(&c, "rootline-sim").await;
    let r = post(&c, "/kbs/v0/tpm/activate", Some(&sim_cookie), &good).await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("for tee tpm"), "{}", r.text());

    // An EK certificate from a CA the broker does not trust.
    let (_, stranger_cert) = ca_and_ek_cert(&ek, "someone else's CA");
    let r = post(
        &c,
        "/kbs/v0/tpm/activate",
        Some(&cookie),
        &activation(&stranger_cert, &ek_pub, &ak_pub),
    )
    .await;
    assert_eq!(r.status, 401);
    assert!(r.text().contains("EK certificate"), "{}", r.text());

    // An EK public area that is not the certified key.
    let other = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let r = post(
        &c,
        "/kbs/v0/tpm/activate",
        Some(&cookie),
        &activation(&ek_cert, &ek_public(&other), &ak_pub),
    )
    .await;
    assert_eq!(r.status, 401);
    assert!(r.text().contains("does not carry the key"), "{}", r.text());

    // An EK area that signs (not a storage key), and an AK that is not
    // restricted: refused by attributes.
    let mut signing_ek = ek_pub.clone();
    signing_ek[4..8].copy_from_slice(&0x0005_00b2u32.to_be_bytes());
    let r = post(
        &c,
        "/kbs/v0/tpm/activate",
        Some(&cookie),
        &activation(&ek_cert, &signing_ek, &ak_pub),
    )
    .await;
    assert_eq!(r.status, 401);
    assert!(
        r.text().contains("restricted decryption key"),
        "{}",
        r.text()
    );
    let mut loose_ak = ak_pub.clone();
    let attrs = u32::from_be_bytes(loose_ak[4..8].try_into().unwrap()) & !(1 << 16);
    loose_ak[4..8].copy_from_slice(&attrs.to_be_bytes());
    let r = post(
        &c,
        "/kbs/v0/tpm/activate",
        Some(&cookie),
        &activation(&ek_cert, &ek_pub, &loose_ak),
    )
    .await;
    assert_eq!(r.status, 401);
    assert!(r.text().contains("restricted signing key"), "{}", r.text());

    // Malformed input.
    let r = post(
        &c,
        "/kbs/v0/tpm/activate",
        Some(&cookie),
        &json!({"ek_cert": "***", "ek_public": "", "ak_public": ""}),
    )
    .await;
    assert_eq!(r.status, 400);
    let r = post(
        &c,
        "/kbs/v0/tpm/activate",
        Some(&cookie),
        &json!({"ek_cert": "", "ek_public": "", "ak_public": "", "extra": 1}),
    )
    .await;
    assert_eq!(r.status, 400);

    // Rejections are audited.
    let rows = f.broker.store().list_audit(50).await.unwrap();
    assert!(
        rows.iter()
            .any(|r| r.policy == "tpm-activation" && r.reason.contains("EK certificate")),
        "{rows:?}"
    );
}

/// Trustee-shaped TPM evidence: `ak` quotes PCRs 0-7 with `extra` as
/// qualifying data.
fn evidence(ak: &SyntheticAk, extra: &[u8]) -> Value {
    let sel = PcrSelection {
        banks: vec![PcrBank::new(HashAlg::SHA256, &(0..8).collect::<Vec<u8>>())],
    };
    let mut vals = PcrValues::new();
    let mut list = Vec::new();
    for i in 0..8u8 {
        list.push("00".repeat(32));
        vals.insert(HashAlg::SHA256, i, vec![0; 32]).unwrap();
    }
    // The signature as the attester sends it: a marshalled TPMT_SIGNATURE.
    let (attest, sig) = ak.quote(extra, &sel, &vals).unwrap();
    let spki = ak.ak().unwrap().key.spki_der().unwrap();
    json!({
        "ak_pubkey": format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", STANDARD.encode(spki)),
        "quote": {"sha256": {
            "attest_body": STANDARD.encode(&attest),
            "attest_sig": STANDARD.encode(&sig),
            "pcrs": list,
        }},
    })
}

#[tokio::test]
async fn attestation_needs_a_proof_for_the_quoting_ak_when_ek_cas_are_trusted() {
    let f = common::fixture_with(Shared::new().into(), None, |_| {}).await;
    let ek = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let (ca, ek_cert) = ca_and_ek_cert(&ek, "test EK CA");
    f.broker.trust_ek_roots(&[ca]).unwrap();
    let ak = SyntheticAk::ecc_p256().unwrap();
    let c = Client::in_process(&f.broker);
    let key = aws_lc_rs::agreement::PrivateKey::generate(&aws_lc_rs::agreement::ECDH_P256).unwrap();
    let attest = |nonce: &str, ev: Value| {
        let runtime = json!({"nonce": nonce, "tee-pubkey": common::jwk_of(&key)});
        json!({
            "runtime-data": runtime,
            "tee-evidence": {"primary_evidence": ev, "additional_evidence": ""},
        })
    };
    let bound = |nonce: &str| {
        let runtime = json!({"nonce": nonce, "tee-pubkey": common::jwk_of(&key)});
        runtime_data_hash(&runtime, BindingHash::Sha384).unwrap()
    };

    // A valid quote, no activation: the AK is not proven.
    let (cookie, nonce) = auth(&c, "tpm").await;
    let ev = evidence(&ak, &bound(&nonce));
    let r = post(
        &c,
        "/kbs/v0/attest",
        Some(&cookie),
        &attest(&nonce, ev.clone()),
    )
    .await;
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(r.text().contains("AK is not proven"), "{}", r.text());

    // A proof under a secret the broker never issued.
    let (cookie, nonce) = auth(&c, "tpm").await;
    let mut ev = evidence(&ak, &bound(&nonce));
    ev["tpm_activation"] = json!({
        "ek_cert": STANDARD.encode(&ek_cert),
        "ak_public": STANDARD.encode(&ak.tpmt_public().raw),
        "proof": STANDARD.encode([0u8; 32]),
    });
    let r = post(&c, "/kbs/v0/attest", Some(&cookie), &attest(&nonce, ev)).await;
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(r.text().contains("proof does not verify"), "{}", r.text());

    // Activation claimed for another AK than the one that quoted.
    let (cookie, nonce) = auth(&c, "tpm").await;
    let mut ev = evidence(&ak, &bound(&nonce));
    let other = SyntheticAk::ecc_p256().unwrap();
    ev["tpm_activation"] = json!({
        "ek_cert": STANDARD.encode(&ek_cert),
        "ak_public": STANDARD.encode(&other.tpmt_public().raw),
        "proof": STANDARD.encode([0u8; 32]),
    });
    let r = post(&c, "/kbs/v0/attest", Some(&cookie), &attest(&nonce, ev)).await;
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(r.text().contains("not the key that signed"), "{}", r.text());

    // Every refusal is in the audit log.
    let rows = f.broker.store().list_audit(50).await.unwrap();
    assert_eq!(
        rows.iter()
            .filter(|r| r.result == "rejected" && r.reason.starts_with("attestation rejected: tpm:"))
            .count(),
        3,
        "{rows:?}"
    );
}

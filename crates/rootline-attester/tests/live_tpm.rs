//! The TPM backend against a live swtpm started by the test (state, CA and
//! unix sockets in a temporary directory): quotes made through tss-esapi
//! verify with `rootline-verifier`, credential activation round-trips with
//! the pure-Rust MakeCredential, and the EK certificate chains to the
//! test's private CA. Needs swtpm and swtpm-tools; skips with a reason when
//! they are absent, except under CI.
// Drives a TPM through tss-esapi: only with the `tpm` feature.
#![cfg(feature = "tpm")]

use rootline_attester::swtpm::{self, Swtpm};
use rootline_attester::tpm::{KeyAlg, Tpm};
use rootline_attester::tpm_evidence;
use rootline_core::{HashAlg, TeeKind};
use rootline_tpm::TpmtPublic;
use rootline_tpm::certs::{certificates_from_bytes, verify_chain};
use rootline_verifier::{Request, verify};

fn start() -> Option<(tempfile::TempDir, Swtpm)> {
    if !swtpm::installed() {
        let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false");
        assert!(
            !ci,
            "swtpm missing and CI is set: apt-get install swtpm swtpm-tools"
        );
        eprintln!("skipping: swtpm not installed (apt-get install swtpm swtpm-tools)");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let t = Swtpm::start(dir.path()).unwrap();
    Some((dir, t))
}

fn verify_evidence(evidence: &serde_json::Value, nonce: &[u8]) -> rootline_verifier::Outcome {
    verify(&Request {
        evidence: serde_json::to_vec(evidence).unwrap(),
        tee: Some(TeeKind::Tpm),
        nonce: Some(nonce.to_vec()),
        ..Default::default()
    })
}

#[test]
fn quotes_from_tss_esapi_verify_with_the_nonce() {
    let Some((_dir, t)) = start() else { return };
    let mut tpm = Tpm::open(&t.tcti()).unwrap();
    let ek = tpm.create_ek(KeyAlg::Rsa2048).unwrap();
    for alg in [KeyAlg::EccP256, KeyAlg::Rsa2048] {
        let ak = tpm.create_ak(&ek, alg).unwrap();
        // Something measured into PCR 16 and PCR 23 in both banks.
        let m = [(HashAlg::SHA256, 16u8), (HashAlg::SHA384, 23u8)];
        for (bank, pcr) in m {
            let d = bank.hash(b"rootline attester test").unwrap();
            tpm.pcr_extend(pcr, &[d]).unwrap();
        }
        let sel = vec![
            (HashAlg::SHA256, vec![0, 7, 16]),
            (HashAlg::SHA384, vec![0, 23]),
        ];
        let nonce = HashAlg::SHA384.hash(b"report data").unwrap().bytes;
        let ev = tpm_evidence::collect(&mut tpm, &ak, &sel, &nonce, None).unwrap();
        let out = verify_evidence(&ev, &nonce);
        assert!(out.verified, "{alg:?}: {:?}", out.error);
        // PCR 16 holds what was extended into it (once per AK so far).
        let mut want = HashAlg::SHA256.zero().unwrap();
        let m = HashAlg::SHA256
            .hash(b"rootline attester test")
            .unwrap()
            .bytes;
        let times = if alg == KeyAlg::EccP256 { 1 } else { 2 };
        for _ in 0..times {
            want.extend(&m);
        }
        assert_eq!(
            out.claims["pcrs"]["sha256"]["16"].as_str().unwrap(),
            want.hex()
        );
        assert_eq!(
            out.claims["extra_data"].as_str().unwrap(),
            hex::encode(&nonce)
        );

        // Another nonce: rejected, and the failure names it.
        let other = HashAlg::SHA384.hash(b"another").unwrap().bytes;
        let out = verify_evidence(&ev, &other);
        assert!(!out.verified);
        assert!(
            out.error.as_deref().unwrap().contains("nonce"),
            "{:?}",
            out.error
        );

        // A PCR value changed after quoting: rejected.
        let mut forged = ev.clone();
        let mut flipped = want.bytes.clone();
        flipped[0] ^= 1;
        forged["quote"]["sha256"]["pcrs"][2] = hex::encode(flipped).into();
        let out = verify_evidence(&forged, &nonce);
        assert!(!out.verified, "a changed PCR value verified");

        tpm.flush_ak(ak).unwrap();
    }
    tpm.flush_ek(ek).unwrap();
}

#[test]
fn ak_saved_and_loaded_again_quotes_with_the_same_key() {
    let Some((_dir, t)) = start() else { return };
    let (public, private) = {
        let mut tpm = Tpm::open(&t.tcti()).unwrap();
        let ek = tpm.create_ek(KeyAlg::EccP256).unwrap();
        let ak = tpm.create_ak(&ek, KeyAlg::EccP256).unwrap();
        let saved = (ak.public.clone(), ak.private.clone());
        tpm.flush_ak(ak).unwrap();
        tpm.flush_ek(ek).unwrap();
        saved
    };
    // A new connection (a new process, in real use).
    let mut tpm = Tpm::open(&t.tcti()).unwrap();
    let ek = tpm.create_ek(KeyAlg::EccP256).unwrap();
    let ak = tpm
        .load_ak(&ek, KeyAlg::EccP256, &public, &private)
        .unwrap();
    assert_eq!(ak.public, public);
    let nonce = [7u8; 32];
    let ev = tpm_evidence::collect(
        &mut tpm,
        &ak,
        &[(HashAlg::SHA256, vec![0, 1])],
        &nonce,
        Some(b"not a log"),
    )
    .unwrap();
    assert_eq!(ev["ak_pubkey"], tpm_evidence::ak_pem(&ak).unwrap().as_str());
    // The log that came along is refused by the replay, naming the log.
    let out = verify_evidence(&ev, &nonce);
    assert!(!out.verified);
    assert!(
        out.error.as_deref().unwrap().contains("log"),
        "{:?}",
        out.error
    );
    let mut no_log = ev.clone();
    no_log.as_object_mut().unwrap().remove("eventlog");
    assert!(verify_evidence(&no_log, &nonce).verified);
}

#[test]
fn credential_activation_round_trip_and_ek_certificate() {
    let Some((_dir, t)) = start() else { return };
    let mut tpm = Tpm::open(&t.tcti()).unwrap();

    // The RSA EK's certificate (swtpm_setup wrote it) chains to the test's CA
    // and certifies the key the TCG template recreates.
    let cert = tpm
        .ek_certificate(KeyAlg::Rsa2048)
        .unwrap()
        .expect("EK certificate in NV");
    let issuer = certificates_from_bytes(&std::fs::read(t.ca_issuer()).unwrap()).unwrap();
    let roots = certificates_from_bytes(&std::fs::read(t.ca_root()).unwrap()).unwrap();
    let chain = verify_chain(&cert, &issuer, &roots, time::OffsetDateTime::now_utc()).unwrap();

    for ek_alg in [KeyAlg::Rsa2048, KeyAlg::EccP256] {
        let ek = tpm.create_ek(ek_alg).unwrap();
        let ek_pub = TpmtPublic::parse(&ek.public).unwrap();
        if ek_alg == KeyAlg::Rsa2048 {
            assert_eq!(&chain.leaf_key, ek_pub.public_key().unwrap());
        }
        let ak = tpm.create_ak(&ek, KeyAlg::EccP256).unwrap();
        // The name the verifier computes from the AK's public area is the TPM's.
        let ak_pub = TpmtPublic::parse(&ak.public).unwrap();
        assert_eq!(ak_pub.name().unwrap(), ak.name);

        let secret = b"activate me: 0123456789abcdef";
        let (blob, enc) = rootline_tpm::make_credential(&ek_pub, &ak.name, secret).unwrap();
        let got = tpm.activate_credential(&ak, &ek, &blob, &enc).unwrap();
        assert_eq!(got, secret, "{ek_alg:?} EK");

        // A credential made for another name does not activate.
        let mut wrong = ak.name.clone();
        *wrong.last_mut().unwrap() ^= 1;
        let (blob, enc) = rootline_tpm::make_credential(&ek_pub, &wrong, secret).unwrap();
        assert!(tpm.activate_credential(&ak, &ek, &blob, &enc).is_err());

        tpm.flush_ak(ak).unwrap();
        tpm.flush_ek(ek).unwrap();
    }
}

/// guest-components' TPM evidence from a real (software) TPM: RSA AK, all
/// 24 SHA-256 PCRs, the 48-byte report data cut to 32 bytes of qualifying
/// data. rootline's verifier reads it, and the extraData is that cut.
#[test]
fn guest_components_tpm_form_from_swtpm_verifies() {
    let Some((_dir, t)) = start() else { return };
    let mut a = rootline_attester::evidence::TpmAttester::new(t.tcti());
    let report_data = HashAlg::SHA384.hash(b"runtime data").unwrap().bytes;
    let ev = rootline_attester::Attester::guest_components_evidence(&mut a, &report_data).unwrap();
    assert_eq!(ev["tpm_quote"]["pcrs"].as_array().unwrap().len(), 24);
    assert!(ev.get("ak_public").is_some() && ev.get("ak_pubkey").is_none());
    let out = verify_evidence(&ev, &report_data[..32]);
    assert!(out.verified, "{:?}", out.error);
    assert_eq!(out.claims["evidence_form"], "guest-components tpm evidence");
    assert_eq!(out.claims["extra_data"], hex::encode(&report_data[..32]));
}

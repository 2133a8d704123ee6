//! Every real TPM quote vector in the shared folder verifies with its nonce,
//! its AK and its PCR values; one-bit flips of the quote, the signature, the
//! nonce and a PCR value are each rejected for the right reason.

use std::fs;
use std::path::Path;

use base64::Engine as _;
use rootline_core::HashAlg;
use rootline_tpm::certs::{certificates_from_bytes, verify_ak_certificate, verify_chain};
use rootline_tpm::{AkPublic, PcrValues, QuoteCheck, TpmtPublic, TpmtSignature, verify_quote};
use serde_json::Value;
use time::macros::datetime;

struct Case {
    attest: Vec<u8>,
    sig: Vec<u8>,
    ak: AkPublic,
    nonce: Vec<u8>,
    pcrs: PcrValues,
}

fn read(p: &Path) -> Vec<u8> {
    fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn check(c: &Case) -> Result<rootline_tpm::QuoteClaims, rootline_tpm::Error> {
    let sig = TpmtSignature::parse(&c.sig)?;
    verify_quote(&QuoteCheck {
        attest: &c.attest,
        signature: &sig,
        ak: &c.ak,
        nonce: Some(&c.nonce),
        pcrs: Some(&c.pcrs),
    })
    .map(|v| v.into_inner())
}

/// Flips one bit in each input and asserts the named check fails.
fn flips_are_rejected(c: &Case, pcr: (HashAlg, u8)) {
    // Quote: a bit in the clock (signed, not a length field).
    let mut q = Case {
        attest: c.attest.clone(),
        ..clone(c)
    };
    let at = 6 + 2 + q.attest[7] as usize + 2; // past magic, type, qualifiedSigner
    let at = at + u16::from_be_bytes([q.attest[at - 2], q.attest[at - 1]]) as usize + 1;
    q.attest[at] ^= 0x01;
    assert_eq!(check(&q).unwrap_err().check(), "signature");
    // Signature: the last byte.
    let mut s = clone(c);
    let last = s.sig.len() - 1;
    s.sig[last] ^= 0x80;
    assert_eq!(check(&s).unwrap_err().check(), "signature");
    // Nonce.
    let mut n = clone(c);
    if n.nonce.is_empty() {
        n.nonce.push(0);
    } else {
        n.nonce[0] ^= 1;
    }
    let e = check(&n).unwrap_err();
    assert_eq!(e.check(), "nonce", "{e}");
    // A PCR value.
    let mut p = clone(c);
    let mut v = p.pcrs.get(pcr.0, pcr.1).unwrap().to_vec();
    v[0] ^= 1;
    p.pcrs.insert(pcr.0, pcr.1, v).unwrap();
    let e = check(&p).unwrap_err();
    assert_eq!(e.check(), "pcr_digest", "{e}");
    assert!(e.to_string().contains("pcr digest check failed"), "{e}");
}

fn clone(c: &Case) -> Case {
    Case {
        attest: c.attest.clone(),
        sig: c.sig.clone(),
        ak: c.ak.clone(),
        nonce: c.nonce.clone(),
        pcrs: c.pcrs.clone(),
    }
}

fn json(p: &Path) -> Value {
    serde_json::from_slice(&read(p)).unwrap()
}

fn assert_attest(claims: &rootline_tpm::QuoteClaims, want: &Value) {
    let a = &claims.attest;
    assert_eq!(a.clock_info.clock, want["clock"].as_u64().unwrap());
    assert_eq!(
        u64::from(a.clock_info.reset_count),
        want["reset_count"].as_u64().unwrap()
    );
    assert_eq!(
        u64::from(a.clock_info.restart_count),
        want["restart_count"].as_u64().unwrap()
    );
    assert_eq!(
        format!("{:#018x}", a.firmware_version),
        want["firmware_version"].as_str().unwrap()
    );
    assert_eq!(
        hex::encode(&a.qualified_signer),
        want["qualified_signer"].as_str().unwrap()
    );
    assert_eq!(
        hex::encode(&a.extra_data),
        want["extra_data"].as_str().unwrap()
    );
    let (_, digest) = a.quote_info().unwrap();
    assert_eq!(hex::encode(digest), want["pcr_digest"].as_str().unwrap());
}

#[test]
fn keylime_swtpm_quote() {
    let Some(dir) = rootline_testkit::vector("tpm-quote/keylime-swtpm") else {
        return;
    };
    let want = json(&dir.join("expected.json"));
    let want = &want["quote.out"];
    let (_, pcrs) = PcrValues::from_tpm2_tools(&read(&dir.join("quotepcr.out"))).unwrap();
    let nonce = hex::decode(want["attest"]["extra_data"].as_str().unwrap()).unwrap();
    // The AK both as PEM and as TPM2B_PUBLIC; the latter also gives its name.
    for ak_file in ["akpub.pem", "ak.pub"] {
        let ak = AkPublic::from_bytes(&read(&dir.join(ak_file))).unwrap();
        let case = Case {
            attest: read(&dir.join("quote.out")),
            sig: read(&dir.join("quotesig.out")),
            ak,
            nonce: nonce.clone(),
            pcrs: pcrs.clone(),
        };
        let claims = check(&case).unwrap();
        assert_attest(&claims, &want["attest"]);
        assert_eq!(claims.signature_hash, HashAlg::SHA256);
        assert_eq!(claims.selection.pairs().len(), 3);
        if ak_file == "ak.pub" {
            assert_eq!(
                claims.ak_name.as_deref(),
                Some(&read(&dir.join("ak.name"))[..])
            );
            assert_eq!(claims.ak_restricted, Some(true));
        }
        flips_are_rejected(&case, (HashAlg::SHA256, 16));
    }
    // Same fingerprint whichever form the AK came in.
    let a = AkPublic::from_bytes(&read(&dir.join("akpub.pem"))).unwrap();
    let b = AkPublic::from_bytes(&read(&dir.join("ak.pub"))).unwrap();
    assert_eq!(a.key.fingerprint().unwrap(), b.key.fingerprint().unwrap());
}

#[test]
fn go_tpm_tools_gce_quotes_and_ak_certificate() {
    let Some(dir) = rootline_testkit::vector("tpm-quote/go-tpm-tools") else {
        return;
    };
    let want = json(&dir.join("expected.json"));
    let want = &want["gce-cos-85-no-nonce.pb"];
    let tpmt = TpmtPublic::parse(&read(
        &dir.join("gce-cos-85-no-nonce.ak_pub.tpmt_public.bin"),
    ))
    .unwrap();
    let ak = AkPublic::from_tpmt(tpmt).unwrap();
    for (i, bank) in ["sha1", "sha256", "sha384"].iter().enumerate() {
        let w = &want["quotes"][i];
        let alg = HashAlg::from_name(bank).unwrap();
        let mut pcrs = PcrValues::new();
        for (idx, v) in w["pcrs"].as_object().unwrap() {
            pcrs.insert(
                alg,
                idx.parse().unwrap(),
                hex::decode(v.as_str().unwrap()).unwrap(),
            )
            .unwrap();
        }
        let case = Case {
            attest: read(&dir.join(format!(
                "gce-cos-85-no-nonce.quote{i}_{bank}.tpms_attest.bin"
            ))),
            sig: read(&dir.join(format!(
                "gce-cos-85-no-nonce.quote{i}_{bank}.tpmt_signature.bin"
            ))),
            ak: ak.clone(),
            nonce: Vec::new(),
            pcrs,
        };
        let claims = check(&case).unwrap();
        assert_attest(&claims, &w["attest"]);
        assert_eq!(claims.selection.banks[0].hash, alg);
        flips_are_rejected(&case, (alg, 7));
    }

    // The AK certificate chains to Google's EK/AK root and certifies this AK.
    let ca = dir.join("gce-ca-certs");
    let root = read(&ca.join("tpm_ek_root_1.cer"));
    let inters = vec![
        read(&ca.join("tpm_ek_intermediate_2.crt")),
        read(&ca.join("tpm_ek_intermediate_3.crt")),
    ];
    let cert = read(&dir.join("gce-cos-85-no-nonce.ak_cert.der"));
    let at = datetime!(2024-01-01 0:00 UTC);
    let chain =
        verify_ak_certificate(&cert, &ak.key, &inters, std::slice::from_ref(&root), at).unwrap();
    assert_eq!(chain.subjects.len(), 3, "{:?}", chain.subjects);
    // Without the intermediate, or against another root, or at a time
    // outside validity, the chain fails.
    let e = verify_chain(&cert, &[], std::slice::from_ref(&root), at).unwrap_err();
    assert_eq!(e.check(), "chain", "{e}");
    let other_root = read(&ca.join("gcp_ek_ak_ca_root.crt"));
    let e = verify_chain(&cert, &inters, &[other_root], at).unwrap_err();
    assert_eq!(e.check(), "chain", "{e}");
    let e = verify_chain(
        &cert,
        &inters,
        std::slice::from_ref(&root),
        datetime!(2060-01-01 0:00 UTC),
    )
    .unwrap_err();
    assert_eq!(e.check(), "validity", "{e}");
    // A different key than the certified one.
    let keylime = rootline_testkit::vector("tpm-quote/keylime-swtpm/akpub.pem").unwrap();
    let other = AkPublic::from_bytes(&read(&keylime)).unwrap();
    let e = verify_ak_certificate(&cert, &other.key, &inters, &[root], at).unwrap_err();
    assert_eq!(e.check(), "mismatch", "{e}");
}

#[test]
fn go_attestation_windows_gcp_quote() {
    let Some(dir) = rootline_testkit::vector("tpm-quote/go-attestation") else {
        return;
    };
    let want = json(&dir.join("expected.json"));
    let want = &want["windows_gcp_shielded_vm.json"];
    let v = json(&dir.join("windows_gcp_shielded_vm.json"));
    let b64 = |v: &Value| {
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap()
    };
    let ak = AkPublic::from_tpmt(TpmtPublic::parse(&b64(&v["AK"]["Public"])).unwrap()).unwrap();
    assert_eq!(
        hex::encode(ak.name().unwrap().unwrap()),
        want["ak_name"].as_str().unwrap()
    );
    let mut pcrs = PcrValues::new();
    for p in v["Log"]["PCRs"].as_array().unwrap() {
        // DigestAlg is Go's crypto.Hash: 3 = SHA-1.
        assert_eq!(p["DigestAlg"], 3);
        pcrs.insert(
            HashAlg::SHA1,
            p["Index"].as_u64().unwrap() as u8,
            b64(&p["Digest"]),
        )
        .unwrap();
    }
    let case = Case {
        attest: b64(&v["Quote"]["Quote"]),
        sig: b64(&v["Quote"]["Signature"]),
        ak,
        nonce: b64(&v["Quote"]["Nonce"]),
        pcrs,
    };
    let claims = check(&case).unwrap();
    assert_attest(&claims, &want["attest"]);
    assert_eq!(claims.signature_hash, HashAlg::SHA1);
    flips_are_rejected(&case, (HashAlg::SHA1, 0));

    // The AK's creation attestation (TPM_ST_ATTEST_CREATION) is signed by the AK too.
    let sig = TpmtSignature::parse(&b64(&v["AK"]["CreateSignature"])).unwrap();
    let created = rootline_tpm::Attest::parse(&b64(&v["AK"]["CreateAttestation"])).unwrap();
    assert_eq!(created.tag, rootline_tpm::StructureTag::ATTEST_CREATION);
    sig.verify(&case.ak.key, &created.raw, "creation").unwrap();
    // ... but it is not a quote.
    let e = verify_quote(&QuoteCheck {
        attest: &created.raw,
        signature: &sig,
        ak: &case.ak,
        nonce: None,
        pcrs: None,
    })
    .unwrap_err();
    assert_eq!(e.check(), "type", "{e}");
}

#[test]
fn ovmf_swtpm_quotes_and_ek_certificates() {
    let Some(base) = rootline_testkit::vector("ovmf-swtpm") else {
        return;
    };
    let root = certificates_from_bytes(&read(&base.join("swtpm-localca-rootca-cert.pem"))).unwrap();
    let issuer = certificates_from_bytes(&read(&base.join("issuercert.pem"))).unwrap();
    for folder in ["kernel-direct-ekcert-tpm", "uki-esp-ekcert-tpm"] {
        let dir = base.join(folder);
        let (selection, pcrs) = PcrValues::from_tpm2_tools(&read(&dir.join("quote.pcrs"))).unwrap();
        assert_eq!(selection.pairs().len(), 24);
        let nonce = hex::decode(fs::read_to_string(dir.join("nonce.hex")).unwrap().trim()).unwrap();
        let case = Case {
            attest: read(&dir.join("quote.msg")),
            sig: read(&dir.join("quote.sig")),
            ak: AkPublic::from_bytes(&read(&dir.join("ak.pub"))).unwrap(),
            nonce,
            pcrs,
        };
        let claims = check(&case).unwrap();
        assert_eq!(claims.signature_scheme, rootline_tpm::AlgId::ECDSA);
        // PCR 0 as verify.txt records it.
        let verify = fs::read_to_string(dir.join("verify.txt")).unwrap();
        let pcr0 = verify.lines().find(|l| l.starts_with("PCR 0 ")).unwrap();
        assert!(pcr0.contains(&hex::encode(case.pcrs.get(HashAlg::SHA256, 0).unwrap())));
        flips_are_rejected(&case, (HashAlg::SHA256, 9));

        // EK certificates (RSA and ECC) chain to the local CA and certify the EK.
        let at = datetime!(2026-11-28 0:00 UTC);
        let ek = TpmtPublic::parse_tpm2b(&read(&dir.join("ek.pub"))).unwrap();
        for cert in ["nv_0x1c00002.der", "nv_0x1c00016.der"] {
            let chain = verify_chain(&read(&dir.join(cert)), &issuer, &root, at)
                .unwrap_or_else(|e| panic!("{folder}/{cert}: {e}"));
            assert_eq!(chain.subjects.len(), 3);
            if cert == "nv_0x1c00002.der" {
                assert_eq!(&chain.leaf_key, ek.public_key().unwrap());
            }
        }
        // Not without the issuer, nor against the issuer as a root of another chain.
        let e = verify_chain(&read(&dir.join("nv_0x1c00002.der")), &[], &root, at).unwrap_err();
        assert_eq!(e.check(), "chain");
    }
}

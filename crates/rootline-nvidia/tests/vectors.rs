//! The real NVIDIA vectors in ../shared/vectors/nvidia, read in place: every
//! one gives its expected verdict and claims (expected.json of each folder,
//! trustee's claims for nvtrust's Hopper report), the MUST-FAIL chains
//! included; one-bit flips of every signed byte and truncations are
//! rejected without panic.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::time::Instant;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rootline_nvidia::certs::{self, TrustRoots};
use rootline_nvidia::{
    Arch, Error, Evidence, Options, Rim, SpdmReport, Verifier, c14n, decode, detect, guest_nonce,
    verify,
};
use serde_json::{Value, json};

/// A fixed verification time (2026-01-01): every NVIDIA certificate here is
/// valid from 2020-2023 to 9999.
const AT: i64 = 1_767_225_600;

fn read(rel: &str) -> Option<Vec<u8>> {
    let p = rootline_testkit::vector(rel)?;
    Some(std::fs::read(p).unwrap())
}

fn expected(folder: &str) -> Option<Value> {
    Some(serde_json::from_slice(&read(&format!("nvidia/{folder}/expected.json"))?).unwrap())
}

fn opts<'a>(nonce: Option<&'a [u8]>, rims: &'a [Rim]) -> Options<'a> {
    Options {
        nonce,
        rims,
        ocsp: &[],
        at: Some(AT),
    }
}

/// nvtrust's Hopper report and its chain, as separate files.
fn hopper() -> Option<(Vec<u8>, Vec<u8>)> {
    Some((
        read("nvidia/nvtrust/hopperAttestationReport.txt")?,
        read("nvidia/nvtrust/hopperCertChain.txt")?,
    ))
}

fn hopper_report_bytes(report_hex: &[u8]) -> Vec<u8> {
    hex::decode(std::str::from_utf8(report_hex).unwrap().trim()).unwrap()
}

/// The checks expected.json states for one device.
fn check_expected(claims: &rootline_nvidia::DeviceClaims, report: &[u8], exp: &Value) {
    let r = SpdmReport::parse(report).unwrap();
    assert_eq!(format!("{:#04x}", r.version.0), exp["spdm_version"]);
    assert_eq!(r.blocks.len() as u64, exp["number_of_blocks"]);
    assert_eq!(claims.measurements.len() as u64, exp["number_of_blocks"]);
    assert_eq!(r.opaque_raw.len() as u64, exp["opaque_data_length"]);
    assert_eq!(exp["trailing_bytes_after_signature"], 0);
    assert_eq!(claims.nonce, exp["request_nonce"]);
    assert_eq!(claims.responder_nonce, exp["response_nonce"]);
    if let Some(m) = exp.get("nonce_field_matches_request") {
        assert_eq!(*m, true);
    }
    assert_eq!(exp["signature_valid"], true);
    let links = exp["cert_chain_links_valid"].as_array().unwrap();
    assert_eq!(claims.certificates.len(), links.len() + 1);
    let top = claims.certificates.last().unwrap();
    assert_eq!(top.sha256, certs::NVIDIA_DEVICE_IDENTITY_CA_SHA256);
    if let Some(s) = exp.get("chain_top_subject") {
        assert_eq!(top.subject, *s);
    }
    if let Some(fwid) = exp.get("fwid") {
        assert_eq!(claims.fwid.as_deref(), fwid.as_str());
    }
    if let Some(s) = exp.get("leaf_subject") {
        assert_eq!(claims.certificates[0].subject, *s);
    }
}

#[test]
fn nvtrust_hopper_report_verifies_with_its_expected_claims() {
    let (Some((report_hex, chain)), Some(exp), Some(trustee)) = (
        hopper(),
        expected("nvtrust"),
        read("nvidia/trustee/hopperAttestationReport-claims.txt"),
    ) else {
        return;
    };
    let exp = &exp["hopperAttestationReport.txt"];
    let nonce = hex::decode(exp["request_nonce"].as_str().unwrap()).unwrap();
    let ev = Evidence::from_parts(&report_hex, &chain).unwrap();
    let t = Instant::now();
    let verified = Verifier::pinned()
        .verify_evidence(&ev, &opts(Some(&nonce), &[]))
        .unwrap();
    eprintln!("nvtrust Hopper report verified in {:?}", t.elapsed());
    let claims = verified.into_inner();
    assert_eq!(claims.devices.len(), 1);
    let d = &claims.devices[0];
    check_expected(d, &hopper_report_bytes(&report_hex), exp);
    assert_eq!(d.arch, Some(Arch::Hopper));
    assert_eq!(d.model.as_deref(), Some("GH100"));
    assert_eq!(d.spdm_version, "1.1");
    let want: BTreeMap<u8, String> = exp["measurements"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.parse().unwrap(), v.as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(d.measurements, want);

    // trustee's expected claims for the same report: the same measurements
    // and, key for key, the same `config` (our `opaque`).
    let trustee: Value = serde_json::from_slice(&trustee).unwrap();
    let config: BTreeMap<String, Value> =
        serde_json::from_value(trustee["config"].clone()).unwrap();
    assert_eq!(d.opaque, config);
    assert_eq!(d.driver_version.as_deref(), Some("550.90.07"));
    assert_eq!(d.vbios_version.as_deref(), Some("96.00.9f.00.01"));
    assert_eq!(
        d.fwid.as_deref(),
        trustee["config"]["fwid"].as_str(),
        "the certificate's FWID is the report's"
    );
    for (k, v) in trustee["measurements"].as_object().unwrap() {
        assert_eq!(d.measurements[&k.parse::<u8>().unwrap()], *v);
    }
    assert_eq!(trustee["arch"], "Hopper");
    assert!(d.rim.is_none());
}

#[test]
fn nvtrust_eight_gpu_evidence_verifies_each_device() {
    let (Some(ev), Some(exp)) = (
        read("nvidia/nvtrust/gpu_evidence.json"),
        expected("nvtrust"),
    ) else {
        return;
    };
    let items = exp["gpu_evidence.json"]["items"].as_array().unwrap();
    let nonce = hex::decode(items[0]["request_nonce"].as_str().unwrap()).unwrap();
    assert!(detect(&ev));
    let t = Instant::now();
    let claims = Verifier::pinned()
        .verify(&ev, &opts(Some(&nonce), &[]))
        .unwrap()
        .into_inner();
    eprintln!("8-GPU evidence verified in {:?}", t.elapsed());
    assert_eq!(claims.devices.len(), items.len());
    let raw: Value = serde_json::from_slice(&ev).unwrap();
    for (i, (d, e)) in claims.devices.iter().zip(items).enumerate() {
        let report = STANDARD
            .decode(raw[i]["evidence"].as_str().unwrap())
            .unwrap();
        check_expected(d, &report, e);
        assert_eq!(d.arch, Some(Arch::Hopper));
        assert_eq!(d.driver_version.as_deref(), Some("590.12"));
        assert_eq!(d.vbios_version.as_deref(), Some("96.00.a5.00.01"));
    }
}

#[test]
fn veraison_blackwell_evidence_verifies() {
    let (Some(ev), Some(exp)) = (
        read("nvidia/veraison-services/blackwell-evidence.json"),
        expected("veraison-services"),
    ) else {
        return;
    };
    let e = &exp["blackwell-evidence.json"]["items"][0];
    let nonce = hex::decode(e["request_nonce"].as_str().unwrap()).unwrap();
    assert!(detect(&ev));
    let claims = Verifier::pinned()
        .verify(&ev, &opts(Some(&nonce), &[]))
        .unwrap()
        .into_inner();
    assert_eq!(claims.devices.len(), 1);
    let d = &claims.devices[0];
    let raw: Value = serde_json::from_slice(&ev).unwrap();
    let report = STANDARD
        .decode(raw[0]["evidence"].as_str().unwrap())
        .unwrap();
    check_expected(d, &report, e);
    assert_eq!(d.arch, Some(Arch::Blackwell));
    assert_eq!(d.model.as_deref(), Some("GB100"));
    // Blackwell's FWID is TcbInfo fwids[0]; the report states the same one.
    assert_eq!(
        d.fwid.as_ref(),
        d.opaque["fwid"].as_str().map(str::to_owned).as_ref()
    );
    assert_eq!(d.opaque["chip_info"], "GB100");
    assert_eq!(d.driver_version.as_deref(), Some("590.48.01"));
}

#[test]
fn trustee_chain_case2_root_only_must_fail() {
    let (Some(chain), Some(exp), Some((report, _))) = (
        read("nvidia/trustee/hopper_cert_chain_case2.txt"),
        expected("trustee"),
        hopper(),
    ) else {
        return;
    };
    assert!(
        exp["hopper_cert_chain_case2.txt"]["expected"]
            .as_str()
            .unwrap()
            .starts_with("MUST FAIL")
    );
    let ders = certs::parse_chain(&chain).unwrap();
    let e = certs::verify_chain(&ders, &TrustRoots::nvidia(), AT).unwrap_err();
    assert_eq!(e, Error::ChainTooShort { len: 1 });
    assert!(
        e.to_string().starts_with(
            "certificate chain must have at least the root CA and signing certificates"
        )
    );
    // And as the chain of a report.
    let ev = Evidence::from_parts(&report, &chain).unwrap();
    let e = Verifier::pinned()
        .verify_evidence(&ev, &opts(None, &[]))
        .unwrap_err();
    assert_eq!(*e.root_cause(), Error::ChainTooShort { len: 1 });
}

#[test]
fn trustee_chain_case4_without_signing_cert_must_fail() {
    let (Some(chain), Some(exp), Some((report, _))) = (
        read("nvidia/trustee/hopper_cert_chain_case4.txt"),
        expected("trustee"),
        hopper(),
    ) else {
        return;
    };
    let exp = &exp["hopper_cert_chain_case4.txt"];
    assert!(exp["expected"].as_str().unwrap().starts_with("MUST FAIL"));
    let ders = certs::parse_chain(&chain).unwrap();
    assert_eq!(ders.len(), 4);
    // The chain itself links up to the root; its first certificate is the
    // BROM CA, which has no FWID.
    let e = certs::verify_chain(&ders, &TrustRoots::nvidia(), AT).unwrap_err();
    assert!(matches!(e, Error::FwidMissing { .. }), "{e}");
    assert!(
        e.to_string()
            .starts_with("FwId oid not found in the NVIDIA signing certificate")
    );
    let ev = Evidence::from_parts(&report, &chain).unwrap();
    let e = Verifier::pinned()
        .verify_evidence(&ev, &opts(None, &[]))
        .unwrap_err();
    assert!(matches!(e.root_cause(), Error::FwidMissing { .. }), "{e}");
    // What it would have been compared with: the valid chain's leaf FWID.
    let (_, good) = hopper().unwrap();
    let info = certs::verify_chain(
        &certs::parse_chain(&good).unwrap(),
        &TrustRoots::nvidia(),
        AT,
    )
    .unwrap();
    assert_eq!(hex::encode(info.fwid.unwrap()), exp["expected_fwid"]);
}

#[test]
fn guest_components_json_form_verifies_and_binds_report_data() {
    let Some((report_hex, chain)) = hopper() else {
        return;
    };
    let report = hopper_report_bytes(&report_hex);
    let nonce = report[4..36].to_vec();
    // Both evidence encodings guest-components has used: hex and base64.
    for evidence in [
        String::from_utf8(report_hex.clone())
            .unwrap()
            .trim()
            .to_owned(),
        STANDARD.encode(&report),
    ] {
        let doc = json!({"device_evidence_list": [{
            "arch": "HOPPER",
            "uuid": "GPU-1111",
            "evidence": evidence,
            "certificate": STANDARD.encode(&chain),
        }]});
        let bytes = serde_json::to_vec(&doc).unwrap();
        assert!(detect(&bytes));
        // KBS report data is longer than the SPDM nonce: the attester uses
        // its first 32 bytes.
        let mut report_data = nonce.clone();
        report_data.extend_from_slice(&[0xee; 16]);
        let n = guest_nonce(&report_data);
        let v = verify(&bytes, Some(&n), &[]);
        // verify() uses the current time; the chain is valid until 9999.
        let claims = v.unwrap().into_inner();
        assert_eq!(claims.devices[0].uuid.as_deref(), Some("GPU-1111"));
        // A longer nonce is refused, not truncated.
        let e = verify(&bytes, Some(&report_data), &[]).unwrap_err();
        assert!(
            matches!(
                e.root_cause(),
                Error::Unsupported {
                    field: "expected nonce",
                    ..
                }
            ),
            "{e}"
        );
        // A wrong nonce.
        let mut bad = nonce.clone();
        bad[0] ^= 1;
        let e = verify(&bytes, Some(&bad), &[]).unwrap_err();
        assert!(
            matches!(e.root_cause(), Error::Mismatch { field: "nonce", .. }),
            "{e}"
        );
    }
}

#[test]
fn sender_claims_must_agree_with_the_signed_report() {
    let Some((report_hex, chain)) = hopper() else {
        return;
    };
    let item = |k: &str, v: &str| {
        let mut o = json!({
            "arch": "HOPPER",
            "evidence": String::from_utf8(report_hex.clone()).unwrap().trim(),
            "certificate": STANDARD.encode(&chain),
        });
        o[k] = json!(v);
        serde_json::to_vec(&json!([o])).unwrap()
    };
    let v = Verifier::pinned();
    let cases = [
        ("arch", "BLACKWELL", "arch"),
        ("driver_version", "550.90.08", "driver_version"),
        ("vbios_version", "96.00.9F.00.02", "vbios_version"),
        ("nonce", &"00".repeat(32), "nonce (evidence JSON)"),
    ];
    for (k, val, field) in cases {
        let e = v.verify(&item(k, val), &opts(None, &[])).unwrap_err();
        assert!(
            matches!(e.root_cause(), Error::Mismatch { field: f, .. } if *f == field),
            "{k}: {e}"
        );
    }
    // The true values pass (VBIOS case-insensitively, as NVIDIA's SDK prints it).
    v.verify(&item("vbios_version", "96.00.9F.00.01"), &opts(None, &[]))
        .unwrap();
    let e = v
        .verify(&item("arch", "LS10"), &opts(None, &[]))
        .unwrap_err();
    assert!(
        matches!(e.root_cause(), Error::Unsupported { field: "arch", .. }),
        "{e}"
    );
    // Only the pinned root is trusted by the pinned verifier; no roots, no trust.
    let e = Verifier::new(TrustRoots::empty())
        .verify(&item("arch", "HOPPER"), &opts(None, &[]))
        .unwrap_err();
    assert!(matches!(e.root_cause(), Error::UntrustedRoot { .. }), "{e}");
}

#[test]
fn vector_rims_parse_and_do_not_describe_the_vector_reports() {
    let (Some(vbios), Some(driver), Some((report_hex, chain))) = (
        read("nvidia/nvtrust/1010_0200_882_96005E0001_PROD.swidtag"),
        read("nvidia/nvtrust/Driver_RIM_test_no_gpu.swidtag"),
        hopper(),
    ) else {
        return;
    };
    let vbios = Rim::parse(&vbios).unwrap();
    let driver = Rim::parse(&driver).unwrap();
    assert_eq!(vbios.version(), "96.00.5E.00.01");
    assert_eq!(driver.version(), "545.00");
    assert_eq!(vbios.product(), Some("GH100"));
    assert_eq!(vbios.measurements().len(), 64);
    assert_eq!(vbios.measurements().iter().filter(|m| m.active).count(), 12);
    assert_eq!(
        driver.measurements().iter().filter(|m| m.active).count(),
        21
    );
    assert!(vbios.has_signature() && driver.has_signature());
    let m35 = driver
        .measurements()
        .iter()
        .find(|m| m.index == 35)
        .unwrap();
    assert_eq!(m35.values.len(), 2);

    // The report is driver 550.90.07 / VBIOS 96.00.9f.00.01: neither RIM
    // applies, and verification with them says so (tests/rim.rs compares
    // them anyway, once verified).
    let ev = Evidence::from_parts(&report_hex, &chain).unwrap();
    let rims = [vbios, driver];
    let e = Verifier::pinned()
        .verify_evidence(&ev, &opts(None, &rims))
        .unwrap_err();
    assert!(
        matches!(e.root_cause(), Error::NoApplicableRim { .. }),
        "{e}"
    );
}

#[test]
fn decode_explains_without_verifying() {
    let (Some((report_hex, _)), Some(case4)) =
        (hopper(), read("nvidia/trustee/hopper_cert_chain_case4.txt"))
    else {
        return;
    };
    // A bare report: claims without certificates; detect knows it, verify refuses it.
    assert!(detect(&report_hex));
    let bytes = hopper_report_bytes(&report_hex);
    assert!(detect(&bytes));
    let c = decode(&report_hex).unwrap();
    assert_eq!(c.devices[0].certificates.len(), 0);
    assert_eq!(c.devices[0].measurements.len(), 64);
    assert_eq!(decode(&bytes).unwrap(), c);
    let e = verify(&report_hex, None, &[]).unwrap_err();
    assert!(
        matches!(
            e.root_cause(),
            Error::Evidence {
                field: "certificate",
                ..
            }
        ),
        "{e}"
    );
    // The case-4 chain decodes: the first certificate is the BROM CA, no FWID.
    let doc = json!([{"evidence": String::from_utf8(report_hex).unwrap().trim(),
                      "certificate": STANDARD.encode(&case4)}]);
    let c = decode(&serde_json::to_vec(&doc).unwrap()).unwrap();
    assert_eq!(c.devices[0].fwid, None);
    assert!(
        c.devices[0].certificates[0]
            .subject
            .starts_with("CN=GH100 A01 GSP BROM")
    );
    // Not NVIDIA evidence.
    assert!(!detect(br#"{"foo": 1}"#));
    assert!(!detect(b"\x02\x00\x00\x00 an SNP report"));
    assert!(!detect(br#"{"evidence": "abc"}"#));
}

/// One bit flipped in each signed byte (and in the signature) of the
/// Hopper report: the signature check rejects every one, or the report no
/// longer decodes.
#[test]
fn one_bit_flips_of_every_signed_report_byte_are_rejected() {
    let Some((report_hex, chain)) = hopper() else {
        return;
    };
    let bytes = hopper_report_bytes(&report_hex);
    let info = certs::verify_chain(
        &certs::parse_chain(&chain).unwrap(),
        &TrustRoots::nvidia(),
        AT,
    )
    .unwrap();
    let good = SpdmReport::parse(&bytes).unwrap();
    good.verify_signature(&info.leaf_key).unwrap();
    let signed_len = good.signed.len();
    assert_eq!(signed_len + 96, bytes.len());
    let t = Instant::now();
    let mut flipped = bytes.clone();
    for i in 0..bytes.len() {
        // Every bit of the header, nonces, opaque data and signature; one
        // bit (varying) of each measurement byte, to bound the run time.
        let in_record = (45..signed_len - 32 - 2 - good.opaque_raw.len()).contains(&i);
        let bits: Vec<u8> = if in_record {
            vec![(i % 8) as u8]
        } else {
            (0..8).collect()
        };
        for bit in bits {
            flipped[i] ^= 1 << bit;
            let ok = SpdmReport::parse(&flipped)
                .and_then(|r| r.verify_signature(&info.leaf_key))
                .is_ok();
            assert!(!ok, "flip of bit {bit} of byte {i} accepted");
            flipped[i] ^= 1 << bit;
        }
    }
    eprintln!("report bit flips checked in {:?}", t.elapsed());
    // And through the whole verifier, a flip per region.
    for i in [
        0usize,
        1,
        4,
        36,
        37,
        45,
        100,
        signed_len - 40,
        signed_len - 3,
        signed_len + 5,
    ] {
        let mut f = bytes.clone();
        f[i] ^= 0x10;
        let rejected = Evidence::from_parts(&f, &chain)
            .and_then(|ev| Verifier::pinned().verify_evidence(&ev, &opts(None, &[])))
            .is_err();
        assert!(rejected, "byte {i}");
    }
}

/// One bit flipped in each byte of each certificate of the chain: the chain
/// no longer verifies (a changed root is no longer the pinned one).
#[test]
fn one_bit_flips_of_every_certificate_byte_are_rejected() {
    let Some((_, chain)) = hopper() else {
        return;
    };
    let ders = certs::parse_chain(&chain).unwrap();
    let roots = TrustRoots::nvidia();
    certs::verify_chain(&ders, &roots, AT).unwrap();
    for c in 0..ders.len() {
        for i in 0..ders[c].len() {
            let mut d = ders.clone();
            d[c][i] ^= 1 << (i % 8);
            assert!(
                certs::verify_chain(&d, &roots, AT).is_err(),
                "certificate {c} byte {i} accepted"
            );
        }
    }
}

#[test]
fn truncations_are_rejected_without_panic() {
    let (Some((report_hex, chain)), Some(bw), Some(rim_xml)) = (
        hopper(),
        read("nvidia/veraison-services/blackwell-evidence.json"),
        read("nvidia/nvtrust/Driver_RIM_test_no_gpu.swidtag"),
    ) else {
        return;
    };
    let bytes = hopper_report_bytes(&report_hex);
    for n in 0..bytes.len() {
        assert!(SpdmReport::parse(&bytes[..n]).is_err(), "prefix {n}");
        let _ = decode(&bytes[..n]);
    }
    // Appended bytes: the signature is where the lengths put it, not the tail.
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(SpdmReport::parse(&longer).is_err());
    for n in (0..bw.len()).step_by(3) {
        let r = Verifier::pinned().verify(&bw[..n], &opts(None, &[]));
        assert!(r.is_err(), "prefix {n}");
        let _ = decode(&bw[..n]);
        let _ = detect(&bw[..n]);
    }
    let ders = certs::parse_chain(&chain).unwrap();
    for n in 0..chain.len() {
        if let Ok(d) = certs::parse_chain(&chain[..n]) {
            assert!(d.len() < ders.len() || n + 30 > chain.len());
            if d.len() < ders.len() {
                assert!(certs::verify_chain(&d, &TrustRoots::nvidia(), AT).is_err());
            }
        }
    }
    for c in &ders {
        for n in 0..c.len() {
            assert!(
                certs::verify_chain(
                    &[c[..n].to_vec(), ders[4].clone()],
                    &TrustRoots::nvidia(),
                    AT
                )
                .is_err()
            );
        }
    }
    for n in (0..rim_xml.len()).step_by(7) {
        assert!(Rim::parse(&rim_xml[..n]).is_err(), "RIM prefix {n}");
    }
}

/// The body of `fuzz/fuzz_targets/nvidia_spdm.rs`, run here over the
/// vectors and mutations of them so that `cargo test` exercises what the
/// fuzzer asserts.
fn fuzz_body(data: &[u8]) {
    let _ = detect(data);
    let _ = decode(data);
    if let Ok(r) = SpdmReport::parse(data) {
        assert!(r.signed.len() + r.signature.len() == data.len());
        assert!(r.opaque_raw.len() <= r.signed.len());
        let _ = r.opaque.to_claims();
        let _ = r.opaque.vbios_version();
        let _ = r.verify_signature(&[4u8; 97]);
    }
    if let Ok(ders) = certs::parse_chain(data) {
        let _ = certs::inspect_chain(&ders);
        let _ = certs::verify_chain(&ders, &TrustRoots::nvidia(), AT);
    }
    let rims: Vec<Rim> = Rim::parse(data).into_iter().collect();
    for r in &rims {
        let _ = r.verify_signature(&TrustRoots::nvidia_rim(), AT);
    }
    if let Ok(c) = c14n::canonicalize(data) {
        // Canonical output parses again and is its own canonical form.
        assert_eq!(c14n::canonicalize(&c).unwrap(), c);
    }
    if let Ok(ev) = Evidence::decode(data) {
        let o = Options {
            nonce: Some(&[0u8; 32]),
            rims: &rims,
            ocsp: &[],
            at: Some(AT),
        };
        let _ = Verifier::pinned().verify_evidence(&ev, &o);
    }
}

#[test]
fn fuzz_body_holds_on_vectors_and_their_mutations() {
    let files = [
        "nvidia/nvtrust/hopperAttestationReport.txt",
        "nvidia/nvtrust/hopperCertChain.txt",
        "nvidia/nvtrust/Driver_RIM_test_no_gpu.swidtag",
        "nvidia/nvtrust/1010_0200_882_96005E0001_PROD.swidtag",
        "nvidia/veraison-services/blackwell-evidence.json",
        "nvidia/trustee/hopper_cert_chain_case4.txt",
    ];
    for f in files {
        let Some(data) = read(f) else { return };
        fuzz_body(&data);
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..200 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let mut m = data.clone();
            let i = (seed as usize) % m.len();
            m[i] = (seed >> 32) as u8;
            m.truncate(m.len() - (seed as usize >> 40) % 8);
            fuzz_body(&m);
        }
    }
    let Some((hex_report, _)) = hopper() else {
        return;
    };
    fuzz_body(&hopper_report_bytes(&hex_report));
}

#[test]
fn nras_request_form_verifies_with_its_top_level_nonce_and_arch() {
    let Some((report_hex, chain)) = hopper() else {
        return;
    };
    let report = hopper_report_bytes(&report_hex);
    let body = |nonce: &str, arch: &str| {
        serde_json::to_vec(&json!({
            "nonce": nonce,
            "arch": arch,
            "evidence_list": [{"evidence": STANDARD.encode(&report), "certificate": STANDARD.encode(&chain)}],
            "claims_version": "3.0",
        }))
        .unwrap()
    };
    let good = hex::encode(&report[4..36]);
    let b = body(&good, "HOPPER");
    assert!(detect(&b));
    Verifier::pinned().verify(&b, &opts(None, &[])).unwrap();
    let e = Verifier::pinned()
        .verify(&body(&"11".repeat(32), "HOPPER"), &opts(None, &[]))
        .unwrap_err();
    assert!(
        matches!(
            e.root_cause(),
            Error::Mismatch {
                field: "nonce (evidence JSON)",
                ..
            }
        ),
        "{e}"
    );
    let e = Verifier::pinned()
        .verify(&body(&good, "BLACKWELL"), &opts(None, &[]))
        .unwrap_err();
    assert!(
        matches!(e.root_cause(), Error::Mismatch { field: "arch", .. }),
        "{e}"
    );
}

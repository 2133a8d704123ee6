//! Every real SEV-SNP vector in the shared folder gives the verdict and the
//! claims its `expected.json` records, read in place.

use std::path::{Path, PathBuf};

use rootline_snp::{
    Collateral, Error, Evidence, Options, Product, Report, VekKind, Verifier, report::REPORT_LEN,
};
use serde_json::Value;
use time::OffsetDateTime;
use time::macros::datetime;

/// One instant inside every vector certificate's validity (the VLEK's ends
/// 2025-12-10, the Turin VCEK's starts 2025-07-17).
const AT: OffsetDateTime = datetime!(2025-08-15 00:00 UTC);

fn dir(rel: &str) -> Option<PathBuf> {
    rootline_testkit::vector(rel)
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn expected(folder: &Path) -> Value {
    serde_json::from_slice(&read(&folder.join("expected.json"))).unwrap()
}

fn collateral(folder: &Path, files: &[&str]) -> Collateral {
    let mut c = Collateral::new();
    for f in files {
        c.add(f, &read(&folder.join(f))).unwrap();
    }
    c
}

fn opts() -> Options {
    Options {
        at: Some(AT),
        nonce: None,
    }
}

/// Every field of `expected["report"]` equals the claim of the same name.
fn assert_claims(claims: &rootline_snp::Claims, expected: &Value, label: &str) {
    let got = serde_json::to_value(claims).unwrap();
    let want = expected["report"].as_object().unwrap();
    assert!(
        want.len() > 15,
        "{label}: expected.json has too few report fields"
    );
    for (k, v) in want {
        assert_eq!(got.get(k), Some(v), "{label}: claim {k}");
    }
}

/// Verifies, checks the verdict and claims, and does it again on the warm
/// cache to see the same answer.
fn check_ok(folder: &str, evidence: &str, files: &[&str], key: &str, product: Product) {
    let Some(d) = dir(folder) else { return };
    let exp = &expected(&d)[key];
    assert_eq!(exp["report_signature_valid"], true, "{key}");
    let ev = read(&d.join(evidence));
    let coll = collateral(&d, files);
    let v = Verifier::amd();
    for round in 0..2 {
        let out = v
            .verify_evidence(&ev, &coll, &opts())
            .unwrap_or_else(|r| panic!("{key} round {round}: rejected: {}", r.error));
        assert_claims(&out.claims, exp, key);
        assert_eq!(out.claims.product.as_deref(), Some(product.name()), "{key}");
        let signer = if exp["report"]["flags"] == "0x4" {
            "vlek"
        } else {
            "vcek"
        };
        assert_eq!(out.claims.signer, signer);
        assert!(
            out.warnings
                .iter()
                .any(|w| w.contains("freshness not checked")),
            "{key}: {:?}",
            out.warnings
        );
        assert!(
            out.warnings
                .iter()
                .any(|w| w.contains("revocation not checked"))
        );
    }
}

#[test]
fn go_sev_guest_milan_v2() {
    check_ok(
        "snp/go-sev-guest",
        "attestation.bin",
        &["vcek.der", "ask_ark_milan.pem"],
        "attestation.bin",
        Product::Milan,
    );
}

#[test]
fn go_sev_guest_with_builtin_ask_only() {
    // The ASK is built in: the VCEK alone is enough collateral.
    check_ok(
        "snp/go-sev-guest",
        "attestation.bin",
        &["vcek.der"],
        "attestation.bin",
        Product::Milan,
    );
}

#[test]
fn oak_milan_and_turin() {
    check_ok(
        "snp/oak",
        "milan_cb_report.bin",
        &["milan_cb_vcek.der", "ask_ark_milan.pem"],
        "milan_cb_report.bin",
        Product::Milan,
    );
    check_ok(
        "snp/oak",
        "milan_oc_release_report.bin",
        &["milan_oc_release_vcek.der", "ask_ark_milan.pem"],
        "milan_oc_release_report.bin",
        Product::Milan,
    );
    check_ok(
        "snp/oak",
        "turin_oc_report.bin",
        &["turin_oc_vcek.der", "ask_ark_turin.pem"],
        "turin_oc_report.bin",
        Product::Turin,
    );
}

#[test]
fn trustee_vcek_and_vlek() {
    check_ok(
        "snp/trustee",
        "test-report.bin",
        &["test-vcek.der", "ask_ark_milan.pem"],
        "test-report.bin",
        Product::Milan,
    );
    check_ok(
        "snp/trustee",
        "test-vlek-report.bin",
        &["test-vlek.der", "asvk_ark_milan_vlek.pem"],
        "test-vlek-report.bin",
        Product::Milan,
    );
}

#[test]
fn trustee_must_fail_vcek_of_another_chip() {
    let Some(d) = dir("snp/trustee") else { return };
    let exp = &expected(&d)["test-report.bin+test-vcek-invalid-legacy.der"];
    assert_eq!(exp["report_signature_valid"], false);
    let ev = read(&d.join("test-report.bin"));
    let coll = collateral(&d, &["test-vcek-invalid-legacy.der", "ask_ark_milan.pem"]);
    let r = Verifier::amd()
        .verify_evidence(&ev, &coll, &opts())
        .expect_err("the report must not verify with another chip's VCEK");
    assert!(
        matches!(r.error, Error::BadSignature(_) | Error::Mismatch { .. }),
        "{}",
        r.error
    );
    eprintln!("must-fail reason: {}", r.error);
    // The claims are still there, and are the report's.
    assert_claims(r.claims.as_deref().unwrap(), exp, "must-fail");
}

#[test]
fn vlek_is_expired_after_its_year() {
    let Some(d) = dir("snp/trustee") else { return };
    let ev = read(&d.join("test-vlek-report.bin"));
    let coll = collateral(&d, &["test-vlek.der", "asvk_ark_milan_vlek.pem"]);
    let o = Options {
        at: Some(datetime!(2026-01-01 00:00 UTC)),
        nonce: None,
    };
    let r = Verifier::amd().verify_evidence(&ev, &coll, &o).unwrap_err();
    assert!(
        matches!(&r.error, Error::Stale { what, .. } if what.contains("VLEK")),
        "{}",
        r.error
    );
}

#[test]
fn configfs_tsm_cbor_json_outblob_and_extended() {
    let Some(d) = dir("snp/veraison-services") else {
        return;
    };
    let exp = &expected(&d)["sevsnp-tsm-report.cbor"];
    let v = Verifier::amd();
    let none = Collateral::new();
    // CBOR and JSON carry their own certificate table: no collateral needed.
    for f in ["sevsnp-tsm-report.cbor", "sevsnp-tsm-report.json"] {
        let out = v
            .verify_evidence(&read(&d.join(f)), &none, &opts())
            .unwrap_or_else(|r| panic!("{f}: {}", r.error));
        assert_claims(&out.claims, exp, f);
        assert_eq!(out.claims.product.as_deref(), Some("Genoa"));
    }
    // The bare outblob with the VCEK as a PEM file.
    let coll = collateral(&d, &["tsm_vcek.pem"]);
    let out = v
        .verify_evidence(&read(&d.join("tsm_outblob_report.bin")), &coll, &opts())
        .unwrap_or_else(|r| panic!("outblob: {}", r.error));
    assert_claims(&out.claims, exp, "outblob");
    // An extended report: the report followed by its certificate table,
    // assembled in memory from the two vector files.
    let mut ext = read(&d.join("tsm_outblob_report.bin"));
    ext.extend(read(&d.join("tsm_auxblob_certtable.bin")));
    let e = Evidence::decode(&ext).unwrap();
    assert_eq!(e.cert_table.len(), 3);
    let out = v
        .verify_evidence(&ext, &none, &opts())
        .unwrap_or_else(|r| panic!("extended: {}", r.error));
    assert_claims(&out.claims, exp, "extended");
    // Hex text of the report.
    let hex_text = format!("{}\n", hex::encode(read(&d.join("tsm_outblob_report.bin"))));
    let out = v
        .verify_evidence(hex_text.as_bytes(), &coll, &opts())
        .unwrap_or_else(|r| panic!("hex: {}", r.error));
    assert_claims(&out.claims, exp, "hex");
    // Without any certificate the failure says what is missing.
    let r = v
        .verify_evidence(&read(&d.join("tsm_outblob_report.bin")), &none, &opts())
        .unwrap_err();
    assert!(
        matches!(&r.error, Error::Missing(m) if m.contains("VCEK")),
        "{}",
        r.error
    );
}

#[test]
fn virtee_turin_chain_only() {
    let Some(d) = dir("snp/virtee-sev") else {
        return;
    };
    let exp = &expected(&d)["vcek_turin.der"]["vcek"];
    let coll = collateral(&d, &["vcek_turin.der", "cert_chain_turin.pem"]);
    let s = Verifier::amd()
        .verify_chain(&coll, VekKind::Vcek, Some(AT))
        .unwrap();
    assert_eq!(s.product, Some(Product::Turin));
    assert_eq!(s.root, "ARK-Turin");
    let e = &s.extensions;
    assert_eq!(Some(u64::from(e.bl_spl.unwrap())), exp["blSPL"].as_u64());
    assert_eq!(Some(u64::from(e.tee_spl.unwrap())), exp["teeSPL"].as_u64());
    assert_eq!(Some(u64::from(e.snp_spl.unwrap())), exp["snpSPL"].as_u64());
    assert_eq!(
        Some(u64::from(e.ucode_spl.unwrap())),
        exp["ucodeSPL"].as_u64()
    );
    assert_eq!(Some(u64::from(e.fmc_spl.unwrap())), exp["fmcSPL"].as_u64());
    assert_eq!(
        Some(hex::encode(e.hw_id.as_ref().unwrap())),
        exp["hwID"].as_str().map(String::from)
    );
    // Before its notBefore it is not valid.
    let early =
        Verifier::amd().verify_chain(&coll, VekKind::Vcek, Some(datetime!(2024-01-01 00:00 UTC)));
    assert!(matches!(early, Err(Error::Stale { .. })));
}

#[test]
fn nonce_binding() {
    let Some(d) = dir("snp/trustee") else { return };
    let ev = read(&d.join("test-report.bin"));
    let coll = collateral(&d, &["test-vcek.der"]);
    let rd = Report::parse(&ev).unwrap().report_data;
    let v = Verifier::amd();
    // The report's data is 32 bytes then zeros: a 32-byte nonce is padded.
    let o = Options {
        at: Some(AT),
        nonce: Some(rd[..32].to_vec()),
    };
    let out = v
        .verify_evidence(&ev, &coll, &o)
        .unwrap_or_else(|r| panic!("{}", r.error));
    assert!(!out.warnings.iter().any(|w| w.contains("freshness")));
    let mut wrong = rd[..32].to_vec();
    wrong[0] ^= 1;
    let o = Options {
        at: Some(AT),
        nonce: Some(wrong),
    };
    let r = v.verify_evidence(&ev, &coll, &o).unwrap_err();
    assert!(
        matches!(
            r.error,
            Error::Mismatch {
                field: "report_data",
                ..
            }
        ),
        "{}",
        r.error
    );
}

#[test]
fn unknown_versions_are_rejected_not_mapped() {
    let Some(d) = dir("snp/oak") else { return };
    let good = read(&d.join("turin_oc_report.bin"));
    for v in [0u32, 1, 6, 7, 0xffff_ffff] {
        let mut b = good.clone();
        b[..4].copy_from_slice(&v.to_le_bytes());
        let e = Report::parse(&b).unwrap_err();
        assert!(
            matches!(
                e,
                Error::Unsupported {
                    field: "report version",
                    ..
                }
            ),
            "version {v}: {e}"
        );
    }
}

#[test]
fn every_bit_flip_of_signed_region_and_signature_is_rejected() {
    let Some(d) = dir("snp/go-sev-guest") else {
        return;
    };
    let good = read(&d.join("attestation.bin"));
    let coll = collateral(&d, &["vcek.der"]);
    let v = Verifier::amd();
    assert!(v.verify_evidence(&good, &coll, &opts()).is_ok());
    // The signed part, then r and s (the high zero bytes included).
    for byte in 0..(0x2A0 + 144) {
        for bit in 0..8 {
            let mut b = good.clone();
            b[byte] ^= 1 << bit;
            assert!(
                v.verify_evidence(&b, &coll, &opts()).is_err(),
                "flip of byte {byte:#x} bit {bit} was accepted"
            );
        }
    }
}

#[test]
fn truncated_and_padded_reports_are_malformed() {
    let Some(d) = dir("snp/go-sev-guest") else {
        return;
    };
    let good = read(&d.join("attestation.bin"));
    assert!(Report::parse(&good[..REPORT_LEN - 1]).is_err());
    let mut long = good.clone();
    long.push(0);
    assert!(Report::parse(&long).is_err());
    // A report followed by garbage is not an extended report.
    let mut ext = good.clone();
    ext.extend([0xffu8; 40]);
    assert!(Evidence::decode(&ext).is_err());
}

/// Finding of the negative suite (`crates/rootline-verifier/tests/
/// negative_vectors.rs`): bytes appended to configfs-tsm CBOR evidence were
/// ignored (ciborium stops after the first item). Evidence is one CBOR map
/// and nothing after it: refused, naming the extra bytes.
#[test]
fn configfs_tsm_cbor_with_trailing_bytes_is_refused() {
    let Some(d) = dir("snp/veraison-services") else {
        return;
    };
    let good = read(&d.join("sevsnp-tsm-report.cbor"));
    let v = Verifier::amd();
    let none = Collateral::new();
    assert!(v.verify_evidence(&good, &none, &opts()).is_ok());
    for tail in [vec![0u8], vec![0u8; 64], vec![0xa5; 64]] {
        let mut ev = good.clone();
        ev.extend_from_slice(&tail);
        let r = v.verify_evidence(&ev, &none, &opts()).unwrap_err();
        assert!(
            r.error
                .to_string()
                .contains("bytes after the configfs-tsm map"),
            "{}",
            r.error
        );
    }
}

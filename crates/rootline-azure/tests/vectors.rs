//! Every file of the shared Azure vectors gives the verdict its folder's
//! `expected.json` and `PROVENANCE.md` record, read in place (MUST-FAIL ones
//! included); one-bit flips of the signed and bound parts are rejected; and
//! truncation never panics and never passes.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use base64::Engine as _;
use rootline_azure::hcl::VAR_DATA_OFFSET;
use rootline_azure::{
    AzureKind, Collateral, Error, Evidence, HclReport, Options, Rejection, RuntimeData, TdReport,
    TpmQuote, Verifier, detect, vtpm,
};
use rootline_core::HashAlg;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::macros::datetime;

/// One instant inside every certificate's validity: the Trustee SNP VCEK
/// (2025-01-28..2032-01-28), the kinvolk VCEK (2023-01-01..2030-01-01), the
/// Azure TDX PCK leaf (2023-09-13..2030-09-13) and the AMD/Intel CAs.
const AT: OffsetDateTime = datetime!(2026-06-01 00:00 UTC);
/// The nonce of every captured vTPM quote: ASCII "challenge".
const CHALLENGE: &[u8] = b"challenge";

const SNP: &str = "azure/trustee-az-snp-vtpm";
const TDX: &str = "azure/trustee-az-tdx-vtpm";
const KINVOLK: &str = "azure/kinvolk-azure-cvm-tooling";

fn dir(rel: &str) -> Option<PathBuf> {
    rootline_testkit::vector(rel)
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn expected(folder: &Path) -> Value {
    serde_json::from_slice(&read(&folder.join("expected.json"))).unwrap()
}

fn verifier() -> &'static Verifier {
    static V: OnceLock<Verifier> = OnceLock::new();
    V.get_or_init(|| Verifier::pinned().unwrap())
}

fn opts(nonce: Option<&[u8]>) -> Options {
    Options {
        at: Some(AT),
        report_data: nonce.map(<[u8]>::to_vec),
        init_data_hash: None,
    }
}

fn sha256(b: &[u8]) -> Vec<u8> {
    HashAlg::SHA256.hash(b).unwrap().bytes
}

/// The bincode `Quote` of az-cvm-vtpm: u64-LE-length-prefixed signature and
/// message, then a u64 count of 32-byte SHA-256 PCRs.
fn bincode_quote(b: &[u8]) -> TpmQuote {
    let mut at = 0usize;
    let u64le = |at: &mut usize| {
        let v = u64::from_le_bytes(b[*at..*at + 8].try_into().unwrap()) as usize;
        *at += 8;
        v
    };
    let n = u64le(&mut at);
    let signature = b[at..at + n].to_vec();
    at += n;
    let n = u64le(&mut at);
    let message = b[at..at + n].to_vec();
    at += n;
    let n = u64le(&mut at);
    let pcrs = (0..n)
        .map(|i| b[at + 32 * i..at + 32 * (i + 1)].to_vec())
        .collect();
    assert_eq!(at + 32 * n, b.len(), "bincode quote length");
    TpmQuote {
        signature,
        message,
        pcrs,
    }
}

/// Trustee's `tpm-quote-v1.json`: the quote's parts in hex.
fn json_quote(b: &[u8]) -> TpmQuote {
    let v: Value = serde_json::from_slice(b).unwrap();
    let h = |v: &Value| hex::decode(v.as_str().unwrap()).unwrap();
    TpmQuote {
        signature: h(&v["signature"]),
        message: h(&v["message"]),
        pcrs: v["pcrs"].as_array().unwrap().iter().map(h).collect(),
    }
}

/// The DER certificates of a PEM file, in order.
fn pem_certs(b: &[u8]) -> Vec<Vec<u8>> {
    let text = std::str::from_utf8(b).unwrap();
    text.split("-----BEGIN CERTIFICATE-----")
        .skip(1)
        .map(|s| {
            let body: String = s
                .split("-----END CERTIFICATE-----")
                .next()
                .unwrap()
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            base64::engine::general_purpose::STANDARD
                .decode(body)
                .unwrap()
        })
        .collect()
}

fn ak_fingerprint(var_data: &[u8]) -> String {
    RuntimeData::parse(var_data)
        .unwrap()
        .ak
        .fingerprint()
        .unwrap()
}

/// The HCL header fields the collector recorded.
fn assert_hcl_header(hcl: &[u8], want: &Value, label: &str) {
    let h = HclReport::parse(hcl).unwrap_or_else(|e| panic!("{label}: {e}"));
    assert_eq!(&hcl[..4], want["signature"].as_str().unwrap().as_bytes());
    assert_eq!(h.version, want["version"], "{label}");
    assert_eq!(h.report_size, want["report_size"], "{label}");
    assert_eq!(h.request_type.0, want["request_type"], "{label}");
    assert_eq!(h.report_type.0, want["igvm_report_type"], "{label}");
    assert_eq!(h.hash_type.0, want["hash_type"], "{label}");
    assert_eq!(VAR_DATA_OFFSET, want["var_data_offset"], "{label}");
    assert_eq!(h.var_data.len(), want["var_data_size"], "{label}");
}

/// Claims every verified or collateral-less result must carry.
fn assert_common_claims(claims: &Map<String, Value>, exp: &Value, label: &str) {
    let tpm = &exp["tpm_quote"];
    let pcrs = tpm["pcrs_sha256"].as_object().unwrap();
    assert_eq!(pcrs.len(), 24, "{label}");
    assert_eq!(
        claims["tpm"]["pcrs"]["sha256"].as_object().unwrap(),
        pcrs,
        "{label}: pcrs"
    );
    assert_eq!(claims["extra_data"], tpm["attest"]["extra_data"], "{label}");
    assert_eq!(
        claims["tpm"]["extra_data"], tpm["attest"]["extra_data"],
        "{label}"
    );
    for k in ["clock", "reset_count", "restart_count", "qualified_signer"] {
        assert_eq!(claims["tpm"][k], tpm["attest"][k], "{label}: tpm.{k}");
    }
    assert_eq!(
        claims["tpm"]["firmware_version"],
        tpm["attest"]["firmware_version"].as_str().unwrap(),
        "{label}"
    );
    assert_eq!(
        claims["tpm"]["ak_fingerprint"], exp["ak_spki_sha256"],
        "{label}: the AK is the HCL's"
    );
    assert_eq!(claims["runtime_data"], exp["var_data_json"], "{label}");
    let user_data = exp["var_data_json"]["user-data"].as_str().unwrap();
    assert_eq!(claims["user_data"], user_data, "{label}");
}

fn verify_file(folder: &Path, file: &str, nonce: Option<&[u8]>) -> Result<Value, Box<Rejection>> {
    verifier()
        .verify(
            &read(&folder.join(file)),
            None,
            &Collateral::new(),
            &opts(nonce),
        )
        .map(|a| {
            let a = a.into_inner();
            serde_json::json!({"claims": a.claims, "warnings": a.warnings, "kind": format!("{}", a.kind), "version": a.evidence_version})
        })
}

// ---- Trustee az-snp-vtpm ------------------------------------------------------

#[test]
fn trustee_snp_evidence_v0_and_v1_verify() {
    let Some(d) = dir(SNP) else { return };
    let all = expected(&d);
    for (file, version) in [("evidence-v0.json", 0), ("evidence-v1.json", 1)] {
        let exp = &all[file];
        assert_eq!(exp["snp"]["report_signature_valid"], true);
        let out = verify_file(&d, file, Some(CHALLENGE))
            .unwrap_or_else(|r| panic!("{file}: rejected: {}", r.error));
        let claims = out["claims"].as_object().unwrap();
        assert_eq!(out["kind"], "azure-snp");
        assert_eq!(out["version"], version);
        // The SNP claims, as rootline-snp names them.
        let report = exp["snp"]["report"].as_object().unwrap();
        assert!(report.len() > 15);
        for (k, v) in report {
            assert_eq!(claims.get(k), Some(v), "{file}: claim {k}");
        }
        assert_eq!(claims["product"], "Milan");
        assert_eq!(claims["signer"], "vcek");
        assert_common_claims(claims, exp, file);
        // Upstream test_evaluate: report_data "challenge", PCR0.
        assert_eq!(
            claims["tpm"]["pcrs"]["sha256"]["0"],
            "e15c44796beabf46abcec7c57e590942041e47497e4ec27571c8b7664f48dced"
        );
        let warnings = out["warnings"].as_array().unwrap();
        assert!(
            warnings
                .iter()
                .all(|w| w.as_str().unwrap().starts_with("revocation not checked")),
            "{file}: {warnings:?}"
        );
        let ev = Evidence::decode(&read(&d.join(file))).unwrap();
        assert_hcl_header(&ev.hcl_report, &exp["hcl_header"], file);
        let hcl = HclReport::parse(&ev.hcl_report).unwrap();
        assert_eq!(
            hex::encode(sha256(hcl.var_data)),
            report["report_data"].as_str().unwrap()[..64],
            "{file}: report_data binds the runtime data"
        );

        // Without a nonce: verified, and the result says freshness was not checked.
        let out = verify_file(&d, file, None).unwrap();
        assert!(
            out["warnings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|w| w.as_str().unwrap().starts_with("freshness not checked")),
            "{file}"
        );
    }
}

#[test]
fn trustee_snp_with_kds_chain_as_collateral() {
    let Some(d) = dir(SNP) else { return };
    let mut c = Collateral::new();
    c.add(
        AzureKind::Snp,
        "ask_ark_milan.pem",
        &read(&d.join("ask_ark_milan.pem")),
    )
    .unwrap();
    let ev = read(&d.join("evidence-v1.json"));
    verifier()
        .verify(&ev, Some(AzureKind::Snp), &c, &opts(Some(CHALLENGE)))
        .unwrap_or_else(|r| panic!("rejected: {}", r.error));
}

#[test]
fn trustee_snp_wrong_nonce_is_rejected_by_the_vtpm_quote() {
    let Some(d) = dir(SNP) else { return };
    for file in ["evidence-v0.json", "evidence-v1.json"] {
        let r = verify_file(&d, file, Some(b"challengf")).unwrap_err();
        assert!(
            matches!(
                r.error,
                Error::Tpm(rootline_tpm::Error::NonceMismatch { .. })
            ),
            "{file}: {}",
            r.error
        );
        // The rejection still explains itself.
        assert_eq!(r.claims["extra_data"], "6368616c6c656e6765");
        assert!(r.claims.contains_key("measurement"));
    }
}

/// Trustee's unit-test fixtures, put together as v1 evidence: the HCL report,
/// `tpm-quote-v1.json` (the same quote as the bincode `quote.bin`) and
/// `vcek.pem` (test_verify_snp_report, test_verify_signature,
/// test_verify_quote_nonce, test_verify_pcrs all pass upstream).
#[test]
fn trustee_snp_unit_fixtures_compose_into_verified_evidence() {
    let Some(d) = dir(SNP) else { return };
    let q = json_quote(&read(&d.join("tpm-quote-v1.json")));
    assert_eq!(bincode_quote(&read(&d.join("quote.bin"))), q);
    // vcek.pem holds the VCEK, then AMD's ASK and ARK.
    let vcek = pem_certs(&read(&d.join("vcek.pem")));
    assert_eq!(vcek.len(), 3);
    let ev = Evidence {
        kind: AzureKind::Snp,
        version: 1,
        hcl_report: read(&d.join("hcl-report.bin")),
        tpm_quote: q,
        vcek: vcek.into_iter().next(),
        td_quote: None,
    };
    let a = verifier()
        .verify_evidence(&ev, &Collateral::new(), &opts(Some(CHALLENGE)))
        .unwrap_or_else(|r| panic!("rejected: {}", r.error))
        .into_inner();
    let claims = a.claims.to_json();
    assert_eq!(claims["vmpl"], 0);
    assert_eq!(claims["extra_data"], "6368616c6c656e6765");
    // The typed claims answer what the JSON says.
    assert_eq!(a.claims.extra_data.as_deref(), Some(CHALLENGE));
    assert!(matches!(
        a.claims.hardware,
        Some(rootline_azure::claims::Hardware::Snp(_))
    ));
}

/// `tpm-quote.msg`/`.sig` are leftovers: they belonged to the 2048-byte HCL
/// report Trustee replaced in January 2024 (aca6dd51), which the shared set
/// does not hold. The quote parses, and the shipped HCL report's AK does not
/// verify it.
#[test]
fn trustee_snp_leftover_quote_does_not_verify_with_the_shipped_ak() {
    let Some(d) = dir(SNP) else { return };
    let message = read(&d.join("tpm-quote.msg"));
    let signature = read(&d.join("tpm-quote.sig"));
    let attest = rootline_tpm::Attest::parse(&message).unwrap();
    assert_eq!(attest.extra_data, CHALLENGE);
    let selected = attest.quote_info().unwrap().0.pairs().len();
    let hcl = read(&d.join("hcl-report.bin"));
    let ak = RuntimeData::parse(HclReport::parse(&hcl).unwrap().var_data)
        .unwrap()
        .ak;
    let q = TpmQuote {
        signature,
        message,
        pcrs: vec![vec![0; 32]; selected],
    };
    let e = vtpm::verify(&q, &ak, Some(CHALLENGE)).unwrap_err();
    assert!(
        matches!(e, Error::Tpm(rootline_tpm::Error::BadSignature { .. })),
        "{e}"
    );
}

// ---- Trustee az-tdx-vtpm ------------------------------------------------------

fn assert_td_claims(claims: &Map<String, Value>, exp: &Value, label: &str) {
    let body = exp["td_quote"]["body"].as_object().unwrap();
    for (k, v) in body {
        assert_eq!(claims.get(k), Some(v), "{label}: claim {k}");
    }
    assert_eq!(claims["fmspc"], "00806f050000", "{label}");
    assert_eq!(claims["quote_version"], exp["td_quote"]["version"]);
    assert_eq!(
        claims["report_data"], exp["td_report_report_data"],
        "{label}: the quote's report data is the TDREPORT's"
    );
}

/// Every signature, chain and binding verifies; Intel collateral for FMSPC
/// 00806F050000 is not in the shared set, so the TCB cannot be judged and
/// the verdict is "collateral missing", never a pass.
#[test]
fn trustee_tdx_evidence_verifies_up_to_missing_collateral() {
    let Some(d) = dir(TDX) else { return };
    let exp = &expected(&d)["hcl-report.bin"];
    assert_eq!(exp["td_quote"]["attestation_signature_valid"], true);
    assert_eq!(exp["td_quote_report_data_equals_td_report"], true);
    for file in ["evidence-v0.json", "evidence-v1.json"] {
        let r = verify_file(&d, file, Some(CHALLENGE)).unwrap_err();
        assert!(
            matches!(r.error, Error::CollateralMissing(_)),
            "{file}: {}",
            r.error
        );
        assert_eq!(r.kind, Some(AzureKind::Tdx));
        assert!(r.tcb_status.is_none());
        assert_td_claims(&r.claims, exp, file);
        assert_common_claims(&r.claims, exp, file);
        // Upstream test_evaluate (ignored there: it needs Intel PCS).
        assert_eq!(
            r.claims["tpm"]["pcrs"]["sha256"]["0"],
            "782b20b10f55cc46e2142cc2145d548698073e5beb82752c8d7f9279f0d8a273"
        );
        let ev = Evidence::decode(&read(&d.join(file))).unwrap();
        assert_eq!(ev.hcl_report, read(&d.join("hcl-report.bin")));
        assert_eq!(
            ev.td_quote.as_deref(),
            Some(&read(&d.join("td-quote.bin"))[..])
        );
        assert_hcl_header(&ev.hcl_report, &exp["hcl_header"], file);

        // The other checks run before "collateral missing" is reported.
        let r = verify_file(&d, file, Some(b"challengf")).unwrap_err();
        assert!(matches!(r.error, Error::Tpm(_)), "{file}: {}", r.error);
    }
}

#[test]
fn trustee_tdx_unit_fixtures_compose_into_the_same_verdict() {
    let Some(d) = dir(TDX) else { return };
    let q = json_quote(&read(&d.join("tpm-quote-v1.json")));
    assert_eq!(bincode_quote(&read(&d.join("quote.bin"))), q);
    let ev = Evidence {
        kind: AzureKind::Tdx,
        version: 1,
        hcl_report: read(&d.join("hcl-report.bin")),
        tpm_quote: q,
        vcek: None,
        td_quote: Some(read(&d.join("td-quote.bin"))),
    };
    let r = verifier()
        .verify_evidence(&ev, &Collateral::new(), &opts(Some(CHALLENGE)))
        .unwrap_err();
    assert!(
        matches!(r.error, Error::CollateralMissing(_)),
        "{}",
        r.error
    );
    let td = TdReport::parse(HclReport::parse(&ev.hcl_report).unwrap().hw_report).unwrap();
    td.check_hashes().unwrap();
}

/// Collateral is consulted when given: another platform's (FMSPC
/// B0C06F000000, dcap-qvl's sample) is rejected, not waved through.
#[test]
fn trustee_tdx_with_another_platforms_collateral_is_rejected() {
    let Some(d) = dir(TDX) else { return };
    let Some(c) = dir("tdx/dcap-qvl/tdx_quote_collateral.json") else {
        return;
    };
    let mut coll = Collateral::new();
    coll.add(AzureKind::Tdx, "tdx_quote_collateral.json", &read(&c))
        .unwrap();
    let o = Options {
        at: Some(datetime!(2025-07-04 00:00 UTC)),
        ..opts(Some(CHALLENGE))
    };
    let r = verifier()
        .verify(&read(&d.join("evidence-v1.json")), None, &coll, &o)
        .unwrap_err();
    assert!(matches!(r.error, Error::Tdx(_)), "{}", r.error);
}

// ---- kinvolk/azure-cvm-tooling --------------------------------------------------

/// MUST FAIL: the HCL report and certs.pem come from different VMs (the
/// VCEK's hwID is not the report's chip_id), so the SNP report does not
/// verify, although the VCEK -> ASK -> ARK chain itself is valid and the
/// report binds its runtime data.
#[test]
fn kinvolk_snp_report_fails_with_another_vms_vcek() {
    let Some(d) = dir(KINVOLK) else { return };
    let exp = &expected(&d)["hcl-report-snp.bin"];
    assert_eq!(exp["snp"]["report_signature_valid"], false);
    let hcl = read(&d.join("hcl-report-snp.bin"));
    assert_hcl_header(&hcl, &exp["hcl_header"], "hcl-report-snp.bin");
    let h = HclReport::parse(&hcl).unwrap();
    let report = rootline_snp::Report::parse(h.hw_report).unwrap();
    assert_eq!(hex::encode(report.chip_id), exp["snp"]["report"]["chip_id"]);
    assert_eq!(
        hex::encode(report.report_data),
        exp["snp"]["report"]["report_data"]
    );
    assert_eq!(sha256(h.var_data), report.report_data[..32]);
    assert_eq!(ak_fingerprint(h.var_data), exp["ak_spki_sha256"]);
    let rt = RuntimeData::parse(h.var_data).unwrap();
    assert_eq!(Value::Object(rt.json), exp["var_data_json"]);

    let certs = read(&d.join("certs.pem"));
    let ders = pem_certs(&certs);
    assert_eq!(ders.len(), 3, "VCEK, ASK, ARK");
    // The chain alone verifies.
    let mut sc = rootline_snp::Collateral::new();
    sc.add("certs.pem", &certs).unwrap();
    rootline_snp::Verifier::amd()
        .verify_chain(&sc, rootline_snp::VekKind::Vcek, Some(AT))
        .unwrap();

    let ev = Evidence {
        kind: AzureKind::Snp,
        version: 1,
        hcl_report: hcl,
        tpm_quote: bincode_quote(&read(&d.join("quote.bin"))),
        vcek: ders.first().cloned(),
        td_quote: None,
    };
    let mut coll = Collateral::new();
    coll.add(AzureKind::Snp, "certs.pem", &certs).unwrap();
    for c in [Collateral::new(), coll] {
        let r = verifier()
            .verify_evidence(&ev, &c, &opts(Some(CHALLENGE)))
            .unwrap_err();
        assert!(matches!(r.error, Error::Snp(_)), "{}", r.error);
        // Claims of the report are still shown.
        assert_eq!(r.claims["chip_id"], exp["snp"]["report"]["chip_id"]);
    }
}

/// quote.bin is signed by akpub.pem (another VM than the HCL report's AK):
/// valid with it, extraData "challenge", PCR digest over 24 SHA-256 PCRs;
/// and rejected with the HCL report's AK.
#[test]
fn kinvolk_quote_verifies_with_akpub_only() {
    let Some(d) = dir(KINVOLK) else { return };
    let exp = &expected(&d)["hcl-report-snp.bin"];
    assert_eq!(exp["akpub_pem_equals_hcl_ak"], false);
    let q = bincode_quote(&read(&d.join("quote.bin")));
    let akpub = rootline_tpm::AkPublic::from_bytes(&read(&d.join("akpub.pem")))
        .unwrap()
        .key;
    let ok = vtpm::verify(&q, &akpub, Some(CHALLENGE))
        .unwrap()
        .into_inner();
    let claims = ok.claims();
    assert_eq!(
        claims["pcrs"]["sha256"].as_object().unwrap(),
        exp["tpm_quote"]["pcrs_sha256"].as_object().unwrap()
    );
    assert_eq!(
        claims["extra_data"],
        exp["tpm_quote"]["attest"]["extra_data"]
    );
    assert_eq!(
        hex::encode(ok.quote.attest.quote_info().unwrap().1),
        exp["tpm_quote"]["attest"]["pcr_digest"]
    );

    let h_bytes = read(&d.join("hcl-report-snp.bin"));
    let hcl_ak = RuntimeData::parse(HclReport::parse(&h_bytes).unwrap().var_data)
        .unwrap()
        .ak;
    assert_ne!(hcl_ak, akpub);
    let e = vtpm::verify(&q, &hcl_ak, Some(CHALLENGE)).unwrap_err();
    assert!(
        matches!(e, Error::Tpm(rootline_tpm::Error::BadSignature { .. })),
        "{e}"
    );
}

/// var-data.bin is runtime data of yet another VM: it parses, and it is not
/// the runtime data the HCL report binds.
#[test]
fn kinvolk_var_data_is_not_the_reports() {
    let Some(d) = dir(KINVOLK) else { return };
    let exp = &expected(&d)["hcl-report-snp.bin"];
    assert_eq!(exp["var_data_bin_equals_hcl_var_data"], false);
    let vd = read(&d.join("var-data.bin"));
    RuntimeData::parse(&vd).unwrap();
    let hcl = read(&d.join("hcl-report-snp.bin"));
    let h = HclReport::parse(&hcl).unwrap();
    assert_ne!(h.var_data, &vd[..]);
    let report = rootline_snp::Report::parse(h.hw_report).unwrap();
    assert_ne!(sha256(&vd), report.report_data[..32]);
}

/// Parse-only: a TDX HCL report with no TD quote of its own. The TDREPORT
/// parses, its hashes hold, it binds its runtime data; as evidence it fails
/// (no TD quote, or the Trustee TD's quote, made from another TDREPORT).
#[test]
fn kinvolk_tdx_report_parses_but_does_not_verify() {
    let Some(d) = dir(KINVOLK) else { return };
    let exp = &expected(&d)["hcl-report-tdx.bin"];
    let hcl = read(&d.join("hcl-report-tdx.bin"));
    assert_hcl_header(&hcl, &exp["hcl_header"], "hcl-report-tdx.bin");
    let h = HclReport::parse(&hcl).unwrap();
    let td = TdReport::parse(h.hw_report).unwrap();
    td.check_hashes().unwrap();
    assert_eq!(hex::encode(td.report_data), exp["td_report_report_data"]);
    assert_eq!(sha256(h.var_data), td.report_data[..32]);
    assert_eq!(ak_fingerprint(h.var_data), exp["ak_spki_sha256"]);
    let rt = RuntimeData::parse(h.var_data).unwrap();
    assert_eq!(Value::Object(rt.json), exp["var_data_json"]);

    let mut ev = Evidence {
        kind: AzureKind::Tdx,
        version: 1,
        hcl_report: hcl,
        tpm_quote: bincode_quote(&read(&d.join("quote.bin"))),
        vcek: None,
        td_quote: None,
    };
    let r = verifier()
        .verify_evidence(&ev, &Collateral::new(), &opts(Some(CHALLENGE)))
        .unwrap_err();
    assert!(
        matches!(&r.error, Error::Evidence { field, .. } if field == "td_quote"),
        "{}",
        r.error
    );
    let Some(t) = dir(TDX) else { return };
    ev.td_quote = Some(read(&t.join("td-quote.bin")));
    let r = verifier()
        .verify_evidence(&ev, &Collateral::new(), &opts(Some(CHALLENGE)))
        .unwrap_err();
    assert!(
        matches!(
            r.error,
            Error::Mismatch {
                field: "tdreport",
                ..
            }
        ),
        "{}",
        r.error
    );
}

// ---- forms and detection --------------------------------------------------------

#[test]
fn detection_and_unknown_versions() {
    let (Some(s), Some(t)) = (dir(SNP), dir(TDX)) else {
        return;
    };
    for f in ["evidence-v0.json", "evidence-v1.json"] {
        assert_eq!(detect(&read(&s.join(f))), Some(AzureKind::Snp), "{f}");
        assert_eq!(detect(&read(&t.join(f))), Some(AzureKind::Tdx), "{f}");
    }
    for f in ["tpm-quote-v1.json", "hcl-report.bin", "quote.bin"] {
        assert_eq!(detect(&read(&s.join(f))), None, "{f}");
    }
    let mut v: Value = serde_json::from_slice(&read(&s.join("evidence-v1.json"))).unwrap();
    v["version"] = 3.into();
    let e = Evidence::from_value(&v).unwrap_err();
    assert!(matches!(e, Error::Unsupported { .. }), "{e}");
    // The kind asked for must be the evidence's.
    let r = verifier()
        .verify(
            &read(&s.join("evidence-v1.json")),
            Some(AzureKind::Tdx),
            &Collateral::new(),
            &opts(Some(CHALLENGE)),
        )
        .unwrap_err();
    assert!(
        matches!(r.error, Error::Mismatch { field: "tee", .. }),
        "{}",
        r.error
    );
}

#[test]
fn init_data_is_checked_against_pcr8() {
    let Some(d) = dir(SNP) else { return };
    // PCR 8 is zero in this capture: no init data was bound.
    let o = Options {
        init_data_hash: Some(vec![0; 32]),
        ..opts(Some(CHALLENGE))
    };
    let r = verifier()
        .verify(
            &read(&d.join("evidence-v1.json")),
            None,
            &Collateral::new(),
            &o,
        )
        .unwrap_err();
    assert!(
        matches!(
            r.error,
            Error::Mismatch {
                field: "init data",
                ..
            }
        ),
        "{}",
        r.error
    );
}

// ---- bit flips ------------------------------------------------------------------

fn rejected(ev: &Evidence) -> bool {
    verifier()
        .verify_evidence(ev, &Collateral::new(), &opts(Some(CHALLENGE)))
        .is_err()
}

/// For TDX, "not verified" is any error other than the missing collateral
/// the unmodified evidence ends at.
fn rejected_tdx(ev: &Evidence) -> bool {
    match verifier().verify_evidence(ev, &Collateral::new(), &opts(Some(CHALLENGE))) {
        Ok(_) => false,
        Err(r) => !matches!(r.error, Error::CollateralMissing(_)),
    }
}

/// Flips one bit (rotating through the eight) of every byte of `range` in
/// the field `pick` selects, and requires every variant to be rejected.
fn flip_all(
    base: &Evidence,
    what: &str,
    len: usize,
    pick: fn(&mut Evidence) -> &mut Vec<u8>,
    offset: usize,
    skip: &[std::ops::Range<usize>],
    judge: fn(&Evidence) -> bool,
) {
    let mut passed = Vec::new();
    for i in 0..len {
        if skip.iter().any(|r| r.contains(&i)) {
            continue;
        }
        let mut ev = base.clone();
        pick(&mut ev)[offset + i] ^= 1 << (i % 8);
        if !judge(&ev) {
            passed.push(i);
        }
    }
    assert!(
        passed.is_empty(),
        "{what}: flips at {passed:?} were accepted"
    );
}

fn hcl(e: &mut Evidence) -> &mut Vec<u8> {
    &mut e.hcl_report
}

fn msg(e: &mut Evidence) -> &mut Vec<u8> {
    &mut e.tpm_quote.message
}

fn sig(e: &mut Evidence) -> &mut Vec<u8> {
    &mut e.tpm_quote.signature
}

fn tdq(e: &mut Evidence) -> &mut Vec<u8> {
    e.td_quote.as_mut().unwrap()
}

#[test]
fn snp_one_bit_flips_are_rejected() {
    let Some(d) = dir(SNP) else { return };
    let base = Evidence::decode(&read(&d.join("evidence-v1.json"))).unwrap();
    assert!(!rejected(&base));
    let var_len = HclReport::parse(&base.hcl_report).unwrap().var_data.len();
    flip_all(&base, "snp report", 1184, hcl, 32, &[], rejected);
    flip_all(
        &base,
        "runtime data",
        var_len,
        hcl,
        VAR_DATA_OFFSET,
        &[],
        rejected,
    );
    flip_all(&base, "hcl headers", 32, hcl, 0, &[], rejected);
    flip_all(&base, "runtime header", 20, hcl, 1216, &[], rejected);
    // Every bit of the TPMS_ATTEST.
    for bit in 0..8 {
        let mut passed = Vec::new();
        for i in 0..base.tpm_quote.message.len() {
            let mut ev = base.clone();
            msg(&mut ev)[i] ^= 1 << bit;
            if !rejected(&ev) {
                passed.push(i);
            }
        }
        assert!(passed.is_empty(), "tpm message bit {bit}: {passed:?}");
    }
    flip_all(
        &base,
        "tpm signature",
        base.tpm_quote.signature.len(),
        sig,
        0,
        &[],
        rejected,
    );
    for i in 0..base.tpm_quote.pcrs.len() {
        let mut ev = base.clone();
        ev.tpm_quote.pcrs[i][i % 32] ^= 1;
        assert!(rejected(&ev), "pcr {i}");
    }
}

#[test]
fn tdx_one_bit_flips_are_rejected() {
    let Some(d) = dir(TDX) else { return };
    let base = Evidence::decode(&read(&d.join("evidence-v1.json"))).unwrap();
    assert!(!rejected_tdx(&base));
    let var_len = HclReport::parse(&base.hcl_report).unwrap().var_data.len();
    // Not judged: REPORTTYPE.VERSION (0 or 1), CPUSVN (16..32) and the MAC
    // (224..256), which only the CPU can check; every quoted field and both
    // hashes are.
    let unjudged = [2..3, 16..32, 224..256];
    flip_all(&base, "tdreport", 1024, hcl, 32, &unjudged, rejected_tdx);
    flip_all(
        &base,
        "tdreport padding",
        160,
        hcl,
        32 + 1024,
        &[],
        rejected_tdx,
    );
    flip_all(
        &base,
        "runtime data",
        var_len,
        hcl,
        VAR_DATA_OFFSET,
        &[],
        rejected_tdx,
    );
    let msg_len = base.tpm_quote.message.len();
    flip_all(&base, "tpm message", msg_len, msg, 0, &[], rejected_tdx);
    flip_all(
        &base,
        "tpm signature",
        base.tpm_quote.signature.len(),
        sig,
        0,
        &[],
        rejected_tdx,
    );
    // The TD quote's signed header and body.
    flip_all(&base, "td quote", 48 + 584, tdq, 0, &[], rejected_tdx);
}

// ---- truncation -----------------------------------------------------------------

/// Offsets to cut at: every one up to 64, then a stride, and every one in
/// the last 64 bytes.
fn cuts(len: usize) -> impl Iterator<Item = usize> {
    (0..len).filter(move |&i| i < 64 || i % 37 == 0 || i + 64 >= len)
}

#[test]
fn truncation_never_panics_and_never_passes() {
    let (Some(s), Some(t)) = (dir(SNP), dir(TDX)) else {
        return;
    };
    for (folder, judge) in [(&s, rejected as fn(&Evidence) -> bool), (&t, rejected_tdx)] {
        for f in ["evidence-v0.json", "evidence-v1.json"] {
            let bytes = read(&folder.join(f));
            let end = bytes.trim_ascii_end().len();
            for cut in cuts(end) {
                let r = verifier().verify(
                    &bytes[..cut],
                    None,
                    &Collateral::new(),
                    &opts(Some(CHALLENGE)),
                );
                assert!(r.is_err(), "{f} cut at {cut}");
            }
            let base = Evidence::decode(&bytes).unwrap();
            // The HCL report up to the end of its runtime data (the zeros
            // after it are NV-index padding, not content).
            let size = HclReport::parse(&base.hcl_report).unwrap().report_size as usize;
            for cut in cuts(size) {
                let mut ev = base.clone();
                ev.hcl_report.truncate(cut);
                assert!(judge(&ev), "{f}: hcl report cut at {cut}");
            }
            for cut in 0..base.tpm_quote.message.len() {
                let mut ev = base.clone();
                ev.tpm_quote.message.truncate(cut);
                assert!(judge(&ev), "{f}: tpm message cut at {cut}");
            }
            for cut in cuts(base.tpm_quote.signature.len()) {
                let mut ev = base.clone();
                ev.tpm_quote.signature.truncate(cut);
                assert!(judge(&ev), "{f}: tpm signature cut at {cut}");
            }
            if let Some(q) = &base.td_quote {
                for cut in cuts(q.len()) {
                    let mut ev = base.clone();
                    ev.td_quote.as_mut().unwrap().truncate(cut);
                    // Cuts inside the unsigned padding after the quote's
                    // signature data only remove that padding.
                    if cut >= q.len() - 70 {
                        continue;
                    }
                    assert!(judge(&ev), "{f}: td quote cut at {cut}");
                }
            }
            if let Some(v) = &base.vcek {
                for cut in cuts(v.len()) {
                    let mut ev = base.clone();
                    ev.vcek.as_mut().unwrap().truncate(cut);
                    assert!(judge(&ev), "{f}: vcek cut at {cut}");
                }
            }
        }
    }
}

//! GCP vTPM evidence as Google's tooling prints it, through the command
//! line: a Google Cloud Attestation `VerifyAttestation` request body with a
//! TD quote beside the vTPM quotes, assembled at test time from real pieces
//! (the go-tpm-tools GCE quotes, AK certificate and event log; dcap-qvl's TD
//! quote and collateral), through `rootline verify --json` and `rootline
//! appraise`. The library-level cases (SNP, CCEL, launcher evidence,
//! protojson, every negative) are in rootline-verifier's `tests/gcp_json.rs`.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

mod common;
use common::{p, run as rootline};

fn b64(b: &[u8]) -> Value {
    Value::String(STANDARD.encode(b))
}

/// The REST body: the three GCE quotes with the PCR values the collector
/// recorded, the AK certificate, the event log and `quote` as `tdCcel`.
fn rest_body(tpm: &Path, quote: &[u8]) -> Value {
    let read = |f: &str| std::fs::read(tpm.join(format!("gce-cos-85-no-nonce.{f}"))).unwrap();
    let expected: Value =
        serde_json::from_slice(&std::fs::read(tpm.join("expected.json")).unwrap()).unwrap();
    let exp = &expected["gce-cos-85-no-nonce.pb"]["quotes"];
    let quotes: Vec<Value> = [("sha1", 4), ("sha256", 11), ("sha384", 12)]
        .iter()
        .enumerate()
        .map(|(i, (bank, alg))| {
            let pcrs: serde_json::Map<String, Value> = exp[i]["pcrs"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), b64(&hex::decode(v.as_str().unwrap()).unwrap())))
                .collect();
            json!({
                "hashAlgo": alg,
                "pcrValues": pcrs,
                "rawQuote": b64(&read(&format!("quote{i}_{bank}.tpms_attest.bin"))),
                "rawSignature": b64(&read(&format!("quote{i}_{bank}.tpmt_signature.bin"))),
            })
        })
        .collect();
    json!({
        "challenge": "projects/p/locations/us-central1/challenges/c0ffee",
        "tpmAttestation": {
            "quotes": quotes,
            "tcgEventLog": b64(&read("event_log.bin")),
            "akCert": b64(&read("ak_cert.der")),
        },
        "tdCcel": {"tdQuote": b64(quote)},
    })
}

#[test]
fn rest_request_with_a_td_quote_verifies_and_appraises_through_the_cli() {
    let (Some(tpm), Some(tdx)) = (
        rootline_testkit::vector("tpm-quote/go-tpm-tools"),
        rootline_testkit::vector("tdx/dcap-qvl"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let quote = std::fs::read(tdx.join("tdx_quote")).unwrap();
    let body = dir.path().join("verify-attestation.json");
    std::fs::write(&body, rest_body(&tpm, &quote).to_string()).unwrap();
    let ca = tpm.join("gce-ca-certs");
    let coll: Vec<PathBuf> = vec![
        ca.join("tpm_ek_root_1.cer"),
        ca.join("tpm_ek_intermediate_2.crt"),
        tdx.join("tdx_quote_collateral.json"),
    ];
    let mut args = vec!["verify", p(&body), "--at", "2025-07-04T10:24:15Z"];
    for c in &coll {
        args.extend(["--collateral", p(c)]);
    }
    let (code, out, err) = rootline(&[args.as_slice(), &["--json"]].concat());
    assert_eq!(code, 0, "{out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["tee"], "tpm");
    assert_eq!(v["verified"], true);
    assert_eq!(
        v["claims"]["evidence_form"],
        "google cloud attestation request"
    );
    assert_eq!(v["claims"]["event_log"]["matches_quote"], true);
    assert_eq!(
        v["claims"]["ak_trust"]["certificate_chain"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(v["claims"]["tdx"]["mr_td"].as_str().unwrap().len(), 96);
    assert!(v["tcb_status"].is_string(), "{v}");
    assert!(
        v["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("not cryptographically bound")),
        "{v}"
    );

    // One bit of the TD quote flipped: exit 1, the part named.
    let mut q = quote.clone();
    q[48 + 136] ^= 0x01;
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, rest_body(&tpm, &q).to_string()).unwrap();
    let mut bad_args = args.clone();
    bad_args[1] = p(&bad);
    let (code, out, _) = rootline(&[bad_args.as_slice(), &["--json"]].concat());
    assert_eq!(code, 1, "{out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(v["error"].as_str().unwrap().starts_with("tdCcel: "), "{v}");

    // Appraisal: the verified claims imported as reference values, the TD
    // quote's among them (tpm.tdx.*), then the same evidence appraised.
    let verified = dir.path().join("verified.json");
    let (code, out, err) = rootline(&[args.as_slice(), &["--json"]].concat());
    assert_eq!(code, 0, "{err}");
    std::fs::write(&verified, out).unwrap();
    let data = dir.path().join("data");
    let d = p(&data);
    let (code, out, err) = rootline(&[
        "reference",
        "--data-dir",
        d,
        "import",
        p(&verified),
        "--json",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let keys: Vec<String> = serde_json::from_str::<Value>(&out)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap().to_owned())
        .collect();
    assert!(keys.iter().any(|k| k.starts_with("tpm.pcr.")), "{keys:?}");
    assert!(keys.iter().any(|k| k == "tpm.tdx.mr_td"), "{keys:?}");
    let mut appraise = vec!["appraise"];
    appraise.extend(&args[1..]);
    appraise.extend(["--data-dir", d, "--json"]);
    let (code, out, err) = rootline(&appraise);
    assert_eq!(code, 0, "{out}{err}");
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["status"], "affirming", "{j}");
    assert_eq!(j["devices"][0]["device"], "tpm0");
    assert!(j["token"].is_string());

    // Another MRTD accepted instead of this one: the TD quote's claim is
    // appraised, and named.
    let (code, _, err) = rootline(&["reference", "--data-dir", d, "delete", "tpm.tdx.mr_td"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = rootline(&[
        "reference",
        "--data-dir",
        d,
        "add",
        "tpm.tdx.mr_td",
        &"00".repeat(48),
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = rootline(&appraise);
    assert_eq!(code, 1, "{out}{err}");
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["status"], "contraindicated", "{j}");
    assert!(
        j["devices"][0]["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["key"] == "tpm.tdx.mr_td"),
        "{}",
        j["devices"][0]["reasons"]
    );
}

/// A GHCB extended-report certificate table holding one VCEK.
fn vcek_table(vcek: &[u8]) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(&rootline_snp::certtable::CertGuid::VCEK.0);
    t.extend_from_slice(&48u32.to_le_bytes());
    t.extend_from_slice(&u32::try_from(vcek.len()).unwrap().to_le_bytes());
    t.extend_from_slice(&[0u8; 24]);
    t.extend_from_slice(vcek);
    t
}

#[test]
fn rest_request_with_a_debug_snp_report_is_refused_by_the_default_tpm_policy() {
    let (Some(tpm), Some(snp)) = (
        rootline_testkit::vector("tpm-quote/go-tpm-tools"),
        rootline_testkit::vector("snp/go-sev-guest"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut body = rest_body(&tpm, &[]);
    body.as_object_mut().unwrap().remove("tdCcel");
    let report = std::fs::read(snp.join("attestation.bin")).unwrap();
    let vcek = std::fs::read(snp.join("vcek.der")).unwrap();
    body["sevSnpAttestation"] = json!({"report": b64(&report), "auxBlob": b64(&vcek_table(&vcek))});
    let file = dir.path().join("verify-attestation.json");
    std::fs::write(&file, body.to_string()).unwrap();
    let ca = tpm.join("gce-ca-certs");
    let ask_ark = snp.join("ask_ark_milan.pem");
    let (root, inter) = (
        ca.join("tpm_ek_root_1.cer"),
        ca.join("tpm_ek_intermediate_2.crt"),
    );
    let common = [
        p(&file),
        "--at",
        "2025-07-04T10:24:15Z",
        "--collateral",
        p(&root),
        "--collateral",
        p(&inter),
        "--collateral",
        p(&ask_ark),
    ];
    let (code, out, err) = rootline(&[&["verify"][..], &common, &["--json"]].concat());
    assert_eq!(code, 0, "{out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["claims"]["snp"]["debug_allowed"], true, "{v}");
    // go-sev-guest's test report allows debugging: the TPM policy holds the
    // report beside the quotes to the SNP rule.
    let data = dir.path().join("data");
    let (code, out, err) = rootline(
        &[
            &["appraise"][..],
            &common,
            &["--data-dir", p(&data), "--json"],
        ]
        .concat(),
    );
    assert_eq!(code, 1, "{out}{err}");
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["status"], "contraindicated");
    assert!(
        j["devices"][0]["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["key"] == "tpm.snp.debug_allowed"),
        "{}",
        j["devices"][0]["reasons"]
    );
}

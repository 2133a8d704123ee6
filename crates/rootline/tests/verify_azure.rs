//! `rootline verify` on Azure confidential-VM evidence as guest-components
//! sends it (az-snp-vtpm, az-tdx-vtpm), through the real binary: Trustee's
//! real evidence files, detection without `--tee`, the vTPM quote's nonce
//! as the binding, and the TDX form stopping where collateral is missing;
//! and the MAA request bodies Azure's tooling prints, composed from the
//! same vector.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use serde_json::Value;

fn run(args: &[&str]) -> (i32, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_rootline"))
        .arg("verify")
        .env("ROOTLINE_OFFLINE", "1")
        .env(
            "ROOTLINE_CACHE_DIR",
            std::env::temp_dir().join("rootline-tests-no-cache"),
        )
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap(), v)
}

/// The nonce Trustee's fixtures were made with ("challenge").
const NONCE: &str = "6368616c6c656e6765";

#[test]
fn trustee_az_snp_vtpm_evidence_verifies_and_binds_its_nonce() {
    let Some(dir) = rootline_testkit::vector("azure/trustee-az-snp-vtpm") else {
        return;
    };
    for file in ["evidence-v0.json", "evidence-v1.json"] {
        let f = dir.join(file);
        let f = f.to_str().unwrap();
        let (code, v) = run(&[f, "--nonce", NONCE]);
        assert_eq!(code, 0, "{file}: {v}");
        assert_eq!(v["tee"], "azure-snp");
        assert_eq!(v["claims"]["extra_data"], NONCE);
        assert_eq!(v["claims"]["vmpl"], 0);
        assert_eq!(
            v["claims"]["tpm"]["pcrs"]["sha256"]
                .as_object()
                .unwrap()
                .len(),
            24
        );
        // Another nonce: the vTPM quote does not carry it.
        let (code, v) = run(&[f, "--tee", "azure-snp", "--nonce", "00"]);
        assert_eq!(code, 1, "{file}: {v}");
        assert!(v["error"].as_str().unwrap().contains("nonce"), "{v}");
    }
}

#[test]
fn trustee_az_tdx_vtpm_evidence_stops_at_missing_collateral() {
    let Some(dir) = rootline_testkit::vector("azure/trustee-az-tdx-vtpm") else {
        return;
    };
    let mut seen = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if !(name.starts_with("evidence") && name.ends_with(".json")) {
            continue;
        }
        let (code, v) = run(&[p.to_str().unwrap()]);
        assert_eq!(code, 1, "{name}: {v}");
        assert_eq!(v["tee"], "azure-tdx", "{name}");
        assert!(
            v["error"].as_str().unwrap().contains("collateral missing"),
            "{name}: {v}"
        );
        seen += 1;
    }
    assert!(seen > 0);
}

// ---- MAA request bodies ---------------------------------------------------------

/// TPM2B_PUBLIC of an RSA-2048 signing key with modulus `n` (default exponent).
fn tpm2b_public(n: &[u8]) -> Vec<u8> {
    let mut t = vec![
        0x00, 0x01, 0x00, 0x0b, 0x00, 0x05, 0x00, 0x72, 0x00, 0x00, 0x00, 0x10,
    ];
    t.extend_from_slice(&[0x00, 0x14, 0x00, 0x0b, 0x08, 0x00, 0, 0, 0, 0]);
    t.extend_from_slice(&(n.len() as u16).to_be_bytes());
    t.extend_from_slice(n);
    let mut b = (t.len() as u16).to_be_bytes().to_vec();
    b.extend_from_slice(&t);
    b
}

/// The SNP vector's pieces as the two MAA requests: (platform, AzureGuest
/// inner JSON), composed from hcl-report.bin, vcek.pem and tpm-quote-v1.json.
fn snp_maa_requests(dir: &std::path::Path) -> (Value, Value) {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    let hcl = std::fs::read(dir.join("hcl-report.bin")).unwrap();
    // HCL report: the SNP report at 32..1216; the runtime data's size at
    // 1232, the data from 1236.
    let report = &hcl[32..1216];
    let size = u32::from_le_bytes(hcl[1232..1236].try_into().unwrap()) as usize;
    let runtime = &hcl[1236..1236 + size];
    let chain = std::fs::read(dir.join("vcek.pem")).unwrap();
    let q: Value =
        serde_json::from_slice(&std::fs::read(dir.join("tpm-quote-v1.json")).unwrap()).unwrap();
    let h = |v: &Value| hex::decode(v.as_str().unwrap()).unwrap();
    let rt: Value = serde_json::from_slice(runtime).unwrap();
    let n = rt["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == "HCLAkPub")
        .unwrap()["n"]
        .as_str()
        .unwrap();
    let n = B64.decode(n).unwrap();
    let sig = h(&q["signature"]);
    let mut tpmt_sig = vec![0x00, 0x14, 0x00, 0x0b];
    tpmt_sig.extend_from_slice(&(sig.len() as u16).to_be_bytes());
    tpmt_sig.extend_from_slice(&sig);
    let proof =
        serde_json::json!({"SnpReport": B64.encode(report), "VcekCertChain": B64.encode(&chain)});
    let proof = B64.encode(serde_json::to_vec(&proof).unwrap());
    let platform = serde_json::json!({
        "report": proof,
        "runtimeData": {"data": B64.encode(runtime), "dataType": "JSON"},
    });
    let pcrs: Vec<Value> = q["pcrs"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, p)| serde_json::json!({"Index": i, "Digest": B64.encode(h(p))}))
        .collect();
    let guest = serde_json::json!({
        "AttestationProtocolVersion": "2.0",
        "TpmInfo": {
            "AikPub": B64.encode(tpm2b_public(&n)),
            "PcrQuote": B64.encode(h(&q["message"])),
            "PcrSignature": B64.encode(&tpmt_sig),
            "PCRs": pcrs,
        },
        "IsolationInfo": {"Type": "SevSnp", "Evidence": {"Proof": proof, "RunTimeData": B64.encode(runtime)}},
    });
    (platform, guest)
}

#[test]
fn maa_requests_from_azure_tooling_are_detected_and_verified() {
    let Some(dir) = rootline_testkit::vector("azure/trustee-az-snp-vtpm") else {
        return;
    };
    let (platform, guest) = snp_maa_requests(&dir);
    let tmp = tempfile::tempdir().unwrap();
    // As `azure-guest-attest guest-attest --show-request` prints it.
    let g = tmp.path().join("guest.txt");
    std::fs::write(
        &g,
        format!(
            "Request JSON:\n{}\n",
            serde_json::to_string_pretty(&guest).unwrap()
        ),
    )
    .unwrap();
    let (code, v) = run(&[g.to_str().unwrap(), "--nonce", NONCE]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["tee"], "azure-snp");
    assert_eq!(v["claims"]["evidence_form"], "maa-azure-guest");
    assert_eq!(v["claims"]["extra_data"], NONCE);
    let (code, v) = run(&[g.to_str().unwrap(), "--nonce", "00"]);
    assert_eq!(code, 1, "{v}");

    // The platform request binds the nonce in user-data (zeros here).
    let p = tmp.path().join("platform.json");
    std::fs::write(&p, serde_json::to_vec(&platform).unwrap()).unwrap();
    let (code, v) = run(&[p.to_str().unwrap(), "--nonce", &"00".repeat(32)]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["claims"]["evidence_form"], "maa-platform");
    assert!(v["claims"].get("tpm").is_none());
    let (code, v) = run(&[p.to_str().unwrap(), "--nonce", NONCE]);
    assert_eq!(code, 1, "{v}");
    assert!(v["error"].as_str().unwrap().contains("user-data"), "{v}");

    // Trusted launch is not a TEE: detection says what it tried.
    let mut tl = guest.clone();
    tl["IsolationInfo"]["Type"] = "TrustedLaunch".into();
    let t = tmp.path().join("tl.json");
    std::fs::write(&t, serde_json::to_vec(&tl).unwrap()).unwrap();
    let (code, v) = run(&[t.to_str().unwrap()]);
    assert_ne!(code, 0, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("MAA AzureGuest"),
        "{v}"
    );
    let (_, v) = run(&[t.to_str().unwrap(), "--tee", "azure-snp"]);
    assert!(
        v["error"].as_str().unwrap().contains("TrustedLaunch"),
        "{v}"
    );
}

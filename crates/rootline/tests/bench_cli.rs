//! `rootline bench verify` runs on real vectors and prints its fields. No
//! timing is asserted: only that each figure is there and positive.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::Command;

use serde_json::Value;

fn v(rel: &str) -> Option<String> {
    Some(rootline_testkit::vector(rel)?.to_str()?.to_owned())
}

fn positive(j: &Value, what: &str) {
    let x = j
        .as_f64()
        .unwrap_or_else(|| panic!("{what} is not a number: {j}"));
    assert!(x > 0.0, "{what} = {x}");
}

#[test]
fn bench_verify_snp_and_tdx_prints_costs_floors_and_ratios() {
    let (Some(snp), Some(vcek), Some(chain), Some(tdx), Some(tdx_coll)) = (
        v("snp/go-sev-guest/attestation.bin"),
        v("snp/go-sev-guest/vcek.der"),
        v("snp/go-sev-guest/ask_ark_milan.pem"),
        v("tdx/dcap-qvl/tdx_quote"),
        v("tdx/dcap-qvl/tdx_quote_collateral.json"),
    ) else {
        return;
    };
    let cache = tempfile::tempdir().unwrap();
    let run = |at: &str, ev: &str, coll: &[&str]| -> Value {
        let mut c = Command::new(env!("CARGO_BIN_EXE_rootline"));
        c.args([
            "bench",
            "verify",
            ev,
            "--at",
            at,
            "--iterations",
            "20",
            "--json",
        ])
        .args(["--offline", "--cache-dir"])
        .arg(cache.path());
        for f in coll {
            c.args(["--collateral", f]);
        }
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    // SNP: one evidence, so the four summary fields are at the top too.
    let j = run("2026-06-01T00:00:00Z", &snp, &[&vcek, &chain, &tdx_coll]);
    for k in ["ops_per_sec", "p50_us", "p99_us"] {
        positive(&j[k], k);
    }
    assert_eq!(j["iterations"], 20);
    let r = &j["results"][0];
    assert_eq!(r["tee"], "snp");
    assert_eq!(r["verified"], true);
    positive(&r["floor"]["p50_us"], "snp floor");
    positive(&r["floor_ratio"], "snp floor_ratio");
    positive(&r["end_to_end"]["ops_per_sec"], "snp end to end");
    assert!(r["floor"]["what"].as_str().unwrap().contains("P-384"));

    // TDX: the dcap-qvl peer and two P-256 as the floor.
    let j = run("2025-07-04T10:24:15Z", &tdx, &[&vcek, &tdx_coll]);
    let r = &j["results"][0];
    assert_eq!(r["tee"], "tdx", "{j:#}");
    positive(&r["p50_us"], "tdx p50");
    positive(&r["peer"]["p50_us"], "dcap-qvl p50");
    positive(&r["speedup_vs_peer"], "speedup");
    positive(&r["floor_ratio"], "tdx floor_ratio");
    assert!(r["floor"]["what"].as_str().unwrap().contains("P-256"));

    // CCA: the CPAK given as collateral (the other files are not taken for
    // it), two ECDSA verifies of the token's algorithms as the floor.
    if let (Some(cca), Some(cpak)) = (
        v("cca/trustee/cca-example-token.cbor"),
        v("cca/trustee/cpak-pub.json"),
    ) {
        let j = run("2025-07-04T10:24:15Z", &cca, &[&cpak, &tdx_coll]);
        let r = &j["results"][0];
        assert_eq!(r["tee"], "cca", "{j:#}");
        assert_eq!(r["verified"], true, "{j:#}");
        positive(&r["floor"]["p50_us"], "cca floor");
        positive(&r["floor_ratio"], "cca floor_ratio");
        positive(&r["end_to_end_floor_ratio"], "cca end-to-end ratio");
        assert!(r["floor"]["what"].as_str().unwrap().contains("ECDSA"));
    }

    // IBM SE: see bench_verify_se_prints_the_hmac_floor_and_ratios (its
    // evidence is synthetic).

    // NVIDIA: eight H100s, their chains' and reports' P-384 signatures as
    // the floor.
    if let Some(gpus) = v("nvidia/nvtrust/gpu_evidence.json") {
        let j = run("2025-07-04T10:24:15Z", &gpus, &[]);
        let r = &j["results"][0];
        assert_eq!(r["tee"], "nvidia", "{j:#}");
        assert_eq!(r["verified"], true, "{j:#}");
        positive(&r["floor_ratio"], "nvidia floor_ratio");
        positive(&r["end_to_end_floor_ratio"], "nvidia end-to-end ratio");
        assert!(r["floor"]["what"].as_str().unwrap().contains("P-384"));
    }
}

/// IBM SE: a synthetic Ultravisor's answer to a request made with
/// rootline-se, verified with its request secret beside one HMAC-SHA512.
#[test]
fn bench_verify_se_prints_the_hmac_floor_and_ratios() {
    use rootline_testkit::se::{Image, Pki, evidence_json};
    let pki = Pki::new();
    let host = pki.host(1);
    let key = rootline_se::HostKey::from_certificate_unverified(&host.der).unwrap();
    let req = rootline_se::AttestationRequest::new(&[key], rootline_se::Flags::TRUSTEE).unwrap();
    let uv = host.ultravisor(Image::default());
    let user_data = [0x42u8; 64];
    let answer = uv.answer(req.arcb(), &user_data).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ev = dir.path().join("se-evidence.json");
    let secret = dir.path().join("secret.json");
    std::fs::write(
        &ev,
        evidence_json(&answer, &uv.image, &user_data, &[], &[]).to_string(),
    )
    .unwrap();
    std::fs::write(&secret, req.secret().to_json()).unwrap();
    let j = bench_verify_json(&[
        ev.to_str().unwrap(),
        "--collateral",
        secret.to_str().unwrap(),
    ]);
    // Shown with --nocapture: the figures, for whoever runs it by hand.
    eprintln!("{j:#}");
    let what = timed_beside_floor(&j["results"][0], "se");
    assert!(what.contains("HMAC-SHA512"), "{j:#}");
}

/// A number that is a ratio of two timings: positive and finite.
fn ratio(j: &Value, what: &str) {
    positive(j, what);
    assert!(j.as_f64().unwrap().is_finite(), "{what} = {j}");
}

/// The Rome platform chain as `sevctl export --full` writes it: the `sev`
/// crate's PDH, PEK, OCA and CEK kept in crates/rootline-sev/tests/data,
/// AMD's pinned ASK and ARK.
fn rome_chain() -> Vec<u8> {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../rootline-sev/tests/data");
    let mut full = Vec::new();
    for c in ["pdh", "pek", "oca", "cek"] {
        full.extend(std::fs::read(data.join(format!("rome/{c}.cert"))).unwrap());
    }
    full.extend(rootline_sev::builtin_ask(rootline_sev::Product::Rome));
    full.extend(rootline_sev::Product::Rome.ark_bytes());
    full
}

/// SEV/SEV-ES: a real platform chain's six signatures and a synthetic
/// launch's LAUNCH_MEASURE HMAC, each beside its raw floor; a chain with
/// one bit flipped is reported, not timed.
#[test]
fn bench_verify_sev_times_the_chain_and_launch_measure_beside_their_floors() {
    let dir = tempfile::tempdir().unwrap();
    let chain = dir.path().join("rome-chain.bin");
    let full = rome_chain();
    std::fs::write(&chain, &full).unwrap();
    let run = |json: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_rootline"));
        c.args(["bench", "verify"])
            .arg(&chain)
            .args(["--iterations", "10", "--offline", "--cache-dir"])
            .arg(dir.path());
        if json {
            c.arg("--json");
        }
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let text = run(true);
    // Shown with --nocapture: the figures, for whoever runs it by hand.
    eprintln!("{text}");
    let j: Value = serde_json::from_str(&text).unwrap();
    let r = &j["results"][0];
    assert_eq!(r["tee"], "sev", "{j:#}");
    assert_eq!(r["verified"], true, "{j:#}");
    assert_eq!(r["root"], "Rome", "{j:#}");
    assert_eq!(r["signatures"], 6, "{j:#}");
    assert_eq!(r["iterations"], 10, "{j:#}");
    positive(&r["p50_us"], "sev chain p50");
    positive(&r["floor"]["p50_us"], "sev chain floor p50");
    ratio(&r["floor_ratio"], "sev chain floor_ratio");
    let floor = r["floor"]["what"].as_str().unwrap();
    assert!(
        floor.contains("4 ECDSA P-384") && floor.contains("2 RSA-PSS 4096"),
        "{floor}"
    );
    let m = &r["launch_measure"];
    positive(&m["p50_us"], "launch measure p50");
    positive(&m["floor"]["p50_us"], "launch measure floor p50");
    ratio(&m["floor_ratio"], "launch measure floor_ratio");
    assert!(
        m["floor"]["what"].as_str().unwrap().contains("HMAC-SHA256"),
        "{j:#}"
    );
    positive(&r["end_to_end"]["p50_us"], "sev end to end p50");
    ratio(&r["end_to_end_floor_ratio"], "sev end-to-end ratio");
    // One evidence: its summary at the top level too.
    assert_eq!(j["p50_us"], r["p50_us"]);

    // The text form has the same rows.
    let text = run(false);
    for row in [
        "(sev)",
        "floor/rootline ratio",
        "rootline, LAUNCH_MEASURE",
        "floor, LAUNCH_MEASURE",
        "LAUNCH_MEASURE floor/rootline ratio",
        "rootline sev path (end to end)",
    ] {
        assert!(text.contains(row), "{row}: {text}");
    }

    // One bit of the CEK's signature by the ASK (the fourth certificate,
    // 2084 bytes each; its signatures start at 0x414): not timed.
    let mut bad = full;
    bad[3 * 2084 + 0x430] ^= 1;
    std::fs::write(&chain, &bad).unwrap();
    let j: Value = serde_json::from_str(&run(true)).unwrap();
    let r = &j["results"][0];
    assert_eq!(r["tee"], "sev", "{j:#}");
    assert_eq!(r["verified"], false, "{j:#}");
    assert!(r["skipped"].is_string(), "{j:#}");
    assert!(r["error"].as_str().unwrap().contains("CEK"), "{j:#}");
    assert!(r.get("floor_ratio").is_none(), "{j:#}");
}

#[test]
fn bench_verify_reports_unverifiable_evidence_instead_of_timing_it() {
    let Some(snp) = v("snp/go-sev-guest/attestation.bin") else {
        return;
    };
    let cache = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rootline"))
        .args([
            "bench",
            "verify",
            &snp,
            "--iterations",
            "10",
            "--offline",
            "--cache-dir",
        ])
        .arg(cache.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("skipped"), "{text}");
    assert!(text.contains("VCEK"), "{text}");
}

/// `bench kbs` runs real handshakes against an in-process broker and reports
/// the broker's cost beside the signature floor measured in the same run
/// (no timing is asserted: only that the figures are there and coherent).
#[test]
fn bench_kbs_reports_handshakes_and_the_signature_floor() {
    let out = Command::new(env!("CARGO_BIN_EXE_rootline"))
        .args([
            "bench",
            "kbs",
            "--duration",
            "1",
            "--concurrency",
            "2",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["errors"], 0, "{j}");
    let n = j["handshakes"].as_u64().unwrap();
    assert!(n > 0, "{j}");
    assert!(j["broker_us_per_handshake"].as_f64().unwrap() > 0.0, "{j}");
    assert!(j["signature_floor_us"].as_f64().unwrap() > 0.0, "{j}");
    let outside = j["fraction_outside_signature_work"].as_f64().unwrap();
    assert!((0.0..1.0).contains(&outside), "{j}");
    assert!(j["cores"].as_u64().unwrap() >= 1, "{j}");
}

/// Output to a pipe whose reader has gone (`rootline ... | head`) ends the
/// command quietly with 141, as a SIGPIPE would, instead of a panic.
#[test]
fn a_closed_stdout_pipe_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    // A pipe whose reader has ended: the writing end of `true`'s stdin.
    let mut reader = Command::new("true")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let writer = reader.stdin.take().unwrap();
    reader.wait().unwrap();
    // Writing the new simulated root's key prints a line to stdout.
    let out = Command::new(env!("CARGO_BIN_EXE_rootline"))
        .args(["bench", "kbs", "--url", "http://127.0.0.1:9", "--sim-key"])
        .arg(dir.path().join("sim.pk8"))
        .stdout(std::process::Stdio::from(writer))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(141), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(dir.path().join("sim.pk8").exists());
}

/// `rootline bench verify ARGS --iterations 10 --json --offline` with an
/// empty cache: must succeed; its JSON.
fn bench_verify_json(args: &[&str]) -> Value {
    let cache = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rootline"))
        .args(["bench", "verify"])
        .args(args)
        .args(["--iterations", "10", "--json", "--offline", "--cache-dir"])
        .arg(cache.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// One result timed beside its floor: every figure there, the ratios
/// positive and finite; the floor's description.
fn timed_beside_floor<'a>(r: &'a Value, tee: &str) -> &'a str {
    assert_eq!(r["tee"], tee, "{r}");
    assert_eq!(r["verified"], true, "{r}");
    positive(&r["p50_us"], "p50_us");
    positive(&r["floor"]["p50_us"], "floor.p50_us");
    positive(&r["end_to_end"]["p50_us"], "end_to_end.p50_us");
    ratio(&r["floor_ratio"], "floor_ratio");
    ratio(&r["end_to_end_floor_ratio"], "end_to_end_floor_ratio");
    r["floor"]["what"].as_str().unwrap()
}

#[test]
fn bench_verify_azure_times_the_report_and_the_vtpm_quote_beside_their_floor() {
    let (Some(v0), Some(v1)) = (
        v("azure/trustee-az-snp-vtpm/evidence-v0.json"),
        v("azure/trustee-az-snp-vtpm/evidence-v1.json"),
    ) else {
        return;
    };
    let j = bench_verify_json(&[&v0, &v1]);
    let results = j["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "{j}");
    for r in results {
        // The floor is the SNP report's P-384 and the vTPM quote's RSA
        // signature, read from the evidence (2048 bits, PKCS#1 v1.5).
        let what = timed_beside_floor(r, "azure-snp");
        assert!(what.contains("ECDSA P-384 (the SNP report)"), "{what}");
        assert!(
            what.contains("RSA-2048 PKCS#1 v1.5 sha256 (the vTPM quote)"),
            "{what}"
        );
    }
}

#[test]
fn bench_verify_tpm_times_the_quotes_beside_their_own_signatures() {
    let Some(pb) = v("tpm-quote/go-tpm-tools/gce-cos-85-no-nonce.pb") else {
        return;
    };
    let j = bench_verify_json(&[&pb]);
    let r = &j["results"][0];
    // The dump's three quotes (SHA-1, SHA-256 and SHA-384 banks), each
    // signed RSASSA SHA-256 by the 2048-bit AK.
    let what = timed_beside_floor(r, "tpm");
    assert!(what.contains("the 3 quote signature(s)"), "{what}");
    assert_eq!(
        what.matches("RSA-2048 PKCS#1 v1.5 sha256").count(),
        3,
        "{what}"
    );
    // Its AK certificate is named as outside the floor.
    assert!(
        r["note"].as_str().unwrap().contains("1 AK certificate(s)"),
        "{r}"
    );
}

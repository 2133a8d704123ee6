//! A measured boot on a live swtpm: stage files measured into PCRs with a
//! crypto-agile event log, quoted with a nonce and verified; a changed stage
//! is named (PCR and event) against the reference; a log edited to hide it
//! no longer replays to the quoted PCRs. Needs swtpm and swtpm-tools.
// Drives a TPM through tss-esapi: only with the `tpm` feature.
#![cfg(feature = "tpm")]

use rootline_attester::measured_boot::{self, Stages};
use rootline_attester::swtpm::{self, Swtpm};
use rootline_attester::tpm::{KeyAlg, Tpm};
use rootline_attester::tpm_evidence;
use rootline_core::{Digest, HashAlg, TeeKind};
use rootline_eventlog::{EventLog, PcrValues};
use rootline_verifier::{Outcome, Request, verify};

const BANKS: [HashAlg; 2] = [HashAlg::SHA256, HashAlg::SHA384];

/// Boots `stages` on the TPM and quotes PCRs 0-9 of both banks.
fn boot_and_quote(t: &Swtpm, stages: &Stages, nonce: &[u8]) -> (Vec<u8>, serde_json::Value) {
    let mut tpm = Tpm::open(&t.tcti()).unwrap();
    let (log, steps) = measured_boot::boot(&mut tpm, stages, &BANKS).unwrap();
    assert!(steps.iter().any(|s| s.pcr == 9 && s.by == "boot loader"));
    let ek = tpm.create_ek(KeyAlg::EccP256).unwrap();
    let ak = tpm.create_ak(&ek, KeyAlg::EccP256).unwrap();
    let ev = tpm_evidence::collect(
        &mut tpm,
        &ak,
        &measured_boot::selection(&BANKS),
        nonce,
        Some(&log),
    )
    .unwrap();
    tpm.flush_ak(ak).unwrap();
    tpm.flush_ek(ek).unwrap();
    (log, ev)
}

fn check(ev: &serde_json::Value, nonce: &[u8]) -> Outcome {
    verify(&Request {
        evidence: serde_json::to_vec(ev).unwrap(),
        tee: Some(TeeKind::Tpm),
        nonce: Some(nonce.to_vec()),
        ..Default::default()
    })
}

/// The quoted PCRs as the verifier reports them.
fn quoted(out: &Outcome) -> PcrValues {
    let mut p = PcrValues::default();
    for (bank, regs) in out.claims["pcrs"].as_object().unwrap() {
        let alg = HashAlg::from_name(bank).unwrap();
        for (i, v) in regs.as_object().unwrap() {
            p.banks.entry(alg).or_default().insert(
                i.parse().unwrap(),
                Digest::new(alg, hex::decode(v.as_str().unwrap()).unwrap()),
            );
        }
    }
    p
}

#[test]
fn measured_boot_verifies_and_a_changed_stage_is_named() {
    if !swtpm::installed() {
        let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false");
        assert!(!ci, "swtpm missing and CI is set");
        eprintln!("skipping: swtpm not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut t = Swtpm::start(&dir.path().join("tpm")).unwrap();
    let stage_dir = dir.path().join("stages");
    Stages::sample().write(&stage_dir).unwrap();

    // A good boot: the verifier accepts the quote, and the log replays to it.
    let nonce = HashAlg::SHA384.hash(b"session one").unwrap().bytes;
    let golden = Stages::read(&stage_dir).unwrap();
    let (good_log, ev) = boot_and_quote(&t, &golden, &nonce);
    let out = check(&ev, &nonce);
    assert!(out.verified, "{:?}", out.error);
    let reference = quoted(&out);
    // PCR 9 is the kernel's: one extend of its digest from zero.
    let mut pcr9 = HashAlg::SHA256.zero().unwrap();
    pcr9.extend(&HashAlg::SHA256.hash(&golden.kernel).unwrap().bytes);
    assert_eq!(reference.banks[&HashAlg::SHA256][&9], pcr9);
    let good = EventLog::parse(&good_log).unwrap();
    assert!(good.replay().compare(&good, &reference).is_empty());

    // Reboot with one byte of the kernel changed. The log is honest, so the
    // quote verifies, but against the reference PCR 9 differs, and the
    // first differing event is the kernel's EV_IPL.
    t.restart().unwrap();
    let mut evil = golden.clone();
    evil.kernel[4096] ^= 1;
    evil.write(&stage_dir).unwrap();
    let nonce2 = HashAlg::SHA384.hash(b"session two").unwrap().bytes;
    let (evil_log, ev2) = boot_and_quote(&t, &Stages::read(&stage_dir).unwrap(), &nonce2);
    let out2 = check(&ev2, &nonce2);
    assert!(out2.verified, "{:?}", out2.error);
    let evil_parsed = EventLog::parse(&evil_log).unwrap();
    let m = evil_parsed
        .replay()
        .compare_with_reference(&evil_parsed, &reference, Some(&good));
    let pcrs: Vec<u32> = m.iter().map(|x| x.pcr).collect();
    assert!(pcrs.iter().all(|p| *p == 9), "only PCR 9 differs: {pcrs:?}");
    assert_eq!(m.len(), 2, "PCR 9 in both banks");
    let why = m[0].explain();
    assert!(why.contains("PCR 9"), "{why}");
    assert!(
        m[0].first_difference.as_deref().unwrap().contains("EV_IPL"),
        "{why}"
    );

    // The same boot sent with the good log (edited to hide the kernel): the
    // verifier refuses it, naming PCR 9.
    let mut lying = ev2.clone();
    lying["eventlog"] = base64_std(&good_log).into();
    let out3 = check(&lying, &nonce2);
    assert!(!out3.verified, "a log hiding the changed kernel verified");
    let e = out3.error.unwrap();
    assert!(e.contains("PCR 9"), "{e}");
}

fn base64_std(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

//! `rootline eventlog` as a person or a script calls it: exit codes, JSON
//! shape, explanations, and agreement with tpm2_eventlog where it is right.

use std::path::Path;
use std::process::Command;

use rootline_core::HashAlg;
use rootline_eventlog::{EventLog, EventType, PcrValues};

fn rootline() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rootline"))
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = rootline().args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn replay_json_matches_expected_for_every_vector() {
    let Some(root) = rootline_testkit::vectors() else {
        return;
    };
    let mut n = 0;
    for sub in std::fs::read_dir(root.join("tpm-eventlog")).unwrap() {
        let dir = sub.unwrap().path();
        let Ok(text) = std::fs::read_to_string(dir.join("expected.json")) else {
            continue;
        };
        let exp: serde_json::Value = serde_json::from_str(&text).unwrap();
        for (key, e) in exp.as_object().unwrap() {
            let path = dir.join(key);
            let (code, out, err) = run(&["eventlog", "replay", "--json", path.to_str().unwrap()]);
            assert_eq!(code, 0, "{key}: {err}");
            let got: serde_json::Value = serde_json::from_str(&out).unwrap();
            // Banks with no extended register are left out of the output.
            let mut want = e["replayed_pcrs"].as_object().unwrap().clone();
            want.retain(|_, v| !v.as_object().unwrap().is_empty());
            assert_eq!(got["pcrs"], serde_json::Value::Object(want), "{key}");
            n += 1;
        }
    }
    assert!(n >= 20);
}

/// tpm2_eventlog (tpm2-tools) prints its replayed PCRs as YAML under `pcrs:`.
fn tpm2_eventlog_pcrs(path: &Path) -> Option<PcrValues> {
    let out = Command::new("tpm2_eventlog").arg(path).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let tail = &text[text.rfind("\npcrs:")?..];
    PcrValues::from_yaml(tail).ok()
}

#[test]
fn agrees_with_live_tpm2_eventlog_where_it_is_right() {
    let Some(root) = rootline_testkit::vectors() else {
        return;
    };
    if Command::new("tpm2_eventlog")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var_os("CI").is_none(),
            "tpm2_eventlog missing under CI: install tpm2-tools"
        );
        eprintln!("skipping: tpm2_eventlog not installed (apt-get install tpm2-tools)");
        return;
    }
    let (mut agreed, mut disagreed_as_documented) = (0, 0);
    for sub in std::fs::read_dir(root.join("tpm-eventlog")).unwrap() {
        let dir = sub.unwrap().path();
        let Ok(text) = std::fs::read_to_string(dir.join("expected.json")) else {
            continue;
        };
        let exp: serde_json::Value = serde_json::from_str(&text).unwrap();
        for (key, e) in exp.as_object().unwrap() {
            let Some(agrees) = e.get("tpm2_eventlog_agrees").and_then(|a| a.as_object()) else {
                continue;
            };
            if agrees.is_empty() {
                continue;
            }
            let path = dir.join(key);
            let theirs = tpm2_eventlog_pcrs(&path).unwrap_or_else(|| {
                panic!("tpm2_eventlog failed on {key}, which expected.json says it reads")
            });
            let log = EventLog::parse(&std::fs::read(&path).unwrap()).unwrap();
            let ours = log.replay();
            for (bank, regs) in agrees {
                let alg = HashAlg::from_name(bank).unwrap();
                for (idx, ok) in regs.as_object().unwrap() {
                    let i: u32 = idx.parse().unwrap();
                    let a = &ours.pcrs[&alg][&i];
                    let b = &theirs.banks[&alg][&i];
                    if ok.as_bool().unwrap() {
                        assert_eq!(a, b, "{key} {bank}:{i}");
                        agreed += 1;
                    } else {
                        // tpm2_eventlog 5.4 ignores StartupLocality: it must differ, and we must be the expected value.
                        assert_ne!(a, b, "{key} {bank}:{i}");
                        assert_eq!(a.hex(), e["replayed_pcrs"][bank][idx].as_str().unwrap());
                        disagreed_as_documented += 1;
                    }
                }
            }
        }
    }
    eprintln!(
        "{agreed} registers agree with tpm2_eventlog; {disagreed_as_documented} differ where it is wrong"
    );
    assert!(agreed > 100 && disagreed_as_documented >= 4);
}

#[test]
fn check_exit_codes_and_explanations() {
    let Some(dir) = rootline_testkit::vector("ovmf-swtpm/uki-esp-ekcert-tpm") else {
        return;
    };
    let log = dir.join("binary_bios_measurements");
    let pcrs = dir.join("quote.pcrs");
    let (code, out, _) = run(&[
        "eventlog",
        "check",
        log.to_str().unwrap(),
        "--pcrs",
        pcrs.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("registers match"), "{out}");
    // YAML PCR file too.
    let yaml = dir.join("quote.yaml");
    let (code, _, _) = run(&[
        "eventlog",
        "check",
        log.to_str().unwrap(),
        "--pcrs",
        yaml.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);

    // Tamper: replace the boot loader's digest in the log (a log that hides a different shim).
    let bytes = std::fs::read(&log).unwrap();
    let parsed = EventLog::parse(&bytes).unwrap();
    let app = parsed
        .events
        .iter()
        .find(|e| e.event_type == EventType::EV_EFI_BOOT_SERVICES_APPLICATION)
        .unwrap();
    let d = app.digest(HashAlg::SHA256).unwrap();
    let pos = bytes
        .windows(32)
        .position(|w| w == d.bytes.as_slice())
        .unwrap();
    let mut tampered = bytes.clone();
    tampered[pos] ^= 0x80;
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("tampered.bin");
    std::fs::write(&bad, &tampered).unwrap();
    let (code, out, _) = run(&[
        "eventlog",
        "check",
        bad.to_str().unwrap(),
        "--pcrs",
        pcrs.to_str().unwrap(),
        "--reference",
        log.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("PCR {} (sha256)", app.pcr)), "{out}");
    assert!(
        out.contains(&format!("#{} EV_EFI_BOOT_SERVICES_APPLICATION", app.index)),
        "{out}"
    );
    assert!(
        out.contains("first difference from the reference log"),
        "{out}"
    );

    // JSON form carries the same.
    let (code, out, _) = run(&[
        "eventlog",
        "check",
        "--json",
        bad.to_str().unwrap(),
        "--pcrs",
        pcrs.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["mismatches"][0]["pcr"], app.pcr);

    // Unreadable inputs: exit 2 with a reason.
    let (code, _, err) = run(&[
        "eventlog",
        "replay",
        tmp.path().join("nope").to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot read"), "{err}");
    let junk = tmp.path().join("junk");
    std::fs::write(&junk, b"not a pcr file").unwrap();
    let (code, _, err) = run(&[
        "eventlog",
        "check",
        log.to_str().unwrap(),
        "--pcrs",
        junk.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot read register values"), "{err}");
}

#[test]
fn ima_replay_and_check() {
    let Some(dir) = rootline_testkit::vector("ovmf-swtpm/uki-esp-ekcert-tpm") else {
        return;
    };
    // The replay JSON also lists each PCR's event digests, in log order, for
    // `rootline reference import` (accepted events per PCR).
    let log = dir.join("binary_bios_measurements");
    let (_, out, _) = run(&["eventlog", "replay", "--json", log.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let parsed = EventLog::parse(&std::fs::read(&log).unwrap()).unwrap();
    let pcr4: Vec<String> = parsed
        .events
        .iter()
        .filter(|e| e.pcr == 4 && e.is_extended())
        .map(|e| e.digest(HashAlg::SHA256).unwrap().hex())
        .collect();
    assert_eq!(v["event_digests"]["sha256"]["4"], serde_json::json!(pcr4));
    let ima = dir.join("ima_binary_runtime_measurements");
    let (code, out, _) = run(&[
        "eventlog",
        "replay",
        "--ima",
        "--json",
        ima.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["pcrs"]["sha256"]["10"],
        "0125bfa30302a4506793873916999a5170e40bfef4963131bdcde43b3e69858c"
    );
    let pcrs = dir.join("quote.pcrs");
    let (code, out, _) = run(&[
        "eventlog",
        "check",
        "--ima",
        ima.to_str().unwrap(),
        "--pcrs",
        pcrs.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}");
}

/// Every single-bit flip of a real log: never a panic; either rejected (parse
/// error, register mismatch, data contradicting its digest), or the flipped
/// bit lies in bytes no verifier can check (event data whose digest is the
/// hash of something else, such as an image's device path).
#[test]
fn every_bit_flip_of_a_real_log_is_caught_or_unprotected() {
    let Some(dir) = rootline_testkit::vector("ovmf-swtpm/uki-esp-ekcert-tpm") else {
        return;
    };
    let bytes = std::fs::read(dir.join("binary_bios_measurements")).unwrap();
    let quoted = PcrValues::parse(&std::fs::read(dir.join("quote.pcrs")).unwrap()).unwrap();
    let good = EventLog::parse(&bytes).unwrap();
    // Offsets of bytes not covered by any digest: data of events whose digest
    // is not the hash of their data, and the data of EV_NO_ACTION events.
    let covered_types = [
        EventType::EV_SEPARATOR,
        EventType::EV_EFI_ACTION,
        EventType::EV_ACTION,
        EventType::EV_EFI_VARIABLE_DRIVER_CONFIG,
        EventType::EV_EFI_VARIABLE_BOOT,
        EventType::EV_EFI_VARIABLE_BOOT2,
        EventType::EV_EFI_VARIABLE_AUTHORITY,
        EventType::EV_EFI_GPT_EVENT,
    ];
    let mut unprotected = vec![false; bytes.len()];
    for e in &good.events {
        let data_start =
            e.offset + 4 + 4 + 4 + e.digests.iter().map(|d| 2 + d.bytes.len()).sum::<usize>() + 4;
        if !covered_types.contains(&e.event_type) {
            for b in unprotected.iter_mut().skip(data_start).take(e.data.len()) {
                *b = true;
            }
        }
        // EDK2 measures only VariableData of Boot#### variables: the GUID and
        // name in front of it are not covered by the digest.
        let whole = HashAlg::SHA256.hash(&e.data).unwrap();
        if e.event_type == EventType::EV_EFI_VARIABLE_BOOT
            && e.digest(HashAlg::SHA256) != Some(&whole)
        {
            let name_len = u64::from_le_bytes(e.data[16..24].try_into().unwrap()) as usize;
            for b in unprotected
                .iter_mut()
                .skip(data_start)
                .take(16 + 16 + 2 * name_len)
            {
                *b = true;
            }
        }
        // The event-type field is not measured either.
        for b in unprotected.iter_mut().skip(e.offset + 4).take(4) {
            *b = true;
        }
    }
    // The Spec ID header's vendor info and signature text are not measured.
    let first_event = good.events.first().map(|e| e.offset).unwrap_or(bytes.len());
    let (mut caught, mut silent) = (0, 0);
    for i in 0..bytes.len() {
        for bit in 0..8 {
            let mut b = bytes.clone();
            b[i] ^= 1 << bit;
            let rejected = match EventLog::parse(&b) {
                Err(_) => true,
                Ok(log) => {
                    let r = log.replay();
                    !r.compare(&log, &quoted).is_empty()
                        || !rootline_eventlog::replay::check_data_digests(&log).is_empty()
                        || log.is_truncated()
                        || r.pcrs.is_empty()
                }
            };
            if rejected {
                caught += 1;
            } else {
                assert!(
                    unprotected[i] || i < first_event,
                    "flip of bit {bit} at offset {i} went unnoticed outside unprotected bytes"
                );
                silent += 1;
            }
        }
    }
    eprintln!("{caught} flips caught, {silent} in unprotected bytes");
    assert!(caught > silent);
}

/// Hardening finding 12 (part): `eventlog replay` exited 0 on a log of
/// zeros (parsed as one EV_PREBOOT_CERT event). A log area holding only fill
/// bytes is not a log: exit 2, saying so.
#[test]
fn log_of_zeros_or_erased_flash_is_not_a_log() {
    let dir = tempfile::tempdir().unwrap();
    for fill in [0u8, 0xff] {
        let p = dir.path().join(format!("fill-{fill}.bin"));
        std::fs::write(&p, vec![fill; 4096]).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_rootline"))
            .args(["eventlog", "replay", p.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "fill {fill:#x}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("no event"), "{err}");
    }
}

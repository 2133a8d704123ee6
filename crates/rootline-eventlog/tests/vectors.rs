//! Every real log in the shared vectors replays to the registers its
//! `expected.json` lists, and both captured OVMF boots replay to the PCRs
//! their quotes signed.

use std::collections::BTreeMap;
use std::path::Path;

use rootline_core::HashAlg;
use rootline_eventlog::ima::ImaLog;
use rootline_eventlog::replay::check_data_digests;
use rootline_eventlog::{EventLog, PcrValues};

fn load_expected(dir: &Path) -> serde_json::Map<String, serde_json::Value> {
    let text = std::fs::read_to_string(dir.join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn file_for(dir: &Path, key: &str) -> std::path::PathBuf {
    // Keys name the file; in keylime's folder one key lacks nothing, others add .bin.
    let p = dir.join(key);
    assert!(
        p.exists(),
        "{} named in expected.json is missing",
        p.display()
    );
    p
}

#[test]
fn every_tpm_eventlog_vector_replays_to_expected() {
    let Some(root) = rootline_testkit::vectors() else {
        return;
    };
    let mut logs = 0;
    let mut registers = 0;
    for sub in std::fs::read_dir(root.join("tpm-eventlog")).unwrap() {
        let dir = sub.unwrap().path();
        if !dir.join("expected.json").exists() {
            continue;
        }
        for (key, exp) in load_expected(&dir) {
            let path = file_for(&dir, &key);
            let bytes = std::fs::read(&path).unwrap();
            let log = EventLog::parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let replay = log.replay();
            let info = &exp["replay_info"];
            if let Some(loc) = info["startup_locality"].as_u64() {
                assert_eq!(log.startup_locality, Some(loc as u8), "{key}");
            } else {
                assert_eq!(log.startup_locality, None, "{key}");
            }
            // The collector stopped where its parser stopped; we parse at least as far.
            let parsed = info["parsed_bytes"].as_u64().unwrap() as usize;
            assert!(
                log.parsed_bytes >= parsed,
                "{key}: parsed {} < {parsed}",
                log.parsed_bytes
            );
            if parsed < info["total_bytes"].as_u64().unwrap() as usize && log.is_truncated() {
                assert!(
                    !log.warnings.is_empty(),
                    "{key}: unparsed tail without a warning"
                );
            }
            let want = exp["replayed_pcrs"].as_object().unwrap();
            for (bank, regs) in want {
                let alg = HashAlg::from_name(bank).unwrap();
                let got = replay
                    .pcrs
                    .get(&alg)
                    .unwrap_or_else(|| panic!("{key}: no {bank} bank"));
                let regs = regs.as_object().unwrap();
                for (idx, hexv) in regs {
                    let i: u32 = idx.parse().unwrap();
                    let g = got
                        .get(&i)
                        .unwrap_or_else(|| panic!("{key}: {bank}:{i} not replayed"));
                    assert_eq!(g.hex(), hexv.as_str().unwrap(), "{key} {bank}:{i}");
                    registers += 1;
                }
                // Nothing replayed that the expectation does not list.
                assert_eq!(got.len(), regs.len(), "{key} {bank}: extra registers");
            }
            logs += 1;
        }
    }
    assert!(logs >= 20, "only {logs} logs found");
    eprintln!("{logs} logs, {registers} registers match");
}

#[test]
fn real_logs_data_matches_digests() {
    // The data-vs-digest check must not cry wolf on real firmware: every
    // vector log is consistent, except where listed here with the reason.
    let Some(root) = rootline_testkit::vectors() else {
        return;
    };
    let mut checked = 0;
    for sub in std::fs::read_dir(root.join("tpm-eventlog")).unwrap() {
        let dir = sub.unwrap().path();
        if !dir.join("expected.json").exists() {
            continue;
        }
        for key in load_expected(&dir).keys() {
            let log = EventLog::parse(&std::fs::read(dir.join(key)).unwrap()).unwrap();
            let all = check_data_digests(&log);
            // Some EV_EFI_VARIABLE_AUTHORITY events declare fewer data bytes than
            // they hold (cos-85's db entry: 1041 of 1047; shim's vendor cert in
            // debian-10): firmware and shim bugs, flagged as quirks, not tampering.
            let bad: Vec<_> = all.iter().filter(|m| !m.firmware_quirk).collect();
            for q in all.iter().filter(|m| m.firmware_quirk) {
                assert_eq!(
                    q.event_type,
                    rootline_eventlog::EventType::EV_EFI_VARIABLE_AUTHORITY
                );
            }
            assert!(
                bad.is_empty(),
                "{key}: {:#?}",
                bad.iter().map(|b| &b.reason).collect::<Vec<_>>()
            );
            checked += 1;
        }
    }
    assert!(checked >= 20);
}

#[test]
fn ovmf_boots_replay_to_quoted_pcrs() {
    let Some(root) = rootline_testkit::vectors() else {
        return;
    };
    for boot in ["uki-esp-ekcert-tpm", "kernel-direct-ekcert-tpm"] {
        let dir = root.join("ovmf-swtpm").join(boot);
        let log =
            EventLog::parse(&std::fs::read(dir.join("binary_bios_measurements")).unwrap()).unwrap();
        let quoted = PcrValues::parse(&std::fs::read(dir.join("quote.pcrs")).unwrap()).unwrap();
        let yaml = PcrValues::parse(&std::fs::read(dir.join("quote.yaml")).unwrap()).unwrap();
        assert_eq!(quoted, yaml, "{boot}: binary and YAML PCR files disagree");
        let sha256 = &quoted.banks[&HashAlg::SHA256];
        assert_eq!(sha256.len(), 24);
        let replay = log.replay();
        let mism = replay.compare(&log, &quoted);
        assert!(
            mism.is_empty(),
            "{boot}: {}",
            mism.iter()
                .map(|m| m.explain())
                .collect::<Vec<_>>()
                .join("\n")
        );
        // Every register the log touches was compared and matched.
        let touched: Vec<u32> = replay.pcrs[&HashAlg::SHA256].keys().copied().collect();
        assert!(
            touched.contains(&0) && touched.contains(&7),
            "{boot}: {touched:?}"
        );
        // IMA replays PCR 10.
        let ima =
            ImaLog::parse(&std::fs::read(dir.join("ima_binary_runtime_measurements")).unwrap())
                .unwrap();
        let r = ima.replay(&[HashAlg::SHA256]);
        assert_eq!(r[&HashAlg::SHA256][&10], sha256[&10], "{boot}: IMA PCR 10");
        assert!(ima.check_template_digests().is_empty());
        assert!(check_data_digests(&log).is_empty());
    }
}

#[test]
fn uki_boot_events_are_decoded() {
    let Some(p) =
        rootline_testkit::vector("ovmf-swtpm/uki-esp-ekcert-tpm/binary_bios_measurements")
    else {
        return;
    };
    let log = EventLog::parse(&std::fs::read(p).unwrap()).unwrap();
    let text: Vec<String> = log.events.iter().map(|e| e.describe()).collect();
    let all = text.join("\n");
    assert!(all.contains("SecureBoot"), "{all}");
    assert!(all.contains("EV_EFI_BOOT_SERVICES_APPLICATION"), "{all}");
    assert!(all.contains("Exit Boot Services Invocation"), "{all}");
    // systemd-stub's PCR 11 section measurements.
    let pcr11: Vec<&String> = log
        .events
        .iter()
        .zip(&text)
        .filter(|(e, _)| e.pcr == 11)
        .map(|(_, t)| t)
        .collect();
    assert!(pcr11.iter().any(|t| t.contains(".linux")), "{pcr11:?}");
    assert!(pcr11.iter().any(|t| t.contains(".cmdline")), "{pcr11:?}");
    // No event of a known structured type fell back to raw with an error note.
    for e in &log.events {
        let d = e.describe();
        assert!(!d.contains('['), "event {} undecoded: {d}", e.index);
    }
}

#[test]
fn ccel_replays_to_tdx_quote_rtmrs() {
    let Some(dir) = rootline_testkit::vector("tdx/go-tdx-guest/ccel") else {
        return;
    };
    let log = EventLog::parse(&std::fs::read(dir.join("ccel_data.dat")).unwrap()).unwrap();
    let rtmrs = rootline_eventlog::ccel::replay_rtmrs(&log).unwrap();
    // Minimal quote reading: v4 header (48 bytes), TD report body; RTMR0 at body offset 328.
    let quote = std::fs::read(dir.join("cos-113-tdx-quote.dat")).unwrap();
    assert_eq!(u16::from_le_bytes([quote[0], quote[1]]), 4);
    for (i, r) in rtmrs.iter().enumerate().take(3) {
        let at = 48 + 328 + 48 * i;
        assert_eq!(r.hex(), hex::encode(&quote[at..at + 48]), "RTMR{i}");
    }
    assert!(rtmrs[3].bytes.iter().all(|b| *b == 0));
    let table = rootline_eventlog::ccel::CcelTable::parse(
        &std::fs::read(dir.join("ccel_table.dat")).unwrap(),
    )
    .unwrap();
    assert_eq!(table.cc_type, 2);
    assert!(table.laml as usize >= log.parsed_bytes);
}

#[test]
fn trustee_ccel_parses() {
    let Some(p) = rootline_testkit::vector("tdx/trustee/CCEL_data") else {
        return;
    };
    let log = EventLog::parse(&std::fs::read(p).unwrap()).unwrap();
    // td-shim's log: 5 events, then a zero-filled log area.
    assert_eq!(log.events.len(), 5);
    assert!(log.warnings.iter().any(|w| w.contains("padding")));
    assert!(rootline_eventlog::ccel::replay_rtmrs(&log).is_ok());
}

#[allow(dead_code)]
fn _unused(_: BTreeMap<u8, u8>) {}

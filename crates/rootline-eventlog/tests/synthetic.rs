//! Synthetic logs made by the builder: every event type the decoder knows,
//! every bank, each firmware quirk, and hostile inputs (bit flips, truncation
//! at every offset, huge length fields).

use rootline_core::{Digest, HashAlg};
use rootline_eventlog::builder::{LogBuilder, data};
use rootline_eventlog::replay::check_data_digests;
use rootline_eventlog::{EventData, EventLog, EventType, Guid, LogFormat, PcrValues};

const ALL_BANKS: [HashAlg; 5] = [
    HashAlg::SHA1,
    HashAlg::SHA256,
    HashAlg::SHA384,
    HashAlg::SHA512,
    HashAlg::SM3_256,
];

/// A boot with one event of every decoded type.
fn full_boot(banks: &[HashAlg]) -> LogBuilder {
    let mut b = LogBuilder::crypto_agile(banks);
    b.startup_locality(3);
    let mut sp = b"SP800-155 Event3".to_vec();
    sp.extend_from_slice(&0x1234u32.to_le_bytes());
    b.no_action(&sp);
    b.measure(
        0,
        EventType::EV_S_CRTM_VERSION,
        b"crtm",
        &data::utf16z("1.0"),
    );
    b.measure(0, EventType::EV_EFI_PLATFORM_FIRMWARE_BLOB, b"fv-main", &{
        let mut v = 0xffc0_0000u64.to_le_bytes().to_vec();
        v.extend_from_slice(&0x40_0000u64.to_le_bytes());
        v
    });
    b.measure(
        0,
        EventType::EV_EFI_PLATFORM_FIRMWARE_BLOB2,
        b"fv-dxe",
        &data::firmware_blob2("DXEFV", 0x90_0000, 0x10_0000),
    );
    b.measure(0, EventType::EV_POST_CODE, b"post", b"POST CODE");
    b.measure(1, EventType::EV_EFI_HANDOFF_TABLES, b"acpi", &{
        let mut v = 1u64.to_le_bytes().to_vec();
        v.extend_from_slice(&Guid::EFI_GLOBAL_VARIABLE.0);
        v.extend_from_slice(&0x7f00_0000u64.to_le_bytes());
        v
    });
    b.measure(1, EventType::EV_EFI_HANDOFF_TABLES2, b"smbios", &{
        let mut v = vec![6u8];
        v.extend_from_slice(b"SMBIOS");
        v.extend_from_slice(&0u64.to_le_bytes());
        v
    });
    b.measure(1, EventType::EV_PLATFORM_CONFIG_FLAGS, b"flags", b"cfg");
    let boot_order = data::variable(Guid::EFI_GLOBAL_VARIABLE, "BootOrder", &[1, 0, 0, 0]);
    b.measure_data(1, EventType::EV_EFI_VARIABLE_BOOT, &boot_order);
    let boot0001 = data::variable(
        Guid::EFI_GLOBAL_VARIABLE,
        "Boot0001",
        &data::load_option("debian", "\\EFI\\debian\\shimx64.efi"),
    );
    b.measure_data(1, EventType::EV_EFI_VARIABLE_BOOT2, &boot0001);
    b.measure_data(
        7,
        EventType::EV_EFI_VARIABLE_DRIVER_CONFIG,
        &data::variable(Guid::EFI_GLOBAL_VARIABLE, "SecureBoot", &[1]),
    );
    let mut db = Vec::new();
    db.extend_from_slice(&Guid::EFI_CERT_SHA256.0);
    db.extend_from_slice(&(28u32 + 48 * 2).to_le_bytes());
    db.extend_from_slice(&0u32.to_le_bytes());
    db.extend_from_slice(&48u32.to_le_bytes());
    db.extend_from_slice(&[0xab; 96]);
    b.measure_data(
        7,
        EventType::EV_EFI_VARIABLE_DRIVER_CONFIG,
        &data::variable(Guid::EFI_IMAGE_SECURITY_DATABASE, "db", &db),
    );
    for pcr in 0..=7 {
        b.measure_data(pcr, EventType::EV_SEPARATOR, &[0, 0, 0, 0]);
    }
    b.measure(
        4,
        EventType::EV_EFI_ACTION,
        b"Calling EFI Application from Boot Option",
        b"Calling EFI Application from Boot Option",
    );
    b.measure(
        2,
        EventType::EV_EFI_BOOT_SERVICES_DRIVER,
        b"option rom",
        &data::image_load(0x1000, 0x2000, "\\rom"),
    );
    b.measure(
        2,
        EventType::EV_EFI_RUNTIME_SERVICES_DRIVER,
        b"rt driver",
        &data::image_load(0x1000, 0x2000, "\\rt"),
    );
    b.measure(
        4,
        EventType::EV_EFI_BOOT_SERVICES_APPLICATION,
        b"shim bytes",
        &data::image_load(0x4000, 0x9000, "\\EFI\\BOOT\\BOOTX64.EFI"),
    );
    b.measure_data(
        7,
        EventType::EV_EFI_VARIABLE_AUTHORITY,
        &data::variable(Guid::EFI_IMAGE_SECURITY_DATABASE, "db", &[1, 2, 3]),
    );
    b.measure_data(5, EventType::EV_EFI_GPT_EVENT, &gpt());
    b.measure(
        8,
        EventType::EV_IPL,
        b"grub_cmd: linux /vmlinuz",
        b"grub_cmd: linux /vmlinuz\0",
    );
    b.measure(9, EventType::EV_IPL, b"initrd", &data::utf16z("initrd"));
    b.measure(11, EventType::EV_IPL, b".linux", &data::utf16z(".linux"));
    let mut tag = 0x8F3B_22ECu32.to_le_bytes().to_vec();
    let opts = data::utf16z("console=ttyS0");
    tag.extend_from_slice(&(opts.len() as u32).to_le_bytes());
    tag.extend_from_slice(&opts);
    b.measure(12, EventType::EV_EVENT_TAG, b"opts", &tag);
    b.measure(0, EventType::EV_EFI_HCRTM_EVENT, b"hcrtm", b"HCRTM");
    b.measure(0, EventType(0x8000_00AA), b"vendor", &[0xde, 0xad]);
    b.measure(
        5,
        EventType::EV_EFI_ACTION,
        b"Exit Boot Services Invocation",
        b"Exit Boot Services Invocation",
    );
    b
}

fn gpt() -> Vec<u8> {
    let mut h = b"EFI PART".to_vec();
    h.extend_from_slice(&0x0001_0000u32.to_le_bytes());
    h.extend_from_slice(&92u32.to_le_bytes());
    h.extend_from_slice(&[0u8; 4 + 4 + 32]);
    h.extend_from_slice(&Guid::SHIM_LOCK.0); // disk GUID
    h.extend_from_slice(&2u64.to_le_bytes());
    h.extend_from_slice(&128u32.to_le_bytes());
    h.extend_from_slice(&128u32.to_le_bytes());
    h.extend_from_slice(&0u32.to_le_bytes());
    h.extend_from_slice(&1u64.to_le_bytes());
    let mut p = Guid::EFI_GLOBAL_VARIABLE.0.to_vec();
    p.extend_from_slice(&Guid::EFI_CERT_X509.0);
    p.extend_from_slice(&2048u64.to_le_bytes());
    p.extend_from_slice(&4096u64.to_le_bytes());
    p.extend_from_slice(&0u64.to_le_bytes());
    let mut name = data::utf16z("EFI System");
    name.resize(72, 0);
    p.extend_from_slice(&name);
    h.extend_from_slice(&p);
    h
}

/// Replays the builder's own record of extensions independently of the parser.
fn expected_from_builder(b: &LogBuilder, locality: u8) -> PcrValues {
    let mut out = PcrValues::default();
    for (pcr, digests) in b.extensions() {
        for d in digests {
            let bank = out.banks.entry(d.alg).or_default();
            let reg = bank.entry(*pcr).or_insert_with(|| {
                let mut z = d.alg.zero().unwrap();
                if *pcr == 0 {
                    *z.bytes.last_mut().unwrap() = locality;
                }
                z
            });
            reg.extend(&d.bytes).unwrap();
        }
    }
    out
}

#[test]
fn every_bank_replays_including_sm3() {
    let b = full_boot(&ALL_BANKS);
    let log = EventLog::parse(b.bytes()).unwrap();
    assert_eq!(log.format, LogFormat::CryptoAgile);
    assert_eq!(log.startup_locality, Some(3));
    assert!(log.warnings.is_empty(), "{:?}", log.warnings);
    let replay = log.replay();
    assert!(replay.unreplayable.is_empty());
    let want = expected_from_builder(&b, 3);
    assert_eq!(replay.pcrs.len(), 5);
    for (bank, regs) in &want.banks {
        assert_eq!(&replay.pcrs[bank], regs, "{bank}");
    }
    assert!(replay.compare(&log, &want).is_empty());
    assert!(
        check_data_digests(&log).is_empty(),
        "{:?}",
        check_data_digests(&log)
    );
}

#[test]
fn every_event_type_decodes() {
    let log = EventLog::parse(full_boot(&[HashAlg::SHA256]).bytes()).unwrap();
    let d: Vec<(EventType, EventData, String)> = log
        .events
        .iter()
        .map(|e| (e.event_type, e.decoded(), e.describe()))
        .collect();
    let find = |t: EventType| d.iter().filter(move |(et, _, _)| *et == t);
    let one = |t: EventType| find(t).next().unwrap_or_else(|| panic!("no {t}")).clone();
    assert!(matches!(
        one(EventType::EV_NO_ACTION).1,
        EventData::StartupLocality { locality: 3 }
    ));
    assert!(find(EventType::EV_NO_ACTION).any(|(_, x, _)| matches!(
        x,
        EventData::Sp800_155 {
            platform_manufacturer_id: Some(0x1234),
            ..
        }
    )));
    assert!(
        matches!(one(EventType::EV_S_CRTM_VERSION).1, EventData::Text { ref text } if text == "1.0")
    );
    assert!(matches!(
        one(EventType::EV_EFI_PLATFORM_FIRMWARE_BLOB).1,
        EventData::FirmwareBlob {
            description: None,
            base: 0xffc0_0000,
            length: 0x40_0000
        }
    ));
    assert!(
        matches!(one(EventType::EV_EFI_PLATFORM_FIRMWARE_BLOB2).1, EventData::FirmwareBlob { description: Some(ref s), .. } if s == "DXEFV")
    );
    assert!(
        one(EventType::EV_EFI_HANDOFF_TABLES)
            .2
            .contains("8be4df61-93ca-11d2-aa0d-00e098032b8c")
    );
    assert!(one(EventType::EV_EFI_HANDOFF_TABLES2).2.contains("SMBIOS"));
    assert!(
        one(EventType::EV_EFI_VARIABLE_BOOT).2.contains("BootOrder")
            && one(EventType::EV_EFI_VARIABLE_BOOT).2.contains("Boot0001")
    );
    let boot2 = one(EventType::EV_EFI_VARIABLE_BOOT2).2;
    assert!(
        boot2.contains("\"debian\"") && boot2.contains("\\EFI\\debian\\shimx64.efi"),
        "{boot2}"
    );
    assert!(
        find(EventType::EV_EFI_VARIABLE_DRIVER_CONFIG)
            .any(|(_, _, s)| s.contains("SecureBoot") && s.contains("= true"))
    );
    assert!(
        find(EventType::EV_EFI_VARIABLE_DRIVER_CONFIG)
            .any(|(_, _, s)| s.contains("db (d719b2cb") && s.contains("1 lists, 2 entries")),
        "{d:#?}"
    );
    assert!(matches!(
        one(EventType::EV_SEPARATOR).1,
        EventData::Separator { value: 0 }
    ));
    assert!(
        one(EventType::EV_EFI_BOOT_SERVICES_APPLICATION)
            .2
            .contains("\\EFI\\BOOT\\BOOTX64.EFI")
    );
    assert!(
        one(EventType::EV_EFI_BOOT_SERVICES_DRIVER)
            .2
            .contains("\\rom")
    );
    assert!(
        one(EventType::EV_EFI_RUNTIME_SERVICES_DRIVER)
            .2
            .contains("\\rt")
    );
    assert!(one(EventType::EV_EFI_GPT_EVENT).2.contains("1 partitions"));
    if let EventData::Gpt { partitions, .. } = one(EventType::EV_EFI_GPT_EVENT).1 {
        assert_eq!(partitions[0].name, "EFI System");
        assert_eq!(partitions[0].first_lba, 2048);
    }
    assert!(find(EventType::EV_IPL).any(|(_, _, s)| s.contains("grub_cmd: linux /vmlinuz")));
    assert!(find(EventType::EV_IPL).any(|(_, _, s)| s.contains(".linux")));
    assert!(one(EventType::EV_EVENT_TAG).2.contains("console=ttyS0"));
    assert!(one(EventType::EV_EFI_HCRTM_EVENT).2.contains("HCRTM"));
    assert!(one(EventType::EV_POST_CODE).2.contains("POST CODE"));
    // Unknown types survive as raw bytes, printed in hex with the type in hex.
    assert_eq!(one(EventType(0x8000_00AA)).2, "EV_0x800000aa dead");
}

#[test]
fn sha1_legacy_format() {
    let mut b = LogBuilder::sha1();
    b.measure(0, EventType::EV_S_CRTM_VERSION, b"v", &data::utf16z("v"));
    b.measure_data(0, EventType::EV_SEPARATOR, &[0; 4]);
    let log = EventLog::parse(b.bytes()).unwrap();
    assert_eq!(log.format, LogFormat::Sha1);
    assert_eq!(log.banks(), vec![HashAlg::SHA1]);
    assert_eq!(log.events.len(), 2);
    let want = expected_from_builder(&b, 0);
    assert_eq!(
        log.replay().pcrs[&HashAlg::SHA1],
        want.banks[&HashAlg::SHA1]
    );
}

#[test]
fn quirk_trailing_padding_and_garbage() {
    let b = full_boot(&[HashAlg::SHA256]);
    let clean = EventLog::parse(b.bytes()).unwrap().replay();
    for (fill, word) in [(0u8, "padding"), (0xff, "padding")] {
        let mut bytes = b.bytes().to_vec();
        bytes.extend(std::iter::repeat_n(fill, 4096));
        let log = EventLog::parse(&bytes).unwrap();
        assert!(
            log.warnings.iter().any(|w| w.contains(word)),
            "{:?}",
            log.warnings
        );
        assert_eq!(log.replay().pcrs, clean.pcrs);
    }
    let mut bytes = b.bytes().to_vec();
    bytes.extend_from_slice(&[1, 2, 3, 4, 5]);
    let log = EventLog::parse(&bytes).unwrap();
    assert!(log.is_truncated());
    assert!(
        log.warnings
            .iter()
            .any(|w| w.contains("truncated or corrupt") && w.contains("5 bytes")),
        "{:?}",
        log.warnings
    );
}

#[test]
fn quirk_truncated_last_event_is_reported() {
    let b = full_boot(&[HashAlg::SHA256]);
    let bytes = &b.bytes()[..b.bytes().len() - 7];
    let log = EventLog::parse(bytes).unwrap();
    assert!(log.is_truncated());
    assert!(
        log.warnings.iter().any(|w| w.contains("not replayed")),
        "{:?}",
        log.warnings
    );
    // The replay no longer matches what the whole boot extended: caught, not hidden.
    let want = expected_from_builder(&b, 3);
    assert!(!log.replay().compare(&log, &want).is_empty());
}

#[test]
fn quirk_missing_exit_boot_services() {
    let mut b = LogBuilder::crypto_agile(&[HashAlg::SHA256]);
    b.measure(
        4,
        EventType::EV_EFI_BOOT_SERVICES_APPLICATION,
        b"x",
        &data::image_load(0, 1, "\\x.efi"),
    );
    let log = EventLog::parse(b.bytes()).unwrap();
    assert!(log.warnings.iter().any(|w| w.contains("ExitBootServices")));
}

#[test]
fn huge_length_field_does_not_allocate() {
    let mut b = LogBuilder::crypto_agile(&[HashAlg::SHA256]);
    b.measure(4, EventType::EV_EFI_ACTION, b"a", b"a");
    let mut bytes = b.into_bytes();
    // Overwrite the last event's data length with 0xFFFFFFFF.
    let at = bytes.len() - 1 - 4;
    bytes[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    let log = EventLog::parse(&bytes).unwrap();
    assert!(log.events.is_empty());
    assert!(
        log.warnings
            .iter()
            .any(|w| w.contains("need 4294967295 bytes")),
        "{:?}",
        log.warnings
    );
    // And in a Spec ID event, an absurd algorithm count is an error.
    let mut spec = LogBuilder::crypto_agile(&[HashAlg::SHA256]).into_bytes();
    spec[32 + 24..32 + 28].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(EventLog::parse(&spec).is_err());
}

#[test]
fn tampered_data_is_caught_and_named() {
    let b = full_boot(&[HashAlg::SHA256]);
    let good = EventLog::parse(b.bytes()).unwrap();
    let sb = good
        .events
        .iter()
        .find(|e| e.describe().contains("SecureBoot"))
        .unwrap();
    // Flip SecureBoot's value byte (the last data byte) but keep the digest.
    let mut bytes = b.bytes().to_vec();
    let last =
        sb.offset + (bytes.len() - sb.offset).min(4 + 4 + 4 + 2 + 32 + 4 + sb.data.len()) - 1;
    bytes[last] ^= 1;
    let log = EventLog::parse(&bytes).unwrap();
    let bad = check_data_digests(&log);
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert_eq!(bad[0].index, sb.index);
    assert!(
        bad[0].reason.contains("SecureBoot") && bad[0].reason.contains("= false"),
        "{}",
        bad[0].reason
    );
    assert!(!bad[0].firmware_quirk);
}

#[test]
fn mismatch_names_register_and_events_and_reference_difference() {
    let good = full_boot(&[HashAlg::SHA256]);
    let quoted = expected_from_builder(&good, 3);
    // A different boot loader was measured: the log honestly says so.
    let mut evil = LogBuilder::crypto_agile(&[HashAlg::SHA256]);
    evil.startup_locality(3);
    let good_log = EventLog::parse(good.bytes()).unwrap();
    for e in good_log.events.iter().skip(1) {
        if e.event_type == EventType::EV_NO_ACTION {
            evil.no_action(&e.data);
            continue;
        }
        let digests: Vec<Digest> = if e.event_type == EventType::EV_EFI_BOOT_SERVICES_APPLICATION {
            vec![HashAlg::SHA256.hash(b"evil shim").unwrap()]
        } else {
            e.digests.clone()
        };
        evil.event(e.pcr, e.event_type, &digests, &e.data);
    }
    let log = EventLog::parse(evil.bytes()).unwrap();
    let m = log
        .replay()
        .compare_with_reference(&log, &quoted, Some(&good_log));
    assert_eq!(m.len(), 1, "{m:?}");
    assert_eq!(m[0].pcr, 4);
    let text = m[0].explain();
    assert!(text.contains("PCR 4 (sha256)"), "{text}");
    assert!(text.contains("EV_EFI_BOOT_SERVICES_APPLICATION"), "{text}");
    let first = m[0].first_difference.as_deref().unwrap();
    assert!(first.contains("\\EFI\\BOOT\\BOOTX64.EFI"), "{first}");
}

#[test]
fn pcr_file_formats_agree() {
    let b = full_boot(&[HashAlg::SHA256, HashAlg::SHA1]);
    let want = expected_from_builder(&b, 3);
    let mut json = serde_json::Map::new();
    let mut yaml = String::new();
    for (bank, regs) in &want.banks {
        let mut r = serde_json::Map::new();
        yaml.push_str(&format!("{bank}:\n"));
        for (i, d) in regs {
            r.insert(i.to_string(), d.hex().into());
            yaml.push_str(&format!("  {i:<2}: 0x{}\n", d.hex().to_uppercase()));
        }
        json.insert(bank.to_string(), r.into());
    }
    let from_json = PcrValues::parse(serde_json::to_string(&json).unwrap().as_bytes()).unwrap();
    let from_yaml = PcrValues::parse(yaml.as_bytes()).unwrap();
    assert_eq!(from_json, want);
    assert_eq!(from_yaml, want);
    assert!(
        PcrValues::parse(b"{\"sha256\": {\"0\": \"abcd\"}}")
            .unwrap_err()
            .to_string()
            .contains("2 bytes, but sha256 digests are 32")
    );
    assert!(PcrValues::parse(b"{\"md5\": {}}").is_err());
}

#[test]
fn truncation_at_every_offset_never_panics_and_never_passes() {
    let b = full_boot(&[HashAlg::SHA1, HashAlg::SHA256]);
    let want = expected_from_builder(&b, 3);
    let bytes = b.bytes();
    for cut in 0..bytes.len() {
        match EventLog::parse(&bytes[..cut]) {
            Err(_) => {}
            Ok(log) => {
                let r = log.replay();
                assert!(
                    !r.compare(&log, &want).is_empty() || r.pcrs.values().all(|b| b.is_empty()),
                    "truncation at {cut} still matches"
                );
            }
        }
    }
}

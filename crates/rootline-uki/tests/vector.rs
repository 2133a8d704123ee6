//! The prediction rules against the captured OVMF + swtpm UKI boot, and
//! Authenticode properties on synthetic PE images.
//!
//! The vector ships the UKI's command line and os-release but neither the
//! UKI nor its initrd: the rules for section names, `.osrel`, `.cmdline` and
//! the PCR 9 load options are checked here against its log; the `.linux`,
//! `.initrd` and both PCR 4 Authenticode digests are checked by
//! `crates/rootline/tests/vm_boot.rs` on UKIs we build and boot.

use rootline_core::{Digest, HashAlg};
use rootline_eventlog::{EventLog, EventType};
use rootline_uki::predict::{MEASURED_SECTIONS, load_options};
use rootline_uki::{authenticode, predict};

fn sha256(b: &[u8]) -> Digest {
    HashAlg::SHA256.hash(b).unwrap()
}

#[test]
fn section_and_load_option_rules_match_the_captured_uki_boot() {
    let Some(dir) = rootline_testkit::vector("ovmf-swtpm/uki-esp-ekcert-tpm") else {
        return;
    };
    let log =
        EventLog::parse(&std::fs::read(dir.join("binary_bios_measurements")).unwrap()).unwrap();
    let cmdline = std::fs::read(dir.join("cmdline.txt")).unwrap();
    let osrel = std::fs::read(dir.join("os-release")).unwrap();
    let pcr = |n: u32| -> Vec<Digest> {
        log.events
            .iter()
            .filter(|e| e.is_extended() && e.pcr == n)
            .map(|e| e.digest(HashAlg::SHA256).unwrap().clone())
            .collect()
    };
    let p11 = pcr(11);
    // Pairs of (name, content) in systemd-stub 252's order.
    let present = [".linux", ".osrel", ".cmdline", ".initrd"];
    assert_eq!(p11.len(), 2 * present.len());
    let order: Vec<&str> = MEASURED_SECTIONS
        .iter()
        .copied()
        .filter(|s| present.contains(s))
        .collect();
    assert_eq!(order, present);
    for (i, name) in present.iter().enumerate() {
        let mut z = name.as_bytes().to_vec();
        z.push(0);
        assert_eq!(p11[2 * i], sha256(&z), "name event of {name}");
    }
    assert_eq!(p11[3], sha256(&osrel), ".osrel content");
    assert_eq!(p11[5], sha256(&cmdline), ".cmdline content");
    let p9 = pcr(9);
    assert_eq!(p9.len(), 2);
    assert_eq!(
        p9[0],
        sha256(&load_options(&cmdline).unwrap()),
        "LoadOptions"
    );
    // The initrd the kernel measures is the .initrd section systemd-stub measured.
    assert_eq!(p9[1], p11[7]);
    let tags: Vec<EventType> = log
        .events
        .iter()
        .filter(|e| e.pcr == 9)
        .map(|e| e.event_type)
        .collect();
    assert_eq!(tags, [EventType::EV_EVENT_TAG, EventType::EV_EVENT_TAG]);
    // A trailing newline in .cmdline would change both events: the rule is strict.
    let mut nl = cmdline.clone();
    nl.push(b'\n');
    assert_ne!(p9[0], sha256(&load_options(&nl).unwrap()));
}

/// A minimal PE32+ image: headers (SizeOfHeaders 0x200), then each section
/// at a 0x200-aligned file offset, optionally followed by a certificate
/// table that the Security directory points at.
fn pe(sections: &[(&str, &[u8])], major_image_version: u16, cert: Option<&[u8]>) -> Vec<u8> {
    let mut f = vec![0u8; 0x200];
    f[0..2].copy_from_slice(b"MZ");
    f[0x3c..0x40].copy_from_slice(&0x40u32.to_le_bytes());
    f[0x40..0x44].copy_from_slice(b"PE\0\0");
    let coff = 0x44;
    f[coff..coff + 2].copy_from_slice(&0x8664u16.to_le_bytes());
    f[coff + 2..coff + 4].copy_from_slice(&(sections.len() as u16).to_le_bytes());
    f[coff + 16..coff + 18].copy_from_slice(&240u16.to_le_bytes());
    f[coff + 18..coff + 20].copy_from_slice(&0x0022u16.to_le_bytes());
    let opt = coff + 20;
    f[opt..opt + 2].copy_from_slice(&0x20bu16.to_le_bytes());
    f[opt + 32..opt + 36].copy_from_slice(&0x1000u32.to_le_bytes()); // SectionAlignment
    f[opt + 36..opt + 40].copy_from_slice(&0x200u32.to_le_bytes()); // FileAlignment
    f[opt + 44..opt + 46].copy_from_slice(&major_image_version.to_le_bytes());
    f[opt + 60..opt + 64].copy_from_slice(&0x200u32.to_le_bytes()); // SizeOfHeaders
    f[opt + 64..opt + 68].copy_from_slice(&0x1234_5678u32.to_le_bytes()); // CheckSum
    f[opt + 68..opt + 70].copy_from_slice(&10u16.to_le_bytes()); // EFI application
    f[opt + 108..opt + 112].copy_from_slice(&16u32.to_le_bytes()); // NumberOfRvaAndSizes
    let table = opt + 240;
    let mut va = 0x1000u32;
    for (i, (name, data)) in sections.iter().enumerate() {
        let h = table + 40 * i;
        let mut n = [0u8; 8];
        n[..name.len()].copy_from_slice(name.as_bytes());
        let raw = data.len().div_ceil(0x200) * 0x200;
        let ptr = f.len();
        f[h..h + 8].copy_from_slice(&n);
        f[h + 8..h + 12].copy_from_slice(&(data.len() as u32).to_le_bytes());
        f[h + 12..h + 16].copy_from_slice(&va.to_le_bytes());
        f[h + 16..h + 20].copy_from_slice(&(raw as u32).to_le_bytes());
        f[h + 20..h + 24].copy_from_slice(&(ptr as u32).to_le_bytes());
        f.extend_from_slice(data);
        f.resize(ptr + raw, 0);
        va += (raw as u32).div_ceil(0x1000) * 0x1000;
    }
    f[opt + 56..opt + 60].copy_from_slice(&va.to_le_bytes()); // SizeOfImage
    if let Some(c) = cert {
        let at = f.len() as u32;
        let dir = opt + 112 + 4 * 8;
        f[dir..dir + 4].copy_from_slice(&at.to_le_bytes());
        f[dir + 4..dir + 8].copy_from_slice(&(c.len() as u32).to_le_bytes());
        f.extend_from_slice(c);
    }
    f
}

#[test]
fn authenticode_ignores_checksum_and_certificates_but_not_content() {
    let base = pe(&[(".text", b"code")], 1, None);
    let d = authenticode::digest(&base, HashAlg::SHA256).unwrap();
    let mut other_sum = base.clone();
    let opt = 0x44 + 20;
    other_sum[opt + 64] ^= 0xff;
    assert_eq!(
        authenticode::digest(&other_sum, HashAlg::SHA256).unwrap(),
        d
    );
    let signed = pe(&[(".text", b"code")], 1, Some(&[0xAB; 24]));
    assert_eq!(authenticode::digest(&signed, HashAlg::SHA256).unwrap(), d);
    let changed = pe(&[(".text", b"codf")], 1, None);
    assert_ne!(authenticode::digest(&changed, HashAlg::SHA256).unwrap(), d);
    // Data after the last section is covered (EDK2 step 16), without padding.
    let mut tail = base.clone();
    tail.push(7);
    let t = authenticode::digest(&tail, HashAlg::SHA256).unwrap();
    assert_ne!(t, d);
    let mut manual = HashAlg::SHA256.hasher().unwrap();
    for r in authenticode::ranges(&base).unwrap().0 {
        manual.update(&base[r]);
    }
    manual.update(&[7]);
    assert_eq!(manual.finish(), t);
}

#[test]
fn predicts_every_register_from_a_synthetic_uki() {
    let kernel = pe(&[(".text", b"kernel code")], 1, None);
    let initrd = b"initrd bytes".to_vec();
    let uki = pe(
        &[
            (".text", b"stub"),
            (
                ".sdmagic",
                b"#### LoaderInfo: systemd-stub 252.39-1~deb12u2 ####\0",
            ),
            (".osrel", b"ID=test\n"),
            (".cmdline", b"console=ttyS0"),
            (".linux", &kernel),
            (".initrd", &initrd),
        ],
        0,
        None,
    );
    let p = predict(&uki, HashAlg::SHA256).unwrap();
    assert_eq!(p.stub.as_deref(), Some("systemd-stub 252.39-1~deb12u2"));
    let e11: Vec<&str> = p.events_for(11).map(|e| e.what.as_str()).collect();
    assert_eq!(e11.len(), 8, "{e11:?}");
    // .linux is measured as VirtualSize bytes: the kernel without file padding.
    let linux = p.events_for(11).nth(1).unwrap();
    assert_eq!(linux.digest, sha256(&kernel));
    let e4: Vec<&Digest> = p.events_for(4).map(|e| &e.digest).collect();
    assert_eq!(e4.len(), 4);
    assert_eq!(
        *e4[3],
        authenticode::digest(&kernel, HashAlg::SHA256).unwrap()
    );
    let e9: Vec<&Digest> = p.events_for(9).map(|e| &e.digest).collect();
    assert_eq!(*e9[1], sha256(&initrd));
    // Final values are the folds of the events.
    for (pcr, value) in &p.pcrs {
        let mut r = HashAlg::SHA256.zero().unwrap();
        for e in p.events_for(*pcr) {
            r.extend(&e.digest.bytes).unwrap();
        }
        assert_eq!(&r, value, "PCR {pcr}");
    }
    assert_eq!(
        p.reference_values().keys().collect::<Vec<_>>(),
        ["tpm.pcr.sha256.11", "tpm.pcr.sha256.4", "tpm.pcr.sha256.9"]
    );

    // A kernel too old for LoadImage (MajorImageVersion 0) has no PCR 4 event.
    let old = pe(&[(".text", b"old")], 0, None);
    let uki_old = pe(&[(".text", b"stub"), (".linux", &old)], 0, None);
    let p = predict(&uki_old, HashAlg::SHA256).unwrap();
    assert_eq!(p.events_for(4).count(), 3);
    assert!(p.notes.iter().any(|n| n.contains("handover")));
    // No .cmdline: PCR 9 cannot be predicted and is left out.
    assert!(!p.pcrs.contains_key(&9));

    // Not a UKI.
    assert!(predict(&kernel, HashAlg::SHA256).is_err());
}

#[test]
fn sections_pointing_outside_the_file_are_errors_not_panics() {
    let mut uki = pe(&[(".text", b"stub"), (".linux", b"x")], 0, None);
    // Make .linux's PointerToRawData point past the end.
    let h = 0x44 + 20 + 240 + 40;
    uki[h + 20..h + 24].copy_from_slice(&0x7fff_0000u32.to_le_bytes());
    assert!(predict(&uki, HashAlg::SHA256).is_err());
    assert!(authenticode::digest(&uki, HashAlg::SHA256).is_err());
    // A VirtualSize far beyond the file's data would make us allocate it: refused.
    let mut big = pe(&[(".text", b"stub"), (".linux", b"x")], 0, None);
    big[h + 8..h + 12].copy_from_slice(&0x4000_0000u32.to_le_bytes());
    let e = predict(&big, HashAlg::SHA256).unwrap_err().to_string();
    assert!(e.contains("VirtualSize"), "{e}");
    for cut in [0x40, 0x100, 0x1ff, 0x300] {
        let _ = predict(&uki[..cut.min(uki.len())], HashAlg::SHA256);
    }
}

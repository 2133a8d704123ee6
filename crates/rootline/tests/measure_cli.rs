//! `rootline measure uki` on the real binary, without QEMU: a synthetic
//! UKI-shaped PE made here, the captured vector's log as a log of another
//! boot, and unreadable input. The end-to-end check against real boots is
//! `vm_boot.rs`.

use std::path::Path;

use serde_json::Value;

mod common;
use common::run as rootline;

fn put(f: &mut [u8], at: usize, v: &[u8]) {
    f[at..at + v.len()].copy_from_slice(v);
}

/// DOS + PE32+ headers and the sections at 0x200-aligned offsets.
fn pe(sections: &[(&str, &[u8])], major: u16) -> Vec<u8> {
    let mut f = vec![0u8; 0x200];
    put(&mut f, 0, b"MZ");
    put(&mut f, 0x3c, &0x40u32.to_le_bytes());
    put(&mut f, 0x40, b"PE\0\0");
    put(&mut f, 0x44, &0x8664u16.to_le_bytes());
    put(&mut f, 0x46, &(sections.len() as u16).to_le_bytes());
    put(&mut f, 0x54, &240u16.to_le_bytes());
    let opt = 0x58;
    put(&mut f, opt, &0x20bu16.to_le_bytes());
    put(&mut f, opt + 32, &0x1000u32.to_le_bytes());
    put(&mut f, opt + 36, &0x200u32.to_le_bytes());
    put(&mut f, opt + 44, &major.to_le_bytes());
    put(&mut f, opt + 60, &0x200u32.to_le_bytes());
    put(&mut f, opt + 108, &16u32.to_le_bytes());
    let mut va = 0x1000u32;
    for (i, (name, data)) in sections.iter().enumerate() {
        let h = opt + 240 + 40 * i;
        let raw = data.len().div_ceil(0x200) * 0x200;
        let ptr = f.len();
        put(&mut f, h, name.as_bytes());
        put(&mut f, h + 8, &(data.len() as u32).to_le_bytes());
        put(&mut f, h + 12, &va.to_le_bytes());
        put(&mut f, h + 16, &(raw as u32).to_le_bytes());
        put(&mut f, h + 20, &(ptr as u32).to_le_bytes());
        f.extend_from_slice(data);
        f.resize(ptr + raw, 0);
        va += (raw as u32).div_ceil(0x1000).max(1) * 0x1000;
    }
    put(&mut f, opt + 56, &va.to_le_bytes());
    f
}

fn write_uki(dir: &Path, cmdline: &[u8]) -> String {
    let kernel = pe(&[(".text", b"kernel")], 1);
    let uki = pe(
        &[
            (".text", b"stub"),
            (".osrel", b"ID=test\n"),
            (".cmdline", cmdline),
            (".linux", &kernel),
            (".initrd", b"initrd"),
        ],
        0,
    );
    let path = dir.join("uki.efi");
    std::fs::write(&path, uki).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn json_reference_values_and_exit_codes() {
    let t = tempfile::tempdir().unwrap();
    let uki = write_uki(t.path(), b"console=ttyS0");
    let (code, out, err) = rootline(&["measure", "uki", &uki, "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["bank"], "sha256");
    assert_eq!(v["events"].as_array().unwrap().len(), 4 + 2 + 8);
    for pcr in ["4", "9", "11"] {
        assert_eq!(
            v["reference_values"][format!("tpm.pcr.sha256.{pcr}")],
            v["pcrs"][pcr]
        );
    }
    // --reference-values prints exactly the importable object.
    let (code, out, _) = rootline(&["measure", "uki", &uki, "--reference-values"]);
    assert_eq!(code, 0);
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r, v["reference_values"]);
    // Another command line changes PCR 9 and 11 (and PCR 4: the file changed).
    let t2 = tempfile::tempdir().unwrap();
    let uki2 = write_uki(t2.path(), b"console=ttyS1");
    let (_, out2, _) = rootline(&["measure", "uki", &uki2, "--reference-values"]);
    let r2: Value = serde_json::from_str(&out2).unwrap();
    for pcr in ["4", "9", "11"] {
        let k = format!("tpm.pcr.sha256.{pcr}");
        assert_ne!(r[&k], r2[&k], "{k}");
    }
    // sha384 is a bank too.
    let (code, out, _) = rootline(&["measure", "uki", &uki, "--bank", "sha384", "--json"]);
    assert_eq!(code, 0);
    let v384: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v384["pcrs"]["11"].as_str().unwrap().len(), 96);

    // Not a PE, a missing file, an unknown bank: exit 2.
    let junk = t.path().join("junk");
    std::fs::write(&junk, b"not a PE").unwrap();
    assert_eq!(rootline(&["measure", "uki", junk.to_str().unwrap()]).0, 2);
    assert_eq!(rootline(&["measure", "uki", "/nonexistent/uki.efi"]).0, 2);
    assert_eq!(rootline(&["measure", "uki", &uki, "--bank", "md5"]).0, 2);
}

#[test]
fn a_log_of_another_boot_fails_naming_the_events() {
    let Some(log) =
        rootline_testkit::vector("ovmf-swtpm/uki-esp-ekcert-tpm/binary_bios_measurements")
    else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let uki = write_uki(t.path(), b"console=ttyS0");
    let (code, out, _) = rootline(&["measure", "uki", &uki, "--eventlog", log.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    // Firmware events and the section names are the same in any UKI boot;
    // the contents are not.
    assert!(out.contains("ok   PCR 4: Calling EFI Application"), "{out}");
    assert!(out.contains("ok   PCR 11: section name .cmdline"), "{out}");
    assert!(
        out.contains("FAIL PCR 11: section content .cmdline"),
        "{out}"
    );
    assert!(
        out.contains("FAIL PCR 9: LOADED_IMAGE::LoadOptions"),
        "{out}"
    );
}

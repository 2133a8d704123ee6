//! Malformed OVMF images give errors naming the structure, never a panic in
//! our parser or in `sev` behind it.

use rootline_snp_measure::{Error, Inputs, OvmfLayout, SectionKind, VmmType, predict, synthetic};

fn measure(img: &[u8], kernel: Option<&std::path::Path>) -> Result<String, Error> {
    predict(&Inputs {
        ovmf: img,
        kernel,
        initrd: None,
        append: None,
        vcpus: 2,
        vcpu_type: "EPYC-Milan".parse().unwrap(),
        vmm_type: VmmType::Qemu,
        guest_features: 1,
    })
    .map(|p| p.hex())
}

fn spec_image(f: impl FnOnce(&mut synthetic::Spec)) -> Vec<u8> {
    let mut s = synthetic::Spec::default();
    f(&mut s);
    synthetic::image(&s).unwrap()
}

#[test]
fn synthetic_layout_is_read_back() {
    let spec = synthetic::Spec::default();
    let l = OvmfLayout::parse(&synthetic::image(&spec).unwrap()).unwrap();
    assert_eq!(l.size, spec.size as u64);
    assert_eq!(l.gpa, 0x1_0000_0000 - spec.size as u64);
    assert_eq!(l.ap_reset_eip, spec.ap_reset_eip);
    assert_eq!(l.sev_hash_table_gpa, Some(spec.hash_table_gpa));
    let got: Vec<(u32, u32, u32)> = l
        .sections
        .iter()
        .map(|s| (s.gpa, s.size, s.kind.0))
        .collect();
    assert_eq!(got, spec.sections);
    assert_eq!(l.table.len(), 4, "four entries besides the footer");
    assert!(l.supports_kernel_hashes());
}

#[test]
fn each_bad_structure_is_named() {
    let tmp = tempfile::NamedTempFile::new().unwrap();
    let kernel = Some(tmp.path());
    let good = synthetic::image(&synthetic::Spec::default()).unwrap();
    let len = good.len();

    let mut no_footer = good.clone();
    no_footer[len - 40] ^= 0xff; // inside the footer GUID
    let e = measure(&no_footer, None).unwrap_err();
    assert!(
        matches!(e, Error::NotSevOvmf(_)) && e.to_string().contains("footer"),
        "{e}"
    );

    let mut huge_table = good.clone();
    huge_table[len - 50..len - 48].copy_from_slice(&0xfff0u16.to_le_bytes());
    // The table then reaches into code bytes, whose "entry" sizes do not fit.
    let e = measure(&huge_table, None).unwrap_err();
    assert!(e.to_string().contains("footer table entry size"), "{e}");

    // The metadata signature, 0x1000 bytes from the end.
    let mut bad_sig = good.clone();
    bad_sig[len - 0x1000] = b'X';
    let e = measure(&bad_sig, None).unwrap_err();
    assert!(e.to_string().contains("ASEV"), "{e}");

    let mut bad_version = good.clone();
    bad_version[len - 0x1000 + 8] = 2;
    let e = measure(&bad_version, None).unwrap_err();
    assert!(e.to_string().contains("version 2"), "{e}");

    let mut many_items = good.clone();
    many_items[len - 0x1000 + 12..len - 0x1000 + 16].copy_from_slice(&1000u32.to_le_bytes());
    let e = measure(&many_items, None).unwrap_err();
    assert!(e.to_string().contains("1000 items"), "{e}");

    let e = measure(
        &spec_image(|s| s.sections.push((0x0090_0000, 0x1000, 5))),
        None,
    )
    .unwrap_err();
    assert!(
        matches!(e, Error::UnsupportedSection { index: 7, kind: 5 }),
        "{e}"
    );

    let e = measure(&spec_image(|s| s.sections[0].1 = 0x1234), None).unwrap_err();
    assert!(
        e.to_string().contains("section 0") && e.to_string().contains("4096"),
        "{e}"
    );

    let e = measure(&spec_image(|s| s.sections[2].0 += 0x10), None).unwrap_err();
    assert!(e.to_string().contains("not page aligned"), "{e}");

    // Kernel hashes: sev would assert (panic) on a two-page section and
    // silently cut a table that runs past its page.
    let two_pages = spec_image(|s| {
        for sec in &mut s.sections {
            if sec.2 == SectionKind::SNP_KERNEL_HASHES.0 {
                sec.1 = 0x2000;
            }
        }
    });
    assert!(
        measure(&two_pages, None).is_ok(),
        "without a kernel the page is zeros"
    );
    let e = measure(&two_pages, kernel).unwrap_err();
    assert!(e.to_string().contains("not one 4096-byte page"), "{e}");
    let e = measure(&spec_image(|s| s.hash_table_gpa = 0x0080_fff0), kernel).unwrap_err();
    assert!(e.to_string().contains("does not fit in its page"), "{e}");
    let e = measure(
        &spec_image(|s| {
            s.sections
                .retain(|x| x.2 != SectionKind::SNP_KERNEL_HASHES.0)
        }),
        kernel,
    )
    .unwrap_err();
    assert!(matches!(e, Error::NoKernelHashes(_)), "{e}");

    let e = measure(&good[..len - 1], None).unwrap_err();
    assert!(e.to_string().contains("image size"), "{e}");
}

/// Every byte of the footer table and the metadata, set to 0x00, 0xff and
/// flipped: each image is measured (with a kernel, the strictest path) or
/// refused, and nothing panics.
#[test]
fn byte_changes_in_the_tail_never_panic() {
    let tmp = tempfile::NamedTempFile::new().unwrap();
    // A two-page image with one-page sections keeps each measurement cheap
    // (sev's RustCrypto SHA-384 is slow in a debug build).
    let good = spec_image(|s| {
        s.size = 0x2000;
        for sec in &mut s.sections {
            sec.1 = 0x1000;
        }
    });
    let len = good.len();
    let table = (len - 32 - 128)..(len - 32);
    let meta = (len - 0x1000)..(len - 0x1000 + 16 + 7 * 12);
    let (mut ok, mut refused) = (0, 0);
    for i in table.chain(meta) {
        for v in [0x00, 0xff, good[i] ^ 0x80] {
            if v == good[i] {
                continue;
            }
            let mut img = good.clone();
            img[i] = v;
            // A changed size byte can make a section gigabytes of zero
            // pages: the same loop in sev as a small one, only slow in a
            // debug build, so those are parsed but not measured here.
            if OvmfLayout::parse(&img).is_ok_and(|l| l.sections.iter().any(|s| s.size > 0x10_0000))
            {
                continue;
            }
            match measure(&img, Some(tmp.path())) {
                Ok(_) => ok += 1,
                Err(_) => refused += 1,
            }
        }
    }
    assert!(refused > 0 && ok > 0, "{ok} measured, {refused} refused");
}

//! Malformed firmware images give errors naming the structure and the
//! field, never a panic, and never a silent MRTD over bytes the image does
//! not have.

use rootline_tdx_measure::synthetic::{self, SectionSpec, Spec};
use rootline_tdx_measure::tdvf::{Guid, MAX_ADDED_BYTES, MAX_SECTIONS};
use rootline_tdx_measure::{Error, PageOrder, SectionType, mrtd, mrtd_with};

fn with(f: impl FnOnce(&mut Spec)) -> Vec<u8> {
    let mut s = Spec::default();
    f(&mut s);
    synthetic::image(&s).unwrap()
}

fn section(f: impl FnOnce(&mut SectionSpec)) -> Vec<u8> {
    with(|s| f(&mut s.sections[0]))
}

fn err(img: &[u8]) -> String {
    mrtd(img).unwrap_err().to_string()
}

#[test]
fn not_ovmf_images_are_not_tdvf() {
    for img in [vec![], vec![0u8; 49], vec![0u8; 50], vec![0xff; 8192]] {
        assert!(
            matches!(mrtd(&img), Err(Error::NotTdvf(_))),
            "{}",
            img.len()
        );
    }
}

#[test]
fn an_image_without_the_tdx_entry_is_not_tdvf() {
    let mut img = synthetic::image(&Spec::default()).unwrap();
    let at = img
        .windows(16)
        .position(|w| w == Guid::TDX_METADATA_OFFSET.0)
        .unwrap();
    img[at] ^= 1;
    let e = mrtd(&img).unwrap_err();
    assert!(matches!(e, Error::NotTdvf(_)), "{e}");
    assert!(
        e.to_string()
            .contains("e47a6535-984a-4798-865e-4685a7bf8ec2"),
        "{e}"
    );
}

#[test]
fn descriptor_offset_outside_the_image() {
    for off in [0u32, 8, 0x2001, u32::MAX] {
        let mut img = with(|s| s.descriptor_from_end = 0x400);
        // Rewrite the offset entry's data in place.
        let at = img
            .windows(16)
            .position(|w| w == Guid::TDX_METADATA_OFFSET.0)
            .unwrap()
            - 6;
        img[at..at + 4].copy_from_slice(&off.to_le_bytes());
        let e = mrtd(&img).unwrap_err();
        assert!(matches!(e, Error::Malformed(_)), "{off:#x}: {e}");
    }
}

#[test]
fn descriptor_fields_are_checked() {
    let e = err(&with(|s| s.version = 2));
    assert!(e.contains("version 2"), "{e}");
    let e = err(&with(|s| s.sections.truncate(1)));
    assert!(e.contains("1 sections (QEMU needs at least 2"), "{e}");
    let mut img = synthetic::image(&Spec::default()).unwrap();
    let at = img.windows(4).position(|w| w == b"TDVF").unwrap();
    img[at + 4] += 1; // length
    let e = err(&img);
    assert!(e.contains("is not 16 + 32 x 2 sections"), "{e}");
    img[at + 4] -= 1;
    img[at] = b'X';
    let e = err(&img);
    assert!(e.contains("is not \"TDVF\""), "{e}");
    let too_many: Vec<SectionSpec> = (0..=MAX_SECTIONS as u64)
        .map(|i| SectionSpec {
            data_offset: 0,
            raw_data_size: 0,
            memory_address: 0x1000_0000 + i * 0x1000,
            memory_data_size: 0x1000,
            kind: SectionType::TEMP_MEM.0,
            attributes: 0,
        })
        .collect();
    // Too many to fit before the table at 0x400 from the end: move it.
    let img = with(|s| {
        s.size = 0x4000 + 32 * too_many.len();
        s.descriptor_from_end = u32::try_from(0x400 + 32 * too_many.len()).unwrap();
        s.sections = too_many;
    });
    let e = err(&img);
    assert!(e.contains("rootline reads at most 256"), "{e}");
}

#[test]
fn data_past_the_end_names_the_section_and_fields() {
    let e = err(&section(|s| s.raw_data_size = 0x2400));
    assert!(
        e.starts_with(
            "TDVF metadata section 0: MemoryDataSize 0x2000 is smaller than RawDataSize 0x2400"
        ),
        "{e}"
    );
    let e = err(&section(|s| s.data_offset = 0x1000));
    assert!(
        e.starts_with(
            "TDVF metadata section 0: DataOffset 0x1000 + RawDataSize 0x2000 exceeds the image (0x2000 bytes)"
        ),
        "{e}"
    );
    let e = err(&section(|s| s.data_offset = u32::MAX));
    assert!(
        e.contains("DataOffset 0xffffffff + RawDataSize 0x2000 exceeds"),
        "{e}"
    );
}

#[test]
fn alignment_and_overflow() {
    let e = err(&section(|s| s.memory_address = 0xffff_e800));
    assert!(
        e.contains("MemoryAddress 0xffffe800 is not 4 KiB aligned"),
        "{e}"
    );
    let e = err(&with(|s| s.sections[1].memory_data_size = 0x1800));
    assert!(
        e.starts_with("TDVF metadata section 1: MemoryDataSize 0x1800 is not a multiple"),
        "{e}"
    );
    let e = err(&with(|s| s.sections[1].memory_address = u64::MAX - 0xfff));
    assert!(e.contains("overflows 64 bits"), "{e}");
    let e = err(&with(|s| s.sections[1].memory_data_size = 0));
    assert!(e.contains("MemoryDataSize 0"), "{e}");
}

#[test]
fn sections_qemu_or_rootline_cannot_measure_are_refused() {
    // MR_EXTEND over zero pages the VMM writes.
    let e = mrtd(&with(|s| s.sections[1].attributes = 1)).unwrap_err();
    assert!(
        matches!(
            e,
            Error::UnsupportedSection {
                index: 1,
                kind: SectionType::TEMP_MEM,
                ..
            }
        ),
        "{e}"
    );
    // MR_EXTEND over more memory than the image supplies.
    let e = err(&section(|s| {
        s.raw_data_size = 0x1000;
        s.data_offset = 0x1000;
    }));
    assert!(
        e.contains("MemoryDataSize 0x2000 != RawDataSize 0x1000"),
        "{e}"
    );
    for kind in [
        SectionType::PAYLOAD.0,
        SectionType::PAYLOAD_PARAM.0,
        7,
        0x8000_0000,
    ] {
        let e = mrtd(&with(|s| s.sections[1].kind = kind)).unwrap_err();
        assert!(
            matches!(e, Error::UnsupportedSection { index: 1, .. }),
            "{e}"
        );
    }
    let e = err(&with(|s| s.sections[1].attributes = 4));
    assert!(e.contains("bits rootline does not know (0x4)"), "{e}");
    // QEMU's own rules: BFV/CFV carry image bytes, TD_HOB/TempMem do not.
    let e = err(&with(|s| s.sections[0].raw_data_size = 0));
    assert!(e.contains("BFV with RawDataSize 0"), "{e}");
    let e = err(&with(|s| {
        s.sections[1].kind = SectionType::TD_HOB.0;
        s.sections[1].raw_data_size = 0x1000;
    }));
    assert!(e.contains("TD_HOB with RawDataSize 0x1000"), "{e}");
}

#[test]
fn a_page_cannot_be_added_twice() {
    let e = err(&with(|s| s.sections[1].memory_address = 0xffff_f000));
    assert!(
        e.contains("overlaps section 0 (0xffffe000..0x100000000): a page cannot be added twice"),
        "{e}"
    );
    // Not added sections may overlap added ones.
    assert!(
        mrtd(&with(|s| {
            s.sections[1].memory_address = 0xffff_f000;
            s.sections[1].kind = SectionType::PERM_MEM.0;
        }))
        .is_ok()
    );
}

#[test]
fn hostile_sizes_are_bounded_before_any_hashing() {
    let e = mrtd(&with(|s| s.sections[1].memory_data_size = MAX_ADDED_BYTES)).unwrap_err();
    assert!(matches!(e, Error::TooLarge(_)), "{e}");
    let e = mrtd(&with(|s| {
        s.sections[1].memory_address = 0;
        s.sections[1].memory_data_size = !0xfff;
    }))
    .unwrap_err();
    assert!(matches!(e, Error::TooLarge(_)), "{e}");
}

#[test]
fn every_truncation_and_bit_flip_of_the_tail_is_an_answer_not_a_panic() {
    let img = synthetic::image(&Spec::default()).unwrap();
    let len = img.len();
    for cut in (0..len).step_by(61).chain(len - 64..len) {
        let _ = mrtd(&img[..cut]);
        let _ = mrtd(&img[cut..]);
    }
    for at in len - 0x420..len {
        for bit in 0..8 {
            let mut m = img.clone();
            m[at] ^= 1 << bit;
            for order in [PageOrder::PerPage, PageOrder::PerSection] {
                let _ = mrtd_with(&m, order);
            }
        }
    }
}

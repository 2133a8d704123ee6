//! MRTDs compared with values this crate did not compute.
//!
//! - The synthetic image (`synthetic::Spec::default()`, two sections): the
//!   expected MRTD is built here, call by call, from the TDX module's
//!   definition of TDH.MEM.PAGE.ADD and TDH.MR.EXTEND, for both page
//!   orders, so the replay order is pinned.
//! - Debian 12's OVMF (package ovmf 2022.11-6+deb12u2), checked by SHA-256
//!   first and skipped with a printed reason when absent or different. The
//!   expected values come from two independent implementations, built in a
//!   scratch folder outside this repository (their code is not copied
//!   here):
//!   - per-section order: mosaik 0.4.2 (crates.io, flashbots; its
//!     `src/tee/tdx/builder/mrtd.rs` `compute_mrtd`, which parses the
//!     footer table and descriptor itself and hashes with RustCrypto's
//!     sha2 0.10.9), compiled unchanged through `#[path]` into a
//!     five-line `main` and run as `mrtd-ref /usr/share/ovmf/OVMF.fd`;
//!   - per-page order: Microsoft's igvm 0.5.0 (crates.io, feature `corim`)
//!     `measurement::generate_tdx_measurement` (MEM.PAGE.ADD per page, then
//!     MR.EXTEND of that page), fed one `PageData` directive per page of
//!     the TDX regions that Gerd Hoffmann's virtfw-igvm-tools 0.2.6
//!     `ovmfmeta::OvmfMeta` (crates.io) lists for the image, the BFV
//!     (`TdxFvCode`) measured with its file bytes and every other region
//!     unmeasured; run as `igvm-ref /usr/share/ovmf/OVMF.fd`.

use std::path::Path;

use aws_lc_rs::digest;
use rootline_core::HashAlg;
use rootline_tdx_measure::{
    Error, PageOrder, SectionType, Treatment, mrtd, mrtd_with, predict, sections, synthetic,
};

fn sha256_hex(b: &[u8]) -> String {
    HashAlg::SHA256.hash(b).unwrap().hex()
}

/// The 128-byte buffer a TDH.MEM.PAGE.ADD or TDH.MR.EXTEND hashes, written
/// out from the definition rather than taken from the crate.
fn buffer(op: &str, gpa: u64) -> Vec<u8> {
    let mut b = op.as_bytes().to_vec();
    b.resize(16, 0);
    b.extend_from_slice(&gpa.to_le_bytes());
    b.resize(128, 0);
    b
}

/// The synthetic image's MRTD for `order`, spelled out call by call.
fn synthetic_by_hand(img: &[u8], order: PageOrder) -> String {
    // Section 0: BFV, image bytes 0..0x2000 at GPA 0xffffe000, MR_EXTEND.
    // Section 1: TempMem, one zero page at GPA 0x800000.
    let add = |ctx: &mut digest::Context, gpa: u64| ctx.update(&buffer("MEM.PAGE.ADD", gpa));
    let extend = |ctx: &mut digest::Context, page: usize| {
        for chunk in 0..16 {
            let at = page * 4096 + chunk * 256;
            ctx.update(&buffer("MR.EXTEND", 0xffff_e000 + at as u64));
            ctx.update(&img[at..at + 256]);
        }
    };
    let mut ctx = digest::Context::new(&digest::SHA384);
    match order {
        PageOrder::PerPage => {
            add(&mut ctx, 0xffff_e000);
            extend(&mut ctx, 0);
            add(&mut ctx, 0xffff_f000);
            extend(&mut ctx, 1);
        }
        _ => {
            add(&mut ctx, 0xffff_e000);
            add(&mut ctx, 0xffff_f000);
            extend(&mut ctx, 0);
            extend(&mut ctx, 1);
        }
    }
    add(&mut ctx, 0x0080_0000);
    hex::encode(ctx.finish())
}

#[test]
fn synthetic_two_sections_match_the_spec_steps_in_both_orders() {
    let img = synthetic::image(&synthetic::Spec::default()).unwrap();
    let per_page = hex::encode(mrtd(&img).unwrap());
    let per_section = hex::encode(mrtd_with(&img, PageOrder::PerSection).unwrap());
    assert_eq!(per_page, synthetic_by_hand(&img, PageOrder::PerPage));
    assert_eq!(per_section, synthetic_by_hand(&img, PageOrder::PerSection));
    assert_ne!(per_page, per_section, "the order must matter");
}

#[test]
fn synthetic_sections_are_read_back() {
    let img = synthetic::image(&synthetic::Spec::default()).unwrap();
    let s = sections(&img).unwrap();
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].kind, SectionType::BFV);
    assert_eq!(s[0].treatment, Treatment::AddAndExtend);
    assert_eq!(s[0].memory_address, 0xffff_e000);
    assert_eq!(s[1].kind, SectionType::TEMP_MEM);
    assert_eq!(s[1].treatment, Treatment::Add);
    assert_eq!(s[1].pages(), 1);
    let p = predict(&img, PageOrder::PerPage).unwrap();
    assert!(p.firmware.metadata_guid);
    assert_eq!(p.firmware.descriptor_offset, 0x2000 - 0x400);
}

#[test]
fn page_aug_and_perm_mem_sections_do_not_enter_mrtd() {
    for (kind, attributes) in [
        (SectionType::PERM_MEM.0, 0),
        (SectionType::PERM_MEM.0, 2),
        (SectionType::TEMP_MEM.0, 2),
    ] {
        let mut spec = synthetic::Spec::default();
        spec.sections.push(synthetic::SectionSpec {
            data_offset: 0,
            raw_data_size: 0,
            memory_address: 0x0100_0000,
            memory_data_size: 0x10_0000,
            kind,
            attributes,
        });
        let img = synthetic::image(&spec).unwrap();
        assert_eq!(sections(&img).unwrap()[2].treatment, Treatment::NotAdded);
        // The descriptor lies in the BFV, so the image differs from the
        // default one; the by-hand replay of its first two sections is the
        // whole MRTD.
        assert_eq!(
            hex::encode(mrtd(&img).unwrap()),
            synthetic_by_hand(&img, PageOrder::PerPage),
            "type {kind}, attributes {attributes}"
        );
    }
}

struct Debian {
    path: &'static str,
    sha256: &'static str,
}

/// Debian 12 ovmf 2022.11-6+deb12u2.
const OVMF_FD: Debian = Debian {
    path: "/usr/share/ovmf/OVMF.fd",
    sha256: "7b456907dd0786d415999e801a1ac4637b8ed4d7cf5378cfc6edbe5e574dd773",
};
const OVMF_CODE_FD: Debian = Debian {
    path: "/usr/share/OVMF/OVMF_CODE.fd",
    sha256: "d9b568def24088c92f34b5479e0ed7e44d0a4d4cea8a0f5716719180bba48106",
};
const OVMF_VARS_FD: &str = "/usr/share/OVMF/OVMF_VARS.fd";

/// igvm 0.5.0 + virtfw-igvm-tools 0.2.6 (per-page order), see the module docs.
const DEBIAN_PER_PAGE: &str = "4c7206f0f483c524f12c366c711e9049030a8d47c471ee5aa9c4999a08de4057fb887fed0744d5631a212967fb231c47";
/// mosaik 0.4.2 `compute_mrtd` (per-section order), see the module docs.
const DEBIAN_PER_SECTION: &str = "acccbcc870a381adab0d3919d90a7f268ac3b0364771f202ed4bb4e892d045b33db3b32e6924cba830a724eed443f7e1";

/// The file's bytes, or `None` (with the reason printed) when it is absent
/// or not the recorded build.
fn debian(d: &Debian) -> Option<Vec<u8>> {
    let Ok(bytes) = std::fs::read(d.path) else {
        println!(
            "skipped: {} is absent (Debian package ovmf 2022.11-6+deb12u2; .ci/run installs it)",
            d.path
        );
        return None;
    };
    let got = sha256_hex(&bytes);
    if got != d.sha256 {
        println!(
            "skipped: {} has SHA-256 {got}, not the recorded ovmf 2022.11-6+deb12u2 build ({})",
            d.path, d.sha256
        );
        return None;
    }
    Some(bytes)
}

#[test]
fn debian_ovmf_fd_matches_two_independent_implementations() {
    let Some(img) = debian(&OVMF_FD) else { return };
    assert_eq!(hex::encode(mrtd(&img).unwrap()), DEBIAN_PER_PAGE);
    assert_eq!(
        hex::encode(mrtd_with(&img, PageOrder::PerSection).unwrap()),
        DEBIAN_PER_SECTION
    );
    let s = sections(&img).unwrap();
    let summary: Vec<(SectionType, u64, u64, Treatment)> = s
        .iter()
        .map(|s| (s.kind, s.memory_address, s.memory_data_size, s.treatment))
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                SectionType::BFV,
                0xffe2_0000,
                0x1e_0000,
                Treatment::AddAndExtend
            ),
            (SectionType::CFV, 0xffe0_0000, 0x2_0000, Treatment::Add),
            (SectionType::TEMP_MEM, 0x81_0000, 0x1_0000, Treatment::Add),
            (SectionType::TEMP_MEM, 0x80_b000, 0x2000, Treatment::Add),
            (SectionType::TD_HOB, 0x80_9000, 0x2000, Treatment::Add),
            (SectionType::TEMP_MEM, 0x80_0000, 0x6000, Treatment::Add),
        ]
    );
}

/// Regression: Debian's OVMF_CODE.fd carries the TDX metadata of the
/// combined OVMF.fd (its BFV at DataOffset 0x20000, past the variable
/// store), so alone it cannot be measured; mosaik 0.4.2 hashes zeros for
/// the missing bytes and prints 7984eb02...ff9f55, which no TD has.
#[test]
fn debian_ovmf_code_fd_alone_is_refused_and_with_its_vars_matches_ovmf_fd() {
    let Some(code) = debian(&OVMF_CODE_FD) else {
        return;
    };
    let err = mrtd(&code).unwrap_err();
    assert!(matches!(err, Error::Section { index: 0, .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.starts_with(
            "TDVF metadata section 0: DataOffset 0x20000 + RawDataSize 0x1e0000 exceeds the image (0x1e0000 bytes)"
        ),
        "{text}"
    );
    assert!(
        text.contains("OVMF_VARS.fd followed by OVMF_CODE.fd"),
        "{text}"
    );

    let Ok(vars) = std::fs::read(OVMF_VARS_FD) else {
        println!("skipped the combined image: {OVMF_VARS_FD} is absent");
        return;
    };
    let combined = [vars, code].concat();
    assert_eq!(hex::encode(mrtd(&combined).unwrap()), DEBIAN_PER_PAGE);
    assert_eq!(
        hex::encode(mrtd_with(&combined, PageOrder::PerSection).unwrap()),
        DEBIAN_PER_SECTION
    );
}

#[test]
fn debian_4m_build_has_no_tdx_metadata() {
    let path = "/usr/share/OVMF/OVMF_CODE_4M.fd";
    if !Path::new(path).exists() {
        println!("skipped: {path} is absent");
        return;
    }
    let err = mrtd(&std::fs::read(path).unwrap()).unwrap_err();
    assert!(matches!(err, Error::NotTdvf(_)), "{err}");
}

#[test]
fn prediction_serialises_for_json_explanations() {
    let img = synthetic::image(&synthetic::Spec::default()).unwrap();
    let p = predict(&img, PageOrder::PerSection).unwrap();
    let v = serde_json::to_value(&p).unwrap();
    assert_eq!(v["mrtd"], p.hex());
    assert_eq!(v["page_order"], "per-section");
    assert_eq!(v["firmware"]["sections"][0]["type"], "BFV");
    assert_eq!(v["firmware"]["sections"][0]["memory_address"], "0xffffe000");
    assert_eq!(v["firmware"]["sections"][0]["attributes"], "MR_EXTEND");
    assert_eq!(v["firmware"]["sections"][0]["treatment"], "add_and_extend");
    assert_eq!(v["firmware"]["sections"][1]["treatment"], "add");
}

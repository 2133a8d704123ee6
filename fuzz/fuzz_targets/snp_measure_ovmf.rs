//! Fuzzes the OVMF checks in front of `sev`'s launch-measurement code: any
//! image our parser accepts must be measured by `sev` or refused with an
//! error, never a panic (`sev` 8.0 slices and asserts without bounds checks).
//!
//! Random bytes rarely form a footer table, so each input is also applied as
//! patches (u16 offset from the end, byte) to the tail of a small synthetic
//! AmdSev-like image, which reaches the table entries and the metadata.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rootline_snp_measure::{Inputs, OvmfLayout, VmmType, synthetic};
use std::path::Path;

fn check(img: &[u8]) {
    let Ok(layout) = OvmfLayout::parse(img) else {
        return;
    };
    // Gigabytes of zero pages are valid but slow: leave them out.
    if layout
        .sections
        .iter()
        .map(|s| u64::from(s.size))
        .sum::<u64>()
        > 1 << 20
    {
        return;
    }
    let kernel = layout
        .supports_kernel_hashes()
        .then_some(Path::new("/dev/null"));
    let _ = rootline_snp_measure::predict(&Inputs {
        ovmf: img,
        kernel,
        initrd: None,
        append: None,
        vcpus: 2,
        vcpu_type: "EPYC-Milan".parse().unwrap(),
        vmm_type: VmmType::Qemu,
        guest_features: 1,
    });
}

fuzz_target!(|data: &[u8]| {
    check(data);
    let mut spec = synthetic::Spec::default();
    spec.size = 0x2000;
    for s in &mut spec.sections {
        s.1 = 0x1000;
    }
    let mut img = synthetic::image(&spec).unwrap();
    let len = img.len();
    for p in data.chunks_exact(3) {
        let back = usize::from(u16::from_le_bytes([p[0], p[1]])) % 0x1000 + 1;
        img[len - back] = p[2];
    }
    check(&img);
});

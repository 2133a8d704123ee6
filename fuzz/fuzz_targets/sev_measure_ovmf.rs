//! Fuzzes the SEV and SEV-ES launch-digest prediction: the OVMF footer table
//! (hash table, SEV-ES reset block and secret area entries) read through the
//! bounded reader before `sev` builds the hash table and VMSAs. Any image
//! gives a digest or an error, never a panic.
//!
//! As for `snp_measure_ovmf`, each input is also applied as patches to the
//! tail of a small synthetic AmdSev-like image.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use rootline_snp_measure::{SevInputs, SevMode, VmsaFpu, predict_sev, synthetic};

fn check(img: &[u8]) {
    for (kernel, mode) in [
        (None, SevMode::Sev),
        (Some(Path::new("/dev/null")), SevMode::Sev),
        (
            Some(Path::new("/dev/null")),
            SevMode::SevEs {
                vcpus: 2,
                vcpu_type: "EPYC-Milan".parse().unwrap(),
                fpu: VmsaFpu::Zero,
            },
        ),
    ] {
        let _ = predict_sev(&SevInputs {
            ovmf: img,
            kernel,
            initrd: None,
            append: None,
            mode,
        });
    }
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

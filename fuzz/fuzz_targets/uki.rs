//! Fuzzes UKI prediction: PE headers through `object`, our Authenticode
//! ranges and section reads. Any input must give a prediction or an error,
//! never a panic or an allocation beyond the input plus the zero-fill bound.
//!
//! Random bytes rarely get past the DOS and PE signatures, so each input is
//! also applied as patches (u16 offset, byte) to a small valid UKI-shaped
//! PE32+ image, which reaches the section table, the data directories and
//! the nested kernel image.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rootline_core::HashAlg;

fn put(f: &mut [u8], at: usize, v: &[u8]) {
    f[at..at + v.len()].copy_from_slice(v);
}

/// DOS + PE32+ headers (SizeOfHeaders 0x200) and `sections` each at a
/// 0x200-aligned file offset.
fn pe(sections: &[(&[u8; 8], &[u8])], major: u16) -> Vec<u8> {
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
        put(&mut f, h, &name[..]);
        put(&mut f, h + 8, &(data.len() as u32).to_le_bytes());
        put(&mut f, h + 12, &va.to_le_bytes());
        put(&mut f, h + 16, &(raw as u32).to_le_bytes());
        put(&mut f, h + 20, &(ptr as u32).to_le_bytes());
        f.extend_from_slice(data);
        f.resize(ptr + raw, 0);
        va += 0x1000;
    }
    put(&mut f, opt + 56, &va.to_le_bytes());
    f
}

fn check(data: &[u8]) {
    let _ = rootline_uki::authenticode::digest(data, HashAlg::SHA256);
    if let Ok(p) = rootline_uki::predict(data, HashAlg::SHA256) {
        let _ = p.reference_values();
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    let kernel = pe(&[(b".text\0\0\0", b"kernel")], 1);
    let mut uki = pe(
        &[
            (b".cmdline", b"console=ttyS0"),
            (b".linux\0\0", &kernel),
            (b".initrd\0", b"initrd"),
        ],
        0,
    );
    for p in data.chunks_exact(3) {
        let at = usize::from(u16::from_le_bytes([p[0], p[1]])) % (uki.len() + 8);
        if at < uki.len() {
            uki[at] = p[2];
        } else {
            uki.push(p[2]);
        }
    }
    check(&uki);
});

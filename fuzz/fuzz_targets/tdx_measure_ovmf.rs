//! Fuzzes the TDVF metadata parser and the MRTD replay behind it: any image
//! must give an MRTD or an error, never a panic, an out-of-bounds read or
//! an unbounded replay.
//!
//! Random bytes rarely form a footer table, so each input is also applied as
//! patches (u16 offset from the end, byte) to the tail of the synthetic
//! TDVF image, which reaches the table entries, the descriptor and the
//! section entries.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rootline_tdx_measure::{PageOrder, TdvfLayout, Treatment, mrtd_with, synthetic};

fn check(img: &[u8]) {
    let Ok(layout) = TdvfLayout::parse(img) else {
        return;
    };
    // Up to 1 GiB of added pages is valid but slow to replay: leave it out.
    let added: u64 = layout
        .sections
        .iter()
        .filter(|s| s.treatment != Treatment::NotAdded)
        .map(|s| s.memory_data_size)
        .sum();
    if added > 1 << 24 {
        return;
    }
    for order in [PageOrder::PerPage, PageOrder::PerSection] {
        let _ = mrtd_with(img, order);
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    let mut img = synthetic::image(&synthetic::Spec::default()).unwrap();
    let len = img.len();
    for p in data.chunks_exact(3) {
        let back = usize::from(u16::from_le_bytes([p[0], p[1]])) % 0x420 + 1;
        img[len - back] = p[2];
    }
    check(&img);
});

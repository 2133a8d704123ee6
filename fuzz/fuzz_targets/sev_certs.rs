//! Fuzzes the SEV certificate parsers (AMD's CA format for the ARK and ASK,
//! the 2084-byte SEV certificate, the `sevctl export --full` chain) and
//! verification of whatever parses against AMD's pinned ARKs. Any bytes give
//! a value or an error, never a panic; a parsed certificate's signed bytes
//! lie inside the input, and nothing random verifies.
//!
//! Random bytes rarely form a certificate, so each input is also applied as
//! patches (u16 offset, byte) to a real Rome chain.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rootline_sev::{
    CaCertificate, PlatformChain, Product, SevCertificate, TrustAnchors, builtin_ask,
};

fn anchors() -> Option<&'static TrustAnchors> {
    static A: OnceLock<Option<TrustAnchors>> = OnceLock::new();
    A.get_or_init(|| TrustAnchors::amd().ok()).as_ref()
}

const ROME: [&[u8]; 4] = [
    include_bytes!("../../crates/rootline-sev/tests/data/rome/pdh.cert"),
    include_bytes!("../../crates/rootline-sev/tests/data/rome/pek.cert"),
    include_bytes!("../../crates/rootline-sev/tests/data/rome/oca.cert"),
    include_bytes!("../../crates/rootline-sev/tests/data/rome/cek.cert"),
];

fn check(data: &[u8], patched: bool) {
    if let Ok(c) = CaCertificate::parse(data) {
        assert!(c.signed_bytes().len() < data.len());
        let _ = c.is_signed_by(&c);
    }
    if let Ok(c) = SevCertificate::parse(data) {
        assert_eq!(c.signed_bytes().len(), 0x414);
        let _ = c.is_signed_by(&c);
    }
    let _ = CaCertificate::parse_pair(data);
    if let (Ok(chain), Some(a)) = (PlatformChain::parse_full(data), anchors()) {
        let verified = chain.verify(a);
        // Only the unpatched real chain may verify.
        if patched && verified.is_ok() {
            let real = [
                &ROME.concat()[..],
                builtin_ask(Product::Rome),
                Product::Rome.ark_bytes(),
            ]
            .concat();
            assert_eq!(data, &real[..], "a changed chain verified");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    check(data, false);
    let mut chain = [
        &ROME.concat()[..],
        builtin_ask(Product::Rome),
        Product::Rome.ark_bytes(),
    ]
    .concat();
    let len = chain.len();
    for p in data.chunks_exact(3) {
        let at = usize::from(u16::from_le_bytes([p[0], p[1]])) % len;
        chain[at] ^= p[2];
    }
    check(&chain, true);
});

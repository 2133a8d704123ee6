//! Real public SEV platform chains, verified to AMD's pinned ARKs, and
//! one-bit flips of every signed part rejected.
//!
//! The PDH, PEK, OCA and CEK certificates in `tests/data/{naples,rome}/` are
//! the `sev` crate's test data (crates.io package sev 8.0.0, virtee/sev
//! commit 76535be354648a3e4adf00631fdf4941ab51fb88, `tests/naples/*.cert`
//! and `tests/rome/*.cert`), exported from a Naples and a Rome machine; the
//! ASK is AMD's, pinned in this crate. SHA-256:
//!
//! - naples/pdh.cert 34b11563c32bd17b4e2b4b8205301af64e7bd06a85e2a6ada789bc9d5dfd9932
//! - naples/pek.cert 31243368c2046fbf48e51a73075c33e69600cee1876919869f0383a94e8df558
//! - naples/oca.cert dfa8331592774030cc38716ee0d436aba269d7c17c78e2a261f19e967377c34c
//! - naples/cek.cert cbecc40f5b7d7e988fe7e4af20195cc540404eb685a2b49df0160781d04cf8f4
//! - rome/pdh.cert 62147c9375cb6cee32dbbf957d1b427e660c6dab2e6637c5f6c0e2c8f3345eed
//! - rome/pek.cert fd5eb12d0175c91bcb83142811124ceba4f3f530307a2471fcbd633e5aead794
//! - rome/oca.cert fb72952d5c8640f0c144d3e250f5791c8b21d384071b75823430aaba69d9ad46
//! - rome/cek.cert bfac4879e3855bf74b5e7841c46fbe02ee07808400ceb3eeccc9454d07e6eed5

use aws_lc_rs::digest;
use rootline_sev::{
    Algorithm, CaCertificate, Error, PlatformChain, Product, SevCertificate, TrustAnchors, Usage,
    builtin_ask,
};

struct Real {
    product: Product,
    pdh: &'static [u8],
    pek: &'static [u8],
    oca: &'static [u8],
    cek: &'static [u8],
}

const REAL: [Real; 2] = [
    Real {
        product: Product::Naples,
        pdh: include_bytes!("data/naples/pdh.cert"),
        pek: include_bytes!("data/naples/pek.cert"),
        oca: include_bytes!("data/naples/oca.cert"),
        cek: include_bytes!("data/naples/cek.cert"),
    },
    Real {
        product: Product::Rome,
        pdh: include_bytes!("data/rome/pdh.cert"),
        pek: include_bytes!("data/rome/pek.cert"),
        oca: include_bytes!("data/rome/oca.cert"),
        cek: include_bytes!("data/rome/cek.cert"),
    },
];

fn full(r: &Real, ark: bool) -> Vec<u8> {
    let mut v = [r.pdh, r.pek, r.oca, r.cek, builtin_ask(r.product)].concat();
    if ark {
        v.extend_from_slice(r.product.ark_bytes());
    }
    v
}

fn sha256(b: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, b))
}

#[test]
fn pinned_roots_are_the_documented_files() {
    let expected = [
        (
            Product::Naples,
            "dedabca561e1dece8cc00b7bda864cf5f20b95017864408cfe18eaee0dce24b9",
            "c6f30cf923f526c3bcd5c8c221db51e0db65911782f046de17a6603131cdfd7f",
        ),
        (
            Product::Rome,
            "865977b268c16d5b27772b00aaefb4e737ba9499e818ed8e9f65b0cecefbc529",
            "7754a69407d25540fe3a695be6b02c58a53bffd12594f5c30793d6cb62875706",
        ),
        (
            Product::Milan,
            "1246469862b78a7a8625579b0378d1f8e975eb8b82a1623b579d7968a5969888",
            "c7c73765561c58003a3d09adb2c76993027dd3a1ec4e9be876024c035e015cec",
        ),
        (
            Product::Genoa,
            "8f4e3fd36589c23f1fe0c8338465bac7e2e066d97fc92f228bbee4fd356fb674",
            "c30307e4f594fb6c51fd753ab758eb78ad4bb70d9e4d96690e51c0621901031d",
        ),
        (
            Product::Turin,
            "f6405e5096a6eee1eb7d5df75c49f9b9f7c8357a31c7fff150149d68588a7bf7",
            "2ee285477f0d5eb94a69029197f4cf58ca82d8e1b9a276da1ac45b0db3f4be56",
        ),
    ];
    for (p, ark, ask) in expected {
        assert_eq!(sha256(p.ark_bytes()), ark, "{p} ARK");
        assert_eq!(sha256(builtin_ask(p)), ask, "{p} ASK");
    }
}

#[test]
fn every_pinned_ask_is_signed_by_its_ark() {
    let anchors = TrustAnchors::amd().unwrap();
    assert_eq!(anchors.roots().len(), 5);
    for p in Product::ALL {
        let ark = CaCertificate::parse(p.ark_bytes()).unwrap();
        let ask = CaCertificate::parse(builtin_ask(p)).unwrap();
        assert_eq!(ark.usage(), Usage::ARK);
        assert_eq!(ask.usage(), Usage::ASK);
        assert!(ask.is_signed_by(&ark), "{p}");
        assert_eq!(anchors.find(ask.certifying_id()).unwrap().name(), p.name());
        // The ARK and ASK of AMD's published pair parse together too.
        let pair = [builtin_ask(p), p.ark_bytes()].concat();
        let (a, r) = CaCertificate::parse_pair(&pair).unwrap();
        assert_eq!((a, r), (ask, ark));
    }
    // Naples keys are 2048-bit (SHA-256), the later ones 4096-bit (SHA-384).
    let naples = CaCertificate::parse(Product::Naples.ark_bytes()).unwrap();
    assert_eq!(naples.key().bits(), 2048);
    assert_eq!(naples.signature_algorithm(), Algorithm::RSA_SHA256);
    let milan = CaCertificate::parse(Product::Milan.ark_bytes()).unwrap();
    assert_eq!(milan.key().bits(), 4096);
    assert_eq!(milan.signature_algorithm(), Algorithm::RSA_SHA384);
}

#[test]
fn real_naples_and_rome_chains_verify_to_pinned_arks() {
    let anchors = TrustAnchors::amd().unwrap();
    for r in &REAL {
        for with_ark in [true, false] {
            let chain = if with_ark {
                PlatformChain::parse_full(&full(r, true)).unwrap()
            } else {
                PlatformChain::from_parts(r.pdh, r.pek, r.oca, r.cek, builtin_ask(r.product))
                    .unwrap()
            };
            let v = chain.verify(&anchors).unwrap();
            assert_eq!(v.root(), r.product.name());
        }
        let pdh = SevCertificate::parse(r.pdh).unwrap();
        assert_eq!(pdh.usage(), Usage::PDH);
        assert_eq!(pdh.algorithm(), Algorithm::ECDH_SHA256);
        assert_eq!(pdh.signed_bytes().len(), 0x414);
        assert_eq!(pdh.as_bytes(), r.pdh);
    }
}

#[test]
fn a_chain_under_another_root_is_untrusted() {
    let r = &REAL[1];
    // Only the Naples ARK is trusted: Rome's ASK has no trusted issuer.
    let naples =
        TrustAnchors::from_arks([("Naples".to_string(), Product::Naples.ark_bytes())]).unwrap();
    let e = PlatformChain::parse_full(&full(r, true))
        .unwrap()
        .verify(&naples)
        .unwrap_err();
    assert!(matches!(e, Error::Untrusted(_)), "{e}");
    // No roots at all.
    let e = PlatformChain::parse_full(&full(r, true))
        .unwrap()
        .verify(&TrustAnchors::default())
        .unwrap_err();
    assert!(matches!(e, Error::Untrusted(_)), "{e}");
    // Rome's certificates with Naples' ASK and ARK: the CEK is not signed by it.
    let mixed = PlatformChain::from_parts(r.pdh, r.pek, r.oca, r.cek, builtin_ask(Product::Naples))
        .unwrap();
    let e = mixed.verify(&TrustAnchors::amd().unwrap()).unwrap_err();
    assert_eq!(
        e,
        Error::BadSignature {
            cert: "CEK",
            signer: "ASK"
        }
    );
    // A chain whose ARK is another product's ARK than its ASK names.
    let mut v = [r.pdh, r.pek, r.oca, r.cek, builtin_ask(r.product)].concat();
    v.extend_from_slice(Product::Milan.ark_bytes());
    let e = PlatformChain::parse_full(&v)
        .unwrap()
        .verify(&TrustAnchors::amd().unwrap())
        .unwrap_err();
    assert!(matches!(e, Error::Untrusted(_)), "{e}");
}

#[test]
fn certificates_in_the_wrong_role_are_refused() {
    let r = &REAL[0];
    let ask = builtin_ask(r.product);
    assert!(matches!(
        PlatformChain::from_parts(r.pek, r.pek, r.oca, r.cek, ask),
        Err(Error::Invalid { .. })
    ));
    assert!(matches!(
        PlatformChain::from_parts(r.pdh, r.pdh, r.oca, r.cek, ask),
        Err(Error::Invalid { .. })
    ));
    assert!(matches!(
        PlatformChain::from_parts(r.pdh, r.pek, r.cek, r.oca, ask),
        Err(Error::Invalid { .. })
    ));
    assert!(matches!(
        PlatformChain::from_parts(r.pdh, r.pek, r.oca, r.cek, r.product.ark_bytes()),
        Err(Error::Invalid { .. })
    ));
}

/// Flips one bit of each `step`-th byte of `bytes` in `range` and expects
/// the chain built by `build` to fail: to parse, or to verify.
fn flips_fail(
    what: &str,
    bytes: &[u8],
    range: std::ops::Range<usize>,
    step: usize,
    build: impl Fn(&[u8]) -> Result<PlatformChain, Error>,
    anchors: &TrustAnchors,
) -> usize {
    let mut n = 0;
    for i in range.step_by(step) {
        // One bit per byte, a different bit in each successive byte.
        let bit = i % 8;
        let mut b = bytes.to_vec();
        b[i] ^= 1 << bit;
        if let Ok(chain) = build(&b) {
            assert!(
                chain.verify(anchors).is_err(),
                "{what}: flipping bit {bit} of byte {i:#x} was accepted"
            );
            // Parsed, so refused by a signature check.
            n += 1;
        }
    }
    n
}

#[test]
fn one_bit_flips_of_every_signed_part_are_rejected() {
    let anchors = TrustAnchors::amd().unwrap();
    let mut total = 0;
    for r in &REAL {
        let ask = builtin_ask(r.product);
        // Every byte of each SEV certificate: the signed part, the used
        // signature slots and the empty ones (2084 bytes each).
        total += flips_fail(
            "PDH",
            r.pdh,
            0..r.pdh.len(),
            1,
            |b| PlatformChain::from_parts(b, r.pek, r.oca, r.cek, ask),
            &anchors,
        );
        total += flips_fail(
            "PEK",
            r.pek,
            0..r.pek.len(),
            1,
            |b| PlatformChain::from_parts(r.pdh, b, r.oca, r.cek, ask),
            &anchors,
        );
        total += flips_fail(
            "OCA",
            r.oca,
            0..r.oca.len(),
            1,
            |b| PlatformChain::from_parts(r.pdh, r.pek, b, r.cek, ask),
            &anchors,
        );
        total += flips_fail(
            "CEK",
            r.cek,
            0..r.cek.len(),
            1,
            |b| PlatformChain::from_parts(r.pdh, r.pek, r.oca, b, ask),
            &anchors,
        );
        // Every byte of the ASK.
        total += flips_fail(
            "ASK",
            ask,
            0..ask.len(),
            1,
            |b| PlatformChain::from_parts(r.pdh, r.pek, r.oca, r.cek, b),
            &anchors,
        );
        // The ARK carried in a full chain must be the pinned one, bit for bit.
        let f = full(r, true);
        let ark_at = f.len() - r.product.ark_bytes().len();
        total += flips_fail(
            "ARK",
            &f,
            ark_at..f.len(),
            1,
            PlatformChain::parse_full,
            &anchors,
        );
    }
    // Most flips parse (key, signature and version bytes) and are refused
    // by a signature check; the rest (reserved, padding, usage) by the parser.
    assert!(total > 5_000, "{total}");
    eprintln!("{total} one-bit flips refused by a signature check, the rest by the parser");
}

#[test]
fn truncated_and_extended_inputs_are_errors() {
    let r = &REAL[1];
    let f = full(r, true);
    for cut in [0, 1, 0x823, 0x824, 4 * 0x824, f.len() - 1] {
        assert!(PlatformChain::parse_full(&f[..cut]).is_err(), "{cut}");
    }
    let mut longer = f.clone();
    longer.push(0);
    assert!(PlatformChain::parse_full(&longer).is_err());
    assert!(SevCertificate::parse(&r.pdh[..0x823]).is_err());
    assert!(CaCertificate::parse(&builtin_ask(r.product)[..100]).is_err());
}

/// Fuzz finding (sev_certs, CI of ed749f3): two bytes turned the PDH's empty
/// second signature slot into a "CEK, RSA-SHA256" slot of zeros, and the
/// chain still verified, since no link checks a CEK signature on a PDH. The
/// slots lie outside the signed bytes, so a slot nothing verifies is refused.
#[test]
fn a_filled_signature_slot_no_link_checks_fails_the_chain() {
    let anchors = TrustAnchors::amd().unwrap();
    // Slot 2 starts at 0x61c: u32 usage, u32 algorithm, 512 signature bytes.
    const SLOT2: usize = 0x61c;
    let verify = |pdh: &[u8], oca: &[u8], r: &Real| {
        PlatformChain::from_parts(pdh, r.pek, oca, r.cek, builtin_ask(r.product))
            .and_then(|c| c.verify(&anchors).map(|_| ()))
    };
    for r in &REAL {
        verify(r.pdh, r.oca, r).unwrap();

        // The crash input's two patches: usage 0x1000 -> 0x1004 (CEK),
        // algorithm 0 -> 1 (RSA-SHA256), signature left zero.
        let mut pdh = r.pdh.to_vec();
        pdh[SLOT2] ^= 0x04;
        pdh[SLOT2 + 4] ^= 0x01;
        let err = verify(&pdh, r.oca, r).unwrap_err().to_string();
        assert!(
            err.contains("PDH certificate") && err.contains("names CEK"),
            "{err}"
        );

        // The OCA's self-signature copied into its empty slot: the same
        // signer twice.
        let mut oca = r.oca.to_vec();
        oca.copy_within(0x414..SLOT2, SLOT2);
        let err = verify(r.pdh, &oca, r).unwrap_err().to_string();
        assert!(
            err.contains("OCA certificate") && err.contains("two signature slots name OCA"),
            "{err}"
        );
    }
}

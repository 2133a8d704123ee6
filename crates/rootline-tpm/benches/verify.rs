//! Quote verification cost against the raw signature floor.
//!
//! For an ECC P-256 AK and an RSA-2048 AK (keys and quotes made here with
//! aws-lc-rs over a synthetic TPMS_ATTEST of 24 SHA-256 PCRs), measures the
//! full `verify_quote` (parse, signature, magic/type, nonce, PCR digest) beside
//! one raw aws-lc-rs verify of the same signature over the same bytes, and
//! prints the ratios.

use std::hint::black_box;
use std::time::Instant;

use aws_lc_rs::signature::{
    self, ECDSA_P256_SHA256_FIXED, RsaPublicKeyComponents, UnparsedPublicKey,
};
use criterion::{Criterion, criterion_group};
use rootline_core::HashAlg;
use rootline_tpm::synthetic::SyntheticAk;
use rootline_tpm::{
    AkPublic, PcrBank, PcrSelection, PcrValues, PublicKey, QuoteCheck, TpmtSignature, verify_quote,
};

struct Fixture {
    name: &'static str,
    ak: AkPublic,
    attest: Vec<u8>,
    sig: TpmtSignature,
    raw_sig: Vec<u8>,
    pcrs: PcrValues,
    nonce: Vec<u8>,
}

fn fixture(name: &'static str, ak: SyntheticAk) -> Fixture {
    let sel = PcrSelection {
        banks: vec![PcrBank::new(HashAlg::SHA256, &(0..24).collect::<Vec<u8>>())],
    };
    let mut pcrs = PcrValues::new();
    for i in 0..24u8 {
        pcrs.insert(
            HashAlg::SHA256,
            i,
            HashAlg::SHA256.hash(&[i]).unwrap().bytes,
        )
        .unwrap();
    }
    let nonce = vec![0x5e; 32];
    let (attest, sig) = ak.quote(&nonce, &sel, &pcrs).unwrap();
    let raw_sig = ak.sign_raw(&attest).unwrap();
    Fixture {
        name,
        ak: ak.ak().unwrap(),
        sig: TpmtSignature::parse(&sig).unwrap(),
        attest,
        raw_sig,
        pcrs,
        nonce,
    }
}

fn full(f: &Fixture) {
    let v = verify_quote(&QuoteCheck {
        attest: black_box(&f.attest),
        signature: &f.sig,
        ak: &f.ak,
        nonce: Some(&f.nonce),
        pcrs: Some(&f.pcrs),
    });
    assert!(v.is_ok());
}

fn raw(f: &Fixture) {
    let ok = match &f.ak.key {
        PublicKey::Ecc { .. } => {
            let point = f.ak.key.ec_point().unwrap();
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point)
                .verify(black_box(&f.attest), &f.raw_sig)
                .is_ok()
        }
        PublicKey::Rsa { n, e } => RsaPublicKeyComponents { n, e }
            .verify(
                &signature::RSA_PKCS1_2048_8192_SHA256,
                black_box(&f.attest),
                &f.raw_sig,
            )
            .is_ok(),
    };
    assert!(ok);
}

fn fixtures() -> Vec<Fixture> {
    vec![
        fixture("ecc_p256", SyntheticAk::ecc_p256().unwrap()),
        fixture("rsa_2048", SyntheticAk::rsa_2048().unwrap()),
    ]
}

fn bench(c: &mut Criterion) {
    for f in fixtures() {
        let mut g = c.benchmark_group(f.name);
        g.bench_function("verify_quote", |b| b.iter(|| full(&f)));
        g.bench_function("raw_signature_verify", |b| b.iter(|| raw(&f)));
        g.finish();
    }
}

criterion_group!(benches, bench);

/// Times both in the same run, interleaved, and prints the ratio.
fn ratios() {
    for f in fixtures() {
        let rounds = 5;
        let iters = if f.name == "ecc_p256" { 2000 } else { 5000 };
        let (mut t_full, mut t_raw) = (0f64, 0f64);
        for _ in 0..rounds {
            let s = Instant::now();
            for _ in 0..iters {
                full(&f);
            }
            t_full += s.elapsed().as_secs_f64();
            let s = Instant::now();
            for _ in 0..iters {
                raw(&f);
            }
            t_raw += s.elapsed().as_secs_f64();
        }
        let n = f64::from(rounds * iters);
        println!(
            "{}: verify_quote {:.1} us, raw verify {:.1} us, ratio {:.2}",
            f.name,
            t_full / n * 1e6,
            t_raw / n * 1e6,
            t_full / t_raw
        );
    }
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    ratios();
}

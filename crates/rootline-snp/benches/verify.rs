//! What one SEV-SNP report costs against its floor, one raw aws-lc-rs
//! ECDSA P-384 verify, measured in the same run on a real Milan report
//! (go-sev-guest vector, read in place).
//!
//! - `raw_p384_verify`: aws-lc-rs `ParsedPublicKey::verify_sig` over the 0x2A0
//!   signed bytes, key parsed beforehand (the floor);
//! - `raw_p384_verify_unparsed`: the same, parsing the key every time;
//! - `verify_report_cached`: `Verifier::verify_report` with a warm chain cache;
//! - `verify_evidence_cached`: the same from raw bytes (report parsing included);
//! - `verify_cold`: a fresh `Verifier` each time (full chain: two RSA-4096 PSS
//!   verifies and x509 parsing).
//!
//! The `sev` crate's own path is not included: without OpenSSL it needs its
//! `crypto_nossl` feature (RustCrypto p384/rsa), a second crypto stack this
//! workspace does not otherwise build. After criterion's report, a plain
//! timing loop prints the ratios floor / ours.

use std::hint::black_box;
use std::time::Instant;

use aws_lc_rs::signature::{self, ParsedPublicKey, UnparsedPublicKey};
use criterion::Criterion;
use rootline_snp::{Collateral, Options, Report, Verifier};
use time::macros::datetime;
use x509_parser::prelude::{FromDer, X509Certificate};

struct Fixture {
    evidence: Vec<u8>,
    report: Report,
    collateral: Collateral,
    vcek_point: Vec<u8>,
    opts: Options,
}

fn fixture() -> Option<Fixture> {
    let rep = rootline_testkit::vector("snp/go-sev-guest/attestation.bin")?;
    let vcek = rootline_testkit::vector("snp/go-sev-guest/vcek.der")?;
    let chain = rootline_testkit::vector("snp/go-sev-guest/ask_ark_milan.pem")?;
    let evidence = std::fs::read(rep).ok()?;
    let vcek_der = std::fs::read(vcek).ok()?;
    let mut collateral = Collateral::new();
    collateral.add("vcek.der", &vcek_der).ok()?;
    collateral
        .add("ask_ark_milan.pem", &std::fs::read(chain).ok()?)
        .ok()?;
    let (_, x) = X509Certificate::from_der(&vcek_der).ok()?;
    let vcek_point = x.public_key().subject_public_key.data.to_vec();
    Some(Fixture {
        report: Report::parse(&evidence).ok()?,
        evidence,
        collateral,
        vcek_point,
        opts: Options {
            at: Some(datetime!(2026-06-01 00:00 UTC)),
            nonce: None,
        },
    })
}

/// Median per-operation time of `a` and of `b`, measured in interleaved
/// blocks so that load from other processes hits both alike.
fn interleaved_us(rounds: u32, block: u32, mut a: impl FnMut(), mut b: impl FnMut()) -> (f64, f64) {
    let mut ta = Vec::new();
    let mut tb = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        for _ in 0..block {
            a();
        }
        ta.push(t.elapsed().as_secs_f64() * 1e6 / f64::from(block));
        let t = Instant::now();
        for _ in 0..block {
            b();
        }
        tb.push(t.elapsed().as_secs_f64() * 1e6 / f64::from(block));
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    (median(&mut ta), median(&mut tb))
}

fn main() {
    let Some(fx) = fixture() else {
        eprintln!("skipping: vectors not found");
        return;
    };
    let sig = fx.report.signature_fixed();
    let signed = fx.report.signed_bytes().to_vec();
    let parsed = ParsedPublicKey::new(&signature::ECDSA_P384_SHA384_FIXED, &fx.vcek_point).unwrap();
    let warm = Verifier::amd();
    assert!(
        warm.verify_report(&fx.report, &fx.collateral, &fx.opts)
            .is_ok()
    );

    let mut c = Criterion::default().configure_from_args();
    c.bench_function("raw_p384_verify", |b| {
        b.iter(|| {
            parsed
                .verify_sig(black_box(&signed), black_box(&sig))
                .unwrap()
        })
    });
    c.bench_function("raw_p384_verify_unparsed", |b| {
        b.iter(|| {
            UnparsedPublicKey::new(&signature::ECDSA_P384_SHA384_FIXED, &fx.vcek_point)
                .verify(black_box(&signed), black_box(&sig))
                .unwrap()
        })
    });
    c.bench_function("verify_report_cached", |b| {
        b.iter(|| {
            warm.verify_report(black_box(&fx.report), &fx.collateral, &fx.opts)
                .is_ok()
        })
    });
    c.bench_function("verify_evidence_cached", |b| {
        b.iter(|| {
            warm.verify_evidence(black_box(&fx.evidence), &fx.collateral, &fx.opts)
                .is_ok()
        })
    });
    c.bench_function("verify_cold", |b| {
        b.iter(|| {
            Verifier::amd()
                .verify_evidence(black_box(&fx.evidence), &fx.collateral, &fx.opts)
                .is_ok()
        })
    });
    c.final_summary();

    let raw_op = || parsed.verify_sig(&signed, &sig).unwrap();
    let (raw, report) = interleaved_us(30, 100, raw_op, || {
        assert!(
            warm.verify_report(&fx.report, &fx.collateral, &fx.opts)
                .is_ok()
        );
    });
    println!(
        "floor: raw aws-lc-rs P-384 verify      {raw:8.1} us  ({:.0}/s)",
        1e6 / raw
    );
    println!(
        "verify_report, cached chain          {report:8.1} us  ratio floor/ours {:.3}",
        raw / report
    );
    let (raw, evidence) = interleaved_us(30, 100, raw_op, || {
        assert!(
            warm.verify_evidence(&fx.evidence, &fx.collateral, &fx.opts)
                .is_ok()
        );
    });
    println!(
        "verify_evidence, cached chain        {evidence:8.1} us  ratio floor/ours {:.3} (floor this round {raw:.1} us)",
        raw / evidence
    );
    let (raw, cold) = interleaved_us(10, 20, raw_op, || {
        assert!(
            Verifier::amd()
                .verify_evidence(&fx.evidence, &fx.collateral, &fx.opts)
                .is_ok()
        );
    });
    println!(
        "verify_evidence, cold (new verifier) {cold:8.1} us  ratio floor/ours {:.3} (floor this round {raw:.1} us)",
        raw / cold
    );
}

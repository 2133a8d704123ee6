//! TDX quote verification cost: dcap-qvl's verify (re-verifies the whole
//! collateral each call), our cached path (collateral and PCK chain verified
//! once), and the floor of two raw aws-lc-rs P-256 verifies (QE report by the
//! PCK key, quote by the attestation key), on the same inputs, then ratios.
//!
//! Run: `cargo bench -p rootline-dcap --bench verify -- --measurement-time 3`
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
use criterion::Criterion;
use rootline_dcap::{CollateralParts, Quote, Verifier};

struct Inputs {
    raw: Vec<u8>,
    collateral: dcap_qvl::QuoteCollateralV3,
    at: i64,
    pck_key: Vec<u8>,
}

fn inputs() -> Option<Inputs> {
    let q = std::fs::read(rootline_testkit::vector("tdx/dcap-qvl/tdx_quote")?).unwrap();
    let c = std::fs::read(rootline_testkit::vector(
        "tdx/dcap-qvl/tdx_quote_collateral.json",
    )?)
    .unwrap();
    let mut parts = CollateralParts::default();
    parts.add("collateral", &c).unwrap();
    let at = time::macros::datetime!(2025-07-04 10:24:15 UTC).unix_timestamp();
    let parsed = Quote::parse(&q).unwrap();
    let leaf = rootline_dcap::pki::pem_certs(parsed.pck_chain_pem, "pck").unwrap();
    let pck_key = rootline_dcap::pki::CertInfo::from_der(&leaf[0], "pck")
        .unwrap()
        .public_key;
    Some(Inputs {
        raw: q,
        collateral: parts.complete().unwrap(),
        at,
        pck_key,
    })
}

fn floor(i: &Inputs, q: &Quote<'_>) -> bool {
    let mut ak = [4u8; 65];
    ak[1..].copy_from_slice(&q.attestation_key);
    let a = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &i.pck_key)
        .verify(q.qe_report_raw, &q.qe_report_signature)
        .is_ok();
    let b = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &ak[..])
        .verify(q.signed_bytes(), &q.signature)
        .is_ok();
    a && b
}

fn per_call(mut f: impl FnMut(), budget: Duration) -> f64 {
    for _ in 0..20 {
        f();
    }
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < budget {
        f();
        n += 1;
    }
    start.elapsed().as_secs_f64() * 1e6 / f64::from(n)
}

fn main() {
    let Some(i) = inputs() else {
        eprintln!("vectors not found; nothing to measure");
        return;
    };
    let v = Verifier::intel().unwrap();
    let prepared = v.prepare(&i.collateral).unwrap();
    let q = Quote::parse(&i.raw).unwrap();
    assert!(v.verify_prepared(&q, &prepared, i.at).is_ok());
    assert!(v.verify_dcap_qvl(&i.raw, &i.collateral, i.at).is_ok());
    assert!(floor(&i, &q));

    let mut c = Criterion::default().configure_from_args();
    let mut g = c.benchmark_group("tdx_verify");
    g.bench_function("dcap_qvl_verify", |b| {
        b.iter(|| black_box(v.verify_dcap_qvl(black_box(&i.raw), &i.collateral, i.at)))
    });
    g.bench_function("rootline_cached", |b| {
        b.iter(|| {
            let q = Quote::parse(black_box(&i.raw)).unwrap();
            black_box(v.verify_prepared(&q, &prepared, i.at)).is_ok()
        })
    });
    g.bench_function("rootline_cached_with_collateral_lookup", |b| {
        b.iter(|| {
            let q = Quote::parse(black_box(&i.raw)).unwrap();
            let p = v.prepare(&i.collateral).unwrap();
            black_box(v.verify_prepared(&q, &p, i.at)).is_ok()
        })
    });
    g.bench_function("floor_two_p256_verifies", |b| {
        b.iter(|| black_box(floor(&i, black_box(&q))))
    });
    g.finish();
    c.final_summary();

    // Ratios from one more direct measurement of each, in the same process.
    let budget = Duration::from_millis(1500);
    let qvl = per_call(
        || {
            black_box(v.verify_dcap_qvl(&i.raw, &i.collateral, i.at)).ok();
        },
        budget,
    );
    let ours = per_call(
        || {
            let q = Quote::parse(&i.raw).unwrap();
            black_box(v.verify_prepared(&q, &prepared, i.at)).ok();
        },
        budget,
    );
    let lookup = per_call(
        || {
            let q = Quote::parse(&i.raw).unwrap();
            let p = v.prepare(&i.collateral).unwrap();
            black_box(v.verify_prepared(&q, &p, i.at)).ok();
        },
        budget,
    );
    let fl = per_call(
        || {
            black_box(floor(&i, &q));
        },
        budget,
    );
    println!("dcap-qvl verify:                 {qvl:8.1} us");
    println!("rootline cached (prepared held): {ours:8.1} us");
    println!("rootline cached + hash lookup:   {lookup:8.1} us");
    println!("floor (two aws-lc-rs P-256):     {fl:8.1} us");
    println!(
        "speed-up over dcap-qvl: {:.2}x (with lookup {:.2}x); cost over floor: {:.2}x (with lookup {:.2}x)",
        qvl / ours,
        qvl / lookup,
        ours / fl,
        lookup / fl
    );
}

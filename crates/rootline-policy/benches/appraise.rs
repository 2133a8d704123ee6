//! Appraisal cost per attestation beside the raw regorus evaluation of the
//! same policy, data and input (the goal: under 20% overhead), and EAR
//! signing beside a raw aws-lc-rs ES256 signature of a payload of the same
//! size.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use criterion::{Criterion, criterion_group, criterion_main};
use rootline_policy::policy::{DEFAULT_TDX, DEFAULT_TPM, ENTRYPOINT, LIB_REGO};
use rootline_policy::reference::{ReferenceValues, apply_add, from_verified};
use rootline_policy::token::Alg;
use rootline_policy::{Appraiser, PolicySet, SigningKey, TokenOptions};
use rootline_verifier::{Collateral, Extra, Request, Verdict, Verifier};
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn read(rel: &str) -> Option<Vec<u8>> {
    rootline_testkit::vector(rel).map(|p| std::fs::read(p).unwrap())
}

fn tdx() -> Option<Verdict> {
    let p = rootline_testkit::vector("tdx/dcap-qvl/tdx_quote_collateral.json")?;
    Some(Verifier::pinned().verify(&Request {
        evidence: read("tdx/dcap-qvl/tdx_quote")?,
        collateral: vec![Collateral {
            bytes: std::fs::read(&p).unwrap(),
            origin: p,
        }],
        at: Some(OffsetDateTime::parse("2025-07-04T10:24:15Z", &Rfc3339).unwrap()),
        ..Request::default()
    }))
}

fn tpm() -> Option<Verdict> {
    let d = "ovmf-swtpm/uki-esp-ekcert-tpm";
    let nonce = String::from_utf8(read(&format!("{d}/nonce.hex"))?).unwrap();
    Some(Verifier::pinned().verify(&Request {
        evidence: read(&format!("{d}/quote.msg"))?,
        tee: Some(rootline_core::TeeKind::Tpm),
        nonce: Some(hex::decode(nonce.trim()).unwrap()),
        extra: Extra {
            signature: read(&format!("{d}/quote.sig")),
            ak: read(&format!("{d}/ak.pub")),
            pcrs: read(&format!("{d}/quote.pcrs")),
            eventlog: read(&format!("{d}/binary_bios_measurements")),
        },
        ..Request::default()
    }))
}

fn refs(o: &Verdict) -> ReferenceValues {
    let now = OffsetDateTime::now_utc();
    let mut r = Vec::new();
    apply_add(
        &mut r,
        from_verified(o.as_ref().unwrap(), "bench").unwrap(),
        now,
    )
    .unwrap();
    ReferenceValues::active(&r, now)
}

/// The same policy, data and input, straight through regorus.
fn raw_regorus(policy: &str, refs: &ReferenceValues) -> regorus::CompiledPolicy {
    let mut e = regorus::Engine::new();
    e.add_policy("lib.rego".into(), LIB_REGO.into()).unwrap();
    e.add_policy("policy.rego".into(), policy.into()).unwrap();
    e.add_data(regorus::Value::from(
        json!({"reference": refs.to_json(), "settings": {}}),
    ))
    .unwrap();
    e.compile_with_entrypoint(&ENTRYPOINT.into()).unwrap()
}

fn bench_appraise(c: &mut Criterion) {
    let mut g = c.benchmark_group("appraise");
    for (name, outcome, policy, device) in [
        ("tdx", tdx(), DEFAULT_TDX, "cpu0"),
        ("tpm", tpm(), DEFAULT_TPM, "tpm0"),
    ] {
        let Some(o) = outcome else {
            eprintln!("skipping {name}: vectors not found");
            continue;
        };
        let r = refs(&o);
        let ap = Appraiser::new(&PolicySet::defaults().unwrap(), &r, &json!({})).unwrap();
        assert!(ap.appraise(&[(device, &o)]).is_affirming());
        let raw = raw_regorus(policy, &r);
        let input = regorus::Value::from(rootline_policy::claims::device_input(
            device,
            o.as_ref().map_err(|r| &**r),
        ));
        g.bench_function(format!("{name}/rootline_appraise"), |b| {
            b.iter(|| black_box(ap.appraise(&[(device, black_box(&o))])))
        });
        // Our own share of the work: building the input (normalizing the
        // claims, converting them for regorus).
        g.bench_function(format!("{name}/build_input_only"), |b| {
            b.iter(|| {
                black_box(regorus::Value::from(rootline_policy::claims::device_input(
                    device,
                    black_box(&o).as_ref().map_err(|r| &**r),
                )))
            })
        });
        g.bench_function(format!("{name}/raw_regorus_eval"), |b| {
            b.iter(|| black_box(raw.eval_with_input(black_box(input.clone())).unwrap()))
        });
    }
    g.finish();
}

fn bench_sign(c: &mut Criterion) {
    let Some(o) = tdx() else { return };
    let ap = Appraiser::new(&PolicySet::defaults().unwrap(), &refs(&o), &json!({})).unwrap();
    let appraisal = ap.appraise(&[("cpu0", &o)]);
    let key = SigningKey::generate(Alg::Es256).unwrap();
    let opts = TokenOptions {
        nonce: Some(vec![7; 32]),
        ..TokenOptions::default()
    };
    let token = key.sign(&appraisal, &opts).unwrap();
    // The raw floor signs a message as long as the token's signing input.
    let signing_input_len = token.rfind('.').unwrap();
    let msg = vec![0x61u8; signing_input_len];
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
    let mut g = c.benchmark_group("sign");
    g.bench_function("ear_es256_token", |b| {
        b.iter(|| black_box(key.sign(black_box(&appraisal), &opts).unwrap()))
    });
    g.bench_function("raw_aws_lc_es256", |b| {
        b.iter(|| black_box(pair.sign(&rng, black_box(&msg)).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, bench_appraise, bench_sign);
criterion_main!(benches);

//! How long TPM operations take through this backend on swtpm (unix socket,
//! relayed for the TCTI): quote with an ECC P-256 and an RSA-2048 AK, PCR
//! extend, PCR read, and credential activation. Prints p50 and p90 per
//! operation; asserts nothing (timings are for reports, not tests).
//!
//! `cargo run --release -p rootline-attester --example tpm_timing [ITERATIONS]`

use std::time::{Duration, Instant};

use rootline_attester::swtpm::Swtpm;
use rootline_attester::tpm::{KeyAlg, Tpm};
use rootline_core::HashAlg;

fn report(name: &str, mut v: Vec<Duration>) {
    v.sort_unstable();
    let at = |p: usize| v[(v.len() - 1) * p / 100].as_secs_f64() * 1e3;
    println!(
        "{name:<34} p50 {:>7.3} ms  p90 {:>7.3} ms  (n={})",
        at(50),
        at(90),
        v.len()
    );
}

fn time<T>(n: usize, mut f: impl FnMut() -> T) -> Vec<Duration> {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed()
        })
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    let dir = tempfile::tempdir()?;
    let t = Swtpm::start(dir.path())?;
    // TIMING_TCTI measures another TPM instead (e.g. swtpm on TCP, no relay).
    let tcti = match std::env::var("TIMING_TCTI") {
        Ok(s) => s.parse()?,
        Err(_) => t.tcti(),
    };
    let mut tpm = Tpm::open(&tcti)?;
    let ek = tpm.create_ek(KeyAlg::Rsa2048)?;
    let sel = vec![(HashAlg::SHA256, (0u8..=9).collect::<Vec<_>>())];
    let nonce = [0x42u8; 48];
    for alg in [KeyAlg::EccP256, KeyAlg::Rsa2048] {
        let ak = tpm.create_ak(&ek, alg)?;
        report(
            &format!("quote sha256:0-9, {alg:?} AK"),
            time(n, || tpm.quote(&ak, &sel, &nonce).map(|q| q.attest.len())),
        );
        tpm.flush_ak(ak)?;
    }
    let d = HashAlg::SHA256.hash(b"x").ok_or("sha256")?;
    report(
        "PCR extend (sha256)",
        time(n, || tpm.pcr_extend(16, std::slice::from_ref(&d))),
    );
    report(
        "PCR read sha256:0-9",
        time(n, || tpm.pcr_read(&sel).map(|p| p.is_empty())),
    );
    let ek_pub = rootline_tpm::TpmtPublic::parse(&ek.public)?;
    let ak = tpm.create_ak(&ek, KeyAlg::EccP256)?;
    let (blob, enc) = rootline_tpm::make_credential(&ek_pub, &ak.name, b"0123456789abcdef")?;
    report(
        "ActivateCredential (RSA EK)",
        time(n.min(20), || {
            tpm.activate_credential(&ak, &ek, &blob, &enc)
                .map(|s| s.len())
        }),
    );
    tpm.flush_ak(ak)?;
    tpm.flush_ek(ek)?;
    // swtpm serves one connection at a time: close this one first.
    drop(tpm);
    report(
        "open + EK + AK create (ECC)",
        time(n.min(10), || -> Result<(), rootline_attester::Error> {
            let mut t2 = Tpm::open(&tcti)?;
            let ek = t2.create_ek(KeyAlg::EccP256)?;
            let ak = t2.create_ak(&ek, KeyAlg::EccP256)?;
            t2.flush_ak(ak)?;
            t2.flush_ek(ek)
        }),
    );
    Ok(())
}

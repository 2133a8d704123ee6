//! Replay throughput beside the hashing underneath it.
//!
//! Replaying a log is parsing plus one hash per event per bank; parsing should
//! vanish beside hashing. This bench measures, in one run: raw SHA-256 over
//! the digest bytes a replay must extend (the floor), parse alone, and parse
//! plus replay, over every shared real log (or a synthetic boot when the
//! vectors are absent), and prints MB/s, events/s and the ratios.

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rootline_core::HashAlg;
use rootline_eventlog::EventLog;
use rootline_eventlog::builder::{LogBuilder, data};

fn logs() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    if let Some(root) = rootline_testkit::vectors() {
        for sub in ["tpm-eventlog", "ovmf-swtpm"] {
            let mut stack = vec![root.join(sub)];
            while let Some(d) = stack.pop() {
                for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                    let p = e.path();
                    if p.is_dir() {
                        stack.push(p);
                    } else if let Ok(b) = std::fs::read(&p) {
                        if EventLog::parse(&b)
                            .is_ok_and(|l| l.events.len() > 2 && !l.is_truncated())
                        {
                            out.push(b);
                        }
                    }
                }
            }
        }
    }
    if out.is_empty() {
        let mut b = LogBuilder::crypto_agile(&[HashAlg::SHA1, HashAlg::SHA256]);
        for i in 0..200u32 {
            b.measure(
                i % 10,
                rootline_eventlog::EventType::EV_EFI_BOOT_SERVICES_APPLICATION,
                &i.to_le_bytes(),
                &data::image_load(0, 1, "\\a.efi"),
            );
        }
        out.push(b.into_bytes());
    }
    out
}

fn bench(c: &mut Criterion) {
    let logs = logs();
    let bytes: usize = logs.iter().map(|l| l.len()).sum();
    let parsed: Vec<EventLog> = logs
        .iter()
        .filter_map(|l| EventLog::parse(l).ok())
        .collect();
    let events: usize = parsed.iter().map(|l| l.events.len()).sum();
    // The hashing a replay cannot avoid: H(reg || digest) per event per bank.
    let extend_inputs: Vec<(HashAlg, Vec<u8>)> = parsed
        .iter()
        .flat_map(|l| {
            let banks = l.banks();
            l.events
                .iter()
                .filter(|e| e.is_extended())
                .flat_map(move |e| {
                    banks.clone().into_iter().filter_map(move |b| {
                        let d = e.digest(b)?;
                        let mut v = vec![0u8; d.bytes.len()];
                        v.extend_from_slice(&d.bytes);
                        Some((b, v))
                    })
                })
        })
        .collect();

    let mut g = c.benchmark_group("eventlog");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("floor: extend hashes only", |b| {
        b.iter(|| {
            for (alg, v) in &extend_inputs {
                std::hint::black_box(alg.hash(v));
            }
        })
    });
    g.bench_function("parse", |b| {
        b.iter(|| {
            for l in &logs {
                std::hint::black_box(EventLog::parse(l).ok());
            }
        })
    });
    g.bench_function("parse + replay", |b| {
        b.iter(|| {
            for l in &logs {
                if let Ok(log) = EventLog::parse(l) {
                    std::hint::black_box(log.replay());
                }
            }
        })
    });
    g.finish();

    // One summary line with the ratios, measured again in the same run.
    let time = |f: &mut dyn FnMut()| {
        let start = Instant::now();
        let mut n = 0u32;
        while start.elapsed() < Duration::from_millis(500) {
            f();
            n += 1;
        }
        start.elapsed() / n
    };
    let floor = time(&mut || {
        for (alg, v) in &extend_inputs {
            std::hint::black_box(alg.hash(v));
        }
    });
    let full = time(&mut || {
        for l in &logs {
            if let Ok(log) = EventLog::parse(l) {
                std::hint::black_box(log.replay());
            }
        }
    });
    let sha = {
        let buf = vec![7u8; 1 << 20];
        let t = time(&mut || {
            std::hint::black_box(HashAlg::SHA256.hash(&buf));
        });
        (1 << 20) as f64 / t.as_secs_f64() / 1e6
    };
    println!(
        "summary: {} logs, {bytes} bytes, {events} events; parse+replay {:.1} MB/s, {:.0} events/s; \
         extend-hash floor {:?} vs parse+replay {:?} (ratio {:.2}); SHA-256 bulk {:.0} MB/s",
        logs.len(),
        bytes as f64 / full.as_secs_f64() / 1e6,
        events as f64 / full.as_secs_f64(),
        floor,
        full,
        full.as_secs_f64() / floor.as_secs_f64(),
        sha
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);

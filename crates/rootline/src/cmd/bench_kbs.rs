//! `rootline bench kbs`: full KBS handshakes per second (auth, attest with
//! simulated P-384 evidence, resource GET, JWE decryption) and their latency
//! percentiles, against a broker on this machine.
//!
//! With `--url`, the broker must trust the simulated root given with
//! `--sim-key` (its `sim_roots`) and hold `--resource`; when it is a process
//! on this machine that /proc lets us read (the one process listening at
//! its address and port), its CPU time over the run is reported too. Without `--url`, a broker is
//! started in this process (SQLite in a temporary directory, a fresh
//! simulated root, a reference value for the guests' measurement and one
//! resource), with half the cores' worth of runtime threads, and shares the
//! machine with the load generator: the rate is then for both together, and
//! the broker threads' own CPU time (from /proc/self/task) gives its cost per
//! handshake and the handshakes one core of broker sustains.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use rootline_attester::loadgen::{self, LoadConfig};
use rootline_attester::sim::SimAttester;
use serde_json::json;

/// Flags of `rootline bench kbs`.
#[derive(clap::Args)]
pub(crate) struct KbsArgs {
    /// The broker (127.0.0.1, ::1 or localhost only). When it is a process
    /// on this machine that /proc lets us read, its CPU time per handshake
    /// is reported. Without --url, a broker is started in this process.
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// Concurrent guests (threads, each with its own connection). The
    /// default keeps a broker core busy: with fewer guests than that it
    /// idles between requests and pays a wake-up for each, which is latency
    /// rather than the cost of a handshake.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1024))]
    concurrency: u32,
    /// How long to run, in seconds.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    duration: u64,
    /// Stop after this many handshakes in total.
    #[arg(long, default_value_t = 1_000_000)]
    max: u64,
    /// With --url: the simulated TEE's root key (P-384 PKCS#8 DER) the
    /// broker trusts. When FILE does not exist, a new root is written there
    /// and its public key printed for the broker's --sim-root; nothing is run.
    #[arg(long, value_name = "FILE")]
    sim_key: Option<PathBuf>,
    /// With --url: the measurement the guests report (48 bytes, hex).
    #[arg(long, value_name = "HEX")]
    sim_measurement: Option<String>,
    /// With --url: the evidence the guests send. `sample` (INSECURE,
    /// unsigned) measures a broker in insecure test mode that does not
    /// know rootline's simulated TEE, such as Trustee's KBS, with the same
    /// client; --sim-key is then not needed.
    #[arg(long, value_enum, default_value_t = BenchTee::Sim)]
    tee: BenchTee,
    /// The resource each handshake fetches.
    #[arg(
        long,
        default_value = "default/bench/key",
        value_name = "REPO/TYPE/TAG"
    )]
    resource: String,
    /// Without --url: runtime threads of the in-process broker [default:
    /// half the cores, at least one. The load generator needs the rest; a
    /// broker with more threads than cores to run them on measures their
    /// contention, not the cost of a handshake].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    broker_threads: Option<u16>,
    /// Print one JSON object: handshakes, errors, per_sec, p50_ms, p90_ms,
    /// p99_ms, cores, and when the broker's CPU time is known
    /// broker_us_per_handshake, handshakes_per_broker_core_second,
    /// signature_floor_us and fraction_outside_signature_work.
    #[arg(long)]
    json: bool,
}

const MEASUREMENT: [u8; 48] = [0x5a; 48];

/// Evidence the load generator's guests send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum BenchTee {
    /// rootline's simulated P-384 TEE (one ECDSA P-384 signature).
    Sim,
    /// Trustee's unsigned sample TEE (insecure test mode only).
    Sample,
}

/// Peak resident memory (VmHWM) of process `pid`, in bytes.
fn peak_rss(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

pub(crate) fn run(a: KbsArgs) -> anyhow::Result<u8> {
    let tmp;
    let mut _local = None;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let broker_threads = a.broker_threads.map_or((cores / 2).max(1), usize::from);
    // Where the broker's CPU time comes from: its threads in this process,
    // or a process on this machine that listens on the URL's port.
    let mut broker_pid = None;
    let (url, sim_pkcs8, measurement) = match &a.url {
        Some(u) => {
            if !loadgen::is_loopback(u) {
                bail!(
                    "--url {u}: the load generator runs against this machine only (127.0.0.1, ::1, localhost)"
                );
            }
            broker_pid = u
                .parse::<ureq::http::Uri>()
                .ok()
                .and_then(|uri| match rootline_attester::kbs::ip_and_port(&uri) {
                    (ip, Some(port)) => super::local_broker::listening_pid(ip, port),
                    (_, None) => None,
                })
                .filter(|pid| *pid != std::process::id());
            if a.tee == BenchTee::Sample {
                (u.clone(), Vec::new(), MEASUREMENT)
            } else {
                let key = a
                    .sim_key
                    .as_ref()
                    .context("--url needs --sim-key (the simulated root the broker trusts)")?;
                if !key.exists() {
                    let (sim, pkcs8) = SimAttester::generate(MEASUREMENT)?;
                    super::serve::create_private(key, &pkcs8)?;
                    println!(
                        "wrote a simulated-TEE root to {}; start the broker with --sim-root {}",
                        key.display(),
                        hex::encode(sim.public_key())
                    );
                    return Ok(0);
                }
                let mut m = MEASUREMENT;
                if let Some(h) = &a.sim_measurement {
                    let b = rootline_core::from_hex(h).context("--sim-measurement is not hex")?;
                    anyhow::ensure!(b.len() == 48, "--sim-measurement must be 48 bytes");
                    m.copy_from_slice(&b);
                }
                (u.clone(), super::read_input(key)?, m)
            }
        }
        None => {
            anyhow::ensure!(
                a.tee == BenchTee::Sim,
                "--tee sample needs --url: the in-process broker does not run in insecure test mode"
            );
            tmp = tempfile::tempdir()?;
            let (sim, pkcs8) = SimAttester::generate(MEASUREMENT)?;
            let b = super::local_broker::LocalBroker::start(
                tmp.path(),
                vec![sim.public_key()],
                broker_threads,
                serde_json::json!({}),
            )?;
            b.put_reference_value(
                "bench-measurement",
                rootline_attester::sim::TEE_NAME,
                "measurement",
                vec![hex::encode(MEASUREMENT)],
            )?;
            b.put_resource(&a.resource, b"bench secret", None)?;
            let url = b.url.clone();
            if !a.json {
                eprintln!(
                    "in-process broker on {url} ({broker_threads} runtime thread{})",
                    if broker_threads == 1 { "" } else { "s" }
                );
            }
            _local = Some(b);
            (url, pkcs8, MEASUREMENT)
        }
    };
    let cfg = LoadConfig {
        url,
        concurrency: a.concurrency as usize,
        duration: Duration::from_secs(a.duration),
        max_handshakes: a.max,
        resource: a.resource.clone(),
        sim_pkcs8,
        measurement,
        sample: a.tee == BenchTee::Sample,
    };
    let broker_cpu_ns = || match (broker_pid, &a.url) {
        (Some(pid), _) => super::local_broker::process_cpu_ns(pid),
        (None, None) => super::local_broker::broker_cpu_ns(),
        (None, Some(_)) => None,
    };
    let cpu0 = broker_cpu_ns();
    let r = loadgen::run(&cfg)?;
    // The broker's own CPU time per handshake tells what one core of broker
    // buys, apart from the load generator's share. Unknown when it could
    // not be read, or nothing was measured (no handshake, or less than
    // /proc's 10 ms step for another process).
    let broker_cpu = cpu0
        .zip(broker_cpu_ns())
        .and_then(|(c0, c1)| c1.checked_sub(c0))
        .filter(|ns| *ns > 0 && r.handshakes > 0)
        .map(|ns| ns as f64 / 1e9);
    let broker_name = broker_pid.and_then(super::local_broker::process_name);
    // Memory counts as much as CPU: the broker's peak resident set (the
    // whole process, load generator included, for the in-process broker).
    let rss = match (broker_pid, &a.url) {
        (Some(pid), _) => peak_rss(pid),
        (None, None) => peak_rss(std::process::id()),
        (None, Some(_)) => None,
    };
    let rss_mb = rss.map(|b| b as f64 / (1 << 20) as f64);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let broker_us = broker_cpu.map(|c| c * 1e6 / r.handshakes as f64);
    // The signature work of one handshake, measured now on this machine.
    // (Not for the sample TEE, whose evidence carries no signature.)
    let floor_us = broker_us
        .filter(|_| a.tee == BenchTee::Sim)
        .map(|_| signature_floor_us())
        .transpose()?;
    let outside = broker_us.zip(floor_us).map(|(b, f)| ((b - f) / b).max(0.0));
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "handshakes": r.handshakes,
                "errors": r.errors,
                "first_error": r.first_error,
                "seconds": r.elapsed.as_secs_f64(),
                "per_sec": r.per_sec(),
                "p50_ms": ms(r.p50),
                "p90_ms": ms(r.p90),
                "p99_ms": ms(r.p99),
                "guest_evidence_ms_total": ms(r.evidence_time),
                "concurrency": a.concurrency,
                "cores": cores,
                "in_process_broker": a.url.is_none(),
                "broker_threads": a.url.is_none().then_some(broker_threads),
                "broker_pid": broker_pid,
                "broker_process": broker_name,
                "broker_cpu_seconds": broker_cpu,
                "broker_us_per_handshake": broker_us,
                "handshakes_per_broker_core_second": broker_cpu.map(|c| r.handshakes as f64 / c.max(1e-9)),
                "signature_floor_us": floor_us,
                "fraction_outside_signature_work": outside,
                "broker_peak_rss_mb": rss_mb,
                "peak_rss_includes_load_generator": a.url.is_none(),
                "tee": format!("{:?}", a.tee).to_lowercase(),
            }))?
        );
    } else {
        println!(
            "{} full handshakes (auth, attest, resource) in {:.2} s: {:.0}/s with {} guests on {cores} cores",
            r.handshakes,
            r.elapsed.as_secs_f64(),
            r.per_sec(),
            a.concurrency
        );
        println!(
            "latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms",
            ms(r.p50),
            ms(r.p90),
            ms(r.p99)
        );
        if let Some(c) = broker_cpu {
            let who = match broker_pid {
                Some(pid) => format!(
                    "broker process {pid} ({})",
                    broker_name.as_deref().unwrap_or("?")
                ),
                None => "broker threads".to_owned(),
            };
            println!(
                "{who} used {:.2} CPU s: {:.0} us per handshake, {:.0} handshakes per broker core-second",
                c,
                c * 1e6 / r.handshakes as f64,
                r.handshakes as f64 / c.max(1e-9)
            );
        }
        if let Some(mb) = rss_mb {
            println!(
                "peak resident memory {mb:.0} MB{}",
                if a.url.is_none() {
                    " (this process: broker and load generator)"
                } else {
                    " (broker process)"
                }
            );
        }
        if a.url.is_some() && broker_pid.is_none() {
            println!(
                "the broker's CPU time is unknown: not exactly one process on this machine that /proc lets us read listens at the URL's address"
            );
        } else if broker_cpu.is_none() {
            println!("the broker's CPU time is unknown: it could not be read or did not move");
        }
        if let (Some(f), Some(o)) = (floor_us, outside) {
            println!(
                "signature floor of one handshake {f:.0} us (P-384 verify, ES256 sign and verify, P-256 ECDH): {:.0}% of the broker's time is outside signature work",
                o * 100.0
            );
        }
        if r.errors > 0 {
            println!(
                "{} failed; first: {}",
                r.errors,
                r.first_error.as_deref().unwrap_or("?")
            );
        }
    }
    Ok(if r.errors > 0 && r.handshakes == 0 {
        1
    } else {
        0
    })
}

/// The median time of [`rootline_broker::floor::SignatureWork::once`] over
/// about half a second, in microseconds.
fn signature_floor_us() -> anyhow::Result<f64> {
    let work = rootline_broker::floor::SignatureWork::new()?;
    let start = std::time::Instant::now();
    let mut samples = Vec::new();
    while start.elapsed() < Duration::from_millis(500) || samples.len() < 50 {
        let t = std::time::Instant::now();
        work.once()?;
        samples.push(t.elapsed());
    }
    samples.sort();
    let mid = samples.get(samples.len() / 2).copied().unwrap_or_default();
    Ok(mid.as_secs_f64() * 1e6)
}

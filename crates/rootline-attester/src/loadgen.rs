//! A KBS load generator: full handshakes (auth, attest, resource GET and
//! decryption) from simulated-TEE guests on many threads, for a bounded time
//! and count, against a broker on this machine only.
//!
//! Each worker is one guest with its own HTTP connection (kept alive), its
//! own fresh TEE key per handshake and a P-384 report per handshake, so the
//! broker does the work a real SNP guest would cost it. Latency is measured
//! per handshake, from `auth` to the decrypted resource.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::Error;
use crate::kbs::{KbsClient, Retry};
use crate::sim::SimAttester;

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// The broker (loopback only).
    pub url: String,
    /// Concurrent guests.
    pub concurrency: usize,
    /// How long to run.
    pub duration: Duration,
    /// Stop after this many handshakes in total.
    pub max_handshakes: u64,
    /// The resource each handshake fetches (`REPO/TYPE/TAG`).
    pub resource: String,
    /// The simulated TEE's root (P-384 PKCS#8) the broker trusts.
    pub sim_pkcs8: Vec<u8>,
    /// The measurement the guests report.
    pub measurement: [u8; 48],
    /// INSECURE: guests send Trustee's unsigned `sample` evidence instead
    /// of the simulated TEE's, so that a broker that does not know the
    /// simulated TEE (Trustee's KBS in its test mode) is measured with the
    /// same client.
    pub sample: bool,
}

/// What happened.
#[derive(Debug, Clone)]
pub struct LoadReport {
    /// Successful handshakes.
    pub handshakes: u64,
    /// Failed handshakes.
    pub errors: u64,
    /// The first failure, as a sentence.
    pub first_error: Option<String>,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Latency percentiles of successful handshakes: p50, p90, p99.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Time the guests spent making evidence (P-384 signing), in total.
    pub evidence_time: Duration,
}

impl LoadReport {
    /// Successful handshakes per second.
    pub fn per_sec(&self) -> f64 {
        self.handshakes as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// True when `url` names this machine (127.0.0.0/8, ::1 or localhost).
pub fn is_loopback(url: &str) -> bool {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .unwrap_or("");
    let authority = rest.split('/').next().unwrap_or("");
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted
        .get(rank.min(sorted.len() - 1))
        .copied()
        .unwrap_or_default()
}

/// Runs the load and reports.
pub fn run(cfg: &LoadConfig) -> Result<LoadReport, Error> {
    if !is_loopback(&cfg.url) {
        return Err(Error::Unsupported(format!(
            "load generation against {} (only 127.0.0.1, ::1 or localhost)",
            cfg.url
        )));
    }
    if cfg.concurrency == 0 || cfg.concurrency > 1024 {
        return Err(Error::malformed("concurrency", "1 to 1024"));
    }
    crate::kbs::resource_path(&cfg.resource)?;
    // Check the root once before starting threads.
    if !cfg.sample {
        SimAttester::from_pkcs8(&cfg.sim_pkcs8, cfg.measurement)?;
    }
    let started = AtomicU64::new(0);
    let errors = AtomicU64::new(0);
    let first_error = std::sync::Mutex::new(None::<String>);
    let cfg = Arc::new(cfg.clone());
    let deadline = Instant::now() + cfg.duration;
    let t0 = Instant::now();
    let results: Vec<(Vec<Duration>, Duration)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..cfg.concurrency)
            .map(|_| {
                let cfg = Arc::clone(&cfg);
                let (started, errors, first_error) = (&started, &errors, &first_error);
                s.spawn(move || {
                    let mut lat = Vec::new();
                    let mut ev_time = Duration::ZERO;
                    let attester: Result<Box<dyn crate::Attester>, Error> = if cfg.sample {
                        Ok(Box::new(crate::evidence::SampleAttester))
                    } else {
                        SimAttester::from_pkcs8(&cfg.sim_pkcs8, cfg.measurement)
                            .map(|a| Box::new(a) as Box<dyn crate::Attester>)
                    };
                    let (Ok(mut client), Ok(mut sim)) = (KbsClient::new(&cfg.url, None), attester)
                    else {
                        return (lat, ev_time);
                    };
                    client.retry = Retry::none();
                    while Instant::now() < deadline
                        && started.fetch_add(1, Ordering::Relaxed) < cfg.max_handshakes
                    {
                        let t = Instant::now();
                        let r = client.attest_once(sim.as_mut()).and_then(|session| {
                            ev_time += session.evidence_time;
                            client.get_resource(&session, &cfg.resource)
                        });
                        match r {
                            Ok(_) => lat.push(t.elapsed()),
                            Err(e) => {
                                errors.fetch_add(1, Ordering::Relaxed);
                                if let Ok(mut f) = first_error.lock() {
                                    f.get_or_insert_with(|| e.to_string());
                                }
                            }
                        }
                    }
                    (lat, ev_time)
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let elapsed = t0.elapsed();
    let mut all: Vec<Duration> = results
        .iter()
        .flat_map(|(l, _)| l.iter().copied())
        .collect();
    all.sort_unstable();
    let evidence_time = results.iter().map(|(_, e)| *e).sum();
    Ok(LoadReport {
        handshakes: all.len() as u64,
        errors: errors.load(Ordering::Relaxed),
        first_error: first_error.into_inner().ok().flatten(),
        elapsed,
        p50: percentile(&all, 50.0),
        p90: percentile(&all, 90.0),
        p99: percentile(&all, 99.0),
        evidence_time,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_urls() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://127.0.0.5/x",
            "https://localhost:1/",
            "http://[::1]:9/",
        ] {
            assert!(is_loopback(ok), "{ok}");
        }
        for bad in [
            "http://10.0.0.1:8080",
            "http://example.com",
            "ftp://127.0.0.1",
            "http://127.0.0.1.example.com/",
            "http://[::2]:1",
        ] {
            assert!(!is_loopback(bad), "{bad}");
        }
    }

    #[test]
    fn percentiles() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 50.0), Duration::from_millis(51));
        assert_eq!(percentile(&v, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }
}

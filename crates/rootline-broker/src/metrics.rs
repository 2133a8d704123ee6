//! Prometheus metrics (`GET /metrics`, text exposition format 0.0.4); the
//! probes are `health`'s.
//!
//! Counted where the decision is made, not guessed from status codes:
//! handshakes (`/auth`), attestations and releases by TEE and result, and
//! the latency of the three KBS routes as histograms, timed in their
//! handlers (a middleware layer around every route cost 10-15 us of broker
//! CPU per handshake, 3% of it). Trustee's metric names that
//! its dashboards read (`kbs_attestation_*`, `kbs_auth_*`, `kbs_policy_*`,
//! `kbs_resource_reads_total`, `kbs_http_requests_total`) are served too,
//! with Trustee's labels, so that a deployment that moves over keeps its
//! graphs. Label values come from a closed set (TEE names `kbs-types`
//! knows, route templates, fixed results) or from resource paths that an
//! administrator created, so a client cannot grow the label space.
//!
//! Written by hand rather than with a metrics crate: a handful of counters
//! and one histogram family behind one mutex, about 50 ns a request, and the
//! format is a few lines of text.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Latency buckets in seconds (a handshake step costs 0.05-1 ms here; the
/// upper buckets catch verification of hardware evidence and stalls).
const BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// A metric's name and up to two labels, all from closed sets of static
/// strings, so that counting allocates nothing (this runs three times per
/// handshake).
type Key = (&'static str, [(&'static str, &'static str); 2]);

/// No label in this slot.
const NONE: (&str, &str) = ("", "");

#[derive(Default)]
struct Inner {
    counters: HashMap<Key, u64>,
    /// `kbs_resource_reads_total` by resource path (paths of resources an
    /// administrator created).
    reads: HashMap<String, u64>,
    latency: HashMap<String, Histogram>,
}

/// The broker's metrics.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

/// Help text of every counter family, in the order they are printed.
const HELP: &[(&str, &str)] = &[
    (
        "rootline_auth_total",
        "Handshake requests (/kbs/v0/auth) by TEE and result.",
    ),
    (
        "rootline_attestations_total",
        "Attestations (/kbs/v0/attest) by TEE and result (affirming, warning, contraindicated: a token was issued with that status; rejected: the evidence failed verification or binding).",
    ),
    (
        "rootline_releases_total",
        "Resource requests by result (released, denied, not_found, unauthenticated).",
    ),
    (
        "kbs_auth_requests_total",
        "Trustee-compatible: /auth requests.",
    ),
    (
        "kbs_auth_successes_total",
        "Trustee-compatible: /auth successes.",
    ),
    (
        "kbs_attestation_requests_total",
        "Trustee-compatible: /attest requests.",
    ),
    (
        "kbs_attestation_successes_total",
        "Trustee-compatible: attestations that issued a token, by tee_type.",
    ),
    (
        "kbs_attestation_failures_total",
        "Trustee-compatible: attestations refused, by tee_type.",
    ),
    (
        "kbs_policy_approvals_total",
        "Trustee-compatible: resource policy approvals.",
    ),
    (
        "kbs_policy_violations_total",
        "Trustee-compatible: resource policy denials.",
    ),
    (
        "kbs_resource_reads_total",
        "Trustee-compatible: resources released, by resource_path.",
    ),
    (
        "kbs_http_requests_total",
        "Trustee-compatible: HTTP requests under /kbs.",
    ),
];

impl Metrics {
    fn add(&self, name: &'static str, labels: [(&'static str, &'static str); 2]) {
        if let Ok(mut m) = self.inner.lock() {
            *m.counters.entry((name, labels)).or_default() += 1;
        }
    }

    /// An `/auth` request for `tee` (a name from the broker's closed set)
    /// ended with `ok`.
    pub fn auth(&self, tee: &'static str, ok: bool) {
        let result = if ok { "success" } else { "refused" };
        self.add("rootline_auth_total", [("tee", tee), ("result", result)]);
        self.add("kbs_auth_requests_total", [NONE, NONE]);
        if ok {
            self.add("kbs_auth_successes_total", [NONE, NONE]);
        }
    }

    /// An attestation for `tee`: `Some(status)` when a token was issued with
    /// that EAR status, `None` when the evidence was refused.
    pub fn attestation(&self, tee: &'static str, status: Option<&'static str>) {
        self.add(
            "rootline_attestations_total",
            [("tee", tee), ("result", status.unwrap_or("rejected"))],
        );
        self.add("kbs_attestation_requests_total", [NONE, NONE]);
        let family = if status.is_some() {
            "kbs_attestation_successes_total"
        } else {
            "kbs_attestation_failures_total"
        };
        self.add(family, [("tee_type", tee), NONE]);
    }

    /// A resource request ended with `result` (`released`, `denied`,
    /// `not_found`, `unauthenticated`); `path` is named only for releases
    /// (an existing resource, so the label set stays bounded).
    pub fn release(&self, result: &'static str, path: Option<&str>) {
        self.add("rootline_releases_total", [("result", result), NONE]);
        match result {
            "released" => {
                self.add("kbs_policy_approvals_total", [NONE, NONE]);
                if let (Some(p), Ok(mut m)) = (path, self.inner.lock()) {
                    match m.reads.get_mut(p) {
                        Some(n) => *n += 1,
                        None => {
                            m.reads.insert(p.to_owned(), 1);
                        }
                    }
                }
            }
            "denied" => self.add("kbs_policy_violations_total", [NONE, NONE]),
            _ => {}
        }
    }

    /// A request to `route` (its template, `/kbs/v0/resource/{repo}/...`)
    /// took `elapsed`.
    pub fn request(&self, route: &str, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        if let Ok(mut m) = self.inner.lock() {
            if route.starts_with("/kbs") {
                *m.counters
                    .entry(("kbs_http_requests_total", [NONE, NONE]))
                    .or_default() += 1;
            }
            let h = match m.latency.get_mut(route) {
                Some(h) => h,
                None => m.latency.entry(route.to_owned()).or_default(),
            };
            for (c, b) in h.counts.iter_mut().zip(BUCKETS) {
                if secs <= b {
                    *c += 1;
                }
            }
            h.count += 1;
            h.sum += secs;
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let Ok(m) = self.inner.lock() else {
            return out;
        };
        let esc = |v: &str| {
            v.replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n")
        };
        // Sorted, so that the exposition is stable from one scrape to the next.
        let mut counters: Vec<(&Key, &u64)> = m.counters.iter().collect();
        counters.sort();
        let mut reads: Vec<(&String, &u64)> = m.reads.iter().collect();
        reads.sort();
        for (name, help) in HELP {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            if *name == "kbs_resource_reads_total" {
                for (p, v) in &reads {
                    let _ = writeln!(out, "{name}{{resource_path=\"{}\"}} {v}", esc(p));
                }
                continue;
            }
            for ((n, labels), v) in counters.iter().filter(|((n, _), _)| n == name) {
                let l: Vec<String> = labels
                    .iter()
                    .filter(|(k, _)| !k.is_empty())
                    .map(|(k, v)| format!("{k}=\"{}\"", esc(v)))
                    .collect();
                if l.is_empty() {
                    let _ = writeln!(out, "{n} {v}");
                } else {
                    let _ = writeln!(out, "{n}{{{}}} {v}", l.join(","));
                }
            }
        }
        let name = "rootline_http_request_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time spent handling a KBS request (auth, attest, resource), by route template."
        );
        let _ = writeln!(out, "# TYPE {name} histogram");
        let mut latency: Vec<(&String, &Histogram)> = m.latency.iter().collect();
        latency.sort_by(|a, b| a.0.cmp(b.0));
        for (route, h) in latency {
            let route = esc(route);
            for (c, b) in h.counts.iter().zip(BUCKETS) {
                let _ = writeln!(out, "{name}_bucket{{route=\"{route}\",le=\"{b}\"}} {c}");
            }
            let _ = writeln!(
                out,
                "{name}_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(out, "{name}_sum{{route=\"{route}\"}} {}", h.sum);
            let _ = writeln!(out, "{name}_count{{route=\"{route}\"}} {}", h.count);
        }
        let _ = writeln!(
            out,
            "# HELP rootline_build_info The running build.\n# TYPE rootline_build_info gauge\nrootline_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        out
    }
}

/// Appends the collateral source's counters: where each artifact a
/// verification needed came from (the on-disk cache, the replicas' shared
/// cache, a download), the downloads that failed, and the artifacts handed
/// over past their nextUpdate (which the verifier refuses).
pub fn render_collateral(out: &mut String, s: &rootline_collateral::Stats) {
    let name = "rootline_collateral_artifacts_total";
    let _ = writeln!(
        out,
        "# HELP {name} Collateral artifacts (VCEKs, CRLs, TCB info, QE identity) that verifications obtained, by where they came from.\n# TYPE {name} counter"
    );
    for (from, v) in [
        ("disk_cache", s.disk_hits),
        ("shared_cache", s.shared_hits),
        ("fetched", s.fetched),
    ] {
        let _ = writeln!(out, "{name}{{source=\"{from}\"}} {v}");
    }
    let _ = writeln!(
        out,
        "# HELP rootline_collateral_fetch_failures_total Collateral downloads that failed after their retries (or were not retried yet after a recent failure).\n# TYPE rootline_collateral_fetch_failures_total counter\nrootline_collateral_fetch_failures_total {}",
        s.fetch_failures
    );
    let _ = writeln!(
        out,
        "# HELP rootline_collateral_stale_total Collateral artifacts past their nextUpdate that could not be refreshed (the verifier refuses evidence that needs them).\n# TYPE rootline_collateral_stale_total counter\nrootline_collateral_stale_total {}",
        s.stale_used
    );
}

/// Appends the freshness of the cached collateral (the scan `/readyz`
/// makes, reused for its lifetime): how many cached artifacts with a
/// nextUpdate are fresh and how many stale at `now`, and the earliest
/// nextUpdate, for an alert before it passes.
pub fn render_collateral_freshness(
    out: &mut String,
    next_updates: impl IntoIterator<Item = i64>,
    now: i64,
) {
    let (mut fresh, mut stale, mut earliest) = (0u64, 0u64, None::<i64>);
    for n in next_updates {
        if n <= now {
            stale += 1;
        } else {
            fresh += 1;
        }
        earliest = Some(earliest.map_or(n, |e: i64| e.min(n)));
    }
    let name = "rootline_collateral_cached_artifacts";
    let _ = writeln!(
        out,
        "# HELP {name} Cached collateral artifacts with a nextUpdate (CRLs, TCB info, QE identity), fresh or past their nextUpdate.\n# TYPE {name} gauge\n{name}{{state=\"fresh\"}} {fresh}\n{name}{{state=\"stale\"}} {stale}"
    );
    if let Some(e) = earliest {
        let name = "rootline_collateral_next_update_timestamp_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} The earliest nextUpdate among the cached collateral artifacts (Unix seconds).\n# TYPE {name} gauge\n{name} {e}"
        );
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn renders_counters_and_histograms_in_text_format() {
        let m = Metrics::default();
        m.auth("snp", true);
        m.auth("snp", false);
        m.attestation("snp", Some("affirming"));
        m.attestation("tdx", None);
        m.release("released", Some("a/b/c"));
        m.release("denied", None);
        m.request("/kbs/v0/auth", Duration::from_micros(300));
        m.request("/kbs/v0/auth", Duration::from_secs(3));
        let t = m.render();
        for line in [
            "rootline_auth_total{tee=\"snp\",result=\"success\"} 1",
            "rootline_auth_total{tee=\"snp\",result=\"refused\"} 1",
            "rootline_attestations_total{tee=\"snp\",result=\"affirming\"} 1",
            "rootline_attestations_total{tee=\"tdx\",result=\"rejected\"} 1",
            "kbs_attestation_failures_total{tee_type=\"tdx\"} 1",
            "kbs_resource_reads_total{resource_path=\"a/b/c\"} 1",
            "kbs_policy_violations_total 1",
            "kbs_http_requests_total 2",
            "rootline_http_request_duration_seconds_bucket{route=\"/kbs/v0/auth\",le=\"0.0005\"} 1",
            "rootline_http_request_duration_seconds_bucket{route=\"/kbs/v0/auth\",le=\"2.5\"} 1",
            "rootline_http_request_duration_seconds_bucket{route=\"/kbs/v0/auth\",le=\"+Inf\"} 2",
            "rootline_http_request_duration_seconds_count{route=\"/kbs/v0/auth\"} 2",
        ] {
            assert!(t.lines().any(|l| l == line), "missing {line:?} in\n{t}");
        }
        // Every sample line belongs to a family declared with # TYPE.
        let declared: Vec<&str> = t
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split(' ').next())
            .collect();
        for l in t.lines().filter(|l| !l.starts_with('#')) {
            let name = l.split(['{', ' ']).next().unwrap();
            assert!(
                declared.iter().any(|d| name.starts_with(d)),
                "{name} undeclared"
            );
        }
    }
}

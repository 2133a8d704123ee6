//! Prometheus metrics (`GET /metrics`, text exposition format 0.0.4) and
//! `GET /healthz`.
//!
//! Counted where the decision is made, not guessed from status codes:
//! handshakes (`/auth`), attestations and releases by TEE and result, and
//! request latency per route as a histogram. Trustee's metric names that
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

use std::collections::BTreeMap;
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

/// A metric's name and its labels, rendered `name{k="v",...}`.
type Key = (&'static str, Vec<(&'static str, String)>);

#[derive(Default)]
struct Inner {
    counters: BTreeMap<Key, u64>,
    latency: BTreeMap<String, Histogram>,
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
    fn add(&self, name: &'static str, labels: Vec<(&'static str, String)>) {
        if let Ok(mut m) = self.inner.lock() {
            *m.counters.entry((name, labels)).or_default() += 1;
        }
    }

    /// An `/auth` request for `tee` ended with `ok`.
    pub fn auth(&self, tee: &str, ok: bool) {
        let result = if ok { "success" } else { "refused" };
        self.add(
            "rootline_auth_total",
            vec![("tee", tee.to_owned()), ("result", result.into())],
        );
        self.add("kbs_auth_requests_total", Vec::new());
        if ok {
            self.add("kbs_auth_successes_total", Vec::new());
        }
    }

    /// An attestation for `tee`: `Some(status)` when a token was issued with
    /// that EAR status, `None` when the evidence was refused.
    pub fn attestation(&self, tee: &str, status: Option<&str>) {
        self.add(
            "rootline_attestations_total",
            vec![
                ("tee", tee.to_owned()),
                ("result", status.unwrap_or("rejected").to_owned()),
            ],
        );
        self.add("kbs_attestation_requests_total", Vec::new());
        let family = if status.is_some() {
            "kbs_attestation_successes_total"
        } else {
            "kbs_attestation_failures_total"
        };
        self.add(family, vec![("tee_type", tee.to_owned())]);
    }

    /// A resource request ended with `result` (`released`, `denied`,
    /// `not_found`, `unauthenticated`); `path` is named only for releases
    /// (an existing resource, so the label set stays bounded).
    pub fn release(&self, result: &'static str, path: Option<&str>) {
        self.add("rootline_releases_total", vec![("result", result.into())]);
        match result {
            "released" => {
                self.add("kbs_policy_approvals_total", Vec::new());
                if let Some(p) = path {
                    self.add(
                        "kbs_resource_reads_total",
                        vec![("resource_path", p.to_owned())],
                    );
                }
            }
            "denied" => self.add("kbs_policy_violations_total", Vec::new()),
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
                    .entry(("kbs_http_requests_total", Vec::new()))
                    .or_default() += 1;
            }
            let h = m.latency.entry(route.to_owned()).or_default();
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
        for (name, help) in HELP {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            for ((n, labels), v) in m.counters.range((*name, Vec::new())..) {
                if n != name {
                    break;
                }
                let l: Vec<String> = labels
                    .iter()
                    .map(|(k, v)| format!("{k}=\"{}\"", esc(v)))
                    .collect();
                if l.is_empty() {
                    let _ = writeln!(out, "{name} {v}");
                } else {
                    let _ = writeln!(out, "{name}{{{}}} {v}", l.join(","));
                }
            }
        }
        let name = "rootline_http_request_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time from request to response, by route template."
        );
        let _ = writeln!(out, "# TYPE {name} histogram");
        for (route, h) in &m.latency {
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

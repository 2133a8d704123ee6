//! Running rootline as a service (issue 19, items 3 and 5): shell
//! completions and manual pages generated from the clap definitions, and
//! `rootline serve --log-format json`, whose log lines carry each request's
//! id, the one the response's `x-request-id` echoes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::process::{Child, Command, Stdio};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_rootline")
}

fn rootline(args: &[&str]) -> std::process::Output {
    Command::new(bin()).args(args).output().unwrap()
}

#[test]
fn completions_know_the_subcommands() {
    let out = rootline(&["completions", "bash"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for sub in ["verify", "appraise", "serve", "completions"] {
        assert!(text.contains(sub), "bash completions lack {sub}");
    }
    // The flags of a subcommand too.
    assert!(text.contains("--log-format"));
    for shell in ["zsh", "fish"] {
        let out = rootline(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.contains("appraise"),
            "{shell} completions lack appraise"
        );
    }
    let out = rootline(&["completions", "tcsh"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
}

#[test]
fn man_writes_one_page_per_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("man1");
    let out = rootline(&["man", "--out", out_dir.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let top = std::fs::read_to_string(out_dir.join("rootline.1")).unwrap();
    assert!(
        top.starts_with(".ie") || top.contains(".TH"),
        "not roff:\n{top}"
    );
    assert!(top.contains("rootline\\-verify"), "{top}");
    let verify = std::fs::read_to_string(out_dir.join("rootline-verify.1")).unwrap();
    assert!(verify.contains(".TH ROOTLINE-VERIFY"), "{verify}");
    // The subcommand's help text and its flags.
    assert!(
        verify.contains("against pinned vendor roots and the collateral given"),
        "{verify}"
    );
    assert!(verify.contains("nonce"), "{verify}");
    // Nested subcommands get their own pages, as `man` names them.
    assert!(out_dir.join("rootline-eventlog-replay.1").exists());
    // Every page written is listed on standard output.
    let listed = String::from_utf8(out.stdout).unwrap();
    assert!(listed.lines().any(|l| l.ends_with("rootline-verify.1")));
}

/// `rootline serve` with JSON logs on a file, killed on drop.
struct Serve {
    child: Child,
    addr: String,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve_json() -> Serve {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr.log");
    let mut child = Command::new(bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--insecure-cookies"])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["--log-format", "json"])
        .env_remove("ROOTLINE_KEK")
        .env_remove("ROOTLINE_LOG_FORMAT")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("the broker did not start: {line:?}"))
        .to_owned();
    Serve {
        child,
        addr,
        log,
        _dir: dir,
    }
}

/// One HTTP/1.1 request; the status line and headers, lower-cased names.
fn get(addr: &str, path: &str, headers: &[(&str, &str)]) -> (u16, Vec<(String, String)>) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let head = raw.split("\r\n\r\n").next().unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers)
}

/// The log's JSON lines that carry `id` as their request id, waiting (a
/// bounded while) for the line a request writes after its answer is sent.
fn lines_with_request_id(log: &std::path::Path, id: &str) -> Vec<serde_json::Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(log).unwrap();
        let found: Vec<serde_json::Value> = text
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l)
                    .unwrap_or_else(|e| panic!("a log line is not JSON ({e}): {l}"))
            })
            .filter(|v| v["span"]["request_id"] == id)
            .collect();
        if !found.is_empty() || std::time::Instant::now() > deadline {
            return found;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn json_logs_carry_the_request_id_the_response_echoes() {
    let s = serve_json();
    // A refused resource request logs a line ("request refused") inside
    // the request's span.
    let (status, headers) = get(
        &s.addr,
        "/kbs/v0/resource/default/key/1",
        &[("x-request-id", "ops-test-7f3a")],
    );
    assert_eq!(status, 401);
    assert!(
        headers.contains(&("x-request-id".into(), "ops-test-7f3a".into())),
        "{headers:?}"
    );
    let lines = lines_with_request_id(&s.log, "ops-test-7f3a");
    assert!(
        !lines.is_empty(),
        "no JSON log line carries the request id:\n{}",
        std::fs::read_to_string(&s.log).unwrap()
    );
    let l = &lines[0];
    assert_eq!(l["fields"]["message"], "request refused", "{l}");
    assert_eq!(l["span"]["path"], "/kbs/v0/resource/default/key/1", "{l}");
    assert!(l["timestamp"].is_string() && l["level"] == "INFO", "{l}");

    // Without one, an id is generated, echoed, and logged the same way.
    let (status, headers) = get(&s.addr, "/no/such/route", &[]);
    assert_eq!(status, 404);
    let id = headers
        .iter()
        .find(|(k, _)| k == "x-request-id")
        .map(|(_, v)| v.clone())
        .expect("x-request-id");
    assert_eq!(id.len(), 32);
    assert!(!lines_with_request_id(&s.log, &id).is_empty());
}

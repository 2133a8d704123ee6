//! Test support for the binary's tests: `rootline serve` as a child
//! process on 127.0.0.1 port 0, killed on drop.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::panic)]

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};

/// The binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_rootline")
}

/// Runs `rootline ARGS` to completion with no data directory from the
/// environment: its exit code (-1 when a signal ended it), standard output
/// and standard error.
pub fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin())
        .args(args)
        .env_remove("ROOTLINE_DATA_DIR")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A path as the `&str` an argument list takes.
pub fn p(x: &std::path::Path) -> &str {
    x.to_str().unwrap()
}

/// A running `rootline serve`, killed on drop.
pub struct Server {
    pub child: Child,
    pub addr: String,
}

impl Server {
    /// Starts `rootline serve ARGS` (plain HTTP on 127.0.0.1 port 0, cookies
    /// not marked Secure) with `envs`, and waits for its "listening" line,
    /// which it prints only once its store is open and migrated.
    pub fn start<S: AsRef<std::ffi::OsStr>>(args: &[S], envs: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(bin());
        cmd.arg("serve")
            .args(["--listen", "127.0.0.1:0", "--insecure-cookies"])
            .args(args)
            .env_remove("ROOTLINE_KEK")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| {
                panic!(
                    "the broker did not start (first line {line:?}, {:?})",
                    child.wait()
                )
            })
            .to_owned();
        Self { child, addr }
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

//! A PostgreSQL cluster for tests: `initdb` and `pg_ctl` from Debian's
//! postgresql package, in a temporary directory, listening on a unix socket
//! only (no TCP port), with `fsync=off`; stopped when dropped. As root, the
//! server runs as the `postgres` user (initdb refuses root).
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// A PostgreSQL cluster in a temporary directory, stopped on drop.
pub struct Postgres {
    _dir: tempfile::TempDir,
    bin: PathBuf,
    data: PathBuf,
    socket_dir: PathBuf,
    as_postgres: bool,
}

fn pg_bin() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists() && p.join("pg_ctl").exists())
        .collect();
    found.sort();
    found.pop()
}

impl Postgres {
    fn run(&self, args: &[&str]) -> std::process::Output {
        let mut cmd = if self.as_postgres {
            // initdb refuses to run as root: run the server as `postgres`.
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--", args[0]]);
            c
        } else {
            Command::new(args[0])
        };
        cmd.args(&args[1..]).output().unwrap()
    }

    /// Runs `args`; fails the test with their standard error unless they
    /// succeed.
    fn run_ok(&self, args: &[&str]) {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts a cluster; `None` (with the reason printed) when PostgreSQL
    /// is not installed, which CI (`CI` set) turns into a failure.
    pub fn start() -> Option<Self> {
        let Some(bin) = pg_bin() else {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI: no PostgreSQL under /usr/lib/postgresql; scripts/test installs the Debian package postgresql"
            );
            eprintln!(
                "SKIPPED: no PostgreSQL under /usr/lib/postgresql (Debian package postgresql)"
            );
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
        let data = dir.path().join("data");
        let socket_dir = dir.path().join("sock");
        std::fs::create_dir(&socket_dir).unwrap();
        if root {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap()
                .success();
            assert!(ok, "chown to postgres failed");
        }
        let pg = Self {
            _dir: dir,
            bin,
            data,
            socket_dir,
            as_postgres: root,
        };
        let initdb = pg.bin.join("initdb");
        pg.run_ok(&[
            initdb.to_str().unwrap(),
            "-D",
            pg.data.to_str().unwrap(),
            "-U",
            "rootline",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ]);
        let opts = format!(
            "-c listen_addresses='' -k {} -p 5432 -c fsync=off -c max_connections=50",
            pg.socket_dir.display()
        );
        let pg_ctl = pg.bin.join("pg_ctl");
        let log = pg.data.join("server.log");
        pg.run_ok(&[
            pg_ctl.to_str().unwrap(),
            "-D",
            pg.data.to_str().unwrap(),
            "-o",
            &opts,
            "-l",
            log.to_str().unwrap(),
            "-w",
            "start",
        ]);
        Some(pg)
    }

    /// The directory of the server's unix socket.
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// A sqlx URL for the `postgres` database as user `rootline`.
    pub fn url(&self) -> String {
        format!(
            "postgres://rootline@localhost:5432/postgres?host={}",
            self.socket_dir.display()
        )
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let pg_ctl = self.bin.join("pg_ctl");
        let _ = self.run(&[
            pg_ctl.to_str().unwrap(),
            "-D",
            self.data.to_str().unwrap(),
            "-m",
            "immediate",
            "stop",
        ]);
    }
}

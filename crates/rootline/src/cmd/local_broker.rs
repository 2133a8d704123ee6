//! A broker in this process, for `rootline demo` and `rootline bench kbs`
//! without a running server: SQLite in a data directory, a fresh KEK, HTTP
//! on 127.0.0.1 at a port the kernel picks, configured through the store
//! (the same rows the admin API writes).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use rootline_broker::evidence::VerifierConfig;
use rootline_broker::kek::Kek;
use rootline_broker::store::prelude::*;
use rootline_broker::store::{AuditRow, ReferenceValue, SqlStore};
use rootline_broker::{Broker, BrokerOptions};

/// The name of the broker's runtime threads (workers and blocking pool),
/// so a benchmark can tell their CPU time from the load generator's.
pub(crate) const THREAD_NAME: &str = "rootline-broker";

/// CPU time, in nanoseconds, of this process's broker threads so far: the
/// runtime's and SQLite's workers (Linux `/proc/self/task/*/schedstat`).
/// A blocking-pool thread that ends in between (after ten idle seconds)
/// takes its time with it; the broker rarely starts one.
pub(crate) fn broker_cpu_ns() -> Option<u64> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    let ns = tasks
        .filter_map(Result::ok)
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| {
                // comm holds the first 15 bytes of the name.
                let c = c.trim_end();
                THREAD_NAME.starts_with(c) || c.starts_with("sqlx-sqlite")
            })
        })
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    Some(ns)
}

/// CPU time, in nanoseconds, of process `pid` so far, user and kernel,
/// threads that have ended included (`/proc/PID/stat`, in the kernel's
/// USER_HZ ticks: 100 a second on Linux, so 10 ms steps).
pub(crate) fn process_cpu_ns(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The name may hold spaces and parentheses: fields count from the last ')'.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state (3), ..., utime (14), stime (15).
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks * 10_000_000)
}

/// The name (`comm`) of process `pid`.
pub(crate) fn process_name(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|c| c.trim_end().to_owned())
}

/// Parses an address of `/proc/net/tcp{,6}`: 32-bit words in hex, each in
/// the machine's byte order.
fn proc_net_addr(hex: &str) -> Option<std::net::IpAddr> {
    let word = |i: usize| -> Option<[u8; 4]> {
        Some(
            u32::from_str_radix(hex.get(i * 8..i * 8 + 8)?, 16)
                .ok()?
                .to_ne_bytes(),
        )
    };
    match hex.len() {
        8 => Some(std::net::Ipv4Addr::from(word(0)?).into()),
        32 => {
            let mut b = [0u8; 16];
            for (i, chunk) in b.chunks_exact_mut(4).enumerate() {
                chunk.copy_from_slice(&word(i)?);
            }
            Some(std::net::Ipv6Addr::from(b).into())
        }
        _ => None,
    }
}

/// The one process on this machine that listens on TCP `port` at `host`
/// (any loopback address for a name such as `localhost`), or at every
/// address, found through `/proc/net/tcp{,6}` (the listening sockets'
/// inodes) and the processes' open files. `None` when none or several
/// readable processes hold such a socket (a proxy and its backend, socket
/// activation): their CPU time would not be the broker's alone.
pub(crate) fn listening_pid(host: Option<std::net::IpAddr>, port: u16) -> Option<u32> {
    let serves = |addr: std::net::IpAddr| {
        let addr = match addr {
            std::net::IpAddr::V6(v6) => v6.to_canonical(),
            v4 => v4,
        };
        addr.is_unspecified() || host.map_or(addr.is_loopback(), |h| h == addr)
    };
    let inodes: std::collections::HashSet<String> = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .flat_map(|table| {
            table
                .lines()
                .skip(1)
                .filter_map(|l| {
                    // sl local_address rem_address st ... uid timeout inode
                    let f: Vec<&str> = l.split_whitespace().collect();
                    let (addr, local_port) = f.get(1)?.split_once(':')?;
                    let local_port = u16::from_str_radix(local_port, 16).ok()?;
                    let listening = *f.get(3)? == "0A";
                    if !listening || local_port != port || !serves(proc_net_addr(addr)?) {
                        return None;
                    }
                    f.get(9).map(|inode| (*inode).to_owned())
                })
                .collect::<Vec<_>>()
        })
        .filter(|inode| inode != "0")
        .collect();
    if inodes.is_empty() {
        return None;
    }
    let holders: std::collections::BTreeSet<u32> = std::fs::read_dir("/proc")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| Some((e.file_name().to_str()?.parse::<u32>().ok()?, e.path())))
        .filter(|(_, dir)| {
            std::fs::read_dir(dir.join("fd")).is_ok_and(|fds| {
                fds.filter_map(Result::ok).any(|fd| {
                    std::fs::read_link(fd.path()).is_ok_and(|target| {
                        target
                            .to_str()
                            .and_then(|t| t.strip_prefix("socket:["))
                            .and_then(|t| t.strip_suffix(']'))
                            .is_some_and(|inode| inodes.contains(inode))
                    })
                })
            })
        })
        .map(|(pid, _)| pid)
        .collect();
    let mut one = holders.into_iter();
    match (one.next(), one.next()) {
        (Some(pid), None) => Some(pid),
        _ => None,
    }
}

/// A running in-process broker; stops when dropped.
pub(crate) struct LocalBroker {
    rt: tokio::runtime::Runtime,
    store: Arc<SqlStore>,
    kek: Kek,
    /// `http://127.0.0.1:PORT`.
    pub(crate) url: String,
}

impl LocalBroker {
    /// Starts a broker whose data lives in `data_dir`, trusting the
    /// simulated-TEE roots `sim_roots`, with `workers` runtime threads. It
    /// appraises as `rootline serve` does (rootline-policy's default
    /// policies, with `settings`; the simulated TEE by reference values).
    pub(crate) fn start(
        data_dir: &Path,
        sim_roots: Vec<Vec<u8>>,
        workers: usize,
        settings: serde_json::Value,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create {}", data_dir.display()))?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers.max(1))
            .thread_name(THREAD_NAME)
            .enable_all()
            .build()?;
        let (kek, raw) = Kek::generate()?;
        let kek2 = Kek::from_bytes(&raw)?;
        let url = format!("sqlite://{}?mode=rwc", data_dir.join("broker.db").display());
        let (store, addr) = rt.block_on(async {
            let store = Arc::new(SqlStore::connect(&url).await?);
            let broker = Broker::new(BrokerOptions {
                verifier: VerifierConfig {
                    sim_roots,
                    ..Default::default()
                },
                secure_cookies: false,
                appraiser: Arc::new(rootline_broker::appraise::PolicyAppraiser::with_defaults(
                    settings,
                )?),
                ..BrokerOptions::new(store.clone(), kek)
            })
            .await?;
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            let app = rootline_broker::app(broker);
            // The same accept loop and limits as `rootline serve`, so that
            // what `bench kbs` measures is what a deployment runs.
            tokio::spawn(rootline_broker::server::serve(
                listener,
                None,
                app,
                rootline_broker::server::Limits::default(),
                std::future::pending(),
            ));
            anyhow::Ok((store, addr))
        })?;
        Ok(Self {
            rt,
            store,
            kek: kek2,
            url: format!("http://{addr}"),
        })
    }

    fn now() -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp()
    }

    /// Stores a secret at `path` (`REPO/TYPE/TAG`), sealed under the KEK,
    /// released under `policy` (the built-in default when `None`).
    pub(crate) fn put_resource(
        &self,
        path: &str,
        secret: &[u8],
        policy: Option<&str>,
    ) -> anyhow::Result<()> {
        let sealed = self.kek.seal(path, secret)?;
        self.rt
            .block_on(self.store.put_resource(path, &sealed, policy, Self::now()))?;
        Ok(())
    }

    /// Stores a Rego resource policy.
    pub(crate) fn put_policy(&self, name: &str, rego: &str) -> anyhow::Result<()> {
        rootline_broker::policy::compile(name, rego)?;
        self.rt
            .block_on(self.store.put_policy(name, rego, Self::now()))?;
        Ok(())
    }

    /// Registers a reference value: `claim` of `tee` evidence must be one of `values`.
    pub(crate) fn put_reference_value(
        &self,
        name: &str,
        tee: &str,
        claim: &str,
        values: Vec<String>,
    ) -> anyhow::Result<()> {
        let rv = ReferenceValue {
            name: name.into(),
            tee: tee.into(),
            claim: claim.into(),
            values,
            version: 0,
        };
        self.rt
            .block_on(self.store.put_reference_value(&rv, Self::now()))?;
        Ok(())
    }

    /// The newest audit rows.
    pub(crate) fn audit(&self, limit: i64) -> anyhow::Result<Vec<AuditRow>> {
        Ok(self.rt.block_on(self.store.list_audit(limit))?)
    }
}

#[cfg(all(test, target_endian = "little"))]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn proc_net_addresses() {
        let ip = |s: &str| proc_net_addr(s).unwrap().to_string();
        assert_eq!(ip("0100007F"), "127.0.0.1");
        assert_eq!(ip("00000000"), "0.0.0.0");
        assert_eq!(ip("00000000000000000000000001000000"), "::1");
        assert_eq!(ip("0000000000000000FFFF00000100007F"), "::ffff:127.0.0.1");
        assert!(proc_net_addr("0100007").is_none());
        assert!(proc_net_addr("zz00007F").is_none());
    }

    #[test]
    fn this_process_is_found_by_its_listening_port() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let local = Some(std::net::IpAddr::from([127, 0, 0, 1]));
        assert_eq!(listening_pid(local, port), Some(std::process::id()));
        assert_eq!(listening_pid(None, port), Some(std::process::id()));
        // Another loopback address is another socket.
        assert_eq!(
            listening_pid(Some(std::net::IpAddr::from([127, 0, 0, 2])), port),
            None
        );
        drop(l);
        assert_eq!(listening_pid(local, port), None);
        assert!(process_cpu_ns(std::process::id()).is_some());
        assert!(process_name(std::process::id()).is_some());
    }
}

//! A broker in this process, for `rootline demo` and `rootline bench kbs`
//! without a running server: SQLite in a data directory, a fresh KEK, HTTP
//! on 127.0.0.1 at a port the kernel picks, configured through the store
//! (the same rows the admin API writes).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use rootline_broker::appraise::ReferenceValueAppraiser;
use rootline_broker::evidence::VerifierConfig;
use rootline_broker::kek::Kek;
use rootline_broker::store::{AuditRow, ReferenceValue, SqlStore, Store as _};
use rootline_broker::{Broker, BrokerOptions, Clock};

/// The name of the broker's runtime threads (workers and blocking pool),
/// so a benchmark can tell their CPU time from the load generator's.
pub(crate) const THREAD_NAME: &str = "rootline-broker";

/// CPU time, in nanoseconds, of this process's broker threads so far: the
/// runtime's and SQLite's workers (Linux `/proc/self/task/*/schedstat`).
pub(crate) fn broker_cpu_ns() -> u64 {
    tasks_cpu_ns(Path::new("/proc/self/task"), |comm| {
        // comm holds the first 15 bytes of the name.
        THREAD_NAME.starts_with(comm) || comm.starts_with("sqlx-sqlite")
    })
}

/// CPU time, in nanoseconds, of process `pid`'s threads so far (a thread
/// that ends in between takes its time with it; a broker's do not end).
pub(crate) fn process_cpu_ns(pid: u32) -> u64 {
    tasks_cpu_ns(
        &Path::new("/proc").join(pid.to_string()).join("task"),
        |_| true,
    )
}

/// The sum of the first field of `schedstat` (time on a CPU, in ns) over the
/// threads under `task_dir` whose name `keep` accepts.
fn tasks_cpu_ns(task_dir: &Path, keep: impl Fn(&str) -> bool) -> u64 {
    let Ok(tasks) = std::fs::read_dir(task_dir) else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| keep(c.trim_end()))
        })
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// The process on this machine that listens on TCP `port`, found through
/// `/proc/net/tcp{,6}` (the listening socket's inode) and the processes'
/// open files; `None` when no readable process holds it.
pub(crate) fn listening_pid(port: u16) -> Option<u32> {
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
                    let local_port = u16::from_str_radix(f.get(1)?.rsplit(':').next()?, 16).ok()?;
                    let listening = *f.get(3)? == "0A";
                    if !listening || local_port != port {
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
    std::fs::read_dir("/proc")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| Some((e.file_name().to_str()?.parse::<u32>().ok()?, e.path())))
        .find(|(_, dir)| {
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
    /// simulated-TEE roots `sim_roots`, with `workers` runtime threads.
    pub(crate) fn start(
        data_dir: &Path,
        sim_roots: Vec<Vec<u8>>,
        workers: usize,
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
                store: store.clone(),
                kek,
                verifier: VerifierConfig {
                    sim_roots,
                    insecure_sample: false,
                    collateral: Vec::new(),
                },
                appraiser: Arc::new(ReferenceValueAppraiser),
                token_key: None,
                passport_signers: Vec::new(),
                admin_key: None,
                session_ttl: 300,
                token_ttl: 300,
                secure_cookies: false,
                clock: Clock::default(),
            })
            .await?;
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            let app = rootline_broker::app(broker);
            tokio::spawn(async move {
                let _ = axum::serve(
                    listener,
                    app.into_make_service_with_connect_info::<SocketAddr>(),
                )
                .await;
            });
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

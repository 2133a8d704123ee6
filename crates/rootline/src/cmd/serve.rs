//! `rootline serve`: run the key broker (KBS protocol, admin API).
//!
//! Configuration is layered: built-in defaults, then the TOML file given by
//! `--config`, then `ROOTLINE_*` environment variables, then flags (clap
//! reads each flag's environment variable, so a flag beats its variable).
//! The effective configuration is logged with secrets redacted; the KEK is
//! read from `ROOTLINE_KEK` or a file and never printed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use rootline_broker::kek::Kek;
use rootline_broker::store::SqlStore;

use rootline_broker::{Broker, BrokerOptions, Config};

/// Flags of `rootline serve`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// TOML configuration file. Keys: listen, data_dir, database_url,
    /// kek_file, sqlite_full_sync, session_ttl_secs, token_ttl_secs, secure_cookies,
    /// insecure_sample_tee, sim_roots, collateral, admin_public_key,
    /// passport_signers, token_key, tls_cert, tls_key, tpm_ek_roots (EK CA
    /// certificates: TPM evidence must then prove its AK by credential
    /// activation), tpm_required_pcrs, header_timeout_secs (10),
    /// request_timeout_secs (30), max_connections (1024), body_budget_mb
    /// (128: request bodies held at once), rate_limit_per_client (20 /auth
    /// and /attest requests a second per address, loopback exempt, 0: off),
    /// audit_retention_days (90; 0 keeps rows for ever), fetch, kds_url,
    /// pcs_url, nvidia_ocsp_url, collateral_offline, collateral_cache_dir,
    /// collateral_refresh_hours (24), collateral_fetch_timeout_secs (10),
    /// snp_trust_anchors, dcap_trust_anchor (docs/collateral.md),
    /// cca_trust_anchors (Arm CCA platform keys, docs/cca.md),
    /// nvidia_trust_anchors (PEM roots replacing NVIDIA's, for private or
    /// test PKIs), and
    /// Trustee's [admin] section (docs/trustee-migration.md). Environment
    /// variables and flags override it.
    #[arg(long, env = "ROOTLINE_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1:8080). Port 0 picks a free
    /// port; the address actually bound is printed on standard output.
    #[arg(long, env = "ROOTLINE_LISTEN", value_name = "ADDR")]
    listen: Option<String>,
    /// Directory for the embedded SQLite database (and a generated KEK when
    /// none is configured).
    #[arg(long, env = "ROOTLINE_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Database: sqlite://PATH?mode=rwc or postgres://USER@HOST/DB. Replicas
    /// that share a PostgreSQL database continue each other's handshakes.
    #[arg(long, env = "ROOTLINE_DATABASE_URL", value_name = "URL")]
    database_url: Option<String>,
    /// File holding the key-encryption key for secrets at rest (32 raw
    /// bytes, 64 hex digits or base64). ROOTLINE_KEK may hold the key itself.
    #[arg(long, env = "ROOTLINE_KEK_FILE", value_name = "FILE")]
    kek_file: Option<PathBuf>,
    /// PEM public key (Ed25519 or P-256) that signs admin JWTs; without one
    /// the admin API answers 401 to everything.
    #[arg(long, env = "ROOTLINE_ADMIN_PUBLIC_KEY", value_name = "FILE")]
    admin_public_key: Option<PathBuf>,
    /// Trust a simulated-TEE root (hex SEC1 P-384 public key); repeatable.
    /// For load tests and machines without a TEE.
    #[arg(
        long = "sim-root",
        env = "ROOTLINE_SIM_ROOTS",
        value_delimiter = ',',
        value_name = "HEX"
    )]
    sim_roots: Vec<String>,
    /// Collateral file for the verifier (certificates, CRLs, TCB info); repeatable.
    #[arg(long, value_name = "FILE")]
    collateral: Vec<PathBuf>,
    /// Consent to fetch missing collateral (a chip's VCEK, CRLs, TCB info,
    /// QE identity) from AMD KDS and Intel PCS, cached in the data directory
    /// and shared by the replicas of the store. Without it only a --kds-url
    /// or --pcs-url you name is contacted.
    #[arg(long, env = "ROOTLINE_FETCH", value_parser = clap::builder::FalseyValueParser::new(), conflicts_with = "collateral_offline")]
    fetch: bool,
    /// AMD KDS base URL (a mirror); naming it consents to fetching from it.
    #[arg(long, env = "ROOTLINE_KDS_URL", value_name = "URL")]
    kds_url: Option<String>,
    /// Intel PCS or PCCS base URL; naming it consents to fetching from it.
    #[arg(
        long,
        visible_alias = "pccs-url",
        env = "ROOTLINE_PCS_URL",
        value_name = "URL"
    )]
    pcs_url: Option<String>,
    /// NVIDIA OCSP responder URL (a mirror) for GPU certificate chains;
    /// naming it consents to asking it.
    #[arg(long, env = "ROOTLINE_NVIDIA_OCSP_URL", value_name = "URL")]
    nvidia_ocsp_url: Option<String>,
    /// Never fetch collateral: configured files and the caches only.
    #[arg(long, env = "ROOTLINE_COLLATERAL_OFFLINE", value_parser = clap::builder::FalseyValueParser::new())]
    collateral_offline: bool,
    /// Do not mark cookies Secure (plain HTTP on loopback, for tests).
    #[arg(long, env = "ROOTLINE_INSECURE_COOKIES")]
    insecure_cookies: bool,
    /// INSECURE: accept Trustee's unsigned `sample` TEE (every token it
    /// yields is marked). Only for exercising client tools without a TEE.
    #[arg(long, env = "ROOTLINE_INSECURE_SAMPLE_TEE")]
    insecure_sample_tee: bool,
    /// Challenge (session) lifetime in seconds (default 300).
    #[arg(long, env = "ROOTLINE_SESSION_TTL", value_name = "SECS")]
    session_ttl: Option<u64>,
    /// TLS certificate chain (PEM); plain HTTP without it.
    #[arg(
        long,
        env = "ROOTLINE_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(
        long,
        env = "ROOTLINE_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    tls_key: Option<PathBuf>,
    /// Runtime threads that serve requests (default: one per core). Fewer
    /// leave cores to other work on the machine, such as a load generator.
    /// A flag (or ROOTLINE_WORKER_THREADS) only: it sizes this process, not
    /// the broker, so it is not a key of the configuration file.
    #[arg(long, env = "ROOTLINE_WORKER_THREADS", value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    worker_threads: Option<u16>,
    /// Print the effective configuration (secrets redacted) as JSON and exit.
    #[arg(long)]
    print_config: bool,
    /// Log lines on standard error as text (for people) or JSON (one object
    /// a line, for collectors). Every line a request causes carries its
    /// request id (`span.request_id` in JSON), which the response's
    /// `x-request-id` header echoes. RUST_LOG sets the level (info).
    #[arg(
        long,
        env = "ROOTLINE_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text,
        value_name = "FORMAT"
    )]
    log_format: LogFormat,
}

/// How `rootline serve` writes its log.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object a line: timestamp, level, fields, target, and the
    /// spans (the request, with its id) the line was written in.
    Json,
}

/// Builds the effective configuration: defaults, file, then environment and
/// flags (already merged by clap).
fn layered(a: &Args) -> anyhow::Result<Config> {
    let mut cfg = match &a.config {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            Config::from_toml(&text).with_context(|| format!("in {}", p.display()))?
        }
        None => Config::default(),
    };
    if let Some(v) = &a.listen {
        cfg.listen = v.clone();
    }
    if let Some(v) = &a.data_dir {
        cfg.data_dir = v.clone();
    }
    if let Some(v) = &a.database_url {
        cfg.database_url = Some(v.clone());
    }
    if let Some(v) = &a.kek_file {
        cfg.kek_file = Some(v.clone());
    }
    if let Some(v) = &a.admin_public_key {
        cfg.admin_public_key = Some(v.clone());
    }
    if !a.sim_roots.is_empty() {
        cfg.sim_roots = a.sim_roots.clone();
    }
    if !a.collateral.is_empty() {
        cfg.collateral = a.collateral.clone();
    }
    if a.fetch {
        cfg.fetch = true;
    }
    if let Some(v) = &a.kds_url {
        cfg.kds_url = Some(v.clone());
    }
    if let Some(v) = &a.pcs_url {
        cfg.pcs_url = Some(v.clone());
    }
    if let Some(v) = &a.nvidia_ocsp_url {
        cfg.nvidia_ocsp_url = Some(v.clone());
    }
    if a.collateral_offline {
        cfg.collateral_offline = true;
    }
    if a.insecure_cookies {
        cfg.secure_cookies = false;
    }
    if a.insecure_sample_tee {
        cfg.insecure_sample_tee = true;
    }
    if let Some(v) = a.session_ttl {
        cfg.session_ttl_secs = v;
    }
    if let Some(v) = &a.tls_cert {
        cfg.tls_cert = Some(v.clone());
    }
    if let Some(v) = &a.tls_key {
        cfg.tls_key = Some(v.clone());
    }
    if cfg.tls_cert.is_some() != cfg.tls_key.is_some() {
        bail!("tls_cert and tls_key go together");
    }
    Ok(cfg)
}

/// A database URL with any password replaced: in the user information
/// (`user:secret@host`) and in query parameters (`?password=secret`,
/// `sslpassword=`), which PostgreSQL's URLs also accept.
fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut out = match (base.find("://"), base.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &base[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &base[..s + 3], &base[at..]),
                None => base.to_owned(),
            }
        }
        _ => base.to_owned(),
    };
    if let Some(q) = query {
        let parts: Vec<String> = q
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if k.to_ascii_lowercase().contains("password") => format!("{k}=***"),
                _ => kv.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&parts.join("&"));
    }
    out
}

/// Refuses a KEK file that others may write (they could swap the key that
/// seals every secret); warns when others may read it.
fn check_kek_file(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .permissions()
        .mode();
    if mode & 0o022 != 0 {
        bail!(
            "KEK file {} is writable by group or others (mode {:o}): anyone who can replace it can read every secret stored afterwards; run chmod 600 on it",
            path.display(),
            mode & 0o777
        );
    }
    if mode & 0o044 != 0 {
        tracing::warn!(path = %path.display(), mode = format!("{:o}", mode & 0o777), "the KEK file is readable by group or others");
    }
    Ok(())
}

fn redacted(cfg: &Config) -> serde_json::Value {
    let mut v = serde_json::to_value(cfg).unwrap_or_default();
    v["database_url"] = serde_json::Value::String(redact_url(&cfg.database_url()));
    v
}

/// The KEK: ROOTLINE_KEK, else the configured file, else (SQLite only) a
/// generated key kept in the data directory.
fn load_kek(cfg: &Config) -> anyhow::Result<Kek> {
    if let Some(text) = std::env::var_os("ROOTLINE_KEK") {
        return Kek::from_text_or_raw(text.to_string_lossy().as_bytes()).context("ROOTLINE_KEK");
    }
    if let Some(p) = &cfg.kek_file {
        check_kek_file(p)?;
        let raw = std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
        return Kek::from_text_or_raw(&raw).with_context(|| format!("KEK file {}", p.display()));
    }
    if !cfg.database_url().starts_with("sqlite:") {
        bail!("a shared database needs a shared KEK: set ROOTLINE_KEK or kek_file");
    }
    let path = cfg.data_dir.join("kek");
    if path.exists() {
        check_kek_file(&path)?;
        let raw =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        return Kek::from_text_or_raw(&raw).with_context(|| format!("KEK file {}", path.display()));
    }
    // A database without its generated KEK: the key was deleted or moved.
    // A new one would seal new secrets while every stored one stays
    // unreadable, so refuse instead of replacing it.
    if let Some(db) =
        rootline_broker::store::sqlite_file(&cfg.database_url()).filter(|d| d.exists())
    {
        bail!(
            "{} holds a database but {} is missing: the key that seals its secrets was deleted or moved. Restore it, or move the database away to start afresh",
            db.display(),
            path.display()
        );
    }
    let (kek, raw) = Kek::generate()?;
    create_private(&path, hex::encode(raw).as_bytes())?;
    tracing::warn!(path = %path.display(), "no KEK configured: generated one; back it up, the secrets cannot be opened without it");
    Ok(kek)
}

/// Creates a file readable by its owner only; an existing file is never
/// replaced (a generated KEK or key must not overwrite one).
pub(crate) fn create_private(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(data)
        .with_context(|| format!("cannot write {}", path.display()))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: draining requests");
}

/// Runs `rootline serve`.
pub(crate) fn run(a: Args) -> anyhow::Result<u8> {
    let cfg = layered(&a)?;
    if a.print_config {
        use std::io::Write as _;
        // A closed pipe (`| head`) is not an error worth a panic.
        let _ = writeln!(
            std::io::stdout(),
            "{}",
            serde_json::to_string_pretty(&redacted(&cfg))?
        );
        return Ok(0);
    }
    init_logging(a.log_format);
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = a.worker_threads {
        rt.worker_threads(usize::from(n));
    }
    let rt = rt
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(serve(cfg))?;
    Ok(0)
}

/// Installs the log subscriber: `format` on standard error, the level from
/// RUST_LOG (default info).
fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => fmt
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        LogFormat::Json => fmt
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .try_init(),
    };
}

/// Makes the data directory and the SQLite files private to this user (the
/// database holds sealed secrets, session tokens and the audit log).
fn make_private(cfg: &Config) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let set = |p: &Path, mode: u32| -> anyhow::Result<()> {
        if p.exists() {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
                .with_context(|| format!("cannot restrict {}", p.display()))?;
        }
        Ok(())
    };
    if cfg.database_url.is_none() {
        set(&cfg.data_dir, 0o700)?;
    }
    if let Some(db) = rootline_broker::store::sqlite_file(&cfg.database_url()) {
        for suffix in ["", "-wal", "-shm"] {
            let mut name = db.clone().into_os_string();
            name.push(suffix);
            set(Path::new(&name), 0o600)?;
        }
    }
    Ok(())
}

async fn serve(cfg: Config) -> anyhow::Result<()> {
    tracing::info!(config = %redacted(&cfg), "configuration");
    {
        use std::os::unix::fs::DirBuilderExt as _;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&cfg.data_dir)
            .with_context(|| format!("cannot create {}", cfg.data_dir.display()))?;
    }
    let kek = load_kek(&cfg)?;
    let store = SqlStore::connect_with(&cfg.database_url(), cfg.sqlite_full_sync)
        .await
        .with_context(|| format!("database {}", redact_url(&cfg.database_url())))?;
    make_private(&cfg)?;
    let opts = BrokerOptions::from_config(&cfg, Arc::new(store), kek)?;
    let broker = Broker::new(opts).await?;
    let ek_roots = cfg
        .tpm_ek_roots
        .iter()
        .map(|p| {
            std::fs::read(p).with_context(|| format!("tpm_ek_roots: cannot read {}", p.display()))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    broker.trust_ek_roots(&ek_roots)?;
    let app = rootline_broker::app(broker.clone());
    let listener = tokio::net::TcpListener::bind(&cfg.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    // Expired sessions are dropped once a minute by every replica (the
    // DELETE is idempotent).
    let purger = {
        let b = broker.clone();
        tokio::spawn(async move {
            let mut t = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                t.tick().await;
                if let Err(e) = b.purge().await {
                    tracing::warn!(error = %e, "session purge failed");
                }
            }
        })
    };
    let tls = match (&cfg.tls_cert, &cfg.tls_key) {
        (Some(c), Some(k)) => Some(rootline_broker::tls::server_config(
            &std::fs::read(c).with_context(|| format!("cannot read {}", c.display()))?,
            &std::fs::read(k).with_context(|| format!("cannot read {}", k.display()))?,
        )?),
        _ => None,
    };
    let limits = rootline_broker::server::Limits {
        header_timeout: std::time::Duration::from_secs(cfg.header_timeout_secs.max(1)),
        request_timeout: std::time::Duration::from_secs(cfg.request_timeout_secs.max(1)),
        max_connections: rootline_broker::server::connection_cap(cfg.max_connections),
        body_budget: cfg.body_budget_mb.saturating_mul(1 << 20),
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("listening on {scheme}://{addr}");
    tracing::info!(
        %addr,
        tls = tls.is_some(),
        max_connections = limits.max_connections,
        header_timeout_secs = limits.header_timeout.as_secs(),
        request_timeout_secs = limits.request_timeout.as_secs(),
        "listening"
    );
    rootline_broker::server::serve(listener, tls, app, limits, shutdown_signal()).await?;
    purger.abort();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://app:hunter2@db:5432/kbs"),
            "postgres://app:***@db:5432/kbs"
        );
        assert_eq!(redact_url("postgres://app@db/kbs"), "postgres://app@db/kbs");
        assert_eq!(
            redact_url("postgres://db/kbs?user=app&password=hunter2&sslmode=require"),
            "postgres://db/kbs?user=app&password=***&sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://app:p@ss@db/kbs?sslpassword=x"),
            "postgres://app:***@db/kbs?sslpassword=***"
        );
        assert_eq!(
            redact_url("sqlite://x.db?mode=rwc"),
            "sqlite://x.db?mode=rwc"
        );
    }
}

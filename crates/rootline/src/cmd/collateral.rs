//! `rootline collateral export|import`: move fetched collateral (VCEKs,
//! CRLs, TCB info, QE identity) from a connected verifier or broker to an
//! air-gapped one, as one JSON bundle.
//!
//! Sources and targets are a broker's store (the cache its replicas share:
//! `--config`, `--data-dir` or `--database-url`, as `rootline serve` takes
//! them) and an on-disk cache (`--cache-dir`, what `rootline verify --fetch`
//! fills). Artifacts are keyed by the URL they are served at, so an imported
//! one is found where a fetch would have put it. Each is checked to be what
//! its URL says before it is written; none is trusted for being imported:
//! the verifier checks it against the pinned roots on use.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use rootline_broker::store::prelude::*;
use rootline_broker::store::{CollateralRow, SqlStore};
use rootline_collateral::bundle::{self, Entry};
use serde_json::{Value, json};

/// The bundle's format name.
const FORMAT: &str = "rootline-collateral/1";
/// Largest bundle read (a fleet's VCEKs are about 1.4 KB each).
const MAX_BUNDLE: u64 = 256 << 20;

/// Where collateral is read from or written to.
#[derive(clap::Args, Debug)]
pub(crate) struct Places {
    /// A broker's configuration (TOML, as `rootline serve --config`): its
    /// store's shared collateral.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// A broker's data directory (its embedded SQLite store).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// A broker's database (sqlite://PATH or postgres://...).
    #[arg(long, env = "ROOTLINE_DATABASE_URL", value_name = "URL")]
    database_url: Option<String>,
    /// An on-disk collateral cache (`rootline verify --cache-dir`, or a
    /// broker's data_dir/collateral).
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
}

impl Places {
    /// The store URL these flags name, if any.
    fn store_url(&self, must_exist: bool) -> anyhow::Result<Option<String>> {
        if let Some(u) = &self.database_url {
            return Ok(Some(u.clone()));
        }
        let mut cfg = match &self.config {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read {}", p.display()))?;
                rootline_broker::Config::from_toml(&text)
                    .with_context(|| format!("in {}", p.display()))?
            }
            None if self.data_dir.is_none() => return Ok(None),
            None => rootline_broker::Config::default(),
        };
        if let Some(d) = &self.data_dir {
            cfg.data_dir = d.clone();
            cfg.database_url = None;
        }
        if must_exist && cfg.database_url.is_none() && !cfg.data_dir.join("broker.db").exists() {
            bail!(
                "no broker store at {} (expected broker.db there): pass the data directory `rootline serve` uses, or --database-url",
                cfg.data_dir.display()
            );
        }
        Ok(Some(cfg.database_url()))
    }

    /// The store these flags name; an embedded one is created when
    /// `must_exist` is false (importing into a broker not started yet).
    fn open(
        &self,
        rt: &tokio::runtime::Runtime,
        must_exist: bool,
    ) -> anyhow::Result<Option<Arc<SqlStore>>> {
        let Some(url) = self.store_url(must_exist)? else {
            return Ok(None);
        };
        if let Some(f) = rootline_broker::store::sqlite_file(&url) {
            if let Some(d) = f.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(d)
                    .with_context(|| format!("cannot create {}", d.display()))?;
            }
        }
        let store = rt
            .block_on(SqlStore::connect(&url))
            .with_context(|| "cannot open the broker's store")?;
        Ok(Some(Arc::new(store)))
    }
}

/// `rootline collateral` subcommands.
#[derive(clap::Subcommand, Debug)]
pub(crate) enum Command {
    /// Write the collateral a broker's store shares and/or an on-disk cache
    /// holds to one JSON bundle (standard output with `-o -`).
    Export {
        #[command(flatten)]
        from: Places,
        /// The bundle file.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Print a JSON summary.
        #[arg(long)]
        json: bool,
    },
    /// Read a bundle and write each artifact, once checked to be what its
    /// URL says, into a broker's store and/or an on-disk cache.
    Import {
        /// The bundle file (`rootline collateral export`).
        bundle: PathBuf,
        #[command(flatten)]
        to: Places,
        /// Print a JSON summary.
        #[arg(long)]
        json: bool,
    },
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")
}

fn next_update_text(next: Option<i64>) -> Value {
    next.and_then(|n| time::OffsetDateTime::from_unix_timestamp(n).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .map_or(Value::Null, Value::String)
}

/// Runs a `rootline collateral` subcommand.
pub(crate) fn run(c: Command) -> anyhow::Result<u8> {
    match c {
        Command::Export { from, output, json } => export(&from, &output, json),
        Command::Import { bundle, to, json } => import(&bundle, &to, json),
    }
}

fn export(from: &Places, output: &std::path::Path, json_out: bool) -> anyhow::Result<u8> {
    let rt = runtime()?;
    let store = from.open(&rt, true)?;
    if store.is_none() && from.cache_dir.is_none() {
        bail!(
            "nothing to export from: name a broker (--config, --data-dir or --database-url) and/or --cache-dir"
        );
    }
    let mut entries: Vec<Entry> = Vec::new();
    let mut skipped = Vec::new();
    if let Some(s) = &store {
        for (url, row) in rt.block_on(s.list_collateral())? {
            entries.push(Entry {
                url,
                body: row.body,
                chain: row.chain,
            });
        }
    }
    if let Some(d) = &from.cache_dir {
        let (found, skip) = bundle::read_cache_dir(d)?;
        skipped.extend(skip);
        for e in found {
            if !entries.iter().any(|x| x.url == e.url) {
                entries.push(e);
            }
        }
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut artifacts = Vec::new();
    for e in &entries {
        let next = match bundle::check(e) {
            Ok((_, n)) => n,
            Err(why) => {
                skipped.push(format!("{}: {why}", e.url));
                continue;
            }
        };
        artifacts.push(json!({
            "url": e.url,
            "next_update": next_update_text(next),
            "body_base64": b64.encode(&e.body),
            "issuer_chain_pem": e.chain.as_deref().map(|c| String::from_utf8_lossy(c).into_owned()),
        }));
    }
    let now = next_update_text(Some(time::OffsetDateTime::now_utc().unix_timestamp()));
    let doc = json!({"format": FORMAT, "exported_at": now, "artifacts": artifacts});
    let text = serde_json::to_string_pretty(&doc)? + "\n";
    if output.as_os_str() == "-" {
        print!("{text}");
    } else {
        std::fs::write(output, text)
            .with_context(|| format!("cannot write {}", output.display()))?;
    }
    for s in &skipped {
        eprintln!("rootline: skipped {s}");
    }
    let n = doc["artifacts"].as_array().map_or(0, Vec::len);
    if json_out && output.as_os_str() != "-" {
        println!(
            "{}",
            json!({"exported": n, "skipped": skipped, "bundle": output.display().to_string()})
        );
    } else if output.as_os_str() != "-" {
        println!("exported {n} artifacts to {}", output.display());
    }
    Ok(0)
}

fn import(path: &std::path::Path, to: &Places, json_out: bool) -> anyhow::Result<u8> {
    let rt = runtime()?;
    let store = to.open(&rt, false)?;
    if store.is_none() && to.cache_dir.is_none() {
        bail!(
            "nowhere to import to: name a broker (--config, --data-dir or --database-url) and/or --cache-dir"
        );
    }
    let raw = super::read_limited(path, MAX_BUNDLE, "collateral bundle")?;
    let doc: Value =
        serde_json::from_slice(&raw).with_context(|| format!("{} is not JSON", path.display()))?;
    if doc.get("format").and_then(Value::as_str) != Some(FORMAT) {
        bail!(
            "{}: \"format\" is {}, expected {FORMAT:?} (a file written by `rootline collateral export`)",
            path.display(),
            doc.get("format").map_or("absent".into(), Value::to_string)
        );
    }
    let Some(list) = doc.get("artifacts").and_then(Value::as_array) else {
        bail!("{}: no \"artifacts\" array", path.display());
    };
    let b64 = base64::engine::general_purpose::STANDARD;
    // Every artifact is checked before anything is written: a bad bundle
    // changes nothing.
    let mut checked = Vec::new();
    for (i, a) in list.iter().enumerate() {
        let field = |k: &str| a.get(k).and_then(Value::as_str);
        let url = field("url").with_context(|| format!("artifacts[{i}]: no \"url\" string"))?;
        let body = field("body_base64")
            .and_then(|b| b64.decode(b).ok())
            .with_context(|| {
                format!("artifacts[{i}] ({url}): \"body_base64\" is missing or not base64")
            })?;
        let e = Entry {
            url: url.to_owned(),
            body,
            chain: field("issuer_chain_pem").map(|c| c.as_bytes().to_vec()),
        };
        let (e, next) =
            bundle::check(&e).map_err(|why| anyhow::anyhow!("artifacts[{i}] ({url}): {why}"))?;
        checked.push((e, next));
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut stale = Vec::new();
    for (e, next) in &checked {
        if let Some(s) = &store {
            let row = CollateralRow {
                body: e.body.clone(),
                chain: e.chain.clone(),
            };
            rt.block_on(s.put_collateral(&e.url, &row, now))
                .with_context(|| format!("storing {}", e.url))?;
        }
        if let Some(d) = &to.cache_dir {
            bundle::write_cache_entry(d, e)?;
        }
        if next.is_some_and(|n| n < now) {
            stale.push(e.url.clone());
        }
    }
    for u in &stale {
        eprintln!(
            "rootline: warning: {u} is already past its nextUpdate: the verifier will refuse it; export a fresher bundle"
        );
    }
    if json_out {
        println!("{}", json!({"imported": checked.len(), "stale": stale}));
    } else {
        println!("imported {} artifacts", checked.len());
    }
    Ok(0)
}

//! `rootline reference`: the reference values an owner accepts, kept with
//! their history in a file store.
//!
//! `add`, `list`, `delete` and `import` work on `reference-values.json` in
//! the data directory through `rootline_policy::FileStore`: adding a value
//! that is already accepted makes a new version (the old one is kept as
//! history), deleting retires values, nothing is overwritten. `record` (in
//! `reference_record.rs`) prints golden values from a verified boot for
//! `import`.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use rootline_policy::reference::{self, ReferenceValue};
use rootline_policy::{FileStore, NewValue, ReferenceStore as _};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Flags of `rootline reference`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Where rootline keeps its state (reference-values.json, the EAR signing
    /// key). Default: $XDG_DATA_HOME/rootline, else ~/.local/share/rootline.
    #[arg(long, global = true, value_name = "DIR", env = "ROOTLINE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Accept VALUE for KEY. Accepting a value again makes a new version of
    /// it (the old record is kept, retired).
    Add(AddArgs),
    /// List accepted values (with --history, retired ones too).
    List(ListArgs),
    /// Stop accepting KEY's values (only VALUE when given); they stay in the
    /// history.
    Delete(DeleteArgs),
    /// Accept every value of a file: `rootline verify --json` output of
    /// verified evidence (its measurements), `rootline eventlog replay
    /// --json` output (PCRs), `rootline measure` or `reference record`
    /// output, a list of records, or an object of key to value(s).
    Import(ImportArgs),
    #[command(flatten)]
    Record(super::reference_record::Command),
}

#[derive(clap::Args)]
struct AddArgs {
    /// The claim it is compared with: snp.measurement, tdx.mr_td,
    /// tdx.rtmr0, sgx.mr_enclave, tpm.pcr.sha256.4...
    key: String,
    /// The accepted value: hex (any case, optional 0x), an integer, true or
    /// false.
    value: String,
    /// Where the value comes from (a build id, a file, a ticket).
    #[arg(long, default_value = "rootline reference add")]
    provenance: String,
    /// Stop accepting it after this instant (RFC 3339).
    #[arg(long, value_name = "RFC3339")]
    expires: Option<String>,
    /// Print the record as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct ListArgs {
    /// Only keys starting with this (e.g. tpm.pcr.sha256.).
    #[arg(long, value_name = "PREFIX")]
    key: Option<String>,
    /// Show retired and expired records too.
    #[arg(long)]
    history: bool,
    /// Print the records as a JSON array.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct DeleteArgs {
    /// The key.
    key: String,
    /// Only this value (all of the key's values when absent).
    value: Option<String>,
    /// Print {"retired": N} as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct ImportArgs {
    /// The JSON file.
    file: PathBuf,
    /// Provenance for values that do not carry one (default: the file name).
    #[arg(long)]
    provenance: Option<String>,
    /// Stop accepting the imported values after this instant (RFC 3339).
    #[arg(long, value_name = "RFC3339")]
    expires: Option<String>,
    /// Print the records added as JSON.
    #[arg(long)]
    json: bool,
}

/// The data directory: the flag, or $XDG_DATA_HOME/rootline, or
/// ~/.local/share/rootline.
pub(crate) fn data_dir(flag: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(d) = flag {
        return Ok(d.to_path_buf());
    }
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|x| !x.is_empty()) {
        return Ok(PathBuf::from(x).join("rootline"));
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(h) => Ok(PathBuf::from(h).join(".local/share/rootline")),
        None => bail!("no --data-dir given and neither XDG_DATA_HOME nor HOME is set"),
    }
}

fn parse_time(flag: &str, s: &Option<String>) -> anyhow::Result<Option<OffsetDateTime>> {
    s.as_deref()
        .map(|s| {
            OffsetDateTime::parse(s, &Rfc3339)
                .with_context(|| format!("{flag} {s:?} is not an RFC 3339 time"))
        })
        .transpose()
}

/// A command-line value: integers and booleans as such, anything else text.
fn parse_value(s: &str) -> Value {
    match s {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => match s.parse::<i64>() {
            // Digits only could be hex too; hex digests are longer than any
            // SVN, so short all-digit values are numbers.
            Ok(n) if s.len() <= 10 => Value::from(n),
            _ => Value::String(s.to_owned()),
        },
    }
}

fn print_records(records: &[ReferenceValue]) {
    for r in records {
        let v = match &r.value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let mut extra = String::new();
        if let Some(e) = r.expires {
            extra.push_str(&format!(
                ", expires {}",
                e.format(&Rfc3339).unwrap_or_default()
            ));
        }
        if let Some(t) = r.retired {
            extra.push_str(&format!(
                ", retired {}",
                t.format(&Rfc3339).unwrap_or_default()
            ));
        }
        println!(
            "{} = {v}  (v{}, {}, added {}{extra})",
            r.key,
            r.version,
            r.provenance,
            r.created.format(&Rfc3339).unwrap_or_default()
        );
    }
}

pub(crate) fn run(a: Args) -> anyhow::Result<u8> {
    if let Command::Record(c) = a.command {
        return super::reference_record::dispatch(c);
    }
    let dir = data_dir(a.data_dir.as_deref())?;
    let store = FileStore::in_dir(&dir);
    match a.command {
        Command::Add(x) => {
            // One vocabulary with the broker: a typo in the TEE, the claim
            // or the value's form is refused here rather than stored and
            // never matched.
            if let Err(e) =
                rootline_policy::vocabulary::check(&x.key, std::slice::from_ref(&x.value))
            {
                eprintln!("rootline: {e}");
                return Ok(crate::EXIT_USAGE);
            }
            let mut n = NewValue::new(&x.key, parse_value(&x.value), &x.provenance);
            n.expires = parse_time("--expires", &x.expires)?;
            let r = store.add(n)?;
            if x.json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                print_records(std::slice::from_ref(&r));
                if r.version > 1 {
                    println!(
                        "(version {} replaces the earlier record, kept as history)",
                        r.version
                    );
                }
            }
        }
        Command::List(x) => {
            let now = OffsetDateTime::now_utc();
            let records: Vec<ReferenceValue> = store
                .list()?
                .into_iter()
                .filter(|r| x.history || r.is_active(now))
                .filter(|r| x.key.as_deref().is_none_or(|k| r.key.starts_with(k)))
                .collect();
            if x.json {
                println!("{}", serde_json::to_string_pretty(&records)?);
            } else if records.is_empty() {
                println!("no reference values in {}", store.path().display());
            } else {
                print_records(&records);
            }
        }
        Command::Delete(x) => {
            let v = x.value.as_deref().map(parse_value);
            let n = store.delete(&x.key, v.as_ref())?;
            if x.json {
                println!("{}", serde_json::json!({"retired": n}));
            } else {
                println!("retired {n} value(s) of {} (kept in the history)", x.key);
            }
        }
        Command::Import(x) => {
            let bytes = super::read_input(&x.file)?;
            let json: Value = serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is not JSON", x.file.display()))?;
            let prov = x
                .provenance
                .clone()
                .unwrap_or_else(|| format!("imported from {}", x.file.display()));
            let expires = parse_time("--expires", &x.expires)?;
            let mut new = reference::from_json(&json, &prov)
                .with_context(|| format!("{}", x.file.display()))?;
            if new.is_empty() {
                bail!("{} holds no reference value", x.file.display());
            }
            for n in &mut new {
                if n.expires.is_none() {
                    n.expires = expires;
                }
            }
            let added = store.add_all(new)?;
            if x.json {
                println!("{}", serde_json::to_string_pretty(&added)?);
            } else {
                print_records(&added);
                println!(
                    "{} value(s) added to {}",
                    added.len(),
                    store.path().display()
                );
            }
        }
        Command::Record(_) => {}
    }
    Ok(0)
}

//! `rootline admin`: manage a broker's resources, resource policies and
//! reference values, and read its audit log, over the admin API.
//!
//! Each request carries a JWT minted here from the admin private key (valid
//! for one minute); the broker checks it against its configured public key.
//! `rootline admin keygen` makes the key pair. HTTP is a small blocking
//! client (ureq) over rustls on aws-lc-rs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _,
};
use rootline_broker::keys;
use serde_json::{Value, json};

use crate::{EXIT_REJECTED, EXIT_USAGE};

/// Flags of `rootline admin`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Broker base URL.
    #[arg(
        long,
        env = "ROOTLINE_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    url: String,
    /// Admin private key (PKCS#8 PEM, Ed25519 or P-256), as made by
    /// `rootline admin keygen`.
    #[arg(long, env = "ROOTLINE_ADMIN_KEY", value_name = "FILE", global = true)]
    key: Option<PathBuf>,
    /// CA certificate (PEM) to trust for an https broker, instead of the
    /// public web roots.
    #[arg(long, value_name = "FILE", global = true)]
    ca: Option<PathBuf>,
    /// Print the broker's JSON answer as it is.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Make an admin key pair: KEY (private, mode 0600) and KEY.pub (the
    /// public key to configure as the broker's admin_public_key).
    Keygen {
        /// Where to write the private key.
        out: PathBuf,
        /// Key type.
        #[arg(long, value_enum, default_value_t = KeyAlg::Ed25519)]
        alg: KeyAlg,
    },
    /// Resources (secrets) released to attested workloads.
    #[command(subcommand)]
    Resource(Resource),
    /// Named Rego resource policies (`data.policy.allow`).
    #[command(subcommand)]
    Policy(Policy),
    /// Reference values: accepted values of a claim for a TEE.
    #[command(subcommand)]
    Reference(Reference),
    /// Print a short-lived admin JWT: paste it into the broker's web view
    /// (`/ui/login`), or pass it as `Authorization: Bearer` yourself.
    Token {
        /// Its lifetime in seconds (the broker accepts at most 3600; a web
        /// view login lasts at most 900 and never past the token's expiry).
        #[arg(long, default_value_t = 900, value_parser = clap::value_parser!(i64).range(1..=3600))]
        ttl: i64,
    },
    /// The newest audit-log rows: every attestation, release and refusal.
    Audit {
        /// How many rows.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum KeyAlg {
    /// Ed25519 (EdDSA JWTs).
    Ed25519,
    /// ECDSA P-256 (ES256 JWTs).
    Es256,
}

#[derive(clap::Subcommand, Debug)]
enum Resource {
    /// Store a resource at REPOSITORY/TYPE/TAG (the path guests ask for as
    /// kbs:///REPOSITORY/TYPE/TAG).
    Set {
        /// REPOSITORY/TYPE/TAG.
        path: String,
        /// Read the value from this file.
        #[arg(long, conflicts_with = "value", required_unless_present = "value")]
        file: Option<PathBuf>,
        /// The value itself.
        #[arg(long)]
        value: Option<String>,
        /// The resource policy that guards it (the default policy releases
        /// only to an affirming appraisal).
        #[arg(long)]
        policy: Option<String>,
    },
    /// List resource paths and their policies (never values).
    List,
    /// Delete a resource.
    Delete {
        /// REPOSITORY/TYPE/TAG.
        path: String,
    },
}

#[derive(clap::Subcommand, Debug)]
enum Policy {
    /// Store a Rego policy (package policy, rule allow) under NAME.
    Set {
        /// Policy name (resources name it with --policy).
        name: String,
        /// The Rego file.
        file: PathBuf,
    },
    /// Print a policy's text.
    Get {
        /// Policy name (`default` for the built-in one).
        name: String,
    },
    /// List policy names.
    List,
    /// Delete a policy.
    Delete {
        /// Policy name.
        name: String,
    },
}

#[derive(clap::Subcommand, Debug)]
enum Reference {
    /// Set the accepted values of one claim.
    Set {
        /// A name for this reference value.
        name: String,
        /// KBS tee name: snp, tdx, sgx, tpm, rootline-sim...
        #[arg(long)]
        tee: String,
        /// Claim: for snp/tdx/sgx/tpm the rootline-policy key after the TEE
        /// (measurement, mr_td, pcr.sha256.4...); for the simulated TEE the
        /// claim name (measurement).
        #[arg(long)]
        claim: String,
        /// An accepted value (hex in lower case for byte claims); repeatable.
        #[arg(long = "value", required = true)]
        values: Vec<String>,
        /// Replace an existing reference value of the same name (its
        /// version goes up by one); without it, a different one is refused.
        #[arg(long)]
        replace: bool,
    },
    /// List reference values.
    List,
    /// Register what `rootline measure ... --json`, `rootline reference
    /// record --json`, `rootline verify --json` (its claims) or a reference
    /// file print: one reference value per key (`snp.measurement`,
    /// `tpm.pcr.sha256.4`...), named by the key, holding every value given
    /// for it. Each is checked by the broker like `set`.
    Import {
        /// The JSON file (any form `rootline reference import` reads).
        file: PathBuf,
        /// Replace reference values of the same names.
        #[arg(long)]
        replace: bool,
    },
    /// Delete a reference value.
    Delete {
        /// Its name.
        name: String,
    },
}

fn agent(ca: Option<&Path>) -> anyhow::Result<ureq::Agent> {
    // ureq is built without a bundled provider: aws-lc-rs is the one.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut tls = ureq::tls::TlsConfig::builder().provider(ureq::tls::TlsProvider::Rustls);
    if let Some(ca) = ca {
        let pem = std::fs::read(ca).with_context(|| format!("cannot read {}", ca.display()))?;
        let certs: Vec<_> = ureq::tls::parse_pem(&pem)
            .filter_map(|i| match i {
                Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                _ => None,
            })
            .collect();
        if certs.is_empty() {
            bail!("{} holds no certificate", ca.display());
        }
        tls = tls.root_certs(ureq::tls::RootCerts::Specific(Arc::new(certs)));
    }
    let cfg = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(30)))
        .tls_config(tls.build())
        .build();
    Ok(ureq::Agent::new_with_config(cfg))
}

struct Client {
    agent: ureq::Agent,
    base: String,
    pkcs8: Vec<u8>,
}

impl Client {
    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> anyhow::Result<(u16, Vec<u8>)> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let jwt = rootline_broker::admin::mint(&self.pkcs8, now, 60)?;
        let url = format!("{}{path}", self.base.trim_end_matches('/'));
        let auth = format!("Bearer {jwt}");
        let resp = match (method, body) {
            ("GET", _) => self.agent.get(&url).header("Authorization", &auth).call(),
            ("DELETE", _) => self
                .agent
                .delete(&url)
                .header("Authorization", &auth)
                .call(),
            ("PUT", Some(b)) => self
                .agent
                .put(&url)
                .header("Authorization", &auth)
                .send(&b[..]),
            (m, _) => bail!("unsupported method {m}"),
        };
        let mut resp = resp.with_context(|| format!("request to {url} failed"))?;
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(16 << 20)
            .read_to_vec()
            .context("reading the answer")?;
        Ok((status, body))
    }
}

fn exit_for(status: u16, body: &[u8]) -> u8 {
    if (200..300).contains(&status) {
        return 0;
    }
    let detail = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("detail").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    eprintln!("rootline: broker answered {status}: {detail}");
    if matches!(status, 401 | 403) {
        EXIT_REJECTED
    } else {
        EXIT_USAGE
    }
}

fn keygen(out: &Path, alg: KeyAlg) -> anyhow::Result<u8> {
    let rng = SystemRandom::new();
    let (pkcs8, spki) = match alg {
        KeyAlg::Ed25519 => {
            let doc = Ed25519KeyPair::generate_pkcs8(&rng)?;
            let kp = Ed25519KeyPair::from_pkcs8(doc.as_ref())?;
            (
                doc.as_ref().to_vec(),
                keys::ed25519_spki(kp.public_key().as_ref()),
            )
        }
        KeyAlg::Es256 => {
            let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)?;
            let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref())?;
            (
                doc.as_ref().to_vec(),
                keys::p256_spki(kp.public_key().as_ref()),
            )
        }
    };
    crate::cmd::serve::create_private(out, keys::to_pem("PRIVATE KEY", &pkcs8).as_bytes())?;
    let mut pub_path = out.as_os_str().to_owned();
    pub_path.push(".pub");
    let pub_path = PathBuf::from(pub_path);
    std::fs::write(&pub_path, keys::to_pem("PUBLIC KEY", &spki))
        .with_context(|| format!("cannot write {}", pub_path.display()))?;
    println!(
        "private key: {}\npublic key:  {}",
        out.display(),
        pub_path.display()
    );
    Ok(0)
}

/// Runs `rootline admin`.
pub(crate) fn run(a: Args) -> anyhow::Result<u8> {
    if let Command::Keygen { out, alg } = &a.command {
        return keygen(out, *alg);
    }
    let Some(key) = &a.key else {
        eprintln!("rootline: admin commands need --key FILE (or ROOTLINE_ADMIN_KEY)");
        return Ok(EXIT_USAGE);
    };
    let pem = std::fs::read(key).with_context(|| format!("cannot read {}", key.display()))?;
    let pkcs8 =
        keys::private_key_pem(&pem).with_context(|| format!("admin key {}", key.display()))?;
    if let Command::Token { ttl } = &a.command {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        println!("{}", rootline_broker::admin::mint(&pkcs8, now, *ttl)?);
        return Ok(0);
    }
    let c = Client {
        agent: agent(a.ca.as_deref())?,
        base: a.url.clone(),
        pkcs8,
    };
    if let Command::Reference(Reference::Import { file, replace }) = &a.command {
        return import_references(&a, &c, file, *replace);
    }
    let (status, body) = match &a.command {
        Command::Keygen { .. } | Command::Token { .. } => unreachable!("handled above"),
        Command::Reference(Reference::Import { .. }) => unreachable!("handled above"),
        Command::Resource(Resource::Set {
            path,
            file,
            value,
            policy,
        }) => {
            let data = match (file, value) {
                (Some(f), _) => {
                    std::fs::read(f).with_context(|| format!("cannot read {}", f.display()))?
                }
                (None, Some(v)) => v.clone().into_bytes(),
                (None, None) => bail!("give --file or --value"),
            };
            let q = policy
                .as_ref()
                .map(|p| format!("?policy={p}"))
                .unwrap_or_default();
            c.call(
                "PUT",
                &format!("/admin/v0/resources/{}{q}", path.trim_matches('/')),
                Some(data),
            )?
        }
        Command::Resource(Resource::List) => c.call("GET", "/admin/v0/resources", None)?,
        Command::Resource(Resource::Delete { path }) => c.call(
            "DELETE",
            &format!("/admin/v0/resources/{}", path.trim_matches('/')),
            None,
        )?,
        Command::Policy(Policy::Set { name, file }) => {
            let text =
                std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
            c.call("PUT", &format!("/admin/v0/policies/{name}"), Some(text))?
        }
        Command::Policy(Policy::Get { name }) => {
            c.call("GET", &format!("/admin/v0/policies/{name}"), None)?
        }
        Command::Policy(Policy::List) => c.call("GET", "/admin/v0/policies", None)?,
        Command::Policy(Policy::Delete { name }) => {
            c.call("DELETE", &format!("/admin/v0/policies/{name}"), None)?
        }
        Command::Reference(Reference::Set {
            name,
            tee,
            claim,
            values,
            replace,
        }) => {
            let body = json!({"tee": tee, "claim": claim, "values": values});
            c.call(
                "PUT",
                &format!(
                    "/admin/v0/reference-values/{name}{}",
                    if *replace { "?replace=true" } else { "" }
                ),
                Some(body.to_string().into_bytes()),
            )?
        }
        Command::Reference(Reference::List) => c.call("GET", "/admin/v0/reference-values", None)?,
        Command::Reference(Reference::Delete { name }) => c.call(
            "DELETE",
            &format!("/admin/v0/reference-values/{name}"),
            None,
        )?,
        Command::Audit { limit } => {
            c.call("GET", &format!("/admin/v0/audit?limit={limit}"), None)?
        }
    };
    let code = exit_for(status, &body);
    if code != 0 {
        return Ok(code);
    }
    print_answer(&a, &body);
    Ok(0)
}

/// `admin reference import`: the file's values grouped by key, one PUT per
/// key; stops at the first refusal, naming the key.
fn import_references(a: &Args, c: &Client, file: &Path, replace: bool) -> anyhow::Result<u8> {
    let bytes = super::read_input(file)?;
    let doc: Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not JSON", file.display()))?;
    let new = rootline_policy::reference::from_json(&doc, &file.display().to_string())
        .with_context(|| format!("{}", file.display()))?;
    let mut by_key: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for n in new {
        let v = rootline_policy::reference::normalize_value(&n.key, &n.value)
            .with_context(|| n.key.clone())?;
        let text = match v {
            Value::String(s) => s,
            other => other.to_string(),
        };
        let values = by_key.entry(n.key).or_default();
        if !values.contains(&text) {
            values.push(text);
        }
    }
    let mut done = Vec::new();
    for (key, values) in &by_key {
        let Some((tee, claim)) = key.split_once('.') else {
            bail!("{}: key {key:?} names no TEE", file.display());
        };
        // The broker names TEEs as guests do (kbs-types).
        let tee = match tee {
            "azure-snp" => "az-snp-vtpm",
            "azure-tdx" => "az-tdx-vtpm",
            other => other,
        };
        let body = json!({"tee": tee, "claim": claim, "values": values});
        let (status, answer) = c.call(
            "PUT",
            &format!(
                "/admin/v0/reference-values/{key}{}",
                if replace { "?replace=true" } else { "" }
            ),
            Some(body.to_string().into_bytes()),
        )?;
        let code = exit_for(status, &answer);
        if code != 0 {
            eprintln!(
                "rootline: stopped at {key} after importing {} of {}",
                done.len(),
                by_key.len()
            );
            return Ok(code);
        }
        done.push(serde_json::from_slice::<Value>(&answer).unwrap_or(Value::Null));
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&done)?);
    } else {
        for r in &done {
            println!(
                "{} (version {}): {} value(s)",
                r["name"].as_str().unwrap_or("?"),
                r["version"],
                r["values"].as_array().map_or(0, Vec::len)
            );
        }
    }
    Ok(0)
}

fn print_answer(a: &Args, body: &[u8]) {
    if a.json || body.is_empty() {
        if !body.is_empty() {
            println!("{}", String::from_utf8_lossy(body));
        }
        return;
    }
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        // Policy text.
        print!("{}", String::from_utf8_lossy(body));
        return;
    };
    match (&a.command, v) {
        (Command::Resource(Resource::List), Value::Array(rows)) => {
            for r in rows {
                let policy = r["policy"].as_str().unwrap_or("default");
                println!("{}\tpolicy {policy}", r["path"].as_str().unwrap_or("?"));
            }
        }
        (Command::Policy(Policy::List), Value::Array(rows)) => {
            for r in rows {
                println!("{}", r.as_str().unwrap_or("?"));
            }
        }
        (Command::Reference(Reference::List), Value::Array(rows)) => {
            for r in rows {
                let vals: Vec<&str> = r["values"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                println!(
                    "{}\t{} {} = {}",
                    r["name"].as_str().unwrap_or("?"),
                    r["tee"].as_str().unwrap_or("?"),
                    r["claim"].as_str().unwrap_or("?"),
                    vals.join(" | ")
                );
            }
        }
        (Command::Audit { .. }, Value::Array(rows)) => {
            for r in rows {
                let at = r["at"]
                    .as_i64()
                    .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
                    .and_then(|t| {
                        t.format(&time::format_description::well_known::Rfc3339)
                            .ok()
                    })
                    .unwrap_or_default();
                println!(
                    "{at}\t{}\t{}\t{}\t{}\tpolicy {}\t{}",
                    r["client"].as_str().unwrap_or("?"),
                    r["result"].as_str().unwrap_or("?"),
                    r["resource"].as_str().unwrap_or("?"),
                    r["evidence_digest"]
                        .as_str()
                        .map(|d| &d[..d.len().min(16)])
                        .unwrap_or("-"),
                    r["policy"].as_str().unwrap_or("?"),
                    r["reason"].as_str().unwrap_or(""),
                );
            }
        }
        (_, other) => println!("{other}"),
    }
}

//! `rootline sev`: the guest owner's side of an AMD SEV or SEV-ES launch
//! (docs/sev-launch.md), over `rootline-sev`.
//!
//! 1. `verify-chain`: the platform's certificates (PDH, PEK, OCA, CEK, ASK,
//!    ARK as `sevctl export --full` writes them) to AMD's pinned ARKs.
//! 2. `session`: a launch session with that platform's PDH: the GODH
//!    certificate and session blob for the host, and the session's keys kept
//!    owner-only for the next steps.
//! 3. `check`: the LAUNCH_MEASURE HMAC against the launch digests the owner
//!    expects (`rootline measure sev|sev-es`).
//! 4. `secret`: the same check, and only when it passes, the LAUNCH_SECRET
//!    packet that only that launch can open.
//!
//! Exit codes: 0 verified (and the packet printed), 1 the chain or the
//! measurement did not verify, 2 unreadable input or bad flags.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rootline_sev::{
    GuestPolicy, LaunchMeasurement, LaunchSession, PlatformChain, PlatformVersion, SecretTable,
    TrustAnchors,
};
use serde_json::json;

use super::read_input;
use crate::EXIT_REJECTED;

/// Subcommands of `rootline sev`.
#[derive(clap::Subcommand)]
pub(crate) enum Command {
    /// Verify a platform's certificate chain (`sevctl export --full`) to
    /// AMD's pinned ARKs (Naples, Rome, Milan, Genoa, Turin).
    VerifyChain(ChainArgs),
    /// Start a launch session with a verified platform: writes godh.b64 and
    /// session.b64 for QEMU (`-object sev-guest,dh-cert-file=...,
    /// session-file=...,policy=...`) and session.key (owner-only: the
    /// session's keys) for `check` and `secret`.
    Session(SessionArgs),
    /// Check the platform's LAUNCH_MEASURE (`query-sev-launch-measure`)
    /// against the launch digests you expect.
    Check(CheckArgs),
    /// Check the measurement as `check` does and, only if it holds, print
    /// the LAUNCH_SECRET packet (header and secret, base64) for QEMU's
    /// `sev-inject-launch-secret`.
    Secret(SecretArgs),
}

/// The platform chain.
#[derive(clap::Args)]
pub(crate) struct ChainArgs {
    /// The chain `sevctl export --full` writes: PDH, PEK, OCA, CEK, ASK, ARK.
    chain: PathBuf,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// Flags of `rootline sev session`.
#[derive(clap::Args)]
pub(crate) struct SessionArgs {
    /// The platform's chain (`sevctl export --full`).
    #[arg(long, value_name = "FILE")]
    chain: PathBuf,
    /// The guest policy in hex (bit 0 no debug, bit 1 no key sharing, bit 2
    /// SEV-ES, ...): 0x1 for SEV, 0x5 for SEV-ES without debugging.
    #[arg(long, value_name = "HEX")]
    policy: String,
    /// Directory for godh.b64, session.b64 and session.key.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// What `check` and `secret` need.
#[derive(clap::Args)]
pub(crate) struct CheckArgs {
    /// The session.key `rootline sev session` wrote.
    #[arg(long, value_name = "FILE")]
    session: PathBuf,
    /// The LAUNCH_MEASURE blob as QEMU reports it (base64 of MEASURE ||
    /// MNONCE, 48 bytes).
    #[arg(long, value_name = "BASE64")]
    measurement: String,
    /// The firmware's API major version (`query-sev`: api-major).
    #[arg(long, value_name = "N")]
    api_major: u8,
    /// The firmware's API minor version (`query-sev`: api-minor).
    #[arg(long, value_name = "N")]
    api_minor: u8,
    /// The firmware build (`query-sev`: build-id).
    #[arg(long, value_name = "N")]
    build: u8,
    /// An acceptable launch digest in hex (`rootline measure sev|sev-es`);
    /// repeat for several.
    #[arg(long, value_name = "HEX", required = true)]
    digest: Vec<String>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// Flags of `rootline sev secret`.
#[derive(clap::Args)]
pub(crate) struct SecretArgs {
    #[command(flatten)]
    check: CheckArgs,
    /// A secret as GUID=FILE (the GUID under which the guest finds it in
    /// /sys/kernel/security/secrets/coco/); repeat for several.
    #[arg(long, value_name = "GUID=FILE", required = true)]
    secret: Vec<String>,
}

pub(crate) fn run(c: Command) -> anyhow::Result<u8> {
    match c {
        Command::VerifyChain(a) => verify_chain(&a),
        Command::Session(a) => session(&a),
        Command::Check(a) => check(&a, None),
        Command::Secret(a) => check(&a.check, Some(&a.secret)),
    }
}

fn verify_chain(a: &ChainArgs) -> anyhow::Result<u8> {
    let chain = PlatformChain::parse_full(&read_input(&a.chain)?)
        .with_context(|| format!("{} is not a full SEV platform chain", a.chain.display()))?;
    let anchors = TrustAnchors::amd()?;
    match chain.verify(&anchors) {
        Ok(p) => {
            let (major, minor) = p.api_version();
            if a.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({
                        "verified": true,
                        "root": p.root(),
                        "api_version": format!("{major}.{minor}"),
                    }))?
                );
            } else {
                println!(
                    "platform chain verified to AMD's {} ARK (firmware API {major}.{minor})",
                    p.root()
                );
            }
            Ok(0)
        }
        Err(e) => {
            if a.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &json!({"verified": false, "error": e.to_string()})
                    )?
                );
            } else {
                eprintln!("rootline: platform chain REJECTED: {e}");
            }
            Ok(EXIT_REJECTED)
        }
    }
}

fn parse_hex_u32(s: &str, flag: &str) -> anyhow::Result<u32> {
    let t = s.trim();
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    u32::from_str_radix(t, 16).with_context(|| format!("{flag} {s:?} is not hex"))
}

fn session(a: &SessionArgs) -> anyhow::Result<u8> {
    let policy = GuestPolicy(parse_hex_u32(&a.policy, "--policy")?);
    let chain = PlatformChain::parse_full(&read_input(&a.chain)?)
        .with_context(|| format!("{} is not a full SEV platform chain", a.chain.display()))?;
    let platform = match chain.verify(&TrustAnchors::amd()?) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("rootline: platform chain REJECTED, no session started: {e}");
            return Ok(EXIT_REJECTED);
        }
    };
    let (session, start) = LaunchSession::start(&platform, policy)?;
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;
    let godh = a.out.join("godh.b64");
    let blob = a.out.join("session.b64");
    let key = a.out.join("session.key");
    std::fs::write(&godh, STANDARD.encode(&start.godh_cert))
        .with_context(|| format!("cannot write {}", godh.display()))?;
    std::fs::write(&blob, STANDARD.encode(start.session))
        .with_context(|| format!("cannot write {}", blob.display()))?;
    super::write_private(&key, session.to_bytes().as_ref())?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "policy": format!("{:#x}", start.policy.0),
                "godh": godh.display().to_string(),
                "session": blob.display().to_string(),
                "session_key": key.display().to_string(),
                "root": platform.root(),
            }))?
        );
    } else {
        println!(
            "session started with a platform verified to AMD's {} ARK",
            platform.root()
        );
        println!(
            "  for the host: {} and {} (policy {:#x})",
            godh.display(),
            blob.display(),
            start.policy.0
        );
        println!(
            "  kept here, as secret as the keys: {} (delete it after `rootline sev secret`)",
            key.display()
        );
    }
    Ok(0)
}

fn check(a: &CheckArgs, secrets: Option<&[String]>) -> anyhow::Result<u8> {
    let session = LaunchSession::from_bytes(&read_input(&a.session)?)
        .with_context(|| format!("{} is not a session.key", a.session.display()))?;
    let blob = STANDARD
        .decode(a.measurement.trim())
        .context("--measurement is not base64")?;
    let measurement = LaunchMeasurement::parse(&blob).context("--measurement")?;
    let mut digests = Vec::new();
    for d in &a.digest {
        let bytes =
            rootline_core::from_hex(d).with_context(|| format!("--digest {d:?} is not hex"))?;
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| anyhow::anyhow!("--digest {d:?} is not 32 bytes (64 hex digits)"))?;
        digests.push(arr);
    }
    // Read every secret before the check: a bad file must not cost the
    // session (the check consumes it).
    let mut table = SecretTable::default();
    for s in secrets.unwrap_or_default() {
        let (guid, file) = s
            .split_once('=')
            .with_context(|| format!("--secret {s:?} is not GUID=FILE"))?;
        let guid = guid
            .parse()
            .map_err(|e| anyhow::anyhow!("--secret {s:?}: {e}"))?;
        table
            .insert(guid, &read_input(Path::new(file))?)
            .with_context(|| format!("--secret {s:?}"))?;
    }
    let version = PlatformVersion {
        api_major: a.api_major,
        api_minor: a.api_minor,
        build: a.build,
    };
    let verified = match session.verify_measurement(version, &measurement, &digests) {
        Ok(v) => v,
        Err(e) => {
            if a.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &json!({"verified": false, "error": e.to_string()})
                    )?
                );
            } else {
                eprintln!("rootline: launch measurement REJECTED, no secret released: {e}");
            }
            return Ok(EXIT_REJECTED);
        }
    };
    let digest = hex::encode(verified.digest());
    let packet = match secrets {
        Some(_) => Some(verified.launch_secret(&table)?),
        None => None,
    };
    if a.json {
        let mut out = json!({"verified": true, "digest": digest, "firmware": version.to_string()});
        if let Some(p) = &packet {
            out["packet_header"] = json!(STANDARD.encode(p.header));
            out["secret"] = json!(STANDARD.encode(&p.payload));
        }
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("launch measurement verified: digest {digest}, firmware {version}");
        if let Some(p) = &packet {
            println!("packet-header: {}", STANDARD.encode(p.header));
            println!("secret: {}", STANDARD.encode(&p.payload));
        }
    }
    Ok(0)
}

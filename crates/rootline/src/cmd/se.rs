//! `rootline se`: the relying party's side of IBM Z Secure Execution
//! attestation (docs/se.md), over `rootline-se`.
//!
//! SE attestation starts on the relying party's machine, not the guest's:
//! `request` verifies the host-key documents of the IBM Z machines the guest
//! may run on (to IBM's host-key signing key, its chain to a root you give,
//! and CRLs you give: nothing is downloaded), builds the attestation request
//! (ARCB) only their Ultravisors can open, and keeps the request secret (the
//! measurement key and nonce) that `rootline verify --tee se --collateral`
//! needs to check the guest's answer.
//!
//! Exit codes: 0 request written, 1 a host-key document or the IBM chain did
//! not verify (nothing written), 2 unreadable input or bad flags.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use rootline_se::{AttestationRequest, Flags, HkdVerifier, Pki};
use serde_json::json;
use time::OffsetDateTime;

use super::read_input;
use crate::EXIT_REJECTED;

/// Subcommands of `rootline se`.
#[derive(clap::Subcommand)]
pub(crate) enum Command {
    /// Create an attestation request for the host keys given, after
    /// verifying their documents to IBM's signing key and your root: writes
    /// the request (the ARCB, as `pv attest create` writes it, for the
    /// guest's `pv attest perform` or its attester) and the request secret
    /// (owner-only) for `rootline verify --tee se EVIDENCE --collateral
    /// SECRET`.
    Request(RequestArgs),
}

/// Flags of `rootline se request`.
#[derive(clap::Args)]
pub(crate) struct RequestArgs {
    /// A host-key document (PEM or DER) of a machine the guest may run on;
    /// repeat for several (one key slot each).
    #[arg(long, value_name = "FILE", required = true)]
    hkd: Vec<PathBuf>,
    /// IBM's host-key signing key certificate (PEM or DER), the issuer of
    /// the host-key documents.
    #[arg(long, value_name = "FILE")]
    ibm_signing_key: PathBuf,
    /// An intermediate CA between the signing key and the root (DigiCert's
    /// code-signing CA for IBM's); repeat for several.
    #[arg(long, value_name = "FILE", required = true)]
    intermediate: Vec<PathBuf>,
    /// A trusted root (PEM or DER); repeat for several. The chain must end
    /// at one of these.
    #[arg(long, value_name = "FILE", required = true)]
    root: Vec<PathBuf>,
    /// A CRL (PEM or DER): at least the signing key's (it covers the
    /// host-key documents) and one per certificate above it; repeat.
    #[arg(long, value_name = "FILE", required = true)]
    crl: Vec<PathBuf>,
    /// The SE header of the image you expect (`pvextract-hdr` output): its
    /// tag and list digests are printed, to compare with the verified
    /// claims or to store as reference values (`se.tag`).
    #[arg(long, value_name = "SE_HDR")]
    image_header: Option<PathBuf>,
    /// Also ask for the guest's secret-store hash (64 bytes of additional data).
    #[arg(long)]
    secret_store_hash: bool,
    /// Also ask for the firmware state (320 bytes of additional data).
    #[arg(long)]
    firmware_state: bool,
    /// Judge certificates and CRLs at this instant (RFC 3339) instead of now.
    #[arg(long, value_name = "RFC3339")]
    at: Option<String>,
    /// Where to write the attestation request (binary ARCB).
    #[arg(short = 'o', long, value_name = "FILE")]
    output: PathBuf,
    /// Where to write the request secret (JSON: measurement key, nonce,
    /// flags, host-key hashes), readable by the owner only. Whoever holds it
    /// can forge answers: keep it on the relying party's machine.
    #[arg(long, value_name = "FILE")]
    secret: PathBuf,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(c: Command) -> anyhow::Result<u8> {
    match c {
        Command::Request(a) => request(&a),
    }
}

/// Adds every certificate or CRL in `path` to `pki`.
fn add(pki: &mut Pki, path: &Path) -> anyhow::Result<()> {
    pki.add(&read_input(path)?)
        .with_context(|| format!("{}", path.display()))?;
    Ok(())
}

fn request(a: &RequestArgs) -> anyhow::Result<u8> {
    let at = match &a.at {
        Some(s) => OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            .with_context(|| {
                format!("--at {s:?} is not an RFC 3339 time such as 2025-07-04T00:00:00Z")
            })?,
        None => OffsetDateTime::now_utc(),
    }
    .unix_timestamp();
    let mut pki = Pki::new();
    add(&mut pki, &a.ibm_signing_key)?;
    for p in &a.intermediate {
        add(&mut pki, p)?;
    }
    for p in &a.crl {
        add(&mut pki, p)?;
    }
    let mut roots = Pki::new();
    for p in &a.root {
        add(&mut roots, p)?;
    }
    let hdr = match &a.image_header {
        Some(p) => Some(
            rootline_se::hdr_tags_from_se_header(&read_input(p)?)
                .with_context(|| format!("{} is not an SE header", p.display()))?,
        ),
        None => None,
    };
    let hkds = a
        .hkd
        .iter()
        .map(|p| Ok((p, read_input(p)?)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let rejected = |what: String| -> anyhow::Result<u8> {
        if a.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({"created": false, "error": what}))?
            );
        } else {
            eprintln!("rootline: {what}; no request written");
        }
        Ok(EXIT_REJECTED)
    };
    let verifier = match HkdVerifier::new(roots.certs(), &pki, at) {
        Ok(v) => v,
        Err(e) => return rejected(format!("IBM signing key REJECTED: {e}")),
    };
    let mut keys = Vec::new();
    for (p, bytes) in &hkds {
        match verifier.verify(bytes, at) {
            Ok(k) => keys.push(k),
            Err(e) => {
                return rejected(format!("host-key document {} REJECTED: {e}", p.display()));
            }
        }
    }
    let mut flags = Flags::TRUSTEE;
    if a.secret_store_hash {
        flags = flags.union(Flags::SECRET_STORE_HASH);
    }
    if a.firmware_state {
        flags = flags.union(Flags::FIRMWARE_STATE);
    }
    let req = AttestationRequest::new(&keys, flags).context("building the attestation request")?;
    // The secret first: a request whose secret was lost is useless, and
    // the request alone reveals nothing.
    super::write_private(&a.secret, req.secret().to_json().as_bytes())?;
    std::fs::write(&a.output, req.arcb())
        .with_context(|| format!("cannot write {}", a.output.display()))?;
    let phkhs: Vec<String> = keys.iter().map(|k| hex::encode(k.phkh())).collect();
    let image = hdr.map(|t| {
        let part = |from: usize, to: usize| hex::encode(t.get(from..to).unwrap_or_default());
        json!({
            "tag": part(192, 208),
            "page_list_digest": part(0, 64),
            "address_list_digest": part(64, 128),
            "tweak_list_digest": part(128, 192),
        })
    });
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "created": true,
                "request": a.output.display().to_string(),
                "secret": a.secret.display().to_string(),
                "flags": flags.0,
                "host_key_hashes": phkhs,
                "image": image,
            }))?
        );
    } else {
        println!(
            "attestation request for {} host key(s) written to {}; request secret (keep it) to {}",
            keys.len(),
            a.output.display(),
            a.secret.display()
        );
        for h in &phkhs {
            println!("  host key hash {h}");
        }
        if let Some(serde_json::Value::Object(m)) = &image {
            println!("expected image (the se.* claims a verified answer must show):");
            for (k, v) in m {
                println!("  {k}: {}", v.as_str().unwrap_or_default());
            }
        }
        println!(
            "verify the guest's answer with: rootline verify --tee se EVIDENCE --collateral {}",
            a.secret.display()
        );
    }
    Ok(0)
}

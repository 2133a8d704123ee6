//! `rootline get-resource kbs:///REPO/TYPE/TAG`: attest, fetch one resource,
//! decrypt it with the key that was attested, and write it out.

use std::io::Write as _;
use std::path::PathBuf;

use serde_json::json;

use super::attest::{TeeArgs, refused};
use crate::EXIT_USAGE;

/// Flags of `rootline get-resource`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The resource: kbs:///REPOSITORY/TYPE/TAG (or REPOSITORY/TYPE/TAG).
    #[arg(value_name = "URI")]
    uri: String,
    #[command(flatten)]
    tee: TeeArgs,
    /// Write the secret to this file (mode 0600) instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Print one JSON object: {"resource", "bytes", "base64"} (or "written" with -o).
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(a: Args) -> anyhow::Result<u8> {
    let path = match rootline_attester::kbs::resource_path(&a.uri) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("rootline: error: {e}");
            return Ok(EXIT_USAGE);
        }
    };
    let client = a.tee.client()?;
    let mut attester = match a.tee.attester() {
        Ok(x) => x,
        Err(e) => {
            eprintln!("rootline: error: {e:#}");
            return Ok(EXIT_USAGE);
        }
    };
    let session = match a.tee.handshake(&client, attester.as_mut())? {
        Ok(s) => s,
        Err(e) => return refused(e),
    };
    let secret = match client.get_resource(&session, &path) {
        Ok(s) => s,
        Err(e) => return refused(e),
    };
    if let Some(out) = &a.output {
        super::write_private(out, &secret)?;
    }
    if a.json {
        let mut v = json!({"resource": path, "bytes": secret.len()});
        match &a.output {
            Some(o) => v["written"] = o.display().to_string().into(),
            None => v["base64"] = rootline_attester::kbs::base64(&secret).into(),
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else if a.output.is_none() {
        std::io::stdout().write_all(&secret)?;
    } else {
        eprintln!("wrote {} bytes of {path}", secret.len());
    }
    Ok(0)
}

//! `rootline attest`: run the KBS handshake from this machine's TEE and show
//! the token the broker issued.
//!
//! Also home of the flags every attester command shares ([`TeeArgs`]): which
//! TEE to take evidence from and how to reach it, and how to trust the
//! broker's TLS certificate.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use rootline_attester::kbs::KbsClient;
use rootline_attester::sev_guest::SevGuestAttester;
use rootline_attester::sim::SimAttester;
use rootline_attester::tpm::{KeyAlg, Tcti};
use rootline_attester::tsm::{Provider, TsmAttester};
use rootline_attester::{Attester, evidence::TpmAttester};
use rootline_core::HashAlg;
use serde_json::json;

use crate::{EXIT_REJECTED, EXIT_USAGE};

/// Evidence sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum TeeChoice {
    /// Find the TEE of this machine: /dev/sev-guest, /dev/tdx_guest, then /dev/tpmrm0.
    Auto,
    /// A TPM 2.0 (or swtpm, see --tcti): quotes of PCRs with an event log.
    Tpm,
    /// AMD SEV-SNP: configfs-tsm, or /dev/sev-guest when configfs-tsm is absent.
    Snp,
    /// Intel TDX: configfs-tsm quote with the CCEL event log.
    Tdx,
    /// The simulated P-384 TEE (tests and load; a broker trusts it only when configured).
    Sim,
    /// INSECURE: Trustee's unsigned sample TEE, as guest-components' sample
    /// attester sends it. Only a broker in insecure test mode (rootline
    /// `insecure_sample_tee`, or a Trustee KBS) accepts it; for trying the
    /// protocol on a machine without a TEE.
    Sample,
}

/// Flags shared by the attester commands.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct TeeArgs {
    /// The broker: its base URL (http://127.0.0.1:8080), or a byte stream
    /// carrying HTTP/1.1 for a guest without a network:
    /// kbs+serial:///dev/virtio-ports/NAME (a virtio-serial port the host
    /// bridges to the broker) or kbs+unix:///PATH (a unix socket).
    #[arg(long, value_name = "URL", env = "ROOTLINE_KBS")]
    pub(crate) kbs: String,
    /// Where the evidence comes from.
    #[arg(long, value_enum, default_value_t = TeeChoice::Auto)]
    pub(crate) tee: TeeChoice,
    /// PEM CA certificate(s) to trust for an https broker (default: the Mozilla roots).
    #[arg(long, value_name = "FILE")]
    pub(crate) cacert: Option<PathBuf>,
    /// TPM: the TCTI, e.g. device:/dev/tpmrm0 or swtpm:path=/run/swtpm/sock
    /// (default: $TPM2TOOLS_TCTI, then /dev/tpmrm0).
    #[arg(long, value_name = "TCTI")]
    pub(crate) tcti: Option<String>,
    /// TPM: EK and AK algorithm.
    #[arg(long, value_name = "rsa|ecc", default_value = "ecc")]
    pub(crate) key_alg: String,
    /// TPM: keep the AK here (ak.pub, ak.priv) so its identity survives runs.
    #[arg(long, value_name = "DIR")]
    pub(crate) ak_dir: Option<PathBuf>,
    /// TPM: PCRs to quote, BANK:LIST[+BANK:LIST], e.g. sha256:0-9,14+sha384:0.
    #[arg(long, value_name = "SELECTION", default_value = "sha256:0-9,14")]
    pub(crate) pcrs: String,
    /// TPM: the event log to send (default: the kernel's
    /// /sys/kernel/security/tpm0/binary_bios_measurements when present).
    #[arg(long, value_name = "FILE")]
    pub(crate) eventlog: Option<PathBuf>,
    /// TPM: prove the AK to the broker by credential activation against the
    /// TPM's EK certificate (POST /kbs/v0/tpm/activate before /attest);
    /// brokers that trust EK CAs (tpm_ek_roots) require it.
    #[arg(long)]
    pub(crate) tpm_activate: bool,
    /// Simulated TEE: its root key (P-384 PKCS#8, DER or PEM).
    #[arg(long, value_name = "FILE")]
    pub(crate) sim_key: Option<PathBuf>,
    /// Simulated TEE: the measurement it reports (48 bytes, hex).
    #[arg(long, value_name = "HEX")]
    pub(crate) sim_measurement: Option<String>,
}

/// Flags of `rootline attest`.
#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    tee: TeeArgs,
    /// Print one JSON object: {"tee", "token", "claims"}.
    #[arg(long)]
    json: bool,
}

/// Parses `sha256:0-9,14+sha384:0`.
pub(crate) fn parse_selection(s: &str) -> anyhow::Result<Vec<(HashAlg, Vec<u8>)>> {
    let mut out = Vec::new();
    for part in s.split('+') {
        let (bank, list) = part
            .split_once(':')
            .with_context(|| format!("PCR selection {part:?} is not BANK:LIST"))?;
        let alg = HashAlg::from_name(bank).with_context(|| format!("unknown PCR bank {bank:?}"))?;
        let mut idx = Vec::new();
        for item in list.split(',') {
            let (a, b) = item.split_once('-').unwrap_or((item, item));
            let (a, b): (u8, u8) = (
                a.trim().parse().with_context(|| format!("PCR {a:?}"))?,
                b.trim().parse().with_context(|| format!("PCR {b:?}"))?,
            );
            if a > b || b > 23 {
                bail!("PCR range {item:?} (PCRs are 0-23)");
            }
            idx.extend(a..=b);
        }
        out.push((alg, idx));
    }
    Ok(out)
}

/// A PKCS#8 key from DER or PEM.
fn pkcs8(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    let text = String::from_utf8_lossy(bytes);
    if let Some(start) = text.find("-----BEGIN PRIVATE KEY-----") {
        let body: String = text[start + 27..]
            .lines()
            .take_while(|l| !l.starts_with("-----END"))
            .collect();
        use base64::Engine as _;
        return base64::engine::general_purpose::STANDARD
            .decode(body.trim())
            .context("PEM private key is not base64");
    }
    Ok(bytes.to_vec())
}

impl TeeArgs {
    /// The client for `--kbs`.
    pub(crate) fn client(&self) -> anyhow::Result<KbsClient> {
        let ca = match &self.cacert {
            Some(p) => Some(super::read_input(p)?),
            None => None,
        };
        Ok(KbsClient::for_url(&self.kbs, ca.as_deref())?)
    }

    /// The handshake: with TPM credential activation when --tpm-activate
    /// is given (then the evidence source must be the TPM), else the plain one.
    pub(crate) fn handshake(
        &self,
        client: &KbsClient,
        attester: &mut dyn Attester,
    ) -> anyhow::Result<Result<rootline_attester::kbs::Session, rootline_attester::Error>> {
        if !self.tpm_activate {
            return Ok(client.attest(attester));
        }
        if attester.tee() != "tpm" {
            bail!("--tpm-activate needs TPM evidence (--tee tpm)");
        }
        rootline_attester::tpm::require()?;
        let tcti = match &self.tcti {
            Some(t) => t.parse::<Tcti>()?,
            None => Tcti::from_env()?,
        };
        let mut a = TpmAttester::new(tcti);
        a.alg = self.key_alg.parse::<KeyAlg>()?;
        a.selection = parse_selection(&self.pcrs)?;
        a.eventlog = self.eventlog.clone();
        Ok(client.attest_tpm_activated(&a).map(|(s, _)| s))
    }

    /// The evidence source chosen by the flags.
    pub(crate) fn attester(&self) -> anyhow::Result<Box<dyn Attester>> {
        let tee = match self.tee {
            TeeChoice::Auto => detect()?,
            t => t,
        };
        Ok(match tee {
            TeeChoice::Tpm => {
                // Before the handshake: a build without the TPM backend
                // says so instead of asking the broker for a nonce first.
                rootline_attester::tpm::require()?;
                let tcti = match &self.tcti {
                    Some(t) => t.parse::<Tcti>()?,
                    None => Tcti::from_env()?,
                };
                let mut a = TpmAttester::new(tcti);
                a.alg = self.key_alg.parse::<KeyAlg>()?;
                a.selection = parse_selection(&self.pcrs)?;
                a.eventlog = self.eventlog.clone();
                a.ak_dir = self.ak_dir.clone();
                Box::new(a)
            }
            TeeChoice::Snp => {
                let tsm = TsmAttester::kernel(Provider::Snp);
                if tsm.tsm.available() {
                    Box::new(tsm)
                } else {
                    Box::new(SevGuestAttester::open().context(
                        "neither configfs-tsm (/sys/kernel/config/tsm/report) nor /dev/sev-guest is usable",
                    )?)
                }
            }
            TeeChoice::Tdx => Box::new(TsmAttester::kernel(Provider::Tdx)),
            TeeChoice::Sim => {
                let path = self
                    .sim_key
                    .as_ref()
                    .context("--tee sim needs --sim-key (the P-384 root the broker trusts)")?;
                let key = pkcs8(&super::read_input(path)?)?;
                let mut m = [0u8; 48];
                if let Some(h) = &self.sim_measurement {
                    let b = rootline_core::from_hex(h).context("--sim-measurement is not hex")?;
                    if b.len() != 48 {
                        bail!("--sim-measurement must be 48 bytes, got {}", b.len());
                    }
                    m.copy_from_slice(&b);
                }
                Box::new(SimAttester::from_pkcs8(&key, m)?)
            }
            TeeChoice::Sample => {
                eprintln!(
                    "rootline: --tee sample: unsigned evidence; only a broker in insecure test mode accepts it"
                );
                Box::new(rootline_attester::evidence::SampleAttester)
            }
            TeeChoice::Auto => bail!("no TEE detected"),
        })
    }
}

fn detect() -> anyhow::Result<TeeChoice> {
    let has = |p: &str| std::path::Path::new(p).exists();
    if has("/dev/sev-guest") {
        Ok(TeeChoice::Snp)
    } else if has("/dev/tdx_guest") {
        Ok(TeeChoice::Tdx)
    } else if has("/dev/tpmrm0") {
        Ok(TeeChoice::Tpm)
    } else {
        bail!(
            "no TEE found on this machine (no /dev/sev-guest, /dev/tdx_guest or /dev/tpmrm0): pass --tee (tpm with --tcti for swtpm, or sim)"
        )
    }
}

/// Maps a broker's refusal to exit 1 with its reason; other errors stay errors.
pub(crate) fn refused(e: rootline_attester::Error) -> anyhow::Result<u8> {
    match e.status() {
        Some(400 | 401 | 403 | 404) => {
            eprintln!("rootline: refused: {e}");
            Ok(EXIT_REJECTED)
        }
        _ => Err(e.into()),
    }
}

pub(crate) fn run(a: Args) -> anyhow::Result<u8> {
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
    let claims = session.claims()?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "tee": attester.tee(),
                "token": session.token,
                "claims": claims,
            }))?
        );
    } else {
        let status = claims
            .pointer("/submods/cpu0/ear.status")
            .and_then(|v| v.as_str())
            .unwrap_or("absent");
        println!(
            "attested with {} evidence: ear.status {status}",
            attester.tee()
        );
        if let Some(r) = claims
            .pointer("/submods/cpu0/rootline.reasons")
            .and_then(|v| v.as_array())
        {
            for x in r.iter().filter_map(|x| x.as_str()) {
                println!("  reason: {x}");
            }
        }
        println!("token: {}", session.token);
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selections() {
        let s = parse_selection("sha256:0-3,7+sha384:9").unwrap();
        assert_eq!(s[0], (HashAlg::SHA256, vec![0, 1, 2, 3, 7]));
        assert_eq!(s[1], (HashAlg::SHA384, vec![9]));
        for bad in ["sha256", "md5:1", "sha256:3-1", "sha256:24", "sha256:x"] {
            assert!(parse_selection(bad).is_err(), "{bad}");
        }
    }
}

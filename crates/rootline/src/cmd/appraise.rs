//! `rootline appraise`: verify evidence, appraise it with a Rego policy
//! against reference values, and sign the result as an EAR token.
//!
//! The evidence flags are `rootline verify`'s (same names, same meaning); the
//! policy is the shipped strict default for the evidence kind unless
//! `--policy` gives another. Exit codes: 0 affirming, 1 anything else
//! (warning, contraindicated, none, evidence rejected), 2 unreadable input,
//! an unloadable policy or bad flags.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use rootline_core::TeeKind;
use rootline_policy::reference::{self, ReferenceValues};
use rootline_policy::{
    Appraiser, CompiledPolicy, PolicySet, SigningKey, TokenOptions, token::DEFAULT_TTL_SECS,
};
use rootline_verifier::{Collateral, Extra, Outcome, Request, Verified};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::read_input;
use crate::{EXIT_REJECTED, EXIT_USAGE};

/// What evidence is judged against: collateral, the instant, and the trust
/// anchors beside the pinned vendor roots. Defined once, for `verify`,
/// `appraise` and `bench verify`.
#[derive(clap::Args)]
pub(crate) struct TrustArgs {
    /// A collateral file, recognised by content: PEM/DER certificates and
    /// chains, CRLs, dcap-qvl collateral JSON, Intel PCS TCB info or QE
    /// identity JSON, CCA trust anchors. Repeat for several.
    #[arg(long, value_name = "FILE")]
    pub(crate) collateral: Vec<PathBuf>,
    /// Judge certificates, CRLs and TCB info at this instant (RFC 3339,
    /// e.g. 2025-07-04T00:00:00Z) instead of now.
    #[arg(long, value_name = "RFC3339")]
    pub(crate) at: Option<String>,
    /// Also trust this self-signed certificate (PEM or DER) as an AMD root
    /// key, beside AMD's pinned ARKs: a private PKI, or a test's. Repeatable.
    #[arg(long, value_name = "FILE")]
    pub(crate) snp_trust_anchor: Vec<PathBuf>,
    /// Anchor TDX and SGX collateral at this self-signed certificate (PEM or
    /// DER) instead of Intel's pinned SGX Root CA.
    #[arg(long, value_name = "FILE")]
    pub(crate) dcap_trust_anchor: Option<PathBuf>,
    /// Trust this Arm CCA platform key (a CPAK trust-anchor JSON: a JWK, a
    /// list, or a Veraison/Trustee store). Repeatable; a CCA token verifies
    /// only under one (as --collateral works too).
    #[arg(long, value_name = "FILE")]
    pub(crate) cca_trust_anchor: Vec<PathBuf>,
}

impl TrustArgs {
    /// The verifier these flags describe: the pinned vendor roots plus the
    /// trust anchors given.
    pub(crate) fn verifier(&self) -> anyhow::Result<rootline_verifier::Verifier> {
        let mut v = rootline_verifier::Verifier::pinned();
        for p in &self.snp_trust_anchor {
            v = v
                .with_snp_root(&read_input(p)?)
                .map_err(|e| anyhow::anyhow!("--snp-trust-anchor {}: {e}", p.display()))?;
        }
        if let Some(p) = &self.dcap_trust_anchor {
            v = v
                .with_dcap_root(&read_input(p)?)
                .map_err(|e| anyhow::anyhow!("--dcap-trust-anchor {}: {e}", p.display()))?;
        }
        for p in &self.cca_trust_anchor {
            v = v
                .with_cca_anchors(&read_input(p)?)
                .map_err(|e| anyhow::anyhow!("--cca-trust-anchor {}: {e}", p.display()))?;
        }
        Ok(v)
    }

    /// `--at`, parsed.
    pub(crate) fn at(&self) -> anyhow::Result<Option<OffsetDateTime>> {
        self.at
            .as_deref()
            .map(|s| {
                OffsetDateTime::parse(s, &Rfc3339).with_context(|| {
                    format!("--at {s:?} is not an RFC 3339 time such as 2025-07-04T00:00:00Z")
                })
            })
            .transpose()
    }

    /// The `--collateral` files, read.
    pub(crate) fn collateral(&self) -> anyhow::Result<Vec<Collateral>> {
        self.collateral
            .iter()
            .map(|p| {
                Ok(Collateral {
                    origin: p.clone(),
                    bytes: super::read_limited(p, super::MAX_EVIDENCE, "collateral")?,
                })
            })
            .collect()
    }
}

/// The evidence flags of `rootline verify`, as `appraise` takes them.
#[derive(clap::Args)]
pub(crate) struct EvidenceArgs {
    /// Evidence file: raw binary, hex or base64 text, or a JSON/CBOR wrapper:
    /// configfs-tsm CBOR; Trustee and guest-components evidence JSON (also
    /// Trustee's TPM fixture form); go-tpm-tools Attestation (.pb or
    /// protojson), the Google Cloud Attestation REST body and the Confidential
    /// Space launcher's /v1/evidence (docs/gcp.md); Azure MAA request bodies,
    /// platform {report|quote, runtimeData} and AzureGuest {AttestationInfo}
    /// as `azure-guest-attest --show-request` prints them (docs/azure.md); a
    /// CCA token (docs/cca.md); IBM SE evidence (docs/se.md); NVIDIA GPU
    /// evidence (docs/collateral.md). When the kind cannot be told, the
    /// error names each form tried.
    pub(crate) evidence: PathBuf,
    /// Evidence kind: snp, tdx, sgx, tpm, azure-snp, azure-tdx, cca, nvidia, se.
    /// Detected from the content when absent.
    #[arg(long)]
    pub(crate) tee: Option<TeeKind>,
    #[command(flatten)]
    pub(crate) trust: TrustArgs,
    /// The nonce the evidence must carry (report data, TPM extraData), in hex.
    /// Without it, freshness is not checked and the output says so.
    /// `appraise` echoes it in the token as eat_nonce.
    #[arg(long, value_name = "HEX")]
    pub(crate) nonce: Option<String>,
    /// TPM: the quote's signature (the file `tpm2_quote -s` writes).
    #[arg(long, value_name = "FILE")]
    pub(crate) signature: Option<PathBuf>,
    /// TPM: the attestation key (PEM, DER SubjectPublicKeyInfo or TPM2B_PUBLIC).
    #[arg(long, value_name = "FILE")]
    pub(crate) ak: Option<PathBuf>,
    /// TPM: the PCR values the quote covers (the file `tpm2_quote -o` writes).
    #[arg(long, value_name = "FILE")]
    pub(crate) pcrs: Option<PathBuf>,
    /// An event log to replay against the signed registers: TCG log for TPM,
    /// CCEL for TDX.
    #[arg(long, value_name = "FILE")]
    pub(crate) eventlog: Option<PathBuf>,
}

impl EvidenceArgs {
    /// The verifier these flags describe.
    pub(crate) fn verifier(&self) -> anyhow::Result<rootline_verifier::Verifier> {
        self.trust.verifier()
    }

    /// The verifier request these flags describe (files read, time and nonce
    /// parsed).
    pub(crate) fn request(&self) -> anyhow::Result<Request> {
        let at = self.trust.at()?;
        let nonce = match &self.nonce {
            None => None,
            Some(s) => Some(
                rootline_core::from_hex(s).with_context(|| format!("--nonce {s:?} is not hex"))?,
            ),
        };
        let collateral = self.trust.collateral()?;
        let opt = |p: &Option<PathBuf>| p.as_deref().map(read_input).transpose();
        Ok(Request {
            evidence: super::read_limited(&self.evidence, super::MAX_EVIDENCE, "evidence")?,
            tee: self.tee,
            collateral,
            at,
            nonce,
            extra: Extra {
                signature: opt(&self.signature)?,
                ak: opt(&self.ak)?,
                pcrs: opt(&self.pcrs)?,
                eventlog: opt(&self.eventlog)?,
            },
        })
    }
}

/// Flags of `rootline appraise`.
#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    evidence: EvidenceArgs,
    /// A Rego policy (package rootline.appraisal, rule `result`) to use
    /// instead of the shipped default for the evidence kind. Errors in it are
    /// reported before any evidence is looked at.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Reference values: a file in any shape `rootline reference import`
    /// reads (records, key to values, the store file...). Default: the store
    /// in the data directory.
    #[arg(long, value_name = "FILE")]
    reference_values: Option<PathBuf>,
    /// Policy settings, a JSON object: allow_sw_hardening_needed,
    /// allow_debug, tpm_pcr_bank, tpm_required_pcrs, snp_min_tcb.
    #[arg(long, value_name = "FILE")]
    settings: Option<PathBuf>,
    /// The EAR signing key (PEM, P-256 for ES256 or P-384 for ES384).
    /// Default: generated once and kept in the data directory.
    #[arg(long, value_name = "FILE")]
    signing_key: Option<PathBuf>,
    /// Where rootline keeps its state. Default: $XDG_DATA_HOME/rootline, else
    /// ~/.local/share/rootline.
    #[arg(long, value_name = "DIR", env = "ROOTLINE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// The verifier id's developer, which relying parties check as issuer.
    #[arg(long, default_value = "https://rootline.invalid")]
    issuer: String,
    /// Token lifetime in seconds.
    #[arg(long, default_value_t = DEFAULT_TTL_SECS)]
    ttl: i64,
    /// The KBS runtime data the evidence binds (JSON `{"nonce", "tee-pubkey"}`,
    /// as a Confidential Containers guest hashes it into its report data):
    /// checked against the evidence's report data (SNP, TDX, SGX) or TPM
    /// extraData in the forms guests use (SHA-256/384/512 of its canonical
    /// JSON, with or without `additional-evidence`), then carried in the
    /// token, so that a broker taking the token as a passport encrypts the
    /// secret to that `tee-pubkey`. Refused (exit 1) when not bound.
    #[arg(long, value_name = "FILE")]
    runtime_data: Option<PathBuf>,
    /// Print one JSON object {"status", "devices", "token", "jwks",
    /// "verification"} instead of text.
    #[arg(long)]
    json: bool,
}

/// `cpu0` for CPU TEEs, `tpm0` for a TPM, `gpu0` for a GPU.
fn device_name(tee: Option<TeeKind>) -> &'static str {
    match tee {
        Some(TeeKind::Tpm) => "tpm0",
        Some(TeeKind::Nvidia) => "gpu0",
        _ => "cpu0",
    }
}

fn load_reference(a: &Args) -> anyhow::Result<ReferenceValues> {
    let now = OffsetDateTime::now_utc();
    match &a.reference_values {
        Some(p) => {
            let json: Value = serde_json::from_slice(&read_input(p)?)
                .with_context(|| format!("{} is not JSON", p.display()))?;
            let new = reference::from_json(&json, &format!("{}", p.display()))
                .with_context(|| format!("{}", p.display()))?;
            let mut records = Vec::new();
            reference::apply_add(&mut records, new, now)
                .with_context(|| format!("{}", p.display()))?;
            Ok(ReferenceValues::active(&records, now))
        }
        None => {
            let dir = super::reference::data_dir(a.data_dir.as_deref())?;
            let store = rootline_policy::FileStore::in_dir(&dir);
            use rootline_policy::ReferenceStore as _;
            Ok(store.active(now)?)
        }
    }
}

/// Checks that the verified evidence's report data (TPM: extraData) holds
/// the binding of `runtime_data` in one of the forms guests compute.
fn check_runtime_data(runtime_data: &Value, verified: &Verified) -> Result<(), String> {
    use rootline_kbs::{Binding, BindingHash};
    let rd = verified.claims().report_data().ok_or_else(|| {
        "--runtime-data was given but the evidence reports no report data to bind it".to_owned()
    })?;
    let (field, tpm, carried) = (rd.field, rd.tpm_extra_data, rd.bytes);
    for hash in [
        BindingHash::Sha384,
        BindingHash::Sha256,
        BindingHash::Sha512,
    ] {
        let candidates = Binding::candidates(runtime_data, "", hash)?;
        if candidates.iter().any(|b| {
            if tpm {
                b.matches_tpm_extra_data(&carried)
            } else {
                b.matches(&carried)
            }
        }) {
            return Ok(());
        }
    }
    Err(format!(
        "the evidence's {field} ({}) does not bind the runtime data given with --runtime-data \
         (no SHA-256/384/512 of its canonical JSON, with or without additional-evidence, matches): \
         no token is signed for that tee-pubkey",
        hex::encode(&carried)
    ))
}

pub(crate) fn run(a: Args) -> anyhow::Result<u8> {
    // Everything that can be wrong with the inputs is found before the
    // evidence is verified.
    let custom = match &a.policy {
        Some(p) => {
            let text = String::from_utf8(read_input(p)?)
                .with_context(|| format!("{} is not UTF-8", p.display()))?;
            Some(CompiledPolicy::load(&p.display().to_string(), &text)?)
        }
        None => None,
    };
    let reference = load_reference(&a)?;
    let settings = match &a.settings {
        Some(p) => serde_json::from_slice(&read_input(p)?)
            .with_context(|| format!("{} is not JSON", p.display()))?,
        None => json!({}),
    };
    let key = match &a.signing_key {
        Some(p) => SigningKey::from_file(p)?,
        None => SigningKey::load_or_generate(&super::reference::data_dir(a.data_dir.as_deref())?)?,
    };
    let runtime_data: Option<Value> = match &a.runtime_data {
        Some(p) => {
            let v: Value = serde_json::from_slice(&read_input(p)?)
                .with_context(|| format!("--runtime-data {} is not JSON", p.display()))?;
            if v.get("tee-pubkey").is_none() {
                bail!(
                    "--runtime-data {}: no \"tee-pubkey\" member (expected the KBS runtime data {{\"nonce\", \"tee-pubkey\"}})",
                    p.display()
                );
            }
            Some(v)
        }
        None => None,
    };
    let req = a.evidence.request()?;
    let verifier = a.evidence.verifier()?;
    let verdict = verifier.verify(&req);
    if let (Some(rd), Ok(v)) = (&runtime_data, &verdict) {
        if let Err(why) = check_runtime_data(rd, v) {
            eprintln!("rootline: {why}");
            return Ok(EXIT_REJECTED);
        }
    }
    let outcome = Outcome::of(&verdict);
    let Some(tee) = outcome.tee else {
        bail!(
            "{}",
            outcome
                .error
                .as_deref()
                .unwrap_or("could not tell the evidence kind")
        );
    };
    let mut set = PolicySet::defaults()?;
    if let Some(p) = custom {
        set.set(tee, p);
    }
    let appraiser = Appraiser::new(&set, &reference, &settings)?;
    let device = device_name(Some(tee));
    let appraisal = appraiser.appraise(&[(device, &verdict)]);
    let opts = TokenOptions {
        developer: a.issuer.clone(),
        ttl_secs: a.ttl,
        nonce: req.nonce.clone(),
        // Only evidence that verified carries a binding worth passing on.
        runtime_data: runtime_data.filter(|_| outcome.verified),
        ..TokenOptions::default()
    };
    let token = key.sign(&appraisal, &opts)?;
    if a.json {
        let out = json!({
            "status": appraisal.status,
            "devices": appraisal.devices,
            "token": token,
            "jwks": key.jwks(),
            "verification": outcome,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        if !outcome.verified {
            println!(
                "{tee}: evidence REJECTED: {}",
                outcome.error.as_deref().unwrap_or("no reason given")
            );
        }
        for d in &appraisal.devices {
            println!("{} ({tee}): {}  [policy {}]", d.device, d.status, d.policy);
            let tv: Vec<String> = d
                .trust_vector
                .iter()
                .map(|(c, v)| format!("{c}={v}"))
                .collect();
            println!("  trust vector: {}", tv.join(" "));
            for r in &d.reasons {
                println!("  - {}: {}", r.component, r.message);
            }
        }
        println!("decision: {}", appraisal.status);
        println!("token (EAR, {}, kid {}):", key.alg().as_str(), key.kid());
        println!("{token}");
    }
    Ok(if appraisal.is_affirming() {
        0
    } else if outcome.tee.is_none() {
        EXIT_USAGE
    } else {
        EXIT_REJECTED
    })
}

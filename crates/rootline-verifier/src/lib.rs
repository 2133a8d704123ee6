//! The verifier's single entry point.
//!
//! A [`Verifier`] is built once, from trust anchors (the pinned vendor roots
//! through [`Verifier::pinned`], plus any the caller adds) and optionally a
//! [`CollateralSource`] that supplies what the evidence needs beyond what the
//! caller handed over (the `rootline-collateral` crate implements one over a
//! cache and the vendors' services; this crate never touches the network).
//! Holding it lets the evidence crates keep what they verified once (SNP
//! chains and CRLs, DCAP collateral) for the next report. [`verify`] is the
//! same with the pinned roots and no source.
//!
//! [`Verifier::verify`] takes evidence bytes (raw, hex or one of the wrappers found in
//! the wild), the collateral files the caller supplied, the verification time
//! and the expected nonce, detects the TEE kind when it is not given, and
//! dispatches to the evidence crate for that kind. Whatever happens, it returns
//! an [`Outcome`] that carries what could be parsed, so a rejection can always
//! be explained.
//!
//! Non-goals: no HTTP, no SQL, no async runtime. Fetching collateral from
//! vendor services is the caller's business; this crate only reads what it is
//! handed.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod azure;
mod cca;
mod dcap;
mod nvidia;
mod paired;
mod se;
mod snp;
mod tpm;
mod verdict;

pub use paired::PairedTee;
pub use tpm::{
    AkAttributes, AkTrust, EventLogClaims, LoggedEvent, PcrMap, QuoteSummary, RegisterEvents,
    TpmClaims,
};
pub use verdict::{Claims, Rejection, ReportData, Verdict, Verified};

use std::path::PathBuf;

use rootline_core::TeeKind;
use serde::Serialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;

/// What the caller asks the verifier to check.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The evidence as read from disk or the wire.
    pub evidence: Vec<u8>,
    /// The TEE kind, when the caller knows it; detected from content otherwise.
    pub tee: Option<TeeKind>,
    /// Collateral files, each recognised by content.
    pub collateral: Vec<Collateral>,
    /// The instant at which certificates, CRLs and TCB info are judged; now when absent.
    pub at: Option<OffsetDateTime>,
    /// The nonce the evidence must carry; freshness is not checked when absent.
    pub nonce: Option<Vec<u8>>,
    /// Kind-specific extra inputs (TPM signature and AK, event logs).
    pub extra: Extra,
}

/// A collateral file as supplied by the caller.
#[derive(Debug, Clone)]
pub struct Collateral {
    /// Where it came from, for messages.
    pub origin: PathBuf,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// Inputs that only some kinds take.
#[derive(Debug, Clone, Default)]
pub struct Extra {
    /// TPM: the signature file (`tpm2_quote -s`).
    pub signature: Option<Vec<u8>>,
    /// TPM: the attestation key (PEM, DER SPKI or TPM2B_PUBLIC).
    pub ak: Option<Vec<u8>>,
    /// TPM: the PCR values file (`tpm2_quote -o`).
    pub pcrs: Option<Vec<u8>>,
    /// A TCG event log (TPM) or CCEL (TDX) to replay against the signed registers.
    pub eventlog: Option<Vec<u8>>,
}

/// The result of one verification, verified or not, in the JSON shape of the
/// command-line contract.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The kind that was verified.
    pub tee: Option<TeeKind>,
    /// True only when every check passed.
    pub verified: bool,
    /// The first failed check, as a sentence a person can act on.
    pub error: Option<String>,
    /// TCB status where the TEE defines one.
    pub tcb_status: Option<String>,
    /// Vendor advisories attached to the TCB status.
    pub advisory_ids: Vec<String>,
    /// Claims: everything that could be parsed, even on rejection.
    pub claims: Map<String, Value>,
    /// Things a person should know that did not cause rejection.
    pub warnings: Vec<String>,
}

impl Outcome {
    /// A fresh, not-yet-verified outcome for `tee`.
    pub fn new(tee: Option<TeeKind>) -> Self {
        Self {
            tee,
            verified: false,
            error: None,
            tcb_status: None,
            advisory_ids: Vec::new(),
            claims: Map::new(),
            warnings: Vec::new(),
        }
    }

    /// Marks the outcome rejected with `reason`.
    pub fn reject(mut self, reason: impl Into<String>) -> Self {
        self.verified = false;
        self.error = Some(reason.into());
        self
    }
}

/// What a [`CollateralSource`] found for one piece of evidence.
#[derive(Debug, Default, Clone)]
pub struct Gathered {
    /// Artifacts obtained, as collateral files (origin: their cache file or URL).
    pub collateral: Vec<Collateral>,
    /// Caveats about what was used (a stale artifact kept because its
    /// vendor could not be reached...); they become warnings.
    pub notes: Vec<String>,
    /// Where each artifact came from, for a person reading stderr.
    pub info: Vec<String>,
    /// Artifacts that could not be obtained, and why. Not fatal by
    /// themselves: the verifier judges what it has, and these are named
    /// beside its rejection.
    pub failures: Vec<String>,
}

/// Supplies the collateral that evidence needs beyond what the caller gave:
/// per-chip VCEKs, CRLs, TCB info, QE identity. Implementations decide where
/// from (configured files, a cache, a store shared by replicas, a vendor's
/// service with the owner's consent); the verifier trusts nothing for where
/// it came from and verifies every artifact against its anchors.
///
/// Called on the verifying thread: implementations may block (a cache read,
/// a download), so async callers run verification off their workers.
pub trait CollateralSource: Send + Sync + std::fmt::Debug {
    /// The collateral `evidence` needs beyond `given`, judging freshness at
    /// `at` (unix seconds). The evidence comes decoded, as the verifier
    /// will verify it (the SNP report and its certificate table, the DCAP
    /// quote), so that no source decodes its wrapper again.
    fn gather(&self, evidence: &Decoded, given: &[Collateral], at: i64) -> Gathered;
}

/// Evidence decoded once, by detection or by the decoder of the kind the
/// caller named ([`decode`]): what each evidence crate reads, with the
/// wrapper (hex, base64, JSON, CBOR) removed. [`Verifier::verify_decoded`]
/// and a [`CollateralSource`] take it, so the evidence is not decoded again.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Decoded {
    /// SEV-SNP: the report and certificate table, not yet parsed.
    Snp(rootline_snp::evidence::Raw),
    /// Intel TDX or SGX: the raw quote and any CCEL its wrapper carried.
    Dcap {
        /// The kind named by the caller, else the quote's.
        tee: TeeKind,
        /// The quote.
        quote: rootline_dcap::evidence::Decoded,
    },
    /// An Arm CCA token (the tag-399 CBOR collection).
    Cca(Vec<u8>),
    /// Evidence whose crate reads it whole (TPM, Azure vTPM, NVIDIA, and
    /// kinds not verified yet): the bytes, base64 removed.
    Whole {
        /// Its kind.
        tee: TeeKind,
        /// The bytes.
        evidence: Vec<u8>,
    },
    /// Evidence of the kind the caller named that does not decode as that
    /// kind: why (verification rejects it with this reason).
    Unreadable {
        /// The kind named.
        tee: TeeKind,
        /// Why it did not decode.
        reason: String,
    },
}

impl Decoded {
    /// The kind: the one the caller named, else the one detected.
    pub fn tee(&self) -> TeeKind {
        match self {
            Self::Snp(_) => TeeKind::Snp,
            Self::Cca(_) => TeeKind::Cca,
            Self::Dcap { tee, .. } | Self::Whole { tee, .. } | Self::Unreadable { tee, .. } => *tee,
        }
    }
}

/// The verifier: trust anchors per TEE, the caches of what was verified
/// under them, and where missing collateral comes from. Build it once and
/// share it (it is `Send + Sync`; its caches are internally locked).
#[derive(Debug)]
pub struct Verifier {
    snp: rootline_snp::Verifier,
    dcap: Result<rootline_dcap::Verifier, String>,
    /// Arm CCA platform keys (CPAKs): none are pinned (Arm publishes no
    /// root); the caller's, plus any a request carries.
    cca: rootline_cca::TrustAnchors,
    /// NVIDIA GPU device roots: the pinned NVIDIA Device Identity CA, or
    /// the caller's in its place ([`Verifier::with_nvidia_roots`]).
    nvidia: rootline_nvidia::Verifier,
    /// The key that seals IBM SE request secrets into KBS challenges (and
    /// opens them from the evidence); none unless configured.
    se_sealing: Option<rootline_se::SealingKey>,
    source: Option<std::sync::Arc<dyn CollateralSource>>,
    /// Collateral files parsed once, by content (see [`Parsed`]).
    snp_parsed: Parsed<rootline_snp::Collateral>,
    dcap_parsed: Parsed<rootline_dcap::CollateralParts>,
}

/// Collateral files parsed once and kept by their exact bytes: a server
/// hands the same few files (its configuration's, its collateral source's)
/// to every verification, and parsing them (certificates, CRLs, a 16 KB
/// JSON of hex) cost more than the signature checks of a TDX quote. A hit
/// compares the files byte for byte (a few microseconds), so different
/// collateral can never be mistaken for cached collateral.
pub(crate) struct Parsed<T> {
    entries: std::sync::Mutex<std::collections::VecDeque<ParsedEntry<T>>>,
}

/// The files (origin and bytes) and what they parsed to.
type ParsedEntry<T> = (Vec<(PathBuf, Vec<u8>)>, std::sync::Arc<T>);

/// Sets of collateral files kept parsed.
const PARSED_MAX: usize = 16;

impl<T> std::fmt::Debug for Parsed<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Parsed")
    }
}

impl<T> Default for Parsed<T> {
    fn default() -> Self {
        Self {
            entries: std::sync::Mutex::new(std::collections::VecDeque::new()),
        }
    }
}

impl<T> Parsed<T> {
    /// `files` parsed by `parse`, from the cache when the same files were
    /// parsed before. Failures are not kept (they are reported each time).
    pub(crate) fn get<E>(
        &self,
        files: &[Collateral],
        parse: impl FnOnce() -> Result<T, E>,
    ) -> Result<std::sync::Arc<T>, E> {
        let same = |k: &[(PathBuf, Vec<u8>)]| {
            k.len() == files.len()
                && k.iter()
                    .zip(files)
                    .all(|((o, b), c)| b.len() == c.bytes.len() && *o == c.origin && *b == c.bytes)
        };
        let lock = || {
            self.entries
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        if let Some((_, v)) = lock().iter().find(|(k, _)| same(k)) {
            return Ok(v.clone());
        }
        let v = std::sync::Arc::new(parse()?);
        let mut m = lock();
        if m.len() >= PARSED_MAX {
            m.pop_front();
        }
        m.push_back((
            files
                .iter()
                .map(|c| (c.origin.clone(), c.bytes.clone()))
                .collect(),
            v.clone(),
        ));
        Ok(v)
    }
}

impl Default for Verifier {
    /// [`Verifier::pinned`].
    fn default() -> Self {
        Self::pinned()
    }
}

impl Verifier {
    /// A verifier anchored at the vendor roots pinned in the evidence crates
    /// (AMD's ARKs, Intel's SGX Root CA, NVIDIA's Device Identity CA), with
    /// no collateral source.
    pub fn pinned() -> Self {
        Self {
            snp: rootline_snp::Verifier::amd(),
            dcap: rootline_dcap::Verifier::intel()
                .map_err(|e| format!("the pinned Intel SGX Root CA: {e}")),
            cca: rootline_cca::TrustAnchors::new(),
            nvidia: rootline_nvidia::Verifier::pinned(),
            se_sealing: None,
            source: None,
            snp_parsed: Parsed::default(),
            dcap_parsed: Parsed::default(),
        }
    }

    /// Also trusts `cert` (a self-signed certificate, PEM or DER) as an AMD
    /// root key: a private PKI, or a test's synthetic one.
    pub fn with_snp_root(self, cert: &[u8]) -> Result<Self, String> {
        let der = cert_der(cert).map_err(|e| format!("SEV-SNP trust anchor: {e}"))?;
        let mut anchors = self.snp.anchors().clone();
        anchors
            .add_root_der(&der)
            .map_err(|e| format!("SEV-SNP trust anchor: {e}"))?;
        Ok(Self {
            snp: rootline_snp::Verifier::new(anchors),
            ..self
        })
    }

    /// Anchors DCAP (TDX, SGX) at `cert` (PEM or DER) instead of Intel's
    /// pinned root: DCAP chains end at exactly one root.
    pub fn with_dcap_root(self, cert: &[u8]) -> Result<Self, String> {
        let der = cert_der(cert).map_err(|e| format!("DCAP trust anchor: {e}"))?;
        let dcap = rootline_dcap::Verifier::with_root(&der)
            .map_err(|e| format!("DCAP trust anchor: {e}"))?;
        Ok(Self {
            dcap: Ok(dcap),
            ..self
        })
    }

    /// Also trusts the CCA platform keys in `json` (a trust-anchor JSON in
    /// any form `rootline-cca` reads: a CPAK JWK, a list, a TA store).
    pub fn with_cca_anchors(mut self, json: &[u8]) -> Result<Self, String> {
        self.cca
            .add_json(json)
            .map_err(|e| format!("CCA trust anchor: {e}"))?;
        Ok(self)
    }

    /// Anchors NVIDIA GPU evidence at the certificates of `pem` (one to
    /// eight PEM `CERTIFICATE` blocks) instead of the pinned NVIDIA Device
    /// Identity CA: it replaces the roots, it does not add to them (a
    /// private or test PKI; real GPUs then no longer verify unless NVIDIA's
    /// root is in `pem` too). RIM signatures keep their own roots (the
    /// pinned NVIDIA RIM root).
    pub fn with_nvidia_roots(self, pem: &[u8]) -> Result<Self, String> {
        let mut roots = rootline_nvidia::TrustRoots::empty();
        roots
            .add_pem(pem)
            .map_err(|e| format!("NVIDIA trust anchor: {e}"))?;
        let rim_roots = self.nvidia.rim_roots().clone();
        Ok(Self {
            nvidia: rootline_nvidia::Verifier::new(roots).with_rim_roots(rim_roots),
            ..self
        })
    }

    /// Opens IBM SE request secrets sealed into the evidence with `key`
    /// (the KBS flow: the broker sealed them into the challenge it issued).
    pub fn with_se_sealing_key(self, key: rootline_se::SealingKey) -> Self {
        Self {
            se_sealing: Some(key),
            ..self
        }
    }

    /// Asks `source` for the collateral evidence needs beyond what a
    /// request carries.
    pub fn with_source(self, source: std::sync::Arc<dyn CollateralSource>) -> Self {
        Self {
            source: Some(source),
            ..self
        }
    }

    /// Verifies evidence of any supported kind: [`Verified`] claims, typed
    /// per TEE, or a [`Rejection`] that says which check failed. The
    /// evidence is decoded once ([`decode`]) and verified as decoded.
    pub fn verify(&self, req: &Request) -> Verdict {
        self.verify_decoded(req, &decode(&req.evidence, req.tee)?)
    }

    /// [`Verifier::verify`] of evidence the caller decoded already with
    /// [`decode`] (to gather collateral itself, say): `req.evidence` and
    /// `req.tee` are not read again, `evidence` is what is verified.
    pub fn verify_decoded(&self, req: &Request, evidence: &Decoded) -> Verdict {
        let kind = evidence.tee();
        let gathered = match (&self.source, evidence) {
            (
                Some(s),
                Decoded::Snp(_)
                | Decoded::Dcap { .. }
                | Decoded::Whole {
                    tee: TeeKind::Nvidia,
                    ..
                },
            ) => {
                let at = req
                    .at
                    .unwrap_or_else(OffsetDateTime::now_utc)
                    .unix_timestamp();
                Some(s.gather(evidence, &req.collateral, at))
            }
            _ => None,
        };
        let with_gathered;
        let req = match &gathered {
            Some(g) if !g.collateral.is_empty() => {
                let mut r = req.clone();
                r.collateral.extend(g.collateral.iter().cloned());
                with_gathered = r;
                &with_gathered
            }
            _ => req,
        };
        let reject = |reason: &str| Err(Box::new(Rejection::new(Some(kind), reason)));
        let mut verdict = match evidence {
            Decoded::Snp(raw) => snp::verify(&self.snp, &self.snp_parsed, req, Ok(raw)),
            Decoded::Dcap { tee, quote } => match &self.dcap {
                Ok(v) => dcap::verify(v, &self.dcap_parsed, req, *tee, quote),
                Err(e) => reject(e),
            },
            Decoded::Cca(token) => cca::verify(&self.cca, req, token),
            Decoded::Unreadable { reason, .. } => match kind {
                // SNP judges the collateral files first, as it always has.
                TeeKind::Snp => snp::verify(&self.snp, &self.snp_parsed, req, Err(reason)),
                // A DCAP verifier that could not be built is the first failure.
                TeeKind::Tdx | TeeKind::Sgx => reject(self.dcap.as_ref().err().unwrap_or(reason)),
                _ => reject(reason),
            },
            Decoded::Whole { evidence, .. } => match kind {
                TeeKind::Tpm => tpm::verify(req, evidence, &|r, d| self.verify_decoded(r, d)),
                TeeKind::AzureSnp | TeeKind::AzureTdx => azure::verify(req, kind, evidence),
                TeeKind::Nvidia => nvidia::verify(&self.nvidia, req, evidence),
                TeeKind::Se => se::verify(self.se_sealing.as_ref(), req, evidence),
                kind => reject(&format!(
                    "verification of {kind} evidence is not supported yet"
                )),
            },
        };
        if let Some(g) = gathered {
            match verdict.as_mut() {
                Ok(v) => v.warn(g.notes),
                Err(r) => {
                    r.warnings.extend(g.notes);
                    // What could not be fetched is often why the evidence
                    // could not be verified: say so beside the verdict.
                    for f in g.failures {
                        r.reason.push_str("; collateral: ");
                        r.reason.push_str(&f);
                    }
                }
            }
        }
        verdict
    }

    /// [`Verifier::verify`] in the JSON shape of the command-line contract.
    pub fn outcome(&self, req: &Request) -> Outcome {
        self.verify(req).into()
    }
}

/// The DER of a certificate given as DER or as PEM (its first block).
fn cert_der(bytes: &[u8]) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    if !bytes.starts_with(b"-----BEGIN") {
        return Ok(bytes.to_vec());
    }
    let text = String::from_utf8_lossy(bytes);
    let b64: String = text
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|_| "not a PEM certificate".to_owned())
}

/// Verifies evidence of any supported kind against the pinned vendor roots,
/// with only the collateral the request carries.
/// The answer is in the JSON shape of the command-line contract; hold a
/// [`Verifier`] for [`Verified`] claims.
pub fn verify(req: &Request) -> Outcome {
    static PINNED: std::sync::OnceLock<Verifier> = std::sync::OnceLock::new();
    PINNED.get_or_init(Verifier::pinned).outcome(req)
}

/// What detection tries, for the message when nothing matches.
const TRIED: &str = "an SEV-SNP report (raw, hex, extended, configfs-tsm, guest-components JSON), \
     a TDX or SGX DCAP quote (raw, hex, JSON with a quote), an Arm CCA token (CBOR, hex, \
     guest-components JSON), IBM SE evidence (guest-components JSON), TPM evidence (TPMS_ATTEST raw or hex, go-tpm-tools protobuf, \
     Trustee, guest-components or go-attestation JSON), GCP vTPM JSON (Google Cloud Attestation \
     VerifyAttestation requests with an SEV-SNP report or TD quote beside the quotes, Confidential \
     Space launcher evidence, go-tpm-tools attestation JSON), Azure vTPM evidence JSON \
     (guest-components' forms, MAA AzureGuest requests with IsolationInfo SevSnp or Tdx, \
     MAA SEV-SNP or TDX platform requests; not TrustedLaunch, which has no TEE), NVIDIA GPU \
     evidence (an SPDM measurement report raw or hex, nvtrust's and guest-components' JSON); \
     each of them also as base64 (standard or URL-safe, padded or not, with line breaks)";

/// Guesses the TEE kind from the evidence bytes, also when they are base64
/// of evidence; `None` when no module recognises them. [`decode`] also
/// keeps what detection decoded.
pub fn detect(evidence: &[u8]) -> Option<TeeKind> {
    decode(evidence, None).ok().map(|d| d.tee())
}

/// Decodes evidence once: as the kind `tee` names, or as whatever kind its
/// content is (detection), also when it is base64 of evidence. With a kind
/// named, the answer is always a [`Decoded`] (one that does not decode is
/// [`Decoded::Unreadable`], for verification to reject); without one, a
/// rejection when no kind recognises the bytes.
pub fn decode(evidence: &[u8], tee: Option<TeeKind>) -> Result<Decoded, Box<Rejection>> {
    let Some(kind) = tee else {
        // Evidence stored as base64 (teekit and Azure tooling keep quotes
        // so) is unwrapped only when its bytes are not evidence as they
        // are: hex text is valid base64 too. Binary evidence and JSON fail
        // the alphabet check at their first byte, so this costs the
        // broker's hot path nothing.
        return decode_any(evidence)
            .or_else(|| decode_any(&try_base64(evidence)?))
            .ok_or_else(|| {
                Box::new(Rejection::new(
                    None,
                    format!(
                        "could not tell the evidence kind from its content (tried {TRIED}); pass --tee KIND"
                    ),
                ))
            });
    };
    // The named kind's decoder reads the bytes as they are first (raw, hex,
    // its JSON forms), and base64 is tried only when they do not decode:
    // hex text is valid base64, and its base64 decoding is garbage.
    let base64_as = |ok: &dyn Fn(&[u8]) -> bool| try_base64(evidence).filter(|b| ok(b));
    Ok(match kind {
        TeeKind::Snp => {
            let plausible = |b: &[u8]| {
                rootline_snp::evidence::Raw::decode(b)
                    .ok()
                    .filter(rootline_snp::evidence::Raw::is_plausible)
            };
            match plausible(evidence).or_else(|| plausible(&try_base64(evidence)?)) {
                Some(raw) => Decoded::Snp(raw),
                // Not plausibly SNP: verified as it is, so that the
                // rejection says what is wrong with it.
                None => match rootline_snp::evidence::Raw::decode(evidence) {
                    Ok(raw) => Decoded::Snp(raw),
                    Err(e) => Decoded::Unreadable {
                        tee: kind,
                        reason: e.to_string(),
                    },
                },
            }
        }
        TeeKind::Tdx | TeeKind::Sgx => {
            match rootline_dcap::evidence::decode(evidence)
                .or_else(|| rootline_dcap::evidence::decode(&try_base64(evidence)?))
            {
                Some(quote) => Decoded::Dcap { tee: kind, quote },
                None => Decoded::Unreadable {
                    tee: kind,
                    reason: dcap::NOT_A_QUOTE.into(),
                },
            }
        }
        TeeKind::Cca => match cca::token(evidence).or_else(|| cca::token(&try_base64(evidence)?)) {
            Some(t) => Decoded::Cca(t),
            None => Decoded::Unreadable {
                tee: kind,
                reason: cca::NOT_A_TOKEN.into(),
            },
        },
        // These crates decode the whole evidence again when verifying, so
        // deciding whether the bytes are in a raw form would decode them
        // twice: base64 is tried first (refused at the first byte of binary
        // and JSON evidence), and only this kind's detector reads it.
        TeeKind::Tpm => Decoded::Whole {
            tee: kind,
            evidence: base64_as(&|b| tpm::detect(b).is_some()).unwrap_or_else(|| evidence.to_vec()),
        },
        TeeKind::AzureSnp | TeeKind::AzureTdx => Decoded::Whole {
            tee: kind,
            evidence: base64_as(&|b| azure::detect(b) == Some(kind))
                .unwrap_or_else(|| evidence.to_vec()),
        },
        TeeKind::Nvidia => Decoded::Whole {
            tee: kind,
            evidence: base64_as(&|b| nvidia::detect(b).is_some())
                .unwrap_or_else(|| evidence.to_vec()),
        },
        TeeKind::Se => Decoded::Whole {
            tee: kind,
            evidence: base64_as(&|b| se::detect(b).is_some()).unwrap_or_else(|| evidence.to_vec()),
        },
        _ => Decoded::Whole {
            tee: kind,
            evidence: evidence.to_vec(),
        },
    })
}

/// [`unwrap_base64`], counted in tests: decoding must not fall back to
/// base64 for evidence that decodes as it is.
fn try_base64(text: &[u8]) -> Option<Vec<u8>> {
    #[cfg(test)]
    tests::BASE64_TRIES.with(|n| n.set(n.get() + 1));
    unwrap_base64(text)
}

/// The bytes of base64 text (standard or URL-safe alphabet, with or without
/// padding, line breaks and surrounding white space allowed); `None` for
/// anything else. Hex text is valid base64 too, so callers try the bytes as
/// they are first.
pub fn unwrap_base64(text: &[u8]) -> Option<Vec<u8>> {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    // Refused at the first byte outside the alphabets: binary and JSON
    // evidence cost nothing here.
    if !text.iter().all(|b| {
        b.is_ascii_alphanumeric()
            || b.is_ascii_whitespace()
            || matches!(b, b'+' | b'/' | b'-' | b'_' | b'=')
    }) {
        return None;
    }
    let compact: Vec<u8> = text
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let body = compact
        .strip_suffix(b"==")
        .or_else(|| compact.strip_suffix(b"="))
        .unwrap_or(&compact);
    if body.len() < 16 || body.contains(&b'=') {
        return None;
    }
    let url = body.iter().any(|b| matches!(b, b'-' | b'_'));
    let engine = if url {
        &URL_SAFE_NO_PAD
    } else {
        &STANDARD_NO_PAD
    };
    engine.decode(body).ok()
}

/// Detects the kind of the bytes as they are, keeping what was decoded.
fn decode_any(evidence: &[u8]) -> Option<Decoded> {
    let whole = |tee| Decoded::Whole {
        tee,
        evidence: evidence.to_vec(),
    };
    // Azure first: its TDX form carries a `td_quote` member that the DCAP
    // detection would take for a bare quote.
    if let Some(k) = azure::detect(evidence) {
        return Some(whole(k));
    }
    // GCP's JSON shapes before DCAP too: the TD quote a Google Cloud
    // Attestation request carries would otherwise be taken for the whole.
    if rootline_tpm::evidence::detect_cloud_json(evidence) {
        return Some(whole(TeeKind::Tpm));
    }
    if let Some(raw) = snp::decode(evidence) {
        return Some(Decoded::Snp(raw));
    }
    if let Some((tee, quote)) = dcap::decode(evidence) {
        return Some(Decoded::Dcap { tee, quote });
    }
    if let Some(t) = cca::token(evidence) {
        return Some(Decoded::Cca(t));
    }
    nvidia::detect(evidence)
        .or_else(|| se::detect(evidence))
        .or_else(|| tpm::detect(evidence))
        .map(whole)
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]

    use std::cell::Cell;

    use super::*;

    thread_local! {
        /// Times [`try_base64`] ran on this thread.
        pub(super) static BASE64_TRIES: Cell<u32> = const { Cell::new(0) };
    }

    fn base64_tries() -> u32 {
        BASE64_TRIES.with(Cell::get)
    }

    /// A minimal TDX v4 quote header: enough for the DCAP decoder to
    /// recognise it (the verifier then rejects it, which is not the point).
    fn tdx_quote() -> Vec<u8> {
        let mut q = vec![0u8; 64];
        q[0..2].copy_from_slice(&4u16.to_le_bytes());
        q[2..4].copy_from_slice(&2u16.to_le_bytes());
        q[4..8].copy_from_slice(&0x81u32.to_le_bytes());
        q
    }

    // Issue 16: hex text is valid base64, so evidence of a named kind was
    // also decoded as base64 and detection ran on the garbage.
    #[test]
    fn hex_evidence_of_a_named_kind_never_takes_the_base64_path() {
        let hex_text = hex::encode(tdx_quote()).into_bytes();
        assert!(unwrap_base64(&hex_text).is_some(), "hex text is base64 too");
        let before = base64_tries();
        let d = decode(&hex_text, Some(TeeKind::Tdx)).unwrap();
        assert_eq!(base64_tries(), before);
        match d {
            Decoded::Dcap { tee, quote } => {
                assert_eq!(tee, TeeKind::Tdx);
                assert_eq!(quote.quote, tdx_quote());
            }
            other => panic!("decoded as {other:?}"),
        }
        // Verification decodes it once and takes no base64 path either.
        let before = base64_tries();
        let req = Request {
            evidence: hex_text,
            tee: Some(TeeKind::Tdx),
            ..Request::default()
        };
        let r = Verifier::pinned().verify(&req).unwrap_err();
        assert_eq!(r.tee, Some(TeeKind::Tdx));
        assert_eq!(base64_tries(), before);
    }

    #[test]
    fn base64_evidence_of_a_named_kind_is_still_unwrapped() {
        use base64::Engine as _;
        let text = base64::engine::general_purpose::STANDARD
            .encode(tdx_quote())
            .into_bytes();
        match decode(&text, Some(TeeKind::Tdx)).unwrap() {
            Decoded::Dcap { quote, .. } => assert_eq!(quote.quote, tdx_quote()),
            other => panic!("decoded as {other:?}"),
        }
        match decode(&text, None).unwrap() {
            Decoded::Dcap { tee, quote } => {
                assert_eq!(tee, TeeKind::Tdx);
                assert_eq!(quote.quote, tdx_quote());
            }
            other => panic!("detected as {other:?}"),
        }
    }

    #[test]
    fn evidence_of_a_named_kind_that_does_not_decode_is_rejected_with_its_reason() {
        let d = decode(b"{\"nothing\": 1}", Some(TeeKind::Sgx)).unwrap();
        assert!(matches!(
            &d,
            Decoded::Unreadable {
                tee: TeeKind::Sgx,
                ..
            }
        ));
        let r = Verifier::pinned()
            .verify_decoded(&Request::default(), &d)
            .unwrap_err();
        assert_eq!(r.reason, dcap::NOT_A_QUOTE);
    }
}

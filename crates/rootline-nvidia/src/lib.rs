//! NVIDIA Hopper and Blackwell GPU attestation evidence, verified locally
//! against the pinned NVIDIA Device Identity CA.
//!
//! A confidential-computing GPU answers an SPDM GET_MEASUREMENTS request
//! (carrying the verifier's nonce) with its measurement blocks, its own
//! nonce, NVIDIA "opaque data" (driver and VBIOS versions, FWID, SKU...) and
//! an ECDSA P-384 signature by a key certified in a chain that ends at the
//! NVIDIA Device Identity CA. [`verify`] accepts a device only when, in this
//! order (each step is a public function too, for explaining a rejection):
//!
//! 1. the report decodes ([`SpdmReport::parse`]): SPDM 1.1 or 1.2, DMTF
//!    measurement blocks, the signature located from the opaque-data length
//!    (never assumed to be the last bytes; trailing bytes are rejected);
//! 2. the certificate chain ends at a trusted root and every link verifies
//!    ([`certs::verify_chain`]); the signing certificate carries a SHA-384
//!    FWID in its TCG DICE extension (`2.23.133.5.4.1`, or `.1.1` with a
//!    TcbInfo on Blackwell);
//! 3. the signing certificate names a Hopper or Blackwell GPU, and agrees
//!    with the architecture the sender named;
//! 4. the FWID in the opaque data, when present, equals the certificate's
//!    (where NVIDIA's verifier compares them);
//! 5. the signature over request || response-without-signature verifies
//!    with the signing key (ECDSA P-384, SHA-384; SPDM 1.1 only, see
//!    [`spdm`] for why 1.2 cannot be checked from this evidence);
//! 6. the requester nonce equals the caller's nonce (zero-padded to 32
//!    bytes), and the nonce, driver and VBIOS versions the sender claims in
//!    JSON equal the signed ones;
//! 7. when RIMs are given, one or more apply to the device, the XML
//!    signature of each that applies verifies (enveloped XMLDSig, Canonical
//!    XML 1.1, ECDSA P-384, a chain to a RIM root valid at the same time;
//!    [`xmldsig`], [`c14n`]) and every active golden measurement matches
//!    ([`rim`]);
//! 8. when OCSP responses are given ([`Options::ocsp`]), every response that
//!    names a certificate of a device chain or of a RIM signing chain is
//!    signed by its issuer (or a delegated responder), current, and says
//!    `good` ([`ocsp`]); certificates no response names are claimed
//!    `not_checked`.
//!
//! Everything fails closed: any error rejects the whole evidence (every
//! device must pass), and claims come back as
//! [`Verified`]`<`[`Claims`]`>`, which only these checks produce.
//!
//! # Public API
//!
//! - [`detect`]`(bytes) -> bool`: NVIDIA evidence JSON or a bare SPDM
//!   report? Cheap, for dispatching evidence of unknown kind.
//! - [`decode`]`(evidence) -> Result<Claims>`: the claims with no check at
//!   all, to show what rejected evidence said. Never treat them as verified.
//! - [`verify`]`(evidence, nonce, rims) -> Result<Verified<Claims>>`: the
//!   pinned root, the current time.
//! - [`Verifier`] with [`Options`]: your own [`TrustRoots`] for devices (the
//!   NVIDIA root only by name, [`TrustRoots::nvidia`]) and for RIM
//!   signatures ([`Verifier::with_rim_roots`]; NVIDIA's RIM root by name,
//!   [`TrustRoots::nvidia_rim`]), OCSP responses, a fixed verification
//!   time, and
//!   [`Verifier::verify_evidence`] for [`Evidence`] built in code, e.g.
//!   [`Evidence::from_parts`]`(report, chain)` for a report and chain kept
//!   in separate files.
//! - [`guest_nonce`]`(report_data)`: the 32-byte SPDM nonce the attester
//!   derives from KBS report data.
//! - [`Rim::parse`]: a RIM (SWID tag XML) to compare with;
//!   [`Rim::verify_signature`] checks its signature alone.
//! - [`ocsp::check`]`(response, cert, issuer, at)`: one OCSP response for
//!   one certificate; [`ocsp::request`] builds the request NVIDIA's
//!   responder is asked with.
//! - [`Error`]: one enum grouped by cause; [`Error::InDevice`] says which
//!   device of a list failed, [`Error::root_cause`] strips it.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let evidence = std::fs::read("gpu-evidence.json")?;
//! let rims = [rootline_nvidia::Rim::parse(&std::fs::read("driver.swidtag")?)?,
//!             rootline_nvidia::Rim::parse(&std::fs::read("vbios.swidtag")?)?];
//! let nonce = rootline_nvidia::guest_nonce(&[0u8; 48]); // the KBS report data
//! let claims = rootline_nvidia::verify(&evidence, Some(&nonce), &rims)?;
//! println!("{}", serde_json::to_string_pretty(claims.get())?);
//! # Ok(()) }
//! ```
//!
//! # Evidence forms
//!
//! [`Evidence::decode`] (and so [`verify`], [`decode`], [`detect`]) takes
//! guest-components' `{"device_evidence_list": [{"arch", "uuid",
//! "evidence", "certificate"}]}` (the KBS `tee-evidence` for `nvidia`, and
//! what guest-components sends for GPUs in `additional-evidence`), NVIDIA
//! SDK / Veraison arrays of `{"arch", "evidence", "certificate", "nonce"?,
//! "driver_version"?, "vbios_version"?}`, NVIDIA's remote attestation
//! request body `{"nonce", "arch", "evidence_list"}`, and bare SPDM reports
//! (binary or hex; these have no chain, so [`verify`] refuses them and
//! [`decode`] shows them without certificates). See [`evidence`].
//!
//! # Integrating (verifier dispatch, `TeeKind::Nvidia`, composite evidence)
//!
//! - Dispatch: [`detect`] is true for every form above; `TeeKind::Nvidia`
//!   maps to [`verify`] / [`Verifier::verify`].
//! - Binding: guest-components puts the first 32 bytes of the report data
//!   (zero-padded) in the SPDM request; pass [`guest_nonce`]`(report_data)`
//!   as the nonce. A nonce longer than 32 bytes is an error, never
//!   truncated silently. `None` skips only the nonce check.
//! - Composite evidence: [`Claims::devices`] holds one [`DeviceClaims`] per
//!   device in evidence order, for the `gpu0..N` submodules; a failure of
//!   any device fails the whole call with [`Error::InDevice`]`{ index, .. }`.
//! - Claims JSON (`serde_json::to_value(claims.get())`): `{"devices":
//!   [{"arch": "HOPPER", "model": "GH100", "uuid", "spdm_version": "1.1",
//!   "nonce", "responder_nonce", "fwid", "driver_version", "vbios_version",
//!   "measurements": {"1": hex, ...}, "opaque": {...}, "certificates":
//!   [{"subject", "issuer", "serial", "not_before", "not_after", "sha256"}],
//!   "rim": null | {"manifests", "tag_ids", "signers", "signer_revocation",
//!   "matched", "mismatched", "signature": "verified"}, "revocation":
//!   {"device", "rim", "checked"}}]}` (`signers`: each RIM's signing
//!   certificate subject). Each certificate also carries `"revocation":
//!   "good" | "not_checked" | "not_applicable"`; `revocation.checked` is
//!   what a policy requiring revocation checks reads (see [`ocsp`]). `opaque` uses trustee's `config` names
//!   and renderings, so trustee-style policies read the same values.
//! - Dependencies: aws-lc-rs, x509-parser, roxmltree, serde, base64, hex,
//!   rootline-core; no I/O, no network, no async runtime.
//!
//! # Non-goals and limits
//!
//! - **Revocation only from OCSP responses the caller gives**: this crate
//!   never asks NVIDIA's responder itself (`rootline-collateral` does, with
//!   consent, and caches the answers); without responses, revocation is not
//!   checked and the claims say `not_checked`. OCSP nonces are not used
//!   (responses are cached collateral) and CRLs are not read: see
//!   [`ocsp`] for where this differs from NVIDIA's verifier.
//! - XMLDSig and Canonical XML only in the one shape NVIDIA signs RIMs with
//!   (see [`xmldsig`]); CoRIM (CBOR) RIMs are not read.
//! - No NVIDIA Remote Attestation Service (NRAS) and no fetching of RIMs:
//!   the crate never touches the network.
//! - NVSwitch (`LS10`) evidence and PPCIe topology checks are not covered.
//! - SPDM 1.2 reports decode but do not verify (the signed transcript
//!   includes VCA messages the evidence does not carry); 1.0 and 1.3 are
//!   rejected.
//! - Appraisal (which driver or VBIOS versions are good enough) is for
//!   `rootline-policy`.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
// Unit tests may unwrap and index: a panic there is a failed test, not a crash on input.
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod c14n;
pub mod certs;
pub mod error;
pub mod evidence;
pub mod ocsp;
pub mod opaque;
pub mod rim;
pub mod spdm;
pub mod verify;
pub mod xmldsig;

pub use certs::{CertInfo, ChainInfo, TrustRoots};
pub use error::{Error, Result};
pub use evidence::{DeviceEvidence, Evidence};
pub use opaque::{OpaqueData, OpaqueFieldId};
pub use rim::{GoldenMeasurement, Rim, RimComparison, VerifiedRim};
pub use rootline_core::Verified;
pub use spdm::{DmtfMeasurementType, MeasurementBlock, SpdmReport, SpdmVersion};
pub use verify::{Arch, Claims, DeviceClaims, Options, RevocationClaims, Verifier, guest_nonce};

/// Whether `bytes` look like NVIDIA GPU evidence: one of the JSON forms
/// (with `evidence` and `certificate` fields) or a bare SPDM
/// GET_MEASUREMENTS report, binary or hex. Decodes nothing beyond the JSON
/// shape.
pub fn detect(bytes: &[u8]) -> bool {
    if bytes.len() > evidence::MAX_EVIDENCE_LEN {
        return false;
    }
    let t = bytes.trim_ascii();
    if matches!(t.first(), Some(b'{' | b'[')) {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(t) else {
            return false;
        };
        let item = |v: &serde_json::Value| {
            v.get("evidence").is_some_and(serde_json::Value::is_string)
                && v.get("certificate")
                    .is_some_and(serde_json::Value::is_string)
        };
        let first = |v: Option<&serde_json::Value>| {
            v.and_then(serde_json::Value::as_array)
                .and_then(|a| a.first())
                .is_some_and(item)
        };
        return first(v.get("device_evidence_list"))
            || first(v.get("evidence_list"))
            || first(Some(&v))
            || item(&v);
    }
    evidence::looks_like_report(bytes) || evidence::raw_report(bytes).is_some()
}

/// Decodes evidence into claims without verifying anything: for explaining
/// a rejection, never for trusting.
pub fn decode(evidence: &[u8]) -> Result<Claims> {
    verify::decode_claims(&Evidence::decode(evidence)?)
}

/// Verifies evidence with the pinned NVIDIA Device Identity CA at the
/// current time: the chain, the FWID, the SPDM signature, the nonce when
/// given (at most 32 bytes, zero-padded; see [`guest_nonce`]) and the RIMs
/// when given (see the crate docs for the order of checks).
pub fn verify(evidence: &[u8], nonce: Option<&[u8]>, rims: &[Rim]) -> Result<Verified<Claims>> {
    Verifier::pinned().verify(
        evidence,
        &Options {
            nonce,
            rims,
            ocsp: &[],
            at: None,
        },
    )
}

//! Arm CCA attestation tokens, verified against caller-supplied platform
//! trust anchors.
//!
//! A CCA token is a CBOR tag-399 collection of two COSE_Sign1 tokens: the
//! platform token, signed by the platform attestation key (CPAK), and the
//! realm delegated token, signed by the realm attestation key (RAK) that the
//! realm token itself carries. [`verify`] accepts a token only when, in this
//! order (each is also a [`Token`] method, for explaining a rejection):
//!
//! 1. a trust anchor naming the platform (its instance ID, and implementation
//!    ID when the anchor gives one) verifies the platform signature
//!    ([`Token::check_platform_signature`]; [`Error::UnknownPlatform`] or
//!    [`Error::BadSignature`]);
//! 2. the RAK from the realm claims verifies the realm signature
//!    ([`Token::check_realm_signature`]);
//! 3. the platform challenge equals the hash of the RAK, by the realm's
//!    public-key hash algorithm ([`Token::check_binding`],
//!    [`Error::Binding`]): without it, any key could sign the realm token;
//! 4. when the caller passes a nonce, the realm challenge equals it,
//!    zero-padded to 64 bytes ([`Token::check_nonce`], [`expected_challenge`]
//!    explains the padding, chosen to match guest-components and trustee).
//!
//! Everything fails closed: any error rejects the token, and the claims come
//! back as [`Verified`]`<`[`Claims`]`>`, which only these checks produce.
//!
//! # Public API
//!
//! - [`detect`]`(bytes) -> bool`: does this look like a CCA token (CBOR tag
//!   399)? Cheap; for dispatching evidence of unknown kind.
//! - [`decode`]`(token) -> Result<Claims>`: the claims without any check, to
//!   show what a rejected token said. Never treat them as verified.
//! - [`verify`]`(token, &anchors, nonce) -> Result<Verified<Claims>>`.
//! - [`TrustAnchors::from_json`] / [`TrustAnchors::add_json`]: CPAKs from the
//!   JSON forms the CCA tooling writes (a bare JWK like `cpak.json`, or a
//!   store like `ta.json`/`tastore.json`; see [`anchors`]). A file that is
//!   none of them gives [`Error::TrustAnchor`] naming the forms tried, so a
//!   caller sorting collateral files by content can simply try it.
//! - [`token_from_kbs_evidence`]: the token out of the KBS `tee-evidence`
//!   JSON guest-components sends for `cca` (`{"token": [bytes...]}`).
//! - [`Token`]: parse once, then run the checks one by one.
//! - [`Claims`] = [`PlatformClaims`] + [`RealmClaims`], serde-serialisable
//!   with bytes in lower-case hex.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let anchors = rootline_cca::TrustAnchors::from_json(&std::fs::read("tastore.json")?)?;
//! let token = std::fs::read("token.cbor")?;
//! let nonce = [0u8; 48]; // e.g. the SHA-384 of the KBS runtime data
//! let claims = rootline_cca::verify(&token, &anchors, Some(&nonce))?;
//! println!("{}", serde_json::to_string_pretty(claims.get())?);
//! # Ok(()) }
//! ```
//!
//! # Integrating (verifier dispatch, `TeeKind::Cca`, the command line)
//!
//! - Evidence: raw token bytes satisfy [`detect`]; the KBS `tee-evidence` of
//!   guest-components is JSON, unwrap it with [`token_from_kbs_evidence`]
//!   first (it does not start with the tag, so `detect` is false on it).
//! - Collateral: a file for which [`TrustAnchors::add_json`] succeeds is a CCA
//!   trust anchor; [`Error::TrustAnchor`] means it is something else.
//! - Binding: pass the expected report data as `nonce` (the KBS binding is a
//!   48-byte SHA-384, which the guest zero-pads to the 64-byte realm
//!   challenge; pass it unpadded or padded, both match). `None` skips only
//!   this check; the other three always run.
//! - Verdict: every `Err` is a rejection (exit 1 on the command line); the
//!   error's variant says which cause. `Ok` carries [`Verified`]`<`[`Claims`]`>`;
//!   `serde_json::to_value(claims.get())` gives `{"platform": {...},
//!   "realm": {...}}` with field names as in [`PlatformClaims`] and
//!   [`RealmClaims`]. The realm challenge is the report data, the
//!   personalization value is where trustee expects the init-data hash.
//! - Dependencies: aws-lc-rs, coset, ciborium, serde, base64, hex,
//!   rootline-core; no I/O, no async runtime.
//!
//! # Why not `ccatoken`
//!
//! `ccatoken` (veraison, used by trustee) depends on OpenSSL and, through
//! `jsonwebtoken`, on ring, with no feature to turn either off; aws-lc-rs is
//! the workspace's only crypto provider. COSE is decoded with `coset` and the
//! ECDSA signatures verified with aws-lc-rs (see the [`cose`] module); claim
//! rules follow `ccatoken`'s (see [`claims`]).
//!
//! # Non-goals
//!
//! Appraisal (is this RIM, REM, software component or lifecycle state good
//! enough?) is for `rootline-policy`; this crate does not read reference
//! value stores (`rv.json`, `rvstore.json`). No Veraison or other remote
//! verifier. No CPAK certificate chains: the trust anchors are the keys. No
//! built-in trust anchors: the well-known TF-A test CPAK is test data, not a
//! root.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod anchors;
pub mod claims;
pub mod cose;
pub mod error;
pub mod token;

pub use anchors::{Cpak, TrustAnchors};
pub use claims::{Claims, Lifecycle, PlatformClaims, RealmClaims, SwComponent};
pub use cose::{CoseAlg, Curve, EcKey};
pub use error::{Error, Part, Result};
pub use rootline_core::Verified;
pub use token::{MAX_TOKEN_LEN, Token, expected_challenge};

/// Whether `bytes` start like a CCA token: CBOR tag 399 (`d9 01 8f`).
pub fn detect(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0xd9, 0x01, 0x8f])
}

/// Decodes a token's claims without verifying anything: for explaining a
/// rejection, never for trusting.
pub fn decode(token: &[u8]) -> Result<Claims> {
    Token::parse(token).map(Token::into_claims)
}

/// Decodes and verifies a token: both signatures, the RAK binding and, when
/// `nonce` is given, the realm challenge (see the crate docs).
pub fn verify(
    token: &[u8],
    anchors: &TrustAnchors,
    nonce: Option<&[u8]>,
) -> Result<Verified<Claims>> {
    Token::parse(token)?.verify(anchors, nonce)
}

/// The token inside the `tee-evidence` JSON that guest-components' CCA
/// attester sends to a KBS: `{"token": [u8, ...]}` (serde's default form of
/// its `CcaEvidence { token: Vec<u8> }`). Returns the token bytes, not yet
/// decoded.
pub fn token_from_kbs_evidence(json: &[u8]) -> Result<Vec<u8>> {
    // Up to four characters ("255,") per token byte, plus the wrapper.
    const MAX: usize = 4 * MAX_TOKEN_LEN + 1024;
    if json.len() > MAX {
        return Err(Error::TooLarge {
            what: "CCA KBS evidence JSON",
            len: json.len(),
            max: MAX,
        });
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct CcaEvidence {
        token: Vec<u8>,
    }
    let e: CcaEvidence = serde_json::from_slice(json).map_err(|e| Error::Malformed {
        part: Part::Collection,
        reason: format!("KBS evidence JSON {{\"token\": [bytes]}}: {e}"),
    })?;
    Ok(e.token)
}

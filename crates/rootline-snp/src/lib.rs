//! AMD SEV-SNP attestation reports, verified to pinned AMD roots.
//!
//! - [`report`]: the 1184-byte report parsed through the bounded reader,
//!   versions 2 to 5 (an unknown version is rejected), signed bytes kept as
//!   received.
//! - [`evidence`]: the forms a report arrives in (raw, hex, extended report,
//!   configfs-tsm CBOR/JSON) and [`certtable`], the GUID certificate table.
//! - [`guest_json`]: the JSON Confidential Containers' guest-components send
//!   (the `sev` crate's serde form), rebuilt into the report bytes.
//! - [`pki`]: pinned AMD roots ([`TrustAnchors::amd`]), collateral, chains
//!   VCEK -> ASK -> ARK and VLEK -> ASVK -> ARK, CRLs, VEK extensions.
//! - [`verify`]: [`Verifier`], which caches verified chains by fingerprint so
//!   that a warm verification costs one ECDSA P-384 verify (aws-lc-rs).
//!
//! - [`needs`]: which collateral a report still lacks, and the product,
//!   chip ID and TCB that AMD KDS URLs are made of (for a caller that fetches).
//!
//! Non-goals: fetching from AMD KDS (the caller brings collateral), launch
//! measurement prediction, and appraisal policy (which TCB or measurement is
//! good enough is for `rootline-policy`).
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod certtable;
pub mod claims;
pub mod error;
pub mod evidence;
pub mod guest_json;
pub mod needs;
pub mod pki;
pub mod report;
pub mod verify;

pub use claims::Claims;
pub use error::{Error, Result};
pub use evidence::Evidence;
pub use pki::{Collateral, TrustAnchors, VekKind};
pub use report::{Product, Report};
pub use verify::{Appraisal, ChainSummary, Options, Rejection, Verifier};

//! Collateral from the vendors' services, kept in a persistent on-disk cache.
//!
//! The verifier crates never touch the network: they verify the bytes they
//! are handed. This crate is what the `rootline` binary uses to obtain those
//! bytes when the caller did not supply them:
//!
//! - [`kds`]: AMD Key Distribution Service (VCEK by chip ID and TCB, the
//!   ASK/ARK or ASVK/ARK chain, AMD's CRL);
//! - [`pcs`]: Intel Provisioning Certification Service v4, or a PCCS with the
//!   same paths (PCK CRL, TCB info, QE identity, root CA CRL; issuer chains
//!   from the response headers);
//! - [`nvidia`]: NVIDIA's OCSP responder (RFC 6960 responses about the
//!   certificates of GPU device chains and RIM signing chains, POSTed as
//!   NVIDIA's verifier does, cached until their nextUpdate);
//! - [`Client`]: the cache (keyed by URL, atomic writes, refetch when a CRL's
//!   or TCB info's `nextUpdate` has passed), the HTTP client (timeouts, 429
//!   and 503 retried after `Retry-After` or with bounded exponential backoff,
//!   a progress line on stderr for downloads slower than a second), and the
//!   offline mode, which never fetches and names the file that is missing.
//!
//! Nothing fetched is trusted for being fetched: it is only checked to be of
//! the expected shape before it is cached, and verified later, like any
//! collateral file, against the pinned roots.
//!
//! - [`Fetcher`]: the `rootline_verifier::CollateralSource` over a client
//!   per vendor (AMD, Intel, and NVIDIA when [`Fetcher::with_nvidia`]
//!   adds it), each with its own consent to use the network: asks the
//!   evidence what it needs and obtains what the caller did not give.
//!
//! Non-goals: verification (the evidence crates), PCK certificate retrieval
//! by encrypted PPID (quotes carry their PCK chain), asynchronous I/O.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod artifact;
pub mod bundle;
mod cache;
mod client;
mod source;

pub use artifact::{Artifact, Kind, Post, kds, nvidia, pcs};
pub use cache::cache_path;
pub use client::{Client, Config, Fetched, SharedCache, SharedEntry, Source, Stats};
pub use source::Fetcher;

use std::path::PathBuf;

/// Why an artifact could not be obtained.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Offline, and the artifact is not in the cache.
    #[error(
        "{what} is missing and was not fetched (fetching needs --fetch, or a --kds-url/--pcs-url/--nvidia-ocsp-url you name, and no --offline): put {} at {} (as {url} serves it){extra}, or pass it with --collateral",
        kind.describe(),
        path.display()
    )]
    Offline {
        /// The artifact.
        what: String,
        /// What it is.
        kind: Kind,
        /// Where the cache expects it.
        path: PathBuf,
        /// The URL it would come from.
        url: String,
        /// More files that go with it (issuer chains).
        extra: String,
    },
    /// The service answered with an error status.
    #[error("fetching {what} from {url}: HTTP {status}")]
    Status {
        /// The artifact.
        what: String,
        /// Its URL.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// Still rate-limited after the last retry.
    #[error("fetching {what} from {url}: still HTTP {status} after {attempts} attempts")]
    GaveUp {
        /// The artifact.
        what: String,
        /// Its URL.
        url: String,
        /// The last status (429 or 503).
        status: u16,
        /// Attempts made.
        attempts: u32,
    },
    /// No complete answer within the timeout.
    #[error("fetching {what} from {url}: timed out after {secs} s")]
    Timeout {
        /// The artifact.
        what: String,
        /// Its URL.
        url: String,
        /// The timeout.
        secs: u64,
    },
    /// Connection or protocol failure.
    #[error("fetching {what} from {url}: {reason}")]
    Transport {
        /// The artifact.
        what: String,
        /// Its URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The answer is not the artifact asked for (an HTML error page, a
    /// truncated CRL...); it is not cached.
    #[error("{what} from {url} is not usable: {reason}")]
    BadResponse {
        /// The artifact.
        what: String,
        /// Its URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The cache could not be read or written.
    #[error("cache {}: {reason}", path.display())]
    Cache {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// No cache folder could be chosen.
    #[error("no cache folder: set XDG_CACHE_HOME or HOME, or pass --cache-dir")]
    NoCacheDir,
    /// A base URL or artifact URL is malformed.
    #[error("URL {url:?}: {reason}")]
    Url {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
}

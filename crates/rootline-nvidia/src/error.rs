//! The one error type of this crate, grouped by cause (malformed,
//! unsupported, untrusted, bad signature, stale, mismatch) so that a caller
//! can tell a truncated report from a foreign certificate chain from a GPU
//! whose firmware differs from its reference manifest.

use rootline_core::CodecError;
use thiserror::Error;

/// Why NVIDIA GPU evidence was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Error {
    // --- malformed -------------------------------------------------------
    /// An input is larger than this crate accepts.
    #[error("{what} is {len} bytes, more than the {max} accepted")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The evidence wrapper (JSON, base64, hex, PEM) does not decode.
    #[error("malformed evidence: {field}: {reason}")]
    Evidence {
        /// The field or layer that does not decode.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// The SPDM request or response does not decode.
    #[error("malformed SPDM message: {0}")]
    Spdm(#[source] CodecError),
    /// The NVIDIA opaque data inside the response does not decode.
    #[error("malformed opaque data: {field}: {reason}")]
    Opaque {
        /// The opaque-data field.
        field: String,
        /// Why.
        reason: String,
    },
    /// A certificate of a chain (the device's, or a RIM signer's inside
    /// [`Error::InRim`]) does not decode.
    #[error("malformed certificate {index} of the chain: {reason}")]
    Certificate {
        /// Position in the chain, leaf = 0.
        index: usize,
        /// Why.
        reason: String,
    },
    /// A reference integrity manifest does not decode, or its XML signature
    /// is not in the one shape this crate verifies (see [`crate::xmldsig`]).
    #[error("malformed RIM: {field}: {reason}")]
    Rim {
        /// The element or attribute.
        field: String,
        /// Why.
        reason: String,
    },

    /// An OCSP response does not decode.
    #[error("malformed OCSP response: {field}: {reason}")]
    Ocsp {
        /// The OCSP field.
        field: &'static str,
        /// Why.
        reason: String,
    },

    // --- unsupported -----------------------------------------------------
    /// A version, message code, algorithm or device this verifier does not
    /// know; unknown values are rejected, never read as the nearest known one.
    #[error("unsupported {field}: {value}")]
    Unsupported {
        /// The field.
        field: &'static str,
        /// Its value, and why it is not supported.
        value: String,
    },

    // --- untrusted -------------------------------------------------------
    /// The chain holds fewer certificates than a signing certificate plus a root.
    #[error(
        "certificate chain must have at least the root CA and signing certificates, it has {len}"
    )]
    ChainTooShort {
        /// Certificates in the chain.
        len: usize,
    },
    /// The chain holds more certificates than any NVIDIA device chain.
    #[error("certificate chain has {len} certificates, more than the {max} accepted")]
    ChainTooLong {
        /// Certificates in the chain.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The chain's last certificate is none of the caller's trust roots.
    #[error("certificate chain ends at {subject}, which is not a trusted root")]
    UntrustedRoot {
        /// Subject of the chain's last certificate (RFC 4514).
        subject: String,
    },
    /// A certificate is not issued by the next one in the chain.
    #[error("certificate {index} ({subject}) is not issued by the next certificate: {reason}")]
    Chain {
        /// Position of the issued certificate, leaf = 0.
        index: usize,
        /// Its subject (RFC 4514).
        subject: String,
        /// Why the link fails.
        reason: String,
    },
    /// The signing certificate carries no TCG DICE FWID extension
    /// (`2.23.133.5.4.1`), so the firmware it certifies is unknown.
    #[error("FwId oid not found in the NVIDIA signing certificate ({subject})")]
    FwidMissing {
        /// Subject of the signing certificate (RFC 4514).
        subject: String,
    },

    /// A RIM carries no XML signature, so nothing vouches for its golden
    /// values.
    #[error("the RIM is not signed (no ds:Signature element)")]
    RimUnsigned,

    /// An OCSP responder answered with an error instead of a status
    /// (`tryLater`, `unauthorized`...): no statement about any certificate.
    #[error("the OCSP response is not successful: responseStatus {status}")]
    OcspStatus {
        /// The status, by name and value.
        status: String,
    },
    /// An OCSP response is signed by neither the certificate's issuer nor a
    /// responder the issuer delegated to (RFC 6960 §4.2.2.2).
    #[error("untrusted OCSP responder: {reason}")]
    OcspResponder {
        /// Why the signer is not accepted.
        reason: String,
    },
    /// No single response of an OCSP response names the certificate
    /// (another serial, another issuer, another hash).
    #[error("the OCSP response has no status for {subject} (serial {serial})")]
    OcspNoMatch {
        /// The certificate's subject (RFC 4514).
        subject: String,
        /// Its serial number, hex.
        serial: String,
    },
    /// The issuer's OCSP responder says the certificate is revoked.
    #[error("certificate {subject} (serial {serial}) is revoked since {time}: {reason}")]
    Revoked {
        /// The certificate's subject (RFC 4514).
        subject: String,
        /// Its serial number, hex.
        serial: String,
        /// The revocation time (RFC 3339).
        time: String,
        /// The CRLReason (`keyCompromise`, `certificateHold`...).
        reason: String,
    },
    /// The issuer's OCSP responder does not know the certificate.
    #[error(
        "the OCSP responder does not know certificate {subject} (serial {serial}): status unknown"
    )]
    RevocationUnknown {
        /// The certificate's subject (RFC 4514).
        subject: String,
        /// Its serial number, hex.
        serial: String,
    },

    // --- bad signature ---------------------------------------------------
    /// The SPDM signature does not verify with the signing certificate's key.
    #[error("bad signature: {0}")]
    BadSignature(String),
    /// A RIM's `SignedInfo` signature does not verify with the key of its
    /// signing certificate: the `SignedInfo` or the signature value changed.
    #[error("the RIM signature does not verify with the key of {signer}")]
    RimBadSignature {
        /// Subject of the RIM's signing certificate (RFC 4514).
        signer: String,
    },
    /// A RIM's content (everything but its signature) is not what its
    /// signature covers: its SHA-384 digest differs from the signed one.
    #[error(
        "the RIM content differs from what its signature covers: SHA-384 of the canonical document is {computed}, the signed digest is {signed}"
    )]
    RimDigestMismatch {
        /// The signed `DigestValue`, hex.
        signed: String,
        /// The digest of the RIM as received, hex.
        computed: String,
    },

    /// An OCSP response's signature does not verify with its signer's key.
    #[error("the OCSP response for {subject} does not verify with its signer's key")]
    OcspBadSignature {
        /// The subject of the certificate the response is about.
        subject: String,
    },

    // --- stale -----------------------------------------------------------
    /// A certificate is not valid at the verification time.
    #[error("certificate {index} ({subject}) is not valid at unix time {at}")]
    Stale {
        /// Position in the chain, leaf = 0.
        index: usize,
        /// Its subject (RFC 4514).
        subject: String,
        /// The verification time, seconds since the Unix epoch.
        at: i64,
    },

    /// An OCSP response is not current at the verification time (past its
    /// nextUpdate, or produced in the future), beyond the clock skew.
    #[error(
        "the OCSP response for {subject} is current from unix time {this_update} to {next_update}, not at {at}"
    )]
    OcspStale {
        /// The subject of the certificate the response is about.
        subject: String,
        /// Its thisUpdate, Unix seconds.
        this_update: i64,
        /// Its nextUpdate, Unix seconds.
        next_update: i64,
        /// The verification time.
        at: i64,
    },

    // --- mismatch --------------------------------------------------------
    /// The evidence disagrees with itself, its certificate or the caller.
    #[error("mismatch: {field}: expected {expected}, found {found}")]
    Mismatch {
        /// What disagrees (`nonce`, `fwid`, `arch`, `driver_version`, ...).
        field: &'static str,
        /// The value that was expected.
        expected: String,
        /// The value the evidence holds.
        found: String,
    },
    /// RIMs were given but none applies to the device (product and driver or
    /// VBIOS version).
    #[error(
        "no RIM applies to this device (model {model}, driver {driver}, VBIOS {vbios}); RIMs given: {given}"
    )]
    NoApplicableRim {
        /// The device model (e.g. `GH100`).
        model: String,
        /// The driver version in the report, or `-`.
        driver: String,
        /// The VBIOS version in the report, or `-`.
        vbios: String,
        /// The RIMs that were given, as `product version`.
        given: String,
    },
    /// Two applicable RIMs both have an active measurement at one index.
    #[error("RIMs {first} and {second} both hold an active measurement at index {index}")]
    RimConflict {
        /// The SPDM measurement block index.
        index: u16,
        /// One RIM (tag ID).
        first: String,
        /// The other.
        second: String,
    },
    /// Measurements differ from every golden value of the applicable RIMs.
    #[error("measurements differ from the RIM golden values at SPDM block indices {indices:?}")]
    RimMismatch {
        /// The SPDM measurement block indices (1-based) that differ.
        indices: Vec<u16>,
    },

    // --- context ---------------------------------------------------------
    /// An error in verifying one RIM's signature.
    #[error("RIM {rim}: {source}")]
    InRim {
        /// The RIM as `product version (tag ID)`.
        rim: String,
        /// What went wrong with it.
        #[source]
        source: Box<Error>,
    },
    /// An error in one of the OCSP responses given.
    #[error("OCSP response {index}: {source}")]
    InOcspResponse {
        /// Position of the response among those given.
        index: usize,
        /// What went wrong with it.
        #[source]
        source: Box<Error>,
    },
    /// An error in one device of a multi-device evidence list.
    #[error("device {index}: {source}")]
    InDevice {
        /// Position of the device in the evidence list.
        index: usize,
        /// What went wrong with it.
        #[source]
        source: Box<Error>,
    },
}

impl From<CodecError> for Error {
    fn from(e: CodecError) -> Self {
        Self::Spdm(e)
    }
}

impl Error {
    /// The error without its [`Error::InDevice`] and [`Error::InRim`]
    /// wrappers.
    pub fn root_cause(&self) -> &Error {
        match self {
            Self::InDevice { source, .. }
            | Self::InRim { source, .. }
            | Self::InOcspResponse { source, .. } => source.root_cause(),
            other => other,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

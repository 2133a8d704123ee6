//! The attester's one error type, grouped by cause.
//!
//! Messages are lower case, name the device, file or field involved, and
//! never contain key material or secrets.

/// Everything that can go wrong while collecting evidence or talking to a broker.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The TPM (or the TSS library talking to it) refused or failed a command.
    #[cfg(feature = "tpm")]
    #[error("tpm: {context}: {source}")]
    Tpm {
        /// What was being done.
        context: String,
        /// The TSS error.
        source: tss_esapi::Error,
    },
    /// A device or file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path or device involved.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Something the device, the kernel or the broker handed back is malformed.
    #[error("{what}: {reason}")]
    Malformed {
        /// Which structure or field.
        what: String,
        /// Why it was refused.
        reason: String,
    },
    /// The backend asked for was left out of this build (a cargo feature that
    /// was off), e.g. the TPM attester without the `tpm` feature.
    #[error(
        "{backend} is not in this build: it was built without the `{feature}` feature ({hint})"
    )]
    NotBuilt {
        /// What is missing.
        backend: &'static str,
        /// The cargo feature that adds it.
        feature: &'static str,
        /// What to do about it.
        hint: &'static str,
    },
    /// The caller asked for something this backend or this machine cannot do.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A cryptographic operation failed (key generation, ECDH, decryption).
    #[error("crypto: {0}")]
    Crypto(String),
    /// The broker could not be reached, or the transport failed.
    #[error("http {url}: {reason}")]
    Http {
        /// The URL requested.
        url: String,
        /// The transport error.
        reason: String,
    },
    /// The broker answered with an error status (RFC 7807 body when it sent one).
    #[error("broker answered {status} to {url}: {detail}")]
    Broker {
        /// The HTTP status.
        status: u16,
        /// The URL requested.
        url: String,
        /// The problem detail (or the body) the broker sent.
        detail: String,
        /// The problem `type` the broker sent, when it sent one.
        kind: Option<String>,
    },
}

impl Error {
    #[cfg(feature = "tpm")]
    pub(crate) fn tpm(context: impl Into<String>) -> impl FnOnce(tss_esapi::Error) -> Self {
        let context = context.into();
        move |source| Self::Tpm { context, source }
    }

    pub(crate) fn io(path: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.to_string();
        move |source| Self::Io { path, source }
    }

    pub(crate) fn malformed(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Malformed {
            what: what.into(),
            reason: reason.into(),
        }
    }

    /// The HTTP status when the broker answered with an error, for callers
    /// that map refusals to their own exit codes.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Broker { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the broker refused by policy: rootline's `policy-denied`
    /// problem or Trustee's `PolicyDeny`, both sent with 401 (Trustee's
    /// status, which guests act on). A new handshake cannot change that
    /// answer, so it is not retried.
    pub fn is_policy_denial(&self) -> bool {
        match self {
            Self::Broker { kind: Some(k), .. } => {
                k.ends_with("/policy-denied") || k.ends_with("/PolicyDeny")
            }
            _ => false,
        }
    }
}

//! AMD SEV and SEV-ES launch attestation, from the guest owner's side.
//!
//! SEV and SEV-ES have no attestation report: the guest owner checks the
//! launch before the guest runs and then injects a secret only that launch
//! can receive. The steps, each a module:
//!
//! - [`chain`]: the platform's certificates, PDH <- PEK <- (OCA, CEK) <- ASK
//!   <- ARK, parsed by [`cert`] and verified to ARKs from [`roots`] (AMD's,
//!   pinned, or the caller's), giving a [`VerifiedPlatform`].
//! - [`session`]: the launch session with that PDH (GODH, TEK and TIK, the
//!   LAUNCH_START data), kept by the guest owner as a [`LaunchSession`].
//! - [`measure`]: the LAUNCH_MEASURE HMAC checked against the expected
//!   launch digests, which consumes the session and gives a
//!   [`VerifiedLaunch`].
//! - [`secret`]: the LAUNCH_SECRET packet, which only a [`VerifiedLaunch`]
//!   can build, carrying a [`SecretTable`] in OVMF's GUIDed format.
//!
//! Every signature is checked with aws-lc-rs over the bytes as received.
//!
//! Non-goals: fetching certificates from AMD, the hypervisor side (QEMU,
//! libvirt), SEV-SNP (`rootline-snp`), predicting launch digests
//! (`rootline-snp-measure`, which may use the `sev` crate; this crate does
//! not), SEV API versions before 0.17, and sending or migrating guests.
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

pub mod cert;
pub mod chain;
pub mod error;
pub mod measure;
pub mod roots;
pub mod secret;
pub mod session;

pub use cert::{Algorithm, CaCertificate, SevCertificate, Usage};
pub use chain::{PlatformChain, VerifiedPlatform};
pub use error::{Error, Result};
pub use measure::{LaunchMeasurement, PlatformVersion, VerifiedLaunch};
pub use roots::{Product, TrustAnchors, builtin_ask};
pub use secret::{Guid, LaunchSecret, SecretTable};
pub use session::{GuestPolicy, LaunchSession, LaunchStart, SESSION_STATE_LEN};

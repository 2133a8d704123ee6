//! Evidence collection inside the tenant, and the KBS client.
//!
//! The attester is the RATS role that runs in the confidential workload: it
//! asks the hardware for evidence whose report data binds a fresh key and the
//! broker's nonce, runs the KBS handshake, and decrypts what the broker
//! releases. Backends: a TPM through tss-esapi (`/dev/tpmrm0` or swtpm;
//! the `tpm` feature, on by default: the only backend needing a system library,
//! libtss2), SEV-SNP and TDX through configfs-tsm with `/dev/sev-guest` as
//! the SNP fallback, and a simulated P-384 TEE for load tests.
//!
//! Non-goals: no verification (that is `rootline-verifier`, on the broker's
//! side), no server code. The attester shares only `rootline-core` and wire
//! types with the server side.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod error;
pub mod evidence;
pub mod kbs;
pub mod kbs_serial;
pub mod loadgen;
pub mod measured_boot;
pub mod sev_guest;
pub mod sim;
pub mod swtpm;
pub mod tpm;
pub mod tpm_activation;
pub mod tpm_evidence;
pub mod tsm;

pub use error::Error;
pub use evidence::Attester;

//! The TPM backend: tss-esapi talking to `/dev/tpmrm0` or to swtpm.
//!
//! Creates (or loads) the endorsement key from the TCG default templates and
//! an attestation key under it, quotes PCRs with a nonce as qualifying data,
//! reads and extends PCRs, reads the firmware's event log, and runs
//! TPM2_ActivateCredential for the verifier's credential challenge.
//!
//! There may be no resource manager (swtpm, `/dev/tpm0`), so every transient
//! object and session this module creates is flushed when the caller is done
//! with it, and the rest when the [`Tpm`] is dropped.
//!
//! swtpm over a unix socket: tss-esapi 7 can only name the swtpm TCTI by host
//! and port, so for `swtpm:path=SOCKET` this module relays loopback TCP
//! (127.0.0.1, ports the kernel picks: data P, control P + 1 as the TCTI
//! expects) to the data socket and to `SOCKET.ctrl`, in threads that end
//! with the connection (data) or when the [`Tpm`] is dropped (control).
//!
//! Only [`Tpm`] talks to the TPM, and only the `tpm` feature (on by
//! default) builds it on tss-esapi, which links the TSS2 C libraries
//! (libtss2). Without the feature everything else here stays (TCTI names,
//! key algorithms, the event log reader) and [`Tpm::open`] fails with
//! [`Error::NotBuilt`], so a broker built without it carries no libtss2.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use rootline_core::HashAlg;

use crate::Error;

#[cfg(not(feature = "tpm"))]
mod absent;
#[cfg(feature = "tpm")]
mod esapi;

#[cfg(not(feature = "tpm"))]
use absent::Handle;
#[cfg(not(feature = "tpm"))]
pub use absent::Tpm;
#[cfg(feature = "tpm")]
use esapi::Handle;
#[cfg(feature = "tpm")]
pub use esapi::Tpm;
/// Fails with [`Error::NotBuilt`] when this build has no TPM backend (the
/// `tpm` feature was off), for callers that refuse before doing anything
/// else, such as a KBS handshake whose evidence would come from the TPM.
pub fn require() -> Result<(), Error> {
    if cfg!(feature = "tpm") {
        Ok(())
    } else {
        Err(not_built())
    }
}

/// What every TPM operation of a build without the `tpm` feature ends in.
fn not_built() -> Error {
    Error::NotBuilt {
        backend: "the TPM attester",
        feature: "tpm",
        hint: "it links libtss2; rebuild with default features, e.g. `cargo install --path crates/rootline`",
    }
}

/// Where the TPM is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tcti {
    /// A character device: `/dev/tpmrm0` (kernel resource manager) or `/dev/tpm0`.
    Device(PathBuf),
    /// swtpm's data socket, a unix socket path.
    SwtpmUnix(PathBuf),
    /// Any other TCTI string tss-esapi understands (`swtpm:host=...,port=...`, `mssim:...`).
    Other(String),
}

impl FromStr for Tcti {
    type Err = Error;

    /// Parses `device:PATH`, `swtpm:path=SOCKET` (or `swtpm:SOCKET` when it
    /// names a path), a bare path, or any other tss-esapi TCTI string.
    fn from_str(s: &str) -> Result<Self, Error> {
        if let Some(p) = s.strip_prefix("device:") {
            return Ok(Self::Device(PathBuf::from(if p.is_empty() {
                "/dev/tpmrm0"
            } else {
                p
            })));
        }
        if let Some(rest) = s.strip_prefix("swtpm:") {
            if let Some(p) = rest.strip_prefix("path=") {
                return Ok(Self::SwtpmUnix(PathBuf::from(p)));
            }
            if rest.starts_with('/') {
                return Ok(Self::SwtpmUnix(PathBuf::from(rest)));
            }
        }
        if s.starts_with('/') {
            return Ok(Self::Device(PathBuf::from(s)));
        }
        #[cfg(feature = "tpm")]
        if !esapi::check_tcti(s) {
            return Err(Error::malformed(
                "tcti",
                format!("{s:?} is not a TCTI this attester knows"),
            ));
        }
        Ok(Self::Other(s.to_owned()))
    }
}

impl Tcti {
    /// The TPM of this machine: `$TPM2TOOLS_TCTI` or `$TCTI` when set, else `/dev/tpmrm0`.
    pub fn from_env() -> Result<Self, Error> {
        match std::env::var("TPM2TOOLS_TCTI").or_else(|_| std::env::var("TCTI")) {
            Ok(s) if !s.is_empty() => s.parse(),
            _ => Ok(Self::Device(PathBuf::from("/dev/tpmrm0"))),
        }
    }
}

/// Key algorithms for EKs and AKs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlg {
    /// RSA-2048 (AK: RSASSA with SHA-256).
    Rsa2048,
    /// ECC NIST P-256 (AK: ECDSA with SHA-256).
    EccP256,
}

impl FromStr for KeyAlg {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "rsa" | "rsa2048" => Ok(Self::Rsa2048),
            "ecc" | "ecc256" | "p256" => Ok(Self::EccP256),
            _ => Err(Error::Unsupported(format!(
                "key algorithm {s:?} (use rsa or ecc)"
            ))),
        }
    }
}

/// An endorsement key loaded in the TPM.
#[derive(Debug)]
pub struct Ek {
    handle: Handle,
    /// The algorithm it was made with.
    pub alg: KeyAlg,
    /// TPMT_PUBLIC, as the TPM marshals it.
    pub public: Vec<u8>,
}

/// An attestation key loaded in the TPM.
#[derive(Debug)]
pub struct Ak {
    handle: Handle,
    /// The algorithm it was made with.
    pub alg: KeyAlg,
    /// TPMT_PUBLIC, as the TPM marshals it.
    pub public: Vec<u8>,
    /// The wrapped private part (TPM2B_PRIVATE contents), to load it again later.
    pub private: Vec<u8>,
    /// The TPM's name for it (nameAlg || H(TPMT_PUBLIC)).
    pub name: Vec<u8>,
}

/// A quote: the signed TPMS_ATTEST and its TPMT_SIGNATURE.
#[derive(Debug, Clone)]
pub struct Quote {
    /// TPMS_ATTEST bytes.
    pub attest: Vec<u8>,
    /// TPMT_SIGNATURE bytes.
    pub signature: Vec<u8>,
}

/// A selection: banks and the PCR indices read or quoted in each.
pub type Selection = [(HashAlg, Vec<u8>)];

/// Where Linux exposes the firmware's TCG event log.
pub const BIOS_EVENT_LOG: &str = "/sys/kernel/security/tpm0/binary_bios_measurements";

/// The firmware event log when the kernel exposes one (`None` when absent).
pub fn read_event_log(path: &Path) -> Result<Option<Vec<u8>>, Error> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path.display())(e)),
    }
}

/// How long a quote took, for callers that report it.
pub fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let t = std::time::Instant::now();
    let v = f();
    (v, t.elapsed())
}

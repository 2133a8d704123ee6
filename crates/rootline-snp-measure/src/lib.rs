//! Predict an AMD SEV-SNP guest's launch measurement (the report's
//! `measurement`, a SHA-384 chain over every page the hypervisor hands the
//! PSP at launch) from the artifacts: the OVMF image, optionally the kernel,
//! initrd and command line QEMU hashes into OVMF's SEV hash table, the vCPU
//! count and type, the VMM and the guest's SEV features. The value is what
//! a reference-value provider records as `snp.measurement`.
//!
//! The arithmetic is the `sev` crate's measurement module (virtee, the
//! Rust port of `sev-snp-measure`): the PAGE_INFO chain of the SNP ABI
//! (SNP_LAUNCH_UPDATE), the OVMF SEV metadata sections and one VMSA page per
//! vCPU built for the vCPU type. This crate adds what a verifier needs around
//! it: the OVMF footer table and metadata are checked through the bounded
//! reader first ([`ovmf`]), and inputs that `sev` would measure differently
//! from QEMU or from `sev-snp-measure` are refused instead of mis-predicted
//! (a command line with surrounding whitespace, which `sev` trims and QEMU
//! hashes as given).
//!
//! # Why RustCrypto is tolerated here
//!
//! `sev` 8.0 compiles its measurement module only with its `openssl` or
//! `crypto_nossl` feature; the second pulls RustCrypto's `sha2` (and `p384`,
//! `rsa`, `x509-cert`, which the measurement never calls). That is accepted
//! in this crate alone because a launch-measurement prediction only hashes
//! public inputs the operator supplies: no signature, certificate or
//! freshness check relies on it, and a wrong digest can only make a
//! reference value fail to match (fail closed). Report verification stays in
//! `rootline-snp` on aws-lc-rs, which does not depend on `sev`; only the
//! `rootline` binary depends on this crate (`cargo tree -i sev`).
//!
//! [`sev_launch`] predicts SEV and SEV-ES launch digests (one SHA-256 over
//! the firmware, QEMU's hash table and, for SEV-ES, the VMSAs), which the
//! guest owner checks LAUNCH_MEASURE against with `rootline-sev`.
//!
//! Non-goals: SVSM (Coconut) launches, the
//! GCE VMM type and vCPU signatures given as family/model/stepping (which
//! `sev-snp-measure` offers and `sev` 8.0 does not), ID blocks.
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

pub mod ovmf;
pub mod sev_launch;
pub mod synthetic;

use std::io::Write as _;
use std::path::Path;
use std::str::FromStr;

use serde::Serialize;
use sev::measurement::snp::{SnpMeasurementArgs, snp_calc_launch_digest};
use sev::measurement::vcpu_types::CpuType;
use sev::measurement::vmsa::{GuestFeatures, VMMType};

pub use ovmf::{Guid, OvmfLayout, Section, SectionKind};
pub use sev_launch::{SevInputs, SevMode, SevPrediction, VmsaFpu, predict_sev};

/// Most vCPUs a prediction accepts (KVM's limit on x86); each costs a 4 KiB
/// VMSA page in memory while measuring.
pub const MAX_VCPUS: u32 = 4096;

/// `SEV_FEATURES` bit 0, SNPActive: set in every SNP guest's VMSA.
const SNP_ACTIVE: u64 = 1;

/// Why a launch measurement could not be predicted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The OVMF image's footer table or SEV metadata is malformed.
    #[error("malformed OVMF image: {0}")]
    Ovmf(String),
    /// The image is not an SEV-capable OVMF build.
    #[error("not an SEV-SNP capable OVMF build: {0}")]
    NotSevOvmf(String),
    /// A metadata section type this version does not know how to measure.
    #[error("OVMF SEV metadata section {index} has type {kind:#x}, which rootline cannot measure")]
    UnsupportedSection {
        /// The section's index in the metadata.
        index: usize,
        /// Its type.
        kind: u32,
    },
    /// A kernel was given but the OVMF build does not measure kernel hashes.
    #[error("a kernel cannot be measured with this OVMF: {0}")]
    NoKernelHashes(String),
    /// An input value is out of range or would be mis-measured.
    #[error("invalid {field}: {reason}")]
    Input {
        /// The input.
        field: &'static str,
        /// Why it is refused.
        reason: String,
    },
    /// A file could not be read or staged.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// `sev`'s measurement returned an error.
    #[error("launch digest: {0}")]
    Measurement(String),
}

/// A QEMU vCPU model, as `-cpu` names it (`EPYC-v4`, `EPYC-Milan`,
/// `EPYC-Genoa`...): it decides the CPUID signature in each VMSA.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VcpuType(CpuType);

impl VcpuType {
    /// The names accepted (case-insensitive), as `sev` 8.0 knows them.
    pub const NAMES: &'static [&'static str] = &[
        "EPYC",
        "EPYC-v1",
        "EPYC-v2",
        "EPYC-IBPB",
        "EPYC-v3",
        "EPYC-v4",
        "EPYC-Rome",
        "EPYC-Rome-v1",
        "EPYC-Rome-v2",
        "EPYC-Rome-v3",
        "EPYC-Milan",
        "EPYC-Milan-v1",
        "EPYC-Milan-v2",
        "EPYC-Genoa",
        "EPYC-Genoa-v1",
        "EPYC-Turin",
        "EPYC-Turin-v1",
        "EPYC-Turin-v2",
    ];

    /// The CPUID Fn0000_0001_EAX signature the VMSAs carry.
    pub fn signature(self) -> u32 {
        self.0.sig() as u32
    }
}

impl FromStr for VcpuType {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        CpuType::try_from(s)
            .map(VcpuType)
            .map_err(|_| Error::Input {
                field: "vcpu type",
                reason: format!("{s:?} is not one of {}", Self::NAMES.join(", ")),
            })
    }
}

impl std::fmt::Display for VcpuType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for VcpuType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The VMM that launches the guest: it decides some VMSA fields and whether
/// the CPUID page is measured in metadata order (QEMU) or last (EC2).
///
/// Only QEMU's prediction is cross-checked against `sev-snp-measure`; libkrun
/// has no second implementation to check it against, and EC2 is refused
/// (see [`predict`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum VmmType {
    /// QEMU/KVM.
    #[default]
    Qemu,
    /// AWS EC2: recognised, then refused by [`predict`] (the `sev` crate's
    /// EC2 VMSA is out of date).
    Ec2,
    /// libkrun.
    Krun,
}

impl FromStr for VmmType {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s.to_ascii_lowercase().as_str() {
            "qemu" => Ok(Self::Qemu),
            "ec2" => Ok(Self::Ec2),
            "krun" => Ok(Self::Krun),
            _ => Err(Error::Input {
                field: "vmm type",
                reason: format!("{s:?} is not qemu, ec2 or krun"),
            }),
        }
    }
}

impl VmmType {
    fn to_sev(self) -> VMMType {
        match self {
            Self::Qemu => VMMType::QEMU,
            Self::Ec2 => VMMType::EC2,
            Self::Krun => VMMType::KRUN,
        }
    }
}

/// What a launch measurement depends on.
#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    /// The OVMF image, as QEMU maps it (`-bios` or the code pflash).
    pub ovmf: &'a [u8],
    /// The kernel QEMU loads with `-kernel`; its hash (with the initrd's and
    /// the command line's) is measured in OVMF's SEV hash table page.
    pub kernel: Option<&'a Path>,
    /// The `-initrd` file (with a kernel only; absent means empty).
    pub initrd: Option<&'a Path>,
    /// The `-append` command line (with a kernel only; absent means empty).
    pub append: Option<&'a str>,
    /// Number of vCPUs, each measured as one VMSA page.
    pub vcpus: u32,
    /// The vCPU model.
    pub vcpu_type: VcpuType,
    /// The VMM.
    pub vmm_type: VmmType,
    /// The guest's `SEV_FEATURES` (VMSA offset 0x3b0); QEMU's default for
    /// SNP is 0x1, Linux guests with debug swap enabled use 0x21.
    pub guest_features: u64,
}

/// A predicted launch measurement and what it was computed from.
#[derive(Debug, Clone, Serialize)]
pub struct Prediction {
    /// The 48-byte launch digest, as the attestation report's `measurement`.
    #[serde(serialize_with = "hex_bytes")]
    pub measurement: [u8; 48],
    /// The OVMF structures that entered it.
    pub ovmf: OvmfLayout,
    /// True when QEMU's kernel/initrd/cmdline hash table was measured; false
    /// when the hash page (if the build has one) was measured as zeros.
    pub kernel_hashes: bool,
}

fn hex_bytes<S: serde::Serializer>(b: &[u8; 48], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(b))
}

impl Prediction {
    /// The measurement in lower-case hex.
    pub fn hex(&self) -> String {
        hex::encode(self.measurement)
    }
}

/// Refuses kernel arguments QEMU would not hash, or that `sev` would hash
/// differently from QEMU (shared by the SNP and the SEV/SEV-ES predictions).
pub(crate) fn check_kernel_args(
    kernel: Option<&Path>,
    initrd: Option<&Path>,
    append: Option<&str>,
) -> Result<(), Error> {
    if kernel.is_none() && (initrd.is_some() || append.is_some()) {
        return Err(Error::Input {
            field: "initrd/append",
            reason: "QEMU hashes an initrd and a command line only with a kernel".into(),
        });
    }
    if let Some(a) = append {
        if a.trim() != a {
            // sev's SevHashes trims the command line; QEMU and
            // sev-snp-measure hash it as given.
            return Err(Error::Input {
                field: "append",
                reason: "leading or trailing whitespace: QEMU measures it as given, the sev crate would drop it; remove it from the VM's -append too".into(),
            });
        }
        if a.contains('\0') {
            return Err(Error::Input {
                field: "append",
                reason: "contains a NUL byte".into(),
            });
        }
    }
    Ok(())
}

/// Predicts the launch measurement of an SNP guest.
pub fn predict(inputs: &Inputs<'_>) -> Result<Prediction, Error> {
    if inputs.vcpus == 0 || inputs.vcpus > MAX_VCPUS {
        return Err(Error::Input {
            field: "vcpus",
            reason: format!("{} is not between 1 and {MAX_VCPUS}", inputs.vcpus),
        });
    }
    if inputs.guest_features & SNP_ACTIVE == 0 {
        return Err(Error::Input {
            field: "guest features",
            reason: format!(
                "{:#x} lacks bit 0 (SNPActive), which every SNP guest's SEV_FEATURES has",
                inputs.guest_features
            ),
        });
    }
    check_kernel_args(inputs.kernel, inputs.initrd, inputs.append)?;

    if inputs.vmm_type == VmmType::Ec2 {
        // sev 8.0 builds EC2's VMSAs with RDX 0; sev-snp-measure since its
        // PR #60 (April 2026, checked on a c6a instance) uses 0x600, and the
        // sev API offers no way to set it: refuse rather than predict a
        // value current EC2 guests do not have.
        return Err(Error::Input {
            field: "vmm type",
            reason: "ec2 is not supported: the sev crate 8.0 models EC2's initial VMSA with RDX 0, current EC2 launches with 0x600 (sev-snp-measure's model); use sev-snp-measure --vmm-type ec2".into(),
        });
    }

    let layout = OvmfLayout::parse(inputs.ovmf)?;
    if inputs.kernel.is_some() {
        layout.check_kernel_hashes()?;
    }

    // sev reads the OVMF from a path: hand it exactly the bytes checked above.
    let mut staged = tempfile::NamedTempFile::new().map_err(|source| Error::Io {
        what: "cannot create a temporary file for the OVMF image".into(),
        source,
    })?;
    staged
        .write_all(inputs.ovmf)
        .and_then(|()| staged.flush())
        .map_err(|source| Error::Io {
            what: "cannot stage the OVMF image".into(),
            source,
        })?;

    let args = SnpMeasurementArgs {
        vcpus: inputs.vcpus,
        vcpu_type: inputs.vcpu_type.0,
        ovmf_file: staged.path().to_path_buf(),
        guest_features: GuestFeatures(inputs.guest_features),
        kernel_file: inputs.kernel.map(Path::to_path_buf),
        initrd_file: inputs.initrd.map(Path::to_path_buf),
        append: inputs.append,
        ovmf_hash_str: None,
        vmm_type: Some(inputs.vmm_type.to_sev()),
    };
    let digest = snp_calc_launch_digest(args).map_err(|e| match e {
        sev::error::MeasurementError::FileError(source) => Error::Io {
            what: "cannot read the kernel or initrd".into(),
            source,
        },
        other => Error::Measurement(other.to_string()),
    })?;
    let bytes: Vec<u8> = digest
        .try_into()
        .map_err(|e: sev::error::MeasurementError| Error::Measurement(e.to_string()))?;
    let measurement: [u8; 48] = bytes
        .try_into()
        .map_err(|_| Error::Measurement("the launch digest is not 48 bytes".into()))?;
    Ok(Prediction {
        measurement,
        ovmf: layout,
        kernel_hashes: inputs.kernel.is_some(),
    })
}

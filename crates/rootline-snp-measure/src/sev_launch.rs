//! SEV and SEV-ES launch digests: what the guest owner expects the PSP to
//! have measured before it checks LAUNCH_MEASURE (`rootline-sev`).
//!
//! Unlike SNP's page-by-page chain, the SEV and SEV-ES digest is one SHA-256
//! over every byte the hypervisor encrypted with LAUNCH_UPDATE_DATA and
//! LAUNCH_UPDATE_VMSA, in order (QEMU, `target/i386/sev.c`; `sev-snp-measure
//! --mode sev|seves`; `sevctl measurement build`):
//!
//! 1. the whole OVMF image;
//! 2. with `-kernel`, QEMU's SEV hash table (kernel, initrd and command-line
//!    SHA-256, padded to 176 bytes), which needs an OVMF whose footer table
//!    has the SEV hash table block (an `AmdSevX64` build);
//! 3. SEV-ES only: one 4 KiB VMSA per vCPU, the boot processor's starting at
//!    the reset vector and the others at the AP reset EIP of the OVMF's
//!    SEV-ES reset block, each built for the vCPU model (the `sev` crate's
//!    `measurement::vmsa`, with `SEV_FEATURES` 0; see [`VmsaFpu`] for the
//!    one field hosts disagree on).
//!
//! The hash table and the VMSAs come from the `sev` crate (its
//! `sev_hashes` and `vmsa` modules build with `crypto_nossl`; its own
//! `measurement::sev` needs OpenSSL), the hashing from `rootline-core`.
//! Only QEMU's VMSA layout is offered: it is the one cross-checked against
//! `sev-snp-measure` and `sevctl`.

use std::path::Path;

use rootline_core::HashAlg;
use serde::Serialize;
use sev::measurement::sev_hashes::SevHashes;
use sev::measurement::vmsa::{GuestFeatures, VMMType, VMSA};

use crate::ovmf::{Guid, entry_u32, footer_table};
use crate::{Error, MAX_VCPUS, VcpuType, check_kernel_args};

/// QEMU's padded SEV hash table: what LAUNCH_UPDATE_DATA encrypts.
const HASH_TABLE_LEN: u32 = 176;

/// OVMF's SEV secret area block, `4c2eb361-7d9b-4cc3-8081-127c90d3d294`:
/// `u32` GPA and `u32` size of the area LAUNCH_SECRET writes to.
pub const SEV_SECRET_BLOCK: Guid = Guid([
    0x61, 0xb3, 0x2e, 0x4c, 0x9b, 0x7d, 0xc3, 0x4c, 0x80, 0x81, 0x12, 0x7c, 0x90, 0xd3, 0xd2, 0x94,
]);

/// SEV or SEV-ES, and for SEV-ES the vCPUs whose VMSAs are measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SevMode {
    /// SEV: the firmware and the hash table only.
    Sev,
    /// SEV-ES: also one VMSA per vCPU.
    SevEs {
        /// Number of vCPUs.
        vcpus: u32,
        /// The vCPU model (its CPUID signature is in each VMSA).
        vcpu_type: VcpuType,
        /// The x87/SSE state in the initial VMSAs.
        fpu: VmsaFpu,
    },
}

/// Whether the hypervisor wrote the x87/SSE reset state into the initial
/// VMSAs. Hosts differ: KVM syncs the FPU state into the VMSA for VMs made
/// with its newer `KVM_SEV_INIT2` interface and not on the older
/// `KVM_SEV_ES_INIT` path, so the same guest has two possible digests. If
/// the host's behaviour is unknown, predict both and accept either.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum VmsaFpu {
    /// x87 control word 0x37f and MXCSR 0x1f80 in each VMSA: the model of
    /// `sev-snp-measure` and of the `sev` crate for QEMU.
    #[default]
    Reset,
    /// Both zero: the layout of `sevctl`'s test VMSAs and older hosts.
    Zero,
}

/// Offsets of MXCSR (`u32`) and the x87 control word (`u16`) in the VMSA
/// page, and their reset values (AMD APM vol. 2, the SEV-ES save area).
const VMSA_MXCSR: usize = 0x408;
const VMSA_X87_FCW: usize = 0x410;
const MXCSR_RESET: u32 = 0x1f80;
const X87_FCW_RESET: u16 = 0x037f;

/// Zeroes MXCSR and FCW in a VMSA page, after checking they hold the reset
/// values the `sev` crate writes (so a change in its layout is an error,
/// not a wrong digest).
fn zero_fpu(page: &mut [u8]) -> Result<(), Error> {
    let mxcsr = page.get_mut(VMSA_MXCSR..VMSA_MXCSR + 4);
    match mxcsr {
        Some(b) if *b == MXCSR_RESET.to_le_bytes() => b.fill(0),
        _ => {
            return Err(Error::Measurement(
                "the sev crate's VMSA has no MXCSR reset value at 0x408".into(),
            ));
        }
    }
    match page.get_mut(VMSA_X87_FCW..VMSA_X87_FCW + 2) {
        Some(b) if *b == X87_FCW_RESET.to_le_bytes() => b.fill(0),
        _ => {
            return Err(Error::Measurement(
                "the sev crate's VMSA has no x87 FCW reset value at 0x410".into(),
            ));
        }
    }
    Ok(())
}

/// What an SEV or SEV-ES launch digest depends on.
#[derive(Debug, Clone)]
pub struct SevInputs<'a> {
    /// The OVMF image, as QEMU maps it.
    pub ovmf: &'a [u8],
    /// The `-kernel` file.
    pub kernel: Option<&'a Path>,
    /// The `-initrd` file (with a kernel only; absent means empty).
    pub initrd: Option<&'a Path>,
    /// The `-append` command line (with a kernel only; absent means empty).
    pub append: Option<&'a str>,
    /// SEV or SEV-ES.
    pub mode: SevMode,
}

/// A predicted SEV or SEV-ES launch digest and what it was computed from.
#[derive(Debug, Clone, Serialize)]
pub struct SevPrediction {
    /// The 32-byte launch digest.
    #[serde(serialize_with = "hex32")]
    pub digest: [u8; 32],
    /// `sev` or `sev-es`.
    pub mode: &'static str,
    /// OVMF image size in bytes.
    pub ovmf_size: u64,
    /// True when QEMU's kernel/initrd/cmdline hash table was measured.
    pub kernel_hashes: bool,
    /// SEV-ES: the vCPUs measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vcpus: Option<u32>,
    /// SEV-ES: the vCPU model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vcpu_type: Option<VcpuType>,
    /// SEV-ES: the x87/SSE state assumed in the VMSAs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vmsa_fpu: Option<VmsaFpu>,
    /// SEV-ES: the application processors' reset EIP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ap_reset_eip: Option<u32>,
    /// The OVMF's SEV secret area (GPA, size), where LAUNCH_SECRET writes,
    /// when the build has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_area: Option<(u32, u32)>,
}

fn hex32<S: serde::Serializer>(b: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(b))
}

impl SevPrediction {
    /// The digest in lower-case hex.
    pub fn hex(&self) -> String {
        hex::encode(self.digest)
    }
}

/// Predicts the launch digest of an SEV or SEV-ES guest launched by QEMU.
pub fn predict_sev(inputs: &SevInputs<'_>) -> Result<SevPrediction, Error> {
    check_kernel_args(inputs.kernel, inputs.initrd, inputs.append)?;
    if let SevMode::SevEs { vcpus, .. } = inputs.mode {
        if vcpus == 0 || vcpus > MAX_VCPUS {
            return Err(Error::Input {
                field: "vcpus",
                reason: format!("{vcpus} is not between 1 and {MAX_VCPUS}"),
            });
        }
    }
    let needs_table = inputs.kernel.is_some() || inputs.mode != SevMode::Sev;
    // A plain SEV launch without a kernel measures the image whatever it is;
    // anything else needs the footer table, checked through the bounded
    // reader.
    let entries = match footer_table(inputs.ovmf) {
        Ok(e) => e,
        Err(Error::NotSevOvmf(_)) if !needs_table => Vec::new(),
        Err(e) => return Err(e),
    };
    let secret_area = match entries.iter().find(|(g, _)| *g == SEV_SECRET_BLOCK) {
        Some((_, d)) => {
            let mut r = rootline_core::Reader::new(d);
            let gpa = r.u32_le("SEV secret area GPA");
            let size = r.u32_le("SEV secret area size");
            match (gpa, size) {
                (Ok(g), Ok(s)) => Some((g, s)),
                (Err(e), _) | (_, Err(e)) => {
                    return Err(Error::Ovmf(format!("table entry {SEV_SECRET_BLOCK}: {e}")));
                }
            }
        }
        None => None,
    };

    let mut h = HashAlg::SHA256
        .hasher()
        .ok_or_else(|| Error::Measurement("SHA-256 is not available".into()))?;
    h.update(inputs.ovmf);

    if let Some(kernel) = inputs.kernel {
        let (gpa, size) = match entries.iter().find(|(g, _)| *g == Guid::SEV_HASH_TABLE) {
            None => {
                return Err(Error::NoKernelHashes(format!(
                    "the footer table has no SEV hash table block ({}): QEMU's kernel hashes need an AmdSevX64 build",
                    Guid::SEV_HASH_TABLE
                )));
            }
            Some((_, d)) => {
                let mut r = rootline_core::Reader::new(d);
                let gpa = r.u32_le("SEV hash table GPA");
                let size = r.u32_le("SEV hash table size");
                match (gpa, size) {
                    (Ok(g), Ok(s)) => (g, s),
                    (Err(e), _) | (_, Err(e)) => {
                        return Err(Error::Ovmf(format!(
                            "table entry {}: {e}",
                            Guid::SEV_HASH_TABLE
                        )));
                    }
                }
            }
        };
        // QEMU's sev_add_kernel_loader_hashes refuses the same.
        if gpa == 0 || size < HASH_TABLE_LEN {
            return Err(Error::NoKernelHashes(format!(
                "the SEV hash table block gives GPA {gpa:#x} and size {size}: QEMU needs a non-zero GPA and {HASH_TABLE_LEN} bytes"
            )));
        }
        let table = SevHashes::new(
            kernel.to_path_buf(),
            inputs.initrd.map(Path::to_path_buf),
            inputs.append,
        )
        .and_then(|hashes| hashes.construct_table())
        .map_err(|e| match e {
            sev::error::MeasurementError::FileError(source) => Error::Io {
                what: "cannot read the kernel or initrd".into(),
                source,
            },
            other => Error::Measurement(other.to_string()),
        })?;
        h.update(&table);
    }

    let (vcpus, vcpu_type, vmsa_fpu, ap_reset_eip) = match inputs.mode {
        SevMode::Sev => (None, None, None, None),
        SevMode::SevEs {
            vcpus,
            vcpu_type,
            fpu,
        } => {
            let eip = entry_u32(&entries, Guid::SEV_ES_RESET_BLOCK, "SEV-ES reset EIP")?
                .ok_or_else(|| {
                    Error::NotSevOvmf(format!(
                        "the footer table has no SEV-ES reset block ({}): not an SEV-ES capable build",
                        Guid::SEV_ES_RESET_BLOCK
                    ))
                })?;
            if eip == 0 && vcpus > 1 {
                return Err(Error::Ovmf(
                    "the SEV-ES reset block's AP reset EIP is 0: the application processors cannot start".into(),
                ));
            }
            let vmsa = VMSA::new(
                u64::from(eip),
                vcpu_type.0,
                VMMType::QEMU,
                Some(u64::from(vcpus)),
                GuestFeatures(0),
            );
            let mut pages = vmsa
                .pages(vcpus as usize)
                .map_err(|e| Error::Measurement(e.to_string()))?;
            for page in &mut pages {
                if fpu == VmsaFpu::Zero {
                    zero_fpu(page)?;
                }
                h.update(page);
            }
            (Some(vcpus), Some(vcpu_type), Some(fpu), Some(eip))
        }
    };

    let d = h.finish();
    let digest: [u8; 32] = d
        .bytes
        .as_slice()
        .try_into()
        .map_err(|_| Error::Measurement("the SHA-256 digest is not 32 bytes".into()))?;
    Ok(SevPrediction {
        digest,
        mode: match inputs.mode {
            SevMode::Sev => "sev",
            SevMode::SevEs { .. } => "sev-es",
        },
        ovmf_size: inputs.ovmf.len() as u64,
        kernel_hashes: inputs.kernel.is_some(),
        vcpus,
        vcpu_type,
        vmsa_fpu,
        ap_reset_eip,
        secret_area,
    })
}

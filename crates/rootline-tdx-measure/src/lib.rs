//! Predict an Intel TDX guest's MRTD (the TD quote's `mr_td`: a SHA-384
//! over every page the VMM adds to the TD before it runs) from its TDVF
//! firmware image (OVMF built with TDX support), the value a
//! reference-value provider records as `tdx.mrtd`.
//!
//! # What the VMM does, and what is replayed
//!
//! The firmware's TDX metadata ([`tdvf`]) lists sections. QEMU (`hw/i386/
//! tdvf.c`, `target/i386/kvm/tdx.c`) hands each section to KVM as one
//! KVM_TDX_INIT_MEM_REGION, in metadata order; KVM adds every 4 KiB page
//! with TDH.MEM.PAGE.ADD and, when the section has the MR_EXTEND
//! attribute, measures it with TDH.MR.EXTEND in 256-byte chunks
//! ([`replay`] gives the bytes hashed for each call). Per section type:
//!
//! | type | pages added | content measured |
//! | --- | --- | --- |
//! | BFV (firmware code) | yes | with MR_EXTEND (OVMF sets it) |
//! | CFV (variable store) | yes | with MR_EXTEND (OVMF does not set it) |
//! | TD_HOB, TempMem | yes, as zero pages | no |
//! | PermMem, or any section with PAGE_AUG | no: accepted by the TD later | no |
//! | Payload, PayloadParam, unknown | refused: the content is not in the image (QEMU refuses them too) | |
//!
//! So MRTD depends on the BFV's bytes and on the GPAs and sizes of the
//! other sections, not on the variable store's content, the memory size,
//! the vCPU count or the command line (TD attributes and XFAM are in the
//! quote beside MRTD, not in it).
//!
//! Two VMM behaviours are in the wild, see [`PageOrder`]: upstream QEMU on
//! upstream KVM adds and extends page by page ([`PageOrder::PerPage`], the
//! default of [`mrtd`]); the pre-upstream TDX stacks add all pages of a
//! section, then extend them ([`PageOrder::PerSection`], through
//! [`mrtd_with`]). Both are cross-checked against other implementations
//! in `tests/known_answers.rs`.
//!
//! # What is not predicted, and why
//!
//! - **RTMR\[0\]**: OVMF extends it with the TD HOB (memory map, from the
//!   VM's memory size), QEMU's ACPI tables and table-loader script (from
//!   the machine type, vCPU count and devices), the variable store and the
//!   boot variables. None of that is in the firmware file; it is recorded
//!   from a reference boot, not predicted.
//! - **RTMR\[1\]**: for a QEMU `-kernel` boot OVMF measures the kernel's
//!   Authenticode digest, but of the kernel *after* QEMU patched its setup
//!   header (`x86_load_linux`: loader type, command-line and initrd
//!   addresses, which depend on the memory size and initrd size), plus the
//!   EV_EFI_ACTION and separator events of boot-option processing and
//!   ExitBootServices. The file's Authenticode digest is not the measured
//!   one, so none is offered; for boots from a disk, RTMR\[1\] carries the
//!   PCR 4 and PCR 5 events (`rootline-uki` predicts PCR 4 for a UKI, but
//!   the GPT and boot-variable events of PCR 5 come from the disk and the
//!   variable store).
//! - **RTMR\[2\]**: the Linux EFI stub measures the command line (the
//!   UTF-16LE load options OVMF builds from `-append`; dstack-mr and
//!   mosaik model an appended ` initrd=initrd` when there is an `-initrd`)
//!   and the initrd, but only kernels whose stub measures through the
//!   EFI_CC_MEASUREMENT_PROTOCOL do, and a UKI's stub measures other
//!   things; which events exist depends on the kernel build and the
//!   firmware's load-option rules, for which no source was checked here,
//!   so RTMR\[2\] is not predicted either. [`rtmr`] offers the arithmetic
//!   (PCR to RTMR mapping, extend, replay of digests) for callers that
//!   know the event list.
//!
//! Non-goals: td-shim payloads, TDX Connect/partitioning, migration
//! (MIGTD), IGVM images, RTMR\[3\] (runtime measurements).
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

pub mod replay;
pub mod rtmr;
pub mod synthetic;
pub mod tdvf;

use serde::Serialize;

pub use replay::PageOrder;
pub use tdvf::{Section, SectionAttributes, SectionType, TdvfLayout, Treatment};

/// Why an MRTD could not be predicted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The image has no TDX metadata: not an OVMF image, or a build without
    /// TDX support.
    #[error("not a TDX firmware image: {0}")]
    NotTdvf(String),
    /// The footer table or the TDVF descriptor is malformed.
    #[error("malformed TDVF image: {0}")]
    Malformed(String),
    /// A section entry is malformed or inconsistent with the image.
    #[error("TDVF metadata section {index}: {reason}")]
    Section {
        /// The section's index in the metadata.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// A well-formed section whose effect on MRTD rootline does not model.
    #[error("TDVF metadata section {index} ({kind}) cannot be measured: {reason}")]
    UnsupportedSection {
        /// The section's index in the metadata.
        index: usize,
        /// Its type.
        kind: SectionType,
        /// Why.
        reason: String,
    },
    /// A descriptor version or layout rootline does not know.
    #[error("unsupported TDVF metadata: {0}")]
    Unsupported(String),
    /// The metadata asks for more work than a replay accepts.
    #[error("TDVF metadata exceeds rootline's limits: {0}")]
    TooLarge(String),
    /// An input value is out of range.
    #[error("invalid {field}: {reason}")]
    Input {
        /// The input.
        field: &'static str,
        /// Why it is refused.
        reason: String,
    },
    /// A bug in rootline, not in the input.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Predicts MRTD for a TD built from `firmware` by upstream QEMU on
/// upstream KVM ([`PageOrder::PerPage`]).
///
/// `firmware` is the whole image QEMU maps (`-bios OVMF.fd`): with a split
/// build, the variable store followed by the code (Debian's `OVMF.fd` is
/// exactly `OVMF_VARS.fd` then `OVMF_CODE.fd`; `OVMF_CODE.fd` alone is
/// refused, its metadata points past its end).
pub fn mrtd(firmware: &[u8]) -> Result<[u8; 48], Error> {
    mrtd_with(firmware, PageOrder::PerPage)
}

/// Predicts MRTD for `firmware` with the VMM's page order `order`.
pub fn mrtd_with(firmware: &[u8], order: PageOrder) -> Result<[u8; 48], Error> {
    let layout = TdvfLayout::parse(firmware)?;
    replay::replay(firmware, &layout, order)
}

/// The checked TDVF sections of `firmware`, in metadata order, each with
/// what it contributes to MRTD (for `--json` explanations).
pub fn sections(firmware: &[u8]) -> Result<Vec<Section>, Error> {
    TdvfLayout::parse(firmware).map(|l| l.sections)
}

/// A predicted MRTD with what it was computed from, ready to print.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Prediction {
    /// The 48-byte MRTD, as the TD quote's `mr_td`.
    #[serde(serialize_with = "hex_48")]
    pub mrtd: [u8; 48],
    /// The VMM page order assumed.
    pub page_order: PageOrder,
    /// The firmware's TDX metadata.
    pub firmware: TdvfLayout,
}

fn hex_48<S: serde::Serializer>(b: &[u8; 48], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(b))
}

impl Prediction {
    /// The MRTD in lower-case hex.
    pub fn hex(&self) -> String {
        hex::encode(self.mrtd)
    }
}

/// Predicts MRTD for `firmware` with `order`, keeping the parsed layout for
/// explanations (`rootline measure tdx --json`).
pub fn predict(firmware: &[u8], order: PageOrder) -> Result<Prediction, Error> {
    let layout = TdvfLayout::parse(firmware)?;
    let mrtd = replay::replay(firmware, &layout, order)?;
    Ok(Prediction {
        mrtd,
        page_order: order,
        firmware: layout,
    })
}

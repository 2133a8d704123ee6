//! Predict what booting a unified kernel image (UKI) measures into the TPM.
//!
//! A UKI is systemd-stub (a PE image) with the kernel, initrd, command line
//! and os-release appended as PE sections. Booted by OVMF from an ESP, three
//! parties measure it, each in a way that follows from the file alone:
//!
//! - **PCR 4**, by the firmware: the Authenticode digest of the UKI as loaded
//!   ([`authenticode`]), and, when systemd-stub hands the `.linux` section to
//!   `LoadImage` (kernels whose PE `MajorImageVersion` is at least 1, i.e.
//!   that support the LINUX_EFI_INITRD_MEDIA protocol), the Authenticode
//!   digest of the kernel. Before them the firmware's EV_EFI_ACTION "Calling
//!   EFI Application from Boot Option" and the EV_SEPARATOR (PFP 10.4.4).
//! - **PCR 11**, by systemd-stub (252): for each of `.linux`, `.osrel`,
//!   `.cmdline`, `.initrd`, `.splash`, `.dtb`, `.pcrpkey` present (in that
//!   order, not the file's), one EV_IPL event over the section name with its
//!   NUL and one over the section's `VirtualSize` bytes as loaded.
//! - **PCR 9**, by the Linux (6.1+) EFI stub: an EV_EVENT_TAG over the load
//!   options systemd-stub passes (the `.cmdline` converted to UTF-16LE, with
//!   its NUL) and one over the initrd served through LINUX_EFI_INITRD_MEDIA
//!   (the `.initrd` section).
//!
//! Every rule above was checked against a captured OVMF + swtpm boot (the
//! `ovmf-swtpm/uki-esp-ekcert-tpm` vector) and against our own boots.
//!
//! Non-goals: Secure Boot (PCR 7) and firmware registers (PCR 0-3, 5-6) cannot
//! be predicted from a file: they are recorded from a verified boot. A UKI
//! booted with load options (systemd-stub then measures them into PCR 12),
//! sd-boot, shim, credentials and system extensions are not modelled.
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

pub mod authenticode;
pub mod predict;

use object::LittleEndian as LE;
use object::pe;
use object::read::pe::ImageNtHeaders;
use rootline_core::HashAlg;

pub use predict::{EventCheck, PredictedEvent, Prediction, predict};

/// Why a UKI could not be measured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not a PE image rootline can read.
    #[error("malformed PE image: {0}")]
    Pe(String),
    /// A section is inconsistent.
    #[error("section {name}: {reason}")]
    Section {
        /// The section name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The hash algorithm cannot be computed here.
    #[error("hash algorithm {0} is not supported")]
    UnsupportedHash(HashAlg),
    /// The image is not a UKI.
    #[error("not a unified kernel image: {0}")]
    NotUki(String),
}

impl Error {
    pub(crate) fn pe(reason: impl Into<String>) -> Self {
        Self::Pe(reason.into())
    }
}

/// Largest section systemd-stub's loaded image may hold that we will
/// materialise (a kernel or initrd larger than this is not a UKI we can boot).
const MAX_SECTION: u32 = 1 << 30;
/// How far `VirtualSize` may exceed the file's raw data (the loader fills the
/// rest with zeros). UKI payload sections never need it; the bound keeps a
/// hostile header from making us allocate more than the file plus this.
const MAX_ZERO_FILL: u32 = 1 << 20;

/// One PE section header, as the table gives it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Section {
    /// The 8-byte name without trailing NULs (lossy UTF-8).
    pub name: String,
    /// Raw name bytes.
    #[serde(skip)]
    pub raw_name: [u8; 8],
    /// VirtualSize: how many bytes the loader maps (and systemd-stub measures).
    pub virtual_size: u32,
    /// VirtualAddress.
    pub virtual_address: u32,
    /// SizeOfRawData: the file bytes (a multiple of FileAlignment).
    pub size_of_raw_data: u32,
    /// PointerToRawData.
    pub pointer_to_raw_data: u32,
}

/// A parsed PE image: its section table and the bytes.
#[derive(Debug, Clone)]
pub struct PeImage<'a> {
    bytes: &'a [u8],
    /// Sections in table order.
    pub sections: Vec<Section>,
    /// MajorImageVersion (the Linux EFI stub version for kernels).
    pub major_image_version: u16,
    /// COFF Machine.
    pub machine: u16,
}

impl<'a> PeImage<'a> {
    /// Parses the headers and section table.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        match object::read::pe::optional_header_magic(bytes) {
            Ok(pe::IMAGE_NT_OPTIONAL_HDR64_MAGIC) => Self::parse_as::<pe::ImageNtHeaders64>(bytes),
            Ok(pe::IMAGE_NT_OPTIONAL_HDR32_MAGIC) => Self::parse_as::<pe::ImageNtHeaders32>(bytes),
            Ok(m) => Err(Error::pe(format!("unknown optional header magic {m:#06x}"))),
            Err(e) => Err(Error::pe(e.to_string())),
        }
    }

    fn parse_as<Pe: ImageNtHeaders>(bytes: &'a [u8]) -> Result<Self, Error> {
        use object::read::pe::ImageOptionalHeader;
        let dos = pe::ImageDosHeader::parse(bytes).map_err(|e| Error::pe(e.to_string()))?;
        let mut offset = u64::from(dos.nt_headers_offset());
        let (nt, _) = Pe::parse(bytes, &mut offset).map_err(|e| Error::pe(e.to_string()))?;
        let table = nt
            .sections(bytes, offset)
            .map_err(|e| Error::pe(e.to_string()))?;
        let sections = table
            .iter()
            .map(|s| Section {
                name: String::from_utf8_lossy(s.raw_name()).into_owned(),
                raw_name: s.name,
                virtual_size: s.virtual_size.get(LE),
                virtual_address: s.virtual_address.get(LE),
                size_of_raw_data: s.size_of_raw_data.get(LE),
                pointer_to_raw_data: s.pointer_to_raw_data.get(LE),
            })
            .collect();
        Ok(Self {
            bytes,
            sections,
            major_image_version: nt.optional_header().major_image_version(),
            machine: nt.file_header().machine.get(LE),
        })
    }

    /// The image bytes.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The section systemd-stub would pick for `name`: it compares the first
    /// `strlen(name)` bytes of each 8-byte name and the last match wins
    /// (systemd `pe.c` `locate_sections`).
    pub fn stub_section(&self, name: &str) -> Option<&Section> {
        self.sections
            .iter()
            .rev()
            .find(|s| s.raw_name.starts_with(name.as_bytes()))
    }

    /// A section's bytes as the loader maps them: `VirtualSize` bytes, the
    /// file's raw data followed by zeros when `VirtualSize` exceeds it.
    pub fn loaded(&self, s: &Section) -> Result<Vec<u8>, Error> {
        let err = |reason: String| Error::Section {
            name: s.name.clone(),
            reason,
        };
        if s.virtual_size > MAX_SECTION {
            return Err(err(format!(
                "VirtualSize {} exceeds the {MAX_SECTION}-byte limit",
                s.virtual_size
            )));
        }
        if s.virtual_size.saturating_sub(s.size_of_raw_data) > MAX_ZERO_FILL {
            return Err(err(format!(
                "VirtualSize {} exceeds SizeOfRawData {} by more than {MAX_ZERO_FILL} bytes",
                s.virtual_size, s.size_of_raw_data
            )));
        }
        let from_file = s.virtual_size.min(s.size_of_raw_data) as usize;
        let start = s.pointer_to_raw_data as usize;
        let raw = start
            .checked_add(from_file)
            .and_then(|end| self.bytes.get(start..end))
            .ok_or_else(|| {
                err(format!(
                    "raw data {start:#x}+{from_file:#x} lies outside the file ({} bytes)",
                    self.bytes.len()
                ))
            })?;
        let mut out = Vec::with_capacity(s.virtual_size as usize);
        out.extend_from_slice(raw);
        out.resize(s.virtual_size as usize, 0);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_rejected_without_panic() {
        for input in [&b""[..], b"MZ", &[0u8; 4096][..], &[0xffu8; 512][..]] {
            assert!(PeImage::parse(input).is_err());
        }
    }
}

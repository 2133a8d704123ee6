//! The parts of an OVMF image that decide an SEV-SNP launch measurement,
//! read through the bounded [`Reader`] before `sev` ever sees the bytes.
//!
//! `sev` 8.0 parses the same structures with unchecked slicing and
//! subtraction: a truncated or hostile image makes it panic (or, for a hash
//! table near the end of its page, silently truncate the page). This module
//! checks every offset and length the measurement depends on, so that what
//! reaches `sev` is an image it handles without panicking, and so that a bad
//! image gets an error naming the field.
//!
//! Layout (edk2 `OvmfPkg/ResetVector/Ia16/ResetVectorVtf0.asm` and
//! `X64/OvmfSevMetadata.asm`):
//! - the image is mapped so that it ends at 4 GiB;
//! - 32 bytes before the end sits the footer entry of a GUIDed table: `u16`
//!   size (of the whole table, footer included), then the footer GUID;
//! - below it, entries laid out backwards: data, then `u16` size (data plus
//!   the 18-byte header), then the entry's GUID;
//! - the SEV metadata entry holds a `u32` offset from the end of the image to
//!   the metadata: `"ASEV"`, `u32` size, `u32` version (1), `u32` count, then
//!   count items of `u32` GPA, `u32` size, `u32` section type.

use rootline_core::{CodecError, Reader};
use serde::Serialize;

use crate::Error;

/// SNP launch updates cover whole 4 KiB pages.
pub const PAGE_SIZE: u32 = 4096;
/// The image must fit below 4 GiB, where it is mapped.
const FOUR_GB: u64 = 0x1_0000_0000;
/// `u16` size plus a 16-byte GUID.
const ENTRY_HEADER: usize = 18;
/// The footer entry ends this many bytes before the end of the image.
const FOOTER_GAP: usize = 32;
/// `"ASEV"`, size, version, count.
const METADATA_HEADER: usize = 16;
/// GPA, size, type.
const METADATA_ITEM: usize = 12;
/// QEMU's SEV hash table (header GUID and length, three entries of GUID,
/// length and SHA-256) padded to 16 bytes: what is written at the table's
/// GPA, which must fit in the page.
const SEV_HASH_TABLE_PADDED: u32 = 176;

/// A GUID as stored in the image (little-endian first three fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Guid(pub [u8; 16]);

impl Guid {
    const fn new(a: u32, b: u16, c: u16, d: [u8; 8]) -> Self {
        let a = a.to_le_bytes();
        let b = b.to_le_bytes();
        let c = c.to_le_bytes();
        Guid([
            a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d[0], d[1], d[2], d[3], d[4], d[5],
            d[6], d[7],
        ])
    }

    /// The OVMF table footer, `96b582de-1fb2-45f7-baea-a366c55a082d`.
    pub const FOOTER: Guid = Guid::new(
        0x96b5_82de,
        0x1fb2,
        0x45f7,
        [0xba, 0xea, 0xa3, 0x66, 0xc5, 0x5a, 0x08, 0x2d],
    );
    /// The SEV metadata offset, `dc886566-984a-4798-a75e-5585a7bf67cc`.
    pub const SEV_METADATA: Guid = Guid::new(
        0xdc88_6566,
        0x984a,
        0x4798,
        [0xa7, 0x5e, 0x55, 0x85, 0xa7, 0xbf, 0x67, 0xcc],
    );
    /// The SEV-ES AP reset block, `00f771de-1a7e-4fcb-890e-68c77e2fb44e`: its
    /// `u32` is the reset EIP of the application processors' VMSAs.
    pub const SEV_ES_RESET_BLOCK: Guid = Guid::new(
        0x00f7_71de,
        0x1a7e,
        0x4fcb,
        [0x89, 0x0e, 0x68, 0xc7, 0x7e, 0x2f, 0xb4, 0x4e],
    );
    /// The SEV hash table block, `7255371f-3a3b-4b04-927b-1da6efa8d454`:
    /// `u32` GPA and `u32` size of the table QEMU fills with the kernel,
    /// initrd and command-line hashes.
    pub const SEV_HASH_TABLE: Guid = Guid::new(
        0x7255_371f,
        0x3a3b,
        0x4b04,
        [0x92, 0x7b, 0x1d, 0xa6, 0xef, 0xa8, 0xd4, 0x54],
    );
}

impl std::fmt::Display for Guid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let g = &self.0;
        let a = u32::from_le_bytes([g[0], g[1], g[2], g[3]]);
        let b = u16::from_le_bytes([g[4], g[5]]);
        let c = u16::from_le_bytes([g[6], g[7]]);
        write!(f, "{a:08x}-{b:04x}-{c:04x}-{:02x}{:02x}-", g[8], g[9])?;
        for x in g.iter().skip(10) {
            write!(f, "{x:02x}")?;
        }
        Ok(())
    }
}

impl Serialize for Guid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// An OVMF SEV metadata section type (edk2 `OvmfSevMetadata.asm`,
/// `OVMF_SECTION_TYPE_*`); unknown values are kept and printed in hex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SectionKind(pub u32);

impl SectionKind {
    /// Pre-validated zero pages (`OVMF_SECTION_TYPE_SNP_SEC_MEM`).
    pub const SNP_SEC_MEMORY: Self = Self(1);
    /// The secrets page the PSP fills (`OVMF_SECTION_TYPE_SNP_SECRETS`).
    pub const SNP_SECRETS: Self = Self(2);
    /// The CPUID page the PSP checks (`OVMF_SECTION_TYPE_CPUID`).
    pub const CPUID: Self = Self(3);
    /// The SVSM calling area (`OVMF_SECTION_TYPE_SVSM_CAA`), zero pages.
    pub const SVSM_CAA: Self = Self(4);
    /// The page of QEMU's kernel/initrd/cmdline hash table
    /// (`OVMF_SECTION_TYPE_KERNEL_HASHES`).
    pub const SNP_KERNEL_HASHES: Self = Self(0x10);

    /// The edk2 name, or `None` for a type this version does not know.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::SNP_SEC_MEMORY => "snp_sec_memory",
            Self::SNP_SECRETS => "snp_secrets",
            Self::CPUID => "cpuid",
            Self::SVSM_CAA => "svsm_caa",
            Self::SNP_KERNEL_HASHES => "snp_kernel_hashes",
            _ => return None,
        })
    }
}

impl std::fmt::Display for SectionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "{:#x}", self.0),
        }
    }
}

impl Serialize for SectionKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One SEV metadata section: guest pages the launch measures without image
/// content (zero pages, the secrets and CPUID pages, the hash table page).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Section {
    /// Guest physical address of the first page.
    pub gpa: u32,
    /// Length in bytes.
    pub size: u32,
    /// What the pages hold.
    pub kind: SectionKind,
}

/// What of an OVMF image the SNP launch measurement depends on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OvmfLayout {
    /// Image size in bytes.
    pub size: u64,
    /// Guest physical address of the first byte (the image ends at 4 GiB).
    pub gpa: u64,
    /// The GUIDs of the footer table's entries, in file order from the end.
    pub table: Vec<Guid>,
    /// Reset EIP of the application processors (SEV-ES reset block); 0 means
    /// only the boot processor's VMSA is measured.
    pub ap_reset_eip: u32,
    /// GPA of QEMU's SEV hash table, when the image has the block.
    pub sev_hash_table_gpa: Option<u32>,
    /// The SEV metadata sections, in order.
    pub sections: Vec<Section>,
}

impl OvmfLayout {
    /// True when the image measures QEMU's kernel/initrd/cmdline hashes
    /// (an `AmdSevX64` build): `--kernel` is possible.
    pub fn supports_kernel_hashes(&self) -> bool {
        self.sev_hash_table_gpa.is_some_and(|g| g != 0)
            && self
                .sections
                .iter()
                .any(|s| s.kind == SectionKind::SNP_KERNEL_HASHES)
    }

    /// Parses and checks the footer table and SEV metadata of `image`.
    pub fn parse(image: &[u8]) -> Result<Self, Error> {
        let size = image.len() as u64;
        let entries = footer_table(image)?;
        let table_item = |guid: Guid| entries.iter().find(|(g, _)| *g == guid).map(|(_, d)| *d);
        let first_u32 = |guid: Guid, what: &'static str| -> Result<Option<u32>, Error> {
            match table_item(guid) {
                None => Ok(None),
                Some(d) => Reader::new(d)
                    .u32_le(what)
                    .map(Some)
                    .map_err(|e| Error::Ovmf(format!("table entry {guid}: {e}"))),
            }
        };

        let ap_reset_eip =
            first_u32(Guid::SEV_ES_RESET_BLOCK, "SEV-ES reset EIP")?.ok_or_else(|| {
                Error::NotSevOvmf(format!(
                    "the footer table has no SEV-ES reset block ({})",
                    Guid::SEV_ES_RESET_BLOCK
                ))
            })?;
        let sev_hash_table_gpa = first_u32(Guid::SEV_HASH_TABLE, "SEV hash table GPA")?;
        let metadata_offset =
            first_u32(Guid::SEV_METADATA, "SEV metadata offset")?.ok_or_else(|| {
                Error::NotSevOvmf(format!(
                    "the footer table has no SEV metadata entry ({}): not an SEV-SNP capable build",
                    Guid::SEV_METADATA
                ))
            })?;
        let sections = parse_metadata(image, metadata_offset)?;

        for (i, s) in sections.iter().enumerate() {
            if s.kind.name().is_none() {
                return Err(Error::UnsupportedSection {
                    index: i,
                    kind: s.kind.0,
                });
            }
            if s.gpa % PAGE_SIZE != 0 {
                return Err(Error::Ovmf(format!(
                    "metadata section {i} ({}): GPA {:#x} is not page aligned",
                    s.kind, s.gpa
                )));
            }
            let paged = matches!(
                s.kind,
                SectionKind::SNP_SEC_MEMORY
                    | SectionKind::SVSM_CAA
                    | SectionKind::SNP_KERNEL_HASHES
            );
            if paged && (s.size == 0 || s.size % PAGE_SIZE != 0) {
                return Err(Error::Ovmf(format!(
                    "metadata section {i} ({}): size {:#x} is not a positive multiple of 4096",
                    s.kind, s.size
                )));
            }
            if u64::from(s.gpa) + u64::from(s.size) > FOUR_GB {
                return Err(Error::Ovmf(format!(
                    "metadata section {i} ({}): {:#x} + {:#x} ends above 4 GiB",
                    s.kind, s.gpa, s.size
                )));
            }
        }

        Ok(OvmfLayout {
            size,
            gpa: FOUR_GB - size,
            table: entries.iter().map(|(g, _)| *g).collect(),
            ap_reset_eip,
            sev_hash_table_gpa,
            sections,
        })
    }

    /// Checks that QEMU's hash table can be measured: the image has a
    /// kernel-hashes section of exactly one page, and the table fits in the
    /// page at its offset (otherwise `sev` would panic or cut it short).
    pub fn check_kernel_hashes(&self) -> Result<(), Error> {
        let gpa = match self.sev_hash_table_gpa {
            Some(g) if g != 0 => g,
            _ => {
                return Err(Error::NoKernelHashes(format!(
                    "the footer table has no SEV hash table block ({}) or its GPA is 0",
                    Guid::SEV_HASH_TABLE
                )));
            }
        };
        let pages: Vec<&Section> = self
            .sections
            .iter()
            .filter(|s| s.kind == SectionKind::SNP_KERNEL_HASHES)
            .collect();
        if pages.is_empty() {
            return Err(Error::NoKernelHashes(
                "the SEV metadata has no SNP_KERNEL_HASHES section (an OvmfX64 build; QEMU's kernel hashes need an AmdSevX64 build)".into(),
            ));
        }
        if let Some(s) = pages.iter().find(|s| s.size != PAGE_SIZE) {
            return Err(Error::Ovmf(format!(
                "the SNP_KERNEL_HASHES section at {:#x} is {:#x} bytes, not one 4096-byte page",
                s.gpa, s.size
            )));
        }
        let offset = gpa % PAGE_SIZE;
        if offset + SEV_HASH_TABLE_PADDED > PAGE_SIZE {
            return Err(Error::Ovmf(format!(
                "the SEV hash table at {gpa:#x} does not fit in its page ({SEV_HASH_TABLE_PADDED} bytes from offset {offset:#x})"
            )));
        }
        Ok(())
    }
}

/// The entries of the OVMF footer table (GUID and data), in file order from
/// the end, after checking the image's size and every entry's bounds.
pub(crate) fn footer_table(image: &[u8]) -> Result<Vec<(Guid, &[u8])>, Error> {
    let len = image.len();
    let size = len as u64;
    if size > FOUR_GB {
        return Err(invalid(
            "image size",
            0,
            format!("{len} bytes do not fit below 4 GiB"),
        ));
    }
    if size % u64::from(PAGE_SIZE) != 0 || len == 0 {
        return Err(invalid(
            "image size",
            0,
            format!("{len} bytes is not a positive multiple of the 4096-byte page"),
        ));
    }
    let footer_at = len
        .checked_sub(FOOTER_GAP + ENTRY_HEADER)
        .ok_or_else(|| invalid("image size", 0, "too small for the OVMF table footer"))?;
    let (footer_size, footer_guid) = entry_header(image, footer_at)?;
    if footer_guid != Guid::FOOTER {
        return Err(Error::NotSevOvmf(format!(
            "no OVMF table footer GUID {} 32 bytes before the end (found {footer_guid})",
            Guid::FOOTER
        )));
    }
    let table_size = usize::from(footer_size)
        .checked_sub(ENTRY_HEADER)
        .ok_or_else(|| {
            invalid(
                "footer table size",
                footer_at,
                format!("{footer_size} is less than its own 18-byte header"),
            )
        })?;
    let table_start = footer_at.checked_sub(table_size).ok_or_else(|| {
        invalid(
            "footer table size",
            footer_at,
            format!("{table_size} bytes of entries do not fit before the footer"),
        )
    })?;

    // Walk the entries backwards from the footer.
    let mut entries: Vec<(Guid, &[u8])> = Vec::new();
    let mut end = footer_at;
    while end - table_start >= ENTRY_HEADER {
        let header_at = end - ENTRY_HEADER;
        let (entry_size, guid) = entry_header(image, header_at)?;
        let entry_size = usize::from(entry_size);
        if entry_size < ENTRY_HEADER {
            return Err(invalid(
                "footer table entry size",
                header_at,
                format!("{entry_size} is less than the 18-byte entry header ({guid})"),
            ));
        }
        if entry_size > end - table_start {
            return Err(invalid(
                "footer table entry size",
                header_at,
                format!(
                    "entry {guid} claims {entry_size} bytes, only {} left in the table",
                    end - table_start
                ),
            ));
        }
        let data_at = end - entry_size;
        let data = slice(
            image,
            data_at,
            entry_size - ENTRY_HEADER,
            "footer table entry",
        )?;
        if entries.iter().any(|(g, _)| *g == guid) {
            return Err(invalid(
                "footer table entry",
                header_at,
                format!("GUID {guid} appears twice"),
            ));
        }
        entries.push((guid, data));
        end = data_at;
    }
    Ok(entries)
}

/// The first `u32` of a footer-table entry's data, if the entry is there.
pub(crate) fn entry_u32(
    entries: &[(Guid, &[u8])],
    guid: Guid,
    what: &'static str,
) -> Result<Option<u32>, Error> {
    match entries.iter().find(|(g, _)| *g == guid).map(|(_, d)| *d) {
        None => Ok(None),
        Some(d) => Reader::new(d)
            .u32_le(what)
            .map(Some)
            .map_err(|e| Error::Ovmf(format!("table entry {guid}: {e}"))),
    }
}

fn invalid(field: &'static str, offset: usize, reason: impl Into<String>) -> Error {
    Error::Ovmf(
        CodecError::Invalid {
            field,
            offset,
            reason: reason.into(),
        }
        .to_string(),
    )
}

/// `len` bytes at absolute `offset`, bounds checked.
fn slice<'a>(
    image: &'a [u8],
    offset: usize,
    len: usize,
    field: &'static str,
) -> Result<&'a [u8], Error> {
    let mut r = Reader::new(image);
    r.take(offset, field)
        .and_then(|_| r.take(len, field))
        .map_err(|e| Error::Ovmf(e.to_string()))
}

/// The `u16` size and GUID of the entry header at `offset`.
fn entry_header(image: &[u8], offset: usize) -> Result<(u16, Guid), Error> {
    let mut r = Reader::new(slice(image, offset, ENTRY_HEADER, "footer table entry")?);
    let size = r
        .u16_le("footer table entry size")
        .map_err(|e| Error::Ovmf(e.to_string()))?;
    let guid = r
        .array::<16>("footer table entry GUID")
        .map_err(|e| Error::Ovmf(e.to_string()))?;
    Ok((size, Guid(guid)))
}

fn parse_metadata(image: &[u8], offset_from_end: u32) -> Result<Vec<Section>, Error> {
    let len = image.len();
    let offset = usize::try_from(offset_from_end).unwrap_or(usize::MAX);
    let start = len
        .checked_sub(offset)
        .filter(|_| offset >= METADATA_HEADER)
        .ok_or_else(|| {
            invalid(
                "SEV metadata offset",
                0,
                format!("{offset_from_end:#x} from the end is outside the {len}-byte image"),
            )
        })?;
    let mut r = Reader::new(slice(image, start, len - start, "SEV metadata")?);
    let err = |e: CodecError| Error::Ovmf(format!("SEV metadata at {start:#x}: {e}"));
    let signature = r.array::<4>("signature").map_err(err)?;
    if &signature != b"ASEV" {
        return Err(Error::Ovmf(format!(
            "SEV metadata at {start:#x}: signature {} is not \"ASEV\"",
            hex::encode(signature)
        )));
    }
    let size = r.u32_le("size").map_err(err)?;
    let version = r.u32_le("version").map_err(err)?;
    if version != 1 {
        return Err(Error::Ovmf(format!(
            "SEV metadata at {start:#x}: version {version} is not 1"
        )));
    }
    let count = r.u32_le("item count").map_err(err)?;
    let body = usize::try_from(size)
        .ok()
        .and_then(|s| s.checked_sub(METADATA_HEADER))
        .ok_or_else(|| {
            Error::Ovmf(format!(
                "SEV metadata at {start:#x}: size {size} is less than its 16-byte header"
            ))
        })?;
    let mut items = r.sub(body, "metadata items").map_err(err)?;
    let needed = usize::try_from(count)
        .ok()
        .and_then(|c| c.checked_mul(METADATA_ITEM));
    if needed.is_none_or(|n| n > body) {
        return Err(Error::Ovmf(format!(
            "SEV metadata at {start:#x}: {count} items of 12 bytes do not fit in {body} bytes"
        )));
    }
    let mut out = Vec::new();
    for _ in 0..count {
        let gpa = items.u32_le("section gpa").map_err(err)?;
        let size = items.u32_le("section size").map_err(err)?;
        let kind = SectionKind(items.u32_le("section type").map_err(err)?);
        out.push(Section { gpa, size, kind });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_text_matches_edk2_spelling() {
        assert_eq!(
            Guid::FOOTER.to_string(),
            "96b582de-1fb2-45f7-baea-a366c55a082d"
        );
        assert_eq!(
            Guid::SEV_ES_RESET_BLOCK.0[..4],
            [0xde, 0x71, 0xf7, 0x00],
            "first field little-endian in the image"
        );
    }

    #[test]
    fn tiny_and_unaligned_images_are_errors_not_panics() {
        for len in [0usize, 1, 49, 50, 4095, 4097] {
            assert!(OvmfLayout::parse(&vec![0u8; len]).is_err(), "{len}");
        }
        let e = OvmfLayout::parse(&vec![0xffu8; 4096]).unwrap_err();
        assert!(matches!(e, Error::NotSevOvmf(_)), "{e}");
    }
}

//! The TDX metadata of a TDVF (OVMF built with TDX support) image: where it
//! is, what each section asks the VMM to do, and the checks QEMU makes
//! before it builds a TD from it. Everything is read through the bounded
//! [`Reader`]; offsets and sizes from the image are checked before use.
//!
//! Layout (edk2 `OvmfPkg/ResetVector/Ia16/ResetVectorVtf0.asm`,
//! `X64/IntelTdxMetadata.asm`; QEMU `hw/i386/tdvf.c`):
//! - 32 bytes before the end of the image sits the footer entry of the OVMF
//!   GUIDed table: `u16` size of the whole table, then GUID
//!   96b582de-1fb2-45f7-baea-a366c55a082d;
//! - below it, entries laid out backwards: data, `u16` size (data plus the
//!   18-byte header), GUID;
//! - the entry e47a6535-984a-4798-865e-4685a7bf8ec2 holds a `u32`: the
//!   offset, from the end of the image, of the TDVF descriptor;
//! - edk2 puts the TDX metadata GUID e9eaf9f3-168e-44d5-a8eb-7f4d8738f6ae in
//!   the 16 bytes before the descriptor (QEMU does not check it; neither do
//!   we, but [`TdvfLayout::metadata_guid`] says whether it is there);
//! - the descriptor: `"TDVF"`, `u32` length (16 + 32 per section), `u32`
//!   version (1), `u32` section count, then per section `u32` DataOffset,
//!   `u32` RawDataSize, `u64` MemoryAddress, `u64` MemoryDataSize, `u32`
//!   Type, `u32` Attributes.

use std::fmt;

use rootline_core::{CodecError, Reader};
use serde::{Serialize, Serializer};

use crate::Error;

/// TDH.MEM.PAGE.ADD adds, and the metadata describes, whole 4 KiB pages.
pub const PAGE_SIZE: u64 = 4096;
/// `u16` size plus a 16-byte GUID.
const ENTRY_HEADER: usize = 18;
/// The footer entry ends this many bytes before the end of the image.
const FOOTER_GAP: usize = 32;
/// `"TDVF"`, length, version, section count.
const DESCRIPTOR_HEADER: usize = 16;
/// One section entry.
const SECTION_ENTRY: usize = 32;
/// Most sections accepted. edk2's OVMF has 6 to 8, td-shim about 10; the
/// bound keeps a hostile count from costing more than a few kilobytes.
pub const MAX_SECTIONS: usize = 256;
/// Most guest memory, summed over the sections added, that a replay
/// accepts: 1 GiB, about 262,000 TDH.MEM.PAGE.ADD calls (32 MiB hashed).
/// OVMF adds about 2.2 MiB; the bound stops a hostile MemoryDataSize from
/// making a replay run for hours.
pub const MAX_ADDED_BYTES: u64 = 1 << 30;

/// A GUID as stored in the image (first three fields little-endian).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Guid(pub [u8; 16]);

impl Guid {
    const fn new(a: u32, b: u16, c: u16, d: [u8; 8]) -> Self {
        let a = a.to_le_bytes();
        let b = b.to_le_bytes();
        let c = c.to_le_bytes();
        Self([
            a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d[0], d[1], d[2], d[3], d[4], d[5],
            d[6], d[7],
        ])
    }

    /// The footer of OVMF's GUIDed table (`ResetVectorVtf0.asm`).
    pub const FOOTER: Self = Self::new(
        0x96b5_82de,
        0x1fb2,
        0x45f7,
        [0xba, 0xea, 0xa3, 0x66, 0xc5, 0x5a, 0x08, 0x2d],
    );
    /// The table entry holding the TDVF descriptor's offset from the end of
    /// the image (`TDX_METADATA_OFFSET_GUID` in QEMU `hw/i386/tdvf.c`).
    pub const TDX_METADATA_OFFSET: Self = Self::new(
        0xe47a_6535,
        0x984a,
        0x4798,
        [0x86, 0x5e, 0x46, 0x85, 0xa7, 0xbf, 0x8e, 0xc2],
    );
    /// The TDX metadata GUID edk2 places right before the descriptor
    /// (`TdxMetadataGuid` in `IntelTdxMetadata.asm`).
    pub const TDX_METADATA: Self = Self::new(
        0xe9ea_f9f3,
        0x168e,
        0x44d5,
        [0xa8, 0xeb, 0x7f, 0x4d, 0x87, 0x38, 0xf6, 0xae],
    );
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let g = &self.0;
        let le32 = |i: usize| -> u32 {
            u32::from_le_bytes([
                g.get(i).copied().unwrap_or(0),
                g.get(i + 1).copied().unwrap_or(0),
                g.get(i + 2).copied().unwrap_or(0),
                g.get(i + 3).copied().unwrap_or(0),
            ])
        };
        let le16 = |i: usize| -> u16 {
            u16::from_le_bytes([
                g.get(i).copied().unwrap_or(0),
                g.get(i + 1).copied().unwrap_or(0),
            ])
        };
        write!(
            f,
            "{:08x}-{:04x}-{:04x}-{}-{}",
            le32(0),
            le16(4),
            le16(6),
            hex::encode(g.get(8..10).unwrap_or_default()),
            hex::encode(g.get(10..16).unwrap_or_default())
        )
    }
}

impl Serialize for Guid {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A TDVF section type (TDVF Design Guide, "TDVF metadata"; edk2
/// `IntelTdxMetadata.asm`, td-shim `metadata.rs`). Unknown values survive
/// and print in hex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SectionType(pub u32);

impl SectionType {
    /// Boot Firmware Volume: the firmware code, copied from the image and
    /// (with MR_EXTEND) measured into MRTD.
    pub const BFV: Self = Self(0);
    /// Configuration Firmware Volume: the UEFI variable store, copied from
    /// the image, not measured into MRTD (OVMF measures it into RTMR\[0\]).
    pub const CFV: Self = Self(1);
    /// The TD HOB the VMM writes (memory map): added as zero pages; its
    /// content is never part of MRTD.
    pub const TD_HOB: Self = Self(2);
    /// Temporary memory (stacks, heap, mailbox, page tables): zero pages.
    pub const TEMP_MEM: Self = Self(3);
    /// Permanent memory the TD accepts itself later (TDH.MEM.PAGE.AUG):
    /// not part of MRTD.
    pub const PERM_MEM: Self = Self(4);
    /// A payload (kernel) the VMM loads from another file (td-shim).
    pub const PAYLOAD: Self = Self(5);
    /// The payload's parameters (command line) the VMM writes (td-shim).
    pub const PAYLOAD_PARAM: Self = Self(6);

    /// The spec's name, or `None` for a type this version does not know.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::BFV => "BFV",
            Self::CFV => "CFV",
            Self::TD_HOB => "TD_HOB",
            Self::TEMP_MEM => "TempMem",
            Self::PERM_MEM => "PermMem",
            Self::PAYLOAD => "Payload",
            Self::PAYLOAD_PARAM => "PayloadParam",
            _ => return None,
        })
    }
}

impl fmt::Display for SectionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "{:#x}", self.0),
        }
    }
}

impl Serialize for SectionType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A section's Attributes bit field (TDVF Design Guide, "TDVF metadata").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SectionAttributes(pub u32);

impl SectionAttributes {
    /// Bit 0, MR_EXTEND: the VMM measures the pages' content with
    /// TDH.MR.EXTEND (edk2 `TDX_METADATA_ATTRIBUTES_EXTENDMR`).
    pub const MR_EXTEND: u32 = 1 << 0;
    /// Bit 1, PAGE_AUG: the VMM adds the pages with TDH.MEM.PAGE.AUG after
    /// the TD starts, so they are not part of MRTD.
    pub const PAGE_AUG: u32 = 1 << 1;
    /// Every bit this version knows.
    pub const KNOWN: u32 = Self::MR_EXTEND | Self::PAGE_AUG;

    /// True when MR_EXTEND is set.
    pub fn mr_extend(self) -> bool {
        self.0 & Self::MR_EXTEND != 0
    }

    /// True when PAGE_AUG is set.
    pub fn page_aug(self) -> bool {
        self.0 & Self::PAGE_AUG != 0
    }
}

impl fmt::Display for SectionAttributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names = Vec::new();
        if self.mr_extend() {
            names.push("MR_EXTEND".to_string());
        }
        if self.page_aug() {
            names.push("PAGE_AUG".to_string());
        }
        let rest = self.0 & !Self::KNOWN;
        if rest != 0 {
            names.push(format!("{rest:#x}"));
        }
        if names.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&names.join("|"))
        }
    }
}

impl Serialize for SectionAttributes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// What the VMM does with a section's pages before the TD runs, which
/// decides what the section contributes to MRTD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Treatment {
    /// TDH.MEM.PAGE.ADD for each page, then TDH.MR.EXTEND over its content
    /// in 256-byte chunks: the GPAs and the bytes enter MRTD.
    AddAndExtend,
    /// TDH.MEM.PAGE.ADD for each page: only the GPAs enter MRTD.
    Add,
    /// Not added before the TD runs (PermMem, PAGE_AUG): no effect on MRTD.
    NotAdded,
}

/// One section of the TDVF metadata, as read, with what the VMM does with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Section {
    /// Position in the metadata (0-based), the order the VMM replays.
    pub index: usize,
    /// Offset of the section's bytes in the image (BFV, CFV).
    #[serde(serialize_with = "hex_u32")]
    pub data_offset: u32,
    /// Length of the section's bytes in the image.
    #[serde(serialize_with = "hex_u32")]
    pub raw_data_size: u32,
    /// Guest physical address of the first page.
    #[serde(serialize_with = "hex_u64")]
    pub memory_address: u64,
    /// Bytes of guest memory, a multiple of 4096.
    #[serde(serialize_with = "hex_u64")]
    pub memory_data_size: u64,
    /// The section type.
    #[serde(rename = "type")]
    pub kind: SectionType,
    /// The attributes.
    pub attributes: SectionAttributes,
    /// What it contributes to MRTD.
    pub treatment: Treatment,
}

impl Section {
    /// Number of 4 KiB pages of guest memory.
    pub fn pages(&self) -> u64 {
        self.memory_data_size / PAGE_SIZE
    }
}

fn hex_u32<S: Serializer>(v: &u32, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_args!("{v:#x}"))
}

fn hex_u64<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_args!("{v:#x}"))
}

/// The TDX metadata of a firmware image, checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TdvfLayout {
    /// Image size in bytes.
    pub size: u64,
    /// Offset of the TDVF descriptor from the start of the image.
    #[serde(serialize_with = "hex_u64")]
    pub descriptor_offset: u64,
    /// True when the TDX metadata GUID (e9eaf9f3-...) precedes the
    /// descriptor, as in every edk2 build.
    pub metadata_guid: bool,
    /// The GUIDs of the footer table's entries, nearest the footer first.
    pub table: Vec<Guid>,
    /// The sections, in metadata order.
    pub sections: Vec<Section>,
}

impl TdvfLayout {
    /// Parses and checks the footer table and the TDVF metadata of
    /// `image`, applying QEMU's checks (`hw/i386/tdvf.c`) and the ones a
    /// prediction needs (every byte measured lies in the image, no page is
    /// added twice, bounded work).
    pub fn parse(image: &[u8]) -> Result<Self, Error> {
        let len = image.len();
        let entries = footer_table(image)?;
        let offset_entry = entries
            .iter()
            .find(|(g, _)| *g == Guid::TDX_METADATA_OFFSET)
            .map(|(_, d)| *d)
            .ok_or_else(|| {
                Error::NotTdvf(format!(
                    "the OVMF footer table has no TDX metadata offset entry ({}): the build has no TDX support (Debian's 4 MiB OVMF builds, for one)",
                    Guid::TDX_METADATA_OFFSET
                ))
            })?;
        let offset_from_end = Reader::new(offset_entry)
            .u32_le("TDX metadata offset")
            .map_err(|e| {
                Error::Malformed(format!("table entry {}: {e}", Guid::TDX_METADATA_OFFSET))
            })?;
        let start = usize::try_from(offset_from_end)
            .ok()
            .and_then(|o| len.checked_sub(o))
            .filter(|s| s.checked_add(DESCRIPTOR_HEADER).is_some_and(|e| e <= len))
            .ok_or_else(|| {
                Error::Malformed(format!(
                    "TDX metadata offset {offset_from_end:#x} from the end leaves no room for the 16-byte TDVF descriptor in the {len:#x}-byte image"
                ))
            })?;
        let metadata_guid = start
            .checked_sub(16)
            .and_then(|g| image.get(g..start))
            .is_some_and(|g| g == Guid::TDX_METADATA.0);

        let rest = image.get(start..).unwrap_or_default();
        let mut r = Reader::new(rest);
        let err = |e: CodecError| Error::Malformed(format!("TDVF descriptor at {start:#x}: {e}"));
        let signature = r.array::<4>("signature").map_err(err)?;
        if &signature != b"TDVF" {
            return Err(Error::Malformed(format!(
                "TDVF descriptor at {start:#x}: signature {} is not \"TDVF\"",
                hex::encode(signature)
            )));
        }
        let length = r.u32_le("length").map_err(err)?;
        let version = r.u32_le("version").map_err(err)?;
        if version != 1 {
            return Err(Error::Unsupported(format!(
                "TDVF descriptor at {start:#x}: version {version} (only 1 is defined)"
            )));
        }
        let count = r.u32_le("section count").map_err(err)?;
        let count = usize::try_from(count).unwrap_or(usize::MAX);
        if !(2..=MAX_SECTIONS).contains(&count) {
            return Err(Error::Malformed(format!(
                "TDVF descriptor at {start:#x}: {count} sections (QEMU needs at least 2, rootline reads at most {MAX_SECTIONS})"
            )));
        }
        let expected = DESCRIPTOR_HEADER + SECTION_ENTRY * count;
        if usize::try_from(length).ok() != Some(expected) {
            return Err(Error::Malformed(format!(
                "TDVF descriptor at {start:#x}: length {length:#x} is not 16 + 32 x {count} sections ({expected:#x})"
            )));
        }
        let mut items = r
            .sub(SECTION_ENTRY * count, "section entries")
            .map_err(err)?;

        let mut sections = Vec::with_capacity(count);
        for index in 0..count {
            let serr = |e: CodecError| Error::Section {
                index,
                reason: e.to_string(),
            };
            let data_offset = items.u32_le("DataOffset").map_err(serr)?;
            let raw_data_size = items.u32_le("RawDataSize").map_err(serr)?;
            let memory_address = items.u64_le("MemoryAddress").map_err(serr)?;
            let memory_data_size = items.u64_le("MemoryDataSize").map_err(serr)?;
            let kind = SectionType(items.u32_le("Type").map_err(serr)?);
            let attributes = SectionAttributes(items.u32_le("Attributes").map_err(serr)?);
            let raw = Raw {
                index,
                data_offset,
                raw_data_size,
                memory_address,
                memory_data_size,
                kind,
                attributes,
            };
            sections.push(raw.check(len)?);
        }
        check_added(&sections)?;

        Ok(TdvfLayout {
            size: len as u64,
            descriptor_offset: start as u64,
            metadata_guid,
            table: entries.iter().map(|(g, _)| *g).collect(),
            sections,
        })
    }
}

/// A section entry before its checks.
struct Raw {
    index: usize,
    data_offset: u32,
    raw_data_size: u32,
    memory_address: u64,
    memory_data_size: u64,
    kind: SectionType,
    attributes: SectionAttributes,
}

impl Raw {
    fn check(self, image_len: usize) -> Result<Section, Error> {
        let index = self.index;
        let bad = |reason: String| Error::Section { index, reason };
        let unsupported = |reason: String| Error::UnsupportedSection {
            index,
            kind: self.kind,
            reason,
        };
        let unknown = self.attributes.0 & !SectionAttributes::KNOWN;
        if unknown != 0 {
            return Err(unsupported(format!(
                "Attributes {:#x} has bits rootline does not know ({unknown:#x})",
                self.attributes.0
            )));
        }
        // QEMU tdvf_parse_and_check_section_entry().
        if self.memory_data_size < u64::from(self.raw_data_size) {
            return Err(bad(format!(
                "MemoryDataSize {:#x} is smaller than RawDataSize {:#x}",
                self.memory_data_size, self.raw_data_size
            )));
        }
        if self.memory_address % PAGE_SIZE != 0 {
            return Err(bad(format!(
                "MemoryAddress {:#x} is not 4 KiB aligned",
                self.memory_address
            )));
        }
        if self.memory_data_size % PAGE_SIZE != 0 {
            return Err(bad(format!(
                "MemoryDataSize {:#x} is not a multiple of 4 KiB",
                self.memory_data_size
            )));
        }
        if self
            .memory_address
            .checked_add(self.memory_data_size)
            .is_none()
        {
            return Err(bad(format!(
                "MemoryAddress {:#x} + MemoryDataSize {:#x} overflows 64 bits",
                self.memory_address, self.memory_data_size
            )));
        }
        let end = u64::from(self.data_offset) + u64::from(self.raw_data_size);
        if end > image_len as u64 {
            let hint = if u64::from(self.raw_data_size) <= image_len as u64 {
                // Debian's OVMF_CODE.fd carries the metadata of the
                // combined OVMF.fd (OVMF_VARS.fd, then OVMF_CODE.fd).
                format!(
                    "; the metadata describes an image of at least {end:#x} bytes: is this the code half of a split build? A TD is built from the whole image (OVMF.fd, or OVMF_VARS.fd followed by OVMF_CODE.fd)"
                )
            } else {
                String::new()
            };
            return Err(bad(format!(
                "DataOffset {:#x} + RawDataSize {:#x} exceeds the image ({image_len:#x} bytes){hint}",
                self.data_offset, self.raw_data_size
            )));
        }

        let treatment = match self.kind {
            SectionType::BFV | SectionType::CFV => {
                if self.raw_data_size == 0 {
                    return Err(bad(format!("{} with RawDataSize 0", self.kind)));
                }
                added(self.attributes)
            }
            SectionType::TD_HOB | SectionType::TEMP_MEM => {
                if self.raw_data_size != 0 {
                    return Err(bad(format!(
                        "{} with RawDataSize {:#x} (must be 0: the VMM adds zero pages)",
                        self.kind, self.raw_data_size
                    )));
                }
                if self.attributes.mr_extend() {
                    return Err(unsupported(
                        "MR_EXTEND on a section without image bytes: what the VMM would measure is not in the image".into(),
                    ));
                }
                added(self.attributes)
            }
            SectionType::PERM_MEM => {
                if self.raw_data_size != 0 || self.attributes.mr_extend() {
                    return Err(bad(
                        "PermMem with RawDataSize or MR_EXTEND (it is memory the TD accepts, without content)".into(),
                    ));
                }
                Treatment::NotAdded
            }
            SectionType::PAYLOAD | SectionType::PAYLOAD_PARAM => {
                return Err(unsupported(
                    "the VMM fills it from a file other than the firmware (td-shim payloads); QEMU refuses it and rootline does not model it".into(),
                ));
            }
            _ => {
                return Err(unsupported("unknown section type (QEMU refuses it)".into()));
            }
        };
        if treatment != Treatment::NotAdded && self.memory_data_size == 0 {
            return Err(bad(
                "MemoryDataSize 0 (KVM_TDX_INIT_MEM_REGION refuses an empty region)".into(),
            ));
        }
        if treatment == Treatment::AddAndExtend
            && self.memory_data_size != u64::from(self.raw_data_size)
        {
            // KVM measures MemoryDataSize bytes from the source; past
            // RawDataSize they would be whatever follows in QEMU's copy.
            return Err(unsupported(format!(
                "MR_EXTEND with MemoryDataSize {:#x} != RawDataSize {:#x}: the bytes measured past the raw data are not defined by the image",
                self.memory_data_size, self.raw_data_size
            )));
        }
        Ok(Section {
            index,
            data_offset: self.data_offset,
            raw_data_size: self.raw_data_size,
            memory_address: self.memory_address,
            memory_data_size: self.memory_data_size,
            kind: self.kind,
            attributes: self.attributes,
            treatment,
        })
    }
}

fn added(a: SectionAttributes) -> Treatment {
    if a.page_aug() {
        Treatment::NotAdded
    } else if a.mr_extend() {
        Treatment::AddAndExtend
    } else {
        Treatment::Add
    }
}

/// Sections added must not overlap (the TDX module refuses to add a page
/// twice) and must stay within [`MAX_ADDED_BYTES`] in total.
fn check_added(sections: &[Section]) -> Result<(), Error> {
    let mut added: Vec<&Section> = sections
        .iter()
        .filter(|s| s.treatment != Treatment::NotAdded)
        .collect();
    let total = added
        .iter()
        .try_fold(0u64, |t, s| t.checked_add(s.memory_data_size));
    if total.is_none_or(|t| t > MAX_ADDED_BYTES) {
        return Err(Error::TooLarge(format!(
            "the sections add more than {MAX_ADDED_BYTES:#x} bytes of guest memory"
        )));
    }
    added.sort_by_key(|s| s.memory_address);
    for pair in added.windows(2) {
        if let [a, b] = pair {
            // Checked in Raw::check: address + size does not overflow.
            if a.memory_address + a.memory_data_size > b.memory_address {
                return Err(Error::Section {
                    index: b.index,
                    reason: format!(
                        "memory {:#x}..{:#x} overlaps section {} ({:#x}..{:#x}): a page cannot be added twice",
                        b.memory_address,
                        b.memory_address + b.memory_data_size,
                        a.index,
                        a.memory_address,
                        a.memory_address + a.memory_data_size
                    ),
                });
            }
        }
    }
    Ok(())
}

/// The entries of the OVMF footer table, nearest the footer first.
fn footer_table(image: &[u8]) -> Result<Vec<(Guid, &[u8])>, Error> {
    let len = image.len();
    let footer_at = len
        .checked_sub(FOOTER_GAP + ENTRY_HEADER)
        .ok_or_else(|| Error::NotTdvf(format!("{len} bytes is too small for an OVMF image")))?;
    let (footer_size, footer_guid) = entry_header(image, footer_at)?;
    if footer_guid != Guid::FOOTER {
        return Err(Error::NotTdvf(format!(
            "no OVMF table footer GUID {} 32 bytes before the end (found {footer_guid})",
            Guid::FOOTER
        )));
    }
    let table_size = usize::from(footer_size)
        .checked_sub(ENTRY_HEADER)
        .ok_or_else(|| {
            Error::Malformed(format!(
                "OVMF footer table size {footer_size} is less than its own 18-byte header"
            ))
        })?;
    let table_start = footer_at.checked_sub(table_size).ok_or_else(|| {
        Error::Malformed(format!(
            "OVMF footer table size {footer_size} reaches before the start of the image"
        ))
    })?;
    let mut entries: Vec<(Guid, &[u8])> = Vec::new();
    let mut end = footer_at;
    while end - table_start >= ENTRY_HEADER {
        let header_at = end - ENTRY_HEADER;
        let (size, guid) = entry_header(image, header_at)?;
        let size = usize::from(size);
        if size < ENTRY_HEADER || size > end - table_start {
            return Err(Error::Malformed(format!(
                "OVMF footer table entry {guid} at {header_at:#x}: size {size} is outside 18..={}",
                end - table_start
            )));
        }
        let data_at = end - size;
        let data = image.get(data_at..header_at).unwrap_or_default();
        if entries.iter().any(|(g, _)| *g == guid) {
            return Err(Error::Malformed(format!(
                "OVMF footer table entry {guid} appears twice"
            )));
        }
        entries.push((guid, data));
        end = data_at;
    }
    Ok(entries)
}

/// The `u16` size and GUID of the table entry header at `offset`.
fn entry_header(image: &[u8], offset: usize) -> Result<(u16, Guid), Error> {
    let mut r = Reader::new(image);
    let err = |e: CodecError| Error::Malformed(format!("OVMF footer table: {e}"));
    r.take(offset, "footer table").map_err(err)?;
    let size = r.u16_le("footer table entry size").map_err(err)?;
    let guid = r.array::<16>("footer table entry GUID").map_err(err)?;
    Ok((size, Guid(guid)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_print_in_edk2_spelling() {
        assert_eq!(
            Guid::FOOTER.to_string(),
            "96b582de-1fb2-45f7-baea-a366c55a082d"
        );
        assert_eq!(
            Guid::TDX_METADATA_OFFSET.to_string(),
            "e47a6535-984a-4798-865e-4685a7bf8ec2"
        );
        assert_eq!(
            Guid::TDX_METADATA.to_string(),
            "e9eaf9f3-168e-44d5-a8eb-7f4d8738f6ae"
        );
        assert_eq!(
            Guid::TDX_METADATA.0[..4],
            [0xf3, 0xf9, 0xea, 0xe9],
            "first field little-endian, as in IntelTdxMetadata.asm"
        );
    }

    #[test]
    fn names_and_unknowns_print() {
        assert_eq!(SectionType::TEMP_MEM.to_string(), "TempMem");
        assert_eq!(SectionType(9).to_string(), "0x9");
        assert_eq!(SectionAttributes(3).to_string(), "MR_EXTEND|PAGE_AUG");
        assert_eq!(SectionAttributes(0).to_string(), "none");
        assert_eq!(SectionAttributes(0x11).to_string(), "MR_EXTEND|0x10");
    }

    #[test]
    fn tiny_images_are_errors_not_panics() {
        for len in [0usize, 1, 49, 50, 51, 4096] {
            assert!(TdvfLayout::parse(&vec![0u8; len]).is_err(), "{len}");
        }
    }
}

//! A small synthetic TDVF image, for tests, examples and the fuzz target:
//! real OVMF builds are 2 MiB, too large to commit, and only exercise the
//! section layout edk2 happens to use.
//!
//! The image has an OVMF-like tail: the footer table with one entry
//! rootline does not use (the SEV-ES reset block) and the TDX metadata
//! offset entry; the TDX metadata GUID and TDVF descriptor 0x400 bytes
//! from the end. Every other byte is a fixed pattern that differs per page,
//! so the image is the same on every machine and page order matters.

use crate::tdvf::{Guid, SectionAttributes, SectionType};

/// One section entry, as written into the descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SectionSpec {
    /// DataOffset.
    pub data_offset: u32,
    /// RawDataSize.
    pub raw_data_size: u32,
    /// MemoryAddress.
    pub memory_address: u64,
    /// MemoryDataSize.
    pub memory_data_size: u64,
    /// Type.
    pub kind: u32,
    /// Attributes.
    pub attributes: u32,
}

/// What to vary in a synthetic image (the default is the image the known
/// answer in `tests/known_answers.rs` was computed for).
#[derive(Debug, Clone)]
pub struct Spec {
    /// Image size in bytes.
    pub size: usize,
    /// The sections, in metadata order.
    pub sections: Vec<SectionSpec>,
    /// Where the descriptor starts, counted from the end of the image (the
    /// value of the TDX metadata offset entry).
    pub descriptor_from_end: u32,
    /// The descriptor's version field.
    pub version: u32,
}

impl Default for Spec {
    /// Two sections: the whole 8 KiB image as a BFV measured at the top of
    /// the 4 GiB space (as OVMF maps its code), and one TempMem page.
    fn default() -> Self {
        Spec {
            size: 0x2000,
            sections: vec![
                SectionSpec {
                    data_offset: 0,
                    raw_data_size: 0x2000,
                    memory_address: 0xffff_e000,
                    memory_data_size: 0x2000,
                    kind: SectionType::BFV.0,
                    attributes: SectionAttributes::MR_EXTEND,
                },
                SectionSpec {
                    data_offset: 0,
                    raw_data_size: 0,
                    memory_address: 0x0080_0000,
                    memory_data_size: 0x1000,
                    kind: SectionType::TEMP_MEM.0,
                    attributes: 0,
                },
            ],
            descriptor_from_end: 0x400,
            version: 1,
        }
    }
}

/// The GUID of the SEV-ES reset block entry, which the image carries only
/// to show that entries rootline does not use are skipped.
const SEV_ES_RESET_BLOCK: Guid = Guid([
    0xde, 0x71, 0xf7, 0x00, 0x7e, 0x1a, 0xcb, 0x4f, 0x89, 0x0e, 0x68, 0xc7, 0x7e, 0x2f, 0xb4, 0x4e,
]);

/// The fixed byte pattern at offset `i`.
pub fn pattern(i: usize) -> u8 {
    ((i % 251) as u8) ^ ((i / 4096) as u8).wrapping_mul(29)
}

/// Builds the image `spec` describes, or `None` when the table and the
/// descriptor do not fit in its size.
pub fn image(spec: &Spec) -> Option<Vec<u8>> {
    let size = spec.size;
    let mut img: Vec<u8> = (0..size).map(pattern).collect();

    let entries: [(Guid, Vec<u8>); 2] = [
        (
            Guid::TDX_METADATA_OFFSET,
            spec.descriptor_from_end.to_le_bytes().to_vec(),
        ),
        (SEV_ES_RESET_BLOCK, 0xffff_f004u32.to_le_bytes().to_vec()),
    ];
    // File order: the last entry written sits right below the footer.
    let mut table = Vec::new();
    for (guid, data) in &entries {
        table.extend_from_slice(data);
        table.extend_from_slice(&u16::try_from(data.len() + 18).ok()?.to_le_bytes());
        table.extend_from_slice(&guid.0);
    }
    table.extend_from_slice(&u16::try_from(table.len() + 18).ok()?.to_le_bytes());
    table.extend_from_slice(&Guid::FOOTER.0);
    let table_end = size.checked_sub(32)?;
    let table_start = table_end.checked_sub(table.len())?;
    img.get_mut(table_start..table_end)?.copy_from_slice(&table);

    let mut meta = Vec::new();
    meta.extend_from_slice(&Guid::TDX_METADATA.0);
    meta.extend_from_slice(b"TDVF");
    let length = 16 + 32 * spec.sections.len();
    meta.extend_from_slice(&u32::try_from(length).ok()?.to_le_bytes());
    meta.extend_from_slice(&spec.version.to_le_bytes());
    meta.extend_from_slice(&u32::try_from(spec.sections.len()).ok()?.to_le_bytes());
    for s in &spec.sections {
        meta.extend_from_slice(&s.data_offset.to_le_bytes());
        meta.extend_from_slice(&s.raw_data_size.to_le_bytes());
        meta.extend_from_slice(&s.memory_address.to_le_bytes());
        meta.extend_from_slice(&s.memory_data_size.to_le_bytes());
        meta.extend_from_slice(&s.kind.to_le_bytes());
        meta.extend_from_slice(&s.attributes.to_le_bytes());
    }
    let descriptor = size.checked_sub(usize::try_from(spec.descriptor_from_end).ok()?)?;
    let meta_start = descriptor.checked_sub(16)?;
    let meta_end = meta_start.checked_add(meta.len())?;
    if meta_end > table_start {
        return None;
    }
    img.get_mut(meta_start..meta_end)?.copy_from_slice(&meta);
    Some(img)
}

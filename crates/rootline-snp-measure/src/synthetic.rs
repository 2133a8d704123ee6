//! A synthetic OVMF-like image with the structures an SNP launch measures,
//! for tests and examples: no real OVMF build is small enough to commit,
//! and Debian's builds (OvmfX64) lack the kernel-hashes page.
//!
//! The image has an AmdSevX64-like tail: the footer table with the SEV-ES
//! reset block, the SEV hash table block, the SEV metadata offset and one
//! entry rootline does not use, and metadata listing every section type
//! (sec memory, secrets, CPUID, kernel hashes, SVSM CAA). Everything else is
//! a fixed byte pattern, so the image is the same on every machine and
//! measurements of it can be recorded with another implementation
//! (`sev-snp-measure`) and compared.

use crate::ovmf::{Guid, PAGE_SIZE, SectionKind};

/// What to vary in a synthetic image (the defaults give the recorded one).
#[derive(Debug, Clone)]
pub struct Spec {
    /// Image size in bytes (a multiple of 4096 for a measurable image).
    pub size: usize,
    /// The metadata sections: GPA, size, type.
    pub sections: Vec<(u32, u32, u32)>,
    /// GPA of the SEV hash table (its page offset is where QEMU writes it).
    pub hash_table_gpa: u32,
    /// The AP reset EIP in the SEV-ES reset block.
    pub ap_reset_eip: u32,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            size: 128 * 1024,
            sections: vec![
                (0x0080_0000, 0x9000, SectionKind::SNP_SEC_MEMORY.0),
                (0x0080_a000, 0x3000, SectionKind::SNP_SEC_MEMORY.0),
                (0x0080_d000, 0x1000, SectionKind::SNP_SECRETS.0),
                (0x0080_e000, 0x1000, SectionKind::CPUID.0),
                (0x0080_f000, 0x1000, SectionKind::SNP_KERNEL_HASHES.0),
                (0x0081_0000, 0x1000, SectionKind::SVSM_CAA.0),
                (0x0081_1000, 0xf000, SectionKind::SNP_SEC_MEMORY.0),
            ],
            hash_table_gpa: 0x0080_f400,
            ap_reset_eip: 0x0080_b004,
        }
    }
}

/// Offset of the metadata from the end of the image.
const METADATA_FROM_END: usize = 0x1000;

/// Builds the image `spec` describes, or `None` when the table and metadata
/// do not fit in its size.
pub fn image(spec: &Spec) -> Option<Vec<u8>> {
    let size = spec.size;
    // A pattern that differs per page, so page order matters in the digest.
    let mut img: Vec<u8> = (0..size)
        .map(|i| ((i % 251) as u8) ^ ((i / PAGE_SIZE as usize) as u8).wrapping_mul(29))
        .collect();

    // Footer table, built backwards from 32 bytes before the end.
    let mut entries: Vec<(Guid, Vec<u8>)> = vec![
        (
            Guid::SEV_ES_RESET_BLOCK,
            spec.ap_reset_eip.to_le_bytes().to_vec(),
        ),
        // The SEV secret block (4c2eb361-...): not measured, kept to show
        // unknown entries are skipped.
        (
            Guid([
                0x61, 0xb3, 0x2e, 0x4c, 0x9b, 0x7d, 0xc3, 0x4c, 0x80, 0x81, 0x12, 0x7c, 0x90, 0xd3,
                0xd2, 0x94,
            ]),
            [0x0080_d000u32.to_le_bytes(), 0x1000u32.to_le_bytes()].concat(),
        ),
        (
            Guid::SEV_HASH_TABLE,
            [spec.hash_table_gpa.to_le_bytes(), 0x400u32.to_le_bytes()].concat(),
        ),
        (
            Guid::SEV_METADATA,
            (METADATA_FROM_END as u32).to_le_bytes().to_vec(),
        ),
    ];
    let mut table = Vec::new();
    // File order is reversed: the first entry sits right below the footer.
    entries.reverse();
    for (guid, data) in &entries {
        table.extend_from_slice(data);
        table.extend_from_slice(&((data.len() + 18) as u16).to_le_bytes());
        table.extend_from_slice(&guid.0);
    }
    table.extend_from_slice(&((table.len() + 18) as u16).to_le_bytes());
    table.extend_from_slice(&Guid::FOOTER.0);
    let table_end = size.checked_sub(32)?;
    let table_start = table_end.checked_sub(table.len())?;
    img.get_mut(table_start..table_end)?.copy_from_slice(&table);

    let mut meta = Vec::new();
    meta.extend_from_slice(b"ASEV");
    meta.extend_from_slice(&((16 + 12 * spec.sections.len()) as u32).to_le_bytes());
    meta.extend_from_slice(&1u32.to_le_bytes());
    meta.extend_from_slice(&(spec.sections.len() as u32).to_le_bytes());
    for (gpa, len, kind) in &spec.sections {
        meta.extend_from_slice(&gpa.to_le_bytes());
        meta.extend_from_slice(&len.to_le_bytes());
        meta.extend_from_slice(&kind.to_le_bytes());
    }
    let meta_start = size.checked_sub(METADATA_FROM_END)?;
    let meta_end = meta_start.checked_add(meta.len())?;
    if meta_end > table_start {
        return None;
    }
    img.get_mut(meta_start..meta_end)?.copy_from_slice(&meta);
    Some(img)
}

/// A deterministic stand-in for a kernel or initrd of `len` bytes.
pub fn blob(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ ((i >> 8) as u8))
        .collect()
}

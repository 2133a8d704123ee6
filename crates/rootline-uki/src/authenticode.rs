//! The Authenticode digest of a PE image, computed the way EDK2 measures it.
//!
//! OVMF (EDK2's `DxeTpm2MeasureBootLib` -> `Tcg2Dxe` `MeasurePeImageAndExtend`)
//! extends PCR 4 with the Authenticode hash of every boot application it
//! loads. The recipe (Microsoft's Authenticode PE specification, steps 1-15):
//! hash the headers up to `SizeOfHeaders` except the CheckSum field and the
//! Certificate Table directory entry; then each section with a non-zero
//! `SizeOfRawData`, in ascending `PointerToRawData` order; then any data after
//! the last section, less the attribute certificate table.
//!
//! EDK2 does not append the zero padding to a multiple of 8 that the
//! Authenticode document describes for signing; goblin's
//! `authenticode_ranges` does, so it gives a different digest than OVMF for
//! files whose size is not a multiple of 8 (every `objcopy`-built UKI we made).
//! The PE headers and section table are read with the `object` crate; only the
//! hashing ranges are ours, each one bounds-checked.

use object::LittleEndian as LE;
use object::pe;
use object::read::pe::{ImageNtHeaders, ImageOptionalHeader};
use rootline_core::{Digest, HashAlg};

use crate::Error;

/// Offset of CheckSum inside the optional header (same for PE32 and PE32+).
const CHECKSUM_OFFSET: usize = 64;
/// Offset of the data directories inside the optional header.
const DATA_DIR_OFFSET_PE32: usize = 96;
const DATA_DIR_OFFSET_PE32_PLUS: usize = 112;
/// Size of the signature ("PE\0\0") plus the COFF file header.
const NT_SIGNATURE_AND_FILE_HEADER: usize = 4 + 20;
/// Size of one IMAGE_DATA_DIRECTORY.
const DATA_DIR_ENTRY: usize = 8;

/// The byte ranges of a PE image that its Authenticode digest covers, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ranges(pub Vec<std::ops::Range<usize>>);

/// Computes the ranges EDK2 hashes for `image` (the whole file, or the
/// in-memory buffer handed to `LoadImage`).
pub fn ranges(image: &[u8]) -> Result<Ranges, Error> {
    match object::read::pe::optional_header_magic(image) {
        Ok(pe::IMAGE_NT_OPTIONAL_HDR64_MAGIC) => ranges_for::<pe::ImageNtHeaders64>(image),
        Ok(pe::IMAGE_NT_OPTIONAL_HDR32_MAGIC) => ranges_for::<pe::ImageNtHeaders32>(image),
        Ok(m) => Err(Error::pe(format!("unknown optional header magic {m:#06x}"))),
        Err(e) => Err(Error::pe(e.to_string())),
    }
}

fn ranges_for<Pe: ImageNtHeaders>(image: &[u8]) -> Result<Ranges, Error> {
    let dos = pe::ImageDosHeader::parse(image).map_err(|e| Error::pe(e.to_string()))?;
    let nt_offset = dos.nt_headers_offset() as usize;
    let mut offset = u64::from(dos.nt_headers_offset());
    let (nt, dirs) = Pe::parse(image, &mut offset).map_err(|e| Error::pe(e.to_string()))?;
    let sections = nt
        .sections(image, offset)
        .map_err(|e| Error::pe(e.to_string()))?;
    let opt = nt.optional_header();
    let opt_start = nt_offset
        .checked_add(NT_SIGNATURE_AND_FILE_HEADER)
        .ok_or_else(|| Error::pe("e_lfanew overflows"))?;
    let checksum = opt_start + CHECKSUM_OFFSET;
    let dir_base = opt_start
        + if nt.is_type_64() {
            DATA_DIR_OFFSET_PE32_PLUS
        } else {
            DATA_DIR_OFFSET_PE32
        };
    let size_of_headers = opt.size_of_headers() as usize;
    if size_of_headers > image.len() {
        return Err(Error::pe(format!(
            "SizeOfHeaders {size_of_headers} exceeds the image size {}",
            image.len()
        )));
    }
    let mut out = Vec::new();
    out.push(0..checksum);
    let after_checksum = checksum + 4;
    // EDK2: with no Certificate Table entry (NumberOfRvaAndSizes <= 4) the rest
    // of the headers is hashed whole. `DataDirectories::get` hides entries
    // whose address is zero, which EDK2 still excludes: index the table.
    let security = dirs.iter().nth(pe::IMAGE_DIRECTORY_ENTRY_SECURITY);
    let cert_size = match security {
        None => {
            out.push(after_checksum..size_of_headers);
            0
        }
        Some(entry) => {
            let entry_start = dir_base + pe::IMAGE_DIRECTORY_ENTRY_SECURITY * DATA_DIR_ENTRY;
            let entry_end = entry_start + DATA_DIR_ENTRY;
            out.push(after_checksum..entry_start);
            if size_of_headers > entry_end {
                out.push(entry_end..size_of_headers);
            }
            entry.size.get(LE) as usize
        }
    };
    let mut sum_of_bytes_hashed = size_of_headers;
    let mut table: Vec<&pe::ImageSectionHeader> = sections
        .iter()
        .filter(|s| s.size_of_raw_data.get(LE) != 0)
        .collect();
    // Stable, like EDK2's insertion sort.
    table.sort_by_key(|s| s.pointer_to_raw_data.get(LE));
    for s in table {
        let start = s.pointer_to_raw_data.get(LE) as usize;
        let len = s.size_of_raw_data.get(LE) as usize;
        let end = start
            .checked_add(len)
            .filter(|e| *e <= image.len())
            .ok_or_else(|| {
                Error::pe(format!(
                    "section {:?} raw data {start:#x}+{len:#x} lies outside the image ({} bytes)",
                    String::from_utf8_lossy(s.raw_name()),
                    image.len()
                ))
            })?;
        out.push(start..end);
        sum_of_bytes_hashed += len;
    }
    if image.len() > sum_of_bytes_hashed {
        let tail_end = image.len().checked_sub(cert_size).ok_or_else(|| {
            Error::pe("the certificate table is larger than the image".to_string())
        })?;
        if tail_end > sum_of_bytes_hashed {
            out.push(sum_of_bytes_hashed..tail_end);
        } else if tail_end < sum_of_bytes_hashed {
            return Err(Error::pe(format!(
                "the certificate table ({cert_size} bytes) overlaps the sections ({sum_of_bytes_hashed} bytes hashed of {})",
                image.len()
            )));
        }
    }
    for r in &out {
        if r.start > r.end || r.end > image.len() {
            return Err(Error::pe(format!(
                "header range {:#x}..{:#x} lies outside the image",
                r.start, r.end
            )));
        }
    }
    Ok(Ranges(out))
}

/// The Authenticode digest of `image` as EDK2 measures it into PCR 4.
pub fn digest(image: &[u8], alg: HashAlg) -> Result<Digest, Error> {
    let ranges = ranges(image)?;
    let mut h = alg.hasher().ok_or(Error::UnsupportedHash(alg))?;
    for r in ranges.0 {
        // ranges() checked every range against the image.
        h.update(image.get(r).unwrap_or_default());
    }
    Ok(h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_a_pe_is_an_error() {
        assert!(ranges(b"MZ this is not a PE").is_err());
        assert!(ranges(&[]).is_err());
    }
}

//! The GUID-indexed certificate table that comes with an extended report
//! (SNP_GET_EXT_REPORT, GHCB specification section 4.1.8.1) and in the
//! Linux configfs-tsm `auxblob`.
//!
//! Each entry is a 16-byte GUID, a little-endian u32 offset and a u32 length,
//! the offset counted from the start of the table; an all-zero entry ends the
//! list. Every offset and length is checked against the blob before any
//! certificate is sliced out.

use rootline_core::{CodecError, Reader};

use crate::error::{Error, Result};

/// A certificate-table GUID, stored as the bytes of its text form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CertGuid(pub [u8; 16]);

impl CertGuid {
    /// 63da758d-e664-4564-adc5-f4b93be8accd: the VCEK.
    pub const VCEK: Self = Self([
        0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64, 0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac,
        0xcd,
    ]);
    /// a8074bc2-a25a-483e-aae6-39c045a0b8a1: the VLEK.
    pub const VLEK: Self = Self([
        0xa8, 0x07, 0x4b, 0xc2, 0xa2, 0x5a, 0x48, 0x3e, 0xaa, 0xe6, 0x39, 0xc0, 0x45, 0xa0, 0xb8,
        0xa1,
    ]);
    /// 4ab7b379-bbac-4fe4-a02f-05aef327c782: the ASK (or ASVK).
    pub const ASK: Self = Self([
        0x4a, 0xb7, 0xb3, 0x79, 0xbb, 0xac, 0x4f, 0xe4, 0xa0, 0x2f, 0x05, 0xae, 0xf3, 0x27, 0xc7,
        0x82,
    ]);
    /// c0b406a4-a803-4952-9743-3fb6014cd0ae: the ARK.
    pub const ARK: Self = Self([
        0xc0, 0xb4, 0x06, 0xa4, 0xa8, 0x03, 0x49, 0x52, 0x97, 0x43, 0x3f, 0xb6, 0x01, 0x4c, 0xd0,
        0xae,
    ]);

    /// `vcek`, `vlek`, `ask`, `ark`, or the GUID in text form.
    pub fn name(&self) -> String {
        match *self {
            Self::VCEK => "vcek".into(),
            Self::VLEK => "vlek".into(),
            Self::ASK => "ask".into(),
            Self::ARK => "ark".into(),
            Self(b) => {
                let h = hex::encode(b);
                format!(
                    "{}-{}-{}-{}-{}",
                    h.get(0..8).unwrap_or(""),
                    h.get(8..12).unwrap_or(""),
                    h.get(12..16).unwrap_or(""),
                    h.get(16..20).unwrap_or(""),
                    h.get(20..32).unwrap_or("")
                )
            }
        }
    }
}

/// One certificate from the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertEntry {
    /// What the table says the entry is.
    pub guid: CertGuid,
    /// The certificate bytes (DER or PEM, as the host put them).
    pub bytes: Vec<u8>,
}

/// Most entries a table may have; real tables have four.
const MAX_ENTRIES: usize = 64;

fn table(e: CodecError) -> Error {
    Error::Evidence(format!("certificate table: {e}"))
}

/// Parses a certificate table. Trailing bytes after the last certificate
/// (page padding) are allowed; an entry pointing outside the blob is not.
pub fn parse(blob: &[u8]) -> Result<Vec<CertEntry>> {
    let mut r = Reader::new(blob);
    let mut out = Vec::new();
    loop {
        let guid: [u8; 16] = r.array("certificate table guid").map_err(table)?;
        let offset = r.u32_le("certificate table offset").map_err(table)? as usize;
        let length = r.u32_le("certificate table length").map_err(table)? as usize;
        if guid == [0; 16] {
            if offset != 0 || length != 0 {
                return Err(Error::Evidence(
                    "certificate table terminator has a non-zero offset or length".into(),
                ));
            }
            break;
        }
        if out.len() == MAX_ENTRIES {
            return Err(Error::Evidence(format!(
                "certificate table has more than {MAX_ENTRIES} entries"
            )));
        }
        let end = offset.checked_add(length).filter(|e| *e <= blob.len());
        let bytes = match end.and_then(|e| blob.get(offset..e)) {
            Some(b) if length > 0 => b,
            _ => {
                return Err(Error::Evidence(format!(
                    "certificate table entry {} ({}) at offset {offset} length {length} lies outside the {}-byte table",
                    out.len(),
                    CertGuid(guid).name(),
                    blob.len()
                )));
            }
        };
        out.push(CertEntry {
            guid: CertGuid(guid),
            bytes: bytes.to_vec(),
        });
    }
    Ok(out)
}

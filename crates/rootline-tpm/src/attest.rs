//! TPMS_ATTEST (Part 2, 10.12.12): what a TPM signs in TPM2_Quote,
//! TPM2_Certify and their relatives.
//!
//! The parsed structure keeps the bytes it came from: the signature is checked
//! over [`Attest::raw`], never over a re-encoding.

use rootline_core::{CodecError, Reader};

use crate::error::Error;
use crate::pcr::PcrSelection;
use crate::types::{Generated, StructureTag};

/// Largest TPM2B_NAME: a TPMT_HA with a SHA-512 digest.
pub const MAX_NAME: usize = 2 + 64;
/// Largest TPM2B_DATA (sizeof TPMT_HA).
pub const MAX_DATA: usize = 2 + 64;
/// Largest TPM2B_DIGEST.
pub const MAX_DIGEST: usize = 64;

/// TPMS_CLOCK_INFO (Part 2, 10.11.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockInfo {
    /// Milliseconds the TPM has been powered since it was made.
    pub clock: u64,
    /// TPM resets (power cycles) since it was cleared.
    pub reset_count: u32,
    /// TPM restarts (hibernation) since the last reset.
    pub restart_count: u32,
    /// True when `clock` has not gone backwards since it was last recorded.
    pub safe: bool,
}

/// TPMU_ATTEST: the part that depends on the attestation type.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Attested {
    /// TPMS_QUOTE_INFO: the selected PCRs and the digest of their values.
    Quote {
        /// TPML_PCR_SELECTION.
        pcr_select: PcrSelection,
        /// TPM2B_DIGEST of the selected values, hashed with the signing scheme's hash.
        pcr_digest: Vec<u8>,
    },
    /// TPMS_CERTIFY_INFO: the name of a certified object.
    Certify {
        /// Name of the certified object.
        name: Vec<u8>,
        /// Qualified name of the certified object.
        qualified_name: Vec<u8>,
    },
    /// TPMS_CREATION_INFO: an object and the hash of its creation data.
    Creation {
        /// Name of the object.
        object_name: Vec<u8>,
        /// Hash of its TPMS_CREATION_DATA.
        creation_hash: Vec<u8>,
    },
    /// A type this crate does not decode further; the bytes are kept.
    Other(Vec<u8>),
}

/// A parsed TPMS_ATTEST together with the bytes it was parsed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attest {
    /// The bytes received: what the signature covers.
    pub raw: Vec<u8>,
    /// TPM_GENERATED magic (checked by verification, not by parsing).
    pub magic: Generated,
    /// TPMI_ST_ATTEST.
    pub tag: StructureTag,
    /// Qualified name of the signing key.
    pub qualified_signer: Vec<u8>,
    /// Caller-supplied data: the nonce.
    pub extra_data: Vec<u8>,
    /// TPMS_CLOCK_INFO.
    pub clock_info: ClockInfo,
    /// Vendor-specific firmware version.
    pub firmware_version: u64,
    /// The type-specific part.
    pub attested: Attested,
}

fn tpm2b<'a>(r: &mut Reader<'a>, field: &'static str, max: usize) -> Result<&'a [u8], CodecError> {
    let len = usize::from(r.u16_be(field)?);
    if len > max {
        return Err(r.invalid(field, format!("{len} bytes, at most {max} allowed")));
    }
    r.take(len, field)
}

impl Attest {
    /// Parses a marshalled TPMS_ATTEST. Every byte must belong to it.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        Self::parse_inner(bytes).map_err(Error::malformed("TPMS_ATTEST"))
    }

    fn parse_inner(bytes: &[u8]) -> Result<Self, CodecError> {
        let mut r = Reader::new(bytes);
        let magic = Generated(r.u32_be("magic")?);
        let tag = StructureTag(r.u16_be("type")?);
        let qualified_signer = tpm2b(&mut r, "qualifiedSigner", MAX_NAME)?.to_vec();
        let extra_data = tpm2b(&mut r, "extraData", MAX_DATA)?.to_vec();
        let clock = r.u64_be("clockInfo.clock")?;
        let reset_count = r.u32_be("clockInfo.resetCount")?;
        let restart_count = r.u32_be("clockInfo.restartCount")?;
        let safe = match r.u8("clockInfo.safe")? {
            0 => false,
            1 => true,
            v => return Err(r.invalid("clockInfo.safe", format!("TPMI_YES_NO is {v}"))),
        };
        let firmware_version = r.u64_be("firmwareVersion")?;
        let attested = match tag {
            StructureTag::ATTEST_QUOTE => Attested::Quote {
                pcr_select: PcrSelection::parse(&mut r)?,
                pcr_digest: tpm2b(&mut r, "quote.pcrDigest", MAX_DIGEST)?.to_vec(),
            },
            StructureTag::ATTEST_CERTIFY => Attested::Certify {
                name: tpm2b(&mut r, "certify.name", MAX_NAME)?.to_vec(),
                qualified_name: tpm2b(&mut r, "certify.qualifiedName", MAX_NAME)?.to_vec(),
            },
            StructureTag::ATTEST_CREATION => Attested::Creation {
                object_name: tpm2b(&mut r, "creation.objectName", MAX_NAME)?.to_vec(),
                creation_hash: tpm2b(&mut r, "creation.creationHash", MAX_DIGEST)?.to_vec(),
            },
            _ => Attested::Other(r.rest().to_vec()),
        };
        r.finish("TPMS_ATTEST")?;
        Ok(Self {
            raw: bytes.to_vec(),
            magic,
            tag,
            qualified_signer,
            extra_data,
            clock_info: ClockInfo {
                clock,
                reset_count,
                restart_count,
                safe,
            },
            firmware_version,
            attested,
        })
    }

    /// The quote's selection and digest, or `None` for other types.
    pub fn quote_info(&self) -> Option<(&PcrSelection, &[u8])> {
        match &self.attested {
            Attested::Quote {
                pcr_select,
                pcr_digest,
            } => Some((pcr_select, pcr_digest)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_byte_is_rejected() {
        // A minimal quote: empty names, empty selection, empty digest.
        let mut q = vec![0xff, 0x54, 0x43, 0x47, 0x80, 0x18, 0, 0, 0, 0];
        q.extend_from_slice(&[0; 8 + 4 + 4]);
        q.push(1);
        q.extend_from_slice(&[0; 8]);
        q.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        let a = Attest::parse(&q).unwrap();
        assert_eq!(a.tag, StructureTag::ATTEST_QUOTE);
        assert!(a.clock_info.safe);
        q.push(0);
        let e = Attest::parse(&q).unwrap_err();
        assert!(e.to_string().contains("trailing"), "{e}");
    }

    #[test]
    fn oversized_name_is_invalid() {
        let q = [0xff, 0x54, 0x43, 0x47, 0x80, 0x18, 0xff, 0xff];
        let e = Attest::parse(&q).unwrap_err();
        assert!(e.to_string().contains("qualifiedSigner"), "{e}");
    }
}

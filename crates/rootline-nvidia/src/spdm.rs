//! The SPDM GET_MEASUREMENTS request and signed MEASUREMENTS response that an
//! NVIDIA GPU returns as its "attestation report", read once through the
//! bounded reader.
//!
//! Layout (DMTF DSP0274 1.1.1 §10.11 and 1.2.1 §10.11; the request is the one
//! the driver sent, the response the GPU's answer, concatenated):
//!
//! ```text
//! request  (37 bytes)  SPDMVersion | 0xE0 | Param1 | Param2 | Nonce[32] | SlotIDParam
//! response             SPDMVersion | 0x60 | Param1 | Param2 | NumberOfBlocks
//!                      | MeasurementRecordLength (u24 LE) | MeasurementRecord
//!                      | Nonce[32] | OpaqueDataLength (u16 LE) | OpaqueData
//!                      | Signature[96]
//! ```
//!
//! The signature is found by walking these lengths: it starts right after
//! the opaque data, whose length the response states, and is exactly 96
//! bytes (ECDSA P-384 r || s, the only algorithm NVIDIA negotiates). Bytes
//! after it are rejected, so a report with appended data never passes as
//! "signature = last 96 bytes". [`SpdmReport::signed`] is the byte range as
//! received, request through opaque data, which the signature covers.
//!
//! Versions: 1.1 and 1.2 share this layout and both decode. Only 1.1 is
//! verified: from 1.2 on, the signed transcript L1/L2 begins with the VCA
//! messages (GET_VERSION .. ALGORITHMS, DSP0274 1.2.1 §10.11.1) and the
//! signature covers a "dmtf-spdm-v1.2" signing-context prefix, and NVIDIA's
//! evidence carries no VCA. Every NVIDIA report seen (Hopper and Blackwell)
//! is 1.1. SPDM 1.0 (no SlotIDParam) and 1.3 (RequesterContext) are rejected.

use std::fmt;

use aws_lc_rs::signature::{ECDSA_P384_SHA384_FIXED, UnparsedPublicKey};
use rootline_core::{CodecError, Reader};

use crate::error::{Error, Result};
use crate::opaque::OpaqueData;

/// The largest report accepted. A full Hopper or Blackwell report (64
/// blocks of 48-byte digests, ~600 bytes of opaque data) is ~4.3 KiB; the
/// measurement record alone may be at most 16 MiB by its u24 length, which
/// no GPU needs.
pub const MAX_REPORT_LEN: usize = 64 * 1024;
/// The GET_MEASUREMENTS request with a nonce and SlotIDParam (SPDM 1.1/1.2).
pub const REQUEST_LEN: usize = 37;
/// An ECDSA P-384 signature, r || s.
pub const SIGNATURE_LEN: usize = 96;
/// SPDM nonces are 32 bytes.
pub const NONCE_LEN: usize = 32;
/// DSP0274 1.1.1 §10.11.2: OpaqueLength shall not exceed 1024.
pub const MAX_OPAQUE_LEN: usize = 1024;

/// SPDMVersion byte: major in the high nibble, minor in the low (DSP0274
/// §9, "SPDM version").
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpdmVersion(pub u8);

impl SpdmVersion {
    /// SPDM 1.0 (DSP0274 1.0): no SlotIDParam; rejected.
    pub const V1_0: Self = Self(0x10);
    /// SPDM 1.1 (DSP0274 1.1.1): what NVIDIA GPUs send; verified.
    pub const V1_1: Self = Self(0x11);
    /// SPDM 1.2 (DSP0274 1.2.1): decoded, not verified (see the module docs).
    pub const V1_2: Self = Self(0x12);
    /// SPDM 1.3 (DSP0274 1.3.0): adds RequesterContext; rejected.
    pub const V1_3: Self = Self(0x13);
}

impl fmt::Display for SpdmVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.0 >> 4, self.0 & 0x0f)
    }
}

impl fmt::Debug for SpdmVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpdmVersion({:#04x})", self.0)
    }
}

/// RequestResponseCode of GET_MEASUREMENTS (DSP0274 1.1.1 Table 4).
pub const GET_MEASUREMENTS: u8 = 0xE0;
/// RequestResponseCode of MEASUREMENTS (DSP0274 1.1.1 Table 5).
pub const MEASUREMENTS: u8 = 0x60;
/// MeasurementSpecification bit 0: the DMTF measurement layout
/// (DSP0274 1.1.1 Table 45), the only one NVIDIA uses.
pub const MEASUREMENT_SPEC_DMTF: u8 = 0x01;

/// DMTFSpecMeasurementValueType (DSP0274 1.2.1 Table 53): bits 0..6 say
/// what was measured, bit 7 whether the value is a raw bit stream rather
/// than a digest. Unknown values are kept and print as hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct DmtfMeasurementType(pub u8);

impl DmtfMeasurementType {
    /// Immutable ROM (DSP0274 1.1.1 Table 47, value 0).
    pub const IMMUTABLE_ROM: Self = Self(0x00);
    /// Mutable firmware (value 1): what NVIDIA reports for every block.
    pub const MUTABLE_FIRMWARE: Self = Self(0x01);
    /// Hardware configuration, e.g. fuses (value 2).
    pub const HARDWARE_CONFIG: Self = Self(0x02);
    /// Firmware configuration (value 3).
    pub const FIRMWARE_CONFIG: Self = Self(0x03);
    /// Freeform measurement manifest (value 4).
    pub const MEASUREMENT_MANIFEST: Self = Self(0x04);
    /// Structured device mode (DSP0274 1.2.1 Table 53, value 5).
    pub const DEVICE_MODE: Self = Self(0x05);
    /// Mutable firmware version number (1.2.1, value 6).
    pub const FIRMWARE_VERSION: Self = Self(0x06);
    /// Mutable firmware security version number (1.2.1, value 7).
    pub const FIRMWARE_SVN: Self = Self(0x07);
    /// Bit 7: the value is a raw bit stream, not a digest.
    pub const RAW_BIT_STREAM: u8 = 0x80;

    /// Whether the value is a raw bit stream rather than a digest.
    pub fn is_raw(self) -> bool {
        self.0 & Self::RAW_BIT_STREAM != 0
    }

    /// The name of the measured component kind, when known.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 & !Self::RAW_BIT_STREAM {
            0 => "immutable_rom",
            1 => "mutable_firmware",
            2 => "hardware_config",
            3 => "firmware_config",
            4 => "measurement_manifest",
            5 => "device_mode",
            6 => "firmware_version",
            7 => "firmware_svn",
            _ => return None,
        })
    }
}

impl fmt::Debug for DmtfMeasurementType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{n}{}", if self.is_raw() { "(raw)" } else { "" }),
            None => write!(f, "DmtfMeasurementType({:#04x})", self.0),
        }
    }
}

/// One measurement block of the record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MeasurementBlock<'a> {
    /// Index (1-based; RIMs number the same blocks from 0).
    pub index: u8,
    /// DMTFSpecMeasurementValueType.
    pub value_type: DmtfMeasurementType,
    /// DMTFSpecMeasurementValue: a SHA-384 digest on NVIDIA GPUs.
    pub value: &'a [u8],
}

/// A decoded GET_MEASUREMENTS request and MEASUREMENTS response, borrowing
/// the bytes it was read from.
#[derive(Clone, Debug)]
pub struct SpdmReport<'a> {
    /// SPDMVersion (request and response agree).
    pub version: SpdmVersion,
    /// Request Param1 (bit 0: signature requested; always set here).
    pub request_param1: u8,
    /// Request Param2: the measurement operation (0xFF = all blocks).
    pub request_param2: u8,
    /// The requester's nonce: the verifier's freshness value.
    pub nonce: [u8; NONCE_LEN],
    /// SlotIDParam: which certificate slot signs.
    pub slot_id: u8,
    /// Response Param1.
    pub response_param1: u8,
    /// Response Param2 (reserved in 1.1; from 1.2 bits 0..3 name the slot).
    pub response_param2: u8,
    /// The measurement blocks in record order.
    pub blocks: Vec<MeasurementBlock<'a>>,
    /// The responder's nonce (chosen by the GPU).
    pub responder_nonce: [u8; NONCE_LEN],
    /// The opaque data as received.
    pub opaque_raw: &'a [u8],
    /// The opaque data, decoded as NVIDIA lays it out.
    pub opaque: OpaqueData<'a>,
    /// Request || response up to the signature: exactly what is signed.
    pub signed: &'a [u8],
    /// The signature, r || s.
    pub signature: &'a [u8],
}

impl<'a> SpdmReport<'a> {
    /// Decodes request || response. Fails on any length that runs past the
    /// input, on bytes after the signature, on versions other than 1.1 and
    /// 1.2, and on measurement layouts other than DMTF's.
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        if bytes.len() > MAX_REPORT_LEN {
            return Err(Error::TooLarge {
                what: "SPDM report",
                len: bytes.len(),
                max: MAX_REPORT_LEN,
            });
        }
        let mut r = Reader::new(bytes);

        // GET_MEASUREMENTS request.
        let version = SpdmVersion(r.u8("request SPDMVersion")?);
        if version != SpdmVersion::V1_1 && version != SpdmVersion::V1_2 {
            return Err(Error::Unsupported {
                field: "SPDM version",
                value: format!("{version} ({:#04x}); 1.1 and 1.2 are understood", version.0),
            });
        }
        let code = r.u8("request RequestResponseCode")?;
        if code != GET_MEASUREMENTS {
            return Err(Error::Unsupported {
                field: "SPDM request code",
                value: format!("{code:#04x}, not GET_MEASUREMENTS (0xe0)"),
            });
        }
        let p1_offset = r.offset();
        let request_param1 = r.u8("request Param1")?;
        if request_param1 & 0x01 == 0 {
            return Err(Error::Unsupported {
                field: "SPDM request Param1",
                value: "no signature was requested, so the measurements are unsigned".into(),
            });
        }
        // Bit 1 (raw bit stream requested) exists from 1.2; the rest is reserved.
        let allowed = if version == SpdmVersion::V1_1 {
            0x01
        } else {
            0x03
        };
        if request_param1 & !allowed != 0 {
            return Err(CodecError::ReservedNonZero {
                field: "request Param1 reserved bits",
                offset: p1_offset,
            }
            .into());
        }
        let request_param2 = r.u8("request Param2")?;
        let nonce = r.array::<NONCE_LEN>("request Nonce")?;
        let slot_offset = r.offset();
        let slot_param = r.u8("request SlotIDParam")?;
        if slot_param & 0xf0 != 0 {
            return Err(CodecError::ReservedNonZero {
                field: "request SlotIDParam reserved bits",
                offset: slot_offset,
            }
            .into());
        }
        let slot_id = slot_param & 0x0f;

        // MEASUREMENTS response.
        let rv = SpdmVersion(r.u8("response SPDMVersion")?);
        if rv != version {
            return Err(r
                .invalid(
                    "response SPDMVersion",
                    format!("{rv} differs from the request's {version}"),
                )
                .into());
        }
        let code = r.u8("response RequestResponseCode")?;
        if code != MEASUREMENTS {
            return Err(Error::Unsupported {
                field: "SPDM response code",
                value: format!("{code:#04x}, not MEASUREMENTS (0x60)"),
            });
        }
        let response_param1 = r.u8("response Param1")?;
        // Param2 is reserved in 1.1 and names the slot from 1.2 on; the key
        // that signs is fixed by the certificate chain either way.
        let response_param2 = r.u8("response Param2")?;
        let count_offset = r.offset();
        let number_of_blocks = r.u8("response NumberOfBlocks")?;
        if number_of_blocks == 0 {
            return Err(CodecError::Invalid {
                field: "response NumberOfBlocks",
                offset: count_offset,
                reason: "no measurement blocks".into(),
            }
            .into());
        }
        let len = r.array::<3>("response MeasurementRecordLength")?;
        let record_len = u32::from_le_bytes([len[0], len[1], len[2], 0]) as usize;
        let mut record = r.sub(record_len, "response MeasurementRecord")?;
        let mut blocks = Vec::with_capacity(usize::from(number_of_blocks));
        let mut seen = [false; 256];
        for _ in 0..number_of_blocks {
            let block_offset = record.offset();
            let block = parse_block(&mut record)?;
            let slot = seen.get_mut(usize::from(block.index));
            match slot {
                Some(s) if !*s => *s = true,
                _ => {
                    return Err(CodecError::Invalid {
                        field: "measurement block Index",
                        offset: block_offset,
                        reason: format!("index {} appears twice", block.index),
                    }
                    .into());
                }
            }
            blocks.push(block);
        }
        record.finish("MeasurementRecord (NumberOfBlocks blocks)")?;
        let responder_nonce = r.array::<NONCE_LEN>("response Nonce")?;
        let opaque_offset = r.offset();
        let opaque_len = usize::from(r.u16_le("response OpaqueDataLength")?);
        if opaque_len > MAX_OPAQUE_LEN {
            return Err(CodecError::Invalid {
                field: "response OpaqueDataLength",
                offset: opaque_offset,
                reason: format!("{opaque_len} exceeds the SPDM limit of {MAX_OPAQUE_LEN}"),
            }
            .into());
        }
        let opaque_start = r.offset();
        let opaque_raw = r.take(opaque_len, "response OpaqueData")?;
        let opaque = OpaqueData::parse(opaque_raw, opaque_start)?;
        // The signature starts where the opaque data ends, by its stated length.
        let signed_len = r.offset();
        let signature = r.take(SIGNATURE_LEN, "response Signature (ECDSA P-384)")?;
        r.finish("MEASUREMENTS response signature")?;
        let signed = bytes
            .get(..signed_len)
            .ok_or_else(|| Error::Spdm(r.invalid("signed range", "outside the input")))?;

        Ok(Self {
            version,
            request_param1,
            request_param2,
            nonce,
            slot_id,
            response_param1,
            response_param2,
            blocks,
            responder_nonce,
            opaque_raw,
            opaque,
            signed,
            signature,
        })
    }

    /// The block with SPDM index `index`, if the report has one.
    pub fn block(&self, index: u8) -> Option<&MeasurementBlock<'a>> {
        self.blocks.iter().find(|b| b.index == index)
    }

    /// Verifies the signature over [`Self::signed`] with the signing
    /// certificate's P-384 public key (an uncompressed SEC1 point). SPDM 1.1
    /// only: see the module docs for why 1.2 cannot be checked from this
    /// evidence.
    pub fn verify_signature(&self, public_key: &[u8]) -> Result<()> {
        if self.version != SpdmVersion::V1_1 {
            return Err(Error::Unsupported {
                field: "SPDM version",
                value: format!(
                    "{}: from SPDM 1.2 the signature covers the VCA transcript, which NVIDIA evidence does not carry",
                    self.version
                ),
            });
        }
        UnparsedPublicKey::new(&ECDSA_P384_SHA384_FIXED, public_key)
            .verify(self.signed, self.signature)
            .map_err(|_| {
                Error::BadSignature(
                    "the SPDM MEASUREMENTS signature does not verify with the signing certificate's key"
                        .into(),
                )
            })
    }
}

/// One block: Index | MeasurementSpecification | MeasurementSize (u16 LE) |
/// Measurement, where Measurement is DMTFSpecMeasurementValueType |
/// DMTFSpecMeasurementValueSize (u16 LE) | value (DSP0274 1.1.1 Tables 45, 46).
fn parse_block<'a>(r: &mut Reader<'a>) -> Result<MeasurementBlock<'a>> {
    let index_offset = r.offset();
    let index = r.u8("measurement block Index")?;
    if index == 0 {
        return Err(CodecError::Invalid {
            field: "measurement block Index",
            offset: index_offset,
            reason: "index 0 is reserved".into(),
        }
        .into());
    }
    let spec = r.u8("measurement block MeasurementSpecification")?;
    if spec != MEASUREMENT_SPEC_DMTF {
        return Err(Error::Unsupported {
            field: "MeasurementSpecification",
            value: format!("{spec:#04x} in block {index}; only the DMTF layout (0x01) is known"),
        });
    }
    let size = usize::from(r.u16_le("measurement block MeasurementSize")?);
    let mut m = r.sub(size, "measurement block Measurement")?;
    let value_type = DmtfMeasurementType(m.u8("DMTFSpecMeasurementValueType")?);
    let value_len = usize::from(m.u16_le("DMTFSpecMeasurementValueSize")?);
    let value = m.take(value_len, "DMTFSpecMeasurementValue")?;
    m.finish("DMTF measurement (MeasurementSize)")?;
    Ok(MeasurementBlock {
        index,
        value_type,
        value,
    })
}

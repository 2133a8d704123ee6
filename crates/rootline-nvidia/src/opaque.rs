//! NVIDIA's use of the SPDM OpaqueData field: a list of `type (u16 LE) |
//! size (u16 LE) | data` items carrying the driver and VBIOS versions, the
//! FWID, the chip SKU and the like. The field is covered by the SPDM
//! signature, so once the signature verifies these values are as the GPU
//! firmware reported them.
//!
//! Field numbers and their renderings follow NVIDIA's verifier
//! (`nvtrust`, `local_gpu_verifier/.../attestation/spdm_msrt_resp_msg.py`,
//! `OPAQUE_DATA_TYPES`), and the claim names and renderings follow trustee's
//! NVIDIA verifier (`deps/verifier/src/nvidia/spdm_response.rs`), so that a
//! policy written for trustee's `config` claims reads ours the same way.
//! Unknown field numbers are kept (as `unknown_0x....`, hex data) rather
//! than rejected: they are signed, and a newer driver may add some.

use std::collections::BTreeMap;
use std::fmt;

use rootline_core::Reader;
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// An opaque-data field number (nvtrust `OPAQUE_DATA_TYPES`). Unknown
/// numbers are kept and print as hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpaqueFieldId(pub u16);

macro_rules! opaque_ids {
    ($($(#[$doc:meta])* $name:ident = $value:expr, $claim:expr;)*) => {
        impl OpaqueFieldId {
            $($(#[$doc])* pub const $name: Self = Self($value);)*

            /// The claim name (trustee's spelling), when the field is known.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($value => Some($claim),)*
                    _ => None,
                }
            }
        }
    };
}

opaque_ids! {
    /// OPAQUE_FIELD_ID_CERT_ISSUER_NAME (1).
    CERT_ISSUER_NAME = 1, "cert_issuer_name";
    /// OPAQUE_FIELD_ID_CERT_AUTHORITY_KEY_IDENTIFIER (2).
    CERT_AUTHORITY_KEY_IDENTIFIER = 2, "cert_authority_key_identifier";
    /// OPAQUE_FIELD_ID_DRIVER_VERSION (3): NUL-terminated ASCII, e.g. `550.90.07`.
    DRIVER_VERSION = 3, "driver_version";
    /// OPAQUE_FIELD_ID_GPU_INFO (4).
    GPU_INFO = 4, "gpu_info";
    /// OPAQUE_FIELD_ID_SKU (5).
    SKU = 5, "id_sku";
    /// OPAQUE_FIELD_ID_VBIOS_VERSION (6): 8 bytes, printed `96.00.9f.00.01`.
    VBIOS_VERSION = 6, "vbios_version";
    /// OPAQUE_FIELD_ID_MANUFACTURER_ID (7).
    MANUFACTURER_ID = 7, "manufacturer_id";
    /// OPAQUE_FIELD_ID_TAMPER_DETECTION (8).
    TAMPER_DETECTION = 8, "tamper_detection";
    /// OPAQUE_FIELD_ID_SMC (9).
    SMC = 9, "smc";
    /// OPAQUE_FIELD_ID_VPR (10).
    VPR = 10, "vpr";
    /// OPAQUE_FIELD_ID_NVDEC0_STATUS (11): 0xAA enabled, 0x55 disabled.
    NVDEC0_STATUS = 11, "nvdec0_status";
    /// OPAQUE_FIELD_ID_MSRSCNT (12): one u32 LE count per measurement block.
    MSRSCNT = 12, "measurement_count";
    /// OPAQUE_FIELD_ID_CPRINFO (13).
    CPRINFO = 13, "cpr_info";
    /// OPAQUE_FIELD_ID_BOARD_ID (14).
    BOARD_ID = 14, "board_id";
    /// OPAQUE_FIELD_ID_CHIP_SKU (15): ASCII, e.g. `882`.
    CHIP_SKU = 15, "chip_sku";
    /// OPAQUE_FIELD_ID_CHIP_SKU_MOD (16).
    CHIP_SKU_MOD = 16, "chip_sku_mod";
    /// OPAQUE_FIELD_ID_PROJECT (17): ASCII, e.g. `1010`.
    PROJECT = 17, "project";
    /// OPAQUE_FIELD_ID_PROJECT_SKU (18).
    PROJECT_SKU = 18, "project_sku";
    /// OPAQUE_FIELD_ID_PROJECT_SKU_MOD (19).
    PROJECT_SKU_MOD = 19, "project_sku_mod";
    /// OPAQUE_FIELD_ID_FWID (20): the firmware ID, compared with the
    /// signing certificate's FWID.
    FWID = 20, "fwid";
    /// OPAQUE_FIELD_ID_PROTECTED_PCIE_STATUS (21).
    PROTECTED_PCIE_STATUS = 21, "protected_pcie_status";
    /// OPAQUE_FIELD_ID_SWITCH_PDI (22): 8-byte PDIs of the NVSwitches.
    SWITCH_PDI = 22, "switch_pdi";
    /// OPAQUE_FIELD_ID_FLOORSWEPT_PORTS (23).
    FLOORSWEPT_PORTS = 23, "floorswept_ports";
    /// OPAQUE_FIELD_ID_POSITION_ID (24).
    POSITION_ID = 24, "position_id";
    /// OPAQUE_FIELD_ID_LOCK_SWITCH_STATUS (25).
    LOCK_SWITCH_STATUS = 25, "lock_switch_status";
    /// OPAQUE_FIELD_ID_GPU_LINK_CONN (32).
    GPU_LINK_CONN = 32, "gpu_link_conn";
    /// OPAQUE_FIELD_ID_SYS_ENABLE_STATUS (33).
    SYS_ENABLE_STATUS = 33, "sys_enable_status";
    /// OPAQUE_FIELD_ID_OPAQUE_DATA_VERSION (34): a little-endian integer.
    OPAQUE_DATA_VERSION = 34, "opaque_data_version";
    /// OPAQUE_FIELD_ID_CHIP_INFO (35): NUL-terminated chip name, e.g. `GB100`.
    CHIP_INFO = 35, "chip_info";
    /// OPAQUE_FIELD_ID_FEATURE_FLAG (36): 0 SPT, 1 MPT, 2 PPCIE.
    FEATURE_FLAG = 36, "feature_flag";
}

impl fmt::Debug for OpaqueFieldId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "OpaqueFieldId({:#06x})", self.0),
        }
    }
}

impl fmt::Display for OpaqueFieldId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "unknown_{:#06x}", self.0),
        }
    }
}

/// The decoded opaque data: fields in the order received, each at most once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpaqueData<'a> {
    fields: Vec<(OpaqueFieldId, &'a [u8])>,
}

impl<'a> OpaqueData<'a> {
    /// Decodes the items; `base` is the offset of `bytes` in the report, for
    /// error messages. A field number that appears twice is rejected (which
    /// value would count?), as are items that run past the field.
    pub fn parse(bytes: &'a [u8], base: usize) -> Result<Self> {
        let mut r = Reader::new(bytes);
        let mut fields: Vec<(OpaqueFieldId, &'a [u8])> = Vec::new();
        while !r.is_empty() {
            let id = OpaqueFieldId(r.u16_le("opaque data item DataType")?);
            let size = usize::from(r.u16_le("opaque data item DataSize")?);
            let data = r.take(size, "opaque data item Data")?;
            if fields.iter().any(|(f, _)| *f == id) {
                return Err(Error::Opaque {
                    field: id.to_string(),
                    reason: format!(
                        "appears twice (second at offset {})",
                        base + r.offset() - size - 4
                    ),
                });
            }
            fields.push((id, data));
        }
        Ok(Self { fields })
    }

    /// The raw data of a field.
    pub fn get(&self, id: OpaqueFieldId) -> Option<&'a [u8]> {
        self.fields.iter().find(|(f, _)| *f == id).map(|(_, d)| *d)
    }

    /// All fields in the order received.
    pub fn fields(&self) -> &[(OpaqueFieldId, &'a [u8])] {
        &self.fields
    }

    /// The driver version (`550.90.07`), if present.
    pub fn driver_version(&self) -> Option<String> {
        self.get(OpaqueFieldId::DRIVER_VERSION).map(ascii)
    }

    /// The VBIOS version as NVIDIA prints it (`96.00.9f.00.01`), if present.
    pub fn vbios_version(&self) -> Result<Option<String>> {
        self.get(OpaqueFieldId::VBIOS_VERSION)
            .map(format_vbios_version)
            .transpose()
    }

    /// The FWID the firmware reports, if present.
    pub fn fwid(&self) -> Option<&'a [u8]> {
        self.get(OpaqueFieldId::FWID)
    }

    /// The chip name (`GB100`), if present (Blackwell and later).
    pub fn chip_info(&self) -> Option<String> {
        self.get(OpaqueFieldId::CHIP_INFO).map(ascii)
    }

    /// The fields as claims, keyed and rendered as trustee's NVIDIA
    /// verifier does (`config`): strings for the ASCII fields, the VBIOS
    /// version formatted, the measurement counts as an index map, switch
    /// PDIs as a list, the feature flag by name, anything else as hex.
    pub fn to_claims(&self) -> Result<BTreeMap<String, Value>> {
        let mut out = BTreeMap::new();
        for (id, data) in &self.fields {
            let value = match *id {
                OpaqueFieldId::DRIVER_VERSION
                | OpaqueFieldId::CHIP_SKU
                | OpaqueFieldId::CHIP_SKU_MOD
                | OpaqueFieldId::NVDEC0_STATUS
                | OpaqueFieldId::PROJECT
                | OpaqueFieldId::PROJECT_SKU
                | OpaqueFieldId::PROTECTED_PCIE_STATUS
                | OpaqueFieldId::CHIP_INFO => Value::String(ascii(data)),
                OpaqueFieldId::VBIOS_VERSION => Value::String(format_vbios_version(data)?),
                OpaqueFieldId::MSRSCNT => measurement_counts(data)?,
                OpaqueFieldId::SWITCH_PDI => switch_pdis(data)?,
                OpaqueFieldId::OPAQUE_DATA_VERSION => Value::from(le_u64(*id, data)?),
                OpaqueFieldId::FEATURE_FLAG => Value::String(
                    match le_u64(*id, data)? {
                        0 => "SPT",
                        1 => "MPT",
                        2 => "PPCIE",
                        _ => "unknown",
                    }
                    .into(),
                ),
                _ => Value::String(hex::encode(data)),
            };
            out.insert(id.to_string(), value);
        }
        Ok(out)
    }
}

/// Lossy ASCII up to the first NUL, as NVIDIA's and trustee's verifiers read
/// these fields.
fn ascii(data: &[u8]) -> String {
    let end = data.iter().position(|b| *b == 0).unwrap_or(data.len());
    String::from_utf8_lossy(data.get(..end).unwrap_or(data)).into_owned()
}

/// nvtrust `format_vbios_version`: the first half of the bytes reversed,
/// then the first byte of the second half, each as two hex digits joined by
/// dots: `00 9f 00 96 01 00 00 00` -> `96.00.9f.00.01`.
pub fn format_vbios_version(data: &[u8]) -> Result<String> {
    let half = data.len() / 2;
    let (first, second) = data.split_at(half);
    let last = second.first().ok_or_else(|| Error::Opaque {
        field: "vbios_version".into(),
        reason: format!("{} bytes, too short for a version", data.len()),
    })?;
    let mut parts: Vec<String> = first.iter().rev().map(|b| format!("{b:02x}")).collect();
    parts.push(format!("{last:02x}"));
    Ok(parts.join("."))
}

fn measurement_counts(data: &[u8]) -> Result<Value> {
    if data.len() % 4 != 0 {
        return Err(Error::Opaque {
            field: "measurement_count".into(),
            reason: format!("{} bytes, not a multiple of 4", data.len()),
        });
    }
    let mut m = Map::new();
    for (i, chunk) in data.chunks_exact(4).enumerate() {
        let mut b = [0u8; 4];
        b.copy_from_slice(chunk);
        m.insert((i + 1).to_string(), Value::from(u32::from_le_bytes(b)));
    }
    Ok(Value::Object(m))
}

fn switch_pdis(data: &[u8]) -> Result<Value> {
    if data.len() % 8 != 0 {
        return Err(Error::Opaque {
            field: "switch_pdi".into(),
            reason: format!("{} bytes, not a multiple of 8", data.len()),
        });
    }
    Ok(Value::Array(
        data.chunks_exact(8)
            .map(|c| Value::String(hex::encode(c)))
            .collect(),
    ))
}

fn le_u64(id: OpaqueFieldId, data: &[u8]) -> Result<u64> {
    if data.len() > 8 {
        return Err(Error::Opaque {
            field: id.to_string(),
            reason: format!("{} bytes, more than a u64", data.len()),
        });
    }
    let mut b = [0u8; 8];
    for (dst, src) in b.iter_mut().zip(data) {
        *dst = *src;
    }
    Ok(u64::from_le_bytes(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vbios_version_formats_like_nvtrust() {
        let v = hex::decode("009f009601000000").unwrap();
        assert_eq!(format_vbios_version(&v).unwrap(), "96.00.9f.00.01");
        assert!(format_vbios_version(&[]).is_err());
    }

    #[test]
    fn duplicate_field_is_rejected() {
        let b = [3, 0, 1, 0, b'5', 3, 0, 1, 0, b'6'];
        assert!(matches!(
            OpaqueData::parse(&b, 0),
            Err(Error::Opaque { .. })
        ));
    }

    #[test]
    fn unknown_field_is_kept_as_hex() {
        let b = [0x99, 0x01, 2, 0, 0xab, 0xcd];
        let o = OpaqueData::parse(&b, 0).unwrap();
        let c = o.to_claims().unwrap();
        assert_eq!(c["unknown_0x0199"], Value::String("abcd".into()));
    }

    #[test]
    fn item_running_past_the_field_is_rejected() {
        assert!(OpaqueData::parse(&[3, 0, 9, 0, 1], 0).is_err());
        assert!(OpaqueData::parse(&[3, 0, 9], 0).is_err());
    }
}

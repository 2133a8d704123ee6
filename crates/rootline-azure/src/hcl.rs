//! The HCL report: what Azure's paravisor (the HCL, now OpenHCL) writes into
//! the vTPM's NV index 0x01400001 and what guest-components sends as
//! `hcl_report`.
//!
//! Layout (little-endian `u32`s; openvmm `openhcl_attestation_protocol`
//! `igvm_attest::get`, kinvolk/azure-cvm-tooling `az-cvm-vtpm/src/hcl`):
//!
//! | offset | bytes | field |
//! |---|---|---|
//! | 0 | 4 | signature `"HCLA"` |
//! | 4 | 4 | header version (1, 2) |
//! | 8 | 4 | report size: 1236 + variable data size |
//! | 12 | 4 | request type (2: AK certificate request) |
//! | 16 | 4 | status (0) |
//! | 20 | 12 | reserved, zero |
//! | 32 | 1184 | hardware report: SNP report (1184) or TDREPORT (1024, then zeros) |
//! | 1216 | 4 | runtime data size: 20 + variable data size |
//! | 1220 | 4 | runtime data version (1, 2) |
//! | 1224 | 4 | report type (2: SNP, 4: TDX) |
//! | 1228 | 4 | report data hash type (1: SHA-256) |
//! | 1232 | 4 | variable data size |
//! | 1236 | n | variable data: the runtime-data JSON |
//!
//! The NV index is read whole, so zeros follow the variable data; any other
//! trailing byte is rejected. Only the hardware report is signed (by the
//! CPU); the header fields are transport and are checked for consistency.

use std::fmt;

use rootline_core::{HashAlg, Reader};

use crate::error::{Error, Result};

/// The header signature, `HCLA` (0x414c4348 little-endian).
pub const SIGNATURE: [u8; 4] = *b"HCLA";
/// Header versions seen from Azure's paravisor (1 on older hosts, 2 today).
pub const HEADER_VERSIONS: [u32; 2] = [1, 2];
/// Runtime-data header versions seen (1 in every capture; 2 is openvmm's current).
pub const RUNTIME_VERSIONS: [u32; 2] = [1, 2];
/// Bytes reserved for the hardware report: the larger of SNP's and TDX's.
pub const HW_REPORT_AREA: usize = 1184;
/// Length of an SEV-SNP ATTESTATION_REPORT.
pub const SNP_REPORT_LEN: usize = 1184;
/// Length of a TDX TDREPORT_STRUCT.
pub const TDREPORT_LEN: usize = 1024;
/// Length of the runtime-data header.
pub const RUNTIME_HEADER_LEN: usize = 20;
/// Offset of the variable data (the runtime-data JSON).
pub const VAR_DATA_OFFSET: usize = 32 + HW_REPORT_AREA + RUNTIME_HEADER_LEN;

/// Which hardware report the HCL report carries (openvmm `CvmReportType`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReportType(pub u32);

impl ReportType {
    /// VBS isolation (no hardware report this crate verifies).
    pub const VBS: Self = Self(1);
    /// AMD SEV-SNP attestation report.
    pub const SNP: Self = Self(2);
    /// Trusted launch VM: no hardware TEE report.
    pub const TVM: Self = Self(3);
    /// Intel TDX TDREPORT.
    pub const TDX: Self = Self(4);

    fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::VBS => "vbs",
            Self::SNP => "snp",
            Self::TVM => "tvm",
            Self::TDX => "tdx",
            _ => return None,
        })
    }
}

impl fmt::Display for ReportType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "{:#x}", self.0),
        }
    }
}

impl fmt::Debug for ReportType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The request the report answered (openvmm `CvmRequestType`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestType(pub u32);

impl RequestType {
    /// Key release request.
    pub const KEY_RELEASE: Self = Self(1);
    /// Attestation-key certificate request: the report the vTPM NV index holds.
    pub const AK_CERT: Self = Self(2);
    /// Wrapped key request.
    pub const WRAPPED_KEY: Self = Self(3);
}

impl fmt::Display for RequestType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::KEY_RELEASE => f.write_str("key_release"),
            Self::AK_CERT => f.write_str("ak_cert"),
            Self::WRAPPED_KEY => f.write_str("wrapped_key"),
            Self(v) => write!(f, "{v:#x}"),
        }
    }
}

impl fmt::Debug for RequestType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// How the variable data is hashed into the hardware report's report data
/// (openvmm `ReportDataHashType`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct HashType(pub u32);

impl HashType {
    /// SHA-256 into report_data[0..32]: the only one Azure uses and Trustee accepts.
    pub const SHA256: Self = Self(1);
    /// SHA-384 (defined, never seen).
    pub const SHA384: Self = Self(2);
    /// SHA-512 (defined, never seen).
    pub const SHA512: Self = Self(3);
}

impl fmt::Display for HashType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::SHA256 => f.write_str("sha256"),
            Self::SHA384 => f.write_str("sha384"),
            Self::SHA512 => f.write_str("sha512"),
            Self(v) => write!(f, "{v:#x}"),
        }
    }
}

impl fmt::Debug for HashType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A parsed HCL report, borrowing the bytes it came from.
#[derive(Clone, Debug)]
pub struct HclReport<'a> {
    /// Header version.
    pub version: u32,
    /// Header report size (1236 + variable data size).
    pub report_size: u32,
    /// Request type.
    pub request_type: RequestType,
    /// The hardware report: 1184 bytes for SNP, 1024 for TDX.
    pub hw_report: &'a [u8],
    /// Runtime-data header version.
    pub runtime_version: u32,
    /// Report type.
    pub report_type: ReportType,
    /// Hash type of the variable data's binding.
    pub hash_type: HashType,
    /// The variable data (runtime-data JSON), exactly as received.
    pub var_data: &'a [u8],
}

impl<'a> HclReport<'a> {
    /// Parses an HCL report. Unknown versions, report types, request types
    /// and hash types are rejected; sizes must agree with each other.
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        let offset = r.offset();
        let sig: [u8; 4] = r.array("header.signature")?;
        if sig != SIGNATURE {
            return Err(Error::Hcl(rootline_core::CodecError::Invalid {
                field: "header.signature",
                offset,
                reason: format!("{} is not \"HCLA\"", hex::encode(sig)),
            }));
        }
        let version = r.u32_le("header.version")?;
        if !HEADER_VERSIONS.contains(&version) {
            return Err(Error::Unsupported {
                field: "hcl report header version",
                value: format!("{version} (known: 1, 2)"),
            });
        }
        let report_size = r.u32_le("header.report_size")?;
        let request_type = RequestType(r.u32_le("header.request_type")?);
        if request_type != RequestType::AK_CERT {
            return Err(Error::Unsupported {
                field: "hcl report request type",
                value: format!(
                    "{request_type} (only 2, the attestation-key certificate request the vTPM report answers)"
                ),
            });
        }
        let status_at = r.offset();
        let status = r.u32_le("header.status")?;
        if status != 0 {
            return Err(Error::Hcl(rootline_core::CodecError::Invalid {
                field: "header.status",
                offset: status_at,
                reason: format!("{status:#x}: the paravisor reports a failure"),
            }));
        }
        r.reserved_zero(12, "header.reserved")?;
        let mut hw = r.sub(HW_REPORT_AREA, "hardware report")?;

        let data_size_at = r.offset();
        let data_size = r.u32_le("runtime_data.data_size")?;
        let runtime_version = r.u32_le("runtime_data.version")?;
        if !RUNTIME_VERSIONS.contains(&runtime_version) {
            return Err(Error::Unsupported {
                field: "hcl runtime data version",
                value: format!("{runtime_version} (known: 1, 2)"),
            });
        }
        let report_type = ReportType(r.u32_le("runtime_data.report_type")?);
        let hash_type = HashType(r.u32_le("runtime_data.report_data_hash_type")?);
        let var_size = r.u32_le("runtime_data.variable_data_size")?;
        if u64::from(data_size) != RUNTIME_HEADER_LEN as u64 + u64::from(var_size) {
            return Err(Error::Hcl(rootline_core::CodecError::Invalid {
                field: "runtime_data.data_size",
                offset: data_size_at,
                reason: format!(
                    "{data_size} is not {RUNTIME_HEADER_LEN} + variable_data_size {var_size}"
                ),
            }));
        }
        if u64::from(report_size) != VAR_DATA_OFFSET as u64 + u64::from(var_size) {
            return Err(Error::Hcl(rootline_core::CodecError::Invalid {
                field: "header.report_size",
                offset: 8,
                reason: format!(
                    "{report_size} is not {VAR_DATA_OFFSET} + variable_data_size {var_size}"
                ),
            }));
        }
        let var_data = r.take(var_size as usize, "runtime_data.variable_data")?;
        let padding = r.remaining();
        r.reserved_zero(padding, "padding after the variable data")?;
        r.finish("hcl report")?;

        let hw_report = match report_type {
            ReportType::SNP => hw.take(SNP_REPORT_LEN, "snp report")?,
            ReportType::TDX => {
                let td = hw.take(TDREPORT_LEN, "tdreport")?;
                hw.reserved_zero(HW_REPORT_AREA - TDREPORT_LEN, "padding after the tdreport")?;
                td
            }
            other => {
                return Err(Error::Unsupported {
                    field: "hcl report type",
                    value: format!("{other} (known: 2 snp, 4 tdx)"),
                });
            }
        };
        hw.finish("hardware report")?;
        if hash_type != HashType::SHA256 {
            return Err(Error::Unsupported {
                field: "hcl report data hash type",
                value: format!("{hash_type} (only 1, sha256, is used by Azure and accepted)"),
            });
        }
        Ok(Self {
            version,
            report_size,
            request_type,
            hw_report,
            runtime_version,
            report_type,
            hash_type,
            var_data,
        })
    }

    /// SHA-256 of the variable data: what the hardware report's
    /// report_data[0..32] must hold.
    pub fn var_data_sha256(&self) -> Vec<u8> {
        HashAlg::SHA256
            .hash(self.var_data)
            .map(|d| d.bytes)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synthetic(report_type: u32, var: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(b"HCLA");
        b.extend_from_slice(&2u32.to_le_bytes());
        b.extend_from_slice(&((VAR_DATA_OFFSET + var.len()) as u32).to_le_bytes());
        b.extend_from_slice(&2u32.to_le_bytes());
        b.extend_from_slice(&[0; 16]);
        b.extend_from_slice(&[0; HW_REPORT_AREA]);
        b.extend_from_slice(&((RUNTIME_HEADER_LEN + var.len()) as u32).to_le_bytes());
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&report_type.to_le_bytes());
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&(var.len() as u32).to_le_bytes());
        b.extend_from_slice(var);
        b.extend_from_slice(&[0; 100]);
        b
    }

    #[test]
    fn parses_a_synthetic_report() {
        let b = synthetic(4, b"{}");
        let h = HclReport::parse(&b).unwrap();
        assert_eq!(h.report_type, ReportType::TDX);
        assert_eq!(h.hw_report.len(), TDREPORT_LEN);
        assert_eq!(h.var_data, b"{}");
    }

    #[test]
    fn nonzero_padding_is_rejected() {
        let mut b = synthetic(2, b"{}");
        let last = b.len() - 1;
        b[last] = 1;
        let e = HclReport::parse(&b).unwrap_err();
        assert!(
            e.to_string().contains("padding after the variable data"),
            "{e}"
        );
    }

    #[test]
    fn huge_variable_size_is_truncation() {
        let mut b = synthetic(2, b"{}");
        b[1232..1236].copy_from_slice(&u32::MAX.to_le_bytes());
        let e = HclReport::parse(&b).unwrap_err();
        assert!(matches!(e, Error::Hcl(_)), "{e}");
    }

    #[test]
    fn vbs_is_unsupported() {
        let b = synthetic(1, b"{}");
        assert!(matches!(
            HclReport::parse(&b),
            Err(Error::Unsupported { .. })
        ));
    }
}

//! The TDX TDREPORT_STRUCT inside an Azure TDX HCL report, and its agreement
//! with the TD quote made from it.
//!
//! Layout: Intel TDX Module ABI specification, TDREPORT_STRUCT (1024 bytes):
//! REPORTMACSTRUCT (256), TEE_TCB_INFO (239), reserved (17), TDINFO_STRUCT
//! (512). The REPORTMACSTRUCT's MAC is made with a CPU key and cannot be
//! checked off the platform; what makes the report trustworthy is the TD
//! quote, whose signed body must repeat the TDREPORT's fields. Trustee only
//! compares report_data; here every field the quote body carries is
//! compared, and the two hashes inside REPORTMACSTRUCT (SHA-384 of
//! TEE_TCB_INFO and of TDINFO) must match the structures they cover, so
//! every byte except the MAC, CPUSVN and REPORTTYPE's version is judged.

use rootline_core::{CodecError, HashAlg, Reader};
use rootline_dcap::quote::TdReport as QuoteBody;

use crate::error::{Error, Result};
use crate::hcl::TDREPORT_LEN;

/// REPORTTYPE.TYPE of a TDX report.
pub const TYPE_TDX: u8 = 0x81;

/// A parsed TDREPORT_STRUCT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TdReport {
    /// REPORTTYPE.VERSION (0 for TDX 1.0 reports, 1 when SERVTD_HASH is set).
    pub report_version: u8,
    /// CPUSVN.
    pub cpu_svn: [u8; 16],
    /// SHA-384 of TEE_TCB_INFO.
    pub tee_tcb_info_hash: [u8; 48],
    /// SHA-384 of TDINFO_STRUCT.
    pub tee_info_hash: [u8; 48],
    /// REPORTDATA.
    pub report_data: [u8; 64],
    /// The MAC (not verifiable off the platform).
    pub mac: [u8; 32],
    /// TEE_TCB_INFO as received (239 bytes).
    pub tee_tcb_info: Vec<u8>,
    /// TEE_TCB_INFO.VALID.
    pub tee_tcb_valid: [u8; 8],
    /// TEE_TCB_INFO.TEE_TCB_SVN.
    pub tee_tcb_svn: [u8; 16],
    /// TEE_TCB_INFO.MRSEAM.
    pub mr_seam: [u8; 48],
    /// TEE_TCB_INFO.MRSIGNERSEAM.
    pub mr_signer_seam: [u8; 48],
    /// TEE_TCB_INFO.ATTRIBUTES.
    pub seam_attributes: [u8; 8],
    /// TEE_TCB_INFO.TEE_TCB_SVN2 (TDX 1.5; zero before).
    pub tee_tcb_svn2: [u8; 16],
    /// TDINFO_STRUCT as received (512 bytes).
    pub td_info: Vec<u8>,
    /// TDINFO.ATTRIBUTES.
    pub td_attributes: [u8; 8],
    /// TDINFO.XFAM.
    pub xfam: [u8; 8],
    /// TDINFO.MRTD.
    pub mr_td: [u8; 48],
    /// TDINFO.MRCONFIGID.
    pub mr_config_id: [u8; 48],
    /// TDINFO.MROWNER.
    pub mr_owner: [u8; 48],
    /// TDINFO.MROWNERCONFIG.
    pub mr_owner_config: [u8; 48],
    /// TDINFO.RTMR0..3.
    pub rtmr: [[u8; 48]; 4],
    /// TDINFO.SERVTD_HASH (TDX 1.5; zero before).
    pub servtd_hash: [u8; 48],
}

impl TdReport {
    /// Parses exactly [`TDREPORT_LEN`] bytes, checking REPORTTYPE and that
    /// every reserved byte is zero.
    pub fn parse(bytes: &[u8]) -> Result<Self, CodecError> {
        let mut r = Reader::new(bytes);
        if bytes.len() != TDREPORT_LEN {
            return Err(r.invalid(
                "tdreport",
                format!("length is {}, expected {TDREPORT_LEN}", bytes.len()),
            ));
        }
        let ty = r.u8("tdreport.reporttype.type")?;
        if ty != TYPE_TDX {
            return Err(CodecError::Invalid {
                field: "tdreport.reporttype.type",
                offset: 0,
                reason: format!("{ty:#04x}, expected 0x81 (tdx)"),
            });
        }
        let subtype = r.u8("tdreport.reporttype.subtype")?;
        if subtype != 0 {
            return Err(CodecError::Invalid {
                field: "tdreport.reporttype.subtype",
                offset: 1,
                reason: format!("{subtype}, expected 0"),
            });
        }
        let report_version = r.u8("tdreport.reporttype.version")?;
        if report_version > 1 {
            return Err(CodecError::Invalid {
                field: "tdreport.reporttype.version",
                offset: 2,
                reason: format!("{report_version}, known: 0, 1"),
            });
        }
        r.reserved_zero(1, "tdreport.reporttype.reserved")?;
        r.reserved_zero(12, "tdreport.reserved1")?;
        let cpu_svn = r.array("tdreport.cpusvn")?;
        let tee_tcb_info_hash = r.array("tdreport.tee_tcb_info_hash")?;
        let tee_info_hash = r.array("tdreport.tee_info_hash")?;
        let report_data = r.array("tdreport.reportdata")?;
        r.reserved_zero(32, "tdreport.reserved2")?;
        let mac = r.array("tdreport.mac")?;

        let mut t = r.sub(239, "tdreport.tee_tcb_info")?;
        let tee_tcb_info = t.peek_rest().to_vec();
        let tee_tcb_valid = t.array("tee_tcb_info.valid")?;
        let tee_tcb_svn = t.array("tee_tcb_info.tee_tcb_svn")?;
        let mr_seam = t.array("tee_tcb_info.mrseam")?;
        let mr_signer_seam = t.array("tee_tcb_info.mrsignerseam")?;
        let seam_attributes = t.array("tee_tcb_info.attributes")?;
        let tee_tcb_svn2 = t.array("tee_tcb_info.tee_tcb_svn2")?;
        t.reserved_zero(95, "tee_tcb_info.reserved")?;
        t.finish("tee_tcb_info")?;
        r.reserved_zero(17, "tdreport.reserved")?;

        let mut i = r.sub(512, "tdreport.tdinfo")?;
        let td_info = i.peek_rest().to_vec();
        let td_attributes = i.array("tdinfo.attributes")?;
        let xfam = i.array("tdinfo.xfam")?;
        let mr_td = i.array("tdinfo.mrtd")?;
        let mr_config_id = i.array("tdinfo.mrconfigid")?;
        let mr_owner = i.array("tdinfo.mrowner")?;
        let mr_owner_config = i.array("tdinfo.mrownerconfig")?;
        let rtmr = [
            i.array("tdinfo.rtmr0")?,
            i.array("tdinfo.rtmr1")?,
            i.array("tdinfo.rtmr2")?,
            i.array("tdinfo.rtmr3")?,
        ];
        let servtd_hash = i.array("tdinfo.servtd_hash")?;
        i.reserved_zero(64, "tdinfo.reserved")?;
        i.finish("tdinfo")?;
        r.finish("tdreport")?;
        Ok(Self {
            report_version,
            cpu_svn,
            tee_tcb_info_hash,
            tee_info_hash,
            report_data,
            mac,
            tee_tcb_info,
            tee_tcb_valid,
            tee_tcb_svn,
            mr_seam,
            mr_signer_seam,
            seam_attributes,
            tee_tcb_svn2,
            td_info,
            td_attributes,
            xfam,
            mr_td,
            mr_config_id,
            mr_owner,
            mr_owner_config,
            rtmr,
            servtd_hash,
        })
    }

    /// The two hashes REPORTMACSTRUCT carries must be SHA-384 of the
    /// structures they name.
    pub fn check_hashes(&self) -> Result<()> {
        let sha384 = |b: &[u8]| HashAlg::SHA384.hash(b).map(|d| d.bytes).unwrap_or_default();
        if sha384(&self.tee_tcb_info) != self.tee_tcb_info_hash {
            return Err(Error::Mismatch {
                field: "tdreport.tee_tcb_info_hash",
                reason: "it is not the sha-384 of the tdreport's tee_tcb_info".into(),
            });
        }
        if sha384(&self.td_info) != self.tee_info_hash {
            return Err(Error::Mismatch {
                field: "tdreport.tee_info_hash",
                reason: "it is not the sha-384 of the tdreport's tdinfo".into(),
            });
        }
        Ok(())
    }

    /// Every field the TD quote's signed body carries must equal the
    /// TDREPORT's: the quote must have been made from this report.
    pub fn check_quote_body(&self, q: &QuoteBody) -> Result<()> {
        let rtmr = |i: usize| self.rtmr.get(i).map(|r| r.as_slice()).unwrap_or_default();
        let qrtmr = |i: usize| q.rtmr.get(i).map(|r| r.as_slice()).unwrap_or_default();
        let mut pairs: Vec<(&'static str, &[u8], &[u8])> = vec![
            (
                "report_data",
                self.report_data.as_slice(),
                q.report_data.as_slice(),
            ),
            ("mr_td", self.mr_td.as_slice(), q.mr_td.as_slice()),
            ("rtmr0", rtmr(0), qrtmr(0)),
            ("rtmr1", rtmr(1), qrtmr(1)),
            ("rtmr2", rtmr(2), qrtmr(2)),
            ("rtmr3", rtmr(3), qrtmr(3)),
            (
                "td_attributes",
                self.td_attributes.as_slice(),
                q.td_attributes.as_slice(),
            ),
            ("xfam", self.xfam.as_slice(), q.xfam.as_slice()),
            (
                "mr_config_id",
                self.mr_config_id.as_slice(),
                q.mr_config_id.as_slice(),
            ),
            ("mr_owner", self.mr_owner.as_slice(), q.mr_owner.as_slice()),
            (
                "mr_owner_config",
                self.mr_owner_config.as_slice(),
                q.mr_owner_config.as_slice(),
            ),
            (
                "tee_tcb_svn",
                self.tee_tcb_svn.as_slice(),
                q.tee_tcb_svn.as_slice(),
            ),
            ("mr_seam", self.mr_seam.as_slice(), q.mr_seam.as_slice()),
            (
                "mr_signer_seam",
                self.mr_signer_seam.as_slice(),
                q.mr_signer_seam.as_slice(),
            ),
            (
                "seam_attributes",
                self.seam_attributes.as_slice(),
                q.seam_attributes.as_slice(),
            ),
        ];
        if let Some(svn2) = &q.tee_tcb_svn2 {
            pairs.push((
                "tee_tcb_svn2",
                self.tee_tcb_svn2.as_slice(),
                svn2.as_slice(),
            ));
        }
        if let Some(servtd) = &q.mr_service_td {
            pairs.push((
                "mr_service_td",
                self.servtd_hash.as_slice(),
                servtd.as_slice(),
            ));
        }
        for (field, ours, quoted) in pairs {
            if ours != quoted {
                return Err(Error::Mismatch {
                    field: "tdreport",
                    reason: format!(
                        "{field} is {} in the hcl report's tdreport but {} in the td quote: the quote was not made from this report",
                        hex::encode(ours),
                        hex::encode(quoted)
                    ),
                });
            }
        }
        Ok(())
    }
}

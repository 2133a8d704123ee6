//! A bounded parser for Intel DCAP quotes: v3 (SGX), v4 (TDX 1.0) and v5
//! (TDX 1.0 and 1.5 bodies).
//!
//! dcap-qvl has a quote decoder, but it allocates a buffer sized by each
//! length field (up to 1 MiB) before checking that the input holds that many
//! bytes, and it silently ignores trailing data. This parser reads everything
//! through [`rootline_core::Reader`], keeps the signed byte range beside the
//! parsed structure (the attestation key signs `raw[..signed_len]`, never a
//! re-encoding) and rejects unknown versions, key types, body types and
//! certification data types.
//!
//! Layouts: Intel SGX ECDSA Quote Library API (quote v3, appendix A.4) and
//! Intel TDX DCAP Quoting Library API (quote v4 section A.3, v5 section A.4).

use rootline_core::{CodecError, Reader};

/// Quote header size (all versions).
pub const HEADER_LEN: usize = 48;
/// SGX enclave report (also the QE report) size.
pub const ENCLAVE_REPORT_LEN: usize = 384;
/// TD report body for TDX 1.0.
pub const TD_REPORT10_LEN: usize = 584;
/// TD report body for TDX 1.5 (adds TEE_TCB_SVN2 and MRSERVICETD).
pub const TD_REPORT15_LEN: usize = 648;
/// Upper bound on the signature data we accept; real quotes carry about 4 KiB.
const MAX_SIG_DATA: usize = 64 * 1024;

/// Intel's QE vendor ID (header `qe_vendor_id`).
pub const INTEL_QE_VENDOR_ID: [u8; 16] = [
    0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9, 0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07,
];

/// A TEE type as the quote header spells it (a newtype so unknown values
/// survive and print as hex).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TeeType(pub u32);

impl TeeType {
    /// SGX (quote v3 header `tee_type`, section A.4.1).
    pub const SGX: Self = Self(0x0000_0000);
    /// TDX (quote v4/v5 header `tee_type`).
    pub const TDX: Self = Self(0x0000_0081);
}

/// Attestation key type (header `att_key_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AttKeyType(pub u16);

impl AttKeyType {
    /// ECDSA-256 with P-256 (the only type Intel's QE produces).
    pub const ECDSA_P256: Self = Self(2);
    /// ECDSA-384 with P-384 (defined, never produced; unsupported).
    pub const ECDSA_P384: Self = Self(3);
}

/// Certification data type (section A.4.11).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CertDataType(pub u16);

impl CertDataType {
    /// Concatenated PEM PCK certificate chain (leaf, PCK CA, root).
    pub const PCK_CERT_CHAIN: Self = Self(5);
    /// QE report certification data (v4/v5 outer wrapper).
    pub const QE_REPORT_CERT_DATA: Self = Self(6);
}

/// Why a quote could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QuoteError {
    /// The bytes do not decode.
    #[error("malformed quote: {0}")]
    Codec(#[from] CodecError),
    /// A version, type or length we do not support.
    #[error("unsupported quote: {0}")]
    Unsupported(String),
}

/// The quote header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// 3, 4 or 5.
    pub version: u16,
    /// Attestation key type.
    pub att_key_type: AttKeyType,
    /// TEE type.
    pub tee_type: TeeType,
    /// QE security version (v3; reserved in v4/v5).
    pub qe_svn: u16,
    /// PCE security version (v3; reserved in v4/v5).
    pub pce_svn: u16,
    /// QE vendor.
    pub qe_vendor_id: [u8; 16],
    /// Platform-defined user data (the first 16 bytes are the QE ID).
    pub user_data: [u8; 20],
}

/// An SGX enclave report (the SGX quote body, and the QE report).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnclaveReport {
    /// CPUSVN.
    pub cpu_svn: [u8; 16],
    /// MISCSELECT.
    pub misc_select: u32,
    /// ATTRIBUTES (flags then XFRM).
    pub attributes: [u8; 16],
    /// MRENCLAVE.
    pub mr_enclave: [u8; 32],
    /// MRSIGNER.
    pub mr_signer: [u8; 32],
    /// ISVPRODID.
    pub isv_prod_id: u16,
    /// ISVSVN.
    pub isv_svn: u16,
    /// REPORTDATA.
    pub report_data: [u8; 64],
}

/// A TD report body (TDX 1.0; TDX 1.5 adds two fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TdReport {
    /// TEE_TCB_SVN.
    pub tee_tcb_svn: [u8; 16],
    /// MRSEAM.
    pub mr_seam: [u8; 48],
    /// MRSIGNERSEAM.
    pub mr_signer_seam: [u8; 48],
    /// SEAMATTRIBUTES.
    pub seam_attributes: [u8; 8],
    /// TDATTRIBUTES.
    pub td_attributes: [u8; 8],
    /// XFAM.
    pub xfam: [u8; 8],
    /// MRTD.
    pub mr_td: [u8; 48],
    /// MRCONFIGID.
    pub mr_config_id: [u8; 48],
    /// MROWNER.
    pub mr_owner: [u8; 48],
    /// MROWNERCONFIG.
    pub mr_owner_config: [u8; 48],
    /// RTMR0..RTMR3.
    pub rtmr: [[u8; 48]; 4],
    /// REPORTDATA.
    pub report_data: [u8; 64],
    /// TDX 1.5 only: TEE_TCB_SVN2 (the current TCB after a TD-preserving update).
    pub tee_tcb_svn2: Option<[u8; 16]>,
    /// TDX 1.5 only: MRSERVICETD.
    pub mr_service_td: Option<[u8; 48]>,
}

impl TdReport {
    /// TDATTRIBUTES.TUD.DEBUG (bit 0): the host can read and write the TD.
    pub fn debug(&self) -> bool {
        self.td_attributes[0] & 0x01 != 0
    }

    /// TDATTRIBUTES.SEPT_VE_DISABLE (bit 28).
    pub fn sept_ve_disable(&self) -> bool {
        self.td_attributes[3] & 0x10 != 0
    }

    /// TDATTRIBUTES.MIGRATABLE (bit 29).
    pub fn migratable(&self) -> bool {
        self.td_attributes[3] & 0x20 != 0
    }
}

impl EnclaveReport {
    /// ATTRIBUTES.DEBUG (bit 1).
    pub fn debug(&self) -> bool {
        self.attributes[0] & 0x02 != 0
    }
}

/// The quote body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// An SGX enclave report (quote v3).
    Sgx(EnclaveReport),
    /// A TD report (quote v4, or v5 body type 2 or 3).
    Td(Box<TdReport>),
}

/// A parsed quote that borrows the bytes it came from.
#[derive(Debug, Clone)]
pub struct Quote<'a> {
    /// The whole input.
    pub raw: &'a [u8],
    /// Header.
    pub header: Header,
    /// Body type: 1 SGX, 2 TDX 1.0, 3 TDX 1.5 (v5 states it; v3/v4 imply it).
    pub body_type: u16,
    /// Body.
    pub body: Body,
    /// Bytes covered by the attestation key's signature: header and body.
    pub signed_len: usize,
    /// ECDSA signature (r||s) over `raw[..signed_len]`.
    pub signature: [u8; 64],
    /// Attestation public key (x||y).
    pub attestation_key: [u8; 64],
    /// The QE report exactly as received (the PCK signs these bytes).
    pub qe_report_raw: &'a [u8],
    /// The QE report parsed.
    pub qe_report: EnclaveReport,
    /// ECDSA signature (r||s) of the PCK over `qe_report_raw`.
    pub qe_report_signature: [u8; 64],
    /// QE authentication data (hashed with the attestation key into the QE report).
    pub qe_auth_data: &'a [u8],
    /// The PEM PCK certificate chain (certification data type 5).
    pub pck_chain_pem: &'a [u8],
    /// Unsigned bytes after the signature data (padding), ignored.
    pub trailing: usize,
}

impl<'a> Quote<'a> {
    /// Parses a quote.
    pub fn parse(raw: &'a [u8]) -> Result<Self, QuoteError> {
        let mut r = Reader::new(raw);
        let header = parse_header(&mut r)?;
        let (body_type, body) = match (header.version, header.tee_type) {
            (3, TeeType::SGX) => {
                let mut b = r.sub(ENCLAVE_REPORT_LEN, "sgx report body")?;
                (1, Body::Sgx(parse_enclave_report(&mut b)?))
            }
            (4, TeeType::TDX) => {
                let mut b = r.sub(TD_REPORT10_LEN, "td report body")?;
                (2, Body::Td(Box::new(parse_td_report(&mut b, false)?)))
            }
            (5, TeeType::TDX) => {
                let body_type = r.u16_le("body type")?;
                let size = r.u32_le("body size")? as usize;
                let (expect, td15) = match body_type {
                    2 => (TD_REPORT10_LEN, false),
                    3 => (TD_REPORT15_LEN, true),
                    other => {
                        return Err(QuoteError::Unsupported(format!(
                            "quote v5 body type {other}: only 2 (TDX 1.0) and 3 (TDX 1.5) are supported"
                        )));
                    }
                };
                if size != expect {
                    return Err(r
                        .invalid(
                            "body size",
                            format!("{size} for body type {body_type}, expected {expect}"),
                        )
                        .into());
                }
                let mut b = r.sub(size, "td report body")?;
                (
                    body_type,
                    Body::Td(Box::new(parse_td_report(&mut b, td15)?)),
                )
            }
            (v @ (3..=5), t) => {
                return Err(QuoteError::Unsupported(format!(
                    "quote v{v} with tee type {:#x}: v3 is SGX (0x0), v4 and v5 are TDX (0x81)",
                    t.0
                )));
            }
            (v, _) => {
                return Err(QuoteError::Unsupported(format!(
                    "quote version {v}: only 3 (SGX), 4 and 5 (TDX) are supported"
                )));
            }
        };
        let signed_len = r.offset();
        let sig_len = r.u32_le("signature data length")? as usize;
        if sig_len > MAX_SIG_DATA {
            return Err(r
                .invalid(
                    "signature data length",
                    format!("{sig_len} bytes exceeds {MAX_SIG_DATA}"),
                )
                .into());
        }
        let mut s = r.sub(sig_len, "signature data")?;
        let signature = s.array::<64>("quote signature")?;
        let attestation_key = s.array::<64>("attestation key")?;
        let (qe_report_raw, qe_report, qe_report_signature, qe_auth_data, pck_chain_pem) = if header
            .version
            == 3
        {
            let parts = parse_qe_cert_data(&mut s)?;
            s.finish("signature data")?;
            parts
        } else {
            let ty = CertDataType(s.u16_le("certification data type")?);
            if ty != CertDataType::QE_REPORT_CERT_DATA {
                return Err(QuoteError::Unsupported(format!(
                    "outer certification data type {}: quote v4/v5 must carry type 6 (QE report certification data)",
                    ty.0
                )));
            }
            let len = s.u32_le("certification data size")? as usize;
            let mut c = s.sub(len, "qe report certification data")?;
            let parts = parse_qe_cert_data(&mut c)?;
            c.finish("qe report certification data")?;
            s.finish("signature data")?;
            parts
        };
        // Bytes after the signature data are neither signed nor read: some
        // providers pad quotes to a fixed buffer size, and go-tdx-guest's test
        // quote carries a text trailer. They are ignored, and counted so the
        // caller can say so.
        let trailing = r.remaining();
        Ok(Self {
            raw,
            header,
            body_type,
            body,
            signed_len,
            signature,
            attestation_key,
            qe_report_raw,
            qe_report,
            qe_report_signature,
            qe_auth_data,
            pck_chain_pem,
            trailing,
        })
    }

    /// The bytes the attestation key signed.
    pub fn signed_bytes(&self) -> &'a [u8] {
        self.raw.get(..self.signed_len).unwrap_or(&[])
    }

    /// The report data the quote carries.
    pub fn report_data(&self) -> &[u8; 64] {
        match &self.body {
            Body::Sgx(r) => &r.report_data,
            Body::Td(r) => &r.report_data,
        }
    }

    /// True for TDX quotes.
    pub fn is_tdx(&self) -> bool {
        matches!(self.body, Body::Td(_))
    }
}

type QeParts<'a> = (&'a [u8], EnclaveReport, [u8; 64], &'a [u8], &'a [u8]);

/// QE report, its signature, QE auth data and the inner PCK chain
/// certification data (the v3 signature-data tail, and the v4/v5 type-6 body).
fn parse_qe_cert_data<'a>(r: &mut Reader<'a>) -> Result<QeParts<'a>, QuoteError> {
    let mut qr = r.sub(ENCLAVE_REPORT_LEN, "qe report")?;
    let qe_report_raw = qr.peek_rest();
    let qe_report = parse_enclave_report(&mut qr)?;
    let qe_report_signature = r.array::<64>("qe report signature")?;
    let qe_auth_data = r.vec_u16_le("qe authentication data")?;
    let ty = CertDataType(r.u16_le("pck certification data type")?);
    if ty != CertDataType::PCK_CERT_CHAIN {
        return Err(QuoteError::Unsupported(format!(
            "certification data type {}: only 5 (PCK certificate chain in the quote) is supported; \
             types 1-4 need the PCK certificate fetched separately",
            ty.0
        )));
    }
    let pck = r.vec_u32_le("pck certificate chain")?;
    Ok((
        qe_report_raw,
        qe_report,
        qe_report_signature,
        qe_auth_data,
        pck,
    ))
}

/// Reads a little-endian u16 length, then that many bytes.
trait VecU16Le<'a> {
    fn vec_u16_le(&mut self, field: &'static str) -> Result<&'a [u8], CodecError>;
}

impl<'a> VecU16Le<'a> for Reader<'a> {
    fn vec_u16_le(&mut self, field: &'static str) -> Result<&'a [u8], CodecError> {
        let len = self.u16_le(field)? as usize;
        self.take(len, field)
    }
}

fn parse_header(r: &mut Reader<'_>) -> Result<Header, QuoteError> {
    let mut h = r.sub(HEADER_LEN, "quote header")?;
    let version = h.u16_le("version")?;
    let att_key_type = AttKeyType(h.u16_le("attestation key type")?);
    let tee_type = TeeType(h.u32_le("tee type")?);
    let qe_svn = h.u16_le("qe svn")?;
    let pce_svn = h.u16_le("pce svn")?;
    let qe_vendor_id = h.array::<16>("qe vendor id")?;
    let user_data = h.array::<20>("user data")?;
    h.finish("quote header")?;
    if !(3..=5).contains(&version) {
        return Err(QuoteError::Unsupported(format!(
            "quote version {version}: only 3 (SGX), 4 and 5 (TDX) are supported"
        )));
    }
    if att_key_type != AttKeyType::ECDSA_P256 {
        return Err(QuoteError::Unsupported(format!(
            "attestation key type {}: only 2 (ECDSA P-256) is supported",
            att_key_type.0
        )));
    }
    Ok(Header {
        version,
        att_key_type,
        tee_type,
        qe_svn,
        pce_svn,
        qe_vendor_id,
        user_data,
    })
}

/// Enclave report fields; reserved areas are skipped, not required to be
/// zero: SGX KSS reuses them (ISVEXTPRODID, CONFIGID, ISVFAMILYID).
fn parse_enclave_report(r: &mut Reader<'_>) -> Result<EnclaveReport, QuoteError> {
    let cpu_svn = r.array::<16>("cpu svn")?;
    let misc_select = r.u32_le("misc select")?;
    r.take(28, "reserved1")?;
    let attributes = r.array::<16>("attributes")?;
    let mr_enclave = r.array::<32>("mr enclave")?;
    r.take(32, "reserved2")?;
    let mr_signer = r.array::<32>("mr signer")?;
    r.take(96, "reserved3")?;
    let isv_prod_id = r.u16_le("isv prod id")?;
    let isv_svn = r.u16_le("isv svn")?;
    r.take(60, "reserved4")?;
    let report_data = r.array::<64>("report data")?;
    r.finish("enclave report")?;
    Ok(EnclaveReport {
        cpu_svn,
        misc_select,
        attributes,
        mr_enclave,
        mr_signer,
        isv_prod_id,
        isv_svn,
        report_data,
    })
}

fn parse_td_report(r: &mut Reader<'_>, td15: bool) -> Result<TdReport, QuoteError> {
    let tee_tcb_svn = r.array::<16>("tee tcb svn")?;
    let mr_seam = r.array::<48>("mr seam")?;
    let mr_signer_seam = r.array::<48>("mr signer seam")?;
    let seam_attributes = r.array::<8>("seam attributes")?;
    let td_attributes = r.array::<8>("td attributes")?;
    let xfam = r.array::<8>("xfam")?;
    let mr_td = r.array::<48>("mr td")?;
    let mr_config_id = r.array::<48>("mr config id")?;
    let mr_owner = r.array::<48>("mr owner")?;
    let mr_owner_config = r.array::<48>("mr owner config")?;
    let rtmr = [
        r.array::<48>("rtmr0")?,
        r.array::<48>("rtmr1")?,
        r.array::<48>("rtmr2")?,
        r.array::<48>("rtmr3")?,
    ];
    let report_data = r.array::<64>("report data")?;
    let (tee_tcb_svn2, mr_service_td) = if td15 {
        (
            Some(r.array::<16>("tee tcb svn2")?),
            Some(r.array::<48>("mr service td")?),
        )
    } else {
        (None, None)
    };
    r.finish("td report")?;
    Ok(TdReport {
        tee_tcb_svn,
        mr_seam,
        mr_signer_seam,
        seam_attributes,
        td_attributes,
        xfam,
        mr_td,
        mr_config_id,
        mr_owner,
        mr_owner_config,
        rtmr,
        report_data,
        tee_tcb_svn2,
        mr_service_td,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn short_inputs_are_errors_not_panics() {
        for n in 0..700 {
            let mut v = vec![0u8; n];
            if n >= 2 {
                v[0] = 4;
            }
            if n >= 4 {
                v[2] = 2;
            }
            if n >= 8 {
                v[4] = 0x81;
            }
            assert!(Quote::parse(&v).is_err());
        }
    }

    #[test]
    fn unknown_version_is_rejected() {
        let mut v = vec![0u8; 2000];
        v[0] = 6;
        v[2] = 2;
        let e = Quote::parse(&v).unwrap_err();
        assert!(e.to_string().contains("quote version 6"), "{e}");
    }
}

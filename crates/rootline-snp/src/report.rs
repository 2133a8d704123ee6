//! The 1184-byte SEV-SNP ATTESTATION_REPORT, parsed once through the bounded
//! reader.
//!
//! Layout: AMD SEV-SNP Firmware ABI Specification (publication 56860),
//! section 7.3, Table "ATTESTATION_REPORT Structure", report versions 2 to 5.
//! We do not use the `sev` crate's decoder: it maps every version above 5 to
//! 5, refuses version-2 reports whose chip ID is masked, guesses the TCB layout
//! for version 2 from the chip ID, and copies into a heap buffer before looking
//! at the length. Here an unknown version is an error, every reserved range is
//! checked to be zero, and the signed bytes (`0..0x2A0`) are kept exactly as
//! received so the signature is checked over them and nothing re-encoded.

use rootline_core::{CodecError, Reader};

use crate::error::{Error, Result};

/// Length of an ATTESTATION_REPORT.
pub const REPORT_LEN: usize = 1184;
/// End of the signed part of the report (`0x2A0`).
pub const SIGNED_LEN: usize = 0x2A0;
/// Report versions this parser knows.
pub const VERSIONS: std::ops::RangeInclusive<u32> = 2..=5;

/// An AMD EPYC product line with SEV-SNP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Product {
    /// 3rd generation EPYC (Zen 3).
    Milan,
    /// 4th generation EPYC (Zen 4, also Bergamo and Siena).
    Genoa,
    /// 5th generation EPYC (Zen 5).
    Turin,
}

impl Product {
    /// The name AMD KDS and the certificates use.
    pub fn name(self) -> &'static str {
        match self {
            Self::Milan => "Milan",
            Self::Genoa => "Genoa",
            Self::Turin => "Turin",
        }
    }

    /// The product of a CPUID family/model pair (report versions 3 and later),
    /// using the same ranges as the `sev` crate's `Generation::identify_cpu`.
    pub fn from_cpuid(family: u8, model: u8) -> Option<Self> {
        match (family, model) {
            (0x19, 0x00..=0x0F) => Some(Self::Milan),
            (0x19, 0x10..=0x1F | 0xA0..=0xAF) => Some(Self::Genoa),
            (0x1A, 0x00..=0x11) => Some(Self::Turin),
            _ => None,
        }
    }

    /// The product named by an AMD certificate common name (`ARK-Genoa`,
    /// `SEV-VLEK-Turin`...).
    pub fn from_common_name(cn: &str) -> Option<Self> {
        let last = cn.rsplit('-').next()?;
        match last {
            "Milan" => Some(Self::Milan),
            "Genoa" => Some(Self::Genoa),
            "Turin" => Some(Self::Turin),
            _ => None,
        }
    }

    /// True when TCB_VERSION has the Turin layout (with an FMC field).
    pub fn has_fmc(self) -> bool {
        matches!(self, Self::Turin)
    }
}

impl std::fmt::Display for Product {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A TCB_VERSION decoded for one product (ABI spec, TCB_VERSION structure).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tcb {
    /// The 64-bit value as it is in the report.
    pub raw: u64,
    /// Security patch level of the firmware FMC (Turin and later).
    pub fmc: Option<u8>,
    /// Security patch level of the PSP bootloader.
    pub bootloader: u8,
    /// Security patch level of the PSP operating system.
    pub tee: u8,
    /// Security patch level of the SNP firmware.
    pub snp: u8,
    /// Lowest microcode patch level of all cores.
    pub microcode: u8,
}

impl Tcb {
    /// Decodes `raw` in `product`'s layout. Milan and Genoa: bootloader,
    /// tee, 4 reserved, snp, microcode (bytes 0..8, little-endian value);
    /// Turin: fmc, bootloader, tee, snp, 3 reserved, microcode.
    pub fn decode(raw: u64, product: Product) -> Self {
        let b = raw.to_le_bytes();
        let [b0, b1, b2, b3, _, _, b6, b7] = b;
        if product.has_fmc() {
            Self {
                raw,
                fmc: Some(b0),
                bootloader: b1,
                tee: b2,
                snp: b3,
                microcode: b7,
            }
        } else {
            Self {
                raw,
                fmc: None,
                bootloader: b0,
                tee: b1,
                snp: b6,
                microcode: b7,
            }
        }
    }
}

/// Which key signed the report (the SIGNING_KEY field of the report flags).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SigningKey(pub u8);

impl SigningKey {
    /// 0: the Versioned Chip Endorsement Key.
    pub const VCEK: Self = Self(0);
    /// 1: the Versioned Loaded Endorsement Key.
    pub const VLEK: Self = Self(1);
    /// 7: no key; the report is unsigned.
    pub const NONE: Self = Self(7);

    /// `vcek`, `vlek`, `none` or the raw value in hex.
    pub fn name(self) -> String {
        match self {
            Self::VCEK => "vcek".into(),
            Self::VLEK => "vlek".into(),
            Self::NONE => "none".into(),
            Self(other) => format!("0x{other:x}"),
        }
    }
}

/// GUEST_POLICY bits (ABI spec, section 4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy(pub u64);

impl Policy {
    fn bit(self, n: u32) -> bool {
        self.0 >> n & 1 == 1
    }
    /// Minimum ABI minor version the guest needs.
    pub fn abi_minor(self) -> u8 {
        (self.0 & 0xff) as u8
    }
    /// Minimum ABI major version the guest needs.
    pub fn abi_major(self) -> u8 {
        (self.0 >> 8 & 0xff) as u8
    }
    /// Bit 16: SMT allowed.
    pub fn smt_allowed(self) -> bool {
        self.bit(16)
    }
    /// Bit 18: association with a migration agent allowed.
    pub fn migrate_ma(self) -> bool {
        self.bit(18)
    }
    /// Bit 19: debugging allowed (the hypervisor can read guest memory).
    pub fn debug_allowed(self) -> bool {
        self.bit(19)
    }
    /// Bit 20: the guest may run on one socket only.
    pub fn single_socket(self) -> bool {
        self.bit(20)
    }
    /// Bit 21: CXL may be populated with guest memory.
    pub fn cxl_allowed(self) -> bool {
        self.bit(21)
    }
    /// Bit 22: AES-256-XTS required for memory encryption.
    pub fn mem_aes_256_xts(self) -> bool {
        self.bit(22)
    }
    /// Bit 23: running power management (RAPL) must be disabled.
    pub fn rapl_dis(self) -> bool {
        self.bit(23)
    }
    /// Bit 24: ciphertext hiding must be enabled.
    pub fn ciphertext_hiding(self) -> bool {
        self.bit(24)
    }
    /// Bit 25: guest page swapping disabled.
    pub fn page_swap_disable(self) -> bool {
        self.bit(25)
    }
}

/// A parsed attestation report that keeps the bytes it was parsed from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    raw: Box<[u8; REPORT_LEN]>,
    /// VERSION (0x00).
    pub version: u32,
    /// GUEST_SVN (0x04).
    pub guest_svn: u32,
    /// POLICY (0x08).
    pub policy: Policy,
    /// FAMILY_ID (0x10).
    pub family_id: [u8; 16],
    /// IMAGE_ID (0x20).
    pub image_id: [u8; 16],
    /// VMPL (0x30).
    pub vmpl: u32,
    /// SIGNATURE_ALGO (0x34).
    pub signature_algo: u32,
    /// CURRENT_TCB (0x38), raw.
    pub current_tcb: u64,
    /// PLATFORM_INFO (0x40).
    pub platform_info: u64,
    /// Flags word (0x48): AUTHOR_KEY_EN, MASK_CHIP_KEY, SIGNING_KEY.
    pub flags: u32,
    /// REPORT_DATA (0x50).
    pub report_data: [u8; 64],
    /// MEASUREMENT (0x90).
    pub measurement: [u8; 48],
    /// HOST_DATA (0xC0).
    pub host_data: [u8; 32],
    /// ID_KEY_DIGEST (0xE0).
    pub id_key_digest: [u8; 48],
    /// AUTHOR_KEY_DIGEST (0x110).
    pub author_key_digest: [u8; 48],
    /// REPORT_ID (0x140).
    pub report_id: [u8; 32],
    /// REPORT_ID_MA (0x160).
    pub report_id_ma: [u8; 32],
    /// REPORTED_TCB (0x180), raw.
    pub reported_tcb: u64,
    /// CPUID_FAM_ID, CPUID_MOD_ID, CPUID_STEP (0x188..0x18B, version 3 and later).
    pub cpuid: Option<(u8, u8, u8)>,
    /// CHIP_ID (0x1A0).
    pub chip_id: [u8; 64],
    /// COMMITTED_TCB (0x1E0), raw.
    pub committed_tcb: u64,
    /// CURRENT_BUILD, CURRENT_MINOR, CURRENT_MAJOR (0x1E8).
    pub current_version: (u8, u8, u8),
    /// COMMITTED_BUILD, COMMITTED_MINOR, COMMITTED_MAJOR (0x1EC).
    pub committed_version: (u8, u8, u8),
    /// LAUNCH_TCB (0x1F0), raw.
    pub launch_tcb: u64,
    /// LAUNCH_MIT_VECTOR (0x1F8, version 5 and later).
    pub launch_mit_vector: Option<u64>,
    /// CURRENT_MIT_VECTOR (0x200, version 5 and later).
    pub current_mit_vector: Option<u64>,
    /// Signature R, big-endian, 48 bytes (converted from the little-endian field).
    sig_r: [u8; 48],
    /// Signature S, big-endian, 48 bytes.
    sig_s: [u8; 48],
}

/// Reads a 72-byte little-endian ECDSA component whose top 24 bytes must be
/// zero, and returns it big-endian.
fn sig_component(r: &mut Reader<'_>, field: &'static str) -> Result<[u8; 48], CodecError> {
    let le: [u8; 72] = r.array(field)?;
    let (low, high) = le.split_at(48);
    if high.iter().any(|b| *b != 0) {
        return Err(r.invalid(field, "value exceeds 384 bits"));
    }
    let mut be = [0u8; 48];
    for (dst, src) in be.iter_mut().zip(low.iter().rev()) {
        *dst = *src;
    }
    Ok(be)
}

impl Report {
    /// Parses exactly [`REPORT_LEN`] bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != REPORT_LEN {
            return Err(Error::Report(CodecError::Invalid {
                field: "attestation report",
                offset: 0,
                reason: format!("length is {}, expected {REPORT_LEN}", bytes.len()),
            }));
        }
        let mut r = Reader::new(bytes);
        let version = r.u32_le("version")?;
        if !VERSIONS.contains(&version) {
            return Err(Error::Unsupported {
                field: "report version",
                value: format!("{version} (known: 2 to 5)"),
            });
        }
        let guest_svn = r.u32_le("guest_svn")?;
        let policy = Policy(r.u64_le("policy")?);
        let family_id = r.array("family_id")?;
        let image_id = r.array("image_id")?;
        let vmpl = r.u32_le("vmpl")?;
        let signature_algo = r.u32_le("signature_algo")?;
        let current_tcb = r.u64_le("current_tcb")?;
        let platform_info = r.u64_le("platform_info")?;
        let flags = r.u32_le("flags")?;
        r.reserved_zero(4, "reserved (0x4c)")?;
        let report_data = r.array("report_data")?;
        let measurement = r.array("measurement")?;
        let host_data = r.array("host_data")?;
        let id_key_digest = r.array("id_key_digest")?;
        let author_key_digest = r.array("author_key_digest")?;
        let report_id = r.array("report_id")?;
        let report_id_ma = r.array("report_id_ma")?;
        let reported_tcb = r.u64_le("reported_tcb")?;
        let cpuid = if version >= 3 {
            let fam = r.u8("cpuid_fam_id")?;
            let model = r.u8("cpuid_mod_id")?;
            let step = r.u8("cpuid_step")?;
            r.reserved_zero(21, "reserved (0x18b)")?;
            Some((fam, model, step))
        } else {
            r.reserved_zero(24, "reserved (0x188)")?;
            None
        };
        let chip_id = r.array("chip_id")?;
        let committed_tcb = r.u64_le("committed_tcb")?;
        let current_version = (
            r.u8("current_build")?,
            r.u8("current_minor")?,
            r.u8("current_major")?,
        );
        r.reserved_zero(1, "reserved (0x1eb)")?;
        let committed_version = (
            r.u8("committed_build")?,
            r.u8("committed_minor")?,
            r.u8("committed_major")?,
        );
        r.reserved_zero(1, "reserved (0x1ef)")?;
        let launch_tcb = r.u64_le("launch_tcb")?;
        let (launch_mit_vector, current_mit_vector) = if version >= 5 {
            let l = r.u64_le("launch_mit_vector")?;
            let c = r.u64_le("current_mit_vector")?;
            r.reserved_zero(SIGNED_LEN - 0x208, "reserved (0x208)")?;
            (Some(l), Some(c))
        } else {
            r.reserved_zero(SIGNED_LEN - 0x1F8, "reserved (0x1f8)")?;
            (None, None)
        };
        let sig_r = sig_component(&mut r, "signature r")?;
        let sig_s = sig_component(&mut r, "signature s")?;
        r.reserved_zero(368, "signature reserved")?;
        r.finish("attestation report")?;

        let mut raw = Box::new([0u8; REPORT_LEN]);
        raw.copy_from_slice(bytes);
        Ok(Self {
            raw,
            version,
            guest_svn,
            policy,
            family_id,
            image_id,
            vmpl,
            signature_algo,
            current_tcb,
            platform_info,
            flags,
            report_data,
            measurement,
            host_data,
            id_key_digest,
            author_key_digest,
            report_id,
            report_id_ma,
            reported_tcb,
            cpuid,
            chip_id,
            committed_tcb,
            current_version,
            committed_version,
            launch_tcb,
            launch_mit_vector,
            current_mit_vector,
            sig_r,
            sig_s,
        })
    }

    /// The report exactly as received.
    pub fn as_bytes(&self) -> &[u8; REPORT_LEN] {
        &self.raw
    }

    /// The bytes the signature covers (`0..0x2A0`), as received.
    pub fn signed_bytes(&self) -> &[u8] {
        let (signed, _) = self.raw.split_at(SIGNED_LEN);
        signed
    }

    /// The signature as fixed-width big-endian `r || s` (96 bytes), the form
    /// aws-lc-rs's `ECDSA_P384_SHA384_FIXED` takes.
    pub fn signature_fixed(&self) -> [u8; 96] {
        let mut out = [0u8; 96];
        let (r, s) = out.split_at_mut(48);
        r.copy_from_slice(&self.sig_r);
        s.copy_from_slice(&self.sig_s);
        out
    }

    /// Flags bit 0: AUTHOR_KEY_EN.
    pub fn author_key_en(&self) -> bool {
        self.flags & 1 == 1
    }

    /// Flags bit 1: MASK_CHIP_KEY (CHIP_ID is zero).
    pub fn mask_chip_key(&self) -> bool {
        self.flags >> 1 & 1 == 1
    }

    /// Flags bits 4:2: which key signed the report.
    pub fn signing_key(&self) -> SigningKey {
        SigningKey((self.flags >> 2 & 0b111) as u8)
    }

    /// True when CHIP_ID is all zero (masked).
    pub fn chip_id_masked(&self) -> bool {
        self.chip_id.iter().all(|b| *b == 0)
    }

    /// The product the report itself names: from CPUID for version 3 and
    /// later; for version 2 a Turin chip ID (8 bytes then zeros) is Turin and
    /// any other unmasked chip ID is Milan or Genoa, which share a TCB layout
    /// (returned as `None`: the certificate chain names the product).
    pub fn product_hint(&self) -> Option<Product> {
        match self.cpuid {
            Some((fam, model, _)) => Product::from_cpuid(fam, model),
            None => {
                let (head, tail) = self.chip_id.split_at(8);
                let turin_like = tail.iter().all(|b| *b == 0) && head.iter().any(|b| *b != 0);
                turin_like.then_some(Product::Turin)
            }
        }
    }
}

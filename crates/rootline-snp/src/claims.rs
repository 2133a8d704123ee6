//! Claims: what a report says, named as the ABI specification names the
//! fields (snake case), hex in lower case. The shape is the command-line
//! contract's `claims` object, so it is built even when verification fails.

use serde::Serialize;

use crate::report::{Product, Report, Tcb};

/// A TCB_VERSION as claims.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TcbClaims {
    /// The 64-bit value, `0x` and 16 hex digits.
    pub raw: String,
    /// FMC security patch level (Turin).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fmc: Option<u8>,
    /// PSP bootloader SPL.
    pub bootloader: u8,
    /// PSP OS SPL.
    pub tee: u8,
    /// SNP firmware SPL.
    pub snp: u8,
    /// Microcode SPL.
    pub microcode: u8,
}

impl From<Tcb> for TcbClaims {
    fn from(t: Tcb) -> Self {
        Self {
            raw: format!("0x{:016x}", t.raw),
            fmc: t.fmc,
            bootloader: t.bootloader,
            tee: t.tee,
            snp: t.snp,
            microcode: t.microcode,
        }
    }
}

/// GUEST_POLICY decoded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PolicyClaims {
    /// ABI_MAJOR.
    pub abi_major: u8,
    /// ABI_MINOR.
    pub abi_minor: u8,
    /// SMT allowed.
    pub smt_allowed: bool,
    /// Migration agent allowed.
    pub migrate_ma: bool,
    /// Debugging allowed.
    pub debug_allowed: bool,
    /// Single socket only.
    pub single_socket: bool,
    /// CXL allowed.
    pub cxl_allowed: bool,
    /// AES-256-XTS required.
    pub mem_aes_256_xts: bool,
    /// RAPL must be disabled.
    pub rapl_dis: bool,
    /// Ciphertext hiding required.
    pub ciphertext_hiding: bool,
    /// Page swapping disabled.
    pub page_swap_disable: bool,
}

/// PLATFORM_INFO decoded (the bits defined up to ABI 1.57).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PlatformInfoClaims {
    /// Bit 0: SMT enabled on the host.
    pub smt_enabled: bool,
    /// Bit 1: transparent SME enabled.
    pub tsme_enabled: bool,
    /// Bit 2: ECC memory in use.
    pub ecc_enabled: bool,
    /// Bit 3: RAPL disabled.
    pub rapl_disabled: bool,
    /// Bit 4: ciphertext hiding enabled.
    pub ciphertext_hiding_enabled: bool,
    /// Bit 5: alias check complete.
    pub alias_check_complete: bool,
}

/// Everything a report says, and what verification learned about its signer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Claims {
    /// VERSION.
    pub version: u32,
    /// AMD product line, from the report's CPUID or the certificate chain.
    pub product: Option<String>,
    /// Which key signed the report: `vcek`, `vlek`, `none` or a raw value.
    pub signer: String,
    /// GUEST_SVN.
    pub guest_svn: u32,
    /// POLICY as `0x...`.
    pub policy: String,
    /// POLICY decoded.
    pub policy_bits: PolicyClaims,
    /// POLICY.DEBUG: the hypervisor may read guest memory.
    pub debug_allowed: bool,
    /// FAMILY_ID.
    pub family_id: String,
    /// IMAGE_ID.
    pub image_id: String,
    /// VMPL of the request.
    pub vmpl: u32,
    /// SIGNATURE_ALGO (1: ECDSA P-384 with SHA-384).
    pub signature_algo: u32,
    /// CURRENT_TCB.
    pub current_tcb: TcbClaims,
    /// PLATFORM_INFO as `0x...`.
    pub platform_info: String,
    /// PLATFORM_INFO decoded.
    pub platform_info_bits: PlatformInfoClaims,
    /// The flags word as `0x...`.
    pub flags: String,
    /// AUTHOR_KEY_EN.
    pub author_key_en: bool,
    /// MASK_CHIP_KEY.
    pub mask_chip_key: bool,
    /// REPORT_DATA.
    pub report_data: String,
    /// MEASUREMENT.
    pub measurement: String,
    /// HOST_DATA.
    pub host_data: String,
    /// ID_KEY_DIGEST.
    pub id_key_digest: String,
    /// AUTHOR_KEY_DIGEST.
    pub author_key_digest: String,
    /// REPORT_ID.
    pub report_id: String,
    /// REPORT_ID_MA.
    pub report_id_ma: String,
    /// REPORTED_TCB: the TCB the signing key was derived for.
    pub reported_tcb: TcbClaims,
    /// CPUID_FAM_ID (version 3 and later).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpuid_fam_id: Option<u8>,
    /// CPUID_MOD_ID (version 3 and later).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpuid_mod_id: Option<u8>,
    /// CPUID_STEP (version 3 and later).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpuid_step: Option<u8>,
    /// CHIP_ID.
    pub chip_id: String,
    /// COMMITTED_TCB.
    pub committed_tcb: TcbClaims,
    /// Firmware version now running, `major.minor.build`.
    pub current_version: String,
    /// Committed firmware version, `major.minor.build`.
    pub committed_version: String,
    /// LAUNCH_TCB.
    pub launch_tcb: TcbClaims,
    /// LAUNCH_MIT_VECTOR (version 5 and later).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub launch_mit_vector: Option<String>,
    /// CURRENT_MIT_VECTOR (version 5 and later).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_mit_vector: Option<String>,
}

fn version((build, minor, major): (u8, u8, u8)) -> String {
    format!("{major}.{minor}.{build}")
}

impl Claims {
    /// Claims of `r`, with TCBs decoded in `product`'s layout (Milan and
    /// Genoa share theirs, which is used when the product is unknown).
    pub fn from_report(r: &Report, product: Option<Product>) -> Self {
        let layout = product.unwrap_or(Product::Milan);
        let tcb = |raw| TcbClaims::from(Tcb::decode(raw, layout));
        let p = r.policy;
        let pi = r.platform_info;
        let bit = |n: u32| pi >> n & 1 == 1;
        Self {
            version: r.version,
            product: product.map(|p| p.name().to_owned()),
            signer: r.signing_key().name(),
            guest_svn: r.guest_svn,
            policy: format!("{:#x}", p.0),
            policy_bits: PolicyClaims {
                abi_major: p.abi_major(),
                abi_minor: p.abi_minor(),
                smt_allowed: p.smt_allowed(),
                migrate_ma: p.migrate_ma(),
                debug_allowed: p.debug_allowed(),
                single_socket: p.single_socket(),
                cxl_allowed: p.cxl_allowed(),
                mem_aes_256_xts: p.mem_aes_256_xts(),
                rapl_dis: p.rapl_dis(),
                ciphertext_hiding: p.ciphertext_hiding(),
                page_swap_disable: p.page_swap_disable(),
            },
            debug_allowed: p.debug_allowed(),
            family_id: hex::encode(r.family_id),
            image_id: hex::encode(r.image_id),
            vmpl: r.vmpl,
            signature_algo: r.signature_algo,
            current_tcb: tcb(r.current_tcb),
            platform_info: format!("{pi:#x}"),
            platform_info_bits: PlatformInfoClaims {
                smt_enabled: bit(0),
                tsme_enabled: bit(1),
                ecc_enabled: bit(2),
                rapl_disabled: bit(3),
                ciphertext_hiding_enabled: bit(4),
                alias_check_complete: bit(5),
            },
            flags: format!("{:#x}", r.flags),
            author_key_en: r.author_key_en(),
            mask_chip_key: r.mask_chip_key(),
            report_data: hex::encode(r.report_data),
            measurement: hex::encode(r.measurement),
            host_data: hex::encode(r.host_data),
            id_key_digest: hex::encode(r.id_key_digest),
            author_key_digest: hex::encode(r.author_key_digest),
            report_id: hex::encode(r.report_id),
            report_id_ma: hex::encode(r.report_id_ma),
            reported_tcb: tcb(r.reported_tcb),
            cpuid_fam_id: r.cpuid.map(|c| c.0),
            cpuid_mod_id: r.cpuid.map(|c| c.1),
            cpuid_step: r.cpuid.map(|c| c.2),
            chip_id: hex::encode(r.chip_id),
            committed_tcb: tcb(r.committed_tcb),
            current_version: version(r.current_version),
            committed_version: version(r.committed_version),
            launch_tcb: tcb(r.launch_tcb),
            launch_mit_vector: r.launch_mit_vector.map(|v| format!("{v:#x}")),
            current_mit_vector: r.current_mit_vector.map(|v| format!("{v:#x}")),
        }
    }
}

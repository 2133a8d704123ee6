//! TPM wire constants as newtypes with named values.
//!
//! Unknown values survive a round trip and print in hex, so a structure with
//! an algorithm we do not implement still parses far enough to be explained.
//! Hash algorithms use [`rootline_core::HashAlg`], which is TPM_ALG_ID too.
//! Section numbers refer to TCG TPM 2.0 Library Part 2 (Structures), rev 1.59.

use std::fmt;

macro_rules! wire_newtype {
    (
        $(#[$meta:meta])*
        $name:ident($ty:ty), $width:literal;
        $( $(#[$cmeta:meta])* $cname:ident = $val:expr, $label:literal; )*
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub $ty);

        impl $name {
            $( $(#[$cmeta])* pub const $cname: Self = Self($val); )*

            /// The specification's name of this value, when it is known.
            pub fn name(self) -> Option<&'static str> {
                match self {
                    $( Self::$cname => Some($label), )*
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(n) => f.write_str(n),
                    None => write!(f, concat!("{:#0", $width, "x}"), self.0),
                }
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }
    };
}

wire_newtype! {
    /// TPM_ALG_ID (Part 2, 6.3) for the non-hash algorithms: key types,
    /// signature and encryption schemes, symmetric modes. Hash algorithms are
    /// [`rootline_core::HashAlg`].
    AlgId(u16), 6;
    /// TPM_ALG_RSA (0x0001): RSA key.
    RSA = 0x0001, "rsa";
    /// TPM_ALG_HMAC (0x0005).
    HMAC = 0x0005, "hmac";
    /// TPM_ALG_AES (0x0006).
    AES = 0x0006, "aes";
    /// TPM_ALG_KEYEDHASH (0x0008): keyed-hash object.
    KEYEDHASH = 0x0008, "keyedhash";
    /// TPM_ALG_XOR (0x000A).
    XOR = 0x000A, "xor";
    /// TPM_ALG_NULL (0x0010): no algorithm.
    NULL = 0x0010, "null";
    /// TPM_ALG_RSASSA (0x0014): RSASSA-PKCS1-v1_5.
    RSASSA = 0x0014, "rsassa";
    /// TPM_ALG_RSAES (0x0015): RSAES-PKCS1-v1_5.
    RSAES = 0x0015, "rsaes";
    /// TPM_ALG_RSAPSS (0x0016): RSASSA-PSS.
    RSAPSS = 0x0016, "rsapss";
    /// TPM_ALG_OAEP (0x0017): RSAES-OAEP.
    OAEP = 0x0017, "oaep";
    /// TPM_ALG_ECDSA (0x0018).
    ECDSA = 0x0018, "ecdsa";
    /// TPM_ALG_ECDH (0x0019).
    ECDH = 0x0019, "ecdh";
    /// TPM_ALG_ECDAA (0x001A).
    ECDAA = 0x001A, "ecdaa";
    /// TPM_ALG_SM2 (0x001B).
    SM2 = 0x001B, "sm2";
    /// TPM_ALG_ECSCHNORR (0x001C).
    ECSCHNORR = 0x001C, "ecschnorr";
    /// TPM_ALG_ECMQV (0x001D).
    ECMQV = 0x001D, "ecmqv";
    /// TPM_ALG_KDF1_SP800_56A (0x0020).
    KDF1_SP800_56A = 0x0020, "kdf1_sp800_56a";
    /// TPM_ALG_KDF2 (0x0021).
    KDF2 = 0x0021, "kdf2";
    /// TPM_ALG_KDF1_SP800_108 (0x0022).
    KDF1_SP800_108 = 0x0022, "kdf1_sp800_108";
    /// TPM_ALG_ECC (0x0023): elliptic-curve key.
    ECC = 0x0023, "ecc";
    /// TPM_ALG_SYMCIPHER (0x0025): symmetric-cipher object.
    SYMCIPHER = 0x0025, "symcipher";
    /// TPM_ALG_CAMELLIA (0x0026).
    CAMELLIA = 0x0026, "camellia";
    /// TPM_ALG_CTR (0x0040).
    CTR = 0x0040, "ctr";
    /// TPM_ALG_OFB (0x0041).
    OFB = 0x0041, "ofb";
    /// TPM_ALG_CBC (0x0042).
    CBC = 0x0042, "cbc";
    /// TPM_ALG_CFB (0x0043): the mode TPMs use for parameter and credential encryption.
    CFB = 0x0043, "cfb";
    /// TPM_ALG_ECB (0x0044).
    ECB = 0x0044, "ecb";
}

wire_newtype! {
    /// TPM_ST (Part 2, 6.9): structure tags, here the TPMS_ATTEST types.
    StructureTag(u16), 6;
    /// TPM_ST_ATTEST_NV (0x8014).
    ATTEST_NV = 0x8014, "attest_nv";
    /// TPM_ST_ATTEST_COMMAND_AUDIT (0x8015).
    ATTEST_COMMAND_AUDIT = 0x8015, "attest_command_audit";
    /// TPM_ST_ATTEST_SESSION_AUDIT (0x8016).
    ATTEST_SESSION_AUDIT = 0x8016, "attest_session_audit";
    /// TPM_ST_ATTEST_CERTIFY (0x8017): TPM2_Certify.
    ATTEST_CERTIFY = 0x8017, "attest_certify";
    /// TPM_ST_ATTEST_QUOTE (0x8018): TPM2_Quote.
    ATTEST_QUOTE = 0x8018, "attest_quote";
    /// TPM_ST_ATTEST_TIME (0x8019).
    ATTEST_TIME = 0x8019, "attest_time";
    /// TPM_ST_ATTEST_CREATION (0x801A): TPM2_CertifyCreation.
    ATTEST_CREATION = 0x801A, "attest_creation";
    /// TPM_ST_ATTEST_NV_DIGEST (0x801C).
    ATTEST_NV_DIGEST = 0x801C, "attest_nv_digest";
}

wire_newtype! {
    /// TPM_GENERATED (Part 2, 6.2): the magic that starts every TPMS_ATTEST.
    Generated(u32), 10;
    /// TPM_GENERATED_VALUE (0xff544347, "\xffTCG"): only the TPM signs
    /// structures that start with it.
    VALUE = 0xff54_4347, "tpm_generated_value";
}

wire_newtype! {
    /// TPM_ECC_CURVE (Part 2, 6.4).
    EccCurve(u16), 6;
    /// TPM_ECC_NIST_P192 (0x0001).
    NIST_P192 = 0x0001, "nist_p192";
    /// TPM_ECC_NIST_P224 (0x0002).
    NIST_P224 = 0x0002, "nist_p224";
    /// TPM_ECC_NIST_P256 (0x0003).
    NIST_P256 = 0x0003, "nist_p256";
    /// TPM_ECC_NIST_P384 (0x0004).
    NIST_P384 = 0x0004, "nist_p384";
    /// TPM_ECC_NIST_P521 (0x0005).
    NIST_P521 = 0x0005, "nist_p521";
    /// TPM_ECC_BN_P256 (0x0010).
    BN_P256 = 0x0010, "bn_p256";
    /// TPM_ECC_BN_P638 (0x0011).
    BN_P638 = 0x0011, "bn_p638";
    /// TPM_ECC_SM2_P256 (0x0020).
    SM2_P256 = 0x0020, "sm2_p256";
}

impl EccCurve {
    /// Size in bytes of a coordinate, for the curves this crate verifies on.
    pub fn coordinate_len(self) -> Option<usize> {
        Some(match self {
            Self::NIST_P256 => 32,
            Self::NIST_P384 => 48,
            Self::NIST_P521 => 66,
            _ => return None,
        })
    }
}

/// TPMA_OBJECT (Part 2, 8.3): object attribute bits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ObjectAttributes(pub u32);

impl ObjectAttributes {
    /// fixedTPM (bit 1): the object cannot be duplicated out of this TPM.
    pub const FIXED_TPM: u32 = 1 << 1;
    /// stClear (bit 2).
    pub const ST_CLEAR: u32 = 1 << 2;
    /// fixedParent (bit 4).
    pub const FIXED_PARENT: u32 = 1 << 4;
    /// sensitiveDataOrigin (bit 5): the TPM generated the private part.
    pub const SENSITIVE_DATA_ORIGIN: u32 = 1 << 5;
    /// userWithAuth (bit 6).
    pub const USER_WITH_AUTH: u32 = 1 << 6;
    /// adminWithPolicy (bit 7).
    pub const ADMIN_WITH_POLICY: u32 = 1 << 7;
    /// noDA (bit 10).
    pub const NO_DA: u32 = 1 << 10;
    /// encryptedDuplication (bit 11).
    pub const ENCRYPTED_DUPLICATION: u32 = 1 << 11;
    /// restricted (bit 16): signs only TPM-generated structures (an AK) or
    /// decrypts only TPM-formatted blobs (an EK, a storage key).
    pub const RESTRICTED: u32 = 1 << 16;
    /// decrypt (bit 17).
    pub const DECRYPT: u32 = 1 << 17;
    /// sign / encrypt (bit 18).
    pub const SIGN: u32 = 1 << 18;

    /// True when every bit of `mask` is set.
    pub fn has(self, mask: u32) -> bool {
        self.0 & mask == mask
    }
}

impl fmt::Debug for ObjectAttributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#010x}", self.0)
    }
}

impl fmt::Display for ObjectAttributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#010x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_values_print_hex() {
        assert_eq!(AlgId::RSASSA.to_string(), "rsassa");
        assert_eq!(AlgId(0x00ee).to_string(), "0x00ee");
        assert_eq!(StructureTag(0x8099).to_string(), "0x8099");
        assert_eq!(Generated(0x1234).to_string(), "0x00001234");
        assert_eq!(EccCurve::NIST_P384.coordinate_len(), Some(48));
    }
}

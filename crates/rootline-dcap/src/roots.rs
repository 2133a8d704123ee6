//! The Intel SGX Root CA, pinned in the binary.
//!
//! `roots/intel_sgx_root_ca.der` is Intel's public "Intel SGX Root CA"
//! certificate (Intel_SGX_Provisioning_Certification_RootCA.cer, SHA-256
//! 44a0196b...74d3). It is byte-for-byte the certificate dcap-qvl 0.7 embeds
//! as its own production root (`TRUSTED_ROOT_CA_DER`, compared byte for byte
//! when this file was written; dcap-qvl does not export it), but
//! we never rely on that: every dcap-qvl call is given this root explicitly
//! through `QuoteVerifier::new`, and our own path takes it as an input too.

/// DER of the Intel SGX Root CA.
pub const INTEL_SGX_ROOT_CA_DER: &[u8] = include_bytes!("../roots/intel_sgx_root_ca.der");

/// SHA-256 of [`INTEL_SGX_ROOT_CA_DER`], lower-case hex.
pub const INTEL_SGX_ROOT_CA_SHA256: &str =
    "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_root_is_the_one_named() {
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, INTEL_SGX_ROOT_CA_DER);
        assert_eq!(hex::encode(d.as_ref()), INTEL_SGX_ROOT_CA_SHA256);
    }
}

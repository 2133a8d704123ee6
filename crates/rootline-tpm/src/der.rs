//! The few DER encodings this crate writes: SubjectPublicKeyInfo for RSA and
//! EC keys (for fingerprints and for aws-lc-rs's OAEP key import) and ECDSA
//! signatures. Writing DER is not parsing; everything read from outside goes
//! through x509-parser or the bounded reader.

use rootline_core::der::tlv;

/// rsaEncryption, 1.2.840.113549.1.1.1.
const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// id-ecPublicKey, 1.2.840.10045.2.1.
const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// prime256v1, 1.2.840.10045.3.1.7.
pub(crate) const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// secp384r1, 1.3.132.0.34.
pub(crate) const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
/// secp521r1, 1.3.132.0.35.
pub(crate) const OID_P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];

/// An unsigned big-endian integer as a DER INTEGER.
pub(crate) fn uint(bytes: &[u8]) -> Vec<u8> {
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    let trimmed = bytes.get(skip..).unwrap_or(&[]);
    let mut content = Vec::with_capacity(trimmed.len() + 1);
    if trimmed.first().is_none_or(|b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend_from_slice(trimmed);
    tlv(0x02, &content)
}

pub(crate) fn sequence(parts: &[&[u8]]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

fn bit_string(content: &[u8]) -> Vec<u8> {
    let mut c = vec![0u8];
    c.extend_from_slice(content);
    tlv(0x03, &c)
}

/// RSAPublicKey (PKCS #1): what aws-lc-rs's RSA verifiers take.
pub(crate) fn rsa_public_key(n: &[u8], e: &[u8]) -> Vec<u8> {
    sequence(&[&uint(n), &uint(e)])
}

/// SubjectPublicKeyInfo of an RSA key.
pub(crate) fn rsa_spki(n: &[u8], e: &[u8]) -> Vec<u8> {
    let alg = sequence(&[&tlv(0x06, OID_RSA), &[0x05, 0x00]]);
    sequence(&[&alg, &bit_string(&rsa_public_key(n, e))])
}

/// SubjectPublicKeyInfo of an EC key given its curve OID and uncompressed point.
pub(crate) fn ec_spki(curve_oid: &[u8], point: &[u8]) -> Vec<u8> {
    let alg = sequence(&[&tlv(0x06, OID_EC), &tlv(0x06, curve_oid)]);
    sequence(&[&alg, &bit_string(point)])
}

/// Ecdsa-Sig-Value from big-endian r and s.
pub(crate) fn ecdsa_sig(r: &[u8], s: &[u8]) -> Vec<u8> {
    sequence(&[&uint(r), &uint(s)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_minimal_and_positive() {
        assert_eq!(uint(&[0, 0, 0x7f]), vec![2, 1, 0x7f]);
        assert_eq!(uint(&[0x80]), vec![2, 2, 0, 0x80]);
        assert_eq!(uint(&[]), vec![2, 1, 0]);
        let long = tlv(0x04, &[0u8; 300]);
        assert_eq!(&long[..4], &[0x04, 0x82, 0x01, 0x2c]);
    }
}

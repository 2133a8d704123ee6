//! Writing DER: the one TLV encoder for the few structures rootline builds
//! (SubjectPublicKeyInfo for fingerprints and key import, OCSP requests,
//! test fixtures). Writing is not parsing; what is read from outside goes
//! through x509-parser or a bounded reader.

/// One DER TLV of a low-number `tag`, with a definite length in its minimal
/// form (X.690 §8.1.3, §10.1).
pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let len = content.len();
    let mut out = Vec::with_capacity(len + 10);
    out.push(tag);
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        let significant = bytes.get(skip..).unwrap_or_default();
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
    out.extend_from_slice(content);
    out
}

#[cfg(test)]
mod tests {
    use super::tlv;

    #[test]
    fn lengths_take_the_short_form_then_the_fewest_octets() {
        assert_eq!(tlv(0x04, &[1, 2]), [0x04, 2, 1, 2]);
        assert_eq!(tlv(0x04, &[0; 0x7f])[..2], [0x04, 0x7f]);
        assert_eq!(tlv(0x04, &[0; 0x80])[..3], [0x04, 0x81, 0x80]);
        assert_eq!(tlv(0x30, &[0; 0x100])[..4], [0x30, 0x82, 0x01, 0x00]);
        assert_eq!(
            tlv(0x30, &[0; 0x1_0000])[..5],
            [0x30, 0x83, 0x01, 0x00, 0x00]
        );
        assert_eq!(tlv(0x30, &[0; 300]).len(), 4 + 300);
    }
}

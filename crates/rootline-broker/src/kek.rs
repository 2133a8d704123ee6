//! Secrets at rest: AES-256-GCM under a key-encryption key (KEK).
//!
//! Every sealed value is `base64(nonce || ciphertext || tag)` with a fresh
//! 96-bit random nonce, and the row's name as additional authenticated data,
//! so a sealed value moved to another row (or another table) fails to open.
//! The KEK comes from a file or the environment and never enters the store.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::error::{Error, Result};

/// The key-encryption key.
pub struct Kek {
    key: LessSafeKey,
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kek(<redacted>)")
    }
}

impl Kek {
    /// A KEK from 32 raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let key = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| {
            Error::Config(format!("the KEK is {} bytes; it must be 32", bytes.len()))
        })?;
        Ok(Self {
            key: LessSafeKey::new(key),
        })
    }

    /// A KEK from text: 64 hex digits or base64 of 32 bytes (surrounding
    /// whitespace ignored), or a file holding exactly 32 raw bytes.
    pub fn from_text_or_raw(bytes: &[u8]) -> Result<Self> {
        if bytes.len() == 32 {
            return Self::from_bytes(bytes);
        }
        let text = std::str::from_utf8(bytes)
            .map_err(|_| Error::Config("the KEK is neither 32 raw bytes nor text".into()))?
            .trim();
        if let Ok(raw) = hex::decode(text) {
            return Self::from_bytes(&raw);
        }
        if let Ok(raw) = STANDARD.decode(text) {
            return Self::from_bytes(&raw);
        }
        Err(Error::Config(
            "the KEK must be 64 hex digits, base64 of 32 bytes, or 32 raw bytes".into(),
        ))
    }

    /// A fresh random KEK (its 32 bytes are returned so that they can be saved).
    pub fn generate() -> Result<(Self, [u8; 32])> {
        let mut raw = [0u8; 32];
        SystemRandom::new()
            .fill(&mut raw)
            .map_err(|_| Error::Crypto("random generator failed".into()))?;
        Ok((Self::from_bytes(&raw)?, raw))
    }

    /// Seals `plaintext`, bound to `name`.
    pub fn seal(&self, name: &str, plaintext: &[u8]) -> Result<String> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| Error::Crypto("random generator failed".into()))?;
        let mut buf = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(name.as_bytes()),
                &mut buf,
            )
            .map_err(|_| Error::Crypto("sealing failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(STANDARD.encode(out))
    }

    /// Opens a value sealed for `name`.
    pub fn open(&self, name: &str, sealed: &str) -> Result<Vec<u8>> {
        let raw = STANDARD
            .decode(sealed)
            .map_err(|_| Error::Crypto(format!("sealed value for {name} is not base64")))?;
        let (nonce, ct) = raw
            .split_at_checked(NONCE_LEN)
            .ok_or_else(|| Error::Crypto(format!("sealed value for {name} is truncated")))?;
        let nonce = Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| Error::Crypto("bad nonce".into()))?;
        let mut buf = ct.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(name.as_bytes()), &mut buf)
            .map_err(|_| {
                Error::Crypto(format!(
                    "sealed value for {name} does not open under this KEK (wrong KEK or tampered row)"
                ))
            })?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_bound_to_name() {
        let (k, raw) = Kek::generate().unwrap();
        let s = k.seal("repo/key/1", b"secret").unwrap();
        assert_eq!(k.open("repo/key/1", &s).unwrap(), b"secret");
        assert!(k.open("repo/key/2", &s).is_err(), "moved row must not open");
        let other = Kek::from_bytes(&[7u8; 32]).unwrap();
        assert!(
            other.open("repo/key/1", &s).is_err(),
            "wrong KEK must not open"
        );
        let again = Kek::from_text_or_raw(hex::encode(raw).as_bytes()).unwrap();
        assert_eq!(again.open("repo/key/1", &s).unwrap(), b"secret");
        assert!(Kek::from_text_or_raw(b"short").is_err());
    }
}

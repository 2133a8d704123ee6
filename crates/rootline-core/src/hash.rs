//! Hash algorithms as the TPM names them, and the digests they produce.
//!
//! Event logs, PCR banks, RTMRs and report-data bindings all name algorithms by
//! TPM_ALG_ID (TCG TPM 2.0 Library Part 2, section 6.3). Unknown identifiers
//! survive as values and print in hex, so a log with a bank we cannot hash is
//! still readable.

use std::fmt;

use aws_lc_rs::digest;
use serde::{Serialize, Serializer};
use sm3::Digest as _;

/// A TPM_ALG_ID naming a hash algorithm (TPM 2.0 Part 2, 6.3).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HashAlg(pub u16);

impl HashAlg {
    /// TPM_ALG_SHA1 (0x0004).
    pub const SHA1: Self = Self(0x0004);
    /// TPM_ALG_SHA256 (0x000B).
    pub const SHA256: Self = Self(0x000B);
    /// TPM_ALG_SHA384 (0x000C).
    pub const SHA384: Self = Self(0x000C);
    /// TPM_ALG_SHA512 (0x000D).
    pub const SHA512: Self = Self(0x000D);
    /// TPM_ALG_SM3_256 (0x0012).
    pub const SM3_256: Self = Self(0x0012);

    /// Every algorithm rootline can compute, in bank order.
    pub const KNOWN: [Self; 5] = [
        Self::SHA1,
        Self::SHA256,
        Self::SHA384,
        Self::SHA512,
        Self::SM3_256,
    ];

    /// The name used in JSON output and on the command line (`sha256`).
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::SHA1 => "sha1",
            Self::SHA256 => "sha256",
            Self::SHA384 => "sha384",
            Self::SHA512 => "sha512",
            Self::SM3_256 => "sm3_256",
            _ => return None,
        })
    }

    /// Parses `sha256`, `SHA-256`, `sm3` and the like.
    pub fn from_name(name: &str) -> Option<Self> {
        let n: String = name
            .chars()
            .filter(|c| *c != '-' && *c != '_')
            .collect::<String>()
            .to_ascii_lowercase();
        Some(match n.as_str() {
            "sha1" => Self::SHA1,
            "sha256" => Self::SHA256,
            "sha384" => Self::SHA384,
            "sha512" => Self::SHA512,
            "sm3" | "sm3256" => Self::SM3_256,
            _ => return None,
        })
    }

    /// Digest length in bytes, for the algorithms rootline knows.
    pub fn digest_len(self) -> Option<usize> {
        Some(match self {
            Self::SHA1 => 20,
            Self::SHA256 | Self::SM3_256 => 32,
            Self::SHA384 => 48,
            Self::SHA512 => 64,
            _ => return None,
        })
    }

    /// A hasher for this algorithm, or `None` when rootline cannot compute it.
    pub fn hasher(self) -> Option<Hasher> {
        let alg: &'static digest::Algorithm = match self {
            Self::SHA1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            Self::SHA256 => &digest::SHA256,
            Self::SHA384 => &digest::SHA384,
            Self::SHA512 => &digest::SHA512,
            Self::SM3_256 => return Some(Hasher(HasherInner::Sm3(Box::default()))),
            _ => return None,
        };
        Some(Hasher(HasherInner::AwsLc(digest::Context::new(alg))))
    }

    /// Hashes `data` in one call.
    pub fn hash(self, data: &[u8]) -> Option<Digest> {
        let mut h = self.hasher()?;
        h.update(data);
        Some(h.finish())
    }

    /// A register of this bank in its reset state (all zero).
    pub fn zero(self) -> Option<Digest> {
        Some(Digest {
            alg: self,
            bytes: vec![0; self.digest_len()?],
        })
    }
}

impl fmt::Display for HashAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "alg_0x{:04x}", self.0),
        }
    }
}

impl fmt::Debug for HashAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for HashAlg {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A running hash. aws-lc-rs for the SHA family; the RustCrypto `sm3` crate
/// only for SM3, which aws-lc-rs does not offer.
pub struct Hasher(HasherInner);

enum HasherInner {
    AwsLc(digest::Context),
    Sm3(Box<sm3::Sm3>),
}

impl Hasher {
    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.0 {
            HasherInner::AwsLc(c) => c.update(data),
            HasherInner::Sm3(c) => c.update(data),
        }
    }

    /// Finishes the hash.
    pub fn finish(self) -> Digest {
        match self.0 {
            HasherInner::AwsLc(c) => {
                let alg = match c.algorithm().output_len() {
                    20 => HashAlg::SHA1,
                    32 => HashAlg::SHA256,
                    48 => HashAlg::SHA384,
                    _ => HashAlg::SHA512,
                };
                Digest {
                    alg,
                    bytes: c.finish().as_ref().to_vec(),
                }
            }
            HasherInner::Sm3(c) => Digest {
                alg: HashAlg::SM3_256,
                bytes: c.finalize().to_vec(),
            },
        }
    }
}

/// A digest tagged with its algorithm.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Digest {
    /// The algorithm that produced it.
    pub alg: HashAlg,
    /// The digest bytes.
    pub bytes: Vec<u8>,
}

impl Digest {
    /// Wraps bytes known to be a digest of `alg`.
    pub fn new(alg: HashAlg, bytes: impl Into<Vec<u8>>) -> Self {
        Self {
            alg,
            bytes: bytes.into(),
        }
    }

    /// The register extend operation: `self = H(self || measurement)`.
    ///
    /// Returns `None` when the algorithm cannot be computed here.
    pub fn extend(&mut self, measurement: &[u8]) -> Option<()> {
        let mut h = self.alg.hasher()?;
        h.update(&self.bytes);
        h.update(measurement);
        self.bytes = h.finish().bytes;
        Some(())
    }

    /// Lower-case hex of the bytes.
    pub fn hex(&self) -> String {
        hex::encode(&self.bytes)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.alg, self.hex())
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers() {
        // FIPS 180-2 "abc" vectors and GB/T 32905 "abc".
        let cases = [
            (HashAlg::SHA1, "a9993e364706816aba3e25717850c26c9cd0d89d"),
            (
                HashAlg::SHA256,
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
            (
                HashAlg::SM3_256,
                "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0",
            ),
        ];
        for (alg, want) in cases {
            assert_eq!(alg.hash(b"abc").unwrap().hex(), want, "{alg}");
        }
        assert_eq!(HashAlg::SHA384.hash(b"").unwrap().bytes.len(), 48);
        assert_eq!(HashAlg::SHA512.hash(b"").unwrap().bytes.len(), 64);
    }

    #[test]
    fn extend_matches_definition() {
        let mut pcr = HashAlg::SHA256.zero().unwrap();
        let m = HashAlg::SHA256.hash(b"m").unwrap();
        pcr.extend(&m.bytes).unwrap();
        let mut cat = vec![0u8; 32];
        cat.extend_from_slice(&m.bytes);
        assert_eq!(pcr, HashAlg::SHA256.hash(&cat).unwrap());
    }

    #[test]
    fn unknown_alg_prints_hex_and_cannot_hash() {
        let a = HashAlg(0x00ab);
        assert_eq!(a.to_string(), "alg_0x00ab");
        assert!(a.hash(b"x").is_none());
        assert_eq!(HashAlg::from_name("SHA-384"), Some(HashAlg::SHA384));
    }
}

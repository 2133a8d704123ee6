//! The CCA attestation token: the tag-399 collection, its two COSE_Sign1
//! tokens, and the checks that tie them together.

use ciborium::Value;
use rootline_core::Verified;

use crate::anchors::TrustAnchors;
use crate::claims::{self, CHALLENGE_LEN, Claims, PlatformClaims, Rak, read_cbor};
use crate::cose::{self, CoseAlg, Sign1};
use crate::error::{Error, Part, Result, malformed};

/// The CBOR tag of the CCA token collection (RMM v1.0, A7.2.1).
pub const CBOR_TAG: u64 = 399;
/// The collection key of the platform token.
pub const PLATFORM_TOKEN_KEY: i128 = 44234;
/// The collection key of the realm delegated token.
pub const REALM_TOKEN_KEY: i128 = 44241;

/// The largest token accepted. Tokens from TF-A/TF-RMM are 1 to 3 KiB; the
/// limit leaves room for many software components and bounds the memory a
/// hostile token can make the decoder use.
pub const MAX_TOKEN_LEN: usize = 64 * 1024;

/// A decoded CCA attestation token: its claims, and for each of the two
/// COSE_Sign1 tokens the algorithm, signature and signed bytes as received.
///
/// [`Token::parse`] checks structure only. Each `check_*` method performs one
/// of the checks [`crate::verify`] makes, so that a caller explaining a
/// rejection can report every one of them; only [`Token::verify`] (or
/// [`crate::verify`]) yields [`Verified`] claims.
#[derive(Clone, Debug)]
pub struct Token {
    claims: Claims,
    platform: Sign1,
    realm: Sign1,
    rak: Rak,
}

impl Token {
    /// Decodes a token (the tag-399 collection) without verifying anything.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_TOKEN_LEN {
            return Err(Error::TooLarge {
                what: "CCA token",
                len: bytes.len(),
                max: MAX_TOKEN_LEN,
            });
        }
        let (platform_raw, realm_raw) = collection(bytes)?;
        let platform = cose::parse_sign1(&platform_raw, Part::Platform)?;
        let realm = cose::parse_sign1(&realm_raw, Part::Realm)?;
        let platform_claims = PlatformClaims::from_cbor(&platform.payload)?;
        let (realm_claims, rak) = claims::decode_realm(&realm.payload)?;
        Ok(Self {
            claims: Claims {
                platform: platform_claims,
                realm: realm_claims,
            },
            platform,
            realm,
            rak,
        })
    }

    /// The claims (not verified unless this token passed [`Token::verify`]).
    pub fn claims(&self) -> &Claims {
        &self.claims
    }

    /// The claims, consuming the token.
    pub fn into_claims(self) -> Claims {
        self.claims
    }

    /// The platform token's COSE algorithm.
    pub fn platform_alg(&self) -> CoseAlg {
        self.platform.alg
    }

    /// The realm token's COSE algorithm.
    pub fn realm_alg(&self) -> CoseAlg {
        self.realm.alg
    }

    /// Check 1: a trust anchor that names this platform (instance ID, and
    /// implementation ID when the anchor gives one) verifies the platform
    /// token's signature.
    pub fn check_platform_signature(&self, anchors: &TrustAnchors) -> Result<()> {
        let pc = &self.claims.platform;
        let candidates: Vec<_> = anchors
            .cpaks()
            .iter()
            .filter(|c| c.names(&pc.implementation_id, &pc.instance_id))
            .collect();
        if candidates.is_empty() {
            return Err(Error::UnknownPlatform {
                instance_id: hex::encode(pc.instance_id),
                implementation_id: hex::encode(pc.implementation_id),
            });
        }
        let mut reasons = Vec::new();
        for c in &candidates {
            match c.verify(
                self.platform.alg,
                &self.platform.tbs,
                &self.platform.signature,
            ) {
                Ok(()) => return Ok(()),
                Err(r) => reasons.push(r),
            }
        }
        reasons.dedup();
        reasons.truncate(4);
        Err(Error::BadSignature {
            part: Part::Platform,
            reason: format!(
                "{} trust anchor(s) name this platform, none verifies: {}",
                candidates.len(),
                reasons.join("; ")
            ),
        })
    }

    /// Check 2: the realm token is signed by the realm attestation key its
    /// own claims carry (and the key's COSE algorithm, if it names one, is
    /// the token's).
    pub fn check_realm_signature(&self) -> Result<()> {
        let alg = self.realm.alg;
        if let Some(a) = self.rak.alg.filter(|a| *a != alg) {
            return Err(Error::BadSignature {
                part: Part::Realm,
                reason: format!("the realm public key is for {a}, the token uses {alg}"),
            });
        }
        self.realm
            .verify(&self.rak.key)
            .map_err(|reason| Error::BadSignature {
                part: Part::Realm,
                reason: format!("realm public key: {reason}"),
            })
    }

    /// Check 3: the platform challenge is the hash (by the realm's
    /// public-key hash algorithm) of the realm public key as received, so the
    /// platform vouches for the key that signed the realm token.
    pub fn check_binding(&self) -> Result<()> {
        let r = &self.claims.realm;
        let alg = r.public_key_hash_alg;
        let hash = alg.hash(&r.public_key).ok_or_else(|| Error::Unsupported {
            field: "realm public-key hash algorithm",
            value: alg.to_string(),
        })?;
        let challenge = &self.claims.platform.challenge;
        if hash.bytes == *challenge {
            Ok(())
        } else {
            Err(Error::Binding {
                alg: alg.to_string(),
                challenge: hex::encode(challenge),
                hash: hash.hex(),
            })
        }
    }

    /// Check 4: the realm challenge equals the caller's nonce, zero-padded
    /// to 64 bytes (see [`expected_challenge`]).
    pub fn check_nonce(&self, nonce: &[u8]) -> Result<()> {
        let want = expected_challenge(nonce)?;
        if want == self.claims.realm.challenge {
            Ok(())
        } else {
            Err(Error::Nonce(format!(
                "{} is not the expected {}",
                hex::encode(self.claims.realm.challenge),
                hex::encode(want)
            )))
        }
    }

    /// Runs every check, in the order above, and marks the claims verified.
    pub fn verify(self, anchors: &TrustAnchors, nonce: Option<&[u8]>) -> Result<Verified<Claims>> {
        self.check_platform_signature(anchors)?;
        self.check_realm_signature()?;
        self.check_binding()?;
        if let Some(n) = nonce {
            self.check_nonce(n)?;
        }
        Ok(Verified::new(self.claims))
    }
}

/// The 64-byte realm challenge a caller's nonce must appear as.
///
/// A nonce shorter than 64 bytes is zero-padded at the end; this matches both
/// peers: guest-components' CCA attester pads the report data it is given
/// with zeros to 64 bytes (and refuses more), and trustee's CCA verifier pads
/// the expected report data the same way (`regularize_data(.., 64, ..)`)
/// before comparing it with the realm challenge. Unlike trustee, which
/// truncates a longer value to 64 bytes, a nonce longer than 64 bytes is an
/// error here (the attester could never have sent it), and so is an empty one
/// (it would expect an all-zero challenge, i.e. no freshness).
pub fn expected_challenge(nonce: &[u8]) -> Result<[u8; CHALLENGE_LEN]> {
    if nonce.is_empty() {
        return Err(Error::Nonce("the expected nonce is empty".into()));
    }
    if nonce.len() > CHALLENGE_LEN {
        return Err(Error::Nonce(format!(
            "the expected nonce is {} bytes, more than the {CHALLENGE_LEN} a realm challenge holds",
            nonce.len()
        )));
    }
    let mut c = [0u8; CHALLENGE_LEN];
    for (d, s) in c.iter_mut().zip(nonce) {
        *d = *s;
    }
    Ok(c)
}

/// The two COSE_Sign1 byte strings of the tag-399 collection. Both are
/// mandatory; another key, a repeated key or a trailing byte is rejected.
fn collection(bytes: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    const C: Part = Part::Collection;
    let v = read_cbor(bytes, C, "collection")?;
    let inner = match v {
        Value::Tag(CBOR_TAG, inner) => *inner,
        Value::Tag(t, _) => return Err(malformed(C, format!("CBOR tag {t}, expected {CBOR_TAG}"))),
        _ => return Err(malformed(C, format!("not CBOR tag {CBOR_TAG}"))),
    };
    let Value::Map(entries) = inner else {
        return Err(malformed(C, "not a CBOR map"));
    };
    let (mut platform, mut realm) = (None, None);
    for (k, v) in entries {
        let key = match k {
            Value::Integer(i) => i128::from(i),
            _ => return Err(malformed(C, "non-integer key")),
        };
        let slot = match key {
            PLATFORM_TOKEN_KEY => &mut platform,
            REALM_TOKEN_KEY => &mut realm,
            other => return Err(malformed(C, format!("unknown key {other}"))),
        };
        let Value::Bytes(b) = v else {
            return Err(malformed(C, format!("key {key} is not a byte string")));
        };
        if slot.replace(b).is_some() {
            return Err(malformed(C, format!("duplicated key {key}")));
        }
    }
    let platform = platform
        .ok_or_else(|| malformed(C, format!("no platform token ({PLATFORM_TOKEN_KEY})")))?;
    let realm = realm.ok_or_else(|| malformed(C, format!("no realm token ({REALM_TOKEN_KEY})")))?;
    Ok((platform, realm))
}

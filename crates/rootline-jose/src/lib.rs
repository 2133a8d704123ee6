//! The JOSE pieces of the KBS protocol, shared by the attester (which
//! decrypts, [`TeeKey::decrypt`]) and the broker (which encrypts,
//! [`encrypt`]): one composition of the primitives for both directions.
//!
//! A KBS resource travels as a flattened JWE (RFC 7516 section 7.2.2)
//! encrypted to the `tee-pubkey` the workload attested. Key management:
//! `ECDH-ES+A256KW` (RFC 7518 section 4.6) on P-256, P-384 or P-521, or
//! `RSA-OAEP-256` (section 4.3); content encryption `A256GCM` (section 5.3).
//! Every primitive is aws-lc-rs (ECDH, the SP 800-56A single-step KDF that
//! RFC 7518 calls Concat KDF, RFC 3394 key wrap, AES-GCM, RSA-OAEP); only
//! the composition is written here.
//!
//! The additional authenticated data is the ASCII of the `protected` member
//! exactly as received (RFC 7516 section 5.2 step 14), never a
//! re-serialisation of the parsed header, so JWEs from any producer
//! (Trustee orders its header members differently) decrypt.
//!
//! Non-goals: no JWS/JWT (tokens are `rootline-policy`'s and the broker's),
//! no compact serialisation, no other algorithms.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::agreement::{self, ECDH_P256, ECDH_P384, ECDH_P521, UnparsedPublicKey};
use aws_lc_rs::kdf::{SskdfDigestAlgorithmId, get_sskdf_digest_algorithm, sskdf_digest};
use aws_lc_rs::key_wrap::{AES_256, AesKek, KeyWrap as _};
use aws_lc_rs::rsa::{OAEP_SHA256_MGF1SHA256, OaepPrivateDecryptingKey, PrivateDecryptingKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

/// `alg` for ECDH-ES with AES-256 key wrap.
pub const ECDH_ES_A256KW: &str = "ECDH-ES+A256KW";
/// `alg` for RSA-OAEP with SHA-256 and MGF1-SHA-256.
pub const RSA_OAEP_256: &str = "RSA-OAEP-256";
/// `enc` for AES-256-GCM.
pub const A256GCM: &str = "A256GCM";

/// A JWE larger than this is refused before parsing (KBS resources are keys
/// and small files).
pub const MAX_JWE: usize = 16 << 20;

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The JWE or a key is malformed: which member, and why.
    #[error("jwe {field}: {reason}")]
    Malformed {
        /// The member.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// An algorithm, curve or key type this crate does not offer.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// Decryption or key agreement failed (wrong key, or tampered content).
    #[error("{0}")]
    Crypto(&'static str),
}

fn malformed(field: &'static str, reason: impl Into<String>) -> Error {
    Error::Malformed {
        field,
        reason: reason.into(),
    }
}

/// base64url without padding (RFC 7515 section 2).
pub fn b64(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

/// Decodes base64url, padded or not.
pub fn unb64(field: &'static str, text: &str) -> Result<Vec<u8>, Error> {
    URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|_| malformed(field, "not base64url"))
}

/// Concat KDF of RFC 7518 section 4.6.2: `OtherInfo = AlgorithmID ||
/// PartyUInfo || PartyVInfo || SuppPubInfo`, the first three as 32-bit
/// big-endian length and octets, SuppPubInfo the key length in bits.
pub fn concat_kdf(
    z: &[u8],
    alg_id: &str,
    apu: &[u8],
    apv: &[u8],
    out: &mut [u8],
) -> Result<(), Error> {
    let mut info = Vec::with_capacity(16 + alg_id.len() + apu.len() + apv.len());
    for part in [alg_id.as_bytes(), apu, apv] {
        let len = u32::try_from(part.len()).map_err(|_| Error::Crypto("kdf input too long"))?;
        info.extend_from_slice(&len.to_be_bytes());
        info.extend_from_slice(part);
    }
    let bits = u32::try_from(out.len() * 8).map_err(|_| Error::Crypto("kdf output too long"))?;
    info.extend_from_slice(&bits.to_be_bytes());
    let alg = get_sskdf_digest_algorithm(SskdfDigestAlgorithmId::Sha256)
        .ok_or(Error::Crypto("SSKDF with SHA-256 is unavailable"))?;
    sskdf_digest(alg, z, &info, out).map_err(|_| Error::Crypto("concat kdf failed"))
}

/// A sealed resource: the members of a flattened JWE except the protected
/// header's serialisation, which is the caller's (see [`encrypt`]).
#[derive(Debug, Clone)]
pub struct Sealed {
    /// `alg` of the protected header.
    pub alg: &'static str,
    /// Its other members besides `alg` and `enc` (`epk` for ECDH-ES).
    pub header: Map<String, Value>,
    /// The content-encryption key, wrapped or encrypted to the recipient.
    pub encrypted_key: Vec<u8>,
    /// The AES-GCM nonce.
    pub iv: [u8; 12],
    /// The ciphertext.
    pub ciphertext: Vec<u8>,
    /// The AES-GCM tag.
    pub tag: Vec<u8>,
}

fn random<const N: usize>() -> Result<[u8; N], Error> {
    use aws_lc_rs::rand::SecureRandom as _;
    let mut out = [0u8; N];
    aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut out)
        .map_err(|_| Error::Crypto("random generator failed"))?;
    Ok(out)
}

/// Encrypts `plaintext` to the public JWK `jwk` (`kty` EC with `crv`
/// P-256/P-384/P-521, or RSA with `alg` RSA-OAEP-256 and at least 2048
/// bits): a fresh content key, wrapped by `ECDH-ES+A256KW` or encrypted by
/// `RSA-OAEP-256`, and `A256GCM` content encryption whose additional data
/// is what `aad` returns for the protected header (`alg`, `enc` and the
/// other members given to it). The serialisation of that header is the
/// caller's: the bytes it sends must be the bytes it authenticates
/// (the KBS broker uses `kbs-types`' own, which guests re-derive).
pub fn encrypt(
    jwk: &Value,
    plaintext: &[u8],
    aad: impl FnOnce(&'static str, &Map<String, Value>) -> Result<Vec<u8>, Error>,
) -> Result<Sealed, Error> {
    let field = |k: &'static str| -> Result<&str, Error> {
        jwk.get(k)
            .and_then(Value::as_str)
            .ok_or_else(|| malformed("tee-pubkey", format!("no {k} string")))
    };
    let cek: [u8; 32] = random()?;
    let (alg, header, encrypted_key) = match field("kty")? {
        "EC" => {
            if let Some(alg) = jwk.get("alg").and_then(Value::as_str) {
                if !alg.is_empty() && alg != ECDH_ES_A256KW {
                    return Err(Error::Unsupported(format!(
                        "EC tee-pubkey alg {alg:?}; expected {ECDH_ES_A256KW}"
                    )));
                }
            }
            let crv = field("crv")?;
            let (calg, len) = curve_of(crv)?;
            let (x, y) = (
                unb64("tee-pubkey", field("x")?)?,
                unb64("tee-pubkey", field("y")?)?,
            );
            if x.len() != len || y.len() != len {
                return Err(malformed(
                    "tee-pubkey",
                    format!("{crv} coordinates must be {len} bytes each"),
                ));
            }
            let mut point = Vec::with_capacity(1 + 2 * len);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            let eph = agreement::PrivateKey::generate(calg)
                .map_err(|_| Error::Crypto("ephemeral key generation failed"))?;
            let epk = eph
                .compute_public_key()
                .map_err(|_| Error::Crypto("ephemeral public key failed"))?;
            let epk = epk.as_ref();
            let (ex, ey) = epk
                .get(1..1 + len)
                .zip(epk.get(1 + len..1 + 2 * len))
                .ok_or(Error::Crypto("ephemeral public key has an odd size"))?;
            let mut kek = [0u8; 32];
            agreement::agree(
                &eph,
                UnparsedPublicKey::new(calg, &point),
                malformed("tee-pubkey", "not a valid point on its curve"),
                |z| concat_kdf(z, ECDH_ES_A256KW, b"", b"", &mut kek),
            )?;
            let mut wrapped = [0u8; 40];
            let w = AesKek::new(&AES_256, &kek)
                .map_err(|_| Error::Crypto("key wrap key rejected"))?
                .wrap(&cek, &mut wrapped)
                .map_err(|_| Error::Crypto("key wrap failed"))?
                .to_vec();
            let mut header = Map::new();
            // Members in sorted order (see the broker's `jwe`): the one
            // form that every re-serialisation of the parsed header gives.
            header.insert(
                "epk".into(),
                json!({"crv": crv, "kty": "EC", "x": b64(ex), "y": b64(ey)}),
            );
            (ECDH_ES_A256KW, header, w)
        }
        "RSA" => {
            let alg = field("alg")?;
            if alg != RSA_OAEP_256 {
                return Err(Error::Unsupported(format!(
                    "RSA tee-pubkey alg {alg:?}; only {RSA_OAEP_256} is offered (RSA1_5 is refused)"
                )));
            }
            let (n, e) = (
                unb64("tee-pubkey", field("n")?)?,
                unb64("tee-pubkey", field("e")?)?,
            );
            let der = rsa_spki_der(&n, &e)?;
            let pk = aws_lc_rs::rsa::PublicEncryptingKey::from_der(&der)
                .map_err(|_| malformed("tee-pubkey", "not a usable RSA key"))?;
            if pk.key_size_bits() < 2048 {
                return Err(Error::Unsupported(format!(
                    "RSA tee-pubkey of {} bits; at least 2048 required",
                    pk.key_size_bits()
                )));
            }
            let oaep = aws_lc_rs::rsa::OaepPublicEncryptingKey::new(pk)
                .map_err(|_| malformed("tee-pubkey", "not a usable RSA key"))?;
            let mut out = vec![0u8; oaep.ciphertext_size()];
            let ct = oaep
                .encrypt(&OAEP_SHA256_MGF1SHA256, &cek, &mut out, None)
                .map_err(|_| Error::Crypto("RSA-OAEP failed"))?
                .to_vec();
            (RSA_OAEP_256, Map::new(), ct)
        }
        other => {
            return Err(Error::Unsupported(format!(
                "tee-pubkey kty {other:?}; use an EC (P-256, P-384, P-521) or RSA key"
            )));
        }
    };
    let aad = aad(alg, &header)?;
    let iv: [u8; 12] = random()?;
    let key = LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, &cek).map_err(|_| Error::Crypto("cek rejected"))?,
    );
    let mut ciphertext = plaintext.to_vec();
    let tag = key
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(iv),
            Aad::from(&aad),
            &mut ciphertext,
        )
        .map_err(|_| Error::Crypto("AES-GCM failed"))?;
    Ok(Sealed {
        alg,
        header,
        encrypted_key,
        iv,
        ciphertext,
        tag: tag.as_ref().to_vec(),
    })
}

/// DER length octets (X.690 section 8.1.3).
fn der_len(len: usize, out: &mut Vec<u8>) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        let body = bytes.get(skip..).unwrap_or_default();
        out.push(0x80 | body.len() as u8);
        out.extend_from_slice(body);
    }
}

fn der_tlv(tag: u8, body: &[u8], out: &mut Vec<u8>) {
    out.push(tag);
    der_len(body.len(), out);
    out.extend_from_slice(body);
}

fn der_uint(bytes: &[u8], out: &mut Vec<u8>) {
    let start = bytes.iter().take_while(|b| **b == 0).count();
    let v = bytes.get(start..).unwrap_or_default();
    let mut body = Vec::with_capacity(v.len() + 1);
    if v.first().is_none_or(|b| b & 0x80 != 0) {
        body.push(0);
    }
    body.extend_from_slice(v);
    der_tlv(0x02, &body, out);
}

/// SubjectPublicKeyInfo for an RSA key from its JWK modulus and exponent
/// (RFC 8017 appendix A.1.1 inside RFC 5280 section 4.1), because aws-lc-rs
/// builds encrypting keys only from DER.
fn rsa_spki_der(n: &[u8], e: &[u8]) -> Result<Vec<u8>, Error> {
    if n.is_empty() || e.is_empty() || n.len() > 2048 || e.len() > 8 {
        return Err(malformed("tee-pubkey", "RSA n or e has a bad size"));
    }
    let mut ints = Vec::new();
    der_uint(n, &mut ints);
    der_uint(e, &mut ints);
    let mut rsa_key = Vec::new();
    der_tlv(0x30, &ints, &mut rsa_key);
    let mut bitstring = vec![0u8];
    bitstring.extend_from_slice(&rsa_key);
    // AlgorithmIdentifier { rsaEncryption (1.2.840.113549.1.1.1), NULL }
    let mut body = vec![
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    der_tlv(0x03, &bitstring, &mut body);
    let mut out = Vec::new();
    der_tlv(0x30, &body, &mut out);
    Ok(out)
}

fn curve_of(crv: &str) -> Result<(&'static agreement::Algorithm, usize), Error> {
    match crv {
        "P-256" => Ok((&ECDH_P256, 32)),
        "P-384" => Ok((&ECDH_P384, 48)),
        "P-521" => Ok((&ECDH_P521, 66)),
        other => Err(Error::Unsupported(format!("curve {other:?}"))),
    }
}

/// The private half of a TEE key: what a workload keeps while the public
/// half travels in its runtime data.
pub enum TeeKey {
    /// An EC key for `ECDH-ES+A256KW`.
    Ec {
        /// The key.
        key: agreement::PrivateKey,
        /// Its JWK curve name.
        crv: &'static str,
    },
    /// An RSA key (PKCS#8) for `RSA-OAEP-256`.
    Rsa {
        /// The key.
        key: OaepPrivateDecryptingKey,
        /// Its JWK (`n`, `e`).
        jwk: Value,
    },
}

impl std::fmt::Debug for TeeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ec { crv, .. } => write!(f, "TeeKey::Ec({crv})"),
            Self::Rsa { .. } => write!(f, "TeeKey::Rsa"),
        }
    }
}

impl TeeKey {
    /// A fresh EC key on `crv` (P-256, the guests' default; P-384; P-521).
    pub fn generate_ec(crv: &str) -> Result<Self, Error> {
        let (alg, _) = curve_of(crv)?;
        let key = agreement::PrivateKey::generate(alg)
            .map_err(|_| Error::Crypto("key generation failed"))?;
        let crv = match crv {
            "P-256" => "P-256",
            "P-384" => "P-384",
            _ => "P-521",
        };
        Ok(Self::Ec { key, crv })
    }

    /// An RSA key from PKCS#8 DER, with its public JWK (`n` and `e`, base64url).
    pub fn rsa_from_pkcs8(pkcs8: &[u8], n: &[u8], e: &[u8]) -> Result<Self, Error> {
        let key = PrivateDecryptingKey::from_pkcs8(pkcs8)
            .map_err(|_| malformed("key", "not an RSA PKCS#8 key"))
            .and_then(|k| {
                OaepPrivateDecryptingKey::new(k)
                    .map_err(|_| malformed("key", "not usable for OAEP"))
            })?;
        let jwk = json!({"kty": "RSA", "alg": RSA_OAEP_256, "n": b64(n), "e": b64(e)});
        Ok(Self::Rsa { key, jwk })
    }

    /// The public JWK as the KBS `tee-pubkey` carries it.
    pub fn public_jwk(&self) -> Result<Value, Error> {
        match self {
            Self::Rsa { jwk, .. } => Ok(jwk.clone()),
            Self::Ec { key, crv } => {
                let (_, len) = curve_of(crv)?;
                let p = key
                    .compute_public_key()
                    .map_err(|_| Error::Crypto("public key computation failed"))?;
                let p = p.as_ref();
                let (x, y) = p
                    .get(1..1 + len)
                    .zip(p.get(1 + len..1 + 2 * len))
                    .ok_or(Error::Crypto("public point has an odd size"))?;
                Ok(
                    json!({"kty": "EC", "crv": crv, "alg": ECDH_ES_A256KW, "x": b64(x), "y": b64(y)}),
                )
            }
        }
    }

    /// Decrypts a flattened JWE (JSON bytes) encrypted to this key.
    pub fn decrypt(&self, jwe: &[u8]) -> Result<Vec<u8>, Error> {
        if jwe.len() > MAX_JWE {
            return Err(malformed("body", format!("larger than {MAX_JWE} bytes")));
        }
        let v: Value =
            serde_json::from_slice(jwe).map_err(|e| malformed("body", format!("not JSON: {e}")))?;
        let m = v
            .as_object()
            .ok_or_else(|| malformed("body", "not a JSON object"))?;
        let s = |k: &'static str| -> Result<&str, Error> {
            m.get(k)
                .and_then(Value::as_str)
                .ok_or_else(|| malformed(k, "missing or not a string"))
        };
        let protected_b64 = s("protected")?;
        let mut header: Map<String, Value> =
            serde_json::from_slice(&unb64("protected", protected_b64)?)
                .map_err(|e| malformed("protected", format!("not a JSON object: {e}")))?;
        // The JOSE header is the union of the protected header, the shared
        // unprotected one and the recipient's (RFC 7516 section 7.2.1); the
        // three must not share a name.
        for member in ["unprotected", "header"] {
            let Some(extra) = m.get(member) else { continue };
            let extra = extra
                .as_object()
                .ok_or_else(|| malformed("header", format!("{member} is not an object")))?;
            for (k, v) in extra {
                if header.insert(k.clone(), v.clone()).is_some() {
                    return Err(malformed("header", format!("{k} is given twice")));
                }
            }
        }
        let h = |k: &'static str| -> Result<&str, Error> {
            header
                .get(k)
                .and_then(Value::as_str)
                .ok_or_else(|| malformed("protected", format!("no {k} string")))
        };
        if h("enc")? != A256GCM {
            return Err(Error::Unsupported(format!(
                "enc {:?}; expected {A256GCM}",
                h("enc")?
            )));
        }
        if header.contains_key("zip") {
            return Err(Error::Unsupported("compressed (zip) content".into()));
        }
        let alg = h("alg")?;
        let encrypted_key = unb64("encrypted_key", s("encrypted_key")?)?;
        let cek = match (self, alg) {
            (Self::Ec { key, crv }, ECDH_ES_A256KW) => {
                let epk = header
                    .get("epk")
                    .and_then(Value::as_object)
                    .ok_or_else(|| malformed("header", "no epk object"))?;
                let f = |k: &'static str| -> Result<Vec<u8>, Error> {
                    epk.get(k)
                        .and_then(Value::as_str)
                        .ok_or_else(|| malformed("epk", format!("no {k}")))
                        .and_then(|t| unb64("epk", t))
                };
                if epk.get("crv").and_then(Value::as_str) != Some(crv) {
                    return Err(malformed("epk", format!("curve is not {crv}")));
                }
                let (calg, len) = curve_of(crv)?;
                let (x, y) = (f("x")?, f("y")?);
                if x.len() != len || y.len() != len {
                    return Err(malformed(
                        "epk",
                        format!("{crv} coordinates are {len} bytes"),
                    ));
                }
                let mut point = Vec::with_capacity(1 + 2 * len);
                point.push(0x04);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                let party = |k: &'static str| -> Result<Vec<u8>, Error> {
                    match header.get(k) {
                        None => Ok(Vec::new()),
                        Some(Value::String(t)) => unb64("protected", t),
                        Some(_) => Err(malformed("protected", format!("{k} is not a string"))),
                    }
                };
                let (apu, apv) = (party("apu")?, party("apv")?);
                let mut kek = [0u8; 32];
                agreement::agree(
                    key,
                    UnparsedPublicKey::new(calg, &point),
                    malformed("epk", "not a point on the curve"),
                    |z| concat_kdf(z, ECDH_ES_A256KW, &apu, &apv, &mut kek),
                )?;
                let mut cek = [0u8; 40];
                let n = AesKek::new(&AES_256, &kek)
                    .map_err(|_| Error::Crypto("key-encryption key rejected"))?
                    .unwrap(&encrypted_key, &mut cek)
                    .map_err(|_| Error::Crypto("key unwrap failed: not encrypted to this key"))?
                    .len();
                cek.get(..n).unwrap_or_default().to_vec()
            }
            (Self::Rsa { key, .. }, RSA_OAEP_256) => {
                let mut out = vec![0u8; key.min_output_size()];
                key.decrypt(&OAEP_SHA256_MGF1SHA256, &encrypted_key, &mut out, None)
                    .map_err(|_| Error::Crypto("RSA-OAEP decryption failed"))?
                    .to_vec()
            }
            (_, other) => {
                return Err(Error::Unsupported(format!(
                    "alg {other:?} for this key (EC keys take {ECDH_ES_A256KW}, RSA keys {RSA_OAEP_256})"
                )));
            }
        };
        if cek.len() != 32 {
            return Err(malformed(
                "encrypted_key",
                "the content key is not 32 bytes",
            ));
        }
        // AAD: ASCII(protected) or, with an `aad` member, ASCII(protected "." aad).
        let mut aad = protected_b64.as_bytes().to_vec();
        if let Some(extra) = m.get("aad") {
            let t = extra
                .as_str()
                .ok_or_else(|| malformed("aad", "not a string"))?;
            aad.push(b'.');
            aad.extend_from_slice(t.as_bytes());
        }
        let iv = unb64("iv", s("iv")?)?;
        let nonce =
            Nonce::try_assume_unique_for_key(&iv).map_err(|_| malformed("iv", "not 12 bytes"))?;
        let mut buf = unb64("ciphertext", s("ciphertext")?)?;
        let tag = unb64("tag", s("tag")?)?;
        if tag.len() != 16 {
            return Err(malformed("tag", "not 16 bytes"));
        }
        buf.extend_from_slice(&tag);
        let key = LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, &cek)
                .map_err(|_| Error::Crypto("content key rejected"))?,
        );
        let plain = key
            .open_in_place(nonce, Aad::from(&aad), &mut buf)
            .map_err(|_| Error::Crypto("content does not authenticate (tampered or wrong key)"))?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    /// The broker's direction and the attester's meet: what [`encrypt`]
    /// seals to a key's public JWK, [`TeeKey::decrypt`] opens, for every
    /// curve; a changed byte of the content does not open.
    #[test]
    fn encrypt_then_decrypt_for_every_curve() {
        for crv in ["P-256", "P-384", "P-521"] {
            let key = TeeKey::generate_ec(crv).unwrap();
            let jwk = key.public_jwk().unwrap();
            let mut protected = String::new();
            let sealed = encrypt(&jwk, b"a disk key", |alg, header| {
                let mut h = header.clone();
                h.insert("alg".into(), alg.into());
                h.insert("enc".into(), A256GCM.into());
                protected = b64(Value::Object(h).to_string().as_bytes());
                Ok(protected.clone().into_bytes())
            })
            .unwrap();
            let jwe = |ciphertext: &[u8]| {
                json!({
                    "protected": protected,
                    "encrypted_key": b64(&sealed.encrypted_key),
                    "iv": b64(&sealed.iv),
                    "ciphertext": b64(ciphertext),
                    "tag": b64(&sealed.tag),
                })
                .to_string()
            };
            assert_eq!(
                key.decrypt(jwe(&sealed.ciphertext).as_bytes()).unwrap(),
                b"a disk key"
            );
            let mut bad = sealed.ciphertext.clone();
            bad[0] ^= 1;
            assert!(key.decrypt(jwe(&bad).as_bytes()).is_err(), "{crv}");
        }
        let e = encrypt(&json!({"kty": "OKP", "crv": "X25519"}), b"x", |_, _| {
            Ok(Vec::new())
        });
        assert!(matches!(e, Err(Error::Unsupported(_))));
    }

    #[test]
    fn concat_kdf_matches_rfc7518_appendix_c() {
        // RFC 7518 appendix C: ECDH-ES, A128GCM, apu "Alice", apv "Bob".
        let z = [
            158, 86, 217, 29, 129, 113, 53, 211, 114, 131, 66, 131, 191, 132, 38, 156, 251, 49,
            110, 163, 218, 128, 106, 72, 246, 218, 167, 121, 140, 254, 144, 196,
        ];
        let mut out = [0u8; 16];
        concat_kdf(&z, "A128GCM", b"Alice", b"Bob", &mut out).unwrap();
        assert_eq!(b64(&out), "VqqN6vgjbSBcIijNcacQGg");
    }
}

//! TPM2_MakeCredential in pure Rust (TPM 2.0 Part 1, 24; Part 4 CryptSecretEncrypt).
//!
//! The verifier wraps a secret to an EK and binds it to an AK's name; only the
//! TPM that holds the EK's private key, and holds a loaded object with that
//! name, returns the secret from TPM2_ActivateCredential. That is the proof
//! that the AK lives beside the EK.
//!
//! The seed is protected by the EK: RSA-OAEP with the EK's name hash and the
//! label "IDENTITY\0" for RSA EKs, or an ephemeral ECDH with KDFe for ECC EKs.
//! From the seed, KDFa derives the symmetric key (label "STORAGE", context
//! the AK name) for AES-CFB over the TPM2B-wrapped secret, and the HMAC key
//! (label "INTEGRITY") for the integrity HMAC over encIdentity || name.
//! All primitives come from aws-lc-rs.

use aws_lc_rs::agreement;
use aws_lc_rs::cipher::{AES_128, AES_256, EncryptingKey, EncryptionContext, UnboundCipherKey};
use aws_lc_rs::hmac;
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::rsa::{OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OAEP_SHA384_MGF1SHA384};
use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey};
use rootline_core::HashAlg;

use crate::error::Error;
use crate::public::{PublicKey, TpmtPublic};
use crate::types::{AlgId, EccCurve};

/// File header `tpm2_makecredential` writes and `tpm2_activatecredential -i`
/// expects before the two TPM2B structures (tpm2-tools `files_write_header`).
pub const TPM2_TOOLS_CREDENTIAL_MAGIC: u32 = 0xBADC_C0DE;

fn hmac_alg(alg: HashAlg) -> Result<hmac::Algorithm, Error> {
    Ok(match alg {
        HashAlg::SHA1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        HashAlg::SHA256 => hmac::HMAC_SHA256,
        HashAlg::SHA384 => hmac::HMAC_SHA384,
        HashAlg::SHA512 => hmac::HMAC_SHA512,
        other => {
            return Err(Error::Unsupported {
                what: "EK name algorithm",
                value: other.to_string(),
            });
        }
    })
}

fn digest_len(alg: HashAlg) -> Result<usize, Error> {
    alg.digest_len().ok_or_else(|| Error::Unsupported {
        what: "EK name algorithm",
        value: alg.to_string(),
    })
}

/// KDFa (Part 1, 11.4.10.2): SP 800-108 counter mode with HMAC.
pub fn kdfa(
    alg: HashAlg,
    key: &[u8],
    label: &str,
    context_u: &[u8],
    context_v: &[u8],
    bits: u32,
) -> Result<Vec<u8>, Error> {
    let k = hmac::Key::new(hmac_alg(alg)?, key);
    let bytes = bits.div_ceil(8) as usize;
    let mut out = Vec::with_capacity(bytes + 64);
    let mut counter = 1u32;
    while out.len() < bytes {
        let mut ctx = hmac::Context::with_key(&k);
        ctx.update(&counter.to_be_bytes());
        ctx.update(label.as_bytes());
        ctx.update(&[0]);
        ctx.update(context_u);
        ctx.update(context_v);
        ctx.update(&bits.to_be_bytes());
        out.extend_from_slice(ctx.sign().as_ref());
        counter += 1;
    }
    out.truncate(bytes);
    if bits % 8 != 0 {
        if let Some(first) = out.first_mut() {
            *first &= (1u8 << (bits % 8)) - 1;
        }
    }
    Ok(out)
}

/// KDFe (Part 1, 11.4.10.3): SP 800-56A concatenation KDF with a hash.
pub fn kdfe(
    alg: HashAlg,
    z: &[u8],
    label: &str,
    party_u: &[u8],
    party_v: &[u8],
    bits: u32,
) -> Result<Vec<u8>, Error> {
    let bytes = bits.div_ceil(8) as usize;
    let mut out = Vec::with_capacity(bytes + 64);
    let mut counter = 1u32;
    while out.len() < bytes {
        let mut h = alg.hasher().ok_or_else(|| Error::Unsupported {
            what: "EK name algorithm",
            value: alg.to_string(),
        })?;
        h.update(&counter.to_be_bytes());
        h.update(z);
        h.update(label.as_bytes());
        h.update(&[0]);
        h.update(party_u);
        h.update(party_v);
        out.extend_from_slice(&h.finish().bytes);
        counter += 1;
    }
    out.truncate(bytes);
    Ok(out)
}

fn tpm2b(content: &[u8]) -> Result<Vec<u8>, Error> {
    let len = u16::try_from(content.len()).map_err(|_| Error::Crypto("TPM2B too long"))?;
    let mut out = len.to_be_bytes().to_vec();
    out.extend_from_slice(content);
    Ok(out)
}

/// The credential blob (TPM2B_ID_OBJECT contents) for a given seed: the part
/// of MakeCredential that does not depend on how the seed reached the TPM.
pub fn id_object_from_seed(
    ek: &TpmtPublic,
    seed: &[u8],
    ak_name: &[u8],
    secret: &[u8],
) -> Result<Vec<u8>, Error> {
    let alg = ek.name_alg;
    let sym = ek.symmetric.ok_or_else(|| Error::Unsupported {
        what: "EK symmetric algorithm",
        value: "null (the EK is not a storage key)".into(),
    })?;
    if sym.alg != AlgId::AES || sym.mode != AlgId::CFB {
        return Err(Error::Unsupported {
            what: "EK symmetric algorithm",
            value: format!("{}-{} {}", sym.alg, sym.key_bits, sym.mode),
        });
    }
    let cipher = match sym.key_bits {
        128 => &AES_128,
        256 => &AES_256,
        bits => {
            return Err(Error::Unsupported {
                what: "EK AES key size",
                value: bits.to_string(),
            });
        }
    };
    let sym_key = kdfa(alg, seed, "STORAGE", ak_name, &[], u32::from(sym.key_bits))?;
    let hmac_key = kdfa(
        alg,
        seed,
        "INTEGRITY",
        &[],
        &[],
        8 * digest_len(alg)? as u32,
    )?;

    let mut enc_identity = tpm2b(secret)?;
    let key = UnboundCipherKey::new(cipher, &sym_key).map_err(|_| Error::Crypto("AES key"))?;
    let key = EncryptingKey::cfb128(key).map_err(|_| Error::Crypto("AES-CFB key"))?;
    key.less_safe_encrypt(
        &mut enc_identity,
        EncryptionContext::Iv128(FixedLength::from([0u8; 16])),
    )
    .map_err(|_| Error::Crypto("AES-CFB encryption"))?;

    let k = hmac::Key::new(hmac_alg(alg)?, &hmac_key);
    let mut ctx = hmac::Context::with_key(&k);
    ctx.update(&enc_identity);
    ctx.update(ak_name);
    let integrity = ctx.sign();

    let mut id_object = tpm2b(integrity.as_ref())?;
    id_object.extend_from_slice(&enc_identity);
    Ok(id_object)
}

/// The seed and its encryption to the EK (TPM2B_ENCRYPTED_SECRET contents).
fn seed_for(ek: &TpmtPublic) -> Result<(Vec<u8>, Vec<u8>), Error> {
    let alg = ek.name_alg;
    match ek.public_key()? {
        PublicKey::Rsa { .. } => {
            let mut seed = vec![0u8; digest_len(alg)?];
            aws_lc_rs::rand::fill(&mut seed).map_err(|_| Error::Crypto("random seed"))?;
            let spki = ek.public_key()?.spki_der()?;
            let key = PublicEncryptingKey::from_der(&spki).map_err(|_| Error::Encoding {
                what: "EK RSA public key",
                reason: "aws-lc-rs rejects it".into(),
            })?;
            let key = OaepPublicEncryptingKey::new(key).map_err(|_| Error::Crypto("OAEP key"))?;
            let oaep = match alg {
                HashAlg::SHA1 => &OAEP_SHA1_MGF1SHA1,
                HashAlg::SHA256 => &OAEP_SHA256_MGF1SHA256,
                HashAlg::SHA384 => &OAEP_SHA384_MGF1SHA384,
                other => {
                    return Err(Error::Unsupported {
                        what: "EK name algorithm for OAEP",
                        value: other.to_string(),
                    });
                }
            };
            let mut out = vec![0u8; key.ciphertext_size()];
            let ct = key
                .encrypt(oaep, &seed, &mut out, Some(b"IDENTITY\0"))
                .map_err(|_| Error::Crypto("RSA-OAEP encryption"))?;
            let ct = ct.to_vec();
            Ok((seed, ct))
        }
        PublicKey::Ecc { curve, x, .. } => {
            let ecdh = match *curve {
                EccCurve::NIST_P256 => &agreement::ECDH_P256,
                EccCurve::NIST_P384 => &agreement::ECDH_P384,
                EccCurve::NIST_P521 => &agreement::ECDH_P521,
                other => {
                    return Err(Error::Unsupported {
                        what: "EK curve",
                        value: other.to_string(),
                    });
                }
            };
            let coord = curve.coordinate_len().unwrap_or(0);
            let eph = agreement::PrivateKey::generate(ecdh)
                .map_err(|_| Error::Crypto("ephemeral ECDH key"))?;
            let eph_pub = eph
                .compute_public_key()
                .map_err(|_| Error::Crypto("ephemeral ECDH public key"))?;
            let point = eph_pub.as_ref();
            let (ex, ey) = (
                point.get(1..1 + coord).unwrap_or(&[]),
                point.get(1 + coord..).unwrap_or(&[]),
            );
            let ek_point = ek.public_key()?.ec_point().unwrap_or_default();
            let z = agreement::agree(
                &eph,
                agreement::UnparsedPublicKey::new(ecdh, &ek_point),
                Error::Crypto("ECDH with the EK (is its point on the curve?)"),
                |z| Ok(z.to_vec()),
            )?;
            let seed = kdfe(alg, &z, "IDENTITY", ex, x, 8 * digest_len(alg)? as u32)?;
            let mut enc = tpm2b(ex)?;
            enc.extend_from_slice(&tpm2b(ey)?);
            Ok((seed, enc))
        }
    }
}

/// TPM2_MakeCredential: wraps `secret` (at most the EK name hash's digest
/// size) to `ek_public` for the object named `ak_name`.
///
/// Returns the marshalled TPM2B_ID_OBJECT (`credentialBlob`) and
/// TPM2B_ENCRYPTED_SECRET (`secret`), the two inputs of
/// TPM2_ActivateCredential as tss-esapi's `IdObject`/`EncryptedSecret` and
/// tpm2-tools (after [`tpm2_tools_credential_file`]'s header) take them.
pub fn make_credential(
    ek_public: &TpmtPublic,
    ak_name: &[u8],
    secret: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), Error> {
    let max = digest_len(ek_public.name_alg)?;
    if secret.is_empty() || secret.len() > max {
        return Err(Error::Unsupported {
            what: "credential size",
            value: format!(
                "{} bytes; 1 to {max} allowed for an EK named with {}",
                secret.len(),
                ek_public.name_alg
            ),
        });
    }
    if ak_name.len() < 2 {
        return Err(Error::Encoding {
            what: "AK name",
            reason: "shorter than its algorithm identifier".into(),
        });
    }
    let (seed, encrypted_seed) = seed_for(ek_public)?;
    let id_object = id_object_from_seed(ek_public, &seed, ak_name, secret)?;
    Ok((tpm2b(&id_object)?, tpm2b(&encrypted_seed)?))
}

/// The file `tpm2_makecredential -o` writes and `tpm2_activatecredential -i`
/// reads: magic 0xBADCC0DE, version 1, TPM2B_ID_OBJECT, TPM2B_ENCRYPTED_SECRET.
pub fn tpm2_tools_credential_file(credential_blob: &[u8], encrypted_secret: &[u8]) -> Vec<u8> {
    let mut out = TPM2_TOOLS_CREDENTIAL_MAGIC.to_be_bytes().to_vec();
    out.extend_from_slice(&1u32.to_be_bytes());
    out.extend_from_slice(credential_blob);
    out.extend_from_slice(encrypted_secret);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The KDFa self-test vector the TPM reference implementation (libtpms
    /// `KdfTestData.h`) runs at start-up: 160 bits from a 20-byte key, label
    /// "KDFSELFTESTLABEL", two 8-byte contexts, for each hash.
    #[test]
    fn kdfa_matches_the_reference_self_test() {
        let key = hex::decode("271fa08bbdc5060ec3dfa928ff9b73123a12da0c").unwrap();
        let u = hex::decode("ce244f395dca7391").unwrap();
        let v = hex::decode("da504031ddf12e83").unwrap();
        for (alg, want) in [
            (HashAlg::SHA1, "55b5a7184aa07423c47dae766c26a2377d7cf851"),
            (HashAlg::SHA256, "bb0259e1c8ba607e6a2cd704b69a902e9ade84c4"),
            (HashAlg::SHA384, "1dce70c9113eb2dba47bd9cfc72bf46f45b09312"),
            (HashAlg::SHA512, "8be2c1b85b78569b9fa759f5857c56d684810fd3"),
        ] {
            let out = kdfa(alg, &key, "KDFSELFTESTLABEL", &u, &v, 160).unwrap();
            assert_eq!(hex::encode(out), want, "{alg}");
        }
    }

    #[test]
    fn credential_size_is_bounded_by_the_ek_name_hash() {
        let ek = crate::synthetic::SyntheticAk::ecc_p256().unwrap();
        // An AK is not a storage key: no symmetric algorithm.
        let e = make_credential(ek.tpmt_public(), &[0, 0xb, 1], b"x").unwrap_err();
        assert_eq!(e.check(), "unsupported", "{e}");
        let e = make_credential(ek.tpmt_public(), &[0, 0xb, 1], &[0; 33]).unwrap_err();
        assert!(e.to_string().contains("credential size"), "{e}");
    }
}

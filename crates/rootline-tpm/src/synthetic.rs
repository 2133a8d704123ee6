//! Synthetic TPM evidence for tests and benchmarks: an attestation key held in
//! software (aws-lc-rs) that marshals its TPMT_PUBLIC and signs TPMS_ATTEST
//! quotes exactly as a TPM lays them out.
//!
//! Nothing here is trusted by a verifier: a synthetic AK is as good as any
//! key the caller pins, which is the point of the forged-evidence tests.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
};
use rootline_core::HashAlg;

use crate::error::Error;
use crate::pcr::{PcrSelection, PcrValues};
use crate::public::{AkPublic, PublicKey, TpmtPublic};
use crate::types::{AlgId, EccCurve, Generated, ObjectAttributes, StructureTag};

enum Key {
    Ecc(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

/// A software attestation key.
pub struct SyntheticAk {
    key: Key,
    public: TpmtPublic,
}

/// fixedTPM | fixedParent | sensitiveDataOrigin | userWithAuth | restricted | sign.
const AK_ATTRIBUTES: u32 = ObjectAttributes::FIXED_TPM
    | ObjectAttributes::FIXED_PARENT
    | ObjectAttributes::SENSITIVE_DATA_ORIGIN
    | ObjectAttributes::USER_WITH_AUTH
    | ObjectAttributes::RESTRICTED
    | ObjectAttributes::SIGN;

fn put2b(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u16).to_be_bytes());
    out.extend_from_slice(b);
}

impl SyntheticAk {
    /// A fresh ECC P-256 AK with scheme ECDSA-SHA256.
    pub fn ecc_p256() -> Result<Self, Error> {
        let kp = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
            .map_err(|_| Error::Crypto("P-256 key generation"))?;
        let point = kp.public_key().as_ref().to_vec();
        let (x, y) = (
            point.get(1..33).unwrap_or(&[]),
            point.get(33..65).unwrap_or(&[]),
        );
        let mut raw = Vec::new();
        raw.extend_from_slice(&AlgId::ECC.0.to_be_bytes());
        raw.extend_from_slice(&HashAlg::SHA256.0.to_be_bytes());
        raw.extend_from_slice(&AK_ATTRIBUTES.to_be_bytes());
        put2b(&mut raw, &[]);
        raw.extend_from_slice(&AlgId::NULL.0.to_be_bytes());
        raw.extend_from_slice(&AlgId::ECDSA.0.to_be_bytes());
        raw.extend_from_slice(&HashAlg::SHA256.0.to_be_bytes());
        raw.extend_from_slice(&EccCurve::NIST_P256.0.to_be_bytes());
        raw.extend_from_slice(&AlgId::NULL.0.to_be_bytes());
        put2b(&mut raw, x);
        put2b(&mut raw, y);
        Ok(Self {
            key: Key::Ecc(kp),
            public: TpmtPublic::parse(&raw)?,
        })
    }

    /// A fresh RSA-2048 AK with scheme RSASSA-SHA256.
    pub fn rsa_2048() -> Result<Self, Error> {
        let kp = RsaKeyPair::generate(KeySize::Rsa2048)
            .map_err(|_| Error::Crypto("RSA-2048 key generation"))?;
        let spki = kp
            .public_key()
            .as_der()
            .map_err(|_| Error::Crypto("RSA public key encoding"))?;
        let PublicKey::Rsa { n, .. } = PublicKey::from_spki_der(spki.as_ref())? else {
            return Err(Error::Crypto("RSA public key encoding"));
        };
        let mut raw = Vec::new();
        raw.extend_from_slice(&AlgId::RSA.0.to_be_bytes());
        raw.extend_from_slice(&HashAlg::SHA256.0.to_be_bytes());
        raw.extend_from_slice(&AK_ATTRIBUTES.to_be_bytes());
        put2b(&mut raw, &[]);
        raw.extend_from_slice(&AlgId::NULL.0.to_be_bytes());
        raw.extend_from_slice(&AlgId::RSASSA.0.to_be_bytes());
        raw.extend_from_slice(&HashAlg::SHA256.0.to_be_bytes());
        raw.extend_from_slice(&2048u16.to_be_bytes());
        raw.extend_from_slice(&0u32.to_be_bytes());
        put2b(&mut raw, &n);
        Ok(Self {
            key: Key::Rsa(kp),
            public: TpmtPublic::parse(&raw)?,
        })
    }

    /// The AK's TPMT_PUBLIC.
    pub fn tpmt_public(&self) -> &TpmtPublic {
        &self.public
    }

    /// The AK as a verifier receives it.
    pub fn ak(&self) -> Result<AkPublic, Error> {
        AkPublic::from_tpmt(self.public.clone())
    }

    /// A raw signature over `message`: r||s for ECDSA, PKCS #1 v1.5 for RSA.
    pub fn sign_raw(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        let rng = SystemRandom::new();
        match &self.key {
            Key::Ecc(kp) => Ok(kp
                .sign(&rng, message)
                .map_err(|_| Error::Crypto("ECDSA signing"))?
                .as_ref()
                .to_vec()),
            Key::Rsa(kp) => {
                let mut sig = vec![0u8; kp.public_modulus_len()];
                kp.sign(&RSA_PKCS1_SHA256, &rng, message, &mut sig)
                    .map_err(|_| Error::Crypto("RSA signing"))?;
                Ok(sig)
            }
        }
    }

    /// A TPMT_SIGNATURE over `message`.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        let raw = self.sign_raw(message)?;
        let mut out = Vec::new();
        match &self.key {
            Key::Ecc(_) => {
                out.extend_from_slice(&AlgId::ECDSA.0.to_be_bytes());
                out.extend_from_slice(&HashAlg::SHA256.0.to_be_bytes());
                put2b(&mut out, raw.get(..32).unwrap_or(&[]));
                put2b(&mut out, raw.get(32..).unwrap_or(&[]));
            }
            Key::Rsa(_) => {
                out.extend_from_slice(&AlgId::RSASSA.0.to_be_bytes());
                out.extend_from_slice(&HashAlg::SHA256.0.to_be_bytes());
                put2b(&mut out, &raw);
            }
        }
        Ok(out)
    }

    /// A quote over `selection` of `pcrs` with `nonce` as extraData: the
    /// TPMS_ATTEST bytes and their TPMT_SIGNATURE.
    pub fn quote(
        &self,
        nonce: &[u8],
        selection: &PcrSelection,
        pcrs: &PcrValues,
    ) -> Result<(Vec<u8>, Vec<u8>), Error> {
        let digest = pcrs.digest(selection, HashAlg::SHA256)?;
        let mut a = Vec::new();
        a.extend_from_slice(&Generated::VALUE.0.to_be_bytes());
        a.extend_from_slice(&StructureTag::ATTEST_QUOTE.0.to_be_bytes());
        put2b(&mut a, &self.public.name()?);
        put2b(&mut a, nonce);
        a.extend_from_slice(&1_000_000u64.to_be_bytes()); // clock
        a.extend_from_slice(&3u32.to_be_bytes()); // resetCount
        a.extend_from_slice(&0u32.to_be_bytes()); // restartCount
        a.push(1); // safe
        a.extend_from_slice(&0x2016_0511_0016_2800u64.to_be_bytes());
        a.extend_from_slice(&selection.to_bytes());
        put2b(&mut a, &digest);
        let sig = self.sign(&a)?;
        Ok((a, sig))
    }
}

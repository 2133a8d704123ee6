//! The signature work of one full KBS handshake, with aws-lc-rs directly:
//! the floor the broker's cost is compared with (`rootline bench kbs`,
//! `cargo bench -p rootline-broker --bench handshake`), counted as the
//! broker's goal counts it: one ECDSA P-384 verification of a report, an
//! ES256 token signature and its verification, and one P-256 ECDH with a
//! fresh key for the JWE. (The broker skips the token verification when the
//! resource request comes back to the replica that signed it, so it can do
//! a little less.)

use aws_lc_rs::agreement::{self, ECDH_P256, UnparsedPublicKey};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair as _};

use crate::error::{Error, Result};

/// Keys and messages for [`SignatureWork::once`], made once.
pub struct SignatureWork {
    rng: SystemRandom,
    p384_public: Vec<u8>,
    report: Vec<u8>,
    report_sig: Vec<u8>,
    p256: EcdsaKeyPair,
    claims: Vec<u8>,
    peer_public: Vec<u8>,
}

impl std::fmt::Debug for SignatureWork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SignatureWork")
    }
}

fn crypto(what: &str) -> Error {
    Error::Crypto(format!("signature floor: {what} failed"))
}

impl SignatureWork {
    /// Fresh keys, a signed report the size of an SNP report, token-sized
    /// claims, and a peer key for the ECDH.
    pub fn new() -> Result<Self> {
        let rng = SystemRandom::new();
        let key = |alg| -> Result<EcdsaKeyPair> {
            let doc =
                EcdsaKeyPair::generate_pkcs8(alg, &rng).map_err(|_| crypto("key generation"))?;
            EcdsaKeyPair::from_pkcs8(alg, doc.as_ref()).map_err(|_| crypto("key generation"))
        };
        let p384 = key(&signature::ECDSA_P384_SHA384_ASN1_SIGNING)?;
        let p256 = key(&signature::ECDSA_P256_SHA256_FIXED_SIGNING)?;
        let report = vec![7u8; 1184];
        let report_sig = p384
            .sign(&rng, &report)
            .map_err(|_| crypto("signing"))?
            .as_ref()
            .to_vec();
        let peer = agreement::PrivateKey::generate(&ECDH_P256).map_err(|_| crypto("ECDH"))?;
        let peer_public = peer
            .compute_public_key()
            .map_err(|_| crypto("ECDH"))?
            .as_ref()
            .to_vec();
        Ok(Self {
            p384_public: p384.public_key().as_ref().to_vec(),
            report,
            report_sig,
            p256,
            claims: vec![5u8; 1500],
            peer_public,
            rng,
        })
    }

    /// One handshake's signature work.
    pub fn once(&self) -> Result<()> {
        signature::UnparsedPublicKey::new(&signature::ECDSA_P384_SHA384_ASN1, &self.p384_public)
            .verify(&self.report, &self.report_sig)
            .map_err(|_| crypto("P-384 verification"))?;
        let sig = self
            .p256
            .sign(&self.rng, &self.claims)
            .map_err(|_| crypto("signing"))?;
        signature::UnparsedPublicKey::new(
            &signature::ECDSA_P256_SHA256_FIXED,
            self.p256.public_key().as_ref(),
        )
        .verify(&self.claims, sig.as_ref())
        .map_err(|_| crypto("P-256 verification"))?;
        let eph = agreement::PrivateKey::generate(&ECDH_P256).map_err(|_| crypto("ECDH"))?;
        eph.compute_public_key().map_err(|_| crypto("ECDH"))?;
        agreement::agree(
            &eph,
            UnparsedPublicKey::new(&ECDH_P256, &self.peer_public),
            crypto("ECDH"),
            |z| Ok(z.len()),
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_work_runs() {
        let w = SignatureWork::new().unwrap();
        w.once().unwrap();
        w.once().unwrap();
    }
}

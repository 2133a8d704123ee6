//! The simulated TEE, attester side: reports signed with ECDSA P-384 by a
//! test root, so a load test costs the broker one P-384 verify per
//! handshake, as SEV-SNP does. A broker trusts it only when its
//! configuration lists the root's public key.
//!
//! The wire format is the broker's (`rootline_broker::sim`), repeated here
//! because the attester shares no code with the server side: the
//! `primary_evidence` is `{"version": 1, "report": hex, "signature": hex,
//! "public_key": hex}`; the 152-byte report is the magic `RLSIM001`,
//! `measurement` (48), `host_data` (32, zero-padded) and `report_data` (64,
//! zero-padded); the signature is ASN.1 DER ECDSA P-384 / SHA-384 over the
//! report; the key is an uncompressed SEC1 point. Its KBS `tee` name is
//! `rootline-sim`.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P384_SHA384_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _};
use serde_json::{Value, json};

use crate::Error;
use crate::evidence::Attester;

/// The KBS `tee` name of the simulated TEE.
pub const TEE_NAME: &str = "rootline-sim";
/// The report's magic and layout version.
pub const MAGIC: &[u8; 8] = b"RLSIM001";
/// Report length in bytes.
pub const REPORT_LEN: usize = 8 + 48 + 32 + 64;

/// A simulated TEE: its signing root and what it reports.
pub struct SimAttester {
    key: EcdsaKeyPair,
    rng: SystemRandom,
    /// The measurement it reports.
    pub measurement: [u8; 48],
    /// The host data (init-data digest) it reports, at most 32 bytes.
    pub host_data: Vec<u8>,
}

impl std::fmt::Debug for SimAttester {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SimAttester({})", hex::encode(self.public_key()))
    }
}

impl SimAttester {
    /// A fresh random root; returns it and its PKCS#8 document (to hand the
    /// public key to a broker and keep the root for later runs).
    pub fn generate(measurement: [u8; 48]) -> Result<(Self, Vec<u8>), Error> {
        let doc =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_ASN1_SIGNING, &SystemRandom::new())
                .map_err(|_| Error::Crypto("P-384 key generation failed".into()))?;
        let pkcs8 = doc.as_ref().to_vec();
        Ok((Self::from_pkcs8(&pkcs8, measurement)?, pkcs8))
    }

    /// A simulated TEE whose root is the P-384 PKCS#8 key `pkcs8`.
    pub fn from_pkcs8(pkcs8: &[u8], measurement: [u8; 48]) -> Result<Self, Error> {
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_ASN1_SIGNING, pkcs8)
            .map_err(|_| Error::malformed("simulated TEE key", "not a P-384 PKCS#8 key"))?;
        Ok(Self {
            key,
            rng: SystemRandom::new(),
            measurement,
            host_data: Vec::new(),
        })
    }

    /// The root's uncompressed SEC1 public key (what a broker's `sim_roots` lists).
    pub fn public_key(&self) -> Vec<u8> {
        self.key.public_key().as_ref().to_vec()
    }

    /// The 152-byte report for `report_data`.
    pub fn report(&self, report_data: &[u8]) -> Result<Vec<u8>, Error> {
        if self.host_data.len() > 32 {
            return Err(Error::malformed("host_data", "longer than 32 bytes"));
        }
        if report_data.len() > 64 {
            return Err(Error::malformed("report_data", "longer than 64 bytes"));
        }
        let mut report = Vec::with_capacity(REPORT_LEN);
        report.extend_from_slice(MAGIC);
        report.extend_from_slice(&self.measurement);
        report.extend_from_slice(&self.host_data);
        report.resize(8 + 48 + 32, 0);
        report.extend_from_slice(report_data);
        report.resize(REPORT_LEN, 0);
        Ok(report)
    }
}

impl Attester for SimAttester {
    fn tee(&self) -> &str {
        TEE_NAME
    }

    fn evidence(&mut self, report_data: &[u8]) -> Result<Value, Error> {
        let report = self.report(report_data)?;
        let sig = self
            .key
            .sign(&self.rng, &report)
            .map_err(|_| Error::Crypto("P-384 signing failed".into()))?;
        Ok(json!({
            "version": 1,
            "report": hex::encode(&report),
            "signature": hex::encode(sig.as_ref()),
            "public_key": hex::encode(self.public_key()),
        }))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use aws_lc_rs::signature::{ECDSA_P384_SHA384_ASN1, UnparsedPublicKey};

    #[test]
    fn report_layout_and_signature() {
        let (mut s, pkcs8) = SimAttester::generate([0xaa; 48]).unwrap();
        s.host_data = vec![0xbb; 20];
        let ev = s.evidence(&[0xcc; 48]).unwrap();
        let report = hex::decode(ev["report"].as_str().unwrap()).unwrap();
        assert_eq!(report.len(), REPORT_LEN);
        assert_eq!(&report[..8], MAGIC);
        assert_eq!(&report[8..56], &[0xaa; 48]);
        assert_eq!(&report[56..76], &[0xbb; 20]);
        assert!(report[76..88].iter().all(|b| *b == 0));
        assert_eq!(&report[88..136], &[0xcc; 48]);
        assert!(report[136..].iter().all(|b| *b == 0));
        let pk = hex::decode(ev["public_key"].as_str().unwrap()).unwrap();
        let sig = hex::decode(ev["signature"].as_str().unwrap()).unwrap();
        UnparsedPublicKey::new(&ECDSA_P384_SHA384_ASN1, &pk)
            .verify(&report, &sig)
            .unwrap();
        // The same root loads again from its PKCS#8.
        let again = SimAttester::from_pkcs8(&pkcs8, [0; 48]).unwrap();
        assert_eq!(again.public_key(), pk);
        assert!(s.report(&[0; 65]).is_err());
    }
}

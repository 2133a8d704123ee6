//! The simulated TEE: evidence signed with ECDSA P-384 by a test root, for
//! load tests and end-to-end tests on machines without a TEE.
//!
//! It keeps the verifier's work equal to SEV-SNP's (one P-384 signature
//! verify over a fixed-layout report) and is accepted ONLY when the broker's
//! configuration lists the signing root's public key (`sim_roots`). Its KBS
//! `tee` name is `rootline-sim`.
//!
//! Wire format (the `primary_evidence` of `tee-evidence`), a JSON object:
//! `{"version": 1, "report": hex, "signature": hex, "public_key": hex}` where
//! - `report` is 152 bytes: magic `RLSIM001` (8), `measurement` (48),
//!   `host_data` (32, the init-data digest, zero-padded), `report_data` (64,
//!   the runtime-data hash, zero-padded);
//! - `signature` is ASN.1 DER ECDSA P-384 with SHA-384 over the report bytes;
//! - `public_key` is the signer's uncompressed SEC1 P-384 point.
//!
//! The attester side builds evidence with [`SimKey::evidence`]; the verifier
//! side is [`verify`].

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P384_SHA384_ASN1, ECDSA_P384_SHA384_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _,
    ParsedPublicKey,
};
use rootline_core::Reader;
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};

/// The KBS `tee` name of the simulated TEE.
pub const TEE_NAME: &str = "rootline-sim";
/// The report's magic and layout version.
pub const MAGIC: &[u8; 8] = b"RLSIM001";
/// Report length in bytes.
pub const REPORT_LEN: usize = 8 + 48 + 32 + 64;

/// A simulated TEE's signing root (the test root).
pub struct SimKey {
    key: EcdsaKeyPair,
}

impl std::fmt::Debug for SimKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SimKey({})", hex::encode(self.public_key()))
    }
}

impl SimKey {
    /// A fresh random root; returns it and its PKCS#8 document.
    pub fn generate() -> Result<(Self, Vec<u8>)> {
        let doc =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_ASN1_SIGNING, &SystemRandom::new())
                .map_err(|_| Error::Crypto("P-384 key generation failed".into()))?;
        let pkcs8 = doc.as_ref().to_vec();
        Ok((Self::from_pkcs8(&pkcs8)?, pkcs8))
    }

    /// A root from its PKCS#8 document.
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self> {
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_ASN1_SIGNING, pkcs8)
            .map_err(|_| Error::Config("simulated TEE key is not a P-384 PKCS#8 key".into()))?;
        Ok(Self { key })
    }

    /// The uncompressed SEC1 public key, as `sim_roots` lists it.
    pub fn public_key(&self) -> Vec<u8> {
        self.key.public_key().as_ref().to_vec()
    }

    /// Evidence for a workload with `measurement`, `host_data` (at most 32
    /// bytes, zero-padded) and `report_data` (at most 64 bytes, zero-padded).
    pub fn evidence(
        &self,
        measurement: &[u8; 48],
        host_data: &[u8],
        report_data: &[u8],
    ) -> Result<Value> {
        if host_data.len() > 32 || report_data.len() > 64 {
            return Err(Error::Malformed("host_data or report_data too long".into()));
        }
        let mut report = Vec::with_capacity(REPORT_LEN);
        report.extend_from_slice(MAGIC);
        report.extend_from_slice(measurement);
        report.extend_from_slice(host_data);
        report.resize(8 + 48 + 32, 0);
        report.extend_from_slice(report_data);
        report.resize(REPORT_LEN, 0);
        let sig = self
            .key
            .sign(&SystemRandom::new(), &report)
            .map_err(|_| Error::Crypto("signing failed".into()))?;
        Ok(json!({
            "version": 1,
            "report": hex::encode(&report),
            "signature": hex::encode(sig.as_ref()),
            "public_key": hex::encode(self.public_key()),
        }))
    }
}

/// Claims of a verified simulated report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimClaims {
    /// The 48-byte measurement.
    pub measurement: [u8; 48],
    /// The 32-byte host data (init-data digest).
    pub host_data: [u8; 32],
    /// The 64-byte report data.
    pub report_data: [u8; 64],
}

impl SimClaims {
    /// The claims as the verifier's JSON claim map spells them.
    pub fn to_map(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("measurement".into(), hex::encode(self.measurement).into());
        m.insert("host_data".into(), hex::encode(self.host_data).into());
        m.insert("report_data".into(), hex::encode(self.report_data).into());
        m
    }
}

fn hex_field(ev: &Value, name: &str, max: usize) -> Result<Vec<u8>> {
    let s = ev
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| Error::Rejected(format!("simulated evidence has no {name} string")))?;
    if s.len() > max * 2 {
        return Err(Error::Rejected(format!(
            "simulated evidence {name} is too long"
        )));
    }
    hex::decode(s).map_err(|_| Error::Rejected(format!("simulated evidence {name} is not hex")))
}

/// Parses the report bytes (bounded, trailing bytes rejected).
fn parse(report: &[u8]) -> Result<SimClaims> {
    let bad = |e: rootline_core::CodecError| Error::Rejected(format!("simulated report: {e}"));
    let mut r = Reader::new(report);
    let magic: [u8; 8] = r.array("magic").map_err(bad)?;
    if &magic != MAGIC {
        return Err(Error::Rejected(format!(
            "simulated report magic {}; expected RLSIM001 (unknown version)",
            hex::encode(magic)
        )));
    }
    let measurement = r.array("measurement").map_err(bad)?;
    let host_data = r.array("host_data").map_err(bad)?;
    let report_data = r.array("report_data").map_err(bad)?;
    r.finish("simulated report").map_err(bad)?;
    Ok(SimClaims {
        measurement,
        host_data,
        report_data,
    })
}

/// A trusted root's public key, parsed once: parsing the SEC1 point (and
/// checking it is on the curve) was a few microseconds of every
/// verification. Only keys found in the configured roots get here, so the
/// cache holds no more than the configuration lists (it starts over past 16).
fn parsed_root(pk: &[u8]) -> Result<std::sync::Arc<ParsedPublicKey>> {
    type Parsed = Vec<(Vec<u8>, std::sync::Arc<ParsedPublicKey>)>;
    static PARSED: std::sync::Mutex<Parsed> = std::sync::Mutex::new(Vec::new());
    let mut cache = PARSED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, k)) = cache.iter().find(|(raw, _)| raw == pk) {
        return Ok(k.clone());
    }
    let key = std::sync::Arc::new(
        ParsedPublicKey::new(&ECDSA_P384_SHA384_ASN1, pk)
            .map_err(|_| Error::Rejected("simulated root is not a P-384 point".into()))?,
    );
    if cache.len() >= 16 {
        cache.clear();
    }
    cache.push((pk.to_vec(), key.clone()));
    Ok(key)
}

/// Verifies simulated evidence: the signer must be one of `trusted_roots`,
/// the signature must hold over the received report bytes, and the report
/// data must hold one of `bindings` zero-padded to 64 bytes.
pub fn verify(
    evidence: &Value,
    trusted_roots: &[Vec<u8>],
    bindings: &[crate::evidence::Binding],
) -> Result<SimClaims> {
    if trusted_roots.is_empty() {
        return Err(Error::Unsupported(
            "simulated TEE evidence is refused: no sim_roots are configured".into(),
        ));
    }
    match evidence.get("version").and_then(Value::as_u64) {
        Some(1) => {}
        other => {
            return Err(Error::Rejected(format!(
                "simulated evidence version {other:?}; only 1 is known"
            )));
        }
    }
    let report = hex_field(evidence, "report", REPORT_LEN)?;
    let sig = hex_field(evidence, "signature", 128)?;
    let pk = hex_field(evidence, "public_key", 97)?;
    if !trusted_roots.iter().any(|r| r == &pk) {
        return Err(Error::Rejected(
            "simulated evidence is signed by a key that sim_roots does not list".into(),
        ));
    }
    parsed_root(&pk)?
        .verify_sig(&report, &sig)
        .map_err(|_| Error::Rejected("simulated report signature does not verify".into()))?;
    let claims = parse(&report)?;
    crate::evidence::check_binding("report_data", &claims.report_data, bindings, false)?;
    Ok(claims)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn b(v: u8) -> Vec<crate::evidence::Binding> {
        vec![crate::evidence::Binding {
            form: crate::evidence::BindingForm::AsSent,
            digest: vec![v; 48],
        }]
    }

    #[test]
    fn verifies_and_rejects() {
        let (k, _) = SimKey::generate().unwrap();
        let roots = vec![k.public_key()];
        let ev = k.evidence(&[1; 48], &[2; 32], &[3; 48]).unwrap();
        let c = verify(&ev, &roots, &b(3)).unwrap();
        assert_eq!(c.measurement, [1; 48]);
        assert_eq!(&c.report_data[..48], &[3; 48]);
        assert!(c.report_data[48..].iter().all(|b| *b == 0));
        // Not trusted by default.
        assert!(matches!(
            verify(&ev, &[], &b(3)),
            Err(Error::Unsupported(_))
        ));
        // Another root.
        let (k2, _) = SimKey::generate().unwrap();
        assert!(verify(&ev, &[k2.public_key()], &b(3)).is_err());
        // Bound to other runtime data.
        assert!(verify(&ev, &roots, &b(4)).is_err());
        // One-bit flip anywhere in the report.
        for i in [0usize, 8, 60, 100, 151] {
            let mut bad = ev.clone();
            let mut rep = hex::decode(bad["report"].as_str().unwrap()).unwrap();
            rep[i] ^= 1;
            bad["report"] = hex::encode(rep).into();
            assert!(verify(&bad, &roots, &b(3)).is_err(), "flip at {i}");
        }
        // Unknown version.
        let mut v2 = ev.clone();
        v2["version"] = 2.into();
        assert!(verify(&v2, &roots, &b(3)).is_err());
    }
}

//! TPM attestation keys proven by credential activation against an EK
//! certificate the broker trusts.
//!
//! A TPM quote proves only that *some* key signed the PCRs. Before a broker
//! trusts the quote it must know that the attestation key (AK) lives in a
//! genuine TPM: the one whose endorsement key (EK) a manufacturer (here, an
//! EK CA the operator configured) certified. The TCG way is credential
//! activation, one extra round trip inside the KBS handshake:
//!
//! 1. `POST /kbs/v0/auth` with `tee: "tpm"`: nonce and session cookie, as usual.
//! 2. `POST /kbs/v0/tpm/activate` with the cookie and
//!    `{"ek_cert", "ek_public", "ak_public", "ek_chain"?}` (base64 DER
//!    certificate, base64 TPMT_PUBLIC areas, base64 DER intermediates). The
//!    broker chains the EK certificate to its configured EK CAs, checks that
//!    the EK public area carries the certified key and is a restricted
//!    decryption key that cannot leave its TPM, that the AK is a restricted
//!    signing key the TPM generated and cannot export, and answers
//!    TPM2_MakeCredential (`rootline_tpm::make_credential`) of a secret to the
//!    EK for the AK's name: `{"credential_blob", "encrypted_secret"}`.
//! 3. The guest runs TPM2_ActivateCredential: only the TPM holding that EK,
//!    with an object of that exact name loaded, recovers the secret.
//! 4. `POST /kbs/v0/attest`: the TPM evidence JSON carries
//!    `tpm_activation: {"ek_cert", "ak_public", "proof"}` beside the quote,
//!    where `proof = HMAC-SHA256(secret, JCS(runtime-data))`. The secret
//!    itself never crosses the wire a second time, and the proof binds it to
//!    this handshake's nonce and TEE key.
//!
//! The secret is not stored: it is `HMAC-SHA256(K, label || nonce || AK name
//! || SHA-256(EK certificate))` under a key K that replicas share through the
//! store (sealed under the KEK, like the session key), so any replica can
//! check a proof for a credential another replica issued, and one issued for
//! another nonce, AK or EK is worth nothing.
//!
//! When EK CAs are configured, TPM evidence without a valid activation proof
//! is rejected (fail closed); without them, activation requests are refused
//! and TPM evidence is appraised as before (the AK trusted as far as the
//! verifier says).
//!
//! Which PCR values are good is not decided here: the verified quote goes to
//! appraisal as any TPM evidence does (reference values `tpm.pcr.*`, and
//! `tpm.event.*` to name the first differing event of a mismatching PCR).

use std::sync::{Arc, OnceLock, RwLock};

use aws_lc_rs::hmac;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rootline_core::HashAlg;
use rootline_tpm::TpmtPublic;
use rootline_tpm::types::ObjectAttributes;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Broker;
use crate::error::{Error, Result};
use crate::session::{self, Challenge};

/// The store name of the shared activation key.
const KEY_NAME: &str = "tpm-activation-v1";
/// Domain separation for the derived credential secret.
const LABEL: &[u8] = b"rootline tpm credential v1\0";
/// The largest certificate or public area accepted (bytes, decoded).
const MAX_ITEM: usize = 16 << 10;
/// The most intermediates accepted.
const MAX_CHAIN: usize = 8;

/// What the broker trusts for TPM evidence beyond the verifier's settings:
/// EK CAs. Set at start-up by `rootline serve` (or a test) through
/// [`Broker::trust_ek_roots`].
#[derive(Default)]
pub struct TpmTrust {
    inner: RwLock<TrustInner>,
    key: OnceLock<hmac::Key>,
}

#[derive(Default, Clone)]
struct TrustInner {
    ek_roots: Arc<Vec<Vec<u8>>>,
}

impl std::fmt::Debug for TpmTrust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let i = self.snapshot();
        f.debug_struct("TpmTrust")
            .field("ek_roots", &i.ek_roots.len())
            .finish_non_exhaustive()
    }
}

impl TpmTrust {
    fn snapshot(&self) -> TrustInner {
        self.inner.read().map(|g| g.clone()).unwrap_or_default()
    }
}

impl Broker {
    /// Trusts these EK CA certificates (each item a PEM or DER file's
    /// contents) for credential activation, replacing those set before. With
    /// at least one EK CA, every TPM attestation must prove its AK.
    pub fn trust_ek_roots(&self, ek_ca_files: &[Vec<u8>]) -> Result<()> {
        let mut roots = Vec::new();
        for (i, f) in ek_ca_files.iter().enumerate() {
            let certs = rootline_tpm::certs::certificates_from_bytes(f)
                .map_err(|e| Error::Config(format!("tpm_ek_roots[{i}]: {e}")))?;
            if certs.is_empty() {
                return Err(Error::Config(format!(
                    "tpm_ek_roots[{i}]: no certificate found"
                )));
            }
            for c in certs {
                rootline_tpm::certs::parse_certificate(&c)
                    .map_err(|e| Error::Config(format!("tpm_ek_roots[{i}]: {e}")))?;
                roots.push(c);
            }
        }
        if !roots.is_empty() {
            tracing::info!(
                roots = roots.len(),
                "TPM evidence must prove its AK by credential activation against the configured EK CAs"
            );
        }
        let mut g = self
            .tpm
            .inner
            .write()
            .map_err(|_| Error::Config("tpm trust lock poisoned".into()))?;
        *g = TrustInner {
            ek_roots: Arc::new(roots),
        };
        Ok(())
    }

    /// The shared activation key, created by the first replica.
    async fn activation_key(&self) -> Result<&hmac::Key> {
        if let Some(k) = self.tpm.key.get() {
            return Ok(k);
        }
        let mut candidate = [0u8; 32];
        aws_lc_rs::rand::fill(&mut candidate)
            .map_err(|_| Error::Crypto("random generator failed".into()))?;
        let sealed = self
            .store
            .shared_value(KEY_NAME, &self.kek.seal(KEY_NAME, &candidate)?)
            .await?;
        let raw = self.kek.open(KEY_NAME, &sealed)?;
        let _ = self.tpm.key.set(hmac::Key::new(hmac::HMAC_SHA256, &raw));
        self.tpm
            .key
            .get()
            .ok_or_else(|| Error::Crypto("activation key unavailable".into()))
    }
}

/// The activation route.
pub(crate) fn routes() -> Vec<crate::Route> {
    vec![crate::Route::post("/kbs/v0/tpm/activate", activate)]
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActivateRequest {
    ek_cert: String,
    ek_public: String,
    ak_public: String,
    #[serde(default)]
    ek_chain: Vec<String>,
}

fn b64(field: &str, s: &str) -> Result<Vec<u8>> {
    if s.len() > MAX_ITEM * 4 / 3 + 4 {
        return Err(Error::Malformed(format!(
            "{field} is larger than {MAX_ITEM} bytes"
        )));
    }
    STANDARD
        .decode(s.trim())
        .map_err(|_| Error::Malformed(format!("{field} is not base64")))
}

fn challenge(b: &Broker, headers: &HeaderMap) -> Result<Challenge> {
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(session::find_cookie)
        .ok_or_else(|| {
            Error::Unauthenticated("no kbs-session-id cookie: call /kbs/v0/auth first".into())
        })?;
    let c = b.sessions.open(cookie, b.clock.now())?;
    if c.tee != "tpm" {
        return Err(Error::Malformed(format!(
            "credential activation is for tee tpm; this session is for {}",
            c.tee
        )));
    }
    Ok(c)
}

/// A verified EK: its certificate chains to a configured EK CA, and its
/// public area carries the certified key with storage-key attributes.
struct CheckedEk {
    subject: String,
}

fn now(b: &Broker) -> Result<time::OffsetDateTime> {
    time::OffsetDateTime::from_unix_timestamp(b.clock.now())
        .map_err(|_| Error::Config("clock out of range".into()))
}

fn check_ek_chain(
    roots: &[Vec<u8>],
    ek_cert: &[u8],
    chain: &[Vec<u8>],
    at: time::OffsetDateTime,
) -> Result<rootline_tpm::CertChain> {
    if roots.is_empty() {
        return Err(Error::Unsupported(
            "this broker trusts no EK CA (tpm_ek_roots), so it cannot activate credentials".into(),
        ));
    }
    rootline_tpm::verify_chain(ek_cert, chain, roots, at)
        .map_err(|e| Error::Rejected(format!("tpm: EK certificate: {e}")))
}

fn check_ek(chain: &rootline_tpm::CertChain, ek_public: &[u8]) -> Result<(TpmtPublic, CheckedEk)> {
    let ek =
        TpmtPublic::parse(ek_public).map_err(|e| Error::Malformed(format!("ek_public: {e}")))?;
    let key = ek
        .public_key()
        .map_err(|e| Error::Malformed(format!("ek_public: {e}")))?;
    if *key != chain.leaf_key {
        return Err(Error::Rejected(
            "tpm: the EK public area does not carry the key the EK certificate certifies".into(),
        ));
    }
    let a = ek.attributes;
    let need = ObjectAttributes::FIXED_TPM
        | ObjectAttributes::FIXED_PARENT
        | ObjectAttributes::RESTRICTED
        | ObjectAttributes::DECRYPT;
    if !a.has(need) || a.has(ObjectAttributes::SIGN) {
        return Err(Error::Rejected(format!(
            "tpm: the EK public area has attributes {a}; an EK is a restricted decryption key fixed to its TPM"
        )));
    }
    Ok((
        ek,
        CheckedEk {
            subject: chain.subjects.first().cloned().unwrap_or_default(),
        },
    ))
}

/// Parses the AK's public area and checks it is a restricted signing key
/// the TPM generated and cannot export; returns it with its name.
fn check_ak(ak_public: &[u8]) -> Result<(TpmtPublic, Vec<u8>)> {
    let ak =
        TpmtPublic::parse(ak_public).map_err(|e| Error::Malformed(format!("ak_public: {e}")))?;
    let a = ak.attributes;
    let need = ObjectAttributes::FIXED_TPM
        | ObjectAttributes::FIXED_PARENT
        | ObjectAttributes::SENSITIVE_DATA_ORIGIN
        | ObjectAttributes::RESTRICTED
        | ObjectAttributes::SIGN;
    if !a.has(need) || a.has(ObjectAttributes::DECRYPT) {
        return Err(Error::Rejected(format!(
            "tpm: the AK public area has attributes {a}; an AK is a restricted signing key generated in and fixed to its TPM"
        )));
    }
    let name = ak
        .name()
        .map_err(|e| Error::Malformed(format!("ak_public: {e}")))?;
    Ok((ak, name))
}

/// The credential secret for one handshake, AK and EK certificate.
fn secret(key: &hmac::Key, nonce: &str, ak_name: &[u8], ek_cert: &[u8]) -> Result<Vec<u8>> {
    let ek_hash = HashAlg::SHA256
        .hash(ek_cert)
        .ok_or_else(|| Error::Crypto("sha256 unavailable".into()))?;
    let mut ctx = hmac::Context::with_key(key);
    ctx.update(LABEL);
    ctx.update(&u32::try_from(nonce.len()).unwrap_or(u32::MAX).to_be_bytes());
    ctx.update(nonce.as_bytes());
    ctx.update(
        &u32::try_from(ak_name.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    ctx.update(ak_name);
    ctx.update(&ek_hash.bytes);
    Ok(ctx.sign().as_ref().to_vec())
}

async fn activate(
    State(b): State<Arc<Broker>>,
    client: crate::audit::ClientAddr,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response> {
    let c = challenge(&b, &headers)?;
    let req: ActivateRequest = serde_json::from_slice(&body)
        .map_err(|e| Error::Malformed(format!("activation request: {e}")))?;
    if req.ek_chain.len() > MAX_CHAIN {
        return Err(Error::Malformed(format!(
            "ek_chain has more than {MAX_CHAIN} certificates"
        )));
    }
    let ek_cert = b64("ek_cert", &req.ek_cert)?;
    let ek_public = b64("ek_public", &req.ek_public)?;
    let ak_public = b64("ak_public", &req.ak_public)?;
    let chain = req
        .ek_chain
        .iter()
        .enumerate()
        .map(|(i, s)| b64(&format!("ek_chain[{i}]"), s))
        .collect::<Result<Vec<_>>>()?;
    let trust = b.tpm.snapshot();
    let checked = check_ek_chain(&trust.ek_roots, &ek_cert, &chain, now(&b)?)
        .and_then(|ch| check_ek(&ch, &ek_public))
        .and_then(|(ek, e)| Ok((ek, e, check_ak(&ak_public)?)));
    let (ek, ek_info, (_, ak_name)) = match checked {
        Ok(v) => v,
        Err(e) => {
            let reason = e.to_string();
            b.audit_refusal(crate::audit::AuditEvent {
                client,
                evidence_digest: None,
                resource: "-",
                policy: "tpm-activation",
                outcome: crate::audit::Outcome::Rejected,
                reason: &reason,
                workload: Some(&crate::audit::Workload {
                    tee: Some("tpm".into()),
                    ..Default::default()
                }),
                failed: None,
            })
            .await;
            return Err(e);
        }
    };
    let key = b.activation_key().await?;
    let s = secret(key, &c.nonce, &ak_name, &ek_cert)?;
    let (blob, enc) = rootline_tpm::make_credential(&ek, &ak_name, &s)
        .map_err(|e| Error::Rejected(format!("tpm: MakeCredential to this EK: {e}")))?;
    tracing::info!(ek = %ek_info.subject, %client, "tpm credential issued");
    Ok(Json(json!({
        "credential_blob": STANDARD.encode(blob),
        "encrypted_secret": STANDARD.encode(enc),
    }))
    .into_response())
}

/// The `tpm_activation` member of TPM evidence.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Activation {
    ek_cert: String,
    ak_public: String,
    proof: String,
    #[serde(default)]
    ek_chain: Vec<String>,
}

/// The attestation-time check (called by `/kbs/v0/attest` for every
/// evidence): for TPM evidence when EK CAs are configured, the evidence must
/// carry `tpm_activation` whose proof is the HMAC, under the secret issued
/// for this nonce, AK and EK, of the canonical runtime data; and the AK whose
/// public area was activated must be the key that signed the quote
/// (`ak_pubkey`). Other TEEs pass untouched.
pub(crate) async fn check_attestation(
    b: &Broker,
    c: &Challenge,
    evidence: &Value,
    runtime_data: &Value,
) -> Result<()> {
    if c.tee != "tpm" {
        return Ok(());
    }
    let trust = b.tpm.snapshot();
    let act = evidence.get("tpm_activation");
    if trust.ek_roots.is_empty() {
        return match act {
            None => Ok(()),
            Some(_) => Err(Error::Unsupported(
                "the evidence carries tpm_activation, but this broker trusts no EK CA (tpm_ek_roots)"
                    .into(),
            )),
        };
    }
    let act = act.ok_or_else(|| {
        Error::Rejected(
            "tpm: the AK is not proven: this broker requires credential activation (POST /kbs/v0/tpm/activate, then tpm_activation in the evidence)".into(),
        )
    })?;
    let act: Activation = serde_json::from_value(act.clone())
        .map_err(|e| Error::Malformed(format!("tpm_activation: {e}")))?;
    if act.ek_chain.len() > MAX_CHAIN {
        return Err(Error::Malformed(format!(
            "tpm_activation.ek_chain has more than {MAX_CHAIN} certificates"
        )));
    }
    let ek_cert = b64("tpm_activation.ek_cert", &act.ek_cert)?;
    let chain = act
        .ek_chain
        .iter()
        .enumerate()
        .map(|(i, s)| b64(&format!("tpm_activation.ek_chain[{i}]"), s))
        .collect::<Result<Vec<_>>>()?;
    // The EK certificate is checked again: the trusted CAs may have changed
    // since the credential was issued.
    check_ek_chain(&trust.ek_roots, &ek_cert, &chain, now(b)?)?;
    let (ak, ak_name) = check_ak(&b64("tpm_activation.ak_public", &act.ak_public)?)?;
    let quoted_by = evidence
        .get("ak_pubkey")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::Malformed("tpm evidence has no ak_pubkey".into()))?;
    let quoted_by = rootline_tpm::AkPublic::from_bytes(quoted_by.as_bytes())
        .map_err(|e| Error::Malformed(format!("ak_pubkey: {e}")))?;
    let activated = ak
        .public_key()
        .map_err(|e| Error::Malformed(format!("tpm_activation.ak_public: {e}")))?;
    if *activated != quoted_by.key {
        return Err(Error::Rejected(
            "tpm: the activated AK is not the key that signed the quote (ak_pubkey)".into(),
        ));
    }
    let proof = b64("tpm_activation.proof", &act.proof)?;
    let s = secret(b.activation_key().await?, &c.nonce, &ak_name, &ek_cert)?;
    let canon = serde_json_canonicalizer::to_vec(runtime_data)
        .map_err(|e| Error::Malformed(format!("runtime-data: {e}")))?;
    hmac::verify(&hmac::Key::new(hmac::HMAC_SHA256, &s), &canon, &proof).map_err(|_| {
        Error::Rejected(
            "tpm: credential activation proof does not verify: the AK was not activated by the TPM holding the certified EK for this session".into(),
        )
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn secret_depends_on_every_input() {
        let k = hmac::Key::new(hmac::HMAC_SHA256, &[7; 32]);
        let base = secret(&k, "n", b"\x00\x0bname", b"cert").unwrap();
        assert_eq!(base.len(), 32);
        assert_eq!(base, secret(&k, "n", b"\x00\x0bname", b"cert").unwrap());
        assert_ne!(base, secret(&k, "m", b"\x00\x0bname", b"cert").unwrap());
        assert_ne!(base, secret(&k, "n", b"\x00\x0bnamf", b"cert").unwrap());
        assert_ne!(base, secret(&k, "n", b"\x00\x0bname", b"cerT").unwrap());
        let other = hmac::Key::new(hmac::HMAC_SHA256, &[8; 32]);
        assert_ne!(base, secret(&other, "n", b"\x00\x0bname", b"cert").unwrap());
    }

    #[test]
    fn ak_attributes_are_checked() {
        // A synthetic AK is a restricted signing key: accepted.
        let ak = rootline_tpm::synthetic::SyntheticAk::ecc_p256().unwrap();
        let raw = ak.tpmt_public().raw.clone();
        let (_, name) = check_ak(&raw).unwrap();
        assert_eq!(name, ak.tpmt_public().name().unwrap());
        // The same area with `restricted` cleared is refused: an unrestricted
        // key could sign a forged TPMS_ATTEST.
        let mut p = rootline_tpm::TpmtPublic::parse(&raw).unwrap();
        let bits = p.attributes.0 & !ObjectAttributes::RESTRICTED;
        let mut bytes = raw.clone();
        // TPMT_PUBLIC: type (2), nameAlg (2), objectAttributes (4).
        bytes[4..8].copy_from_slice(&bits.to_be_bytes());
        p.attributes = ObjectAttributes(bits);
        let e = check_ak(&bytes).unwrap_err();
        assert!(e.to_string().contains("restricted signing key"), "{e}");
        assert!(check_ak(&raw[..raw.len() - 1]).is_err());
    }
}

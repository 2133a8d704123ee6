//! The KBS handshake for a TPM whose attestation key the broker proves by
//! credential activation (the broker's `tpm_activation` module has the
//! protocol and why).
//!
//! After `/kbs/v0/auth`, the attester sends its EK certificate (from the
//! TPM's NV index), the EK public area and the AK public area to
//! `/kbs/v0/tpm/activate`; the broker answers TPM2_MakeCredential to that
//! EK for the AK's name; TPM2_ActivateCredential recovers the secret, which
//! only this TPM can; the quote then goes to `/kbs/v0/attest` with
//! `tpm_activation: {ek_cert, ak_public, proof}`, the proof being
//! `HMAC-SHA256(secret, JCS(runtime-data))`, so the secret never travels a
//! second time. The evidence also carries the IMA log (`ima_log`) when the
//! kernel exposes one.

use std::time::Instant;

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::evidence::TpmAttester;
use crate::kbs::{KbsClient, Session};
use crate::tpm::Tpm;
use crate::{Error, kbs};

/// Where Linux exposes the IMA measurement list.
pub const IMA_LOG: &str = "/sys/kernel/security/ima/binary_runtime_measurements";

/// The proof of activation: `HMAC-SHA256(secret, JCS(runtime_data))`.
pub fn proof(secret: &[u8], runtime_data: &Value) -> Result<Vec<u8>, Error> {
    let canon = serde_json_canonicalizer::to_vec(runtime_data)
        .map_err(|e| Error::malformed("runtime-data", e.to_string()))?;
    Ok(
        hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), &canon)
            .as_ref()
            .to_vec(),
    )
}

/// Times of one activated handshake, for callers that report them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timings {
    /// EK, EK certificate and AK out of the TPM.
    pub keys: std::time::Duration,
    /// The activate round trip plus TPM2_ActivateCredential.
    pub activation: std::time::Duration,
    /// Quotes and PCR reads.
    pub quote: std::time::Duration,
}

impl KbsClient {
    /// The handshake with credential activation, with the guests' retries
    /// (see [`kbs::Retry`]).
    pub fn attest_tpm_activated(
        &self,
        attester: &TpmAttester,
    ) -> Result<(Session, Timings), Error> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.attest_tpm_activated_once(attester) {
                Ok(s) => return Ok(s),
                Err(e) if retryable(&e) && attempt < self.retry.handshake => {
                    std::thread::sleep(self.retry.delay);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One handshake: auth, activate, quote, attest.
    pub fn attest_tpm_activated_once(
        &self,
        attester: &TpmAttester,
    ) -> Result<(Session, Timings), Error> {
        let challenge = self.auth("tpm")?;
        let cookie = &challenge.cookie;
        let mut t = Timings::default();
        let mut tpm = Tpm::open(&attester.tcti)?;
        let t0 = Instant::now();
        let ek = tpm.create_ek(attester.alg)?;
        let ek_cert = match tpm.ek_certificate(attester.alg) {
            Ok(Some(c)) => c,
            Ok(None) => {
                let _ = tpm.flush_ek(ek);
                return Err(Error::Unsupported(
                    "the TPM holds no EK certificate for this key algorithm (NV 0x01c00002 / 0x01c0000a), so its AK cannot be activated".into(),
                ));
            }
            Err(e) => {
                let _ = tpm.flush_ek(ek);
                return Err(e);
            }
        };
        let ak = match tpm.create_ak(&ek, attester.alg) {
            Ok(a) => a,
            Err(e) => {
                let _ = tpm.flush_ek(ek);
                return Err(e);
            }
        };
        t.keys = t0.elapsed();
        let result = (|| {
            let t1 = Instant::now();
            let act = json!({
                "ek_cert": STANDARD.encode(&ek_cert),
                "ek_public": STANDARD.encode(&ek.public),
                "ak_public": STANDARD.encode(&ak.public),
            });
            let (body, _) = self.exchange(
                "POST",
                "/kbs/v0/tpm/activate",
                Some(cookie),
                None,
                Some(&act),
            )?;
            let v: Value = serde_json::from_slice(&body)
                .map_err(|e| Error::malformed("activation response", e.to_string()))?;
            let field = |k: &str| {
                v.get(k)
                    .and_then(Value::as_str)
                    .and_then(|s| STANDARD.decode(s).ok())
                    .ok_or_else(|| {
                        Error::malformed("activation response", format!("no base64 {k}"))
                    })
            };
            let secret = tpm.activate_credential(
                &ak,
                &ek,
                &field("credential_blob")?,
                &field("encrypted_secret")?,
            )?;
            t.activation = t1.elapsed();
            let (key, runtime_data, report_data) = kbs::bind_new_key(&challenge)?;
            let log = match &attester.eventlog {
                Some(p) => Some(std::fs::read(p).map_err(Error::io(p.display()))?),
                None => {
                    crate::tpm::read_event_log(std::path::Path::new(crate::tpm::BIOS_EVENT_LOG))?
                }
            };
            let t2 = Instant::now();
            let mut evidence = crate::tpm_evidence::collect(
                &mut tpm,
                &ak,
                &attester.selection,
                &report_data,
                log.as_deref(),
            )?;
            t.quote = t2.elapsed();
            if let Value::Object(m) = &mut evidence {
                m.insert(
                    "tpm_activation".into(),
                    json!({
                        "ek_cert": STANDARD.encode(&ek_cert),
                        "ak_public": STANDARD.encode(&ak.public),
                        "proof": STANDARD.encode(proof(&secret, &runtime_data)?),
                    }),
                );
                if let Some(ima) = crate::tpm::read_event_log(std::path::Path::new(IMA_LOG))? {
                    m.insert("ima_log".into(), STANDARD.encode(ima).into());
                }
            }
            let token = self.post_attest(cookie, &runtime_data, evidence)?;
            Ok(Session {
                cookie: cookie.clone(),
                token,
                key,
                runtime_data,
                evidence_time: t.activation + t.quote,
            })
        })();
        let _ = tpm.flush_ak(ak);
        let _ = tpm.flush_ek(ek);
        result.map(|s| (s, t))
    }
}

/// As the plain handshake: transport failures, 5xx, 401 and 429 are retried.
fn retryable(e: &Error) -> bool {
    match e {
        Error::Http { .. } => true,
        Error::Broker { status, .. } => {
            !e.is_policy_denial() && (*status >= 500 || *status == 401 || *status == 429)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn proof_covers_the_canonical_runtime_data() {
        let a: Value =
            serde_json::from_str(r#"{"tee-pubkey":{"y":"Y","x":"X"},"nonce":"n"}"#).unwrap();
        let b: Value =
            serde_json::from_str(r#"{"nonce":"n","tee-pubkey":{"x":"X","y":"Y"}}"#).unwrap();
        assert_eq!(proof(b"s", &a).unwrap(), proof(b"s", &b).unwrap());
        assert_ne!(proof(b"s", &a).unwrap(), proof(b"t", &a).unwrap());
        let c: Value =
            serde_json::from_str(r#"{"nonce":"m","tee-pubkey":{"x":"X","y":"Y"}}"#).unwrap();
        assert_ne!(proof(b"s", &a).unwrap(), proof(b"s", &c).unwrap());
        let want = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, b"s"),
            br#"{"nonce":"n","tee-pubkey":{"x":"X","y":"Y"}}"#,
        );
        assert_eq!(proof(b"s", &a).unwrap(), want.as_ref());
    }
}

//! IBM Z Secure Execution in the KBS handshake, as Trustee and
//! guest-components speak it (docs/se.md).
//!
//! SE evidence answers a request the verifier made, so `/auth` for tee `se`
//! does real work: it builds an attestation request (ARCB) for the
//! configured, verified host keys and answers with a challenge whose
//! `nonce` is the JSON text of an `SeAttestationRequest`
//! ([`rootline_se::Challenge`]). The request secret (measurement key and
//! nonce) travels sealed inside that challenge under the broker's sealing
//! key, so `/auth` still writes nothing: the guest echoes the sealed blobs
//! in its evidence and the verifier (`Verifier::with_se_sealing_key`) opens
//! them. The challenge is 1-2 KB, more than a session cookie may hold, so
//! the cookie keeps its SHA-256 instead ([`nonce_digest`]).
//!
//! What binds the answer to the session: the guest hashes the runtime data
//! (whose nonce is that JSON) with SHA-512 and gives the digest to the
//! Ultravisor as user data, which the measurement covers; [`check_echo`]
//! also requires the evidence to carry this challenge's sealed blobs and
//! image header fields, so a secret from another session cannot be
//! substituted.

use std::path::Path;

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rootline_se::{AttestationRequest, Flags, HkdVerifier, HostKey, Pki, SealingKey};
use serde_json::Value;

use crate::config::Config;
use crate::error::{Error, Result};

/// The KBS tee name.
pub const TEE_NAME: &str = "se";

/// What the broker needs to issue SE challenges.
#[derive(Debug, Clone)]
pub struct SeConfig {
    host_keys: Vec<HostKey>,
    hdr_tags: [u8; 208],
    sealing: SealingKey,
}

impl SeConfig {
    /// Challenges for `host_keys` (already verified), expecting the image
    /// whose SE header fields are `hdr_tags`, sealed under `sealing` (the
    /// key the verifier opens them with).
    pub fn new(host_keys: Vec<HostKey>, hdr_tags: [u8; 208], sealing: SealingKey) -> Result<Self> {
        if host_keys.is_empty() {
            return Err(Error::Config("SE: no host key".into()));
        }
        Ok(Self {
            host_keys,
            hdr_tags,
            sealing,
        })
    }

    /// From the `se_*` settings, the host-key documents verified at `at`
    /// (unix seconds) to the IBM signing key, its chain and CRLs; `None`
    /// when no host-key document is configured.
    pub fn from_config(cfg: &Config, at: i64) -> Result<Option<Self>> {
        if cfg.se_host_key_documents.is_empty() {
            return Ok(None);
        }
        let read = |p: &Path| {
            std::fs::read(p).map_err(|e| Error::Config(format!("cannot read {}: {e}", p.display())))
        };
        let signing = cfg.se_ibm_signing_key.as_deref().ok_or_else(|| {
            Error::Config("se_host_key_documents needs se_ibm_signing_key".into())
        })?;
        let mut pki = Pki::new();
        let add = |pki: &mut Pki, what: &str, p: &Path| -> Result<()> {
            pki.add(&read(p)?)
                .map(|_| ())
                .map_err(|e| Error::Config(format!("{what} {}: {e}", p.display())))
        };
        add(&mut pki, "se_ibm_signing_key", signing)?;
        for p in &cfg.se_intermediates {
            add(&mut pki, "se_intermediates", p)?;
        }
        for p in &cfg.se_crls {
            add(&mut pki, "se_crls", p)?;
        }
        let mut roots = Pki::new();
        for p in &cfg.se_roots {
            add(&mut roots, "se_roots", p)?;
        }
        let verifier = HkdVerifier::new(roots.certs(), &pki, at)
            .map_err(|e| Error::Config(format!("SE IBM signing key: {e}")))?;
        let host_keys = cfg
            .se_host_key_documents
            .iter()
            .map(|p| {
                verifier.verify(&read(p)?, at).map_err(|e| {
                    Error::Config(format!("se_host_key_documents {}: {e}", p.display()))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let hdr_tags = match (&cfg.se_image_header, &cfg.se_image_hdr_tags) {
            (Some(p), None) => rootline_se::hdr_tags_from_se_header(&read(p)?)
                .map_err(|e| Error::Config(format!("se_image_header {}: {e}", p.display())))?,
            (None, Some(h)) => hex::decode(h.trim())
                .ok()
                .and_then(|b| <[u8; 208]>::try_from(b).ok())
                .ok_or_else(|| Error::Config("se_image_hdr_tags is not 208 bytes of hex".into()))?,
            _ => {
                return Err(Error::Config(
                    "SE needs exactly one of se_image_header (pvextract-hdr output) and \
                     se_image_hdr_tags (hex): the guest's answer only verifies for the image \
                     the challenge names"
                        .into(),
                ));
            }
        };
        let sealing = sealing_key(cfg)?.ok_or_else(|| {
            Error::Config(
                "se_host_key_documents needs se_sealing_key_file (32 random bytes, raw or hex, \
                 the same file on every replica)"
                    .into(),
            )
        })?;
        Self::new(host_keys, hdr_tags, sealing).map(Some)
    }

    /// A fresh challenge: the `nonce` text of an `/auth` answer.
    pub fn challenge(&self) -> Result<String> {
        let req = AttestationRequest::new(&self.host_keys, Flags::TRUSTEE)
            .map_err(|e| Error::Crypto(format!("SE attestation request: {e}")))?;
        let c =
            rootline_se::Challenge::new(req.arcb(), req.secret(), &self.hdr_tags, &self.sealing)
                .map_err(|e| Error::Crypto(format!("SE challenge: {e}")))?;
        Ok(c.to_json())
    }
}

/// The sealing key named by `se_sealing_key_file` (32 raw bytes or 64 hex
/// digits), if any.
pub fn sealing_key(cfg: &Config) -> Result<Option<SealingKey>> {
    let Some(p) = &cfg.se_sealing_key_file else {
        return Ok(None);
    };
    let bytes =
        std::fs::read(p).map_err(|e| Error::Config(format!("cannot read {}: {e}", p.display())))?;
    let key: Option<[u8; 32]> = match bytes.len() {
        32 => bytes.as_slice().try_into().ok(),
        _ => std::str::from_utf8(&bytes)
            .ok()
            .and_then(|t| hex::decode(t.trim()).ok())
            .and_then(|b| b.try_into().ok()),
    };
    key.map(|k| Some(SealingKey::new(k))).ok_or_else(|| {
        Error::Config(format!(
            "se_sealing_key_file {}: not 32 bytes, raw or hex",
            p.display()
        ))
    })
}

/// What the session cookie keeps of an SE challenge: `se-sha256:` and the
/// base64 SHA-256 of its JSON text.
pub fn nonce_digest(challenge_json: &str) -> String {
    let d = digest::digest(&digest::SHA256, challenge_json.as_bytes());
    format!("se-sha256:{}", STANDARD.encode(d.as_ref()))
}

/// Checks that `evidence` (guest-components' SE evidence, as JSON text or
/// an object) echoes the sealed secret and the image header fields of
/// `challenge_json`, the challenge this session issued.
pub fn check_echo(challenge_json: &str, evidence: &Value) -> Result<()> {
    let c: rootline_se::Challenge = serde_json::from_str(challenge_json)
        .map_err(|e| Error::Malformed(format!("SE challenge in runtime-data nonce: {e}")))?;
    let bytes = match evidence {
        Value::String(s) => s.as_bytes().to_vec(),
        v => serde_json::to_vec(v).map_err(|e| Error::Malformed(e.to_string()))?,
    };
    let r = rootline_se::Response::from_json(&bytes)
        .map_err(|e| Error::Rejected(format!("not SE evidence: {e}")))?;
    let same = |field: &str, ours: &str, theirs: &[u8]| {
        if STANDARD.decode(ours).ok().as_deref() == Some(theirs) {
            Ok(())
        } else {
            Err(Error::Rejected(format!(
                "SE evidence {field} is not this session's challenge's"
            )))
        }
    };
    same(
        "encr_measurement_key",
        &c.encr_measurement_key,
        &r.encr_measurement_key,
    )?;
    same(
        "encr_request_nonce",
        &c.encr_request_nonce,
        &r.encr_request_nonce,
    )?;
    same("image_hdr_tags", &c.image_hdr_tags, &r.hdr_tags)
}

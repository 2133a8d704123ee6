//! The broker's KBS operations, free of HTTP types: `/auth`, `/attest` and
//! `/resource` as methods of [`Broker`] that take what the HTTP layer read
//! (body bytes, the session cookie, the Bearer token, path segments) and
//! return values (a challenge, a token, a JWE). The handlers in
//! [`crate::kbs`] only map requests to these calls and their answers and
//! errors to responses.

use std::str::FromStr as _;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::audit::{self, AuditEvent, ClientAddr};
use crate::error::{Error, Result};
use crate::evidence::{self, Binding, BindingHash};
use crate::policy::Allow;
use crate::session::{self, Challenge};
use crate::store::{SessionClaim, SessionRow};
use crate::token::{self, Attested, TokenInput};
use crate::{Broker, policy, sim};

/// Protocol versions accepted: 0.x from 0.1 through the 0.4 series (Trustee
/// itself accepts exactly 0.4.0; its protocol document still shows 0.1.1).
/// Bodies are parsed in the 0.4 shapes; an older client whose attestation
/// has another shape gets a 400 naming the field.
const PROTOCOL: &str = ">=0.1.0, <0.5.0";

#[derive(Deserialize)]
struct AuthRequest {
    version: String,
    tee: String,
    #[serde(rename = "extra-params", default)]
    extra_params: Value,
}

fn parse_json<T: serde::de::DeserializeOwned>(what: &str, body: &[u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| Error::Malformed(format!("{what}: {e}")))
}

/// A tee name this broker may be asked about (`kbs-types`' names plus the
/// simulated TEE), as a static string for metric labels.
fn known_tee(tee: &str) -> Option<&'static str> {
    if tee == sim::TEE_NAME {
        return Some(sim::TEE_NAME);
    }
    use kbs_types::Tee;
    // The match is exhaustive, so a tee kbs-types adds fails the build here
    // instead of becoming an unnamed label.
    Some(match Tee::from_str(tee).ok()? {
        Tee::AzSnpVtpm => "az-snp-vtpm",
        Tee::AzTdxVtpm => "az-tdx-vtpm",
        Tee::Nvidia => "nvidia",
        Tee::Sgx => "sgx",
        Tee::Snp => "snp",
        Tee::Tdx => "tdx",
        Tee::Cca => "cca",
        Tee::Csv => "csv",
        Tee::Se => "se",
        Tee::HygonDcu => "hygondcu",
        Tee::NvidiaDpu => "nvidia-dpu",
        Tee::Tpm => "tpm",
        Tee::Sample => "sample",
        Tee::SampleDevice => "sampledevice",
    })
}

/// A challenge issued by `/auth`, with the sealed session it belongs to.
#[derive(Debug)]
pub struct Issued {
    /// The challenge body.
    pub challenge: kbs_types::Challenge,
    /// The sealed session, for the `kbs-session-id` cookie.
    pub cookie: String,
}

impl Broker {
    /// `/auth`: checks the protocol version and the tee, and issues a
    /// challenge. `tee` is set once the tee is known to be one of ours (a
    /// label value from a closed set).
    pub fn auth(&self, body: &[u8], tee: &mut Option<&'static str>) -> Result<Issued> {
        let b = self;
        let req: AuthRequest = parse_json("auth request", body)?;
        let version = semver::Version::parse(&req.version).map_err(|_| {
            Error::Unauthenticated(format!("protocol version {:?} is not semver", req.version))
        })?;
        static ACCEPTED: std::sync::LazyLock<Option<semver::VersionReq>> =
            std::sync::LazyLock::new(|| semver::VersionReq::parse(PROTOCOL).ok());
        let accepted = ACCEPTED
            .as_ref()
            .ok_or_else(|| Error::Config(format!("protocol range {PROTOCOL} does not parse")))?;
        if !accepted.matches(&version) {
            return Err(Error::Unauthenticated(format!(
                "protocol version {version} is not supported; this broker speaks {PROTOCOL}"
            )));
        }
        // Unknown tees and a refused sample TEE are 401, as Trustee answers
        // every /auth failure (guest-components prints a 401's problem detail;
        // anything else is "KBS Server Internal Failed" to it).
        *tee = known_tee(&req.tee);
        if tee.is_none() {
            return Err(Error::Unauthenticated(format!(
                "tee {:?} is unknown to this broker",
                req.tee
            )));
        }
        if req.tee == "sample" && !b.verifier.insecure_sample {
            return Err(Error::Unauthenticated(
                "the unsigned sample TEE is refused by this broker (insecure_sample_tee is off)"
                    .into(),
            ));
        }
        // As Trustee: when tee-metadata is present, its primary TEE must be the
        // one announced.
        if let Some(primary) = req
            .extra_params
            .pointer("/tee-metadata/primary_tee/tee")
            .and_then(Value::as_str)
        {
            if primary != req.tee {
                return Err(Error::Malformed(format!(
                    "extra-params tee-metadata names primary tee {primary:?} but the request is for {:?}",
                    req.tee
                )));
            }
        }
        // SE: the nonce is the attestation request itself, and the runtime
        // data is hashed with SHA-512 whatever the guest lists (the
        // Ultravisor's user data holds a 64-byte digest), as Trustee does.
        let se = if req.tee == crate::se::TEE_NAME {
            let cfg = b.verifier.se.as_ref().ok_or_else(|| {
                Error::Unauthenticated(
                    "tee \"se\" is not configured on this broker (se_host_key_documents)".into(),
                )
            })?;
            Some(cfg.challenge()?)
        } else {
            None
        };
        let hash = if se.is_some() {
            BindingHash::Sha512
        } else {
            BindingHash::negotiate(&req.extra_params)
        };
        let nonce = match &se {
            Some(json) => json.clone(),
            None => STANDARD.encode(crate::store::time_ordered::<32>()?),
        };
        let c = Challenge {
            // The cookie keeps an SE challenge's digest: the JSON is too
            // long for it.
            nonce: se
                .as_deref()
                .map_or_else(|| nonce.clone(), crate::se::nonce_digest),
            tee: req.tee,
            expires_at: b.clock.now() + b.session_ttl,
            hash: hash.name().into(),
        };
        let cookie = b.sessions.seal(&c)?;
        let body = kbs_types::Challenge {
            nonce,
            // ROOTLINE_MARK tells rootline's attester that this broker reads
            // its richer evidence forms; guests ignore it.
            extra_params: json!({
                "selected-hash-algorithm": hash.name(),
                rootline_kbs::ROOTLINE_MARK: env!("CARGO_PKG_VERSION"),
            }),
        };
        Ok(Issued {
            challenge: body,
            cookie,
        })
    }
}

/// A signed attestation token and the EAR status it carries.
#[derive(Debug)]
pub struct Attestation {
    /// The token (`{"token": ...}` on the wire).
    pub token: String,
    /// The appraisal's EAR status.
    pub status: &'static str,
}

impl Broker {
    /// `/attest`: verifies the evidence of a session opened by `/auth`
    /// (`cookie`), appraises it and signs a token. `tee` is set from the
    /// session (a name `/auth` accepted), for the caller's metrics.
    pub async fn attest(
        self: &Arc<Self>,
        client: ClientAddr,
        cookie: Option<&str>,
        body: &[u8],
        tee: &mut &'static str,
    ) -> Result<Attestation> {
        let b = self;
        let cookie = cookie.ok_or_else(|| {
            Error::Unauthenticated("no kbs-session-id cookie: call /kbs/v0/auth first".into())
        })?;
        let now = b.clock.now();
        let c = b.sessions.open(cookie, now)?;
        // A name /auth accepted, as a label from the closed set.
        *tee = known_tee(&c.tee).unwrap_or("other");
        let raw: Value = parse_json("attestation", body)?;
        let att = kbs_types::Attestation::deserialize(&raw)
            .map_err(|e| Error::Malformed(format!("attestation: {e}")))?;
        let ours = if c.tee == crate::se::TEE_NAME {
            crate::se::nonce_digest(&att.runtime_data.nonce) == c.nonce
        } else {
            att.runtime_data.nonce == c.nonce
        };
        if !ours {
            return Err(Error::Rejected(
                "runtime-data nonce is not this session's challenge".into(),
            ));
        }
        if c.tee == crate::se::TEE_NAME {
            crate::se::check_echo(&att.runtime_data.nonce, &att.tee_evidence.primary_evidence)?;
        }
        let additional = device_evidence(&att.tee_evidence.additional_evidence)?;
        let runtime_raw = raw
            .get("runtime-data")
            .cloned()
            .ok_or_else(|| Error::Malformed("attestation has no runtime-data".into()))?;
        // The runtime data's canonical JSON, once: its size, the session row's
        // binding digest and both binding candidates derive from it. Its size is
        // bounded because runtime data is copied into the token, the session
        // row and the recent-session cache (hardening finding 4: 20 sessions
        // with megabytes of it reached 1.64 GB); a nonce and the largest
        // tee-pubkey (RSA-4096, P-521) take well under 2 KiB.
        let runtime_canon = evidence::canonical_json(&runtime_raw)
            .map_err(|e| Error::Malformed(format!("runtime-data cannot be canonicalised: {e}")))?;
        let runtime_len = runtime_canon.len();
        if runtime_len > MAX_RUNTIME_DATA {
            return Err(Error::Malformed(format!(
                "runtime-data is {runtime_len} bytes; at most {MAX_RUNTIME_DATA} are accepted (a nonce and a tee-pubkey)"
            )));
        }
        let evidence_digest = {
            let canon = evidence::canonical_json(raw.get("tee-evidence").unwrap_or(&Value::Null))
                .map_err(|e| Error::Malformed(format!("tee-evidence: {e}")))?;
            hex::encode(BindingHash::Sha384.digest(&canon))
        };
        let binding_digest = hex::encode(BindingHash::Sha384.digest(&runtime_canon));
        // An attested session answers /attest again with the same token (as
        // Trustee does), but only for the same runtime data: the token is bound
        // to that tee-pubkey, so it is useless to anyone without its private key.
        // Another key on a used nonce is a replay. Both are decided when the
        // nonce is claimed below, so the common path costs no extra query; a
        // retry pays one more verification.
        let hash = BindingHash::from_name(&c.hash).unwrap_or(BindingHash::Sha384);
        // Current guests hash {nonce, tee-pubkey, additional-evidence}, older
        // ones the runtime data as sent: both are accepted, the evidence decides.
        let bindings = Binding::candidates_from(
            &runtime_raw,
            &runtime_canon,
            &att.tee_evidence.additional_evidence,
            hash,
        )
        .map_err(|e| Error::Malformed(format!("runtime-data cannot be canonicalised: {e}")))?;
        let init = att
            .init_data
            .as_ref()
            .map(evidence::init_data_digest)
            .transpose()?;
        let init_digest = init.as_ref().map(|(_, d)| d.clone());
        let now = b.clock.now();
        let verified = if evidence::verifies_inline(&c.tee) {
            evidence::verify(
                &b.verifier,
                &c.tee,
                &att.tee_evidence.primary_evidence,
                &bindings,
                init_digest.as_deref(),
                now,
            )
        } else {
            let cfg = b.verifier.clone();
            let tee = c.tee.clone();
            let primary = att.tee_evidence.primary_evidence.clone();
            tokio::task::spawn_blocking(move || {
                evidence::verify(&cfg, &tee, &primary, &bindings, init_digest.as_deref(), now)
            })
            .await
            .map_err(|e| Error::Crypto(format!("verifier task: {e}")))?
        };
        // A refused attestation is audited with its evidence digest, and
        // the workload when its evidence verified.
        let refused = |e: Error, workload: audit::Workload| {
            let digest = evidence_digest.clone();
            async move {
                b.audit_refusal(AuditEvent {
                    client,
                    evidence_digest: Some(&digest),
                    resource: "-",
                    policy: "attestation",
                    outcome: audit::Outcome::Rejected,
                    reason: &e.to_string(),
                    workload: Some(&workload),
                    failed: None,
                })
                .await;
                e
            }
        };
        let verified = match verified {
            Ok(v) => v,
            Err(e) => {
                let tee = audit::Workload {
                    tee: Some(c.tee.clone()),
                    ..Default::default()
                };
                return Err(refused(e, tee).await);
            }
        };
        // TPM: the AK proven by credential activation (when EK CAs are trusted).
        let activation = crate::tpm_activation::check_attestation(
            b,
            &c,
            &att.tee_evidence.primary_evidence,
            &runtime_raw,
        );
        if let Err(e) = activation.await {
            return Err(refused(e, audit::Workload::of_evidence(verified.get())).await);
        }
        let rvs = b.store.list_reference_values().await?;
        let appraisal = b.appraiser.appraise(&verified, &rvs)?;
        // Device evidence: verified against the hash of the runtime data
        // without it (what guest-components asks the devices to sign), off
        // the async workers (eight GPUs are dozens of signatures).
        let devices: Vec<token::DeviceResult> = if additional.is_empty() {
            Vec::new()
        } else {
            let cfg = b.verifier.clone();
            let device_nonce = hash.digest(&runtime_canon);
            let rvs = rvs.clone();
            tokio::task::spawn_blocking(move || {
                crate::devices::appraise(&cfg, &additional, &device_nonce, &rvs, now)
            })
            .await
            .map_err(|e| Error::Crypto(format!("device verifier task: {e}")))?
        };
        let claims = token::ear_claims(&TokenInput {
            devices: &devices,
            evidence: verified.get(),
            appraisal: &appraisal,
            runtime_data: &runtime_raw,
            init_data: init
                .as_ref()
                .zip(att.init_data.as_ref())
                .map(|((_, d), doc)| token::InitDataClaims {
                    digest: hex::encode(d),
                    claims: evidence::init_data_claims(doc),
                }),
            evidence_digest: &evidence_digest,
            now,
            ttl: b.token_ttl,
        });
        let (tok, attested) = b.signer.issue(claims)?;
        let row = SessionRow {
            expires_at: c.expires_at.max(now + b.token_ttl),
            evidence_digest: evidence_digest.clone(),
            binding_digest: binding_digest.clone(),
            token: tok.clone(),
        };
        match b.store.record_session(&c.nonce, &row).await? {
            SessionClaim::New => {
                b.recent.insert(
                    &c.nonce,
                    session::RecentSession {
                        expires_at: row.expires_at,
                        token: tok.as_str().into(),
                        claims: attested,
                    },
                );
                tracing::info!(tee = %c.tee, status = appraisal.status, %client, "attested");
                let failed = appraisal.reasons.join("\n");
                b.audit_attested(AuditEvent {
                    client,
                    evidence_digest: Some(&evidence_digest),
                    resource: "-",
                    policy: "attestation",
                    outcome: audit::Outcome::Attested,
                    reason: &format!("ear.status {}", appraisal.status),
                    workload: Some(&audit::Workload::of_evidence(verified.get())),
                    failed: (!failed.is_empty()).then_some(failed.as_str()),
                });
                Ok(Attestation {
                    token: tok,
                    status: appraisal.status,
                })
            }
            SessionClaim::Existing(other) if other.binding_digest == binding_digest => {
                Ok(Attestation {
                    token: other.token,
                    status: appraisal.status,
                })
            }
            SessionClaim::Existing(_) => Err(Error::Rejected("nonce already used (replay)".into())),
        }
    }
}

/// Each submodule's status and reasons, for a denial a person can act on:
/// `ear.status` of cpu0 (and of every device that is not affirming), with
/// the appraisal's reasons.
fn denial_detail(claims: &Value) -> String {
    let mut parts = Vec::new();
    if token::is_insecure(claims) {
        parts.push(format!("the token is marked {}", token::INSECURE_CLAIM));
    }
    let submods = claims.get("submods").and_then(Value::as_object);
    for (name, m) in submods.into_iter().flatten() {
        let status = m
            .get("ear.status")
            .and_then(Value::as_str)
            .unwrap_or("absent");
        if name != "cpu0" && status == crate::appraise::status::AFFIRMING {
            continue;
        }
        let why: Vec<&str> = m
            .get("rootline.reasons")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if why.is_empty() {
            parts.push(format!("{name} ear.status {status}"));
        } else {
            parts.push(format!("{name} ear.status {status}: {}", why.join("; ")));
        }
    }
    if parts.is_empty() {
        parts.push("the token has no submodules".into());
    }
    parts.join("; ")
}

/// The findings of every submodule that is not affirming, one a line
/// (`cpu0: reference value ...`), for the audit row of a denial; `None`
/// when there are none (a denial by a policy's own rule).
fn failed_findings(claims: &Value) -> Option<String> {
    let mut lines = Vec::new();
    let submods = claims.get("submods").and_then(Value::as_object);
    for (name, m) in submods.into_iter().flatten() {
        let status = m.get("ear.status").and_then(Value::as_str);
        if status == Some(crate::appraise::status::AFFIRMING) {
            continue;
        }
        let reasons = m.get("rootline.reasons").and_then(Value::as_array);
        let mut any = false;
        for r in reasons.into_iter().flatten().filter_map(Value::as_str) {
            lines.push(format!("{name}: {r}"));
            any = true;
        }
        if !any {
            lines.push(format!("{name}: ear.status {}", status.unwrap_or("absent")));
        }
    }
    (!lines.is_empty()).then(|| lines.join("\n"))
}

/// Bytes of runtime data accepted (see [`Broker::attest`]).
pub const MAX_RUNTIME_DATA: usize = 8 * 1024;

/// Bytes of device evidence (`additional_evidence`) accepted: NVIDIA's
/// evidence for eight GPUs with their certificate chains fits well within.
pub const MAX_DEVICE_EVIDENCE: usize = 1 << 20;

/// Device evidence beside the CPU's, as guest-components sends it in
/// `tee-evidence.additional_evidence`: an empty string, or the JSON text of
/// a map from tee name (`nvidia`...) to that device's evidence. Parsed so
/// that each device is named in the token; malformed text is refused.
fn device_evidence(text: &str) -> Result<Vec<(String, Value)>> {
    if text.len() > MAX_DEVICE_EVIDENCE {
        return Err(Error::Malformed(format!(
            "tee-evidence.additional_evidence is {} bytes; at most {MAX_DEVICE_EVIDENCE} are accepted",
            text.len()
        )));
    }
    let t = text.trim();
    if t.is_empty() {
        return Ok(Vec::new());
    }
    let v: Value = serde_json::from_str(t).map_err(|e| {
        Error::Malformed(format!(
            "tee-evidence.additional_evidence is not a JSON map of tee name to evidence: {e}"
        ))
    })?;
    let Value::Object(m) = v else {
        return Err(Error::Malformed(
            "tee-evidence.additional_evidence must be a JSON object (tee name -> evidence)".into(),
        ));
    };
    const MAX_DEVICES: usize = 16;
    if m.len() > MAX_DEVICES {
        return Err(Error::Malformed(format!(
            "tee-evidence.additional_evidence names {} devices; at most {MAX_DEVICES} are accepted",
            m.len()
        )));
    }
    Ok(m.into_iter().collect())
}

/// Checks a resource path segment: letters, digits, `.`, `_`, `-`; no `..`.
pub fn check_segment(s: &str) -> Result<()> {
    let ok = !s.is_empty()
        && s.len() <= 128
        && s != "."
        && s != ".."
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Error::Malformed(format!(
            "resource path segment {s:?} is not allowed"
        )))
    }
}

/// A resource request, as the HTTP layer read it.
#[derive(Debug, Clone, Copy)]
pub struct ResourceRequest<'a> {
    /// Who asks.
    pub client: ClientAddr,
    /// The `kbs-session-id` cookie, when sent.
    pub cookie: Option<&'a str>,
    /// The `Authorization: Bearer` token, when sent.
    pub bearer: Option<&'a str>,
    /// The path's repository, type and tag segments.
    pub repo: &'a str,
    /// The type segment.
    pub kind: &'a str,
    /// The tag segment.
    pub tag: &'a str,
}

/// A released resource: the JWE for the TEE's key, and the path.
#[derive(Debug)]
pub struct Released {
    /// The secret encrypted to the attested `tee-pubkey`.
    pub jwe: kbs_types::Response,
    /// The resource path released.
    pub path: String,
}

impl Broker {
    /// `/resource`: the secret at the path, encrypted to the attested
    /// session's key, when the attestation token and the resource's policy
    /// allow it. Every refusal and every release is audited.
    pub async fn resource(self: &Arc<Self>, req: ResourceRequest<'_>) -> Result<Released> {
        let b = self;
        let client = req.client;
        for s in [req.repo, req.kind, req.tag] {
            check_segment(s)?;
        }
        let path = format!("{}/{}/{}", req.repo, req.kind, req.tag);
        let now = b.clock.now();
        let bearer = req.bearer;
        // A session attested by this replica is known with the claims of the
        // token it signed: no store read and no signature check (the cookie's
        // MAC is checked; a Bearer token must be that very token).
        let challenge = req.cookie.map(|c| b.sessions.open(c, now));
        let recent = challenge
            .as_ref()
            .and_then(|c| c.as_ref().ok())
            .and_then(|c| b.recent.get(&c.nonce, now));
        let attested: Attested = match (bearer.map(str::trim), recent) {
            (Some(t), Some(r)) if *r.token == *t => {
                token::check_exp(r.claims.claims(), now)?;
                r.claims
            }
            (Some(t), _) => b.tokens.attested(t, now)?,
            (None, Some(r)) => {
                token::check_exp(r.claims.claims(), now)?;
                r.claims
            }
            (None, None) => {
                let c = challenge.ok_or_else(|| {
                    Error::Unauthenticated("no session cookie and no Bearer token".into())
                })??;
                let tok = b
                    .store
                    .get_session(&c.nonce, now)
                    .await?
                    .ok_or_else(|| {
                        Error::Unauthenticated(
                            "session is not attested: call /kbs/v0/attest".into(),
                        )
                    })?
                    .token;
                b.tokens.attested(&tok, now)?
            }
        };
        let claims = attested.claims();
        let workload = audit::Workload::of_token(claims);
        // A token from insecure test mode (the unsigned `sample` TEE) is good
        // only at a broker that is itself in that mode: a secure broker that
        // trusts such a broker's key as a passport signer, or shares its store
        // (and so its token key), must not release on it.
        if token::is_insecure(claims) && !b.verifier.insecure_sample {
            let reason = format!(
                "the attestation token was issued in insecure test mode ({}) and this broker does not accept such tokens",
                token::INSECURE_CLAIM
            );
            b.audit_refusal(AuditEvent {
                client,
                evidence_digest: None,
                resource: &path,
                policy: "-",
                outcome: audit::Outcome::Denied,
                reason: &reason,
                workload: Some(&workload),
                failed: None,
            })
            .await;
            return Err(Error::Unauthenticated(reason));
        }
        let digest = claims
            .pointer("/submods/cpu0/ear.veraison.annotated-evidence/evidence_digest")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let row = b.store.get_resource(&path).await?;
        let policy_name = row
            .as_ref()
            .and_then(|r| r.policy.clone())
            .unwrap_or_else(|| policy::DEFAULT_NAME.to_owned());
        let rego = match b.store.get_policy(&policy_name).await? {
            Some(r) => r,
            None if policy_name == policy::DEFAULT_NAME => policy::DEFAULT_POLICY.to_owned(),
            None => {
                let reason = format!("policy {policy_name} named by the resource does not exist");
                b.audit_refusal(AuditEvent {
                    client,
                    evidence_digest: digest.as_deref(),
                    resource: &path,
                    policy: &policy_name,
                    outcome: audit::Outcome::Denied,
                    reason: &reason,
                    workload: Some(&workload),
                    failed: None,
                })
                .await;
                return Err(Error::Denied(reason));
            }
        };
        let decision = b
            .policies
            .decide(&policy_name, &rego, &attested, &path, row.is_some())?;
        let Some(allow) = decision else {
            let reason = format!("denied by policy {policy_name} ({})", denial_detail(claims));
            b.audit_refusal(AuditEvent {
                client,
                evidence_digest: digest.as_deref(),
                resource: &path,
                policy: &policy_name,
                outcome: audit::Outcome::Denied,
                reason: &reason,
                workload: Some(&workload),
                failed: failed_findings(claims).as_deref(),
            })
            .await;
            return Err(Error::Denied(reason));
        };
        let Some(row) = row else {
            return Err(Error::NotFound(format!("resource {path}")));
        };
        let jwe = release(b, client, &attested, allow, &row, digest.as_deref()).await?;
        Ok(Released { jwe, path })
    }
}

/// Opens a stored secret and sends it to an attested session, encrypted to
/// the key its evidence bound: the only code that does, and it takes the
/// proof of both decisions, an [`Attested`] (claims verified and signed by
/// a trusted key; made only in `token`) and an [`Allow`] for this very path
/// (made only by the policy cache). Fails closed: the secret leaves only
/// once its audit row is committed (hardening finding 3: with the store's
/// write lock held elsewhere, a secret went out after 5 s with no
/// `released` row).
async fn release(
    b: &Arc<Broker>,
    client: ClientAddr,
    attested: &Attested,
    allow: Allow,
    row: &crate::store::ResourceRow,
    digest: Option<&str>,
) -> Result<kbs_types::Response> {
    let path = allow.path();
    let tee_key = token::tee_pubkey(attested.claims())?;
    let secret = b.kek.open(path, &row.sealed)?;
    let jwe = crate::jwe::encrypt(&tee_key, &secret)?;
    b.audit_release(AuditEvent {
        client,
        evidence_digest: digest,
        resource: path,
        policy: allow.policy(),
        outcome: audit::Outcome::Released,
        reason: "policy allowed",
        workload: Some(&audit::Workload::of_token(attested.claims())),
        failed: None,
    })
    .await?;
    tracing::info!(%path, %client, "released");
    Ok(jwe)
}

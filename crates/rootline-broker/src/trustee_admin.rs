//! Trustee's admin API beside rootline's own `/admin/v0`, so that
//! `kbs-client config ...`, the trustee-operator and scripts written for
//! Trustee drive rootline unchanged.
//!
//! Routes, as Trustee's `kbs/src/api_server.rs` serves them and
//! `tools/kbs-client` calls them:
//! - `POST /kbs/v0/resource/REPO/TYPE/TAG` (the raw secret) and `DELETE`;
//! - `POST /kbs/v0/resource-policy` (`{"policy": base64url Rego}`): the
//!   broker-wide resource policy, stored as rootline's policy `default`;
//!   `GET` lists the stored policy names (Trustee lists its policy ids);
//! - `POST /kbs/v0/reference-value` (`{"version": "0.1.0", "type":
//!   "sample", "payload": base64 JSON {id: values}}`) and `GET
//!   /kbs/v0/reference-value/ID`: each Trustee reference-value id is mapped
//!   onto rootline's (tee, claim) by [`map_reference_id`]; an id that maps
//!   to nothing is refused by name rather than stored to no effect;
//! - `POST /kbs/v0/attestation-policy`: refused with the reason. Trustee's
//!   attestation policies read Trustee's claim shapes and call its
//!   `query_reference_value` extension to compute a trust vector; rootline
//!   appraises with its own policies (`policies/`), so storing one would
//!   change nothing while claiming to. docs/trustee-migration.md says what
//!   to do instead.
//!
//! Authentication is Trustee's current `[admin]` configuration, read from
//! the same TOML: `authorization_mode = "AuthenticatedAuthorization"`,
//! bearer JWTs verified with the public keys of the configured identity
//! providers (`public_key_uri`, `jwk_set_uri`: local files), `iss` and `aud`
//! when configured, `exp` (and `nbf`) always, a `role` claim, and regex ACLs
//! over the request URI (`^/kbs...$`), first match wins. Differences, on
//! purpose: Trustee's default `InsecureAllowAll` is refused at start-up
//! (anyone could replace secrets and policies; Trustee #761), so without an
//! `[admin]` section these routes stay closed (401, naming the setting);
//! HMAC and `none` algorithms are refused; key URIs over the network are
//! not fetched (name a local file).

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Broker;
use crate::error::{Error, Result};
use crate::policy;
use crate::service::check_segment;
use crate::store::ReferenceValue;

/// Trustee's `[admin]` section (`kbs/src/admin/mod.rs` `AdminConfig`),
/// with its spelling, so that a Trustee configuration's section moves over
/// as it is.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "authorization_mode", deny_unknown_fields)]
pub enum AdminConfig {
    /// Trustee's default: every admin request is allowed. Refused here.
    InsecureAllowAll {},
    /// Every admin request is refused.
    DenyAll {},
    /// Bearer JWTs and role ACLs.
    AuthenticatedAuthorization {
        /// How tokens are verified.
        authentication: AuthenticationType,
        /// Which roles may call which endpoints.
        authorization: AuthorizerType,
    },
}

/// `[admin.authentication]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum AuthenticationType {
    /// `[admin.authentication.bearer_jwt]`.
    BearerJwt(BearerJwtConfig),
}

/// `[admin.authentication.bearer_jwt]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BearerJwtConfig {
    /// Who may sign admin tokens.
    pub identity_providers: Vec<IssuerConfig>,
}

/// One identity provider.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IssuerConfig {
    /// `iss` the token must carry, when set.
    #[serde(default)]
    pub issuer: Option<String>,
    /// A value `aud` must contain, when set.
    #[serde(default)]
    pub audience: Option<String>,
    /// A PEM public key (EC, RSA or Ed25519): a path or `file://` URI.
    #[serde(default)]
    pub public_key_uri: Option<String>,
    /// A JWK set (keys by `kid`): a path or `file://` URI.
    #[serde(default)]
    pub jwk_set_uri: Option<String>,
}

/// `[admin.authorization]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum AuthorizerType {
    /// `[admin.authorization.regex_acl]`.
    RegexAcl(RegexAclConfig),
}

/// `[admin.authorization.regex_acl]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RegexAclConfig {
    /// Rules, first match wins; none: everything is denied.
    #[serde(default)]
    pub acls: Vec<AclRule>,
}

/// One ACL rule.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AclRule {
    /// The `role` claim it applies to.
    pub role: String,
    /// A regex over the request URI (path and query), anchored `^/kbs...$`.
    pub allowed_endpoints: String,
}

struct Issuer {
    issuer: Option<String>,
    audience: Option<String>,
    /// Keys with the `kid` they were published under (JWK sets).
    keys: Vec<(Option<String>, DecodingKey)>,
}

/// The loaded `[admin]` configuration.
pub struct TrusteeAdmin {
    issuers: Vec<Issuer>,
    acls: Vec<(String, regex::Regex)>,
}

impl std::fmt::Debug for TrusteeAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "TrusteeAdmin({} identity providers, {} ACL rules)",
            self.issuers.len(),
            self.acls.len()
        )
    }
}

/// A path or a `file://` URI as a path; network URIs are refused.
fn local_file(field: &str, uri: &str) -> Result<PathBuf> {
    if let Some(p) = uri.strip_prefix("file://") {
        return Ok(PathBuf::from(p));
    }
    if uri.contains("://") {
        return Err(Error::Config(format!(
            "admin {field} {uri:?}: only local files are read (a path or file://); download the key and name the file"
        )));
    }
    Ok(PathBuf::from(uri))
}

fn read(field: &str, path: &FsPath) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        Error::Config(format!(
            "admin {field}: cannot read {}: {e}",
            path.display()
        ))
    })
}

/// A PEM public key of any family Trustee accepts (EC, RSA, Ed25519).
fn pem_key(path: &FsPath) -> Result<DecodingKey> {
    let pem = read("public_key_uri", path)?;
    DecodingKey::from_ec_pem(&pem)
        .or_else(|_| DecodingKey::from_rsa_pem(&pem))
        .or_else(|_| DecodingKey::from_ed_pem(&pem))
        .map_err(|e| {
            Error::Config(format!(
                "admin public_key_uri {}: not a PEM EC, RSA or Ed25519 public key: {e}",
                path.display()
            ))
        })
}

impl TrusteeAdmin {
    /// Loads the configuration; `None` when admin calls are to be refused
    /// (no section, or `DenyAll`).
    pub fn load(cfg: Option<&AdminConfig>) -> Result<Option<Self>> {
        let Some(cfg) = cfg else {
            return Ok(None);
        };
        let (authentication, authorization) = match cfg {
            AdminConfig::InsecureAllowAll {} => {
                return Err(Error::Config(
                    "admin.authorization_mode = \"InsecureAllowAll\" lets anyone replace secrets, policies and reference values; rootline refuses it. Use \"AuthenticatedAuthorization\" with [admin.authentication.bearer_jwt] identity providers and [admin.authorization.regex_acl] rules, or remove [admin] to keep these routes closed".into(),
                ));
            }
            AdminConfig::DenyAll {} => return Ok(None),
            AdminConfig::AuthenticatedAuthorization {
                authentication,
                authorization,
            } => (authentication, authorization),
        };
        let AuthenticationType::BearerJwt(jwt) = authentication;
        if jwt.identity_providers.is_empty() {
            return Err(Error::Config(
                "AuthenticatedAuthorization requires at least one identity_providers entry in [admin.authentication.bearer_jwt]".into(),
            ));
        }
        let mut issuers = Vec::new();
        for (i, idp) in jwt.identity_providers.iter().enumerate() {
            let mut keys = Vec::new();
            if let Some(uri) = &idp.public_key_uri {
                keys.push((None, pem_key(&local_file("public_key_uri", uri)?)?));
            }
            if let Some(uri) = &idp.jwk_set_uri {
                let path = local_file("jwk_set_uri", uri)?;
                let set: jsonwebtoken::jwk::JwkSet =
                    serde_json::from_slice(&read("jwk_set_uri", &path)?).map_err(|e| {
                        Error::Config(format!(
                            "admin jwk_set_uri {}: not a JWK set: {e}",
                            path.display()
                        ))
                    })?;
                for jwk in &set.keys {
                    let key = DecodingKey::from_jwk(jwk).map_err(|e| {
                        Error::Config(format!(
                            "admin jwk_set_uri {}: a key does not load: {e}",
                            path.display()
                        ))
                    })?;
                    keys.push((jwk.common.key_id.clone(), key));
                }
            }
            if keys.is_empty() {
                return Err(Error::Config(format!(
                    "identity_providers[{i}] must set public_key_uri and/or jwk_set_uri"
                )));
            }
            issuers.push(Issuer {
                issuer: idp.issuer.clone(),
                audience: idp.audience.clone(),
                keys,
            });
        }
        let AuthorizerType::RegexAcl(acl) = authorization;
        let mut acls = Vec::new();
        for r in &acl.acls {
            // Trustee's rule: anchored to /kbs paths, so that a rule cannot
            // match more than its author meant.
            if !r.allowed_endpoints.starts_with("^/kbs") || !r.allowed_endpoints.ends_with('$') {
                return Err(Error::Config(format!(
                    "admin ACL for role {:?}: allowed_endpoints {:?} must start with ^/kbs and end with $",
                    r.role, r.allowed_endpoints
                )));
            }
            let re = regex::Regex::new(&r.allowed_endpoints).map_err(|e| {
                Error::Config(format!(
                    "admin ACL for role {:?}: {:?} is not a regex: {e}",
                    r.role, r.allowed_endpoints
                ))
            })?;
            acls.push((r.role.clone(), re));
        }
        Ok(Some(Self { issuers, acls }))
    }

    /// Checks the request's Bearer token and its role's access to `uri`.
    fn authorize(&self, headers: &HeaderMap, uri: &Uri, now: i64) -> Result<()> {
        let denied =
            |reason: String| Error::Unauthenticated(format!("admin access denied: {reason}"));
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| denied("no Authorization: Bearer token".into()))?;
        let head = jsonwebtoken::decode_header(token)
            .map_err(|e| denied(format!("the token's header does not parse: {e}")))?;
        if matches!(
            head.alg,
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
        ) {
            return Err(denied(format!(
                "tokens signed with {:?} are not accepted (a public-key algorithm is required)",
                head.alg
            )));
        }
        let mut claims: Option<Value> = None;
        'issuers: for idp in &self.issuers {
            for (kid, key) in &idp.keys {
                if kid.is_some() && head.kid.is_some() && *kid != head.kid {
                    continue;
                }
                let mut v = Validation::new(head.alg);
                v.validate_exp = false; // checked below against the broker's clock
                v.validate_aud = false;
                v.required_spec_claims.clear();
                let Ok(data) = jsonwebtoken::decode::<Value>(token, key, &v) else {
                    continue;
                };
                let c = data.claims;
                if let Some(iss) = &idp.issuer {
                    if c.get("iss").and_then(Value::as_str) != Some(iss.as_str()) {
                        continue;
                    }
                }
                if let Some(aud) = &idp.audience {
                    let ok = match c.get("aud") {
                        Some(Value::String(a)) => a == aud,
                        Some(Value::Array(a)) => a.iter().any(|x| x.as_str() == Some(aud)),
                        _ => false,
                    };
                    if !ok {
                        continue;
                    }
                }
                claims = Some(c);
                break 'issuers;
            }
        }
        let c = claims.ok_or_else(|| {
            denied("the token verifies with none of the configured identity providers".into())
        })?;
        // exp is required (Trustee's jsonwebtoken validation), nbf honoured;
        // the same 60 s leeway. Integers only, compared without overflow.
        const LEEWAY: i64 = 60;
        let exp = c
            .get("exp")
            .and_then(Value::as_i64)
            .ok_or_else(|| denied("the token has no integer exp".into()))?;
        if exp.saturating_add(LEEWAY) <= now {
            return Err(denied("the token has expired".into()));
        }
        if let Some(nbf) = c.get("nbf") {
            let nbf = nbf
                .as_i64()
                .ok_or_else(|| denied("the token's nbf is not an integer".into()))?;
            if nbf.saturating_sub(LEEWAY) > now {
                return Err(denied("the token is not valid yet (nbf)".into()));
            }
        }
        let role = c
            .get("role")
            .and_then(Value::as_str)
            .ok_or_else(|| denied("missing required `role` claim in JWT".into()))?;
        let target = uri
            .path_and_query()
            .map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned());
        if self
            .acls
            .iter()
            .any(|(r, re)| r == role && re.is_match(&target))
        {
            Ok(())
        } else {
            Err(denied(format!("role {role:?} is not allowed for {target}")))
        }
    }
}

fn check(b: &Broker, headers: &HeaderMap, uri: &Uri) -> Result<()> {
    match &b.trustee_admin {
        Some(a) => a.authorize(headers, uri, b.clock.now()),
        None => Err(Error::Unauthenticated(
            "the Trustee-compatible admin API is closed: configure [admin] with authorization_mode = \"AuthenticatedAuthorization\" (see docs/trustee-migration.md)".into(),
        )),
    }
}

/// Trustee answers admin writes with 200 and an empty body.
fn ok_empty() -> Response {
    StatusCode::OK.into_response()
}

/// `POST /kbs/v0/resource/REPO/TYPE/TAG`: stores the body as the secret.
pub(crate) async fn set_resource(
    State(b): State<Arc<Broker>>,
    uri: Uri,
    headers: HeaderMap,
    Path((repo, kind, tag)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Response> {
    check(&b, &headers, &uri)?;
    for s in [&repo, &kind, &tag] {
        check_segment(s)?;
    }
    let path = format!("{repo}/{kind}/{tag}");
    let sealed = b.kek.seal(&path, &body)?;
    b.store
        .put_resource(&path, &sealed, None, b.clock.now())
        .await?;
    tracing::info!(%path, "resource set (Trustee admin API)");
    Ok(ok_empty())
}

/// `DELETE /kbs/v0/resource/REPO/TYPE/TAG`.
pub(crate) async fn delete_resource(
    State(b): State<Arc<Broker>>,
    uri: Uri,
    headers: HeaderMap,
    Path((repo, kind, tag)): Path<(String, String, String)>,
) -> Result<Response> {
    check(&b, &headers, &uri)?;
    let path = format!("{repo}/{kind}/{tag}");
    if b.store.delete_resource(&path).await? {
        tracing::info!(%path, "resource deleted (Trustee admin API)");
        Ok(ok_empty())
    } else {
        Err(Error::NotFound(format!("resource {path}")))
    }
}

/// A Trustee policy body: `{"policy": base64url (no padding) of the text}`.
fn policy_text(body: &[u8]) -> Result<String> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| Error::Malformed(format!("policy request is not JSON: {e}")))?;
    let b64 = v
        .get("policy")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::Malformed("policy request has no `policy` string".into()))?;
    let bytes = URL_SAFE_NO_PAD
        .decode(b64.trim_end_matches('='))
        .map_err(|_| Error::Malformed("`policy` is not base64url".into()))?;
    String::from_utf8(bytes).map_err(|_| Error::Malformed("the policy is not UTF-8".into()))
}

/// `POST /kbs/v0/resource-policy`: the broker-wide resource policy.
pub(crate) async fn set_resource_policy(
    State(b): State<Arc<Broker>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response> {
    check(&b, &headers, &uri)?;
    let rego = policy_text(&body)?;
    policy::compile(policy::DEFAULT_NAME, &rego)?;
    b.store
        .put_policy(policy::DEFAULT_NAME, &rego, b.clock.now())
        .await?;
    tracing::info!("resource policy set (Trustee admin API)");
    Ok(ok_empty())
}

/// `GET /kbs/v0/resource-policy`: the stored policy names (Trustee lists
/// its policy ids the same way).
pub(crate) async fn list_resource_policies(
    State(b): State<Arc<Broker>>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response> {
    check(&b, &headers, &uri)?;
    let mut names = b.store.list_policies().await?;
    if !names.iter().any(|n| n == policy::DEFAULT_NAME) {
        names.push(policy::DEFAULT_NAME.to_owned());
    }
    Ok(axum::Json(names).into_response())
}

/// `POST /kbs/v0/attestation-policy`: refused, with what to do instead.
pub(crate) async fn set_attestation_policy(
    State(b): State<Arc<Broker>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response> {
    check(&b, &headers, &uri)?;
    let id = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| {
            v.get("policy_id")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "default".into());
    Err(Error::Unsupported(format!(
        "attestation policy {id:?}: rootline does not run Trustee attestation policies (they read Trustee's claim shapes and its query_reference_value extension). Appraisal uses rootline's policies over reference values: register the values with POST /kbs/v0/reference-value or `rootline admin reference set`, and express release conditions in the resource policy; docs/trustee-migration.md maps Trustee's default policy onto them"
    )))
}

/// A Trustee reference-value id mapped onto rootline's (tee, claim):
/// rootline's own keys (`snp.measurement`, `tpm.pcr.sha256.11`,
/// `rootline-sim.measurement`) as they are, and the ids Trustee's default
/// attestation policy (`ear_default_policy_cpu.rego`) queries.
pub fn map_reference_id(id: &str) -> Option<(String, String)> {
    let fixed = |t: &str, c: &str| Some((t.to_owned(), c.to_owned()));
    match id {
        "svn" => return fixed("sample", "svn"),
        "snp_launch_measurement" => return fixed("snp", "measurement"),
        "snp_bootloader" => return fixed("snp", "reported_tcb.bootloader"),
        "snp_microcode" => return fixed("snp", "reported_tcb.microcode"),
        "snp_snp_svn" => return fixed("snp", "reported_tcb.snp"),
        "snp_tee_svn" => return fixed("snp", "reported_tcb.tee"),
        "mr_td" => return fixed("tdx", "mr_td"),
        "mr_seam" => return fixed("tdx", "mr_seam"),
        "rtmr_0" | "rtmr_1" | "rtmr_2" | "rtmr_3" => {
            return Some(("tdx".into(), id.replace('_', "")));
        }
        _ => {}
    }
    if let Some(n) = id.strip_prefix("tpm_pcr") {
        if let Ok(i) = n.parse::<u8>() {
            if i < 24 {
                return Some(("tpm".into(), format!("pcr.sha256.{i}")));
            }
        }
        return None;
    }
    let (tee, claim) = id.split_once('.')?;
    let known = matches!(tee, "snp" | "tdx" | "sgx" | "tpm" | "cca" | "sample")
        || tee == crate::sim::TEE_NAME;
    let ok_claim = !claim.is_empty()
        && claim.split('.').all(|s| {
            !s.is_empty()
                && s.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
        });
    (known && ok_claim).then(|| (tee.to_owned(), claim.to_owned()))
}

#[derive(Deserialize)]
struct RvMessage {
    #[serde(default = "default_version")]
    version: String,
    #[serde(rename = "type")]
    kind: String,
    payload: String,
}

fn default_version() -> String {
    "0.1.0".into()
}

/// A Trustee reference value (a string, integer or boolean) as rootline's
/// text.
fn rv_text(id: &str, v: &Value) -> Result<String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(Error::Malformed(format!(
            "reference value {id}: {other} is not a string, integer or boolean"
        ))),
    }
}

/// `POST /kbs/v0/reference-value`: Trustee's RVPS message of type `sample`.
pub(crate) async fn set_reference_values(
    State(b): State<Arc<Broker>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response> {
    check(&b, &headers, &uri)?;
    let msg: RvMessage = serde_json::from_slice(&body)
        .map_err(|e| Error::Malformed(format!("reference value message: {e}")))?;
    if msg.version != "0.1.0" {
        return Err(Error::Unsupported(format!(
            "reference value message version {:?}; 0.1.0 is known",
            msg.version
        )));
    }
    if msg.kind != "sample" {
        return Err(Error::Unsupported(format!(
            "reference value message type {:?}: only \"sample\" ({{id: values}}) is read; SWID and CoRIM manifests are not",
            msg.kind
        )));
    }
    let payload = STANDARD
        .decode(msg.payload.trim())
        .map_err(|_| Error::Malformed("reference value payload is not base64".into()))?;
    let map: serde_json::Map<String, Value> = serde_json::from_slice(&payload).map_err(|e| {
        Error::Malformed(format!(
            "reference value payload is not a JSON object of id -> values: {e}"
        ))
    })?;
    // Check everything before storing anything: a message is taken whole
    // or not at all.
    let mut rvs = Vec::with_capacity(map.len());
    for (id, v) in &map {
        check_segment(id)?;
        let (tee, claim) = map_reference_id(id).ok_or_else(|| {
            Error::Unsupported(format!(
                "reference value id {id:?} names no claim rootline knows: use rootline's keys (snp.measurement, tdx.mr_td, tpm.pcr.sha256.4, sample.svn...) or the ids of Trustee's default policy (svn, snp_launch_measurement, snp_bootloader, snp_microcode, snp_snp_svn, snp_tee_svn, mr_td, mr_seam, rtmr_0..rtmr_3, tpm_pcr0..tpm_pcr23)"
            ))
        })?;
        let values = match v {
            Value::Array(a) => a
                .iter()
                .map(|x| rv_text(id, x))
                .collect::<Result<Vec<_>>>()?,
            other => vec![rv_text(id, other)?],
        };
        if values.is_empty() {
            return Err(Error::Malformed(format!(
                "reference value {id}: at least one value is needed"
            )));
        }
        if let Some(key) = crate::appraise::policy_key(&tee, &claim) {
            let key = key?;
            for x in &values {
                rootline_policy::reference::normalize_value(&key, &Value::String(x.clone()))
                    .map_err(|e| Error::Malformed(e.to_string()))?;
            }
        }
        rvs.push(ReferenceValue {
            name: id.clone(),
            tee,
            claim,
            values,
            version: 0,
        });
    }
    let now = b.clock.now();
    for rv in &rvs {
        b.store.put_reference_value(rv, now).await?;
    }
    tracing::info!(
        count = rvs.len(),
        "reference values set (Trustee admin API)"
    );
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        String::new(),
    )
        .into_response())
}

/// `GET /kbs/v0/reference-value/ID`: the accepted values, as a JSON list.
pub(crate) async fn get_reference_value(
    State(b): State<Arc<Broker>>,
    uri: Uri,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    check(&b, &headers, &uri)?;
    let rvs = b.store.list_reference_values().await?;
    let rv = rvs
        .into_iter()
        .find(|r| r.name == id)
        .ok_or_else(|| Error::NotFound(format!("reference value {id}")))?;
    Ok(axum::Json(rv.values).into_response())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn trustee_reference_ids_map_onto_rootline_claims() {
        let m = |id: &str| map_reference_id(id).map(|(t, c)| format!("{t}/{c}"));
        assert_eq!(m("svn").as_deref(), Some("sample/svn"));
        assert_eq!(
            m("snp_launch_measurement").as_deref(),
            Some("snp/measurement")
        );
        assert_eq!(
            m("snp_microcode").as_deref(),
            Some("snp/reported_tcb.microcode")
        );
        assert_eq!(m("rtmr_2").as_deref(), Some("tdx/rtmr2"));
        assert_eq!(m("tpm_pcr11").as_deref(), Some("tpm/pcr.sha256.11"));
        assert_eq!(m("tpm_pcr24"), None);
        assert_eq!(m("snp.measurement").as_deref(), Some("snp/measurement"));
        assert_eq!(m("tpm.pcr.sha256.4").as_deref(), Some("tpm/pcr.sha256.4"));
        // Regression: CCA keys were refused as unsupported after CCA landed.
        assert_eq!(
            m("cca.realm.initial_measurement").as_deref(),
            Some("cca/realm.initial_measurement")
        );
        assert_eq!(
            m("rootline-sim.measurement").as_deref(),
            Some("rootline-sim/measurement")
        );
        for bad in [
            "launch_digest",
            "nosuch",
            "snp.",
            "snpp.measurement",
            "tpm..4",
            "",
        ] {
            assert_eq!(m(bad), None, "{bad}");
        }
    }

    #[test]
    fn insecure_allow_all_is_refused_and_acls_must_be_anchored() {
        let e = TrusteeAdmin::load(Some(&AdminConfig::InsecureAllowAll {})).unwrap_err();
        assert!(e.to_string().contains("InsecureAllowAll"), "{e}");
        assert!(
            TrusteeAdmin::load(Some(&AdminConfig::DenyAll {}))
                .unwrap()
                .is_none()
        );
        assert!(TrusteeAdmin::load(None).unwrap().is_none());
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k.pub");
        // An Ed25519 public key (RFC 8410 example).
        std::fs::write(
            &key,
            "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n",
        )
        .unwrap();
        let cfg = |acl: &str| AdminConfig::AuthenticatedAuthorization {
            authentication: AuthenticationType::BearerJwt(BearerJwtConfig {
                identity_providers: vec![IssuerConfig {
                    public_key_uri: Some(format!("file://{}", key.display())),
                    ..Default::default()
                }],
            }),
            authorization: AuthorizerType::RegexAcl(RegexAclConfig {
                acls: vec![AclRule {
                    role: "admin".into(),
                    allowed_endpoints: acl.into(),
                }],
            }),
        };
        assert!(
            TrusteeAdmin::load(Some(&cfg("^/kbs/.+$")))
                .unwrap()
                .is_some()
        );
        assert!(TrusteeAdmin::load(Some(&cfg(".*"))).is_err());
        assert!(TrusteeAdmin::load(Some(&cfg("^/kbs/("))).is_err());
    }
}

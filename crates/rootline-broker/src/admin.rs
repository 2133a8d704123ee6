//! The admin API: resources, resource policies and reference values (set,
//! list, delete) and the audit log, authenticated by short-lived JWTs signed
//! with the configured admin key (Ed25519 or ES256).
//!
//! With no admin key configured, every admin request is refused with 401:
//! Trustee accepted unauthenticated reference-value writes (#761); this
//! broker never does.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::keys::PublicKey;
use crate::policy;
use crate::service::check_segment;
use crate::store::ReferenceValue;
use crate::{Broker, Route};

/// The `aud` an admin JWT must carry.
pub const AUDIENCE: &str = "rootline-admin";
/// Longest accepted admin JWT lifetime (exp - iat), in seconds.
pub const MAX_LIFETIME: i64 = 3600;

/// The admin public key.
pub struct AdminKey {
    alg: Algorithm,
    key: DecodingKey,
}

impl AdminKey {
    /// From a parsed public key.
    pub fn new(k: &PublicKey) -> Self {
        match k {
            PublicKey::Ed25519(raw) => Self {
                alg: Algorithm::EdDSA,
                key: DecodingKey::from_ed_der(raw),
            },
            PublicKey::P256(pt) => Self {
                alg: Algorithm::ES256,
                key: DecodingKey::from_ec_der(pt),
            },
        }
    }
}

/// Proof that a request carried a valid admin JWT: an extractor, so an
/// admin handler cannot forget the check (it runs before the path, query
/// and body are read).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Admin;

impl FromRequestParts<Arc<Broker>> for Admin {
    type Rejection = Error;
    async fn from_request_parts(parts: &mut Parts, b: &Arc<Broker>) -> Result<Self> {
        authorize(b, &parts.headers).map(|()| Admin)
    }
}

fn authorize(b: &Broker, headers: &HeaderMap) -> Result<()> {
    if b.admin_key.is_none() {
        return Err(closed());
    }
    let tok = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| Error::Unauthenticated("admin request without a Bearer JWT".into()))?;
    authorize_token(b, tok).map(|_| ())
}

fn closed() -> Error {
    Error::Unauthenticated("the admin API is closed: no admin key is configured".into())
}

/// Checks an admin JWT (the Bearer token of an admin request, or the token
/// an operator pastes into the web view's login form): signed by the admin
/// key, `aud` rootline-admin, unexpired, at most [`MAX_LIFETIME`] long.
/// Returns its `exp`.
pub(crate) fn authorize_token(b: &Broker, tok: &str) -> Result<i64> {
    let key = b.admin_key.as_ref().ok_or_else(closed)?;
    let mut v = Validation::new(key.alg);
    v.set_required_spec_claims(&["exp", "iat", "aud"]);
    v.set_audience(&[AUDIENCE]);
    v.validate_exp = false; // checked below against the broker's clock
    let data = jsonwebtoken::decode::<Value>(tok.trim(), &key.key, &v)
        .map_err(|e| Error::Unauthenticated(format!("admin JWT rejected: {e}")))?;
    let now = b.clock.now();
    let exp = data.claims.get("exp").and_then(Value::as_i64).unwrap_or(0);
    let iat = data.claims.get("iat").and_then(Value::as_i64).unwrap_or(0);
    if exp <= now {
        return Err(Error::Unauthenticated("admin JWT has expired".into()));
    }
    // Saturating: `exp - iat` overflowed for a huge exp and a negative iat
    // and let such a token through in release builds (hardening finding 7).
    if exp.saturating_sub(iat) > MAX_LIFETIME || iat > now.saturating_add(60) {
        return Err(Error::Unauthenticated(format!(
            "admin JWT lifetime must be at most {MAX_LIFETIME} s and iat not in the future"
        )));
    }
    if let Some(nbf) = data.claims.get("nbf") {
        if nbf.as_i64().is_none_or(|n| n > now.saturating_add(60)) {
            return Err(Error::Unauthenticated(
                "admin JWT is not valid yet (nbf)".into(),
            ));
        }
    }
    Ok(exp)
}

pub(crate) fn routes() -> Vec<Route> {
    const RESOURCE: &str = "/admin/v0/resources/{repo}/{kind}/{tag}";
    const POLICY: &str = "/admin/v0/policies/{name}";
    const REFERENCE_VALUE: &str = "/admin/v0/reference-values/{name}";
    vec![
        Route::get("/admin/v0/resources", list_resources),
        Route::put(RESOURCE, put_resource),
        Route::delete(RESOURCE, delete_resource),
        Route::get("/admin/v0/policies", list_policies),
        Route::put(POLICY, put_policy),
        Route::get(POLICY, get_policy),
        Route::delete(POLICY, delete_policy),
        Route::get("/admin/v0/reference-values", list_rvs),
        Route::put(REFERENCE_VALUE, put_rv),
        Route::delete(REFERENCE_VALUE, delete_rv),
        Route::get("/admin/v0/audit", list_audit),
    ]
}

#[derive(Deserialize)]
struct ResourceQuery {
    policy: Option<String>,
}

async fn put_resource(
    _: Admin,
    State(b): State<Arc<Broker>>,
    Path((repo, kind, tag)): Path<(String, String, String)>,
    Query(q): Query<ResourceQuery>,
    body: Bytes,
) -> Result<Response> {
    for s in [&repo, &kind, &tag] {
        check_segment(s)?;
    }
    if let Some(p) = &q.policy {
        check_segment(p)?;
    }
    let path = format!("{repo}/{kind}/{tag}");
    let sealed = b.kek.seal(&path, &body)?;
    b.store
        .put_resource(&path, &sealed, q.policy.as_deref(), b.clock.now())
        .await?;
    tracing::info!(%path, policy = ?q.policy, "resource set");
    Ok((
        StatusCode::OK,
        Json(json!({"path": path, "policy": q.policy})),
    )
        .into_response())
}

async fn delete_resource(
    _: Admin,
    State(b): State<Arc<Broker>>,
    Path((repo, kind, tag)): Path<(String, String, String)>,
) -> Result<Response> {
    let path = format!("{repo}/{kind}/{tag}");
    deleted(b.store.delete_resource(&path).await?, || {
        format!("resource {path}")
    })
}

async fn list_resources(_: Admin, State(b): State<Arc<Broker>>) -> Result<Response> {
    Ok(Json(b.store.list_resources().await?).into_response())
}

async fn put_policy(
    _: Admin,
    State(b): State<Arc<Broker>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response> {
    check_segment(&name)?;
    let rego =
        std::str::from_utf8(&body).map_err(|_| Error::Malformed("policy is not UTF-8".into()))?;
    policy::compile(&name, rego)?;
    b.store.put_policy(&name, rego, b.clock.now()).await?;
    Ok((StatusCode::OK, Json(json!({"name": name}))).into_response())
}

async fn get_policy(
    _: Admin,
    State(b): State<Arc<Broker>>,
    Path(name): Path<String>,
) -> Result<Response> {
    match b.store.get_policy(&name).await? {
        Some(r) => Ok(r.into_response()),
        None if name == policy::DEFAULT_NAME => Ok(policy::DEFAULT_POLICY.into_response()),
        None => Err(Error::NotFound(format!("policy {name}"))),
    }
}

/// 204 when a row was deleted, else 404 naming `what`.
fn deleted(found: bool, what: impl FnOnce() -> String) -> Result<Response> {
    if found {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(Error::NotFound(what()))
    }
}

async fn delete_policy(
    _: Admin,
    State(b): State<Arc<Broker>>,
    Path(name): Path<String>,
) -> Result<Response> {
    deleted(b.store.delete_policy(&name).await?, || {
        format!("policy {name}")
    })
}

async fn list_policies(_: Admin, State(b): State<Arc<Broker>>) -> Result<Response> {
    Ok(Json(b.store.list_policies().await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RvBody {
    tee: String,
    claim: String,
    values: Vec<String>,
}

#[derive(Deserialize)]
struct RvQuery {
    /// Replace an entry of the same name with different content.
    #[serde(default)]
    replace: bool,
}

/// The KBS tee names reference values may name, beside the TEEs
/// `rootline-policy` appraises.
const OTHER_TEES: [&str; 2] = [crate::sim::TEE_NAME, "sample"];

/// Checks a reference value: the TEE is one this broker verifies, the claim
/// is one of its claims (in the vocabulary its appraiser compares), each
/// value has the claim's form. A typo would otherwise be stored and never
/// match, so a guest would be denied with no sign of why.
pub fn check_reference_value(tee: &str, claim: &str, values: &[String]) -> Result<()> {
    let bad = |m: String| Error::Malformed(format!("reference value: {m}"));
    if let Ok(kind) = tee.parse::<rootline_core::TeeKind>() {
        let form = rootline_policy::vocabulary::claim_form(kind, claim)
            .map_err(|e| bad(format!("claim {e}")))?;
        for v in values {
            form.check(&format!("{tee}.{claim}"), v).map_err(bad)?;
        }
        return Ok(());
    }
    use rootline_policy::vocabulary::Form;
    let form = match (tee, claim) {
        (crate::sim::TEE_NAME, "measurement") => Form::Hex(48),
        (crate::sim::TEE_NAME, "host_data") => Form::Hex(32),
        (crate::sim::TEE_NAME, "report_data") | ("sample", "report_data") => Form::AnyHex,
        ("sample", "svn") => Form::Text,
        (t, c) if OTHER_TEES.contains(&t) => {
            return Err(bad(format!(
                "claim {c:?} is not a claim of {t} evidence (claims: {})",
                if t == "sample" {
                    "svn, report_data"
                } else {
                    "measurement, host_data, report_data"
                }
            )));
        }
        (t, _) => {
            return Err(bad(format!(
                "tee {t:?} is not a TEE this broker verifies (snp, tdx, sgx, tpm, az-snp-vtpm, az-tdx-vtpm, {})",
                OTHER_TEES.join(", ")
            )));
        }
    };
    for v in values {
        form.check(&format!("{tee}.{claim}"), v).map_err(bad)?;
    }
    Ok(())
}

async fn put_rv(
    _: Admin,
    State(b): State<Arc<Broker>>,
    Path(name): Path<String>,
    Query(q): Query<RvQuery>,
    body: Bytes,
) -> Result<Response> {
    check_segment(&name)?;
    let rv: RvBody = serde_json::from_slice(&body)
        .map_err(|e| Error::Malformed(format!("reference value: {e}")))?;
    if rv.values.is_empty() {
        return Err(Error::Malformed(
            "reference value needs at least one value".into(),
        ));
    }
    check_reference_value(&rv.tee, &rv.claim, &rv.values)?;
    let existing = b
        .store
        .list_reference_values()
        .await?
        .into_iter()
        .find(|r| r.name == name);
    if let Some(old) = &existing {
        let same = old.tee == rv.tee && old.claim == rv.claim && old.values == rv.values;
        if same {
            return Ok((StatusCode::OK, Json(old)).into_response());
        }
        if !q.replace {
            return Err(Error::Conflict(format!(
                "reference value {name} exists (version {}: tee {}, claim {}, {} value(s)); \
                 say replace=true (rootline admin reference set --replace) to replace it",
                old.version,
                old.tee,
                old.claim,
                old.values.len()
            )));
        }
    }
    let rv = ReferenceValue {
        name,
        tee: rv.tee,
        claim: rv.claim,
        values: rv.values,
        version: 0,
    };
    b.store.put_reference_value(&rv, b.clock.now()).await?;
    let stored = b
        .store
        .list_reference_values()
        .await?
        .into_iter()
        .find(|r| r.name == rv.name)
        .unwrap_or(rv);
    tracing::info!(name = %stored.name, version = stored.version, "reference value set");
    Ok((StatusCode::OK, Json(stored)).into_response())
}

async fn delete_rv(
    _: Admin,
    State(b): State<Arc<Broker>>,
    Path(name): Path<String>,
) -> Result<Response> {
    deleted(b.store.delete_reference_value(&name).await?, || {
        format!("reference value {name}")
    })
}

async fn list_rvs(_: Admin, State(b): State<Arc<Broker>>) -> Result<Response> {
    Ok(Json(b.store.list_reference_values().await?).into_response())
}

#[derive(Deserialize)]
struct AuditQuery {
    limit: Option<i64>,
}

async fn list_audit(
    _: Admin,
    State(b): State<Arc<Broker>>,
    Query(q): Query<AuditQuery>,
) -> Result<Response> {
    let limit = q.limit.unwrap_or(100).clamp(1, 10_000);
    Ok(Json(b.store.list_audit(limit).await?).into_response())
}

/// Mints an admin JWT (the `rootline admin` client's side): `pkcs8` is an
/// Ed25519 or P-256 private key; the token lives `ttl` seconds from `now`.
pub fn mint(pkcs8: &[u8], now: i64, ttl: i64) -> Result<String> {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair};
    let (alg, key) = if Ed25519KeyPair::from_pkcs8(pkcs8).is_ok() {
        (
            Algorithm::EdDSA,
            jsonwebtoken::EncodingKey::from_ed_der(pkcs8),
        )
    } else if EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8).is_ok() {
        (
            Algorithm::ES256,
            jsonwebtoken::EncodingKey::from_ec_der(pkcs8),
        )
    } else {
        return Err(Error::Config(
            "admin key must be an Ed25519 or P-256 PKCS#8 private key".into(),
        ));
    };
    let claims =
        json!({"aud": AUDIENCE, "iat": now, "exp": now + ttl, "sub": "rootline-admin-cli"});
    jsonwebtoken::encode(&jsonwebtoken::Header::new(alg), &claims, &key)
        .map_err(|e| Error::Crypto(format!("admin JWT: {e}")))
}

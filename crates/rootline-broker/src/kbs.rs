//! The KBS protocol routes: `/kbs/v0/auth`, `/kbs/v0/attest`,
//! `/kbs/v0/resource/{repository}/{type}/{tag}`, and the token keys.
//!
//! Shapes are `kbs-types` 0.18's (Trustee's protocol 0.4.0). The handshake
//! is stateless until `/attest`, which claims the challenge's nonce in the
//! shared store; see `session` for why that survives load balancing.
//!
//! These handlers only read the request (body, cookie, Bearer token, path),
//! call the broker's operation in [`crate::service`], count it, and map its
//! answer or error to a response.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::{Error, Result};
use crate::service::ResourceRequest;
use crate::{Broker, Route, session, trustee_admin};

pub use crate::audit::ClientAddr;
pub use crate::service::{MAX_DEVICE_EVIDENCE, MAX_RUNTIME_DATA, check_segment};

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0)
                .or_else(|| {
                    parts
                        .extensions
                        .get::<ConnectInfo<crate::tls::PeerAddr>>()
                        .map(|c| c.0.0)
                }),
        ))
    }
}

pub(crate) fn routes() -> Vec<Route> {
    const RESOURCE: &str = "/kbs/v0/resource/{repo}/{kind}/{tag}";
    vec![
        Route::post("/kbs/v0/auth", auth),
        Route::post("/kbs/v0/attest", attest),
        Route::get(RESOURCE, resource),
        Route::post(RESOURCE, trustee_admin::set_resource),
        Route::delete(RESOURCE, trustee_admin::delete_resource),
        Route::get(
            "/kbs/v0/resource-policy",
            trustee_admin::list_resource_policies,
        ),
        Route::post(
            "/kbs/v0/resource-policy",
            trustee_admin::set_resource_policy,
        ),
        Route::post(
            "/kbs/v0/attestation-policy",
            trustee_admin::set_attestation_policy,
        ),
        Route::post(
            "/kbs/v0/reference-value",
            trustee_admin::set_reference_values,
        ),
        Route::get(
            "/kbs/v0/reference-value/{*id}",
            trustee_admin::get_reference_value,
        ),
        Route::get("/.well-known/jwks.json", jwks),
    ]
}

async fn auth(State(b): State<Arc<Broker>>, client: ClientAddr, body: Bytes) -> Result<Response> {
    b.rate_limit(client.ip())?;
    let t = std::time::Instant::now();
    let mut tee = None;
    let r = b.auth(&body, &mut tee);
    b.metrics.auth(tee.unwrap_or("unknown"), r.is_ok());
    b.metrics.request("/kbs/v0/auth", t.elapsed());
    let issued = r?;
    let mut resp = Json(issued.challenge).into_response();
    let sc = session::set_cookie(
        &issued.cookie,
        u64::try_from(b.session_ttl).unwrap_or(0),
        b.secure_cookies,
    );
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&sc)
            .map_err(|_| Error::Crypto("cookie is not a header value".into()))?,
    );
    Ok(resp)
}

fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(session::find_cookie)
}

async fn attest(
    State(b): State<Arc<Broker>>,
    client: ClientAddr,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response> {
    b.rate_limit(client.ip())?;
    let t = std::time::Instant::now();
    let mut tee = "unknown";
    let r = b
        .attest(client, session_cookie(&headers), &body, &mut tee)
        .await;
    match &r {
        Ok(a) => b.metrics.attestation(tee, Some(a.status)),
        Err(_) => b.metrics.attestation(tee, None),
    }
    b.metrics.request("/kbs/v0/attest", t.elapsed());
    Ok(Json(json!({"token": r?.token})).into_response())
}

async fn resource(
    State(b): State<Arc<Broker>>,
    client: ClientAddr,
    Path((repo, kind, tag)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response> {
    let t = std::time::Instant::now();
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let r = b
        .resource(ResourceRequest {
            client,
            cookie: session_cookie(&headers),
            bearer,
            repo: &repo,
            kind: &kind,
            tag: &tag,
        })
        .await;
    b.metrics
        .request("/kbs/v0/resource/{repo}/{kind}/{tag}", t.elapsed());
    match &r {
        Ok(r) => b.metrics.release("released", Some(&r.path)),
        Err(Error::Denied(_)) => b.metrics.release("denied", None),
        Err(Error::NotFound(_)) => b.metrics.release("not_found", None),
        Err(Error::Unauthenticated(_)) => b.metrics.release("unauthenticated", None),
        Err(_) => b.metrics.release("error", None),
    }
    Ok((StatusCode::OK, Json(r?.jwe)).into_response())
}

async fn jwks(State(b): State<Arc<Broker>>) -> Response {
    Json(json!({"keys": [b.signer.jwk()]})).into_response()
}

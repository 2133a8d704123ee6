//! Errors: one crate error enum, and its mapping onto RFC 7807 problem
//! documents for HTTP.
//!
//! A guest sees the status code it expects (401 unauthenticated or denied by
//! policy, as Trustee answers both; 404 absent) and a `detail` sentence it can act on; internals (SQL errors,
//! key material, stack traces) go to the log only, never onto the wire.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Everything that can go wrong in the broker, grouped by cause.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request is malformed (bad JSON, bad base64, missing field).
    #[error("malformed request: {0}")]
    Malformed(String),
    /// The client is not authenticated (no session, bad or expired cookie,
    /// bad token, bad admin JWT).
    #[error("{0}")]
    Unauthenticated(String),
    /// The evidence was checked and rejected (signature, binding, replay).
    #[error("attestation rejected: {0}")]
    Rejected(String),
    /// A policy denied the request.
    #[error("{0}")]
    Denied(String),
    /// No such resource, policy or reference value.
    #[error("{0} not found")]
    NotFound(String),
    /// The write would replace something the request did not say to replace.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The client sent more handshake requests than its rate allows.
    #[error("rate limited: {0}")]
    RateLimited(String),
    /// The client did not send its request in time.
    #[error("request timeout: {0}")]
    TimedOut(String),
    /// The route exists but not with this method.
    #[error("method not allowed: {0}")]
    MethodNotAllowed(String),
    /// The request asks for something this broker does not support.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The configuration is unusable.
    #[error("configuration: {0}")]
    Config(String),
    /// The store failed.
    #[error("storage: {0}")]
    Storage(String),
    /// A cryptographic operation failed where it should not have.
    #[error("crypto: {0}")]
    Crypto(String),
    /// A policy could not be compiled or evaluated.
    #[error("policy: {0}")]
    Policy(String),
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Self::Storage(e.to_string())
    }
}

impl From<sqlx::migrate::MigrateError> for Error {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        Self::Storage(format!("migration: {e}"))
    }
}

/// `text` safe to write into a line-oriented log: control characters
/// (newlines, carriage returns, escape sequences) and the Unicode line and
/// paragraph separators are escaped. Error messages quote what a client
/// sent (a serde error names the offending value), and a raw newline in one
/// let a client write a forged `released` line into the log (hardening
/// finding 6).
pub fn loggable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{85}') {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// A result with the crate error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An RFC 7807 problem document (`application/problem+json`).
#[derive(Debug, Serialize)]
struct Problem {
    r#type: &'static str,
    title: &'static str,
    status: u16,
    detail: String,
}

impl Error {
    /// The HTTP status a client sees for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Malformed(_) => StatusCode::BAD_REQUEST,
            // A policy denial is 401, as Trustee answers it: guests act on
            // the status (a 403 was "KBS Server Internal Failed" to them);
            // the problem type `policy-denied` tells it from the rest.
            Self::Unauthenticated(_) | Self::Rejected(_) | Self::Denied(_) => {
                StatusCode::UNAUTHORIZED
            }
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::TimedOut(_) => StatusCode::REQUEST_TIMEOUT,
            Self::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Unsupported(_) => StatusCode::BAD_REQUEST,
            Self::Config(_) | Self::Storage(_) | Self::Crypto(_) | Self::Policy(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    fn kind(&self) -> (&'static str, &'static str) {
        match self {
            Self::Malformed(_) => ("malformed-request", "Malformed request"),
            Self::Unauthenticated(_) => ("unauthenticated", "Unauthenticated"),
            Self::Rejected(_) => ("attestation-rejected", "Attestation rejected"),
            Self::Denied(_) => ("policy-denied", "Denied by policy"),
            Self::NotFound(_) => ("not-found", "Not found"),
            Self::Conflict(_) => ("conflict", "Conflict"),
            Self::MethodNotAllowed(_) => ("method-not-allowed", "Method not allowed"),
            Self::TimedOut(_) => ("request-timeout", "Request timeout"),
            Self::RateLimited(_) => ("rate-limited", "Too many requests"),
            Self::Unsupported(_) => ("unsupported", "Unsupported"),
            _ => ("internal", "Internal error"),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        let (kind, title) = self.kind();
        // Internals are logged, not sent.
        let detail = if status.is_server_error() {
            tracing::error!(error = %loggable(&self.to_string()), "request failed");
            "the broker could not complete the request; the operator's log has the cause".to_owned()
        } else {
            tracing::info!(
                status = status.as_u16(),
                error = %loggable(&self.to_string()),
                "request refused"
            );
            self.to_string()
        };
        let body = Problem {
            r#type: match kind {
                "malformed-request" => "https://rootline.invalid/problems/malformed-request",
                "unauthenticated" => "https://rootline.invalid/problems/unauthenticated",
                "attestation-rejected" => "https://rootline.invalid/problems/attestation-rejected",
                "policy-denied" => "https://rootline.invalid/problems/policy-denied",
                "not-found" => "https://rootline.invalid/problems/not-found",
                "conflict" => "https://rootline.invalid/problems/conflict",
                "method-not-allowed" => "https://rootline.invalid/problems/method-not-allowed",
                "request-timeout" => "https://rootline.invalid/problems/request-timeout",
                "rate-limited" => "https://rootline.invalid/problems/rate-limited",
                "unsupported" => "https://rootline.invalid/problems/unsupported",
                _ => "https://rootline.invalid/problems/internal",
            },
            title,
            status: status.as_u16(),
            detail,
        };
        let retry_after = matches!(self, Self::RateLimited(_));
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let mut resp = (status, bytes).into_response();
        if retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        resp
    }
}

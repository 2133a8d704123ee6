//! `GET /openapi.json`: the broker's HTTP contract, an OpenAPI 3.1
//! document written by hand in `docs/openapi.json` and compiled in.
//!
//! Written by hand rather than derived from the handlers: the handlers read
//! raw bodies (so that a malformed one gets a problem document naming the
//! field, not a framework rejection), so there are no request types to
//! derive a schema from, and the document says what a derived one could
//! not (which problem types each route answers, Trustee's spellings). It
//! stays true to the router because `tests/openapi.rs` compares its paths
//! and methods with [`crate::routes`], the list the router is built from.

use axum::http::header;
use axum::response::{IntoResponse, Response};

/// The document, as committed in `docs/openapi.json`.
pub const DOCUMENT: &str = include_str!("../../../docs/openapi.json");

/// `GET /openapi.json`.
pub(crate) async fn document() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT).into_response()
}

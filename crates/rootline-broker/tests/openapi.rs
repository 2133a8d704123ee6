//! The OpenAPI document (`docs/openapi.json`, served at `/openapi.json`)
//! and the router cannot drift (issue 19, item 4): the router is built from
//! `rootline_broker::routes()` alone, and this test compares that list with
//! the document's paths and methods both ways. A route added without the
//! document, or documented without the route, fails here by name.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;

use common::*;
use serde_json::Value;

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

fn document() -> Value {
    serde_json::from_str(rootline_broker::openapi::DOCUMENT).expect("docs/openapi.json is JSON")
}

/// An axum path template in OpenAPI's spelling: `{*id}` (the rest of the
/// path) is `{id}`.
fn openapi_path(axum: &str) -> String {
    axum.replace("{*", "{")
}

#[test]
fn every_route_is_documented_and_every_documented_route_exists() {
    let doc = document();
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter(|m| item.get(**m).is_some())
                .map(|m| (m.to_uppercase(), path.clone()))
        })
        .collect();
    let served: BTreeSet<(String, String)> = rootline_broker::routes()
        .iter()
        .map(|r| (r.method.to_string(), openapi_path(r.path)))
        .collect();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty(),
        "routes the broker serves that docs/openapi.json does not describe: {undocumented:?}"
    );
    assert!(
        unserved.is_empty(),
        "operations docs/openapi.json describes that the broker does not serve: {unserved:?}"
    );
    // The list has no duplicate (axum would panic on one at start-up).
    assert_eq!(served.len(), rootline_broker::routes().len());
}

/// Resolves a local `$ref` (`#/components/...`).
fn resolve<'a>(doc: &'a Value, r: &str) -> Option<&'a Value> {
    doc.pointer(r.strip_prefix('#')?)
}

fn check_refs(doc: &Value, v: &Value, at: &str) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                assert!(resolve(doc, r).is_some(), "{at}: dangling $ref {r}");
            }
            for (k, x) in m {
                check_refs(doc, x, &format!("{at}/{k}"));
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                check_refs(doc, x, &format!("{at}/{i}"));
            }
        }
        _ => {}
    }
}

#[test]
fn the_document_is_openapi_3_1_and_consistent() {
    let doc = document();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1."));
    check_refs(&doc, &doc, "#");
    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let params: BTreeSet<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        for m in METHODS {
            let Some(op) = item.get(m) else { continue };
            let at = format!("{} {path}", m.to_uppercase());
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{at}: no operationId"));
            assert!(ids.insert(id.to_owned()), "{at}: operationId {id} twice");
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{at}: no responses"
            );
            let declared: BTreeSet<&str> = op
                .get("parameters")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
                .map(|p| p["name"].as_str().unwrap())
                .collect();
            assert_eq!(declared, params, "{at}: path parameters");
        }
    }
}

#[tokio::test]
async fn the_broker_serves_the_document() {
    let f = fixture().await;
    let c = Client::in_process(&f.broker);
    let r = c.call("GET", "/openapi.json", &[], Vec::new()).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.json(), document());
}

//! OCSP responses for NVIDIA GPU chains, fetched with consent from a
//! loopback mock responder (never any other address): the request is
//! POSTed as nvtrust sends it, the response cached until its nextUpdate and
//! shared by replicas, the second verification served from the cache, and
//! nothing asked without consent.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rootline_collateral::{Client, Fetcher, SharedCache, SharedEntry};
use rootline_core::TeeKind;
use rootline_testkit::nvidia::{FWID, Leaf, Pki};
use rootline_testkit::ocsp::{Response, Status};
use rootline_testkit::server::{Route, Server};
use rootline_verifier::{CollateralSource as _, Request, Verifier};

mod common;
use common::client;

fn fetcher(gpu: Client, url: &str) -> Fetcher {
    let off = |d: &std::path::Path| client(d, true);
    let d = tempfile::tempdir().unwrap();
    Fetcher::new(
        off(d.path()),
        off(d.path()),
        "http://127.0.0.1:9",
        "http://127.0.0.1:9",
    )
    .with_nvidia(gpu, url)
}

#[derive(Debug, Default)]
struct Memory(Mutex<HashMap<String, SharedEntry>>);

impl SharedCache for Memory {
    fn load(&self, url: &str) -> Option<SharedEntry> {
        self.0.lock().unwrap().get(url).cloned()
    }
    fn store(&self, url: &str, entry: &SharedEntry) {
        self.0.lock().unwrap().insert(url.to_owned(), entry.clone());
    }
}

struct Setup {
    gpu: Pki,
    srv: Server,
    req: Request,
    verifier: Verifier,
}

fn setup() -> Setup {
    let gpu = Pki::new(Leaf::default());
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let good = Response::new(&gpu.ca_der, &gpu.root_der, Status::Good, now - 60)
        .sign(&gpu.root_ocsp_signer());
    let mut routes = HashMap::new();
    routes.insert(
        "/".to_owned(),
        Route::ok(good).header("Content-Type", "application/ocsp-response"),
    );
    let srv = Server::start(routes);
    let nonce = [0x42; 32];
    let req = Request {
        evidence: gpu.evidence(nonce, &FWID).to_string().into_bytes(),
        tee: Some(TeeKind::Nvidia),
        nonce: Some(nonce.to_vec()),
        ..Default::default()
    };
    let verifier = Verifier::pinned()
        .with_nvidia_roots(gpu.root_pem().as_bytes())
        .unwrap();
    Setup {
        gpu,
        srv,
        req,
        verifier,
    }
}

#[test]
fn ocsp_is_fetched_once_then_served_from_the_cache() {
    let s = setup();
    let dir = tempfile::tempdir().unwrap();
    let f = Arc::new(fetcher(client(dir.path(), false), &s.srv.url()));
    let v = s.verifier.with_source(f.clone());

    let first = v.verify(&s.req).unwrap();
    assert_eq!(
        first.claims_json()["devices"][0]["revocation"]["checked"],
        true
    );
    let posts = s.srv.posts();
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(posts[0].0, "/");
    assert_eq!(
        posts[0].1,
        rootline_nvidia::ocsp::request(&s.gpu.ca_der, &s.gpu.root_der).unwrap()
    );
    assert_eq!(f.stats().fetched, 1);

    let second = v.verify(&s.req).unwrap();
    assert_eq!(
        second.claims_json()["devices"][0]["revocation"]["checked"],
        true
    );
    assert_eq!(
        s.srv.posts().len(),
        1,
        "the second verification asked again"
    );
    let st = f.stats();
    assert_eq!((st.fetched, st.disk_hits), (1, 1), "{st:?}");

    // The response sits where its name says, as a readable file.
    let decoded = rootline_verifier::decode(&s.req.evidence, s.req.tee).unwrap();
    let g = f.gather(
        &decoded,
        &[],
        time::OffsetDateTime::now_utc().unix_timestamp(),
    );
    assert!(
        g.info[0].contains("/ocsp-request/") && g.info[0].contains("from the cache"),
        "{:?}",
        g.info
    );
}

#[test]
fn replicas_share_what_one_fetched() {
    let s = setup();
    let shared: Arc<dyn SharedCache> = Arc::new(Memory::default());
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let one = fetcher(
        client(d1.path(), false).with_shared(shared.clone()),
        &s.srv.url(),
    );
    // The second replica may not fetch at all: it must find it shared.
    let two = fetcher(client(d2.path(), true).with_shared(shared), &s.srv.url());
    let decoded = rootline_verifier::decode(&s.req.evidence, s.req.tee).unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let g1 = one.gather(&decoded, &[], now);
    assert_eq!(g1.collateral.len(), 1, "{:?}", g1.failures);
    let g2 = two.gather(&decoded, &[], now);
    assert_eq!(g2.collateral.len(), 1, "{:?}", g2.failures);
    assert_eq!(g2.collateral[0].bytes, g1.collateral[0].bytes);
    assert_eq!(two.stats().shared_hits, 1);
    assert_eq!(s.srv.posts().len(), 1);
}

#[test]
fn nothing_is_asked_without_consent() {
    let s = setup();
    let dir = tempfile::tempdir().unwrap();
    let f = Arc::new(fetcher(client(dir.path(), true), &s.srv.url()));
    let v = s.verifier.with_source(f.clone());
    let out = v.verify(&s.req).unwrap();
    assert_eq!(
        out.claims_json()["devices"][0]["revocation"]["checked"],
        false
    );
    assert!(s.srv.posts().is_empty() && s.srv.requests().is_empty());
    assert_eq!(f.stats().fetched, 0);
    let decoded = rootline_verifier::decode(&s.req.evidence, s.req.tee).unwrap();
    let g = f.gather(&decoded, &[], 0);
    assert!(
        g.failures[0].contains("was not fetched"),
        "{:?}",
        g.failures
    );
}

#[test]
fn a_given_response_is_not_fetched_again_and_a_bad_answer_is_not_cached() {
    let s = setup();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let given = rootline_verifier::Collateral {
        origin: "ca.ocsp".into(),
        bytes: Response::new(&s.gpu.ca_der, &s.gpu.root_der, Status::Good, now - 60)
            .sign(&s.gpu.root_ocsp_signer()),
    };
    let dir = tempfile::tempdir().unwrap();
    let f = fetcher(client(dir.path(), false), &s.srv.url());
    let decoded = rootline_verifier::decode(&s.req.evidence, s.req.tee).unwrap();
    let g = f.gather(&decoded, &[given], now);
    assert!(g.collateral.is_empty() && g.failures.is_empty());
    assert!(s.srv.posts().is_empty());

    // A responder that answers an HTML page: refused, nothing cached.
    let mut routes = HashMap::new();
    routes.insert("/".to_owned(), Route::ok(b"<html>busy</html>".to_vec()));
    let html = Server::start(routes);
    let f = fetcher(client(dir.path(), false), &html.url());
    let g = f.gather(&decoded, &[], now);
    assert!(g.failures[0].contains("not usable"), "{:?}", g.failures);
    let offline = fetcher(client(dir.path(), true), &html.url());
    let g = offline.gather(&decoded, &[], now);
    assert!(
        g.failures[0].contains("was not fetched"),
        "{:?}",
        g.failures
    );
}

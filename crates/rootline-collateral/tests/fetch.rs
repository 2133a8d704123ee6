//! The client against a loopback server laid out like AMD KDS and Intel PCS,
//! serving the real vectors: cache hits, freshness, 429 handling, timeouts,
//! error answers and the offline mode. Never any other address.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashMap;
use std::time::Duration;

use rootline_collateral::{Client, Config, Error, Source, kds, pcs};
use rootline_testkit::server::{Route, Server, url_encode};
use time::macros::datetime;

fn read(rel: &str) -> Option<Vec<u8>> {
    Some(std::fs::read(rootline_testkit::vector(rel)?).unwrap())
}

mod common;
use common::client;

const HWID: &str = "3ac3fe21e13fb0990eb28a802e3fb6a29483a6b0753590c951bdd3b8e53786184ca39e359669a2b76a1936776b564ea464cdce40c05f63c9b610c5068b006b5d";
const TCB: [(&str, u8); 4] = [("blSPL", 2), ("teeSPL", 0), ("snpSPL", 5), ("ucodeSPL", 68)];

#[test]
fn kds_artifacts_are_fetched_once_then_served_from_the_cache() {
    let (Some(vcek), Some(chain)) = (
        read("snp/go-sev-guest/vcek.der"),
        read("snp/go-sev-guest/ask_ark_milan.pem"),
    ) else {
        return;
    };
    let vcek_path = format!("/vcek/v1/Milan/{HWID}");
    let mut routes = HashMap::new();
    routes.insert(vcek_path.clone(), Route::ok(vcek.clone()));
    routes.insert(
        "/vcek/v1/Milan/cert_chain".to_owned(),
        Route {
            // Two 429s, one with Retry-After, one without (backoff).
            rate_limit_first: 2,
            retry_after: None,
            ..Route::ok(chain.clone())
        },
    );
    let srv = Server::start(routes);
    let dir = tempfile::tempdir().unwrap();
    let c = client(dir.path(), false);
    let at = datetime!(2026-06-01 00:00 UTC).unix_timestamp();

    let a = kds::vcek(&srv.url(), "Milan", HWID, &TCB);
    let got = c.get(&a, at).unwrap();
    assert_eq!(got.source, Source::Network);
    assert_eq!(got.bytes, vcek);
    assert!(got.path.starts_with(dir.path()));
    assert_eq!(std::fs::read(&got.path).unwrap(), vcek);
    let sent = srv.requests();
    assert_eq!(
        sent,
        vec![format!(
            "{vcek_path}?blSPL=02&teeSPL=00&snpSPL=05&ucodeSPL=68"
        )]
    );

    let ch = kds::cert_chain(&srv.url(), "Milan", "vcek");
    let got = c.get(&ch, at).unwrap();
    assert_eq!(got.bytes, chain);
    assert_eq!(
        srv.hits("/vcek/v1/Milan/cert_chain"),
        3,
        "two 429s then 200"
    );

    // Second round: nothing goes to the server.
    let before = srv.requests().len();
    let again = client(dir.path(), false);
    assert_eq!(again.get(&a, at).unwrap().source, Source::Cache);
    assert_eq!(again.get(&ch, at).unwrap().source, Source::Cache);
    assert_eq!(srv.requests().len(), before);
    assert_eq!(again.requests(), 0);

    // Offline reads the same cache.
    let off = client(dir.path(), true);
    assert_eq!(off.get(&a, at).unwrap().bytes, vcek);
}

#[test]
fn retry_after_is_honoured_and_retries_are_bounded() {
    let Some(chain) = read("snp/go-sev-guest/ask_ark_milan.pem") else {
        return;
    };
    let mut routes = HashMap::new();
    routes.insert(
        "/vcek/v1/Genoa/cert_chain".to_owned(),
        Route {
            rate_limit_first: 1,
            retry_after: Some("1".into()),
            ..Route::ok(chain.clone())
        },
    );
    routes.insert(
        "/vcek/v1/Turin/cert_chain".to_owned(),
        Route {
            rate_limit_first: 100,
            retry_after: Some("0".into()),
            ..Route::ok(chain)
        },
    );
    let srv = Server::start(routes);
    let dir = tempfile::tempdir().unwrap();
    let c = client(dir.path(), false);
    c.get(&kds::cert_chain(&srv.url(), "Genoa", "vcek"), 0)
        .unwrap();
    assert_eq!(srv.hits("/vcek/v1/Genoa/cert_chain"), 2);

    let e = c
        .get(&kds::cert_chain(&srv.url(), "Turin", "vcek"), 0)
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::GaveUp {
                status: 429,
                attempts: 5,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(srv.hits("/vcek/v1/Turin/cert_chain"), 5);
}

#[test]
fn a_server_that_does_not_answer_times_out() {
    let mut routes = HashMap::new();
    routes.insert(
        "/vcek/v1/Milan/crl".to_owned(),
        Route {
            delay: Duration::from_secs(30),
            ..Route::ok(Vec::new())
        },
    );
    let srv = Server::start(routes);
    let dir = tempfile::tempdir().unwrap();
    let c = Client::new(Config {
        cache_dir: Some(dir.path().to_owned()),
        timeout: Duration::from_secs(1),
        progress_after: None,
        ..Config::default()
    });
    let e = c
        .get(&kds::crl(&srv.url(), "Milan", "vcek"), 0)
        .unwrap_err();
    assert!(matches!(e, Error::Timeout { secs: 1, .. }), "{e}");
    assert!(e.to_string().contains("timed out"), "{e}");
}

#[test]
fn error_answers_and_wrong_bodies_are_not_cached() {
    let mut routes = HashMap::new();
    routes.insert(
        "/vcek/v1/Milan/crl".to_owned(),
        Route::ok(b"<html>maintenance</html>".to_vec()),
    );
    let srv = Server::start(routes);
    let dir = tempfile::tempdir().unwrap();
    let c = client(dir.path(), false);
    let crl = kds::crl(&srv.url(), "Milan", "vcek");
    let e = c.get(&crl, 0).unwrap_err();
    assert!(matches!(e, Error::BadResponse { .. }), "{e}");
    assert!(!c.path_of(&crl).unwrap().exists());
    let e = c
        .get(&kds::crl(&srv.url(), "Genoa", "vcek"), 0)
        .unwrap_err();
    assert!(matches!(e, Error::Status { status: 404, .. }), "{e}");
}

fn pcs_routes() -> Option<HashMap<String, Route>> {
    let d = "tdx/go-tdx-guest/";
    let tcb = read(&format!("{d}sample_tcbInfo_response"))?;
    let qe = read(&format!("{d}sample_qeIdentity_response"))?;
    let pckcrl = read(&format!("{d}pckcrl"))?;
    let rootcrl = read(&format!("{d}rootcrl.der"))?;
    let chain =
        |f: &str| url_encode(&String::from_utf8(read(&format!("{d}{f}")).unwrap()).unwrap());
    let mut r = HashMap::new();
    r.insert(
        "/tdx/certification/v4/tcb?fmspc=50806F000000".to_owned(),
        Route::ok(tcb).header("TCB-Info-Issuer-Chain", &chain("tcb_info_issuer_chain.pem")),
    );
    r.insert(
        "/tdx/certification/v4/qe/identity".to_owned(),
        Route::ok(qe).header(
            "SGX-Enclave-Identity-Issuer-Chain",
            &chain("qe_identity_issuer_chain.pem"),
        ),
    );
    r.insert(
        "/sgx/certification/v4/pckcrl?ca=platform&encoding=der".to_owned(),
        Route::ok(pckcrl).header(
            "SGX-PCK-CRL-Issuer-Chain",
            &chain("pck_crl_issuer_chain.pem"),
        ),
    );
    // A PCCS sends the root CA CRL as hex text.
    r.insert(
        "/sgx/certification/v4/rootcacrl".to_owned(),
        Route::ok(hex::encode(&rootcrl).into_bytes()),
    );
    Some(r)
}

#[test]
fn pcs_artifacts_come_with_their_issuer_chains_and_are_refetched_when_stale() {
    let Some(routes) = pcs_routes() else {
        return;
    };
    let srv = Server::start(routes);
    let dir = tempfile::tempdir().unwrap();
    let c = client(dir.path(), false);
    let at = datetime!(2023-07-01 00:00 UTC).unix_timestamp();
    let arts = [
        pcs::tcb_info(&srv.url(), true, "50806F000000"),
        pcs::qe_identity(&srv.url(), true),
        pcs::pck_crl(&srv.url(), "platform"),
        pcs::root_ca_crl(&srv.url()),
    ];
    for a in &arts {
        let f = c.get(a, at).unwrap();
        assert_eq!(f.source, Source::Network, "{}", a.what);
        if a.issuer_chain_headers.is_empty() {
            assert!(f.issuer_chain.is_none());
        } else {
            let (p, pem) = f.issuer_chain.unwrap();
            assert!(
                String::from_utf8(pem)
                    .unwrap()
                    .contains("BEGIN CERTIFICATE")
            );
            assert!(p.exists());
        }
    }
    // The hex root CRL is stored as DER.
    let root = c.get(&arts[3], at).unwrap();
    assert_eq!(root.source, Source::Cache);
    assert_eq!(root.bytes, read("tdx/go-tdx-guest/rootcrl.der").unwrap());
    let n = srv.requests().len();
    for a in &arts {
        assert_eq!(c.get(a, at).unwrap().source, Source::Cache, "{}", a.what);
    }
    assert_eq!(srv.requests().len(), n);

    // After the TCB info's nextUpdate (2023-07-18) it is fetched again; the
    // root CRL (nextUpdate 2024-04-02) is still fresh.
    let later = datetime!(2023-08-01 00:00 UTC).unix_timestamp();
    assert_eq!(c.get(&arts[0], later).unwrap().source, Source::Network);
    assert_eq!(c.get(&arts[3], later).unwrap().source, Source::Cache);
    // Offline keeps a stale artifact, and says so.
    let off = client(dir.path(), true);
    let f = off
        .get(&arts[2], datetime!(2025-01-01 00:00 UTC).unix_timestamp())
        .unwrap();
    assert_eq!(f.source, Source::Cache);
    assert!(
        f.notes.iter().any(|n| n.contains("nextUpdate")),
        "{:?}",
        f.notes
    );
}

#[test]
fn offline_with_an_empty_cache_names_the_file_to_provide() {
    let dir = tempfile::tempdir().unwrap();
    let c = client(dir.path(), true);
    let a = pcs::tcb_info("https://pcs.invalid", true, "B0C06F000000");
    let e = c.get(&a, 0).unwrap_err();
    let msg = e.to_string();
    let want = dir
        .path()
        .join("pcs.invalid/tdx/certification/v4/tcb@fmspc=B0C06F000000");
    assert!(matches!(e, Error::Offline { .. }), "{msg}");
    assert!(msg.contains(&want.display().to_string()), "{msg}");
    assert!(msg.contains("issuer-chain.pem"), "{msg}");
    assert!(msg.contains("TCB-Info-Issuer-Chain"), "{msg}");
    assert!(msg.contains("--collateral"), "{msg}");
    assert_eq!(c.requests(), 0);
    // A file put where the message says is used.
    let Some(tcb) = read("tdx/go-tdx-guest/sample_tcbInfo_response") else {
        return;
    };
    std::fs::create_dir_all(want.parent().unwrap()).unwrap();
    std::fs::write(&want, tcb).unwrap();
    std::fs::write(
        format!("{}.issuer-chain.pem", want.display()),
        read("tdx/go-tdx-guest/tcb_info_issuer_chain.pem").unwrap(),
    )
    .unwrap();
    assert_eq!(c.get(&a, 0).unwrap().source, Source::Cache);
}

/// Ahead of its nextUpdate (2023-07-18 for this TCB info), within
/// `refresh_before`, an artifact is fetched again while its cached copy is
/// still good; with the service down the cached copy serves, with a note,
/// and the failure is not retried until `retry_failed_after` has passed.
/// Past nextUpdate with the service down it is still handed over, marked
/// with since when it is stale, for the verifier to refuse.
#[test]
fn artifacts_are_refreshed_ahead_of_their_next_update_and_served_while_the_vendor_is_down() {
    let Some(routes) = pcs_routes() else {
        return;
    };
    let srv = Server::start(routes);
    let dir = tempfile::tempdir().unwrap();
    let ahead = |retry: Duration| {
        Client::new(Config {
            cache_dir: Some(dir.path().to_owned()),
            timeout: Duration::from_secs(5),
            max_attempts: 1,
            progress_after: None,
            refresh_before: Duration::from_secs(2 * 86_400),
            retry_failed_after: retry,
            ..Config::default()
        })
    };
    let c = ahead(Duration::from_secs(3600));
    let tcb = pcs::tcb_info(&srv.url(), true, "50806F000000");
    let early = datetime!(2023-07-01 00:00 UTC).unix_timestamp();
    let near = datetime!(2023-07-17 00:00 UTC).unix_timestamp();
    assert_eq!(c.get(&tcb, early).unwrap().source, Source::Network);
    assert_eq!(c.get(&tcb, early).unwrap().source, Source::Cache);
    // One day before nextUpdate: inside the two-day window, fetched again.
    assert_eq!(c.get(&tcb, near).unwrap().source, Source::Network);
    assert_eq!(c.stats().fetched, 2);

    let url = srv.url();
    drop(srv);
    let f = c.get(&tcb, near).unwrap();
    assert_eq!(f.source, Source::Cache);
    assert!(f.refresh_error.is_none());
    assert!(
        f.notes
            .iter()
            .any(|n| n.contains("could not be refreshed ahead")),
        "{:?}",
        f.notes
    );
    let failures = c.stats().fetch_failures;
    // Within the retry interval the network is not asked again.
    let again = c.get(&tcb, near).unwrap();
    assert_eq!(again.source, Source::Cache);
    assert!(
        again.notes.iter().any(|n| n.contains("the last attempt")),
        "{:?}",
        again.notes
    );
    // Past nextUpdate: handed over, marked stale since 2023-07-18.
    let late = datetime!(2023-08-01 00:00 UTC).unix_timestamp();
    let stale = c
        .get(&pcs::tcb_info(&url, true, "50806F000000"), late)
        .unwrap();
    let why = stale.refresh_error.unwrap();
    assert!(why.contains("stale since 2023-07-18"), "{why}");
    assert!(c.stats().stale_used >= 1);
    assert_eq!(c.stats().fetch_failures, failures + 2);
}

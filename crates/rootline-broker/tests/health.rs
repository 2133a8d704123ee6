//! `/healthz` and `/readyz` (issue 19, item 3): a healthy broker answers
//! 200 on both; a store that stops answering (its pool closed, its
//! PostgreSQL server stopped) makes `/readyz` 503 naming the store while
//! `/healthz` stays 200; cached collateral past its nextUpdate fails
//! readiness only where the broker may not fetch a fresh copy. Also the
//! request id of the broker's own accept loop, on a real socket.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::*;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, IsCa, Issuer,
    KeyIdMethod, KeyPair, KeyUsagePurpose, SerialNumber,
};
use rootline_broker::store::{CollateralRow, SqlStore};
use rootline_broker::{Broker, Config};
use rootline_testkit::postgres::Postgres;
use serde_json::Value;

/// `/readyz`'s status and body.
async fn readyz(c: &Client) -> (u16, Value) {
    let r = c.call("GET", "/readyz", &[], Vec::new()).await;
    assert_eq!(r.header("content-type"), Some("application/json"));
    (r.status, r.json())
}

async fn assert_live(c: &Client) {
    let r = c.call("GET", "/healthz", &[], Vec::new()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), serde_json::json!({"status": "ok"}));
}

/// A broker on the SQLite file in `dir` (or `url`), and its store, whose
/// pool the test may close.
async fn broker_on(
    shared: &Shared,
    url: String,
    f: impl FnOnce(&mut rootline_broker::BrokerOptions),
) -> (Arc<Broker>, Arc<SqlStore>) {
    let store = Arc::new(SqlStore::connect(&url).await.unwrap());
    let mut o = options(shared, store.clone());
    f(&mut o);
    (Broker::new(o).await.unwrap(), store)
}

fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("broker.db").display()
    )
}

#[tokio::test]
async fn a_healthy_broker_is_live_and_ready() {
    let f = fixture().await;
    let c = Client::in_process(&f.broker);
    assert_live(&c).await;
    let (status, body) = readyz(&c).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ready");
    assert_eq!(body["failed"], serde_json::json!([]));
    for check in ["store", "keys", "collateral"] {
        assert_eq!(body["checks"][check]["ok"], true, "{check}: {body}");
    }
}

#[tokio::test]
async fn readyz_names_the_store_when_its_pool_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let (b, store) = broker_on(&Shared::new(), sqlite_url(&dir), |_| {}).await;
    let c = Client::in_process(&b);
    assert_eq!(readyz(&c).await.0, 200);
    store.pool().close().await;
    let (status, body) = readyz(&c).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "not ready");
    assert_eq!(body["failed"], serde_json::json!(["store"]));
    assert_eq!(body["checks"]["store"]["ok"], false);
    let detail = body["checks"]["store"]["detail"].as_str().unwrap();
    assert!(detail.contains("store"), "{detail}");
    // The keys do not depend on the store once loaded.
    assert_eq!(body["checks"]["keys"]["ok"], true);
    assert_live(&c).await;
}

/// The realest outage: the database server goes away under a broker that
/// was ready. Skipped (with the reason) where PostgreSQL is not installed,
/// a failure under CI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_names_the_store_when_postgres_stops() {
    let Some(pg) = Postgres::start() else { return };
    let (b, _store) = broker_on(&Shared::new(), pg.url(), |_| {}).await;
    let c = Client::in_process(&b);
    let (status, body) = readyz(&c).await;
    assert_eq!(status, 200, "{body}");
    drop(pg); // pg_ctl stop: the server and its socket go away
    let (status, body) = readyz(&c).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["failed"], serde_json::json!(["store"]));
    assert_live(&c).await;
}

/// A CRL signed by a throwaway CA, fresh until `next_update`.
fn crl(next_update: time::OffsetDateTime) -> Vec<u8> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let issuer = Issuer::new(p, &key);
    CertificateRevocationListParams {
        this_update: next_update - time::Duration::days(7),
        next_update,
        crl_number: SerialNumber::from(vec![1]),
        issuing_distribution_point: None,
        revoked_certs: Vec::new(),
        key_identifier_method: KeyIdMethod::Sha256,
    }
    .signed_by(&issuer)
    .unwrap()
    .der()
    .to_vec()
}

const AMD_CRL: &str = "https://kdsintf.amd.com/vcek/v1/Milan/crl";

/// A broker with the collateral source `cfg` describes (its on-disk cache
/// in `dir`), holding one AMD CRL in the replicas' shared cache that is
/// fresh for another hour.
async fn broker_with_cached_crl(
    dir: &tempfile::TempDir,
    cfg: Config,
) -> (Arc<Broker>, Arc<SqlStore>) {
    let store = Arc::new(SqlStore::connect(&sqlite_url(dir)).await.unwrap());
    let (verifier, fetcher) =
        rootline_broker::collateral::verifier_from_config(&cfg, Some(store.clone())).unwrap();
    assert!(fetcher.is_some());
    let mut o = options(&Shared::new(), store.clone());
    o.verifier.verifier = verifier;
    o.verifier.fetcher = fetcher;
    let now = o.clock.now();
    let next = time::OffsetDateTime::from_unix_timestamp(now).unwrap() + time::Duration::hours(1);
    use rootline_broker::store::CollateralStore as _;
    store
        .put_collateral(
            AMD_CRL,
            &CollateralRow {
                body: crl(next),
                chain: None,
            },
            now,
        )
        .await
        .unwrap();
    (Broker::new(o).await.unwrap(), store)
}

#[tokio::test]
async fn stale_collateral_fails_readiness_where_the_broker_may_not_fetch() {
    let dir = tempfile::tempdir().unwrap();
    // Neither `fetch` nor a vendor URL: the caches are all there is.
    let cfg = Config {
        data_dir: dir.path().to_owned(),
        ..Config::default()
    };
    let (b, _store) = broker_with_cached_crl(&dir, cfg).await;
    let c = Client::in_process(&b);
    let (status, body) = readyz(&c).await;
    assert_eq!(status, 200, "{body}");
    let detail = body["checks"]["collateral"]["detail"].as_str().unwrap();
    assert!(detail.starts_with("1 cached artifacts"), "{detail}");

    // Two hours on, the CRL is past its nextUpdate.
    b.clock().advance(2 * 3600);
    let (status, body) = readyz(&c).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["failed"], serde_json::json!(["collateral"]));
    let check = &body["checks"]["collateral"];
    assert!(
        check["detail"]
            .as_str()
            .unwrap()
            .contains("rootline collateral import"),
        "{check}"
    );
    assert_eq!(check["stale"][0]["url"], AMD_CRL);
    assert_eq!(check["stale"][0]["refreshable"], false);
    assert_live(&c).await;

    // /metrics counts it too.
    let m = c.call("GET", "/metrics", &[], Vec::new()).await.text();
    assert!(
        m.lines()
            .any(|l| l == "rootline_collateral_cached_artifacts{state=\"stale\"} 1"),
        "{m}"
    );
}

#[tokio::test]
async fn stale_collateral_the_broker_may_refresh_is_listed_but_ready() {
    let dir = tempfile::tempdir().unwrap();
    // A KDS mirror the owner named: consent to fetch from it (nothing is
    // fetched here; a guest that needs the CRL would refresh it).
    let cfg = Config {
        data_dir: dir.path().to_owned(),
        kds_url: Some("http://127.0.0.1:9".into()),
        ..Config::default()
    };
    let (b, _store) = broker_with_cached_crl(&dir, cfg).await;
    b.clock().advance(2 * 3600);
    let c = Client::in_process(&b);
    let (status, body) = readyz(&c).await;
    assert_eq!(status, 200, "{body}");
    let check = &body["checks"]["collateral"];
    assert_eq!(check["stale"][0]["url"], AMD_CRL);
    assert_eq!(check["stale"][0]["refreshable"], true);
}

/// The accept loop's request id: taken from the client when short and
/// printable, generated otherwise, echoed either way.
#[tokio::test]
async fn the_request_id_is_echoed_or_generated() {
    let f = fixture().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(rootline_broker::server::serve(
        listener,
        None,
        rootline_broker::app(f.broker.clone()),
        rootline_broker::server::Limits::default(),
        async {
            let _ = stopped.await;
        },
    ));
    let c = Client::Socket(addr);
    let r = c
        .call(
            "GET",
            "/healthz",
            &[("x-request-id", "probe-42")],
            Vec::new(),
        )
        .await;
    assert_eq!(r.header("x-request-id"), Some("probe-42"));
    let long = "x".repeat(rootline_broker::server::MAX_REQUEST_ID + 1);
    for sent in [None, Some("two words"), Some(long.as_str())] {
        let headers: Vec<(&str, &str)> = sent.iter().map(|v| ("x-request-id", *v)).collect();
        let r = c.call("GET", "/no/such/route", &headers, Vec::new()).await;
        assert_eq!(r.status, 404);
        let id = r.header("x-request-id").unwrap();
        assert_eq!(id.len(), 32, "{id}");
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
    }
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

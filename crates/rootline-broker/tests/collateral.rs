//! Collateral the broker fetches and shares (the verifier issue's second
//! item): an SNP guest whose evidence carries no certificate table, under a
//! synthetic AMD-shaped PKI whose root the brokers add as a trust anchor,
//! with a fake KDS on 127.0.0.1; and a TDX guest under a synthetic
//! Intel-shaped PKI with its collateral from a fake PCCS. The VCEK, the ASK/ARK chain and the CRL are
//! fetched once, by the first replica; a second replica on the same store
//! is served from the shared cache; with the KDS down and the cache fresh
//! secrets are still released; once the CRL has passed its nextUpdate and
//! cannot be refreshed, attestation is refused, naming what is stale and
//! since when.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use aws_lc_rs::agreement::{self, ECDH_P256};
use common::{Client, Shared, admin, jwk_of};
use rootline_broker::Clock;
use rootline_broker::evidence::{Binding, BindingHash};
use rootline_broker::store::{SqlStore, Store};
use rootline_testkit::server::{Route, Server};
use rootline_testkit::snp::{Pki, VcekSpec};
use serde_json::{Value, json};

const SECRET: &[u8] = b"disk key of an SNP guest";
const PATH: &str = "default/key/snp";

/// The fake KDS: a chip's VCEK, the product's chain and CRL.
fn kds(pki: &Pki, spec: &VcekSpec, vcek: &[u8], crl: &[u8]) -> (Server, String) {
    let vcek_path = format!("/vcek/v1/Milan/{}", hex::encode(spec.chip_id()));
    let routes = HashMap::from([
        (vcek_path.clone(), Route::ok(vcek.to_vec())),
        (
            "/vcek/v1/Milan/cert_chain".to_owned(),
            Route::ok(pki.cert_chain_pem()),
        ),
        ("/vcek/v1/Milan/crl".to_owned(), Route::ok(crl.to_vec())),
    ]);
    (Server::start(routes), vcek_path)
}

/// One replica: a broker on the shared store `url`, its own data directory
/// (so its own on-disk cache), trusting the synthetic ARK and consenting to
/// `kds_url`.
async fn replica(
    shared: &Shared,
    url: &str,
    data_dir: &std::path::Path,
    ark_file: &std::path::Path,
    kds_url: &str,
    clock: Clock,
) -> (Arc<rootline_broker::Broker>, Client) {
    let cfg = rootline_broker::Config {
        data_dir: data_dir.to_owned(),
        kds_url: Some(kds_url.to_owned()),
        snp_trust_anchors: vec![ark_file.to_owned()],
        ..Default::default()
    };
    replica_with(shared, url, cfg, clock).await
}

/// A replica on the shared store `url` with the collateral settings of `cfg`.
async fn replica_with(
    shared: &Shared,
    url: &str,
    cfg: rootline_broker::Config,
    clock: Clock,
) -> (Arc<rootline_broker::Broker>, Client) {
    let store: Arc<SqlStore> = Arc::new(SqlStore::connect(url).await.unwrap());
    let dyn_store: Arc<dyn Store> = store.clone();
    let (verifier, fetcher) =
        rootline_broker::collateral::verifier_from_config(&cfg, Some(dyn_store)).unwrap();
    let mut o = common::options(shared, store);
    o.verifier.verifier = verifier;
    o.verifier.fetcher = fetcher;
    o.clock = clock;
    let b = rootline_broker::Broker::new(o).await.unwrap();
    let c = Client::in_process(&b);
    (b, c)
}

/// A guest as guest-components makes its request: `/auth` for `tee`, then
/// the evidence `make` builds for the REPORTDATA binding this session, then
/// (when attested) the resource at `path`. Returns the `/attest` answer and
/// the secret when it was released.
async fn guest(
    c: &Client,
    tee: &str,
    path: &str,
    make: impl FnOnce([u8; 64]) -> Value,
) -> (common::Resp, Option<Vec<u8>>) {
    let (cookie, nonce) = common::auth_as(c, tee, json!({})).await;
    let tee_key = agreement::PrivateKey::generate(&ECDH_P256).unwrap();
    let runtime = json!({"nonce": nonce, "tee-pubkey": jwk_of(&tee_key)});
    let binding = Binding::current(&runtime, "", BindingHash::Sha384).unwrap();
    let mut rd = [0u8; 64];
    rd[..binding.digest.len()].copy_from_slice(&binding.digest);
    let body = json!({
        "runtime-data": runtime,
        "tee-evidence": {"primary_evidence": make(rd), "additional_evidence": ""},
    });
    let r = c
        .call(
            "POST",
            "/kbs/v0/attest",
            &[("content-type", "application/json"), ("cookie", &cookie)],
            body.to_string().into_bytes(),
        )
        .await;
    if r.status != 200 {
        return (r, None);
    }
    let res = c
        .call(
            "GET",
            &format!("/kbs/v0/resource/{path}"),
            &[("cookie", &cookie)],
            Vec::new(),
        )
        .await;
    assert_eq!(res.status, 200, "resource: {}", res.text());
    let resp: kbs_types::Response = serde_json::from_slice(&res.body).unwrap();
    let secret = rootline_broker::jwe::decrypt_ec(&tee_key, &resp).unwrap();
    (r, Some(secret))
}

/// An SNP guest: a report from the synthetic VCEK, sent in guest-components'
/// form without a certificate table.
async fn snp_guest(
    c: &Client,
    spec: &VcekSpec,
    vcek_key: &[u8],
) -> (common::Resp, Option<Vec<u8>>) {
    guest(c, "snp", PATH, |rd| {
        let report = rootline_testkit::snp::report(spec, vcek_key, rd);
        rootline_snp::guest_json::encode(&report, &[]).unwrap()
    })
    .await
}

fn metric(text: &str, line_start: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(line_start))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {line_start} in\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snp_guest_without_a_certificate_table_is_served_from_a_fetched_and_shared_vcek() {
    let shared = Shared::new();
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new("Milan");
    let spec = VcekSpec::milan();
    let (vcek, vcek_key) = pki.vcek(&spec);
    let now = time::OffsetDateTime::now_utc();
    let crl_next_update = now + time::Duration::days(10);
    let crl = pki.crl(&[vec![0x55]], crl_next_update);
    let (kds, vcek_path) = kds(&pki, &spec, &vcek, &crl);
    let ark_file = dir.path().join("ark.der");
    std::fs::write(&ark_file, &pki.ark_der).unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("broker.db").display()
    );

    // Replica A fetches what the report needs and releases.
    let clock_a = Clock::default();
    let (a, ca) = replica(
        &shared,
        &url,
        &dir.path().join("a"),
        &ark_file,
        &kds.url(),
        clock_a.clone(),
    )
    .await;
    let rv = json!({"tee": "snp", "claim": "measurement", "values": [hex::encode([0xab; 48])]});
    let r = admin(
        &ca,
        &shared.admin_pkcs8,
        "PUT",
        "/admin/v0/reference-values/snp-measurement",
        rv.to_string().into_bytes(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = admin(
        &ca,
        &shared.admin_pkcs8,
        "PUT",
        &format!("/admin/v0/resources/{PATH}"),
        SECRET.to_vec(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let (r, secret) = snp_guest(&ca, &spec, &vcek_key).await;
    assert_eq!(r.status, 200, "attest at A: {}", r.text());
    assert_eq!(secret.as_deref(), Some(SECRET));
    assert_eq!(kds.hits(&vcek_path), 1, "{:?}", kds.requests());
    assert_eq!(kds.hits("/vcek/v1/Milan/cert_chain"), 1);
    assert_eq!(kds.hits("/vcek/v1/Milan/crl"), 1);
    // A second guest at A: from A's own cache, no request to the KDS.
    let (r, _) = snp_guest(&ca, &spec, &vcek_key).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(kds.requests().len(), 3, "{:?}", kds.requests());

    // Replica B, its disk cache empty, same store: the shared cache serves.
    let (_b, cb) = replica(
        &shared,
        &url,
        &dir.path().join("b"),
        &ark_file,
        &kds.url(),
        Clock::default(),
    )
    .await;
    let (r, secret) = snp_guest(&cb, &spec, &vcek_key).await;
    assert_eq!(r.status, 200, "attest at B: {}", r.text());
    assert_eq!(secret.as_deref(), Some(SECRET));
    assert_eq!(
        kds.requests().len(),
        3,
        "B fetched again: {:?}",
        kds.requests()
    );
    let m = cb.call("GET", "/metrics", &[], Vec::new()).await.text();
    assert_eq!(
        metric(
            &m,
            "rootline_collateral_artifacts_total{source=\"shared_cache\"} "
        ),
        3,
        "{m}"
    );
    assert_eq!(
        metric(
            &m,
            "rootline_collateral_artifacts_total{source=\"fetched\"} "
        ),
        0
    );
    let m = ca.call("GET", "/metrics", &[], Vec::new()).await.text();
    assert_eq!(
        metric(
            &m,
            "rootline_collateral_artifacts_total{source=\"fetched\"} "
        ),
        3,
        "{m}"
    );

    // The KDS goes down; the cache is fresh: A and a third replica release.
    let kds_url = kds.url();
    drop(kds);
    let (r, secret) = snp_guest(&ca, &spec, &vcek_key).await;
    assert_eq!(r.status, 200, "A with the KDS down: {}", r.text());
    assert_eq!(secret.as_deref(), Some(SECRET));
    let (_c3, cc) = replica(
        &shared,
        &url,
        &dir.path().join("c"),
        &ark_file,
        &kds_url,
        Clock::default(),
    )
    .await;
    let (r, _) = snp_guest(&cc, &spec, &vcek_key).await;
    assert_eq!(r.status, 200, "C with the KDS down: {}", r.text());

    // Eleven days on, the CRL is past its nextUpdate and the KDS still down:
    // refused, naming the stale CRL and since when.
    clock_a.advance(11 * 86_400);
    let (r, secret) = snp_guest(&ca, &spec, &vcek_key).await;
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(secret.is_none());
    let text = r.text();
    let since = crl_next_update
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    assert!(
        text.contains("CRL") && text.contains("stale since") && text.contains(&since),
        "{text}"
    );
    let m = ca.call("GET", "/metrics", &[], Vec::new()).await.text();
    assert!(metric(&m, "rootline_collateral_stale_total ") >= 1, "{m}");
    assert!(
        metric(&m, "rootline_collateral_fetch_failures_total ") >= 1,
        "{m}"
    );
    eprintln!("refusal once the CRL is stale: {text}");
    let body: Value = r.json();
    assert!(body.is_object(), "{body}");
    drop(a);
}

/// A TDX guest as guest-components sends its evidence (`{"quote": base64,
/// "cc_eventlog": null}`), its quote rebuilt around the real dcap-qvl vector
/// to bind this session.
async fn tdx_guest(
    c: &Client,
    world: &rootline_testkit::dcap::Tdx,
) -> (common::Resp, Option<Vec<u8>>) {
    use base64::Engine as _;
    guest(c, "tdx", "default/key/tdx", |rd| {
        json!({
            "quote": base64::engine::general_purpose::STANDARD.encode(world.quote(rd)),
            "cc_eventlog": null,
        })
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tdx_guest_is_verified_with_pccs_collateral_fetched_once_and_shared() {
    let (Some(raw), Some(coll)) = (
        rootline_testkit::vector("tdx/dcap-qvl/tdx_quote"),
        rootline_testkit::vector("tdx/dcap-qvl/tdx_quote_collateral.json"),
    ) else {
        return;
    };
    let raw = std::fs::read(raw).unwrap();
    let coll: Value = serde_json::from_slice(&std::fs::read(coll).unwrap()).unwrap();
    let shared = Shared::new();
    let dir = tempfile::tempdir().unwrap();
    let now = time::OffsetDateTime::now_utc();
    let world = rootline_testkit::dcap::tdx(
        &raw,
        coll["tcb_info"].as_str().unwrap(),
        coll["qe_identity"].as_str().unwrap(),
        now - time::Duration::days(1),
        now + time::Duration::days(10),
    );
    let pccs = Server::start(world.pccs_routes.clone());
    let root_file = dir.path().join("root.der");
    std::fs::write(&root_file, &world.root_der).unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("broker.db").display()
    );
    let cfg = |d: &str, pcs_url: &str| rootline_broker::Config {
        data_dir: dir.path().join(d),
        pcs_url: Some(pcs_url.to_owned()),
        dcap_trust_anchor: Some(root_file.clone()),
        ..Default::default()
    };

    let clock_a = Clock::default();
    let (_a, ca) = replica_with(&shared, &url, cfg("a", &pccs.url()), clock_a.clone()).await;
    let rv = json!({"tee": "tdx", "claim": "mr_td", "values": [world.mr_td]});
    for (path, body) in [
        (
            "/admin/v0/reference-values/tdx-mrtd",
            rv.to_string().into_bytes(),
        ),
        (
            "/admin/v0/resources/default/key/tdx",
            b"TD disk key".to_vec(),
        ),
    ] {
        let r = admin(&ca, &shared.admin_pkcs8, "PUT", path, body).await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let (r, secret) = tdx_guest(&ca, &world).await;
    assert_eq!(
        r.status,
        200,
        "attest at A: {}\n{:?}",
        r.text(),
        pccs.requests()
    );
    assert_eq!(secret.as_deref(), Some(b"TD disk key".as_slice()));
    let fetched = pccs.requests().len();
    assert_eq!(
        fetched,
        4,
        "TCB info, QE identity, PCK CRL, root CA CRL: {:?}",
        pccs.requests()
    );
    assert!(
        pccs.requests()
            .iter()
            .any(|r| r == &format!("/tdx/certification/v4/tcb?fmspc={}", world.fmspc)),
        "{:?}",
        pccs.requests()
    );

    // A second replica, its disk cache empty: served from the shared cache.
    let (_b, cb) = replica_with(&shared, &url, cfg("b", &pccs.url()), Clock::default()).await;
    let (r, _) = tdx_guest(&cb, &world).await;
    assert_eq!(r.status, 200, "attest at B: {}", r.text());
    assert_eq!(pccs.requests().len(), fetched, "B fetched again");

    // The PCCS goes down: the cache is fresh, A still releases.
    drop(pccs);
    let (r, _) = tdx_guest(&ca, &world).await;
    assert_eq!(r.status, 200, "A with the PCCS down: {}", r.text());

    // Past nextUpdate with the PCCS down: refused, naming what is stale.
    clock_a.advance(11 * 86_400);
    let (r, secret) = tdx_guest(&ca, &world).await;
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(secret.is_none());
    let text = r.text();
    eprintln!("refusal once the TDX collateral is stale: {text}");
    assert!(text.contains("stale since"), "{text}");
    assert!(
        text.contains("TCB info") || text.contains("CRL") || text.contains("QE identity"),
        "{text}"
    );
}

/// The broker's collateral source asks the NVIDIA OCSP responder the owner
/// named (consent) about a GPU's chain, once; without consent it asks
/// nothing and the claims say revocation was not checked.
#[test]
fn gpu_chain_revocation_is_fetched_only_with_consent() {
    use rootline_testkit::nvidia::{FWID, Leaf, Pki as GpuPki};
    use rootline_testkit::ocsp::{Response, Status};
    let gpu = GpuPki::new(Leaf::default());
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let good = Response::new(&gpu.ca_der, &gpu.root_der, Status::Good, now - 60)
        .sign(&gpu.root_ocsp_signer());
    let srv = Server::start(HashMap::from([("/".to_owned(), Route::ok(good))]));
    let dir = tempfile::tempdir().unwrap();
    let anchors = dir.path().join("gpu-root.pem");
    std::fs::write(&anchors, gpu.root_pem()).unwrap();
    let nonce = [0x42; 32];
    let req = rootline_verifier::Request {
        evidence: gpu.evidence(nonce, &FWID).to_string().into_bytes(),
        tee: Some(rootline_core::TeeKind::Nvidia),
        nonce: Some(nonce.to_vec()),
        ..Default::default()
    };
    let checked = |named: Option<String>| {
        let cfg = rootline_broker::config::Config {
            data_dir: dir.path().join(if named.is_some() { "a" } else { "b" }),
            nvidia_trust_anchors: vec![anchors.clone()],
            nvidia_ocsp_url: named,
            ..Default::default()
        };
        let (v, _) = rootline_broker::collateral::verifier_from_config(&cfg, None).unwrap();
        let out = v.verify(&req).unwrap();
        out.claims_json()["devices"][0]["revocation"]["checked"].clone()
    };
    assert_eq!(checked(None), false);
    assert!(srv.posts().is_empty());
    assert_eq!(checked(Some(srv.url())), true);
    assert_eq!(srv.posts().len(), 1);
}

//! Real sockets on 127.0.0.1 (port 0), and two broker replicas sharing one
//! PostgreSQL that the test starts itself (`initdb`/`pg_ctl` from Debian's
//! postgresql package, in a temporary directory, on a unix socket only):
//! the handshake split across replicas, and a replica killed mid-load that
//! loses no stored resource while the other keeps answering.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::*;
use rootline_testkit::postgres::Postgres;

const M: [u8; 48] = [0x5a; 48];

#[tokio::test]
async fn handshake_over_a_real_socket_records_the_client_address() {
    let f = fixture().await;
    let (c, server) = Client::serve(&f.broker).await;
    provision(&c, &f.shared, &M, "default/key/1", b"over tcp").await;
    let mut g = Guest::new(&f.shared, M);
    assert_eq!(g.fetch(&c, "default/key/1").await, b"over tcp");
    // The attestation's row is written without waiting for it, so the
    // release is looked up by its result rather than its place.
    let rows = f.broker.store().list_audit(5).await.unwrap();
    let released = rows.iter().find(|r| r.result == "released").unwrap();
    assert!(
        released.client.starts_with("127.0.0.1:"),
        "{}",
        released.client
    );
    assert_eq!(released.tee.as_deref(), Some("rootline-sim"));
    assert_eq!(
        released.workload.as_deref(),
        Some(format!("measurement={}", hex::encode(M)).as_str())
    );
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_share_postgres_and_split_the_handshake() {
    let Some(pg) = Postgres::start() else { return };
    let shared = Arc::new(Shared::new());
    let a = fixture_with(shared.clone(), Some(pg.url()), |_| {}).await;
    let b = fixture_with(shared.clone(), Some(pg.url()), |_| {}).await;
    let (ca, sa) = Client::serve(&a.broker).await;
    let (cb, sb) = Client::serve(&b.broker).await;
    provision(&ca, &shared, &M, "default/key/1", b"shared secret").await;

    // auth on A, attest on B, resource on A (cookie) and B (Bearer).
    let mut g = Guest::new(&shared, M);
    assert_eq!(g.auth(&ca).await.status, 200);
    let r = g.attest(&cb).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = g.resource(&ca, "default/key/1").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(g.decrypt(&r), b"shared secret");
    let r = g.resource_bearer(&cb, "default/key/1").await;
    assert_eq!(g.decrypt(&r), b"shared secret");

    // The nonce is single-use across replicas: another key on it, at A.
    let mut thief = Guest::new(&shared, M);
    thief.cookie = g.cookie.clone();
    thief.nonce = g.nonce.clone();
    let body = thief.attestation(&jwk_of(&thief.tee_key));
    let r = thief.post_attestation(&ca, &body).await;
    assert_eq!(r.status, 401, "{}", r.text());

    // Admin writes on B are seen by A.
    let r = admin(
        &cb,
        &shared.admin_pkcs8,
        "GET",
        "/admin/v0/resources",
        Vec::new(),
    )
    .await;
    assert_eq!(r.json()[0]["path"], "default/key/1");
    sa.abort();
    sb.abort();
}

#[test]
fn a_replica_killed_mid_load_loses_no_stored_resource() {
    let Some(pg) = Postgres::start() else { return };
    let shared = Arc::new(Shared::new());
    let url = pg.url();

    // Replica A runs on its own runtime, which is torn down mid-load: its
    // in-flight requests die with it, as in a crash.
    let rt_a = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let rt_b = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (a, ca) = rt_a.block_on(async {
        let a = fixture_with(shared.clone(), Some(url.clone()), |_| {}).await;
        let (ca, _) = Client::serve(&a.broker).await;
        (a, ca)
    });
    let (b, cb) = rt_b.block_on(async {
        let b = fixture_with(shared.clone(), Some(url.clone()), |_| {}).await;
        let (cb, _) = Client::serve(&b.broker).await;
        (b, cb)
    });
    rt_b.block_on(provision(&cb, &shared, &M, "default/key/0", b"zero"));

    // Load on both replicas: writers store resources through A and B, guests
    // run full handshakes through B.
    let acked = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for (w, client) in [(0, ca.clone()), (1, cb.clone()), (2, ca.clone())] {
        let acked = acked.clone();
        let stop = stop.clone();
        let shared = shared.clone();
        writers.push(std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && i < 400 {
                let path = format!("load/w{w}/{i}");
                // A request to a dead replica fails to connect or is cut off;
                // only acknowledged writes must survive.
                let res = rt.block_on(async {
                    tokio::time::timeout(
                        std::time::Duration::from_secs(5),
                        tokio::spawn({
                            let client = client.clone();
                            let shared = shared.clone();
                            let path = path.clone();
                            async move {
                                admin(
                                    &client,
                                    &shared.admin_pkcs8,
                                    "PUT",
                                    &format!("/admin/v0/resources/{path}"),
                                    path.clone().into_bytes(),
                                )
                                .await
                            }
                        }),
                    )
                    .await
                });
                if let Ok(Ok(r)) = res {
                    if r.status == 200 {
                        acked.lock().unwrap().push(path);
                    }
                }
                i += 1;
            }
        }));
    }
    // Let the load run until some writes landed through A, then kill A.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while acked
        .lock()
        .unwrap()
        .iter()
        .filter(|p| p.starts_with("load/w0/"))
        .count()
        < 20
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no writes landed through A"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // A crash: the runtime stops under the replica, nothing is cleaned up.
    rt_a.shutdown_background();
    std::mem::forget(a);
    let w0_at_kill = acked
        .lock()
        .unwrap()
        .iter()
        .filter(|p| p.starts_with("load/w0/"))
        .count();
    // B keeps answering full handshakes while the writers continue.
    rt_b.block_on(async {
        for _ in 0..5 {
            let mut g = Guest::new(&shared, M);
            assert_eq!(g.fetch(&cb, "default/key/0").await, b"zero");
        }
    });
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    // Every acknowledged write is stored and readable through B.
    let acked = acked.lock().unwrap().clone();
    let w0_after = acked.iter().filter(|p| p.starts_with("load/w0/")).count();
    assert!(
        w0_after <= w0_at_kill + 1,
        "A kept answering after it was killed"
    );
    assert!(
        acked.iter().any(|p| p.starts_with("load/w1/")),
        "B took writes"
    );
    let listed: Vec<String> = rt_b.block_on(async {
        b.broker
            .store()
            .list_resources()
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.path)
            .collect()
    });
    for p in &acked {
        assert!(listed.contains(p), "acknowledged resource {p} was lost");
    }
    // And a guest gets one of A's acknowledged writes from B, decrypted.
    let pick = acked
        .iter()
        .find(|p| p.starts_with("load/w0/"))
        .unwrap()
        .clone();
    rt_b.block_on(async {
        let mut g = Guest::new(&shared, M);
        assert_eq!(g.fetch(&cb, &pick).await, pick.as_bytes());
    });
    rt_b.block_on(async move { drop(b) });
    rt_b.shutdown_background();
}

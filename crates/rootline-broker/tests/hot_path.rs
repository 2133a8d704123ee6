//! The handshake's fast path keeps every guarantee of the slow one: cached
//! reference values, resources and policies follow administration (at once
//! on the replica that changed them, within `cache::MAX_AGE` on others),
//! sessions kept in memory never stand in for a token they did not issue,
//! and group-committed writes keep nonces single-use with every audit row.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::expect_used)]

mod common;

use std::future::Future as _;
use std::sync::Arc;

use common::*;
use rootline_broker::cache;
use rootline_broker::store::prelude::*;
use rootline_broker::store::{AuditRow, SessionClaim, SessionRow, SqlStore};
use rootline_testkit::postgres::Postgres;

const M: [u8; 48] = [0x42; 48];

async fn delete_reference_value(c: &Client, shared: &Shared) {
    let r = admin(
        c,
        &shared.admin_pkcs8,
        "DELETE",
        "/admin/v0/reference-values/sim-measurement",
        Vec::new(),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text());
}

#[tokio::test]
async fn an_admin_change_is_in_force_at_once_on_its_replica() {
    let f = fixture().await;
    let c = Client::in_process(&f.broker);
    provision(&c, &f.shared, &M, "default/key/1", b"v1").await;
    let mut g = Guest::new(&f.shared, M);
    assert_eq!(g.fetch(&c, "default/key/1").await, b"v1");
    // The cached resource follows a new value at once.
    let r = admin(
        &c,
        &f.shared.admin_pkcs8,
        "PUT",
        "/admin/v0/resources/default/key/1",
        b"v2".to_vec(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(g.fetch(&c, "default/key/1").await, b"v2");
    // The cached reference values follow a deletion at once: the next
    // attestation is not affirmed and the secret is refused.
    delete_reference_value(&c, &f.shared).await;
    g.auth(&c).await;
    assert_eq!(g.attest(&c).await.status, 200);
    let r = g.resource(&c, "default/key/1").await;
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(
        r.text().contains("no reference values are registered"),
        "{}",
        r.text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_replicas_change_is_seen_within_the_cache_bound() {
    // Two brokers on one SQLite file stand for two replicas on one database.
    let a = fixture().await;
    let url = format!(
        "sqlite://{}?mode=rwc",
        a.dir.path().join("broker.db").display()
    );
    // B shares A's keys, as replicas of one deployment do.
    let b = fixture_with(a.shared.clone(), Some(url), |_| {}).await;
    let ca = Client::in_process(&a.broker);
    let cb = Client::in_process(&b.broker);
    provision(&ca, &a.shared, &M, "default/key/1", b"s").await;
    let mut g = Guest::new(&a.shared, M);
    // B reads (and caches) the reference values and the resource.
    assert_eq!(g.fetch(&cb, "default/key/1").await, b"s");
    delete_reference_value(&ca, &a.shared).await;
    tokio::time::sleep(cache::MAX_AGE + std::time::Duration::from_millis(50)).await;
    g.auth(&cb).await;
    assert_eq!(g.attest(&cb).await.status, 200);
    let r = g.resource(&cb, "default/key/1").await;
    assert_eq!(
        r.status,
        401,
        "B still used the deleted reference value: {}",
        r.text()
    );
}

/// A broker holding secret `s` at default/key/1 and a guest attested to it.
async fn attested() -> (Fixture, Client, Guest) {
    let f = fixture().await;
    let c = Client::in_process(&f.broker);
    provision(&c, &f.shared, &M, "default/key/1", b"s").await;
    let mut g = Guest::new(&f.shared, M);
    g.auth(&c).await;
    assert_eq!(g.attest(&c).await.status, 200);
    (f, c, g)
}

#[tokio::test]
async fn a_cookie_attested_here_does_not_vouch_for_a_forged_bearer_token() {
    let (_f, c, g) = attested().await;
    let token = g.token.clone().unwrap();
    // The same claims under a broken signature, next to the genuine cookie.
    let (head, sig) = token.rsplit_once('.').unwrap();
    let mut sig = sig.as_bytes().to_vec();
    sig[5] = if sig[5] == b'A' { b'B' } else { b'A' };
    let forged = format!("{head}.{}", String::from_utf8(sig).unwrap());
    let cookie = g.cookie.clone().unwrap();
    let get = |bearer: String| {
        let (c, cookie) = (&c, cookie.clone());
        async move {
            let auth = format!("Bearer {bearer}");
            c.call(
                "GET",
                "/kbs/v0/resource/default/key/1",
                &[("cookie", &cookie), ("authorization", &auth)],
                Vec::new(),
            )
            .await
        }
    };
    let r = get(forged).await;
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(r.text().contains("signature"), "{}", r.text());
    // With the genuine token beside the cookie, the secret is released.
    let r = get(token).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(g.decrypt(&r), b"s");
}

#[tokio::test]
async fn a_session_kept_in_memory_still_expires() {
    let (f, c, g) = attested().await;
    assert_eq!(g.resource(&c, "default/key/1").await.status, 200);
    f.broker.clock().advance(301);
    let r = g.resource(&c, "default/key/1").await;
    assert_eq!(r.status, 401, "{}", r.text());
}

fn session(binding: &str) -> SessionRow {
    SessionRow {
        expires_at: i64::MAX / 2,
        evidence_digest: "e".into(),
        binding_digest: binding.into(),
        token: format!("token-{binding}"),
    }
}

/// Many concurrent writers: each nonce is claimed exactly once, a second
/// claim sees the first one's row, and every audit row is written.
async fn group_commit(store: Arc<SqlStore>) {
    let mut tasks = Vec::new();
    for i in 0..200 {
        for attempt in 0..2 {
            let s = store.clone();
            tasks.push(tokio::spawn(async move {
                let nonce = format!("n{i}");
                let binding = format!("b{i}-{attempt}");
                let claim = s.record_session(&nonce, &session(&binding)).await.unwrap();
                s.audit(&AuditRow {
                    at: i,
                    client: "c".into(),
                    evidence_digest: None,
                    resource: nonce.clone(),
                    policy: "p".into(),
                    result: "released".into(),
                    reason: binding.clone(),
                    tee: None,
                    workload: None,
                    tcb_status: None,
                    failed: None,
                })
                .await
                .unwrap();
                (nonce, binding, claim)
            }));
        }
    }
    let mut new = std::collections::HashMap::new();
    let mut existing = Vec::new();
    for t in tasks {
        let (nonce, binding, claim) = t.await.unwrap();
        match claim {
            SessionClaim::New => assert!(
                new.insert(nonce.clone(), binding).is_none(),
                "{nonce} claimed twice"
            ),
            SessionClaim::Existing(row) => existing.push((nonce, binding, row)),
        }
    }
    assert_eq!(new.len(), 200);
    assert_eq!(existing.len(), 200);
    for (nonce, binding, row) in existing {
        assert_ne!(row.binding_digest, binding, "{nonce}: saw its own row");
        assert_eq!(row.binding_digest, new[&nonce], "{nonce}: saw another row");
        assert_eq!(row.token, format!("token-{}", new[&nonce]));
    }
    assert_eq!(store.list_audit(1000).await.unwrap().len(), 400);
    for (nonce, binding) in &new {
        assert_eq!(
            store
                .get_session(nonce, 0)
                .await
                .unwrap()
                .unwrap()
                .binding_digest,
            *binding
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commit_on_sqlite_claims_each_nonce_once() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("b.db").display());
    group_commit(Arc::new(SqlStore::connect(&url).await.unwrap())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commit_on_postgres_claims_each_nonce_once() {
    let Some(pg) = Postgres::start() else { return };
    group_commit(Arc::new(SqlStore::connect(&pg.url()).await.unwrap())).await;
}

fn audit_row(i: i64) -> AuditRow {
    AuditRow {
        at: i,
        client: "c".into(),
        evidence_digest: None,
        resource: "r".into(),
        policy: "p".into(),
        result: "released".into(),
        reason: "test".into(),
        tee: Some("snp".into()),
        workload: Some("measurement=00".into()),
        tcb_status: None,
        failed: Some("cpu0: a finding".into()),
    }
}

/// A writer task dropped before it ran (its runtime shut down) does not
/// leave the queue waiting for it: the store keeps writing on another
/// runtime.
#[test]
fn a_writer_lost_with_its_runtime_does_not_stop_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("b.db").display());
    let rt = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    let first = rt();
    let store = first.block_on(SqlStore::connect(&url)).unwrap();
    // Queue a write (and spawn its writer) without letting the writer run.
    first.block_on(async {
        // One poll: the write is queued and its writer spawned; returning
        // now leaves the writer unrun.
        let row = audit_row(1);
        let mut write = std::pin::pin!(store.audit(&row));
        let once = std::future::poll_fn(|cx| std::task::Poll::Ready(write.as_mut().poll(cx))).await;
        assert!(once.is_pending(), "the write should still be queued");
    });
    drop(first);
    let second = rt();
    second.block_on(async {
        tokio::time::timeout(
            std::time::Duration::from_secs(10),
            store.audit(&audit_row(2)),
        )
        .await
        .expect("the store's writes hang after its writer was lost")
        .unwrap();
        let rows = store.list_audit(10).await.unwrap();
        assert!(rows.iter().any(|r| r.at == 2), "{rows:?}");
    });
}

/// Administrative transactions (sqlx, holding SQLite's write lock across
/// awaits) and handshake writes on one runtime thread: the handshake writer
/// must not wait for the lock on that thread (the administrator's task could
/// never commit), so every write of both kinds succeeds.
#[test]
fn handshake_writes_beside_admin_transactions_on_one_thread() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("b.db").display());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = Arc::new(SqlStore::connect(&url).await.unwrap());
        let mut tasks = Vec::new();
        for i in 0..40i64 {
            let s = store.clone();
            tasks.push(tokio::spawn(async move {
                s.put_resource(&format!("r/k/{i}"), "sealed", None, i)
                    .await
                    .map_err(|e| format!("admin write {i}: {e}"))
            }));
            let s = store.clone();
            tasks.push(tokio::spawn(async move {
                s.audit(&audit_row(i))
                    .await
                    .map_err(|e| format!("audit write {i}: {e}"))?;
                match s
                    .record_session(&format!("n{i}"), &session(&format!("b{i}")))
                    .await
                {
                    Ok(SessionClaim::New) => Ok(()),
                    other => Err(format!("session {i}: {other:?}")),
                }
            }));
        }
        for t in tasks {
            tokio::time::timeout(std::time::Duration::from_secs(30), t)
                .await
                .expect("a write hung")
                .unwrap()
                .unwrap();
        }
        assert_eq!(store.list_audit(100).await.unwrap().len(), 40);
        assert_eq!(store.list_resources().await.unwrap().len(), 40);
    });
}

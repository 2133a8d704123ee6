//! Regression tests for the hostile-host review (hardening issue): each
//! test is named after the finding it closes and failed before the fix.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use aws_lc_rs::agreement::{self, ECDH_P256};
use base64::Engine as _;
use common::{Client, Resp, Shared, admin, fixture_with, jwk_of};
use rootline_broker::evidence::{BindingHash, runtime_data_hash};
use serde_json::{Value, json};

const ALLOW_ALL: &str = "package policy\nimport rego.v1\ndefault allow := true\n";

/// A Trustee `sample` attestation for `nonce`, bound as current guests bind
/// it (with `additional-evidence`).
fn sample_attestation(nonce: &str, key: &kbs_types::TeePubKey) -> Value {
    let runtime = json!({"nonce": nonce, "tee-pubkey": key, "additional-evidence": ""});
    let rd = runtime_data_hash(&runtime, BindingHash::Sha384).unwrap();
    json!({
        "runtime-data": runtime,
        "tee-evidence": {
            "primary_evidence": {"svn": "1", "report_data": base64::engine::general_purpose::STANDARD.encode(rd)},
            "additional_evidence": "",
        },
    })
}

/// auth + attest with the sample TEE; returns the cookie and the token.
async fn sample_session(c: &Client, key: &agreement::PrivateKey) -> (String, String) {
    let (cookie, nonce) = common::auth_as(c, "sample", json!("")).await;
    let r = c
        .call(
            "POST",
            "/kbs/v0/attest",
            &[("cookie", &cookie)],
            sample_attestation(&nonce, &jwk_of(key))
                .to_string()
                .into_bytes(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    (cookie, r.json()["token"].as_str().unwrap().to_owned())
}

fn claims_of(token: &str) -> Value {
    let body = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(body)
            .unwrap(),
    )
    .unwrap()
}

async fn get(c: &Client, path: &str, header: (&str, &str)) -> Resp {
    c.call(
        "GET",
        &format!("/kbs/v0/resource/{path}"),
        &[header],
        Vec::new(),
    )
    .await
}

/// Finding 1 (high): insecure test mode leaked into secure brokers. A
/// secure replica on the same store (so the same token key) and a secure
/// broker that trusts the insecure one's key as a passport signer both
/// released secrets to a `sample` token.
#[tokio::test]
async fn insecure_test_mode_token_is_refused_by_secure_brokers() {
    let shared = Arc::new(Shared::new());
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("shared.db").display()
    );
    let insecure = fixture_with(shared.clone(), Some(url.clone()), |o| {
        o.verifier.insecure_sample = true
    })
    .await;
    let secure = fixture_with(shared.clone(), Some(url), |_| {}).await;
    let ci = Client::in_process(&insecure.broker);
    let cs = Client::in_process(&secure.broker);
    let adm = |m: &'static str, p: String, body: Vec<u8>| {
        let cs = cs.clone();
        let key = shared.admin_pkcs8.clone();
        async move {
            let r = admin(&cs, &key, m, &p, body).await;
            assert!(r.status < 300, "{p}: {}", r.text());
        }
    };
    adm(
        "PUT",
        "/admin/v0/policies/allow_all".into(),
        ALLOW_ALL.into(),
    )
    .await;
    adm(
        "PUT",
        "/admin/v0/resources/default/key/open?policy=allow_all".into(),
        b"open secret".to_vec(),
    )
    .await;
    adm(
        "PUT",
        "/admin/v0/resources/default/key/k1".into(),
        b"default-policy secret".to_vec(),
    )
    .await;
    adm(
        "PUT",
        "/admin/v0/reference-values/sample-svn".into(),
        json!({"tee": "sample", "claim": "svn", "values": ["1"]})
            .to_string()
            .into_bytes(),
    )
    .await;

    let key = agreement::PrivateKey::generate(&ECDH_P256).unwrap();
    let (cookie, token) = sample_session(&ci, &key).await;
    let claims = claims_of(&token);
    assert_eq!(claims[rootline_broker::token::INSECURE_CLAIM], true);
    assert_eq!(claims["submods"]["cpu0"]["ear.status"], "affirming");
    // The insecure broker itself releases under a policy that allows it...
    let r = get(&ci, "default/key/open", ("cookie", &cookie)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    // ...but never under the default policy.
    let r = get(&ci, "default/key/k1", ("cookie", &cookie)).await;
    assert_ne!(r.status, 200, "{}", r.text());

    // The secure replica: cookie (session row in the shared store) and
    // Bearer are both refused, naming the mode.
    let bearer = format!("Bearer {token}");
    for h in [
        ("cookie", cookie.as_str()),
        ("authorization", bearer.as_str()),
    ] {
        let r = get(&cs, "default/key/open", h).await;
        assert_eq!(r.status, 401, "{}: {}", h.0, r.text());
        assert!(r.text().contains("insecure test mode"), "{}", r.text());
    }

    // A secure broker elsewhere that trusts the insecure broker's key.
    let point = insecure.broker.signer().public_point().to_vec();
    let passport = fixture_with(shared.clone(), None, |o| {
        o.passport_signers = vec![point];
    })
    .await;
    let cp = Client::in_process(&passport.broker);
    let r = admin(
        &cp,
        &shared.admin_pkcs8,
        "PUT",
        "/admin/v0/policies/allow_all",
        ALLOW_ALL.into(),
    )
    .await;
    assert_eq!(r.status, 200);
    let r = admin(
        &cp,
        &shared.admin_pkcs8,
        "PUT",
        "/admin/v0/resources/default/key/open?policy=allow_all",
        b"x".to_vec(),
    )
    .await;
    assert_eq!(r.status, 200);
    let r = get(&cp, "default/key/open", ("authorization", &bearer)).await;
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(r.text().contains("insecure test mode"), "{}", r.text());
}

/// Finding 1 (high), second half: sample evidence was appraised
/// "affirming" with no reference values at all.
#[tokio::test]
async fn insecure_sample_without_reference_values_is_not_affirming() {
    let f = fixture_with(Arc::new(Shared::new()), None, |o| {
        o.verifier.insecure_sample = true
    })
    .await;
    let c = Client::in_process(&f.broker);
    let key = agreement::PrivateKey::generate(&ECDH_P256).unwrap();
    let (_, token) = sample_session(&c, &key).await;
    let claims = claims_of(&token);
    assert_eq!(claims["submods"]["cpu0"]["ear.status"], "contraindicated");
    let reasons = claims["submods"]["cpu0"]["rootline.reasons"].to_string();
    assert!(reasons.contains("no reference values"), "{reasons}");
}

/// An admin JWT signed with the configured admin key, with these claims.
fn admin_jwt(shared: &Shared, claims: Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA),
        &claims,
        &jsonwebtoken::EncodingKey::from_ed_der(&shared.admin_pkcs8),
    )
    .unwrap()
}

/// The status of `GET /admin/v0/resources` with an admin JWT of `claims`.
async fn list_with(c: &Client, shared: &Shared, claims: Value) -> u16 {
    let auth = format!("Bearer {}", admin_jwt(shared, claims));
    c.call(
        "GET",
        "/admin/v0/resources",
        &[("authorization", &auth)],
        Vec::new(),
    )
    .await
    .status
}

/// Finding 7: the admin JWT lifetime check computed `exp - iat`, which
/// overflowed for a huge `exp` and a negative `iat` (accepted in release
/// builds, a panic in debug). Finding 8 (part): `nbf` was not checked.
#[tokio::test]
async fn admin_jwt_lifetime_overflow_and_nbf_are_refused() {
    let f = fixture_with(Arc::new(Shared::new()), None, |_| {}).await;
    let c = Client::in_process(&f.broker);
    let now = f.broker.clock().now();
    let aud = rootline_broker::admin::AUDIENCE;
    for (what, claims) in [
        (
            "overflow",
            json!({"aud": aud, "iat": i64::MIN, "exp": i64::MAX}),
        ),
        (
            "nbf in the future",
            json!({"aud": aud, "iat": now, "exp": now + 60, "nbf": now + 3000}),
        ),
        (
            "nbf not a number",
            json!({"aud": aud, "iat": now, "exp": now + 60, "nbf": "soon"}),
        ),
    ] {
        assert_eq!(list_with(&c, &f.shared, claims).await, 401, "{what}");
    }
    let ok = json!({"aud": aud, "iat": now, "exp": now + 60, "nbf": now});
    assert_eq!(list_with(&c, &f.shared, ok).await, 200);
}

/// Finding 3: the audit log failed open. With the SQLite write lock held by
/// another connection, a secret was released after 5 s with no `released`
/// row. Now the release is withheld (500) until its row is committed.
#[tokio::test]
async fn release_without_a_committed_audit_row_is_withheld() {
    let f = fixture_with(Arc::new(Shared::new()), None, |_| {}).await;
    let c = Client::in_process(&f.broker);
    let m = [0x11; 48];
    common::provision(&c, &f.shared, &m, "default/key/1", b"audited").await;
    let mut g = common::Guest::new(&f.shared, m);
    assert_eq!(g.auth(&c).await.status, 200);
    assert_eq!(g.attest(&c).await.status, 200);
    // Another process holds the database's write lock.
    let db = f.dir.path().join("broker.db");
    let holder = rusqlite::Connection::open(&db).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let r = g.resource(&c, "default/key/1").await;
    assert_eq!(r.status, 500, "{}", r.text());
    assert!(!r.text().contains("audited"));
    holder.execute_batch("ROLLBACK").unwrap();
    drop(holder);
    // Once the store takes writes again, the release goes out with its row.
    let r = g.resource(&c, "default/key/1").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(g.decrypt(&r), b"audited");
    let r = admin(
        &c,
        &f.shared.admin_pkcs8,
        "GET",
        "/admin/v0/audit",
        Vec::new(),
    )
    .await;
    let rows = r.json();
    let released = rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row["result"] == "released")
        .count();
    assert_eq!(released, 1, "{rows}");
}

/// A writer for tracing that keeps what it is given.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Finding 6: a serde error quoting an attacker-chosen value kept its raw
/// newline and was logged as is, so a client wrote a forged `released`
/// line into the log. Control characters are now escaped in logged errors.
#[tokio::test]
async fn log_injection_through_an_error_message_is_escaped() {
    let f = fixture_with(Arc::new(Shared::new()), None, |_| {}).await;
    let c = Client::in_process(&f.broker);
    let cap = Captured::default();
    let writer = cap.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let (cookie, _) = common::auth_as(&c, "rootline-sim", json!({})).await;
    let forged = "EVIL\n2026-12-07T00:00:00.000000Z  INFO rootline_broker::kbs: released path=default/key/1\u{1b}[2K";
    let body = json!({
        "runtime-data": {"nonce": "n", "tee-pubkey": {"kty": forged, "x": "a", "y": "b"}},
        "tee-evidence": {"primary_evidence": {}, "additional_evidence": ""},
    });
    let r = c
        .call(
            "POST",
            "/kbs/v0/attest",
            &[("cookie", &cookie)],
            body.to_string().into_bytes(),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text());
    let log = String::from_utf8(cap.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("EVIL"), "the refusal was not logged: {log}");
    for line in log.lines() {
        assert!(
            !line.trim_start().starts_with("2026-12-07T00:00:00.000000Z"),
            "forged line in the log:\n{log}"
        );
    }
    assert!(
        !log.contains('\u{1b}'),
        "escape sequence in the log:\n{log}"
    );
}

/// Finding 4: memory held per session. Runtime data was unbounded (copied
/// into the token, the cache and the store), and the recent-session cache
/// kept 65,536 entries of about 8 KB. Runtime data is now capped, and the
/// cache is bounded by bytes, oldest out.
#[tokio::test]
async fn runtime_data_is_capped_and_the_session_cache_is_bounded_by_bytes() {
    let f = fixture_with(Arc::new(Shared::new()), None, |_| {}).await;
    let c = Client::in_process(&f.broker);
    let mut g = common::Guest::new(&f.shared, [0x11; 48]);
    assert_eq!(g.auth(&c).await.status, 200);
    let mut body = g.attestation(&common::jwk_of(&g.tee_key));
    body["runtime-data"]["padding"] = "x".repeat(64 << 10).into();
    let r = g.post_attestation(&c, &body).await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("runtime-data is"), "{}", r.text());
    let r = g
        .post_attestation(&c, &{
            let mut b = g.attestation(&common::jwk_of(&g.tee_key));
            b["tee-evidence"]["additional_evidence"] = " ".repeat(1_200_000).into();
            b
        })
        .await;
    assert_eq!(r.status, 400, "{}", r.text());

    // The cache: far more sessions than its budget holds.
    let recent = rootline_broker::session::Recent::default();
    let token: Arc<str> = "t".repeat(2200).into();
    let (signer, _) = rootline_broker::token::TokenSigner::generate().unwrap();
    let (_, claims) = signer.issue(json!({"submods": {}})).unwrap();
    for i in 0..20_000 {
        recent.insert(
            &format!("nonce-{i}"),
            rootline_broker::session::RecentSession {
                expires_at: i64::MAX,
                token: token.clone(),
                claims: claims.clone(),
            },
        );
    }
    let (n, bytes) = recent.usage();
    assert!(
        bytes <= rootline_broker::session::RECENT_MAX_BYTES,
        "{bytes}"
    );
    assert!(n > 1000 && n < 20_000, "{n} entries");
    // The newest are kept, the oldest went.
    assert!(recent.get("nonce-19999", 0).is_some());
    assert!(recent.get("nonce-0", 0).is_none());
}

/// Finding 2: no HTTP timeouts or connection limits. Stalled headers and
/// stalled bodies held connections (and their buffers) for ever; 1,100 idle
/// sockets locked every client out. Now a stalled header is cut off, a
/// stalled body gets 408, and after many stalled clients a normal client
/// is still served.
#[tokio::test]
async fn slow_clients_are_cut_off_and_a_normal_client_is_still_served() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let f = fixture_with(Arc::new(Shared::new()), None, |_| {}).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let limits = rootline_broker::server::Limits {
        header_timeout: std::time::Duration::from_millis(500),
        request_timeout: std::time::Duration::from_secs(1),
        max_connections: 8,
        body_budget: 16 << 20,
    };
    let app = rootline_broker::app(f.broker.clone());
    tokio::spawn(rootline_broker::server::serve(
        listener,
        None,
        app,
        limits,
        std::future::pending(),
    ));
    // Reads until the server closes (or 10 s pass, which would fail).
    async fn until_closed(s: &mut tokio::net::TcpStream) -> Vec<u8> {
        let mut out = Vec::new();
        let r =
            tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut out)).await;
        assert!(r.is_ok(), "the server kept a stalled connection open");
        out
    }
    // Headers never finished.
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"POST /kbs/v0/auth HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    until_closed(&mut s).await;
    // A body that stalls: 408.
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        b"POST /kbs/v0/auth HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{\"version\"",
    )
    .await
    .unwrap();
    let answer = String::from_utf8_lossy(&until_closed(&mut s).await).into_owned();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    // Many stalled clients at once (more than the connection cap)...
    let mut stalled = Vec::new();
    for _ in 0..40 {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let _ = s.write_all(b"GET /healthz HTTP/1.1\r\n").await;
        stalled.push(s);
    }
    // ...and a normal client still gets its answer.
    let c = Client::Socket(addr);
    let r = c.call("GET", "/healthz", &[], Vec::new()).await;
    assert_eq!(r.status, 200);
    // The stalled ones were cut off.
    for s in &mut stalled {
        until_closed(s).await;
    }
}

/// Finding 5: one free cookie allowed unlimited failing `/attest` calls,
/// each an audit row (5,000 rows in 2.2 s), with no retention. Refusals
/// are now audited at most REFUSALS_AUDITED_PER_MINUTE per client address
/// a minute, and rows past the retention are dropped by the purge.
#[tokio::test]
async fn refusal_audit_rows_are_capped_per_client_and_expire() {
    let f = fixture_with(Arc::new(Shared::new()), None, |o| {
        o.audit_retention_days = 1
    })
    .await;
    let (c, _server) = Client::serve(&f.broker).await;
    let mut g = common::Guest::new(&f.shared, [0x11; 48]);
    assert_eq!(g.auth(&c).await.status, 200);
    let cap = rootline_broker::REFUSALS_AUDITED_PER_MINUTE as usize;
    for _ in 0..cap + 40 {
        // Evidence bound to another key: rejected, each an audit candidate.
        let other = common::jwk_of(
            &aws_lc_rs::agreement::PrivateKey::generate(&aws_lc_rs::agreement::ECDH_P256).unwrap(),
        );
        let body = g.attestation(&other);
        assert_eq!(g.post_attestation(&c, &body).await.status, 401);
    }
    let rows = admin(
        &Client::in_process(&f.broker),
        &f.shared.admin_pkcs8,
        "GET",
        "/admin/v0/audit?limit=10000",
        Vec::new(),
    )
    .await
    .json();
    let n = rows.as_array().unwrap().len();
    assert_eq!(n, cap, "audit rows written for one client in a minute");
    // Two days later the purge drops them.
    f.broker.clock().advance(2 * 86_400);
    f.broker.purge().await.unwrap();
    let jwt =
        rootline_broker::admin::mint(&f.shared.admin_pkcs8, f.broker.clock().now(), 60).unwrap();
    let auth = format!("Bearer {jwt}");
    let rows = Client::in_process(&f.broker)
        .call(
            "GET",
            "/admin/v0/audit?limit=10000",
            &[("authorization", &auth)],
            Vec::new(),
        )
        .await;
    assert_eq!(rows.json(), json!([]));
}

/// Finding 5 (rest): no rate limit, so one address could spend the
/// broker's CPU on handshakes without bound. `/auth` and `/attest` now
/// take a token per request from a bucket per client address (20 a second,
/// bursts of 40 by default; 1 and 2 here); beyond it the answer is 429
/// with Retry-After.
/// Loopback is exempt. No packet is sent: the addresses are request
/// extensions, as the server sets them.
#[tokio::test]
async fn handshake_requests_are_rate_limited_per_client_address() {
    use axum::extract::ConnectInfo;
    use tower::ServiceExt as _;
    // One request a second, bursts of two: the refill during the loop
    // stays far below its 60 requests on any machine.
    let f = fixture_with(Arc::new(Shared::new()), None, |o| {
        o.rate_limit_per_client = 1.0
    })
    .await;
    let app = rootline_broker::app(f.broker.clone());
    let auth_from = |addr: &str| {
        let addr: std::net::SocketAddr = addr.parse().unwrap();
        let app = app.clone();
        async move {
            let mut req = axum::http::Request::builder()
                .method("POST")
                .uri("/kbs/v0/auth")
                .body(axum::body::Body::from(
                    json!({"version": "0.4.0", "tee": "rootline-sim", "extra-params": {}})
                        .to_string(),
                ))
                .unwrap();
            req.extensions_mut().insert(ConnectInfo(addr));
            let r = app.oneshot(req).await.unwrap();
            (r.status().as_u16(), r.headers().get("retry-after").cloned())
        }
    };
    let mut ok = 0;
    let mut limited = 0;
    for _ in 0..60 {
        match auth_from("192.0.2.7:40000").await {
            (200, _) => ok += 1,
            (429, Some(_)) => limited += 1,
            other => panic!("{other:?}"),
        }
    }
    assert!(ok >= 2 && limited >= 30, "{ok} admitted, {limited} limited");
    assert_eq!(ok + limited, 60);
    // Another address has its own bucket; loopback is not limited.
    assert_eq!(auth_from("192.0.2.8:40000").await.0, 200);
    for _ in 0..60 {
        assert_eq!(auth_from("127.0.0.1:40000").await.0, 200);
    }
}

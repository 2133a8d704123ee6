//! Server-side cost of one full KBS handshake (auth, attest with simulated
//! P-384 evidence, resource as a JWE) through the router in process, on the
//! SQLite store, against the floor of its signature work with aws-lc-rs: one
//! P-384 verify, one ES256 sign, one ES256 verify, one P-256 key generation
//! and ECDH. Only the broker's time is counted: the guest's evidence signing
//! and decryption run outside the timed section. SQLite with the default
//! `synchronous=NORMAL`, with `sqlite_full_sync`, and on a store in memory
//! (to separate the database's share).
#![allow(missing_docs, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lc_rs::agreement::{self, ECDH_P256};
use axum::body::Body;
use axum::http::Request;
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::BodyExt as _;
use rootline_broker::evidence::{BindingHash, VerifierConfig, runtime_data_hash};
use rootline_broker::kek::Kek;
use rootline_broker::sim::{self, SimKey};
use rootline_broker::store::{
    AuditRow, AuditStore, CollateralStore, ConfigStore, ReferenceValue, ResourceInfo, ResourceRow,
    SessionClaim, SessionRow, SessionStore, SqlStore, Store,
};
use rootline_broker::{Broker, BrokerOptions, app};
use serde_json::{Value, json};
use tower::ServiceExt as _;

/// A store in memory, to separate the database's share of the cost.
#[derive(Default)]
struct MemStore {
    m: std::sync::Mutex<MemInner>,
}

#[derive(Default)]
struct MemInner {
    resources: std::collections::HashMap<String, ResourceRow>,
    rvs: Vec<ReferenceValue>,
    sessions: std::collections::HashMap<String, SessionRow>,
    shared: std::collections::HashMap<String, String>,
    audit: Vec<AuditRow>,
}

type R<T> = rootline_broker::Result<T>;

#[async_trait::async_trait]
impl ConfigStore for MemStore {
    async fn put_resource(&self, path: &str, sealed: &str, policy: Option<&str>, _: i64) -> R<()> {
        let row = ResourceRow {
            sealed: sealed.into(),
            policy: policy.map(Into::into),
        };
        self.m.lock().unwrap().resources.insert(path.into(), row);
        Ok(())
    }

    async fn get_resource(&self, path: &str) -> R<Option<ResourceRow>> {
        Ok(self.m.lock().unwrap().resources.get(path).cloned())
    }

    async fn delete_resource(&self, _: &str) -> R<bool> {
        Ok(false)
    }

    async fn list_resources(&self) -> R<Vec<ResourceInfo>> {
        Ok(Vec::new())
    }

    async fn put_policy(&self, _: &str, _: &str, _: i64) -> R<()> {
        Ok(())
    }

    async fn get_policy(&self, _: &str) -> R<Option<String>> {
        Ok(None)
    }

    async fn delete_policy(&self, _: &str) -> R<bool> {
        Ok(false)
    }

    async fn list_policies(&self) -> R<Vec<String>> {
        Ok(Vec::new())
    }

    async fn put_reference_value(&self, rv: &ReferenceValue, _: i64) -> R<()> {
        self.m.lock().unwrap().rvs.push(rv.clone());
        Ok(())
    }

    async fn list_reference_values(&self) -> R<Vec<ReferenceValue>> {
        Ok(self.m.lock().unwrap().rvs.clone())
    }

    async fn delete_reference_value(&self, _: &str) -> R<bool> {
        Ok(false)
    }
}

#[async_trait::async_trait]
impl SessionStore for MemStore {
    async fn record_session(&self, nonce: &str, row: &SessionRow) -> R<SessionClaim> {
        let mut m = self.m.lock().unwrap();
        if let Some(r) = m.sessions.get(nonce) {
            return Ok(SessionClaim::Existing(r.clone()));
        }
        m.sessions.insert(nonce.into(), row.clone());
        Ok(SessionClaim::New)
    }

    async fn get_session(&self, nonce: &str, _: i64) -> R<Option<SessionRow>> {
        Ok(self.m.lock().unwrap().sessions.get(nonce).cloned())
    }

    async fn purge_sessions(&self, _: i64) -> R<u64> {
        Ok(0)
    }

    async fn shared_value(&self, name: &str, candidate: &str) -> R<String> {
        Ok(self
            .m
            .lock()
            .unwrap()
            .shared
            .entry(name.into())
            .or_insert_with(|| candidate.into())
            .clone())
    }
}

#[async_trait::async_trait]
impl AuditStore for MemStore {
    async fn audit(&self, row: &AuditRow) -> R<()> {
        self.m.lock().unwrap().audit.push(row.clone());
        Ok(())
    }

    async fn list_audit(&self, _: i64) -> R<Vec<AuditRow>> {
        Ok(Vec::new())
    }
}

/// Shares no collateral: every replica fetches for itself (the defaults).
impl CollateralStore for MemStore {}

struct Setup {
    rt: tokio::runtime::Runtime,
    router: axum::Router,
    sim: SimKey,
    _dir: tempfile::TempDir,
}

fn setup(store_kind: Option<bool>) -> Setup {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (sim, _) = SimKey::generate().unwrap();
    let router = rt.block_on(async {
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("b.db").display());
        let store: Arc<dyn Store> = match store_kind {
            Some(full_sync) => Arc::new(SqlStore::connect_with(&url, full_sync).await.unwrap()),
            None => Arc::new(MemStore::default()),
        };
        store
            .put_reference_value(
                &ReferenceValue {
                    name: "m".into(),
                    tee: sim::TEE_NAME.into(),
                    claim: "measurement".into(),
                    values: vec![hex::encode([1u8; 48])],
                    version: 0,
                },
                0,
            )
            .await
            .unwrap();
        let kek = Kek::from_bytes(&[3; 32]).unwrap();
        store
            .put_resource("r/k/1", &kek.seal("r/k/1", b"secret").unwrap(), None, 0)
            .await
            .unwrap();
        let broker = Broker::new(BrokerOptions {
            verifier: VerifierConfig {
                sim_roots: vec![sim.public_key()],
                ..Default::default()
            },
            secure_cookies: false,
            ..BrokerOptions::new(store, kek)
        })
        .await
        .unwrap();
        app(broker)
    });
    Setup {
        rt,
        router,
        sim,
        _dir: dir,
    }
}

async fn call(r: &axum::Router, req: Request<Body>) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let resp = r.clone().oneshot(req).await.unwrap();
    let st = resp.status().as_u16();
    let h = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    (
        st,
        h,
        resp.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
}

/// One handshake; returns the time the broker spent.
fn handshake(s: &Setup) -> Duration {
    s.rt.block_on(async {
        let mut spent = Duration::ZERO;
        let t = Instant::now();
        let (st, h, body) = call(
            &s.router,
            Request::post("/kbs/v0/auth")
                .body(Body::from(json!({"version": "0.4.0", "tee": sim::TEE_NAME, "extra-params": {}}).to_string()))
                .unwrap(),
        )
        .await;
        spent += t.elapsed();
        assert_eq!(st, 200);
        let cookie = h.iter().find(|(k, _)| k == "set-cookie").unwrap().1.split(';').next().unwrap().to_owned();
        let nonce = serde_json::from_slice::<Value>(&body).unwrap()["nonce"].as_str().unwrap().to_owned();
        // Guest side, not timed.
        let key = agreement::PrivateKey::generate(&ECDH_P256).unwrap();
        let jwk = rootline_broker::jwe::ec_jwk("P-256", key.compute_public_key().unwrap().as_ref()).unwrap();
        let runtime = json!({"nonce": nonce, "tee-pubkey": jwk});
        let rd = runtime_data_hash(&runtime, BindingHash::Sha384).unwrap();
        let ev = s.sim.evidence(&[1; 48], &[], &rd).unwrap();
        let att = json!({"runtime-data": runtime, "tee-evidence": {"primary_evidence": ev, "additional_evidence": ""}}).to_string();
        let t = Instant::now();
        let (st, _, _) = call(
            &s.router,
            Request::post("/kbs/v0/attest").header("cookie", &cookie).body(Body::from(att)).unwrap(),
        )
        .await;
        assert_eq!(st, 200);
        let (st, _, body) = call(
            &s.router,
            Request::get("/kbs/v0/resource/r/k/1").header("cookie", &cookie).body(Body::empty()).unwrap(),
        )
        .await;
        spent += t.elapsed();
        assert_eq!(st, 200);
        let resp: kbs_types::Response = serde_json::from_slice(&body).unwrap();
        assert_eq!(rootline_broker::jwe::decrypt_ec(&key, &resp).unwrap(), b"secret");
        spent
    })
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("kbs");
    g.measurement_time(Duration::from_secs(8));
    for (name, store) in [
        ("full_handshake_server_side_sqlite", Some(false)),
        ("full_handshake_server_side_sqlite_full_sync", Some(true)),
        ("full_handshake_server_side_memory_store", None),
    ] {
        let s = setup(store);
        g.bench_function(name, |b| {
            b.iter_custom(|n| (0..n).map(|_| handshake(&s)).sum())
        });
    }
    g.finish();

    // Parts of the handshake that are not signature work.
    let mut g = c.benchmark_group("parts");
    let cache = rootline_broker::policy::PolicyCache::default();
    let input = json!({"submods": {"cpu0": {"ear.status": "affirming", "ear.veraison.annotated-evidence": {"rootline-sim": {"measurement": hex::encode([1u8; 48])}}}}});
    // The built-in default policy is decided natively; a resource's own
    // policy (here the default rule plus a path check) runs in regorus.
    let own = "package policy\nimport rego.v1\ndefault allow := false\nallow if { data.path == \"r/k/1\"; input.submods.cpu0[\"ear.status\"] == \"affirming\" }\n";
    for (name, rego) in [
        (
            "resource_policy_default",
            rootline_broker::policy::DEFAULT_POLICY,
        ),
        ("resource_policy_regorus", own),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| assert!(cache.allow(name, rego, &input, "r/k/1", true).unwrap()))
        });
    }
    let key = agreement::PrivateKey::generate(&ECDH_P256).unwrap();
    let jwk =
        rootline_broker::jwe::ec_jwk("P-256", key.compute_public_key().unwrap().as_ref()).unwrap();
    let runtime = json!({"nonce": "x".repeat(44), "tee-pubkey": jwk});
    g.bench_function("runtime_data_jcs_sha384", |b| {
        b.iter(|| runtime_data_hash(&runtime, BindingHash::Sha384).unwrap())
    });
    let (signer, _) = rootline_broker::token::TokenSigner::generate().unwrap();
    let claims =
        json!({"exp": 1, "submods": {"cpu0": {"ear.status": "affirming", "x": "y".repeat(600)}}});
    g.bench_function("token_sign_es256", |b| {
        b.iter(|| signer.sign(&claims).unwrap())
    });
    let tok = signer
        .sign(&json!({"exp": i64::MAX / 2, "x": "y".repeat(600)}))
        .unwrap();
    let verifier = rootline_broker::token::TokenVerifier::new([signer.public_point()]);
    g.bench_function("token_verify_es256", |b| {
        b.iter(|| verifier.verify(&tok, 0).unwrap())
    });
    g.bench_function("jwe_encrypt_p256", |b| {
        b.iter(|| rootline_broker::jwe::encrypt(&jwk, b"secret").unwrap())
    });
    g.finish();

    // The signature floor of one handshake.
    let work = rootline_broker::floor::SignatureWork::new().unwrap();
    let mut g = c.benchmark_group("floor");
    g.bench_function("signature_work_of_one_handshake", |b| {
        b.iter(|| work.once().unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

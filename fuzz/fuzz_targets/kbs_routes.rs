//! Fuzzes the broker's request bodies through its router, in process: the
//! KBS routes (`/auth`, `/attest` for each TEE with a live session cookie,
//! the TPM activation body, resource GETs), rootline's admin bodies and
//! Trustee's admin bodies (with valid admin tokens, so that the bodies
//! reach their parsers). Any input must give an answer, never a panic, and
//! never a 5xx (the store, a SQLite file of this process, does not fail).
#![no_main]

use std::sync::{Arc, OnceLock};

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use axum::body::Body;
use axum::http::Request;
use libfuzzer_sys::fuzz_target;
use rootline_broker::evidence::VerifierConfig;
use rootline_broker::kek::Kek;
use rootline_broker::keys::PublicKey;
use rootline_broker::store::SqlStore;
use rootline_broker::{Broker, BrokerOptions};
use tower::ServiceExt as _;

struct World {
    rt: tokio::runtime::Runtime,
    app: axum::Router,
    admin_jwt: String,
    cookies: Vec<String>,
}

const TEES: [&str; 6] = ["rootline-sim", "sample", "tpm", "snp", "tdx", "az-snp-vtpm"];

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let admin = Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new()).unwrap();
        let kp = Ed25519KeyPair::from_pkcs8(admin.as_ref()).unwrap();
        let (sim, _) = rootline_broker::sim::SimKey::generate().unwrap();
        let broker = rt.block_on(async {
            // A file of this process's own (an in-memory SQLite is one per
            // pool connection, so the migrations would not be seen).
            let db = std::env::temp_dir().join(format!("rootline-fuzz-{}.db", std::process::id()));
            let _ = std::fs::remove_file(&db);
            let url = format!("sqlite://{}?mode=rwc", db.display());
            let store = Arc::new(SqlStore::connect(&url).await.unwrap());
            let (kek, _) = Kek::generate().unwrap();
            Broker::new(BrokerOptions {
                verifier: VerifierConfig {
                    sim_roots: vec![sim.public_key()],
                    insecure_sample: true,
                    ..Default::default()
                },
                admin_key: Some(PublicKey::Ed25519(kp.public_key().as_ref().to_vec())),
                secure_cookies: false,
                rate_limit_per_client: 0.0,
                ..BrokerOptions::new(store, kek)
            })
            .await
            .unwrap()
        });
        let app = rootline_broker::app(broker.clone());
        let now = broker.clock().now();
        let admin_jwt = rootline_broker::admin::mint(admin.as_ref(), now, 3600).unwrap();
        // One session per TEE, so that /attest bodies reach their verifier.
        let cookies = TEES
            .iter()
            .map(|tee| {
                let body = format!(r#"{{"version":"0.4.0","tee":"{tee}","extra-params":{{}}}}"#);
                let req = Request::post("/kbs/v0/auth")
                    .body(Body::from(body))
                    .unwrap();
                let r = rt.block_on(app.clone().oneshot(req)).unwrap();
                r.headers()
                    .get("set-cookie")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.split(';').next())
                    .unwrap_or("")
                    .to_owned()
            })
            .collect();
        World {
            rt,
            app,
            admin_jwt,
            cookies,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let w = world();
    let (&sel, body) = match data.split_first() {
        Some(x) => x,
        None => return,
    };
    let cookie = &w.cookies[usize::from(sel) % w.cookies.len()];
    let bearer = format!("Bearer {}", w.admin_jwt);
    let (method, path, auth): (&str, &str, Option<&str>) = match sel % 12 {
        0 => ("POST", "/kbs/v0/auth", None),
        1..=5 => ("POST", "/kbs/v0/attest", Some(cookie.as_str())),
        6 => ("POST", "/kbs/v0/tpm/activate", Some(cookie.as_str())),
        7 => ("PUT", "/admin/v0/reference-values/fuzz", Some(&bearer)),
        8 => ("PUT", "/admin/v0/policies/fuzz", Some(&bearer)),
        9 => ("POST", "/kbs/v0/reference-value", Some(&bearer)),
        10 => ("POST", "/kbs/v0/resource-policy", Some(&bearer)),
        _ => (
            "GET",
            "/kbs/v0/resource/default/key/fuzz",
            Some(cookie.as_str()),
        ),
    };
    let mut req = Request::builder().method(method).uri(path);
    match auth {
        Some(a) if a.starts_with("Bearer ") => req = req.header("authorization", a),
        Some(c) => req = req.header("cookie", c),
        None => {}
    }
    let req = req.body(Body::from(body.to_vec())).unwrap();
    let r = w.rt.block_on(w.app.clone().oneshot(req)).unwrap();
    assert!(
        !r.status().is_server_error(),
        "{method} {path} answered {}",
        r.status()
    );
});

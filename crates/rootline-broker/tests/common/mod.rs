//! Shared test harness: a broker on a temporary store, a simulated guest that
//! speaks the KBS protocol, and one client that talks either to the router in
//! process (`tower::ServiceExt::oneshot`) or over a real socket on 127.0.0.1.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::net::SocketAddr;
use std::sync::Arc;

use aws_lc_rs::agreement::{self, ECDH_P256};
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use axum::Router;
use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt as _;
use rootline_broker::evidence::{BindingHash, VerifierConfig, runtime_data_hash};
use rootline_broker::kek::Kek;
use rootline_broker::keys::PublicKey;
use rootline_broker::sim::{self, SimKey};
use rootline_broker::store::SqlStore;
use rootline_broker::{Broker, BrokerOptions, app};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tower::ServiceExt as _;

/// Secrets that every replica of one deployment shares.
pub struct Shared {
    pub kek: [u8; 32],
    pub sim_pkcs8: Vec<u8>,
    pub admin_pkcs8: Vec<u8>,
}

impl Shared {
    pub fn new() -> Self {
        let (_, sim_pkcs8) = SimKey::generate().unwrap();
        let admin = Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new()).unwrap();
        let mut kek = [0u8; 32];
        aws_lc_rs::rand::fill(&mut kek).unwrap();
        Self {
            kek,
            sim_pkcs8,
            admin_pkcs8: admin.as_ref().to_vec(),
        }
    }

    pub fn sim(&self) -> SimKey {
        SimKey::from_pkcs8(&self.sim_pkcs8).unwrap()
    }

    pub fn admin_public(&self) -> PublicKey {
        let kp = Ed25519KeyPair::from_pkcs8(&self.admin_pkcs8).unwrap();
        PublicKey::Ed25519(kp.public_key().as_ref().to_vec())
    }
}

pub struct Fixture {
    pub broker: Arc<Broker>,
    pub shared: Arc<Shared>,
    pub dir: tempfile::TempDir,
}

pub fn options(shared: &Shared, store: Arc<SqlStore>) -> BrokerOptions {
    BrokerOptions {
        verifier: VerifierConfig {
            sim_roots: vec![shared.sim().public_key()],
            ..Default::default()
        },
        admin_key: Some(shared.admin_public()),
        secure_cookies: false,
        ..BrokerOptions::new(store, Kek::from_bytes(&shared.kek).unwrap())
    }
}

/// A broker on a fresh SQLite file (or `url`), tweaked by `f`.
pub async fn fixture_with(
    shared: Arc<Shared>,
    url: Option<String>,
    f: impl FnOnce(&mut BrokerOptions),
) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let url = url.unwrap_or_else(|| {
        format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("broker.db").display()
        )
    });
    let store = Arc::new(SqlStore::connect(&url).await.unwrap());
    let mut o = options(&shared, store);
    f(&mut o);
    let broker = Broker::new(o).await.unwrap();
    Fixture {
        broker,
        shared,
        dir,
    }
}

pub async fn fixture() -> Fixture {
    fixture_with(Arc::new(Shared::new()), None, |_| {}).await
}

/// An HTTP response, whichever transport carried it.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

#[derive(Clone)]
pub enum Client {
    InProcess(Router),
    Socket(SocketAddr),
}

impl Client {
    pub fn in_process(b: &Arc<Broker>) -> Self {
        Self::InProcess(app(b.clone()))
    }

    /// Serves the broker on 127.0.0.1, port 0; the server stops with the runtime.
    pub async fn serve(b: &Arc<Broker>) -> (Self, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = app(b.clone());
        let h = tokio::spawn(async move {
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap();
        });
        (Self::Socket(addr), h)
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Resp {
        match self {
            Self::InProcess(r) => {
                let mut req = Request::builder().method(method).uri(path);
                for (k, v) in headers {
                    req = req.header(*k, *v);
                }
                let resp = r
                    .clone()
                    .oneshot(req.body(Body::from(body)).unwrap())
                    .await
                    .unwrap();
                let status = resp.status().as_u16();
                let headers = resp
                    .headers()
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                    .collect();
                let body = resp
                    .into_body()
                    .collect()
                    .await
                    .unwrap()
                    .to_bytes()
                    .to_vec();
                Resp {
                    status,
                    headers,
                    body,
                }
            }
            Self::Socket(addr) => {
                // A minimal HTTP/1.1 client: one request per connection.
                let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
                let mut req = format!(
                    "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
                    body.len()
                );
                for (k, v) in headers {
                    req.push_str(&format!("{k}: {v}\r\n"));
                }
                req.push_str("\r\n");
                s.write_all(req.as_bytes()).await.unwrap();
                s.write_all(&body).await.unwrap();
                let mut raw = Vec::new();
                s.read_to_end(&mut raw).await.unwrap();
                let split = raw
                    .windows(4)
                    .position(|w| w == b"\r\n\r\n")
                    .expect("no header end");
                let head = String::from_utf8_lossy(&raw[..split]).into_owned();
                let mut lines = head.split("\r\n");
                let status: u16 = lines
                    .next()
                    .unwrap()
                    .split(' ')
                    .nth(1)
                    .unwrap()
                    .parse()
                    .unwrap();
                let headers: Vec<(String, String)> = lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                    .collect();
                let body = raw[split + 4..].to_vec();
                Resp {
                    status,
                    headers,
                    body,
                }
            }
        }
    }
}

/// A simulated Confidential Containers guest.
pub struct Guest {
    pub sim: SimKey,
    pub measurement: [u8; 48],
    pub tee_key: agreement::PrivateKey,
    pub cookie: Option<String>,
    pub nonce: Option<String>,
    pub token: Option<String>,
}

pub fn jwk_of(k: &agreement::PrivateKey) -> kbs_types::TeePubKey {
    rootline_broker::jwe::ec_jwk("P-256", k.compute_public_key().unwrap().as_ref()).unwrap()
}

impl Guest {
    pub fn new(shared: &Shared, measurement: [u8; 48]) -> Self {
        Self {
            sim: shared.sim(),
            measurement,
            tee_key: agreement::PrivateKey::generate(&ECDH_P256).unwrap(),
            cookie: None,
            nonce: None,
            token: None,
        }
    }

    pub async fn auth(&mut self, c: &Client) -> Resp {
        let body = json!({"version": "0.4.0", "tee": sim::TEE_NAME, "extra-params": {}});
        let r = c
            .call(
                "POST",
                "/kbs/v0/auth",
                &[("content-type", "application/json")],
                body.to_string().into_bytes(),
            )
            .await;
        if r.status == 200 {
            let sc = r.header("set-cookie").expect("set-cookie").to_owned();
            self.cookie = Some(sc.split(';').next().unwrap().to_owned());
            self.nonce = Some(r.json()["nonce"].as_str().unwrap().to_owned());
        }
        r
    }

    /// The attestation body; evidence binds `bind_to` (normally our own key).
    pub fn attestation(&self, bind_to: &kbs_types::TeePubKey) -> Value {
        let runtime =
            json!({"nonce": self.nonce.clone().unwrap(), "tee-pubkey": jwk_of(&self.tee_key)});
        let bound = json!({"nonce": self.nonce.clone().unwrap(), "tee-pubkey": bind_to});
        let rd = runtime_data_hash(&bound, BindingHash::Sha384).unwrap();
        let ev = self.sim.evidence(&self.measurement, &[], &rd).unwrap();
        json!({
            "runtime-data": runtime,
            "tee-evidence": {"primary_evidence": ev, "additional_evidence": ""},
        })
    }

    pub async fn post_attestation(&mut self, c: &Client, body: &Value) -> Resp {
        let cookie = self.cookie.clone().unwrap_or_default();
        let r = c
            .call(
                "POST",
                "/kbs/v0/attest",
                &[("content-type", "application/json"), ("cookie", &cookie)],
                body.to_string().into_bytes(),
            )
            .await;
        if r.status == 200 {
            self.token = Some(r.json()["token"].as_str().unwrap().to_owned());
        }
        r
    }

    pub async fn attest(&mut self, c: &Client) -> Resp {
        let body = self.attestation(&jwk_of(&self.tee_key));
        self.post_attestation(c, &body).await
    }

    pub async fn resource(&self, c: &Client, path: &str) -> Resp {
        let cookie = self.cookie.clone().unwrap_or_default();
        c.call(
            "GET",
            &format!("/kbs/v0/resource/{path}"),
            &[("cookie", &cookie)],
            Vec::new(),
        )
        .await
    }

    pub async fn resource_bearer(&self, c: &Client, path: &str) -> Resp {
        let auth = format!("Bearer {}", self.token.clone().unwrap());
        c.call(
            "GET",
            &format!("/kbs/v0/resource/{path}"),
            &[("authorization", &auth)],
            Vec::new(),
        )
        .await
    }

    pub fn decrypt(&self, r: &Resp) -> Vec<u8> {
        let resp: kbs_types::Response = serde_json::from_slice(&r.body).unwrap();
        rootline_broker::jwe::decrypt_ec(&self.tee_key, &resp).unwrap()
    }

    /// auth + attest + resource, asserting success; returns the plaintext.
    pub async fn fetch(&mut self, c: &Client, path: &str) -> Vec<u8> {
        let r = self.auth(c).await;
        assert_eq!(r.status, 200, "auth: {}", r.text());
        let r = self.attest(c).await;
        assert_eq!(r.status, 200, "attest: {}", r.text());
        let r = self.resource(c, path).await;
        assert_eq!(r.status, 200, "resource: {}", r.text());
        self.decrypt(&r)
    }
}

/// An admin request with a JWT minted from `pkcs8`.
pub async fn admin(c: &Client, pkcs8: &[u8], method: &str, path: &str, body: Vec<u8>) -> Resp {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let jwt = rootline_broker::admin::mint(pkcs8, now, 60).unwrap();
    let auth = format!("Bearer {jwt}");
    c.call(method, path, &[("authorization", &auth)], body)
        .await
}

/// Registers `measurement` as the only accepted one and stores a secret.
pub async fn provision(
    c: &Client,
    shared: &Shared,
    measurement: &[u8; 48],
    path: &str,
    secret: &[u8],
) {
    let rv =
        json!({"tee": sim::TEE_NAME, "claim": "measurement", "values": [hex::encode(measurement)]});
    let r = admin(
        c,
        &shared.admin_pkcs8,
        "PUT",
        "/admin/v0/reference-values/sim-measurement",
        rv.to_string().into_bytes(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = admin(
        c,
        &shared.admin_pkcs8,
        "PUT",
        &format!("/admin/v0/resources/{path}"),
        secret.to_vec(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
}

/// `POST /kbs/v0/auth` for `tee` with `extra_params`, asserting 200; the
/// session cookie (`kbs-session-id=...`) and the nonce.
pub async fn auth_as(c: &Client, tee: &str, extra_params: Value) -> (String, String) {
    let r = c
        .call(
            "POST",
            "/kbs/v0/auth",
            &[("content-type", "application/json")],
            json!({"version": "0.4.0", "tee": tee, "extra-params": extra_params})
                .to_string()
                .into_bytes(),
        )
        .await;
    assert_eq!(r.status, 200, "auth as {tee}: {}", r.text());
    let cookie = r
        .header("set-cookie")
        .expect("set-cookie")
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    (cookie, r.json()["nonce"].as_str().unwrap().to_owned())
}

/// `POST /kbs/v0/attest` with `body` in the session `cookie`, then
/// `GET /kbs/v0/resource/{path}` in the same session: both answers.
pub async fn attest_then_fetch(c: &Client, cookie: &str, body: &Value, path: &str) -> (Resp, Resp) {
    let attest = c
        .call(
            "POST",
            "/kbs/v0/attest",
            &[("content-type", "application/json"), ("cookie", cookie)],
            body.to_string().into_bytes(),
        )
        .await;
    let resource = c
        .call(
            "GET",
            &format!("/kbs/v0/resource/{path}"),
            &[("cookie", cookie)],
            Vec::new(),
        )
        .await;
    (attest, resource)
}

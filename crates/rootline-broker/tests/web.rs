//! The web view (`/ui/`): its login, its cookie, its escaping, and the
//! pages as a person sees them in a real browser (Debian's headless
//! Chromium driven through chromedriver's WebDriver API), with a
//! screenshot of each page kept in `target/artifacts/web/`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use common::*;
use rootline_broker::store::AuditRow;
use serde_json::{Value, json};

const GOOD: [u8; 48] = [0x5a; 48];
const ALSO_GOOD: [u8; 48] = [0x11; 48];
const BAD: [u8; 48] = [0x33; 48];
/// A reason as a hostile client could make one appear (quoted from what it
/// sent), and a workload claim with markup.
const HOSTILE: &str = "evidence rejected: <script>alert(\"pwned\")</script> it's 'quoted'";
const HOSTILE_WORKLOAD: &str = "measurement=<img src=x onerror=alert(1)>";

/// A broker with a history: a good workload attested and released, the
/// reference value replaced by a second version, a workload with an
/// unregistered measurement attested (contraindicated) and denied, and a
/// hostile audit row.
async fn populated(c: &Client, f: &Fixture) {
    provision(c, &f.shared, &GOOD, "default/key/1", b"first").await;
    let mut g = Guest::new(&f.shared, GOOD);
    assert_eq!(g.fetch(c, "default/key/1").await, b"first");
    let rv = json!({"tee": "rootline-sim", "claim": "measurement",
        "values": [hex::encode(GOOD), hex::encode(ALSO_GOOD)]});
    let r = admin(
        c,
        &f.shared.admin_pkcs8,
        "PUT",
        "/admin/v0/reference-values/sim-measurement?replace=true",
        rv.to_string().into_bytes(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["version"], 2);
    let mut g = Guest::new(&f.shared, GOOD);
    assert_eq!(g.fetch(c, "default/key/1").await, b"first");
    let mut bad = Guest::new(&f.shared, BAD);
    assert_eq!(bad.auth(c).await.status, 200);
    assert_eq!(bad.attest(c).await.status, 200);
    let r = bad.resource(c, "default/key/1").await;
    assert_eq!(r.status, 401, "{}", r.text());
    f.broker
        .store()
        .audit(&AuditRow {
            at: f.broker.clock().now(),
            client: "203.0.113.9:4242".into(),
            evidence_digest: Some("\"><b>digest".into()),
            resource: "-".into(),
            policy: "attestation".into(),
            result: "rejected".into(),
            reason: HOSTILE.into(),
            tee: Some("rootline-sim".into()),
            workload: Some(HOSTILE_WORKLOAD.into()),
            tcb_status: None,
            failed: None,
        })
        .await
        .unwrap();
}

/// The attestation rows are written without waiting for them: wait until
/// the store holds `n` of them (a bounded number of short waits).
async fn attested_rows(f: &Fixture, n: usize) {
    for _ in 0..200 {
        let rows = f.broker.store().list_audit(100).await.unwrap();
        if rows.iter().filter(|r| r.result == "attested").count() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the attestation rows were not written");
}

fn token(f: &Fixture, ttl: i64) -> String {
    rootline_broker::admin::mint(&f.shared.admin_pkcs8, f.broker.clock().now(), ttl).unwrap()
}

fn form(token: &str) -> Vec<u8> {
    format!("token={token}").into_bytes()
}

async fn login(c: &Client, f: &Fixture, ttl: i64) -> (Resp, String) {
    let r = c
        .call(
            "POST",
            "/ui/login",
            &[("content-type", "application/x-www-form-urlencoded")],
            form(&token(f, ttl)),
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text());
    let cookie = r
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    (r, cookie)
}

#[tokio::test]
async fn pages_need_a_login_and_escape_what_clients_sent() {
    let f = fixture().await;
    let c = Client::in_process(&f.broker);
    populated(&c, &f).await;
    attested_rows(&f, 3).await;
    let pages = [
        "/ui/",
        "/ui/attestations",
        "/ui/denials",
        "/ui/platforms",
        "/ui/reference-values",
    ];
    // Without a cookie: to the login form.
    for p in pages {
        let r = c.call("GET", p, &[], Vec::new()).await;
        assert_eq!(r.status, 303, "{p}");
        assert_eq!(r.header("location"), Some("/ui/login"), "{p}");
    }
    let r = c.call("GET", "/ui/login", &[], Vec::new()).await;
    assert_eq!(r.status, 200);
    assert!(r.text().contains("name=\"token\""));
    // A refused login: the form again with the reason, and an audit row.
    let other =
        aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new())
            .unwrap();
    let forged = rootline_broker::admin::mint(other.as_ref(), f.broker.clock().now(), 60).unwrap();
    let r = c
        .call(
            "POST",
            "/ui/login",
            &[("content-type", "application/x-www-form-urlencoded")],
            form(&forged),
        )
        .await;
    assert_eq!(r.status, 401);
    assert!(
        r.text().contains("Login refused: admin JWT rejected"),
        "{}",
        r.text()
    );
    assert!(r.header("set-cookie").is_none());
    let rows = f.broker.store().list_audit(100).await.unwrap();
    assert!(
        rows.iter().any(|r| r.policy == "admin-login"
            && r.resource == "/ui/login"
            && r.result == "denied"),
        "{rows:?}"
    );
    let r = c
        .call(
            "POST",
            "/ui/login",
            &[("content-type", "application/x-www-form-urlencoded")],
            b"nothing=here".to_vec(),
        )
        .await;
    assert_eq!(r.status, 401);
    // A good one: the cookie's attributes.
    let (r, cookie) = login(&c, &f, 3600).await;
    assert_eq!(r.header("location"), Some("/ui/"));
    let sc = r.header("set-cookie").unwrap();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/ui", "Max-Age=900"] {
        assert!(sc.contains(attr), "{sc}");
    }
    assert!(
        !sc.contains("Secure"),
        "secure_cookies is off in the fixture: {sc}"
    );
    for p in pages {
        let r = c.call("GET", p, &[("cookie", &cookie)], Vec::new()).await;
        assert_eq!(r.status, 200, "{p}: {}", r.text());
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        let csp = r.header("content-security-policy").unwrap();
        assert!(csp.contains("default-src 'none'"), "{csp}");
        assert!(!csp.contains("script-src"), "{csp}");
        let t = r.text();
        // Nothing a client sent becomes markup.
        assert!(!t.contains("<script"), "{p}: {t}");
        assert!(!t.contains("<img"), "{p}: {t}");
        assert!(!t.contains("\"><b>"), "{p}: {t}");
    }
    let denials = c
        .call("GET", "/ui/denials", &[("cookie", &cookie)], Vec::new())
        .await
        .text();
    assert!(
        denials.contains(
            "evidence rejected: &lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt; it&#39;s &#39;quoted&#39;"
        ),
        "{denials}"
    );
    assert!(
        denials.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{denials}"
    );
    assert!(
        denials.contains("which is not among the 2 accepted value(s)"),
        "{denials}"
    );
    assert!(denials.contains("admin JWT rejected"), "{denials}");
    let overview = c
        .call("GET", "/ui/", &[("cookie", &cookie)], Vec::new())
        .await
        .text();
    assert!(
        overview.contains(&format!("measurement={}", &hex::encode(GOOD)[..13])),
        "{overview}"
    );
    let history = c
        .call(
            "GET",
            "/ui/reference-values",
            &[("cookie", &cookie)],
            Vec::new(),
        )
        .await
        .text();
    assert_eq!(
        history.matches("<td>sim-measurement</td>").count(),
        3,
        "{history}"
    );
    // A tampered cookie, a KBS session cookie in its place, an expired one.
    let tampered = cookie.replace(".", ".A");
    let (kbs, _) = auth_as(&c, "rootline-sim", json!({})).await;
    let kbs = kbs.replace("kbs-session-id=", "rootline-ui=");
    for bad in [
        tampered.as_str(),
        kbs.as_str(),
        "rootline-ui=",
        "rootline-ui=a.b",
    ] {
        let r = c.call("GET", "/ui/", &[("cookie", bad)], Vec::new()).await;
        assert_eq!(r.status, 303, "{bad}");
    }
    f.broker.clock().advance(901);
    let r = c
        .call("GET", "/ui/", &[("cookie", &cookie)], Vec::new())
        .await;
    assert_eq!(r.status, 303);
}

#[tokio::test]
async fn a_login_ends_with_its_token_and_secure_cookies_are_marked() {
    let f = fixture_with(Arc::new(Shared::new()), None, |o| o.secure_cookies = true).await;
    let c = Client::in_process(&f.broker);
    let (r, cookie) = login(&c, &f, 60).await;
    let sc = r.header("set-cookie").unwrap();
    assert!(sc.contains("Max-Age=60") && sc.contains("; Secure"), "{sc}");
    let r = c
        .call("GET", "/ui/", &[("cookie", &cookie)], Vec::new())
        .await;
    assert_eq!(r.status, 200);
    f.broker.clock().advance(61);
    let r = c
        .call("GET", "/ui/", &[("cookie", &cookie)], Vec::new())
        .await;
    assert_eq!(r.status, 303);
}

#[tokio::test]
async fn without_an_admin_key_the_web_view_is_closed_and_says_what_opens_it() {
    let f = fixture_with(Arc::new(Shared::new()), None, |o| o.admin_key = None).await;
    let c = Client::in_process(&f.broker);
    for (m, p) in [
        ("GET", "/ui/"),
        ("GET", "/ui/login"),
        ("GET", "/ui/denials"),
    ] {
        let r = c.call(m, p, &[], Vec::new()).await;
        assert_eq!(r.status, 403, "{p}");
        assert!(r.text().contains("admin_public_key"), "{}", r.text());
    }
    let r = c
        .call(
            "POST",
            "/ui/login",
            &[("content-type", "application/x-www-form-urlencoded")],
            form(&token(&f, 60)),
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(r.header("set-cookie").is_none());
}

// ---------------------------------------------------------------------------
// Headless Chromium.

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// WebDriver's key for an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// chromedriver, stopped (by its own process id) when dropped.
struct Driver {
    child: std::process::Child,
    port: u16,
    _profile: tempfile::TempDir,
    session: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = webdriver(
                self.port,
                "DELETE",
                &format!("/session/{}", self.session),
                None,
            );
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One WebDriver request (HTTP/1.1 over a loopback socket, one request a
/// connection); the answer's `value`, or an error naming WebDriver's.
fn webdriver(port: u16, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(120)))
        .map_err(|e| e.to_string())?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Content-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 65536];
    let (head_end, length) = loop {
        let n = s.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("chromedriver closed the connection".into());
        }
        raw.extend_from_slice(&buf[..n]);
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..i]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok());
            break (i + 4, length);
        }
    };
    match length {
        Some(len) => {
            while raw.len() < head_end + len {
                let n = s.read(&mut buf).map_err(|e| e.to_string())?;
                if n == 0 {
                    break;
                }
                raw.extend_from_slice(&buf[..n]);
            }
        }
        None => {
            s.read_to_end(&mut raw).map_err(|e| e.to_string())?;
        }
    }
    let v: Value = serde_json::from_slice(&raw[head_end..]).map_err(|e| {
        format!(
            "chromedriver answered no JSON ({e}): {}",
            String::from_utf8_lossy(&raw)
        )
    })?;
    let value = v.get("value").cloned().unwrap_or(Value::Null);
    if let Some(err) = value.get("error").and_then(Value::as_str) {
        return Err(format!(
            "{err}: {}",
            value.get("message").and_then(Value::as_str).unwrap_or("")
        ));
    }
    Ok(value)
}

impl Driver {
    fn start() -> Self {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let child = std::process::Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::tempdir().unwrap();
        let mut d = Driver {
            child,
            port,
            _profile: profile,
            session: String::new(),
        };
        // Started when it answers its status (a bounded number of tries).
        let mut ready = false;
        for _ in 0..300 {
            if webdriver(port, "GET", "/status", None).is_ok_and(|v| v["ready"] == true) {
                ready = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(ready, "chromedriver did not come up on port {port}");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1400,1000",
                    format!("--user-data-dir={}", d._profile.path().display()),
                ],
            },
        }}});
        let v = webdriver(port, "POST", "/session", Some(&caps)).expect("a browser session");
        d.session = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no sessionId in {v}"))
            .to_owned();
        d
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let p = format!("/session/{}{path}", self.session);
        webdriver(self.port, method, &p, body.as_ref())
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    fn open(&self, url: &str) {
        self.call("POST", "/url", Some(json!({"url": url})));
    }

    fn url(&self) -> String {
        self.call("GET", "/url", None).as_str().unwrap().to_owned()
    }

    fn find(&self, css: &str) -> String {
        let v = self.call(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("{css}: {v}"))
            .to_owned()
    }

    /// The page's text as it is rendered (what a person reads).
    fn text(&self) -> String {
        let body = self.find("body");
        self.call("GET", &format!("/element/{body}/text"), None)
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn screenshot(&self, to: &Path) {
        let b64 = self.call("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        std::fs::write(to, png).unwrap();
    }

    /// No dialog opened (an injected script would have raised one).
    fn no_alert(&self) {
        let p = format!("/session/{}/alert/text", self.session);
        let r = webdriver(self.port, "GET", &p, None);
        assert!(
            r.as_ref().is_err_and(|e| e.starts_with("no such alert")),
            "an alert is open: {r:?}"
        );
    }
}

/// Where the screenshots go: `target/artifacts/web` of the workspace (CI
/// keeps `target/artifacts`).
fn artifacts() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let dir = target.join("artifacts").join("web");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_reads_every_page_in_headless_chromium() {
    if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
        let why = format!(
            "{CHROMIUM} or {CHROMEDRIVER} is missing (Debian packages chromium, chromium-driver)"
        );
        if std::env::var_os("CI").is_some() {
            panic!("{why}: CI must run the browser test");
        }
        eprintln!("SKIPPED: {why}");
        return;
    }
    let f = fixture().await;
    let (c, server) = Client::serve(&f.broker).await;
    populated(&c, &f).await;
    attested_rows(&f, 3).await;
    let Client::Socket(addr) = c else {
        unreachable!()
    };
    let base = format!("http://{addr}");
    let tok = token(&f, 600);
    let dir = artifacts();
    let good = hex::encode(GOOD);
    let bad = hex::encode(BAD);
    tokio::task::spawn_blocking(move || {
        let d = Driver::start();
        // Any page sends a browser without a login to the form.
        d.open(&format!("{base}/ui/denials"));
        assert!(d.url().ends_with("/ui/login"), "{}", d.url());
        assert!(d.text().contains("Admin token"));
        d.screenshot(&dir.join("login.png"));
        let field = d.find("textarea[name=token]");
        d.call(
            "POST",
            &format!("/element/{field}/value"),
            Some(json!({"text": tok})),
        );
        let button = d.find("button#login");
        d.call("POST", &format!("/element/{button}/click"), Some(json!({})));
        let mut landed = false;
        for _ in 0..100 {
            if d.url() == format!("{base}/ui/") {
                landed = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            landed,
            "the login did not land on the overview: {}",
            d.url()
        );

        // Overview: each workload's last status.
        let t = d.text();
        assert!(t.contains("Workloads"), "{t}");
        let row = |t: &str, needle: &str| {
            t.lines()
                .find(|l| l.contains(needle))
                .unwrap_or_else(|| panic!("no line with {needle} in\n{t}"))
                .to_owned()
        };
        let g = row(&t, &format!("measurement={}", &good[..12]));
        assert!(g.contains("released") && g.contains("default/key/1"), "{g}");
        let b = row(&t, &format!("measurement={}", &bad[..12]));
        assert!(b.contains("denied"), "{b}");
        d.screenshot(&dir.join("overview.png"));

        d.open(&format!("{base}/ui/attestations"));
        let t = d.text();
        assert!(t.contains("attested (affirming)"), "{t}");
        assert!(t.contains("attested (contraindicated)"), "{t}");
        assert!(t.contains("released"), "{t}");
        d.screenshot(&dir.join("attestations.png"));

        // Denials: the reason as a person reads it, and the hostile text
        // shown as text, not run.
        d.open(&format!("{base}/ui/denials"));
        let t = d.text();
        assert!(t.contains("denied by policy default"), "{t}");
        assert!(
            t.contains("which is not among the 2 accepted value(s)"),
            "{t}"
        );
        assert!(
            t.contains(&format!(
                "cpu0: reference value sim-measurement: measurement is {bad}"
            )),
            "{t}"
        );
        assert!(t.contains(HOSTILE), "{t}");
        d.no_alert();
        d.screenshot(&dir.join("denials.png"));

        d.open(&format!("{base}/ui/platforms"));
        let t = d.text();
        assert!(t.contains("TCB status per TEE"), "{t}");
        assert!(
            t.lines()
                .any(|l| l.starts_with("rootline-sim (not reported) 3 ")),
            "{t}"
        );
        assert!(t.contains("Collateral freshness"), "{t}");
        d.screenshot(&dir.join("platforms.png"));

        d.open(&format!("{base}/ui/reference-values"));
        let t = d.text();
        assert!(t.contains("In force"), "{t}");
        let history: Vec<&str> = t
            .lines()
            .filter(|l| l.contains("sim-measurement"))
            .collect();
        assert_eq!(history.len(), 3, "one in force, two versions:\n{t}");
        assert!(history.iter().any(|l| l.contains(" 1 set")), "{t}");
        assert!(history.iter().any(|l| l.contains(" 2 set")), "{t}");
        d.screenshot(&dir.join("reference-values.png"));
        d.no_alert();
        eprintln!("screenshots in {}", dir.display());
    })
    .await
    .unwrap();
    server.abort();
}

//! The real binary: `rootline serve` on 127.0.0.1 port 0 driven by
//! `rootline admin` and a simulated guest over TCP; graceful shutdown on
//! SIGTERM; and two `rootline serve` replicas on one PostgreSQL started by
//! the test, the handshake split across them, one SIGKILLed mid-load.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;

use aws_lc_rs::agreement::{self, ECDH_P256};
use rootline_broker::evidence::{BindingHash, runtime_data_hash};
use rootline_broker::sim::{self, SimKey};
use rootline_testkit::postgres::Postgres;
use serde_json::{Value, json};

mod common;

use common::{Server, bin};

/// A server on SQLite under `dir/data`, administered with `dir/admin.key`
/// (see `setup`), trusting the simulated root `root`.
fn start_embedded(dir: &Path, root: &str, extra: &[&str]) -> Server {
    let data = dir.join("data");
    let pubkey = dir.join("admin.key.pub");
    let mut args = vec![
        "--data-dir",
        data.to_str().unwrap(),
        "--admin-public-key",
        pubkey.to_str().unwrap(),
        "--sim-root",
        root,
    ];
    args.extend_from_slice(extra);
    Server::start(&args, &[])
}

/// One HTTP/1.1 request on its own connection: (status, headers, body).
fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head, raw[split + 4..].to_vec())
}

fn admin(dir: &Path, url: &str, key: &str, args: &[&str]) -> (i32, String) {
    let out = Command::new(bin())
        .current_dir(dir)
        .args(["admin", "--url", url, "--key", key])
        .args(args)
        .env_remove("ROOTLINE_ADMIN_KEY")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// A simulated guest: auth on `a`, attest on `b`, resource on `c`.
fn guest(sim: &SimKey, m: &[u8; 48], a: &str, b: &str, c: &str, path: &str) -> (u16, Vec<u8>) {
    let (st, head, body) = http(
        a,
        "POST",
        "/kbs/v0/auth",
        &[],
        json!({"version": "0.4.0", "tee": sim::TEE_NAME, "extra-params": {}})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(st, 200);
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let nonce = serde_json::from_slice::<Value>(&body).unwrap()["nonce"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = agreement::PrivateKey::generate(&ECDH_P256).unwrap();
    let jwk =
        rootline_broker::jwe::ec_jwk("P-256", key.compute_public_key().unwrap().as_ref()).unwrap();
    let runtime = json!({"nonce": nonce, "tee-pubkey": jwk});
    let rd = runtime_data_hash(&runtime, BindingHash::Sha384).unwrap();
    let ev = sim.evidence(m, &[], &rd).unwrap();
    let att = json!({"runtime-data": runtime, "tee-evidence": {"primary_evidence": ev, "additional_evidence": ""}});
    let (st, _, body) = http(
        b,
        "POST",
        "/kbs/v0/attest",
        &[("cookie", &cookie)],
        att.to_string().as_bytes(),
    );
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    let (st, _, body) = http(
        c,
        "GET",
        &format!("/kbs/v0/resource/{path}"),
        &[("cookie", &cookie)],
        b"",
    );
    if st != 200 {
        return (st, body);
    }
    let resp: kbs_types::Response = serde_json::from_slice(&body).unwrap();
    (st, rootline_broker::jwe::decrypt_ec(&key, &resp).unwrap())
}

fn setup(dir: &Path) -> (SimKey, String) {
    let out = Command::new(bin())
        .current_dir(dir)
        .args(["admin", "keygen", "admin.key"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let (sim, _) = SimKey::generate().unwrap();
    let root = hex::encode(sim.public_key());
    (sim, root)
}

const M: [u8; 48] = [0x42; 48];

#[test]
fn serve_admin_and_guest_over_tcp_then_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, root) = setup(dir.path());
    let srv = start_embedded(dir.path(), &root, &[]);
    let data = dir.path().join("data");
    let url = srv.url();
    let mhex = hex::encode(M);
    let (rc, _) = admin(
        dir.path(),
        &url,
        "admin.key",
        &[
            "reference",
            "set",
            "sim-m",
            "--tee",
            sim::TEE_NAME,
            "--claim",
            "measurement",
            "--value",
            &mhex,
        ],
    );
    assert_eq!(rc, 0);
    let (rc, _) = admin(
        dir.path(),
        &url,
        "admin.key",
        &[
            "resource",
            "set",
            "default/key/1",
            "--value",
            "from the binary",
        ],
    );
    assert_eq!(rc, 0);
    let (rc, out) = admin(
        dir.path(),
        &url,
        "admin.key",
        &["resource", "list", "--json"],
    );
    assert_eq!(rc, 0);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()[0]["path"],
        "default/key/1"
    );
    // Another key: the broker refuses (exit 1); no key: usage (exit 2).
    Command::new(bin())
        .current_dir(dir.path())
        .args(["admin", "keygen", "other.key"])
        .output()
        .unwrap();
    assert_eq!(
        admin(dir.path(), &url, "other.key", &["resource", "list"]).0,
        1
    );
    let out = Command::new(bin())
        .args(["admin", "--url", &url, "resource", "list"])
        .env_remove("ROOTLINE_ADMIN_KEY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));

    let (st, secret) = guest(&sim, &M, &srv.addr, &srv.addr, &srv.addr, "default/key/1");
    assert_eq!(st, 200);
    assert_eq!(secret, b"from the binary");
    let (st, body) = guest(
        &sim,
        &[0; 48],
        &srv.addr,
        &srv.addr,
        &srv.addr,
        "default/key/1",
    );
    assert_eq!(st, 401, "{}", String::from_utf8_lossy(&body));
    let (rc, out) = admin(dir.path(), &url, "admin.key", &["audit", "--json"]);
    assert_eq!(rc, 0);
    let rows: Value = serde_json::from_str(&out).unwrap();
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .any(|r| r["result"] == "released")
    );
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .any(|r| r["result"] == "denied")
    );
    // `admin token` prints a JWT that opens the web view.
    let (rc, tok) = admin(dir.path(), &url, "admin.key", &["token", "--ttl", "120"]);
    assert_eq!(rc, 0);
    let form = format!("token={}", tok.trim());
    let (st, head, _) = http(
        &srv.addr,
        "POST",
        "/ui/login",
        &[("content-type", "application/x-www-form-urlencoded")],
        form.as_bytes(),
    );
    assert_eq!(st, 303, "{head}");
    assert!(head.contains("rootline-ui="), "{head}");
    // The KEK was generated owner-only; the database holds no plaintext.
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(data.join("kek"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    for f in ["broker.db", "broker.db-wal"] {
        if let Ok(bytes) = std::fs::read(data.join(f)) {
            assert!(
                !bytes.windows(15).any(|w| w == b"from the binary"),
                "{f} holds the secret in clear"
            );
        }
    }

    // SIGTERM: graceful shutdown, exit 0.
    let mut srv = srv;
    let st = Command::new("kill")
        .args(["-TERM", &srv.child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let status = srv.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

#[test]
fn two_serve_processes_on_postgres_one_killed_mid_load() {
    let Some(pg) = Postgres::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (sim, root) = setup(dir.path());
    let url = format!(
        "postgres://rootline@localhost:5432/postgres?host={}",
        pg.socket_dir().display()
    );
    let kek = hex::encode([9u8; 32]);
    let pubkey = dir.path().join("admin.key.pub");
    let args = |d: &str| {
        vec![
            "--data-dir".to_owned(),
            dir.path().join(d).display().to_string(),
            "--database-url".to_owned(),
            url.clone(),
            "--admin-public-key".to_owned(),
            pubkey.display().to_string(),
            "--sim-root".to_owned(),
            root.clone(),
        ]
    };
    let a_args = args("a");
    let b_args = args("b");
    let mut a = Server::start(
        &a_args.iter().map(String::as_str).collect::<Vec<_>>(),
        &[("ROOTLINE_KEK", &kek)],
    );
    let b = Server::start(
        &b_args.iter().map(String::as_str).collect::<Vec<_>>(),
        &[("ROOTLINE_KEK", &kek)],
    );
    let mhex = hex::encode(M);
    assert_eq!(
        admin(
            dir.path(),
            &a.url(),
            "admin.key",
            &[
                "reference",
                "set",
                "sim-m",
                "--tee",
                sim::TEE_NAME,
                "--claim",
                "measurement",
                "--value",
                &mhex
            ]
        )
        .0,
        0
    );
    assert_eq!(
        admin(
            dir.path(),
            &b.url(),
            "admin.key",
            &["resource", "set", "default/key/1", "--value", "shared"]
        )
        .0,
        0
    );
    // The handshake split across the two processes.
    let (st, secret) = guest(&sim, &M, &a.addr, &b.addr, &a.addr, "default/key/1");
    assert_eq!((st, secret.as_slice()), (200, b"shared".as_slice()));

    // Load: a writer alternates admin PUTs between A and B; A is SIGKILLed
    // after 20 acknowledged writes; B keeps answering.
    let pkcs8 = rootline_broker::keys::private_key_pem(
        &std::fs::read(dir.path().join("admin.key")).unwrap(),
    )
    .unwrap();
    let mut acked = Vec::new();
    let mut a_alive = true;
    let mut a_failures = 0;
    for i in 0..120 {
        let to_a = i % 2 == 0;
        if to_a && !a_alive {
            // Writes to the dead replica fail: count them, do not ack.
            if TcpStream::connect(&a.addr).is_err() {
                a_failures += 1;
            }
            continue;
        }
        let target = if to_a { &a.addr } else { &b.addr };
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let jwt = format!(
            "Bearer {}",
            rootline_broker::admin::mint(&pkcs8, now, 60).unwrap()
        );
        let path = format!("load/{}/{i}", if to_a { "a" } else { "b" });
        let (st, _, _) = http(
            target,
            "PUT",
            &format!("/admin/v0/resources/{path}"),
            &[("authorization", &jwt)],
            path.as_bytes(),
        );
        if st == 200 {
            acked.push(path);
        }
        if a_alive && acked.iter().filter(|p| p.starts_with("load/a/")).count() == 20 {
            a.child.kill().unwrap();
            a.child.wait().unwrap();
            a_alive = false;
        }
    }
    assert!(
        !a_alive && a_failures > 0,
        "A was killed and refused connections afterwards"
    );
    // Every acknowledged write, including A's, is there through B.
    let (rc, out) = admin(
        dir.path(),
        &b.url(),
        "admin.key",
        &["resource", "list", "--json"],
    );
    assert_eq!(rc, 0);
    let listed: Vec<String> = serde_json::from_str::<Value>(&out)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap().to_owned())
        .collect();
    for p in &acked {
        assert!(listed.contains(p), "acknowledged {p} lost");
    }
    let (st, secret) = guest(&sim, &M, &b.addr, &b.addr, &b.addr, "load/a/0");
    assert_eq!((st, secret.as_slice()), (200, b"load/a/0".as_slice()));
}

/// `bench kbs --url` against a `rootline serve --worker-threads 1` on this
/// machine: the load runs without errors and the broker process is found by
/// its port, so its CPU time per handshake is reported beside the signature
/// floor.
#[test]
fn bench_kbs_against_a_served_broker_reports_its_process() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _) = setup(dir.path());
    let sim_key = dir.path().join("sim.pk8");
    let out = Command::new(bin())
        .args(["bench", "kbs", "--url", "http://127.0.0.1:9", "--sim-key"])
        .arg(&sim_key)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let root = text
        .split("--sim-root ")
        .nth(1)
        .unwrap_or_else(|| panic!("{text}"))
        .trim()
        .to_owned();
    // One runtime thread: the load generator has the other core.
    let srv = start_embedded(dir.path(), &root, &["--worker-threads", "1"]);
    let url = srv.url();
    let set = |args: &[&str]| assert_eq!(admin(dir.path(), &url, "admin.key", args).0, 0);
    set(&[
        "reference",
        "set",
        "bench-m",
        "--tee",
        sim::TEE_NAME,
        "--claim",
        "measurement",
        "--value",
        &"5a".repeat(48),
    ]);
    set(&["resource", "set", "default/bench/key", "--value", "b"]);
    let out = Command::new(bin())
        .args(["bench", "kbs", "--url", &url, "--sim-key"])
        .arg(&sim_key)
        .args(["--duration", "1", "--concurrency", "2", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["errors"], 0, "{j}");
    assert!(j["handshakes"].as_u64().unwrap() > 0, "{j}");
    assert_eq!(j["in_process_broker"], false, "{j}");
    assert_eq!(j["broker_pid"], srv.child.id(), "{j}");
    assert_eq!(j["broker_process"], "rootline", "{j}");
    assert!(j["broker_us_per_handshake"].as_f64().unwrap() > 0.0, "{j}");
    assert!(j["signature_floor_us"].as_f64().unwrap() > 0.0, "{j}");
}

/// An EdDSA JWT over `claims`, signed with the Ed25519 PKCS#8 key `pkcs8`
/// (the admin token Trustee's setup script mints).
fn eddsa_jwt(pkcs8: &[u8], claims: &Value) -> String {
    use aws_lc_rs::signature::Ed25519KeyPair;
    use base64::Engine as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let input = format!(
        "{}.{}",
        b64(br#"{"alg":"EdDSA","typ":"JWT"}"#),
        b64(claims.to_string().as_bytes())
    );
    let kp = Ed25519KeyPair::from_pkcs8(pkcs8).unwrap();
    format!("{input}.{}", b64(kp.sign(input.as_bytes()).as_ref()))
}

/// A Trustee-style deployment through the binary: the `[admin]` section of
/// Trustee's configuration in rootline's TOML, Trustee admin calls with a
/// role-bearing token, and `rootline get-resource --tee sample` as the guest
/// (insecure test mode, as Trustee's own client tests run on machines
/// without a TEE).
#[test]
fn trustee_admin_config_and_sample_guest_through_the_binary() {
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
    use base64::Engine as _;
    let dir = tempfile::tempdir().unwrap();
    let doc = Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new()).unwrap();
    let kp = Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap();
    let mut spki = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    spki.extend_from_slice(kp.public_key().as_ref());
    let pubkey = dir.path().join("trustee-admin.pub");
    std::fs::write(
        &pubkey,
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            base64::engine::general_purpose::STANDARD.encode(&spki)
        ),
    )
    .unwrap();
    let config = dir.path().join("kbs.toml");
    std::fs::write(
        &config,
        format!(
            r#"insecure_sample_tee = true
data_dir = "{}"

[admin]
authorization_mode = "AuthenticatedAuthorization"

[admin.authentication.bearer_jwt]
identity_providers = [ {{ issuer = "TrusteeInDocker", audience = "KBS", public_key_uri = "file://{}" }} ]

[admin.authorization.regex_acl]
acls = [ {{ role = "admin", allowed_endpoints = "^/kbs/.+$" }} ]
"#,
            dir.path().join("data").display(),
            pubkey.display()
        ),
    )
    .unwrap();
    let srv = Server::start(&["--config", config.to_str().unwrap()], &[]);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let token = eddsa_jwt(
        doc.as_ref(),
        &json!({"iss": "TrusteeInDocker", "sub": "admin", "aud": ["KBS"], "role": "admin", "iat": now, "exp": now + 600}),
    );
    let bearer = format!("Bearer {token}");
    let auth = [("authorization", bearer.as_str())];
    let (st, _, body) = http(
        &srv.addr,
        "POST",
        "/kbs/v0/resource/default/key/k1",
        &auth,
        b"sample secret",
    );
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    let allow = "package policy\ndefault allow = false\nallow if { data.plugin == \"resource\" }\n";
    let policy = json!({"policy": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(allow)});
    let (st, _, body) = http(
        &srv.addr,
        "POST",
        "/kbs/v0/resource-policy",
        &auth,
        policy.to_string().as_bytes(),
    );
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    // Without the token: refused.
    let (st, _, _) = http(
        &srv.addr,
        "POST",
        "/kbs/v0/resource/default/key/k2",
        &[],
        b"x",
    );
    assert_eq!(st, 401);
    let out = Command::new(bin())
        .args([
            "get-resource",
            "kbs:///default/key/k1",
            "--kbs",
            &srv.url(),
            "--tee",
            "sample",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"sample secret");
}

/// `rootline serve` that is expected to refuse to start: its exit code and
/// standard error.
fn serve_fails(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(bin())
        .arg("serve")
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .env_remove("ROOTLINE_KEK")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Hardening finding 8: storage and configuration hygiene. A deleted KEK
/// was silently replaced, a world-writable KEK file accepted, the data
/// directory was 0755 and broker.db 0644, a password in the database URL's
/// query was printed, and an unreachable database said only "pool timed
/// out" after 30 s.
#[test]
fn storage_and_configuration_hygiene() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    {
        let _srv = Server::start(&["--data-dir", d], &[]);
    }
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("broker.db")), 0o600);
    assert_eq!(mode(&data.join("kek")), 0o600);

    // The generated KEK deleted: refused, and not replaced.
    std::fs::remove_file(data.join("kek")).unwrap();
    let (code, err) = serve_fails(&["--data-dir", d]);
    assert_ne!(code, Some(0));
    assert!(err.contains("kek is missing"), "{err}");
    assert!(!data.join("kek").exists());

    // A KEK file others may write: refused.
    let kek = dir.path().join("kek.hex");
    std::fs::write(&kek, "11".repeat(32)).unwrap();
    std::fs::set_permissions(&kek, std::fs::Permissions::from_mode(0o666)).unwrap();
    let other = dir.path().join("other");
    let (code, err) = serve_fails(&[
        "--data-dir",
        other.to_str().unwrap(),
        "--kek-file",
        kek.to_str().unwrap(),
    ]);
    assert_ne!(code, Some(0));
    assert!(err.contains("writable by group or others"), "{err}");

    // Passwords are not printed, wherever the URL carries them.
    let out = Command::new(bin())
        .args([
            "serve",
            "--print-config",
            "--database-url",
            "postgres://app:hunter2@127.0.0.1:1/kbs?password=hunter3",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(!text.contains("hunter"), "{text}");

    // An unreachable database: the cause, not "pool timed out".
    std::fs::set_permissions(&kek, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (code, err) = serve_fails(&[
        "--database-url",
        "postgres://app:hunter2@127.0.0.1:1/kbs",
        "--kek-file",
        kek.to_str().unwrap(),
    ]);
    assert_ne!(code, Some(0));
    assert!(!err.contains("hunter2"), "{err}");
    assert!(
        !err.contains("pool timed out") && err.to_lowercase().contains("refused"),
        "{err}"
    );
}

/// `admin reference import` registers at a broker what `measure`,
/// `reference record` or a reference file print, one reference value per
/// key (the same vocabulary as `reference add` and the broker's check);
/// importing the same file again changes nothing; a file with a typo is
/// refused by the broker, naming the claim it meant, and stores nothing.
#[test]
fn admin_reference_import_registers_measured_values_at_the_broker() {
    let dir = tempfile::tempdir().unwrap();
    let (_, root) = setup(dir.path());
    let srv = start_embedded(dir.path(), &root, &[]);
    let m = "ab".repeat(48);
    let good = dir.path().join("measured.json");
    // `rootline measure snp --json` nests its values under reference_values.
    std::fs::write(
        &good,
        json!({"reference_values": {
            "snp.measurement": m,
            "tpm.pcr.sha256.4": ["00".repeat(32), "11".repeat(32)],
        }})
        .to_string(),
    )
    .unwrap();
    let import = |file: &Path| {
        admin(
            dir.path(),
            &srv.url(),
            "admin.key",
            &["reference", "import", file.to_str().unwrap(), "--json"],
        )
    };
    let (rc, out) = import(&good);
    assert_eq!(rc, 0, "{out}");
    let imported: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(imported.as_array().unwrap().len(), 2, "{imported}");
    let (rc, _) = import(&good);
    assert_eq!(rc, 0, "the same values again");
    let (_, listed) = admin(
        dir.path(),
        &srv.url(),
        "admin.key",
        &["reference", "list", "--json"],
    );
    let listed: Value = serde_json::from_str(&listed).unwrap();
    let by_name = |n: &str| {
        listed
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == n)
            .cloned()
            .unwrap_or_else(|| panic!("{n} not in {listed}"))
    };
    let snp = by_name("snp.measurement");
    assert_eq!(
        (snp["tee"].clone(), snp["claim"].clone()),
        (json!("snp"), json!("measurement"))
    );
    assert_eq!(snp["values"], json!([m]));
    assert_eq!(snp["version"], 1);
    assert_eq!(
        by_name("tpm.pcr.sha256.4")["values"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let typo = dir.path().join("typo.json");
    std::fs::write(&typo, json!({"snp.mesurement": m}).to_string()).unwrap();
    let (rc, _) = import(&typo);
    assert_eq!(rc, 2);
    let (_, after) = admin(
        dir.path(),
        &srv.url(),
        "admin.key",
        &["reference", "list", "--json"],
    );
    assert_eq!(
        serde_json::from_str::<Value>(&after)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

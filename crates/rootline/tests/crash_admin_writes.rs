//! Hardening issue 15, item 3: admin writes (resources, policies, reference
//! values) survive `kill -9` of `rootline serve` mid-write, on the embedded
//! SQLite store and on PostgreSQL.
//!
//! Four writer threads PUT admin changes over raw HTTP on 127.0.0.1 as fast
//! as the broker answers, each on paths of its own, overwriting them with
//! ever newer content. After a random delay, with requests outstanding, the
//! broker is SIGKILLed; it is restarted on the same data and read back:
//! every acknowledged write is there exactly (for an overwritten path, the
//! last acknowledged value or a later one that was in flight, never an older
//! one, never a mix of two), every unacknowledged one wholly or not at all,
//! and the listings agree. Several rounds on the same store; SQLite's file is
//! also put through `PRAGMA integrity_check` (read-only) after every kill
//! when the `sqlite3` shell is installed. On PostgreSQL only the broker is
//! killed; the database server runs on.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::os::unix::process::ExitStatusExt as _;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_lc_rs::agreement::{self, ECDH_P256};
use rootline_broker::evidence::{BindingHash, runtime_data_hash};
use rootline_broker::sim::{self, SimKey};
use rootline_testkit::postgres::Postgres;
use serde_json::{Value, json};

/// Writer threads per round.
const WRITERS: usize = 4;
/// Kill/restart rounds per store.
const ROUNDS: usize = 8;
/// Paths per kind and writer: every path is overwritten again and again.
const SLOTS: u64 = 12;
/// The workload's measurement, accepted by the reference value `sim-m`.
const M: [u8; 48] = [0x42; 48];
/// SIGKILL.
const SIGKILL: i32 = 9;

mod common;

use common::{Server, bin};

/// SIGKILL, and checks that SIGKILL is what ended it.
fn kill_9(srv: &mut Server) {
    srv.child.kill().unwrap();
    let status = srv.child.wait().unwrap();
    assert_eq!(
        status.signal(),
        Some(SIGKILL),
        "the broker was not ended by SIGKILL: {status:?}"
    );
}

/// What became of a request.
enum Sent {
    /// No connection: the request never left.
    NotConnected,
    /// Sent (at least in part), but no complete answer: cut off.
    CutOff,
    /// A complete answer: status, head, body.
    Answer(u16, String, Vec<u8>),
}

/// One HTTP/1.1 request on its own connection.
fn send(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Sent {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return Sent::NotConnected;
    };
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let mut req = req.into_bytes();
    req.extend_from_slice(body);
    if s.write_all(&req).is_err() {
        return Sent::CutOff;
    }
    let mut raw = Vec::new();
    // A reset after a complete answer still leaves the answer complete.
    let clean_eof = s.read_to_end(&mut raw).is_ok();
    let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Sent::CutOff;
    };
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let Some(status) = head.split(' ').nth(1).and_then(|s| s.parse().ok()) else {
        return Sent::CutOff;
    };
    let body = &raw[split + 4..];
    let len = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        if k.trim().eq_ignore_ascii_case("content-length") {
            v.trim().parse::<usize>().ok()
        } else {
            None
        }
    });
    match len {
        Some(n) if body.len() >= n => Sent::Answer(status, head, body[..n].to_vec()),
        None if clean_eof => Sent::Answer(status, head, body.to_vec()),
        _ => Sent::CutOff,
    }
}

/// A request to a live broker: its status and body.
fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<u8>) {
    match send(addr, method, path, headers, body) {
        Sent::Answer(st, _, body) => (st, body),
        Sent::NotConnected => panic!("{method} {path}: no connection to the live broker"),
        Sent::CutOff => panic!("{method} {path}: the live broker gave no complete answer"),
    }
}

fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    aws_lc_rs::rand::fill(&mut b).unwrap();
    u64::from_le_bytes(b)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Resource,
    Policy,
    ReferenceValue,
}

/// A resource path, policy name or reference value name.
type Key = (Kind, String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// 2xx received.
    Acked,
    /// A complete answer that was not 2xx.
    Refused(u16),
    /// Sent, no complete answer: the kill cut it off.
    CutOff,
}

/// One admin write as sent.
struct Write {
    key: Key,
    /// What must read back when it holds: the resource's bytes, the Rego
    /// text, or the reference value as `tee|claim|values`.
    content: String,
    outcome: Outcome,
}

/// The request that makes write `seq` of writer `t`: (key, HTTP path, body,
/// content as read back). Kinds and paths rotate, so every path is
/// overwritten with new, distinct content of varying size.
fn make_write(t: usize, seq: u64) -> (Key, String, Vec<u8>, String) {
    let slot = (seq / 3) % SLOTS;
    let fill = |n: u64| {
        let c = char::from(b'a' + u8::try_from(seq % 26).unwrap());
        std::iter::repeat_n(c, usize::try_from(n).unwrap()).collect::<String>()
    };
    match seq % 3 {
        0 => {
            let path = format!("crash/w{t}/r{slot}");
            let body = format!(
                "writer {t} write {seq} {} end {seq}",
                fill(64 + seq * 131 % 4000)
            );
            (
                (Kind::Resource, path.clone()),
                format!("/admin/v0/resources/{path}"),
                body.clone().into_bytes(),
                body,
            )
        }
        1 => {
            let name = format!("crash-w{t}-p{slot}");
            let rego = format!(
                "package policy\nimport rego.v1\n\n# crash test: writer {t} write {seq} {}\ndefault allow := false\n# end {seq}\n",
                fill(seq * 97 % 2000)
            );
            (
                (Kind::Policy, name.clone()),
                format!("/admin/v0/policies/{name}"),
                rego.clone().into_bytes(),
                rego,
            )
        }
        _ => {
            let name = format!("crash-w{t}-v{slot}");
            // Values the admin API accepts (48-byte SNP measurements), new
            // for every write; overwriting a name says replace=true.
            let claim = if seq % 2 == 0 {
                "measurement"
            } else {
                "id_key_digest"
            };
            let values = vec![
                format!("{t:032x}{seq:064x}"),
                format!("{seq:032x}{:064x}", seq * 53),
            ];
            let body = json!({"tee": "snp", "claim": claim, "values": values});
            (
                (Kind::ReferenceValue, name.clone()),
                format!("/admin/v0/reference-values/{name}?replace=true"),
                body.to_string().into_bytes(),
                rv_content("snp", claim, &values),
            )
        }
    }
}

fn rv_content(tee: &str, claim: &str, values: &[String]) -> String {
    format!("{tee}|{claim}|{}", values.join(","))
}

/// Shared between the writers of a round and the thread that kills.
#[derive(Default)]
struct RoundState {
    stop: AtomicBool,
    /// Requests between connect and a complete answer.
    in_flight: AtomicUsize,
    acked: AtomicUsize,
}

/// Writes as fast as the broker answers until it stops answering (or
/// `stop`); returns the next sequence number and what was sent.
fn writer(addr: &str, jwt: &str, t: usize, mut seq: u64, st: &RoundState) -> (u64, Vec<Write>) {
    let auth = [("authorization", jwt)];
    let mut log = Vec::new();
    while !st.stop.load(Ordering::SeqCst) {
        let (key, path, body, content) = make_write(t, seq);
        st.in_flight.fetch_add(1, Ordering::SeqCst);
        let sent = send(addr, "PUT", &path, &auth, &body);
        st.in_flight.fetch_sub(1, Ordering::SeqCst);
        seq += 1;
        let outcome = match sent {
            Sent::NotConnected => break,
            Sent::CutOff => Outcome::CutOff,
            Sent::Answer(s, _, _) if (200..300).contains(&s) => {
                st.acked.fetch_add(1, Ordering::SeqCst);
                Outcome::Acked
            }
            Sent::Answer(s, _, b) => {
                eprintln!(
                    "writer {t}: PUT {path} answered {s}: {}",
                    String::from_utf8_lossy(&b)
                );
                Outcome::Refused(s)
            }
        };
        log.push(Write {
            key,
            content,
            outcome,
        });
        if outcome == Outcome::CutOff {
            break;
        }
    }
    (seq, log)
}

/// What is known of one key: the value confirmed by the last read-back
/// (`None`: absent), and the writes sent since.
#[derive(Default)]
struct KeyState {
    confirmed: Option<String>,
    pending: Vec<(String, Outcome)>,
}

/// Every key written, and what may read back.
#[derive(Default)]
struct Model {
    keys: BTreeMap<Key, KeyState>,
}

impl Model {
    fn record(&mut self, w: Write) {
        self.keys
            .entry(w.key)
            .or_default()
            .pending
            .push((w.content, w.outcome));
    }

    /// Checks what was read back for `key` and makes it the confirmed value:
    /// a value read after a restart was durable, so it must stay (or be
    /// overwritten by a later write), and an unacknowledged write found
    /// absent must never appear later.
    /// Returns whether what reads back is a write that was cut off (the
    /// kill came after its commit, before its answer).
    fn check(&mut self, key: &Key, observed: Option<&str>, failures: &mut Vec<String>) -> bool {
        let ks = self.keys.get_mut(key).unwrap();
        let cut_off_landed = observed.is_some_and(|v| {
            ks.pending
                .iter()
                .any(|(c, o)| *o == Outcome::CutOff && c == v)
        });
        let last_ack = ks.pending.iter().rposition(|(_, o)| *o == Outcome::Acked);
        let in_pending =
            |from: usize| observed.is_some_and(|v| ks.pending[from..].iter().any(|(c, _)| c == v));
        let ok = match last_ack {
            // The last acknowledged value, or a later write that was in flight.
            Some(i) => in_pending(i),
            // The value from before, or any write since (each whole).
            None => observed == ks.confirmed.as_deref() || in_pending(0),
        };
        if !ok {
            let describe = |v: Option<&str>| match v {
                None => "absent".to_owned(),
                Some(v) => {
                    let head: String = v.chars().take(60).collect();
                    format!("{head:?} ({} bytes)", v.len())
                }
            };
            let older = observed.is_some_and(|v| {
                ks.pending.iter().any(|(c, _)| c == v) || ks.confirmed.as_deref() == Some(v)
            });
            failures.push(format!(
                "{key:?}: read back {} ({}); last acknowledged {}; writes since the last read-back: {:?}",
                describe(observed),
                if observed.is_none() {
                    "acknowledged write lost"
                } else if older {
                    "an older value than the last acknowledged"
                } else {
                    "a value never written whole: torn or mixed"
                },
                describe(last_ack.map(|i| ks.pending[i].0.as_str())),
                ks.pending.iter().map(|(_, o)| *o).collect::<Vec<_>>(),
            ));
        }
        ks.confirmed = observed.map(str::to_owned);
        ks.pending.clear();
        cut_off_landed
    }
}

/// A simulated guest's attested session: its cookie and its key.
struct Guest {
    cookie: String,
    key: agreement::PrivateKey,
}

fn attest(sim: &SimKey, addr: &str) -> Guest {
    let (st, head, body) = match send(
        addr,
        "POST",
        "/kbs/v0/auth",
        &[],
        json!({"version": "0.4.0", "tee": sim::TEE_NAME, "extra-params": {}})
            .to_string()
            .as_bytes(),
    ) {
        Sent::Answer(st, head, body) => (st, head, body),
        _ => panic!("auth: no answer"),
    };
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
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
    let ev = sim.evidence(&M, &[], &rd).unwrap();
    let att = json!({"runtime-data": runtime, "tee-evidence": {"primary_evidence": ev, "additional_evidence": ""}});
    let (st, body) = request(
        addr,
        "POST",
        "/kbs/v0/attest",
        &[("cookie", &cookie)],
        att.to_string().as_bytes(),
    );
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    Guest { cookie, key }
}

/// A resource's value as released to the attested guest; `None` when the
/// broker has no such resource.
fn fetch(g: &Guest, addr: &str, path: &str) -> Option<String> {
    let (st, body) = request(
        addr,
        "GET",
        &format!("/kbs/v0/resource/{path}"),
        &[("cookie", &g.cookie)],
        b"",
    );
    match st {
        200 => {
            let resp: kbs_types::Response = serde_json::from_slice(&body).unwrap();
            let plain = rootline_broker::jwe::decrypt_ec(&g.key, &resp).unwrap();
            Some(String::from_utf8(plain).unwrap())
        }
        404 => None,
        _ => panic!(
            "resource {path}: {st} {} (a value that does not open is a torn write)",
            String::from_utf8_lossy(&body)
        ),
    }
}

/// Reads everything back from a freshly restarted broker and checks it
/// against the model; panics with every violation found. Returns how many
/// entries read back, and how many of them are cut-off writes.
fn read_back(addr: &str, jwt: &str, sim: &SimKey, model: &mut Model) -> (usize, usize) {
    let auth = [("authorization", jwt)];
    let list = |what: &str| {
        let (st, body) = request(addr, "GET", &format!("/admin/v0/{what}"), &auth, b"");
        assert_eq!(st, 200, "list {what}: {}", String::from_utf8_lossy(&body));
        serde_json::from_slice::<Value>(&body).unwrap()
    };
    let resources: BTreeSet<String> = list("resources")
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap().to_owned())
        .collect();
    let policies: BTreeSet<String> = list("policies")
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect();
    let rvs: HashMap<String, String> = list("reference-values")
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let values: Vec<String> = r["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect();
            (
                r["name"].as_str().unwrap().to_owned(),
                rv_content(
                    r["tee"].as_str().unwrap(),
                    r["claim"].as_str().unwrap(),
                    &values,
                ),
            )
        })
        .collect();
    let guest = attest(sim, addr);
    let mut failures = Vec::new();
    let mut present: BTreeSet<Key> = BTreeSet::new();
    let mut cut_off_landed = 0;
    let keys: Vec<Key> = model.keys.keys().cloned().collect();
    for key in &keys {
        let observed = match key.0 {
            Kind::Resource => fetch(&guest, addr, &key.1),
            Kind::Policy => {
                let (st, body) = request(
                    addr,
                    "GET",
                    &format!("/admin/v0/policies/{}", key.1),
                    &auth,
                    b"",
                );
                match st {
                    200 => Some(String::from_utf8(body).unwrap()),
                    404 => None,
                    _ => panic!("policy {}: {st} {}", key.1, String::from_utf8_lossy(&body)),
                }
            }
            Kind::ReferenceValue => rvs.get(&key.1).cloned(),
        };
        if observed.is_some() {
            present.insert(key.clone());
        }
        cut_off_landed += usize::from(model.check(key, observed.as_deref(), &mut failures));
    }
    // The listings name exactly what reads back.
    let names = |kind: Kind| -> BTreeSet<String> {
        present
            .iter()
            .filter(|k| k.0 == kind)
            .map(|k| k.1.clone())
            .collect()
    };
    for (kind, listed) in [
        (Kind::Resource, resources),
        (Kind::Policy, policies),
        (
            Kind::ReferenceValue,
            rvs.keys().cloned().collect::<BTreeSet<_>>(),
        ),
    ] {
        let found = names(kind);
        if listed != found {
            failures.push(format!(
                "{kind:?} listing {listed:?} differs from what reads back {found:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} violation(s) after a kill -9:\n{}",
        failures.len(),
        failures.join("\n")
    );
    (present.len(), cut_off_landed)
}

/// `PRAGMA integrity_check` on the killed broker's SQLite file, opened
/// read-only by the `sqlite3` shell; false when the shell is not installed.
fn sqlite_integrity_check(db: &Path) -> bool {
    let out = match Command::new("sqlite3")
        .arg("-readonly")
        .arg(db)
        .arg("PRAGMA integrity_check;")
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return false,
        Err(e) => panic!("sqlite3: {e}"),
    };
    assert!(
        out.status.success(),
        "sqlite3 integrity_check: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.trim(), "ok", "SQLite file corrupted after kill -9");
    true
}

/// Per round: writes sent, acknowledged, refused, cut off; in flight at
/// the kill.
struct RoundReport {
    delay_ms: u64,
    sent: usize,
    acked: usize,
    refused: usize,
    cut_off: usize,
    in_flight_at_kill: usize,
}

/// The whole test against one store (`store` names it in the output):
/// `args` start `rootline serve` on it.
fn crash_rounds(
    store: &str,
    dir: &Path,
    args: &[String],
    envs: &[(&str, &str)],
    sqlite_db: Option<&Path>,
) {
    let started = Instant::now();
    let out = Command::new(bin())
        .current_dir(dir)
        .args(["admin", "keygen", "admin.key"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let pkcs8 =
        rootline_broker::keys::private_key_pem(&std::fs::read(dir.join("admin.key")).unwrap())
            .unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let jwt = format!(
        "Bearer {}",
        rootline_broker::admin::mint(&pkcs8, now, 900).unwrap()
    );
    let (sim, _) = SimKey::generate().unwrap();
    let mut args = args.to_vec();
    args.extend([
        "--admin-public-key".to_owned(),
        dir.join("admin.key.pub").display().to_string(),
        "--sim-root".to_owned(),
        hex::encode(sim.public_key()),
    ]);

    let mut model = Model::default();
    let mut srv = Server::start(&args, envs);
    // The guest's reference value and one resource, before any kill.
    let auth = [("authorization", jwt.as_str())];
    let rv = json!({"tee": sim::TEE_NAME, "claim": "measurement", "values": [hex::encode(M)]});
    let (st, _) = request(
        &srv.addr,
        "PUT",
        "/admin/v0/reference-values/sim-m",
        &auth,
        rv.to_string().as_bytes(),
    );
    assert_eq!(st, 200);
    let (st, _) = request(
        &srv.addr,
        "PUT",
        "/admin/v0/resources/crash/setup/r",
        &auth,
        b"set up before any kill",
    );
    assert_eq!(st, 200);
    for (key, content) in [
        (
            (Kind::ReferenceValue, "sim-m".to_owned()),
            rv_content(sim::TEE_NAME, "measurement", &[hex::encode(M)]),
        ),
        (
            (Kind::Resource, "crash/setup/r".to_owned()),
            "set up before any kill".to_owned(),
        ),
    ] {
        model.record(Write {
            key,
            content,
            outcome: Outcome::Acked,
        });
    }

    let mut seqs = [0u64; WRITERS];
    let mut reports = Vec::new();
    let mut integrity_checked = 0;
    for round in 0..ROUNDS {
        let st = Arc::new(RoundState::default());
        let handles: Vec<_> = (0..WRITERS)
            .map(|t| {
                let (addr, jwt, st, seq) = (srv.addr.clone(), jwt.clone(), st.clone(), seqs[t]);
                std::thread::spawn(move || writer(&addr, &jwt, t, seq, &st))
            })
            .collect();
        // Writers under way: some writes acknowledged; then a random delay.
        let deadline = Instant::now() + Duration::from_secs(30);
        while st.acked.load(Ordering::SeqCst) < 3 {
            assert!(Instant::now() < deadline, "the writers made no progress");
            std::thread::sleep(Duration::from_millis(1));
        }
        let delay_ms = 20 + random_u64() % 400;
        std::thread::sleep(Duration::from_millis(delay_ms));
        let in_flight_at_kill = st.in_flight.load(Ordering::SeqCst);
        kill_9(&mut srv);
        st.stop.store(true, Ordering::SeqCst);
        let mut report = RoundReport {
            delay_ms,
            sent: 0,
            acked: 0,
            refused: 0,
            cut_off: 0,
            in_flight_at_kill,
        };
        for (t, h) in handles.into_iter().enumerate() {
            let (next, log) = h.join().unwrap();
            seqs[t] = next;
            for w in log {
                report.sent += 1;
                match w.outcome {
                    Outcome::Acked => report.acked += 1,
                    Outcome::Refused(_) => report.refused += 1,
                    Outcome::CutOff => report.cut_off += 1,
                }
                model.record(w);
            }
        }
        if let Some(db) = sqlite_db {
            integrity_checked += usize::from(sqlite_integrity_check(db));
        }
        // Restart on the same store; everything reads back.
        srv = Server::start(&args, envs);
        let (present, landed) = read_back(&srv.addr, &jwt, &sim, &mut model);
        eprintln!(
            "{store} round {round}: killed after {} ms: {} writes sent, {} acknowledged, {} refused, {} cut off ({landed} of them committed); {} in flight at the kill; {present} entries read back",
            report.delay_ms,
            report.sent,
            report.acked,
            report.refused,
            report.cut_off,
            report.in_flight_at_kill
        );
        reports.push(report);
    }
    if sqlite_db.is_some() {
        if integrity_checked == 0 {
            eprintln!("{store}: NOTE: no sqlite3 shell: PRAGMA integrity_check skipped");
        } else {
            eprintln!("{store}: PRAGMA integrity_check ok after {integrity_checked} kills");
        }
    }
    eprintln!(
        "{store}: {ROUNDS} rounds in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // The kills came mid-write: requests were outstanding and cut off.
    assert!(
        reports.iter().any(|r| r.cut_off > 0),
        "no kill cut off a request: the test did not kill mid-write"
    );
    // Every refusal would be a broker error under load, not a crash effect.
    assert_eq!(
        reports.iter().map(|r| r.refused).sum::<usize>(),
        0,
        "admin writes were refused while the broker ran"
    );
}

#[test]
fn admin_writes_survive_kill_9_mid_write_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    crash_rounds(
        "sqlite",
        dir.path(),
        &["--data-dir".to_owned(), data.display().to_string()],
        &[],
        Some(&data.join("broker.db")),
    );
}

#[test]
fn admin_writes_survive_kill_9_mid_write_on_postgres() {
    let Some(pg) = Postgres::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let kek = hex::encode([7u8; 32]);
    crash_rounds(
        "postgres",
        dir.path(),
        &[
            "--data-dir".to_owned(),
            dir.path().join("data").display().to_string(),
            "--database-url".to_owned(),
            pg.url(),
        ],
        &[("ROOTLINE_KEK", &kek)],
        None,
    );
}

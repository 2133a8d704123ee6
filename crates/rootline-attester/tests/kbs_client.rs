//! The KBS client against a scripted broker on 127.0.0.1 (port 0): the
//! handshake's wire shapes and binding, guest-like retries (transient
//! failures retried, refusals not), and the session cookie carried along.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rootline_attester::kbs::{KbsClient, Retry, binding};
use rootline_attester::sim::SimAttester;
use serde_json::{Value, json};

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    cookie: Option<String>,
    body: Value,
}

/// A scripted broker: `answer` maps (request number for that path, request)
/// to (status, extra headers, body).
type Answer = dyn Fn(usize, &Seen) -> (u16, Vec<String>, String) + Send + Sync;

fn serve(answer: Arc<Answer>) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::<Seen>::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                continue;
            }
            let mut parts = line.split_whitespace();
            let (method, path) = (
                parts.next().unwrap().to_owned(),
                parts.next().unwrap().to_owned(),
            );
            let (mut len, mut cookie) = (0usize, None);
            loop {
                let mut h = String::new();
                r.read_line(&mut h).unwrap();
                let h = h.trim_end();
                if h.is_empty() {
                    break;
                }
                let (k, v) = h.split_once(':').unwrap();
                match k.to_ascii_lowercase().as_str() {
                    "content-length" => len = v.trim().parse().unwrap(),
                    "cookie" => cookie = Some(v.trim().to_owned()),
                    _ => {}
                }
            }
            let mut body = vec![0; len];
            r.read_exact(&mut body).unwrap();
            let req = Seen {
                method,
                path: path.clone(),
                cookie,
                body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            };
            let n = {
                let mut g = log.lock().unwrap();
                g.push(req.clone());
                g.iter().filter(|x| x.path == path).count()
            };
            let (status, headers, body) = answer(n, &req);
            let mut resp = format!(
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\nContent-Type: application/json\r\n",
                body.len()
            );
            for h in headers {
                resp.push_str(&h);
                resp.push_str("\r\n");
            }
            resp.push_str("\r\n");
            resp.push_str(&body);
            let _ = s.write_all(resp.as_bytes());
        }
    });
    (url, seen)
}

fn challenge() -> (u16, Vec<String>, String) {
    (
        200,
        vec!["Set-Cookie: kbs-session-id=sess-1; Path=/kbs; HttpOnly".into()],
        json!({"nonce": "bm9uY2U=", "extra-params": {"selected-hash-algorithm": "sha384"}})
            .to_string(),
    )
}

fn problem(status: u16, detail: &str) -> (u16, Vec<String>, String) {
    (
        status,
        vec![],
        json!({"type": "about:blank", "status": status, "detail": detail}).to_string(),
    )
}

fn client(url: &str) -> KbsClient {
    let mut c = KbsClient::new(url, None).unwrap();
    c.retry = Retry {
        handshake: 5,
        resource: 3,
        delay: Duration::from_millis(10),
    };
    c
}

/// A payload-only JWT for the scripted token.
const TOKEN: &str =
    "eyJhbGciOiJFUzI1NiJ9.eyJzdWJtb2RzIjp7ImNwdTAiOnsiZWFyLnN0YXR1cyI6ImFmZmlybWluZyJ9fX0.c2ln";

#[test]
fn handshake_shapes_binding_and_transient_retries() {
    // /attest fails twice with 503, then succeeds.
    let (url, seen) = serve(Arc::new(|n, req: &Seen| match req.path.as_str() {
        "/kbs/v0/auth" => challenge(),
        "/kbs/v0/attest" if n <= 2 => problem(503, "busy"),
        "/kbs/v0/attest" => (200, vec![], json!({"token": TOKEN}).to_string()),
        _ => problem(404, "no"),
    }));
    let (mut sim, _) = SimAttester::generate([7; 48]).unwrap();
    let session = client(&url).attest(&mut sim).unwrap();
    assert_eq!(session.token, TOKEN);
    assert_eq!(
        session.claims().unwrap()["submods"]["cpu0"]["ear.status"],
        "affirming"
    );

    let seen = seen.lock().unwrap();
    let auths: Vec<&Seen> = seen.iter().filter(|s| s.path == "/kbs/v0/auth").collect();
    let attests: Vec<&Seen> = seen.iter().filter(|s| s.path == "/kbs/v0/attest").collect();
    assert_eq!(
        (auths.len(), attests.len()),
        (3, 3),
        "a new handshake per attempt"
    );
    assert_eq!(auths[0].method, "POST");
    assert_eq!(auths[0].body["version"], "0.4.0");
    assert_eq!(auths[0].body["tee"], "rootline-sim");
    let a = attests.last().unwrap();
    assert_eq!(a.cookie.as_deref(), Some("kbs-session-id=sess-1"));
    let rd = &a.body["runtime-data"];
    assert_eq!(rd["nonce"], "bm9uY2U=");
    assert_eq!(rd["tee-pubkey"]["kty"], "EC");
    assert_eq!(rd["tee-pubkey"]["crv"], "P-256");
    assert_eq!(rd["tee-pubkey"]["alg"], "ECDH-ES+A256KW");
    assert_eq!(a.body["tee-evidence"]["additional_evidence"], "");
    // The simulated report carries SHA-384(JCS(runtime-data)), zero-padded.
    let report = hex::decode(
        a.body["tee-evidence"]["primary_evidence"]["report"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let want = binding(rd, "sha384").unwrap();
    assert_eq!(&report[88..136], &want[..]);
    assert!(report[136..].iter().all(|b| *b == 0));
}

#[test]
fn refusals_are_final_and_transient_failures_give_up() {
    // A 403 on /attest: one attempt only, the detail kept.
    let (url, seen) = serve(Arc::new(|_, req: &Seen| match req.path.as_str() {
        "/kbs/v0/auth" => challenge(),
        _ => problem(403, "evidence bound to another key"),
    }));
    let (mut sim, _) = SimAttester::generate([7; 48]).unwrap();
    let e = client(&url).attest(&mut sim).unwrap_err();
    assert_eq!(e.status(), Some(403));
    assert!(
        e.to_string().contains("evidence bound to another key"),
        "{e}"
    );
    assert_eq!(seen.lock().unwrap().len(), 2);

    // Always 500: five handshakes, then the error.
    let (url, seen) = serve(Arc::new(|_, req: &Seen| match req.path.as_str() {
        "/kbs/v0/auth" => challenge(),
        _ => problem(500, "down"),
    }));
    let e = client(&url).attest(&mut sim).unwrap_err();
    assert_eq!(e.status(), Some(500));
    let n = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.path == "/kbs/v0/attest")
        .count();
    assert_eq!(n, 5);

    // Resources: 500 three times then give up; 404 once; the cookie and
    // the bearer token travel with each GET.
    let (url, seen) = serve(Arc::new(|_, req: &Seen| match req.path.as_str() {
        "/kbs/v0/auth" => challenge(),
        "/kbs/v0/attest" => (200, vec![], json!({"token": TOKEN}).to_string()),
        "/kbs/v0/resource/default/key/flaky" => problem(500, "down"),
        _ => problem(404, "no such resource"),
    }));
    let c = client(&url);
    let s = c.attest(&mut sim).unwrap();
    assert_eq!(
        c.get_resource(&s, "kbs:///default/key/flaky")
            .unwrap_err()
            .status(),
        Some(500)
    );
    assert_eq!(
        c.get_resource(&s, "default/key/none").unwrap_err().status(),
        Some(404)
    );
    let seen = seen.lock().unwrap();
    let gets: Vec<&Seen> = seen.iter().filter(|x| x.method == "GET").collect();
    assert_eq!(gets.len(), 4);
    assert!(
        gets.iter()
            .all(|g| g.cookie.as_deref() == Some("kbs-session-id=sess-1"))
    );
    // A broker that answers garbage where a challenge belongs.
    let (url, _) = serve(Arc::new(|_, _: &Seen| (200, vec![], "{}".into())));
    assert!(client(&url).attest(&mut sim).is_err());
}

/// A POST's head and body reach the broker in one write (as from guests'
/// hyper-based clients), so the broker's first read holds the whole request.
#[test]
fn a_request_arrives_in_one_write() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let first_reads = Arc::new(Mutex::new(Vec::<Vec<u8>>::new()));
    let log = first_reads.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            // The request is read once; the client writes nothing more
            // before it reads the answer.
            let mut buf = vec![0; 64 * 1024];
            let n = s.read(&mut buf).unwrap_or(0);
            buf.truncate(n);
            log.lock().unwrap().push(buf);
            let (status, headers, body) = challenge();
            let resp = format!(
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n{}\r\n\r\n{body}",
                body.len(),
                headers.join("\r\n")
            );
            let _ = s.write_all(resp.as_bytes());
        }
    });
    let (mut sim, _) = SimAttester::generate([7; 48]).unwrap();
    let mut c = client(&url);
    c.retry = Retry::none();
    // /attest is answered with a challenge, which is not a token: the
    // attempt fails after the broker has read the request.
    assert!(c.attest(&mut sim).is_err());
    let reads = first_reads.lock().unwrap();
    assert_eq!(reads.len(), 2, "auth and attest");
    for r in reads.iter() {
        let text = String::from_utf8_lossy(r);
        let (head, body) = text.split_once("\r\n\r\n").expect("a whole head");
        let len: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse().unwrap())
            })
            .expect("content-length");
        assert!(len > 0, "{head}");
        assert_eq!(body.len(), len, "the body came with the head: {text}");
    }
}

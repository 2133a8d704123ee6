//! A tiny HTTP/1.1 server on 127.0.0.1 port 0 for tests that fetch
//! collateral: routes laid out like AMD KDS or Intel PCS, serving bytes the
//! test reads from the vectors, with rate limiting (429 then success), slow
//! answers, and a count of every request. It listens on loopback only and
//! stops when dropped.

use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// One canned answer.
#[derive(Clone, Debug, Default)]
pub struct Route {
    /// The body of a 200 answer.
    pub body: Vec<u8>,
    /// Extra headers of a 200 answer.
    pub headers: Vec<(String, String)>,
    /// Answer 429 to this many requests before the first 200.
    pub rate_limit_first: u32,
    /// `Retry-After` value sent with those 429s (none when `None`).
    pub retry_after: Option<String>,
    /// Wait this long before answering.
    pub delay: Duration,
    /// Answer this status instead of 200 (0 means 200).
    pub status: u16,
}

impl Route {
    /// A 200 answer with `body`.
    pub fn ok(body: Vec<u8>) -> Self {
        Self {
            body,
            ..Self::default()
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

#[derive(Default)]
struct State {
    routes: HashMap<String, Route>,
    hits: HashMap<String, u32>,
    log: Vec<String>,
    posts: Vec<(String, Vec<u8>)>,
}

/// The running server.
pub struct Server {
    addr: std::net::SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// Percent-encodes a header value the way Intel PCS sends its issuer chains.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Server {
    /// Starts serving `routes`, keyed by request target (`/path?query`); a
    /// key without `?` also matches that path with any query.
    pub fn start(routes: HashMap<String, Route>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| {
            panic!("test server: cannot bind 127.0.0.1:0: {e}");
        });
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let state = Arc::new(Mutex::new(State {
            routes,
            ..State::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (state.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if sp.load(Ordering::Acquire) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let st = st.clone();
                let sp = sp.clone();
                std::thread::spawn(move || serve(conn, &st, &sp));
            }
        });
        Self {
            addr,
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Requests received for a route key.
    pub fn hits(&self, key: &str) -> u32 {
        self.lock().hits.get(key).copied().unwrap_or(0)
    }

    /// Every request target received, in order.
    pub fn requests(&self) -> Vec<String> {
        self.lock().log.clone()
    }

    /// Every POST received (an OCSP request, say): its target and body, in
    /// order.
    pub fn posts(&self) -> Vec<(String, Vec<u8>)> {
        self.lock().posts.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wake the accept loop.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(mut conn: TcpStream, state: &Mutex<State>, stop: &AtomicBool) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 64 * 1024 {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
        }
    }
    let head_end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(buf.len(), |p| p + 4);
    let head = String::from_utf8_lossy(buf.get(..head_end).unwrap_or_default()).into_owned();
    let target = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("/")
        .to_owned();
    let is_post = head.starts_with("POST ");
    // A POST body (bounded by Content-Length) is read whole before answering.
    let want = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0)
        .min(1 << 20);
    let mut body_in = buf.get(head_end..).unwrap_or_default().to_vec();
    while body_in.len() < want {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => body_in.extend_from_slice(chunk.get(..n).unwrap_or_default()),
        }
    }
    if is_post {
        let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
        s.posts.push((target.clone(), body_in));
    }
    let (key, route, n) = {
        let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
        s.log.push(target.clone());
        let path = target.split('?').next().unwrap_or("").to_owned();
        let key = if s.routes.contains_key(&target) {
            target.clone()
        } else {
            path
        };
        let route = s.routes.get(&key).cloned();
        let n = {
            let h = s.hits.entry(key.clone()).or_insert(0);
            *h += 1;
            *h
        };
        (key, route, n)
    };
    let _ = key;
    let (status, headers, body, delay) = match route {
        None => (404, Vec::new(), b"not found".to_vec(), Duration::ZERO),
        Some(r) if n <= r.rate_limit_first => {
            let h = r
                .retry_after
                .map(|v| vec![("Retry-After".to_owned(), v)])
                .unwrap_or_default();
            (429, h, b"Too Many Requests".to_vec(), Duration::ZERO)
        }
        Some(r) => (
            if r.status == 0 { 200 } else { r.status },
            r.headers,
            r.body,
            r.delay,
        ),
    };
    // Sleep in steps so that a dropped server does not wait for a slow route.
    let mut left = delay;
    while !left.is_zero() && !stop.load(Ordering::Acquire) {
        let step = left.min(Duration::from_millis(50));
        std::thread::sleep(step);
        left -= step;
    }
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        429 => "Too Many Requests",
        _ => "Status",
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let _ = conn.write_all(out.as_bytes());
    let _ = conn.write_all(&body);
    let _ = conn.flush();
    let _ = conn.shutdown(Shutdown::Both);
}

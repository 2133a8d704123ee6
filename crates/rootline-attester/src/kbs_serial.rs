//! The KBS protocol over a byte stream instead of a network: a virtio-serial
//! port in a confidential VM (`/dev/virtio-ports/NAME`, which QEMU bridges
//! to a unix socket on the host), or a unix socket.
//!
//! A guest that must not have a network address can still reach its broker:
//! QEMU's `-device virtserialport,chardev=...,name=rootline.kbs` appears in
//! the guest as `/dev/virtio-ports/rootline.kbs`, and the host connects the
//! chardev's unix socket to the broker. The stream carries plain HTTP/1.1,
//! one request at a time on one persistent connection (keep-alive,
//! Content-Length framing): the same [`KbsClient`] (handshake, retries,
//! RFC 7807 errors, JWE) runs over it through a ureq connector that opens
//! the device instead of a TCP socket. Nothing is resolved: the URL's host
//! is a placeholder and never looked up.
//!
//! URLs: `kbs+serial:///dev/virtio-ports/NAME` (a character device) and
//! `kbs+unix:///run/broker.sock` (a unix socket: host-side tests, a broker
//! on the same machine). The confidentiality of the released secret does
//! not depend on the transport: it comes back as a JWE to the attested key.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::unix::fs::FileTypeExt as _;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, LazyBuffers, NextTimeout, Transport,
};

use crate::Error;
use crate::kbs::KbsClient;

/// The host name requests carry (`Host:` header); never resolved.
const PLACEHOLDER_BASE: &str = "http://rootline.kbs";

/// Where a stream URL points: `kbs+serial://PATH` or `kbs+unix://PATH`.
pub fn stream_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("kbs+serial://")
        .or_else(|| url.strip_prefix("kbs+unix://"))?;
    rest.starts_with('/').then(|| PathBuf::from(rest))
}

impl KbsClient {
    /// A client speaking HTTP/1.1 over the character device or unix socket
    /// at `path` (see the module documentation).
    pub fn over_stream(path: &Path) -> Result<Self, Error> {
        let meta = std::fs::metadata(path).map_err(Error::io(path.display()))?;
        let ft = meta.file_type();
        if !(ft.is_char_device() || ft.is_socket()) {
            return Err(Error::malformed(
                "kbs stream",
                format!(
                    "{} is neither a character device (a virtio-serial port) nor a unix socket",
                    path.display()
                ),
            ));
        }
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(120)))
            .build();
        let agent = ureq::Agent::with_parts(
            config,
            StreamConnector {
                path: path.to_path_buf(),
            },
            NoResolver,
        );
        Ok(Self::from_agent(PLACEHOLDER_BASE, agent))
    }

    /// A client for `url`: `kbs+serial://PATH`, `kbs+unix://PATH`, or an
    /// `http(s)://` URL (with `ca_pem` trusted for TLS when given).
    pub fn for_url(url: &str, ca_pem: Option<&[u8]>) -> Result<Self, Error> {
        match stream_path(url) {
            Some(p) => Self::over_stream(&p),
            None if url.starts_with("kbs+") => Err(Error::malformed(
                "kbs url",
                format!("{url:?}: expected kbs+serial:///PATH or kbs+unix:///PATH"),
            )),
            None => Self::new(url, ca_pem),
        }
    }
}

/// Resolves every host to a placeholder address that nothing connects to.
#[derive(Debug)]
struct NoResolver;

impl Resolver for NoResolver {
    fn resolve(
        &self,
        _uri: &ureq::http::Uri,
        _config: &ureq::config::Config,
        _timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let mut v = self.empty();
        v.push(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)));
        Ok(v)
    }
}

/// Opens the stream for each connection ureq makes (one, with keep-alive).
#[derive(Debug)]
struct StreamConnector {
    path: PathBuf,
}

impl Connector for StreamConnector {
    type Out = StreamTransport;

    fn connect(
        &self,
        details: &ConnectionDetails,
        _chained: Option<()>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let is_socket = std::fs::metadata(&self.path)
            .map(|m| m.file_type().is_socket())
            .unwrap_or(false);
        let io = if is_socket {
            Stream::Unix(UnixStream::connect(&self.path)?)
        } else {
            Stream::Device(
                std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(&self.path)?,
            )
        };
        Ok(Some(StreamTransport {
            io,
            buffers: LazyBuffers::new(
                details.config.input_buffer_size(),
                details.config.output_buffer_size(),
            ),
            open: true,
        }))
    }
}

#[derive(Debug)]
enum Stream {
    Device(File),
    Unix(UnixStream),
}

/// One open stream with ureq's buffers.
#[derive(Debug)]
struct StreamTransport {
    io: Stream,
    buffers: LazyBuffers,
    open: bool,
}

impl Transport for StreamTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        if let Stream::Unix(u) = &self.io {
            u.set_write_timeout(timeout.not_zero().map(|t| *t))?;
        }
        let out = self
            .buffers
            .output()
            .get(..amount)
            .ok_or_else(|| ureq::Error::Io(std::io::ErrorKind::InvalidInput.into()))?;
        let r = match &mut self.io {
            Stream::Device(f) => f.write_all(out).and_then(|()| f.flush()),
            Stream::Unix(u) => u.write_all(out),
        };
        if r.is_err() {
            self.open = false;
        }
        Ok(r?)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        // A character device has no read timeout; the guest's own deadline
        // (and QEMU's) bounds a broker that never answers.
        if let Stream::Unix(u) = &self.io {
            u.set_read_timeout(timeout.not_zero().map(|t| *t))?;
        }
        let buf = self.buffers.input_append_buf();
        let n = loop {
            let r = match &mut self.io {
                Stream::Device(f) => f.read(buf),
                Stream::Unix(u) => u.read(buf),
            };
            match r {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.open = false;
                    return Err(e.into());
                }
                Ok(n) => break n,
            }
        };
        if n == 0 {
            self.open = false;
        }
        self.buffers.input_appended(n);
        Ok(n > 0)
    }

    fn is_open(&mut self) -> bool {
        self.open
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn stream_urls() {
        assert_eq!(
            stream_path("kbs+serial:///dev/virtio-ports/rootline.kbs").unwrap(),
            PathBuf::from("/dev/virtio-ports/rootline.kbs")
        );
        assert_eq!(
            stream_path("kbs+unix:///tmp/b.sock").unwrap(),
            PathBuf::from("/tmp/b.sock")
        );
        assert!(stream_path("kbs+serial://relative").is_none());
        assert!(stream_path("http://127.0.0.1:8080").is_none());
        assert!(KbsClient::for_url("kbs+tcp:///x", None).is_err());
        // A regular file is neither a port nor a socket.
        let f = tempfile::NamedTempFile::new().unwrap();
        let e = KbsClient::over_stream(f.path()).unwrap_err();
        assert!(e.to_string().contains("character device"), "{e}");
    }

    /// Two requests over one unix-socket connection: the server sees both on
    /// the same stream (keep-alive, Content-Length framing), and never an
    /// address.
    #[test]
    fn keep_alive_over_a_unix_socket() {
        use std::io::BufRead as _;
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("kbs.sock");
        let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let server = std::thread::spawn(move || {
            let (s, _) = listener.accept().unwrap();
            let mut r = std::io::BufReader::new(s.try_clone().unwrap());
            let mut w = s;
            let mut seen = Vec::new();
            for i in 0..2 {
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                seen.push(line.trim().to_owned());
                let mut len = 0usize;
                loop {
                    let mut h = String::new();
                    r.read_line(&mut h).unwrap();
                    if h == "\r\n" {
                        break;
                    }
                    if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap();
                    }
                }
                let mut body = vec![0u8; len];
                r.read_exact(&mut body).unwrap();
                let answer = format!("{{\"n\":{i}}}");
                write!(
                    w,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
                    answer.len()
                )
                .unwrap();
            }
            seen
        });
        let c = KbsClient::for_url(&format!("kbs+unix://{}", sock.display()), None).unwrap();
        let body = serde_json::json!({"x": 1});
        let (a, _) = c
            .exchange("POST", "/kbs/v0/auth", None, None, Some(&body))
            .unwrap();
        let (b, _) = c
            .exchange("GET", "/kbs/v0/resource/a/b/c", Some("ck"), None, None)
            .unwrap();
        assert_eq!(a, br#"{"n":0}"#);
        assert_eq!(b, br#"{"n":1}"#);
        let seen = server.join().unwrap();
        assert_eq!(
            seen,
            [
                "POST /kbs/v0/auth HTTP/1.1",
                "GET /kbs/v0/resource/a/b/c HTTP/1.1"
            ]
        );
    }
}

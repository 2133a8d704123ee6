//! The on-disk cache: one file per URL under a readable path, written
//! atomically, checked for shape and freshness when read.
//!
//! `https://kdsintf.amd.com/vcek/v1/Milan/cert_chain` is cached at
//! `DIR/kdsintf.amd.com/vcek/v1/Milan/cert_chain`; a query becomes part of
//! the file name after `@` (`tcb@fmspc=B0C06F000000`). An issuer chain sent
//! in a response header sits beside its artifact as `NAME.issuer-chain.pem`.
//! The paths are readable on purpose: `--offline` tells a person exactly
//! which file to put where.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use x509_parser::prelude::{CertificateRevocationList, FromDer, X509Certificate};

use crate::{Error, Kind};

/// Characters kept as they are in a cached file name; anything else becomes `_`.
fn clean(s: &str, extra: &[char]) -> String {
    let out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) || extra.contains(&c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    // A segment of dots only would climb out of the cache folder.
    if out.chars().all(|c| c == '.') {
        out.replace('.', "_")
    } else {
        out
    }
}

/// The cache file for `url` under `dir`.
pub fn cache_path(dir: &Path, url: &str) -> Result<PathBuf, Error> {
    let bad = |reason: &str| Error::Url {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| bad("only http and https URLs can be fetched"))?;
    let (authority, path_query) = rest.split_once('/').unwrap_or((rest, ""));
    if authority.is_empty() || authority.contains('@') {
        return Err(bad("no host, or credentials in the URL"));
    }
    let (path, query) = match path_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_query, None),
    };
    let mut out = dir.join(clean(authority, &[]));
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let Some((last, dirs)) = segments.split_last() else {
        return Err(bad("no path"));
    };
    for s in dirs {
        out.push(clean(s, &[]));
    }
    let mut name = clean(last, &[]);
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        name.push('@');
        name.push_str(&clean(q, &['=', '&']));
    }
    if name.len() > 240 {
        return Err(bad("the URL makes a file name longer than 240 bytes"));
    }
    out.push(name);
    Ok(out)
}

/// Where the issuer chain of the artifact cached at `path` goes.
pub(crate) fn issuer_chain_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".issuer-chain.pem");
    PathBuf::from(s)
}

/// Writes `bytes` to `path` atomically (a temporary file in the same folder,
/// then a rename), creating folders as needed.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let err = |reason: String| Error::Cache {
        path: path.to_owned(),
        reason,
    };
    let dir = path
        .parent()
        .ok_or_else(|| err("no parent folder".into()))?;
    std::fs::create_dir_all(dir).map_err(|e| err(format!("cannot create the folder: {e}")))?;
    let mut tmp =
        tempfile::NamedTempFile::new_in(dir).map_err(|e| err(format!("temporary file: {e}")))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| err(format!("write: {e}")))?;
    tmp.persist(path)
        .map_err(|e| err(format!("rename into place: {}", e.error)))?;
    Ok(())
}

/// Reads a cached file; `None` when it does not exist.
pub(crate) fn read(path: &Path) -> Result<Option<Vec<u8>>, Error> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::Cache {
            path: path.to_owned(),
            reason: e.to_string(),
        }),
    }
}

/// Checks that `bytes` are an artifact of `kind` (so an error page is never
/// cached) and returns them normalised (a PCCS's hex root CRL becomes DER)
/// with the artifact's nextUpdate, when it has one.
pub(crate) fn check(kind: Kind, bytes: &[u8]) -> Result<(Vec<u8>, Option<i64>), String> {
    match kind {
        Kind::Certificate => {
            let der = if bytes.starts_with(b"-----BEGIN") {
                pem_blocks(bytes, "CERTIFICATE")?
                    .into_iter()
                    .next()
                    .ok_or("no PEM certificate")?
            } else {
                bytes.to_vec()
            };
            match X509Certificate::from_der(&der) {
                Ok(([], _)) => Ok((der, None)),
                Ok((rest, _)) => Err(format!("{} bytes after the certificate", rest.len())),
                Err(e) => Err(format!("not a DER certificate: {e}")),
            }
        }
        Kind::CertChain => {
            let certs = pem_blocks(bytes, "CERTIFICATE")?;
            if certs.is_empty() {
                return Err("no PEM certificate".into());
            }
            for c in &certs {
                X509Certificate::from_der(c).map_err(|e| format!("certificate: {e}"))?;
            }
            Ok((bytes.to_vec(), None))
        }
        Kind::Crl | Kind::RootCaCrl => {
            let der = if bytes.first() == Some(&0x30) {
                bytes.to_vec()
            } else if bytes.starts_with(b"-----BEGIN") {
                pem_blocks(bytes, "X509 CRL")?
                    .into_iter()
                    .next()
                    .ok_or("no PEM CRL")?
            } else {
                let text = std::str::from_utf8(bytes).map_err(|_| "neither DER nor hex text")?;
                hex::decode(text.trim()).map_err(|_| "neither DER nor hex text")?
            };
            let next = match CertificateRevocationList::from_der(&der) {
                Ok(([], crl)) => crl.next_update().map(|t| t.timestamp()),
                Ok((rest, _)) => return Err(format!("{} bytes after the CRL", rest.len())),
                Err(e) => return Err(format!("not a DER CRL: {e}")),
            };
            Ok((der, next))
        }
        Kind::OcspResponse => {
            // The shape and the status only: the signature and the
            // certificate it is about are the verifier's to check.
            let r = rootline_nvidia::ocsp::OcspResponse::parse(bytes)
                .map_err(|e| format!("not a usable OCSP response: {e}"))?;
            Ok((bytes.to_vec(), r.next_update()))
        }
        Kind::TcbInfo | Kind::QeIdentity => {
            let field = if kind == Kind::TcbInfo {
                "tcbInfo"
            } else {
                "enclaveIdentity"
            };
            let v: serde_json::Value =
                serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
            let body = v.get(field).ok_or_else(|| format!("no {field:?} object"))?;
            if !v.get("signature").is_some_and(|s| s.is_string()) {
                return Err("no \"signature\" string".into());
            }
            let next = body
                .get("nextUpdate")
                .and_then(|n| n.as_str())
                .ok_or("no nextUpdate")?;
            let t =
                time::OffsetDateTime::parse(next, &time::format_description::well_known::Rfc3339)
                    .map_err(|e| format!("nextUpdate {next:?}: {e}"))?;
            Ok((bytes.to_vec(), Some(t.unix_timestamp())))
        }
    }
}

/// The DER contents of the PEM blocks labelled `label`.
pub(crate) fn pem_blocks(bytes: &[u8], label: &str) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    for p in x509_parser::pem::Pem::iter_from_buffer(bytes) {
        let p = p.map_err(|e| format!("PEM: {e}"))?;
        if p.label == label {
            out.push(p.contents);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn cache_paths_are_readable_and_stay_inside_the_folder() {
        let d = Path::new("/c");
        assert_eq!(
            cache_path(d, "https://kdsintf.amd.com/vcek/v1/Milan/cert_chain").unwrap(),
            Path::new("/c/kdsintf.amd.com/vcek/v1/Milan/cert_chain")
        );
        assert_eq!(
            cache_path(
                d,
                "http://127.0.0.1:8080/tdx/certification/v4/tcb?fmspc=B0C06F000000"
            )
            .unwrap(),
            Path::new("/c/127.0.0.1_8080/tdx/certification/v4/tcb@fmspc=B0C06F000000")
        );
        let p = cache_path(d, "http://h/../../etc/passwd").unwrap();
        assert!(p.starts_with("/c/h"), "{}", p.display());
        assert!(!p.components().any(|c| c.as_os_str() == ".."));
        assert!(cache_path(d, "ftp://h/x").is_err());
        assert!(cache_path(d, "http://user@h/x").is_err());
        assert!(cache_path(d, "http://h").is_err());
    }

    #[test]
    fn error_pages_are_not_taken_for_artifacts() {
        let html = b"<html>rate limited</html>";
        for k in [
            Kind::Certificate,
            Kind::CertChain,
            Kind::Crl,
            Kind::RootCaCrl,
            Kind::TcbInfo,
            Kind::QeIdentity,
            Kind::OcspResponse,
        ] {
            assert!(check(k, html).is_err(), "{k:?}");
        }
        assert!(check(Kind::TcbInfo, br#"{"tcbInfo":{}, "signature":"00"}"#).is_err());
    }
}

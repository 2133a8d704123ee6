//! Collateral as a portable set: what `rootline collateral export` writes
//! and `import` reads, to seed an air-gapped verifier or broker with what a
//! connected one fetched. Artifacts are named by the URL they are served at
//! (the key of the on-disk cache and of the broker's shared cache), so an
//! imported artifact is found exactly where a fetch would have put it.
//!
//! An imported artifact is checked to be what its URL says (a DER
//! certificate, a CRL, a signed TCB info...) before it is written, like a
//! downloaded one, and verified against the pinned roots when used.

use std::path::{Path, PathBuf};

use crate::cache::{self, cache_path, issuer_chain_path};
use crate::{Error, Kind};

/// One artifact: its URL, its bytes as cached (CRLs in DER), its issuer
/// chain (PEM) when it has one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Where it is served.
    pub url: String,
    /// The artifact.
    pub body: Vec<u8>,
    /// Its issuer chain.
    pub chain: Option<Vec<u8>>,
}

/// What the artifact at `url` is, from the KDS and PCS/PCCS path layouts
/// and the names of OCSP artifacts ([`crate::nvidia::ocsp`]); `None` for a
/// URL none of them serves collateral at.
pub fn kind_of_url(url: &str) -> Option<Kind> {
    if url.contains(crate::nvidia::OCSP_SEGMENT) {
        return crate::nvidia::post_of(url).map(|_| Kind::OcspResponse);
    }
    let path = url.split('?').next().unwrap_or(url);
    let kds = path.contains("/vcek/v1/") || path.contains("/vlek/v1/");
    if kds && path.ends_with("/cert_chain") {
        Some(Kind::CertChain)
    } else if kds && path.ends_with("/crl") {
        Some(Kind::Crl)
    } else if kds {
        Some(Kind::Certificate)
    } else if path.ends_with("/pckcrl") {
        Some(Kind::Crl)
    } else if path.ends_with("/rootcacrl") || path.ends_with("/IntelSGXRootCA.der") {
        Some(Kind::RootCaCrl)
    } else if path.ends_with("/tcb") {
        Some(Kind::TcbInfo)
    } else if path.ends_with("/qe/identity") {
        Some(Kind::QeIdentity)
    } else {
        None
    }
}

/// Whether the artifact at `url` comes with an issuer chain.
fn wants_chain(url: &str, kind: Kind) -> bool {
    matches!(kind, Kind::TcbInfo | Kind::QeIdentity)
        || (kind == Kind::Crl && url.split('?').next().unwrap_or(url).ends_with("/pckcrl"))
}

/// Checks that `e` is the artifact its URL names, with its issuer chain when
/// it needs one; returns it normalised (a PCCS's hex root CRL as DER) and
/// its nextUpdate, when it has one.
pub fn check(e: &Entry) -> Result<(Entry, Option<i64>), String> {
    let kind = kind_of_url(&e.url).ok_or_else(|| {
        "the URL is not one AMD KDS, Intel PCS/PCCS or an OCSP responder serves collateral at"
            .to_owned()
    })?;
    let (body, next) = cache::check(kind, &e.body)
        .map_err(|why| format!("expected {}: {why}", kind.describe()))?;
    let chain = match (&e.chain, wants_chain(&e.url, kind)) {
        (Some(c), true) => {
            if cache::pem_blocks(c, "CERTIFICATE")?.is_empty() {
                return Err("the issuer chain holds no PEM certificate".into());
            }
            Some(c.clone())
        }
        (None, true) => return Err(format!("{} needs its issuer chain", kind.describe())),
        (_, false) => None,
    };
    Ok((
        Entry {
            url: e.url.clone(),
            body,
            chain,
        },
        next,
    ))
}

/// The URL an on-disk cache file was fetched from, inferred from its path
/// under `dir` (the inverse of [`cache_path`] for the URLs KDS and PCS use,
/// which hold no character the cache replaces). `https` is assumed; `None`
/// when the path does not round-trip.
fn url_of_cache_file(dir: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(dir).ok()?;
    let parts: Vec<&str> = rel.iter().map(|p| p.to_str()).collect::<Option<_>>()?;
    let (authority, rest) = parts.split_first()?;
    let (name, segs) = rest.split_last()?;
    let (name, query) = match name.split_once('@') {
        Some((n, q)) => (n, Some(q)),
        None => (*name, None),
    };
    let mut url = format!("https://{authority}");
    for s in segs {
        url.push('/');
        url.push_str(s);
    }
    url.push('/');
    url.push_str(name);
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    (cache_path(dir, &url).ok()? == file).then_some(url)
}

/// Every artifact in the on-disk cache `dir` whose URL can be told from its
/// path, and the files that were skipped, with why.
pub fn read_cache_dir(dir: &Path) -> Result<(Vec<Entry>, Vec<String>), Error> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let rd = std::fs::read_dir(&d).map_err(|e| Error::Cache {
            path: d.clone(),
            reason: e.to_string(),
        })?;
        for ent in rd.flatten() {
            let p = ent.path();
            if p.is_dir() {
                stack.push(p);
            } else if !p.to_string_lossy().ends_with(".issuer-chain.pem") {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for f in files {
        let Some(url) = url_of_cache_file(dir, &f) else {
            skipped.push(format!(
                "{}: its URL cannot be told from its name",
                f.display()
            ));
            continue;
        };
        let Some(body) = cache::read(&f)? else {
            continue;
        };
        let chain = cache::read(&issuer_chain_path(&f))?;
        let e = Entry { url, body, chain };
        match check(&e) {
            Ok((e, _)) => out.push(e),
            Err(why) => skipped.push(format!("{}: {why}", f.display())),
        }
    }
    Ok((out, skipped))
}

/// Writes `e` into the on-disk cache `dir` where a fetch of its URL would
/// put it (its chain first); returns the file.
pub fn write_cache_entry(dir: &Path, e: &Entry) -> Result<PathBuf, Error> {
    let path = cache_path(dir, &e.url)?;
    if let Some(c) = &e.chain {
        cache::write_atomic(&issuer_chain_path(&path), c)?;
    }
    cache::write_atomic(&path, &e.body)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::{kds, pcs};

    #[test]
    fn urls_of_every_artifact_round_trip_through_the_cache_path() {
        let dir = Path::new("/cache");
        let urls = [
            kds::vcek(kds::DEFAULT_URL, "Milan", &"ab".repeat(64), &[("blSPL", 3)]).url,
            kds::cert_chain(kds::DEFAULT_URL, "Genoa", "vcek").url,
            kds::crl(kds::DEFAULT_URL, "Turin", "vlek").url,
            pcs::tcb_info(pcs::DEFAULT_URL, true, "00806F050000").url,
            pcs::qe_identity(pcs::DEFAULT_URL, false).url,
            pcs::pck_crl(pcs::DEFAULT_URL, "platform").url,
            pcs::root_ca_crl(pcs::DEFAULT_URL).url,
            crate::nvidia::ocsp(crate::nvidia::DEFAULT_OCSP_URL, &[0x30, 0x00], "x").url,
        ];
        for u in urls {
            let p = cache_path(dir, &u).unwrap();
            assert_eq!(url_of_cache_file(dir, &p).as_deref(), Some(u.as_str()));
            assert!(kind_of_url(&u).is_some(), "{u}");
        }
        assert_eq!(kind_of_url("https://example.com/index.html"), None);
    }

    #[test]
    fn an_entry_must_be_what_its_url_says() {
        let e = Entry {
            url: kds::crl(kds::DEFAULT_URL, "Milan", "vcek").url,
            body: b"<html>rate limited</html>".to_vec(),
            chain: None,
        };
        assert!(check(&e).unwrap_err().contains("CRL"));
        let e = Entry {
            url: pcs::tcb_info(pcs::DEFAULT_URL, true, "00806F050000").url,
            body: br#"{"tcbInfo":{"nextUpdate":"2030-01-01T00:00:00Z"},"signature":"00"}"#.to_vec(),
            chain: None,
        };
        assert!(check(&e).unwrap_err().contains("issuer chain"));
    }
}

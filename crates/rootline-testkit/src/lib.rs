//! Test support: locating the shared real-evidence vectors, a loopback
//! HTTP server ([`server`]) for tests that fetch collateral, and synthetic
//! evidence ([`snp`], [`dcap`], [`cca`], [`nvidia`], [`ocsp`], [`se`]) for tests that need
//! what no real platform signed.
//!
//! The vectors are read in place, never copied into the project. Their folder
//! comes from `ROOTLINE_VECTORS`, or defaults to `../shared/vectors` beside the
//! repository. A test that needs them calls [`vectors`]: on a user's fresh
//! clone without the folder it gets `None` and prints why it skips; under CI
//! (`CI` set) a missing folder is a failure, never a silent skip.

pub mod cca;
pub mod dcap;
pub mod nvidia;
pub mod ocsp;
pub mod postgres;
pub mod se;
pub mod server;
pub mod snp;

use std::path::{Path, PathBuf};

/// The repository root (two levels above any crate's manifest directory).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")))
}

/// The vectors folder, or `None` (with a printed reason) when it is absent
/// outside CI. Panics under CI when the folder is missing, so that CI can
/// never pass by skipping.
pub fn vectors() -> Option<PathBuf> {
    let dir = match std::env::var_os("ROOTLINE_VECTORS") {
        Some(v) => PathBuf::from(v),
        None => repo_root().join("../shared/vectors"),
    };
    if dir.is_dir() {
        return Some(dir);
    }
    let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false");
    if ci {
        panic!(
            "the shared vectors are missing at {} and CI is set: set ROOTLINE_VECTORS",
            dir.display()
        );
    }
    eprintln!(
        "skipping: shared vectors not found at {} (set ROOTLINE_VECTORS to run this test)",
        dir.display()
    );
    None
}

/// A file inside the vectors folder, or `None` as for [`vectors`]. Panics when
/// the folder exists but the file does not: a renamed vector must fail loudly.
pub fn vector(rel: &str) -> Option<PathBuf> {
    let p = vectors()?.join(rel);
    assert!(p.exists(), "vector {} is missing", p.display());
    Some(p)
}

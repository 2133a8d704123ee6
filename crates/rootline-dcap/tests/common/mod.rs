//! Shared helpers for the rootline-dcap tests: reading vectors in place,
//! their expected.json, and turning RFC 3339 times into Unix seconds.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub(crate) mod synth;

use std::path::PathBuf;

use rootline_dcap::CollateralParts;
use serde_json::Value;

pub(crate) fn path(rel: &str) -> Option<PathBuf> {
    rootline_testkit::vector(rel)
}

pub(crate) fn read(rel: &str) -> Option<Vec<u8>> {
    path(rel).map(|p| std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
}

/// The expected.json entry for `file` in `dir`.
pub(crate) fn expected(dir: &str, file: &str) -> Option<Value> {
    let v: Value = serde_json::from_slice(&read(&format!("{dir}/expected.json"))?).unwrap();
    Some(
        v.get(file)
            .unwrap_or_else(|| panic!("{dir}/expected.json has no {file}"))
            .clone(),
    )
}

pub(crate) fn at(rfc3339: &str) -> i64 {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .unwrap()
        .unix_timestamp()
}

/// Collateral from vector files.
pub(crate) fn collateral(files: &[&str]) -> Option<CollateralParts> {
    let mut c = CollateralParts::default();
    for f in files {
        let b = read(f)?;
        c.add(f, &b).unwrap_or_else(|e| panic!("{f}: {e}"));
    }
    Some(c)
}

/// The raw quote from a vector (raw, hex or JSON wrapper).
pub(crate) fn quote(rel: &str) -> Option<Vec<u8>> {
    let b = read(rel)?;
    Some(
        rootline_dcap::evidence::decode(&b)
            .unwrap_or_else(|| panic!("{rel}: not a quote"))
            .quote,
    )
}

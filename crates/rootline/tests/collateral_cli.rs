//! `rootline collateral export|import`: collateral a connected broker's
//! replicas share (its store) moves as one bundle to an air-gapped broker's
//! store and to an on-disk cache, from which `rootline verify --offline`
//! then verifies a real SNP report; a bundle with a bad artifact changes
//! nothing and names the artifact.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

use rootline_broker::store::prelude::*;
use rootline_broker::store::{CollateralRow, SqlStore};
use rootline_collateral::kds;
use serde_json::Value;

const MILAN_HWID: &str = "3ac3fe21e13fb0990eb28a802e3fb6a29483a6b0753590c951bdd3b8e53786184ca39e359669a2b76a1936776b564ea464cdce40c05f63c9b610c5068b006b5d";

fn rootline(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rootline"))
        .args(args)
        .env_remove("ROOTLINE_DATABASE_URL")
        .env_remove("ROOTLINE_OFFLINE")
        .env_remove("ROOTLINE_CACHE_DIR")
        .env_remove("ROOTLINE_KDS_URL")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn store(dir: &Path) -> SqlStore {
    std::fs::create_dir_all(dir).unwrap();
    SqlStore::connect(&format!(
        "sqlite://{}?mode=rwc",
        dir.join("broker.db").display()
    ))
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_seeds_an_air_gapped_broker_and_cache_and_a_bad_one_changes_nothing() {
    let (Some(vcek), Some(chain), Some(report)) = (
        rootline_testkit::vector("snp/go-sev-guest/vcek.der"),
        rootline_testkit::vector("snp/go-sev-guest/ask_ark_milan.pem"),
        rootline_testkit::vector("snp/go-sev-guest/attestation.bin"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // The connected broker's store, as its replicas filled it from AMD KDS.
    let a = store(&dir.path().join("a")).await;
    let vcek_url = kds::vcek(
        kds::DEFAULT_URL,
        "Milan",
        MILAN_HWID,
        &[("blSPL", 2), ("teeSPL", 0), ("snpSPL", 5), ("ucodeSPL", 68)],
    )
    .url;
    let chain_url = kds::cert_chain(kds::DEFAULT_URL, "Milan", "vcek").url;
    for (url, file) in [(&vcek_url, &vcek), (&chain_url, &chain)] {
        let row = CollateralRow {
            body: std::fs::read(file).unwrap(),
            chain: None,
        };
        a.put_collateral(url, &row, 0).await.unwrap();
    }
    drop(a);

    let bundle = dir.path().join("bundle.json");
    let a_dir = dir.path().join("a").display().to_string();
    let (code, out, err) = rootline(&[
        "collateral",
        "export",
        "--data-dir",
        &a_dir,
        "-o",
        bundle.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let summary: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(summary["exported"], 2, "{summary}");
    let doc: Value = serde_json::from_slice(&std::fs::read(&bundle).unwrap()).unwrap();
    assert_eq!(doc["format"], "rootline-collateral/1");

    // Import into a broker that has not run yet, and into a verifier's cache.
    let b_dir = dir.path().join("b");
    let cache = dir.path().join("cache");
    let (code, out, err) = rootline(&[
        "collateral",
        "import",
        bundle.to_str().unwrap(),
        "--data-dir",
        b_dir.to_str().unwrap(),
        "--cache-dir",
        cache.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("imported 2 artifacts"), "{out}");
    let b = store(&b_dir).await;
    let rows = b.list_collateral().await.unwrap();
    assert_eq!(rows.iter().map(|(u, _)| u.as_str()).collect::<Vec<_>>(), {
        let mut v = vec![chain_url.as_str(), vcek_url.as_str()];
        v.sort();
        v
    });
    let vcek_row = rows.iter().find(|(u, _)| *u == vcek_url).unwrap();
    assert!(vcek_row.1.body == std::fs::read(&vcek).unwrap());

    // The cache serves an offline verification of the real report.
    let (code, out, err) = rootline(&[
        "verify",
        report.to_str().unwrap(),
        "--offline",
        "--cache-dir",
        cache.to_str().unwrap(),
        "--at",
        "2026-06-01T00:00:00Z",
        "--json",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["verified"], true, "{v:#}");
    assert!(err.contains("from the cache"), "{err}");

    // A bundle whose chain is not a certificate chain: refused, naming it,
    // and nothing of it is written (not even the good artifact before it).
    let mut bad = doc.clone();
    let arts = bad["artifacts"].as_array_mut().unwrap();
    let i = arts
        .iter()
        .position(|a| a["url"].as_str().unwrap().ends_with("/cert_chain"))
        .unwrap();
    arts[i]["body_base64"] = Value::String("PGh0bWw+ZXJyb3I8L2h0bWw+".into());
    let bad_file = dir.path().join("bad.json");
    std::fs::write(&bad_file, serde_json::to_vec(&bad).unwrap()).unwrap();
    let c_dir = dir.path().join("c");
    let (code, out, err) = rootline(&[
        "collateral",
        "import",
        bad_file.to_str().unwrap(),
        "--data-dir",
        c_dir.to_str().unwrap(),
    ]);
    assert_ne!(code, 0, "{out}{err}");
    assert!(
        err.contains(&format!("artifacts[{i}]")) && err.contains("cert_chain"),
        "{err}"
    );
    let c = store(&c_dir).await;
    assert!(c.list_collateral().await.unwrap().is_empty());

    // Nothing to export from: said, with what to pass.
    let (code, _, err) = rootline(&["collateral", "export", "-o", "-"]);
    assert_ne!(code, 0);
    assert!(err.contains("--data-dir"), "{err}");
}

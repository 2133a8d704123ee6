//! `rootline verify` fetching its collateral from a loopback server laid out
//! like AMD KDS and Intel PCS (PCCS flavour), serving the real vectors read
//! in place: the verdict must equal the one given the same collateral as
//! files; a second run must be served from the cache; `--offline` must name
//! what is missing; rate limits, slow answers and timeouts are survived.
//! Never any address but 127.0.0.1.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use rootline_testkit::server::{Route, Server, url_encode};
use serde_json::Value;

fn read(rel: &str) -> Option<Vec<u8>> {
    Some(std::fs::read(rootline_testkit::vector(rel)?).unwrap())
}

fn vpath(rel: &str) -> String {
    rootline_testkit::vector(rel)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned()
}

/// Runs `rootline verify ARGS --json` with fetching pointed at `url` (or an
/// unroutable placeholder) and `cache`; returns exit code, JSON, stderr.
fn verify(url: Option<&str>, cache: &Path, args: &[&str]) -> (i32, Value, String) {
    let base = url.unwrap_or("http://127.0.0.1:9");
    let out = Command::new(env!("CARGO_BIN_EXE_rootline"))
        .arg("verify")
        .args(args)
        .args([
            "--json",
            "--kds-url",
            base,
            "--pcs-url",
            base,
            "--cache-dir",
        ])
        .arg(cache)
        .env_remove("ROOTLINE_OFFLINE")
        .env_remove("ROOTLINE_KDS_URL")
        .env_remove("ROOTLINE_PCS_URL")
        .env_remove("ROOTLINE_CACHE_DIR")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{stderr}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (out.status.code().unwrap(), json, stderr)
}

/// The parts of the verdict that must not depend on where collateral came from.
fn verdict(j: &Value) -> Value {
    serde_json::json!({
        "tee": j["tee"], "verified": j["verified"], "error": j["error"],
        "tcb_status": j["tcb_status"], "advisory_ids": j["advisory_ids"], "claims": j["claims"],
    })
}

const MILAN_HWID: &str = "3ac3fe21e13fb0990eb28a802e3fb6a29483a6b0753590c951bdd3b8e53786184ca39e359669a2b76a1936776b564ea464cdce40c05f63c9b610c5068b006b5d";

#[test]
fn snp_collateral_is_fetched_from_kds_then_cached() {
    let (Some(vcek), Some(chain)) = (
        read("snp/go-sev-guest/vcek.der"),
        read("snp/go-sev-guest/ask_ark_milan.pem"),
    ) else {
        return;
    };
    let report = vpath("snp/go-sev-guest/attestation.bin");
    let vcek_key = format!("/vcek/v1/Milan/{MILAN_HWID}");
    let mut routes = HashMap::new();
    routes.insert(vcek_key.clone(), Route::ok(vcek));
    routes.insert(
        "/vcek/v1/Milan/cert_chain".to_owned(),
        Route {
            rate_limit_first: 1,
            retry_after: Some("0".into()),
            ..Route::ok(chain)
        },
    );
    // No AMD CRL among the vectors: the server answers 404 for it.
    let srv = Server::start(routes);
    let cache = tempfile::tempdir().unwrap();
    let at = ["--at", "2026-06-01T00:00:00Z"];

    let (code, fetched, stderr) = verify(Some(&srv.url()), cache.path(), &[&report, at[0], at[1]]);
    assert_eq!(code, 0, "{fetched:#}\n{stderr}");
    assert!(
        srv.requests()
            .iter()
            .any(|r| r == &format!("{vcek_key}?blSPL=02&teeSPL=00&snpSPL=05&ucodeSPL=68")),
        "{:?}",
        srv.requests()
    );
    assert_eq!(
        srv.hits("/vcek/v1/Milan/cert_chain"),
        2,
        "a 429, then the chain"
    );
    assert!(stderr.contains("HTTP 429"), "{stderr}");
    let warnings = fetched["warnings"].to_string();
    assert!(
        warnings.contains("AMD CRL") && warnings.contains("404"),
        "{warnings}"
    );

    // The same verdict as with the same files given as collateral.
    let empty = tempfile::tempdir().unwrap();
    let (code2, given, _) = verify(
        None,
        empty.path(),
        &[
            &report,
            "--offline",
            "--collateral",
            &vpath("snp/go-sev-guest/vcek.der"),
            "--collateral",
            &vpath("snp/go-sev-guest/ask_ark_milan.pem"),
            at[0],
            at[1],
        ],
    );
    assert_eq!(code2, code);
    assert_eq!(verdict(&fetched), verdict(&given));

    // Second run: VCEK and chain come from the cache.
    let (code3, again, stderr3) = verify(Some(&srv.url()), cache.path(), &[&report, at[0], at[1]]);
    assert_eq!(code3, 0);
    assert_eq!(verdict(&again), verdict(&fetched));
    assert_eq!(srv.hits(&vcek_key), 1);
    assert_eq!(srv.hits("/vcek/v1/Milan/cert_chain"), 2);
    assert!(stderr3.contains("from the cache"), "{stderr3}");

    // Offline, the cache alone is enough (it is keyed by URL: same base).
    let (code4, off, _) = verify(
        Some(&srv.url()),
        cache.path(),
        &[&report, "--offline", at[0], at[1]],
    );
    assert_eq!(code4, 0, "{off:#}");
    assert_eq!(verdict(&off), verdict(&fetched));
}

#[test]
fn turin_vcek_is_asked_for_with_an_eight_byte_hwid_and_fmc() {
    let (Some(vcek), Some(chain)) = (
        read("snp/oak/turin_oc_vcek.der"),
        read("snp/oak/ask_ark_turin.pem"),
    ) else {
        return;
    };
    let mut routes = HashMap::new();
    // Any hwID path answers: the test checks what was asked for.
    let report = vpath("snp/oak/turin_oc_report.bin");
    let needs = rootline_snp::needs::needs(
        &std::fs::read(&report).unwrap(),
        &rootline_snp::Collateral::new(),
    )
    .unwrap();
    let hw = needs.hw_id_hex(rootline_snp::Product::Turin);
    assert_eq!(hw.len(), 16);
    routes.insert(format!("/vcek/v1/Turin/{hw}"), Route::ok(vcek));
    routes.insert("/vcek/v1/Turin/cert_chain".to_owned(), Route::ok(chain));
    let srv = Server::start(routes);
    let cache = tempfile::tempdir().unwrap();
    let at = ["--at", "2025-08-15T00:00:00Z"];
    let (code, fetched, stderr) = verify(Some(&srv.url()), cache.path(), &[&report, at[0], at[1]]);
    let asked = srv.requests();
    let q = asked
        .iter()
        .find(|r| r.starts_with(&format!("/vcek/v1/Turin/{hw}?")))
        .unwrap_or_else(|| panic!("{asked:?}"));
    assert!(q.contains("?fmcSPL=") && q.contains("&ucodeSPL="), "{q}");
    let empty = tempfile::tempdir().unwrap();
    let (code2, given, _) = verify(
        None,
        empty.path(),
        &[
            &report,
            "--offline",
            "--collateral",
            &vpath("snp/oak/turin_oc_vcek.der"),
            "--collateral",
            &vpath("snp/oak/ask_ark_turin.pem"),
            at[0],
            at[1],
        ],
    );
    assert_eq!(code, code2, "{fetched:#}\n{stderr}");
    assert_eq!(verdict(&fetched), verdict(&given));
}

#[test]
fn snp_offline_with_an_empty_cache_names_the_missing_files() {
    let Some(_) = rootline_testkit::vectors() else {
        return;
    };
    let report = vpath("snp/go-sev-guest/attestation.bin");
    let cache = tempfile::tempdir().unwrap();
    let (code, j, _) = verify(None, cache.path(), &[&report, "--offline"]);
    assert_eq!(code, 1, "{j:#}");
    let err = j["error"].as_str().unwrap();
    // The VCEK (Milan first: version-2 reports do not name the product) and the CRL.
    let vcek_file = cache.path().join(format!(
        "127.0.0.1_9/vcek/v1/Milan/{MILAN_HWID}@blSPL=02&teeSPL=00&snpSPL=05&ucodeSPL=68"
    ));
    assert!(err.contains(&vcek_file.display().to_string()), "{err}");
    assert!(err.contains("--offline"), "{err}");
    assert!(err.contains("--collateral"), "{err}");
    let crl_file = cache.path().join("127.0.0.1_9/vcek/v1/Milan/crl");
    assert!(
        j["warnings"]
            .to_string()
            .contains(&crl_file.display().to_string()),
        "{j:#}"
    );
    // Nothing was written.
    assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 0);
}

/// PCS routes serving dcap-qvl's collateral JSON split into the PCS
/// responses it was assembled from.
fn pcs_routes_from_dcap_qvl_json(
    rel: &str,
    fmspc: &str,
    ca: &str,
) -> Option<HashMap<String, Route>> {
    let c: Value = serde_json::from_slice(&read(rel)?).unwrap();
    let s = |k: &str| c[k].as_str().unwrap().to_owned();
    let mut r = HashMap::new();
    r.insert(
        format!("/tdx/certification/v4/tcb?fmspc={fmspc}"),
        Route {
            rate_limit_first: 1,
            ..Route::ok(
                format!(
                    "{{\"tcbInfo\":{},\"signature\":\"{}\"}}",
                    s("tcb_info"),
                    s("tcb_info_signature")
                )
                .into_bytes(),
            )
            .header(
                "TCB-Info-Issuer-Chain",
                &url_encode(&s("tcb_info_issuer_chain")),
            )
        },
    );
    r.insert(
        "/tdx/certification/v4/qe/identity".to_owned(),
        Route::ok(
            format!(
                "{{\"enclaveIdentity\":{},\"signature\":\"{}\"}}",
                s("qe_identity"),
                s("qe_identity_signature")
            )
            .into_bytes(),
        )
        .header(
            "SGX-Enclave-Identity-Issuer-Chain",
            &url_encode(&s("qe_identity_issuer_chain")),
        ),
    );
    r.insert(
        format!("/sgx/certification/v4/pckcrl?ca={ca}&encoding=der"),
        Route::ok(hex::decode(s("pck_crl")).unwrap()).header(
            "SGX-PCK-CRL-Issuer-Chain",
            &url_encode(&s("pck_crl_issuer_chain")),
        ),
    );
    r.insert(
        "/sgx/certification/v4/rootcacrl".to_owned(),
        Route::ok(s("root_ca_crl").into_bytes()),
    );
    Some(r)
}

#[test]
fn tdx_collateral_is_fetched_from_a_pccs_then_cached() {
    let Some(routes) = pcs_routes_from_dcap_qvl_json(
        "tdx/dcap-qvl/tdx_quote_collateral.json",
        "B0C06F000000",
        "platform",
    ) else {
        return;
    };
    let srv = Server::start(routes);
    let cache = tempfile::tempdir().unwrap();
    let quote = vpath("tdx/dcap-qvl/tdx_quote");
    let at = ["--at", "2025-07-04T10:24:15Z"];
    let (code, fetched, stderr) = verify(Some(&srv.url()), cache.path(), &[&quote, at[0], at[1]]);
    assert_eq!(code, 0, "{fetched:#}\n{stderr}\n{:?}", srv.requests());
    assert_eq!(fetched["tcb_status"], "UpToDate");
    assert_eq!(srv.requests().len(), 5, "four artifacts and one 429");

    let empty = tempfile::tempdir().unwrap();
    let (code2, given, _) = verify(
        None,
        empty.path(),
        &[
            &quote,
            "--offline",
            "--collateral",
            &vpath("tdx/dcap-qvl/tdx_quote_collateral.json"),
            at[0],
            at[1],
        ],
    );
    assert_eq!(code2, code);
    assert_eq!(verdict(&fetched), verdict(&given));

    let (code3, again, _) = verify(Some(&srv.url()), cache.path(), &[&quote, at[0], at[1]]);
    assert_eq!(code3, 0);
    assert_eq!(verdict(&again), verdict(&fetched));
    assert_eq!(
        srv.requests().len(),
        5,
        "the second run is served from the cache"
    );
}

#[test]
fn tdx_pcs_pieces_of_go_tdx_guest_give_the_same_verdict_as_its_files() {
    let d = "tdx/go-tdx-guest/";
    let Some(tcb) = read(&format!("{d}sample_tcbInfo_response")) else {
        return;
    };
    let chain =
        |f: &str| url_encode(&String::from_utf8(read(&format!("{d}{f}")).unwrap()).unwrap());
    let mut r = HashMap::new();
    r.insert(
        "/tdx/certification/v4/tcb?fmspc=50806F000000".to_owned(),
        Route::ok(tcb).header("TCB-Info-Issuer-Chain", &chain("tcb_info_issuer_chain.pem")),
    );
    r.insert(
        "/tdx/certification/v4/qe/identity".to_owned(),
        Route::ok(read(&format!("{d}sample_qeIdentity_response")).unwrap()).header(
            "SGX-Enclave-Identity-Issuer-Chain",
            &chain("qe_identity_issuer_chain.pem"),
        ),
    );
    r.insert(
        "/sgx/certification/v4/pckcrl?ca=platform&encoding=der".to_owned(),
        Route::ok(read(&format!("{d}pckcrl")).unwrap()).header(
            "SGX-PCK-CRL-Issuer-Chain",
            &chain("pck_crl_issuer_chain.pem"),
        ),
    );
    r.insert(
        "/sgx/certification/v4/rootcacrl".to_owned(),
        Route::ok(hex::encode(read(&format!("{d}rootcrl.der")).unwrap()).into_bytes()),
    );
    let srv = Server::start(r);
    let cache = tempfile::tempdir().unwrap();
    let quote = vpath(&format!("{d}tdx_prod_quote_SPR_E4.dat"));
    let at = ["--at", "2023-07-01T00:00:00Z"];
    let (code, fetched, stderr) = verify(Some(&srv.url()), cache.path(), &[&quote, at[0], at[1]]);
    assert!(
        !fetched["warnings"].to_string().contains("not obtained"),
        "{fetched:#}\n{stderr}\n{:?}",
        srv.requests()
    );
    let empty = tempfile::tempdir().unwrap();
    let (code2, given, _) = verify(
        None,
        empty.path(),
        &[
            &quote,
            "--offline",
            "--collateral",
            &vpath(&format!(
                "{d}tdx_prod_quote_SPR_E4.collateral.dcap-qvl.json"
            )),
            at[0],
            at[1],
        ],
    );
    assert_eq!(code, code2);
    assert_eq!(verdict(&fetched), verdict(&given));
}

#[test]
fn tdx_offline_with_an_empty_cache_names_each_pcs_artifact() {
    let Some(_) = rootline_testkit::vectors() else {
        return;
    };
    let cache = tempfile::tempdir().unwrap();
    let (code, j, _) = verify(
        None,
        cache.path(),
        &[&vpath("tdx/dcap-qvl/tdx_quote"), "--offline"],
    );
    assert_eq!(code, 1, "{j:#}");
    let err = j["error"].as_str().unwrap();
    for f in [
        "127.0.0.1_9/tdx/certification/v4/tcb@fmspc=B0C06F000000",
        "127.0.0.1_9/tdx/certification/v4/qe/identity",
        "127.0.0.1_9/sgx/certification/v4/pckcrl@ca=platform&encoding=der",
        "127.0.0.1_9/sgx/certification/v4/rootcacrl",
    ] {
        let p = cache.path().join(f).display().to_string();
        assert!(err.contains(&p), "{f} not named in: {err}");
    }
    assert!(err.contains("TCB-Info-Issuer-Chain"), "{err}");
}

#[test]
fn slow_downloads_show_progress_and_a_silent_server_times_out() {
    let (Some(vcek), Some(chain)) = (
        read("snp/go-sev-guest/vcek.der"),
        read("snp/go-sev-guest/ask_ark_milan.pem"),
    ) else {
        return;
    };
    let report = vpath("snp/go-sev-guest/attestation.bin");
    let mut routes = HashMap::new();
    routes.insert(
        format!("/vcek/v1/Milan/{MILAN_HWID}"),
        Route {
            delay: std::time::Duration::from_millis(2500),
            ..Route::ok(vcek)
        },
    );
    routes.insert("/vcek/v1/Milan/cert_chain".to_owned(), Route::ok(chain));
    routes.insert(
        "/vcek/v1/Milan/crl".to_owned(),
        Route {
            delay: std::time::Duration::from_secs(60),
            ..Route::ok(Vec::new())
        },
    );
    let srv = Server::start(routes);
    let cache = tempfile::tempdir().unwrap();
    let (code, j, stderr) = verify(
        Some(&srv.url()),
        cache.path(),
        &[
            &report,
            "--at",
            "2026-06-01T00:00:00Z",
            "--fetch-timeout",
            "5",
        ],
    );
    assert!(
        stderr.contains("rootline: fetching VCEK of chip 3ac3fe21e13fb099"),
        "{stderr}"
    );
    // The CRL never came: verified without revocation, and said so.
    assert_eq!(code, 0, "{j:#}");
    let w = j["warnings"].to_string();
    assert!(
        w.contains("AMD CRL") && w.contains("timed out after 5 s"),
        "{w}"
    );
}

//! Every TDX and SGX vector in the shared vectors gives the verdict, claims
//! and TCB status its expected.json names, at the time it names.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use rootline_dcap::{CollateralParts, Error, Verifier};
use serde_json::Value;

/// Claims must equal every body field expected.json lists (hex compared in
/// lower case), and the FMSPC.
fn assert_claims(claims: &serde_json::Map<String, Value>, exp: &Value) {
    let body = exp["body"].as_object().expect("expected.json body");
    assert!(!body.is_empty());
    for (k, v) in body {
        let got = claims
            .get(k)
            .unwrap_or_else(|| panic!("claim {k} missing; have {:?}", claims.keys()));
        match v {
            Value::String(s) => assert_eq!(got.as_str().unwrap(), s.to_lowercase(), "claim {k}"),
            other => assert_eq!(got, other, "claim {k}"),
        }
    }
    assert_eq!(
        claims["fmspc"].as_str().unwrap(),
        exp["fmspc"].as_str().unwrap().to_lowercase()
    );
    assert_eq!(claims["quote_version"], exp["version"]);
}

fn intel() -> Verifier {
    Verifier::intel().unwrap()
}

#[test]
fn tdx_dcap_qvl_quote_is_up_to_date_at_its_collateral_time() {
    let (Some(q), Some(exp), Some(c)) = (
        quote("tdx/dcap-qvl/tdx_quote"),
        expected("tdx/dcap-qvl", "tdx_quote"),
        collateral(&["tdx/dcap-qvl/tdx_quote_collateral.json"]),
    ) else {
        return;
    };
    let when = at(exp["qvl"]["verified_at"].as_str().unwrap());
    let out = intel().check(&q, &c, when, None);
    assert!(out.error.is_none(), "{:?}", out.error);
    let v = out.verdict.unwrap();
    assert_eq!(v.tcb_status, exp["qvl"]["status"].as_str().unwrap());
    assert_eq!(v.tcb_status, "UpToDate");
    assert_eq!(
        serde_json::to_value(&v.advisory_ids).unwrap(),
        exp["qvl"]["advisory_ids"]
    );
    assert_claims(&out.claims.as_ref().unwrap().to_json(), &exp);
    assert_eq!(
        out.claims.as_ref().unwrap().to_json()["debug_allowed"],
        false
    );
    assert!(out.warnings.iter().any(|w| w.contains("freshness")));
}

#[test]
fn sgx_dcap_qvl_quote_needs_configuration_and_sw_hardening() {
    let (Some(q), Some(exp), Some(c)) = (
        quote("sgx/dcap-qvl/sgx_quote"),
        expected("sgx/dcap-qvl", "sgx_quote"),
        collateral(&["sgx/dcap-qvl/sgx_quote_collateral.json"]),
    ) else {
        return;
    };
    let when = at(exp["qvl"]["verified_at"].as_str().unwrap());
    let out = intel().check(&q, &c, when, None);
    assert!(out.error.is_none(), "{:?}", out.error);
    let v = out.verdict.unwrap();
    assert_eq!(v.tcb_status, "ConfigurationAndSWHardeningNeeded");
    assert_eq!(v.tcb_status, exp["qvl"]["status"].as_str().unwrap());
    assert_eq!(
        serde_json::to_value(&v.advisory_ids).unwrap(),
        exp["qvl"]["advisory_ids"]
    );
    let m = out.claims.as_ref().unwrap().to_json();
    assert_claims(&m, &exp);
    assert_eq!(m["debug_allowed"], false);
}

/// A quote without collateral: every signature and the PCK chain verify, and
/// the outcome says (fail closed) that TCB status was not evaluated.
fn no_collateral_case(dir: &str, file: &str) {
    let (Some(q), Some(exp)) = (quote(&format!("{dir}/{file}")), expected(dir, file)) else {
        return;
    };
    assert_eq!(exp["attestation_signature_valid"], true);
    assert_eq!(exp["pck_chain_signatures_valid"], true);
    // Inside the PCK leaf's validity, a day after it starts.
    let when = at(exp["pck_leaf_validity"][0].as_str().unwrap()) + 86_400;
    let out = intel().check(&q, &CollateralParts::default(), when, None);
    assert_eq!(out.error, Some(Error::NoCollateral), "{file}");
    assert!(out.verdict.is_none());
    assert_claims(&out.claims.as_ref().unwrap().to_json(), &exp);
    // Before the PCK certificate existed, the chain is not valid.
    let before = at(exp["pck_leaf_validity"][0].as_str().unwrap()) - 86_400;
    let out = intel().check(&q, &CollateralParts::default(), before, None);
    assert!(
        matches!(&out.error, Some(Error::Stale(m)) if m.contains("PCK certificate")),
        "{:?}",
        out.error
    );
}

#[test]
fn tappd_hex_quote_without_collateral() {
    no_collateral_case("tdx/dcap-qvl", "quote-from-tappd.hex");
}

#[test]
fn trustee_v4_quote_without_collateral() {
    no_collateral_case("tdx/trustee", "tdx_quote_4.dat");
}

#[test]
fn trustee_v5_quote_without_collateral() {
    no_collateral_case("tdx/trustee", "tdx_quote_5.dat");
}

#[test]
fn cos_113_quote_carries_its_nonce() {
    let (Some(q), Some(exp), Some(nonce)) = (
        quote("tdx/go-tdx-guest/ccel/cos-113-tdx-quote.dat"),
        expected("tdx/go-tdx-guest", "ccel/cos-113-tdx-quote.dat"),
        read("tdx/go-tdx-guest/ccel/nonce.dat"),
    ) else {
        return;
    };
    assert_eq!(exp["report_data_equals_nonce"], true);
    let when = at(exp["pck_leaf_validity"][0].as_str().unwrap()) + 86_400;
    let none = CollateralParts::default();
    let out = intel().check(&q, &none, when, Some(&nonce));
    assert_eq!(out.error, Some(Error::NoCollateral));
    assert_claims(&out.claims.as_ref().unwrap().to_json(), &exp);
    assert!(out.warnings.iter().any(|w| w.contains("padding")));
    let mut wrong = nonce.clone();
    wrong[0] ^= 1;
    let out = intel().check(&q, &none, when, Some(&wrong));
    assert!(
        matches!(out.error, Some(Error::Nonce(_))),
        "{:?}",
        out.error
    );
}

#[test]
fn spr_e4_quote_has_no_matching_tcb_level() {
    let (Some(q), Some(exp), Some(c)) = (
        quote("tdx/go-tdx-guest/tdx_prod_quote_SPR_E4.dat"),
        expected("tdx/go-tdx-guest", "tdx_prod_quote_SPR_E4.dat"),
        collateral(&["tdx/go-tdx-guest/tdx_prod_quote_SPR_E4.collateral.dcap-qvl.json"]),
    ) else {
        return;
    };
    assert_eq!(exp["qvl"]["result"], "error");
    let when = at(exp["qvl"]["verified_at"].as_str().unwrap());
    let out = intel().check(&q, &c, when, None);
    assert!(
        matches!(&out.error, Some(Error::Tcb(m)) if m.contains("no matching TCB level")),
        "{:?}",
        out.error
    );
    assert!(
        out.warnings
            .iter()
            .any(|w| w.contains("dcap-qvl also rejects") && w.contains("No matching TCB level")),
        "{:?}",
        out.warnings
    );
    assert_claims(&out.claims.as_ref().unwrap().to_json(), &exp);
}

#[test]
fn spr_e4_quote_with_individual_pcs_artifacts_gives_the_same_verdict() {
    let d = "tdx/go-tdx-guest";
    let (Some(q), Some(exp), Some(c)) = (
        quote(&format!("{d}/tdx_prod_quote_SPR_E4.dat")),
        expected(d, "tdx_prod_quote_SPR_E4.dat"),
        collateral(&[
            &format!("{d}/sample_tcbInfo_response"),
            &format!("{d}/sample_qeIdentity_response"),
            &format!("{d}/pckcrl"),
            &format!("{d}/rootcrl.der"),
            &format!("{d}/pck_crl_issuer_chain.pem"),
            &format!("{d}/tcb_info_issuer_chain.pem"),
            &format!("{d}/qe_identity_issuer_chain.pem"),
            &format!("{d}/trusted_root.pem"),
        ]),
    ) else {
        return;
    };
    assert!(c.missing().is_empty(), "{:?}", c.missing());
    let when = at(exp["qvl"]["verified_at"].as_str().unwrap());
    let out = intel().check(&q, &c, when, None);
    assert!(
        matches!(&out.error, Some(Error::Tcb(m)) if m.contains("no matching TCB level")),
        "{:?}",
        out.error
    );
    // The assembled JSON and the separate files are the same collateral.
    let json = collateral(&[&format!(
        "{d}/tdx_prod_quote_SPR_E4.collateral.dcap-qvl.json"
    )])
    .unwrap();
    assert_eq!(json.complete().unwrap(), c.complete().unwrap());
    assert!(!out.warnings.iter().any(|w| w.contains("not the pinned")));
}

#[test]
fn v5_sample_with_only_a_tcb_info_is_incomplete_collateral() {
    let d = "tdx/go-tdx-guest";
    let (Some(q), Some(exp), Some(c)) = (
        quote(&format!("{d}/quote_v5_sample.dat")),
        expected(d, "quote_v5_sample.dat"),
        collateral(&[
            &format!("{d}/sample_tcbinfo_response_v5"),
            &format!("{d}/trusted_root.pem"),
        ]),
    ) else {
        return;
    };
    assert_eq!(exp["body_type"], 3);
    let out = intel().check(&q, &c, at("2026-02-03T01:00:00Z"), None);
    assert!(
        matches!(&out.error, Some(Error::IncompleteCollateral(m)) if m.contains("qe identity")),
        "{:?}",
        out.error
    );
    let m = out.claims.as_ref().unwrap().to_json();
    assert_claims(&m, &exp);
    assert_eq!(m["body_type"], 3);
}

/// The typed claims write the JSON `rootline verify --json` has always
/// printed for a TDX quote: the same names, in the same order, lower-case
/// hex.
#[test]
fn tdx_claims_json_keeps_its_names_and_order() {
    let (Some(q), Some(c)) = (
        quote("tdx/dcap-qvl/tdx_quote"),
        collateral(&["tdx/dcap-qvl/tdx_quote_collateral.json"]),
    ) else {
        return;
    };
    let out = intel().check(&q, &c, at("2025-01-01T00:00:00Z"), None);
    let claims = out.claims.as_ref().unwrap();
    let m = claims.to_json();
    let keys: Vec<&str> = m.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "quote_version",
            "body_type",
            "mr_td",
            "rtmr0",
            "rtmr1",
            "rtmr2",
            "rtmr3",
            "mr_seam",
            "mr_signer_seam",
            "seam_attributes",
            "td_attributes",
            "debug_allowed",
            "td_attributes_decoded",
            "xfam",
            "mr_config_id",
            "mr_owner",
            "mr_owner_config",
            "tee_tcb_svn",
            "report_data",
            "fmspc",
        ]
    );
    assert_eq!(m["report_data"], hex::encode(claims.report_data()));
    assert_eq!(serde_json::to_value(claims).unwrap(), Value::Object(m));
}

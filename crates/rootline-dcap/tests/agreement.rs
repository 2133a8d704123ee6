//! The cached path and dcap-qvl give the same verdict on every vector that
//! has collateral, at its own time and at times that make it fail, and the
//! cache gives the same answer on its second use as on its first.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use rootline_dcap::{Quote, Verifier};

fn agree(quote_rel: &str, collateral_rel: &str, times: &[&str]) {
    let (Some(raw), Some(c)) = (quote(quote_rel), collateral(&[collateral_rel])) else {
        return;
    };
    let c = c.complete().unwrap();
    let v = Verifier::intel().unwrap();
    let q = Quote::parse(&raw).unwrap();
    for t in times {
        let when = at(t);
        let theirs = v.verify_dcap_qvl(&raw, &c, when);
        for round in 0..2 {
            let ours = v
                .prepare(&c)
                .map_err(|e| (e, None))
                .and_then(|p| v.verify_prepared(&q, &p, when));
            match (&ours, &theirs) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{quote_rel} at {t}"),
                (Err(_), Err(_)) => {}
                _ => panic!("{quote_rel} at {t} round {round}: ours {ours:?}, dcap-qvl {theirs:?}"),
            }
        }
    }
}

#[test]
fn tdx_vector_agrees() {
    agree(
        "tdx/dcap-qvl/tdx_quote",
        "tdx/dcap-qvl/tdx_quote_collateral.json",
        &[
            "2025-07-04T10:24:15Z",
            "2025-06-01T00:00:00Z",
            "2025-09-01T00:00:00Z",
        ],
    );
}

#[test]
fn sgx_vector_agrees() {
    agree(
        "sgx/dcap-qvl/sgx_quote",
        "sgx/dcap-qvl/sgx_quote_collateral.json",
        &[
            "2025-07-04T10:28:44Z",
            "2025-06-01T00:00:00Z",
            "2025-09-01T00:00:00Z",
        ],
    );
}

#[test]
fn spr_e4_vector_agrees() {
    agree(
        "tdx/go-tdx-guest/tdx_prod_quote_SPR_E4.dat",
        "tdx/go-tdx-guest/tdx_prod_quote_SPR_E4.collateral.dcap-qvl.json",
        &["2023-07-01T01:00:00Z", "2023-08-01T00:00:00Z"],
    );
}

#[test]
fn tappd_quote_against_the_tdx_collateral_agrees() {
    // Same FMSPC as the tdx_quote collateral: a second PCK under one
    // prepared collateral.
    agree(
        "tdx/dcap-qvl/quote-from-tappd.hex",
        "tdx/dcap-qvl/tdx_quote_collateral.json",
        &["2025-07-04T10:24:15Z"],
    );
}

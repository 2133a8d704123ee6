//! The verifier keeps collateral files parsed, by their exact bytes: the
//! same request verifies again from the cache, and a different file under
//! the same name (another chip's VCEK) is parsed and judged afresh, never
//! mistaken for the cached one.

use rootline_verifier::{Collateral, Request, Verifier};

fn read(rel: &str) -> Option<Vec<u8>> {
    std::fs::read(rootline_testkit::vector(rel)?).ok()
}

#[test]
fn cached_collateral_is_matched_by_content_not_by_name() {
    let (Some(report), Some(vcek), Some(chain), Some(other_vcek)) = (
        read("snp/go-sev-guest/attestation.bin"),
        read("snp/go-sev-guest/vcek.der"),
        read("snp/go-sev-guest/ask_ark_milan.pem"),
        read("snp/oak/milan_cb_vcek.der"),
    ) else {
        return;
    };
    let v = Verifier::pinned();
    let at = time::macros::datetime!(2025-08-15 00:00 UTC);
    let req = |vcek: &[u8]| Request {
        evidence: report.clone(),
        collateral: vec![
            Collateral {
                origin: "vcek.der".into(),
                bytes: vcek.to_vec(),
            },
            Collateral {
                origin: "chain.pem".into(),
                bytes: chain.clone(),
            },
        ],
        at: Some(at),
        ..Request::default()
    };
    for _ in 0..2 {
        let out = v.verify(&req(&vcek));
        assert!(out.is_ok(), "{:?}", out.err());
    }
    // Another chip's VCEK under the same name: refused.
    let out = v.verify(&req(&other_vcek));
    assert!(out.is_err());
    // And the right one still verifies afterwards.
    assert!(v.verify(&req(&vcek)).is_ok());
}

//! Evidence is decoded once per verification (issue 16): a collateral
//! source is handed the report or quote the verifier decoded, not the
//! bytes as they arrived, so it never decodes the wrapper again.

use std::sync::{Arc, Mutex};

use rootline_core::TeeKind;
use rootline_verifier::{Collateral, CollateralSource, Decoded, Gathered, Request, Verifier};

fn read(rel: &str) -> Option<Vec<u8>> {
    std::fs::read(rootline_testkit::vector(rel)?).ok()
}

/// Records what each call to `gather` was given.
#[derive(Debug, Default)]
struct Recording(Mutex<Vec<Decoded>>);

impl CollateralSource for Recording {
    fn gather(&self, evidence: &Decoded, _given: &[Collateral], _at: i64) -> Gathered {
        self.0.lock().unwrap().push(evidence.clone());
        Gathered::default()
    }
}

fn gathered(evidence: Vec<u8>, tee: Option<TeeKind>) -> Vec<Decoded> {
    let source = Arc::new(Recording::default());
    let v = Verifier::pinned().with_source(source.clone());
    let _ = v.verify(&Request {
        evidence,
        tee,
        ..Request::default()
    });
    let seen = source.0.lock().unwrap();
    seen.clone()
}

#[test]
fn gather_receives_the_decoded_quote_of_hex_evidence() {
    let Some(quote) = read("tdx/dcap-qvl/tdx_quote") else {
        eprintln!("SKIPPED: the shared vectors are absent");
        return;
    };
    let hex_text = hex::encode(&quote).into_bytes();
    for tee in [None, Some(TeeKind::Tdx)] {
        let seen = gathered(hex_text.clone(), tee);
        let [
            Decoded::Dcap {
                tee: kind,
                quote: q,
            },
        ] = seen.as_slice()
        else {
            panic!("gather saw {seen:?}");
        };
        assert_eq!(*kind, TeeKind::Tdx);
        assert_eq!(
            q.quote, quote,
            "gather got the quote bytes, not the hex text"
        );
    }
}

#[test]
fn gather_receives_the_decoded_report_of_base64_evidence() {
    use base64::Engine as _;
    let Some(report) = read("snp/go-sev-guest/attestation.bin") else {
        eprintln!("SKIPPED: the shared vectors are absent");
        return;
    };
    let text = base64::engine::general_purpose::STANDARD
        .encode(&report)
        .into_bytes();
    for tee in [None, Some(TeeKind::Snp)] {
        let seen = gathered(text.clone(), tee);
        let [Decoded::Snp(raw)] = seen.as_slice() else {
            panic!("gather saw {seen:?}");
        };
        assert_eq!(raw.report, report);
    }
}

#[test]
fn kinds_without_fetched_collateral_are_not_gathered_for() {
    let seen = gathered(b"{\"nothing\": 1}".to_vec(), Some(TeeKind::Tdx));
    assert!(seen.is_empty(), "gather saw {seen:?}");
}

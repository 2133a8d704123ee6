//! The Confidential Space canonical event log, replayed against a quote.
//!
//! The fixtures are built here: a synthetic AK (`rootline_tpm::synthetic`)
//! quotes PCR 13 after the COS events of a log written by
//! `rootline_eventlog::cel::encode` were extended into it, and the pieces
//! travel in the protojson of go-tpm-tools' `attest.Attestation`
//! (`akPub`, `quotes`, `canonicalEventLog`). The real-vector cases (the GCE
//! quote, a TD quote) are in `gcp_json.rs`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rootline_core::HashAlg;
use rootline_eventlog::cel::{self, CosType, IndexType, Register};
use rootline_tpm::pcr::PcrBank;
use rootline_tpm::synthetic::SyntheticAk;
use rootline_tpm::{PcrSelection, PcrValues};
use rootline_verifier::{Outcome, Request, Verifier};
use serde_json::{Value, json};

const NONCE: &[u8] = b"cel-test-nonce";

fn pcr(index: u8) -> Register {
    Register {
        kind: IndexType::PCR,
        index,
    }
}

fn b64(b: &[u8]) -> Value {
    Value::String(STANDARD.encode(b))
}

fn workload(index: u8) -> Vec<u8> {
    let r = pcr(index);
    let banks: &[HashAlg] = &[HashAlg::SHA1, HashAlg::SHA256];
    cel::encode(&[
        (
            r,
            banks,
            CosType::IMAGE_REF,
            b"us-docker.pkg.dev/p/r/app:1".as_slice(),
        ),
        (
            r,
            banks,
            CosType::IMAGE_DIGEST,
            b"sha256:0123456789abcdef".as_slice(),
        ),
        (r, banks, CosType::RESTART_POLICY, b"Never".as_slice()),
        (r, banks, CosType::IMAGE_ID, b"sha256:fedcba".as_slice()),
        (r, banks, CosType::ARG, b"/app".as_slice()),
        (r, banks, CosType::ARG, b"--serve".as_slice()),
        (r, banks, CosType::ENV_VAR, b"MODE=prod".as_slice()),
        (r, banks, CosType::MEMORY_MONITOR, [0u8].as_slice()),
        (r, banks, CosType::LAUNCH_SEPARATOR, b"".as_slice()),
    ])
}

/// The value each register of `log` holds in the SHA-256 bank after it,
/// computed from the log's digests (which `cel::parse` checked).
fn extended(log: &[u8]) -> Vec<(u8, Vec<u8>)> {
    cel::parse(log)
        .unwrap()
        .replay()
        .unwrap()
        .into_iter()
        .map(|(r, banks)| (r.index, banks[&HashAlg::SHA256].bytes.clone()))
        .collect()
}

/// An `attest.Attestation` in protojson whose SHA-256 quote covers PCRs
/// 0 and `quoted` with the values in `values` (others zero), and `log`.
fn body(log: &[u8], quoted: u8, values: &[(u8, Vec<u8>)]) -> Value {
    let ak = SyntheticAk::ecc_p256().unwrap();
    let sel = PcrSelection {
        banks: vec![PcrBank::new(HashAlg::SHA256, &[0, quoted])],
    };
    let mut pcrs = PcrValues::new();
    let mut map = serde_json::Map::new();
    for i in [0, quoted] {
        let v = values
            .iter()
            .find(|(j, _)| *j == i)
            .map_or(vec![0; 32], |(_, v)| v.clone());
        pcrs.insert(HashAlg::SHA256, i, v.clone()).unwrap();
        map.insert(i.to_string(), b64(&v));
    }
    let (attest, sig) = ak.quote(NONCE, &sel, &pcrs).unwrap();
    json!({
        "akPub": b64(&ak.tpmt_public().raw),
        "quotes": [{"quote": b64(&attest), "rawSig": b64(&sig), "pcrs": {"hash": 11, "pcrs": map}}],
        "canonicalEventLog": b64(log),
    })
}

fn run(body: &Value) -> Outcome {
    Verifier::pinned().outcome(&Request {
        evidence: serde_json::to_vec(body).unwrap(),
        nonce: Some(NONCE.to_vec()),
        ..Request::default()
    })
}

fn error(o: &Outcome) -> String {
    assert!(!o.verified, "accepted: {:?}", o.claims);
    o.error.clone().unwrap()
}

#[test]
fn a_log_extended_into_the_quoted_pcr13_replays_and_its_workload_is_claimed() {
    let log = workload(13);
    let o = run(&body(&log, 13, &extended(&log)));
    assert!(o.verified, "{:?}", o.error);
    let cel = &o.claims["cel"];
    assert_eq!(cel["field"], "canonicalEventLog");
    assert_eq!(cel["records"], 9);
    // The log carries sha1 too, but only the quoted sha256 bank is signed.
    assert_eq!(
        cel["registers"],
        json!([{"register": "pcr 13", "banks": ["sha256"]}])
    );
    let cos = &cel["cos"];
    assert_eq!(cos["image_reference"], "us-docker.pkg.dev/p/r/app:1");
    assert_eq!(cos["image_digest"], "sha256:0123456789abcdef");
    assert_eq!(cos["restart_policy"], "Never");
    assert_eq!(cos["image_id"], "sha256:fedcba");
    assert_eq!(cos["args"], json!(["/app", "--serve"]));
    assert_eq!(cos["env"], json!({"MODE": "prod"}));
    assert_eq!(cos["memory_monitoring"], false);
    assert_eq!(cos["launch_separator"], true);
    assert_eq!(cel["events"].as_array().unwrap().len(), 9);
    assert_eq!(cel["events"][0]["recnum"], 0);
    assert_eq!(cel["events"][0]["pcr"], 13);
    // A replayed log is no longer named as unverified.
    assert!(
        !o.warnings.iter().any(|w| w.contains("canonicalEventLog")),
        "{:?}",
        o.warnings
    );
}

#[test]
fn a_log_that_does_not_replay_to_the_quoted_pcr_is_refused_naming_both_digests() {
    let log = workload(13);
    let mut values = extended(&log);
    values[0].1[0] ^= 1;
    let quoted = hex::encode(&values[0].1);
    let e = error(&run(&body(&log, 13, &values)));
    assert!(
        e.contains("canonicalEventLog: pcr 13 sha256 check failed"),
        "{e}"
    );
    assert!(e.contains(&quoted), "{e}");
    assert!(e.contains(&hex::encode(&extended(&log)[0].1)), "{e}");
}

#[test]
fn one_bit_flipped_in_a_record_is_refused_naming_the_record() {
    let log = workload(13);
    let values = extended(&log);
    let parsed = cel::parse(&log).unwrap();
    // One bit of record 0's image reference, found by its text.
    let at = log
        .windows(b"app:1".len())
        .position(|w| w == b"app:1")
        .unwrap();
    let mut bad = log.clone();
    bad[at] ^= 1;
    let e = error(&run(&body(&bad, 13, &values)));
    assert!(
        e.contains("canonicalEventLog: canonical event log record 0: digests:"),
        "{e}"
    );
    assert_eq!(parsed.records.len(), 9);
}

#[test]
fn a_log_for_a_pcr_the_quote_does_not_cover_is_refused() {
    // The log extends PCR 14; the quote covers 0 and 13.
    let log = workload(14);
    let e = error(&run(&body(&log, 13, &[])));
    assert!(
        e.contains("the log extends pcr 14 but no verified quote covers it"),
        "{e}"
    );
}

#[test]
fn a_truncated_log_is_refused_and_a_log_cut_between_records_does_not_replay() {
    let log = workload(13);
    let values = extended(&log);
    let e = error(&run(&body(&log[..log.len() - 3], 13, &values)));
    assert!(e.contains("canonical event log record 8"), "{e}");
    // Cut after record 7: a shorter, well-formed log, caught by the replay.
    let cut = log.len() - (13 + 6 + 5 + (5 + 20) + (5 + 32) + 10);
    assert!(cel::parse(&log[..cut]).is_ok());
    let e = error(&run(&body(&log[..cut], 13, &values)));
    assert!(e.contains("pcr 13 sha256 check failed"), "{e}");
}

#[test]
fn a_skipped_record_number_is_refused() {
    // Records numbered by position: drop record 0's bytes, so the log
    // starts at record 1.
    let log = workload(13);
    let full = cel::parse(&log).unwrap();
    let one = cel::encode(&[(
        pcr(13),
        &[HashAlg::SHA1, HashAlg::SHA256],
        full.records[0].event.kind,
        &full.records[0].event.value,
    )]);
    let e = error(&run(&body(&log[one.len()..], 13, &extended(&log))));
    assert!(
        e.contains("record 0: recnum: record number is 1, expected 0"),
        "{e}"
    );
}

#[test]
fn an_unknown_content_type_is_refused_naming_the_record() {
    let mut log = workload(13);
    let at = 13 + 6 + 5 + (5 + 20) + (5 + 32);
    assert_eq!(log[at], 80);
    log[at] = 7;
    let e = error(&run(&body(&log, 13, &extended(&workload(13)))));
    assert!(
        e.contains("record 0: content: type is 7, not COS 80"),
        "{e}"
    );
}

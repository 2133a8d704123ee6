//! Fuzzes the canonical event log parser (`rootline_eventlog::cel`), its
//! replay and its claims: any input gives a value or an error naming a
//! record, never a panic. A log that parses is exactly what `cel::encode`
//! writes for its records: each digest was recomputed from the content
//! and the encoding has one form, so nothing in the input went unread.
//!
//! Random bytes almost never carry a digest that matches, so an odd first
//! byte makes the rest a list of records (register, COS type, length,
//! value) that `cel::encode` writes with true digests: the parser's success
//! path and every claim rule see fuzzed contents too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rootline_core::HashAlg;
use rootline_eventlog::cel::{self, CosType, IndexType, Register};

fn check(data: &[u8]) {
    let Ok(log) = cel::parse(data) else {
        return;
    };
    let _ = log.replay();
    let _ = log.cos_claims();
    let _ = log.events_json();
    assert_eq!(log.encode(), data, "a parsed log re-encodes to itself");
}

fuzz_target!(|data: &[u8]| {
    let [mode, rest @ ..] = data else {
        return;
    };
    if mode & 1 == 0 {
        check(rest);
        return;
    }
    let mut records = Vec::new();
    let mut r = rest;
    while let [reg, kind, len, tail @ ..] = r {
        let n = usize::from(*len).min(tail.len());
        let (value, next) = tail.split_at(n);
        let (register, banks): (Register, &[HashAlg]) = match reg % 3 {
            0 => (cel::COS_PCR, &[HashAlg::SHA1, HashAlg::SHA256]),
            1 => (cel::COS_CCMR, &[HashAlg::SHA384]),
            _ => (
                Register {
                    kind: IndexType::PCR,
                    index: *reg,
                },
                &[HashAlg::SHA256],
            ),
        };
        records.push((register, banks, CosType(kind % 14), value));
        r = next;
    }
    let bytes = cel::encode(&records);
    // An encoded log parses, within the parser's bounds (each record's
    // content is at most 255 bytes here, far below MAX_CONTENT_BYTES); a
    // longer one is refused by the record bound, not read in part.
    let parsed = cel::parse(&bytes);
    if records.len() > cel::MAX_RECORDS {
        let e = parsed.expect_err("a log over the record bound parses");
        assert!(e.to_string().contains("records"), "{e}");
    } else if !records.is_empty() && bytes.len() <= cel::MAX_LOG_BYTES {
        assert!(parsed.is_ok(), "an encoded log parses: {parsed:?}");
    }
    check(&bytes);
});

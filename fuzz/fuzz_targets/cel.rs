//! Fuzzes the canonical event log parser (`rootline_eventlog::cel`), its
//! replay and its claims: any input gives a value or an error naming a
//! record, never a panic. A log that parses is exactly what `cel::encode`
//! writes for its records: each digest was recomputed from the content
//! and the encoding has one form, so nothing in the input went unread.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rootline_core::HashAlg;
use rootline_eventlog::cel;

fuzz_target!(|data: &[u8]| {
    let Ok(log) = cel::parse(data) else {
        return;
    };
    let _ = log.replay();
    let _ = log.cos_claims();
    let _ = log.events_json();
    let banks: Vec<Vec<HashAlg>> = log
        .records
        .iter()
        .map(|r| r.digests.iter().map(|d| d.alg).collect())
        .collect();
    let records: Vec<_> = log
        .records
        .iter()
        .zip(&banks)
        .map(|(r, b)| (r.register, b.as_slice(), r.event.kind, r.event.value.as_slice()))
        .collect();
    assert_eq!(cel::encode(&records), data, "a parsed log re-encodes to itself");
});

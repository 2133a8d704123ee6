//! Fuzzes NVIDIA RIMs: the XML reader, the XMLDSig profile and Canonical
//! XML 1.1 (the whole document without the signature, and SignedInfo in
//! its context), then signature verification with the pinned RIM root at a
//! fixed time. Any bytes give a value or an error, never a panic; canonical
//! output is its own canonical form.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rootline_nvidia::certs::TrustRoots;
use rootline_nvidia::{Rim, c14n};

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = c14n::canonicalize(data) {
        assert_eq!(c14n::canonicalize(&c).ok().as_deref(), Some(c.as_slice()));
    }
    if let Ok(rim) = Rim::parse(data) {
        let _ = rim.applies_to("GH100", Some("550.90.07"), None);
        // 2024-06-01, while NVIDIA's sample RIMs' signers are valid.
        if let Ok(v) = rim.verify_signature(&TrustRoots::nvidia_rim(), 1_717_200_000) {
            assert!(!v.signer().is_empty());
        }
    }
});

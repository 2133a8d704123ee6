//! Fuzzes the parsers of the SEV launch data the guest owner receives or
//! keeps: the LAUNCH_MEASURE blob, the OVMF secret table, the saved launch
//! session and GUID text. Any bytes give a value or an error, never a
//! panic; a parsed secret table encodes and parses back to the same
//! entries, and a random measurement never verifies.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rootline_sev::{Guid, LaunchMeasurement, LaunchSession, PlatformVersion, SecretTable};

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = LaunchMeasurement::parse(data) {
        assert_eq!(&m.to_bytes()[..], data);
    }
    if let Ok(t) = SecretTable::parse(data) {
        if let Ok(enc) = t.encode() {
            let back = SecretTable::parse(&enc).expect("an encoded table parses");
            assert!(back.entries().eq(t.entries()));
        }
    }
    if let Ok(s) = LaunchSession::from_bytes(data) {
        assert_eq!(&s.to_bytes()[..], data);
        // A session whose TIK is fuzz input and a measurement of zeros: the
        // HMAC of zeros is not zeros.
        let m = LaunchMeasurement::parse(&[0u8; 48]).expect("48 bytes parse");
        let v = PlatformVersion {
            api_major: 1,
            api_minor: 55,
            build: 1,
        };
        assert!(s.verify_measurement(v, &m, &[[0u8; 32]]).is_err());
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(g) = text.parse::<Guid>() {
            assert_eq!(g.to_string().parse::<Guid>().ok(), Some(g));
        }
    }
});

//! Fuzzes NVIDIA GPU evidence: detection, the evidence forms (JSON, hex,
//! base64, bare reports), the SPDM GET_MEASUREMENTS report with its opaque
//! data and measurement blocks, certificate chains with their FWID
//! extension, and RIM XML (in depth in the `nvidia_rim` target); then full
//! verification of whatever decodes (pinned root, fixed time, the input
//! also tried as a RIM). Any bytes give a value or an error, never a panic,
//! and a parsed report's parts lie inside the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rootline_nvidia::certs::{self, TrustRoots};
use rootline_nvidia::{Evidence, Options, Rim, SpdmReport, Verifier};

fuzz_target!(|data: &[u8]| {
    let _ = rootline_nvidia::detect(data);
    let _ = rootline_nvidia::decode(data);
    if let Ok(r) = SpdmReport::parse(data) {
        assert!(r.signed.len() + r.signature.len() == data.len());
        assert!(r.opaque_raw.len() <= r.signed.len());
        let _ = r.opaque.to_claims();
        let _ = r.opaque.vbios_version();
        let _ = r.verify_signature(&[4u8; 97]);
    }
    if let Ok(ders) = certs::parse_chain(data) {
        let _ = certs::inspect_chain(&ders);
        let _ = certs::verify_chain(&ders, &TrustRoots::nvidia(), 1_767_225_600);
    }
    let rims: Vec<Rim> = Rim::parse(data).into_iter().collect();
    if let Ok(ev) = Evidence::decode(data) {
        // The same bytes as an OCSP response too: whatever they name must
        // verify or be ignored, never panic.
        let ocsp = [data.to_vec()];
        let opts = Options {
            nonce: Some(&[0u8; 32]),
            rims: &rims,
            ocsp: &ocsp,
            at: Some(1_767_225_600),
        };
        let _ = Verifier::pinned().verify_evidence(&ev, &opts);
    }
});

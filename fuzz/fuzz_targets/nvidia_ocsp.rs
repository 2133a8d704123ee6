//! Fuzzes the OCSP response parser (RFC 6960, `rootline_nvidia::ocsp`):
//! the bounded DER reader, the BasicOCSPResponse, its single responses and
//! times, then the full check against the real NVIDIA chain's first CA link
//! (BROM issued by the Provisioner ICA is not at hand here, so the pinned
//! root stands in as both certificate and issuer: any response must give an
//! error or a verdict, never a panic). The signed range is always inside
//! the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rootline_nvidia::certs::{NVIDIA_DEVICE_IDENTITY_CA_PEM, parse_chain};
use rootline_nvidia::ocsp::{self, OcspResponse};

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = OcspResponse::parse(data) {
        assert!(!r.responses.is_empty());
        let start = r.tbs.as_ptr() as usize - data.as_ptr() as usize;
        assert!(start + r.tbs.len() <= data.len());
        let _ = r.next_update();
    }
    if let Ok(ders) = parse_chain(NVIDIA_DEVICE_IDENTITY_CA_PEM.as_bytes())
        && let Some(root) = ders.first()
    {
        let _ = ocsp::check(data, root, root, 1_767_225_600);
    }
});

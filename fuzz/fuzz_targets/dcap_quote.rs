//! Fuzzes the DCAP quote parser, evidence-form decoding and claim extraction:
//! any bytes must give a quote or an error, never a panic, and a parsed
//! quote's signed range must lie inside the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(q) = rootline_dcap::Quote::parse(data) {
        assert!(q.signed_len <= data.len());
        assert_eq!(q.signed_bytes().len(), q.signed_len);
        let _ = rootline_dcap::claims::from_quote(&q);
        let _ = rootline_dcap::pki::pem_certs(q.pck_chain_pem, "fuzz");
    }
    let _ = rootline_dcap::evidence::decode(data);
});

//! Fuzzes IBM SE parsers: the Ultravisor's response JSON and its
//! verification against a fixed request secret, the ARCB parser and its
//! decryption, additional-data splitting, the request-secret JSON, SE
//! headers, sealed secrets and host-key document files. Any bytes give a
//! value or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rootline_se::{Additional, Arcb, Flags, Pki, RequestSecret, Response, SealingKey};
use zeroize::Zeroizing;

fuzz_target!(|data: &[u8]| {
    let secret = RequestSecret {
        measurement_key: Zeroizing::new([0x77; 64]),
        nonce: [0xab; 16],
        flags: Flags::TRUSTEE,
        host_key_hashes: Vec::new(),
    };
    let _ = rootline_se::detect(data);
    if let Ok(r) = Response::from_json(data) {
        let _ = r.claims(Some(Flags::TRUSTEE), Some(&[0; 16]));
        let _ = r.verify(&secret, Some(&[0; 64]));
        let _ = SealingKey::new([1; 32]).open(&r.encr_measurement_key, &r.encr_request_nonce);
    }
    if let Ok(a) = Arcb::parse(data) {
        let _ = a.open(&[0x17; 32]);
    }
    if let Some((&f, rest)) = data.split_first() {
        let _ = Additional::split(rest, Flags(u64::from(f) << 56));
    }
    let _ = RequestSecret::from_json(data);
    let _ = rootline_se::hdr_tags_from_se_header(data);
    let _ = Pki::new().add(data);
});

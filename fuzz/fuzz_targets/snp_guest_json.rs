//! Fuzzes SEV-SNP evidence in guest-components' JSON form (the `sev`
//! crate's serde shape): any bytes give a report and certificates or an
//! error naming the member, never a panic; whatever decodes encodes back
//! to the same bytes when the JSON can carry them.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = rootline_snp::evidence::Evidence::decode(data);
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if let Ok(g) = rootline_snp::guest_json::decode(&v) {
        if let Ok(again) = rootline_snp::guest_json::encode(&g.report, &g.certs) {
            let back = rootline_snp::guest_json::decode(&again).expect("encode output decodes");
            assert_eq!(back.report, g.report, "report bytes round-trip");
        }
    }
});

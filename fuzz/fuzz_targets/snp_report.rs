//! Fuzzes the SEV-SNP parsers: every evidence form (raw report, hex,
//! extended report, configfs-tsm CBOR/JSON), the certificate table, and
//! collateral loading of whatever the table holds. None may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rootline_snp::{Collateral, Evidence, Report, certtable, evidence};

fuzz_target!(|data: &[u8]| {
    let _ = Report::parse(data);
    let _ = evidence::sniff(data);
    if let Ok(entries) = certtable::parse(data) {
        let mut c = Collateral::new();
        let _ = c.add_cert_table(&entries);
    }
    if let Ok(ev) = Evidence::decode(data) {
        let _ = ev.report.signature_fixed();
        let _ = rootline_snp::Claims::from_report(&ev.report, ev.report.product_hint());
        let mut c = Collateral::new();
        let _ = c.add_cert_table(&ev.cert_table);
    }
});

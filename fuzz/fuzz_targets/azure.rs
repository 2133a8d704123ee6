//! Fuzzes Azure evidence: the JSON forms (guest-components' and the MAA
//! request bodies), the HCL report, the TDREPORT and the runtime data, then
//! full verification of whatever decodes (pinned roots, no collateral). Any bytes give a value or an error, never a panic,
//! and a parsed HCL report's parts lie inside the input.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rootline_azure::{
    Collateral, Evidence, HclReport, MaaEvidence, Options, RuntimeData, TdReport, Verifier,
};

fn verifier() -> Option<&'static Verifier> {
    static V: OnceLock<Option<Verifier>> = OnceLock::new();
    V.get_or_init(|| Verifier::pinned().ok()).as_ref()
}

fuzz_target!(|data: &[u8]| {
    let _ = rootline_azure::detect(data);
    let _ = TdReport::parse(data);
    let _ = RuntimeData::parse(data);
    if let Ok(h) = HclReport::parse(data) {
        assert!(h.hw_report.len() + h.var_data.len() <= data.len());
        if let Ok(t) = TdReport::parse(h.hw_report) {
            let _ = t.check_hashes();
        }
        let _ = RuntimeData::parse(h.var_data);
    }
    if let (Ok(ev), Some(v)) = (Evidence::decode(data), verifier()) {
        let _ = v.verify_evidence(&ev, &Collateral::new(), &Options::default());
    }
    let _ = rootline_azure::maa::b64_any(&String::from_utf8_lossy(data));
    if let Ok(ev) = MaaEvidence::decode(data) {
        if let Some(v) = verifier() {
            let _ = v.verify_maa(&ev, &Collateral::new(), &Options::default());
        }
        // The wrapper's base64 and the runtime data's bytes decode within bounds.
        assert!(ev.runtime_data.len() <= data.len());
    }
    // The entry point the verifier uses: every form, detected by content.
    if let Some(v) = verifier() {
        let _ = v.verify(data, None, &Collateral::new(), &Options::default());
    }
});

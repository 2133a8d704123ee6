//! Fuzzes the KBS runtime-data binding (`rootline-kbs`): for any JSON value
//! and additional-evidence string, the fast canonical JSON must equal the
//! reference library's, and the spliced current-form binding must equal
//! the hash of the whole object canonicalised, because a difference would
//! make the broker accept or refuse what a guest did not bind.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rootline_kbs::{Binding, BindingHash, canonical_json, with_additional_evidence};

fuzz_target!(|data: &[u8]| {
    let (json, ae) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(json) else {
        return;
    };
    let ae = String::from_utf8_lossy(ae);
    if let (Ok(ours), Ok(theirs)) = (canonical_json(&v), serde_json_canonicalizer::to_vec(&v)) {
        assert_eq!(ours, theirs, "canonical JSON differs from the library");
    }
    let Ok(c) = Binding::candidates(&v, &ae, BindingHash::Sha384) else {
        return;
    };
    if let Some(full) = with_additional_evidence(&v, &ae) {
        if let Ok(canon) = serde_json_canonicalizer::to_vec(&full) {
            assert_eq!(c[0].digest, BindingHash::Sha384.digest(&canon), "spliced binding");
        }
    }
});

//! Fuzzes `rootline verify`'s one entry point with every evidence format it
//! accepts: detection by content (raw, hex, base64, the JSON wrappers: TPM
//! in the Trustee, guest-components, go-tpm-tools and go-attestation forms
//! and GCP's protojson shapes with a TEE report beside the quotes, SNP as
//! the sev crate's JSON, Azure vTPM, CCA, NVIDIA) and each `--tee`
//! given explicitly, with and without an event log to replay. The first
//! byte picks the kind (or detection), the second whether the rest is split
//! into evidence and an event log. Nothing may panic, and nothing made of
//! these bytes may verify against the pinned vendor roots unless it carries
//! its own key (TPM evidence with its AK), which this target cannot forge.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rootline_core::TeeKind;
use rootline_verifier::{Extra, Request, Verifier};

fuzz_target!(|data: &[u8]| {
    static VERIFIER: OnceLock<Verifier> = OnceLock::new();
    let verifier = VERIFIER.get_or_init(Verifier::pinned);
    let [pick, split, rest @ ..] = data else {
        return;
    };
    let tee = TeeKind::ALL.get(usize::from(*pick) % (TeeKind::ALL.len() + 1)).copied();
    let (evidence, eventlog) = if split & 1 == 1 {
        let (e, l) = rest.split_at(rest.len() / 2);
        (e, Some(l.to_vec()))
    } else {
        (rest, None)
    };
    let req = Request {
        evidence: evidence.to_vec(),
        tee,
        extra: Extra {
            eventlog,
            ..Extra::default()
        },
        ..Request::default()
    };
    if let Ok(v) = verifier.verify(&req) {
        // Only self-keyed TPM evidence can verify without a vendor
        // signature; a vendor-rooted kind verifying here would be a forgery.
        assert!(
            matches!(v.tee(), TeeKind::Tpm),
            "{:?} evidence verified from fuzz bytes",
            v.tee()
        );
        // Nor may the SEV-SNP report or TD quote that GCP's JSON carries
        // beside the quotes: it is vendor-signed.
        assert!(
            v.claims().paired_report_data().is_none(),
            "a TEE report beside TPM quotes verified from fuzz bytes"
        );
    }
});

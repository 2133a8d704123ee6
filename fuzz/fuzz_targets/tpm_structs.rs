//! Fuzzes the TPM structure parsers of rootline-tpm: TPMS_ATTEST,
//! TPMT_SIGNATURE, TPMT_PUBLIC / TPM2B_PUBLIC, AK input detection (PEM, DER,
//! TPM forms) and the tpm2-tools PCR file. None may panic; what parses must
//! survive the checks that use it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rootline_core::Reader;
use rootline_tpm::{AkPublic, Attest, PcrSelection, PcrValues, TpmtPublic, TpmtSignature};

fuzz_target!(|data: &[u8]| {
    if let Ok(a) = Attest::parse(data) {
        assert_eq!(a.raw, data);
        if let Some((sel, _)) = a.quote_info() {
            // A parsed selection marshals back to bytes that parse to itself.
            let bytes = sel.to_bytes();
            let back = PcrSelection::parse(&mut Reader::new(&bytes));
            assert_eq!(back.as_ref(), Ok(sel));
        }
    }
    let sig = TpmtSignature::parse(data);
    if let Ok(p) = TpmtPublic::parse(data) {
        assert_eq!(p.raw, data);
        let _ = p.name();
        if let (Ok(s), Ok(k)) = (&sig, p.public_key()) {
            let _ = s.verify(k, data, "fuzz");
        }
    }
    let _ = TpmtPublic::parse_tpm2b(data);
    if let Ok(ak) = AkPublic::from_bytes(data) {
        let _ = ak.key.fingerprint();
    }
    let _ = PcrValues::from_tpm2_tools(data);
});

//! Forged and synthetic quotes: what a software AK signs verifies only with
//! that AK, the nonce it carries and the PCR values it covers.

use rootline_core::HashAlg;
use rootline_tpm::synthetic::SyntheticAk;
use rootline_tpm::{PcrBank, PcrSelection, PcrValues, QuoteCheck, TpmtSignature, verify_quote};

fn pcrs() -> (PcrSelection, PcrValues) {
    let sel = PcrSelection {
        banks: vec![PcrBank::new(HashAlg::SHA256, &[0, 1, 7])],
    };
    let mut v = PcrValues::new();
    for i in [0u8, 1, 7] {
        v.insert(
            HashAlg::SHA256,
            i,
            HashAlg::SHA256.hash(&[i]).unwrap().bytes,
        )
        .unwrap();
    }
    (sel, v)
}

#[test]
fn synthetic_quotes_verify_and_wrong_keys_fail() {
    let (sel, v) = pcrs();
    let ecc = SyntheticAk::ecc_p256().unwrap();
    let rsa = SyntheticAk::rsa_2048().unwrap();
    for (signer, other) in [(&ecc, &rsa), (&rsa, &ecc)] {
        let (attest, sig) = signer.quote(b"nonce", &sel, &v).unwrap();
        let sig = TpmtSignature::parse(&sig).unwrap();
        let ak = signer.ak().unwrap();
        let c = verify_quote(&QuoteCheck {
            attest: &attest,
            signature: &sig,
            ak: &ak,
            nonce: Some(b"nonce"),
            pcrs: Some(&v),
        })
        .unwrap();
        assert_eq!(c.ak_restricted, Some(true));
        // The quote names its signer.
        assert_eq!(
            c.attest.qualified_signer,
            signer.tpmt_public().name().unwrap()
        );
        // Another AK (of the other algorithm) does not verify it.
        let e = verify_quote(&QuoteCheck {
            attest: &attest,
            signature: &sig,
            ak: &other.ak().unwrap(),
            nonce: Some(b"nonce"),
            pcrs: Some(&v),
        })
        .unwrap_err();
        assert_eq!(e.check(), "scheme", "{e}");
    }
    // Another AK of the same algorithm.
    let ecc2 = SyntheticAk::ecc_p256().unwrap();
    let (attest, sig) = ecc.quote(b"n", &sel, &v).unwrap();
    let sig = TpmtSignature::parse(&sig).unwrap();
    let e = verify_quote(&QuoteCheck {
        attest: &attest,
        signature: &sig,
        ak: &ecc2.ak().unwrap(),
        nonce: None,
        pcrs: None,
    })
    .unwrap_err();
    assert_eq!(e.check(), "signature", "{e}");
}

#[test]
fn signed_bytes_that_are_not_tpm_generated_are_rejected() {
    // A key that signs anything (a non-restricted key would) can sign bytes
    // without the TPM_GENERATED magic; the magic check catches them.
    let (sel, v) = pcrs();
    let ecc = SyntheticAk::ecc_p256().unwrap();
    let (mut attest, _) = ecc.quote(b"n", &sel, &v).unwrap();
    attest[0] = 0x00;
    let sig = TpmtSignature::parse(&ecc.sign(&attest).unwrap()).unwrap();
    let e = verify_quote(&QuoteCheck {
        attest: &attest,
        signature: &sig,
        ak: &ecc.ak().unwrap(),
        nonce: None,
        pcrs: None,
    })
    .unwrap_err();
    assert_eq!(e.check(), "magic", "{e}");
}

#[test]
fn pcr_values_missing_for_a_selected_pcr_are_named() {
    let (sel, v) = pcrs();
    let ecc = SyntheticAk::ecc_p256().unwrap();
    let (attest, sig) = ecc.quote(b"n", &sel, &v).unwrap();
    let sig = TpmtSignature::parse(&sig).unwrap();
    let mut partial = PcrValues::new();
    partial
        .insert(
            HashAlg::SHA256,
            0,
            v.get(HashAlg::SHA256, 0).unwrap().to_vec(),
        )
        .unwrap();
    let e = verify_quote(&QuoteCheck {
        attest: &attest,
        signature: &sig,
        ak: &ecc.ak().unwrap(),
        nonce: Some(b"n"),
        pcrs: Some(&partial),
    })
    .unwrap_err();
    assert!(e.to_string().contains("PCR 1"), "{e}");
}

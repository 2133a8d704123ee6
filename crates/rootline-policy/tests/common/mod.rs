//! Verified outcomes of the shared vectors, at the times their collateral is
//! valid (the same times the verifier's own tests use).
#![allow(dead_code)]

use rootline_verifier::{Collateral, Extra, Request, Verdict};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn at(s: &str) -> Option<OffsetDateTime> {
    Some(OffsetDateTime::parse(s, &Rfc3339).unwrap())
}

fn read(rel: &str) -> Option<Vec<u8>> {
    rootline_testkit::vector(rel).map(|p| std::fs::read(p).unwrap())
}

fn coll(rel: &str) -> Option<Collateral> {
    let p = rootline_testkit::vector(rel)?;
    Some(Collateral {
        bytes: std::fs::read(&p).unwrap(),
        origin: p,
    })
}

/// The swtpm + OVMF UKI boot: quote, signature, AK, PCRs, event log, nonce.
pub(crate) fn tpm() -> Option<Verdict> {
    let d = "ovmf-swtpm/uki-esp-ekcert-tpm";
    let nonce = String::from_utf8(read(&format!("{d}/nonce.hex"))?).unwrap();
    let req = Request {
        evidence: read(&format!("{d}/quote.msg"))?,
        tee: Some(rootline_core::TeeKind::Tpm),
        nonce: Some(hex::decode(nonce.trim()).unwrap()),
        extra: Extra {
            signature: read(&format!("{d}/quote.sig")),
            ak: read(&format!("{d}/ak.pub")),
            pcrs: read(&format!("{d}/quote.pcrs")),
            eventlog: read(&format!("{d}/binary_bios_measurements")),
        },
        ..Request::default()
    };
    Some(verify(&req))
}

/// AMD Turin report with its VCEK (oak).
pub(crate) fn snp() -> Option<Verdict> {
    let req = Request {
        evidence: read("snp/oak/turin_oc_report.bin")?,
        collateral: vec![coll("snp/oak/turin_oc_vcek.der")?],
        at: at("2025-08-15T00:00:00Z"),
        ..Request::default()
    };
    Some(verify(&req))
}

/// The go-sev-guest Milan report, whose guest policy allows debugging.
pub(crate) fn snp_debug() -> Option<Verdict> {
    let req = Request {
        evidence: read("snp/go-sev-guest/attestation.bin")?,
        collateral: vec![coll("snp/go-sev-guest/vcek.der")?],
        at: at("2025-08-15T00:00:00Z"),
        ..Request::default()
    };
    Some(verify(&req))
}

/// dcap-qvl's TDX quote with its collateral.
pub(crate) fn tdx() -> Option<Verdict> {
    let req = Request {
        evidence: read("tdx/dcap-qvl/tdx_quote")?,
        collateral: vec![coll("tdx/dcap-qvl/tdx_quote_collateral.json")?],
        at: at("2025-07-04T10:24:15Z"),
        ..Request::default()
    };
    Some(verify(&req))
}

/// dcap-qvl's SGX quote (TCB ConfigurationAndSWHardeningNeeded).
pub(crate) fn sgx() -> Option<Verdict> {
    let req = Request {
        evidence: read("sgx/dcap-qvl/sgx_quote")?,
        tee: Some(rootline_core::TeeKind::Sgx),
        collateral: vec![coll("sgx/dcap-qvl/sgx_quote_collateral.json")?],
        at: at("2025-07-04T10:28:44Z"),
        ..Request::default()
    };
    Some(verify(&req))
}

/// Verifies with the pinned roots, for [`rootline_verifier::Verified`] claims.
pub(crate) fn verify(req: &Request) -> Verdict {
    static V: std::sync::OnceLock<rootline_verifier::Verifier> = std::sync::OnceLock::new();
    V.get_or_init(rootline_verifier::Verifier::pinned)
        .verify(req)
}

/// The Trustee CCA example token under its CPAK, with its realm challenge
/// as the nonce.
pub(crate) fn cca() -> Option<Verdict> {
    let challenge = "57e979ae2618de0c1ab73144c440d741cf9236dc9d52ed190053382a4d190252f9f0370403c35dcb155fb4362d73c66d5b0494bf939315d3dc52b8cdc8b85a96";
    let req = Request {
        evidence: read("cca/trustee/cca-example-token.cbor")?,
        collateral: vec![coll("cca/trustee/cpak-pub.json")?],
        nonce: Some(hex::decode(challenge).unwrap()),
        ..Request::default()
    };
    Some(verify(&req))
}

/// Trustee's az-snp-vtpm evidence (v1), with the nonce it was made with.
pub(crate) fn azure_snp() -> Option<Verdict> {
    let req = Request {
        evidence: read("azure/trustee-az-snp-vtpm/evidence-v1.json")?,
        nonce: Some(b"challenge".to_vec()),
        ..Request::default()
    };
    Some(verify(&req))
}

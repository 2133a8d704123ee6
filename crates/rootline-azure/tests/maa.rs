//! The MAA request bodies Azure's tooling prints (platform: `{report |
//! quote, runtimeData}`; AzureGuest: `{AttestationInfo}` or its inner JSON),
//! composed here from the Trustee vectors read in place: the SNP report and
//! runtime data of `hcl-report.bin`, the VCEK chain of `vcek.pem`, the TD
//! quote of `td-quote.bin` and the vTPM quote of `tpm-quote-v1.json` (its
//! raw signature wrapped as the TPMT_SIGNATURE MAA takes, its key as the
//! TPM2B_PUBLIC of the runtime data's HCLAkPub). Each must verify as the
//! guest-components form of the same vector does, in every encoding the
//! producers use; one-bit flips are rejected; wrong shapes name the field.
//!
//! (`tpm-quote.msg`/`.sig` of the SNP folder are not used: they belong to
//! an older HCL report, see `vectors.rs`.)

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rootline_azure::maa::{MaaEvidence, MaaForm};
use rootline_azure::{
    AzureKind, Collateral, Error, Evidence, HclReport, Options, Rejection, RuntimeData, TpmQuote,
    Verifier, detect,
};
use rootline_tpm::PublicKey;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::macros::datetime;

const AT: OffsetDateTime = datetime!(2026-06-01 00:00 UTC);
const CHALLENGE: &[u8] = b"challenge";
const SNP: &str = "azure/trustee-az-snp-vtpm";
const TDX: &str = "azure/trustee-az-tdx-vtpm";

fn dir(rel: &str) -> Option<PathBuf> {
    rootline_testkit::vector(rel)
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn verifier() -> &'static Verifier {
    static V: OnceLock<Verifier> = OnceLock::new();
    V.get_or_init(|| Verifier::pinned().unwrap())
}

fn opts(nonce: Option<&[u8]>) -> Options {
    Options {
        at: Some(AT),
        report_data: nonce.map(<[u8]>::to_vec),
        init_data_hash: None,
    }
}

/// The raw pieces of one vector.
#[derive(Clone)]
struct Parts {
    kind: AzureKind,
    /// SNP report or TD quote.
    hw: Vec<u8>,
    /// `vcek.pem` (SNP).
    chain_pem: Vec<u8>,
    runtime: Vec<u8>,
    /// TPMS_ATTEST, raw RSASSA signature, 24 SHA-256 PCRs.
    message: Vec<u8>,
    signature: Vec<u8>,
    pcrs: Vec<Vec<u8>>,
}

fn parts(kind: AzureKind) -> Option<Parts> {
    let d = dir(if kind == AzureKind::Snp { SNP } else { TDX })?;
    let hcl_bytes = read(&d.join("hcl-report.bin"));
    let hcl = HclReport::parse(&hcl_bytes).unwrap();
    let q: Value = serde_json::from_slice(&read(&d.join("tpm-quote-v1.json"))).unwrap();
    let h = |v: &Value| hex::decode(v.as_str().unwrap()).unwrap();
    let (hw, chain_pem) = match kind {
        AzureKind::Snp => (hcl.hw_report.to_vec(), read(&d.join("vcek.pem"))),
        AzureKind::Tdx => (read(&d.join("td-quote.bin")), Vec::new()),
    };
    Some(Parts {
        kind,
        hw,
        chain_pem,
        runtime: hcl.var_data.to_vec(),
        message: h(&q["message"]),
        signature: h(&q["signature"]),
        pcrs: q["pcrs"].as_array().unwrap().iter().map(h).collect(),
    })
}

/// TPMT_SIGNATURE: RSASSA, SHA-256, the raw signature.
fn tpmt_signature(sig: &[u8]) -> Vec<u8> {
    let mut b = vec![0x00, 0x14, 0x00, 0x0b];
    b.extend_from_slice(&(sig.len() as u16).to_be_bytes());
    b.extend_from_slice(sig);
    b
}

/// TPM2B_PUBLIC of a restricted RSA-2048 signing key with modulus `n`.
fn tpm2b_public(n: &[u8]) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(&[0x00, 0x01, 0x00, 0x0b]); // RSA, nameAlg SHA-256
    t.extend_from_slice(&0x0005_0072u32.to_be_bytes()); // sign|restricted|...
    t.extend_from_slice(&[0x00, 0x00]); // authPolicy
    t.extend_from_slice(&[0x00, 0x10]); // symmetric NULL
    t.extend_from_slice(&[0x00, 0x14, 0x00, 0x0b]); // RSASSA-SHA256
    t.extend_from_slice(&2048u16.to_be_bytes());
    t.extend_from_slice(&0u32.to_be_bytes()); // default exponent
    t.extend_from_slice(&(n.len() as u16).to_be_bytes());
    t.extend_from_slice(n);
    let mut b = (t.len() as u16).to_be_bytes().to_vec();
    b.extend_from_slice(&t);
    b
}

fn aik_pub(p: &Parts) -> Vec<u8> {
    let PublicKey::Rsa { n, .. } = RuntimeData::parse(&p.runtime).unwrap().ak else {
        panic!("rsa ak");
    };
    tpm2b_public(&n)
}

/// How a producer encodes: Python/Rust (URL-safe, no padding) or C++
/// (standard, padded).
#[derive(Clone, Copy, Debug)]
enum Enc {
    Url,
    Std,
}

fn enc(e: Enc, b: &[u8]) -> String {
    match e {
        Enc::Url => URL_SAFE_NO_PAD.encode(b),
        Enc::Std => STANDARD.encode(b),
    }
}

fn snp_proof(p: &Parts, e: Enc) -> Value {
    json!({"SnpReport": enc(e, &p.hw), "VcekCertChain": enc(e, &p.chain_pem)})
}

/// The platform request (`AttestSevSnpVm` / `AttestTdxVm`).
fn platform(p: &Parts, e: Enc) -> Value {
    let rt = json!({"data": enc(e, &p.runtime), "dataType": "JSON"});
    match p.kind {
        AzureKind::Snp => {
            let inner = serde_json::to_vec(&snp_proof(p, e)).unwrap();
            json!({"report": enc(e, &inner), "runtimeData": rt, "nonce": "bm9uY2U"})
        }
        AzureKind::Tdx => json!({"quote": enc(e, &p.hw), "runtimeData": rt}),
    }
}

/// The AzureGuest request's inner JSON.
fn guest_inner(p: &Parts, e: Enc) -> Value {
    let (ty, proof) = match p.kind {
        AzureKind::Snp => (
            "SevSnp",
            enc(e, &serde_json::to_vec(&snp_proof(p, e)).unwrap()),
        ),
        AzureKind::Tdx => ("Tdx", enc(Enc::Std, &p.hw)),
    };
    let pcrs: Vec<Value> = p
        .pcrs
        .iter()
        .enumerate()
        .map(|(i, d)| json!({"Index": i, "Digest": enc(e, d)}))
        .collect();
    json!({
        "AttestationProtocolVersion": "2.0",
        "OSType": enc(e, b"Linux"),
        "OSVersionMajor": 22,
        "ClientPayload": {},
        "TpmInfo": {
            "AikPub": enc(e, &aik_pub(p)),
            "PcrQuote": enc(e, &p.message),
            "PcrSignature": enc(e, &tpmt_signature(&p.signature)),
            "PcrSet": (0..24).collect::<Vec<u32>>(),
            "PCRs": pcrs,
        },
        "IsolationInfo": {"Type": ty, "Evidence": {"Proof": proof, "RunTimeData": enc(e, &p.runtime)}},
    })
}

fn guest(p: &Parts, e: Enc) -> Value {
    let inner = serde_json::to_vec(&guest_inner(p, e)).unwrap();
    json!({"AttestationInfo": enc(e, &inner)})
}

fn verify_bytes(b: &[u8], nonce: Option<&[u8]>) -> Result<Value, Box<Rejection>> {
    verifier()
        .verify(b, None, &Collateral::new(), &opts(nonce))
        .map(|a| {
            let a = a.into_inner();
            json!({"claims": a.claims, "warnings": a.warnings, "form": a.evidence_form.map(MaaForm::name)})
        })
}

fn verify_json(v: &Value, nonce: Option<&[u8]>) -> Result<Value, Box<Rejection>> {
    verify_bytes(&serde_json::to_vec(v).unwrap(), nonce)
}

const NOT_HARDWARE: [&str; 8] = [
    "evidence_version",
    "evidence_form",
    "hcl_report",
    "runtime_data",
    "user_data",
    "extra_data",
    "tpm",
    "ak_fingerprint",
];

fn hardware(claims: &Map<String, Value>) -> Map<String, Value> {
    claims
        .iter()
        .filter(|(k, _)| !NOT_HARDWARE.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The guest-components form (v1) of the same pieces: verdict and claims.
/// (The SNP folder's `evidence-v1.json` carries another VM's HCL report;
/// `hcl-report.bin`, `tpm-quote-v1.json` and `vcek.pem` belong together.)
fn reference(p: &Parts) -> Result<Value, Box<Rejection>> {
    let d = dir(if p.kind == AzureKind::Snp { SNP } else { TDX }).unwrap();
    let der = |pem: &[u8]| {
        let b = MaaEvidence::from_value(&json!({"report": {"SnpReport": "", "VcekCertChain": String::from_utf8(pem.to_vec()).unwrap()}, "runtimeData": {"data": "e30"}})).unwrap();
        b.vcek_chain[0].clone()
    };
    let ev = Evidence {
        kind: p.kind,
        version: 1,
        hcl_report: read(&d.join("hcl-report.bin")),
        tpm_quote: TpmQuote {
            signature: p.signature.clone(),
            message: p.message.clone(),
            pcrs: p.pcrs.clone(),
        },
        vcek: (p.kind == AzureKind::Snp).then(|| der(&p.chain_pem)),
        td_quote: (p.kind == AzureKind::Tdx).then(|| p.hw.clone()),
    };
    if p.kind == AzureKind::Tdx {
        // The same evidence as the folder's own guest-components form.
        assert_eq!(
            Evidence::decode(&read(&d.join("evidence-v1.json"))).unwrap(),
            ev
        );
    }
    verifier()
        .verify_evidence(&ev, &Collateral::new(), &opts(Some(CHALLENGE)))
        .map(|a| {
            let a = a.into_inner();
            json!({"claims": a.claims, "warnings": a.warnings})
        })
}

// ---- SNP --------------------------------------------------------------------

#[test]
fn snp_platform_request_verifies_like_the_guest_components_form() {
    let Some(p) = parts(AzureKind::Snp) else {
        return;
    };
    let want = reference(&p).unwrap();
    let want_claims = want["claims"].as_object().unwrap();
    // user-data is 64 zero bytes: a nonce bound there is a prefix of it.
    let zeros = [0u8; 32];
    for e in [Enc::Url, Enc::Std] {
        let v = platform(&p, e);
        let b = serde_json::to_vec(&v).unwrap();
        assert_eq!(detect(&b), Some(AzureKind::Snp), "{e:?}");
        let out = verify_json(&v, Some(&zeros)).unwrap_or_else(|r| panic!("{e:?}: {}", r.error));
        let claims = out["claims"].as_object().unwrap();
        assert_eq!(out["form"], "maa-platform");
        assert_eq!(claims["evidence_form"], "maa-platform");
        assert_eq!(hardware(claims), hardware(want_claims), "{e:?}");
        assert_eq!(claims["runtime_data"], want_claims["runtime_data"]);
        assert_eq!(claims["user_data"], want_claims["user_data"]);
        for k in ["tpm", "extra_data", "hcl_report", "evidence_version"] {
            assert!(!claims.contains_key(k), "{k}");
        }
        assert_eq!(out["warnings"], want["warnings"], "{e:?}");
        // Freshness: the nonce must start user-data; without one it is unchecked.
        let r = verify_json(&v, Some(CHALLENGE)).unwrap_err();
        assert!(
            matches!(
                r.error,
                Error::Mismatch {
                    field: "user-data",
                    ..
                }
            ),
            "{}",
            r.error
        );
        let out = verify_json(&v, None).unwrap();
        assert!(
            out["warnings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|w| w.as_str().unwrap().starts_with("freshness not checked")),
        );
    }
    // The wrapped JSON given as it is: the report as an object, the runtime
    // data as JSON text.
    let v = json!({
        "report": snp_proof(&p, Enc::Url),
        "runtimeData": {"data": String::from_utf8(p.runtime.clone()).unwrap(), "dataType": "JSON"},
    });
    verify_json(&v, Some(&zeros)).unwrap_or_else(|r| panic!("as-is: {}", r.error));
    // The PEM chain as it is, and the report JSON as text.
    let inner = json!({"SnpReport": STANDARD.encode(&p.hw), "VcekCertChain": String::from_utf8(p.chain_pem.clone()).unwrap()});
    let v =
        json!({"report": inner.to_string(), "runtimeData": {"data": enc(Enc::Url, &p.runtime)}});
    verify_json(&v, Some(&zeros)).unwrap_or_else(|r| panic!("pem: {}", r.error));
    // No init-data check without a vTPM quote.
    let o = Options {
        init_data_hash: Some(vec![0; 32]),
        ..opts(None)
    };
    let r = verifier()
        .verify(
            &serde_json::to_vec(&platform(&p, Enc::Url)).unwrap(),
            None,
            &Collateral::new(),
            &o,
        )
        .unwrap_err();
    assert!(
        r.error.to_string().contains("has no vtpm quote"),
        "{}",
        r.error
    );
}

#[test]
fn snp_azure_guest_request_verifies_like_the_guest_components_form() {
    let Some(p) = parts(AzureKind::Snp) else {
        return;
    };
    let want = reference(&p).unwrap();
    let want_claims = want["claims"].as_object().unwrap();
    let inner = guest_inner(&p, Enc::Std);
    let inner_text = serde_json::to_string_pretty(&inner).unwrap();
    let bodies: Vec<Vec<u8>> = vec![
        serde_json::to_vec(&guest(&p, Enc::Url)).unwrap(),
        serde_json::to_vec(&guest(&p, Enc::Std)).unwrap(),
        // The REST examples' spelling.
        serde_json::to_vec(&json!({"attestationInfo": STANDARD.encode(inner_text.as_bytes())}))
            .unwrap(),
        inner_text.clone().into_bytes(),
        format!("Request JSON:\n{inner_text}\n").into_bytes(),
    ];
    for (i, b) in bodies.iter().enumerate() {
        assert_eq!(detect(b), Some(AzureKind::Snp), "body {i}");
        let out = verify_bytes(b, Some(CHALLENGE))
            .unwrap_or_else(|r| panic!("body {i}: rejected: {}", r.error));
        let claims = out["claims"].as_object().unwrap();
        assert_eq!(claims["evidence_form"], "maa-azure-guest");
        assert_eq!(hardware(claims), hardware(want_claims), "body {i}");
        for k in ["runtime_data", "user_data", "extra_data", "tpm"] {
            assert_eq!(claims[k], want_claims[k], "body {i}: {k}");
        }
        assert!(!claims.contains_key("hcl_report"));
        // The same warnings as the guest-components form, and one more:
        // this request has no TcgLogs, and says so.
        let mut warnings = out["warnings"].as_array().unwrap().clone();
        let no_log = warnings
            .iter()
            .position(|w| w.as_str().is_some_and(|w| w.starts_with("no TcgLogs")))
            .unwrap_or_else(|| panic!("body {i}: no warning about the missing TcgLogs"));
        warnings.remove(no_log);
        assert_eq!(Value::Array(warnings), want["warnings"], "body {i}");
    }
    // The nonce is the vTPM quote's extraData.
    let b = &bodies[0];
    let r = verify_bytes(b, Some(b"challengf")).unwrap_err();
    assert!(
        matches!(
            r.error,
            Error::Tpm(rootline_tpm::Error::NonceMismatch { .. })
        ),
        "{}",
        r.error
    );
    // TcgLogs are replayed against the PCRs the real vTPM quote signs:
    // bytes that are no log are refused naming the field, and a log (a
    // synthetic one: no real request with a log is in the vectors) that
    // does not replay to the quoted PCRs is refused naming the first PCR.
    // tests/tcg_logs.rs has a log that does replay, on a synthetic request.
    let mut v = guest_inner(&p, Enc::Url);
    v["TcgLogs"] = json!(enc(Enc::Url, b"not an event log"));
    let r = verify_json(&v, Some(CHALLENGE)).unwrap_err();
    assert!(
        matches!(&r.error, Error::Evidence { field, .. } if field == "TcgLogs"),
        "{}",
        r.error
    );
    let mut log =
        rootline_eventlog::builder::LogBuilder::crypto_agile(&[rootline_core::HashAlg::SHA256]);
    log.measure_data(0, rootline_eventlog::EventType::EV_SEPARATOR, &[0, 0, 0, 0]);
    v["TcgLogs"] = json!(enc(Enc::Url, log.bytes()));
    let r = verify_json(&v, Some(CHALLENGE)).unwrap_err();
    let Error::Mismatch { field, reason } = &r.error else {
        panic!("{}", r.error);
    };
    assert_eq!(*field, "TcgLogs");
    assert!(reason.contains("PCR 0 (sha256)"), "{reason}");
    assert!(reason.contains(&hex::encode(&p.pcrs[0])), "{reason}");
}

#[test]
fn azure_guest_with_another_aik_is_rejected() {
    let Some(p) = parts(AzureKind::Snp) else {
        return;
    };
    let mut v = guest_inner(&p, Enc::Url);
    let ak = rootline_tpm::synthetic::SyntheticAk::rsa_2048().unwrap();
    let mut tpm2b = (ak.tpmt_public().raw.len() as u16).to_be_bytes().to_vec();
    tpm2b.extend_from_slice(&ak.tpmt_public().raw);
    v["TpmInfo"]["AikPub"] = json!(enc(Enc::Url, &tpm2b));
    let r = verify_json(&v, Some(CHALLENGE)).unwrap_err();
    assert!(
        matches!(
            r.error,
            Error::Mismatch {
                field: "AikPub",
                ..
            }
        ),
        "{}",
        r.error
    );
}

// ---- TDX --------------------------------------------------------------------

#[test]
fn tdx_requests_verify_up_to_missing_collateral_like_the_guest_components_form() {
    let Some(p) = parts(AzureKind::Tdx) else {
        return;
    };
    let want = reference(&p).unwrap_err();
    assert!(matches!(want.error, Error::CollateralMissing(_)));
    let want_hw = hardware(&want.claims);
    assert!(want_hw.contains_key("mr_td"), "{want_hw:?}");
    let zeros = [0u8; 32];
    for e in [Enc::Url, Enc::Std] {
        let v = platform(&p, e);
        assert_eq!(
            detect(&serde_json::to_vec(&v).unwrap()),
            Some(AzureKind::Tdx)
        );
        let r = verify_json(&v, Some(&zeros)).unwrap_err();
        assert!(
            matches!(r.error, Error::CollateralMissing(_)),
            "{e:?}: {}",
            r.error
        );
        assert_eq!(hardware(&r.claims), want_hw, "{e:?}");
        assert_eq!(r.claims["evidence_form"], "maa-platform");
        assert!(!r.claims.contains_key("tpm"));

        let v = guest(&p, e);
        assert_eq!(
            detect(&serde_json::to_vec(&v).unwrap()),
            Some(AzureKind::Tdx)
        );
        let r = verify_json(&v, Some(CHALLENGE)).unwrap_err();
        assert!(
            matches!(r.error, Error::CollateralMissing(_)),
            "{e:?}: {}",
            r.error
        );
        assert_eq!(hardware(&r.claims), want_hw, "{e:?}");
        for k in ["runtime_data", "user_data", "extra_data", "tpm"] {
            assert_eq!(r.claims[k], want.claims[k], "{e:?}: {k}");
        }
        // The other checks run before "collateral missing" is reported.
        let r = verify_json(&v, Some(b"challengf")).unwrap_err();
        assert!(matches!(r.error, Error::Tpm(_)), "{}", r.error);
    }
}

// ---- bit flips --------------------------------------------------------------

/// Verified (SNP) or stopped only by missing collateral (TDX).
fn accepted(ev: &MaaEvidence, nonce: &[u8]) -> bool {
    match verifier().verify_maa(ev, &Collateral::new(), &opts(Some(nonce))) {
        Ok(_) => true,
        Err(r) => matches!(r.error, Error::CollateralMissing(_)),
    }
}

fn flip_each(
    base: &MaaEvidence,
    nonce: &[u8],
    what: &str,
    pick: fn(&mut MaaEvidence) -> &mut Vec<u8>,
    len: usize,
    skip: &[std::ops::Range<usize>],
) {
    let mut passed = Vec::new();
    for i in 0..len {
        if skip.iter().any(|r| r.contains(&i)) {
            continue;
        }
        let mut ev = base.clone();
        pick(&mut ev)[i] ^= 1 << (i % 8);
        if accepted(&ev, nonce) {
            passed.push(i);
        }
    }
    assert!(
        passed.is_empty(),
        "{what}: flips at {passed:?} were accepted"
    );
}

fn snp_report(e: &mut MaaEvidence) -> &mut Vec<u8> {
    e.snp_report.as_mut().unwrap()
}
fn td_quote(e: &mut MaaEvidence) -> &mut Vec<u8> {
    e.td_quote.as_mut().unwrap()
}
fn runtime(e: &mut MaaEvidence) -> &mut Vec<u8> {
    &mut e.runtime_data
}
fn quote(e: &mut MaaEvidence) -> &mut Vec<u8> {
    &mut e.tpm.as_mut().unwrap().quote
}
fn signature(e: &mut MaaEvidence) -> &mut Vec<u8> {
    &mut e.tpm.as_mut().unwrap().signature
}
fn aik(e: &mut MaaEvidence) -> &mut Vec<u8> {
    &mut e.tpm.as_mut().unwrap().aik_pub
}

#[test]
fn one_bit_flips_are_rejected() {
    for kind in [AzureKind::Snp, AzureKind::Tdx] {
        let Some(p) = parts(kind) else { return };
        let hw: fn(&mut MaaEvidence) -> &mut Vec<u8> = match kind {
            AzureKind::Snp => snp_report,
            AzureKind::Tdx => td_quote,
        };
        // The SNP report whole; the TD quote's signed header and body.
        let hw_len = if kind == AzureKind::Snp {
            1184
        } else {
            48 + 584
        };
        let plat = MaaEvidence::from_value(&platform(&p, Enc::Url)).unwrap();
        assert_eq!(plat.runtime_data, p.runtime);
        let zeros = [0u8; 32];
        assert!(accepted(&plat, &zeros), "{kind}");
        flip_each(&plat, &zeros, "platform hardware report", hw, hw_len, &[]);
        flip_each(
            &plat,
            &zeros,
            "platform runtime data",
            runtime,
            p.runtime.len(),
            &[],
        );

        let g = MaaEvidence::from_value(&guest(&p, Enc::Std)).unwrap();
        assert!(accepted(&g, CHALLENGE), "{kind}");
        let tpm = g.tpm.clone().unwrap();
        flip_each(
            &g,
            CHALLENGE,
            "guest runtime data",
            runtime,
            p.runtime.len(),
            &[],
        );
        flip_each(&g, CHALLENGE, "guest PcrQuote", quote, tpm.quote.len(), &[]);
        flip_each(
            &g,
            CHALLENGE,
            "guest PcrSignature",
            signature,
            tpm.signature.len(),
            &[],
        );
        // AikPub: the TPM2B size, type, nameAlg, policy size, exponent and
        // modulus; the attributes, symmetric, scheme and key bits are not
        // the key the runtime data binds (skipped).
        flip_each(
            &g,
            CHALLENGE,
            "guest AikPub",
            aik,
            tpm.aik_pub.len(),
            &[6..10, 12..20],
        );
        for i in 0..tpm.pcrs.len() {
            let mut ev = g.clone();
            ev.tpm.as_mut().unwrap().pcrs[i].1[i % 32] ^= 1;
            assert!(!accepted(&ev, CHALLENGE), "{kind}: pcr {i}");
        }
        if kind == AzureKind::Snp {
            flip_each(&g, CHALLENGE, "guest SnpReport", hw, hw_len, &[]);
        }
    }
}

// ---- shapes -----------------------------------------------------------------

fn decode_err(v: &Value) -> String {
    MaaEvidence::from_value(v).unwrap_err().to_string()
}

#[test]
fn wrong_shapes_name_the_field() {
    let Some(p) = parts(AzureKind::Snp) else {
        return;
    };
    let mut v = platform(&p, Enc::Url);
    v["runtimeData"]["data"] = json!({"keys": []});
    assert!(decode_err(&v).starts_with("malformed evidence: runtimeData.data: not a string"));
    let mut v = platform(&p, Enc::Url);
    v["runtimeData"]["dataType"] = json!("Binary");
    assert!(decode_err(&v).contains("runtimeData.dataType"));
    let mut v = platform(&p, Enc::Url);
    v["report"] = json!("!!!");
    assert!(decode_err(&v).starts_with("malformed evidence: report: not base64"));
    let mut v = platform(&p, Enc::Url);
    v["report"] = json!({"SnpReport": "AAAA", "VcekCertChain": enc(Enc::Url, b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")});
    assert!(
        decode_err(&v).contains("report.VcekCertChain[0]"),
        "{}",
        decode_err(&v)
    );

    let mut v = guest_inner(&p, Enc::Url);
    v["TpmInfo"]["PCRs"][3]["Digest"] = json!(7);
    assert_eq!(
        decode_err(&v),
        "malformed evidence: TpmInfo.PCRs[3].Digest: not a base64 string"
    );
    let mut v = guest_inner(&p, Enc::Url);
    v["TpmInfo"].as_object_mut().unwrap().remove("PcrQuote");
    assert_eq!(
        decode_err(&v),
        "malformed evidence: TpmInfo.PcrQuote: missing"
    );
    let mut v = guest_inner(&p, Enc::Url);
    v["IsolationInfo"]["Evidence"]["Proof"] = json!("e30");
    assert!(
        decode_err(&v).contains("IsolationInfo.Evidence.Proof.SnpReport: missing"),
        "{}",
        decode_err(&v)
    );
    // A PCR the quote does not select, and a missing one.
    let mut v = guest_inner(&p, Enc::Url);
    v["TpmInfo"]["PCRs"][23]["Index"] = json!(24);
    let r = verify_json(&v, Some(CHALLENGE)).unwrap_err();
    assert!(
        r.error.to_string().contains("TpmInfo.PCRs[23]"),
        "{}",
        r.error
    );
    let mut v = guest_inner(&p, Enc::Url);
    v["TpmInfo"]["PCRs"].as_array_mut().unwrap().pop();
    let r = verify_json(&v, Some(CHALLENGE)).unwrap_err();
    assert!(r.error.to_string().contains("sha256 pcr 23"), "{}", r.error);
    // A raw signature where a TPMT_SIGNATURE belongs.
    let mut v = guest_inner(&p, Enc::Url);
    v["TpmInfo"]["PcrSignature"] = json!(enc(Enc::Url, &p.signature));
    let r = verify_json(&v, Some(CHALLENGE)).unwrap_err();
    assert!(
        r.error.to_string().contains("TpmInfo.PcrSignature"),
        "{}",
        r.error
    );

    // Trusted launch: no TEE, refused with the reason.
    let mut v = guest_inner(&p, Enc::Url);
    v["IsolationInfo"]["Type"] = json!("TrustedLaunch");
    assert_eq!(detect(&serde_json::to_vec(&v).unwrap()), None);
    let r = verifier()
        .verify(
            &serde_json::to_vec(&v).unwrap(),
            Some(AzureKind::Snp),
            &Collateral::new(),
            &opts(None),
        )
        .unwrap_err();
    assert!(r.error.to_string().contains("TrustedLaunch"), "{}", r.error);
    // The kind asked for must be the evidence's.
    let r = verifier()
        .verify(
            &serde_json::to_vec(&guest(&p, Enc::Url)).unwrap(),
            Some(AzureKind::Tdx),
            &Collateral::new(),
            &opts(None),
        )
        .unwrap_err();
    assert!(matches!(r.error, Error::Mismatch { field: "tee", .. }));
}

#[test]
fn truncated_requests_never_pass() {
    let Some(p) = parts(AzureKind::Snp) else {
        return;
    };
    for v in [platform(&p, Enc::Url), guest(&p, Enc::Std)] {
        let b = serde_json::to_vec(&v).unwrap();
        for cut in (0..b.len()).filter(|i| i % 97 == 0 || *i + 8 > b.len()) {
            assert!(
                verify_bytes(&b[..cut], Some(CHALLENGE)).is_err(),
                "cut {cut}"
            );
        }
    }
}

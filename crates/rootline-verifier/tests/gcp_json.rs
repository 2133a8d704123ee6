//! The JSON shapes of Google Cloud's tooling (issue 18, part 4): the
//! Confidential Computing REST `VerifyAttestation` body, the Confidential
//! Space launcher's `/v1/evidence` and protojson of go-tpm-tools'
//! `attest.Attestation`.
//!
//! No real capture of these shapes with TEE data is public, so every
//! fixture is assembled here, at test time, from real pieces read in place:
//! the GCE COS-85 quotes, signatures, AK certificate and event log that
//! go-tpm-tools' protobuf vector decomposes into (with the PCR values the
//! collector recorded per bank), go-sev-guest's Milan report with its VCEK
//! (put in a GHCB certificate table here), dcap-qvl's TD quote with its
//! collateral, and go-tdx-guest's COS-113 TD quote with its CCEL.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rootline_core::TeeKind;
use rootline_verifier::{Collateral, Outcome, Request, Verifier};
use serde_json::{Map, Value, json};

const AT: &str = "2025-07-04T10:24:15Z";

fn b64(b: &[u8]) -> Value {
    Value::String(STANDARD.encode(b))
}

fn at(s: &str) -> time::OffsetDateTime {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap()
}

/// One quote: bank name, TPM_ALG_ID, TPMS_ATTEST, TPMT_SIGNATURE, PCRs by index.
type Quote = (&'static str, u16, Vec<u8>, Vec<u8>, Map<String, Value>);

/// The go-tpm-tools vector's pieces.
struct Tpm {
    dir: PathBuf,
    quotes: Vec<Quote>,
    ak_cert: Vec<u8>,
    ak_pub: Vec<u8>,
    event_log: Vec<u8>,
}

fn tpm() -> Option<Tpm> {
    let dir = rootline_testkit::vector("tpm-quote/go-tpm-tools")?;
    let read = |f: &str| std::fs::read(dir.join(format!("gce-cos-85-no-nonce.{f}"))).unwrap();
    let expected: Value =
        serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
    let exp = &expected["gce-cos-85-no-nonce.pb"]["quotes"];
    let mut quotes = Vec::new();
    for (i, (bank, alg)) in [("sha1", 4u16), ("sha256", 11), ("sha384", 12)]
        .into_iter()
        .enumerate()
    {
        assert_eq!(exp[i]["bank"], bank);
        let pcrs = exp[i]["pcrs"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), b64(&hex::decode(v.as_str().unwrap()).unwrap())))
            .collect();
        quotes.push((
            bank,
            alg,
            read(&format!("quote{i}_{bank}.tpms_attest.bin")),
            read(&format!("quote{i}_{bank}.tpmt_signature.bin")),
            pcrs,
        ));
    }
    Some(Tpm {
        quotes,
        ak_cert: read("ak_cert.der"),
        ak_pub: read("ak_pub.tpmt_public.bin"),
        event_log: read("event_log.bin"),
        dir,
    })
}

/// The REST body's `tpmAttestation`.
fn tpm_attestation(t: &Tpm) -> Value {
    let quotes: Vec<Value> = t
        .quotes
        .iter()
        .map(|(_, alg, attest, sig, pcrs)| {
            json!({"hashAlgo": alg, "pcrValues": pcrs, "rawQuote": b64(attest), "rawSignature": b64(sig)})
        })
        .collect();
    json!({
        "quotes": quotes,
        "tcgEventLog": b64(&t.event_log),
        "akCert": b64(&t.ak_cert),
        "certChain": [],
    })
}

fn rest_body(t: &Tpm) -> Value {
    json!({
        "challenge": "projects/p/locations/us-central1/challenges/c0ffee",
        "tpmAttestation": tpm_attestation(t),
        "gcpCredentials": {"serviceAccountIdTokens": []},
        "tokenOptions": {"audience": "x"},
    })
}

fn collateral(paths: &[PathBuf]) -> Vec<Collateral> {
    paths
        .iter()
        .map(|p| Collateral {
            origin: p.clone(),
            bytes: std::fs::read(p).unwrap(),
        })
        .collect()
}

/// Google's EK/AK CA: the root and the intermediate that issued the AK.
fn google_ca(t: &Tpm) -> Vec<PathBuf> {
    let ca = t.dir.join("gce-ca-certs");
    vec![
        ca.join("tpm_ek_root_1.cer"),
        ca.join("tpm_ek_intermediate_2.crt"),
    ]
}

fn request(evidence: Vec<u8>, coll: &[PathBuf], nonce: Option<Vec<u8>>) -> Request {
    Request {
        evidence,
        collateral: collateral(coll),
        at: Some(at(AT)),
        nonce,
        ..Request::default()
    }
}

fn run(body: &Value, coll: &[PathBuf], nonce: Option<Vec<u8>>) -> Outcome {
    Verifier::pinned().outcome(&request(serde_json::to_vec(body).unwrap(), coll, nonce))
}

fn error(o: &Outcome) -> &str {
    assert!(!o.verified, "accepted: {:?}", o.claims);
    o.error.as_deref().unwrap()
}

/// What the protobuf path says of the same attestation.
fn protobuf_outcome(t: &Tpm) -> Outcome {
    let pb = std::fs::read(t.dir.join("gce-cos-85-no-nonce.pb")).unwrap();
    let o = Verifier::pinned().outcome(&request(pb, &google_ca(t), Some(Vec::new())));
    assert!(o.verified, "{:?}", o.error);
    o
}

/// The claims both paths must agree on: PCRs, AK, chain, replay, quotes.
fn assert_same_tpm_claims(o: &Outcome, pb: &Outcome) {
    assert!(o.verified, "{:?}", o.error);
    assert_eq!(o.tee, Some(TeeKind::Tpm));
    for k in [
        "pcrs",
        "ak_fingerprint",
        "ak_trust",
        "event_log",
        "quotes",
        "extra_data",
        "clock",
    ] {
        assert_eq!(o.claims[k], pb.claims[k], "{k}");
    }
    assert_eq!(o.claims["event_log"]["matches_quote"], true);
    assert_eq!(o.claims["pcrs"]["sha256"].as_object().unwrap().len(), 24);
}

#[test]
fn rest_body_verifies_with_the_claims_of_the_protobuf() {
    let Some(t) = tpm() else { return };
    let pb = protobuf_outcome(&t);
    let o = run(&rest_body(&t), &google_ca(&t), Some(Vec::new()));
    assert_same_tpm_claims(&o, &pb);
    assert_eq!(
        o.claims["evidence_form"],
        "google cloud attestation request"
    );
    // Detected as TPM evidence, not as anything its fields resemble.
    let bytes = serde_json::to_vec(&rest_body(&t)).unwrap();
    assert_eq!(rootline_verifier::detect(&bytes), Some(TeeKind::Tpm));
}

/// Every field name in its proto (snake_case) spelling, every byte string in
/// URL-safe base64 without padding, and the bank as its enum name.
fn snake_url(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let mut s = String::new();
                    for c in k.chars() {
                        if c.is_ascii_uppercase() {
                            s.push('_');
                            s.push(c.to_ascii_lowercase());
                        } else {
                            s.push(c);
                        }
                    }
                    let v = match (s.as_str(), v) {
                        ("hash_algo", Value::Number(n)) => json!(match n.as_u64().unwrap() {
                            4 => "SHA1",
                            11 => "SHA256",
                            _ => "SHA384",
                        }),
                        _ => snake_url(v),
                    };
                    (s, v)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(snake_url).collect()),
        Value::String(s) => match STANDARD.decode(s) {
            Ok(b) if !s.starts_with("projects/") && b.len() > 8 => {
                Value::String(URL_SAFE_NO_PAD.encode(b))
            }
            _ => v.clone(),
        },
        other => other.clone(),
    }
}

#[test]
fn snake_case_names_and_url_safe_base64_verify_alike() {
    let Some(t) = tpm() else { return };
    let pb = protobuf_outcome(&t);
    let body = snake_url(&rest_body(&t));
    let text = body.to_string();
    assert!(text.contains("\"tpm_attestation\"") && text.contains("\"raw_quote\""));
    assert!(text.contains("\"SHA256\""));
    assert!(
        text.contains('-') || text.contains('_'),
        "no URL-safe character"
    );
    let o = run(&body, &google_ca(&t), Some(Vec::new()));
    assert_same_tpm_claims(&o, &pb);
}

fn flipped(v: &mut Value, pointer: &str, at_byte: usize) {
    let slot = v.pointer_mut(pointer).unwrap();
    let mut b = STANDARD.decode(slot.as_str().unwrap()).unwrap();
    let i = at_byte.min(b.len() - 1);
    b[i] ^= 0x01;
    *slot = b64(&b);
}

#[test]
fn one_bit_flipped_in_each_tpm_part_is_rejected_naming_it() {
    let Some(t) = tpm() else { return };
    let cases: [(&str, usize, &str); 4] = [
        // The clock, inside the signed TPMS_ATTEST.
        ("/tpmAttestation/quotes/1/rawQuote", 40, "quote 1"),
        ("/tpmAttestation/quotes/2/rawSignature", 100, "quote 2"),
        // The certificate's own signature, at its end.
        ("/tpmAttestation/akCert", usize::MAX, "ak certificate"),
        ("/tpmAttestation/quotes/0/pcrValues/7", 3, "quote 0"),
    ];
    for (pointer, byte, names) in cases {
        let mut body = rest_body(&t);
        flipped(&mut body, pointer, byte);
        let o = run(&body, &google_ca(&t), Some(Vec::new()));
        let e = error(&o);
        assert!(
            e.starts_with("tpmAttestation: ") && e.contains(names),
            "{pointer}: {e}"
        );
    }
}

#[test]
fn pcr_values_that_are_not_what_the_quote_covers_are_rejected() {
    let Some(t) = tpm() else { return };
    // One selected PCR missing.
    let mut body = rest_body(&t);
    body["tpmAttestation"]["quotes"][1]["pcrValues"]
        .as_object_mut()
        .unwrap()
        .remove("23");
    let e = error(&run(&body, &google_ca(&t), Some(Vec::new()))).to_owned();
    assert!(
        e.contains(
            "tpmAttestation.quotes[1].pcrValues does not hold the PCRs the quote's digest covers"
        ),
        "{e}"
    );
    // The values of another bank under this quote's bank.
    let mut body = rest_body(&t);
    body["tpmAttestation"]["quotes"][1]["hashAlgo"] = json!(12);
    let e = error(&run(&body, &google_ca(&t), Some(Vec::new()))).to_owned();
    assert!(e.contains("pcrValues"), "{e}");
    // Two values swapped: each is a real PCR value, the digest disagrees.
    let mut body = rest_body(&t);
    let m = body["tpmAttestation"]["quotes"][1]["pcrValues"]
        .as_object_mut()
        .unwrap();
    let (a, b) = (m["0"].clone(), m["4"].clone());
    m.insert("0".into(), b);
    m.insert("4".into(), a);
    let e = error(&run(&body, &google_ca(&t), Some(Vec::new()))).to_owned();
    assert!(e.starts_with("tpmAttestation: quote 1"), "{e}");
    assert!(e.contains("digest"), "{e}");
}

/// A GHCB extended-report certificate table (GHCB spec 4.1.8.1): GUID,
/// offset and length per entry, an all-zero entry, then the certificates.
fn cert_table(certs: &[([u8; 16], &[u8])]) -> Vec<u8> {
    let header = (certs.len() + 1) * 24;
    let mut table = Vec::new();
    let mut data = Vec::new();
    for (guid, der) in certs {
        table.extend_from_slice(guid);
        table.extend_from_slice(&u32::try_from(header + data.len()).unwrap().to_le_bytes());
        table.extend_from_slice(&u32::try_from(der.len()).unwrap().to_le_bytes());
        data.extend_from_slice(der);
    }
    table.extend_from_slice(&[0u8; 24]);
    table.extend_from_slice(&data);
    table
}

fn snp_pieces() -> Option<(Vec<u8>, Vec<u8>, PathBuf)> {
    let d = rootline_testkit::vector("snp/go-sev-guest")?;
    let report = std::fs::read(d.join("attestation.bin")).unwrap();
    let vcek = std::fs::read(d.join("vcek.der")).unwrap();
    let table = cert_table(&[(rootline_snp::certtable::CertGuid::VCEK.0, &vcek)]);
    Some((report, table, d.join("ask_ark_milan.pem")))
}

fn with_snp(t: &Tpm, report: &[u8], table: &[u8]) -> Value {
    let mut body = rest_body(t);
    body["sevSnpAttestation"] = json!({"report": b64(report), "auxBlob": b64(table)});
    body
}

#[test]
fn rest_body_with_an_snp_report_verifies_both_and_says_they_are_not_bound() {
    let (Some(t), Some((report, table, ask_ark))) = (tpm(), snp_pieces()) else {
        return;
    };
    let pb = protobuf_outcome(&t);
    let mut coll = google_ca(&t);
    coll.push(ask_ark);
    // No nonce: go-sev-guest's report carries 0102030405..., not the
    // quotes' empty extraData, which is said.
    let o = run(&with_snp(&t, &report, &table), &coll, None);
    assert!(o.verified, "{:?}", o.error);
    for k in ["pcrs", "ak_fingerprint", "ak_trust", "event_log"] {
        assert_eq!(o.claims[k], pb.claims[k], "{k}");
    }
    assert_eq!(
        o.claims["snp"]["measurement"],
        "b07af9620f3b839b47996422ddec6058338951d984e312115131ea82705eaf5b6bdf8a9ece31a5a608eb0cf2e4872b01"
    );
    assert!(o.tcb_status.is_some() || o.claims["snp"].is_object());
    assert!(
        o.warnings
            .iter()
            .any(|w| w.contains("not cryptographically bound") && w.contains("sevSnpAttestation")),
        "{:?}",
        o.warnings
    );
    assert!(
        o.warnings
            .iter()
            .any(|w| w.contains("REPORT_DATA is not the quotes' extraData")),
        "{:?}",
        o.warnings
    );
    // A relying party binds the report too: its REPORT_DATA is exposed.
    let v = Verifier::pinned()
        .verify(&request(
            serde_json::to_vec(&with_snp(&t, &report, &table)).unwrap(),
            &coll,
            None,
        ))
        .unwrap();
    let paired = v.claims().paired_report_data().unwrap();
    assert_eq!(paired.bytes, report[0x50..0x90]);
    assert_eq!(v.claims().report_data().unwrap().bytes, Vec::<u8>::new());
    // The nonce binds both halves: the quotes carry the empty nonce, the
    // report does not carry it zero-filled.
    let e = error(&run(
        &with_snp(&t, &report, &table),
        &coll,
        Some(Vec::new()),
    ))
    .to_owned();
    assert!(e.starts_with("sevSnpAttestation: "), "{e}");
    assert!(e.contains("nonce"), "{e}");
}

#[test]
fn snp_report_with_a_flipped_bit_or_no_vcek_is_rejected_naming_it() {
    let (Some(t), Some((report, table, ask_ark))) = (tpm(), snp_pieces()) else {
        return;
    };
    let mut coll = google_ca(&t);
    coll.push(ask_ark);
    for byte in [0x90, 0x2a0] {
        // The measurement, then the signature's r.
        let mut r = report.clone();
        r[byte] ^= 0x01;
        let o = run(&with_snp(&t, &r, &table), &coll, None);
        let e = error(&o);
        assert!(e.starts_with("sevSnpAttestation: "), "{e}");
        assert_eq!(o.tee, Some(TeeKind::Tpm));
        // The TPM half's claims are there, the report's beside them.
        assert!(o.claims["pcrs"].is_object() && o.claims["snp"].is_object());
    }
    // No certificate table and no VCEK in the collateral: fails closed.
    let mut body = with_snp(&t, &report, &table);
    body["sevSnpAttestation"]
        .as_object_mut()
        .unwrap()
        .remove("auxBlob");
    let e = error(&run(&body, &coll, None)).to_owned();
    assert!(e.starts_with("sevSnpAttestation: "), "{e}");
}

fn tdx_pieces() -> Option<(Vec<u8>, PathBuf)> {
    let d = rootline_testkit::vector("tdx/dcap-qvl")?;
    Some((
        std::fs::read(d.join("tdx_quote")).unwrap(),
        d.join("tdx_quote_collateral.json"),
    ))
}

#[test]
fn rest_body_with_a_td_quote_verifies_both() {
    let (Some(t), Some((quote, coll_json))) = (tpm(), tdx_pieces()) else {
        return;
    };
    let mut coll = google_ca(&t);
    coll.push(coll_json);
    let mut body = rest_body(&t);
    body["tdCcel"] = json!({"tdQuote": b64(&quote)});
    let o = run(&body, &coll, None);
    assert!(o.verified, "{:?}", o.error);
    assert_eq!(o.tee, Some(TeeKind::Tpm));
    assert_eq!(o.claims["tdx"]["mr_td"].as_str().unwrap().len(), 96);
    assert!(o.tcb_status.is_some());
    assert!(
        o.warnings
            .iter()
            .any(|w| w.contains("not cryptographically bound") && w.contains("tdCcel")),
        "{:?}",
        o.warnings
    );
    // One bit of the quote's body (MRTD) flipped.
    let mut q = quote.clone();
    q[48 + 136] ^= 0x01;
    body["tdCcel"]["tdQuote"] = b64(&q);
    let o = run(&body, &coll, None);
    let e = error(&o);
    assert!(e.starts_with("tdCcel: "), "{e}");
    assert!(o.claims["tdx"].is_object());
}

#[test]
fn rest_body_with_a_td_quote_and_its_ccel_replays_the_ccel() {
    let (Some(t), Some(d)) = (tpm(), rootline_testkit::vector("tdx/go-tdx-guest/ccel")) else {
        return;
    };
    let read = |f: &str| std::fs::read(d.join(f)).unwrap();
    let mut body = rest_body(&t);
    body["tdCcel"] = json!({
        "tdQuote": b64(&read("cos-113-tdx-quote.dat")),
        "ccelData": b64(&read("ccel_data.dat")),
        "ccelAcpiTable": b64(&read("ccel_table.dat")),
    });
    // The shared set has no Intel collateral for this quote: the verdict
    // is the missing collateral, after the CCEL was replayed against the
    // quote's RTMRs.
    let o = run(&body, &google_ca(&t), None);
    let e = error(&o).to_owned();
    assert!(e.starts_with("tdCcel: "), "{e}");
    assert!(o.claims["pcrs"].is_object());
    let tdx = &o.claims["tdx"];
    assert!(tdx["ccel_events"].as_u64().unwrap() > 0, "{tdx}");
    for r in ["rtmr0", "rtmr1", "rtmr2"] {
        assert_eq!(tdx[format!("ccel_{r}")], tdx[r], "{r}");
    }
    // A tampered CCEL is named as the TD part's failure too.
    let mut log = read("ccel_data.dat");
    let n = log.len();
    log[n / 3] ^= 0x01;
    body["tdCcel"]["ccelData"] = b64(&log);
    let o = run(&body, &google_ca(&t), None);
    assert!(error(&o).starts_with("tdCcel: "), "{:?}", o.error);
}

/// A COS log for `register` with one image reference, SHA-384 only (a TDX
/// log's bank) or SHA-1 and SHA-256 (a vTPM log's).
fn cos_log(
    register: rootline_eventlog::cel::Register,
    banks: &[rootline_core::HashAlg],
) -> Vec<u8> {
    rootline_eventlog::cel::encode(&[(
        register,
        banks,
        rootline_eventlog::cel::CosType::IMAGE_REF,
        b"us-docker.pkg.dev/p/r/app:1".as_slice(),
    )])
}

#[test]
fn a_canonical_event_log_the_gce_quote_did_not_extend_is_refused_naming_pcr13() {
    use rootline_core::HashAlg;
    use rootline_eventlog::cel::{IndexType, Register};
    let Some(t) = tpm() else { return };
    let reg = Register {
        kind: IndexType::PCR,
        index: 13,
    };
    let mut body = rest_body(&t);
    body["tpmAttestation"]["canonicalEventLog"] = b64(&cos_log(reg, &[HashAlg::SHA256]));
    let o = run(&body, &google_ca(&t), Some(Vec::new()));
    let e = error(&o);
    // The COS-85 image ran no launcher: PCR 13 holds no COS event.
    assert!(
        e.contains("tpmAttestation.canonicalEventLog: pcr 13 sha256 check failed"),
        "{e}"
    );
    let quoted = o.claims["pcrs"]["sha256"]["13"].as_str().unwrap();
    assert!(e.contains(quoted), "{e}");
}

#[test]
fn the_protobuf_canonical_event_log_field_5_is_replayed_too() {
    use rootline_core::HashAlg;
    use rootline_eventlog::cel::COS_PCR;
    let Some(t) = tpm() else { return };
    let mut pb = std::fs::read(t.dir.join("gce-cos-85-no-nonce.pb")).unwrap();
    // Field 5 (`canonical_event_log`, bytes): tag 0x2a, a varint length.
    // Protobuf fields may come in any order, so it is appended.
    let log = cos_log(COS_PCR, &[HashAlg::SHA1, HashAlg::SHA256]);
    assert!(log.len() < 0x80);
    pb.extend_from_slice(&[0x2a, log.len() as u8]);
    pb.extend_from_slice(&log);
    let o = Verifier::pinned().outcome(&request(pb, &google_ca(&t), Some(Vec::new())));
    let e = error(&o);
    assert!(
        e.starts_with("canonical_event_log: pcr 13 sha1 check failed"),
        "{e}"
    );
}

#[test]
fn the_launcher_cel_launch_event_log_is_replayed_too() {
    use rootline_core::HashAlg;
    use rootline_eventlog::cel::COS_PCR;
    let Some(t) = tpm() else { return };
    let mut body = launcher_body(&t);
    body["quote"]["tpmQuote"]["celLaunchEventLog"] = b64(&cos_log(COS_PCR, &[HashAlg::SHA256]));
    let e = error(&run(&body, &google_ca(&t), Some(Vec::new()))).to_owned();
    assert!(
        e.starts_with("quote.tpmQuote.celLaunchEventLog: pcr 13 sha256 check failed"),
        "{e}"
    );
}

#[test]
fn a_tdx_canonical_event_log_is_held_to_the_td_quote_rtmr3() {
    use rootline_core::HashAlg;
    use rootline_eventlog::cel::{IndexType, Register};
    let (Some(t), Some((quote, coll_json))) = (tpm(), tdx_pieces()) else {
        return;
    };
    let mut coll = google_ca(&t);
    coll.push(coll_json);
    let ccmr = |index| Register {
        kind: IndexType::CCMR,
        index,
    };
    let mut body = rest_body(&t);
    body["tdCcel"] = json!({
        "tdQuote": b64(&quote),
        "canonicalEventLog": b64(&cos_log(ccmr(4), &[HashAlg::SHA384])),
    });
    let o = run(&body, &coll, None);
    let e = error(&o);
    assert!(
        e.contains("tdCcel.canonicalEventLog: rtmr3 check failed"),
        "{e}"
    );
    let rtmr3 = o.claims["tdx"]["rtmr3"].as_str().unwrap();
    assert!(e.contains(rtmr3), "{e}");
    // CCMR 0 is MRTD, which nothing extends at run time.
    body["tdCcel"]["canonicalEventLog"] = b64(&cos_log(ccmr(0), &[HashAlg::SHA384]));
    let e = error(&run(&body, &coll, None)).to_owned();
    assert!(e.contains("ccmr 0, which is no RTMR"), "{e}");
    // Without a TD quote, a CCMR log has nothing that signs it.
    let mut body = rest_body(&t);
    body["tpmAttestation"]["canonicalEventLog"] = b64(&cos_log(ccmr(4), &[HashAlg::SHA384]));
    let e = error(&run(&body, &google_ca(&t), None)).to_owned();
    assert!(e.contains("no verified TD quote"), "{e}");
}

fn launcher_body(t: &Tpm) -> Value {
    let quotes: Vec<Value> = t
        .quotes
        .iter()
        .map(|(_, alg, attest, sig, pcrs)| {
            json!({"hashAlgorithm": alg, "pcrValues": pcrs, "tpmsAttest": b64(attest), "tpmtSignature": b64(sig)})
        })
        .collect();
    json!({
        "label": b64(b"WORKLOAD_ATTESTATION"),
        "challenge": b64(b"c"),
        "quote": {"tpmQuote": {
            "quotes": quotes,
            "pcclientBootEventLog": b64(&t.event_log),
            "endorsement": {"akCertEndorsement": {"akCert": b64(&t.ak_cert), "akCertChain": []}},
        }},
    })
}

#[test]
fn launcher_evidence_verifies_with_the_claims_of_the_protobuf() {
    let Some(t) = tpm() else { return };
    let pb = protobuf_outcome(&t);
    let o = run(&launcher_body(&t), &google_ca(&t), Some(Vec::new()));
    assert_same_tpm_claims(&o, &pb);
    assert_eq!(
        o.claims["evidence_form"],
        "confidential space launcher evidence"
    );
    let mut body = launcher_body(&t);
    flipped(&mut body, "/quote/tpmQuote/quotes/0/tpmsAttest", 40);
    let e = error(&run(&body, &google_ca(&t), Some(Vec::new()))).to_owned();
    assert!(e.starts_with("quote.tpmQuote: quote 0"), "{e}");
}

fn attestation_json(t: &Tpm) -> Value {
    let quotes: Vec<Value> = t
        .quotes
        .iter()
        .map(|(bank, _, attest, sig, pcrs)| {
            json!({"quote": b64(attest), "rawSig": b64(sig), "pcrs": {"hash": bank.to_uppercase(), "pcrs": pcrs}})
        })
        .collect();
    json!({
        "akPub": b64(&t.ak_pub),
        "quotes": quotes,
        "eventLog": b64(&t.event_log),
        "akCert": b64(&t.ak_cert),
    })
}

#[test]
fn attestation_json_verifies_with_the_claims_of_the_protobuf() {
    let Some(t) = tpm() else { return };
    let pb = protobuf_outcome(&t);
    let o = run(&attestation_json(&t), &google_ca(&t), Some(Vec::new()));
    assert_same_tpm_claims(&o, &pb);
    // The AK's TPM public area travels here, as in the protobuf.
    assert_eq!(o.claims["ak_name"], pb.claims["ak_name"]);
    assert_eq!(o.claims["evidence_form"], "go-tpm-tools attestation json");
    // snake_case, URL-safe, and in Constellation's wrapper.
    let wrapped = json!({"Attestation": snake_url(&attestation_json(&t)), "UserData": ""});
    let o = run(&wrapped, &google_ca(&t), Some(Vec::new()));
    assert_same_tpm_claims(&o, &pb);
    // A flipped signature bit.
    let mut body = attestation_json(&t);
    flipped(&mut body, "/quotes/1/rawSig", 100);
    let e = error(&run(&body, &google_ca(&t), Some(Vec::new()))).to_owned();
    assert!(e.contains("quote 1"), "{e}");
}

#[test]
fn attestation_json_with_a_parsed_tee_report_is_refused_by_name() {
    let Some(t) = tpm() else { return };
    let mut body = attestation_json(&t);
    body["sevSnpAttestation"] =
        json!({"report": {"version": 2, "policy": "196608", "reportData": b64(&[0u8; 64])}});
    let e = error(&run(&body, &google_ca(&t), None)).to_owned();
    assert!(
        e.starts_with("sevSnpAttestation holds the parsed report") && e.contains("raw report"),
        "{e}"
    );
}

#[test]
fn a_body_without_its_tpm_part_is_refused_by_name() {
    let Some((report, table, _)) = snp_pieces() else {
        return;
    };
    let body = json!({"challenge": "c", "sevSnpAttestation": {"report": b64(&report), "auxBlob": b64(&table)}});
    let o = run(&body, &[], None);
    assert_eq!(o.tee, Some(TeeKind::Tpm));
    assert!(
        error(&o).starts_with("tpmAttestation is missing"),
        "{:?}",
        o.error
    );
}

#[test]
fn leading_white_space_and_string_enums_are_still_this_form() {
    let (Some(t), Some((quote, coll_json))) = (tpm(), tdx_pieces()) else {
        return;
    };
    let mut body = rest_body(&t);
    body["tdCcel"] = json!({"tdQuote": b64(&quote)});
    body["tpmAttestation"]["quotes"][1]["hashAlgo"] = json!("11");
    let mut bytes = b"\n  ".to_vec();
    bytes.extend(serde_json::to_vec(&body).unwrap());
    // Not taken for a bare TD quote by the DCAP detector.
    assert_eq!(rootline_verifier::detect(&bytes), Some(TeeKind::Tpm));
    let mut coll = google_ca(&t);
    coll.push(coll_json);
    let o = Verifier::pinned().outcome(&request(bytes, &coll, None));
    assert!(o.verified, "{:?}", o.error);
    assert!(o.claims["tdx"].is_object() && o.claims["pcrs"].is_object());
}

#[test]
fn unrelated_json_names_the_forms_tried() {
    let o = run(&json!({"hello": "world", "quotes": []}), &[], None);
    let e = error(&o);
    assert!(e.starts_with("could not tell the evidence kind"), "{e}");
    for form in [
        "Google Cloud Attestation",
        "Confidential Space launcher evidence",
        "go-tpm-tools attestation JSON",
        // Every kind detection reads is named, NVIDIA's included.
        "Azure vTPM evidence JSON",
        "Arm CCA token",
        "IBM SE evidence",
        "NVIDIA GPU evidence",
    ] {
        assert!(e.contains(form), "{form}: {e}");
    }
}

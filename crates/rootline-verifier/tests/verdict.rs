//! The typed boundary: what `Verifier::verify` returns for real evidence.
//! The protocol's questions (report data, the init-data field, a PCR) are
//! answered by typed accessors with the same bytes the JSON claims spell,
//! the JSON edge (`Outcome`) is byte-for-byte what `verify --json` printed
//! before, and a changed byte gives a `Rejection` that keeps what it parsed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use rootline_core::TeeKind;
use rootline_verifier::{Claims, Collateral, Extra, Outcome, Request, Verifier};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

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

fn at(s: &str) -> Option<OffsetDateTime> {
    Some(OffsetDateTime::parse(s, &Rfc3339).unwrap())
}

fn hex_claim(m: &serde_json::Map<String, serde_json::Value>, path: &[&str]) -> Vec<u8> {
    let mut cur = &m[path[0]];
    for p in &path[1..] {
        cur = &cur[*p];
    }
    hex::decode(cur.as_str().unwrap()).unwrap()
}

/// The JSON edge of a verdict equals the free `verify`'s outcome.
fn same_edge(req: &Request, verdict: &rootline_verifier::Verdict) {
    let edge = serde_json::to_value(Outcome::of(verdict)).unwrap();
    let free = serde_json::to_value(rootline_verifier::verify(req)).unwrap();
    assert_eq!(edge, free);
}

#[test]
fn snp_claims_are_typed_and_the_json_edge_is_unchanged() {
    let (Some(evidence), Some(vcek)) = (
        read("snp/oak/turin_oc_report.bin"),
        coll("snp/oak/turin_oc_vcek.der"),
    ) else {
        eprintln!("SKIPPED: the shared vectors are absent");
        return;
    };
    let req = Request {
        evidence,
        collateral: vec![vcek],
        at: at("2025-08-15T00:00:00Z"),
        ..Request::default()
    };
    let verdict = Verifier::pinned().verify(&req);
    let v = verdict.as_ref().expect("the oak Turin report verifies");
    assert_eq!(v.tee(), TeeKind::Snp);
    assert!(matches!(v.claims(), Claims::Snp(_)));
    let json = v.claims_json();
    let rd = v.claims().report_data().unwrap();
    assert_eq!(rd.field, "report_data");
    assert!(!rd.tpm_extra_data);
    assert_eq!(rd.bytes, hex_claim(json, &["report_data"]));
    assert_eq!(rd.bytes.len(), 64);
    let (field, host_data) = v.claims().config_id().unwrap();
    assert_eq!(field, "host_data");
    assert_eq!(host_data, hex_claim(json, &["host_data"]));
    assert_eq!(v.claims().pcr("sha256", 0), None);
    same_edge(&req, &verdict);

    // One changed byte of the signed report: a rejection that still says
    // what it read.
    let mut bad = req.clone();
    bad.evidence[0x50] ^= 1;
    let r = Verifier::pinned().verify(&bad).unwrap_err();
    assert_eq!(r.tee, Some(TeeKind::Snp));
    assert!(!r.reason.is_empty());
    assert!(
        r.claims.contains_key("measurement"),
        "{:?}",
        r.claims.keys()
    );
    same_edge(&bad, &Err(r));
}

#[test]
fn tdx_claims_answer_report_data_and_mr_config_id() {
    let (Some(evidence), Some(c)) = (
        read("tdx/dcap-qvl/tdx_quote"),
        coll("tdx/dcap-qvl/tdx_quote_collateral.json"),
    ) else {
        eprintln!("SKIPPED: the shared vectors are absent");
        return;
    };
    let req = Request {
        evidence,
        collateral: vec![c],
        at: at("2025-07-04T10:24:15Z"),
        ..Request::default()
    };
    let verdict = Verifier::pinned().verify(&req);
    let v = verdict.as_ref().expect("the dcap-qvl TDX quote verifies");
    assert_eq!(v.tee(), TeeKind::Tdx);
    assert!(v.tcb_status().is_some());
    let json = v.claims_json();
    let rd = v.claims().report_data().unwrap();
    assert_eq!(rd.bytes, hex_claim(json, &["report_data"]));
    let (field, id) = v.claims().config_id().unwrap();
    assert_eq!(field, "mr_config_id");
    assert_eq!(id, hex_claim(json, &["mr_config_id"]));
    assert_eq!(id.len(), 48);
    same_edge(&req, &verdict);
}

#[test]
fn tpm_claims_answer_extra_data_and_pcrs() {
    let d = "ovmf-swtpm/uki-esp-ekcert-tpm";
    let Some(nonce) = read(&format!("{d}/nonce.hex")) else {
        eprintln!("SKIPPED: the shared vectors are absent");
        return;
    };
    let nonce = hex::decode(String::from_utf8(nonce).unwrap().trim()).unwrap();
    let req = Request {
        evidence: read(&format!("{d}/quote.msg")).unwrap(),
        tee: Some(TeeKind::Tpm),
        nonce: Some(nonce.clone()),
        extra: Extra {
            signature: read(&format!("{d}/quote.sig")),
            ak: read(&format!("{d}/ak.pub")),
            pcrs: read(&format!("{d}/quote.pcrs")),
            eventlog: read(&format!("{d}/binary_bios_measurements")),
        },
        ..Request::default()
    };
    let verdict = Verifier::pinned().verify(&req);
    let v = verdict.as_ref().expect("the swtpm quote verifies");
    let json = v.claims_json();
    let rd = v.claims().report_data().unwrap();
    assert_eq!(rd.field, "extra_data");
    assert!(rd.tpm_extra_data);
    assert_eq!(rd.bytes, nonce);
    for i in [0u32, 4, 7] {
        assert_eq!(
            v.claims().pcr("sha256", i).unwrap(),
            hex_claim(json, &["pcrs", "sha256", &i.to_string()])
        );
    }
    assert_eq!(v.claims().pcr("sha256", 99), None);
    assert_eq!(v.claims().config_id(), None);
    same_edge(&req, &verdict);
}

#[test]
fn unknown_evidence_is_a_rejection_without_a_kind() {
    let r = Verifier::pinned()
        .verify(&Request {
            evidence: b"not evidence".to_vec(),
            ..Request::default()
        })
        .unwrap_err();
    assert_eq!(r.tee, None);
    assert!(r.reason.contains("--tee"), "{}", r.reason);
}

#[test]
fn cca_tokens_verify_under_their_anchor_in_every_form_and_fail_closed() {
    let d = "cca/trustee";
    let (Some(token), Some(cpak)) = (
        read(&format!("{d}/cca-example-token.cbor")),
        coll(&format!("{d}/cpak-pub.json")),
    ) else {
        eprintln!("SKIPPED: the shared vectors are absent");
        return;
    };
    let challenge =
        hex::decode("57e979ae2618de0c1ab73144c440d741cf9236dc9d52ed190053382a4d190252f9f0370403c35dcb155fb4362d73c66d5b0494bf939315d3dc52b8cdc8b85a96").unwrap();
    assert_eq!(rootline_verifier::detect(&token), Some(TeeKind::Cca));
    // Raw, hex, and guest-components' KBS evidence form.
    let kbs_form = serde_json::to_vec(&serde_json::json!({ "token": token })).unwrap();
    for (form, evidence) in [
        ("raw", token.clone()),
        ("hex", hex::encode(&token).into_bytes()),
        ("kbs", kbs_form),
    ] {
        let req = Request {
            evidence,
            collateral: vec![cpak.clone()],
            nonce: Some(challenge.clone()),
            ..Request::default()
        };
        let verdict = Verifier::pinned().verify(&req);
        let v = verdict
            .as_ref()
            .unwrap_or_else(|r| panic!("{form}: {}", r.reason));
        assert_eq!(v.tee(), TeeKind::Cca, "{form}");
        let rd = v.claims().report_data().unwrap();
        assert_eq!(rd.bytes, challenge, "{form}");
        let (field, pv) = v.claims().config_id().unwrap();
        assert_eq!(field, "realm.personalization_value");
        assert_eq!(pv, vec![0u8; 64]);
        assert_eq!(
            v.claims_json()["realm"]["initial_measurement"],
            "ae87fbf7f105e71a7827cb6f0896889c73d2beaf4830d4f9cb05e3e96c3fc7b4faa04caf36a26bd094cf9c7b738617e4c189aaee184dedda5d7a03c39dbdac7c"
        );
        same_edge(&req, &verdict);
    }
    // The anchor configured on the verifier instead of carried.
    let configured = Verifier::pinned().with_cca_anchors(&cpak.bytes).unwrap();
    let req = Request {
        evidence: token.clone(),
        nonce: Some(challenge.clone()),
        ..Request::default()
    };
    assert!(configured.verify(&req).is_ok());
    // No anchor at all: refused, saying where one goes, with the claims.
    let r = Verifier::pinned().verify(&req).unwrap_err();
    assert!(r.reason.contains("trust anchor"), "{}", r.reason);
    assert!(r.claims.contains_key("realm"));
    // Another nonce: refused.
    let mut other = req.clone();
    other.nonce = Some(vec![7; 64]);
    assert!(configured.verify(&other).is_err());
    // Another platform's key (rust-ccatoken's ta.json): refused.
    if let Some(wrong) = coll("cca/rust-ccatoken/ta.json") {
        let mut r = req.clone();
        r.collateral = vec![wrong];
        assert!(Verifier::pinned().verify(&r).is_err());
    }
    // A flipped signature byte (the last byte of the token): refused.
    let mut bad = req.clone();
    *bad.evidence.last_mut().unwrap() ^= 1;
    assert!(configured.verify(&bad).is_err());
}

#[test]
fn cca_bug_33_token_is_refused_because_its_platform_challenge_does_not_bind_the_rak() {
    let d = "cca/rust-ccatoken";
    let (Some(token), Some(ta)) = (
        read(&format!("{d}/bug-33-repro.cbor")),
        coll(&format!("{d}/ta-tfa.json")),
    ) else {
        eprintln!("SKIPPED: the shared vectors are absent");
        return;
    };
    let r = Verifier::pinned()
        .verify(&Request {
            evidence: token,
            collateral: vec![ta],
            ..Request::default()
        })
        .unwrap_err();
    assert_eq!(r.tee, Some(TeeKind::Cca));
    assert!(
        r.reason.to_lowercase().contains("rak") || r.reason.contains("challenge"),
        "{}",
        r.reason
    );
}

#[test]
fn evidence_as_base64_in_every_spelling_verifies_and_unknown_text_says_what_was_tried() {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let (Some(quote), Some(c), Some(report), Some(vcek)) = (
        read("tdx/dcap-qvl/tdx_quote"),
        coll("tdx/dcap-qvl/tdx_quote_collateral.json"),
        read("snp/oak/turin_oc_report.bin"),
        coll("snp/oak/turin_oc_vcek.der"),
    ) else {
        eprintln!("SKIPPED: the shared vectors are absent");
        return;
    };
    let wrapped = |s: String| -> String {
        s.as_bytes()
            .chunks(76)
            .map(|l| String::from_utf8(l.to_vec()).unwrap())
            .collect::<Vec<_>>()
            .join("\n")
            + "\n"
    };
    for (kind, bytes, coll, at_) in [
        (TeeKind::Tdx, &quote, c, "2025-07-04T10:24:15Z"),
        (TeeKind::Snp, &report, vcek, "2025-08-15T00:00:00Z"),
    ] {
        for (form, text) in [
            ("standard", STANDARD.encode(bytes)),
            ("url-safe unpadded", URL_SAFE_NO_PAD.encode(bytes)),
            ("line-wrapped", wrapped(STANDARD.encode(bytes))),
        ] {
            assert_eq!(
                rootline_verifier::detect(text.as_bytes()),
                Some(kind),
                "{kind} {form}"
            );
            for tee in [None, Some(kind)] {
                let req = Request {
                    evidence: text.clone().into_bytes(),
                    tee,
                    collateral: vec![coll.clone()],
                    at: at(at_),
                    ..Request::default()
                };
                let v = Verifier::pinned().verify(&req);
                assert!(v.is_ok(), "{kind} {form} {tee:?}: {:?}", v.err());
            }
        }
    }
    // Text that is no evidence in any spelling: the reason names the forms.
    let r = Verifier::pinned()
        .verify(&Request {
            evidence: STANDARD
                .encode(b"hello, this is not evidence at all")
                .into_bytes(),
            ..Request::default()
        })
        .unwrap_err();
    assert!(
        r.reason.contains("base64") && r.reason.contains("TPMS_ATTEST"),
        "{}",
        r.reason
    );
}

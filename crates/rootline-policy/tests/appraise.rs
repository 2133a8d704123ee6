//! The default policies on the shared vectors: affirmed with reference values
//! taken from their own claims; contraindicated, with a reason naming the key,
//! when any one reference value changes; the debug-enabled SNP report refused.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use rootline_policy::reference::{ReferenceValues, apply_add, from_verified};
use rootline_policy::{Appraiser, PolicySet, Tier};
use rootline_verifier::{Rejection, Verdict};
use serde_json::{Value, json};
use time::OffsetDateTime;

fn refs_from(o: &Verdict) -> ReferenceValues {
    let mut records = Vec::new();
    apply_add(
        &mut records,
        from_verified(o.as_ref().unwrap(), "test: own claims").unwrap(),
        OffsetDateTime::now_utc(),
    )
    .unwrap();
    ReferenceValues::active(&records, OffsetDateTime::now_utc())
}

fn appraiser(refs: &ReferenceValues, settings: Value) -> Appraiser {
    Appraiser::new(&PolicySet::defaults().unwrap(), refs, &settings).unwrap()
}

/// Affirmed with its own claims; then each reference value changed in turn
/// gives contraindicated with a reason naming that key and the count.
fn own_claims_affirm_and_each_change_contraindicates(o: Verdict, settings: Value) {
    assert!(o.is_ok(), "{:?}", o.as_ref().err());
    let refs = refs_from(&o);
    let a = appraiser(&refs, settings.clone()).appraise(&[("cpu0", &o)]);
    let d = &a.devices[0];
    assert_eq!(a.status, Tier::Affirming, "{:#?}", d);
    assert!(d.reasons.is_empty(), "{:#?}", d.reasons);
    assert_eq!(d.trust_vector.get("executables"), Some(2));
    assert_eq!(d.trust_vector.get("hardware"), Some(2));
    assert!(!refs.0.is_empty());
    // Accepted events (tpm.event.*) only explain a PCR mismatch; they are not
    // judged on their own, so changing one changes nothing (tested below).
    for key in refs.0.keys().filter(|k| !k.starts_with("tpm.event.")) {
        let mut changed = refs.clone();
        let v = changed.0.get_mut(key).unwrap();
        v[0] = match &v[0] {
            Value::String(s) => {
                let mut s = s.clone();
                let c = if s.starts_with('0') { "1" } else { "0" };
                s.replace_range(0..1, c);
                Value::String(s)
            }
            Value::Number(n) => json!(n.as_i64().unwrap() + 1),
            other => panic!("{key}: unexpected {other}"),
        };
        let a = appraiser(&changed, settings.clone()).appraise(&[("cpu0", &o)]);
        let d = &a.devices[0];
        assert_eq!(a.status, Tier::Contraindicated, "{key}: {d:#?}");
        let r = d
            .reasons
            .iter()
            .find(|r| r.key.as_deref() == Some(key.as_str()))
            .unwrap_or_else(|| panic!("{key}: no reason names it: {:#?}", d.reasons));
        assert!(r.message.contains(key.as_str()), "{}", r.message);
        assert!(
            r.message.contains("not one of the 1 accepted values"),
            "{}",
            r.message
        );
        assert_eq!(d.reasons.len(), 1, "{key}: {:#?}", d.reasons);
    }
}

#[test]
fn tpm_vector_affirmed_by_own_pcrs_and_any_changed_pcr_contraindicates() {
    let Some(o) = common::tpm() else { return };
    own_claims_affirm_and_each_change_contraindicates(o, json!({}));
}

/// Synthetic Confidential Space evidence: a synthetic AK quotes PCRs 0
/// and 13 after a COS canonical event log was extended into PCR 13, in the
/// protojson of go-tpm-tools' `attest.Attestation`.
fn confidential_space() -> Verdict {
    use base64::Engine as _;
    use rootline_core::HashAlg;
    use rootline_eventlog::cel::{self, CosType, IndexType, Register};
    use rootline_tpm::pcr::PcrBank;
    use rootline_tpm::synthetic::SyntheticAk;
    use rootline_tpm::{PcrSelection, PcrValues};
    let r = Register {
        kind: IndexType::PCR,
        index: 13,
    };
    let banks: &[HashAlg] = &[HashAlg::SHA256];
    let log = cel::encode(&[
        (
            r,
            banks,
            CosType::IMAGE_REF,
            b"us-docker.pkg.dev/p/r/app:1".as_slice(),
        ),
        (r, banks, CosType::IMAGE_DIGEST, b"sha256:0123".as_slice()),
        (r, banks, CosType::RESTART_POLICY, b"Never".as_slice()),
        (r, banks, CosType::ENV_VAR, b"DEBUG=1".as_slice()),
        (r, banks, CosType::LAUNCH_SEPARATOR, b"".as_slice()),
    ]);
    let pcr13 = cel::parse(&log).unwrap().replay().unwrap()[&r][&HashAlg::SHA256]
        .bytes
        .clone();
    let ak = SyntheticAk::ecc_p256().unwrap();
    let sel = PcrSelection {
        banks: vec![PcrBank::new(HashAlg::SHA256, &[0, 13])],
    };
    let mut pcrs = PcrValues::new();
    pcrs.insert(HashAlg::SHA256, 0, vec![0; 32]).unwrap();
    pcrs.insert(HashAlg::SHA256, 13, pcr13.clone()).unwrap();
    let (attest, sig) = ak.quote(b"n", &sel, &pcrs).unwrap();
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let body = json!({
        "akPub": b64(&ak.tpmt_public().raw),
        "quotes": [{"quote": b64(&attest), "rawSig": b64(&sig),
                    "pcrs": {"hash": 11, "pcrs": {"0": b64(&[0; 32]), "13": b64(&pcr13)}}}],
        "canonicalEventLog": b64(&log),
    });
    rootline_verifier::Verifier::pinned().verify(&rootline_verifier::Request {
        evidence: serde_json::to_vec(&body).unwrap(),
        ..rootline_verifier::Request::default()
    })
}

#[test]
fn confidential_space_image_is_pinned_by_its_reference_values() {
    let o = confidential_space();
    let refs = refs_from(&o);
    for k in [
        "tpm.cel.cos.image_reference",
        "tpm.cel.cos.image_digest",
        "tpm.cel.cos.restart_policy",
    ] {
        assert!(refs.0.contains_key(k), "{k}: {:?}", refs.0.keys());
    }
    // Each reference value, the image's included, changed in turn
    // contraindicates with a reason naming it.
    own_claims_affirm_and_each_change_contraindicates(o, json!({"tpm_required_pcrs": [0, 13]}));
}

#[test]
fn snp_vector_affirmed_by_own_measurement() {
    let Some(o) = common::snp() else { return };
    own_claims_affirm_and_each_change_contraindicates(o, json!({}));
}

#[test]
fn tdx_vector_affirmed_by_own_mrtd_and_rtmrs() {
    let Some(o) = common::tdx() else { return };
    own_claims_affirm_and_each_change_contraindicates(o, json!({}));
}

#[test]
fn azure_snp_vector_affirmed_by_own_vtpm_pcrs() {
    let Some(o) = common::azure_snp() else { return };
    own_claims_affirm_and_each_change_contraindicates(o, json!({}));
}

#[test]
fn cca_vector_affirmed_by_own_realm_measurements() {
    let Some(o) = common::cca() else { return };
    own_claims_affirm_and_each_change_contraindicates(o, json!({}));
}

#[test]
fn cca_platform_outside_a_secured_lifecycle_is_refused_unless_the_setting_allows() {
    let Some(o) = common::cca() else { return };
    let refs = refs_from(&o);
    let v = o.unwrap();
    // Through the policy with the real verified claims, the secured
    // lifecycle (0x3003) affirms.
    let a = appraiser(&refs, json!({})).appraise(&[("cpu0", &Ok(v.clone()))]);
    assert_eq!(a.status, Tier::Affirming, "{:#?}", a.devices[0]);
    // The same input with the lifecycle of a platform in debug (0x5000,
    // "non-recoverable PSA RoT debug"), evaluated by the policy itself.
    let input = |lifecycle: i64| {
        let mut i = rootline_policy::claims::device_input("cpu0", Ok(&v));
        i["claims"]["cca.platform.lifecycle"] = json!(lifecycle);
        regorus::Value::from(i)
    };
    let hardware = |settings: Value, lifecycle: i64| {
        let r = appraiser(&refs, settings)
            .eval_raw(rootline_core::TeeKind::Cca, input(lifecycle))
            .unwrap();
        let r: Value = serde_json::from_str(&r.to_json_str().unwrap()).unwrap();
        (
            r["trust_vector"]["hardware"].clone(),
            r["reasons"].to_string(),
        )
    };
    let (hw, _) = hardware(json!({}), 0x3003);
    assert_eq!(hw, json!(2));
    let (hw, reasons) = hardware(json!({}), 0x5000);
    assert_eq!(hw, json!(32), "{reasons}");
    assert!(reasons.contains("not a secured state"), "{reasons}");
    let (hw, _) = hardware(json!({"allow_cca_lifecycle_not_secured": true}), 0x5000);
    assert_eq!(hw, json!(2));
}

#[test]
fn tpm_pcr_reason_reads_as_the_issue_asks() {
    let Some(o) = common::tpm() else { return };
    let mut refs = refs_from(&o);
    let observed = refs.0["tpm.pcr.sha256.4"][0].clone();
    refs.0.insert(
        "tpm.pcr.sha256.4".into(),
        vec![json!("00".repeat(32)), json!("11".repeat(32))],
    );
    let a = appraiser(&refs, json!({})).appraise(&[("cpu0", &o)]);
    let d = &a.devices[0];
    assert_eq!(d.trust_vector.get("executables"), Some(96));
    assert_eq!(
        d.reasons[0].message,
        format!(
            "PCR 4 sha256 is {}, not one of the 2 accepted values of tpm.pcr.sha256.4",
            observed.as_str().unwrap()
        )
    );
}

#[test]
fn missing_reference_value_is_a_reason_not_a_silent_pass() {
    let Some(o) = common::snp() else { return };
    let mut refs = refs_from(&o);
    refs.0.remove("snp.measurement");
    let a = appraiser(&refs, json!({})).appraise(&[("cpu0", &o)]);
    let d = &a.devices[0];
    assert_eq!(a.status, Tier::Warning, "{d:#?}");
    assert_eq!(d.trust_vector.get("executables"), Some(33));
    let r = &d.reasons[0];
    assert_eq!(r.key.as_deref(), Some("snp.measurement"));
    assert!(
        r.message
            .contains("no reference value snp.measurement is stored")
    );
    assert!(
        r.message.contains(
            o.as_ref().unwrap().claims_json()["measurement"]
                .as_str()
                .unwrap()
        )
    );
}

#[test]
fn no_reference_values_at_all_is_never_affirming() {
    for o in [common::tpm(), common::snp(), common::tdx(), common::sgx()]
        .into_iter()
        .flatten()
    {
        let a = appraiser(&ReferenceValues::default(), json!({})).appraise(&[("cpu0", &o)]);
        assert_ne!(a.status, Tier::Affirming, "{:#?}", a.devices[0]);
        assert!(!a.devices[0].reasons.is_empty());
    }
}

#[test]
fn go_sev_guest_debug_report_is_refused_by_default() {
    let Some(o) = common::snp_debug() else { return };
    assert!(o.is_ok(), "{:?}", o.as_ref().err());
    assert_eq!(o.as_ref().unwrap().claims_json()["debug_allowed"], true);
    let refs = refs_from(&o);
    let a = appraiser(&refs, json!({})).appraise(&[("cpu0", &o)]);
    let d = &a.devices[0];
    assert_eq!(a.status, Tier::Contraindicated, "{d:#?}");
    assert_eq!(d.trust_vector.get("configuration"), Some(96));
    assert_eq!(d.reasons.len(), 1);
    assert_eq!(d.reasons[0].key.as_deref(), Some("snp.debug_allowed"));
    // Only an explicit setting accepts it.
    let a = appraiser(&refs, json!({"allow_debug": true})).appraise(&[("cpu0", &o)]);
    assert_eq!(a.status, Tier::Affirming, "{:#?}", a.devices[0]);
}

#[test]
fn sgx_tcb_needing_configuration_is_contraindicated_with_advisories() {
    let Some(o) = common::sgx() else { return };
    assert!(o.is_ok(), "{:?}", o.as_ref().err());
    let refs = refs_from(&o);
    for settings in [json!({}), json!({"allow_sw_hardening_needed": true})] {
        let a = appraiser(&refs, settings).appraise(&[("cpu0", &o)]);
        let d = &a.devices[0];
        assert_eq!(a.status, Tier::Contraindicated, "{d:#?}");
        assert_eq!(d.trust_vector.get("hardware"), Some(96));
        let m = &d.reasons[0].message;
        assert!(m.contains("ConfigurationAndSWHardeningNeeded"), "{m}");
        assert!(m.contains("INTEL-SA-00289"), "{m}");
    }
}

#[test]
fn sw_hardening_needed_is_accepted_only_by_the_setting() {
    let Some(o) = common::tdx() else { return };
    let refs = refs_from(&o);
    let o = o.map(|v| v.with_tcb_status_for_tests("SWHardeningNeeded"));
    let a = appraiser(&refs, json!({})).appraise(&[("cpu0", &o)]);
    assert_eq!(a.status, Tier::Contraindicated);
    assert!(
        a.devices[0].reasons[0]
            .message
            .contains("allow_sw_hardening_needed")
    );
    let a = appraiser(&refs, json!({"allow_sw_hardening_needed": true})).appraise(&[("cpu0", &o)]);
    assert_eq!(a.status, Tier::Affirming, "{:#?}", a.devices[0]);
}

#[test]
fn unverified_outcome_is_contraindicated_even_when_claims_match() {
    let Some(o) = common::snp() else { return };
    let refs = refs_from(&o);
    let v = o.unwrap();
    // The same claims, as if a signature had failed: a rejection carries
    // what it parsed, and matching claims must not rescue it.
    let o: Verdict = Err(Box::new(Rejection {
        tee: Some(v.tee()),
        reason: "VCEK signature check failed".into(),
        claims: v.claims_json().clone(),
        tcb_status: None,
        advisory_ids: Vec::new(),
        warnings: Vec::new(),
    }));
    let a = appraiser(&refs, json!({})).appraise(&[("cpu0", &o)]);
    let d = &a.devices[0];
    assert_eq!(a.status, Tier::Contraindicated);
    assert_eq!(d.trust_vector.get("hardware"), Some(99));
    assert!(d.reasons[0].message.contains("VCEK signature check failed"));
}

#[test]
fn two_devices_are_affirming_only_together() {
    let (Some(cpu), Some(tpm)) = (common::snp(), common::tpm()) else {
        return;
    };
    let mut refs = refs_from(&cpu);
    refs.0.extend(refs_from(&tpm).0);
    let ap = appraiser(&refs, json!({}));
    assert!(
        ap.appraise(&[("cpu0", &cpu), ("tpm0", &tpm)])
            .is_affirming()
    );
    refs.0.remove("tpm.pcr.sha256.7");
    let a = appraiser(&refs, json!({})).appraise(&[("cpu0", &cpu), ("tpm0", &tpm)]);
    assert_eq!(a.devices[0].status, Tier::Affirming);
    assert_eq!(a.devices[1].status, Tier::Warning);
    assert_eq!(a.status, Tier::Warning);
}

#[test]
fn appraiser_is_shared_between_threads() {
    let Some(o) = common::tdx() else { return };
    let ap = std::sync::Arc::new(appraiser(&refs_from(&o), json!({})));
    let o = std::sync::Arc::new(o);
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (ap, o) = (ap.clone(), o.clone());
            std::thread::spawn(move || ap.appraise(&[("cpu0", &o)]).status)
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), Tier::Affirming);
    }
}

/// The same OVMF firmware booted two ways: reference values (PCRs and their
/// events) from the UKI boot; the direct-kernel boot differs in PCR 4, and the
/// reason names the first event the reference does not accept: the kernel
/// image loaded where the UKI was.
#[test]
fn pcr_reason_names_the_first_differing_event() {
    let Some(uki) = common::tpm() else { return };
    let d = "ovmf-swtpm/kernel-direct-ekcert-tpm";
    let read =
        |f: &str| std::fs::read(rootline_testkit::vector(&format!("{d}/{f}")).unwrap()).unwrap();
    let nonce = String::from_utf8(read("nonce.hex")).unwrap();
    let req = rootline_verifier::Request {
        evidence: read("quote.msg"),
        tee: Some(rootline_core::TeeKind::Tpm),
        nonce: Some(hex::decode(nonce.trim()).unwrap()),
        extra: rootline_verifier::Extra {
            signature: Some(read("quote.sig")),
            ak: Some(read("ak.pub")),
            pcrs: Some(read("quote.pcrs")),
            eventlog: Some(read("binary_bios_measurements")),
        },
        ..Default::default()
    };
    let direct = common::verify(&req);
    assert!(direct.is_ok(), "{:?}", direct.as_ref().err());
    let refs = refs_from(&uki);
    assert!(
        refs.0.keys().any(|k| k == "tpm.event.sha256.4"),
        "{:?}",
        refs.0.keys()
    );
    let a = appraiser(&refs, json!({})).appraise(&[("tpm0", &direct)]);
    let dev = &a.devices[0];
    assert_eq!(a.status, Tier::Contraindicated);
    let r = dev
        .reasons
        .iter()
        .find(|r| r.key.as_deref() == Some("tpm.pcr.sha256.4"))
        .unwrap_or_else(|| panic!("{:#?}", dev.reasons));
    assert!(
        r.message
            .contains("the first differing event is #9, EV_EFI_BOOT_SERVICES_APPLICATION"),
        "{}",
        r.message
    );
    // Without accepted events stored, the reason is the plain one.
    let mut plain = refs.clone();
    plain.0.retain(|k, _| !k.starts_with("tpm.event."));
    let a = appraiser(&plain, json!({})).appraise(&[("tpm0", &direct)]);
    assert!(
        a.devices[0]
            .reasons
            .iter()
            .all(|r| !r.message.contains("first differing event"))
    );
}

/// The Rego snippet `docs/gcp.md` shows, added to the default TPM policy.
const DOCS_SNIPPET: &str = r#"
findings contains {"key": "tpm.cel.cos.env.DEBUG", "value": lib.contraindicated,
	"component": "configuration", "message": "DEBUG is set"} if {
	input.claims["tpm.cel.cos.env.DEBUG"]
}

findings contains {"key": "tpm.cel.cos.args", "value": lib.contraindicated,
	"component": "configuration", "message": "unexpected arguments"} if {
	input.claims["tpm.cel.cos.args"] != ["/app", "--serve"]
}
"#;

#[test]
fn the_docs_rego_snippet_reads_the_environment_and_arguments() {
    use rootline_core::TeeKind;
    use rootline_policy::policy::{CompiledPolicy, default_policy};
    let o = confidential_space();
    let refs = refs_from(&o);
    let mut set = PolicySet::defaults().unwrap();
    let text = format!("{}{DOCS_SNIPPET}", default_policy(TeeKind::Tpm).unwrap());
    set.set(
        TeeKind::Tpm,
        CompiledPolicy::load("tpm+docs", &text).unwrap(),
    );
    let a = Appraiser::new(&set, &refs, &json!({"tpm_required_pcrs": [0, 13]}))
        .unwrap()
        .appraise(&[("tpm0", &o)]);
    let d = &a.devices[0];
    assert_eq!(a.status, Tier::Contraindicated, "{d:#?}");
    let mut keys: Vec<_> = d.reasons.iter().filter_map(|r| r.key.as_deref()).collect();
    keys.sort_unstable();
    // The synthetic workload sets DEBUG=1 and logs no argument.
    assert_eq!(
        keys,
        ["tpm.cel.cos.args", "tpm.cel.cos.env.DEBUG"],
        "{d:#?}"
    );
}

/// An Azure vTPM's replayed `TcgLogs` give its PCRs the events behind them
/// (`azure-snp.tpm.events.BANK.N`): recorded as accepted events like the
/// TPM's, and a PCR that differs names its first unaccepted event.
#[test]
fn azure_vtpm_pcr_reason_names_the_first_differing_event() {
    let Some(o) = common::azure_snp() else { return };
    let v = o.unwrap();
    let event = |index: u64, digest: &str| {
        json!({"index": index, "type": "EV_EFI_BOOT_SERVICES_APPLICATION",
               "event": format!("image {index}"), "digest": digest})
    };
    let (good, bad) = ("aa".repeat(32), "bb".repeat(32));
    // `rootline verify --json` of a boot with a log: its events become
    // accepted events of PCR 4, under the Azure prefix.
    let outcome = json!({"verified": true, "tee": "azure-snp", "claims": {"tpm": {
        "pcrs": {"sha256": {"4": "11".repeat(32)}},
        "events": {"sha256": {"4": [event(3, &good), event(7, &good)]}}}}});
    let values = rootline_policy::reference::from_json(&outcome, "test").unwrap();
    let keys: Vec<&str> = values.iter().map(|n| n.key.as_str()).collect();
    assert!(keys.contains(&"azure-snp.tpm.event.sha256.4"), "{keys:?}");
    assert!(keys.contains(&"azure-snp.tpm.pcrs.sha256.4"), "{keys:?}");
    assert!(!keys.iter().any(|k| k.contains("tpm.events.")), "{keys:?}");
    let mut records = Vec::new();
    apply_add(&mut records, values, OffsetDateTime::now_utc()).unwrap();
    let refs = ReferenceValues::active(&records, OffsetDateTime::now_utc());

    // A later boot: PCR 4 changed because its second event did.
    let mut input = rootline_policy::claims::device_input("cpu0", Ok(&v));
    input["claims"]["azure-snp.tpm.pcrs.sha256.4"] = json!("22".repeat(32));
    input["claims"]["azure-snp.tpm.events.sha256.4"] = json!([event(3, &good), event(7, &bad)]);
    let r = appraiser(&refs, json!({}))
        .eval_raw(
            rootline_core::TeeKind::AzureSnp,
            regorus::Value::from(input),
        )
        .unwrap();
    let r: Value = serde_json::from_str(&r.to_json_str().unwrap()).unwrap();
    let reasons = r["reasons"].as_array().unwrap();
    let pcr4 = reasons
        .iter()
        .find(|f| f["key"] == "azure-snp.tpm.pcrs.sha256.4")
        .unwrap_or_else(|| panic!("{reasons:#?}"));
    let msg = pcr4["message"].as_str().unwrap();
    assert!(msg.starts_with("PCR 4 sha256 is 2222"), "{msg}");
    assert!(
        msg.ends_with("the first differing event is #7, EV_EFI_BOOT_SERVICES_APPLICATION image 7"),
        "{msg}"
    );
    // The accepted events are not themselves compared as claims.
    assert!(
        reasons
            .iter()
            .all(|f| f["key"] != "azure-snp.tpm.event.sha256.4"),
        "{reasons:#?}"
    );
}

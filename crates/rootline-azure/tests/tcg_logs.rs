//! The AzureGuest request's `TcgLogs`, replayed against the PCRs its vTPM
//! quote signs, on a request made wholly by this file: a synthetic AMD-like
//! PKI and SNP report (`rootline_testkit::snp`) binding runtime data whose
//! `HCLAkPub` is a synthetic vTPM key (`rootline_tpm::synthetic`), which
//! quotes the PCRs a synthetic boot log (`rootline_eventlog::builder`)
//! replays to. No real vector holds an AzureGuest request with a log (the
//! Trustee and kinvolk Azure folders carry guest-components' forms, which
//! have no log); `maa.rs` checks the real vTPM quote against a log it cannot
//! match.
//!
//! A log that replays to the quoted PCRs passes and its events are claims in
//! the TPM claims' shape; one bit flipped in one event's digest is refused
//! naming the PCR, the replayed and the quoted digest; bytes that are no log
//! are refused naming `TcgLogs`.

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rootline_azure::{Collateral, Error, Options, Verifier};
use rootline_core::HashAlg;
use rootline_eventlog::EventType;
use rootline_eventlog::builder::{LogBuilder, data};
use rootline_testkit::snp::{Pki, VcekSpec, report};
use rootline_tpm::pcr::{PcrBank, PcrSelection};
use rootline_tpm::synthetic::SyntheticAk;
use rootline_tpm::{PcrValues, PublicKey};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::datetime;

const AT: OffsetDateTime = datetime!(2026-06-01 00:00 UTC);
const NONCE: &[u8] = b"synthetic nonce";

/// A synthetic SNP platform and vTPM: what the request is made from.
struct Platform {
    pki: Pki,
    spec: VcekSpec,
    vcek: Vec<u8>,
    vcek_key: Vec<u8>,
    ak: SyntheticAk,
    runtime: Vec<u8>,
}

fn platform() -> &'static Platform {
    static P: OnceLock<Platform> = OnceLock::new();
    P.get_or_init(|| {
        let spec = VcekSpec::milan();
        let pki = Pki::new(spec.product());
        let (vcek, vcek_key) = pki.vcek(&spec);
        let ak = SyntheticAk::rsa_2048().unwrap();
        let PublicKey::Rsa { n, e } = ak.ak().unwrap().key else {
            panic!("an RSA AK was made");
        };
        let runtime = serde_json::to_vec(&json!({
            "keys": [{
                "kid": "HCLAkPub",
                "key_ops": ["sign"],
                "kty": "RSA",
                "n": URL_SAFE_NO_PAD.encode(&n),
                "e": URL_SAFE_NO_PAD.encode(&e),
            }],
            "vm-configuration": {"secure-boot": true, "tpm-enabled": true},
        }))
        .unwrap();
        Platform {
            pki,
            spec,
            vcek,
            vcek_key,
            ak,
            runtime,
        }
    })
}

fn verifier() -> &'static Verifier {
    static V: OnceLock<Verifier> = OnceLock::new();
    V.get_or_init(|| {
        let mut anchors = rootline_snp::TrustAnchors::empty();
        anchors.add_root_der(&platform().pki.ark_der).unwrap();
        Verifier::new(
            rootline_snp::Verifier::new(anchors),
            rootline_dcap::Verifier::intel().unwrap(),
        )
    })
}

fn pem(der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// A boot log in the SHA-256 bank: firmware, separators in PCRs 0-7, a
/// boot loader in PCR 4 and a kernel command line in PCR 8.
fn boot_log() -> Vec<u8> {
    let mut b = LogBuilder::crypto_agile(&[HashAlg::SHA256]);
    b.measure_data(0, EventType::EV_S_CRTM_VERSION, &data::utf16z("1.0"))
        .measure(
            0,
            EventType::EV_EFI_PLATFORM_FIRMWARE_BLOB,
            b"synthetic firmware volume",
            &[0u8; 16],
        );
    for pcr in 0..8 {
        b.measure_data(pcr, EventType::EV_SEPARATOR, &[0, 0, 0, 0]);
    }
    b.measure(
        4,
        EventType::EV_EFI_BOOT_SERVICES_APPLICATION,
        b"synthetic shim image",
        &data::image_load(0x1000, 20, "\\EFI\\BOOT\\BOOTX64.EFI"),
    )
    .measure_data(8, EventType::EV_IPL, b"kernel_cmdline: console=ttyS0\0");
    b.into_bytes()
}

/// The 24 SHA-256 PCRs `log` replays to (zero where it extends nothing).
fn pcrs_of(log: &[u8]) -> Vec<Vec<u8>> {
    let replay = rootline_eventlog::EventLog::parse(log).unwrap().replay();
    let bank = &replay.pcrs[&HashAlg::SHA256];
    (0..24u32)
        .map(|i| bank.get(&i).map_or(vec![0; 32], |d| d.bytes.clone()))
        .collect()
}

/// The AzureGuest request's inner JSON: the vTPM quoting `pcrs`, and
/// `TcgLogs` when given.
fn request(pcrs: &[Vec<u8>], tcg_logs: Option<&[u8]>) -> Value {
    let p = platform();
    let mut rd = [0u8; 64];
    rd[..32].copy_from_slice(&HashAlg::SHA256.hash(&p.runtime).unwrap().bytes);
    let snp_report = report(&p.spec, &p.vcek_key, rd);
    let chain = format!(
        "{}{}",
        pem(&p.vcek),
        String::from_utf8(p.pki.cert_chain_pem()).unwrap()
    );
    let proof = serde_json::to_vec(&json!({
        "SnpReport": URL_SAFE_NO_PAD.encode(&snp_report),
        "VcekCertChain": URL_SAFE_NO_PAD.encode(chain.as_bytes()),
    }))
    .unwrap();
    let all: Vec<u8> = (0..24).collect();
    let selection = PcrSelection {
        banks: vec![PcrBank::new(HashAlg::SHA256, &all)],
    };
    let mut values = PcrValues::new();
    for (i, d) in pcrs.iter().enumerate() {
        values.insert(HashAlg::SHA256, i as u8, d.clone()).unwrap();
    }
    let (attest, signature) = p.ak.quote(NONCE, &selection, &values).unwrap();
    let raw = &p.ak.tpmt_public().raw;
    let mut aik = (raw.len() as u16).to_be_bytes().to_vec();
    aik.extend_from_slice(raw);
    let listed: Vec<Value> = pcrs
        .iter()
        .enumerate()
        .map(|(i, d)| json!({"Index": i, "Digest": URL_SAFE_NO_PAD.encode(d)}))
        .collect();
    let mut v = json!({
        "AttestationProtocolVersion": "2.0",
        "OSType": URL_SAFE_NO_PAD.encode(b"Linux"),
        "TpmInfo": {
            "AikPub": URL_SAFE_NO_PAD.encode(&aik),
            "PcrQuote": URL_SAFE_NO_PAD.encode(&attest),
            "PcrSignature": URL_SAFE_NO_PAD.encode(&signature),
            "PcrSet": all,
            "PCRs": listed,
        },
        "IsolationInfo": {
            "Type": "SevSnp",
            "Evidence": {
                "Proof": URL_SAFE_NO_PAD.encode(&proof),
                "RunTimeData": URL_SAFE_NO_PAD.encode(&p.runtime),
            },
        },
    });
    if let Some(log) = tcg_logs {
        v["TcgLogs"] = json!(URL_SAFE_NO_PAD.encode(log));
    }
    v
}

fn verify(v: &Value) -> Result<(Value, Vec<String>), Box<rootline_azure::Rejection>> {
    let opts = Options {
        at: Some(AT),
        report_data: Some(NONCE.to_vec()),
        init_data_hash: None,
    };
    verifier()
        .verify(
            &serde_json::to_vec(v).unwrap(),
            None,
            &Collateral::new(),
            &opts,
        )
        .map(|a| {
            let a = a.into_inner();
            (Value::Object(a.claims.to_json()), a.warnings)
        })
}

#[test]
fn a_log_that_replays_to_the_quoted_pcrs_passes_and_its_events_are_claims() {
    let log = boot_log();
    let pcrs = pcrs_of(&log);
    // Without a log: the request verifies, with no events.
    let (claims, _) = verify(&request(&pcrs, None)).unwrap_or_else(|r| panic!("{}", r.error));
    assert_eq!(claims["evidence_form"], "maa-azure-guest");
    assert!(claims["tpm"].get("events").is_none(), "{claims:#}");

    let (claims, warnings) =
        verify(&request(&pcrs, Some(&log))).unwrap_or_else(|r| panic!("{}", r.error));
    let tpm = &claims["tpm"];
    assert_eq!(tpm["event_log"]["matches_quote"], true, "{tpm:#}");
    assert_eq!(
        tpm["event_log"]["banks_replayed_against_quote"],
        json!(["sha256"])
    );
    assert_eq!(tpm["event_log"]["events"], 12, "{tpm:#}");
    // The events behind each register, as the TPM claims show them.
    let pcr4 = tpm["events"]["sha256"]["4"].as_array().unwrap();
    assert_eq!(pcr4.len(), 2, "{tpm:#}");
    assert_eq!(pcr4[1]["type"], "EV_EFI_BOOT_SERVICES_APPLICATION");
    assert_eq!(
        pcr4[1]["digest"],
        hex::encode(HashAlg::SHA256.hash(b"synthetic shim image").unwrap().bytes)
    );
    let pcr8 = tpm["events"]["sha256"]["8"].as_array().unwrap();
    assert!(
        pcr8[0]["event"].as_str().unwrap().contains("console=ttyS0"),
        "{tpm:#}"
    );
    assert_eq!(tpm["pcrs"]["sha256"]["4"], hex::encode(&pcrs[4]));
    assert!(
        !warnings.iter().any(|w| w.contains("not replayed")),
        "{warnings:?}"
    );
}

#[test]
fn one_bit_flipped_in_an_event_digest_is_refused_naming_the_pcr() {
    let log = boot_log();
    let pcrs = pcrs_of(&log);
    // The boot loader's digest, as the log holds it: one bit flipped.
    let digest = HashAlg::SHA256.hash(b"synthetic shim image").unwrap().bytes;
    let at = log
        .windows(32)
        .position(|w| w == digest.as_slice())
        .expect("the digest is in the log");
    let mut bad = log.clone();
    bad[at + 7] ^= 0x10;
    let replayed = pcrs_of(&bad)[4].clone();
    assert_ne!(replayed, pcrs[4]);

    let r = verify(&request(&pcrs, Some(&bad))).unwrap_err();
    let Error::Mismatch { field, reason } = &r.error else {
        panic!("not a mismatch: {}", r.error);
    };
    assert_eq!(*field, "TcgLogs");
    assert!(reason.contains("PCR 4 (sha256)"), "{reason}");
    assert!(reason.contains(&hex::encode(&replayed)), "{reason}");
    assert!(reason.contains(&hex::encode(&pcrs[4])), "{reason}");
    // The rejection still shows what the log says.
    assert_eq!(r.claims["tpm"]["event_log"]["matches_quote"], false);
    assert!(r.claims["tpm"]["events"]["sha256"]["4"].is_array());
}

#[test]
fn bytes_that_are_no_log_are_refused_naming_tcg_logs() {
    let pcrs = pcrs_of(&boot_log());
    for garbage in [&b"not an event log"[..], &[0xff; 64][..]] {
        let r = verify(&request(&pcrs, Some(garbage))).unwrap_err();
        let Error::Evidence { field, reason } = &r.error else {
            panic!("not malformed evidence: {}", r.error);
        };
        assert_eq!(field, "TcgLogs", "{}", r.error);
        assert!(!reason.is_empty());
    }
    // A log cut short is no log either, or one that does not replay.
    let log = boot_log();
    let r = verify(&request(&pcrs, Some(&log[..log.len() / 2]))).unwrap_err();
    assert!(r.error.to_string().contains("TcgLogs"), "{}", r.error);
}

#[test]
fn an_absent_or_empty_tcg_logs_verifies_with_a_warning_that_no_event_backs_the_pcrs() {
    let pcrs = pcrs_of(&boot_log());
    // `"TcgLogs": ""` (a client that found no log) is the same as no field.
    for log in [None, Some(&[][..])] {
        let (claims, warnings) =
            verify(&request(&pcrs, log)).unwrap_or_else(|r| panic!("{log:?}: {}", r.error));
        assert!(
            warnings.iter().any(|w| w.starts_with("no TcgLogs")),
            "{log:?}: {warnings:?}"
        );
        assert!(claims["tpm"].get("events").is_none(), "{claims}");
    }
}

//! The canonical event log parser: go-tpm-tools' own test log, and
//! synthetic logs built by `cel::encode` with one defect each.

use base64::Engine as _;
use rootline_core::HashAlg;
use rootline_eventlog::Error;
use rootline_eventlog::cel::{self, CosType, IndexType, Register};

const PCR13: Register = Register {
    kind: IndexType::PCR,
    index: 13,
};
const BANKS: &[HashAlg] = &[HashAlg::SHA256, HashAlg::SHA384];

fn go_tpm_tools_log() -> Vec<u8> {
    let b64 = include_str!("data/go-tpm-tools-cel.b64");
    base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .unwrap()
}

fn workload() -> Vec<u8> {
    cel::encode(&[
        (
            PCR13,
            BANKS,
            CosType::IMAGE_REF,
            b"docker.io/library/hello:1".as_slice(),
        ),
        (
            PCR13,
            BANKS,
            CosType::IMAGE_DIGEST,
            b"sha256:aaaa".as_slice(),
        ),
        (PCR13, BANKS, CosType::RESTART_POLICY, b"Never".as_slice()),
        (PCR13, BANKS, CosType::ARG, b"/bin/hello".as_slice()),
        (PCR13, BANKS, CosType::ARG, b"--quiet".as_slice()),
        (PCR13, BANKS, CosType::ENV_VAR, b"A=b=c".as_slice()),
        (PCR13, BANKS, CosType::MEMORY_MONITOR, [1u8].as_slice()),
        (PCR13, BANKS, CosType::LAUNCH_SEPARATOR, b"".as_slice()),
    ])
}

fn cel_error(e: Error) -> (usize, &'static str, String) {
    match e {
        Error::Cel {
            record,
            field,
            reason,
        } => (record, field, reason),
        other => panic!("expected a CEL error, got {other}"),
    }
}

#[test]
fn go_tpm_tools_log_parses_and_every_digest_checks() {
    let log = cel::parse(&go_tpm_tools_log()).unwrap();
    assert_eq!(log.records.len(), 18);
    let reg = Register {
        kind: IndexType::CCMR,
        index: 4,
    };
    assert!(log.records.iter().all(|r| r.register == reg));
    assert_eq!(reg.rtmr(), Some(3));
    let replayed = log.replay().unwrap();
    assert_eq!(replayed.len(), 1);
    assert_eq!(
        replayed[&reg].keys().copied().collect::<Vec<_>>(),
        [HashAlg::SHA384]
    );
    assert_ne!(
        replayed[&reg][&HashAlg::SHA384],
        HashAlg::SHA384.zero().unwrap()
    );

    let c = log.cos_claims().unwrap();
    assert!(
        c["image_reference"]
            .as_str()
            .unwrap()
            .ends_with("/gpu/cuda-vector-add:latest")
    );
    assert!(
        c["image_digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:7770")
    );
    assert_eq!(c["restart_policy"], "Never");
    assert_eq!(c["args"], serde_json::json!(["/cuda-samples/sample"]));
    assert_eq!(c["env"]["NVARCH"], "x86_64");
    assert_eq!(c["env"]["CUDA_VERSION"], "12.5.0");
    assert_eq!(c["memory_monitoring"], false);
    assert_eq!(c["gpu_cc_mode"], "ON");
    assert_eq!(c["launch_separator"], true);
    assert!(c.get("launch_error").is_none());
}

#[test]
fn synthetic_log_replays_to_the_extends_of_its_digests() {
    let bytes = workload();
    let log = cel::parse(&bytes).unwrap();
    assert_eq!(log.records.len(), 8);
    let replayed = log.replay().unwrap();
    // The register value by the extend definition, from the digests of the
    // content TLVs as encoded (type 80, length, nested TLV).
    for alg in BANKS {
        let mut want = alg.zero().unwrap();
        for rec in &log.records {
            let mut inner = vec![rec.event.kind.0];
            inner.extend_from_slice(&(rec.event.value.len() as u32).to_be_bytes());
            inner.extend_from_slice(&rec.event.value);
            let mut content = vec![80u8];
            content.extend_from_slice(&(inner.len() as u32).to_be_bytes());
            content.extend_from_slice(&inner);
            want.extend(&alg.hash(&content).unwrap().bytes).unwrap();
        }
        assert_eq!(replayed[&PCR13][alg], want);
    }
    let c = log.cos_claims().unwrap();
    assert_eq!(c["image_reference"], "docker.io/library/hello:1");
    assert_eq!(c["args"], serde_json::json!(["/bin/hello", "--quiet"]));
    assert_eq!(c["env"]["A"], "b=c");
    assert_eq!(c["memory_monitoring"], true);
    let events = log.events_json();
    assert_eq!(events[0]["pcr"], 13);
    assert_eq!(events[0]["type"], "image_reference");
    assert_eq!(events[6]["value_hex"], "01");
}

#[test]
fn one_bit_flipped_in_any_content_is_refused_naming_the_record() {
    let good = workload();
    let log = cel::parse(&good).unwrap();
    // Walk the records to find each content value's offset.
    let mut off = 0usize;
    for (n, rec) in log.records.iter().enumerate() {
        off += 13 + 6; // recnum TLV, register TLV
        let dl = u32::from_be_bytes(good[off + 1..off + 5].try_into().unwrap()) as usize;
        off += 5 + dl;
        let value_at = off + 5 + 5; // content TLV header, COS TLV header
        if !rec.event.value.is_empty() {
            let mut bad = good.clone();
            bad[value_at] ^= 1;
            let (record, field, reason) = cel_error(cel::parse(&bad).unwrap_err());
            assert_eq!((record, field), (n, "digests"), "{reason}");
            assert!(reason.contains("hash of the content"), "{reason}");
        }
        let cl = u32::from_be_bytes(good[off + 1..off + 5].try_into().unwrap()) as usize;
        off += 5 + cl;
    }
    assert_eq!(off, good.len());
}

#[test]
fn one_bit_flipped_in_a_digest_is_refused() {
    let mut bad = workload();
    // Record 0: recnum (13), register (6), digests header (5), sha256 TLV header (5).
    bad[13 + 6 + 5 + 5] ^= 0x80;
    let (record, field, reason) = cel_error(cel::parse(&bad).unwrap_err());
    assert_eq!((record, field), (0, "digests"));
    assert!(reason.contains("sha256"), "{reason}");
}

#[test]
fn a_skipped_record_number_is_refused() {
    let mut bad = workload();
    let log = cel::parse(&bad).unwrap();
    // Renumber record 1 as 2.
    let first_len = {
        let dl = u32::from_be_bytes(bad[20..24].try_into().unwrap()) as usize;
        let c = 19 + 5 + dl;
        c + 5 + u32::from_be_bytes(bad[c + 1..c + 5].try_into().unwrap()) as usize
    };
    assert_eq!(bad[first_len], 0);
    bad[first_len + 12] = 2;
    let (record, field, reason) = cel_error(cel::parse(&bad).unwrap_err());
    assert_eq!((record, field), (1, "recnum"), "{reason}");
    assert!(reason.contains("is 2, expected 1"), "{reason}");
    assert_eq!(log.records.len(), 8);
}

#[test]
fn every_truncation_inside_a_record_is_refused_and_one_at_a_boundary_replays_differently() {
    let good = workload();
    let full = cel::parse(&good).unwrap().replay().unwrap();
    let mut boundaries = 0;
    for len in 1..good.len() {
        match cel::parse(&good[..len]) {
            Err(Error::Cel { .. }) => {}
            // Cut between records, the log is a shorter log: only the
            // replay against the quoted register can tell.
            Ok(short) => {
                boundaries += 1;
                assert_eq!(short.records.len(), boundaries, "cut at {len}");
                assert_ne!(short.replay().unwrap(), full, "cut at {len}");
            }
            other => panic!("truncated to {len}: {other:?}"),
        }
    }
    assert_eq!(boundaries, 7);
    assert!(matches!(cel::parse(&[]), Err(Error::Empty)));
}

#[test]
fn an_unknown_content_type_is_refused() {
    let mut bad = workload();
    let dl = u32::from_be_bytes(bad[20..24].try_into().unwrap()) as usize;
    let content = 19 + 5 + dl;
    assert_eq!(bad[content], 80);
    bad[content] = 5; // CEL PCCLIENT_STD
    let (record, field, reason) = cel_error(cel::parse(&bad).unwrap_err());
    assert_eq!((record, field), (0, "content"));
    assert!(reason.contains("not COS 80"), "{reason}");
}

#[test]
fn an_unknown_cos_type_parses_but_is_refused_as_a_claim() {
    let bytes = cel::encode(&[
        (PCR13, BANKS, CosType::IMAGE_REF, b"a".as_slice()),
        (PCR13, BANKS, CosType(42), [0xffu8, 0].as_slice()),
    ]);
    let log = cel::parse(&bytes).unwrap();
    assert_eq!(log.records[1].event.kind, CosType(42));
    let events = log.events_json();
    assert_eq!(events[1]["type"], "cos_type_0x2a");
    assert_eq!(events[1]["value_hex"], "ff00");
    let (record, field, reason) = cel_error(log.cos_claims().unwrap_err());
    assert_eq!((record, field), (1, "content"));
    assert!(
        reason.contains("unknown COS event type cos_type_0x2a"),
        "{reason}"
    );
}

#[test]
fn an_event_after_the_launch_separator_is_refused() {
    let bytes = cel::encode(&[
        (PCR13, BANKS, CosType::LAUNCH_SEPARATOR, b"".as_slice()),
        (PCR13, BANKS, CosType::ARG, b"--late".as_slice()),
    ]);
    let log = cel::parse(&bytes).unwrap();
    let (record, field, reason) = cel_error(log.cos_claims().unwrap_err());
    assert_eq!((record, field), (1, "content"));
    assert!(
        reason.contains("arg event after the launch separator"),
        "{reason}"
    );
}

#[test]
fn a_cos_event_outside_pcr13_or_ccmr4_is_refused() {
    let pcr14 = Register {
        kind: IndexType::PCR,
        index: 14,
    };
    let bytes = cel::encode(&[(pcr14, BANKS, CosType::ARG, b"x".as_slice())]);
    let (record, field, reason) = cel_error(cel::parse(&bytes).unwrap().cos_claims().unwrap_err());
    assert_eq!((record, field), (0, "register"));
    assert!(reason.contains("pcr 14"), "{reason}");
}

#[test]
fn a_second_image_reference_is_refused_as_ambiguous() {
    let bytes = cel::encode(&[
        (PCR13, BANKS, CosType::IMAGE_REF, b"a".as_slice()),
        (PCR13, BANKS, CosType::IMAGE_REF, b"b".as_slice()),
    ]);
    let log = cel::parse(&bytes).unwrap();
    let (record, field, reason) = cel_error(log.cos_claims().unwrap_err());
    assert_eq!((record, field), (1, "content"));
    assert!(reason.contains("ambiguous"), "{reason}");
}

#[test]
fn a_record_missing_a_bank_its_register_started_with_is_refused() {
    let bytes = cel::encode(&[
        (PCR13, BANKS, CosType::ARG, b"a".as_slice()),
        (PCR13, &[HashAlg::SHA256], CosType::ARG, b"b".as_slice()),
    ]);
    let log = cel::parse(&bytes).unwrap();
    let (record, field, _) = cel_error(log.replay().unwrap_err());
    assert_eq!((record, field), (1, "digests"));
}

#[test]
fn a_parsed_log_re_encodes_to_the_bytes_received() {
    // The invariant the `cel` fuzz target asserts: one encoding per log.
    for bytes in [go_tpm_tools_log(), workload()] {
        let log = cel::parse(&bytes).unwrap();
        assert_eq!(log.encode(), bytes);
    }
}

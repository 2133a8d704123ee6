//! Guest-components SNP JSON (the `sev` crate 6.3.1 serde form): real reports
//! go raw -> JSON -> raw byte for byte and still verify; fixtures written by
//! sev 6.3.1 itself decode to the reports they came from; broken JSON is
//! rejected with the member named.

use std::path::Path;

use rootline_snp::guest_json::{GuestEvidence, decode, encode, is_guest_components_json};
use rootline_snp::report::REPORT_LEN;
use rootline_snp::{Collateral, Error, Options, Report, Verifier};
use serde_json::{Value, json};
use time::macros::datetime;

/// The members of sev 6.3.1's `AttestationReport`, in declaration order, as
/// read from `src/firmware/guest/types/snp.rs` of the published crate. Kept
/// apart from the module so the test is not the code checking itself.
const SEV_631_REPORT: [&str; 29] = [
    "version",
    "guest_svn",
    "policy",
    "family_id",
    "image_id",
    "vmpl",
    "sig_algo",
    "current_tcb",
    "plat_info",
    "key_info",
    "report_data",
    "measurement",
    "host_data",
    "id_key_digest",
    "author_key_digest",
    "report_id",
    "report_id_ma",
    "reported_tcb",
    "cpuid_fam_id",
    "cpuid_mod_id",
    "cpuid_step",
    "chip_id",
    "committed_tcb",
    "current",
    "committed",
    "launch_tcb",
    "launch_mit_vector",
    "current_mit_vector",
    "signature",
];
/// `TcbVersion` (sev `firmware/host/types/snp.rs`).
const SEV_631_TCB: [&str; 5] = ["fmc", "bootloader", "tee", "snp", "microcode"];
/// `Version`.
const SEV_631_VERSION: [&str; 3] = ["major", "minor", "build"];
/// `certs::snp::ecdsa::Signature`: no reserved member.
const SEV_631_SIGNATURE: [&str; 2] = ["r", "s"];
/// Byte-array members and their lengths.
const SEV_631_ARRAYS: [(&str, usize); 9] = [
    ("family_id", 16),
    ("image_id", 16),
    ("report_data", 64),
    ("measurement", 48),
    ("host_data", 32),
    ("id_key_digest", 48),
    ("author_key_digest", 48),
    ("report_id", 32),
    ("report_id_ma", 32),
];

/// Real reports: trustee v2 (Milan VCEK) and v3 (Milan VLEK), Oak v3 Milan and
/// v5 Turin, go-sev-guest v2, Veraison v3.
const REAL: [(&str, u32); 7] = [
    ("snp/trustee/test-report.bin", 2),
    ("snp/trustee/test-vlek-report.bin", 3),
    ("snp/oak/turin_oc_report.bin", 5),
    ("snp/oak/milan_cb_report.bin", 3),
    ("snp/oak/milan_oc_release_report.bin", 3),
    ("snp/go-sev-guest/attestation.bin", 2),
    ("snp/veraison-services/tsm_outblob_report.bin", 3),
];

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

fn err(v: &Value) -> String {
    decode(v).expect_err("must be rejected").to_string()
}

/// The synthetic report of `tests/data/sev-6.3.1/PROVENANCE.md`: a byte
/// pattern with the reserved ranges (written out here from the ABI table,
/// independently of the module) zeroed.
fn synthetic(version: u32, product: &str) -> Vec<u8> {
    let mut raw: Vec<u8> = (0..REPORT_LEN).map(|i| (i * 131 + 17) as u8).collect();
    let turin = product == "turin";
    let mut zero = |a: usize, b: usize| raw[a..b].iter_mut().for_each(|x| *x = 0);
    zero(0x4C, 0x50);
    for t in [0x38, 0x180, 0x1E0, 0x1F0] {
        if turin {
            zero(t + 4, t + 7);
        } else {
            zero(t + 2, t + 6);
        }
    }
    zero(0x1EB, 0x1EC);
    zero(0x1EF, 0x1F0);
    if version == 2 {
        zero(0x188, 0x1A0);
        if turin {
            zero(0x1A8, 0x1E0);
        }
    } else {
        zero(0x18B, 0x1A0);
    }
    zero(if version >= 5 { 0x208 } else { 0x1F8 }, 0x2A0);
    zero(0x2D0, 0x2E8);
    zero(0x318, 0x4A0);
    raw[0..4].copy_from_slice(&version.to_le_bytes());
    if version >= 3 {
        let (fam, model) = match product {
            "turin" => (0x1A, 0x02),
            "genoa" => (0x19, 0x11),
            _ => (0x19, 0x01),
        };
        raw[0x188] = fam;
        raw[0x189] = model;
    }
    raw
}

fn fixture(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/sev-6.3.1")
        .join(name);
    String::from_utf8(read(&p)).unwrap()
}

fn fixture_certs() -> Vec<(String, Vec<u8>)> {
    [
        ("VCEK", vec![48, 130, 1, 255]),
        ("ASK", vec![0]),
        ("ARK", vec![]),
        ("VLEK", vec![7]),
        ("CRL", vec![8]),
        ("Empty", vec![]),
        ("12345678-9abc-def0-1234-56789abcdef0", vec![255, 1]),
    ]
    .into_iter()
    .map(|(n, d)| (n.to_owned(), d))
    .collect()
}

#[test]
fn sev_631_fixtures_decode_to_their_reports_and_encode_back_verbatim() {
    let cases = [
        ("v2-genoa-certs.json", 2, "genoa", true),
        ("v2-turin.json", 2, "turin", false),
        ("v3-milan.json", 3, "milan", false),
        ("v4-genoa.json", 4, "genoa", false),
        ("v5-turin.json", 5, "turin", false),
    ];
    for (name, version, product, with_certs) in cases {
        let text = fixture(name);
        let v: Value = serde_json::from_str(&text).unwrap();
        assert!(is_guest_components_json(&v), "{name}");
        let raw = synthetic(version, product);
        let certs = if with_certs {
            fixture_certs()
        } else {
            Vec::new()
        };
        let got = decode(&v).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            got,
            GuestEvidence {
                report: raw.clone(),
                certs: certs.clone()
            },
            "{name}"
        );
        // Same members, same order, same numbers as sev 6.3.1 wrote.
        let mine = serde_json::to_string(&encode(&raw, &certs).unwrap()).unwrap();
        assert_eq!(mine, text.trim_end(), "{name}");
    }
}

#[test]
fn encode_has_sev_631_member_names_order_and_lengths() {
    for (version, product) in [(2, "genoa"), (3, "milan"), (5, "turin")] {
        let v = encode(&synthetic(version, product), &fixture_certs()).unwrap();
        assert_eq!(keys(&v), ["attestation_report", "cert_chain"]);
        let ar = &v["attestation_report"];
        assert_eq!(keys(ar), SEV_631_REPORT);
        for t in ["current_tcb", "reported_tcb", "committed_tcb", "launch_tcb"] {
            assert_eq!(keys(&ar[t]), SEV_631_TCB, "{t}");
            assert_eq!(ar[t]["fmc"].is_null(), product != "turin", "{t}");
        }
        for t in ["current", "committed"] {
            assert_eq!(keys(&ar[t]), SEV_631_VERSION, "{t}");
        }
        assert_eq!(keys(&ar["signature"]), SEV_631_SIGNATURE);
        for part in SEV_631_SIGNATURE {
            assert_eq!(ar["signature"][part].as_array().unwrap().len(), 72);
        }
        for (name, len) in SEV_631_ARRAYS {
            assert_eq!(ar[name].as_array().unwrap().len(), len, "{name}");
        }
        assert_eq!(ar["chip_id"].as_array().unwrap().len(), 64);
        for n in ["policy", "plat_info", "key_info", "vmpl", "sig_algo"] {
            assert!(ar[n].is_u64(), "{n} is a number");
        }
        let cpuid_null = version < 3;
        for n in ["cpuid_fam_id", "cpuid_mod_id", "cpuid_step"] {
            assert_eq!(ar[n].is_null(), cpuid_null, "{n}");
        }
        for n in ["launch_mit_vector", "current_mit_vector"] {
            assert_eq!(ar[n].is_null(), version < 5, "{n}");
        }
        let chain = v["cert_chain"].as_array().unwrap();
        assert_eq!(
            chain[0],
            json!({"cert_type": "VCEK", "data": [48, 130, 1, 255]})
        );
        assert_eq!(
            chain[6]["cert_type"],
            json!({"OTHER": "12345678-9abc-def0-1234-56789abcdef0"})
        );
    }
}

#[test]
fn real_reports_round_trip_byte_for_byte() {
    for (rel, version) in REAL {
        let Some(p) = rootline_testkit::vector(rel) else {
            return;
        };
        let raw = read(&p);
        let r = Report::parse(&raw).unwrap();
        assert_eq!(r.version, version, "{rel}");
        let v = encode(&raw, &[]).unwrap_or_else(|e| panic!("{rel}: {e}"));
        // Through text, as it travels.
        let text = serde_json::to_string(&v).unwrap();
        let back: Value = serde_json::from_str(&text).unwrap();
        let got = decode(&back).unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert_eq!(got.report, raw, "{rel}");
        assert!(got.certs.is_empty());
        assert_eq!(v["cert_chain"], Value::Null);
    }
}

/// The rebuilt bytes carry a signature that verifies to the AMD roots, with
/// the VEK taken from `cert_chain` as a KBS would.
#[test]
fn decoded_real_reports_verify() {
    let cases = [
        (
            "snp/trustee",
            "test-report.bin",
            "test-vcek.der",
            "VCEK",
            "ask_ark_milan.pem",
        ),
        (
            "snp/trustee",
            "test-vlek-report.bin",
            "test-vlek.der",
            "VLEK",
            "asvk_ark_milan_vlek.pem",
        ),
        (
            "snp/oak",
            "turin_oc_report.bin",
            "turin_oc_vcek.der",
            "VCEK",
            "ask_ark_turin.pem",
        ),
    ];
    let opts = Options {
        at: Some(datetime!(2025-08-15 00:00 UTC)),
        nonce: None,
    };
    for (folder, report, vek, kind, chain) in cases {
        let Some(d) = rootline_testkit::vector(folder) else {
            return;
        };
        let raw = read(&d.join(report));
        let certs = vec![(kind.to_owned(), read(&d.join(vek)))];
        let text = serde_json::to_string(&encode(&raw, &certs).unwrap()).unwrap();
        let got = decode(&serde_json::from_str(&text).unwrap()).unwrap();
        assert_eq!(got.certs, certs, "{report}");
        let mut coll = Collateral::new();
        for (name, der) in &got.certs {
            coll.add(name, der).unwrap();
        }
        coll.add(chain, &read(&d.join(chain))).unwrap();
        Verifier::amd()
            .verify_evidence(&got.report, &coll, &opts)
            .unwrap_or_else(|r| panic!("{report}: {}", r.error));
    }
}

fn sample() -> Value {
    encode(&synthetic(3, "milan"), &fixture_certs()).unwrap()
}

#[test]
fn out_of_range_and_wrong_length_members_are_named() {
    let mut v = sample();
    v["attestation_report"]["report_data"][5] = json!(256);
    let e = err(&v);
    assert!(
        e.contains("attestation_report.report_data[5]") && e.contains("256"),
        "{e}"
    );

    let mut v = sample();
    v["attestation_report"]["measurement"]
        .as_array_mut()
        .unwrap()
        .pop();
    let e = err(&v);
    assert!(
        e.contains("attestation_report.measurement") && e.contains("47 elements, expected 48"),
        "{e}"
    );

    let mut v = sample();
    v["attestation_report"]["signature"]["s"]
        .as_array_mut()
        .unwrap()
        .push(json!(0));
    assert!(err(&v).contains("attestation_report.signature.s"));

    let mut v = sample();
    v["attestation_report"]["vmpl"] = json!(1u64 << 32);
    let e = err(&v);
    assert!(
        e.contains("attestation_report.vmpl") && e.contains("32 bits"),
        "{e}"
    );

    let mut v = sample();
    v["attestation_report"]["reported_tcb"]["snp"] = json!(300);
    assert!(err(&v).contains("attestation_report.reported_tcb.snp"));

    let mut v = sample();
    v["attestation_report"]["current"]["major"] = json!(-1);
    let e = err(&v);
    assert!(
        e.contains("attestation_report.current.major") && e.contains("-1"),
        "{e}"
    );

    let mut v = sample();
    v["attestation_report"]["cpuid_step"] = json!(1.5);
    assert!(err(&v).contains("attestation_report.cpuid_step"));

    let mut v = sample();
    v["cert_chain"][0]["data"][1] = json!(256);
    assert!(err(&v).contains("cert_chain[0].data[1]"));
}

#[test]
fn missing_members_and_wrong_types_are_named() {
    let mut v = sample();
    v["attestation_report"]
        .as_object_mut()
        .unwrap()
        .shift_remove("chip_id");
    let e = err(&v);
    assert!(e.contains("attestation_report.chip_id: is missing"), "{e}");

    let mut v = sample();
    v["attestation_report"]["launch_tcb"]
        .as_object_mut()
        .unwrap()
        .shift_remove("microcode");
    assert!(err(&v).contains("attestation_report.launch_tcb.microcode: is missing"));

    let mut v = sample();
    v["attestation_report"]["policy"] = json!("0x30000");
    let e = err(&v);
    assert!(
        e.contains("attestation_report.policy") && e.contains("a string"),
        "{e}"
    );

    let mut v = sample();
    v["attestation_report"]["host_data"] = json!("AAAA");
    assert!(err(&v).contains("attestation_report.host_data: is a string"));

    let mut v = sample();
    v["attestation_report"]["report_id"][0] = json!("1");
    assert!(err(&v).contains("attestation_report.report_id[0]"));

    let mut v = sample();
    v["attestation_report"]["signature"] = json!([1, 2]);
    assert!(err(&v).contains("attestation_report.signature: is an array"));

    let mut v = sample();
    v["cert_chain"] = json!("VCEK");
    assert!(err(&v).contains("cert_chain: is a string"));

    let mut v = sample();
    v["cert_chain"][1]["cert_type"] = json!("PEK");
    assert!(err(&v).contains("cert_chain[1].cert_type: unknown certificate type"));

    let mut v = sample();
    v["cert_chain"][6]["cert_type"] = json!({"OTHER": "not-a-guid"});
    assert!(err(&v).contains("cert_chain[6].cert_type.OTHER"));

    assert!(err(&json!([1])).contains("evidence: is an array"));
    assert!(err(&json!({"cert_chain": null})).contains("attestation_report: is missing"));
}

#[test]
fn version_specific_members_must_match_the_version() {
    let mut v = sample();
    v["attestation_report"]["version"] = json!(6);
    assert!(matches!(decode(&v), Err(Error::Unsupported { .. })));

    // A version-3 report needs its CPUID bytes; serde reads an absent Option
    // as null, so absent is the same as null here.
    let mut v = sample();
    v["attestation_report"]
        .as_object_mut()
        .unwrap()
        .shift_remove("cpuid_mod_id");
    assert!(err(&v).contains("cpuid_fam_id, cpuid_mod_id and cpuid_step are required"));

    let mut v = sample();
    v["attestation_report"]["launch_mit_vector"] = json!(1);
    assert!(err(&v).contains("attestation_report.launch_mit_vector: must be null"));

    let mut v = encode(&synthetic(5, "turin"), &[]).unwrap();
    v["attestation_report"]["current_mit_vector"] = Value::Null;
    assert!(err(&v).contains("are required in a version-5 report"));

    let mut v = encode(&synthetic(2, "genoa"), &[]).unwrap();
    v["attestation_report"]["cpuid_fam_id"] = json!(0x19);
    assert!(err(&v).contains("must be null in a version-2 report"));

    // Turin CPUID with the Milan/Genoa TCB layout, and TCBs that disagree.
    let mut v = sample();
    v["attestation_report"]["cpuid_fam_id"] = json!(0x1A);
    assert!(err(&v).contains("TCB layout does not match"));
    let mut v = sample();
    v["attestation_report"]["committed_tcb"]["fmc"] = json!(1);
    assert!(err(&v).contains("attestation_report.committed_tcb.fmc"));
}

#[test]
fn members_sev_does_not_know_are_ignored_and_missing_cert_chain_is_none() {
    let mut v = sample();
    v["attestation_report"]["future"] = json!([1, 2, 3]);
    v.as_object_mut().unwrap().shift_remove("cert_chain");
    let got = decode(&v).unwrap();
    assert_eq!(got.report, synthetic(3, "milan"));
    assert!(got.certs.is_empty());
}

#[test]
fn encode_refuses_what_the_json_cannot_carry() {
    // A TCB reserved byte (Milan/Genoa layout, byte 3 of CURRENT_TCB).
    let mut raw = synthetic(3, "milan");
    raw[0x38 + 3] = 1;
    let e = encode(&raw, &[]).unwrap_err();
    assert!(e.to_string().contains("current_tcb"), "{e}");

    // A version-2 report with a masked chip ID: sev 6.3.1 cannot tell its layout.
    let mut raw = synthetic(2, "genoa");
    raw[0x1A0..0x1E0].iter_mut().for_each(|b| *b = 0);
    assert!(matches!(encode(&raw, &[]), Err(Error::Unsupported { .. })));

    // An unknown CPU.
    let mut raw = synthetic(3, "milan");
    raw[0x188] = 0x17;
    assert!(matches!(encode(&raw, &[]), Err(Error::Unsupported { .. })));

    // Any other reserved byte: the report does not parse.
    let mut raw = synthetic(3, "milan");
    raw[0x1F8] = 1;
    assert!(encode(&raw, &[]).is_err());
    assert!(encode(&raw[1..], &[]).is_err());

    let e = encode(&synthetic(3, "milan"), &[("PEK".into(), vec![1])]).unwrap_err();
    assert!(e.to_string().contains("certs[0]"), "{e}");
}

#[test]
fn certificate_names_follow_sev() {
    let raw = synthetic(3, "milan");
    let certs = [
        ("vcek".to_owned(), vec![1]),
        ("63DA758D-E664-4564-ADC5-F4B93BE8ACCD".to_owned(), vec![2]),
        ("ffffffff-0000-0000-0000-000000000000".to_owned(), vec![3]),
    ];
    let v = encode(&raw, &certs).unwrap();
    assert_eq!(v["cert_chain"][0]["cert_type"], "VCEK");
    assert_eq!(v["cert_chain"][1]["cert_type"], "VCEK");
    assert_eq!(
        v["cert_chain"][2]["cert_type"],
        json!({"OTHER": "ffffffff-0000-0000-0000-000000000000"})
    );
    let names: Vec<String> = decode(&v).unwrap().certs.into_iter().map(|c| c.0).collect();
    assert_eq!(
        names,
        ["VCEK", "VCEK", "ffffffff-0000-0000-0000-000000000000"]
    );
}

#[test]
fn sniffing_tells_guest_json_from_other_json() {
    assert!(is_guest_components_json(&sample()));
    assert!(is_guest_components_json(&json!({"attestation_report": {}})));
    assert!(!is_guest_components_json(&json!({"outblob": "AAAA"})));
    assert!(!is_guest_components_json(
        &json!({"attestation_report": "x"})
    ));
    assert!(!is_guest_components_json(
        &json!({"attestation_report": {}, "cert_chain": 1})
    ));
    assert!(!is_guest_components_json(&json!([])));
}

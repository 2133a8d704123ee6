//! `rootline verify --tee tpm` as scripts call it: every TPM evidence form,
//! `--json` output, exit codes 0 (verified), 1 (rejected, check named) and 2.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use rootline_core::HashAlg;
use rootline_tpm::synthetic::SyntheticAk;
use rootline_tpm::{PcrBank, PcrSelection, PcrValues};
use serde_json::{Value, json};

fn rootline(args: &[&str]) -> (i32, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_rootline"))
        .args(args)
        .output()
        .unwrap();
    let code = out.status.code().unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (code, v)
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn flipped(dir: &tempfile::TempDir, src: &Path, at: usize) -> PathBuf {
    let mut b = std::fs::read(src).unwrap();
    let at = at.min(b.len() - 1);
    b[at] ^= 0x01;
    let out = dir.path().join(src.file_name().unwrap());
    std::fs::write(&out, b).unwrap();
    out
}

#[test]
fn tpm2_tools_files_verify_and_flips_are_rejected() {
    let Some(base) = rootline_testkit::vector("ovmf-swtpm") else {
        return;
    };
    for folder in ["kernel-direct-ekcert-tpm", "uki-esp-ekcert-tpm"] {
        let d = base.join(folder);
        let nonce = std::fs::read_to_string(d.join("nonce.hex")).unwrap();
        let (quote, sig, ak, pcrs, log) = (
            d.join("quote.msg"),
            d.join("quote.sig"),
            d.join("ak.pub"),
            d.join("quote.pcrs"),
            d.join("binary_bios_measurements"),
        );
        let run = |quote: &Path, sig: &Path, pcrs: &Path, log: &Path, nonce: &str| {
            rootline(&[
                "verify",
                "--tee",
                "tpm",
                p(quote),
                "--signature",
                p(sig),
                "--ak",
                p(&ak),
                "--pcrs",
                p(pcrs),
                "--eventlog",
                p(log),
                "--nonce",
                nonce.trim(),
                "--json",
            ])
        };
        let (code, v) = run(&quote, &sig, &pcrs, &log, &nonce);
        assert_eq!(code, 0, "{folder}: {v}");
        assert_eq!(v["verified"], true);
        assert_eq!(v["tee"], "tpm");
        assert_eq!(v["claims"]["extra_data"], nonce.trim());
        assert_eq!(v["claims"]["pcrs"]["sha256"].as_object().unwrap().len(), 24);
        assert_eq!(v["claims"]["event_log"]["matches_quote"], true);
        assert_eq!(v["claims"]["ak_fingerprint"].as_str().unwrap().len(), 64);
        // Detected without --tee.
        let (code, _) = rootline(&[
            "verify",
            p(&quote),
            "--signature",
            p(&sig),
            "--ak",
            p(&ak),
            "--json",
        ]);
        assert_eq!(code, 0);

        let tmp = tempfile::tempdir().unwrap();
        let reject = |(code, v): (i32, Value), needle: &str| {
            assert_eq!(code, 1, "{folder}: {v}");
            assert_eq!(v["verified"], false);
            let e = v["error"].as_str().unwrap();
            assert!(e.contains(needle), "{folder}: expected {needle:?} in {e:?}");
        };
        // A bit in the quote's clock, in the signature, in the nonce, in a PCR
        // value (PCR 1, first digest byte) and in an event digest of the log.
        reject(
            run(&flipped(&tmp, &quote, 60), &sig, &pcrs, &log, &nonce),
            "signature check failed",
        );
        reject(
            run(&quote, &flipped(&tmp, &sig, 40), &pcrs, &log, &nonce),
            "signature check failed",
        );
        let mut bad_nonce = hex::decode(nonce.trim()).unwrap();
        bad_nonce[0] ^= 1;
        reject(
            run(&quote, &sig, &pcrs, &log, &hex::encode(bad_nonce)),
            "nonce check failed",
        );
        reject(
            run(
                &quote,
                &sig,
                &flipped(&tmp, &pcrs, 0x84 + 4 + 4 + 2 + 66),
                &log,
                &nonce,
            ),
            "pcr digest check failed",
        );
        // The event at offset 0x70 of the log is after the Spec ID event;
        // flip a digest byte deep in the log instead: the last event's digest.
        let log_bytes = std::fs::read(&log).unwrap();
        let e = rootline_eventlog_last_digest_offset(&log_bytes);
        reject(
            run(&quote, &sig, &pcrs, &flipped(&tmp, &log, e), &nonce),
            "event log",
        );
    }
}

/// Offset of a byte inside the digest of the last PCR-0..7 event: found by
/// searching the log for the quoted PCR 7 separator digest is overkill, so
/// take the SHA-256 digest of the first EV_SEPARATOR (digest of 00000000).
fn rootline_eventlog_last_digest_offset(log: &[u8]) -> usize {
    let sep = HashAlg::SHA256.hash(&[0, 0, 0, 0]).unwrap().bytes;
    log.windows(32).position(|w| w == sep).unwrap() + 5
}

#[test]
fn keylime_quote_with_pem_and_tpm2b_aks() {
    let Some(d) = rootline_testkit::vector("tpm-quote/keylime-swtpm") else {
        return;
    };
    for ak in ["akpub.pem", "ak.pub"] {
        let (code, v) = rootline(&[
            "verify",
            "--tee",
            "tpm",
            p(&d.join("quote.out")),
            "--signature",
            p(&d.join("quotesig.out")),
            "--ak",
            p(&d.join(ak)),
            "--pcrs",
            p(&d.join("quotepcr.out")),
            "--nonce",
            "db1db298db6d60e6385b7231743e9c3056a18003",
            "--json",
        ]);
        assert_eq!(code, 0, "{v}");
        assert_eq!(v["claims"]["pcrs"]["sha256"]["22"], "ff".repeat(32));
        assert_eq!(v["claims"]["firmware_version"], "0x2016051100162800");
        assert_eq!(v["claims"]["clock"], 5994);
    }
    // Missing --signature is a rejection that says what to pass.
    let (code, v) = rootline(&["verify", "--tee", "tpm", p(&d.join("quote.out")), "--json"]);
    assert_eq!(code, 1);
    assert!(v["error"].as_str().unwrap().contains("--signature"));
}

#[test]
fn go_tpm_tools_protobuf_with_ak_certificate() {
    let Some(d) = rootline_testkit::vector("tpm-quote/go-tpm-tools") else {
        return;
    };
    let pb = d.join("gce-cos-85-no-nonce.pb");
    let ca = d.join("gce-ca-certs");
    let (code, v) = rootline(&[
        "verify",
        p(&pb),
        "--nonce",
        "",
        "--at",
        "2024-01-01T00:00:00Z",
        "--collateral",
        p(&ca.join("tpm_ek_root_1.cer")),
        "--collateral",
        p(&ca.join("tpm_ek_intermediate_2.crt")),
        "--json",
    ]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["claims"]["evidence_form"], "go-tpm-tools attestation");
    assert_eq!(v["claims"]["quotes"].as_array().unwrap().len(), 3);
    assert_eq!(v["claims"]["event_log"]["matches_quote"], true);
    assert_eq!(
        v["claims"]["pcrs"]["sha384"]["7"].as_str().unwrap().len(),
        96
    );
    assert_eq!(
        v["claims"]["ak_trust"]["certificate_chain"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    // The wrong root: rejected, the chain named.
    let (code, v) = rootline(&[
        "verify",
        p(&pb),
        "--at",
        "2024-01-01T00:00:00Z",
        "--collateral",
        p(&ca.join("gcp_ek_ak_ca_root.crt")),
        "--collateral",
        p(&ca.join("tpm_ek_intermediate_2.crt")),
        "--json",
    ]);
    assert_eq!(code, 1);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("certificate chain check failed"),
        "{v}"
    );
    // A nonce the quotes do not carry.
    let (code, v) = rootline(&["verify", p(&pb), "--nonce", "00", "--json"]);
    assert_eq!(code, 1);
    assert!(
        v["error"].as_str().unwrap().contains("nonce check failed"),
        "{v}"
    );
    // The decomposed quote as tpm2-tools files, with the AK certificate as
    // --ak: chained through --collateral, PCRs not given.
    let (code, v) = rootline(&[
        "verify",
        "--tee",
        "tpm",
        p(&d.join("gce-cos-85-no-nonce.quote1_sha256.tpms_attest.bin")),
        "--signature",
        p(&d.join("gce-cos-85-no-nonce.quote1_sha256.tpmt_signature.bin")),
        "--ak",
        p(&d.join("gce-cos-85-no-nonce.ak_cert.der")),
        "--nonce",
        "",
        "--at",
        "2024-01-01T00:00:00Z",
        "--collateral",
        p(&ca.join("tpm_ek_root_1.cer")),
        "--collateral",
        p(&ca.join("tpm_ek_intermediate_2.crt")),
        "--json",
    ]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        v["claims"]["ak_trust"]["certificate_chain"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert!(v["warnings"].to_string().contains("PCR values not given"));
    // The same with a bare public key and a CA: nothing to chain, rejected.
    let (code, v) = rootline(&[
        "verify",
        "--tee",
        "tpm",
        p(&d.join("gce-cos-85-no-nonce.quote1_sha256.tpms_attest.bin")),
        "--signature",
        p(&d.join("gce-cos-85-no-nonce.quote1_sha256.tpmt_signature.bin")),
        "--ak",
        p(&d.join("gce-cos-85-no-nonce.ak_pub.tpmt_public.bin")),
        "--collateral",
        p(&ca.join("tpm_ek_root_1.cer")),
        "--json",
    ]);
    assert_eq!(code, 1, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("no AK certificate"),
        "{v}"
    );
    // Without CA and --ak, verified but with a warning about the AK.
    let (code, v) = rootline(&["verify", p(&pb), "--json"]);
    assert_eq!(code, 0);
    assert!(v["warnings"].to_string().contains("not chained to a CA"));
}

#[test]
fn go_attestation_json_dump() {
    let Some(f) = rootline_testkit::vector("tpm-quote/go-attestation/windows_gcp_shielded_vm.json")
    else {
        return;
    };
    let (code, v) = rootline(&["verify", p(&f), "--nonce", "", "--json"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["claims"]["pcrs"]["sha1"].as_object().unwrap().len(), 24);
    assert_eq!(v["claims"]["event_log"]["matches_quote"], true);
    assert_eq!(v["claims"]["reset_count"], 1045281252u64);
}

/// No Trustee TPM evidence vector exists in the shared folder: this sample is
/// made here in Trustee's shape (attester/src/tpm: PEM `ak_pubkey`, `quote`
/// per bank with base64 `attest_body`, base64 bare RSASSA `attest_sig`, hex
/// `pcrs` in selection order).
#[test]
fn trustee_evidence_json_sample() {
    let ak = SyntheticAk::rsa_2048().unwrap();
    let sel = PcrSelection {
        banks: vec![PcrBank::new(HashAlg::SHA256, &(0..24).collect::<Vec<u8>>())],
    };
    let mut vals = PcrValues::new();
    let mut list = Vec::new();
    for i in 0..24u8 {
        let d = HashAlg::SHA256.hash(&[i]).unwrap().bytes;
        list.push(hex::encode(&d));
        vals.insert(HashAlg::SHA256, i, d).unwrap();
    }
    let nonce = [7u8; 32];
    let (attest, _) = ak.quote(&nonce, &sel, &vals).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let spki = ak.ak().unwrap().key.spki_der().unwrap();
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        b64.encode(&spki)
    );
    let evidence = |sig: &[u8], pcrs: &[String]| {
        json!({
            "ek_cert": null,
            "ak_pubkey": pem,
            "quote": {"SHA256": {
                "attest_body": b64.encode(&attest),
                "attest_sig": b64.encode(sig),
                "pcrs": pcrs,
            }},
            "eventlog": null,
        })
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("trustee.json");
    let sig = ak.sign_raw(&attest).unwrap();
    std::fs::write(&file, evidence(&sig, &list).to_string()).unwrap();
    let (code, v) = rootline(&["verify", p(&file), "--nonce", &hex::encode(nonce), "--json"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["claims"]["evidence_form"], "trustee tpm evidence");
    assert_eq!(v["claims"]["pcrs"]["sha256"]["23"], list[23]);
    // A changed PCR value.
    let mut bad = list.clone();
    bad[3] = "00".repeat(32);
    std::fs::write(&file, evidence(&sig, &bad).to_string()).unwrap();
    let (code, v) = rootline(&["verify", p(&file), "--json"]);
    assert_eq!(code, 1);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("pcr digest check failed"),
        "{v}"
    );
}

#[test]
fn unreadable_evidence_is_a_usage_error() {
    let (code, _) = rootline(&["verify", "--tee", "tpm", "/nonexistent/quote.msg", "--json"]);
    assert_eq!(code, 2);
}

/// The ovmf-swtpm vector's tpm2-tools files with `log` as the event log.
fn verify_ovmf_with_log(d: &Path, log: &Path) -> (i32, Value) {
    let nonce = std::fs::read_to_string(d.join("nonce.hex")).unwrap();
    rootline(&[
        "verify",
        "--tee",
        "tpm",
        p(&d.join("quote.msg")),
        "--signature",
        p(&d.join("quote.sig")),
        "--ak",
        p(&d.join("ak.pub")),
        "--pcrs",
        p(&d.join("quote.pcrs")),
        "--eventlog",
        p(log),
        "--nonce",
        nonce.trim(),
        "--json",
    ])
}

/// Offset in `log` of the UEFI_VARIABLE_DATA of event `e` (its data bytes,
/// found after the event's header).
fn data_offset(log: &[u8], e: &rootline_eventlog::Event) -> usize {
    e.offset
        + log[e.offset..]
            .windows(e.data.len())
            .position(|w| w == e.data.as_slice())
            .unwrap()
}

/// Hardening finding 9: a UEFI variable event whose data contradicts its
/// digest (SecureBoot edited from false to true, plus one byte so that the
/// variable's length fields no longer add up) passed `verify --eventlog`
/// with the forged value as a claim. So did single-bit flips of the length
/// fields of every variable event of the OVMF logs. All must be rejected.
#[test]
fn lying_eventlog_secureboot_edit_with_bad_length_is_rejected() {
    use rootline_eventlog::{EventLog, EventType};
    let Some(base) = rootline_testkit::vector("ovmf-swtpm") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut flips = 0;
    for folder in ["kernel-direct-ekcert-tpm", "uki-esp-ekcert-tpm"] {
        let d = base.join(folder);
        let original = std::fs::read(d.join("binary_bios_measurements")).unwrap();
        let log = EventLog::parse(&original).unwrap();
        let out = tmp.path().join("log.bin");
        // SecureBoot = false -> true, and the data length one larger.
        let sb = log
            .events
            .iter()
            .find(|e| {
                e.event_type == EventType::EV_EFI_VARIABLE_DRIVER_CONFIG
                    && e.describe().contains("SecureBoot")
            })
            .expect("OVMF measures SecureBoot");
        let at = data_offset(&original, sb);
        let mut forged = original.clone();
        let last = at + sb.data.len() - 1;
        assert_eq!(forged[last], 0, "{folder}: SecureBoot was false");
        forged[last] = 1;
        forged[at + 24] ^= 1; // VariableDataLength, low byte
        std::fs::write(&out, &forged).unwrap();
        let (code, v) = verify_ovmf_with_log(&d, &out);
        assert_eq!(code, 1, "{folder}: forged SecureBoot accepted: {v}");
        assert!(
            v["error"]
                .as_str()
                .unwrap()
                .contains("contradicts its digest"),
            "{folder}: {v}"
        );
        assert!(!v.to_string().contains("SecureBoot") || !v.to_string().contains("= true"));
        // One-bit flips of both length fields (name and data, low 3 bytes)
        // of every UEFI variable event.
        for e in log.events.iter().filter(|e| {
            matches!(
                e.event_type,
                EventType::EV_EFI_VARIABLE_DRIVER_CONFIG
                    | EventType::EV_EFI_VARIABLE_BOOT
                    | EventType::EV_EFI_VARIABLE_BOOT2
                    | EventType::EV_EFI_VARIABLE_AUTHORITY
            )
        }) {
            let at = data_offset(&original, e);
            for field in [16usize, 24] {
                for bit in [0u8, 1, 9, 17] {
                    let mut b = original.clone();
                    b[at + field + usize::from(bit / 8)] ^= 1 << (bit % 8);
                    std::fs::write(&out, &b).unwrap();
                    let (code, v) = verify_ovmf_with_log(&d, &out);
                    assert_eq!(
                        code, 1,
                        "{folder}: event #{} length bit {bit} at +{field} accepted: {v}",
                        e.index
                    );
                    flips += 1;
                }
            }
        }
    }
    assert!(flips >= 48, "only {flips} flips tried");
}

/// Hardening finding 10: a 65-byte log holding only a Spec ID header with
/// an sm3_256 bank passed `verify --eventlog` with exit 0 and
/// `matches_quote: false`. A log that was given and cannot be replayed
/// against the quote rejects.
#[test]
fn eventlog_that_cannot_be_replayed_is_rejected() {
    let Some(base) = rootline_testkit::vector("ovmf-swtpm") else {
        return;
    };
    let d = base.join("uki-esp-ekcert-tpm");
    let log = rootline_eventlog::builder::LogBuilder::crypto_agile(&[HashAlg::SM3_256]);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sm3-only.bin");
    std::fs::write(&out, log.bytes()).unwrap();
    let (code, v) = verify_ovmf_with_log(&d, &out);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["verified"], false);
    assert!(
        v["error"].as_str().unwrap().contains("cannot be replayed"),
        "{v}"
    );
}

/// The TPM evidence guest-components' attester sends and Trustee's verifier
/// (and its test fixture) reads: `{"tpm_quote": {"signature", "message",
/// "pcrs"}, "ak_public"}`. Made here with a synthetic AK; extraData is a
/// 48-byte digest cut to 32 bytes, as the attester does.
#[test]
fn guest_components_tpm_evidence_json() {
    let ak = SyntheticAk::rsa_2048().unwrap();
    let sel = PcrSelection {
        banks: vec![PcrBank::new(HashAlg::SHA256, &(0..24).collect::<Vec<u8>>())],
    };
    let mut vals = PcrValues::new();
    let mut list = Vec::new();
    for i in 0..24u8 {
        let d = HashAlg::SHA256.hash(&[i, 1]).unwrap().bytes;
        list.push(hex::encode(&d));
        vals.insert(HashAlg::SHA256, i, d).unwrap();
    }
    let nonce = [9u8; 32];
    let (attest, sig) = ak.quote(&nonce, &sel, &vals).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let spki = ak.ak().unwrap().key.spki_der().unwrap();
    let evidence = |sig: &[u8], pcrs: &[String]| {
        json!({
            "tpm_quote": {"signature": b64.encode(sig), "message": b64.encode(&attest), "pcrs": pcrs},
            "ak_public": b64.encode(&spki),
        })
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gc-tpm.json");
    std::fs::write(&file, evidence(&sig, &list).to_string()).unwrap();
    // Detected without --tee.
    let (code, v) = rootline(&["verify", p(&file), "--nonce", &hex::encode(nonce), "--json"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["tee"], "tpm");
    assert_eq!(
        v["claims"]["evidence_form"],
        "guest-components tpm evidence"
    );
    assert_eq!(v["claims"]["pcrs"]["sha256"]["7"], list[7]);
    // A PCR value changed, or a bit of the signature: rejected.
    let mut bad = list.clone();
    bad[8] = "00".repeat(32);
    std::fs::write(&file, evidence(&sig, &bad).to_string()).unwrap();
    let (code, v) = rootline(&["verify", p(&file), "--json"]);
    assert_eq!(code, 1, "{v}");
    let mut bad_sig = sig.clone();
    let last = bad_sig.len() - 1;
    bad_sig[last] ^= 1;
    std::fs::write(&file, evidence(&bad_sig, &list).to_string()).unwrap();
    let (code, v) = rootline(&["verify", p(&file), "--json"]);
    assert_eq!(code, 1, "{v}");
    assert!(v["error"].as_str().unwrap().contains("signature"), "{v}");
}

/// Hardening finding 11: inputs were read whole before any limit (a 2 GB
/// file peaked at 8.4 GB of RSS, /dev/zero ran out of memory). Now evidence
/// is read up to its kind's maximum and refused beyond it, exit 2.
#[test]
fn oversized_or_endless_evidence_is_refused_before_it_is_read_whole() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.bin");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(2 << 30).unwrap(); // sparse: 2 GiB of zeros without the disk
    for path in [big.to_str().unwrap(), "/dev/zero"] {
        let out = Command::new(env!("CARGO_BIN_EXE_rootline"))
            .args(["verify", "--tee", "tpm", path, "--json"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{path}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("larger than 16 MiB"), "{path}: {err}");
    }
}

/// Hardening finding 12: the AK's attribute fields come from its public
/// area, which nothing signs when the evidence carries it, so editing them
/// raised or suppressed the "not restricted" warning at will. Now an
/// evidence-borne AK always comes with a warning that says what is known,
/// whatever its attributes claim.
#[test]
fn ak_attributes_from_the_evidence_are_never_taken_as_authenticated() {
    use base64::Engine as _;
    let Some(f) = rootline_testkit::vector("tpm-quote/go-attestation/windows_gcp_shielded_vm.json")
    else {
        return;
    };
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut doc: Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
    let mut public = b64.decode(doc["AK"]["Public"].as_str().unwrap()).unwrap();
    assert_eq!(public[5] & 0x01, 0x01, "the vector's AK is restricted");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("edited.json");
    let warnings = |v: &Value| v["warnings"].to_string();
    // As it is: restricted, but only as the evidence claims.
    let (code, v) = rootline(&["verify", p(&f), "--nonce", "", "--json"]);
    assert_eq!(code, 0, "{v}");
    assert!(warnings(&v).contains("nothing authenticates them"), "{v}");
    assert_eq!(
        v["claims"]["ak_attributes"],
        "restricted as claimed by the evidence, not authenticated"
    );
    // The restricted bit cleared by an editor: the quote still verifies
    // (the public area is not signed) and the warning says not restricted.
    public[5] &= !0x01;
    doc["AK"]["Public"] = b64.encode(&public).into();
    std::fs::write(&file, doc.to_string()).unwrap();
    let (code, v) = rootline(&["verify", p(&file), "--nonce", "", "--json"]);
    assert_eq!(code, 0, "{v}");
    assert!(warnings(&v).contains("not a restricted signing key"), "{v}");
}

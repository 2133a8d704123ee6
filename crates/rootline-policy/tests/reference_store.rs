//! The file store: versions instead of overwrites, deletes that keep history,
//! imports from every shape rootline prints, and writes that never lose what
//! was stored.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use rootline_policy::reference::{self, FileStore, NewValue, ReferenceStore};
use serde_json::json;
use time::OffsetDateTime;

#[test]
fn adding_an_accepted_value_again_makes_a_new_version_and_keeps_the_old() {
    let dir = tempfile::tempdir().unwrap();
    let s = FileStore::in_dir(dir.path());
    let a = s
        .add(NewValue::new("snp.measurement", json!("0xAB12"), "build 1"))
        .unwrap();
    assert_eq!((a.version, a.value.clone()), (1, json!("ab12")));
    let b = s
        .add(NewValue::new("snp.measurement", json!("ab12"), "build 2"))
        .unwrap();
    assert_eq!(b.version, 2);
    s.add(NewValue::new("snp.measurement", json!("cd34"), "build 3"))
        .unwrap();
    let all = s.list().unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[0].provenance, "build 1");
    assert!(all[0].retired.is_some());
    let now = OffsetDateTime::now_utc();
    assert_eq!(
        s.active(now).unwrap().0["snp.measurement"],
        vec![json!("ab12"), json!("cd34")]
    );
    // A second store on the same file sees the same history.
    assert_eq!(FileStore::in_dir(dir.path()).list().unwrap(), all);
}

#[test]
fn delete_retires_and_keeps_history_and_expired_values_are_not_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let s = FileStore::in_dir(dir.path());
    s.add(NewValue::new("tdx.mr_td", json!("aa"), "x")).unwrap();
    s.add(NewValue::new("tdx.mr_td", json!("bb"), "x")).unwrap();
    assert_eq!(s.delete("tdx.mr_td", Some(&json!("AA"))).unwrap(), 1);
    let err = s.delete("tdx.mr_td", Some(&json!("aa"))).unwrap_err();
    assert!(err.to_string().contains("no current value"), "{err}");
    let now = OffsetDateTime::now_utc();
    assert_eq!(s.active(now).unwrap().0["tdx.mr_td"], vec![json!("bb")]);
    assert_eq!(s.list().unwrap().len(), 2);
    let mut v = NewValue::new("tdx.rtmr0", json!("cc"), "x");
    v.expires = Some(now - time::Duration::seconds(1));
    s.add(v).unwrap();
    assert!(!s.active(now).unwrap().0.contains_key("tdx.rtmr0"));
}

#[test]
fn bad_keys_values_and_provenance_are_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let s = FileStore::in_dir(dir.path());
    for (k, v, p) in [
        ("measurement", json!("aa"), "x"),
        ("snp..measurement", json!("aa"), "x"),
        ("SNP.measurement", json!("aa"), "x"),
        ("snp.measurement", json!({"a": 1}), "x"),
        ("snp.measurement", json!(1.5), "x"),
        ("snp.measurement", json!("aa"), " "),
    ] {
        assert!(s.add(NewValue::new(k, v, p)).is_err(), "{k}");
    }
    // All or none: one bad value in a batch writes nothing.
    let err = s
        .add_all(vec![
            NewValue::new("snp.measurement", json!("aa"), "x"),
            NewValue::new("snp.", json!("aa"), "x"),
        ])
        .unwrap_err();
    assert!(err.to_string().contains("snp."), "{err}");
    assert!(s.list().unwrap().is_empty());
    assert!(!s.path().exists());
}

#[test]
fn a_failed_write_leaves_the_stored_file_intact() {
    let dir = tempfile::tempdir().unwrap();
    let s = FileStore::in_dir(dir.path());
    s.add(NewValue::new("snp.measurement", json!("aa"), "x"))
        .unwrap();
    let before = std::fs::read(s.path()).unwrap();
    // Block the temporary file the next write uses.
    let tmp = dir
        .path()
        .join(format!(".reference-values.json.{}.tmp", std::process::id()));
    std::fs::create_dir(&tmp).unwrap();
    let err = s
        .add(NewValue::new("snp.measurement", json!("bb"), "x"))
        .unwrap_err();
    assert!(err.to_string().contains("write"), "{err}");
    assert_eq!(std::fs::read(s.path()).unwrap(), before);
    std::fs::remove_dir(&tmp).unwrap();
    assert_eq!(s.list().unwrap().len(), 1);
}

#[test]
fn corrupt_or_unknown_version_file_is_an_error_not_an_empty_store() {
    let dir = tempfile::tempdir().unwrap();
    let s = FileStore::in_dir(dir.path());
    std::fs::write(s.path(), b"{\"version\": 2, \"values\": []}").unwrap();
    assert!(s.list().unwrap_err().to_string().contains("version 2"));
    std::fs::write(s.path(), b"{not json").unwrap();
    assert!(
        s.add(NewValue::new("snp.measurement", json!("aa"), "x"))
            .is_err()
    );
    assert_eq!(std::fs::read(s.path()).unwrap(), b"{not json");
}

#[test]
fn imports_replay_output_record_lists_and_key_maps() {
    let replay = json!({"events": 35, "pcrs": {"sha256": {"0": "AA", "7": "bb"}}});
    let v = reference::from_json(&replay, "replay").unwrap();
    let keys: Vec<_> = v.iter().map(|n| n.key.as_str()).collect();
    assert_eq!(keys, ["tpm.pcr.sha256.0", "tpm.pcr.sha256.7"]);

    let list = json!([{"key": "sgx.mr_enclave", "value": "cc", "provenance": "p",
                        "expires": "2030-01-01T00:00:00Z"}]);
    let v = reference::from_json(&list, "file").unwrap();
    assert_eq!(v[0].provenance, "p");
    assert!(v[0].expires.is_some());

    let measure = json!({"events": [], "pcrs": {"sha256": {"4": "ee"}},
                         "reference_values": {"tpm.pcr.sha256.4": "ee", "tpm.pcr.sha256.11": "ff"}});
    let v = reference::from_json(&measure, "measure").unwrap();
    assert_eq!(v.len(), 2);
    assert_eq!(v[1].key, "tpm.pcr.sha256.11");

    let map = json!({"tdx.mr_td": ["aa", "bb"], "sgx.isv_svn": 3});
    assert_eq!(reference::from_json(&map, "file").unwrap().len(), 3);

    let unverified =
        json!({"tee": "snp", "verified": false, "error": "bad", "claims": {"measurement": "aa"}});
    let err = reference::from_json(&unverified, "file").unwrap_err();
    assert!(
        err.to_string().contains("only taken from verified claims"),
        "{err}"
    );
    let verified = json!({"tee": "snp", "verified": true, "claims": {"measurement": "aa", "report_data": "00"}});
    let v = reference::from_json(&verified, "file").unwrap();
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].key, "snp.measurement");
}

#[test]
fn a_verified_confidential_space_outcome_gives_its_image_as_reference_values() {
    let verified = json!({"tee": "tpm", "verified": true, "claims": {
        "pcrs": {"sha256": {"13": "ab".repeat(32)}},
        "cel": {"field": "canonicalEventLog", "records": 4, "cos": {
            "image_reference": "us-docker.pkg.dev/p/r/app:1",
            "image_digest": "sha256:0123",
            "restart_policy": "Never",
            "args": ["/app"],
            "env": {"MODE": "prod"},
            "launch_separator": true,
        }, "events": []},
    }});
    let v = reference::from_json(&verified, "outcome").unwrap();
    let mut keys: Vec<_> = v.iter().map(|n| n.key.as_str()).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "tpm.cel.cos.image_digest",
            "tpm.cel.cos.image_reference",
            "tpm.cel.cos.restart_policy",
            "tpm.pcr.sha256.13",
        ]
    );
    for n in &v {
        let text = n.value.as_str().unwrap().to_owned();
        rootline_policy::vocabulary::check(&n.key, &[text]).unwrap();
    }
}

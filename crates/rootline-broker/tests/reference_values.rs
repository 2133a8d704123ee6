//! Reference values through the admin API: one vocabulary with
//! `rootline-policy` (the verifier issue's one-pipeline item), so that a
//! typo in the TEE, the claim or the value is refused with what was meant
//! (it would otherwise be stored and never match, and every guest denied
//! with no sign of why); and versions instead of silent overwrites.

mod common;

use common::{Client, admin, fixture};
use serde_json::json;

async fn put(
    c: &Client,
    k: &[u8],
    name: &str,
    query: &str,
    body: serde_json::Value,
) -> common::Resp {
    admin(
        c,
        k,
        "PUT",
        &format!("/admin/v0/reference-values/{name}{query}"),
        body.to_string().into_bytes(),
    )
    .await
}

#[tokio::test]
async fn reference_value_typos_are_refused_naming_the_field() {
    let f = fixture().await;
    let c = Client::in_process(&f.broker);
    let k = &f.shared.admin_pkcs8;
    let m = "ab".repeat(48);
    let cases = [
        (
            json!({"tee": "snpp", "claim": "measurement", "values": [m]}),
            "tee \"snpp\" is not a TEE",
        ),
        (
            json!({"tee": "snp", "claim": "mesurement", "values": [m]}),
            "did you mean measurement",
        ),
        (
            json!({"tee": "snp", "claim": "measurement", "values": ["zz"]}),
            "48 bytes of hex",
        ),
        (
            json!({"tee": "tpm", "claim": "pcr.sha256.24", "values": ["00".repeat(32)]}),
            "not a claim of tpm",
        ),
        (
            json!({"tee": "tdx", "claim": "mr_td", "values": ["00".repeat(32)]}),
            "48 bytes of hex",
        ),
        (
            json!({"tee": "rootline-sim", "claim": "measurment", "values": [m]}),
            "not a claim of rootline-sim",
        ),
    ];
    for (body, why) in cases {
        let r = put(&c, k, "rv", "", body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text());
        let detail = r.json()["detail"].as_str().unwrap().to_owned();
        assert!(detail.contains(why), "{body}: {detail}");
    }
    // Nothing of them was stored.
    let list = admin(&c, k, "GET", "/admin/v0/reference-values", Vec::new()).await;
    assert_eq!(list.json(), json!([]));
    // The good forms pass.
    for body in [
        json!({"tee": "snp", "claim": "measurement", "values": [m]}),
        json!({"tee": "snp", "claim": "reported_tcb.microcode", "values": ["219"]}),
        json!({"tee": "tpm", "claim": "pcr.sha256.4", "values": ["00".repeat(32)]}),
        json!({"tee": "tdx", "claim": "rtmr2", "values": ["00".repeat(48)]}),
        json!({"tee": "rootline-sim", "claim": "measurement", "values": [m]}),
    ] {
        let name = format!(
            "ok-{}-{}",
            body["tee"].as_str().unwrap(),
            body["claim"].as_str().unwrap().replace('.', "-")
        );
        let r = put(&c, k, &name, "", body.clone()).await;
        assert_eq!(r.status, 200, "{body}: {}", r.text());
    }
}

#[tokio::test]
async fn a_reference_value_is_not_overwritten_silently() {
    let f = fixture().await;
    let c = Client::in_process(&f.broker);
    let k = &f.shared.admin_pkcs8;
    let a = json!({"tee": "snp", "claim": "measurement", "values": ["aa".repeat(48)]});
    let b = json!({"tee": "snp", "claim": "measurement", "values": ["bb".repeat(48)]});
    let r = put(&c, k, "fw", "", a.clone()).await;
    assert_eq!(
        (r.status, r.json()["version"].clone()),
        (200, json!(1)),
        "{}",
        r.text()
    );
    // The same content again: nothing changes.
    let r = put(&c, k, "fw", "", a.clone()).await;
    assert_eq!((r.status, r.json()["version"].clone()), (200, json!(1)));
    // Different content without replace: refused, naming the entry.
    let r = put(&c, k, "fw", "", b.clone()).await;
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(r.text().contains("replace=true"), "{}", r.text());
    assert_eq!(
        r.json()["type"],
        "https://rootline.invalid/problems/conflict"
    );
    let list = admin(&c, k, "GET", "/admin/v0/reference-values", Vec::new()).await;
    assert_eq!(list.json()[0]["values"], a["values"]);
    // With replace: version 2.
    let r = put(&c, k, "fw", "?replace=true", b.clone()).await;
    assert_eq!(
        (r.status, r.json()["version"].clone()),
        (200, json!(2)),
        "{}",
        r.text()
    );
    let list = admin(&c, k, "GET", "/admin/v0/reference-values", Vec::new()).await;
    assert_eq!(list.json()[0]["values"], b["values"]);
    assert_eq!(list.json()[0]["version"], 2);
}

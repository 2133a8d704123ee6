//! A token from `rootline appraise` is a passport at a broker that trusts
//! its key (the verifier issue's one-pipeline item): the evidence binds the
//! KBS runtime data given with `--runtime-data`, the token carries it, and a
//! broker configured with the appraiser's public key as a passport signer
//! releases the resource to that token, encrypted to the runtime data's
//! `tee-pubkey`; a broker that trusts another key refuses it.
//!
//! The evidence is an SEV-SNP report from a synthetic AMD-shaped PKI
//! (`rootline_testkit::snp`), trusted through `--snp-trust-anchor`.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use aws_lc_rs::agreement::{self, ECDH_P256};
use rootline_broker::kek::Kek;
use rootline_broker::store::SqlStore;
use rootline_broker::store::prelude::*;
use rootline_broker::{Broker, BrokerOptions};
use rootline_kbs::{Binding, BindingHash};
use rootline_testkit::snp::{Pki, VcekSpec};
use serde_json::{Value, json};

mod common;
use common::{p, run as rootline};

/// A broker on 127.0.0.1 trusting `signer` (a P-256 point) as a passport
/// signer, holding `secret` at default/key/passport under the default
/// resource policy.
fn broker(rt: &tokio::runtime::Runtime, dir: &Path, signer: Vec<u8>, secret: &[u8]) -> String {
    let db = format!("sqlite://{}?mode=rwc", dir.join("b.db").display());
    rt.block_on(async {
        let store = Arc::new(SqlStore::connect(&db).await.unwrap());
        let (kek, raw) = Kek::generate().unwrap();
        let path = "default/key/passport";
        let sealed = Kek::from_bytes(&raw).unwrap().seal(path, secret).unwrap();
        store.put_resource(path, &sealed, None, 0).await.unwrap();
        let broker = Broker::new(BrokerOptions {
            passport_signers: vec![signer],
            secure_cookies: false,
            ..BrokerOptions::new(store, kek)
        })
        .await
        .unwrap();
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let app = rootline_broker::app(broker);
        tokio::spawn(async move {
            axum::serve(l, app.into_make_service_with_connect_info::<SocketAddr>())
                .await
                .unwrap();
        });
        format!("{addr}")
    })
}

/// `GET /kbs/v0/resource/default/key/passport` with `Authorization: Bearer`.
fn get_with_bearer(addr: &str, token: &str) -> (u16, Vec<u8>) {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET /kbs/v0/resource/default/key/passport HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut body = raw[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        // One chunk is all the broker sends for these small answers.
        let text = String::from_utf8_lossy(&body).into_owned();
        let (len, rest) = text.split_once("\r\n").unwrap();
        let len = usize::from_str_radix(len.trim(), 16).unwrap();
        body = rest.as_bytes()[..len].to_vec();
    }
    (status, body)
}

#[test]
fn an_appraise_token_is_a_passport_at_a_broker_that_trusts_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The synthetic platform, and the files appraise is given.
    let pki = Pki::new("Milan");
    let spec = VcekSpec::milan();
    let (vcek, vcek_key) = pki.vcek(&spec);
    std::fs::write(d.join("ark.der"), &pki.ark_der).unwrap();
    std::fs::write(d.join("vcek.der"), &vcek).unwrap();
    std::fs::write(d.join("chain.pem"), pki.cert_chain_pem()).unwrap();
    // The guest's key and the runtime data its report binds.
    let tee_key = agreement::PrivateKey::generate(&ECDH_P256).unwrap();
    let jwk = rootline_broker::jwe::ec_jwk("P-256", tee_key.compute_public_key().unwrap().as_ref())
        .unwrap();
    let runtime = json!({"nonce": "bm9uY2UtZm9yLWEtcGFzc3BvcnQ", "tee-pubkey": jwk});
    std::fs::write(d.join("runtime.json"), runtime.to_string()).unwrap();
    let bound = Binding::current(&runtime, "", BindingHash::Sha384).unwrap();
    let mut rd = [0u8; 64];
    rd[..bound.digest.len()].copy_from_slice(&bound.digest);
    std::fs::write(
        d.join("report.bin"),
        rootline_testkit::snp::report(&spec, &vcek_key, rd),
    )
    .unwrap();
    // The appraiser's signing key (P-256, ES256).
    let signing = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    std::fs::write(d.join("signing.pem"), signing.serialize_pem()).unwrap();

    let f = |name: &str| d.join(name).display().to_string();
    let (report, ark, vcek_f, chain, key) = (
        f("report.bin"),
        f("ark.der"),
        f("vcek.der"),
        f("chain.pem"),
        f("signing.pem"),
    );
    let appraise = |extra: &[&str]| {
        let mut args = vec![
            "appraise",
            &report,
            "--snp-trust-anchor",
            &ark,
            "--collateral",
            &vcek_f,
            "--collateral",
            &chain,
            "--signing-key",
            &key,
            "--data-dir",
            p(d),
            "--json",
        ];
        args.extend_from_slice(extra);
        rootline(&args)
    };
    // Its own claims as reference values (as `reference import` takes a
    // verification), then the appraisal that binds the runtime data.
    let (_, out, err) = appraise(&[]);
    let first: Value = serde_json::from_str(&out).unwrap_or_else(|_| panic!("{out}{err}"));
    assert_eq!(first["verification"]["verified"], true, "{first:#}");
    std::fs::write(d.join("refs.json"), first["verification"].to_string()).unwrap();
    let (refs, rt_file, other_file) = (f("refs.json"), f("runtime.json"), f("other.json"));
    let (code, out, err) = appraise(&["--reference-values", &refs, "--runtime-data", &rt_file]);
    assert_eq!(code, 0, "{out}{err}");
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["status"], "affirming", "{j:#}");
    let token = j["token"].as_str().unwrap().to_owned();

    // A broker that trusts the appraiser's key releases, to the tee-pubkey.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let trusting = tempfile::tempdir().unwrap();
    let addr = broker(
        &rt,
        trusting.path(),
        signing.public_key_raw().to_vec(),
        b"released to a passport",
    );
    let (status, body) = get_with_bearer(&addr, &token);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let resp: kbs_types::Response = serde_json::from_slice(&body).unwrap();
    let secret = rootline_broker::jwe::decrypt_ec(&tee_key, &resp).unwrap();
    assert_eq!(secret, b"released to a passport");

    // A broker that trusts another key refuses the same token.
    let other = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let addr = broker(
        &rt,
        elsewhere.path(),
        other.public_key_raw().to_vec(),
        b"never",
    );
    let (status, body) = get_with_bearer(&addr, &token);
    let text = String::from_utf8_lossy(&body);
    assert_eq!(status, 401, "{text}");
    assert!(text.contains("does not trust"), "{text}");

    // Runtime data the report does not bind: no token for that key.
    let mut other_rd = runtime.clone();
    other_rd["nonce"] = "c29tZS1vdGhlci1ub25jZQ".into();
    std::fs::write(d.join("other.json"), other_rd.to_string()).unwrap();
    let (code, _, err) = appraise(&["--reference-values", &refs, "--runtime-data", &other_file]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("does not bind the runtime data"), "{err}");
}

//! A CPU and a GPU attested together, end to end in process: a simulated-TEE
//! guest sends its CPU evidence with synthetic NVIDIA GPU evidence
//! (`rootline_testkit::nvidia`) in `additional-evidence`, bound as
//! guest-components binds them: the GPU signs the first 32 bytes of
//! SHA-384(canonical {nonce, tee-pubkey}), the CPU's report data is
//! SHA-384(canonical {nonce, tee-pubkey, additional-evidence}). The broker
//! trusts the synthetic GPU roots through `nvidia_trust_anchors` (set in
//! TOML, as an operator writes it), knows the GPU's FWID as the reference
//! value `nvidia`/`fwid` (through the admin API), and guards the secret with
//! a policy that needs both `cpu0` and `gpu0` affirming: each way the GPU can
//! fall short is seen in the token and in the refusal.

mod common;

use std::sync::Arc;

use aws_lc_rs::agreement::{self, ECDH_P256};
use common::{Client, Fixture, Resp, Shared, admin, auth_as, fixture_with, jwk_of};
use rootline_broker::sim;
use rootline_testkit::nvidia::{FWID, Leaf, Pki};
use serde_json::{Value, json};

const SECRET: &[u8] = b"model weights key";
const PATH: &str = "default/key/gpu-model";
/// The CPU's measurement, stored as the simulated TEE's reference value.
const MEASUREMENT: [u8; 48] = [0x11; 48];
/// Releases only when the CPU and the first GPU are both affirming.
const CPU_AND_GPU: &str = r#"package policy
import rego.v1

default allow := false

allow if {
	input.submods.cpu0["ear.status"] == "affirming"
	input.submods.gpu0["ear.status"] == "affirming"
}
"#;

fn sha384(b: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA384, b)
        .as_ref()
        .to_vec()
}

/// A broker trusting the roots of `trusted` (one `nvidia_trust_anchors`
/// file each), with the CPU's measurement, `fwid` (when given) as the
/// reference value `nvidia`/`fwid`, and the secret at `PATH` under
/// `CPU_AND_GPU`.
async fn broker(trusted: &[&Pki], fwid: Option<&[u8; 48]>) -> (Fixture, Client) {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (i, pki) in trusted.iter().enumerate() {
        let p = dir.path().join(format!("nvidia-root-{i}.pem"));
        std::fs::write(&p, pki.root_pem()).unwrap();
        files.push(format!("{p:?}"));
    }
    let toml = format!(
        "data_dir = {:?}\ncollateral_offline = true\nnvidia_trust_anchors = [{}]\n",
        dir.path(),
        files.join(", ")
    );
    let cfg = rootline_broker::Config::from_toml(&toml).unwrap();
    let (verifier, _) = rootline_broker::collateral::verifier_from_config(&cfg, None).unwrap();
    let f = fixture_with(Arc::new(Shared::new()), None, |o| {
        o.verifier.verifier = verifier;
    })
    .await;
    let c = Client::in_process(&f.broker);
    let put = |path: String, body: Vec<u8>| {
        let c = c.clone();
        let k = f.shared.admin_pkcs8.clone();
        async move {
            let r = admin(&c, &k, "PUT", &path, body).await;
            assert_eq!(r.status, 200, "PUT {path}: {}", r.text());
        }
    };
    let cpu =
        json!({"tee": sim::TEE_NAME, "claim": "measurement", "values": [hex::encode(MEASUREMENT)]});
    put(
        "/admin/v0/reference-values/sim-measurement".into(),
        cpu.to_string().into_bytes(),
    )
    .await;
    if let Some(fwid) = fwid {
        let gpu = json!({"tee": "nvidia", "claim": "fwid", "values": [hex::encode(fwid)]});
        put(
            "/admin/v0/reference-values/gpu-fwid".into(),
            gpu.to_string().into_bytes(),
        )
        .await;
    }
    put("/admin/v0/policies/cpu_and_gpu".into(), CPU_AND_GPU.into()).await;
    put(
        format!("/admin/v0/resources/{PATH}?policy=cpu_and_gpu"),
        SECRET.to_vec(),
    )
    .await;
    (f, c)
}

/// One guest session: its cookie, nonce and key.
struct Session {
    cookie: String,
    nonce: String,
    tee_key: agreement::PrivateKey,
}

impl Session {
    async fn new(c: &Client) -> Self {
        let (cookie, nonce) = auth_as(c, sim::TEE_NAME, json!({})).await;
        Self {
            cookie,
            nonce,
            tee_key: agreement::PrivateKey::generate(&ECDH_P256).unwrap(),
        }
    }

    /// The KBS runtime data, as sent.
    fn runtime(&self) -> Value {
        json!({"nonce": self.nonce, "tee-pubkey": jwk_of(&self.tee_key)})
    }

    /// What the GPU is asked to sign: the first 32 bytes of the SHA-384 of
    /// the canonical runtime data (guest-components'
    /// `device_runtime_data_hash`, cut to an SPDM nonce).
    fn gpu_nonce(&self) -> [u8; 32] {
        let h = sha384(&serde_json_canonicalizer::to_vec(&self.runtime()).unwrap());
        h[..32].try_into().unwrap()
    }

    /// The `/attest` body: CPU evidence whose report data binds
    /// `signed` (the additional-evidence text the CPU saw), sending `sent`.
    fn body(&self, shared: &Shared, signed: &str, sent: &str) -> Value {
        let mut bound = self.runtime();
        bound["additional-evidence"] = signed.into();
        let rd = sha384(&serde_json_canonicalizer::to_vec(&bound).unwrap());
        let cpu = shared.sim().evidence(&MEASUREMENT, &[], &rd).unwrap();
        json!({
            "runtime-data": self.runtime(),
            "tee-evidence": {"primary_evidence": cpu, "additional_evidence": sent},
        })
    }

    async fn attest(&self, c: &Client, body: &Value) -> Resp {
        c.call(
            "POST",
            "/kbs/v0/attest",
            &[
                ("content-type", "application/json"),
                ("cookie", &self.cookie),
            ],
            body.to_string().into_bytes(),
        )
        .await
    }

    async fn resource(&self, c: &Client) -> Resp {
        c.call(
            "GET",
            &format!("/kbs/v0/resource/{PATH}"),
            &[("cookie", &self.cookie)],
            Vec::new(),
        )
        .await
    }

    fn decrypt(&self, r: &Resp) -> Vec<u8> {
        assert_eq!(r.status, 200, "{}", r.text());
        let resp: kbs_types::Response = serde_json::from_slice(&r.body).unwrap();
        rootline_broker::jwe::decrypt_ec(&self.tee_key, &resp).unwrap()
    }
}

/// The `additional-evidence` text guest-components sends for one GPU.
fn additional(gpu: Value) -> String {
    json!({ "nvidia": gpu }).to_string()
}

/// The claims of `/attest`'s token, checked with the broker's key.
fn ear(f: &Fixture, attest: &Resp) -> Value {
    assert_eq!(attest.status, 200, "{}", attest.text());
    let token = attest.json()["token"].as_str().unwrap().to_owned();
    rootline_broker::token::TokenVerifier::new([f.broker.signer().public_point()])
        .verify(&token, f.broker.clock().now())
        .unwrap()
}

fn status<'a>(ear: &'a Value, submod: &str) -> &'a Value {
    &ear["submods"][submod]["ear.status"]
}

/// The resource is refused by the policy; returns the refusal's text.
fn denied(r: &Resp) -> String {
    assert_eq!(r.status, 401, "{}", r.text());
    let p = r.json();
    assert!(
        p["type"].as_str().unwrap().ends_with("/policy-denied"),
        "{p}"
    );
    p["detail"].as_str().unwrap().to_owned()
}

async fn released(f: &Fixture) -> usize {
    let rows = f.broker.store().list_audit(100).await.unwrap();
    rows.iter().filter(|r| r.result == "released").count()
}

#[tokio::test]
async fn a_bound_cpu_and_a_known_gpu_get_the_secret() {
    let gpu = Pki::new(Leaf::default());
    let (f, c) = broker(&[&gpu], Some(&FWID)).await;
    let s = Session::new(&c).await;
    let text = additional(gpu.evidence(s.gpu_nonce(), &FWID));
    let ear = ear(&f, &s.attest(&c, &s.body(&f.shared, &text, &text)).await);
    assert_eq!(status(&ear, "cpu0"), "affirming", "{ear:#}");
    assert_eq!(status(&ear, "gpu0"), "affirming", "{ear:#}");
    let gpu0 = &ear["submods"]["gpu0"]["ear.veraison.annotated-evidence"];
    assert_eq!(gpu0["tee"], "nvidia", "{ear:#}");
    assert_eq!(gpu0["fwid"], hex::encode(FWID), "{ear:#}");
    assert!(ear["submods"].get("gpu1").is_none(), "{ear:#}");
    assert_eq!(s.decrypt(&s.resource(&c).await), SECRET);
    assert_eq!(released(&f).await, 1);
}

#[tokio::test]
async fn gpu_evidence_made_for_another_session_is_contraindicated_and_denied() {
    let gpu = Pki::new(Leaf::default());
    let (f, c) = broker(&[&gpu], Some(&FWID)).await;
    // The GPU signed another session's nonce; the CPU binds this session's
    // runtime data with that evidence, so only the GPU's nonce is wrong.
    let other = Session::new(&c).await;
    let s = Session::new(&c).await;
    let text = additional(gpu.evidence(other.gpu_nonce(), &FWID));
    let ear = ear(&f, &s.attest(&c, &s.body(&f.shared, &text, &text)).await);
    assert_eq!(status(&ear, "cpu0"), "affirming", "{ear:#}");
    assert_eq!(status(&ear, "gpu0"), "contraindicated", "{ear:#}");
    let why = ear["submods"]["gpu0"]["rootline.reasons"].to_string();
    assert!(why.contains("nonce"), "{why}");
    let detail = denied(&s.resource(&c).await);
    assert!(
        detail.contains("gpu0 ear.status contraindicated") && detail.contains("nonce"),
        "{detail}"
    );
    assert_eq!(released(&f).await, 0);
}

#[tokio::test]
async fn gpu_evidence_swapped_after_the_cpu_signed_is_refused_at_attest() {
    // Two GPUs the broker trusts, with the same firmware: either one's
    // evidence, for this session, would pass on its own.
    let first = Pki::new(Leaf::default());
    let second = Pki::new(Leaf::default());
    let (f, c) = broker(&[&first, &second], Some(&FWID)).await;
    let s = Session::new(&c).await;
    let signed = additional(second.evidence(s.gpu_nonce(), &FWID));
    let swapped = additional(first.evidence(s.gpu_nonce(), &FWID));
    let r = s.attest(&c, &s.body(&f.shared, &signed, &swapped)).await;
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(
        r.text()
            .contains("does not bind this session's runtime data"),
        "{}",
        r.text()
    );
    let r = s.resource(&c).await;
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(released(&f).await, 0);
    // The swapped-in evidence, bound by the CPU, is accepted on the same
    // session: what refused it was the CPU's binding alone (and the first
    // of the configured roots is trusted too, not only the last).
    let ear = ear(
        &f,
        &s.attest(&c, &s.body(&f.shared, &swapped, &swapped)).await,
    );
    assert_eq!(status(&ear, "gpu0"), "affirming", "{ear:#}");
    assert_eq!(s.decrypt(&s.resource(&c).await), SECRET);
}

#[tokio::test]
async fn a_gpu_without_stored_reference_values_is_a_warning_and_denied() {
    let gpu = Pki::new(Leaf::default());
    let (f, c) = broker(&[&gpu], None).await;
    let s = Session::new(&c).await;
    let text = additional(gpu.evidence(s.gpu_nonce(), &FWID));
    let ear = ear(&f, &s.attest(&c, &s.body(&f.shared, &text, &text)).await);
    assert_eq!(status(&ear, "cpu0"), "affirming", "{ear:#}");
    assert_eq!(status(&ear, "gpu0"), "warning", "{ear:#}");
    // Verified, so its FWID is in the token; only nothing recognises it.
    assert_eq!(
        ear["submods"]["gpu0"]["ear.veraison.annotated-evidence"]["fwid"],
        hex::encode(FWID)
    );
    let detail = denied(&s.resource(&c).await);
    assert!(
        detail.contains("gpu0 ear.status warning") && detail.contains("no reference values"),
        "{detail}"
    );
    assert_eq!(released(&f).await, 0);
}

#[tokio::test]
async fn a_gpu_under_a_root_the_broker_does_not_trust_is_contraindicated() {
    let trusted = Pki::new(Leaf::default());
    let (f, c) = broker(&[&trusted], Some(&FWID)).await;
    // Same device name and firmware, its own root.
    let stranger = Pki::new(Leaf::default());
    let s = Session::new(&c).await;
    let text = additional(stranger.evidence(s.gpu_nonce(), &FWID));
    let ear = ear(&f, &s.attest(&c, &s.body(&f.shared, &text, &text)).await);
    assert_eq!(status(&ear, "cpu0"), "affirming", "{ear:#}");
    assert_eq!(status(&ear, "gpu0"), "contraindicated", "{ear:#}");
    let why = ear["submods"]["gpu0"]["rootline.reasons"].to_string();
    assert!(why.contains("not a trusted root"), "{why}");
    let detail = denied(&s.resource(&c).await);
    assert!(
        detail.contains("gpu0 ear.status contraindicated"),
        "{detail}"
    );
    assert_eq!(released(&f).await, 0);
}

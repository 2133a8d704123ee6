//! Property: no code path releases a resource without a verifier-made
//! verification and an `Allow` decision (hardening issue, item 4).
//!
//! The types already say it: the one function that opens a sealed secret
//! for a guest (`service::release`) takes an `Attested` (made only by the token
//! module, from claims the broker verified and signed or a token a trusted
//! key signed) and a `policy::Allow` for that path (made only by the policy
//! cache). This test checks the behaviour that the types promise, over
//! randomly drawn combinations of evidence (good, appraised badly, bound to
//! another key, signed by an untrusted key, none), credentials (the session
//! cookie, the session's own token, an edited token, a token from another
//! signer, none) and resources (allowed by the default policy, denied by
//! their policy, naming a deleted policy, absent): a resource is released
//! exactly when the evidence verified and appraised affirming, the
//! credential is the session's own, and the resource's policy allows it;
//! every release has its audit row, and nothing else does.
//!
//! Drawn from a fixed seed (a failure reproduces), 240 cases per run.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{Client, Guest, Shared, admin, fixture_with, jwk_of, provision};
use serde_json::Value;

const GOOD: [u8; 48] = [0x42; 48];
const OTHER: [u8; 48] = [0x24; 48];

/// xorshift64*: a fixed sequence, so that a failing case can be replayed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn pick(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Evidence {
    Good,
    NotAffirming,
    BoundToAnotherKey,
    UntrustedSigner,
    None,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Credential {
    Cookie,
    OwnToken,
    EditedToken,
    OtherSignersToken,
    Nothing,
}

const PATHS: [&str; 4] = [
    "prop/allowed/a",
    "prop/denied/b",
    "prop/deleted-policy/c",
    "prop/absent/d",
];

/// A token with the same claims, signed by a key no broker trusts.
fn resign(token: &str) -> String {
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    let (other, _) = rootline_broker::token::TokenSigner::generate().unwrap();
    other.sign(&claims).unwrap()
}

/// The same token with one claim changed (its signature no longer covers it).
fn edit(token: &str) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["submods"]["cpu0"]["ear.status"] = "affirming".into();
    claims["edited"] = true.into();
    format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap()),
        parts[2]
    )
}

#[tokio::test]
async fn no_release_without_a_verified_attestation_and_an_allow_decision() {
    let shared = std::sync::Arc::new(Shared::new());
    let f = fixture_with(shared.clone(), None, |_| {}).await;
    let c = Client::in_process(&f.broker);
    let k = &shared.admin_pkcs8;
    // The reference value accepts GOOD; the first resource follows the
    // default policy (affirming only).
    provision(&c, &shared, &GOOD, PATHS[0], b"secret-a").await;
    let never = "package policy\nimport rego.v1\ndefault allow := false\n";
    for (name, text) in [("never", never), ("doomed", never)] {
        let r = admin(
            &c,
            k,
            "PUT",
            &format!("/admin/v0/policies/{name}"),
            text.into(),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    for (path, policy) in [(PATHS[1], "never"), (PATHS[2], "doomed")] {
        let r = admin(
            &c,
            k,
            "PUT",
            &format!("/admin/v0/resources/{path}?policy={policy}"),
            b"must not leave".to_vec(),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let r = admin(&c, k, "DELETE", "/admin/v0/policies/doomed", Vec::new()).await;
    assert!(r.status < 300, "{}", r.text());

    let mut rng = Rng(0x005e_ed0f_2026_1207);
    let mut released = 0usize;
    let mut tally = std::collections::BTreeMap::<String, usize>::new();
    for case in 0..240 {
        // Each draw is the releasable value half the time, so that about
        // one case in eight should release and the rest probe every way
        // of not deserving it.
        let ev = match rng.pick(2) {
            0 => Evidence::Good,
            _ => [
                Evidence::NotAffirming,
                Evidence::BoundToAnotherKey,
                Evidence::UntrustedSigner,
                Evidence::None,
            ][rng.pick(4)],
        };
        let cred = match rng.pick(2) {
            0 => [Credential::Cookie, Credential::OwnToken][rng.pick(2)],
            _ => [
                Credential::EditedToken,
                Credential::OtherSignersToken,
                Credential::Nothing,
            ][rng.pick(3)],
        };
        let path = match rng.pick(2) {
            0 => PATHS[0],
            _ => PATHS[1 + rng.pick(PATHS.len() - 1)],
        };

        let mut g = Guest::new(
            &shared,
            if ev == Evidence::NotAffirming {
                OTHER
            } else {
                GOOD
            },
        );
        if ev == Evidence::UntrustedSigner {
            g.sim = rootline_broker::sim::SimKey::generate().unwrap().0;
        }
        let r = g.auth(&c).await;
        assert_eq!(r.status, 200, "case {case}: auth: {}", r.text());
        let attested = match ev {
            Evidence::None => false,
            Evidence::BoundToAnotherKey => {
                let other =
                    aws_lc_rs::agreement::PrivateKey::generate(&aws_lc_rs::agreement::ECDH_P256)
                        .unwrap();
                let body = g.attestation(&jwk_of(&other));
                let r = g.post_attestation(&c, &body).await;
                assert_eq!(r.status, 401, "case {case}: {ev:?} attested: {}", r.text());
                false
            }
            Evidence::UntrustedSigner => {
                let r = g.attest(&c).await;
                assert_eq!(r.status, 401, "case {case}: {ev:?} attested: {}", r.text());
                false
            }
            Evidence::Good | Evidence::NotAffirming => {
                let r = g.attest(&c).await;
                assert_eq!(r.status, 200, "case {case}: {ev:?}: {}", r.text());
                true
            }
        };
        let url = format!("/kbs/v0/resource/{path}");
        let cookie = g.cookie.clone().unwrap_or_default();
        let bearer = |t: String| format!("Bearer {t}");
        let token = g.token.clone();
        let header: Option<(&str, String)> = match (cred, &token) {
            (Credential::Cookie, _) => Some(("cookie", cookie.clone())),
            (Credential::OwnToken, Some(t)) => Some(("authorization", bearer(t.clone()))),
            (Credential::EditedToken, Some(t)) => Some(("authorization", bearer(edit(t)))),
            (Credential::OtherSignersToken, Some(t)) => Some(("authorization", bearer(resign(t)))),
            // No credential, or no token to present (the session never
            // attested).
            (_, None) | (Credential::Nothing, _) => None,
        };
        let headers: Vec<(&str, &str)> = header.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = c.call("GET", &url, &headers, Vec::new()).await;

        let own_credential = matches!(cred, Credential::Cookie)
            || (matches!(cred, Credential::OwnToken) && token.is_some());
        let expect = attested && ev == Evidence::Good && own_credential && path == PATHS[0];
        *tally
            .entry(
                if r.status == 200 {
                    "released"
                } else {
                    "refused"
                }
                .to_owned(),
            )
            .or_default() += 1;
        if expect {
            assert_eq!(
                r.status,
                200,
                "case {case}: {ev:?} {cred:?} {path}: {}",
                r.text()
            );
            assert_eq!(g.decrypt(&r), b"secret-a");
            released += 1;
        } else {
            assert_ne!(
                r.status, 200,
                "case {case}: released with {ev:?} {cred:?} {path}"
            );
            assert!(
                [401, 403, 404].contains(&r.status),
                "case {case}: {ev:?} {cred:?} {path}: {} {}",
                r.status,
                r.text()
            );
        }
    }
    // Every release has its audit row; nothing else was recorded as released.
    let rows = admin(&c, k, "GET", "/admin/v0/audit?limit=100000", Vec::new())
        .await
        .json();
    let rows = rows.as_array().unwrap();
    let released_rows: Vec<&Value> = rows.iter().filter(|r| r["result"] == "released").collect();
    assert_eq!(released_rows.len(), released, "{tally:?}");
    assert!(released_rows.iter().all(|r| r["resource"] == PATHS[0]));
    // The draw exercised both outcomes.
    assert!(
        (5..120).contains(&released),
        "{released} releases of 240: {tally:?}"
    );
    eprintln!("release_property: 240 cases, {released} released, tally {tally:?}");
}

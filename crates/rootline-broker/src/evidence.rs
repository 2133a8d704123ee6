//! From a KBS attestation to verified claims: the runtime-data binding, the
//! init-data check and the per-TEE dispatch to the verifier.
//!
//! Where the binding lives, per TEE: SNP and the simulated TEE carry
//! `hash(JCS(runtime-data))` zero-padded to 64 bytes in REPORT_DATA; TDX and
//! SGX in REPORTDATA the same way; IBM SE in the Ultravisor's user data
//! (SHA-512, see `crate::se`); a TPM quote carries it as `extraData`
//! (the verifier's `Request.nonce` is the expected value in every case, so
//! each evidence crate checks it where its TEE defines it). Init-data is
//! hashed with the algorithm its TOML names and compared, zero-padded, with
//! the TEE's config field: SNP `host_data`, TDX `mr_config_id`, the
//! simulated TEE's `host_data`; for a TPM, PCR 8 must equal
//! `SHA-256(0^32 || SHA-256(init-data))` (one extend from reset).

use std::sync::Arc;

use aws_lc_rs::digest;
use rootline_core::{TeeKind, Verified};
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::sim;

pub use rootline_kbs::{Binding, BindingForm, BindingHash, canonical_json};

/// The expected report data: the hash of the RFC 8785 canonical JSON of the
/// runtime data exactly as received (not re-serialised through a struct, so
/// unknown members are covered too). This is the older guests' form; see
/// [`Binding::candidates`] for both.
pub fn runtime_data_hash(runtime_data: &Value, hash: BindingHash) -> Result<Vec<u8>> {
    let canon = canonical_json(runtime_data)
        .map_err(|e| Error::Malformed(format!("runtime-data cannot be canonicalised: {e}")))?;
    Ok(hash.digest(&canon))
}

/// Checks that the evidence's report-data field `carried` holds one of
/// `bindings`: zero-padded to the field's size, or, for a TPM quote's
/// extraData (`tpm_extra_data`), whole or cut to 32 bytes.
pub(crate) fn check_binding(
    field: &str,
    carried: &[u8],
    bindings: &[Binding],
    tpm_extra_data: bool,
) -> Result<()> {
    let holds = |b: &Binding| {
        if tpm_extra_data {
            b.matches_tpm_extra_data(carried)
        } else {
            b.matches(carried)
        }
    };
    if bindings.iter().any(holds) {
        return Ok(());
    }
    let expected: Vec<String> = bindings
        .iter()
        .map(|b| format!("{} of {}", hex::encode(&b.digest), b.form.name()))
        .collect();
    Err(Error::Rejected(format!(
        "{field} {} does not bind this session's runtime data (expected the hash {})",
        hex::encode(carried),
        expected.join(" or ")
    )))
}

/// The digest of an init-data document (`kbs-types` `InitData`), with the
/// algorithm its TOML body names.
pub fn init_data_digest(init: &kbs_types::InitData) -> Result<(String, Vec<u8>)> {
    if init.body.len() > 1 << 20 {
        return Err(Error::Malformed("init-data is larger than 1 MiB".into()));
    }
    // Trustee's initdata.md: a TOML or JSON document whose `algorithm` names
    // the digest; the digest covers the body exactly as sent.
    let alg: String = match init.format.as_str() {
        "toml" => {
            let doc: toml::Table = toml::from_str(&init.body)
                .map_err(|e| Error::Malformed(format!("init-data is not TOML: {e}")))?;
            doc.get("algorithm")
                .and_then(|v| v.as_str())
                .map(str::to_owned)
                .ok_or_else(|| Error::Malformed("init-data has no algorithm".into()))?
        }
        "json" => {
            let doc: Value = serde_json::from_str(&init.body)
                .map_err(|e| Error::Malformed(format!("init-data is not JSON: {e}")))?;
            doc.get("algorithm")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| Error::Malformed("init-data has no algorithm".into()))?
        }
        other => {
            return Err(Error::Unsupported(format!(
                "init-data format {other:?}; expected toml or json"
            )));
        }
    };
    let alg = alg.as_str();
    let d = match alg {
        "sha256" => digest::digest(&digest::SHA256, init.body.as_bytes()),
        "sha384" => digest::digest(&digest::SHA384, init.body.as_bytes()),
        "sha512" => digest::digest(&digest::SHA512, init.body.as_bytes()),
        other => {
            return Err(Error::Unsupported(format!(
                "init-data algorithm {other:?}; expected sha256, sha384 or sha512"
            )));
        }
    };
    Ok((alg.to_owned(), d.as_ref().to_vec()))
}

/// Longest init-data member copied into a token as it is (see
/// [`init_data_claims`]).
pub const MAX_INIT_DATA_CLAIM: usize = 4096;

/// The claims an init-data document adds to a token: its `data` table as
/// JSON, with the `cdh.toml` and `aa.toml` members (TOML documents inside
/// the document, as Confidential Containers writes them) parsed into
/// objects where they parse, as Trustee's attestation service does.
pub fn init_data_claims(init: &kbs_types::InitData) -> Value {
    let data: Option<toml::Table> = match init.format.as_str() {
        "toml" => toml::from_str::<toml::Table>(&init.body)
            .ok()
            .and_then(|t| t.get("data").and_then(|d| d.as_table()).cloned()),
        _ => None,
    };
    let mut out = Map::new();
    for (k, v) in data.into_iter().flatten() {
        // The token carries these claims: a large member (an agent policy
        // of many kilobytes) is named by its digest instead, so that tokens
        // stay small enough for an Authorization header.
        if let Some(text) = v.as_str().filter(|t| t.len() > MAX_INIT_DATA_CLAIM) {
            let d = digest::digest(&digest::SHA256, text.as_bytes());
            out.insert(
                k,
                serde_json::json!({"sha256": hex::encode(d.as_ref()), "bytes": text.len()}),
            );
            continue;
        }
        let json = match (k.as_str(), v.as_str()) {
            ("cdh.toml" | "aa.toml", Some(text)) => toml::from_str::<toml::Table>(text)
                .ok()
                .and_then(|t| serde_json::to_value(t).ok())
                .unwrap_or_else(|| Value::String(text.to_owned())),
            _ => serde_json::to_value(&v).unwrap_or(Value::Null),
        };
        out.insert(k, json);
    }
    Value::Object(out)
}

/// What the verifier is configured to trust.
#[derive(Debug, Clone, Default)]
pub struct VerifierConfig {
    /// Trusted simulated-TEE roots (SEC1 P-384 points).
    pub sim_roots: Vec<Vec<u8>>,
    /// INSECURE: accept Trustee's `sample` TEE.
    pub insecure_sample: bool,
    /// Collateral for the hardware verifiers.
    pub collateral: Vec<rootline_verifier::Collateral>,
    /// The hardware verifier, built once: its trust anchors, the collateral
    /// it verified, and where missing collateral comes from (see
    /// `collateral::verifier_from_config`). Default: the pinned roots, no
    /// source.
    pub verifier: Arc<rootline_verifier::Verifier>,
    /// The collateral source behind `verifier`, for its counters.
    pub fetcher: Option<Arc<rootline_collateral::Fetcher>>,
    /// IBM SE challenges (host keys, expected image, sealing key); `None`:
    /// `/auth` refuses tee `se`. The verifier must hold the same sealing key.
    pub se: Option<Arc<crate::se::SeConfig>>,
}

/// Verified evidence.
#[derive(Debug, Clone)]
pub struct Evidence {
    /// The KBS tee name.
    pub tee: String,
    /// The verifier's proof, for hardware TEEs: typed claims that only
    /// `rootline-verifier` can make. `None` for the simulated TEE (verified
    /// here, against configured roots) and the insecure sample TEE.
    pub hardware: Option<Arc<rootline_verifier::Verified>>,
    /// Claims as the verifier spells them (the JSON that goes into tokens).
    pub claims: Map<String, Value>,
    /// The TCB status where the TEE has one.
    pub tcb_status: Option<String>,
    /// True for evidence accepted only in insecure test mode.
    pub insecure: bool,
}

/// Where a TEE's evidence binds init-data, with what it carries there.
#[derive(Debug)]
enum InitField {
    /// A launch-time configuration field (SNP HOST_DATA, TDX MRCONFIGID,
    /// the simulated TEE's host_data): the digest, zero-padded.
    Config(&'static str, Option<Vec<u8>>),
    /// TPM PCR 8 (sha256 bank), extended once from reset.
    Pcr8(Option<Vec<u8>>),
    /// Trustee's unsigned sample TEE: nothing binds it.
    Unbound,
    /// A TEE with no known field.
    Unknown(String),
}

impl InitField {
    /// The field of hardware evidence, from its typed claims.
    fn of(v: &rootline_verifier::Verified) -> Self {
        use rootline_verifier::Claims;
        match v.claims() {
            c @ (Claims::Tpm(_) | Claims::Azure(_)) => Self::Pcr8(c.pcr("sha256", 8)),
            c => match c.config_id() {
                Some((field, bytes)) => Self::Config(field, Some(bytes)),
                None => Self::Unknown(v.tee().to_string()),
            },
        }
    }
}

/// Checks the init-data digest against the TEE's config field.
fn check_init_data(field: InitField, digest_bytes: &[u8]) -> Result<()> {
    let (field, have) = match field {
        InitField::Config(field, have) => (field, have),
        InitField::Pcr8(have) => {
            // One extend of PCR 8 from reset: SHA-256(0^32 || m). m is the
            // init-data digest itself when it is 32 bytes (guest-components'
            // TPM attester extends with it; Trustee checks that), or its
            // SHA-256 (rootline's attester, for any digest length).
            let extend = |m: &[u8]| {
                let mut ext = vec![0u8; 32];
                ext.extend_from_slice(m);
                digest::digest(&digest::SHA256, &ext).as_ref().to_vec()
            };
            let mut wants = vec![extend(
                digest::digest(&digest::SHA256, digest_bytes).as_ref(),
            )];
            if digest_bytes.len() == 32 {
                wants.push(extend(digest_bytes));
            }
            return match have {
                Some(h) if wants.contains(&h) => Ok(()),
                Some(h) => Err(Error::Rejected(format!(
                    "init-data does not match PCR 8: the quote has {}, the init-data gives {}",
                    hex::encode(h),
                    wants
                        .iter()
                        .map(hex::encode)
                        .collect::<Vec<_>>()
                        .join(" or ")
                ))),
                None => Err(Error::Rejected(
                    "init-data was sent but the quote does not cover sha256 PCR 8".into(),
                )),
            };
        }
        InitField::Unbound => {
            // As Trustee: the unsigned sample TEE has no config field, so
            // init-data is taken as sent (the token is marked insecure).
            tracing::warn!("the sample TEE does not bind init-data; accepted unchecked");
            return Ok(());
        }
        InitField::Unknown(tee) => {
            return Err(Error::Unsupported(format!(
                "init-data for tee {tee}: no config field is known to bind it"
            )));
        }
    };
    let have = have.ok_or_else(|| {
        Error::Rejected(format!(
            "init-data was sent but the evidence has no {field}"
        ))
    })?;
    let mut want = vec![0u8; have.len().max(digest_bytes.len())];
    want.iter_mut().zip(digest_bytes).for_each(|(d, s)| *d = *s);
    if want != have {
        return Err(Error::Rejected(format!(
            "init-data does not match {field}: the evidence has {}, the init-data digest is {}",
            hex::encode(&have),
            hex::encode(digest_bytes)
        )));
    }
    Ok(())
}

/// Whether evidence from `tee` is verified on the request's own task rather
/// than handed to the blocking pool: the simulated TEE costs one ECDSA P-384
/// verification (about 0.2 ms) of a fixed-size report against configured
/// roots, less than the hand-off to another thread and back costs under
/// load; the unsigned sample TEE costs nothing. Everything else stays off the
/// async workers: SNP re-reads its configured collateral per request and
/// verifies an unknown VCEK chain (RSA-4096) that a guest may choose, TPM
/// replays event logs, TDX and SGX verify several signatures and collateral.
pub fn verifies_inline(tee: &str) -> bool {
    matches!(tee, sim::TEE_NAME | "sample")
}

/// Verifies evidence for `tee`, bound to one of `bindings` (the report data
/// a guest may have computed, see [`Binding::candidates`]), and the
/// init-data digest when one was sent. CPU-bound (signature checks): on an
/// async runtime, only kinds for which [`verifies_inline`] holds run on the
/// request's task; the rest go to a blocking thread.
///
/// The hardware verifiers are asked to verify everything but freshness;
/// the binding is then checked here against the field they report, because
/// which runtime data a guest hashed is the KBS protocol's business (two
/// forms are in the field), not the evidence format's. Every check still
/// fails closed: no binding claim, no match, no release.
pub fn verify(
    cfg: &VerifierConfig,
    tee: &str,
    evidence: &Value,
    bindings: &[Binding],
    init_digest: Option<&[u8]>,
    now: i64,
) -> Result<Verified<Evidence>> {
    let ev = match tee {
        sim::TEE_NAME => {
            let sim = sim::verify(evidence, &cfg.sim_roots, bindings)?;
            if let Some(d) = init_digest {
                check_init_data(
                    InitField::Config("host_data", Some(sim.host_data.to_vec())),
                    d,
                )?;
            }
            Evidence {
                tee: tee.to_owned(),
                hardware: None,
                claims: sim.to_map(),
                tcb_status: None,
                insecure: false,
            }
        }
        "sample" => {
            if !cfg.insecure_sample {
                return Err(Error::Unsupported(
                    "the unsigned sample TEE is refused (insecure_sample_tee is off)".into(),
                ));
            }
            // Trustee's sample evidence: {"svn": ..., "report_data": base64}.
            let rd = evidence
                .get("report_data")
                .and_then(Value::as_str)
                .ok_or_else(|| Error::Rejected("sample evidence has no report_data".into()))?;
            use base64::Engine as _;
            let rd = base64::engine::general_purpose::STANDARD
                .decode(rd)
                .map_err(|_| Error::Rejected("sample report_data is not base64".into()))?;
            check_binding("sample report_data", &rd, bindings, false)?;
            if let Some(d) = init_digest {
                check_init_data(InitField::Unbound, d)?;
            }
            let mut m = Map::new();
            m.insert(
                "svn".into(),
                evidence.get("svn").cloned().unwrap_or(Value::Null),
            );
            m.insert("report_data".into(), hex::encode(&rd).into());
            Evidence {
                tee: tee.to_owned(),
                hardware: None,
                claims: m,
                tcb_status: None,
                insecure: true,
            }
        }
        _ => {
            let kind: TeeKind = match tee {
                "az-snp-vtpm" | "az-tdx-vtpm" | "snp" | "tdx" | "sgx" | "tpm" | "cca" | "se" => {
                    tee.parse().map_err(|e: rootline_core::tee::UnknownTee| {
                        Error::Unsupported(e.to_string())
                    })?
                }
                other => {
                    return Err(Error::Unsupported(format!(
                        "tee {other:?} is not supported"
                    )));
                }
            };
            let bytes = match evidence {
                Value::String(s) => s.as_bytes().to_vec(),
                v => serde_json::to_vec(v).map_err(|e| Error::Malformed(e.to_string()))?,
            };
            let verified = cfg
                .verifier
                .verify(&rootline_verifier::Request {
                    evidence: bytes,
                    tee: Some(kind),
                    // SE takes its request secret from collateral before
                    // the sealed one: the broker's files are not for it.
                    collateral: if kind == TeeKind::Se {
                        Vec::new()
                    } else {
                        cfg.collateral.clone()
                    },
                    // The broker's clock: collateral is judged at the same
                    // instant as the session and the token.
                    at: time::OffsetDateTime::from_unix_timestamp(now).ok(),
                    nonce: None,
                    extra: Default::default(),
                })
                .map_err(|r| Error::Rejected(r.reason))?;
            // The binding is checked here against the field the verifier
            // reports (SNP, TDX, SGX: REPORT_DATA; TPM and Azure: the
            // quote's extraData): which runtime data a guest hashed is the
            // KBS protocol's business, not the evidence format's.
            let rd = verified.claims().report_data().ok_or_else(|| {
                Error::Rejected(format!(
                    "the verified {kind} evidence reports no report data to bind the session to"
                ))
            })?;
            check_binding(rd.field, &rd.bytes, bindings, rd.tpm_extra_data)?;
            // A TEE report beside TPM quotes (GCP) is tied to them by
            // nothing but this nonce: it must carry the binding too, or a
            // stale report could ride along with a fresh quote.
            if let Some(p) = verified.claims().paired_report_data() {
                check_binding(p.field, &p.bytes, bindings, p.tpm_extra_data)?;
            }
            if let Some(d) = init_digest {
                check_init_data(InitField::of(&verified), d)?;
            }
            Evidence {
                tee: tee.to_owned(),
                claims: verified.claims_json().clone(),
                tcb_status: verified.tcb_status().map(str::to_owned),
                hardware: Some(Arc::new(verified)),
                insecure: false,
            }
        }
    };
    Ok(Verified::new(ev))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn runtime_data_hash_ignores_member_order() {
        let a = json!({"nonce": "n", "tee-pubkey": {"kty": "EC", "x": "1", "y": "2"}});
        let b: Value =
            serde_json::from_str(r#"{ "tee-pubkey": {"y":"2","x":"1","kty":"EC"}, "nonce":"n" }"#)
                .unwrap();
        let ha = runtime_data_hash(&a, BindingHash::Sha384).unwrap();
        assert_eq!(ha, runtime_data_hash(&b, BindingHash::Sha384).unwrap());
        let canon = br#"{"nonce":"n","tee-pubkey":{"kty":"EC","x":"1","y":"2"}}"#;
        assert_eq!(ha, BindingHash::Sha384.digest(canon));
    }

    #[test]
    fn init_data_against_host_data() {
        let init = kbs_types::InitData {
            format: "toml".into(),
            body: "version = \"0.1.0\"\nalgorithm = \"sha256\"\n[data]\n".into(),
        };
        let (alg, d) = init_data_digest(&init).unwrap();
        assert_eq!(alg, "sha256");
        check_init_data(InitField::Config("host_data", Some(d.clone())), &d).unwrap();
        assert!(check_init_data(InitField::Config("host_data", Some(vec![0u8; 32])), &d).is_err());
        assert!(check_init_data(InitField::Config("host_data", None), &d).is_err());
        assert!(check_init_data(InitField::Unbound, &d).is_ok());
        assert!(check_init_data(InitField::Unknown("cca".into()), &d).is_err());
    }
}

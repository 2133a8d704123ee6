//! From a KBS attestation to verified claims: the runtime-data binding, the
//! init-data check and the per-TEE dispatch to the verifier.
//!
//! Where the binding lives, per TEE: SNP and the simulated TEE carry
//! `hash(JCS(runtime-data))` zero-padded to 64 bytes in REPORT_DATA; TDX and
//! SGX in REPORTDATA the same way; a TPM quote carries it as `extraData`
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
}

/// Verified evidence.
#[derive(Debug, Clone)]
pub struct Evidence {
    /// The KBS tee name.
    pub tee: String,
    /// Claims as the verifier spells them.
    pub claims: Map<String, Value>,
    /// The TCB status where the TEE has one.
    pub tcb_status: Option<String>,
    /// True for evidence accepted only in insecure test mode.
    pub insecure: bool,
}

fn claim_hex(claims: &Map<String, Value>, path: &str) -> Option<Vec<u8>> {
    let mut cur: Option<&Value> = None;
    for (i, part) in path.split('.').enumerate() {
        cur = if i == 0 {
            claims.get(part)
        } else {
            cur?.get(part)
        };
    }
    hex::decode(cur?.as_str()?).ok()
}

/// Checks the init-data digest against the TEE's config field.
fn check_init_data(tee: &str, claims: &Map<String, Value>, digest_bytes: &[u8]) -> Result<()> {
    let (field, have) = match tee {
        "snp" | sim::TEE_NAME => ("host_data", claim_hex(claims, "host_data")),
        "tdx" => ("mr_config_id", claim_hex(claims, "mr_config_id")),
        "tpm" | "az-snp-vtpm" | "az-tdx-vtpm" => {
            let have = claim_hex(
                claims,
                if tee == "tpm" {
                    "pcrs.sha256.8"
                } else {
                    "tpm.pcrs.sha256.8"
                },
            );
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
        "sample" => {
            // As Trustee: the unsigned sample TEE has no config field, so
            // init-data is taken as sent (the token is marked insecure).
            tracing::warn!("the sample TEE does not bind init-data; accepted unchecked");
            return Ok(());
        }
        other => {
            return Err(Error::Unsupported(format!(
                "init-data for tee {other}: no config field is known to bind it"
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

/// The claim in which a hardware verifier reports the TEE's report-data
/// field, by kind (SNP, TDX, SGX: REPORT_DATA; TPM: the quote's extraData),
/// and whether it is a TPM quote's extraData.
fn binding_claim(kind: TeeKind) -> Option<(&'static str, bool)> {
    match kind {
        TeeKind::Snp | TeeKind::Tdx | TeeKind::Sgx => Some(("report_data", false)),
        // Azure: the vTPM quote's extraData, signed by the AK the HCL
        // report's runtime data carries (bound into the hardware report).
        TeeKind::Tpm | TeeKind::AzureSnp | TeeKind::AzureTdx => Some(("extra_data", true)),
        _ => None,
    }
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
    let mut insecure = false;
    let (claims, tcb_status) = match tee {
        sim::TEE_NAME => (
            sim::verify(evidence, &cfg.sim_roots, bindings)?.to_map(),
            None,
        ),
        "sample" => {
            if !cfg.insecure_sample {
                return Err(Error::Unsupported(
                    "the unsigned sample TEE is refused (insecure_sample_tee is off)".into(),
                ));
            }
            insecure = true;
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
            let mut m = Map::new();
            m.insert(
                "svn".into(),
                evidence.get("svn").cloned().unwrap_or(Value::Null),
            );
            m.insert("report_data".into(), hex::encode(&rd).into());
            (m, None)
        }
        _ => {
            let kind: TeeKind = match tee {
                "az-snp-vtpm" | "az-tdx-vtpm" | "snp" | "tdx" | "sgx" | "tpm" => {
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
            let (field, tpm_extra_data) = binding_claim(kind).ok_or_else(|| {
                Error::Unsupported(format!(
                    "tee {tee:?}: this broker does not know where its evidence binds the runtime data yet"
                ))
            })?;
            let bytes = match evidence {
                Value::String(s) => s.as_bytes().to_vec(),
                v => serde_json::to_vec(v).map_err(|e| Error::Malformed(e.to_string()))?,
            };
            let out = cfg.verifier.verify(&rootline_verifier::Request {
                evidence: bytes,
                tee: Some(kind),
                collateral: cfg.collateral.clone(),
                // The broker's clock: collateral is judged at the same
                // instant as the session and the token.
                at: time::OffsetDateTime::from_unix_timestamp(now).ok(),
                nonce: None,
                extra: Default::default(),
            });
            if !out.verified {
                return Err(Error::Rejected(
                    out.error
                        .unwrap_or_else(|| "evidence did not verify".into()),
                ));
            }
            let carried = out
                .claims
                .get(field)
                .and_then(Value::as_str)
                .and_then(|h| hex::decode(h).ok())
                .ok_or_else(|| {
                    Error::Rejected(format!("the verified evidence reports no {field}"))
                })?;
            check_binding(field, &carried, bindings, tpm_extra_data)?;
            (out.claims, out.tcb_status)
        }
    };
    if let Some(d) = init_digest {
        check_init_data(tee, &claims, d)?;
    }
    Ok(Verified::new(Evidence {
        tee: tee.to_owned(),
        claims,
        tcb_status,
        insecure,
    }))
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
        let mut claims = Map::new();
        claims.insert("host_data".into(), hex::encode(&d).into());
        check_init_data("snp", &claims, &d).unwrap();
        claims.insert("host_data".into(), hex::encode([0u8; 32]).into());
        assert!(check_init_data("snp", &claims, &d).is_err());
        assert!(check_init_data("sample", &claims, &d).is_ok());
        assert!(check_init_data("cca", &claims, &d).is_err());
    }
}

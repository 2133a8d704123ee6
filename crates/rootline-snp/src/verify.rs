//! Verification of one report: signing key chained to a pinned root,
//! validity at the verification time, CRLs, the signature over the received
//! bytes, the VEK's TCB and hwID extensions, and the nonce binding.
//!
//! A [`Verifier`] caches, by certificate fingerprint, every VCEK/VLEK whose
//! chain it has verified (with the parsed P-384 key), and every CRL whose
//! signature it has checked. With a warm cache a verification costs one
//! ECDSA P-384 verify plus a few hash-map lookups.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rootline_core::Verified;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::claims::Claims;
use crate::error::{Error, Result};
use crate::evidence::{Evidence, Raw};
use crate::pki::{
    self, CheckedCrl, Collateral, Fingerprint, TrustAnchors, TrustedVek, VekKind, hw_id_matches,
};
use crate::report::{Product, Report, SigningKey, Tcb};

/// What the caller expects, and when.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Judge certificates and CRLs at this instant; now when absent.
    pub at: Option<OffsetDateTime>,
    /// REPORT_DATA must equal this (zero-padded to 64 bytes); freshness is
    /// not checked when absent, and the result says so.
    pub nonce: Option<Vec<u8>>,
}

/// A verified report's claims and the caveats that did not cause rejection.
#[derive(Clone, Debug)]
pub struct Appraisal {
    /// The claims.
    pub claims: Claims,
    /// Caveats (freshness not checked, no CRL...).
    pub warnings: Vec<String>,
}

/// A rejected report: why, and what could be read from it.
#[derive(Clone, Debug)]
pub struct Rejection {
    /// The first check that failed.
    pub error: Error,
    /// Claims, when the report itself could be parsed.
    pub claims: Option<Box<Claims>>,
    /// Caveats gathered before the failure.
    pub warnings: Vec<String>,
}

/// A verified VCEK/VLEK chain, without a report.
#[derive(Clone, Debug)]
pub struct ChainSummary {
    /// VCEK or VLEK.
    pub kind: VekKind,
    /// The product the root names.
    pub product: Option<Product>,
    /// The root's common name.
    pub root: String,
    /// The AMD extensions of the VEK.
    pub extensions: pki::VekExtensions,
    /// Caveats (no CRL...).
    pub warnings: Vec<String>,
}

type CrlKey = (Fingerprint, Fingerprint, Fingerprint);

/// A verifier with pinned roots and caches of verified chains and CRLs.
#[derive(Debug)]
pub struct Verifier {
    anchors: TrustAnchors,
    veks: Mutex<HashMap<Fingerprint, Arc<TrustedVek>>>,
    crls: Mutex<HashMap<CrlKey, Option<Arc<CheckedCrl>>>>,
}

/// Caches stop growing here; a verifier that sees more distinct VEKs than
/// this simply verifies the extra chains each time.
const CACHE_LIMIT: usize = 4096;

impl Verifier {
    /// A verifier that trusts exactly `anchors`.
    pub fn new(anchors: TrustAnchors) -> Self {
        Self {
            anchors,
            veks: Mutex::new(HashMap::new()),
            crls: Mutex::new(HashMap::new()),
        }
    }

    /// A verifier with AMD's pinned Milan, Genoa and Turin roots.
    pub fn amd() -> Self {
        Self::new(TrustAnchors::amd())
    }

    /// The trust anchors.
    pub fn anchors(&self) -> &TrustAnchors {
        &self.anchors
    }

    /// Decodes evidence in any supported form, adds its certificate table to
    /// the collateral and verifies it.
    pub fn verify_evidence(
        &self,
        evidence: &[u8],
        collateral: &Collateral,
        opts: &Options,
    ) -> std::result::Result<Verified<Appraisal>, Rejection> {
        let raw = Raw::decode(evidence).map_err(|error| Rejection {
            error,
            claims: None,
            warnings: Vec::new(),
        })?;
        self.verify_raw(&raw, collateral, opts)
    }

    /// [`Verifier::verify_evidence`] for evidence whose wrapper was
    /// removed already (by detection): parses the report and certificate
    /// table, adds the table to the collateral and verifies.
    pub fn verify_raw(
        &self,
        raw: &Raw,
        collateral: &Collateral,
        opts: &Options,
    ) -> std::result::Result<Verified<Appraisal>, Rejection> {
        let reject = |error| Rejection {
            error,
            claims: None,
            warnings: Vec::new(),
        };
        let ev = Evidence::from_raw(raw).map_err(reject)?;
        if ev.cert_table.is_empty() {
            return self.verify_report(&ev.report, collateral, opts);
        }
        let mut all = collateral.clone();
        if let Err(e) = all.add_cert_table(&ev.cert_table) {
            let product = ev.report.product_hint();
            return Err(Rejection {
                error: e,
                claims: Some(Box::new(Claims::from_report(&ev.report, product))),
                warnings: Vec::new(),
            });
        }
        self.verify_report(&ev.report, &all, opts)
    }

    /// Verifies a parsed report with the given collateral.
    pub fn verify_report(
        &self,
        report: &Report,
        collateral: &Collateral,
        opts: &Options,
    ) -> std::result::Result<Verified<Appraisal>, Rejection> {
        let mut warnings = Vec::new();
        let mut product = report.product_hint();
        match self.check(report, collateral, opts, &mut warnings, &mut product) {
            Ok(()) => Ok(Verified::new(Appraisal {
                claims: Claims::from_report(report, product),
                warnings,
            })),
            Err(error) => Err(Rejection {
                error,
                claims: Some(Box::new(Claims::from_report(report, product))),
                warnings,
            }),
        }
    }

    /// Verifies a VCEK or VLEK chain on its own (no report): the
    /// certificate of `kind` in the collateral must chain to a pinned root
    /// and be valid at `at` (now when absent), and no supplied CRL may
    /// revoke it or its intermediate.
    pub fn verify_chain(
        &self,
        collateral: &Collateral,
        kind: VekKind,
        at: Option<OffsetDateTime>,
    ) -> Result<ChainSummary> {
        let vek = pki::find_vek(collateral, kind, &[0; 64])?;
        let trusted = pki::build_chain(&self.anchors, collateral, vek, kind)?;
        let at = at.unwrap_or_else(OffsetDateTime::now_utc);
        check_windows(&trusted, at.unix_timestamp())?;
        let mut warnings = Vec::new();
        self.check_crls(collateral, &trusted, at.unix_timestamp(), &mut warnings)?;
        Ok(ChainSummary {
            kind,
            product: trusted.product,
            root: trusted.root_name.clone(),
            extensions: trusted.ext.clone(),
            warnings,
        })
    }

    fn trusted_vek(
        &self,
        report: &Report,
        coll: &Collateral,
        kind: VekKind,
    ) -> Result<Arc<TrustedVek>> {
        // Warm path: a collateral certificate whose chain we verified before.
        {
            let cache = self.veks.lock().map_err(|_| poisoned())?;
            let mut hit = None;
            for c in &coll.certs {
                if let Some(t) = cache.get(&c.fp)
                    && t.kind == kind
                {
                    let matches = kind == VekKind::Vlek
                        || t.ext
                            .hw_id
                            .as_deref()
                            .is_some_and(|h| hw_id_matches(h, &report.chip_id));
                    if matches {
                        return Ok(t.clone());
                    }
                    hit.get_or_insert_with(|| t.clone());
                }
            }
            if let Some(t) = hit {
                return Ok(t);
            }
        }
        let vek = pki::find_vek(coll, kind, &report.chip_id)?;
        let trusted = Arc::new(pki::build_chain(&self.anchors, coll, vek, kind)?);
        let mut cache = self.veks.lock().map_err(|_| poisoned())?;
        if cache.len() < CACHE_LIMIT {
            cache.insert(vek.fp, trusted.clone());
        }
        Ok(trusted)
    }

    fn check(
        &self,
        report: &Report,
        coll: &Collateral,
        opts: &Options,
        warnings: &mut Vec<String>,
        product: &mut Option<Product>,
    ) -> Result<()> {
        if report.signature_algo != 1 {
            return Err(Error::Unsupported {
                field: "signature_algo",
                value: format!(
                    "{} (only 1, ECDSA P-384 with SHA-384, is defined)",
                    report.signature_algo
                ),
            });
        }
        let kind = match report.signing_key() {
            SigningKey::VCEK => VekKind::Vcek,
            SigningKey::VLEK => VekKind::Vlek,
            SigningKey::NONE => {
                return Err(Error::Unsupported {
                    field: "signing key",
                    value: "none: the report is not signed".into(),
                });
            }
            SigningKey(other) => {
                return Err(Error::Unsupported {
                    field: "signing key",
                    value: format!("{other} (0 is VCEK, 1 is VLEK)"),
                });
            }
        };
        if report.cpuid.is_some() && product.is_none() {
            let (fam, model, _) = report.cpuid.unwrap_or_default();
            return Err(Error::Unsupported {
                field: "cpuid family/model",
                value: format!("family {fam:#x} model {model:#x} is not Milan, Genoa or Turin"),
            });
        }
        let at = opts.at.unwrap_or_else(OffsetDateTime::now_utc);
        let at_s = at.unix_timestamp();

        let vek = self.trusted_vek(report, coll, kind)?;
        match (*product, vek.product) {
            (Some(p), Some(c)) if p != c => {
                return Err(Error::Mismatch {
                    field: "product",
                    reason: format!(
                        "the report is from {p} but its signing key chains to {}",
                        vek.root_name
                    ),
                });
            }
            (_, Some(c)) => *product = Some(c),
            (Some(_), None) => {}
            (None, None) => {
                return Err(Error::Unsupported {
                    field: "product",
                    value: format!("the root {} names no known product", vek.root_name),
                });
            }
        }

        check_windows(&vek, at_s)?;

        self.check_crls(coll, &vek, at_s, warnings)?;

        vek.key
            .verify_sig(report.signed_bytes(), &report.signature_fixed())
            .map_err(|_| {
                Error::BadSignature(format!(
                    "the report signature does not verify with the {} key",
                    kind.name().to_uppercase()
                ))
            })?;

        let layout = product.unwrap_or(Product::Milan);
        check_tcb(&vek, Tcb::decode(report.reported_tcb, layout))?;

        if kind == VekKind::Vcek {
            if report.chip_id_masked() {
                warnings.push(
                    "CHIP_ID is masked (MASK_CHIP_ID policy): the VCEK's hwID could not be compared"
                        .into(),
                );
            } else {
                let hw = vek.ext.hw_id.as_deref().ok_or_else(|| Error::Mismatch {
                    field: "hwID",
                    reason: "the VCEK has no hwID extension".into(),
                })?;
                if !hw_id_matches(hw, &report.chip_id) {
                    return Err(Error::Mismatch {
                        field: "chip_id",
                        reason: format!(
                            "the VCEK is for chip {} but the report is from chip {}",
                            hex::encode(hw),
                            hex::encode(report.chip_id)
                        ),
                    });
                }
            }
        }

        match &opts.nonce {
            None => warnings.push(
                "freshness not checked: no nonce was given, REPORT_DATA is shown as the evidence carries it"
                    .into(),
            ),
            Some(n) => {
                if n.len() > 64 {
                    return Err(Error::Mismatch {
                        field: "report_data",
                        reason: format!("the nonce is {} bytes; REPORT_DATA holds 64", n.len()),
                    });
                }
                let mut want = [0u8; 64];
                if let Some(dst) = want.get_mut(..n.len()) {
                    dst.copy_from_slice(n);
                }
                if want != report.report_data {
                    return Err(Error::Mismatch {
                        field: "report_data",
                        reason: format!(
                            "the evidence carries {} but the nonce is {}",
                            hex::encode(report.report_data),
                            hex::encode(n)
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    fn check_crls(
        &self,
        coll: &Collateral,
        vek: &TrustedVek,
        at_s: i64,
        warnings: &mut Vec<String>,
    ) -> Result<()> {
        let mut applied = 0usize;
        for crl in &coll.crls {
            let key = (crl.fp, vek.root_fp, vek.intermediate_fp);
            let cached = self.crls.lock().map_err(|_| poisoned())?.get(&key).cloned();
            let checked = match cached {
                Some(c) => c,
                None => {
                    let c = pki::check_crl(&self.anchors, coll, crl, vek)?.map(Arc::new);
                    let mut cache = self.crls.lock().map_err(|_| poisoned())?;
                    if cache.len() < CACHE_LIMIT {
                        cache.insert(key, c.clone());
                    }
                    c
                }
            };
            let Some(c) = checked else { continue };
            applied += 1;
            if at_s < c.this_update {
                return Err(Error::Stale {
                    what: format!(
                        "CRL of {} is not yet issued (thisUpdate {})",
                        c.issuer_name,
                        fmt_time(c.this_update)
                    ),
                    at: fmt_time(at_s),
                });
            }
            if let Some(next) = c.next_update
                && at_s > next
            {
                return Err(Error::Stale {
                    what: format!(
                        "CRL of {} expired (nextUpdate {})",
                        c.issuer_name,
                        fmt_time(next)
                    ),
                    at: fmt_time(at_s),
                });
            }
            for (what, issuer, serial) in &vek.serials {
                if *issuer == c.issuer && c.revoked.contains(serial) {
                    return Err(Error::Revoked(format!(
                        "{what} (serial {}) is listed in the CRL of {}",
                        hex::encode(serial),
                        c.issuer_name
                    )));
                }
            }
        }
        if applied == 0 {
            warnings.push(format!(
                "revocation not checked: no CRL issued by {} was supplied (AMD KDS /vcek/v1/{{product}}/crl)",
                vek.root_name
            ));
        }
        Ok(())
    }
}

fn check_windows(vek: &TrustedVek, at_s: i64) -> Result<()> {
    for (what, not_before, not_after) in &vek.windows {
        if at_s < *not_before || at_s > *not_after {
            return Err(Error::Stale {
                what: format!(
                    "{what} (valid {} to {})",
                    fmt_time(*not_before),
                    fmt_time(*not_after)
                ),
                at: fmt_time(at_s),
            });
        }
    }
    Ok(())
}

fn check_tcb(vek: &TrustedVek, tcb: Tcb) -> Result<()> {
    let e = &vek.ext;
    let mut fields: Vec<(&'static str, Option<u8>, u8)> = vec![
        ("blSPL", e.bl_spl, tcb.bootloader),
        ("teeSPL", e.tee_spl, tcb.tee),
        ("snpSPL", e.snp_spl, tcb.snp),
        ("ucodeSPL", e.ucode_spl, tcb.microcode),
    ];
    if let Some(fmc) = tcb.fmc {
        fields.push(("fmcSPL", e.fmc_spl, fmc));
    }
    for (name, cert, reported) in fields {
        match cert {
            None => {
                return Err(Error::Mismatch {
                    field: "reported_tcb",
                    reason: format!(
                        "the {} has no {name} extension",
                        vek.kind.name().to_uppercase()
                    ),
                });
            }
            Some(c) if c != reported => {
                return Err(Error::Mismatch {
                    field: "reported_tcb",
                    reason: format!(
                        "the {} certifies {name}={c} but the report says {reported}",
                        vek.kind.name().to_uppercase()
                    ),
                });
            }
            Some(_) => {}
        }
    }
    Ok(())
}

fn fmt_time(t: i64) -> String {
    OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| d.format(&Rfc3339).ok())
        .unwrap_or_else(|| t.to_string())
}

fn poisoned() -> Error {
    Error::Untrusted("verifier cache lock poisoned".into())
}

//! Verification of one piece of Azure evidence, in the order that makes a
//! rejection most useful: the hardware report first (it is the root of
//! trust), then the runtime data it binds, then the vTPM quote signed by the
//! key the runtime data names, then the bindings to what the caller expects.
//!
//! SNP: the report inside the HCL report is verified by `rootline-snp` with
//! the VCEK from the evidence chained to the pinned AMD roots, at VMPL 0.
//! TDX: the TD quote is verified by `rootline-dcap` against the pinned Intel
//! root and the caller's collateral, and must have been made from the
//! TDREPORT inside the HCL report. Without collateral every other check
//! still runs; only if all of them pass is the answer "collateral missing".
//!
//! MAA requests ([`crate::maa`]) take the same path without the HCL
//! report: the SNP report with the VCEK of its `VcekCertChain`, or the TD
//! quote; report_data[0..32] must be the SHA-256 of the runtime data as
//! received. The AzureGuest request's vTPM quote is then verified with its
//! `AikPub`, which must be the runtime data's `HCLAkPub`, and its `TcgLogs`,
//! when present, replayed against the PCRs that quote signs (a log that
//! does not parse or does not replay to them is refused, naming the field
//! or the PCR). The platform request has no vTPM
//! quote, so its claims have no `tpm` and its freshness rests on the
//! runtime data's `user-data` alone.

use rootline_core::Verified;
use rootline_dcap::quote::Body;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::AzureKind;
use crate::claims::{Claims, Hardware, HclClaims};
use crate::error::{Error, Result};
use crate::evidence::Evidence;
use crate::hcl::{HclReport, ReportType};
use crate::maa::{MaaEvidence, MaaForm};
use crate::runtime::RuntimeData;
use crate::tdreport::TdReport;
use crate::vtpm;

/// Replays the AzureGuest request's `TcgLogs` against the PCRs the verified
/// vTPM quote signs, as the TPM path replays its log
/// (`rootline_eventlog::quoted`): every register the log extends, and PCRs
/// 0-7 always, must equal the quoted value. The claims get the replay (the
/// events behind each register) once the log parsed, also on a mismatch.
fn replay_tcg_logs(log: &[u8], w: &mut Work) -> Result<()> {
    use rootline_eventlog::quoted::{QuoteReplayError, replay_against_quote};
    let q =
        w.claims.tpm.as_ref().ok_or_else(|| {
            Error::evidence("TcgLogs", "no verified vtpm quote to replay it against")
        })?;
    let mut claims = None;
    let mut warnings = Vec::new();
    let replayed = replay_against_quote(log, q.pcrs.banks(), &mut claims, &mut warnings);
    w.claims.event_log = claims;
    w.warnings
        .extend(warnings.into_iter().map(|s| format!("TcgLogs: {s}")));
    replayed.map_err(|e| match e {
        QuoteReplayError::Malformed(e) => Error::evidence("TcgLogs", e.to_string()),
        QuoteReplayError::Mismatch(reason) => Error::Mismatch {
            field: "TcgLogs",
            reason,
        },
        other => Error::Mismatch {
            field: "TcgLogs",
            reason: other.to_string(),
        },
    })
}

/// What the caller expects, and when.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Judge certificates, CRLs and TCB info at this instant; now when absent.
    pub at: Option<OffsetDateTime>,
    /// The KBS report data (guest-components puts the whole runtime-data
    /// digest there): the vTPM quote's extraData must equal it (evidence
    /// v0, v1, v2 and the MAA AzureGuest request), and for evidence v2 and
    /// the MAA platform request (which has no vTPM quote) the runtime
    /// data's `user-data` must start with it. Freshness is not checked when
    /// absent, and the result says so.
    pub report_data: Option<Vec<u8>>,
    /// The init-data digest (32 bytes): PCR 8 must be
    /// SHA-256(32 zero bytes || digest), as Trustee checks. Not checked when absent.
    pub init_data_hash: Option<Vec<u8>>,
}

/// Collateral beyond what the evidence carries.
#[derive(Clone, Debug, Default)]
pub struct Collateral {
    /// SNP: CRLs and certificates (the VCEK comes with the evidence; the
    /// AMD roots are pinned).
    pub snp: rootline_snp::Collateral,
    /// TDX: Intel's TCB info, QE identity, CRLs and issuer chains.
    pub tdx: rootline_dcap::CollateralParts,
}

impl Collateral {
    /// No collateral.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a collateral file for evidence of `kind`, recognised by content
    /// (`rootline-snp` or `rootline-dcap` rules).
    pub fn add(&mut self, kind: AzureKind, origin: &str, bytes: &[u8]) -> Result<()> {
        match kind {
            AzureKind::Snp => self.snp.add(origin, bytes).map_err(Error::Snp),
            AzureKind::Tdx => self.tdx.add(origin, bytes).map_err(Error::Tdx),
        }
    }
}

/// Verified evidence: its claims and the caveats that did not cause rejection.
#[derive(Clone, Debug)]
pub struct Appraisal {
    /// SNP or TDX.
    pub kind: AzureKind,
    /// The evidence version (0, 1, 2); 0 for MAA requests.
    pub evidence_version: u32,
    /// The MAA request the evidence came as; `None` for guest-components' forms.
    pub evidence_form: Option<MaaForm>,
    /// The hardware claims (as `rootline-snp` or `rootline-dcap` name them),
    /// the HCL report, the runtime data and the vTPM quote.
    pub claims: Claims,
    /// TDX: Intel's TCB status.
    pub tcb_status: Option<String>,
    /// TDX: advisories attached to the TCB status.
    pub advisory_ids: Vec<String>,
    /// Caveats (freshness not checked, no CRL...).
    pub warnings: Vec<String>,
}

/// Rejected evidence: why, and what could be read from it.
#[derive(Clone, Debug)]
pub struct Rejection {
    /// The kind, when the evidence decoded far enough to tell.
    pub kind: Option<AzureKind>,
    /// The first check that failed.
    pub error: Error,
    /// Claims gathered before the failure, as JSON.
    pub claims: Map<String, Value>,
    /// TDX: the TCB status, when it was evaluated.
    pub tcb_status: Option<String>,
    /// TDX: advisories.
    pub advisory_ids: Vec<String>,
    /// Caveats gathered before the failure.
    pub warnings: Vec<String>,
}

/// A verifier with pinned AMD and Intel roots; it keeps `rootline-snp`'s
/// and `rootline-dcap`'s caches of verified chains and collateral.
#[derive(Debug)]
pub struct Verifier {
    snp: rootline_snp::Verifier,
    dcap: rootline_dcap::Verifier,
}

/// The runtime data and how the evidence form uses it.
struct Bound<'a> {
    /// The runtime data, as the hardware report binds it.
    var_data: &'a [u8],
    /// The form, for messages ("evidence v1").
    label: String,
    /// The caller's report data must start the runtime data's `user-data`.
    user_data_nonce: bool,
}

/// The vTPM quote in the form the evidence carries it.
#[derive(Clone, Copy)]
enum Quote<'a> {
    /// guest-components: raw signature, TPMS_ATTEST, PCR list; the AK is
    /// the runtime data's.
    Vtpm(&'a vtpm::TpmQuote),
    /// MAA AzureGuest `TpmInfo`.
    Guest(&'a crate::maa::GuestTpm),
}

struct Work {
    claims: Claims,
    tcb_status: Option<String>,
    advisory_ids: Vec<String>,
    warnings: Vec<String>,
}

impl Work {
    fn new(claims: Claims) -> Self {
        Self {
            claims,
            tcb_status: None,
            advisory_ids: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// The appraisal of evidence of `kind` whose checks ended with
    /// `checked`: verified, or rejected with what could be parsed. One
    /// ending for every evidence form.
    fn settle(
        self,
        checked: Result<()>,
        kind: AzureKind,
        evidence_version: u32,
        evidence_form: Option<MaaForm>,
    ) -> std::result::Result<Verified<Appraisal>, Box<Rejection>> {
        match checked {
            Ok(()) => Ok(Verified::new(Appraisal {
                kind,
                evidence_version,
                evidence_form,
                claims: self.claims,
                tcb_status: self.tcb_status,
                advisory_ids: self.advisory_ids,
                warnings: self.warnings,
            })),
            Err(error) => Err(Box::new(Rejection {
                kind: Some(kind),
                error,
                claims: self.claims.to_json(),
                tcb_status: self.tcb_status,
                advisory_ids: self.advisory_ids,
                warnings: self.warnings,
            })),
        }
    }
}

fn sha256(b: &[u8]) -> Vec<u8> {
    rootline_core::HashAlg::SHA256
        .hash(b)
        .map(|d| d.bytes)
        .unwrap_or_default()
}

/// report_data[0..32] must be the SHA-256 of the runtime data.
fn check_binding(report_data: &[u8; 64], var_hash: &[u8]) -> Result<()> {
    let head = report_data.get(..32).unwrap_or_default();
    if head != var_hash {
        return Err(Error::Mismatch {
            field: "report_data",
            reason: format!(
                "the hardware report's report_data[0..32] is {} but the sha-256 of the hcl runtime data is {}: the runtime data (and the attestation key in it) is not what the hardware signed",
                hex::encode(head),
                hex::encode(var_hash)
            ),
        });
    }
    Ok(())
}

impl Verifier {
    /// A verifier trusting exactly these SNP and DCAP verifiers' roots.
    pub fn new(snp: rootline_snp::Verifier, dcap: rootline_dcap::Verifier) -> Self {
        Self { snp, dcap }
    }

    /// AMD's pinned Milan, Genoa and Turin roots and the pinned Intel SGX
    /// Root CA (an error only if the pinned Intel constant were corrupt).
    pub fn pinned() -> Result<Self> {
        Ok(Self::new(
            rootline_snp::Verifier::amd(),
            rootline_dcap::Verifier::intel().map_err(Error::Tdx)?,
        ))
    }

    /// Decodes evidence bytes (guest-components' forms in any version, or
    /// an MAA request) and verifies them. `kind`, when given, must be the
    /// kind of the evidence.
    pub fn verify(
        &self,
        evidence: &[u8],
        kind: Option<AzureKind>,
        collateral: &Collateral,
        opts: &Options,
    ) -> std::result::Result<Verified<Appraisal>, Box<Rejection>> {
        let reject = |kind, error| {
            Box::new(Rejection {
                kind,
                error,
                claims: Map::new(),
                tcb_status: None,
                advisory_ids: Vec::new(),
                warnings: Vec::new(),
            })
        };
        let v = crate::maa::parse_json(evidence).map_err(|e| reject(kind, e))?;
        let kind_mismatch = |found: AzureKind| {
            kind.filter(|k| *k != found).map(|k| {
                reject(
                    Some(found),
                    Error::Mismatch {
                        field: "tee",
                        reason: format!("{k} was expected but the evidence is {found}"),
                    },
                )
            })
        };
        if crate::maa::is_maa(&v) {
            let ev = MaaEvidence::from_value(&v).map_err(|e| reject(kind, e))?;
            if let Some(r) = kind_mismatch(ev.kind) {
                return Err(r);
            }
            return self.verify_maa(&ev, collateral, opts);
        }
        let ev = Evidence::from_value(&v).map_err(|e| reject(kind, e))?;
        if let Some(r) = kind_mismatch(ev.kind) {
            return Err(r);
        }
        self.verify_evidence(&ev, collateral, opts)
    }

    /// Verifies a decoded MAA request.
    pub fn verify_maa(
        &self,
        ev: &MaaEvidence,
        collateral: &Collateral,
        opts: &Options,
    ) -> std::result::Result<Verified<Appraisal>, Box<Rejection>> {
        let mut w = Work::new(Claims::maa(ev.form));
        let checked = self.check_maa(ev, collateral, opts, &mut w);
        w.settle(checked, ev.kind, 0, Some(ev.form))
    }

    /// Verifies decoded evidence.
    pub fn verify_evidence(
        &self,
        ev: &Evidence,
        collateral: &Collateral,
        opts: &Options,
    ) -> std::result::Result<Verified<Appraisal>, Box<Rejection>> {
        let mut w = Work::new(Claims::new(ev.version));
        let checked = self.check(ev, collateral, opts, &mut w);
        w.settle(checked, ev.kind, ev.version, None)
    }

    fn check(&self, ev: &Evidence, coll: &Collateral, opts: &Options, w: &mut Work) -> Result<()> {
        let hcl = HclReport::parse(&ev.hcl_report)?;
        let want = match ev.kind {
            AzureKind::Snp => ReportType::SNP,
            AzureKind::Tdx => ReportType::TDX,
        };
        if hcl.report_type != want {
            return Err(Error::Mismatch {
                field: "hcl report type",
                reason: format!(
                    "the evidence is {} evidence but its hcl report carries a {} report",
                    ev.kind, hcl.report_type
                ),
            });
        }
        let var_hash = hcl.var_data_sha256();
        w.claims.hcl_report = Some(HclClaims::of(&hcl, &var_hash));
        let deferred = match ev.kind {
            AzureKind::Snp => {
                let vcek = ev
                    .vcek
                    .as_deref()
                    .ok_or_else(|| Error::evidence("vcek", "missing"))?;
                self.check_snp(hcl.hw_report, vcek, &[], &var_hash, coll, opts, w)?;
                None
            }
            AzureKind::Tdx => self.check_tdx(ev, &hcl, &var_hash, coll, opts, w)?,
        };
        let bound = Bound {
            var_data: hcl.var_data,
            label: format!("evidence v{}", ev.version),
            // Trustee reads user-data only for v2.
            user_data_nonce: ev.version >= 2,
        };
        self.check_bound(&bound, Some(Quote::Vtpm(&ev.tpm_quote)), opts, w)?;
        match deferred {
            Some(why) => Err(Error::CollateralMissing(why)),
            None => Ok(()),
        }
    }

    fn check_maa(
        &self,
        ev: &MaaEvidence,
        coll: &Collateral,
        opts: &Options,
        w: &mut Work,
    ) -> Result<()> {
        let var_hash = sha256(&ev.runtime_data);
        let deferred = match ev.kind {
            AzureKind::Snp => {
                let report = ev
                    .snp_report
                    .as_deref()
                    .ok_or_else(|| Error::evidence("SnpReport", "missing"))?;
                let (vcek, rest) = ev
                    .vcek_chain
                    .split_first()
                    .ok_or_else(|| Error::evidence("VcekCertChain", "no certificate"))?;
                self.check_snp(report, vcek, rest, &var_hash, coll, opts, w)?;
                None
            }
            AzureKind::Tdx => {
                let raw = ev
                    .td_quote
                    .as_deref()
                    .ok_or_else(|| Error::evidence("quote", "missing"))?;
                self.check_td_quote(raw, None, &var_hash, coll, opts, w)?
            }
        };
        let bound = Bound {
            var_data: &ev.runtime_data,
            label: format!("the {} request", ev.form),
            user_data_nonce: ev.tpm.is_none(),
        };
        let quote = ev.tpm.as_ref().map(Quote::Guest);
        self.check_bound(&bound, quote, opts, w)?;
        match ev.tpm.as_ref().map(|t| t.tcg_logs.as_deref()) {
            Some(Some(log)) => replay_tcg_logs(log, w)?,
            Some(None) => w.warnings.push(
                "no TcgLogs: the pcrs are the vtpm quote's, without the events behind them"
                    .to_string(),
            ),
            None => {}
        }
        match deferred {
            Some(why) => Err(Error::CollateralMissing(why)),
            None => Ok(()),
        }
    }

    /// The runtime data the hardware report binds, the vTPM quote signed by
    /// the key it names (when the evidence has one), and freshness.
    fn check_bound(
        &self,
        b: &Bound<'_>,
        quote: Option<Quote<'_>>,
        opts: &Options,
        w: &mut Work,
    ) -> Result<()> {
        // The runtime data is bound: read it.
        let rt = RuntimeData::parse(b.var_data)?;
        w.claims.runtime_data = Some(rt.json.clone());
        let user_data = match rt.user_data_bytes() {
            Ok(u) => u,
            Err(e) if !b.user_data_nonce => {
                w.warnings.push(format!("{e}; not used by {}", b.label));
                None
            }
            Err(e) => return Err(e),
        };
        w.claims.user_data.clone_from(&user_data);

        // The vTPM quote, signed by the attestation key the hardware bound.
        let nonce = opts.report_data.as_deref();
        match quote {
            Some(Quote::Vtpm(q)) => {
                // Parsed once: for the claim here (so a rejection shows
                // it), and for the verification.
                let attest = rootline_tpm::Attest::parse(&q.message).ok();
                if let Some(a) = &attest {
                    w.claims.extra_data = Some(a.extra_data.clone());
                }
                w.claims.tpm = Some(vtpm::verify_parsed(q, attest, &rt.ak, nonce)?.into_inner());
            }
            Some(Quote::Guest(t)) => {
                if let Ok(a) = rootline_tpm::Attest::parse(&t.quote) {
                    w.claims.extra_data = Some(a.extra_data);
                }
                w.claims.tpm = Some(vtpm::verify_guest(t, &rt.ak, nonce)?.into_inner());
            }
            None => {}
        }

        match &opts.report_data {
            None if w.claims.tpm.is_some() => w.warnings.push(
                "freshness not checked: no report data (nonce) was given; extra_data shows what the vtpm quote carries"
                    .into(),
            ),
            None => w.warnings.push(
                "freshness not checked: no report data (nonce) was given; user_data shows what the runtime data carries"
                    .into(),
            ),
            Some(expected) if b.user_data_nonce => {
                let u = user_data.ok_or_else(|| Error::Mismatch {
                    field: "user-data",
                    reason: format!(
                        "{} carries the report data in the runtime data's user-data, and it has none",
                        b.label
                    ),
                })?;
                if !u.starts_with(expected) {
                    return Err(Error::Mismatch {
                        field: "user-data",
                        reason: format!(
                            "the runtime data's user-data {} does not start with the expected report data {}",
                            hex::encode(&u),
                            hex::encode(expected)
                        ),
                    });
                }
            }
            Some(_) => {}
        }

        if let Some(h) = &opts.init_data_hash {
            let q = w.claims.tpm.as_ref().ok_or_else(|| Error::Mismatch {
                field: "init data",
                reason: format!(
                    "{} has no vtpm quote, so pcr 8 cannot show the init data",
                    b.label
                ),
            })?;
            check_init_data(&q.pcrs, h)?;
        }
        Ok(())
    }

    /// The SNP report, with `vcek` (DER) and the rest of the evidence's
    /// chain (`chain`, DER) beside the caller's collateral.
    #[allow(clippy::too_many_arguments)]
    fn check_snp(
        &self,
        hw_report: &[u8],
        vcek: &[u8],
        chain: &[Vec<u8>],
        var_hash: &[u8],
        coll: &Collateral,
        opts: &Options,
        w: &mut Work,
    ) -> Result<()> {
        let report = rootline_snp::Report::parse(hw_report).map_err(Error::Snp)?;
        w.claims.hardware = Some(Hardware::Snp(Box::new(rootline_snp::Claims::from_report(
            &report,
            report.product_hint(),
        ))));
        match x509_parser::parse_x509_certificate(vcek) {
            Ok(([], _)) => {}
            Ok((rest, _)) => {
                return Err(Error::evidence(
                    "vcek",
                    format!("{} bytes after the certificate", rest.len()),
                ));
            }
            Err(e) => return Err(Error::evidence("vcek", format!("not a certificate: {e}"))),
        }
        let mut c = coll.snp.clone();
        c.add("the evidence's vcek", vcek).map_err(Error::Snp)?;
        for cert in chain {
            c.add("the evidence's VcekCertChain", cert)
                .map_err(Error::Snp)?;
        }
        let o = rootline_snp::Options {
            at: opts.at,
            nonce: None,
        };
        // rootline-snp's nonce is the whole REPORT_DATA; here the binding
        // is the runtime-data hash, checked below, and freshness comes from
        // the vTPM quote: its "freshness not checked" caveat does not apply.
        let keep = |s: &String| !s.starts_with("freshness not checked");
        match self.snp.verify_report(&report, &c, &o) {
            Ok(v) => {
                let a = v.into_inner();
                w.claims.hardware = Some(Hardware::Snp(Box::new(a.claims)));
                w.warnings.extend(a.warnings.into_iter().filter(keep));
            }
            Err(r) => {
                if let Some(c) = r.claims {
                    w.claims.hardware = Some(Hardware::Snp(c));
                }
                w.warnings.extend(r.warnings.into_iter().filter(keep));
                return Err(Error::Snp(r.error));
            }
        }
        if report.vmpl != 0 {
            return Err(Error::Mismatch {
                field: "vmpl",
                reason: format!(
                    "the snp report was requested at vmpl {}; the paravisor's report comes from vmpl 0",
                    report.vmpl
                ),
            });
        }
        check_binding(&report.report_data, var_hash)
    }

    /// Returns why the TCB could not be judged when only collateral is
    /// missing (every other TDX check passed).
    fn check_tdx(
        &self,
        ev: &Evidence,
        hcl: &HclReport<'_>,
        var_hash: &[u8],
        coll: &Collateral,
        opts: &Options,
        w: &mut Work,
    ) -> Result<Option<String>> {
        let td = TdReport::parse(hcl.hw_report)?;
        td.check_hashes()?;
        let raw = ev
            .td_quote
            .as_deref()
            .ok_or_else(|| Error::evidence("td_quote", "missing"))?;
        self.check_td_quote(raw, Some(&td), var_hash, coll, opts, w)
    }

    /// The TD quote with the caller's collateral, made from `td` when the
    /// evidence has the TDREPORT, binding the runtime data. Returns why the
    /// TCB could not be judged when only collateral is missing.
    fn check_td_quote(
        &self,
        raw: &[u8],
        td: Option<&TdReport>,
        var_hash: &[u8],
        coll: &Collateral,
        opts: &Options,
        w: &mut Work,
    ) -> Result<Option<String>> {
        let quote = rootline_dcap::Quote::parse(raw).map_err(|e| Error::Tdx(e.into()))?;
        let Body::Td(body) = &quote.body else {
            return Err(Error::Unsupported {
                field: "td_quote",
                value: "an sgx quote (v3); azure tdx evidence carries a tdx quote (v4 or v5)"
                    .into(),
            });
        };
        let at = opts
            .at
            .unwrap_or_else(OffsetDateTime::now_utc)
            .unix_timestamp();
        // The quote parsed above is checked as it is, not parsed again.
        let checked = self.dcap.check_quote(&quote, &coll.tdx, at, None);
        if let Some(c) = checked.claims {
            w.claims.hardware = Some(Hardware::Tdx(Box::new(c)));
        }
        // Freshness comes from the vTPM quote, not the TD quote's report data.
        w.warnings.extend(
            checked
                .warnings
                .into_iter()
                .filter(|s| !s.starts_with("no nonce given")),
        );
        if let Some(v) = checked.verdict {
            w.tcb_status = Some(v.tcb_status);
            w.advisory_ids = v.advisory_ids;
        }
        let deferred = match checked.error {
            None => None,
            Some(rootline_dcap::Error::NoCollateral) => Some(
                "no intel collateral (tcb info, qe identity, crls) was supplied for the td quote: its signatures and pck chain verified, its tcb status was not evaluated"
                    .to_owned(),
            ),
            Some(rootline_dcap::Error::IncompleteCollateral(m)) => Some(format!(
                "incomplete intel collateral for the td quote, missing {m}: its signatures and pck chain verified, its tcb status was not evaluated"
            )),
            Some(e) => return Err(Error::Tdx(e)),
        };
        if let Some(td) = td {
            td.check_quote_body(body)?;
        }
        check_binding(&body.report_data, var_hash)?;
        Ok(deferred)
    }
}

/// PCR 8 must hold the init-data digest extended once into a zero PCR.
fn check_init_data(pcrs: &rootline_tpm::PcrValues, digest: &[u8]) -> Result<()> {
    if digest.len() != 32 {
        return Err(Error::Mismatch {
            field: "init data",
            reason: format!(
                "the expected init-data digest is {} bytes; pcr 8 is extended with 32",
                digest.len()
            ),
        });
    }
    let mut input = vec![0u8; 32];
    input.extend_from_slice(digest);
    let want = sha256(&input);
    let got = pcrs
        .get(rootline_core::HashAlg::SHA256, 8)
        .ok_or_else(|| Error::Mismatch {
            field: "init data",
            reason: "the vtpm quote does not cover sha256 pcr 8".into(),
        })?;
    if got != want {
        return Err(Error::Mismatch {
            field: "init data",
            reason: format!(
                "sha256 pcr 8 is {}, expected {} for init-data digest {}",
                hex::encode(got),
                hex::encode(&want),
                hex::encode(digest)
            ),
        });
    }
    Ok(())
}

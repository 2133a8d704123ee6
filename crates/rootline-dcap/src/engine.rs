//! Verification: dcap-qvl as the reference, our cached path beside it.
//!
//! [`Verifier::check`] is what `rootline verify` runs: it parses the quote,
//! verifies it with dcap-qvl (root pinned by us) and with our path, requires
//! the two to agree, checks the nonce, and always returns the parsed claims.
//!
//! [`Verifier::prepare`] verifies collateral once (TCB info and QE identity
//! signatures and their signer's chain, both CRLs, the PCK CRL issuer's
//! chain) and caches the result by the SHA-256 of its content;
//! [`Verifier::verify_prepared`] then costs, per quote: the bounded parse, a
//! hash of the PCK chain bytes to find its cached verification, two P-256
//! verifies and comparisons.
//!
//! Where dcap-qvl 0.7 departs from Intel's QVL, our path follows Intel:
//! - dcap-qvl rejects TDs that are migratable, lack SEPT_VE_DISABLE, set
//!   reserved TD attribute bits, are debuggable, or have a service TD. Intel's
//!   QVL does not judge TD attributes: they are appraisal policy (Intel's
//!   appraisal engine, our Rego). We report them as claims (`debug_allowed`,
//!   `td_attributes_decoded`) and accept; [`Verifier::check`] runs dcap-qvl
//!   with `allow_debug` and `allow_service_td` and explains the rest.
//! - dcap-qvl requires QE authentication data of exactly 32 bytes; Intel's
//!   QVL hashes whatever length the quote carries. We follow Intel.
//! - dcap-qvl does not compare the PCK certificate's PCE-ID with the TCB
//!   info's `pceId`; Intel's QVL does (STATUS_TCB_INFO_MISMATCH). We do.
//! - dcap-qvl stops with an error on a Revoked TCB; Intel's QVL reports the
//!   status Revoked, which fails. We reject too but keep `tcb_status` Revoked.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use dcap_qvl::{QeIdentity, QuoteCollateralV3, TcbInfo, TcbStatus};

use crate::Error;
use crate::claims::{self, Claims};
use crate::collateral::{CollateralParts, PCK_CA_CNS, TCB_SIGNING_CN};
use crate::pki::{CertInfo, CrlInfo, fmt_time, parse_time, pem_certs, verify_p256_fixed};
use crate::quote::{Body, INTEL_QE_VENDOR_ID, Quote};
use crate::tcb;

/// Most prepared collaterals (and PCK chains per collateral) kept; the cache
/// is cleared when full rather than growing with hostile input.
const CACHE_MAX: usize = 256;

/// A TCB verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Intel's TCB status name (UpToDate, OutOfDate, ...).
    pub tcb_status: String,
    /// Advisory IDs, platform first then QE, without duplicates.
    pub advisory_ids: Vec<String>,
}

/// Everything a caller gets back from [`Verifier::check`].
#[derive(Debug, Clone)]
pub struct Checked {
    /// Claims from the quote, whenever it parsed.
    pub claims: Option<Claims>,
    /// The TCB verdict, when the TCB was evaluated.
    pub verdict: Option<Verdict>,
    /// The first failed check; `None` means verified.
    pub error: Option<Error>,
    /// Things to know that did not cause rejection.
    pub warnings: Vec<String>,
}

impl Checked {
    /// The claims as JSON (empty when the quote did not parse).
    pub fn claims_json(&self) -> serde_json::Map<String, serde_json::Value> {
        self.claims
            .as_ref()
            .map(Claims::to_json)
            .unwrap_or_default()
    }
}

/// A validity window item: (what, not before, not after).
type Window = (String, i64, i64);

/// A verified PCK chain.
#[derive(Debug)]
struct Pck {
    key: Vec<u8>,
    fmspc: [u8; 6],
    cpu_svn: [u8; 16],
    pce_svn: u16,
    pce_id: Vec<u8>,
    windows: Vec<Window>,
}

/// Collateral whose signatures and chains have been verified.
#[derive(Debug)]
pub struct Prepared {
    /// The collateral's content hash (the cache key).
    key: [u8; 32],
    tcb_info: TcbInfo,
    qe_identity: QeIdentity,
    pck_crl: CrlInfo,
    root_crl: CrlInfo,
    pck_ca: CertInfo,
    windows: Vec<Window>,
    pcks: Mutex<HashMap<[u8; 32], Arc<Pck>>>,
}

/// The verifier: a pinned root and the caches.
#[derive(Debug)]
pub struct Verifier {
    root: CertInfo,
    prepared: Mutex<HashMap<[u8; 32], Arc<Prepared>>>,
    /// Verdicts on which dcap-qvl agreed, by [`agreement_key`]: the warnings
    /// its departures left, to repeat on a hit.
    agreed: Mutex<HashMap<[u8; 32], Agreed>>,
    /// The FMSPC claim by PCK chain (its PEM's hash): parsing the chain and
    /// the SGX extension for it cost a tenth of a quote's verification.
    fmspcs: Mutex<HashMap<[u8; 32], Option<[u8; 6]>>>,
    /// The last PCK chain seen and its hash: quotes of one platform carry
    /// the same 4 KB of PEM, and comparing it costs far less than hashing.
    last_pem: Mutex<Option<(Vec<u8>, [u8; 32])>>,
}

/// A verdict dcap-qvl agreed with, and the warnings its departures left.
type Agreed = (Verdict, Vec<String>);

/// What dcap-qvl's verdict on a quote depends on besides the signatures the
/// fast path checks itself on every quote: the collateral, the PCK chain,
/// and every signed field of the quote and its QE report except REPORTDATA
/// (which differs per session and is bound by those signatures). Quotes
/// with the same key differ only in REPORTDATA and signatures.
fn agreement_key(p: &Prepared, quote: &Quote<'_>, pem_key: &[u8; 32]) -> [u8; 32] {
    let signed = quote.signed_bytes();
    let base = if quote.header.version == 5 { 54 } else { 48 };
    let at = base + if quote.is_tdx() { 520 } else { 320 };
    let mut body = signed.to_vec();
    if let Some(rd) = body.get_mut(at..at + 64) {
        if rd == quote.report_data().as_slice() {
            rd.fill(0);
        }
    }
    sha256(&[
        &p.key,
        pem_key,
        &body,
        quote.qe_report_raw,
        quote.qe_auth_data,
    ])
}

/// The content hash that names verified collateral in the caches.
pub(crate) fn collateral_key(c: &QuoteCollateralV3) -> [u8; 32] {
    sha256(&[
        c.pck_crl_issuer_chain.as_bytes(),
        &c.root_ca_crl,
        &c.pck_crl,
        c.tcb_info_issuer_chain.as_bytes(),
        c.tcb_info.as_bytes(),
        &c.tcb_info_signature,
        c.qe_identity_issuer_chain.as_bytes(),
        c.qe_identity.as_bytes(),
        &c.qe_identity_signature,
    ])
}

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut c = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for p in parts {
        c.update(&(p.len() as u64).to_le_bytes());
        c.update(p);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(c.finish().as_ref());
    out
}

fn check_windows(windows: &[Window], at: i64) -> Result<(), Error> {
    for (what, from, until) in windows {
        if at < *from {
            return Err(Error::Stale(format!(
                "{what} is not valid before {}",
                fmt_time(*from)
            )));
        }
        if at > *until {
            return Err(Error::Stale(format!(
                "{what} expired at {}",
                fmt_time(*until)
            )));
        }
    }
    Ok(())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Verifier {
    /// A verifier anchored at the Intel SGX Root CA pinned in this crate
    /// (an error only if the constant were corrupt; a test parses it).
    pub fn intel() -> Result<Self, Error> {
        Self::with_root(crate::roots::INTEL_SGX_ROOT_CA_DER)
    }

    /// A verifier anchored at `root_der` (tests use a synthetic root).
    pub fn with_root(root_der: &[u8]) -> Result<Self, Error> {
        let root = CertInfo::from_der(root_der, "trust root")?;
        if root.subject != root.issuer {
            return Err(Error::Untrusted("trust root is not self-issued".into()));
        }
        root.verify_issued_by(&root, "trust root")?;
        Ok(Self {
            root,
            prepared: Mutex::new(HashMap::new()),
            agreed: Mutex::new(HashMap::new()),
            fmspcs: Mutex::new(HashMap::new()),
            last_pem: Mutex::new(None),
        })
    }

    /// The root's DER.
    pub fn root_der(&self) -> &[u8] {
        &self.root.der
    }

    /// Verifies an issuer chain whose leaf is directly under the root;
    /// returns the leaf and the validity windows.
    fn chain_to_root(
        &self,
        pem: &str,
        what: &str,
        root_crl: Option<&CrlInfo>,
    ) -> Result<(CertInfo, Vec<Window>), Error> {
        let ders = pem_certs(pem.as_bytes(), what)?;
        let mut certs = ders
            .iter()
            .map(|d| CertInfo::from_der(d, what))
            .collect::<Result<Vec<_>, _>>()?;
        if certs.len() > 2 {
            return Err(Error::Untrusted(format!(
                "{what}: {} certificates; expected the signer and the root",
                certs.len()
            )));
        }
        if let Some(r) = certs.get(1) {
            if r.der != self.root.der {
                return Err(Error::Untrusted(format!(
                    "{what}: ends at {} (not the pinned root)",
                    r.subject_text
                )));
            }
        }
        certs.truncate(1);
        let leaf = certs
            .pop()
            .ok_or_else(|| Error::Collateral(format!("{what}: empty")))?;
        leaf.verify_issued_by(&self.root, what)?;
        if let Some(crl) = root_crl {
            crl.check_not_revoked(&leaf, what)?;
        }
        let windows = vec![
            (
                format!("{what} certificate {}", leaf.subject_text),
                leaf.not_before,
                leaf.not_after,
            ),
            (
                format!("root certificate {}", self.root.subject_text),
                self.root.not_before,
                self.root.not_after,
            ),
        ];
        Ok((leaf, windows))
    }

    /// Verifies collateral once; cached by content hash. Time is not judged
    /// here: [`Self::verify_prepared`] checks the validity windows at its `at`.
    pub fn prepare(&self, c: &QuoteCollateralV3) -> Result<Arc<Prepared>, Error> {
        self.prepare_keyed(c, collateral_key(c))
    }

    /// [`Self::prepare`] with the content hash already known.
    fn prepare_keyed(&self, c: &QuoteCollateralV3, key: [u8; 32]) -> Result<Arc<Prepared>, Error> {
        if let Some(p) = lock(&self.prepared).get(&key) {
            return Ok(p.clone());
        }
        let p = Arc::new(self.prepare_uncached(c, key)?);
        let mut m = lock(&self.prepared);
        if m.len() >= CACHE_MAX {
            m.clear();
        }
        m.insert(key, p.clone());
        Ok(p)
    }

    fn prepare_uncached(&self, c: &QuoteCollateralV3, key: [u8; 32]) -> Result<Prepared, Error> {
        let mut windows = Vec::new();
        // Root CA CRL: signed by the root; it may list the root itself.
        let root_crl = CrlInfo::from_der(&c.root_ca_crl, "root CA CRL")?;
        root_crl.verify(&self.root, root_crl.this_update, "root CA CRL")?;
        root_crl.check_not_revoked(&self.root, "root certificate")?;
        windows.push((
            "root CA CRL".to_owned(),
            root_crl.this_update,
            root_crl.next_update.unwrap_or(i64::MAX),
        ));
        // PCK CRL: signed by a PCK CA whose chain ends at the root.
        let (pck_ca, w) =
            self.chain_to_root(&c.pck_crl_issuer_chain, "PCK CRL issuer", Some(&root_crl))?;
        if !PCK_CA_CNS.contains(&pck_ca.common_name().as_str()) {
            return Err(Error::Untrusted(format!(
                "PCK CRL issuer is {}, not an Intel PCK CA",
                pck_ca.subject_text
            )));
        }
        windows.extend(w);
        let pck_crl = CrlInfo::from_der(&c.pck_crl, "PCK CRL")?;
        pck_crl.verify(&pck_ca, pck_crl.this_update, "PCK CRL")?;
        windows.push((
            "PCK CRL".to_owned(),
            pck_crl.this_update,
            pck_crl.next_update.unwrap_or(i64::MAX),
        ));
        // TCB info and QE identity: signed by the TCB signing certificate.
        let (tcb_signer, w) =
            self.chain_to_root(&c.tcb_info_issuer_chain, "TCB info issuer", Some(&root_crl))?;
        if tcb_signer.common_name() != TCB_SIGNING_CN {
            return Err(Error::Untrusted(format!(
                "TCB info is signed by {}, not {TCB_SIGNING_CN}",
                tcb_signer.subject_text
            )));
        }
        windows.extend(w);
        if !verify_p256_fixed(
            &tcb_signer.public_key,
            c.tcb_info.as_bytes(),
            &c.tcb_info_signature,
        ) {
            return Err(Error::BadSignature(
                "TCB info signature does not verify with the TCB signing key".into(),
            ));
        }
        let mut tcb_info: TcbInfo = serde_json::from_str(&c.tcb_info)
            .map_err(|e| Error::Collateral(format!("TCB info JSON: {e}")))?;
        tcb::canonicalize(&mut tcb_info);
        windows.push((
            "TCB info".to_owned(),
            parse_time(&tcb_info.issue_date, "TCB info issueDate")?,
            parse_time(&tcb_info.next_update, "TCB info nextUpdate")?,
        ));
        let (qe_signer, w) = self.chain_to_root(
            &c.qe_identity_issuer_chain,
            "QE identity issuer",
            Some(&root_crl),
        )?;
        if qe_signer.common_name() != TCB_SIGNING_CN {
            return Err(Error::Untrusted(format!(
                "QE identity is signed by {}, not {TCB_SIGNING_CN}",
                qe_signer.subject_text
            )));
        }
        windows.extend(w);
        if !verify_p256_fixed(
            &qe_signer.public_key,
            c.qe_identity.as_bytes(),
            &c.qe_identity_signature,
        ) {
            return Err(Error::BadSignature(
                "QE identity signature does not verify with the TCB signing key".into(),
            ));
        }
        let qe_identity: QeIdentity = serde_json::from_str(&c.qe_identity)
            .map_err(|e| Error::Collateral(format!("QE identity JSON: {e}")))?;
        windows.push((
            "QE identity".to_owned(),
            parse_time(&qe_identity.issue_date, "QE identity issueDate")?,
            parse_time(&qe_identity.next_update, "QE identity nextUpdate")?,
        ));
        Ok(Prepared {
            key,
            tcb_info,
            qe_identity,
            pck_crl,
            root_crl,
            pck_ca,
            windows,
            pcks: Mutex::new(HashMap::new()),
        })
    }

    /// Verifies the quote's PCK chain to the root (without CRLs when `crls`
    /// is `None`) and reads the SGX extension.
    fn verify_pck_chain(&self, pem: &[u8], crls: Option<&Prepared>) -> Result<Pck, Error> {
        let ders = pem_certs(pem, "PCK certificate chain")?;
        let certs = ders
            .iter()
            .map(|d| CertInfo::from_der(d, "PCK certificate chain"))
            .collect::<Result<Vec<_>, _>>()?;
        let (leaf, ca) = match certs.as_slice() {
            [leaf, ca] => (leaf, ca),
            [leaf, ca, root] => {
                if root.der != self.root.der {
                    return Err(Error::Untrusted(format!(
                        "the quote's PCK chain ends at {} (SHA-256 {}), not the pinned root",
                        root.subject_text,
                        hex::encode(sha256_plain(&root.der))
                    )));
                }
                (leaf, ca)
            }
            other => {
                return Err(Error::Untrusted(format!(
                    "the quote's PCK chain has {} certificates; expected PCK, PCK CA and root",
                    other.len()
                )));
            }
        };
        if !PCK_CA_CNS.contains(&ca.common_name().as_str()) {
            return Err(Error::Untrusted(format!(
                "PCK issuer {} is not an Intel PCK CA",
                ca.subject_text
            )));
        }
        ca.verify_issued_by(&self.root, "PCK CA certificate")?;
        leaf.verify_issued_by(ca, "PCK certificate")?;
        if let Some(p) = crls {
            p.root_crl.check_not_revoked(ca, "PCK CA certificate")?;
            if p.pck_ca.subject != ca.subject || p.pck_ca.public_key != ca.public_key {
                return Err(Error::Untrusted(format!(
                    "the PCK CRL is issued by {}, but the PCK by {}: supply that CA's CRL",
                    p.pck_ca.subject_text, ca.subject_text
                )));
            }
            p.pck_crl.check_not_revoked(leaf, "PCK certificate")?;
        }
        let ext = dcap_qvl::intel::parse_pck_extension(&leaf.der)
            .map_err(|e| Error::Untrusted(format!("PCK certificate SGX extension: {e:#}")))?;
        Ok(Pck {
            key: leaf.public_key.clone(),
            fmspc: ext.fmspc,
            cpu_svn: ext.cpu_svn,
            pce_svn: ext.pce_svn,
            pce_id: ext.pce_id,
            windows: vec![
                (
                    format!("PCK certificate {}", leaf.subject_text),
                    leaf.not_before,
                    leaf.not_after,
                ),
                (
                    format!("PCK CA certificate {}", ca.subject_text),
                    ca.not_before,
                    ca.not_after,
                ),
                (
                    format!("root certificate {}", self.root.subject_text),
                    self.root.not_before,
                    self.root.not_after,
                ),
            ],
        })
    }

    fn pck_cached(&self, p: &Prepared, pem: &[u8], key: [u8; 32]) -> Result<Arc<Pck>, Error> {
        if let Some(v) = lock(&p.pcks).get(&key) {
            return Ok(v.clone());
        }
        let v = Arc::new(self.verify_pck_chain(pem, Some(p))?);
        let mut m = lock(&p.pcks);
        if m.len() >= CACHE_MAX {
            m.clear();
        }
        m.insert(key, v.clone());
        Ok(v)
    }

    /// The checks that need no collateral: QE vendor, QE report signature by
    /// the PCK, the attestation key's binding through the QE report data, and
    /// the quote signature.
    fn check_signatures(quote: &Quote<'_>, pck_key: &[u8]) -> Result<(), Error> {
        if quote.header.qe_vendor_id != INTEL_QE_VENDOR_ID {
            return Err(Error::Untrusted(format!(
                "QE vendor {} is not Intel",
                hex::encode(quote.header.qe_vendor_id)
            )));
        }
        if !verify_p256_fixed(pck_key, quote.qe_report_raw, &quote.qe_report_signature) {
            return Err(Error::BadSignature(
                "QE report signature does not verify with the PCK certificate's key".into(),
            ));
        }
        // Intel QVL compares the first 32 bytes of the QE report data with
        // SHA-256(attestation key || QE auth data), whatever the auth data's
        // length (dcap-qvl insists on 32 bytes).
        let mut h = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        h.update(&quote.attestation_key);
        h.update(quote.qe_auth_data);
        let h = h.finish();
        if quote.qe_report.report_data.get(..32) != Some(h.as_ref()) {
            return Err(Error::BadSignature(
                "QE report data does not bind the attestation key (SHA-256 mismatch)".into(),
            ));
        }
        if !verify_p256_fixed(
            &quote.attestation_key,
            quote.signed_bytes(),
            &quote.signature,
        ) {
            return Err(Error::BadSignature(
                "quote signature does not verify with the attestation key".into(),
            ));
        }
        Ok(())
    }

    /// Without collateral: signatures and the PCK chain to the root at `at`
    /// (no CRLs). Never a success: TCB status cannot be judged.
    pub fn verify_without_collateral(&self, quote: &Quote<'_>, at: i64) -> Error {
        let run = || -> Result<(), Error> {
            let pck = self.verify_pck_chain(quote.pck_chain_pem, None)?;
            check_windows(&pck.windows, at)?;
            Self::check_signatures(quote, &pck.key)
        };
        match run() {
            Ok(()) => Error::NoCollateral,
            Err(e) => e,
        }
    }

    /// Our path: a quote against prepared collateral at `at`. On a TCB
    /// rejection (Revoked) the verdict is returned with the error.
    pub fn verify_prepared(
        &self,
        quote: &Quote<'_>,
        p: &Prepared,
        at: i64,
    ) -> Result<Verdict, (Error, Option<Verdict>)> {
        self.verify_prepared_keyed(quote, p, at, sha256_plain(quote.pck_chain_pem))
    }

    /// [`Self::verify_prepared`] with the PCK chain's hash already known
    /// (hashing its 4 KB of PEM once per quote rather than three times).
    fn verify_prepared_keyed(
        &self,
        quote: &Quote<'_>,
        p: &Prepared,
        at: i64,
        pem_key: [u8; 32],
    ) -> Result<Verdict, (Error, Option<Verdict>)> {
        let no = |e| (e, None);
        check_windows(&p.windows, at).map_err(no)?;
        let pck = self
            .pck_cached(p, quote.pck_chain_pem, pem_key)
            .map_err(no)?;
        check_windows(&pck.windows, at).map_err(no)?;
        Self::check_signatures(quote, &pck.key).map_err(no)?;
        let td = match &quote.body {
            Body::Td(t) => Some(&**t),
            Body::Sgx(_) => None,
        };
        let qe = tcb::qe_status(&quote.qe_report, &p.qe_identity, td.is_some()).map_err(no)?;
        let fmspc = hex::decode(&p.tcb_info.fmspc)
            .map_err(|e| no(Error::Collateral(format!("TCB info fmspc: {e}"))))?;
        if fmspc != pck.fmspc {
            return Err(no(Error::Mismatch(format!(
                "the PCK's FMSPC {} is not the TCB info's {}: wrong TCB info for this platform",
                hex::encode(pck.fmspc),
                p.tcb_info.fmspc
            ))));
        }
        // Intel QVL checks PCE-ID too (dcap-qvl does not).
        let pce_id = hex::decode(&p.tcb_info.pce_id)
            .map_err(|e| no(Error::Collateral(format!("TCB info pceId: {e}"))))?;
        if pce_id != pck.pce_id {
            return Err(no(Error::Mismatch(format!(
                "the PCK's PCE-ID {} is not the TCB info's {}",
                hex::encode(&pck.pce_id),
                p.tcb_info.pce_id
            ))));
        }
        let platform = tcb::PlatformTcb {
            cpu_svn: pck.cpu_svn,
            pce_svn: pck.pce_svn,
        };
        let (launch, current) = tcb::platform_status(&p.tcb_info, &platform, td).map_err(no)?;
        let (f, current) = tcb::final_status(launch, current, &qe);
        let verdict = Verdict {
            tcb_status: f.status.to_string(),
            advisory_ids: f.advisory_ids,
        };
        if f.status == TcbStatus::Revoked || current == Some(TcbStatus::Revoked) {
            return Err((
                Error::Tcb("TCB status is Revoked".into()),
                Some(Verdict {
                    tcb_status: TcbStatus::Revoked.to_string(),
                    ..verdict
                }),
            ));
        }
        Ok(verdict)
    }

    /// dcap-qvl's verify with our pinned root.
    pub fn verify_dcap_qvl(
        &self,
        raw: &[u8],
        c: &QuoteCollateralV3,
        at: i64,
    ) -> Result<Verdict, String> {
        let at = u64::try_from(at).map_err(|_| "verification time before 1970".to_owned())?;
        dcap_qvl::verify::QuoteVerifier::new(self.root.der.clone())
            .allow_debug(true)
            .allow_service_td(true)
            .verify(raw, c, at)
            .map(|r| Verdict {
                tcb_status: r.status,
                advisory_ids: r.advisory_ids,
            })
            .map_err(|e| format!("{e:#}"))
    }

    /// The full check behind `rootline verify`.
    pub fn check(
        &self,
        raw: &[u8],
        collateral: &CollateralParts,
        at: i64,
        nonce: Option<&[u8]>,
    ) -> Checked {
        match Quote::parse(raw) {
            Ok(q) => self.check_quote(&q, collateral, at, nonce),
            Err(e) => Checked {
                claims: None,
                verdict: None,
                error: Some(e.into()),
                warnings: collateral.notes.clone(),
            },
        }
    }

    /// [`Verifier::check`] of a quote the caller already parsed (Azure's
    /// TD quote, which is parsed to compare it with the TDREPORT).
    pub fn check_quote(
        &self,
        quote: &Quote<'_>,
        collateral: &CollateralParts,
        at: i64,
        nonce: Option<&[u8]>,
    ) -> Checked {
        let mut out = Checked {
            claims: None,
            verdict: None,
            error: None,
            warnings: collateral.notes.clone(),
        };
        let mut claims = claims::from_quote(quote);
        if quote.trailing > 0 {
            out.warnings.push(format!(
                "{} unsigned bytes of padding after the quote's signature data were ignored",
                quote.trailing
            ));
        }
        for r in &collateral.roots {
            if *r != self.root.der {
                out.warnings.push(
                    "a root certificate in the collateral is not the pinned Intel SGX Root CA and was ignored"
                        .into(),
                );
            }
        }
        let pem_key = self.pem_key(quote.pck_chain_pem);
        let result = if collateral.is_empty() {
            Err(self.verify_without_collateral(quote, at))
        } else {
            match collateral.completed() {
                Err(e) => {
                    // Still check what can be checked: a broken quote is
                    // reported as broken, not as merely incomplete.
                    match self.verify_without_collateral(quote, at) {
                        Error::NoCollateral => Err(e),
                        other => Err(other),
                    }
                }
                Ok((c, key)) => self.check_both(quote, c, *key, pem_key, at, &mut out),
            }
        };
        // The nonce is judged once the signatures are known good: after a
        // full verification, and also when only the TCB could not be judged
        // (a wrong nonce is the more useful message then).
        let signatures_ok = matches!(
            result,
            Ok(_) | Err(Error::NoCollateral | Error::IncompleteCollateral(_))
        );
        let nonce_err = match nonce {
            Some(n) if signatures_ok => check_nonce(quote.report_data(), n).err(),
            Some(_) => None,
            None => {
                out.warnings
                    .push("no nonce given: freshness was not checked (pass --nonce)".into());
                None
            }
        };
        match (result, nonce_err) {
            (Ok(v), None) => out.verdict = Some(v),
            (Ok(v), Some(e)) => {
                out.verdict = Some(v);
                out.error = Some(e);
            }
            (Err(_), Some(e)) => out.error = Some(e),
            (Err(e), None) => out.error = Some(e),
        }
        let key = pem_key;
        let cached = lock(&self.fmspcs).get(&key).copied();
        let fmspc = match cached {
            Some(f) => f,
            None => {
                let f = pck_fmspc(quote);
                let mut m = lock(&self.fmspcs);
                if m.len() >= CACHE_MAX {
                    m.clear();
                }
                m.insert(key, f);
                f
            }
        };
        claims.fmspc = fmspc;
        out.claims = Some(claims);
        out
    }

    fn check_both(
        &self,
        quote: &Quote<'_>,
        c: &QuoteCollateralV3,
        collateral_key: [u8; 32],
        pem_key: [u8; 32],
        at: i64,
        out: &mut Checked,
    ) -> Result<Verdict, Error> {
        let prepared = self.prepare_keyed(c, collateral_key).map_err(|e| (e, None));
        let ours = prepared
            .as_ref()
            .map_err(Clone::clone)
            .and_then(|p| self.verify_prepared_keyed(quote, p, at, pem_key));
        // dcap-qvl's second opinion is asked once per distinct set of
        // inputs its verdict depends on (see `agreement_key`): a fleet of
        // one image asks it once, not once per session, and the fast path
        // still checks every signature of every quote. A verdict of ours
        // that differs from the agreed one asks it again.
        let key = match (&prepared, &ours) {
            (Ok(p), Ok(_)) => Some(agreement_key(p, quote, &pem_key)),
            _ => None,
        };
        if let (Some(k), Ok(a)) = (&key, &ours) {
            if let Some((v, warnings)) = lock(&self.agreed).get(k) {
                if v == a {
                    out.warnings.extend(warnings.iter().cloned());
                    return Ok(a.clone());
                }
            }
        }
        let warned = out.warnings.len();
        let theirs = self.verify_dcap_qvl(quote.raw, c, at);
        let result = self.compare(quote, ours, theirs, out);
        if let (Some(k), Ok(v)) = (key, &result) {
            let mut m = lock(&self.agreed);
            if m.len() >= CACHE_MAX {
                m.clear();
            }
            m.insert(
                k,
                (
                    v.clone(),
                    out.warnings.get(warned..).unwrap_or_default().to_vec(),
                ),
            );
        }
        result
    }

    /// The hash of a PCK chain, from the last one seen when it is the same.
    fn pem_key(&self, pem: &[u8]) -> [u8; 32] {
        let mut last = lock(&self.last_pem);
        if let Some((p, k)) = last.as_ref() {
            if p.as_slice() == pem {
                return *k;
            }
        }
        let k = sha256_plain(pem);
        *last = Some((pem.to_vec(), k));
        k
    }

    /// Our verdict against dcap-qvl's.
    fn compare(
        &self,
        quote: &Quote<'_>,
        ours: Result<Verdict, (Error, Option<Verdict>)>,
        theirs: Result<Verdict, String>,
        out: &mut Checked,
    ) -> Result<Verdict, Error> {
        match (ours, theirs) {
            (Ok(a), Ok(b)) if a == b => Ok(a),
            (Ok(a), Ok(b)) => Err(Error::Disagree(format!(
                "dcap-qvl says {} {:?}, rootline says {} {:?}",
                b.tcb_status, b.advisory_ids, a.tcb_status, a.advisory_ids
            ))),
            (Err((e, v)), Err(msg)) => {
                out.verdict = v;
                out.warnings.push(format!("dcap-qvl also rejects: {msg}"));
                Err(e)
            }
            (Ok(a), Err(msg)) => match td_attribute_departure(quote, &msg) {
                Some(why) => {
                    out.warnings.push(format!(
                        "dcap-qvl rejects this TD ({msg}); Intel's QVL leaves TD attributes to appraisal policy, so it is accepted here: {why}"
                    ));
                    Ok(a)
                }
                None if msg.contains("Invalid QE auth data length") => {
                    out.warnings.push(format!(
                        "dcap-qvl rejects QE authentication data of {} bytes; Intel's QVL accepts any length",
                        quote.qe_auth_data.len()
                    ));
                    Ok(a)
                }
                None => Err(Error::Disagree(format!(
                    "dcap-qvl rejects ({msg}) but rootline accepts ({})",
                    a.tcb_status
                ))),
            },
            (Err((e, v)), Ok(b)) => {
                out.verdict = v;
                Err(match e {
                    // Intel checks PCE-ID; dcap-qvl does not.
                    Error::Mismatch(ref m) if m.contains("PCE-ID") => e,
                    other => Error::Disagree(format!(
                        "rootline rejects ({other}) but dcap-qvl accepts ({})",
                        b.tcb_status
                    )),
                })
            }
        }
    }
}

fn sha256_plain(b: &[u8]) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// FMSPC from the quote's PCK certificate (a claim even when unverified).
fn pck_fmspc(quote: &Quote<'_>) -> Option<[u8; 6]> {
    let ders = pem_certs(quote.pck_chain_pem, "PCK certificate chain").ok()?;
    let leaf = ders.first()?;
    let ext = dcap_qvl::intel::parse_pck_extension(leaf).ok()?;
    Some(ext.fmspc)
}

/// When dcap-qvl's rejection is one of its TD attribute rules and the quote
/// indeed has that attribute, the reason (else `None`).
fn td_attribute_departure(quote: &Quote<'_>, msg: &str) -> Option<&'static str> {
    let Body::Td(td) = &quote.body else {
        return None;
    };
    if msg.contains("TD migration is enabled") && td.migratable() {
        return Some("td_attributes.MIGRATABLE is set");
    }
    if msg.contains("SEPT_VE_DISABLE is not enabled") && !td.sept_ve_disable() {
        return Some("td_attributes.SEPT_VE_DISABLE is clear");
    }
    if msg.contains("Reserved bits in TD attributes are set") {
        return Some("reserved td_attributes bits are set");
    }
    None
}

/// The report data must be the nonce, zero-padded to 64 bytes.
pub fn check_nonce(report_data: &[u8; 64], nonce: &[u8]) -> Result<(), Error> {
    if nonce.len() > 64 {
        return Err(Error::Nonce(format!(
            "the nonce is {} bytes; report_data holds 64",
            nonce.len()
        )));
    }
    let mut want = [0u8; 64];
    if let Some(dst) = want.get_mut(..nonce.len()) {
        dst.copy_from_slice(nonce);
    }
    if want != *report_data {
        return Err(Error::Nonce(format!(
            "report_data is {}, expected {}",
            hex::encode(report_data),
            hex::encode(want)
        )));
    }
    Ok(())
}

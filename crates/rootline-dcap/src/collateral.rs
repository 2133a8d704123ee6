//! Collateral files, recognised by content, assembled into dcap-qvl's
//! `QuoteCollateralV3`.
//!
//! Accepted: dcap-qvl collateral JSON (PCS objects as they are); Intel PCS
//! responses `{"tcbInfo":...,"signature":...}` and
//! `{"enclaveIdentity":...,"signature":...}` (the signed text is the exact
//! substring PCS sent, so it is taken raw, never re-serialised); CRLs in DER
//! or PEM (root CA CRL or PCK CRL, told apart by issuer); PEM issuer chains
//! (TCB signing chain or PCK CA chain, told apart by the leaf's name). A root
//! certificate handed as collateral is never trusted: it is only compared with
//! the pinned root.

use dcap_qvl::QuoteCollateralV3;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::Error;
use crate::pki::{CertInfo, CrlInfo, pem_certs};

/// CN of Intel's root CA.
pub const ROOT_CN: &str = "Intel SGX Root CA";
/// CN of the certificate that signs TCB info and QE identity.
pub const TCB_SIGNING_CN: &str = "Intel SGX TCB Signing";
/// CNs of the two PCK CAs.
pub const PCK_CA_CNS: [&str; 2] = ["Intel SGX PCK Platform CA", "Intel SGX PCK Processor CA"];

/// Collateral gathered from files; any part may be missing.
#[derive(Debug, Clone, Default)]
pub struct CollateralParts {
    /// PEM chain of the PCK CRL issuer.
    pub pck_crl_issuer_chain: Option<String>,
    /// Root CA CRL, DER.
    pub root_ca_crl: Option<Vec<u8>>,
    /// PCK CRL, DER.
    pub pck_crl: Option<Vec<u8>>,
    /// PEM chain of the TCB info signer.
    pub tcb_info_issuer_chain: Option<String>,
    /// The signed TCB info JSON text.
    pub tcb_info: Option<String>,
    /// Its signature (r||s).
    pub tcb_info_signature: Option<Vec<u8>>,
    /// PEM chain of the QE identity signer.
    pub qe_identity_issuer_chain: Option<String>,
    /// The signed QE identity JSON text.
    pub qe_identity: Option<String>,
    /// Its signature (r||s).
    pub qe_identity_signature: Option<Vec<u8>>,
    /// Root certificates that were supplied (compared with the pinned root).
    pub roots: Vec<Vec<u8>>,
    /// Things a person should know about what was ignored.
    pub notes: Vec<String>,
    /// [`Self::complete`]'s answer and the collateral's content hash, made
    /// once: a caller that keeps the parts (a server) pays neither the
    /// copies nor the hashing again. Reset by [`Self::add`].
    completed: std::sync::OnceLock<Result<Completed, Error>>,
}

/// The complete collateral and its content hash.
type Completed = (std::sync::Arc<QuoteCollateralV3>, [u8; 32]);

#[derive(Deserialize)]
struct SignedTcbInfo<'a> {
    #[serde(rename = "tcbInfo", borrow)]
    tcb_info: &'a RawValue,
    signature: String,
}

#[derive(Deserialize)]
struct SignedQeIdentity<'a> {
    #[serde(rename = "enclaveIdentity", alias = "qeIdentity", borrow)]
    identity: &'a RawValue,
    signature: String,
}

impl CollateralParts {
    /// True when nothing was supplied.
    pub fn is_empty(&self) -> bool {
        self.pck_crl_issuer_chain.is_none()
            && self.root_ca_crl.is_none()
            && self.pck_crl.is_none()
            && self.tcb_info_issuer_chain.is_none()
            && self.tcb_info.is_none()
            && self.qe_identity_issuer_chain.is_none()
            && self.qe_identity.is_none()
    }

    /// The complete collateral and its content hash, computed once.
    pub(crate) fn completed(&self) -> Result<&Completed, Error> {
        self.completed
            .get_or_init(|| {
                let c = self.complete()?;
                let key = crate::engine::collateral_key(&c);
                Ok((std::sync::Arc::new(c), key))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Adds one file.
    pub fn add(&mut self, origin: &str, bytes: &[u8]) -> Result<(), Error> {
        self.completed = std::sync::OnceLock::new();
        let text = std::str::from_utf8(bytes).ok();
        let trimmed = text.map(str::trim_start);
        if let Some(t) = trimmed.filter(|t| t.starts_with('{')) {
            return self.add_json(origin, t);
        }
        if let Some(t) = text.filter(|t| t.contains("-----BEGIN")) {
            if t.contains("-----BEGIN X509 CRL-----") {
                for p in x509_parser::pem::Pem::iter_from_buffer(t.as_bytes()) {
                    let p = p.map_err(|e| Error::Collateral(format!("{origin}: bad PEM: {e}")))?;
                    if p.label == "X509 CRL" {
                        self.add_crl(origin, &p.contents)?;
                    }
                }
                return Ok(());
            }
            return self.add_chain(origin, t);
        }
        if bytes.first() == Some(&0x30) {
            if let Ok(crl) = CrlInfo::from_der(bytes, origin) {
                let _ = crl;
                return self.add_crl(origin, bytes);
            }
            let cert = CertInfo::from_der(bytes, origin)?;
            return self.add_cert_der(origin, cert);
        }
        // Hex text of a DER CRL or certificate (as PCS and dcap-qvl print them).
        if let Some(der) = text.and_then(|t| rootline_core::from_hex(t).ok()) {
            if der.first() == Some(&0x30) {
                return self.add(origin, &der);
            }
        }
        Err(Error::Collateral(format!(
            "{origin}: not recognised as DCAP collateral (dcap-qvl JSON, PCS TCB info or QE identity JSON, CRL, PEM chain)"
        )))
    }

    fn add_json(&mut self, origin: &str, t: &str) -> Result<(), Error> {
        let v: serde_json::Value = serde_json::from_str(t)
            .map_err(|e| Error::Collateral(format!("{origin}: invalid JSON: {e}")))?;
        if v.get("tcb_info_issuer_chain").is_some() {
            let c: QuoteCollateralV3 = serde_json::from_str(t).map_err(|e| {
                Error::Collateral(format!("{origin}: not dcap-qvl collateral JSON: {e}"))
            })?;
            self.pck_crl_issuer_chain = Some(c.pck_crl_issuer_chain);
            self.root_ca_crl = Some(c.root_ca_crl);
            self.pck_crl = Some(c.pck_crl);
            self.tcb_info_issuer_chain = Some(c.tcb_info_issuer_chain);
            self.tcb_info = Some(c.tcb_info);
            self.tcb_info_signature = Some(c.tcb_info_signature);
            self.qe_identity_issuer_chain = Some(c.qe_identity_issuer_chain);
            self.qe_identity = Some(c.qe_identity);
            self.qe_identity_signature = Some(c.qe_identity_signature);
            if c.pck_certificate_chain.is_some() {
                // The PCK chain we verify is the one the quote carries.
                self.notes.push(format!(
                    "{origin}: pck_certificate_chain ignored; the quote's own PCK chain is verified"
                ));
            }
            return Ok(());
        }
        if v.get("tcbInfo").is_some() {
            let s: SignedTcbInfo<'_> = serde_json::from_str(t).map_err(|e| {
                Error::Collateral(format!("{origin}: not a PCS TCB info response: {e}"))
            })?;
            self.tcb_info = Some(s.tcb_info.get().to_owned());
            self.tcb_info_signature = Some(sig_hex(origin, &s.signature)?);
            return Ok(());
        }
        if v.get("enclaveIdentity").is_some() || v.get("qeIdentity").is_some() {
            let s: SignedQeIdentity<'_> = serde_json::from_str(t).map_err(|e| {
                Error::Collateral(format!("{origin}: not a PCS QE identity response: {e}"))
            })?;
            self.qe_identity = Some(s.identity.get().to_owned());
            self.qe_identity_signature = Some(sig_hex(origin, &s.signature)?);
            return Ok(());
        }
        Err(Error::Collateral(format!(
            "{origin}: JSON is neither dcap-qvl collateral nor a PCS TCB info or QE identity response"
        )))
    }

    fn add_crl(&mut self, origin: &str, der: &[u8]) -> Result<(), Error> {
        let crl = CrlInfo::from_der(der, origin)?;
        let cn = crl_issuer_cn(&crl);
        if cn == ROOT_CN {
            self.root_ca_crl = Some(der.to_vec());
        } else if PCK_CA_CNS.contains(&cn.as_str()) {
            self.pck_crl = Some(der.to_vec());
        } else {
            return Err(Error::Collateral(format!(
                "{origin}: CRL issued by {:?}, neither {ROOT_CN:?} nor a PCK CA",
                crl.issuer_text
            )));
        }
        Ok(())
    }

    fn add_chain(&mut self, origin: &str, pem: &str) -> Result<(), Error> {
        let ders = pem_certs(pem.as_bytes(), origin)?;
        let mut certs = Vec::new();
        for d in &ders {
            certs.push(CertInfo::from_der(d, origin)?);
        }
        let Some(leaf) = certs.first() else {
            return Err(Error::Collateral(format!("{origin}: no certificate")));
        };
        let cn = leaf.common_name();
        if cn == TCB_SIGNING_CN {
            self.tcb_info_issuer_chain = Some(pem.to_owned());
            self.qe_identity_issuer_chain = Some(pem.to_owned());
        } else if PCK_CA_CNS.contains(&cn.as_str()) {
            self.pck_crl_issuer_chain = Some(pem.to_owned());
        } else if cn == ROOT_CN && certs.len() == 1 {
            self.roots.push(leaf.der.clone());
        } else {
            self.notes.push(format!(
                "{origin}: certificate chain for {cn:?} ignored (the PCK chain comes from the quote)"
            ));
        }
        Ok(())
    }

    fn add_cert_der(&mut self, origin: &str, cert: CertInfo) -> Result<(), Error> {
        if cert.common_name() == ROOT_CN && cert.subject == cert.issuer {
            self.roots.push(cert.der);
        } else {
            self.notes.push(format!(
                "{origin}: certificate {} ignored: single certificates are not DCAP collateral",
                cert.subject_text
            ));
        }
        Ok(())
    }

    /// Missing parts by name.
    pub fn missing(&self) -> Vec<&'static str> {
        let mut m = Vec::new();
        if self.tcb_info.is_none() {
            m.push("tcb info");
        }
        if self.tcb_info_issuer_chain.is_none() {
            m.push("tcb info issuer chain");
        }
        if self.qe_identity.is_none() {
            m.push("qe identity");
        }
        if self.qe_identity_issuer_chain.is_none() {
            m.push("qe identity issuer chain");
        }
        if self.root_ca_crl.is_none() {
            m.push("root ca crl");
        }
        if self.pck_crl.is_none() {
            m.push("pck crl");
        }
        if self.pck_crl_issuer_chain.is_none() {
            m.push("pck crl issuer chain");
        }
        m
    }

    /// The complete collateral, or the names of what is missing.
    pub fn complete(&self) -> Result<QuoteCollateralV3, Error> {
        let missing = self.missing();
        match (
            &self.pck_crl_issuer_chain,
            &self.root_ca_crl,
            &self.pck_crl,
            &self.tcb_info_issuer_chain,
            &self.tcb_info,
            &self.tcb_info_signature,
            &self.qe_identity_issuer_chain,
            &self.qe_identity,
            &self.qe_identity_signature,
        ) {
            (Some(a), Some(b), Some(c), Some(d), Some(e), Some(f), Some(g), Some(h), Some(i)) => {
                Ok(QuoteCollateralV3 {
                    pck_crl_issuer_chain: a.clone(),
                    root_ca_crl: b.clone(),
                    pck_crl: c.clone(),
                    tcb_info_issuer_chain: d.clone(),
                    tcb_info: e.clone(),
                    tcb_info_signature: f.clone(),
                    qe_identity_issuer_chain: g.clone(),
                    qe_identity: h.clone(),
                    qe_identity_signature: i.clone(),
                    pck_certificate_chain: None,
                })
            }
            _ => Err(Error::IncompleteCollateral(missing.join(", "))),
        }
    }
}

fn crl_issuer_cn(crl: &CrlInfo) -> String {
    use x509_parser::prelude::{FromDer, X509Name};
    X509Name::from_der(&crl.issuer)
        .ok()
        .and_then(|(_, n)| {
            n.iter_common_name()
                .next()
                .and_then(|c| c.as_str().ok().map(str::to_owned))
        })
        .unwrap_or_default()
}

fn sig_hex(origin: &str, s: &str) -> Result<Vec<u8>, Error> {
    let sig = hex::decode(s)
        .map_err(|e| Error::Collateral(format!("{origin}: signature is not hex: {e}")))?;
    if sig.len() != 64 {
        return Err(Error::Collateral(format!(
            "{origin}: signature is {} bytes, expected 64 (r||s)",
            sig.len()
        )));
    }
    Ok(sig)
}

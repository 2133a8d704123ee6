//! What collateral a quote still needs, and the fields to ask Intel PCS (or
//! a PCCS) for it.
//!
//! The verifier never fetches; a caller that can (the `rootline` binary)
//! asks [`needs`] for the FMSPC and the PCK CA type read from the quote's own
//! PCK certificate, and which parts of the collateral are missing.

use x509_parser::prelude::{FromDer, X509Certificate};

use crate::Error;
use crate::collateral::CollateralParts;
use crate::pki::pem_certs;
use crate::quote::Quote;

/// Which PCK CA issued the PCK certificate (the PCS `ca` parameter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PckCa {
    /// Intel SGX PCK Processor CA.
    Processor,
    /// Intel SGX PCK Platform CA.
    Platform,
}

impl PckCa {
    /// The PCS `ca` query value.
    pub fn name(self) -> &'static str {
        match self {
            Self::Processor => "processor",
            Self::Platform => "platform",
        }
    }
}

/// What a quote's verification still lacks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Needs {
    /// TDX (true) or SGX quote: which PCS TCB info and QE identity apply.
    pub tdx: bool,
    /// FMSPC from the PCK certificate's SGX extensions.
    pub fmspc: [u8; 6],
    /// The PCK certificate's issuer.
    pub ca: PckCa,
    /// TCB info or its issuer chain is missing.
    pub tcb_info: bool,
    /// QE identity or its issuer chain is missing.
    pub qe_identity: bool,
    /// The PCK CRL or its issuer chain is missing.
    pub pck_crl: bool,
    /// The root CA CRL is missing.
    pub root_ca_crl: bool,
}

impl Needs {
    /// FMSPC in upper-case hex, as PCS URLs show it.
    pub fn fmspc_hex(&self) -> String {
        hex::encode_upper(self.fmspc)
    }

    /// True when nothing is missing.
    pub fn is_empty(&self) -> bool {
        !(self.tcb_info || self.qe_identity || self.pck_crl || self.root_ca_crl)
    }
}

/// What the raw `quote` still needs beyond `parts`. Fails when the quote
/// does not parse or carries no PCK certificate chain (certification data
/// type 5), since then neither FMSPC nor CA can be known.
pub fn needs(quote: &[u8], parts: &CollateralParts) -> Result<Needs, Error> {
    let q = Quote::parse(quote)?;
    let ders = pem_certs(q.pck_chain_pem, "PCK certificate chain")?;
    let leaf = ders.first().ok_or_else(|| {
        Error::Collateral("the quote carries no PCK certificate: FMSPC unknown".into())
    })?;
    let ext = dcap_qvl::intel::parse_pck_extension(leaf)
        .map_err(|e| Error::Collateral(format!("PCK certificate SGX extensions: {e}")))?;
    let (_, x) = X509Certificate::from_der(leaf)
        .map_err(|e| Error::Collateral(format!("PCK certificate: {e}")))?;
    let issuer = x
        .issuer()
        .iter_common_name()
        .next()
        .and_then(|c| c.as_str().ok())
        .unwrap_or_default();
    let ca = match issuer {
        "Intel SGX PCK Processor CA" => PckCa::Processor,
        "Intel SGX PCK Platform CA" => PckCa::Platform,
        other => {
            return Err(Error::Untrusted(format!(
                "PCK certificate issued by {other:?}, not an Intel SGX PCK CA"
            )));
        }
    };
    let fmspc: [u8; 6] = ext.fmspc;
    Ok(Needs {
        tdx: q.is_tdx(),
        fmspc,
        ca,
        tcb_info: parts.tcb_info.is_none() || parts.tcb_info_issuer_chain.is_none(),
        qe_identity: parts.qe_identity.is_none() || parts.qe_identity_issuer_chain.is_none(),
        pck_crl: parts.pck_crl.is_none() || parts.pck_crl_issuer_chain.is_none(),
        root_ca_crl: parts.root_ca_crl.is_none(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn tdx_quote_names_its_fmspc_and_ca() {
        let (Some(q), Some(c)) = (
            rootline_testkit::vector("tdx/dcap-qvl/tdx_quote"),
            rootline_testkit::vector("tdx/dcap-qvl/tdx_quote_collateral.json"),
        ) else {
            return;
        };
        let q = std::fs::read(q).unwrap();
        let n = needs(&q, &CollateralParts::default()).unwrap();
        assert!(n.tdx);
        // expected.json: fmspc b0c06f000000.
        assert_eq!(n.fmspc_hex(), "B0C06F000000");
        assert_eq!(n.ca, PckCa::Platform);
        assert!(n.tcb_info && n.qe_identity && n.pck_crl && n.root_ca_crl);
        let mut parts = CollateralParts::default();
        parts.add("collateral", &std::fs::read(c).unwrap()).unwrap();
        assert!(needs(&q, &parts).unwrap().is_empty());
    }

    #[test]
    fn sgx_quote_is_not_tdx() {
        let Some(q) = rootline_testkit::vector("sgx/dcap-qvl/sgx_quote") else {
            return;
        };
        let n = needs(&std::fs::read(q).unwrap(), &CollateralParts::default()).unwrap();
        assert!(!n.tdx);
    }
}

//! One interface over every evidence source: given the report data (the
//! hash that binds the broker's nonce and the workload's key), produce the
//! `primary_evidence` JSON the broker verifies, under the KBS `tee` name the
//! broker dispatches on.

use std::path::PathBuf;

use rootline_core::HashAlg;
use serde_json::Value;

use crate::Error;
use crate::tpm::{KeyAlg, Tcti, Tpm};

/// An evidence source.
pub trait Attester: Send {
    /// The KBS `tee` name (`tpm`, `snp`, `tdx`, `rootline-sim`).
    fn tee(&self) -> &str;
    /// Evidence whose report data (or TPM qualifying data) is `report_data`,
    /// in the richest form a rootline broker reads.
    fn evidence(&mut self, report_data: &[u8]) -> Result<Value, Error>;

    /// The same evidence in the form guest-components' attesters send, for
    /// a broker that is not rootline (Trustee's KBS reads only those).
    /// Kinds whose rootline form is already that form keep the default.
    fn guest_components_evidence(&mut self, report_data: &[u8]) -> Result<Value, Error> {
        self.evidence(report_data)
    }
}

/// Trustee's unsigned `sample` TEE, as guest-components' sample attester
/// makes it: `{"svn": "1", "report_data": base64}`. INSECURE: nothing signs
/// it; only for exercising a broker that runs in insecure test mode (a
/// Trustee KBS accepts it; rootline only with `insecure_sample_tee`).
#[derive(Debug, Clone, Copy, Default)]
pub struct SampleAttester;

impl Attester for SampleAttester {
    fn tee(&self) -> &str {
        "sample"
    }

    fn evidence(&mut self, report_data: &[u8]) -> Result<Value, Error> {
        use base64::Engine as _;
        Ok(serde_json::json!({
            "svn": "1",
            "report_data": base64::engine::general_purpose::STANDARD.encode(report_data),
        }))
    }
}

/// The TPM as an evidence source: EK from the default template, an AK
/// loaded from `ak_dir` when it holds one (else created, and saved there
/// when a directory is given), one quote per bank, the firmware event log
/// when the kernel exposes it (or `eventlog` names a file).
#[derive(Debug, Clone)]
pub struct TpmAttester {
    /// Where the TPM is.
    pub tcti: Tcti,
    /// EK and AK algorithm.
    pub alg: KeyAlg,
    /// PCRs quoted, per bank.
    pub selection: Vec<(HashAlg, Vec<u8>)>,
    /// The event log to send; `None` reads the kernel's when present.
    pub eventlog: Option<PathBuf>,
    /// Keeps the AK (`ak.pub`, `ak.priv`) across runs, so its identity is stable.
    pub ak_dir: Option<PathBuf>,
}

impl TpmAttester {
    /// A TPM attester with the default selection (SHA-256 PCRs 0-9 and 14).
    pub fn new(tcti: Tcti) -> Self {
        Self {
            tcti,
            alg: KeyAlg::EccP256,
            selection: crate::tpm_evidence::default_selection(),
            eventlog: None,
            ak_dir: None,
        }
    }
}

impl Attester for TpmAttester {
    fn tee(&self) -> &str {
        "tpm"
    }

    fn evidence(&mut self, report_data: &[u8]) -> Result<Value, Error> {
        let mut tpm = Tpm::open(&self.tcti)?;
        let ek = tpm.create_ek(self.alg)?;
        let saved = self.ak_dir.as_ref().and_then(|d| {
            let p = std::fs::read(d.join("ak.pub")).ok()?;
            let s = std::fs::read(d.join("ak.priv")).ok()?;
            Some((p, s))
        });
        let ak = match saved {
            Some((p, s)) => tpm.load_ak(&ek, self.alg, &p, &s)?,
            None => {
                let ak = tpm.create_ak(&ek, self.alg)?;
                if let Some(d) = &self.ak_dir {
                    std::fs::create_dir_all(d).map_err(Error::io(d.display()))?;
                    for (name, bytes) in [("ak.pub", &ak.public), ("ak.priv", &ak.private)] {
                        let p = d.join(name);
                        std::fs::write(&p, bytes).map_err(Error::io(p.display()))?;
                    }
                }
                ak
            }
        };
        let log = match &self.eventlog {
            Some(p) => Some(std::fs::read(p).map_err(Error::io(p.display()))?),
            None => crate::tpm::read_event_log(std::path::Path::new(crate::tpm::BIOS_EVENT_LOG))?,
        };
        let out = crate::tpm_evidence::collect(
            &mut tpm,
            &ak,
            &self.selection,
            report_data,
            log.as_deref(),
        );
        let _ = tpm.flush_ak(ak);
        let _ = tpm.flush_ek(ek);
        out
    }

    /// guest-components' TPM evidence: an RSA-2048 AK (Trustee's verifier
    /// takes only RSASSA), all 24 SHA-256 PCRs, the report data cut to 32
    /// bytes as qualifying data. A fresh AK each time: `ak_dir` keeps the
    /// rootline form's AK, whose algorithm may differ.
    fn guest_components_evidence(&mut self, report_data: &[u8]) -> Result<Value, Error> {
        let mut tpm = Tpm::open(&self.tcti)?;
        let ek = tpm.create_ek(KeyAlg::Rsa2048)?;
        let ak = tpm.create_ak(&ek, KeyAlg::Rsa2048)?;
        let out = crate::tpm_evidence::collect_guest_components(&mut tpm, &ak, report_data);
        let _ = tpm.flush_ak(ak);
        let _ = tpm.flush_ek(ek);
        out
    }
}

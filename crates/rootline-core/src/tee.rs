//! The kinds of evidence rootline verifies, spelled as the command line and
//! the KBS protocol (`kbs-types`) spell them.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// A kind of trusted execution environment or root of trust.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum TeeKind {
    /// AMD SEV-SNP attestation report.
    Snp,
    /// Intel TDX DCAP quote.
    Tdx,
    /// Intel SGX DCAP quote.
    Sgx,
    /// TPM 2.0 quote with event log.
    Tpm,
    /// Azure confidential VM on SNP: HCL report plus vTPM quote.
    AzureSnp,
    /// Azure confidential VM on TDX: HCL report plus vTPM quote.
    AzureTdx,
    /// Arm CCA attestation token.
    Cca,
    /// NVIDIA GPU SPDM evidence.
    Nvidia,
    /// IBM Z Secure Execution: the Ultravisor's answer to an attestation
    /// request (guest-components' and Trustee's `se`).
    Se,
}

impl TeeKind {
    /// Every kind, in the order `--help` lists them.
    pub const ALL: [Self; 9] = [
        Self::Snp,
        Self::Tdx,
        Self::Sgx,
        Self::Tpm,
        Self::AzureSnp,
        Self::AzureTdx,
        Self::Cca,
        Self::Nvidia,
        Self::Se,
    ];

    /// The command-line spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Snp => "snp",
            Self::Tdx => "tdx",
            Self::Sgx => "sgx",
            Self::Tpm => "tpm",
            Self::AzureSnp => "azure-snp",
            Self::AzureTdx => "azure-tdx",
            Self::Cca => "cca",
            Self::Nvidia => "nvidia",
            Self::Se => "se",
        }
    }
}

impl fmt::Display for TeeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown TEE name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown tee kind {0:?}; expected one of snp, tdx, sgx, tpm, azure-snp, azure-tdx, cca, nvidia, se"
)]
pub struct UnknownTee(pub String);

impl FromStr for TeeKind {
    type Err = UnknownTee;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Also accept the kbs-types spellings of the Azure kinds.
        Ok(match s.to_ascii_lowercase().as_str() {
            "snp" => Self::Snp,
            "tdx" => Self::Tdx,
            "sgx" => Self::Sgx,
            "tpm" => Self::Tpm,
            "azure-snp" | "az-snp-vtpm" => Self::AzureSnp,
            "azure-tdx" | "az-tdx-vtpm" => Self::AzureTdx,
            "cca" => Self::Cca,
            "nvidia" => Self::Nvidia,
            "se" => Self::Se,
            _ => return Err(UnknownTee(s.to_owned())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_names() {
        for k in TeeKind::ALL {
            assert_eq!(k.as_str().parse::<TeeKind>().unwrap(), k);
        }
        assert_eq!("az-snp-vtpm".parse::<TeeKind>().unwrap(), TeeKind::AzureSnp);
        assert!("sample".parse::<TeeKind>().is_err());
    }
}

//! Broker configuration: what a TOML file may say, with safe defaults.
//!
//! The binary layers it (defaults, the TOML file, `ROOTLINE_*` environment,
//! flags); this module only defines the settings and their defaults. Secret
//! values never live here: the KEK, the admin key and the token key are named
//! by path (or read from the environment by the binary), so printing a
//! `Config` never prints a secret.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Every setting of `rootline serve`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub listen: String,
    /// Directory for the embedded SQLite database and a generated KEK.
    pub data_dir: PathBuf,
    /// `sqlite://...` or `postgres://...`; SQLite in `data_dir` when absent.
    pub database_url: Option<String>,
    /// File holding the key-encryption key (32 raw bytes, 64 hex digits or
    /// base64). The binary also reads `ROOTLINE_KEK`.
    pub kek_file: Option<PathBuf>,
    /// SQLite only: sync the write-ahead log on every commit. Off (the
    /// default), a killed broker loses no committed write but a power loss
    /// may roll back the last ones; on, each handshake pays two syncs.
    pub sqlite_full_sync: bool,
    /// Challenge (session) lifetime in seconds.
    pub session_ttl_secs: u64,
    /// Attestation token lifetime in seconds.
    pub token_ttl_secs: u64,
    /// Mark cookies `Secure` (turn off only for plain-HTTP tests on loopback).
    pub secure_cookies: bool,
    /// INSECURE: accept Trustee's unsigned `sample` TEE evidence. For
    /// exercising Confidential Containers' client tools on machines without a
    /// TEE; every token this yields is marked.
    pub insecure_sample_tee: bool,
    /// Public keys (hex SEC1 P-384) of simulated-TEE roots to trust. Empty:
    /// simulated evidence is refused.
    pub sim_roots: Vec<String>,
    /// Collateral files handed to the verifier (certificates, CRLs, TCB info).
    pub collateral: Vec<PathBuf>,
    /// Consent to fetch what evidence needs beyond what the guest and the
    /// `collateral` files give (a chip's VCEK, CRLs, TCB info, QE identity)
    /// from AMD KDS and Intel PCS, their public hosts, and OCSP responses
    /// for NVIDIA GPUs from NVIDIA's responder. Off (the default), only a
    /// `kds_url`, `pcs_url` or `nvidia_ocsp_url` named here is contacted.
    pub fetch: bool,
    /// AMD Key Distribution Service base URL (a mirror, or a test's); naming
    /// one consents to fetching from it.
    pub kds_url: Option<String>,
    /// Intel PCS base URL, or a PCCS's; naming one consents to fetching from it.
    pub pcs_url: Option<String>,
    /// NVIDIA OCSP responder URL (a mirror, or a test's) for GPU device and
    /// RIM signing chains; naming one consents to asking it. With `fetch`
    /// alone, NVIDIA's (`https://ocsp.ndis.nvidia.com`) is asked.
    pub nvidia_ocsp_url: Option<String>,
    /// Never fetch, whatever else says: the `collateral` files, the on-disk
    /// cache and the replicas' shared cache only (an air-gapped broker,
    /// seeded with `rootline collateral import`).
    pub collateral_offline: bool,
    /// Where fetched collateral is cached on disk [default: data_dir/collateral].
    pub collateral_cache_dir: Option<PathBuf>,
    /// Hours before a CRL's, TCB info's or QE identity's nextUpdate at which
    /// it is fetched again (the cached copy serves until it expires if the
    /// vendor cannot be reached).
    pub collateral_refresh_hours: u64,
    /// Seconds one collateral download may take.
    pub collateral_fetch_timeout_secs: u64,
    /// Self-signed certificates (PEM or DER) trusted as AMD root keys beside
    /// AMD's pinned ARKs: a private PKI, or a test's synthetic one.
    pub snp_trust_anchors: Vec<PathBuf>,
    /// A self-signed certificate that replaces Intel's pinned SGX Root CA as
    /// the root of TDX and SGX collateral (a private PCCS test PKI).
    pub dcap_trust_anchor: Option<PathBuf>,
    /// Arm CCA platform keys (CPAK trust-anchor JSON files: a JWK, a list
    /// of them, or a Veraison/Trustee trust-anchor store). No CCA evidence
    /// verifies without one: Arm publishes no root to pin.
    pub cca_trust_anchors: Vec<PathBuf>,
    /// PEM certificates that replace NVIDIA's pinned Device Identity CA as
    /// the roots of GPU evidence (all of these files' certificates are
    /// trusted, NVIDIA's no longer): a private PKI, or a test's synthetic
    /// one. Empty: NVIDIA's pinned root.
    pub nvidia_trust_anchors: Vec<PathBuf>,
    /// IBM Z host-key documents (PEM or DER) of the machines SE guests may
    /// run on; each `/auth` for tee `se` makes a request only their
    /// Ultravisors can open. Empty: SE is refused. Verified at start-up
    /// with the settings below (docs/se.md).
    pub se_host_key_documents: Vec<PathBuf>,
    /// IBM's host-key signing key certificate, issuer of the host-key documents.
    pub se_ibm_signing_key: Option<PathBuf>,
    /// Intermediate CAs between the signing key and the root.
    pub se_intermediates: Vec<PathBuf>,
    /// Roots the signing key's chain must end at.
    pub se_roots: Vec<PathBuf>,
    /// CRLs: the signing key's (it covers the host-key documents) and one
    /// per certificate above it. Nothing is downloaded.
    pub se_crls: Vec<PathBuf>,
    /// The expected image's SE header (`pvextract-hdr` output); or
    /// `se_image_hdr_tags`.
    pub se_image_header: Option<PathBuf>,
    /// The expected image's SE header fields (page, address, tweak list
    /// digests and tag: 208 bytes), hex; or `se_image_header`.
    pub se_image_hdr_tags: Option<String>,
    /// File holding the key (32 bytes, raw or hex) that seals each SE
    /// request's secret into its challenge; the same file on every replica.
    pub se_sealing_key_file: Option<PathBuf>,
    /// PEM public key (Ed25519 or P-256) that signs admin JWTs. Absent: the
    /// admin API answers 401 to everything.
    pub admin_public_key: Option<PathBuf>,
    /// PEM public keys (P-256) whose attestation tokens are accepted as
    /// `Authorization: Bearer` (passport model), besides the broker's own.
    pub passport_signers: Vec<PathBuf>,
    /// PEM PKCS#8 P-256 key that signs attestation tokens. Absent: one key is
    /// generated and shared through the store (sealed under the KEK), so that
    /// replicas sharing a database sign and verify with the same key.
    pub token_key: Option<PathBuf>,
    /// TLS certificate chain (PEM); plain HTTP when absent.
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    pub tls_key: Option<PathBuf>,
    /// EK CA certificates (PEM or DER files). When any is given, TPM
    /// evidence must prove its attestation key by credential activation
    /// against an EK certificate chaining to one of them
    /// (`POST /kbs/v0/tpm/activate`); see `tpm_activation`.
    pub tpm_ek_roots: Vec<PathBuf>,
    /// PCRs (of the `sha256` bank) that TPM appraisal requires a reference
    /// value for; empty: the policy's default, PCRs 0-7.
    pub tpm_required_pcrs: Vec<u8>,
    /// Seconds a client has to send a request's headers (and an idle
    /// keep-alive connection to start its next request).
    pub header_timeout_secs: u64,
    /// Seconds to receive a request's body and answer it (408 beyond).
    pub request_timeout_secs: u64,
    /// Connections served at once (kept below the file-descriptor limit,
    /// whose soft value is raised to the hard one at start-up).
    pub max_connections: usize,
    /// `/auth` and `/attest` requests a second per client address (bursts of
    /// twice that; loopback exempt; 0: no limit).
    pub rate_limit_per_client: f64,
    /// MiB of request bodies held at once across all connections; a body
    /// that would overdraw it is refused rather than buffered.
    pub body_budget_mb: usize,
    /// Days an audit row is kept (0: for ever); older rows are dropped by
    /// the periodic purge.
    pub audit_retention_days: u64,
    /// Trustee's `[admin]` section, as Trustee spells it: authenticates the
    /// Trustee-compatible admin routes (`kbs-client config ...`). Absent:
    /// those routes answer 401.
    pub admin: Option<crate::trustee_admin::AdminConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("rootline-data"),
            database_url: None,
            kek_file: None,
            sqlite_full_sync: false,
            session_ttl_secs: 300,
            token_ttl_secs: 300,
            secure_cookies: true,
            insecure_sample_tee: false,
            sim_roots: Vec::new(),
            collateral: Vec::new(),
            fetch: false,
            kds_url: None,
            pcs_url: None,
            nvidia_ocsp_url: None,
            collateral_offline: false,
            collateral_cache_dir: None,
            collateral_refresh_hours: 24,
            collateral_fetch_timeout_secs: 10,
            snp_trust_anchors: Vec::new(),
            dcap_trust_anchor: None,
            cca_trust_anchors: Vec::new(),
            nvidia_trust_anchors: Vec::new(),
            se_host_key_documents: Vec::new(),
            se_ibm_signing_key: None,
            se_intermediates: Vec::new(),
            se_roots: Vec::new(),
            se_crls: Vec::new(),
            se_image_header: None,
            se_image_hdr_tags: None,
            se_sealing_key_file: None,
            admin_public_key: None,
            passport_signers: Vec::new(),
            token_key: None,
            tls_cert: None,
            tls_key: None,
            tpm_ek_roots: Vec::new(),
            tpm_required_pcrs: Vec::new(),
            header_timeout_secs: 10,
            request_timeout_secs: 30,
            max_connections: 1024,
            audit_retention_days: 90,
            body_budget_mb: 128,
            rate_limit_per_client: 20.0,
            admin: None,
        }
    }
}

impl Config {
    /// The database URL: the configured one, or SQLite in the data directory.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(u) => u.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("broker.db").display()
            ),
        }
    }

    /// Parses a TOML document.
    pub fn from_toml(text: &str) -> Result<Self, crate::Error> {
        toml::from_str(text).map_err(|e| crate::Error::Config(e.to_string()))
    }
}

//! What can be fetched, and from which URL: AMD KDS, Intel PCS v4 (or a
//! PCCS, which serves the same paths) and NVIDIA's OCSP responder.

/// What an artifact is, which decides how its bytes are checked before
/// caching and how its freshness is judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// One DER certificate (a VCEK).
    Certificate,
    /// A PEM certificate chain (KDS `cert_chain`: ASK then ARK).
    CertChain,
    /// A DER CRL (AMD's, or Intel's PCK CRL); fresh until its nextUpdate.
    Crl,
    /// Intel's root CA CRL: DER from Intel, hex text from a PCCS (stored as DER).
    RootCaCrl,
    /// A PCS TCB info response `{"tcbInfo":...,"signature":...}`; fresh until
    /// its nextUpdate. Its issuer chain comes in a header.
    TcbInfo,
    /// A PCS QE identity response `{"enclaveIdentity":...}`; fresh until its
    /// nextUpdate. Its issuer chain comes in a header.
    QeIdentity,
    /// A DER OCSP response (RFC 6960) with `responseStatus` successful;
    /// fresh until its earliest nextUpdate.
    OcspResponse,
}

impl Kind {
    /// A phrase for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Certificate => "the DER certificate",
            Self::CertChain => "the PEM certificate chain",
            Self::Crl | Self::RootCaCrl => "the DER CRL",
            Self::TcbInfo => "the TCB info JSON",
            Self::QeIdentity => "the QE identity JSON",
            Self::OcspResponse => "the DER OCSP response",
        }
    }
}

/// One thing to fetch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artifact {
    /// What it is, for messages ("VCEK of chip 3ac3fe21... (Milan)").
    pub what: String,
    /// Where it is served.
    pub url: String,
    /// Its kind.
    pub kind: Kind,
    /// Response headers that carry its issuer chain (URL-encoded PEM), in
    /// order of preference; empty when it has none.
    pub issuer_chain_headers: &'static [&'static str],
    /// Asked for by POST rather than GET at `url`: where to, and the
    /// body. `url` stays the artifact's name (its cache key).
    pub post: Option<Post>,
}

/// A request sent by POST.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Post {
    /// Where the request goes.
    pub to: String,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// The body.
    pub body: Vec<u8>,
}

fn base(url: &str) -> &str {
    url.trim_end_matches('/')
}

/// AMD Key Distribution Service (KDS interface specification, publication
/// 57230): `/vcek/v1/{product}/{hwid}?{tcb}`, `/vcek/v1/{product}/cert_chain`,
/// `/vcek/v1/{product}/crl`, and the same under `/vlek/v1`.
pub mod kds {
    use super::{Artifact, Kind, base};

    /// AMD's public KDS.
    pub const DEFAULT_URL: &str = "https://kdsintf.amd.com";

    /// The VCEK of a chip at a TCB. `hw_id_hex` is the chip ID in hex (64
    /// bytes; 8 on Turin); `tcb` the SPL parameters in KDS order
    /// (`blSPL`, `teeSPL`, `snpSPL`, `ucodeSPL`, and `fmcSPL` first on Turin).
    pub fn vcek(base_url: &str, product: &str, hw_id_hex: &str, tcb: &[(&str, u8)]) -> Artifact {
        let query: Vec<String> = tcb.iter().map(|(k, v)| format!("{k}={v:02}")).collect();
        let short: String = hw_id_hex.chars().take(16).collect();
        let levels: Vec<String> = tcb.iter().map(|(k, v)| format!("{k}={v}")).collect();
        Artifact {
            what: format!("VCEK of chip {short}... ({product}, {})", levels.join(" ")),
            url: format!(
                "{}/vcek/v1/{product}/{hw_id_hex}?{}",
                base(base_url),
                query.join("&")
            ),
            kind: Kind::Certificate,
            issuer_chain_headers: &[],
            post: None,
        }
    }

    /// The intermediate and root (ASK and ARK, or ASVK and ARK for `vlek`).
    pub fn cert_chain(base_url: &str, product: &str, signer: &str) -> Artifact {
        let (inter, signer) = if signer == "vlek" {
            ("ASVK", "vlek")
        } else {
            ("ASK", "vcek")
        };
        Artifact {
            what: format!("AMD {inter}/ARK chain ({product})"),
            url: format!("{}/{signer}/v1/{product}/cert_chain", base(base_url)),
            kind: Kind::CertChain,
            issuer_chain_headers: &[],
            post: None,
        }
    }

    /// AMD's CRL for a product (signed by the ARK).
    pub fn crl(base_url: &str, product: &str, signer: &str) -> Artifact {
        let signer = if signer == "vlek" { "vlek" } else { "vcek" };
        Artifact {
            what: format!("AMD CRL ({product}, {})", signer.to_uppercase()),
            url: format!("{}/{signer}/v1/{product}/crl", base(base_url)),
            kind: Kind::Crl,
            issuer_chain_headers: &[],
            post: None,
        }
    }
}

/// Intel PCS API v4 (Intel SGX and TDX DCAP Provisioning Certification
/// Service, "Get PCK Cert CRL", "Get TCB Info", "Get Quoting Enclave
/// Identity"); a PCCS serves the same paths and adds `rootcacrl`.
pub mod pcs {
    use super::{Artifact, Kind, base};

    /// Intel's public PCS.
    pub const DEFAULT_URL: &str = "https://api.trustedservices.intel.com";
    /// Where Intel publishes the SGX root CA's CRL (the root certificate's
    /// CRL distribution point); PCS itself has no root CRL path.
    pub const INTEL_ROOT_CA_CRL_URL: &str =
        "https://certificates.trustedservices.intel.com/IntelSGXRootCA.der";

    /// The base without a trailing `/sgx/certification/v4` or
    /// `/tdx/certification/v4` (PCCS URLs are often written with them).
    fn root(base_url: &str) -> &str {
        let b = base(base_url);
        b.strip_suffix("/sgx/certification/v4")
            .or_else(|| b.strip_suffix("/tdx/certification/v4"))
            .unwrap_or(b)
    }

    /// The PCK CRL of the `processor` or `platform` CA, in DER; the issuer
    /// chain is in `SGX-PCK-CRL-Issuer-Chain`.
    pub fn pck_crl(base_url: &str, ca: &str) -> Artifact {
        Artifact {
            what: format!("Intel PCK CRL ({ca} CA)"),
            url: format!(
                "{}/sgx/certification/v4/pckcrl?ca={ca}&encoding=der",
                root(base_url)
            ),
            kind: Kind::Crl,
            issuer_chain_headers: &["SGX-PCK-CRL-Issuer-Chain"],
            post: None,
        }
    }

    /// TCB info for an FMSPC, for TDX (`tdx = true`) or SGX; the issuer chain
    /// is in `TCB-Info-Issuer-Chain` (v4) or `SGX-TCB-Info-Issuer-Chain` (v3
    /// name, still sent by some PCCS versions).
    pub fn tcb_info(base_url: &str, tdx: bool, fmspc_hex: &str) -> Artifact {
        let tee = if tdx { "tdx" } else { "sgx" };
        Artifact {
            what: format!("Intel {} TCB info (FMSPC {fmspc_hex})", tee.to_uppercase()),
            url: format!(
                "{}/{tee}/certification/v4/tcb?fmspc={fmspc_hex}",
                root(base_url)
            ),
            kind: Kind::TcbInfo,
            issuer_chain_headers: &["TCB-Info-Issuer-Chain", "SGX-TCB-Info-Issuer-Chain"],
            post: None,
        }
    }

    /// The QE identity (TD_QE for TDX, QE for SGX); the issuer chain is in
    /// `SGX-Enclave-Identity-Issuer-Chain`.
    pub fn qe_identity(base_url: &str, tdx: bool) -> Artifact {
        let tee = if tdx { "tdx" } else { "sgx" };
        Artifact {
            what: format!("Intel {} QE identity", tee.to_uppercase()),
            url: format!("{}/{tee}/certification/v4/qe/identity", root(base_url)),
            kind: Kind::QeIdentity,
            issuer_chain_headers: &["SGX-Enclave-Identity-Issuer-Chain"],
            post: None,
        }
    }

    /// The root CA CRL: from Intel's certificate host when `base_url` is
    /// Intel's PCS, else from the PCCS `rootcacrl` path (hex text).
    pub fn root_ca_crl(base_url: &str) -> Artifact {
        let url = if root(base_url) == DEFAULT_URL {
            INTEL_ROOT_CA_CRL_URL.to_owned()
        } else {
            format!("{}/sgx/certification/v4/rootcacrl", root(base_url))
        };
        Artifact {
            what: "Intel SGX root CA CRL".into(),
            url,
            kind: Kind::RootCaCrl,
            issuer_chain_headers: &[],
            post: None,
        }
    }
}

/// NVIDIA's OCSP responder, for the certificates of GPU device chains and
/// RIM signing chains (RFC 6960).
///
/// The request is POSTed (`application/ocsp-request`) to the base URL, as
/// NVIDIA's own verifier (nvtrust) does; RFC 6960 Appendix A's GET form
/// would fit the cache better, but NVIDIA documents and uses only POST, and
/// a verifier should not depend on what NVIDIA's responder happens to
/// accept. The artifact's name, its cache key, is
/// `{base}/ocsp-request/{base64url of the DER request}`: one name per
/// certificate (the request holds no nonce; see `rootline_nvidia::ocsp`),
/// a readable file under the cache, and a name `collateral export` and
/// `import` recognise.
pub mod nvidia {
    use base64::Engine as _;

    use super::{Artifact, Kind, Post, base};

    /// NVIDIA's OCSP responder, the one nvtrust asks.
    pub const DEFAULT_OCSP_URL: &str = "https://ocsp.ndis.nvidia.com";

    /// The path segment that marks an OCSP artifact's name.
    pub const OCSP_SEGMENT: &str = "/ocsp-request/";

    /// The OCSP response about one certificate: `request` is the DER
    /// `OCSPRequest` (`rootline_nvidia::ocsp::request`), `subject` names
    /// the certificate in messages.
    pub fn ocsp(base_url: &str, request: &[u8], subject: &str) -> Artifact {
        let key = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(request);
        Artifact {
            what: format!("OCSP response for {subject}"),
            url: format!("{}{OCSP_SEGMENT}{key}", base(base_url)),
            kind: Kind::OcspResponse,
            issuer_chain_headers: &[],
            post: Some(Post {
                to: format!("{}/", base(base_url)),
                content_type: "application/ocsp-request",
                body: request.to_vec(),
            }),
        }
    }

    /// The POST a stored OCSP artifact's name stands for (for an imported
    /// artifact, whose request is not kept elsewhere).
    pub fn post_of(url: &str) -> Option<Post> {
        let (b, key) = url.split_once(OCSP_SEGMENT)?;
        let body = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(key)
            .ok()?;
        Some(Post {
            to: format!("{b}/"),
            content_type: "application/ocsp-request",
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kds_urls_follow_the_kds_layout() {
        let a = kds::vcek(
            "https://kds.example/",
            "Turin",
            "0011223344556677",
            &[
                ("fmcSPL", 1),
                ("blSPL", 2),
                ("teeSPL", 0),
                ("snpSPL", 25),
                ("ucodeSPL", 84),
            ],
        );
        assert_eq!(
            a.url,
            "https://kds.example/vcek/v1/Turin/0011223344556677?fmcSPL=01&blSPL=02&teeSPL=00&snpSPL=25&ucodeSPL=84"
        );
        assert_eq!(
            kds::cert_chain("http://h", "Genoa", "vlek").url,
            "http://h/vlek/v1/Genoa/cert_chain"
        );
        assert_eq!(
            kds::crl("http://h", "Milan", "vcek").url,
            "http://h/vcek/v1/Milan/crl"
        );
    }

    #[test]
    fn ocsp_names_carry_their_request() {
        let a = nvidia::ocsp(
            "http://127.0.0.1:9/",
            &[0x30, 0x03, 0xfb, 0xff, 0x00],
            "CN=x",
        );
        assert_eq!(a.url, "http://127.0.0.1:9/ocsp-request/MAP7_wA");
        assert_eq!(
            a.post.as_ref().map(|p| p.to.as_str()),
            Some("http://127.0.0.1:9/")
        );
        assert_eq!(nvidia::post_of(&a.url), a.post);
    }

    #[test]
    fn pcs_urls_follow_pcs_v4_and_pccs() {
        let b = "https://pccs.example:8081/sgx/certification/v4/";
        assert_eq!(
            pcs::pck_crl(b, "platform").url,
            "https://pccs.example:8081/sgx/certification/v4/pckcrl?ca=platform&encoding=der"
        );
        assert_eq!(
            pcs::tcb_info(b, true, "B0C06F000000").url,
            "https://pccs.example:8081/tdx/certification/v4/tcb?fmspc=B0C06F000000"
        );
        assert_eq!(
            pcs::qe_identity(b, false).url,
            "https://pccs.example:8081/sgx/certification/v4/qe/identity"
        );
        assert_eq!(
            pcs::root_ca_crl(b).url,
            "https://pccs.example:8081/sgx/certification/v4/rootcacrl"
        );
        assert_eq!(
            pcs::root_ca_crl(pcs::DEFAULT_URL).url,
            pcs::INTEL_ROOT_CA_CRL_URL
        );
    }
}

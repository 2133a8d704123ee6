//! The platform's certificate chain, PDH <- PEK <- (OCA, CEK) <- ASK <- ARK,
//! verified to a root the caller trusts.
//!
//! The PDH is the key the guest owner's launch session is agreed with: a
//! session to an unverified PDH would hand TEK and TIK to whoever holds it.
//! The chain proves the PDH belongs to the firmware of a genuine AMD chip
//! (CEK, signed by AMD's ASK) that the platform owner (OCA) has certified.
//!
//! The CEK in the host's own `PDH_CERT_EXPORT` output is not signed by the
//! ASK; the signed CEK comes from AMD's key server for the chip's ID (`sevctl
//! export --full` fetches it). [`PlatformChain::parse_full`] reads that file.

use rootline_core::Reader;

use crate::cert::{Algorithm, CaCertificate, P384Point, PublicKey, SevCertificate, Usage};
use crate::error::{Error, Result};
use crate::roots::TrustAnchors;

/// A platform chain as received, parsed but not verified.
#[derive(Debug, Clone)]
pub struct PlatformChain {
    /// Platform Diffie-Hellman key.
    pub pdh: SevCertificate,
    /// Platform Endorsement Key.
    pub pek: SevCertificate,
    /// Owner Certificate Authority.
    pub oca: SevCertificate,
    /// Chip Endorsement Key, signed by the ASK.
    pub cek: SevCertificate,
    /// AMD Signing Key.
    pub ask: CaCertificate,
    /// AMD Root Key, when the chain carries one; it must then be the trusted
    /// root itself.
    pub ark: Option<CaCertificate>,
}

fn expect_usage(role: &'static str, got: Usage, want: Usage) -> Result<()> {
    if got != want {
        return Err(Error::invalid(
            role,
            format!("key usage {got}, expected {want}"),
        ));
    }
    Ok(())
}

/// Every filled signature slot of `cert` names one of `signers`, each at
/// most once. The slots are outside the signed bytes, so a slot the chain
/// never checks (a second "CEK" signature on the PDH, say) would otherwise
/// pass unverified: the chain is accepted only as AMD's firmware writes it.
fn expect_signers(role: &'static str, cert: &SevCertificate, signers: &[Usage]) -> Result<()> {
    let mut seen = Vec::with_capacity(2);
    for slot in cert.signatures() {
        if !signers.contains(&slot.usage) {
            let names: Vec<String> = signers.iter().map(ToString::to_string).collect();
            return Err(Error::invalid(
                role,
                format!(
                    "a signature slot names {} as its signer; it is signed only by {}",
                    slot.usage,
                    names.join(" and ")
                ),
            ));
        }
        if seen.contains(&slot.usage) {
            return Err(Error::invalid(
                role,
                format!("two signature slots name {} as their signer", slot.usage),
            ));
        }
        seen.push(slot.usage);
    }
    Ok(())
}

impl PlatformChain {
    /// Parses the chain `sevctl export --full` writes (the `sev` crate's
    /// `certs::sev::Chain`): PDH, PEK, OCA, CEK, ASK, ARK, back to back.
    pub fn parse_full(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        let pdh = SevCertificate::read(&mut r)?;
        let pek = SevCertificate::read(&mut r)?;
        let oca = SevCertificate::read(&mut r)?;
        let cek = SevCertificate::read(&mut r)?;
        let ask = CaCertificate::read(&mut r)?;
        let ark = CaCertificate::read(&mut r)?;
        r.finish("platform chain")
            .map_err(Error::malformed("platform chain"))?;
        Self::new(pdh, pek, oca, cek, ask, Some(ark))
    }

    /// Builds the chain from separate files: the four SEV certificates and
    /// the ASK, or AMD's `ask_ark_<product>.cert` (ASK then ARK).
    pub fn from_parts(
        pdh: &[u8],
        pek: &[u8],
        oca: &[u8],
        cek: &[u8],
        ask_ark: &[u8],
    ) -> Result<Self> {
        let mut r = Reader::new(ask_ark);
        let ask = CaCertificate::read(&mut r)?;
        let ark = if r.is_empty() {
            None
        } else {
            Some(CaCertificate::read(&mut r)?)
        };
        r.finish("ASK and ARK")
            .map_err(Error::malformed("CA certificate"))?;
        Self::new(
            SevCertificate::parse(pdh)?,
            SevCertificate::parse(pek)?,
            SevCertificate::parse(oca)?,
            SevCertificate::parse(cek)?,
            ask,
            ark,
        )
    }

    fn new(
        pdh: SevCertificate,
        pek: SevCertificate,
        oca: SevCertificate,
        cek: SevCertificate,
        ask: CaCertificate,
        ark: Option<CaCertificate>,
    ) -> Result<Self> {
        expect_usage("PDH certificate", pdh.usage(), Usage::PDH)?;
        expect_usage("PEK certificate", pek.usage(), Usage::PEK)?;
        expect_usage("OCA certificate", oca.usage(), Usage::OCA)?;
        expect_usage("CEK certificate", cek.usage(), Usage::CEK)?;
        expect_usage("ASK certificate", ask.usage(), Usage::ASK)?;
        if let Some(ark) = &ark {
            expect_usage("ARK certificate", ark.usage(), Usage::ARK)?;
        }
        if !matches!(
            pdh.algorithm(),
            Algorithm::ECDH_SHA256 | Algorithm::ECDH_SHA384
        ) {
            return Err(Error::invalid(
                "PDH certificate",
                format!("algorithm {} is not ECDH", pdh.algorithm()),
            ));
        }
        Ok(PlatformChain {
            pdh,
            pek,
            oca,
            cek,
            ask,
            ark,
        })
    }

    /// Verifies every link, ending at one of `anchors`.
    pub fn verify(&self, anchors: &TrustAnchors) -> Result<VerifiedPlatform> {
        let root = anchors.find(self.ask.certifying_id()).ok_or_else(|| {
            Error::Untrusted(format!(
                "the ASK is certified by key ID {}, which is no trusted ARK",
                hex::encode(self.ask.certifying_id())
            ))
        })?;
        expect_signers("PDH certificate", &self.pdh, &[Usage::PEK])?;
        expect_signers("PEK certificate", &self.pek, &[Usage::OCA, Usage::CEK])?;
        expect_signers("OCA certificate", &self.oca, &[Usage::OCA])?;
        expect_signers("CEK certificate", &self.cek, &[Usage::ASK])?;
        if let Some(ark) = &self.ark {
            if ark.as_bytes() != root.ark().as_bytes() {
                return Err(Error::Untrusted(format!(
                    "the chain's ARK is not the trusted {} ARK with its key ID",
                    root.name()
                )));
            }
        }
        if !self.ask.is_signed_by(root.ark()) {
            return Err(Error::BadSignature {
                cert: "ASK",
                signer: "ARK",
            });
        }
        if !self.cek.is_signed_by_ca(&self.ask) {
            return Err(Error::BadSignature {
                cert: "CEK",
                signer: "ASK",
            });
        }
        if !self.oca.is_signed_by(&self.oca) {
            return Err(Error::BadSignature {
                cert: "OCA",
                signer: "OCA itself",
            });
        }
        if !self.pek.is_signed_by(&self.oca) {
            return Err(Error::BadSignature {
                cert: "PEK",
                signer: "OCA",
            });
        }
        if !self.pek.is_signed_by(&self.cek) {
            return Err(Error::BadSignature {
                cert: "PEK",
                signer: "CEK",
            });
        }
        if !self.pdh.is_signed_by(&self.pek) {
            return Err(Error::BadSignature {
                cert: "PDH",
                signer: "PEK",
            });
        }
        let PublicKey::P384(pdh) = self.pdh.key().clone() else {
            return Err(Error::invalid("PDH certificate", "not a P-384 key"));
        };
        let (api_major, api_minor) = self.pdh.api_version();
        Ok(VerifiedPlatform {
            root: root.name().to_string(),
            pdh,
            api_major,
            api_minor,
            cek: self.cek.key().clone(),
            oca: self.oca.key().clone(),
        })
    }
}

/// A PDH whose chain to a trusted ARK verified. Only
/// [`PlatformChain::verify`] makes one; a launch session needs one.
#[derive(Debug, Clone)]
pub struct VerifiedPlatform {
    root: String,
    pdh: P384Point,
    api_major: u8,
    api_minor: u8,
    cek: PublicKey,
    oca: PublicKey,
}

impl VerifiedPlatform {
    /// The name of the root the chain ends at (`Milan`...).
    pub fn root(&self) -> &str {
        &self.root
    }

    /// The PDH public key.
    pub fn pdh(&self) -> &P384Point {
        &self.pdh
    }

    /// The firmware API version the PDH certificate was made by.
    pub fn api_version(&self) -> (u8, u8) {
        (self.api_major, self.api_minor)
    }

    /// The chip's CEK public key (one per chip; a caller may pin it).
    pub fn cek(&self) -> &PublicKey {
        &self.cek
    }

    /// The platform owner's OCA public key (a caller may pin it).
    pub fn oca(&self) -> &PublicKey {
        &self.oca
    }
}

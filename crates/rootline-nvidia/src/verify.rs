//! The verifier: for each device, the chain to a trusted root, the FWID,
//! the SPDM signature, the nonce, what the sender claims, and the RIMs
//! (their signatures first, to RIM roots kept apart from the device roots);
//! then typed claims, marked [`Verified`] only when all of it held.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use rootline_core::Verified;
use serde::Serialize;
use serde_json::Value;

use crate::certs::{self, CertInfo, ChainInfo, TrustRoots};
use crate::error::{Error, Result};
use crate::evidence::{DeviceEvidence, Evidence};
use crate::ocsp::{self, OcspResponse, Revocation};
use crate::rim::{self, Rim, RimComparison, VerifiedRim};
use crate::spdm::{NONCE_LEN, SpdmReport};

/// The GPU architecture, from the signing certificate's common name
/// (`GH100 ...` is Hopper, `GB...` Blackwell).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Arch {
    /// Hopper (GH100: H100, H200, GH200).
    Hopper,
    /// Blackwell (GB100, GB20x: B200, GB200, RTX PRO 6000 Blackwell).
    Blackwell,
}

impl Arch {
    /// The architecture a device certificate's common name names.
    pub fn from_common_name(cn: &str) -> Option<Self> {
        if cn.starts_with("GH1") {
            Some(Self::Hopper)
        } else if cn.starts_with("GB") {
            Some(Self::Blackwell)
        } else {
            None
        }
    }

    /// The spelling guest-components and NVIDIA's SDK use (`HOPPER`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hopper => "HOPPER",
            Self::Blackwell => "BLACKWELL",
        }
    }
}

/// Claims for all devices of one evidence document.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Claims {
    /// One entry per device, in evidence order (`gpu0..N`).
    pub devices: Vec<DeviceClaims>,
}

/// What one device's evidence says. From [`crate::verify`] every field is
/// checked as the crate docs describe and the `Option`s that say "always
/// present when verified" are `Some`; from [`crate::decode`] nothing is.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeviceClaims {
    /// Architecture (always present when verified).
    pub arch: Option<Arch>,
    /// Chip model, the first word of the signing certificate's CN
    /// (`GH100`, `GB100`; always present when verified).
    pub model: Option<String>,
    /// The UUID the sender named (not attested).
    pub uuid: Option<String>,
    /// SPDM version (`1.1`).
    pub spdm_version: String,
    /// The requester's nonce in the signed request, hex: the freshness
    /// value (equal to the caller's nonce when one was given).
    pub nonce: String,
    /// The GPU's own nonce, hex.
    pub responder_nonce: String,
    /// The signing certificate's FWID, hex (always present when verified).
    pub fwid: Option<String>,
    /// Driver version from the opaque data (`550.90.07`).
    pub driver_version: Option<String>,
    /// VBIOS version from the opaque data (`96.00.9f.00.01`).
    pub vbios_version: Option<String>,
    /// Measurement blocks: SPDM index (1-based) -> value, hex.
    pub measurements: BTreeMap<u8, String>,
    /// The opaque data, named and rendered as trustee's `config` claims.
    pub opaque: BTreeMap<String, Value>,
    /// The certificate chain, signing certificate first.
    pub certificates: Vec<CertInfo>,
    /// The RIM comparison, when RIMs were given.
    pub rim: Option<RimComparison>,
    /// Revocation of the device chain and of the RIM signing chains, from
    /// the OCSP responses given (see [`crate::ocsp`]).
    pub revocation: RevocationClaims,
}

/// Whether OCSP vouched for the certificates of a device: the per-chain
/// summaries of each [`CertInfo::revocation`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RevocationClaims {
    /// `good` when every device-chain certificate OCSP covers (all but the
    /// signing certificate and the root) is good, else `not_checked`.
    pub device: Revocation,
    /// The same over the signing chains of the RIMs compared with;
    /// `not_applicable` when no RIM was.
    pub rim: Revocation,
    /// `device` and `rim` are both `good` (or `rim` not applicable): what
    /// a policy that requires revocation checks reads.
    pub checked: bool,
}

fn summary(status: &[Revocation]) -> Revocation {
    let mut relevant = status.iter().filter(|s| **s != Revocation::NotApplicable);
    if relevant.clone().next().is_none() {
        Revocation::NotApplicable
    } else if relevant.all(|s| *s == Revocation::Good) {
        Revocation::Good
    } else {
        Revocation::NotChecked
    }
}

/// What a verification needs besides the evidence and the roots.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options<'a> {
    /// The expected nonce: at most 32 bytes, zero-padded to 32 (as the
    /// attester pads report data), compared with the signed request's
    /// nonce. `None` skips only this check. For KBS report data longer than
    /// 32 bytes, pass [`guest_nonce`]`(report_data)`.
    pub nonce: Option<&'a [u8]>,
    /// Reference integrity manifests; empty skips the comparison. When
    /// given, every device needs at least one that applies (see
    /// [`Rim::applies_to`]); each that applies must carry a signature that
    /// verifies to the verifier's RIM roots at the verification time
    /// (otherwise the whole verification fails, naming the RIM), and the
    /// device must match their active golden values. RIMs that do not
    /// apply are neither verified nor used.
    pub rims: &'a [Rim],
    /// OCSP responses (DER) for certificates of the device chains and of
    /// the RIM signing chains; empty leaves revocation unchecked (the
    /// claims say so). A response that names a certificate must verify
    /// and say good (see [`crate::ocsp`]); responses that name none are
    /// ignored.
    pub ocsp: &'a [Vec<u8>],
    /// Verification time, seconds since the Unix epoch; `None` = now.
    pub at: Option<i64>,
}

/// The nonce guest-components' NVIDIA attester puts in the SPDM request for
/// `report_data`: its first 32 bytes, zero-padded when shorter.
pub fn guest_nonce(report_data: &[u8]) -> [u8; NONCE_LEN] {
    let mut n = [0u8; NONCE_LEN];
    for (dst, src) in n.iter_mut().zip(report_data) {
        *dst = *src;
    }
    n
}

/// Verifies NVIDIA evidence against a set of device roots and a set of RIM
/// roots.
#[derive(Clone, Debug)]
pub struct Verifier {
    roots: TrustRoots,
    rim_roots: TrustRoots,
}

impl Verifier {
    /// A verifier trusting only the pinned NVIDIA Device Identity CA for
    /// devices and the pinned NVIDIA RIM root for RIMs.
    pub fn pinned() -> Self {
        Self::new(TrustRoots::nvidia()).with_rim_roots(TrustRoots::nvidia_rim())
    }

    /// A verifier trusting `roots` for device chains and no RIM root (so
    /// any RIM given is refused until [`Verifier::with_rim_roots`]).
    pub fn new(roots: TrustRoots) -> Self {
        Self {
            roots,
            rim_roots: TrustRoots::empty(),
        }
    }

    /// The same verifier, trusting `rim_roots` (in place of its RIM roots)
    /// for RIM signatures, e.g. [`TrustRoots::nvidia_rim`] or a private
    /// PKI's.
    pub fn with_rim_roots(self, rim_roots: TrustRoots) -> Self {
        Self { rim_roots, ..self }
    }

    /// The device roots this verifier trusts.
    pub fn roots(&self) -> &TrustRoots {
        &self.roots
    }

    /// The RIM roots this verifier trusts.
    pub fn rim_roots(&self) -> &TrustRoots {
        &self.rim_roots
    }

    /// Decodes `evidence` (any form [`Evidence::decode`] accepts) and
    /// verifies it.
    pub fn verify(&self, evidence: &[u8], opts: &Options<'_>) -> Result<Verified<Claims>> {
        self.verify_evidence(&Evidence::decode(evidence)?, opts)
    }

    /// Verifies decoded evidence: every device must pass.
    pub fn verify_evidence(
        &self,
        evidence: &Evidence,
        opts: &Options<'_>,
    ) -> Result<Verified<Claims>> {
        if evidence.devices.is_empty() {
            return Err(Error::Evidence {
                field: "device list",
                reason: "no devices".into(),
            });
        }
        let at = opts.at.unwrap_or_else(now);
        let responses = opts
            .ocsp
            .iter()
            .enumerate()
            .map(|(i, r)| {
                OcspResponse::parse(r).map_err(|e| Error::InOcspResponse {
                    index: i,
                    source: Box::new(e),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let devices = evidence
            .devices
            .iter()
            .enumerate()
            .map(|(i, d)| {
                self.verify_device(d, opts, &responses, at)
                    .map_err(|e| Error::InDevice {
                        index: i,
                        source: Box::new(e),
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Verified::new(Claims { devices }))
    }

    fn verify_device(
        &self,
        dev: &DeviceEvidence,
        opts: &Options<'_>,
        responses: &[OcspResponse<'_>],
        at: i64,
    ) -> Result<DeviceClaims> {
        let chain = dev.cert_chain.as_deref().ok_or_else(|| Error::Evidence {
            field: "certificate",
            reason: "a bare SPDM report carries no certificate chain; pass one with Evidence::from_parts".into(),
        })?;
        let report = SpdmReport::parse(&dev.report)?;

        // 1. The chain to a trusted root, and the signing certificate's FWID.
        let ders = certs::parse_chain(chain)?;
        let mut info = certs::verify_chain(&ders, &self.roots, at)?;
        // Revocation of the chain that verified, from the OCSP responses.
        let status = ocsp::chain_revocation(&ders, ocsp::device_scope(ders.len()), responses, at)?;
        for (c, s) in info.certs.iter_mut().zip(&status) {
            c.revocation = *s;
        }
        let device_revocation = summary(&status);
        let arch = Arch::from_common_name(&info.leaf_cn).ok_or_else(|| Error::Unsupported {
            field: "device",
            value: format!(
                "signing certificate CN={:?} names neither a Hopper (GH1..) nor a Blackwell (GB..) GPU",
                info.leaf_cn
            ),
        })?;
        if let Some(hint) = dev.arch.as_deref() {
            let named = parse_arch_hint(hint)?;
            if named != arch {
                return Err(Error::Mismatch {
                    field: "arch",
                    expected: arch.as_str().into(),
                    found: hint.into(),
                });
            }
        }
        let fwid = info.fwid.clone().unwrap_or_default();

        // 2. NVIDIA's verifier compares the report's FWID with the
        //    certificate's when the report has one.
        if let Some(reported) = report.opaque.fwid()
            && reported != fwid.as_slice()
        {
            return Err(Error::Mismatch {
                field: "fwid",
                expected: hex::encode(&fwid),
                found: hex::encode(reported),
            });
        }

        // 3. The SPDM signature with the signing certificate's key.
        report.verify_signature(&info.leaf_key)?;

        // 4. Freshness, and what the sender claims about the report.
        if let Some(expected) = opts.nonce {
            check_nonce(expected, &report.nonce)?;
        }
        if let Some(claimed) = dev.nonce.as_deref()
            && claimed != report.nonce.as_slice()
        {
            return Err(Error::Mismatch {
                field: "nonce (evidence JSON)",
                expected: hex::encode(report.nonce),
                found: hex::encode(claimed),
            });
        }
        let driver = report.opaque.driver_version();
        let vbios = report.opaque.vbios_version()?;
        check_claimed(
            "driver_version",
            dev.driver_version.as_deref(),
            driver.as_deref(),
        )?;
        check_claimed(
            "vbios_version",
            dev.vbios_version.as_deref(),
            vbios.as_deref(),
        )?;

        // 5. Reference values.
        let model = model_of(&info.leaf_cn);
        let rim = if opts.rims.is_empty() {
            None
        } else {
            let applicable: Vec<&Rim> = opts
                .rims
                .iter()
                .filter(|r| r.applies_to(&model, driver.as_deref(), vbios.as_deref()))
                .collect();
            if applicable.is_empty() {
                return Err(Error::NoApplicableRim {
                    model,
                    driver: driver.unwrap_or_else(|| "-".into()),
                    vbios: vbios.unwrap_or_else(|| "-".into()),
                    given: opts
                        .rims
                        .iter()
                        .map(Rim::label)
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
            // Fail closed: a RIM is compared with only once its signature
            // verified, at the same time as the device chain.
            let verified = applicable
                .iter()
                .map(|r| {
                    let mut v = r.verify_signature(&self.rim_roots, at)?;
                    let status = ocsp::chain_revocation(
                        v.chain_der(),
                        ocsp::rim_scope(v.chain_der().len()),
                        responses,
                        at,
                    )?;
                    v.set_revocation(&status);
                    Ok(v)
                })
                .zip(&applicable)
                .map(|(v, r)| {
                    v.map_err(|e| Error::InRim {
                        rim: r.label_with_tag(),
                        source: Box::new(e),
                    })
                })
                .collect::<Result<Vec<VerifiedRim<'_>>>>()?;
            let cmp = rim::compare(&report, &verified)?;
            if !cmp.mismatched.is_empty() {
                return Err(Error::RimMismatch {
                    indices: cmp.mismatched,
                });
            }
            Some(cmp)
        };

        let rim_revocation = match &rim {
            None => Revocation::NotApplicable,
            Some(c) => summary(&c.signer_revocation.concat()),
        };
        let mut claims = claims_of(&report, Some(&info), dev)?;
        claims.arch = Some(arch);
        claims.model = Some(model);
        claims.rim = rim;
        claims.revocation = RevocationClaims {
            device: device_revocation,
            rim: rim_revocation,
            checked: device_revocation == Revocation::Good
                && matches!(rim_revocation, Revocation::Good | Revocation::NotApplicable),
        };
        Ok(claims)
    }
}

/// Reads evidence without verifying anything, for explaining a rejection.
pub(crate) fn decode_claims(evidence: &Evidence) -> Result<Claims> {
    let devices = evidence
        .devices
        .iter()
        .enumerate()
        .map(|(i, dev)| {
            decode_device(dev).map_err(|e| Error::InDevice {
                index: i,
                source: Box::new(e),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Claims { devices })
}

fn decode_device(dev: &DeviceEvidence) -> Result<DeviceClaims> {
    let report = SpdmReport::parse(&dev.report)?;
    let info = match dev.cert_chain.as_deref() {
        Some(c) => Some(certs::inspect_chain(&certs::parse_chain(c)?)?),
        None => None,
    };
    let mut claims = claims_of(&report, info.as_ref(), dev)?;
    if let Some(i) = &info {
        claims.arch = Arch::from_common_name(&i.leaf_cn);
        claims.model = Some(model_of(&i.leaf_cn));
    } else if let Some(chip) = report.opaque.chip_info() {
        claims.arch = Arch::from_common_name(&chip);
        claims.model = Some(chip);
    }
    if claims.arch.is_none() {
        claims.arch = dev.arch.as_deref().and_then(|h| parse_arch_hint(h).ok());
    }
    Ok(claims)
}

fn claims_of(
    report: &SpdmReport<'_>,
    info: Option<&ChainInfo>,
    dev: &DeviceEvidence,
) -> Result<DeviceClaims> {
    Ok(DeviceClaims {
        arch: None,
        model: None,
        uuid: dev.uuid.clone(),
        spdm_version: report.version.to_string(),
        nonce: hex::encode(report.nonce),
        responder_nonce: hex::encode(report.responder_nonce),
        fwid: info.and_then(|i| i.fwid.as_deref()).map(hex::encode),
        driver_version: report.opaque.driver_version(),
        vbios_version: report.opaque.vbios_version()?,
        measurements: report
            .blocks
            .iter()
            .map(|b| (b.index, hex::encode(b.value)))
            .collect(),
        opaque: report.opaque.to_claims()?,
        certificates: info.map(|i| i.certs.clone()).unwrap_or_default(),
        rim: None,
        revocation: RevocationClaims {
            device: Revocation::NotChecked,
            rim: Revocation::NotApplicable,
            checked: false,
        },
    })
}

fn model_of(cn: &str) -> String {
    cn.split_whitespace().next().unwrap_or_default().to_owned()
}

fn parse_arch_hint(hint: &str) -> Result<Arch> {
    if hint.eq_ignore_ascii_case("hopper") {
        Ok(Arch::Hopper)
    } else if hint.eq_ignore_ascii_case("blackwell") {
        Ok(Arch::Blackwell)
    } else if hint.eq_ignore_ascii_case("ls10") {
        Err(Error::Unsupported {
            field: "arch",
            value: "LS10 (NVSwitch) evidence is not verified by this crate".into(),
        })
    } else {
        Err(Error::Unsupported {
            field: "arch",
            value: format!("{hint:?}; HOPPER and BLACKWELL are known"),
        })
    }
}

fn check_nonce(expected: &[u8], got: &[u8; NONCE_LEN]) -> Result<()> {
    if expected.len() > NONCE_LEN {
        return Err(Error::Unsupported {
            field: "expected nonce",
            value: format!(
                "{} bytes; SPDM nonces are {NONCE_LEN} (derive one from report data with guest_nonce)",
                expected.len()
            ),
        });
    }
    let want = guest_nonce(expected);
    if &want != got {
        return Err(Error::Mismatch {
            field: "nonce",
            expected: hex::encode(want),
            found: hex::encode(got),
        });
    }
    Ok(())
}

fn check_claimed(field: &'static str, claimed: Option<&str>, signed: Option<&str>) -> Result<()> {
    match (claimed, signed) {
        (Some(c), Some(s)) if c.eq_ignore_ascii_case(s) => Ok(()),
        (Some(c), s) => Err(Error::Mismatch {
            field,
            expected: s.unwrap_or("(absent from the report)").to_owned(),
            found: c.to_owned(),
        }),
        (None, _) => Ok(()),
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

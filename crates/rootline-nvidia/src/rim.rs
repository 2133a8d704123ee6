//! Reference integrity manifests (RIMs): NVIDIA's signed SWID tags (ISO/IEC
//! 19770-2:2015 with the TCG RIM information model) that list the golden
//! value of each measurement block for one driver or one VBIOS release.
//!
//! **Signed input.** A RIM is used for comparison only once its XML
//! signature verifies ([`Rim::verify_signature`], which only yields a
//! [`VerifiedRim`]; [`compare`] takes nothing else): an enveloped XMLDSig
//! signature over the whole document, Canonical XML 1.1, SHA-384, ECDSA
//! P-384, by a certificate chained to a caller's RIM root (the pinned NVIDIA
//! RIM root by name, [`TrustRoots::nvidia_rim`]) and valid at the
//! verification time. See [`crate::xmldsig`] for the one signature shape
//! accepted and [`crate::c14n`] for the canonicalisation. An unsigned RIM
//! parses (to show what it says) but never verifies. Claims record the
//! signer: `"rim": {"signature": "verified", "signers": [...], ...}`.
//!
//! Parsing: [`Rim::parse`] reads the tag once with `roxmltree` (no DTD, so
//! no entity expansion; at most [`MAX_RIM_LEN`] bytes and [`MAX_RIM_NODES`]
//! nodes) and takes, from that one tree, both the signature's inputs (the
//! digest of the canonical document, the canonical `SignedInfo`) and the
//! content: the `Meta` element's `colloquialVersion` and product, and every
//! `Payload/Resource` as a [`GoldenMeasurement`]: `index`, `active`,
//! `alternatives`, `size` and the `Hash0..HashN-1` attributes in the
//! `http://www.w3.org/2001/04/xmlenc#sha384` namespace. The fields of a
//! [`Rim`] are private, so what is compared is what was digested.
//!
//! Comparison follows NVIDIA's verifier (`local_gpu_verifier`,
//! `verifier.py` and `rim/__init__.py`): the active golden measurements of
//! the driver RIM and the VBIOS RIM are merged (an index active in both is
//! an error); a measurement matches when its value equals one of the
//! alternatives and has the stated size. RIM index *i* is SPDM measurement
//! block *i + 1* (NVIDIA's verifier lists runtime measurements from 0).
//! NVIDIA's verifier means to skip index 35 when NVDEC0 is disabled, but its
//! test compares bytes with an enum and never skips; nothing is skipped here.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::certs::{CertInfo, TrustRoots};
use crate::error::{Error, Result};
use crate::spdm::SpdmReport;
use crate::{c14n, xmldsig};

/// The largest RIM accepted (NVIDIA's are ~20 KiB).
pub const MAX_RIM_LEN: usize = c14n::MAX_XML_LEN;
/// The most XML nodes accepted in a RIM.
pub const MAX_RIM_NODES: u32 = c14n::MAX_XML_NODES;
/// The most alternatives accepted for one measurement.
pub const MAX_ALTERNATIVES: usize = 64;

const NS_SWID: &str = "http://standards.iso.org/iso/19770/-2/2015/schema.xsd";
const NS_TCG_RIM: &str = "https://trustedcomputinggroup.org/resource/tcg-reference-integrity-manifest-rim-information-model/";
const NS_SHA384: &str = "http://www.w3.org/2001/04/xmlenc#sha384";

/// One golden measurement of a RIM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoldenMeasurement {
    /// RIM index (0-based; SPDM block `index + 1`).
    pub index: u16,
    /// The `name` attribute (`HashedMeasurement_3_FSP`, ...).
    pub name: String,
    /// Size of each value in bytes.
    pub size: usize,
    /// Whether the measurement is to be compared.
    pub active: bool,
    /// The accepted values.
    pub values: Vec<Vec<u8>>,
}

/// A parsed RIM, its signature read but not yet verified: see the module
/// docs. Only [`Rim::parse`] makes one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rim {
    tag_id: String,
    name: Option<String>,
    product: Option<String>,
    platform_model: Option<String>,
    version: String,
    measurements: Vec<GoldenMeasurement>,
    signature: Option<xmldsig::Signed>,
}

/// A RIM whose signature verified: the only input [`compare`] takes. Only
/// [`Rim::verify_signature`] makes one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedRim<'a> {
    rim: &'a Rim,
    ders: &'a [Vec<u8>],
    chain: Vec<CertInfo>,
}

impl<'a> VerifiedRim<'a> {
    /// The RIM.
    pub fn rim(&self) -> &'a Rim {
        self.rim
    }

    /// The signing certificate's subject (RFC 4514).
    pub fn signer(&self) -> &str {
        self.chain.first().map_or("", |c| c.subject.as_str())
    }

    /// Sets the revocation status of the chain's certificates, in order.
    pub(crate) fn set_revocation(&mut self, status: &[crate::ocsp::Revocation]) {
        for (c, s) in self.chain.iter_mut().zip(status) {
            c.revocation = *s;
        }
    }

    /// The signer's chain as verified, signing certificate first.
    pub fn chain(&self) -> &[CertInfo] {
        &self.chain
    }

    /// The signer's chain as verified, DER.
    pub fn chain_der(&self) -> &[Vec<u8>] {
        self.ders
    }
}

impl Rim {
    /// Parses a RIM (SWID tag XML) and, when it is signed, reads its
    /// signature and canonicalises what the signature covers, from the same
    /// tree as the content (see [`crate::xmldsig`]). A signature of another
    /// shape is an error here; a missing one is an error only at
    /// [`Rim::verify_signature`].
    pub fn parse(xml: &[u8]) -> Result<Self> {
        if xml.len() > MAX_RIM_LEN {
            return Err(Error::TooLarge {
                what: "RIM",
                len: xml.len(),
                max: MAX_RIM_LEN,
            });
        }
        let doc = c14n::parse(xml).map_err(|e| match e {
            Error::Rim { reason, .. } => rim_err("document", reason),
            other => other,
        })?;
        let root = doc.root_element();
        if root.tag_name().name() != "SoftwareIdentity"
            || root.tag_name().namespace() != Some(NS_SWID)
        {
            return Err(rim_err(
                "document",
                format!(
                    "root element {:?} is not a SWID SoftwareIdentity",
                    root.tag_name()
                ),
            ));
        }
        // The signature first: where it is decides what it covers.
        let signature = xmldsig::read(&doc)?;
        let tag_id = root
            .attribute("tagId")
            .ok_or_else(|| rim_err("SoftwareIdentity", "no tagId"))?
            .to_owned();
        let name = root.attribute("name").map(str::to_owned);
        // One Meta and one Payload: a second would be signed too, but which
        // one a reader takes would be a choice.
        let child = |local: &'static str, ns: &str| {
            let mut found = root.children().filter(|n| {
                n.is_element()
                    && n.tag_name().name() == local
                    && n.tag_name().namespace() == Some(ns)
            });
            match (found.next(), found.next()) {
                (Some(n), None) => Ok(n),
                (None, _) => Err(rim_err(local, "missing")),
                (Some(_), Some(_)) => Err(rim_err(local, "appears more than once")),
            }
        };
        let meta = child("Meta", NS_SWID)?;
        let version = meta
            .attribute("colloquialVersion")
            .filter(|v| !v.is_empty())
            .ok_or_else(|| rim_err("Meta", "no colloquialVersion"))?
            .to_owned();
        let product = meta.attribute("product").map(str::to_owned);
        let platform_model = meta
            .attribute((NS_TCG_RIM, "PlatformModel"))
            .map(str::to_owned);
        let payload = child("Payload", NS_SWID)?;

        let mut measurements: Vec<GoldenMeasurement> = Vec::new();
        for node in payload.children().filter(|n| n.is_element()) {
            if node.tag_name().name() != "Resource" || node.tag_name().namespace() != Some(NS_SWID)
            {
                return Err(rim_err(
                    "Payload",
                    format!("unexpected element {:?}", node.tag_name()),
                ));
            }
            let m = parse_resource(&node)?;
            if measurements.iter().any(|x| x.index == m.index) {
                return Err(rim_err(
                    "Resource",
                    format!("index {} appears twice", m.index),
                ));
            }
            measurements.push(m);
        }
        if measurements.is_empty() {
            return Err(rim_err("Payload", "no measurements"));
        }
        Ok(Self {
            tag_id,
            name,
            product,
            platform_model,
            version,
            measurements,
            signature,
        })
    }

    /// Verifies the RIM's XML signature with `roots` (RIM roots, e.g.
    /// [`TrustRoots::nvidia_rim`]) at `at` (seconds since the Unix epoch):
    /// the signer's chain, the signature over the `SignedInfo`, then the
    /// digest of the document. [`Error::RimUnsigned`] when it has none.
    pub fn verify_signature(&self, roots: &TrustRoots, at: i64) -> Result<VerifiedRim<'_>> {
        let sig = self.signature.as_ref().ok_or(Error::RimUnsigned)?;
        let chain = sig.verify(roots, at)?;
        Ok(VerifiedRim {
            ders: &sig.certificates,
            rim: self,
            chain: chain.certs,
        })
    }

    /// The certificates of the RIM's signature (DER, signing certificate
    /// first, as its `KeyInfo` lists them; not verified): what an OCSP
    /// request for the RIM signing chain is built from. Empty when unsigned.
    pub fn signer_chain(&self) -> &[Vec<u8>] {
        self.signature
            .as_ref()
            .map_or(&[], |s| s.certificates.as_slice())
    }

    /// `SoftwareIdentity/@tagId`.
    pub fn tag_id(&self) -> &str {
        &self.tag_id
    }

    /// `SoftwareIdentity/@name` (`GH100`).
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// `Meta/@product` (`GH100`).
    pub fn product(&self) -> Option<&str> {
        self.product.as_deref()
    }

    /// `Meta/@PlatformModel` (TCG RIM namespace).
    pub fn platform_model(&self) -> Option<&str> {
        self.platform_model.as_deref()
    }

    /// `Meta/@colloquialVersion`: the driver (`545.00`) or VBIOS
    /// (`96.00.5E.00.01`) version the RIM describes.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The golden measurements, in document order.
    pub fn measurements(&self) -> &[GoldenMeasurement] {
        &self.measurements
    }

    /// Whether the RIM carries an XML signature (verified only by
    /// [`Rim::verify_signature`]).
    pub fn has_signature(&self) -> bool {
        self.signature.is_some()
    }

    /// Whether this RIM describes the device: its product (or platform
    /// model, or name) is the device model, case-insensitively, and its
    /// version is the device's driver or VBIOS version.
    pub fn applies_to(&self, model: &str, driver: Option<&str>, vbios: Option<&str>) -> bool {
        let product = self
            .product
            .as_deref()
            .or(self.platform_model.as_deref())
            .or(self.name.as_deref());
        let model_ok = product.is_some_and(|p| p.eq_ignore_ascii_case(model));
        let version_ok = [driver, vbios]
            .into_iter()
            .flatten()
            .any(|v| v.eq_ignore_ascii_case(&self.version));
        model_ok && version_ok
    }

    /// `product version (tag ID)`, for naming the RIM in an error.
    pub fn label_with_tag(&self) -> String {
        format!("{} ({})", self.label(), self.tag_id)
    }

    /// `product version`, for messages.
    pub fn label(&self) -> String {
        format!(
            "{} {}",
            self.product.as_deref().unwrap_or("?"),
            self.version
        )
    }
}

fn parse_resource(node: &roxmltree::Node<'_, '_>) -> Result<GoldenMeasurement> {
    let attr = |name: &str| {
        node.attribute(name)
            .ok_or_else(|| rim_err("Resource", format!("no {name} attribute")))
    };
    let index: u16 = attr("index")?
        .parse()
        .map_err(|e| rim_err("Resource/@index", format!("{e}")))?;
    if index > 254 {
        return Err(rim_err(
            "Resource/@index",
            format!("{index} is past the last SPDM block index"),
        ));
    }
    let active = match attr("active")? {
        a if a.eq_ignore_ascii_case("true") => true,
        a if a.eq_ignore_ascii_case("false") => false,
        other => {
            return Err(rim_err(
                "Resource/@active",
                format!("{other:?} is neither True nor False"),
            ));
        }
    };
    let alternatives: usize = attr("alternatives")?
        .parse()
        .map_err(|e| rim_err("Resource/@alternatives", format!("{e}")))?;
    if alternatives == 0 || alternatives > MAX_ALTERNATIVES {
        return Err(rim_err(
            "Resource/@alternatives",
            format!("{alternatives} is outside 1..={MAX_ALTERNATIVES}"),
        ));
    }
    let size: usize = attr("size")?
        .parse()
        .map_err(|e| rim_err("Resource/@size", format!("{e}")))?;
    let name = attr("name")?.to_owned();
    let mut values = Vec::with_capacity(alternatives);
    for i in 0..alternatives {
        let key = format!("Hash{i}");
        let h = node
            .attribute((NS_SHA384, key.as_str()))
            .ok_or_else(|| rim_err("Resource", format!("index {index}: no SHA-384 {key}")))?;
        let v =
            hex::decode(h).map_err(|e| rim_err("Resource", format!("index {index} {key}: {e}")))?;
        if v.len() != size {
            return Err(rim_err(
                "Resource",
                format!("index {index} {key}: {} bytes, size says {size}", v.len()),
            ));
        }
        values.push(v);
    }
    Ok(GoldenMeasurement {
        index,
        name,
        size,
        active,
        values,
    })
}

fn rim_err(field: &str, reason: impl Into<String>) -> Error {
    Error::Rim {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

/// What a RIM comparison found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RimComparison {
    /// The RIMs compared with, as `product version` (tag ID in
    /// [`RimComparison::tag_ids`]).
    pub manifests: Vec<String>,
    /// Their tag IDs.
    pub tag_ids: Vec<String>,
    /// Their signers: each signing certificate's subject (RFC 4514), in
    /// the order of [`RimComparison::manifests`].
    pub signers: Vec<String>,
    /// Each signing chain's certificates' revocation status, in the order
    /// of [`RimComparison::signers`], signing certificate first (see
    /// [`crate::ocsp::rim_scope`]).
    pub signer_revocation: Vec<Vec<crate::ocsp::Revocation>>,
    /// SPDM block indices that had an active golden value and matched it.
    pub matched: Vec<u16>,
    /// SPDM block indices whose value matched no alternative (or that the
    /// report lacks).
    pub mismatched: Vec<u16>,
    /// Always `"verified"`: only RIMs whose signature verified are
    /// compared with.
    pub signature: &'static str,
}

/// Compares the report's measurement blocks with the active golden values
/// of `rims` (already chosen as applying to the device, their signatures
/// verified).
pub fn compare(report: &SpdmReport<'_>, rims: &[VerifiedRim<'_>]) -> Result<RimComparison> {
    let mut golden: BTreeMap<u16, (&GoldenMeasurement, &Rim)> = BTreeMap::new();
    for rim in rims.iter().map(VerifiedRim::rim) {
        for m in rim.measurements.iter().filter(|m| m.active) {
            if let Some((_, other)) = golden.get(&m.index) {
                return Err(Error::RimConflict {
                    index: m.index + 1,
                    first: other.tag_id.clone(),
                    second: rim.tag_id.clone(),
                });
            }
            golden.insert(m.index, (m, rim));
        }
    }
    let mut out = RimComparison {
        manifests: rims.iter().map(|r| r.rim().label()).collect(),
        tag_ids: rims.iter().map(|r| r.rim().tag_id.clone()).collect(),
        signers: rims.iter().map(|r| r.signer().to_owned()).collect(),
        signer_revocation: rims
            .iter()
            .map(|r| r.chain.iter().map(|c| c.revocation).collect())
            .collect(),
        signature: "verified",
        ..Default::default()
    };
    for (index, (m, _)) in golden {
        let spdm_index = index + 1;
        let runtime = u8::try_from(spdm_index)
            .ok()
            .and_then(|i| report.block(i))
            .map(|b| b.value);
        let ok = runtime.is_some_and(|v| v.len() == m.size && m.values.iter().any(|g| g == v));
        if ok {
            out.matched.push(spdm_index);
        } else {
            out.mismatched.push(spdm_index);
        }
    }
    Ok(out)
}

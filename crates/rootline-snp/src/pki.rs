//! AMD's certificate hierarchy: pinned roots, collateral, chains, CRLs and the
//! VCEK/VLEK extensions.
//!
//! The chain is VCEK -> ASK -> ARK (or VLEK -> ASVK -> ARK). The ARK must be
//! one of the caller's trust anchors, compared byte for byte; a self-signed
//! certificate in the collateral is never trusted by itself. Signatures are
//! checked with aws-lc-rs and only the algorithms AMD uses are accepted:
//! RSASSA-PSS with SHA-384 (MGF1 SHA-384, 48-byte salt) and, for synthetic
//! hierarchies, ECDSA P-384 with SHA-384.
//!
//! AMD extensions (VCEK specification, AMD publication 57230, section 3):
//! `1.3.6.1.4.1.3704.1.3.{1,2,3,8,9}` are the bootloader, TEE, SNP,
//! microcode and FMC security patch levels as DER INTEGERs; `...1.4` is the
//! hwID (the chip ID, raw bytes: 64 bytes, or 8 on Turin).

use std::collections::HashSet;

use aws_lc_rs::digest;
use aws_lc_rs::signature::{self, ParsedPublicKey, VerificationAlgorithm};
use rootline_core::Reader;
use x509_parser::certificate::X509Certificate;
use x509_parser::oid_registry::{
    OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_NIST_HASH_SHA384, OID_PKCS1_RSAENCRYPTION,
    OID_PKCS1_RSASSAPSS, OID_SIG_ECDSA_WITH_SHA384,
};
use x509_parser::prelude::{FromDer, X509Name};
use x509_parser::revocation_list::CertificateRevocationList;
use x509_parser::signature_algorithm::RsaSsaPssParams;
use x509_parser::x509::{AlgorithmIdentifier, SubjectPublicKeyInfo};

use crate::certtable::CertEntry;
use crate::error::{Error, Result};
use crate::report::Product;

/// SHA-256 of a DER encoding: how certificates and CRLs are cached.
pub type Fingerprint = [u8; 32];

pub(crate) fn fingerprint(der: &[u8]) -> Fingerprint {
    let d = digest::digest(&digest::SHA256, der);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// A certificate in DER with its fingerprint and where it came from.
#[derive(Clone, Debug)]
pub struct CertDer {
    pub(crate) der: Vec<u8>,
    pub(crate) fp: Fingerprint,
    pub(crate) origin: String,
}

impl CertDer {
    fn new(der: Vec<u8>, origin: String) -> Self {
        let fp = fingerprint(&der);
        Self { der, fp, origin }
    }

    /// The DER bytes.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    pub(crate) fn parse(&self) -> Result<X509Certificate<'_>> {
        parse_cert(&self.der, &self.origin)
    }
}

fn parse_cert<'a>(der: &'a [u8], origin: &str) -> Result<X509Certificate<'a>> {
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Ok(cert),
        Ok((rest, _)) => Err(Error::Collateral {
            what: format!("certificate {origin}"),
            reason: format!("{} trailing bytes", rest.len()),
        }),
        Err(e) => Err(Error::Collateral {
            what: format!("certificate {origin}"),
            reason: e.to_string(),
        }),
    }
}

fn parse_crl<'a>(der: &'a [u8], origin: &str) -> Result<CertificateRevocationList<'a>> {
    match CertificateRevocationList::from_der(der) {
        Ok(([], crl)) => Ok(crl),
        Ok((rest, _)) => Err(Error::Collateral {
            what: format!("CRL {origin}"),
            reason: format!("{} trailing bytes", rest.len()),
        }),
        Err(e) => Err(Error::Collateral {
            what: format!("CRL {origin}"),
            reason: e.to_string(),
        }),
    }
}

/// Certificates and CRLs supplied with the evidence: collateral files and
/// the report's certificate table. Nothing here is trusted by being here.
#[derive(Clone, Debug, Default)]
pub struct Collateral {
    pub(crate) certs: Vec<CertDer>,
    pub(crate) crls: Vec<CertDer>,
}

impl Collateral {
    /// No collateral.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file, recognised by content: PEM with any number of
    /// `CERTIFICATE` and `X509 CRL` blocks, or one DER certificate or CRL.
    pub fn add(&mut self, origin: &str, bytes: &[u8]) -> Result<()> {
        let trimmed = trim_ascii_start(bytes);
        if trimmed.starts_with(b"-----BEGIN") {
            let mut n = 0usize;
            for pem in x509_parser::pem::Pem::iter_from_buffer(bytes) {
                let pem = pem.map_err(|e| Error::Collateral {
                    what: origin.to_owned(),
                    reason: format!("PEM: {e}"),
                })?;
                let name = format!("{origin}#{n}");
                match pem.label.as_str() {
                    "CERTIFICATE" => {
                        parse_cert(&pem.contents, &name)?;
                        self.certs.push(CertDer::new(pem.contents, name));
                    }
                    "X509 CRL" => {
                        parse_crl(&pem.contents, &name)?;
                        self.crls.push(CertDer::new(pem.contents, name));
                    }
                    other => {
                        return Err(Error::Collateral {
                            what: name,
                            reason: format!("unexpected PEM block {other:?}"),
                        });
                    }
                }
                n += 1;
            }
            if n == 0 {
                return Err(Error::Collateral {
                    what: origin.to_owned(),
                    reason: "no PEM blocks".into(),
                });
            }
            return Ok(());
        }
        if parse_cert(bytes, origin).is_ok() {
            self.certs
                .push(CertDer::new(bytes.to_vec(), origin.to_owned()));
            return Ok(());
        }
        if parse_crl(bytes, origin).is_ok() {
            self.crls
                .push(CertDer::new(bytes.to_vec(), origin.to_owned()));
            return Ok(());
        }
        Err(Error::Collateral {
            what: origin.to_owned(),
            reason: "neither a PEM file nor a DER certificate or CRL".into(),
        })
    }

    /// Adds the certificates of an extended report's certificate table.
    pub fn add_cert_table(&mut self, entries: &[CertEntry]) -> Result<()> {
        for e in entries {
            self.add(&format!("certificate table {}", e.guid.name()), &e.bytes)?;
        }
        Ok(())
    }

    /// True when no certificate and no CRL was supplied.
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty() && self.crls.is_empty()
    }

    /// Number of CRLs supplied.
    pub fn crl_count(&self) -> usize {
        self.crls.len()
    }
}

fn trim_ascii_start(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|c| c.is_ascii_whitespace()).count();
    b.get(n..).unwrap_or(&[])
}

/// A root the caller trusts.
#[derive(Clone, Debug)]
pub(crate) struct Anchor {
    pub(crate) cert: CertDer,
    pub(crate) product: Option<Product>,
    pub(crate) name: String,
}

/// The roots a chain must end at, plus intermediates offered for chain
/// building (intermediates are verified like any collateral).
#[derive(Clone, Debug, Default)]
pub struct TrustAnchors {
    pub(crate) roots: Vec<Anchor>,
    pub(crate) intermediates: Vec<CertDer>,
}

const AMD_CHAINS: [(&str, &str); 6] = [
    ("milan_vcek.pem", include_str!("../roots/milan_vcek.pem")),
    ("milan_vlek.pem", include_str!("../roots/milan_vlek.pem")),
    ("genoa_vcek.pem", include_str!("../roots/genoa_vcek.pem")),
    ("genoa_vlek.pem", include_str!("../roots/genoa_vlek.pem")),
    ("turin_vcek.pem", include_str!("../roots/turin_vcek.pem")),
    ("turin_vlek.pem", include_str!("../roots/turin_vlek.pem")),
];

impl TrustAnchors {
    /// No roots at all: every chain is rejected until roots are added.
    pub fn empty() -> Self {
        Self::default()
    }

    /// AMD's ARKs for Milan, Genoa and Turin, pinned, with AMD's ASKs and
    /// ASVKs as intermediates (the KDS `cert_chain` files under `roots/`).
    pub fn amd() -> Self {
        let mut t = Self::empty();
        for (name, pem) in AMD_CHAINS {
            let mut c = Collateral::new();
            // The files are committed and checked by a unit test; a failure
            // here would leave the product without roots, never trust more.
            if c.add(name, pem.as_bytes()).is_err() {
                continue;
            }
            for cert in c.certs {
                let self_signed = cert
                    .parse()
                    .map(|x| x.subject().as_raw() == x.issuer().as_raw())
                    .unwrap_or(false);
                if self_signed {
                    if !t.roots.iter().any(|r| r.cert.fp == cert.fp) {
                        let _ = t.add_root_der(&cert.der);
                    }
                } else if !t.intermediates.iter().any(|i| i.fp == cert.fp) {
                    t.intermediates.push(cert);
                }
            }
        }
        t
    }

    /// Pins a root: a self-signed certificate whose self-signature verifies.
    /// Its product is read from its common name (`ARK-Genoa`).
    pub fn add_root_der(&mut self, der: &[u8]) -> Result<()> {
        let cert = CertDer::new(der.to_vec(), "trust anchor".into());
        let x = cert.parse()?;
        if x.subject().as_raw() != x.issuer().as_raw() {
            return Err(Error::Untrusted(format!(
                "trust anchor {} is not self-signed",
                x.subject()
            )));
        }
        check_signature(
            x.public_key(),
            &x.signature_algorithm,
            x.signature_value.as_ref(),
            x.tbs_certificate.as_ref(),
        )
        .map_err(|e| Error::BadSignature(format!("trust anchor {}: {e}", x.subject())))?;
        let name = common_name(x.subject()).unwrap_or_default();
        let product = Product::from_common_name(&name);
        drop(x);
        self.roots.push(Anchor {
            cert,
            product,
            name,
        });
        Ok(())
    }

    /// Pins every certificate of a PEM file as a root.
    pub fn add_root_pem(&mut self, pem: &[u8]) -> Result<()> {
        let mut c = Collateral::new();
        c.add("trust anchor", pem)?;
        for cert in c.certs {
            self.add_root_der(&cert.der)?;
        }
        Ok(())
    }

    /// Offers an intermediate (ASK/ASVK) for chain building; it is verified
    /// against a root before use.
    pub fn add_intermediate_der(&mut self, der: &[u8]) -> Result<()> {
        let cert = CertDer::new(der.to_vec(), "intermediate".into());
        cert.parse()?;
        self.intermediates.push(cert);
        Ok(())
    }

    /// The pinned roots' DER encodings.
    pub fn roots(&self) -> impl Iterator<Item = &[u8]> {
        self.roots.iter().map(|r| r.cert.der.as_slice())
    }

    /// The intermediates' DER encodings.
    pub fn intermediates(&self) -> impl Iterator<Item = &[u8]> {
        self.intermediates.iter().map(|r| r.der.as_slice())
    }
}

/// The first common name of an X.509 name.
pub(crate) fn common_name(n: &X509Name<'_>) -> Option<String> {
    n.iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_owned)
}

/// Checks `sig` over `tbs` with `issuer`'s key, accepting only the
/// algorithms AMD's hierarchy uses (and ECDSA P-384 for synthetic PKIs).
pub(crate) fn check_signature(
    issuer: &SubjectPublicKeyInfo<'_>,
    alg: &AlgorithmIdentifier<'_>,
    sig: &[u8],
    tbs: &[u8],
) -> std::result::Result<(), String> {
    let verifier: &'static dyn VerificationAlgorithm = if alg.algorithm == OID_PKCS1_RSASSAPSS {
        let params = alg
            .parameters
            .as_ref()
            .ok_or("RSASSA-PSS without parameters")?;
        let params =
            RsaSsaPssParams::try_from(params).map_err(|e| format!("RSASSA-PSS parameters: {e}"))?;
        if *params.hash_algorithm_oid() != OID_NIST_HASH_SHA384 {
            return Err(format!(
                "RSASSA-PSS hash {} is not SHA-384",
                params.hash_algorithm_oid()
            ));
        }
        let mgf = params
            .mask_gen_algorithm()
            .map_err(|e| format!("RSASSA-PSS mask generation: {e}"))?;
        if mgf.hash != OID_NIST_HASH_SHA384 {
            return Err(format!("RSASSA-PSS MGF1 hash {} is not SHA-384", mgf.hash));
        }
        if params.salt_length() != 48 {
            return Err(format!(
                "RSASSA-PSS salt length {} is not 48",
                params.salt_length()
            ));
        }
        if issuer.algorithm.algorithm != OID_PKCS1_RSAENCRYPTION
            && issuer.algorithm.algorithm != OID_PKCS1_RSASSAPSS
        {
            return Err("RSASSA-PSS signature from a non-RSA key".into());
        }
        &signature::RSA_PSS_2048_8192_SHA384
    } else if alg.algorithm == OID_SIG_ECDSA_WITH_SHA384 {
        if !is_p384(issuer) {
            return Err("ECDSA-SHA384 signature from a key that is not P-384".into());
        }
        &signature::ECDSA_P384_SHA384_ASN1
    } else {
        return Err(format!(
            "signature algorithm {} is not one AMD uses (RSASSA-PSS SHA-384 or ECDSA P-384 SHA-384)",
            alg.algorithm
        ));
    };
    signature::UnparsedPublicKey::new(verifier, &issuer.subject_public_key.data)
        .verify(tbs, sig)
        .map_err(|_| "signature does not verify".to_owned())
}

pub(crate) fn is_p384(spki: &SubjectPublicKeyInfo<'_>) -> bool {
    spki.algorithm.algorithm == OID_KEY_TYPE_EC_PUBLIC_KEY
        && spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok())
            .is_some_and(|o| o == OID_NIST_EC_P384)
}

/// What a VCEK or VLEK certificate says about itself.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct VekExtensions {
    /// blSPL (`1.3.6.1.4.1.3704.1.3.1`).
    pub bl_spl: Option<u8>,
    /// teeSPL (`.3.2`).
    pub tee_spl: Option<u8>,
    /// snpSPL (`.3.3`).
    pub snp_spl: Option<u8>,
    /// ucodeSPL (`.3.8`).
    pub ucode_spl: Option<u8>,
    /// fmcSPL (`.3.9`, Turin and later).
    pub fmc_spl: Option<u8>,
    /// hwID (`1.3.6.1.4.1.3704.1.4`), VCEK only.
    pub hw_id: Option<Vec<u8>>,
    /// productName (`1.3.6.1.4.1.3704.1.2`).
    pub product_name: Option<String>,
}

/// Reads a DER INTEGER that must fit in a u8 (a security patch level).
fn spl(value: &[u8], name: &'static str) -> Result<u8> {
    let bad = |reason: &str| Error::Collateral {
        what: format!("VEK extension {name}"),
        reason: reason.to_owned(),
    };
    let mut r = Reader::new(value);
    let tag = r.u8(name).map_err(|e| bad(&e.to_string()))?;
    if tag != 0x02 {
        return Err(bad("not a DER INTEGER"));
    }
    let len = r.u8(name).map_err(|e| bad(&e.to_string()))? as usize;
    let body = r.take(len, name).map_err(|e| bad(&e.to_string()))?;
    r.finish(name).map_err(|e| bad(&e.to_string()))?;
    match body {
        [v] if *v < 0x80 => Ok(*v),
        [0, v] if *v >= 0x80 => Ok(*v),
        _ => Err(bad("value is not an integer from 0 to 255")),
    }
}

/// Reads a DER IA5String (productName).
fn ia5(value: &[u8]) -> Option<String> {
    let mut r = Reader::new(value);
    if r.u8("tag").ok()? != 0x16 {
        return None;
    }
    let len = r.u8("len").ok()? as usize;
    let body = r.take(len, "body").ok()?;
    r.finish("productName").ok()?;
    String::from_utf8(body.to_vec()).ok()
}

pub(crate) fn vek_extensions(x: &X509Certificate<'_>) -> Result<VekExtensions> {
    let mut out = VekExtensions::default();
    for ext in x.extensions() {
        let oid = ext.oid.to_id_string();
        let v = ext.value;
        match oid.as_str() {
            "1.3.6.1.4.1.3704.1.3.1" => out.bl_spl = Some(spl(v, "blSPL")?),
            "1.3.6.1.4.1.3704.1.3.2" => out.tee_spl = Some(spl(v, "teeSPL")?),
            "1.3.6.1.4.1.3704.1.3.3" => out.snp_spl = Some(spl(v, "snpSPL")?),
            "1.3.6.1.4.1.3704.1.3.8" => out.ucode_spl = Some(spl(v, "ucodeSPL")?),
            "1.3.6.1.4.1.3704.1.3.9" => out.fmc_spl = Some(spl(v, "fmcSPL")?),
            "1.3.6.1.4.1.3704.1.4" => out.hw_id = Some(v.to_vec()),
            "1.3.6.1.4.1.3704.1.2" => out.product_name = ia5(v),
            _ => {}
        }
    }
    Ok(out)
}

/// Validity of one certificate as unix seconds.
fn window(x: &X509Certificate<'_>) -> (i64, i64) {
    (
        x.validity().not_before.timestamp(),
        x.validity().not_after.timestamp(),
    )
}

/// The kind of endorsement key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VekKind {
    /// Versioned Chip Endorsement Key (CN=SEV-VCEK), chained through the ASK.
    Vcek,
    /// Versioned Loaded Endorsement Key (CN=SEV-VLEK), chained through the ASVK.
    Vlek,
}

impl VekKind {
    /// `vcek` or `vlek`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Vcek => "vcek",
            Self::Vlek => "vlek",
        }
    }
    fn cn(self) -> &'static str {
        match self {
            Self::Vcek => "SEV-VCEK",
            Self::Vlek => "SEV-VLEK",
        }
    }
}

/// A VCEK or VLEK whose chain to a pinned root has been verified. Only the
/// time window and revocation remain to be judged per verification.
#[derive(Debug)]
pub struct TrustedVek {
    pub(crate) kind: VekKind,
    pub(crate) key: ParsedPublicKey,
    pub(crate) ext: VekExtensions,
    pub(crate) product: Option<Product>,
    pub(crate) root_name: String,
    /// Each certificate's name and validity, leaf first, for judging `at`.
    pub(crate) windows: Vec<(String, i64, i64)>,
    /// (issuer name DER, serial) of the VEK and of the intermediate, for CRL lookups.
    pub(crate) serials: Vec<(String, Vec<u8>, Vec<u8>)>,
    /// The root's subject name DER and key, to check CRLs it issued.
    pub(crate) root_fp: Fingerprint,
    /// Fingerprint of the intermediate, whose key checks CRLs it issued.
    pub(crate) intermediate_fp: Fingerprint,
}

/// Picks the VEK of `kind` from the collateral, preferring one whose hwID
/// equals `chip_id` (VCEK), and returns it.
pub(crate) fn find_vek<'c>(
    coll: &'c Collateral,
    kind: VekKind,
    chip_id: &[u8; 64],
) -> Result<&'c CertDer> {
    let mut first = None;
    for c in &coll.certs {
        let Ok(x) = c.parse() else { continue };
        if common_name(x.subject()).as_deref() != Some(kind.cn()) {
            continue;
        }
        if first.is_none() {
            first = Some(c);
        }
        if kind == VekKind::Vcek
            && let Ok(ext) = vek_extensions(&x)
            && ext
                .hw_id
                .as_deref()
                .is_some_and(|h| hw_id_matches(h, chip_id))
        {
            return Ok(c);
        }
    }
    first.ok_or_else(|| {
        Error::Missing(format!(
            "no {} certificate (CN={}) among the collateral; supply it with --collateral (AMD KDS: /{}/v1/{{product}}/...)",
            kind.name().to_uppercase(),
            kind.cn(),
            kind.name()
        ))
    })
}

/// hwID equality: 64 bytes on Milan/Genoa; on Turin the hwID is 8 bytes
/// and the report's CHIP_ID is those 8 bytes followed by zeros.
pub(crate) fn hw_id_matches(hw_id: &[u8], chip_id: &[u8; 64]) -> bool {
    if hw_id.len() == 64 {
        return hw_id == chip_id.as_slice();
    }
    if hw_id.len() == 8 {
        let (head, tail) = chip_id.split_at(8);
        return head == hw_id && tail.iter().all(|b| *b == 0);
    }
    false
}

/// Builds and verifies the chain from `vek` to a pinned root.
pub(crate) fn build_chain(
    anchors: &TrustAnchors,
    coll: &Collateral,
    vek: &CertDer,
    kind: VekKind,
) -> Result<TrustedVek> {
    let leaf = vek.parse()?;
    let leaf_cn = common_name(leaf.subject()).unwrap_or_default();
    if leaf_cn != kind.cn() {
        return Err(Error::Untrusted(format!(
            "the report is signed by the {} but the certificate is CN={leaf_cn}",
            kind.name().to_uppercase()
        )));
    }
    if !is_p384(leaf.public_key()) {
        return Err(Error::Unsupported {
            field: "VEK public key",
            value: "not an ECDSA P-384 key".into(),
        });
    }
    let ext = vek_extensions(&leaf)?;
    let key = ParsedPublicKey::new(
        &signature::ECDSA_P384_SHA384_FIXED,
        &leaf.public_key().subject_public_key.data,
    )
    .map_err(|e| Error::Collateral {
        what: format!("{} public key", kind.name()),
        reason: e.to_string(),
    })?;

    // Find the intermediate that signed the leaf: same name, good signature.
    let mut tried = Vec::new();
    let mut inter = None;
    let mut seen = HashSet::new();
    for cand in coll.certs.iter().chain(anchors.intermediates.iter()) {
        if cand.fp == vek.fp || !seen.insert(cand.fp) {
            continue;
        }
        let Ok(x) = cand.parse() else { continue };
        if x.subject().as_raw() != leaf.issuer().as_raw() || x.subject() == x.issuer() {
            continue;
        }
        match check_signature(
            x.public_key(),
            &leaf.signature_algorithm,
            leaf.signature_value.as_ref(),
            leaf.tbs_certificate.as_ref(),
        ) {
            Ok(()) => {
                inter = Some(cand);
                break;
            }
            Err(e) => tried.push(format!("{} ({}): {e}", x.subject(), cand.origin)),
        }
    }
    let inter = match inter {
        Some(i) => i,
        None if tried.is_empty() => {
            return Err(Error::Missing(format!(
                "no certificate named {} (the {} issuer) among the collateral or the built-in intermediates",
                leaf.issuer(),
                kind.name().to_uppercase()
            )));
        }
        None => {
            return Err(Error::BadSignature(format!(
                "the {} certificate is not signed by its issuer: {}",
                kind.name().to_uppercase(),
                tried.join("; ")
            )));
        }
    };
    let ix = inter.parse()?;
    let inter_cn = common_name(ix.subject()).unwrap_or_default();
    let vlek_issuer = inter_cn.starts_with("SEV-VLEK-");
    if (kind == VekKind::Vlek) != vlek_issuer {
        return Err(Error::Untrusted(format!(
            "{} issued by {inter_cn}: VCEKs chain through an ASK (SEV-product), VLEKs through an ASVK (SEV-VLEK-product)",
            kind.name().to_uppercase()
        )));
    }
    if let Ok(Some(bc)) = ix.basic_constraints()
        && !bc.value.ca
    {
        return Err(Error::Untrusted(format!(
            "intermediate {inter_cn} is not a CA (basicConstraints)"
        )));
    }

    // The intermediate's issuer must be a pinned root.
    let mut root = None;
    let mut tried = Vec::new();
    for a in &anchors.roots {
        let Ok(rx) = a.cert.parse() else { continue };
        if rx.subject().as_raw() != ix.issuer().as_raw() {
            continue;
        }
        match check_signature(
            rx.public_key(),
            &ix.signature_algorithm,
            ix.signature_value.as_ref(),
            ix.tbs_certificate.as_ref(),
        ) {
            Ok(()) => {
                root = Some((a, window(&rx)));
                break;
            }
            Err(e) => tried.push(format!("{}: {e}", a.name)),
        }
    }
    let Some((root, root_window)) = root else {
        let unpinned = coll
            .certs
            .iter()
            .filter_map(|c| c.parse().ok())
            .any(|x| x.subject().as_raw() == ix.issuer().as_raw());
        return Err(Error::Untrusted(if tried.is_empty() {
            format!(
                "{inter_cn} is issued by {}, which is not a pinned root{}",
                ix.issuer(),
                if unpinned {
                    " (a certificate of that name is in the collateral, but collateral roots are never trusted)"
                } else {
                    ""
                }
            )
        } else {
            format!(
                "{inter_cn} is not signed by the pinned root of its name: {}",
                tried.join("; ")
            )
        }));
    };
    let product = root.product;
    if let Some(name) = &ext.product_name {
        // productName is "Milan-B0", "Genoa", "Turin"...
        let stem = name.split('-').next().unwrap_or_default();
        if let Some(p) = product
            && stem != p.name()
        {
            return Err(Error::Mismatch {
                field: "productName",
                reason: format!("the VEK says {name} but its chain ends at {}", root.name),
            });
        }
    }
    let windows = vec![
        (
            format!("{} certificate", kind.name().to_uppercase()),
            window(&leaf).0,
            window(&leaf).1,
        ),
        (
            format!("{inter_cn} certificate"),
            window(&ix).0,
            window(&ix).1,
        ),
        (
            format!("{} certificate", root.name),
            root_window.0,
            root_window.1,
        ),
    ];
    let serials = vec![
        (
            format!("{} certificate", kind.name().to_uppercase()),
            leaf.issuer().as_raw().to_vec(),
            leaf.raw_serial().to_vec(),
        ),
        (
            format!("{inter_cn} certificate"),
            ix.issuer().as_raw().to_vec(),
            ix.raw_serial().to_vec(),
        ),
    ];
    Ok(TrustedVek {
        kind,
        key,
        ext,
        product,
        root_name: root.name.clone(),
        windows,
        serials,
        root_fp: root.cert.fp,
        intermediate_fp: inter.fp,
    })
}

/// A CRL whose signature was checked: its issuer and the serials it revokes.
#[derive(Debug)]
pub struct CheckedCrl {
    pub(crate) issuer: Vec<u8>,
    pub(crate) issuer_name: String,
    pub(crate) this_update: i64,
    pub(crate) next_update: Option<i64>,
    pub(crate) revoked: HashSet<Vec<u8>>,
}

/// Checks a CRL against the root or intermediate of `vek`'s chain (whichever
/// issued it). `Ok(None)` when it was issued by neither: it does not apply.
pub(crate) fn check_crl(
    anchors: &TrustAnchors,
    coll: &Collateral,
    crl: &CertDer,
    vek: &TrustedVek,
) -> Result<Option<CheckedCrl>> {
    let c = parse_crl(&crl.der, &crl.origin)?;
    let signers = anchors
        .roots
        .iter()
        .map(|a| &a.cert)
        .filter(|a| a.fp == vek.root_fp)
        .chain(
            coll.certs
                .iter()
                .chain(anchors.intermediates.iter())
                .filter(|i| i.fp == vek.intermediate_fp)
                .take(1),
        );
    for s in signers {
        let x = s.parse()?;
        if x.subject().as_raw() != c.issuer().as_raw() {
            continue;
        }
        check_signature(
            x.public_key(),
            &c.signature_algorithm,
            c.signature_value.as_ref(),
            c.tbs_cert_list.as_ref(),
        )
        .map_err(|e| {
            Error::BadSignature(format!("CRL {} issued by {}: {e}", crl.origin, c.issuer()))
        })?;
        return Ok(Some(CheckedCrl {
            issuer: c.issuer().as_raw().to_vec(),
            issuer_name: c.issuer().to_string(),
            this_update: c.last_update().timestamp(),
            next_update: c.next_update().map(|t| t.timestamp()),
            revoked: c
                .iter_revoked_certificates()
                .map(|r| r.raw_serial().to_vec())
                .collect(),
        }));
    }
    Ok(None)
}

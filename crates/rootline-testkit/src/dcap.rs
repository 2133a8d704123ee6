//! A synthetic Intel-shaped DCAP world around a real TDX quote, for tests
//! that need a quote no real TD signed: one that binds a chosen REPORTDATA
//! (a broker test's KBS session), under a test root a verifier is told to
//! trust, with its collateral served by a fake PCCS.
//!
//! Generated here with rcgen: a root, a PCK platform CA, a PCK certificate
//! carrying the real PCK's SGX extension (so FMSPC and TCB components are the
//! real ones), a TCB signing certificate, both CRLs, and the real TCB info
//! and QE identity with new issue and nextUpdate dates, re-signed. The
//! quote's body gets the chosen REPORTDATA and is signed by a fresh
//! attestation key; the QE report is bound to that key and re-signed by the
//! test PCK key. Only version-4 TDX quotes are rebuilt.
#![allow(
    clippy::unwrap_used,
    clippy::missing_panics_doc,
    clippy::indexing_slicing
)]

use std::collections::HashMap;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CustomExtension,
    DistinguishedName, DnType, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, SerialNumber,
};
use time::OffsetDateTime;

use crate::server::{Route, url_encode};

/// Offsets in a version-4 TDX quote.
const HEADER: usize = 48;
const BODY: usize = 584;
const REPORT_DATA: usize = HEADER + 520;
const SIG_DATA: usize = HEADER + BODY + 4;
const QE_REPORT: usize = SIG_DATA + 64 + 64 + 2 + 4;

/// The synthetic world: what a verifier trusts, the PCCS, and the keys that
/// rebuild the real quote for any REPORTDATA ([`Tdx::quote`]).
pub struct Tdx {
    /// The test root (DER): the verifier's DCAP trust anchor.
    pub root_der: Vec<u8>,
    /// The FMSPC of the platform (hex, upper case, as PCS spells it).
    pub fmspc: String,
    /// The CRLs', TCB info's and QE identity's nextUpdate.
    pub next_update: OffsetDateTime,
    /// A fake PCCS's routes (`rootline_testkit::server`): TCB info, QE
    /// identity, PCK CRL (each with its issuer-chain header), root CA CRL.
    pub pccs_routes: HashMap<String, Route>,
    /// The TD's MRTD (hex), for reference values.
    pub mr_td: String,
    raw: Vec<u8>,
    pck_pkcs8: Vec<u8>,
    chain_pem: String,
}

fn dn(cn: &str) -> DistinguishedName {
    let mut d = DistinguishedName::new();
    d.push(DnType::CommonName, cn);
    d.push(DnType::OrganizationName, "Intel Corporation (synthetic)");
    d.push(DnType::LocalityName, "Santa Clara");
    d.push(DnType::StateOrProvinceName, "CA");
    d.push(DnType::CountryName, "US");
    d
}

/// Certificate parameters in Intel's naming (CN `cn`, a CA when `ca`),
/// valid 2020-2045.
pub fn params(cn: &str, ca: bool, serial: u8) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name = dn(cn);
    p.not_before = time::macros::datetime!(2020-01-01 0:00 UTC);
    p.not_after = time::macros::datetime!(2045-01-01 0:00 UTC);
    p.serial_number = Some(SerialNumber::from(vec![0x10, serial]));
    p.key_identifier_method = KeyIdMethod::Sha256;
    if ca {
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    } else {
        p.is_ca = IsCa::ExplicitNoCa;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    }
    p
}

/// A fresh P-256 key.
pub fn key() -> KeyPair {
    KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap()
}

/// ECDSA P-256 over `msg` with `key`, r||s as DCAP carries signatures.
pub fn sign_with(key: &KeyPair, msg: &[u8]) -> Vec<u8> {
    sign(&key.serialize_der(), msg)
}

fn sign(pkcs8: &[u8], msg: &[u8]) -> Vec<u8> {
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
        .unwrap()
        .sign(&SystemRandom::new(), msg)
        .unwrap()
        .as_ref()
        .to_vec()
}

fn le16(b: &[u8], at: usize) -> usize {
    usize::from(u16::from_le_bytes([b[at], b[at + 1]]))
}

fn le32(b: &[u8], at: usize) -> usize {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize
}

/// The first certificate of a PEM chain, DER.
fn first_pem_cert(pem: &[u8]) -> Vec<u8> {
    use base64::Engine as _;
    let text = String::from_utf8_lossy(pem);
    let b64: String = text
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap()
}

/// The SGX extension (OID 1.2.840.113741.1.13.1) of a DER certificate: the
/// DER of its value, found by its encoded OID.
fn sgx_extension(cert: &[u8]) -> Vec<u8> {
    let oid = [
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01,
    ];
    let at = cert
        .windows(oid.len())
        .position(|w| w == oid)
        .expect("the PCK certificate has no SGX extension");
    // OID, then OCTET STRING (04 len...) holding the extension's value.
    let mut i = at + oid.len();
    assert_eq!(cert[i], 0x04, "extension value is not an OCTET STRING");
    i += 1;
    let (len, hdr) = match cert[i] {
        n if n < 0x80 => (usize::from(n), 1),
        0x81 => (usize::from(cert[i + 1]), 2),
        0x82 => (
            (usize::from(cert[i + 1]) << 8) | usize::from(cert[i + 2]),
            3,
        ),
        other => panic!("length form {other:#x}"),
    };
    cert[i + hdr..i + hdr + len].to_vec()
}

/// The FMSPC inside an SGX extension (OID ...13.1.4, OCTET STRING of 6).
fn fmspc_of(ext: &[u8]) -> String {
    let oid = [
        0x06, 0x0a, 0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01, 0x04,
    ];
    let at = ext.windows(oid.len()).position(|w| w == oid).unwrap() + oid.len();
    assert_eq!(&ext[at..at + 2], &[0x04, 0x06]);
    ext[at + 2..at + 8]
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

/// `"key":"<old>"` set to `value` in a JSON text (dates of TCB info and QE
/// identity, whose signature covers the exact text).
fn set_string(json: &str, key: &str, value: &str) -> String {
    let pat = format!("\"{key}\":\"");
    let start = json.find(&pat).unwrap() + pat.len();
    let end = start + json[start..].find('"').unwrap();
    format!("{}{value}{}", &json[..start], &json[end..])
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// A synthetic PKI and PCCS around `raw_quote` (a real v4 TDX quote): the
/// collateral is dated `issued` and valid until `next_update`; `tcb_info`
/// and `qe_identity` are the real JSON texts (dcap-qvl's collateral JSON has
/// them as strings).
pub fn tdx(
    raw_quote: &[u8],
    tcb_info: &str,
    qe_identity: &str,
    issued: OffsetDateTime,
    next_update: OffsetDateTime,
) -> Tdx {
    assert_eq!(le16(raw_quote, 0), 4, "a version-4 quote");
    let auth_at = QE_REPORT + 384 + 64;
    let auth_len = le16(raw_quote, auth_at);
    let cert_at = auth_at + 2 + auth_len;
    assert_eq!(le16(raw_quote, cert_at), 5, "PCK chain certification data");
    let pem_len = le32(raw_quote, cert_at + 2);
    let real_pck = first_pem_cert(&raw_quote[cert_at + 6..cert_at + 6 + pem_len]);
    let ext = sgx_extension(&real_pck);
    let fmspc = fmspc_of(&ext);

    // The PKI.
    let (root_k, ca_k, pck_k, tcb_k) = (key(), key(), key(), key());
    let root_p = params("Intel SGX Root CA", true, 1);
    let root = root_p.self_signed(&root_k).unwrap();
    let root_i = Issuer::new(root_p, &root_k);
    let ca_p = params("Intel SGX PCK Platform CA", true, 2);
    let ca = ca_p.signed_by(&ca_k, &root_i).unwrap();
    let ca_i = Issuer::new(ca_p, &ca_k);
    let mut pck_p = params("Intel SGX PCK Certificate", false, 3);
    pck_p
        .custom_extensions
        .push(CustomExtension::from_oid_content(
            &[1, 2, 840, 113741, 1, 13, 1],
            ext,
        ));
    let pck = pck_p.signed_by(&pck_k, &ca_i).unwrap();
    let tcb = params("Intel SGX TCB Signing", false, 4)
        .signed_by(&tcb_k, &root_i)
        .unwrap();
    let crl = |issuer: &Issuer<'_, &KeyPair>| {
        CertificateRevocationListParams {
            this_update: issued,
            next_update,
            crl_number: SerialNumber::from(vec![1]),
            issuing_distribution_point: None,
            revoked_certs: Vec::new(),
            key_identifier_method: KeyIdMethod::Sha256,
        }
        .signed_by(issuer)
        .unwrap()
        .der()
        .to_vec()
    };
    let (root_crl, pck_crl) = (crl(&root_i), crl(&ca_i));

    // The collateral, re-dated and re-signed, as a PCCS serves it.
    let redate = |j: &str| {
        set_string(
            &set_string(j, "issueDate", &rfc3339(issued)),
            "nextUpdate",
            &rfc3339(next_update),
        )
    };
    let (tcb_info, qe_identity) = (redate(tcb_info), redate(qe_identity));
    let tcb_pkcs8 = tcb_k.serialize_der();
    let tcb_chain = url_encode(&format!("{}{}", tcb.pem(), root.pem()));
    let mut routes = HashMap::new();
    routes.insert(
        "/tdx/certification/v4/tcb".to_owned(),
        Route::ok(
            format!(
                "{{\"tcbInfo\":{tcb_info},\"signature\":\"{}\"}}",
                hexs(&sign(&tcb_pkcs8, tcb_info.as_bytes()))
            )
            .into_bytes(),
        )
        .header("TCB-Info-Issuer-Chain", &tcb_chain),
    );
    routes.insert(
        "/tdx/certification/v4/qe/identity".to_owned(),
        Route::ok(
            format!(
                "{{\"enclaveIdentity\":{qe_identity},\"signature\":\"{}\"}}",
                hexs(&sign(&tcb_pkcs8, qe_identity.as_bytes()))
            )
            .into_bytes(),
        )
        .header("SGX-Enclave-Identity-Issuer-Chain", &tcb_chain),
    );
    routes.insert(
        "/sgx/certification/v4/pckcrl".to_owned(),
        Route::ok(pck_crl).header(
            "SGX-PCK-CRL-Issuer-Chain",
            &url_encode(&format!("{}{}", ca.pem(), root.pem())),
        ),
    );
    routes.insert(
        "/sgx/certification/v4/rootcacrl".to_owned(),
        Route::ok(hexs(&root_crl).into_bytes()),
    );
    Tdx {
        root_der: root.der().to_vec(),
        fmspc,
        next_update,
        pccs_routes: routes,
        mr_td: hexs(&raw_quote[HEADER + 136..HEADER + 184]),
        raw: raw_quote.to_vec(),
        pck_pkcs8: pck_k.serialize_der(),
        chain_pem: format!("{}{}{}", pck.pem(), ca.pem(), root.pem()),
    }
}

fn hexs(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Tdx {
    /// The real quote rebuilt to carry `report_data`: its body signed by a
    /// fresh attestation key, which the QE report then binds, the QE report
    /// signed by the test PCK, and the test PCK chain.
    pub fn quote(&self, report_data: [u8; 64]) -> Vec<u8> {
        let raw = &self.raw;
        let qe_report = &raw[QE_REPORT..QE_REPORT + 384];
        let auth_at = QE_REPORT + 384 + 64;
        let auth_len = le16(raw, auth_at);
        let qe_auth = &raw[auth_at + 2..auth_at + 2 + auth_len];
        let ak_pkcs8 = key().serialize_der();
        let ak = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &ak_pkcs8).unwrap();
        let ak_pub = &ak.public_key().as_ref()[1..];
        let mut signed = raw[..HEADER + BODY].to_vec();
        signed[REPORT_DATA..REPORT_DATA + 64].copy_from_slice(&report_data);
        let quote_sig = sign(&ak_pkcs8, &signed);
        let mut qe = qe_report.to_vec();
        let mut bound = ak_pub.to_vec();
        bound.extend_from_slice(qe_auth);
        let h = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bound);
        qe[320..352].copy_from_slice(h.as_ref());
        qe[352..384].fill(0);
        let qe_sig = sign(&self.pck_pkcs8, &qe);
        let mut inner = qe;
        inner.extend_from_slice(&qe_sig);
        inner.extend_from_slice(&(auth_len as u16).to_le_bytes());
        inner.extend_from_slice(qe_auth);
        inner.extend_from_slice(&5u16.to_le_bytes());
        inner.extend_from_slice(&(self.chain_pem.len() as u32).to_le_bytes());
        inner.extend_from_slice(self.chain_pem.as_bytes());
        let mut sig = quote_sig;
        sig.extend_from_slice(ak_pub);
        sig.extend_from_slice(&6u16.to_le_bytes());
        sig.extend_from_slice(&(inner.len() as u32).to_le_bytes());
        sig.extend_from_slice(&inner);
        let mut quote = signed;
        quote.extend_from_slice(&(sig.len() as u32).to_le_bytes());
        quote.extend_from_slice(&sig);
        quote
    }
}

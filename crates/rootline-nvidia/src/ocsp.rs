//! OCSP (RFC 6960) responses for the certificates of a device chain and of
//! a RIM signing chain: is the certificate still good, according to the CA
//! that issued it?
//!
//! [`OcspResponse::parse`] reads a DER `OCSPResponse` once through a bounded
//! DER reader, keeping the signed `tbsResponseData` as received (it is never
//! re-encoded). [`check`] accepts a certificate only when, in this order:
//!
//! 1. `responseStatus` is `successful` and the response is a
//!    `id-pkix-ocsp-basic` `BasicOCSPResponse` (parsing);
//! 2. a `SingleResponse`'s `CertID` names the certificate: its hash
//!    algorithm (SHA-1, SHA-256, SHA-384 or SHA-512) over the issuer's name
//!    and over the issuer's key equals `issuerNameHash` and
//!    `issuerKeyHash`, and `serialNumber` is the certificate's, byte for
//!    byte ([`Error::OcspNoMatch`] otherwise);
//! 3. the signer is the issuer itself, or a delegated responder certificate
//!    carried in the response that the issuer signed (ECDSA P-384 /
//!    SHA-384), that is valid at the verification time and that carries
//!    `id-kp-OCSPSigning` (RFC 6960 §4.2.2.2); the `responderID` (by name
//!    or by SHA-1 key hash) chooses which;
//! 4. the signature (ECDSA P-384 / SHA-384, the only algorithm in NVIDIA's
//!    hierarchy) over `tbsResponseData` verifies with the signer's key;
//! 5. `thisUpdate - CLOCK_SKEW <= at <= nextUpdate + CLOCK_SKEW`
//!    ([`CLOCK_SKEW`]); a response without `nextUpdate` counts as current
//!    for [`MAX_AGE_WITHOUT_NEXT_UPDATE`] after its `thisUpdate`;
//! 6. `certStatus` is `good`. `revoked` fails closed naming the
//!    certificate, the revocation time and reason ([`Error::Revoked`]);
//!    `unknown` fails closed too ([`Error::RevocationUnknown`]).
//!
//! Unknown critical extensions in the response or the single response are
//! rejected; others are ignored. A delegated responder's own revocation is
//! not checked (RFC 6960 §4.2.2.2.1 leaves it to the CA: `id-pkix-ocsp-nocheck`
//! or a short-lived certificate).
//!
//! # Where this differs from NVIDIA's verifier
//!
//! NVIDIA's local GPU verifier (nvtrust, `cc_admin_utils.py`,
//! `ocsp_certificate_chain_validation`) asks `https://ocsp.ndis.nvidia.com/`
//! by POST about every certificate of the device chain but the signing
//! certificate (the GPU makes that one itself; NVIDIA's responder does not
//! know it) and the root, and about every certificate of a RIM chain but
//! the root, with a SHA-384 `CertID`. We check the same certificates (see
//! [`device_scope`], [`rim_scope`]) and build the same requests
//! ([`request`]). The differences:
//!
//! - **Nonces**: nvtrust sends a random nonce (a critical extension) and
//!   requires the response to echo it. Responses here are collateral:
//!   handed over as files or cached and shared by replicas until their
//!   `nextUpdate`, so no nonce can be ours. Freshness comes from the
//!   `thisUpdate`/`nextUpdate` window (step 5) instead, as in RFC 5019's
//!   pre-produced responses; nvtrust checks no dates at all.
//! - **certificateHold**: nvtrust fails on it unless `--allow_hold_cert` is
//!   given (off by default; then it is a warning). We fail on it always, as
//!   on any revocation reason: a hold is for the CA to lift, not for a
//!   verifier.
//! - **Responder**: nvtrust verifies the signature with the response's first
//!   certificate and that certificate's chain to the root; it does not ask
//!   for `id-kp-OCSPSigning`. We take the signer from the `responderID` and
//!   accept only the issuer or a responder the issuer delegated to (RFC 6960
//!   §4.2.2.2), so a key another CA of the hierarchy certified cannot
//!   answer for this issuer.
//! - **Missing responses**: nvtrust fails when the responder cannot be
//!   reached. Without a response for a certificate we say "not checked" in
//!   the claims ([`Revocation::NotChecked`]) and let policy decide
//!   (`rootline-policy` can require `revocation.checked`).

use aws_lc_rs::digest;
use aws_lc_rs::signature::{ECDSA_P384_SHA384_ASN1, UnparsedPublicKey};
use serde::Serialize;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::oid_registry::OID_PKIX_ACCESS_DESCRIPTOR_OCSP;
use x509_parser::prelude::FromDer;

use rootline_core::der::tlv;

use crate::certs;
use crate::error::{Error, Result};

/// How far the verifier's clock may be from the responder's (seconds):
/// `thisUpdate` may be this far in the future, `nextUpdate` this far in the
/// past. Five minutes, as common OCSP clients allow (Mozilla's is the same
/// order); larger windows would keep a response alive after its issuer
/// meant it to end.
pub const CLOCK_SKEW: i64 = 5 * 60;

/// How long a response without `nextUpdate` counts as current after its
/// `thisUpdate` (seconds). RFC 6960 §4.2.2.1 says such a responder always
/// has newer information; one hour keeps such a response usable for one
/// verification round and a short cache, no more.
pub const MAX_AGE_WITHOUT_NEXT_UPDATE: i64 = 60 * 60;

/// The largest OCSP response accepted (a response with one responder
/// certificate is under 2 KiB).
pub const MAX_RESPONSE_LEN: usize = 64 * 1024;

/// The most single responses read from one response.
pub const MAX_SINGLE_RESPONSES: usize = 64;

/// The most certificates read from one response's `certs`.
pub const MAX_RESPONSE_CERTS: usize = 8;

/// NVIDIA's OCSP responder, the one nvtrust uses (`config.py`, `OCSP_URL`).
pub const NVIDIA_OCSP_URL: &str = "https://ocsp.ndis.nvidia.com/";

/// `id-pkix-ocsp-basic` (1.3.6.1.5.5.7.48.1.1), DER content octets.
const OID_OCSP_BASIC: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01];
/// `id-pkix-ocsp-nonce` (1.3.6.1.5.5.7.48.1.2), DER content octets.
const OID_OCSP_NONCE: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02];
/// `ecdsa-with-SHA384` (1.2.840.10045.4.3.3), DER content octets.
const OID_ECDSA_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
/// SHA-1 (1.3.14.3.2.26), DER content octets.
const OID_SHA1: &[u8] = &[0x2b, 0x0e, 0x03, 0x02, 0x1a];
/// SHA-256 (2.16.840.1.101.3.4.2.1), DER content octets.
const OID_SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
/// SHA-384 (2.16.840.1.101.3.4.2.2), DER content octets.
const OID_SHA384: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02];
/// SHA-512 (2.16.840.1.101.3.4.2.3), DER content octets.
const OID_SHA512: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03];

/// What a chain's certificate is known to be, for claims.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Revocation {
    /// No OCSP response for it was given: its revocation is unknown.
    #[default]
    NotChecked,
    /// An OCSP response from its issuer, verified and current, says good.
    Good,
    /// Outside what is checked: the root (trusted by being pinned) and a
    /// GPU's signing certificate (the GPU makes it; NVIDIA's responder does
    /// not know it, see the module docs).
    NotApplicable,
}

/// A certificate whose OCSP response said good.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Good {
    /// The single response's `thisUpdate`, seconds since the Unix epoch.
    pub this_update: i64,
    /// Its `nextUpdate` (or `thisUpdate` + [`MAX_AGE_WITHOUT_NEXT_UPDATE`]).
    pub next_update: i64,
}

/// The revocation reasons of RFC 5280 §5.3.1, by value.
fn reason_name(code: u8) -> String {
    match code {
        0 => "unspecified".into(),
        1 => "keyCompromise".into(),
        2 => "cACompromise".into(),
        3 => "affiliationChanged".into(),
        4 => "superseded".into(),
        5 => "cessationOfOperation".into(),
        6 => "certificateHold".into(),
        8 => "removeFromCRL".into(),
        9 => "privilegeWithdrawn".into(),
        10 => "aACompromise".into(),
        other => format!("reason code {other}"),
    }
}

/// A certificate's status in one single response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CertStatus {
    /// `good`.
    Good,
    /// `revoked`: when (seconds since the Unix epoch, and as written) and
    /// why (CRLReason, when given).
    Revoked {
        /// Revocation time, Unix seconds.
        time: i64,
        /// Revocation time, RFC 3339.
        time_text: String,
        /// CRLReason value, when given.
        reason: Option<u8>,
    },
    /// `unknown`.
    Unknown,
}

/// One `SingleResponse`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SingleResponse<'a> {
    /// `CertID.hashAlgorithm` OID content octets.
    pub hash_alg: &'a [u8],
    /// `issuerNameHash`.
    pub issuer_name_hash: &'a [u8],
    /// `issuerKeyHash`.
    pub issuer_key_hash: &'a [u8],
    /// `serialNumber`, INTEGER content octets.
    pub serial: &'a [u8],
    /// `certStatus`.
    pub status: CertStatus,
    /// `thisUpdate`, Unix seconds.
    pub this_update: i64,
    /// `nextUpdate`, Unix seconds.
    pub next_update: Option<i64>,
}

/// How the response names its signer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponderId<'a> {
    /// `byName`: the DER of the signer's subject.
    Name(&'a [u8]),
    /// `byKey`: SHA-1 of the signer's public key bits.
    KeyHash(&'a [u8]),
}

/// A parsed `OCSPResponse` with a successful `BasicOCSPResponse`; its
/// signature not yet checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OcspResponse<'a> {
    /// `tbsResponseData` as received: what the signature covers.
    pub tbs: &'a [u8],
    /// Who signed.
    pub responder: ResponderId<'a>,
    /// `producedAt`, Unix seconds.
    pub produced_at: i64,
    /// The single responses.
    pub responses: Vec<SingleResponse<'a>>,
    /// The signature (a DER ECDSA signature: the BIT STRING's bits).
    pub signature: &'a [u8],
    /// The certificates carried in `certs` (DER).
    pub certs: Vec<&'a [u8]>,
}

fn bad(field: &'static str, reason: impl Into<String>) -> Error {
    Error::Ocsp {
        field,
        reason: reason.into(),
    }
}

/// One DER TLV: its tag, its content and the whole encoding.
#[derive(Clone, Copy)]
struct Tlv<'a> {
    tag: u8,
    content: &'a [u8],
    whole: &'a [u8],
}

/// A DER reader over a slice: definite, minimal lengths only.
struct Der<'a> {
    buf: &'a [u8],
}

impl<'a> Der<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    fn peek_tag(&self) -> Option<u8> {
        self.buf.first().copied()
    }

    fn next(&mut self, field: &'static str) -> Result<Tlv<'a>> {
        let b = self.buf;
        let (&tag, rest) = b.split_first().ok_or_else(|| bad(field, "truncated"))?;
        if tag & 0x1f == 0x1f {
            return Err(bad(field, "high tag numbers are not used in OCSP"));
        }
        let (&first, mut rest) = rest.split_first().ok_or_else(|| bad(field, "truncated"))?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 3 {
                return Err(bad(field, "indefinite or oversized length"));
            }
            let (lb, r) = rest
                .split_at_checked(n)
                .ok_or_else(|| bad(field, "truncated length"))?;
            rest = r;
            let len = lb.iter().fold(0usize, |a, &x| (a << 8) | usize::from(x));
            if len < 0x80 || lb.first() == Some(&0) {
                return Err(bad(field, "length is not in minimal DER form"));
            }
            len
        };
        let (content, rest) = rest.split_at_checked(len).ok_or_else(|| {
            bad(
                field,
                format!("truncated: {len} bytes of content, {} left", rest.len()),
            )
        })?;
        let whole_len = b.len() - rest.len();
        let whole = b.get(..whole_len).unwrap_or_default();
        self.buf = rest;
        Ok(Tlv {
            tag,
            content,
            whole,
        })
    }

    fn expect(&mut self, tag: u8, field: &'static str) -> Result<Tlv<'a>> {
        let t = self.next(field)?;
        if t.tag != tag {
            return Err(bad(
                field,
                format!("tag {:#04x}, expected {tag:#04x}", t.tag),
            ));
        }
        Ok(t)
    }

    fn optional(&mut self, tag: u8, field: &'static str) -> Result<Option<Tlv<'a>>> {
        if self.peek_tag() == Some(tag) {
            self.next(field).map(Some)
        } else {
            Ok(None)
        }
    }

    fn finish(&self, field: &'static str) -> Result<()> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(bad(field, format!("{} trailing bytes", self.buf.len())))
        }
    }
}

/// A whole value of `tag`, nothing after it.
fn only<'a>(bytes: &'a [u8], tag: u8, field: &'static str) -> Result<Tlv<'a>> {
    let mut d = Der::new(bytes);
    let t = d.expect(tag, field)?;
    d.finish(field)?;
    Ok(t)
}

/// GeneralizedTime in the DER form RFC 5280 §4.1.2.5.2 requires
/// (`YYYYMMDDHHMMSSZ`): Unix seconds and RFC 3339 text.
fn generalized_time(t: Tlv<'_>, field: &'static str) -> Result<(i64, String)> {
    if t.tag != 0x18 {
        return Err(bad(
            field,
            format!("tag {:#04x} is not GeneralizedTime", t.tag),
        ));
    }
    let s = t.content;
    let ok = s.len() == 15 && s.last() == Some(&b'Z') && s.iter().take(14).all(u8::is_ascii_digit);
    if !ok {
        return Err(bad(
            field,
            "not a GeneralizedTime of the form YYYYMMDDHHMMSSZ",
        ));
    }
    let n = |a: usize, b: usize| {
        s.get(a..b)
            .unwrap_or_default()
            .iter()
            .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0'))
    };
    let (y, mo, d, h, mi, se) = (n(0, 4), n(4, 6), n(6, 8), n(8, 10), n(10, 12), n(12, 14));
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 59 {
        return Err(bad(field, "a date or time field is out of range"));
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let yy = if mo <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let unix = days * 86_400 + h * 3600 + mi * 60 + se;
    let text = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{se:02}Z");
    Ok((unix, text))
}

/// Rejects extensions marked critical other than the nonce.
fn check_extensions(t: Tlv<'_>, field: &'static str) -> Result<()> {
    let exts = only(t.content, 0x30, field)?;
    let mut d = Der::new(exts.content);
    while !d.is_empty() {
        let ext = d.expect(0x30, field)?;
        let mut e = Der::new(ext.content);
        let oid = e.expect(0x06, field)?;
        let critical = match e.optional(0x01, field)? {
            Some(b) => b.content == [0xff],
            None => false,
        };
        e.expect(0x04, field)?;
        e.finish(field)?;
        if critical && oid.content != OID_OCSP_NONCE {
            return Err(Error::Unsupported {
                field,
                value: format!(
                    "critical extension with OID content {}",
                    hex::encode(oid.content)
                ),
            });
        }
    }
    Ok(())
}

impl<'a> OcspResponse<'a> {
    /// Parses a DER `OCSPResponse`. A `responseStatus` other than
    /// `successful` is [`Error::OcspStatus`]; a response type other than
    /// `id-pkix-ocsp-basic` is unsupported.
    pub fn parse(der: &'a [u8]) -> Result<Self> {
        if der.len() > MAX_RESPONSE_LEN {
            return Err(Error::TooLarge {
                what: "OCSP response",
                len: der.len(),
                max: MAX_RESPONSE_LEN,
            });
        }
        let outer = only(der, 0x30, "OCSPResponse")?;
        let mut d = Der::new(outer.content);
        let status = d.expect(0x0a, "responseStatus")?;
        match status.content {
            [0] => {}
            [s] => {
                let name = match s {
                    1 => "malformedRequest",
                    2 => "internalError",
                    3 => "tryLater",
                    5 => "sigRequired",
                    6 => "unauthorized",
                    _ => "an undefined status",
                };
                return Err(Error::OcspStatus {
                    status: format!("{name} ({s})"),
                });
            }
            _ => return Err(bad("responseStatus", "not a one-byte ENUMERATED")),
        }
        let bytes = d.expect(0xa0, "responseBytes")?;
        d.finish("OCSPResponse")?;
        let rb = only(bytes.content, 0x30, "ResponseBytes")?;
        let mut r = Der::new(rb.content);
        let ty = r.expect(0x06, "responseType")?;
        if ty.content != OID_OCSP_BASIC {
            return Err(Error::Unsupported {
                field: "OCSP responseType",
                value: format!(
                    "OID content {}, only id-pkix-ocsp-basic is known",
                    hex::encode(ty.content)
                ),
            });
        }
        let basic = r.expect(0x04, "response")?;
        r.finish("ResponseBytes")?;

        let basic = only(basic.content, 0x30, "BasicOCSPResponse")?;
        let mut b = Der::new(basic.content);
        let tbs = b.expect(0x30, "tbsResponseData")?;
        let alg = b.expect(0x30, "signatureAlgorithm")?;
        let mut a = Der::new(alg.content);
        let alg_oid = a.expect(0x06, "signatureAlgorithm")?;
        a.finish("signatureAlgorithm (ECDSA takes no parameters)")?;
        if alg_oid.content != OID_ECDSA_SHA384 {
            return Err(Error::Unsupported {
                field: "OCSP signatureAlgorithm",
                value: format!(
                    "OID content {}, only ecdsa-with-SHA384 is used by NVIDIA",
                    hex::encode(alg_oid.content)
                ),
            });
        }
        let sig = b.expect(0x03, "signature")?;
        let signature = match sig.content.split_first() {
            Some((0, bits)) => bits,
            _ => return Err(bad("signature", "not a BIT STRING without unused bits")),
        };
        let mut certs = Vec::new();
        if let Some(c) = b.optional(0xa0, "certs")? {
            let seq = only(c.content, 0x30, "certs")?;
            let mut cs = Der::new(seq.content);
            while !cs.is_empty() {
                if certs.len() == MAX_RESPONSE_CERTS {
                    return Err(bad(
                        "certs",
                        format!("more than {MAX_RESPONSE_CERTS} certificates"),
                    ));
                }
                certs.push(cs.expect(0x30, "certs")?.whole);
            }
        }
        b.finish("BasicOCSPResponse")?;

        let mut t = Der::new(tbs.content);
        if let Some(v) = t.optional(0xa0, "version")? {
            let v = only(v.content, 0x02, "version")?;
            if v.content != [0] {
                return Err(Error::Unsupported {
                    field: "OCSP ResponseData version",
                    value: format!("{}, only v1 (0) is defined", hex::encode(v.content)),
                });
            }
        }
        let rid = t.next("responderID")?;
        let responder = match rid.tag {
            0xa1 => ResponderId::Name(only(rid.content, 0x30, "responderID byName")?.whole),
            0xa2 => ResponderId::KeyHash(only(rid.content, 0x04, "responderID byKey")?.content),
            other => {
                return Err(bad(
                    "responderID",
                    format!("tag {other:#04x} is neither byName [1] nor byKey [2]"),
                ));
            }
        };
        let (produced_at, _) = generalized_time(t.next("producedAt")?, "producedAt")?;
        let list = t.expect(0x30, "responses")?;
        if let Some(e) = t.optional(0xa1, "responseExtensions")? {
            check_extensions(e, "responseExtensions")?;
        }
        t.finish("ResponseData")?;

        let mut responses = Vec::new();
        let mut l = Der::new(list.content);
        while !l.is_empty() {
            if responses.len() == MAX_SINGLE_RESPONSES {
                return Err(bad(
                    "responses",
                    format!("more than {MAX_SINGLE_RESPONSES} single responses"),
                ));
            }
            responses.push(parse_single(l.expect(0x30, "SingleResponse")?)?);
        }
        if responses.is_empty() {
            return Err(bad("responses", "no single response"));
        }
        Ok(Self {
            tbs: tbs.whole,
            responder,
            produced_at,
            responses,
            signature,
            certs,
        })
    }

    /// The earliest time any single response stops being current: its
    /// `nextUpdate`, or `thisUpdate` + [`MAX_AGE_WITHOUT_NEXT_UPDATE`]. A
    /// cache keeps the response until then.
    pub fn next_update(&self) -> Option<i64> {
        self.responses
            .iter()
            .map(|s| {
                s.next_update
                    .unwrap_or(s.this_update.saturating_add(MAX_AGE_WITHOUT_NEXT_UPDATE))
            })
            .min()
    }

    /// The single response whose CertID names `cert` issued by `issuer`.
    fn find(
        &self,
        cert: &X509Certificate<'_>,
        issuer: &X509Certificate<'_>,
    ) -> Option<&SingleResponse<'a>> {
        self.responses.iter().find(|s| {
            let Some(alg) = hash_alg(s.hash_alg) else {
                return false;
            };
            s.serial == cert.tbs_certificate.raw_serial()
                && digest::digest(alg, issuer.subject().as_raw()).as_ref() == s.issuer_name_hash
                && digest::digest(alg, &issuer.public_key().subject_public_key.data).as_ref()
                    == s.issuer_key_hash
        })
    }

    /// Whether a single response names `cert` (DER) issued by `issuer`
    /// (DER). False when either does not parse.
    pub fn covers(&self, cert: &[u8], issuer: &[u8]) -> bool {
        match (
            X509Certificate::from_der(cert),
            X509Certificate::from_der(issuer),
        ) {
            (Ok((_, c)), Ok((_, i))) => self.find(&c, &i).is_some(),
            _ => false,
        }
    }
}

fn hash_alg(oid: &[u8]) -> Option<&'static digest::Algorithm> {
    match oid {
        OID_SHA1 => Some(&digest::SHA1_FOR_LEGACY_USE_ONLY),
        OID_SHA256 => Some(&digest::SHA256),
        OID_SHA384 => Some(&digest::SHA384),
        OID_SHA512 => Some(&digest::SHA512),
        _ => None,
    }
}

fn parse_single(t: Tlv<'_>) -> Result<SingleResponse<'_>> {
    let mut s = Der::new(t.content);
    let id = s.expect(0x30, "CertID")?;
    let mut c = Der::new(id.content);
    let alg = c.expect(0x30, "CertID hashAlgorithm")?;
    let mut a = Der::new(alg.content);
    let hash_alg = a.expect(0x06, "CertID hashAlgorithm")?.content;
    // Parameters: absent or NULL (RFC 5754 §2 allows both).
    if let Some(p) = a.optional(0x05, "CertID hashAlgorithm parameters")? {
        if !p.content.is_empty() {
            return Err(bad("CertID hashAlgorithm parameters", "NULL with content"));
        }
    }
    a.finish("CertID hashAlgorithm")?;
    let issuer_name_hash = c.expect(0x04, "issuerNameHash")?.content;
    let issuer_key_hash = c.expect(0x04, "issuerKeyHash")?.content;
    let serial = c.expect(0x02, "serialNumber")?.content;
    c.finish("CertID")?;
    if serial.is_empty() {
        return Err(bad("serialNumber", "empty INTEGER"));
    }
    let st = s.next("certStatus")?;
    let status = match st.tag {
        0x80 if st.content.is_empty() => CertStatus::Good,
        0x82 if st.content.is_empty() => CertStatus::Unknown,
        0xa1 => {
            let mut r = Der::new(st.content);
            let (time, time_text) = generalized_time(r.next("revocationTime")?, "revocationTime")?;
            let reason = match r.optional(0xa0, "revocationReason")? {
                Some(x) => match only(x.content, 0x0a, "revocationReason")?.content {
                    [v] => Some(*v),
                    _ => return Err(bad("revocationReason", "not a one-byte ENUMERATED")),
                },
                None => None,
            };
            r.finish("RevokedInfo")?;
            CertStatus::Revoked {
                time,
                time_text,
                reason,
            }
        }
        other => {
            return Err(bad(
                "certStatus",
                format!("tag {other:#04x} is not good [0], revoked [1] or unknown [2]"),
            ));
        }
    };
    let (this_update, _) = generalized_time(s.next("thisUpdate")?, "thisUpdate")?;
    let next_update = match s.optional(0xa0, "nextUpdate")? {
        Some(n) => {
            let mut nd = Der::new(n.content);
            let v = generalized_time(nd.next("nextUpdate")?, "nextUpdate")?.0;
            nd.finish("nextUpdate")?;
            Some(v)
        }
        None => None,
    };
    if let Some(e) = s.optional(0xa1, "singleExtensions")? {
        check_extensions(e, "singleExtensions")?;
    }
    s.finish("SingleResponse")?;
    Ok(SingleResponse {
        hash_alg,
        issuer_name_hash,
        issuer_key_hash,
        serial,
        status,
        this_update,
        next_update,
    })
}

fn parse_cert<'a>(der: &'a [u8], what: &'static str) -> Result<X509Certificate<'a>> {
    match X509Certificate::from_der(der) {
        Ok(([], c)) => Ok(c),
        Ok((rest, _)) => Err(bad(what, format!("{} trailing bytes", rest.len()))),
        Err(e) => Err(bad(what, e.to_string())),
    }
}

fn subject_and_serial(cert: &X509Certificate<'_>) -> (String, String) {
    (
        certs::rfc4514(cert.subject()),
        hex::encode(cert.tbs_certificate.raw_serial()),
    )
}

/// Checks `response` (DER) for `cert` (DER) issued by `issuer` (DER) at
/// `at` (Unix seconds): see the module docs for the steps. `Ok` only when
/// the certificate is good. That `issuer` issued `cert` is taken as given:
/// verify the chain first ([`crate::certs::verify_chain`]; the verifier
/// checks revocation only on chains that verified).
pub fn check(response: &[u8], cert: &[u8], issuer: &[u8], at: i64) -> Result<Good> {
    let r = OcspResponse::parse(response)?;
    let cert = parse_cert(cert, "certificate")?;
    let issuer = parse_cert(issuer, "issuer certificate")?;
    check_parsed(&r, &cert, &issuer, at)
}

/// [`check`] of a parsed response and certificates.
pub(crate) fn check_parsed(
    r: &OcspResponse<'_>,
    cert: &X509Certificate<'_>,
    issuer: &X509Certificate<'_>,
    at: i64,
) -> Result<Good> {
    let (subject, serial) = subject_and_serial(cert);
    let single = r.find(cert, issuer).ok_or_else(|| Error::OcspNoMatch {
        subject: subject.clone(),
        serial: serial.clone(),
    })?;
    let key = signer_key(r, issuer, at)?;
    UnparsedPublicKey::new(&ECDSA_P384_SHA384_ASN1, &key)
        .verify(r.tbs, r.signature)
        .map_err(|_| Error::OcspBadSignature {
            subject: subject.clone(),
        })?;
    let next = single.next_update.unwrap_or(
        single
            .this_update
            .saturating_add(MAX_AGE_WITHOUT_NEXT_UPDATE),
    );
    if at.saturating_add(CLOCK_SKEW) < single.this_update || at.saturating_sub(CLOCK_SKEW) > next {
        return Err(Error::OcspStale {
            subject,
            this_update: single.this_update,
            next_update: next,
            at,
        });
    }
    match &single.status {
        CertStatus::Good => Ok(Good {
            this_update: single.this_update,
            next_update: next,
        }),
        CertStatus::Revoked {
            time_text, reason, ..
        } => Err(Error::Revoked {
            subject,
            serial,
            time: time_text.clone(),
            reason: reason.map_or_else(|| "no reason given".into(), reason_name),
        }),
        CertStatus::Unknown => Err(Error::RevocationUnknown { subject, serial }),
    }
}

/// Step 3 of the module docs: the key that must have signed, from the
/// responderID: the issuer's, or a delegated responder's.
fn signer_key(r: &OcspResponse<'_>, issuer: &X509Certificate<'_>, at: i64) -> Result<Vec<u8>> {
    let names = |c: &X509Certificate<'_>| match r.responder {
        ResponderId::Name(n) => c.subject().as_raw() == n,
        ResponderId::KeyHash(h) => {
            digest::digest(
                &digest::SHA1_FOR_LEGACY_USE_ONLY,
                &c.public_key().subject_public_key.data,
            )
            .as_ref()
                == h
        }
    };
    if names(issuer) {
        return Ok(issuer.public_key().subject_public_key.data.to_vec());
    }
    let untrusted = |reason: String| Error::OcspResponder { reason };
    for der in &r.certs {
        let c = parse_cert(der, "responder certificate")?;
        if !names(&c) {
            continue;
        }
        let who = certs::rfc4514(c.subject());
        certs::check_link(&c, issuer).map_err(|why| {
            untrusted(format!(
                "responder {who} is not delegated by the issuer {}: {why}",
                certs::rfc4514(issuer.subject())
            ))
        })?;
        match c.extended_key_usage() {
            Ok(Some(eku)) if eku.value.ocsp_signing => {}
            Ok(_) => {
                return Err(untrusted(format!(
                    "responder {who} does not carry id-kp-OCSPSigning (extendedKeyUsage)"
                )));
            }
            Err(e) => return Err(untrusted(format!("responder {who}: extendedKeyUsage: {e}"))),
        }
        let v = c.validity();
        if at < v.not_before.timestamp() || at > v.not_after.timestamp() {
            return Err(untrusted(format!(
                "responder {who} is not valid at unix time {at}"
            )));
        }
        return Ok(c.public_key().subject_public_key.data.to_vec());
    }
    Err(untrusted(format!(
        "the response is signed by neither the issuer {} nor a responder certificate it carries",
        certs::rfc4514(issuer.subject())
    )))
}

/// Positions of the certificates of a device chain (signing certificate
/// first, root last) whose revocation is checked: all but the signing
/// certificate and the root, as nvtrust does.
pub fn device_scope(len: usize) -> std::ops::Range<usize> {
    1..len.saturating_sub(1)
}

/// Positions of the certificates of a RIM signing chain whose revocation is
/// checked: all but the root, as nvtrust does.
pub fn rim_scope(len: usize) -> std::ops::Range<usize> {
    0..len.saturating_sub(1)
}

/// The revocation of each certificate of a verified chain (`ders`,
/// signing certificate first) in `scope`, from `responses`: every
/// response that names a certificate must pass [`check`] (so one revoked
/// answer fails the chain even beside a good one); a certificate no
/// response names is [`Revocation::NotChecked`], one outside `scope`
/// [`Revocation::NotApplicable`].
pub fn chain_revocation(
    ders: &[Vec<u8>],
    scope: std::ops::Range<usize>,
    responses: &[OcspResponse<'_>],
    at: i64,
) -> Result<Vec<Revocation>> {
    let certs = ders
        .iter()
        .map(|d| parse_cert(d, "chain certificate"))
        .collect::<Result<Vec<_>>>()?;
    let mut out = vec![Revocation::NotApplicable; certs.len()];
    for i in scope {
        let (Some(cert), Some(issuer), Some(slot)) =
            (certs.get(i), certs.get(i + 1), out.get_mut(i))
        else {
            continue;
        };
        *slot = Revocation::NotChecked;
        for r in responses.iter().filter(|r| r.find(cert, issuer).is_some()) {
            check_parsed(r, cert, issuer, at)?;
            *slot = Revocation::Good;
        }
    }
    Ok(out)
}

/// An `OCSPRequest` (RFC 6960 §4.1.1) for `cert` issued by `issuer`, DER:
/// one request with a SHA-384 `CertID` (as nvtrust builds them), no nonce
/// (see the module docs) and no signature.
pub fn request(cert: &[u8], issuer: &[u8]) -> Result<Vec<u8>> {
    let cert = parse_cert(cert, "certificate")?;
    let issuer = parse_cert(issuer, "issuer certificate")?;
    let name_hash = digest::digest(&digest::SHA384, issuer.subject().as_raw());
    let key_hash = digest::digest(
        &digest::SHA384,
        &issuer.public_key().subject_public_key.data,
    );
    let alg = [tlv(0x06, OID_SHA384), tlv(0x05, &[])].concat();
    let cert_id = tlv(
        0x30,
        &[
            tlv(0x30, &alg),
            tlv(0x04, name_hash.as_ref()),
            tlv(0x04, key_hash.as_ref()),
            tlv(0x02, cert.tbs_certificate.raw_serial()),
        ]
        .concat(),
    );
    let req = tlv(0x30, &cert_id);
    let list = tlv(0x30, &req);
    let tbs = tlv(0x30, &list);
    Ok(tlv(0x30, &tbs))
}

/// The OCSP responder URLs in `cert`'s authorityInfoAccess extension (the
/// responder of the CA that issued it); empty when it names none.
pub fn responder_urls(cert: &[u8]) -> Vec<String> {
    let Ok((_, c)) = X509Certificate::from_der(cert) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for ext in c.iter_extensions() {
        if let ParsedExtension::AuthorityInfoAccess(aia) = ext.parsed_extension() {
            for ad in &aia.accessdescs {
                if ad.access_method == OID_PKIX_ACCESS_DESCRIPTOR_OCSP
                    && let GeneralName::URI(u) = &ad.access_location
                {
                    out.push((*u).to_owned());
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generalized_time_is_strict() {
        let t = |s: &[u8]| {
            generalized_time(
                Tlv {
                    tag: 0x18,
                    content: s,
                    whole: s,
                },
                "t",
            )
        };
        assert_eq!(t(b"19700101000000Z").unwrap().0, 0);
        assert_eq!(
            t(b"20261207120000Z").unwrap(),
            (1_796_644_800, "2026-12-07T12:00:00Z".into())
        );
        assert!(t(b"20261207120000").is_err());
        assert!(t(b"2026120712000Z").is_err());
        assert!(t(b"20261307120000Z").is_err());
        assert!(t(b"20261207120000.5Z").is_err());
    }

    #[test]
    fn der_lengths_must_be_minimal() {
        assert!(
            Der::new(&[0x30, 0x81, 0x05, 0, 0, 0, 0, 0])
                .next("x")
                .is_err()
        );
        assert!(Der::new(&[0x30, 0x80]).next("x").is_err());
        assert!(Der::new(&[0x30, 0x05, 0]).next("x").is_err());
        let long = tlv(0x04, &[7; 200]);
        let got = Der::new(&long).next("x").unwrap();
        assert_eq!(got.content.len(), 200);
        assert_eq!(got.whole, long.as_slice());
    }

    #[test]
    fn truncated_responses_are_errors_not_panics() {
        for n in 0..64 {
            let mut v = vec![0x30u8; n];
            v.extend_from_slice(&[0x0a, 0x01, 0x00]);
            let _ = OcspResponse::parse(&v);
        }
        assert!(matches!(
            OcspResponse::parse(&[0x30, 0x03, 0x0a, 0x01, 0x03]),
            Err(Error::OcspStatus { .. })
        ));
    }
}

//! The XML signature of an NVIDIA RIM (XMLDSig 1.1), in the one shape NVIDIA
//! signs and nothing more, so that no generality of XMLDSig (several
//! references, XPath transforms, references by ID, keys named elsewhere)
//! is reachable from untrusted input:
//!
//! - exactly one `ds:Signature` in the document, a child of the root
//!   element; its element children are `SignedInfo`, `SignatureValue`,
//!   `KeyInfo`, in that order, nothing else (no `Object`);
//! - `SignedInfo` holds `CanonicalizationMethod` (Canonical XML 1.1,
//!   [`ALG_C14N11`]), `SignatureMethod` (ECDSA P-384 with SHA-384,
//!   [`ALG_ECDSA_SHA384`]) and exactly one `Reference`, with `URI=""` (the
//!   whole document), transforms enveloped-signature ([`ALG_ENVELOPED`])
//!   then Canonical XML 1.1, `DigestMethod` SHA-384 ([`ALG_SHA384`]) and a
//!   48-byte `DigestValue`; any other algorithm is refused by name
//!   ([`Error::Unsupported`]);
//! - `SignatureValue` is 96 bytes, `r || s` (XMLDSig ECDSA values are not
//!   DER; RFC 4051 §3.3);
//! - `KeyInfo` holds one `X509Data` of `X509Certificate`s only: the
//!   signer's chain, signing certificate first, root last.
//!
//! [`read`] computes, from the tree the RIM's content is read from, the
//! SHA-384 of the canonical document without the `Signature` element and
//! the canonical `SignedInfo` in its context (namespaces declared on the
//! root element are in scope there and are signed). [`Signed::verify`]
//! then checks, in this order: the chain to a caller's RIM root
//! ([`crate::certs::verify_rim_chain`]), the signature over the canonical
//! `SignedInfo` with the signing certificate's key, and the digest.
//!
//! Because the one reference covers the whole document but the signature,
//! and the RIM's values are read from that same tree, what is compared is
//! what was signed: moving, duplicating or hiding elements changes the
//! digest, and the only place left unsigned (the `Signature` element) is
//! held to the shape above and never read for values.

use aws_lc_rs::digest;
use aws_lc_rs::signature::{ECDSA_P384_SHA384_FIXED, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use roxmltree::{Document, Node};

use crate::c14n;
use crate::certs::{self, ChainInfo, MAX_CHAIN_CERTS, TrustRoots};
use crate::error::{Error, Result};

/// The XMLDSig namespace.
pub const NS_XMLDSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
/// Canonical XML 1.1 without comments.
pub const ALG_C14N11: &str = "http://www.w3.org/2006/12/xml-c14n11";
/// The enveloped-signature transform (XMLDSig §6.6.4).
pub const ALG_ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
/// SHA-384 as an XMLDSig digest method (RFC 6931 §2.1.3).
pub const ALG_SHA384: &str = "http://www.w3.org/2001/04/xmldsig-more#sha384";
/// ECDSA with SHA-384 (RFC 6931 §2.3.6).
pub const ALG_ECDSA_SHA384: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384";

const SHA384_LEN: usize = 48;
const P384_SIGNATURE_LEN: usize = 96;

/// A RIM's signature as read and canonicalised, not yet verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Signed {
    /// `Reference/DigestValue`.
    digest_value: Vec<u8>,
    /// SHA-384 of the canonical document without the `Signature` element.
    document_digest: Vec<u8>,
    /// The canonical `SignedInfo`: the signed bytes.
    signed_info: Vec<u8>,
    /// `SignatureValue`, `r || s`.
    signature_value: Vec<u8>,
    /// `KeyInfo/X509Data/X509Certificate`s, DER, in document order.
    pub(crate) certificates: Vec<Vec<u8>>,
}

/// The `ds:Signature` of `doc`: `None` when there is none, an error when
/// there are several, when it is not a child of the root element or when it
/// departs from the profile in the module docs.
pub(crate) fn read(doc: &Document<'_>) -> Result<Option<Signed>> {
    let mut sigs = doc.descendants().filter(|n| is_ds(n, "Signature"));
    let Some(sig) = sigs.next() else {
        return Ok(None);
    };
    if sigs.next().is_some() {
        return Err(sig_err("Signature", "more than one ds:Signature element"));
    }
    if sig.parent().map(|p| p.id()) != Some(doc.root_element().id()) {
        return Err(sig_err(
            "Signature",
            "the ds:Signature element is not a child of the root element",
        ));
    }
    let [signed_info, signature_value, key_info] = children(
        sig,
        "Signature",
        ["SignedInfo", "SignatureValue", "KeyInfo"],
    )?;

    let [c14n_method, sig_method, reference] = children(
        signed_info,
        "SignedInfo",
        ["CanonicalizationMethod", "SignatureMethod", "Reference"],
    )?;
    algorithm(c14n_method, "RIM CanonicalizationMethod", ALG_C14N11)?;
    algorithm(sig_method, "RIM SignatureMethod", ALG_ECDSA_SHA384)?;
    match reference.attribute("URI") {
        Some("") => {}
        Some(other) => {
            return Err(sig_err(
                "Reference",
                format!("URI={other:?}; only URI=\"\" (the whole document) is accepted"),
            ));
        }
        None => return Err(sig_err("Reference", "no URI attribute")),
    }
    let [transforms, digest_method, digest_value] = children(
        reference,
        "Reference",
        ["Transforms", "DigestMethod", "DigestValue"],
    )?;
    let [enveloped, canonical] = children(transforms, "Transforms", ["Transform", "Transform"])?;
    algorithm(enveloped, "RIM Transform", ALG_ENVELOPED)?;
    algorithm(canonical, "RIM Transform", ALG_C14N11)?;
    algorithm(digest_method, "RIM DigestMethod", ALG_SHA384)?;
    let digest_value = base64_content(digest_value, "DigestValue")?;
    if digest_value.len() != SHA384_LEN {
        return Err(sig_err(
            "DigestValue",
            format!("{} bytes, SHA-384 is {SHA384_LEN}", digest_value.len()),
        ));
    }
    let signature_value = base64_content(signature_value, "SignatureValue")?;
    if signature_value.len() != P384_SIGNATURE_LEN {
        return Err(sig_err(
            "SignatureValue",
            format!(
                "{} bytes, an ECDSA P-384 r || s is {P384_SIGNATURE_LEN}",
                signature_value.len()
            ),
        ));
    }
    let [x509_data] = children(key_info, "KeyInfo", ["X509Data"])?;
    let mut certificates = Vec::new();
    for c in element_children(x509_data, "X509Data")? {
        if !is_ds(&c, "X509Certificate") {
            return Err(sig_err(
                "X509Data",
                format!("unexpected element {:?}", c.tag_name()),
            ));
        }
        if certificates.len() == MAX_CHAIN_CERTS {
            return Err(Error::ChainTooLong {
                len: certificates.len() + 1,
                max: MAX_CHAIN_CERTS,
            });
        }
        certificates.push(base64_content(c, "X509Certificate")?);
    }

    let document = c14n::document(doc, Some(sig.id()))?;
    let document_digest = digest::digest(&digest::SHA384, &document).as_ref().to_vec();
    let signed_info = c14n::subtree(doc, signed_info)?;
    Ok(Some(Signed {
        digest_value,
        document_digest,
        signed_info,
        signature_value,
        certificates,
    }))
}

impl Signed {
    /// Verifies the signature (see the module docs for the order); returns
    /// the signer's chain.
    pub(crate) fn verify(&self, roots: &TrustRoots, at: i64) -> Result<ChainInfo> {
        let chain = certs::verify_rim_chain(&self.certificates, roots, at)?;
        let signer = chain
            .certs
            .first()
            .map(|c| c.subject.clone())
            .unwrap_or_default();
        UnparsedPublicKey::new(&ECDSA_P384_SHA384_FIXED, &chain.leaf_key)
            .verify(&self.signed_info, &self.signature_value)
            .map_err(|_| Error::RimBadSignature { signer })?;
        if self.digest_value != self.document_digest {
            return Err(Error::RimDigestMismatch {
                signed: hex::encode(&self.digest_value),
                computed: hex::encode(&self.document_digest),
            });
        }
        Ok(chain)
    }
}

fn is_ds(n: &Node<'_, '_>, local: &str) -> bool {
    n.is_element() && n.tag_name().name() == local && n.tag_name().namespace() == Some(NS_XMLDSIG)
}

/// The element children of `n`; text between them must be whitespace.
fn element_children<'a, 'input>(n: Node<'a, 'input>, field: &str) -> Result<Vec<Node<'a, 'input>>> {
    let mut out = Vec::new();
    for c in n.children() {
        if c.is_element() {
            out.push(c);
        } else if c.is_text() && !c.text().unwrap_or_default().trim_ascii().is_empty() {
            return Err(sig_err(field, "unexpected text between elements"));
        }
    }
    Ok(out)
}

/// Exactly the XMLDSig elements `names`, in order.
fn children<'a, 'input, const N: usize>(
    n: Node<'a, 'input>,
    field: &str,
    names: [&str; N],
) -> Result<[Node<'a, 'input>; N]> {
    let found = element_children(n, field)?;
    let same = found.len() == N && found.iter().zip(names).all(|(c, name)| is_ds(c, name));
    if !same {
        let got: Vec<String> = found
            .iter()
            .map(|c| match c.tag_name().namespace() {
                Some(NS_XMLDSIG) => format!("ds:{}", c.tag_name().name()),
                _ => format!("{:?}", c.tag_name()),
            })
            .collect();
        return Err(sig_err(
            field,
            format!(
                "expected ds:{} as children, found {}",
                names.join(", ds:"),
                if got.is_empty() {
                    "none".to_owned()
                } else {
                    got.join(", ")
                }
            ),
        ));
    }
    found
        .try_into()
        .map_err(|_| sig_err(field, "wrong number of children"))
}

/// The `Algorithm` attribute is `want`, and the element has no parameters.
fn algorithm(n: Node<'_, '_>, field: &'static str, want: &str) -> Result<()> {
    let local = n.tag_name().name();
    let got = n
        .attribute("Algorithm")
        .ok_or_else(|| sig_err(local, "no Algorithm attribute"))?;
    if got != want {
        return Err(Error::Unsupported {
            field,
            value: format!("{got} (only {want} is accepted here)"),
        });
    }
    if !element_children(n, local)?.is_empty() {
        return Err(sig_err(local, format!("{got} takes no parameters")));
    }
    Ok(())
}

/// The base64 text of an element (XML whitespace, e.g. line breaks in a
/// certificate, removed).
fn base64_content(n: Node<'_, '_>, field: &str) -> Result<Vec<u8>> {
    if n.children().any(|c| c.is_element()) {
        return Err(sig_err(field, "unexpected element content"));
    }
    let text: String = n
        .children()
        .filter_map(|c| c.text())
        .flat_map(str::chars)
        .filter(|c| !matches!(c, ' ' | '\t' | '\r' | '\n'))
        .collect();
    STANDARD
        .decode(text.as_bytes())
        .map_err(|e| sig_err(field, format!("base64: {e}")))
}

fn sig_err(field: &str, reason: impl Into<String>) -> Error {
    Error::Rim {
        field: format!("ds:{field}"),
        reason: reason.into(),
    }
}

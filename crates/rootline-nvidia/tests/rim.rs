//! RIM signatures: NVIDIA's two real RIMs (../shared/vectors/nvidia/nvtrust,
//! read in place) verify to the pinned NVIDIA RIM root while their signing
//! certificate is valid; one-bit flips of a golden value, an attribute, the
//! SignedInfo and the signature value are each rejected with their own
//! reason; foreign roots, other algorithms and moved, duplicated or hidden
//! elements are rejected; synthetic RIMs signed by a test PKI (with the
//! canonical SignedInfo written out here by hand) match a real report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use aws_lc_rs::digest;
use aws_lc_rs::rand::SystemRandom;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rootline_nvidia::certs::{self, TrustRoots};
use rootline_nvidia::xmldsig::{
    ALG_C14N11, ALG_ECDSA_SHA384, ALG_ENVELOPED, ALG_SHA384, NS_XMLDSIG,
};
use rootline_nvidia::{Error, Evidence, Options, Rim, SpdmReport, Verifier, c14n, rim};
use rootline_testkit::nvidia::{Leaf, Pki};

/// 2024-06-01: inside the validity of both RIMs' signing certificates
/// (2023-06-23/27 to 2025-06-22/26).
const RIM_AT: i64 = 1_717_200_000;
/// 2026-01-01, the time the other vector tests use: both RIM signing
/// certificates have expired by then.
const AT: i64 = 1_767_225_600;

const VBIOS: &str = "nvidia/nvtrust/1010_0200_882_96005E0001_PROD.swidtag";
const DRIVER: &str = "nvidia/nvtrust/Driver_RIM_test_no_gpu.swidtag";
const SIGNER: &str = "CN=HCC RIM L4 Signer,O=NVIDIA Corporation,L=Santa Clara,ST=CA,C=US";

fn read(rel: &str) -> Option<String> {
    let p = rootline_testkit::vector(rel)?;
    Some(std::fs::read_to_string(p).unwrap())
}

fn verify(xml: &str, at: i64) -> Result<String, Error> {
    let rim = Rim::parse(xml.as_bytes())?;
    let v = rim.verify_signature(&TrustRoots::nvidia_rim(), at)?;
    Ok(v.signer().to_owned())
}

/// `xml` with the first occurrence of `needle` replaced (which must exist).
fn replace_once(xml: &str, needle: &str, with: &str) -> String {
    assert!(xml.contains(needle), "{needle:?} not in the document");
    xml.replacen(needle, with, 1)
}

/// `xml` with bit `bit` of the byte at `needle`'s first occurrence plus
/// `offset` flipped.
fn flip(xml: &str, needle: &str, offset: usize, bit: u8) -> String {
    let at = xml.find(needle).expect("needle") + offset;
    let mut b = xml.as_bytes().to_vec();
    b[at] ^= 1 << bit;
    String::from_utf8(b).unwrap()
}

#[test]
fn both_real_rims_verify_to_the_pinned_rim_root_while_their_signer_is_valid() {
    let (Some(vbios), Some(driver)) = (read(VBIOS), read(DRIVER)) else {
        return;
    };
    for (name, xml) in [("VBIOS", &vbios), ("driver", &driver)] {
        let rim = Rim::parse(xml.as_bytes()).unwrap();
        assert!(rim.has_signature());
        let v = rim
            .verify_signature(&TrustRoots::nvidia_rim(), RIM_AT)
            .unwrap_or_else(|e| panic!("{name} RIM: {e}"));
        assert_eq!(v.signer(), SIGNER, "{name}");
        let chain = v.chain();
        assert_eq!(chain.len(), 4);
        assert_eq!(
            chain[1].subject,
            "C=US,O=NVIDIA Corporation,CN=NVIDIA Reference Value L3 GH100 001"
        );
        assert_eq!(chain[3].sha256, certs::NVIDIA_RIM_ROOT_SHA256);
        // The signing certificates are two-year certificates: at the time
        // the other vector tests use they have expired, and the RIM with
        // them.
        let e = rim
            .verify_signature(&TrustRoots::nvidia_rim(), AT)
            .unwrap_err();
        assert_eq!(
            e,
            Error::Stale {
                index: 0,
                subject: SIGNER.into(),
                at: AT
            },
            "{name}"
        );
        // The device root is not a RIM root, nor is nothing.
        for roots in [TrustRoots::nvidia(), TrustRoots::empty()] {
            let e = rim.verify_signature(&roots, RIM_AT).unwrap_err();
            assert!(matches!(e, Error::UntrustedRoot { .. }), "{name}: {e}");
        }
    }
    // "test_no_gpu" names the test it serves, not a test key: the driver
    // RIM is signed by NVIDIA's production RIM chain like the VBIOS one
    // (same L3 CA, a signing certificate issued four days later).
    let v = Rim::parse(vbios.as_bytes()).unwrap();
    let d = Rim::parse(driver.as_bytes()).unwrap();
    let (v, d) = (
        v.verify_signature(&TrustRoots::nvidia_rim(), RIM_AT)
            .unwrap()
            .chain()
            .to_vec(),
        d.verify_signature(&TrustRoots::nvidia_rim(), RIM_AT)
            .unwrap()
            .chain()
            .to_vec(),
    );
    assert_eq!(v[1..], d[1..]);
    assert_ne!(v[0].serial, d[0].serial);
}

#[test]
fn one_bit_flips_are_rejected_each_with_its_reason() {
    let Some(xml) = read(VBIOS) else { return };
    assert_eq!(verify(&xml, RIM_AT).unwrap(), SIGNER);

    // A golden value (index 1's Hash0 starts with "c3f6"; 'c' ^ 1 = 'b').
    let golden = flip(&xml, "ns2:Hash0=\"c3f65ef7", 11, 0);
    assert!(golden.contains("ns2:Hash0=\"b3f65ef7"));
    let rim = Rim::parse(golden.as_bytes()).unwrap();
    assert_eq!(rim.measurements()[1].values[0][0], 0xb3);
    let e = rim
        .verify_signature(&TrustRoots::nvidia_rim(), RIM_AT)
        .unwrap_err();
    assert!(matches!(e, Error::RimDigestMismatch { .. }), "{e}");
    assert!(e.to_string().starts_with(
        "the RIM content differs from what its signature covers: SHA-384 of the canonical document is "
    ));

    // An attribute ('7' ^ 1 = '6' in name="Measurement_7").
    let attr = flip(&xml, "name=\"Measurement_7\"", 18, 0);
    assert!(attr.contains("name=\"Measurement_6\""));
    let e = verify(&attr, RIM_AT).unwrap_err();
    assert!(matches!(e, Error::RimDigestMismatch { .. }), "{e}");
    // An attribute that is not read at all (`edition`) is signed too.
    let e = verify(&flip(&xml, "edition=\"GPU\"", 9, 1), RIM_AT).unwrap_err();
    assert!(matches!(e, Error::RimDigestMismatch { .. }), "{e}");

    // The SignedInfo: its DigestValue ('D' ^ 1 = 'E').
    let si = flip(&xml, "<ds:DigestValue>D3Bc", 16, 0);
    assert!(si.contains("<ds:DigestValue>E3Bc"));
    let e = verify(&si, RIM_AT).unwrap_err();
    assert_eq!(
        e,
        Error::RimBadSignature {
            signer: SIGNER.into()
        }
    );
    // ... and the URI of its Reference, which names another algorithm.
    let e = verify(
        &replace_once(&xml, "xmldsig-more#sha384", "xmldsig-more#sha385"),
        RIM_AT,
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Unsupported {
                field: "RIM DigestMethod",
                ..
            }
        ),
        "{e}"
    );

    // The signature value ('s' ^ 1 = 'r').
    let sv = flip(&xml, "<ds:SignatureValue>s5JY", 19, 0);
    assert!(sv.contains("<ds:SignatureValue>r5JY"));
    let e = verify(&sv, RIM_AT).unwrap_err();
    assert_eq!(
        e,
        Error::RimBadSignature {
            signer: SIGNER.into()
        }
    );
}

/// One bit of every 41st byte, all through the document: never accepted
/// (most are caught by the digest, the rest by the XML parser, the
/// signature profile, the base64 decoder or the chain).
#[test]
fn a_flip_anywhere_is_rejected() {
    let Some(xml) = read(DRIVER) else { return };
    assert_eq!(verify(&xml, RIM_AT).unwrap(), SIGNER);
    let bytes = xml.as_bytes();
    let mut checked = 0;
    for i in (0..bytes.len()).step_by(41) {
        let mut b = bytes.to_vec();
        b[i] ^= 1 << (i % 7);
        let ok = Rim::parse(&b)
            .and_then(|r| {
                r.verify_signature(&TrustRoots::nvidia_rim(), RIM_AT)
                    .map(|_| ())
            })
            .is_ok();
        assert!(!ok, "flip at byte {i} accepted");
        checked += 1;
    }
    assert!(checked > 400);
}

#[test]
fn other_algorithms_are_refused_by_name() {
    let Some(xml) = read(VBIOS) else { return };
    let cases = [
        (
            "<ds:SignatureMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384\"",
            "<ds:SignatureMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256\"",
            "RIM SignatureMethod",
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        ),
        (
            "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2006/12/xml-c14n11\"",
            "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"",
            "RIM CanonicalizationMethod",
            "http://www.w3.org/2001/10/xml-exc-c14n#",
        ),
        (
            "<ds:Transform Algorithm=\"http://www.w3.org/2006/12/xml-c14n11\"",
            "<ds:Transform Algorithm=\"http://www.w3.org/2006/12/xml-c14n11#WithComments\"",
            "RIM Transform",
            "http://www.w3.org/2006/12/xml-c14n11#WithComments",
        ),
        (
            "<ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#sha384\"",
            "<ds:DigestMethod Algorithm=\"http://www.w3.org/2000/09/xmldsig#sha1\"",
            "RIM DigestMethod",
            "http://www.w3.org/2000/09/xmldsig#sha1",
        ),
    ];
    for (from, to, field, uri) in cases {
        let e = Rim::parse(replace_once(&xml, from, to).as_bytes()).unwrap_err();
        match &e {
            Error::Unsupported { field: f, value } => {
                assert_eq!(*f, field);
                assert!(value.starts_with(uri), "{value}");
            }
            other => panic!("{field}: {other}"),
        }
        assert!(e.to_string().contains(uri));
    }
    // A Reference to anything but the whole document.
    let e = Rim::parse(
        replace_once(&xml, "<ds:Reference URI=\"\">", "<ds:Reference URI=\"#x\">").as_bytes(),
    )
    .unwrap_err();
    assert!(
        matches!(&e, Error::Rim { field, .. } if field == "ds:Reference"),
        "{e}"
    );
}

/// The signature covers the whole document but itself, and values are
/// read from the tree that was digested: elements moved, duplicated or
/// hidden where the digest does not reach are all rejected.
#[test]
fn signature_wrapping_is_rejected() {
    let Some(xml) = read(VBIOS) else { return };
    let line = |i: usize| {
        let start = xml
            .find(&format!(
                "<ns0:Resource type=\"Measurement\" index=\"{i}\" "
            ))
            .unwrap();
        let end = start + xml[start..].find("/>").unwrap() + 2;
        xml[start..end].to_owned()
    };
    let (r1, r2) = (line(1), line(2));

    // Two measurements swapped: the same values, another document.
    let swapped = xml
        .replacen(&r1, "@@1", 1)
        .replacen(&r2, &r1, 1)
        .replacen("@@1", &r2, 1);
    let rim = Rim::parse(swapped.as_bytes()).unwrap();
    assert_eq!(rim.measurements()[1].index, 2);
    let e = rim
        .verify_signature(&TrustRoots::nvidia_rim(), RIM_AT)
        .unwrap_err();
    assert!(matches!(e, Error::RimDigestMismatch { .. }), "{e}");

    // An inactive measurement duplicated under a free index.
    let extra = line(63).replace("index=\"63\"", "index=\"64\"");
    let dup = replace_once(
        &xml,
        "    </ns0:Payload>",
        &format!("{extra}\n    </ns0:Payload>"),
    );
    let e = verify(&dup, RIM_AT).unwrap_err();
    assert!(matches!(e, Error::RimDigestMismatch { .. }), "{e}");

    // The signed Payload hidden in the Signature, a tampered one outside.
    let start = xml.find("<ns0:Payload").unwrap();
    let end = xml.find("</ns0:Payload>").unwrap() + "</ns0:Payload>".len();
    let original = &xml[start..end];
    let tampered = xml.replacen(
        &r1[..r1.len() - 2],
        &r1.replace("c3f65ef7", "00000000")[..r1.len() - 2],
        1,
    );
    let hidden = replace_once(
        &tampered,
        "</ds:KeyInfo>",
        &format!("</ds:KeyInfo><ds:Object>{original}</ds:Object>"),
    );
    let e = Rim::parse(hidden.as_bytes()).unwrap_err();
    assert!(
        matches!(&e, Error::Rim { field, reason } if field == "ds:Signature" && reason.contains("ds:Object")),
        "{e}"
    );
    // A second Payload beside the signed one.
    let two = replace_once(&xml, "<ds:Signature", &format!("{original}<ds:Signature"));
    let e = Rim::parse(two.as_bytes()).unwrap_err();
    assert!(
        matches!(&e, Error::Rim { field, .. } if field == "Payload"),
        "{e}"
    );
    // The Signature moved into the Payload, or a second one added.
    let sig_start = xml.find("<ds:Signature").unwrap();
    let sig_end = xml.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    let sig = &xml[sig_start..sig_end];
    let moved = replace_once(
        &xml.replacen(sig, "", 1),
        "</ns0:Payload>",
        &format!("{sig}</ns0:Payload>"),
    );
    let e = Rim::parse(moved.as_bytes()).unwrap_err();
    assert!(
        e.to_string().contains("not a child of the root element"),
        "{e}"
    );
    let twice = replace_once(
        &xml,
        "</SoftwareIdentity>",
        &format!("{sig}</SoftwareIdentity>"),
    );
    let e = Rim::parse(twice.as_bytes()).unwrap_err();
    assert!(e.to_string().contains("more than one ds:Signature"), "{e}");
    // Comments are not signed (URI="" is without comments) and change
    // nothing that is read.
    let commented = replace_once(&xml, "<ns0:Payload", "<!-- x --><ns0:Payload");
    assert_eq!(verify(&commented, RIM_AT).unwrap(), SIGNER);
}

// --- synthetic RIMs ------------------------------------------------------

const NS_SWID: &str = "http://standards.iso.org/iso/19770/-2/2015/schema.xsd";
const NS_SHA384: &str = "http://www.w3.org/2001/04/xmlenc#sha384";

/// A RIM for the vector report, written from its measurements: NVIDIA's
/// layout, with a wrong first alternative for some blocks; unsigned.
fn rim_for(report: &SpdmReport<'_>, version: &str, indices: &[u16], tamper: Option<u16>) -> String {
    let mut res = String::new();
    for b in &report.blocks {
        let i = u16::from(b.index) - 1;
        let active = indices.contains(&i);
        let mut good = hex::encode(b.value);
        if tamper == Some(i) {
            good = "ff".repeat(48);
        }
        res.push_str(&format!(
            r#"<ns0:Resource type="Measurement" index="{i}" active="{}" alternatives="2" ns2:Hash0="{}" ns2:Hash1="{good}" name="Measurement_{i}" size="48"/>
"#,
            if active { "True" } else { "False" },
            "00".repeat(47) + "01",
        ));
    }
    format!(
        r#"<?xml version="1.0"?>
<SoftwareIdentity xmlns="{NS_SWID}" xmlns:ns0="{NS_SWID}" xmlns:ns2="{NS_SHA384}" name="GH100" tagId="test-{version}" version="1.0" tagVersion="0">
<ns0:Meta xmlns:ns1="https://trustedcomputinggroup.org/resource/tcg-reference-integrity-manifest-rim-information-model/" colloquialVersion="{version}" product="GH100" ns1:PlatformModel="GH100"/>
<ns0:Payload>
{res}</ns0:Payload>
</SoftwareIdentity>"#
    )
}

/// Signs `unsigned` (a `rim_for` document) as NVIDIA does, with `pki`'s
/// signing key and its chain in KeyInfo. The canonical SignedInfo is
/// written out here: in its context it declares the root's namespaces and
/// `ds`, sorted by prefix.
fn sign(unsigned: &str, pki: &Pki) -> String {
    let digest = digest::digest(
        &digest::SHA384,
        &c14n::canonicalize(unsigned.as_bytes()).unwrap(),
    );
    let body = format!(
        "<ds:CanonicalizationMethod Algorithm=\"{ALG_C14N11}\"></ds:CanonicalizationMethod><ds:SignatureMethod Algorithm=\"{ALG_ECDSA_SHA384}\"></ds:SignatureMethod><ds:Reference URI=\"\"><ds:Transforms><ds:Transform Algorithm=\"{ALG_ENVELOPED}\"></ds:Transform><ds:Transform Algorithm=\"{ALG_C14N11}\"></ds:Transform></ds:Transforms><ds:DigestMethod Algorithm=\"{ALG_SHA384}\"></ds:DigestMethod><ds:DigestValue>{}</ds:DigestValue></ds:Reference>",
        STANDARD.encode(digest.as_ref())
    );
    let canonical_signed_info = format!(
        "<ds:SignedInfo xmlns=\"{NS_SWID}\" xmlns:ds=\"{NS_XMLDSIG}\" xmlns:ns0=\"{NS_SWID}\" xmlns:ns2=\"{NS_SHA384}\">{body}</ds:SignedInfo>"
    );
    let sig = pki
        .leaf
        .sign(&SystemRandom::new(), canonical_signed_info.as_bytes())
        .unwrap();
    let certs: String = [&pki.leaf_der, &pki.ca_der, &pki.root_der]
        .iter()
        .map(|d| {
            format!(
                "<ds:X509Certificate>{}</ds:X509Certificate>",
                STANDARD.encode(d)
            )
        })
        .collect();
    let signature = format!(
        "<ds:Signature xmlns:ds=\"{NS_XMLDSIG}\"><ds:SignedInfo>{body}</ds:SignedInfo><ds:SignatureValue>{}</ds:SignatureValue><ds:KeyInfo><ds:X509Data>{certs}</ds:X509Data></ds:KeyInfo></ds:Signature>",
        STANDARD.encode(sig.as_ref())
    );
    replace_once(
        unsigned,
        "</SoftwareIdentity>",
        &format!("{signature}</SoftwareIdentity>"),
    )
}

fn rim_pki() -> (Pki, TrustRoots) {
    let pki = Pki::new(Leaf {
        fwid: None,
        cn: "Synthetic RIM Signer",
        ..Leaf::default()
    });
    let mut roots = TrustRoots::empty();
    roots.add_der(&pki.root_der).unwrap();
    (pki, roots)
}

fn hopper() -> Option<(Vec<u8>, Vec<u8>)> {
    Some((
        std::fs::read(rootline_testkit::vector(
            "nvidia/nvtrust/hopperAttestationReport.txt",
        )?)
        .unwrap(),
        std::fs::read(rootline_testkit::vector(
            "nvidia/nvtrust/hopperCertChain.txt",
        )?)
        .unwrap(),
    ))
}

fn report_bytes(report_hex: &[u8]) -> Vec<u8> {
    hex::decode(std::str::from_utf8(report_hex).unwrap().trim()).unwrap()
}

fn opts(rims: &[Rim]) -> Options<'_> {
    Options {
        nonce: None,
        rims,
        ocsp: &[],
        at: Some(AT),
    }
}

#[test]
fn signed_rims_that_describe_the_report_match_and_a_changed_value_does_not() {
    let Some((report_hex, chain)) = hopper() else {
        return;
    };
    let bytes = report_bytes(&report_hex);
    let r = SpdmReport::parse(&bytes).unwrap();
    let (pki, rim_roots) = rim_pki();
    let verifier = Verifier::pinned().with_rim_roots(rim_roots.clone());
    let signed = |version: &str, indices: &[u16], tamper: Option<u16>| {
        Rim::parse(sign(&rim_for(&r, version, indices, tamper), &pki).as_bytes()).unwrap()
    };
    let driver = signed("550.90.07", &[7, 21, 22, 35], None);
    let vbios = signed("96.00.9F.00.01", &[0, 1, 2, 3, 4], None);
    let ev = Evidence::from_parts(&report_hex, &chain).unwrap();
    let rims = [driver.clone(), vbios.clone()];
    let claims = verifier
        .verify_evidence(&ev, &opts(&rims))
        .unwrap()
        .into_inner();
    let cmp = claims.devices[0].rim.as_ref().unwrap();
    assert_eq!(cmp.matched, vec![1, 2, 3, 4, 5, 8, 22, 23, 36]);
    assert!(cmp.mismatched.is_empty());
    assert_eq!(cmp.signature, "verified");
    let signer = "O=NVIDIA Corporation (synthetic),CN=Synthetic RIM Signer";
    assert_eq!(cmp.signers, vec![signer, signer]);
    let j = serde_json::to_value(&claims).unwrap();
    assert_eq!(j["devices"][0]["rim"]["signature"], "verified");
    assert_eq!(j["devices"][0]["rim"]["signers"][0], signer);

    // A signed RIM whose golden value differs: a mismatch, as before.
    let tampered = signed("550.90.07", &[7, 21, 22, 35], Some(22));
    let e = verifier
        .verify_evidence(&ev, &opts(&[tampered, vbios.clone()]))
        .unwrap_err();
    assert_eq!(*e.root_cause(), Error::RimMismatch { indices: vec![23] });
    // Overlapping active indices across the two RIMs.
    let overlap = signed("550.90.07", &[0], None);
    let e = verifier
        .verify_evidence(&ev, &opts(&[overlap, vbios.clone()]))
        .unwrap_err();
    assert!(
        matches!(e.root_cause(), Error::RimConflict { index: 1, .. }),
        "{e}"
    );

    // Fail closed: the same RIMs unsigned, or signed under a root the
    // verifier does not trust for RIMs (the pinned one, or none), are not
    // compared with, and the error names the RIM.
    let unsigned = Rim::parse(rim_for(&r, "550.90.07", &[7], None).as_bytes()).unwrap();
    assert!(!unsigned.has_signature());
    let e = verifier
        .verify_evidence(&ev, &opts(&[unsigned, vbios.clone()]))
        .unwrap_err();
    assert_eq!(*e.root_cause(), Error::RimUnsigned);
    assert!(
        e.to_string()
            .contains("RIM GH100 550.90.07 (test-550.90.07): the RIM is not signed"),
        "{e}"
    );
    for v in [Verifier::pinned(), Verifier::new(TrustRoots::nvidia())] {
        let e = v.verify_evidence(&ev, &opts(&rims)).unwrap_err();
        assert!(
            matches!(e.root_cause(), Error::UntrustedRoot { subject } if subject.contains("Synthetic Device Identity CA")),
            "{e}"
        );
    }
    // A RIM that does not apply to the device is neither verified nor used.
    let other = Rim::parse(rim_for(&r, "1.0", &[7], None).as_bytes()).unwrap();
    let claims = verifier
        .verify_evidence(&ev, &opts(&[driver, vbios, other]))
        .unwrap()
        .into_inner();
    assert_eq!(claims.devices[0].rim.as_ref().unwrap().manifests.len(), 2);
}

#[test]
fn real_rims_compare_only_once_verified_and_differ_where_the_releases_differ() {
    let (Some(vbios), Some(driver), Some((report_hex, _))) = (read(VBIOS), read(DRIVER), hopper())
    else {
        return;
    };
    let vbios = Rim::parse(vbios.as_bytes()).unwrap();
    let driver = Rim::parse(driver.as_bytes()).unwrap();
    let roots = TrustRoots::nvidia_rim();
    let (v, d) = (
        vbios.verify_signature(&roots, RIM_AT).unwrap(),
        driver.verify_signature(&roots, RIM_AT).unwrap(),
    );
    let report = report_bytes(&report_hex);
    let r = SpdmReport::parse(&report).unwrap();
    let c = rim::compare(&r, std::slice::from_ref(&v)).unwrap();
    assert_eq!(c.mismatched, vec![2, 3, 10, 12]);
    assert_eq!(c.matched, vec![1, 4, 5, 6, 7, 9, 11, 13]);
    assert_eq!(c.signature, "verified");
    assert_eq!(c.signers, vec![SIGNER]);
    let c = rim::compare(&r, std::slice::from_ref(&d)).unwrap();
    assert_eq!(
        c.mismatched,
        vec![8, 22, 23, 26, 27, 28, 30, 31, 32, 33, 35, 37, 38, 40, 41]
    );
    // The same RIM twice is an index conflict.
    assert!(matches!(
        rim::compare(&r, &[v.clone(), v]),
        Err(Error::RimConflict { .. })
    ));
}

/// OCSP through a signed RIM, end to end: responses about the RIM signer and
/// its CA are claimed per certificate (`rim.signer_revocation`), a revoked
/// signer fails the RIM (named) before any comparison, and without a
/// response the signer stays `not_checked`.
#[test]
fn a_signed_rim_whose_signer_is_revoked_fails_and_good_answers_are_claimed() {
    use rootline_nvidia::ocsp::Revocation;
    use rootline_testkit::ocsp::{Response, Status};
    let Some((report_hex, chain)) = hopper() else {
        return;
    };
    let bytes = report_bytes(&report_hex);
    let r = SpdmReport::parse(&bytes).unwrap();
    let (pki, rim_roots) = rim_pki();
    let verifier = Verifier::pinned().with_rim_roots(rim_roots);
    let signed = |version: &str, indices: &[u16]| {
        Rim::parse(sign(&rim_for(&r, version, indices, None), &pki).as_bytes()).unwrap()
    };
    let rims = [
        signed("550.90.07", &[7, 21, 22, 35]),
        signed("96.00.9F.00.01", &[0, 1, 2, 3, 4]),
    ];
    let ev = Evidence::from_parts(&report_hex, &chain).unwrap();
    let this = AT - 3600;
    let about_signer = |status| {
        Response::new(&pki.leaf_der, &pki.ca_der, status, this).sign(&pki.ca_ocsp_signer())
    };
    let about_ca =
        Response::new(&pki.ca_der, &pki.root_der, Status::Good, this).sign(&pki.root_ocsp_signer());
    let run = |ocsp: &[Vec<u8>]| {
        verifier.verify_evidence(
            &ev,
            &Options {
                ocsp,
                ..opts(&rims)
            },
        )
    };

    let good = [about_signer(Status::Good), about_ca.clone()];
    let claims = run(&good).unwrap().into_inner();
    let rim = claims.devices[0].rim.as_ref().unwrap();
    let checked = vec![
        Revocation::Good,
        Revocation::Good,
        Revocation::NotApplicable,
    ];
    assert_eq!(rim.signer_revocation, vec![checked.clone(), checked]);
    assert_eq!(claims.devices[0].revocation.rim, Revocation::Good);

    // Only the CA answered: the signer is not checked, and the RIM summary
    // says so.
    let claims = run(std::slice::from_ref(&about_ca)).unwrap().into_inner();
    let rim = claims.devices[0].rim.as_ref().unwrap();
    assert_eq!(rim.signer_revocation[0][0], Revocation::NotChecked);
    assert_eq!(claims.devices[0].revocation.rim, Revocation::NotChecked);
    assert!(!claims.devices[0].revocation.checked);

    // The signer revoked: the RIM is refused, naming it and the signer.
    let revoked = [about_signer(Status::Revoked(AT - 60, None)), about_ca];
    let e = run(&revoked).unwrap_err();
    assert!(
        matches!(e.root_cause(), Error::Revoked { subject, .. } if subject.contains("Synthetic RIM Signer")),
        "{e}"
    );
    assert!(e.to_string().contains("test-550.90.07"), "{e}");
}

//! `rootline-se` against s390-tools' published `pv` test vectors (copied
//! under tests/data, see PROVENANCE.md): the ARCB and key slot byte for
//! byte, the measurement HMACs, the SE header tags, and the host-key PKI.

use aws_lc_rs::agreement::{ECDH_P521, PrivateKey};
use rootline_se::request::keyslot_key;
use rootline_se::response::{measurement, measurement_items};
use rootline_se::{Arcb, AttestationRequest, Error, Flags, HkdVerifier, HostKey, Parts, Pki};
use zeroize::Zeroizing;

const ARCB: &[u8] = include_bytes!("data/arcb.bin");
const KEYSLOT: &[u8] = include_bytes!("data/keyslot.bin");
const PRIV: &[u8] = include_bytes!("data/private_cust.bin");
const PUB: &[u8] = include_bytes!("data/public_cust.bin");
const HOST: &[u8] = include_bytes!("data/host.pem.crt");

fn customer_key() -> PrivateKey {
    assert!(PRIV[..14].iter().all(|b| *b == 0));
    PrivateKey::from_private_key(&ECDH_P521, &PRIV[14..]).unwrap()
}

fn pv_parts() -> Parts {
    Parts {
        iv: [0x55; 12],
        customer_key: customer_key(),
        protection_key: Zeroizing::new([0x17; 32]),
        measurement_key: Zeroizing::new([0x77; 64]),
        nonce: [0xab; 16],
    }
}

#[test]
fn customer_key_coordinates_match_pv() {
    let p = customer_key().compute_public_key().unwrap();
    let k = HostKey::from_uncompressed(p.as_ref()).unwrap();
    assert_eq!(k.coords().as_slice(), PUB);
}

#[test]
fn arcb_is_byte_identical_to_pv() {
    let host = HostKey::from_certificate_unverified(HOST).unwrap();
    let flags = Flags::IMAGE_PHKH.union(Flags::ATTESTATION_PHKH);
    let req =
        AttestationRequest::with_parts(std::slice::from_ref(&host), flags, pv_parts()).unwrap();
    assert_eq!(req.arcb(), ARCB);
    assert_eq!(req.secret().flags, Flags::TRUSTEE);
    assert_eq!(req.secret().host_key_hashes, vec![host.phkh()]);
    // The key slot alone, as pv's keyslot test builds it.
    assert_eq!(&ARCB[0xe0..0xe0 + 80], KEYSLOT);
}

#[test]
fn keyslot_unwraps_with_the_derived_key() {
    let host = HostKey::from_certificate_unverified(HOST).unwrap();
    let arcb = Arcb::parse(ARCB).unwrap();
    assert_eq!(arcb.keyslots.len(), 1);
    assert_eq!(arcb.keyslots[0].phkh, &host.phkh());
    // ECDH is symmetric: the customer side derives the same key the host does.
    let k = keyslot_key(&customer_key(), &host).unwrap();
    assert_eq!(*arcb.keyslots[0].unwrap_key(&k).unwrap(), [0x17; 32]);
    // pv's derive_aes256_gcm_key vector.
    assert_eq!(
        hex::encode(*k),
        "75327755 8f3b6003 419ef249 ae3c4b55 aad77d09 d97fdd1f c88fd8f0 cf22f149".replace(' ', "")
    );
}

#[test]
fn arcb_opens_and_every_byte_is_authenticated() {
    let arcb = Arcb::parse(ARCB).unwrap();
    assert_eq!(arcb.flags, Flags::TRUSTEE);
    let s = arcb.open(&[0x17; 32]).unwrap();
    assert_eq!(*s.measurement_key, [0x77; 64]);
    assert_eq!(s.nonce, [0xab; 16]);
    for i in 0..ARCB.len() {
        let mut b = ARCB.to_vec();
        b[i] ^= 1;
        let opened = Arcb::parse(&b).and_then(|a| a.open(&[0x17; 32]));
        assert!(opened.is_err(), "flipping byte {i:#x} was not noticed");
    }
}

#[test]
fn measurement_hmacs_match_pv() {
    let mut tags = [0u8; 208];
    tags[..64].fill(1);
    tags[64..128].fill(2);
    tags[128..192].fill(3);
    tags[192..].fill(4);
    let cuid = [5u8; 16];
    let key = [0x41u8; 64];
    let m = |user: &[u8], nonce: Option<&[u8; 16]>, add: &[u8]| {
        hex::encode(measurement(
            &key,
            &measurement_items(&tags, &cuid, user, nonce, add).unwrap(),
        ))
    };
    assert_eq!(
        m(&[7; 256], Some(&[8; 16]), &[9; 128]),
        "88794c62cce7bcf26216deb3f48f13fea6374b6d7e35bcc5c2ce68121db6f45dfc8c17185646354940\
         8bf8e7d1aca11efad0a878af97dc9e21a1fc2a32f3a675"
    );
    assert_eq!(
        m(&[7; 256], None, &[9; 128]),
        "fbd4f738a390edd947cd4f11af3a2f3bab2fdf8bf89bf81beb495117f4382cf42f0730c8c7d9e3ca27fb\
         25adfceb21224f57fdb398dcf41a83c146e6a23db760"
    );
    assert_eq!(
        m(&[], None, &[9; 128]),
        "63671fbf295036eb1023ea71f7182e7d6343dc7b2da584e824d0a7d198ab9cded756c93b39050ffb7645\
         55b01f88cb82017a6a15c7e0bafc6005f1e4f78aa124"
    );
    assert_eq!(
        m(&[], None, &[]),
        "c5c34c93835d1ec23f5c2d778dfa20129b11b305601742cb2f38e0ed9894dcdb73fc8695ab6a8dbad074\
         4073ddc81a5eaafa52e4a15af8deb8d7610919228 47f"
            .replace(' ', "")
    );
}

#[test]
fn se_header_tags_match_pv() {
    let t = rootline_se::hdr_tags_from_se_header(include_bytes!("data/secure_guest.hdr")).unwrap();
    assert_eq!(hex::encode(&t[..8]), "be94b5eab3c1b118");
    assert_eq!(hex::encode(&t[64..72]), "2858c3368b2a0af0");
    assert_eq!(hex::encode(&t[128..136]), "4860ebcf7b9d24eb");
    assert_eq!(hex::encode(&t[192..]), "92309d4589b9a85b427f8753171d1520");
    let mut bad = include_bytes!("data/secure_guest.hdr").to_vec();
    bad[0] ^= 1;
    assert!(rootline_se::hdr_tags_from_se_header(&bad).is_err());
}

// 2026-01-01: inside every validity window of pv's test PKI (2024..2388).
const AT: i64 = 1_767_225_600;

fn pki(files: &[&[u8]]) -> Pki {
    let mut p = Pki::new();
    for f in files {
        p.add(f).unwrap();
    }
    p
}

const ROOT: &[u8] = include_bytes!("data/root_ca.crt");
const INTER: &[u8] = include_bytes!("data/inter_ca.crt");
const IBM: &[u8] = include_bytes!("data/ibm.crt");
const IBM_CRL: &[u8] = include_bytes!("data/ibm.crl");
const INTER_CRL: &[u8] = include_bytes!("data/inter_ca.crl");
const ROOT_CRL: &[u8] = include_bytes!("data/root_ca.crl");

fn root() -> Vec<Vec<u8>> {
    pki(&[ROOT]).certs().to_vec()
}

fn good() -> HkdVerifier {
    HkdVerifier::new(
        &root(),
        &pki(&[INTER, IBM, IBM_CRL, INTER_CRL, ROOT_CRL]),
        AT,
    )
    .unwrap()
}

#[test]
fn pv_host_key_document_verifies() {
    let hk = good().verify(include_bytes!("data/host.crt"), AT).unwrap();
    assert_eq!(
        hk,
        HostKey::from_certificate_unverified(include_bytes!("data/host.crt")).unwrap()
    );
}

#[test]
fn pv_revoked_host_key_document_is_rejected() {
    let e = good()
        .verify(include_bytes!("data/host_rev.crt"), AT)
        .unwrap_err();
    assert!(matches!(e, Error::Revoked { .. }), "{e}");
}

#[test]
fn pv_expired_host_key_document_is_rejected() {
    let e = good()
        .verify(include_bytes!("data/host_crt_expired.crt"), AT)
        .unwrap_err();
    assert!(e.to_string().contains("expired"), "{e}");
}

#[test]
fn pv_without_the_signing_key_crl_nothing_verifies() {
    let v = HkdVerifier::new(&root(), &pki(&[INTER, IBM, INTER_CRL, ROOT_CRL]), AT).unwrap();
    let e = v.verify(include_bytes!("data/host.crt"), AT).unwrap_err();
    assert!(matches!(e, Error::NoCrl(_)), "{e}");
}

#[test]
fn pv_without_the_intermediate_crl_the_signing_key_is_not_trusted() {
    let e = HkdVerifier::new(&root(), &pki(&[INTER, IBM, IBM_CRL, ROOT_CRL]), AT).unwrap_err();
    assert!(matches!(e, Error::NoCrl(_)), "{e}");
}

#[test]
fn pv_wrong_subject_is_no_signing_key() {
    let e = HkdVerifier::new(
        &root(),
        &pki(&[
            INTER,
            include_bytes!("data/ibm_wrong_subject.crt"),
            IBM_CRL,
            INTER_CRL,
            ROOT_CRL,
        ]),
        AT,
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("no certificate with an IBM Z"),
        "{e}"
    );
}

#[test]
fn pv_signing_key_from_another_root_is_rejected() {
    let e = HkdVerifier::new(
        &root(),
        &pki(&[
            INTER,
            include_bytes!("data/fake_ibm.crt"),
            IBM_CRL,
            INTER_CRL,
            ROOT_CRL,
        ]),
        AT,
    )
    .unwrap_err();
    assert!(matches!(e, Error::Untrusted { .. }), "{e}");
}

#[test]
fn pv_pki_without_the_root_is_untrusted() {
    let e = HkdVerifier::new(
        pki(&[INTER]).certs(),
        &pki(&[IBM, IBM_CRL, INTER_CRL, ROOT_CRL]),
        AT,
    )
    .unwrap_err();
    assert!(matches!(e, Error::Untrusted { .. }), "{e}");
}

//! A synthetic platform (tests/common): the chain with wrong-key variants,
//! and a whole launch against a model of the PSP (session, measurement,
//! secret), with one-bit flips of every MACed value refused.

mod common;

use common::{Ca, Ec, Pdh, Platform, psp_launch_start};
use rootline_sev::{
    Error, GuestPolicy, LaunchMeasurement, LaunchSession, PlatformChain, PlatformVersion,
    SecretTable, TrustAnchors, VerifiedPlatform,
};

fn anchors(p: &Platform) -> TrustAnchors {
    TrustAnchors::from_arks([("synthetic".to_string(), &p.ark.cert[..])]).unwrap()
}

fn chain(
    p: &Platform,
    pdh: &[u8],
    pek: &[u8],
    oca: &[u8],
    cek: &[u8],
    ask: &[u8],
) -> Result<VerifiedPlatform, Error> {
    PlatformChain::from_parts(pdh, pek, oca, cek, &[ask, &p.ark.cert[..]].concat())?
        .verify(&anchors(p))
}

#[test]
fn synthetic_chain_verifies_to_its_root_only() {
    let p = Platform::new();
    let v = PlatformChain::parse_full(&p.full_chain())
        .unwrap()
        .verify(&anchors(&p))
        .unwrap();
    assert_eq!(v.root(), "synthetic");
    assert_eq!(v.api_version(), (0, 24));
    let e = PlatformChain::parse_full(&p.full_chain())
        .unwrap()
        .verify(&TrustAnchors::amd().unwrap())
        .unwrap_err();
    assert!(matches!(e, Error::Untrusted(_)), "{e}");
}

#[test]
fn wrong_key_variants_are_refused() {
    let p = Platform::new();
    let other_ark = Ca::ark(0xa1); // same key ID, another key
    let other_ask = Ca::ask(0xa2, &p.ark);
    let other_oca = Ec::oca();
    let other_cek = Ec::cek(&p.ask);
    let other_pek = Ec::pek(&p.oca, &p.cek);
    let other_pdh = Pdh::new(&other_pek);

    // An ASK signed by a different ARK with the trusted ARK's key ID.
    let ask_by_other_ark = Ca::ask(0xa2, &other_ark);
    let e = chain(
        &p,
        &p.pdh.cert,
        &p.pek.cert,
        &p.oca.cert,
        &p.cek.cert,
        &ask_by_other_ark.cert,
    )
    .unwrap_err();
    assert_eq!(
        e,
        Error::BadSignature {
            cert: "ASK",
            signer: "ARK"
        }
    );
    // A CEK whose ASK is another (validly issued) ASK than the one given.
    let cek_by_other_ask = Ec::cek(&other_ask);
    let e = chain(
        &p,
        &p.pdh.cert,
        &p.pek.cert,
        &p.oca.cert,
        &cek_by_other_ask.cert,
        &p.ask.cert,
    )
    .unwrap_err();
    assert_eq!(
        e,
        Error::BadSignature {
            cert: "CEK",
            signer: "ASK"
        }
    );
    // A PEK certified by another OCA (a platform owner not the one named).
    let e = chain(
        &p,
        &p.pdh.cert,
        &p.pek.cert,
        &other_oca.cert,
        &p.cek.cert,
        &p.ask.cert,
    )
    .unwrap_err();
    assert_eq!(
        e,
        Error::BadSignature {
            cert: "PEK",
            signer: "OCA"
        }
    );
    // A PEK endorsed by another chip's CEK.
    let e = chain(
        &p,
        &p.pdh.cert,
        &p.pek.cert,
        &p.oca.cert,
        &other_cek.cert,
        &p.ask.cert,
    )
    .unwrap_err();
    assert_eq!(
        e,
        Error::BadSignature {
            cert: "PEK",
            signer: "CEK"
        }
    );
    // A PDH from another PEK: the key an attacker holds, not the firmware's.
    let e = chain(
        &p,
        &other_pdh.cert,
        &p.pek.cert,
        &p.oca.cert,
        &p.cek.cert,
        &p.ask.cert,
    )
    .unwrap_err();
    assert_eq!(
        e,
        Error::BadSignature {
            cert: "PDH",
            signer: "PEK"
        }
    );
    // A PEK signed by the OCA only (its CEK slot emptied).
    let mut one_slot = p.pek.cert.clone();
    one_slot[0x61c..].copy_from_slice(&[&0x1000u32.to_le_bytes()[..], &[0u8; 516]].concat());
    let e = chain(
        &p,
        &p.pdh.cert,
        &one_slot,
        &p.oca.cert,
        &p.cek.cert,
        &p.ask.cert,
    )
    .unwrap_err();
    assert_eq!(
        e,
        Error::BadSignature {
            cert: "PEK",
            signer: "CEK"
        }
    );
}

#[test]
fn ecdsa_sha384_slots_verify_too() {
    let p = Platform::new();
    let key = aws_lc_rs::signature::EcdsaKeyPair::generate(
        &aws_lc_rs::signature::ECDSA_P384_SHA384_ASN1_SIGNING,
    )
    .unwrap();
    use aws_lc_rs::signature::KeyPair;
    let body = common::sev_body(common::OCA, common::ECDSA_SHA384, key.public_key().as_ref());
    let oca384 = Ec {
        key,
        usage: common::OCA,
        cert: Vec::new(),
    };
    let slot = common::ec_slot(&oca384, &body, true);
    let empty = [&0x1000u32.to_le_bytes()[..], &[0u8; 516]].concat();
    let oca_cert = [body, slot, empty].concat();
    let oca384 = Ec {
        cert: oca_cert,
        ..oca384
    };
    let pek = Ec::pek(&p.oca, &p.cek); // signed with SHA-256 by the old OCA
    // The PEK's OCA slot is ECDSA-SHA256 while this OCA signs with SHA-384.
    let e = chain(
        &p,
        &p.pdh.cert,
        &pek.cert,
        &oca384.cert,
        &p.cek.cert,
        &p.ask.cert,
    )
    .unwrap_err();
    assert_eq!(
        e,
        Error::BadSignature {
            cert: "PEK",
            signer: "OCA"
        }
    );
    let oca = rootline_sev::SevCertificate::parse(&oca384.cert).unwrap();
    assert!(oca.is_signed_by(&oca));
}

fn launch(
    p: &Platform,
    policy: u32,
) -> (LaunchSession, rootline_sev::LaunchStart, common::PspLaunch) {
    let v = PlatformChain::parse_full(&p.full_chain())
        .unwrap()
        .verify(&anchors(p))
        .unwrap();
    let (session, start) = LaunchSession::start(&v, GuestPolicy(policy)).unwrap();
    assert_eq!(start.policy, GuestPolicy(policy));
    let psp = psp_launch_start(&p.pdh, &start.godh_cert, &start.session, policy).unwrap();
    (session, start, psp)
}

const VERSION: PlatformVersion = PlatformVersion {
    api_major: 1,
    api_minor: 55,
    build: 21,
};

#[test]
fn a_whole_launch_injects_the_secret_into_the_measured_guest_only() {
    let p = Platform::new();
    let (session, start, psp) = launch(&p, 0x0005);
    // The GODH certificate parses as an unsigned PDH-usage ECDH key.
    let godh = rootline_sev::SevCertificate::parse(&start.godh_cert).unwrap();
    assert_eq!(godh.usage(), rootline_sev::Usage::PDH);
    assert_eq!(godh.signatures().count(), 0);

    let digest = [0x5a; 32];
    let blob = psp.measure((1, 55, 21), &digest, [7; 16]);
    let m = LaunchMeasurement::parse(&blob).unwrap();
    let verified = session
        .verify_measurement(VERSION, &m, &[[0; 32], digest])
        .unwrap();
    assert_eq!(verified.digest(), digest);
    assert_eq!(verified.policy(), GuestPolicy(5));

    let mut table = SecretTable::new();
    table
        .insert(
            "736869e5-84f0-4973-92ec-06879ce3da0b".parse().unwrap(),
            b"correct horse battery staple",
        )
        .unwrap();
    let packet = verified.launch_secret(&table).unwrap();
    let plain = psp
        .secret(&packet.header, &packet.payload, &blob[..32])
        .unwrap();
    let got = SecretTable::parse(&plain).unwrap();
    assert_eq!(
        got.entries().next().unwrap().1,
        b"correct horse battery staple"
    );
    // Another launch's measurement: the PSP refuses the packet.
    let mut other = blob;
    other[0] ^= 1;
    assert_eq!(
        psp.secret(&packet.header, &packet.payload, &other[..32]),
        Err("packet header MAC")
    );
    // Two packets never share an IV.
    let again = verified.launch_secret(&table).unwrap();
    assert_ne!(packet.header[4..20], again.header[4..20]);
}

#[test]
fn one_bit_flips_of_the_measurement_blob_are_refused() {
    let p = Platform::new();
    let digest = [0x11; 32];
    let mut n = 0;
    for i in 0..48 * 8 {
        let (session, _, psp) = launch(&p, 0x0001);
        let mut blob = psp.measure((1, 55, 21), &digest, [3; 16]);
        blob[i / 8] ^= 1 << (i % 8);
        let m = LaunchMeasurement::parse(&blob).unwrap();
        let e = session
            .verify_measurement(VERSION, &m, &[digest])
            .unwrap_err();
        assert!(matches!(e, Error::Measurement(_)), "{e}");
        n += 1;
    }
    // And each other input the HMAC covers: version, policy, digest.
    for v in [
        PlatformVersion {
            api_major: 0,
            ..VERSION
        },
        PlatformVersion {
            api_minor: 54,
            ..VERSION
        },
        PlatformVersion {
            build: 20,
            ..VERSION
        },
    ] {
        let (session, _, psp) = launch(&p, 0x0001);
        let blob = psp.measure((1, 55, 21), &digest, [3; 16]);
        let m = LaunchMeasurement::parse(&blob).unwrap();
        assert!(session.verify_measurement(v, &m, &[digest]).is_err(), "{v}");
    }
    let (session, _, mut psp) = launch(&p, 0x0001);
    psp.policy = 0x0003;
    let blob = psp.measure((1, 55, 21), &digest, [3; 16]);
    let m = LaunchMeasurement::parse(&blob).unwrap();
    assert!(
        session.verify_measurement(VERSION, &m, &[digest]).is_err(),
        "policy"
    );
    let (session, _, psp) = launch(&p, 0x0001);
    let blob = psp.measure((1, 55, 21), &digest, [3; 16]);
    let m = LaunchMeasurement::parse(&blob).unwrap();
    let mut wrong = digest;
    wrong[31] ^= 0x80;
    assert!(
        session.verify_measurement(VERSION, &m, &[wrong]).is_err(),
        "digest"
    );
    eprintln!("{n} measurement flips refused");
}

#[test]
fn the_psp_refuses_flipped_session_data_and_packets() {
    let p = Platform::new();
    let (session, start, psp) = launch(&p, 0x0001);
    // Every bit of the 128-byte session blob: the PSP's WRAP_MAC or
    // POLICY_MAC check (or the unwrapped TIK) fails.
    for i in 0..128 * 8 {
        let mut s = start.session;
        s[i / 8] ^= 1 << (i % 8);
        assert!(
            psp_launch_start(&p.pdh, &start.godh_cert, &s, 0x0001).is_err(),
            "session bit {i}"
        );
    }
    // Launching under another policy than the one MACed.
    assert_eq!(
        psp_launch_start(&p.pdh, &start.godh_cert, &start.session, 0x0000).err(),
        Some("POLICY_MAC")
    );
    // A flip in the GODH point: another shared secret, or no point at all.
    for i in (0x14..0x14 + 48).chain(0x5c..0x5c + 48) {
        let mut g = start.godh_cert.clone();
        g[i] ^= 1 << (i % 8);
        assert!(
            psp_launch_start(&p.pdh, &g, &start.session, 0x0001).is_err(),
            "GODH byte {i:#x}"
        );
    }

    let digest = [0x22; 32];
    let blob = psp.measure((1, 55, 21), &digest, [9; 16]);
    let verified = session
        .verify_measurement(
            VERSION,
            &LaunchMeasurement::parse(&blob).unwrap(),
            &[digest],
        )
        .unwrap();
    let mut table = SecretTable::new();
    table
        .insert(
            "a0c8be07-2bd4-4b47-9b91-09b1bf6d3e2b".parse().unwrap(),
            &[0xee; 40],
        )
        .unwrap();
    let packet = verified.launch_secret(&table).unwrap();
    for i in 0..packet.header.len() * 8 {
        let mut h = packet.header;
        h[i / 8] ^= 1 << (i % 8);
        assert!(
            psp.secret(&h, &packet.payload, &blob[..32]).is_err(),
            "header bit {i}"
        );
    }
    for i in 0..packet.payload.len() * 8 {
        let mut pl = packet.payload.clone();
        pl[i / 8] ^= 1 << (i % 8);
        assert!(
            psp.secret(&packet.header, &pl, &blob[..32]).is_err(),
            "payload bit {i}"
        );
    }
}

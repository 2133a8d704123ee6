//! A synthetic SEV PKI and a model of the PSP's side of a launch, built with
//! aws-lc-rs for the tests: ARK and ASK (RSA-2048, RSASSA-PSS SHA-256), CEK,
//! OCA and PEK (ECDSA P-384 with SHA-256, as AMD's firmware signs) and a PDH
//! whose private key the model keeps.
//!
//! The PSP model is written from the SEV API specification independently of
//! the crate's code: it unwraps TEK and TIK from LAUNCH_START, computes
//! LAUNCH_MEASURE and checks a LAUNCH_SECRET packet.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use aws_lc_rs::agreement::{self, ECDH_P384, UnparsedPublicKey};
use aws_lc_rs::cipher::{AES_128, DecryptingKey, DecryptionContext, UnboundCipherKey};
use aws_lc_rs::digest;
use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};

pub const ARK: u32 = 0x0000;
pub const ASK: u32 = 0x0013;
pub const OCA: u32 = 0x1001;
pub const PEK: u32 = 0x1002;
pub const PDH: u32 = 0x1003;
pub const CEK: u32 = 0x1004;

pub const RSA_SHA256: u32 = 1;
pub const ECDSA_SHA256: u32 = 2;
pub const ECDH_SHA256: u32 = 3;
pub const ECDSA_SHA384: u32 = 0x102;

fn le(be: &[u8], len: usize) -> Vec<u8> {
    let mut v: Vec<u8> = be.iter().rev().copied().collect();
    v.resize(len, 0);
    v
}

/// An RSA CA key and its certificate.
pub struct Ca {
    pub key: RsaKeyPair,
    pub id: [u8; 16],
    pub cert: Vec<u8>,
}

fn ca_body(usage: u32, id: [u8; 16], sid: [u8; 16], key: &RsaKeyPair) -> Vec<u8> {
    let pk = key.public_key();
    let mut b = Vec::new();
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&id);
    b.extend_from_slice(&sid);
    b.extend_from_slice(&usage.to_le_bytes());
    b.extend_from_slice(&[0; 16]);
    b.extend_from_slice(&2048u32.to_le_bytes());
    b.extend_from_slice(&2048u32.to_le_bytes());
    b.extend_from_slice(&le(pk.exponent().big_endian_without_leading_zero(), 256));
    b.extend_from_slice(&le(pk.modulus().big_endian_without_leading_zero(), 256));
    b
}

fn rsa_pss(key: &RsaKeyPair, msg: &[u8]) -> Vec<u8> {
    let mut sig = vec![0u8; key.public_modulus_len()];
    key.sign(
        &signature::RSA_PSS_SHA256,
        &SystemRandom::new(),
        msg,
        &mut sig,
    )
    .unwrap();
    sig
}

impl Ca {
    /// A self-signed ARK.
    pub fn ark(id: u8) -> Ca {
        let key = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
        let id = [id; 16];
        let mut cert = ca_body(ARK, id, id, &key);
        let sig = rsa_pss(&key, &cert);
        cert.extend_from_slice(&le(&sig, 256));
        Ca { key, id, cert }
    }

    /// An ASK signed by `ark`.
    pub fn ask(id: u8, ark: &Ca) -> Ca {
        let key = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
        let id = [id; 16];
        let mut cert = ca_body(ASK, id, ark.id, &key);
        let sig = rsa_pss(&ark.key, &cert);
        cert.extend_from_slice(&le(&sig, 256));
        Ca { key, id, cert }
    }
}

/// An ECDSA P-384 key with its SEV certificate.
pub struct Ec {
    pub key: EcdsaKeyPair,
    pub usage: u32,
    pub cert: Vec<u8>,
}

/// The signed part of a SEV certificate for a P-384 key.
pub fn sev_body(usage: u32, algo: u32, point: &[u8]) -> Vec<u8> {
    assert_eq!(point.len(), 97);
    let mut b = Vec::new();
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&[0, 24, 0, 0]);
    b.extend_from_slice(&usage.to_le_bytes());
    b.extend_from_slice(&algo.to_le_bytes());
    b.extend_from_slice(&2u32.to_le_bytes());
    b.extend_from_slice(&le(&point[1..49], 72));
    b.extend_from_slice(&le(&point[49..97], 72));
    b.resize(0x414, 0);
    b
}

fn empty_slot() -> Vec<u8> {
    let mut s = Vec::new();
    s.extend_from_slice(&0x1000u32.to_le_bytes());
    s.extend_from_slice(&0u32.to_le_bytes());
    s.resize(520, 0);
    s
}

/// Splits a DER ECDSA signature into big-endian r and s.
fn der_rs(der: &[u8]) -> (Vec<u8>, Vec<u8>) {
    assert_eq!(der[0], 0x30);
    let mut i = 2;
    let mut out = Vec::new();
    for _ in 0..2 {
        assert_eq!(der[i], 2);
        let l = der[i + 1] as usize;
        out.push(der[i + 2..i + 2 + l].to_vec());
        i += 2 + l;
    }
    let s = out.pop().unwrap();
    let r = out.pop().unwrap();
    (r, s)
}

/// A signature slot by `signer` over `body`. With SHA-256 on P-384 the
/// digest is imported as a zero-padded SHA-384-length value: ECDSA uses the
/// digest as an integer, so the signature is a P-384/SHA-256 one
/// (aws-lc-rs has no P-384/SHA-256 signing algorithm, only verification).
pub fn ec_slot(signer: &Ec, body: &[u8], sha384: bool) -> Vec<u8> {
    let der = if sha384 {
        signer.key.sign(&SystemRandom::new(), body).unwrap()
    } else {
        let h = digest::digest(&digest::SHA256, body);
        let mut padded = [0u8; 48];
        padded[16..].copy_from_slice(h.as_ref());
        let d = digest::Digest::import_less_safe(&padded, &digest::SHA384).unwrap();
        signer.key.sign_digest(&d).unwrap()
    };
    let (r, s) = der_rs(der.as_ref());
    let mut slot = Vec::new();
    slot.extend_from_slice(&signer.usage.to_le_bytes());
    slot.extend_from_slice(&(if sha384 { ECDSA_SHA384 } else { ECDSA_SHA256 }).to_le_bytes());
    slot.extend_from_slice(&le(&r, 72));
    slot.extend_from_slice(&le(&s, 72));
    slot.resize(520, 0);
    slot
}

/// A slot by an ASK over `body`.
pub fn ca_slot(signer: &Ca, body: &[u8]) -> Vec<u8> {
    let mut slot = Vec::new();
    slot.extend_from_slice(&ASK.to_le_bytes());
    slot.extend_from_slice(&RSA_SHA256.to_le_bytes());
    slot.extend_from_slice(&le(&rsa_pss(&signer.key, body), 512));
    slot
}

fn ec_key() -> EcdsaKeyPair {
    EcdsaKeyPair::generate(&signature::ECDSA_P384_SHA384_ASN1_SIGNING).unwrap()
}

impl Ec {
    fn new(
        usage: u32,
        algo: u32,
        key: EcdsaKeyPair,
        slots: impl FnOnce(&[u8]) -> [Vec<u8>; 2],
    ) -> Ec {
        let body = sev_body(usage, algo, key.public_key().as_ref());
        let [a, b] = slots(&body);
        let cert = [body, a, b].concat();
        Ec { key, usage, cert }
    }

    pub fn cek(ask: &Ca) -> Ec {
        Ec::new(CEK, ECDSA_SHA256, ec_key(), |b| {
            [ca_slot(ask, b), empty_slot()]
        })
    }

    pub fn oca() -> Ec {
        let key = ec_key();
        let body = sev_body(OCA, ECDSA_SHA256, key.public_key().as_ref());
        let me = Ec {
            key,
            usage: OCA,
            cert: Vec::new(),
        };
        let slot = ec_slot(&me, &body, false);
        Ec {
            cert: [body, slot, empty_slot()].concat(),
            ..me
        }
    }

    pub fn pek(oca: &Ec, cek: &Ec) -> Ec {
        Ec::new(PEK, ECDSA_SHA256, ec_key(), |b| {
            [ec_slot(oca, b, false), ec_slot(cek, b, false)]
        })
    }
}

/// The PSP's PDH: its private key and certificate.
pub struct Pdh {
    pub key: agreement::PrivateKey,
    pub cert: Vec<u8>,
}

impl Pdh {
    pub fn new(pek: &Ec) -> Pdh {
        let key = agreement::PrivateKey::generate(&ECDH_P384).unwrap();
        let public = key.compute_public_key().unwrap();
        let body = sev_body(PDH, ECDH_SHA256, public.as_ref());
        let slot = ec_slot(pek, &body, false);
        Pdh {
            key,
            cert: [body, slot, empty_slot()].concat(),
        }
    }
}

/// A whole synthetic platform.
pub struct Platform {
    pub ark: Ca,
    pub ask: Ca,
    pub cek: Ec,
    pub oca: Ec,
    pub pek: Ec,
    pub pdh: Pdh,
}

impl Platform {
    pub fn new() -> Platform {
        let ark = Ca::ark(0xa1);
        let ask = Ca::ask(0xa2, &ark);
        let cek = Ec::cek(&ask);
        let oca = Ec::oca();
        let pek = Ec::pek(&oca, &cek);
        let pdh = Pdh::new(&pek);
        Platform {
            ark,
            ask,
            cek,
            oca,
            pek,
            pdh,
        }
    }

    /// `sevctl export --full` order.
    pub fn full_chain(&self) -> Vec<u8> {
        [
            &self.pdh.cert[..],
            &self.pek.cert,
            &self.oca.cert,
            &self.cek.cert,
            &self.ask.cert,
            &self.ark.cert,
        ]
        .concat()
    }
}

fn kdf(key: &[u8], label: &str, ctx: &[u8]) -> [u8; 16] {
    let k = hmac::Key::new(hmac::HMAC_SHA256, key);
    let msg = [
        &1u32.to_le_bytes()[..],
        label.as_bytes(),
        &[0],
        ctx,
        &128u32.to_le_bytes(),
    ]
    .concat();
    hmac::sign(&k, &msg).as_ref()[..16].try_into().unwrap()
}

fn mac(key: &[u8], msg: &[u8]) -> [u8; 32] {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), msg)
        .as_ref()
        .try_into()
        .unwrap()
}

fn ctr(key: &[u8; 16], iv: &[u8; 16], data: &mut [u8]) {
    let k = DecryptingKey::ctr(UnboundCipherKey::new(&AES_128, key).unwrap()).unwrap();
    k.decrypt(data, DecryptionContext::Iv128((*iv).into()))
        .unwrap();
}

/// The PSP's state after LAUNCH_START.
pub struct PspLaunch {
    pub tek: [u8; 16],
    pub tik: [u8; 16],
    pub policy: u32,
}

/// LAUNCH_START as the PSP does it; `Err` names the check that failed.
pub fn psp_launch_start(
    pdh: &Pdh,
    godh_cert: &[u8],
    session: &[u8],
    policy: u32,
) -> Result<PspLaunch, &'static str> {
    if godh_cert.len() != 0x824 || session.len() != 128 {
        return Err("lengths");
    }
    let mut point = vec![4u8];
    point.extend(godh_cert[0x14..0x14 + 48].iter().rev());
    point.extend(godh_cert[0x14 + 72..0x14 + 72 + 48].iter().rev());
    let z = agreement::agree(
        &pdh.key,
        UnparsedPublicKey::new(&ECDH_P384, &point),
        "GODH is not a P-384 point",
        |z| Ok(z.to_vec()),
    )?;
    let (nonce, rest) = session.split_at(16);
    let (wrap_tk, rest) = rest.split_at(32);
    let (wrap_iv, rest) = rest.split_at(16);
    let (wrap_mac, policy_mac) = rest.split_at(32);
    let master = kdf(&z, "sev-master-secret", nonce);
    let kek = kdf(&master, "sev-kek", &[]);
    let kik = kdf(&master, "sev-kik", &[]);
    if mac(&kik, wrap_tk) != wrap_mac {
        return Err("WRAP_MAC");
    }
    let mut tk = wrap_tk.to_vec();
    ctr(&kek, wrap_iv.try_into().unwrap(), &mut tk);
    let tek: [u8; 16] = tk[..16].try_into().unwrap();
    let tik: [u8; 16] = tk[16..].try_into().unwrap();
    if mac(&tik, &policy.to_le_bytes()) != policy_mac {
        return Err("POLICY_MAC");
    }
    Ok(PspLaunch { tek, tik, policy })
}

impl PspLaunch {
    /// LAUNCH_MEASURE: MEASURE || MNONCE.
    pub fn measure(&self, api: (u8, u8, u8), digest: &[u8; 32], mnonce: [u8; 16]) -> [u8; 48] {
        let msg = [
            &[0x04, api.0, api.1, api.2][..],
            &self.policy.to_le_bytes(),
            digest,
            &mnonce,
        ]
        .concat();
        let m = mac(&self.tik, &msg);
        [&m[..], &mnonce].concat().try_into().unwrap()
    }

    /// LAUNCH_SECRET: checks the header MAC and decrypts the payload.
    pub fn secret(
        &self,
        header: &[u8],
        payload: &[u8],
        measure: &[u8],
    ) -> Result<Vec<u8>, &'static str> {
        let (flags, rest) = header.split_at(4);
        let (iv, hmac_given) = rest.split_at(16);
        let len = (payload.len() as u32).to_le_bytes();
        let msg = [&[0x01][..], flags, iv, &len, &len, payload, measure].concat();
        if mac(&self.tik, &msg) != hmac_given {
            return Err("packet header MAC");
        }
        let mut plain = payload.to_vec();
        ctr(&self.tek, iv.try_into().unwrap(), &mut plain);
        Ok(plain)
    }
}

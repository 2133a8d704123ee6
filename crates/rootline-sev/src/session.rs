//! The guest owner's launch session: the keys the PSP and the guest owner
//! share, and the LAUNCH_START data that carries them to the PSP.
//!
//! SEV API specification (AMD pub. 55766), "LAUNCH_START" and "Key
//! Derivation Function"; AMD's `sev-tool` (`build_session_buffer`, `kdf`) and
//! the `sev` crate (`session::Session`) do the same, and the unit tests below
//! reproduce the `sev` crate's known answers:
//!
//! 1. a fresh ECDH P-384 key pair, the GODH, agreed with the verified PDH:
//!    the shared secret Z is the x-coordinate, big-endian (OpenSSL's
//!    `EVP_PKEY_derive`, which both implementations use);
//! 2. master secret = KDF(Z, "sev-master-secret", NONCE), then KEK = KDF(
//!    master, "sev-kek") and KIK = KDF(master, "sev-kik"), 16 bytes each, with
//!    the KDF of NIST SP 800-108 in counter mode on HMAC-SHA256:
//!    `HMAC(key, i (u32 LE) || label || 0x00 || context || L in bits (u32 LE))`;
//! 3. random TEK and TIK, wrapped as AES-128-CTR(KEK, WRAP_IV, TEK || TIK)
//!    and authenticated with WRAP_MAC = HMAC-SHA256(KIK, wrapped);
//! 4. POLICY_MAC = HMAC-SHA256(TIK, policy as `u32` LE), so that the host
//!    cannot launch the guest under another policy.
//!
//! The host passes the GODH certificate and the 128-byte session
//! (NONCE || WRAP_TK || WRAP_IV || WRAP_MAC || POLICY_MAC) to LAUNCH_START;
//! the guest owner keeps TEK and TIK, for [`LaunchSession::verify_measurement`]
//! and then the secret.

use std::fmt;

use aws_lc_rs::agreement::{self, ECDH_P384, PrivateKey, UnparsedPublicKey};
use aws_lc_rs::cipher::{AES_128, EncryptingKey, EncryptionContext, UnboundCipherKey};
use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use crate::cert::SevCertificate;
use crate::chain::VerifiedPlatform;
use crate::error::{Error, Result};

/// The guest policy (SEV API, "Guest Policy"): the PSP enforces it for the
/// guest's lifetime, and the launch measurement covers it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct GuestPolicy(pub u32);

impl GuestPolicy {
    /// Bit 0, NODBG: debugging the guest is disallowed.
    pub const NO_DEBUG: u32 = 1 << 0;
    /// Bit 1, NOKS: sharing keys with other guests is disallowed.
    pub const NO_KEY_SHARING: u32 = 1 << 1;
    /// Bit 2, ES: SEV-ES is required (the VMSAs are encrypted and measured).
    pub const ES: u32 = 1 << 2;
    /// Bit 3, NOSEND: sending the guest to another platform is disallowed.
    pub const NO_SEND: u32 = 1 << 3;
    /// Bit 4, DOMAIN: the guest may be sent only within the domain.
    pub const DOMAIN: u32 = 1 << 4;
    /// Bit 5, SEV: the guest may be sent only to SEV platforms.
    pub const SEV: u32 = 1 << 5;

    /// True when the policy requires SEV-ES.
    pub fn es(self) -> bool {
        self.0 & Self::ES != 0
    }

    /// The lowest firmware API version (major, minor) the guest may run on
    /// (bits 16 to 23 and 24 to 31).
    pub fn min_api(self) -> (u8, u8) {
        let b = self.0.to_le_bytes();
        (b[2], b[3])
    }
}

impl fmt::Display for GuestPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

impl fmt::Debug for GuestPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GuestPolicy({self})")
    }
}

/// What the host passes to LAUNCH_START (QEMU's `sev-guest` object takes
/// them as `dh-cert-file` and `session-file`, base64).
#[derive(Clone, PartialEq, Eq)]
pub struct LaunchStart {
    /// The guest owner's GODH public key as a 2084-byte SEV certificate.
    pub godh_cert: Vec<u8>,
    /// NONCE || WRAP_TK || WRAP_IV || WRAP_MAC || POLICY_MAC.
    pub session: [u8; 128],
    /// The policy POLICY_MAC covers; the host must launch with it.
    pub policy: GuestPolicy,
}

impl fmt::Debug for LaunchStart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LaunchStart")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// The guest owner's half of a launch: TEK and TIK, wiped on drop, and the
/// policy they were bound to. Consumed by the measurement check.
pub struct LaunchSession {
    pub(crate) policy: GuestPolicy,
    pub(crate) tek: Zeroizing<[u8; 16]>,
    pub(crate) tik: Zeroizing<[u8; 16]>,
}

impl fmt::Debug for LaunchSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LaunchSession")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

fn random<const N: usize>(rng: &SystemRandom) -> Result<Zeroizing<[u8; N]>> {
    let mut out = Zeroizing::new([0u8; N]);
    rng.fill(out.as_mut_slice())
        .map_err(|_| Error::Crypto("no randomness"))?;
    Ok(out)
}

/// NIST SP 800-108 KDF in counter mode with HMAC-SHA256, as the SEV API
/// defines it, for outputs of up to one block (all the SEV keys are 16
/// bytes).
pub(crate) fn kdf(key: &[u8], label: &str, context: &[u8]) -> Zeroizing<[u8; 16]> {
    let k = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut ctx = hmac::Context::with_key(&k);
    ctx.update(&1u32.to_le_bytes());
    ctx.update(label.as_bytes());
    ctx.update(&[0]);
    ctx.update(context);
    ctx.update(&128u32.to_le_bytes());
    let tag = ctx.sign();
    let mut out = Zeroizing::new([0u8; 16]);
    for (o, b) in out.iter_mut().zip(tag.as_ref()) {
        *o = *b;
    }
    out
}

pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let k = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut ctx = hmac::Context::with_key(&k);
    for p in parts {
        ctx.update(p);
    }
    let mut out = [0u8; 32];
    for (o, b) in out.iter_mut().zip(ctx.sign().as_ref()) {
        *o = *b;
    }
    out
}

/// AES-128-CTR over `data` in place.
pub(crate) fn aes128_ctr(key: &[u8; 16], iv: &[u8; 16], data: &mut [u8]) -> Result<()> {
    let key = UnboundCipherKey::new(&AES_128, key).map_err(|_| Error::Crypto("AES-128 key"))?;
    let enc = EncryptingKey::ctr(key).map_err(|_| Error::Crypto("AES-128-CTR"))?;
    enc.less_safe_encrypt(data, EncryptionContext::Iv128((*iv).into()))
        .map_err(|_| Error::Crypto("AES-128-CTR"))?;
    Ok(())
}

/// The session blob from the shared secret and the chosen values (the part
/// of LAUNCH_START that does not depend on how Z was agreed).
pub(crate) fn session_blob(
    z: &[u8],
    nonce: &[u8; 16],
    wrap_iv: &[u8; 16],
    tek: &[u8; 16],
    tik: &[u8; 16],
    policy: GuestPolicy,
) -> Result<[u8; 128]> {
    let master = kdf(z, "sev-master-secret", nonce);
    let kek = kdf(master.as_slice(), "sev-kek", &[]);
    let kik = kdf(master.as_slice(), "sev-kik", &[]);
    let mut wrapped = Zeroizing::new([0u8; 32]);
    for (o, b) in wrapped.iter_mut().zip(tek.iter().chain(tik.iter())) {
        *o = *b;
    }
    aes128_ctr(&kek, wrap_iv, wrapped.as_mut_slice())?;
    let wrap_mac = hmac_sha256(kik.as_slice(), &[wrapped.as_slice()]);
    let policy_mac = hmac_sha256(tik, &[&policy.0.to_le_bytes()]);
    let mut out = [0u8; 128];
    for (o, b) in out.iter_mut().zip(
        nonce
            .iter()
            .chain(wrapped.iter())
            .chain(wrap_iv.iter())
            .chain(wrap_mac.iter())
            .chain(policy_mac.iter()),
    ) {
        *o = *b;
    }
    Ok(out)
}

impl LaunchSession {
    /// Starts a launch with the platform whose PDH was verified: generates
    /// the GODH, the nonce, TEK, TIK and the wrapping IV from the system's
    /// randomness, and returns the session to keep and what the host needs.
    pub fn start(
        platform: &VerifiedPlatform,
        policy: GuestPolicy,
    ) -> Result<(LaunchSession, LaunchStart)> {
        let rng = SystemRandom::new();
        let godh =
            PrivateKey::generate(&ECDH_P384).map_err(|_| Error::Crypto("GODH key generation"))?;
        let nonce = random::<16>(&rng)?;
        let wrap_iv = random::<16>(&rng)?;
        let tek = random::<16>(&rng)?;
        let tik = random::<16>(&rng)?;
        Self::start_with(platform, policy, &godh, &nonce, &wrap_iv, tek, tik)
    }

    /// [`LaunchSession::start`] with every random value given: for tests.
    pub(crate) fn start_with(
        platform: &VerifiedPlatform,
        policy: GuestPolicy,
        godh: &PrivateKey,
        nonce: &[u8; 16],
        wrap_iv: &[u8; 16],
        tek: Zeroizing<[u8; 16]>,
        tik: Zeroizing<[u8; 16]>,
    ) -> Result<(LaunchSession, LaunchStart)> {
        let public = godh
            .compute_public_key()
            .map_err(|_| Error::Crypto("GODH public key"))?;
        let point: [u8; 97] = public
            .as_ref()
            .try_into()
            .map_err(|_| Error::Crypto("GODH public key is not an uncompressed P-384 point"))?;
        let session = agreement::agree(
            godh,
            UnparsedPublicKey::new(&ECDH_P384, platform.pdh().sec1()),
            Error::Crypto("ECDH with the PDH"),
            |z| session_blob(z, nonce, wrap_iv, &tek, &tik, policy),
        )?;
        Ok((
            LaunchSession { policy, tek, tik },
            LaunchStart {
                godh_cert: SevCertificate::unsigned_ecdh(&point),
                session,
                policy,
            },
        ))
    }

    /// The policy the session is bound to.
    pub fn policy(&self) -> GuestPolicy {
        self.policy
    }

    /// The session as bytes, for a guest owner that must keep it between
    /// LAUNCH_START and LAUNCH_MEASURE (two runs of a command line, a broker
    /// restart): policy (`u32` LE) || TEK || TIK, [`SESSION_STATE_LEN`]
    /// bytes. As secret as TEK and TIK: whoever holds them can read and
    /// forge what the guest owner sends this launch. Store it encrypted or
    /// with owner-only permissions, and delete it after LAUNCH_SECRET.
    pub fn to_bytes(&self) -> Zeroizing<[u8; SESSION_STATE_LEN]> {
        let mut out = Zeroizing::new([0u8; SESSION_STATE_LEN]);
        for (o, b) in out.iter_mut().zip(
            self.policy
                .0
                .to_le_bytes()
                .iter()
                .chain(self.tek.iter())
                .chain(self.tik.iter()),
        ) {
            *o = *b;
        }
        out
    }

    /// A session from [`LaunchSession::to_bytes`]. It still yields a
    /// [`crate::VerifiedLaunch`] only for a measurement made under its TIK.
    pub fn from_bytes(bytes: &[u8]) -> Result<LaunchSession> {
        let m = || Error::malformed("launch session state");
        let mut r = rootline_core::Reader::new(bytes);
        let policy = GuestPolicy(r.u32_le("policy").map_err(m())?);
        let tek = Zeroizing::new(r.array::<16>("TEK").map_err(m())?);
        let tik = Zeroizing::new(r.array::<16>("TIK").map_err(m())?);
        r.finish("launch session state").map_err(m())?;
        Ok(LaunchSession { policy, tek, tik })
    }
}

/// The length of [`LaunchSession::to_bytes`].
pub const SESSION_STATE_LEN: usize = 36;

#[cfg(test)]
mod tests {
    use super::*;

    /// `sev` 8.0.0, src/session/key.rs, test `derive`.
    #[test]
    fn kdf_matches_the_sev_crate() {
        let master = kdf(&[0u8; 16], "sev-master-secret", &[0u8; 16]);
        assert_eq!(
            hex::encode(master.as_slice()),
            "ab4d269fcc62bedb4511d56c386ce706"
        );
    }

    /// `sev` 8.0.0, src/session/key.rs, test `mac`.
    #[test]
    fn hmac_matches_the_sev_crate() {
        assert_eq!(
            hex::encode(hmac_sha256(&[0u8; 16], &[&[0u8; 4]])),
            "aa7855e13839dd767cd5da7c1ff5036540c9264b7a803029315e55375287b4af"
        );
    }

    /// `sev` 8.0.0, src/session/mod.rs, test `initialized::session`: Z, the
    /// nonce, the IV, TEK, TIK and the policy all zero (Z as 16 bytes).
    #[test]
    fn session_matches_the_sev_crate() {
        let s = session_blob(
            &[0u8; 16],
            &[0; 16],
            &[0; 16],
            &[0; 16],
            &[0; 16],
            GuestPolicy(0),
        )
        .unwrap();
        assert_eq!(&s[..16], &[0u8; 16], "nonce");
        assert_eq!(
            hex::encode(&s[16..48]),
            "2137bc7f9bb8bd7c3e55a576a15d3454b3856b8ba27afadf46dcfee9f02c02c4",
            "wrap_tk"
        );
        assert_eq!(&s[48..64], &[0u8; 16], "wrap_iv");
        assert_eq!(
            hex::encode(&s[64..96]),
            "3176c0752738bd9d5e86689534020f528c088f16238826b000b327dee6aeed7d",
            "wrap_mac"
        );
        assert_eq!(
            hex::encode(&s[96..128]),
            "aa7855e13839dd767cd5da7c1ff5036540c9264b7a803029315e55375287b4af",
            "policy_mac"
        );
    }

    #[test]
    fn session_state_round_trip() {
        let s = LaunchSession {
            policy: GuestPolicy(0x5),
            tek: Zeroizing::new([1; 16]),
            tik: Zeroizing::new([2; 16]),
        };
        let b = s.to_bytes();
        let t = LaunchSession::from_bytes(b.as_slice()).unwrap();
        assert_eq!(
            (t.policy, *t.tek, *t.tik),
            (GuestPolicy(5), [1; 16], [2; 16])
        );
        assert!(LaunchSession::from_bytes(&b[..35]).is_err());
        assert!(LaunchSession::from_bytes(&[0u8; 37]).is_err());
    }

    #[test]
    fn policy_bits() {
        let p = GuestPolicy(0x0011_0005);
        assert!(p.es());
        assert_eq!(p.min_api(), (0x11, 0x00));
    }
}

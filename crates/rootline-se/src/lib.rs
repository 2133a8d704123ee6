//! IBM Z Secure Execution (SE) attestation, the relying party's side.
//!
//! SE attestation is a request and an answer, not a signed report. The
//! relying party builds an attestation request (ARCB) that only the
//! Ultravisor of an IBM Z machine can open: it carries a fresh measurement
//! key and nonce, encrypted under a request protection key that is wrapped,
//! in one key slot per machine, to that machine's host key. The guest hands
//! the request to its Ultravisor, which answers with an HMAC-SHA512, under
//! the measurement key, over the running image's SE header fields, the
//! guest's configuration UID, user data chosen by the guest, the nonce and
//! additional data. Only the relying party (which keeps the measurement
//! key) and that Ultravisor can compute it, so a matching HMAC proves that
//! a genuine machine ran that image with that user data.
//!
//! Three steps, three modules:
//!
//! 1. [`hkd`]: host-key documents verified to IBM's host-key signing key,
//!    its chain to a root the caller supplies, and CRLs
//!    ([`HkdVerifier`]); a request may only be made for verified keys.
//! 2. [`request`]: the ARCB, byte for byte as s390-tools' `pv` writes it
//!    ([`AttestationRequest`]), and the [`RequestSecret`] to keep.
//! 3. [`response`]: the guest's answer ([`Response`]) and its verification
//!    ([`Response::verify`]), giving [`Verified`]`<`[`Claims`]`>`: the
//!    image's SE header tag and list digests, the configuration UID, the
//!    user data, the host-key hashes.
//!
//! [`kbs`] has the KBS wire forms guest-components and Trustee use: the
//! challenge whose `nonce` is the request JSON, and sealing the secret so
//! that it can travel through the guest ([`SealingKey`]).
//!
//! # Why not IBM's `pv` crate
//!
//! s390-tools' `pv` (and `pv_core`) implement this protocol, but on
//! OpenSSL (`openssl` is a hard dependency, with `curl` for CRL downloads);
//! aws-lc-rs is the workspace's only crypto provider. This crate follows
//! `pv`'s formats and checks and is tested against its published vectors
//! (the ARCB and key slot of `tests/assets/exp`, the measurement HMACs of
//! `uvattest/attest.rs`, the SE header of `secure_guest.hdr`, its test PKI;
//! see `tests/data/PROVENANCE.md`); no `pv` code is copied.
//!
//! # Non-goals
//!
//! No I/O: CRLs are not downloaded, the SE header is read by the caller.
//! Nothing here talks to the Ultravisor (that is the attester, on s390x).
//! Appraisal (is this image tag, this CUID, expected?) is for
//! `rootline-policy`. The secret-store hash and firmware state are returned
//! as claims but not interpreted.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod error;
pub mod hkd;
pub mod kbs;
pub mod request;
pub mod response;

pub use error::{Error, Result};
pub use hkd::{HkdVerifier, Pki};
pub use kbs::{Challenge, SealingKey, hdr_tags_from_se_header};
pub use request::{Arcb, AttestationRequest, Flags, HostKey, Parts, RequestSecret};
pub use response::{Additional, Claims, Response};
pub use rootline_core::Verified;

/// Whether `bytes` look like SE evidence: the JSON object guest-components'
/// SE attester sends (with `measurement`, `cuid` and `image_hdr_tags`).
pub fn detect(bytes: &[u8]) -> bool {
    let t = bytes.trim_ascii_start();
    t.starts_with(b"{")
        && [&b"\"image_hdr_tags\""[..], b"\"cuid\"", b"\"measurement\""]
            .iter()
            .all(|k| t.windows(k.len()).any(|w| w == *k))
}

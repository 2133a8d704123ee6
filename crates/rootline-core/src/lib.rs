//! The shared vocabulary of rootline.
//!
//! Every evidence crate speaks in these types: hash algorithms as TPM_ALG_ID
//! newtypes, digests, the bounded [`codec::Reader`] through which all untrusted
//! bytes are parsed, TEE kinds, claims and the [`Verified`] marker.
//!
//! Non-goals: no I/O, no async runtime, no networking. Nothing here knows
//! about any particular TEE's wire format.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
// Unit tests may unwrap and index: a panic there is a failed test, not a crash on input.
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod codec;
pub mod der;
pub mod hash;
pub mod tee;
pub mod verified;

pub use codec::{CodecError, Reader};
pub use hash::{Digest, HashAlg, Hasher};
pub use tee::TeeKind;
pub use verified::Verified;

/// Lower-case hex of a byte slice: the one spelling rootline prints.
pub fn to_hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// Parses hex text, tolerating surrounding whitespace, an optional `0x`
/// prefix and upper case.
pub fn from_hex(text: &str) -> Result<Vec<u8>, hex::FromHexError> {
    let t = text.trim();
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    hex::decode(t)
}

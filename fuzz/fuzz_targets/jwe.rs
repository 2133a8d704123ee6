//! Fuzzes flattened-JWE decryption (`rootline-jose`): any bytes handed to a
//! TEE key as a broker's answer must give plaintext or an error, never a
//! panic. Random bytes rarely parse as JSON, so each input also fills the
//! members of a well-formed JWE skeleton (header fields, epk coordinates,
//! encrypted key, iv, tag), which reaches the key agreement, the unwrap and
//! the AEAD.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rootline_jose::{TeeKey, b64};

fn key() -> &'static TeeKey {
    static K: OnceLock<TeeKey> = OnceLock::new();
    K.get_or_init(|| TeeKey::generate_ec("P-256").unwrap())
}

fuzz_target!(|data: &[u8]| {
    let _ = key().decrypt(data);
    // Split the input into pieces for a skeleton's members.
    let mut parts = data.split(|b| *b == 0xff);
    let mut next = || parts.next().unwrap_or_default();
    let header = format!(
        r#"{{"alg":"ECDH-ES+A256KW","enc":"A256GCM","epk":{{"kty":"EC","crv":"P-256","x":"{}","y":"{}"}},"apu":"{}"}}"#,
        b64(next()),
        b64(next()),
        b64(next())
    );
    let jwe = format!(
        r#"{{"protected":"{}","encrypted_key":"{}","iv":"{}","ciphertext":"{}","tag":"{}"}}"#,
        b64(header.as_bytes()),
        b64(next()),
        b64(next()),
        b64(next()),
        b64(next())
    );
    let _ = key().decrypt(jwe.as_bytes());
});

//! Interoperability: JWEs made by an independent implementation (Python's
//! joserfc) decrypt here, for EC (P-256, P-384) and RSA-OAEP-256 keys, and
//! any tampering is refused. Skips with a reason where python3 or joserfc
//! is missing (pip install joserfc).

use std::io::Write as _;
use std::process::{Command, Stdio};

use base64::Engine as _;
use rootline_jose::TeeKey;
use serde_json::Value;

fn python(script: &str, input: &str) -> Option<Value> {
    let ok = Command::new("python3")
        .args(["-c", "import joserfc"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("skipping: python3 with joserfc is not installed");
        return None;
    }
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "joserfc script failed");
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

const ENCRYPT_EC: &str = r#"
import json, sys
from joserfc import jwe
from joserfc.jwk import ECKey
jwk = json.loads(sys.stdin.read())
key = ECKey.import_key({k: jwk[k] for k in ("kty", "crv", "x", "y")})
obj = jwe.FlattenedJSONEncryption({"alg": "ECDH-ES+A256KW", "enc": "A256GCM"}, b"the secret: 42")
obj.add_recipient(None, key)
print(json.dumps(jwe.encrypt_json(obj, None)))
"#;

#[test]
fn joserfc_ec_jwes_decrypt_and_tampering_is_refused() {
    for crv in ["P-256", "P-384"] {
        let key = TeeKey::generate_ec(crv).unwrap();
        let jwk = key.public_jwk().unwrap();
        let Some(jwe) = python(ENCRYPT_EC, &jwk.to_string()) else {
            return;
        };
        // joserfc puts epk in the recipient header, Trustee in the protected one.
        assert!(jwe["header"]["epk"].is_object());
        let bytes = serde_json::to_vec(&jwe).unwrap();
        assert_eq!(key.decrypt(&bytes).unwrap(), b"the secret: 42", "{crv}");

        // Another key of the same curve cannot open it.
        let other = TeeKey::generate_ec(crv).unwrap();
        assert!(other.decrypt(&bytes).is_err());

        // One bit flipped in each member (or the header rewritten) is refused.
        for field in ["ciphertext", "tag", "iv", "encrypted_key", "protected"] {
            let mut bad = jwe.clone();
            let mut raw = rootline_jose::unb64("test", bad[field].as_str().unwrap()).unwrap();
            let last = raw.len() - 1;
            raw[last / 2] ^= 0x01;
            bad[field] = rootline_jose::b64(&raw).into();
            assert!(
                key.decrypt(&serde_json::to_vec(&bad).unwrap()).is_err(),
                "{crv}: a flipped {field} decrypted"
            );
        }
    }
}

const ENCRYPT_RSA: &str = r#"
import json, sys, base64
from joserfc import jwe
from joserfc.jwk import RSAKey
from cryptography.hazmat.primitives import serialization
key = RSAKey.generate_key(2048)
pkcs8 = key.raw_value.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
pub = key.as_dict(private=False)
obj = jwe.FlattenedJSONEncryption({"alg": "RSA-OAEP-256", "enc": "A256GCM"}, b"rsa wrapped")
obj.add_recipient({}, key)
print(json.dumps({"jwe": jwe.encrypt_json(obj, None, algorithms=["RSA-OAEP-256", "A256GCM"]), "pkcs8": base64.b64encode(pkcs8).decode(), "n": pub["n"], "e": pub["e"]}))
"#;

#[test]
fn joserfc_rsa_oaep_256_jwe_decrypts() {
    let Some(out) = python(ENCRYPT_RSA, "") else {
        return;
    };
    let pkcs8 = base64::engine::general_purpose::STANDARD
        .decode(out["pkcs8"].as_str().unwrap())
        .unwrap();
    let n = rootline_jose::unb64("n", out["n"].as_str().unwrap()).unwrap();
    let e = rootline_jose::unb64("e", out["e"].as_str().unwrap()).unwrap();
    let key = TeeKey::rsa_from_pkcs8(&pkcs8, &n, &e).unwrap();
    assert_eq!(key.public_jwk().unwrap()["n"], out["n"]);
    let jwe = serde_json::to_vec(&out["jwe"]).unwrap();
    assert_eq!(key.decrypt(&jwe).unwrap(), b"rsa wrapped");
    // An EC key is not asked to open an RSA JWE.
    let ec = TeeKey::generate_ec("P-256").unwrap();
    assert!(
        ec.decrypt(&jwe)
            .unwrap_err()
            .to_string()
            .contains("RSA-OAEP-256")
    );
}

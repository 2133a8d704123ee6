//! EAR attestation results: signed, published, checked.
//!
//! An [`Appraisal`] becomes an EAR (draft-ietf-rats-ear, the `ear` crate) with
//! one submod per device, `iat`, `exp` (five minutes by default), the verifier
//! id and, when the request carried one, `eat_nonce`; it is signed as a JWT
//! with ES256 (P-256) or ES384 (P-384). The `ear` crate is used with only its
//! `jwt` feature: its `cose` feature pulls OpenSSL. Its JWT backend is
//! jsonwebtoken on aws-lc-rs, our one crypto provider, which we use to check
//! tokens; to sign, we serialize the EAR with the `ear` crate and sign the JWS
//! input with an aws-lc-rs key pair parsed once (jsonwebtoken re-parses the
//! key on every token). Key generation and the JWK thumbprint are aws-lc-rs.
//!
//! The signing key comes from a PEM file (PKCS#8 or SEC1) or is generated
//! once and kept, mode 0600, in the data directory. Its public half is
//! published as a JWKS whose `kid` is the RFC 7638 thumbprint.
//! [`verify_token`] is what a relying party (the broker in passport mode)
//! runs: the signature by a key of the JWKS chosen by `kid`, an `exp` that is
//! required and enforced, and the issuer. (The `ear` crate's `from_jwt*`
//! decoders never look at `exp`; only its `Ear::validate` does, against the
//! system clock. We check `exp` ourselves against the caller's time, then run
//! `validate` for the rest of the EAR's rules.)

use std::path::{Path, PathBuf};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair,
    EcdsaSigningAlgorithm, KeyPair as _,
};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::Error;
use crate::policy::{Appraisal, Tier};

/// File name of the generated signing key in a data directory.
pub const KEY_FILE: &str = "ear-signing-key.pem";
/// Default lifetime of a token, in seconds.
pub const DEFAULT_TTL_SECS: i64 = 300;
/// Clock skew tolerated on `iat` when verifying, in seconds.
pub const MAX_SKEW_SECS: i64 = 60;

/// The signature algorithm, fixed by the key's curve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    /// ECDSA P-256 with SHA-256.
    Es256,
    /// ECDSA P-384 with SHA-384.
    Es384,
}

impl Alg {
    fn aws(self) -> &'static EcdsaSigningAlgorithm {
        match self {
            Self::Es256 => &ECDSA_P256_SHA256_FIXED_SIGNING,
            Self::Es384 => &ECDSA_P384_SHA384_FIXED_SIGNING,
        }
    }
    fn jwt(self) -> jsonwebtoken::Algorithm {
        match self {
            Self::Es256 => jsonwebtoken::Algorithm::ES256,
            Self::Es384 => jsonwebtoken::Algorithm::ES384,
        }
    }
    fn crv(self) -> &'static str {
        match self {
            Self::Es256 => "P-256",
            Self::Es384 => "P-384",
        }
    }
    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::Es384 => "ES384",
        }
    }
}

/// The verifier's signing key.
pub struct SigningKey {
    alg: Alg,
    pkcs8: Vec<u8>,
    kid: String,
    jwk: Value,
    /// Parsed once: jsonwebtoken's `encode` re-parses the PKCS#8 key (and
    /// recomputes the public point) on every call, which doubled the cost of
    /// a token (47 us against 25 us for the signature alone).
    pair: EcdsaKeyPair,
    rng: SystemRandom,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the private key.
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish()
    }
}

impl SigningKey {
    /// A fresh key.
    pub fn generate(alg: Alg) -> Result<Self, Error> {
        let doc = EcdsaKeyPair::generate_pkcs8(alg.aws(), &SystemRandom::new())
            .map_err(|_| Error::Key("key generation failed".into()))?;
        Self::from_pkcs8(alg, doc.as_ref())
    }

    fn from_pkcs8(alg: Alg, der: &[u8]) -> Result<Self, Error> {
        let pair = EcdsaKeyPair::from_pkcs8(alg.aws(), der)
            .map_err(|e| Error::Key(format!("not a {} PKCS#8 key: {e}", alg.crv())))?;
        let point = pair.public_key().as_ref();
        let n = (point.len().saturating_sub(1)) / 2;
        let (x, y) = match (point.first(), point.get(1..1 + n), point.get(1 + n..)) {
            (Some(4), Some(x), Some(y)) if n > 0 => (x, y),
            _ => return Err(Error::Key("public key is not an uncompressed point".into())),
        };
        let (x, y) = (URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y));
        // RFC 7638: members in lexicographic order, no spaces.
        let thumb_input = format!(
            r#"{{"crv":"{}","kty":"EC","x":"{x}","y":"{y}"}}"#,
            alg.crv()
        );
        let kid = URL_SAFE_NO_PAD.encode(
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, thumb_input.as_bytes()).as_ref(),
        );
        let jwk = json!({
            "kty": "EC", "crv": alg.crv(), "x": x, "y": y,
            "alg": alg.as_str(), "use": "sig", "kid": kid,
        });
        Ok(Self {
            alg,
            pkcs8: der.to_vec(),
            kid,
            jwk,
            pair,
            rng: SystemRandom::new(),
        })
    }

    /// A key from PEM: PKCS#8 `PRIVATE KEY` or SEC1 `EC PRIVATE KEY`, on
    /// P-256 (ES256) or P-384 (ES384).
    pub fn from_pem(pem: &[u8]) -> Result<Self, Error> {
        let (_, p) = x509_parser::pem::parse_x509_pem(pem)
            .map_err(|e| Error::Key(format!("not PEM: {e}")))?;
        if p.label != "PRIVATE KEY" && p.label != "EC PRIVATE KEY" {
            return Err(Error::Key(format!(
                "PEM block is {:?}, expected PRIVATE KEY or EC PRIVATE KEY",
                p.label
            )));
        }
        for alg in [Alg::Es256, Alg::Es384] {
            if let Ok(pair) = EcdsaKeyPair::from_private_key_der(alg.aws(), &p.contents) {
                let pkcs8 = pair
                    .to_pkcs8v1()
                    .map_err(|_| Error::Key("cannot re-encode the key as PKCS#8".into()))?;
                return Self::from_pkcs8(alg, pkcs8.as_ref());
            }
        }
        Err(Error::Key(
            "not an ECDSA P-256 or P-384 private key (ES256/ES384)".into(),
        ))
    }

    /// The key in `path` (PEM).
    pub fn from_file(path: &Path) -> Result<Self, Error> {
        let pem = crate::reference::read_bounded(path)
            .map_err(|e| Error::Key(format!("{}: {e}", path.display())))?;
        Self::from_pem(&pem).map_err(|e| Error::Key(format!("{}: {e}", path.display())))
    }

    /// The key kept in `dir`, generated (ES256) and stored with mode 0600 the
    /// first time. Two processes racing here end with the same key.
    pub fn load_or_generate(dir: &Path) -> Result<Self, Error> {
        let path = dir.join(KEY_FILE);
        if path.exists() {
            return Self::from_file(&path);
        }
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::Key(format!("create {}: {e}", dir.display())))?;
        let key = Self::generate(Alg::Es256)?;
        let tmp: PathBuf = dir.join(format!(".{KEY_FILE}.{}.tmp", std::process::id()));
        let written = write_private(&tmp, key.to_pem().as_bytes());
        let linked = written.and_then(|()| std::fs::hard_link(&tmp, &path));
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok(key),
            // Someone else stored a key first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Self::from_file(&path),
            Err(e) => Err(Error::Key(format!("store {}: {e}", path.display()))),
        }
    }

    /// The private key as PKCS#8 PEM.
    pub fn to_pem(&self) -> String {
        let b64 = STANDARD.encode(&self.pkcs8);
        let mut s = String::from("-----BEGIN PRIVATE KEY-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            s.push_str(&String::from_utf8_lossy(chunk));
            s.push('\n');
        }
        s.push_str("-----END PRIVATE KEY-----\n");
        s
    }

    /// The algorithm.
    pub fn alg(&self) -> Alg {
        self.alg
    }

    /// The key id: the RFC 7638 thumbprint of the public key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK.
    pub fn public_jwk(&self) -> &Value {
        &self.jwk
    }

    /// The public key as a one-key JWKS.
    pub fn jwks(&self) -> Jwks {
        Jwks {
            keys: vec![self.jwk.clone()],
        }
    }

    /// The EAR of `appraisal` (unsigned), as [`sign`](Self::sign) would sign it.
    pub fn ear(&self, appraisal: &Appraisal, opts: &TokenOptions) -> Result<ear::Ear, Error> {
        build_ear(appraisal, opts)
    }

    /// Signs `appraisal` as an EAR JWT.
    pub fn sign(&self, appraisal: &Appraisal, opts: &TokenOptions) -> Result<String, Error> {
        let e = build_ear(appraisal, opts)?;
        self.sign_ear(&e)
    }

    /// Signs an EAR built by the caller.
    pub fn sign_ear(&self, e: &ear::Ear) -> Result<String, Error> {
        e.validate().map_err(|err| Error::Sign(err.to_string()))?;
        let mut header = jsonwebtoken::Header::new(self.alg.jwt());
        header.kid = Some(self.kid.clone());
        // JWS compact serialization (RFC 7515 section 7.1), as
        // jsonwebtoken::encode builds it, signed with the key parsed once.
        let mut out = b64_json(&header)?;
        out.push('.');
        out.push_str(&b64_json(e)?);
        let sig = self
            .pair
            .sign(&self.rng, out.as_bytes())
            .map_err(|_| Error::Sign("ECDSA signing failed".into()))?;
        out.push('.');
        out.push_str(&URL_SAFE_NO_PAD.encode(sig.as_ref()));
        Ok(out)
    }
}

/// Base64url of the JSON of a value, for the two JWS parts.
fn b64_json<T: Serialize>(v: &T) -> Result<String, Error> {
    let json = serde_json::to_vec(v).map_err(|err| Error::Sign(err.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(json))
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

/// What goes into a token besides the appraisal.
#[derive(Debug, Clone)]
pub struct TokenOptions {
    /// Verifier id: who runs the verifier (also the issuer checked by
    /// [`verify_token`]).
    pub developer: String,
    /// Verifier id: which build.
    pub build: String,
    /// Lifetime in seconds ([`DEFAULT_TTL_SECS`] by default).
    pub ttl_secs: i64,
    /// The request's nonce, echoed as `eat_nonce` (8 to 64 bytes; other
    /// lengths are kept only as a verifier claim of each submod).
    pub nonce: Option<Vec<u8>>,
    /// Issue time (Unix seconds); now when absent.
    pub now: Option<i64>,
    /// The KBS runtime data the evidence was checked to bind (`{"nonce",
    /// "tee-pubkey"}`), carried as the attester claim
    /// `runtime_data_claims` of every submod: a relying party (the broker,
    /// in the passport model) encrypts secrets to its `tee-pubkey`.
    pub runtime_data: Option<Value>,
}

impl Default for TokenOptions {
    fn default() -> Self {
        Self {
            developer: "https://rootline.invalid".into(),
            build: concat!("rootline ", env!("CARGO_PKG_VERSION")).into(),
            ttl_secs: DEFAULT_TTL_SECS,
            nonce: None,
            now: None,
            runtime_data: None,
        }
    }
}

/// A JSON value as an EAR raw value.
fn raw_value(v: &Value) -> ear::RawValue {
    match v {
        Value::Null => ear::RawValue::Null,
        Value::Bool(b) => ear::RawValue::Bool(*b),
        Value::Number(n) => n
            .as_i64()
            .map(ear::RawValue::Integer)
            .unwrap_or_else(|| ear::RawValue::Float(n.as_f64().unwrap_or(f64::NAN))),
        Value::String(s) => ear::RawValue::String(s.clone()),
        Value::Array(a) => ear::RawValue::Array(a.iter().map(raw_value).collect()),
        Value::Object(m) => ear::RawValue::Map(
            m.iter()
                .map(|(k, v)| (ear::RawValue::String(k.clone()), raw_value(v)))
                .collect(),
        ),
    }
}

fn now_secs() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn build_ear(appraisal: &Appraisal, opts: &TokenOptions) -> Result<ear::Ear, Error> {
    if appraisal.devices.is_empty() {
        return Err(Error::Sign("an EAR needs at least one device".into()));
    }
    if opts.ttl_secs <= 0 {
        return Err(Error::Sign("the token lifetime must be positive".into()));
    }
    let iat = opts.now.unwrap_or_else(now_secs);
    let mut e = ear::Ear::new();
    e.profile = ear::EAR_PROFILE.to_string();
    e.iat = iat;
    e.exp = Some(iat.saturating_add(opts.ttl_secs));
    e.vid = ear::VerifierID {
        build: opts.build.clone(),
        developer: opts.developer.clone(),
    };
    let eat_nonce = opts
        .nonce
        .as_deref()
        .and_then(|n| ear::Nonce::try_from(n).ok());
    for d in &appraisal.devices {
        let mut a = ear::Appraisal::new();
        a.status = d.status.to_ear();
        for (c, v) in d.trust_vector.iter() {
            a.trust_vector
                .mut_by_name(c)
                .map_err(|err| Error::Sign(format!("{c}: {err}")))?
                .set(v);
        }
        if !d.policy.is_empty() {
            a.policy_ids = vec![format!("{}#sha256:{}", d.policy, d.policy_hash)];
        }
        if let Some(t) = d.tee {
            a.verifier_claims
                .insert("tee".into(), ear::RawValue::String(t.as_str().into()));
        }
        if !d.reasons.is_empty() {
            a.verifier_claims.insert(
                "reasons".into(),
                ear::RawValue::Array(
                    d.reasons
                        .iter()
                        .map(|r| ear::RawValue::String(format!("{}: {}", r.component, r.message)))
                        .collect(),
                ),
            );
        }
        if let Some(n) = &opts.nonce
            && eat_nonce.is_none()
        {
            a.verifier_claims
                .insert("nonce".into(), ear::RawValue::String(hex::encode(n)));
        }
        if let Some(rd) = &opts.runtime_data {
            a.attester_claims
                .insert("runtime_data_claims".into(), raw_value(rd));
        }
        e.submods.insert(d.device.clone(), a);
    }
    e.nonce = eat_nonce;
    e.status = Some(appraisal.status.to_ear());
    if appraisal.status == Tier::None {
        e.status = Some(ear::TrustTier::None);
    }
    Ok(e)
}

/// A published key set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Jwks {
    /// JWKs, each with `kid`.
    pub keys: Vec<Value>,
}

/// A token that passed [`verify_token`].
#[derive(Debug)]
pub struct VerifiedToken {
    /// The attestation result.
    pub ear: ear::Ear,
    /// The key that signed it.
    pub kid: String,
}

/// Checks an EAR JWT: a `kid` naming a key of `jwks`, an ES256/ES384
/// signature by it, `exp` present and after `now` (Unix seconds; now when
/// absent), `iat` not in the future, and the verifier id's developer equal to
/// `issuer`.
pub fn verify_token(
    token: &str,
    jwks: &Jwks,
    issuer: &str,
    now: Option<i64>,
) -> Result<VerifiedToken, Error> {
    let now = now.unwrap_or_else(now_secs);
    let header =
        jsonwebtoken::decode_header(token).map_err(|e| Error::Token(format!("header: {e}")))?;
    if !matches!(
        header.alg,
        jsonwebtoken::Algorithm::ES256 | jsonwebtoken::Algorithm::ES384
    ) {
        return Err(Error::Token(format!(
            "algorithm {:?} is not accepted (ES256, ES384)",
            header.alg
        )));
    }
    let kid = header
        .kid
        .ok_or_else(|| Error::Token("the header names no kid".into()))?;
    let jwk = jwks
        .keys
        .iter()
        .find(|k| k.get("kid").and_then(Value::as_str) == Some(kid.as_str()))
        .ok_or_else(|| Error::Token(format!("no key {kid:?} in the JWKS")))?;
    let jwk: jsonwebtoken::jwk::Jwk =
        serde_json::from_value(jwk.clone()).map_err(|e| Error::Token(format!("JWK {kid}: {e}")))?;
    let dk = jsonwebtoken::DecodingKey::from_jwk(&jwk)
        .map_err(|e| Error::Token(format!("JWK {kid}: {e}")))?;
    let mut v = jsonwebtoken::Validation::new(header.alg);
    // exp is checked below against `now`, so that callers (and tests) can fix
    // the time; jsonwebtoken would use the system clock.
    v.validate_exp = false;
    v.set_required_spec_claims::<&str>(&[]);
    let data = jsonwebtoken::decode::<ear::Ear>(token, &dk, &v)
        .map_err(|e| Error::Token(format!("{e}")))?;
    let e = data.claims;
    let exp = e
        .exp
        .ok_or_else(|| Error::Token("the token has no exp".into()))?;
    if exp <= now {
        return Err(Error::Token(format!(
            "expired {} s ago (exp {exp})",
            now.saturating_sub(exp)
        )));
    }
    if e.iat > now.saturating_add(MAX_SKEW_SECS) {
        return Err(Error::Token(format!(
            "issued in the future (iat {})",
            e.iat
        )));
    }
    if e.vid.developer != issuer {
        return Err(Error::Token(format!(
            "issued by {:?}, not {issuer:?}",
            e.vid.developer
        )));
    }
    e.validate()
        .map_err(|err| Error::Token(format!("not a valid EAR: {err}")))?;
    Ok(VerifiedToken { ear: e, kid })
}

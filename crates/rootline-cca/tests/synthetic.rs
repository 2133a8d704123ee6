//! Synthetic CCA tokens made with fresh aws-lc-rs keys (the builder is
//! `rootline_testkit::cca`): every curve and both RAK formats verify; every
//! broken variant (missing or malformed claim, unbound RAK, wrong signer,
//! wrong nonce, odd COSE headers, a bad collection, a flipped bit, a
//! truncation) is rejected with the error that names it.

use ciborium::Value;
use coset::{
    CborSerializable, CoseKeyBuilder, CoseSign1Builder, HeaderBuilder, TaggedCborSerializable, iana,
};
use rootline_cca::{Error, Part, Token, TrustAnchors};
use rootline_testkit::cca::{
    Curve, IMPLEMENTATION_ID, INSTANCE_ID, Key, Map, Platform, RealmSpec, bytes, cbor, collection,
    int, sha, text,
};

/// A platform (CPAK) and a realm (RAK) with the claims they sign.
struct Fixture {
    platform: Platform,
    rak: Key,
    spec: RealmSpec,
}

impl Fixture {
    fn new(cpak: Curve, rak: Curve, cose_rak: bool, rak_hash: &'static str) -> Self {
        Self {
            platform: Platform::new(cpak),
            rak: Key::new(rak),
            spec: RealmSpec {
                challenge: [0x5a; 64],
                rak_curve: rak,
                cose_rak,
                rak_hash,
                ..RealmSpec::default()
            },
        }
    }

    /// The TF-A shape: P-384 CPAK, raw P-384 RAK, sha-256.
    fn tfa() -> Self {
        Self::new(Curve::P384, Curve::P384, false, "sha-256")
    }

    fn cpak(&self) -> &Key {
        self.platform.cpak()
    }

    fn anchors(&self) -> TrustAnchors {
        TrustAnchors::from_json(self.platform.cpak_json().to_string().as_bytes()).unwrap()
    }

    fn rak_claim(&self) -> Vec<u8> {
        self.spec.rak_claim(&self.rak)
    }

    fn platform_map(&self) -> Map {
        self.platform.claims(&self.spec, &self.rak)
    }

    fn realm_map(&self) -> Map {
        self.spec.claims(&self.rak)
    }

    fn token_from(&self, p: &Map, r: &Map) -> Vec<u8> {
        self.platform.sign(p, r, &self.rak)
    }

    fn token(&self) -> Vec<u8> {
        self.token_from(&self.platform_map(), &self.realm_map())
    }

    fn verify(&self, token: &[u8]) -> Result<(), Error> {
        rootline_cca::verify(token, &self.anchors(), Some(&self.spec.challenge)).map(|_| ())
    }
}

fn set(m: &mut Map, label: i64, v: Value) {
    m.iter_mut().find(|(k, _)| *k == int(label)).unwrap().1 = v;
}

fn remove(m: &mut Map, label: i64) {
    m.retain(|(k, _)| *k != int(label));
}

#[test]
fn every_curve_and_both_rak_formats_verify() {
    let curves = [Curve::P256, Curve::P384, Curve::P521];
    let hashes = ["sha-256", "sha-384", "sha-512"];
    let mut n = 0;
    for (i, cpak) in curves.iter().enumerate() {
        for (j, (rak, cose)) in [
            (Curve::P384, false),
            (Curve::P256, true),
            (Curve::P384, true),
            (Curve::P521, true),
        ]
        .into_iter()
        .enumerate()
        {
            let f = Fixture::new(*cpak, rak, cose, hashes[(i + j) % 3]);
            let token = f.token();
            assert!(rootline_cca::detect(&token));
            let v = rootline_cca::verify(&token, &f.anchors(), Some(&f.spec.challenge))
                .unwrap_or_else(|e| panic!("{cpak} CPAK, {rak} RAK (COSE_Key {cose}): {e}"));
            assert_eq!(v.realm.public_key, f.rak_claim());
            assert_eq!(v.realm.profile.is_some(), cose);
            let t = Token::parse(&token).unwrap();
            assert_eq!(t.platform_alg().curve().name(), cpak.name());
            assert_eq!(t.realm_alg().curve().name(), rak.name());
            n += 1;
        }
    }
    assert_eq!(n, 12);
}

#[test]
fn claims_serialise_with_hex_bytes_and_rootline_hash_names() {
    let f = Fixture::tfa();
    let claims = rootline_cca::verify(&f.token(), &f.anchors(), None)
        .unwrap()
        .into_inner();
    let j = serde_json::to_value(&claims).unwrap();
    assert_eq!(j["platform"]["instance_id"], hex::encode(INSTANCE_ID));
    assert_eq!(
        j["platform"]["implementation_id"],
        hex::encode(IMPLEMENTATION_ID)
    );
    assert_eq!(j["platform"]["config"], "cfcfcfcf");
    assert_eq!(j["platform"]["lifecycle"], 0x3003);
    assert_eq!(j["platform"]["hash_alg"], "sha256");
    assert_eq!(
        j["platform"]["verification_service"],
        "https://veraison.example"
    );
    let swc = &j["platform"]["sw_components"][0];
    assert_eq!(swc["measurement_type"], "BL");
    assert_eq!(swc["measurement_value"], "33".repeat(32));
    assert_eq!(swc["version"], "1.0");
    assert_eq!(swc["signer_id"], "44".repeat(32));
    assert_eq!(swc["hash_alg"], "sha256");
    assert_eq!(j["realm"]["challenge"], "5a".repeat(64));
    assert_eq!(j["realm"]["personalization_value"], "66".repeat(64));
    assert_eq!(j["realm"]["initial_measurement"], "77".repeat(64));
    assert_eq!(j["realm"]["extensible_measurements"][3], "03".repeat(64));
    assert_eq!(j["realm"]["hash_alg"], "sha512");
    assert_eq!(j["realm"]["public_key_hash_alg"], "sha256");
    assert_eq!(j["realm"]["public_key"], hex::encode(f.rak.point()));
    assert!(j["realm"]["profile"].is_null());
    assert_eq!(
        format!("{:?}", claims.platform.lifecycle),
        "secured (0x3003)"
    );
}

#[test]
fn a_nonce_shorter_than_64_bytes_is_zero_padded_as_guest_components_and_trustee_do() {
    let mut f = Fixture::tfa();
    let runtime_hash = [0x9c; 48]; // a SHA-384 of the KBS runtime data
    f.spec.challenge = [0; 64];
    f.spec.challenge[..48].copy_from_slice(&runtime_hash);
    let token = f.token();
    let ta = f.anchors();
    rootline_cca::verify(&token, &ta, Some(&runtime_hash)).unwrap();
    rootline_cca::verify(&token, &ta, Some(&f.spec.challenge)).unwrap();
    rootline_cca::verify(&token, &ta, None).unwrap();
    for bad in [&runtime_hash[..47], &[0x9c; 49][..], &[0x9d; 48][..]] {
        let e = rootline_cca::verify(&token, &ta, Some(bad)).unwrap_err();
        assert!(matches!(e, Error::Nonce(_)), "{} bytes: {e}", bad.len());
    }
    // Longer than a challenge, or empty: refused, not truncated or padded.
    let mut long = f.spec.challenge.to_vec();
    long.push(0);
    let e = rootline_cca::verify(&token, &ta, Some(&long)).unwrap_err();
    assert!(e.to_string().contains("65 bytes"), "{e}");
    let e = rootline_cca::verify(&token, &ta, Some(&[])).unwrap_err();
    assert!(e.to_string().contains("empty"), "{e}");
    assert_eq!(rootline_cca::expected_challenge(&[7]).unwrap()[..2], [7, 0]);
}

#[test]
fn a_platform_challenge_that_does_not_bind_the_rak_is_rejected() {
    let f = Fixture::tfa();
    let other = Key::new(Curve::P384);
    // The platform vouches for another key (bug-33's shape).
    let mut p = f.platform_map();
    set(&mut p, 10, bytes(&sha("sha-256", other.point())));
    let e = f.verify(&f.token_from(&p, &f.realm_map())).unwrap_err();
    assert!(matches!(e, Error::Binding { .. }), "{e}");
    // The right key, hashed with another algorithm than the realm says.
    let mut p = f.platform_map();
    set(&mut p, 10, bytes(&sha("sha-512", &f.rak_claim())));
    let e = f.verify(&f.token_from(&p, &f.realm_map())).unwrap_err();
    assert!(
        matches!(e, Error::Binding { ref alg, .. } if alg == "sha256"),
        "{e}"
    );
}

#[test]
fn a_realm_token_signed_by_a_key_other_than_its_rak_is_rejected() {
    let f = Fixture::tfa();
    let mallory = Key::new(Curve::P384);
    let token = collection(
        &f.cpak().sign1(&cbor(&Value::Map(f.platform_map()))),
        &mallory.sign1(&cbor(&Value::Map(f.realm_map()))),
    );
    let e = f.verify(&token).unwrap_err();
    assert!(
        matches!(
            e,
            Error::BadSignature {
                part: Part::Realm,
                ..
            }
        ),
        "{e}"
    );
    // And a platform token signed by another CPAK.
    let token = collection(
        &mallory.sign1(&cbor(&Value::Map(f.platform_map()))),
        &f.rak.sign1(&cbor(&Value::Map(f.realm_map()))),
    );
    let e = f.verify(&token).unwrap_err();
    assert!(
        matches!(
            e,
            Error::BadSignature {
                part: Part::Platform,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn a_rak_in_the_wrong_format_or_holding_a_private_key_is_rejected() {
    let f = Fixture::new(Curve::P256, Curve::P384, true, "sha-256");
    let mut r = f.realm_map();
    let rak = f.rak.cose_key(Some(iana::Algorithm::ES512));
    set(&mut r, 44237, bytes(&rak));
    let mut p = f.platform_map();
    set(&mut p, 10, bytes(&sha("sha-256", &rak)));
    // ES512 does not fit a P-384 key: malformed key, at decode time.
    let e = f.verify(&f.token_from(&p, &r)).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Claim {
                part: Part::Realm,
                claim: "public-key",
                ..
            }
        ),
        "{e}"
    );
    // A raw point where the realm profile wants a COSE_Key.
    set(&mut r, 44237, bytes(f.rak.point()));
    assert!(f.verify(&f.token_from(&p, &r)).is_err());
    // A COSE_Key holding a private key is refused.
    let (x, y) = f.rak.xy();
    let mut k = CoseKeyBuilder::new_ec2_pub_key(iana::EllipticCurve::P_384, x, y).build();
    k.params
        .push((coset::Label::Int(-4), Value::Bytes(vec![1; 48])));
    set(&mut r, 44237, bytes(&k.to_vec().unwrap()));
    let e = f.verify(&f.token_from(&p, &r)).unwrap_err();
    assert!(e.to_string().contains("private key"), "{e}");
}

#[test]
fn each_missing_mandatory_claim_is_named() {
    let f = Fixture::tfa();
    let platform = [
        (265, "profile"),
        (10, "challenge"),
        (2396, "implementation-id"),
        (256, "instance-id"),
        (2401, "config"),
        (2395, "lifecycle"),
        (2399, "sw-components"),
        (2402, "hash-algo-id"),
    ];
    for (label, name) in platform {
        let mut p = f.platform_map();
        remove(&mut p, label);
        let e = rootline_cca::decode(&f.token_from(&p, &f.realm_map())).unwrap_err();
        assert_eq!(
            e,
            Error::MissingClaim {
                part: Part::Platform,
                claim: name
            }
        );
    }
    let realm = [
        (10, "challenge"),
        (44235, "personalization-value"),
        (44238, "initial-measurement"),
        (44239, "extensible-measurements"),
        (44236, "hash-algo-id"),
        (44237, "public-key"),
        (44240, "public-key-hash-algo-id"),
    ];
    for (label, name) in realm {
        let mut r = f.realm_map();
        remove(&mut r, label);
        let e = rootline_cca::decode(&f.token_from(&f.platform_map(), &r)).unwrap_err();
        assert_eq!(
            e,
            Error::MissingClaim {
                part: Part::Realm,
                claim: name
            }
        );
    }
    // The verification service is optional.
    let mut p = f.platform_map();
    remove(&mut p, 2400);
    f.verify(&f.token_from(&p, &f.realm_map())).unwrap();
}

#[test]
fn malformed_claims_are_rejected_with_their_name_and_reason() {
    let f = Fixture::tfa();
    type Edit = fn(&mut Map);
    let platform: Vec<(Edit, &str)> = vec![
        (|m| set(m, 10, bytes(&[0; 31])), "challenge: 31 bytes"),
        (
            |m| set(m, 2396, bytes(&[0; 31])),
            "implementation-id: 31 bytes, expected 32",
        ),
        (
            |m| set(m, 256, bytes(&[1; 34])),
            "instance-id: 34 bytes, expected 33",
        ),
        (|m| set(m, 2401, text("cfcf")), "config: not a byte string"),
        (
            |m| set(m, 2395, int(0x7000)),
            "lifecycle: undefined lifecycle 0x7000",
        ),
        (|m| set(m, 2395, int(-1)), "lifecycle: undefined"),
        (
            |m| set(m, 2399, Value::Array(vec![])),
            "sw-components: empty",
        ),
        (
            |m| {
                set(
                    m,
                    2399,
                    Value::Array(vec![Value::Map(vec![(int(3), int(0))])]),
                )
            },
            "component 0: unknown key 3",
        ),
        (
            |m| {
                set(
                    m,
                    2399,
                    Value::Array(vec![Value::Map(vec![(int(5), bytes(&[1; 32]))])]),
                )
            },
            "component 0: missing measurement-value",
        ),
        (
            |m| set(m, 2402, text("sha3-256")),
            "hash-algo-id: unsupported hash algorithm",
        ),
        (
            |m| set(m, 265, text("http://arm.com/psa/2.0.0")),
            "unsupported platform profile",
        ),
        (
            |m| set(m, 2400, int(1)),
            "verification-service: not a text string",
        ),
        (
            |m| m.push((int(2396), bytes(&[0; 32]))),
            "duplicated label 2396",
        ),
    ];
    for (edit, want) in platform {
        let mut p = f.platform_map();
        edit(&mut p);
        let e = rootline_cca::decode(&f.token_from(&p, &f.realm_map())).unwrap_err();
        assert!(e.to_string().contains(want), "{e} (wanted {want})");
        if !want.starts_with("unsupported") {
            assert!(e.to_string().starts_with("malformed platform token"), "{e}");
        }
    }
    let realm: Vec<(Edit, &str)> = vec![
        (
            |m| set(m, 10, bytes(&[0; 32])),
            "challenge: 32 bytes, expected 64",
        ),
        (
            |m| set(m, 44235, bytes(&[0; 63])),
            "personalization-value: 63 bytes, expected 64",
        ),
        (
            |m| set(m, 44238, bytes(&[0; 20])),
            "initial-measurement: 20 bytes",
        ),
        (
            |m| set(m, 44239, Value::Array(vec![bytes(&[0; 32]); 3])),
            "3 slots, expected 4",
        ),
        (
            |m| {
                set(
                    m,
                    44239,
                    Value::Array(vec![
                        bytes(&[0; 32]),
                        bytes(&[0; 32]),
                        bytes(&[0; 32]),
                        int(0),
                    ]),
                )
            },
            "slot 3: not a byte string",
        ),
        (
            |m| set(m, 44236, text("SHA-256")),
            "hash-algo-id: unsupported hash algorithm",
        ),
        (
            |m| set(m, 44237, bytes(&[4; 65])),
            "public-key: not an uncompressed P-384 point",
        ),
        (
            |m| set(m, 44240, int(1)),
            "public-key-hash-algo-id: not a text string",
        ),
        (
            |m| m.push((int(265), text("tag:arm.com,2024:realm#2.0.0"))),
            "unsupported realm profile",
        ),
        (
            |m| m.push((int(10), bytes(&[0; 64]))),
            "duplicated label 10",
        ),
    ];
    for (edit, want) in realm {
        let mut r = f.realm_map();
        edit(&mut r);
        let e = rootline_cca::decode(&f.token_from(&f.platform_map(), &r)).unwrap_err();
        assert!(e.to_string().contains(want), "{e} (wanted {want})");
    }
    // Unknown claims, with integer or text labels, are ignored (as upstream).
    let mut r = f.realm_map();
    r.push((int(99), text("spurious")));
    r.push((text("spurious"), int(1)));
    let mut p = f.platform_map();
    p.push((int(-70000), bytes(&[1])));
    f.verify(&f.token_from(&p, &r)).unwrap();
}

#[test]
fn cose_headers_outside_the_profile_are_rejected() {
    let f = Fixture::tfa();
    let p = cbor(&Value::Map(f.platform_map()));
    let r = f.rak.sign1(&cbor(&Value::Map(f.realm_map())));
    let alg = f.cpak().cose_alg();
    let check = |platform: Vec<u8>, want: &str| {
        let e = f.verify(&collection(&platform, &r)).unwrap_err();
        assert!(e.to_string().contains(want), "{e} (wanted {want})");
    };
    // A critical header we do not understand.
    check(
        f.cpak().sign1_with(
            &p,
            HeaderBuilder::new()
                .algorithm(alg)
                .add_critical(iana::HeaderParameter::CounterSignature),
        ),
        "unsupported COSE critical header parameters",
    );
    // No alg, or alg only in the unprotected header.
    check(
        f.cpak().sign1_with(&p, HeaderBuilder::new()),
        "no alg in the protected header",
    );
    let s = CoseSign1Builder::new()
        .unprotected(HeaderBuilder::new().algorithm(alg).build())
        .payload(p.clone())
        .create_signature(b"", |tbs| f.cpak().sign(tbs))
        .build();
    check(
        s.to_tagged_vec().unwrap(),
        "alg is in the unprotected header",
    );
    // Another algorithm.
    check(
        f.cpak()
            .sign1_with(&p, HeaderBuilder::new().algorithm(iana::Algorithm::EdDSA)),
        "unsupported COSE algorithm",
    );
    check(
        f.cpak()
            .sign1_with(&p, HeaderBuilder::new().algorithm(iana::Algorithm::PS256)),
        "unsupported COSE algorithm",
    );
    // A detached payload.
    let s = CoseSign1Builder::new()
        .protected(HeaderBuilder::new().algorithm(alg).build())
        .create_detached_signature(&p, b"", |tbs| f.cpak().sign(tbs))
        .build();
    check(s.to_tagged_vec().unwrap(), "detached payload");
    // A signature of the wrong size for the algorithm.
    let s = CoseSign1Builder::new()
        .protected(HeaderBuilder::new().algorithm(alg).build())
        .payload(p.clone())
        .signature(vec![1; 95])
        .build();
    check(
        s.to_tagged_vec().unwrap(),
        "signature is 95 bytes, ES384 needs 96",
    );
    // A token signed with the wrong algorithm for the key (ES256 header, P-384 key).
    let s = CoseSign1Builder::new()
        .protected(
            HeaderBuilder::new()
                .algorithm(iana::Algorithm::ES256)
                .build(),
        )
        .payload(p.clone())
        .signature(vec![1; 64])
        .build();
    check(s.to_tagged_vec().unwrap(), "ES256 needs a P-256 key");
    // Untagged COSE_Sign1 is accepted.
    let s = CoseSign1Builder::new()
        .protected(HeaderBuilder::new().algorithm(alg).build())
        .payload(p.clone())
        .create_signature(b"", |tbs| f.cpak().sign(tbs))
        .build();
    f.verify(&collection(&s.to_vec().unwrap(), &r)).unwrap();
}

#[test]
fn a_bad_collection_is_rejected() {
    let f = Fixture::tfa();
    let token = f.token();
    let p = f.cpak().sign1(&cbor(&Value::Map(f.platform_map())));
    let r = f.rak.sign1(&cbor(&Value::Map(f.realm_map())));
    let tagged = |tag: u64, m: Vec<(Value, Value)>| cbor(&Value::Tag(tag, Box::new(Value::Map(m))));
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            tagged(400, vec![(int(44234), bytes(&p)), (int(44241), bytes(&r))]),
            "CBOR tag 400, expected 399",
        ),
        (
            cbor(&Value::Map(vec![
                (int(44234), bytes(&p)),
                (int(44241), bytes(&r)),
            ])),
            "not CBOR tag 399",
        ),
        (
            tagged(399, vec![(int(44234), bytes(&p))]),
            "no realm token (44241)",
        ),
        (
            tagged(399, vec![(int(44241), bytes(&r))]),
            "no platform token (44234)",
        ),
        (
            tagged(
                399,
                vec![
                    (int(44234), bytes(&p)),
                    (int(44241), bytes(&r)),
                    (int(44241), bytes(&r)),
                ],
            ),
            "duplicated key 44241",
        ),
        (
            tagged(
                399,
                vec![
                    (int(44234), bytes(&p)),
                    (int(44241), bytes(&r)),
                    (int(1), bytes(&r)),
                ],
            ),
            "unknown key 1",
        ),
        (
            tagged(399, vec![(int(44234), bytes(&p)), (int(44241), text("x"))]),
            "key 44241 is not a byte string",
        ),
        ([token.clone(), vec![0]].concat(), "1 trailing bytes"),
        (vec![0xd9, 0x01, 0x8f], "collection"),
        (
            vec![
                0xd9, 0x01, 0x8f, 0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            ],
            "collection",
        ),
        (vec![0x81; 5000], "collection"),
    ];
    for (bytes, want) in cases {
        let e = rootline_cca::decode(&bytes).unwrap_err();
        assert!(e.to_string().contains(want), "{e} (wanted {want})");
    }
    let big = vec![0u8; rootline_cca::MAX_TOKEN_LEN + 1];
    let e = rootline_cca::decode(&big).unwrap_err();
    assert!(matches!(e, Error::TooLarge { .. }), "{e}");
    // Every truncation fails without a panic.
    for n in 0..token.len() {
        assert!(rootline_cca::decode(&token[..n]).is_err(), "{n}");
    }
    assert!(!rootline_cca::detect(b""));
    assert!(!rootline_cca::detect(b"{\"token\": []}"));
    assert!(!rootline_cca::detect(&[0xd9, 0x01]));
}

#[test]
fn one_bit_flips_of_every_byte_of_a_synthetic_token_are_rejected() {
    for f in [
        Fixture::tfa(),
        Fixture::new(Curve::P256, Curve::P521, true, "sha-512"),
    ] {
        let token = f.token();
        let ta = f.anchors();
        rootline_cca::verify(&token, &ta, Some(&f.spec.challenge)).unwrap();
        let mut b = token.clone();
        for i in 0..b.len() {
            b[i] ^= 0x80 >> (i % 8);
            assert!(
                rootline_cca::verify(&b, &ta, Some(&f.spec.challenge)).is_err(),
                "byte {i} of {}",
                b.len()
            );
            b[i] ^= 0x80 >> (i % 8);
        }
    }
}

#[test]
fn trust_anchors_come_in_every_form_the_tooling_writes() {
    let f = Fixture::tfa();
    let token = f.token();
    let jwk = f.cpak().jwk();
    let entry = serde_json::json!({"pkey": jwk, "instance-id": hex::encode(INSTANCE_ID)});
    let forms = [
        jwk.clone(),
        serde_json::json!({"keys": [jwk]}),
        entry.clone(),
        serde_json::json!([entry]),
        serde_json::json!([jwk]),
        serde_json::json!({"kty": "EC", "crv": "P-384", "alg": "ES384", "x": jwk["x"], "y": jwk["y"]}),
    ];
    for form in forms {
        let ta = TrustAnchors::from_json(form.to_string().as_bytes()).unwrap();
        assert_eq!(ta.len(), 1);
        rootline_cca::verify(&token, &ta, None).unwrap_or_else(|e| panic!("{form}: {e}"));
    }
    let bad: Vec<(serde_json::Value, &str)> = vec![
        (
            serde_json::json!({"kty": "EC", "crv": "P-384", "x": jwk["x"], "y": jwk["y"], "d": "AAAA"}),
            "private key",
        ),
        (
            serde_json::json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"}),
            "kty \"RSA\"",
        ),
        (
            serde_json::json!({"kty": "EC", "crv": "P-192", "x": "AA", "y": "AA"}),
            "crv \"P-192\"",
        ),
        (
            serde_json::json!({"kty": "EC", "crv": "P-256", "x": jwk["x"], "y": jwk["y"]}),
            "coordinates must be 32 bytes",
        ),
        (
            serde_json::json!({"kty": "EC", "crv": "P-384", "x": "!!", "y": jwk["y"]}),
            "not base64url",
        ),
        (
            serde_json::json!({"kty": "EC", "crv": "P-384", "alg": "ES256", "x": jwk["x"], "y": jwk["y"]}),
            "does not fit",
        ),
        (
            serde_json::json!({"pkey": jwk, "instance-id": "0102"}),
            "instance-id: 2 bytes, expected 33",
        ),
        (
            serde_json::json!({"pkey": jwk, "implementation-id": "zz"}),
            "implementation-id: not hex",
        ),
        (
            serde_json::json!({"platform": []}),
            "none of the forms tried",
        ),
        (serde_json::json!("cpak"), "not an object or array"),
        (serde_json::json!([]), "no keys"),
        (serde_json::json!([1]), "entry 0 is not an object"),
    ];
    for (doc, want) in bad {
        let e = TrustAnchors::from_json(doc.to_string().as_bytes()).unwrap_err();
        assert!(e.to_string().contains(want), "{doc}: {e} (wanted {want})");
    }
    let e = TrustAnchors::from_json(b"-----BEGIN PUBLIC KEY-----").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("malformed trust anchors: not JSON"),
        "{e}"
    );
    // A failed add leaves the anchors as they were.
    let mut ta = f.anchors();
    assert!(ta.add_json(b"[{\"kty\": \"EC\"}]").is_err());
    assert_eq!(ta.len(), 1);
}

#[test]
fn the_kbs_evidence_json_of_guest_components_gives_the_token() {
    let f = Fixture::tfa();
    let token = f.token();
    let json = serde_json::json!({ "token": token }).to_string();
    let got = rootline_cca::token_from_kbs_evidence(json.as_bytes()).unwrap();
    assert_eq!(got, token);
    f.verify(&got).unwrap();
    for bad in [
        &b"{\"token\": \"AAAA\"}"[..],
        b"{\"token\": [256]}",
        b"{\"quote\": []}",
        b"[]",
    ] {
        assert!(rootline_cca::token_from_kbs_evidence(bad).is_err());
    }
}

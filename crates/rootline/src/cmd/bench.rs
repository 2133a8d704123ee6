//! `rootline bench verify`: what one verification costs here, beside the
//! floor of the raw signature checks it cannot avoid, measured in the same
//! run, and (for TDX/SGX) beside dcap-qvl's own verify on the same inputs.
//!
//! Collateral is obtained once (files, cache or fetch, as `rootline verify`
//! does), chains and collateral signatures are verified once in a warm
//! verifier, then each iteration verifies the evidence from its bytes. Each
//! iteration runs our verification and the floor back to back, so load from
//! other processes hits both alike; the ratios are p50 over p50.
//!
//! - SNP: `rootline_snp::Verifier::verify_evidence` (decode, cached chain,
//!   CRLs, TCB, one ECDSA P-384 verify) against one aws-lc-rs P-384 verify
//!   with the key already parsed.
//! - TDX/SGX: quote parse plus `rootline_dcap::Verifier::verify_prepared`
//!   against two aws-lc-rs P-256 verifies (QE report by the PCK key, quote by
//!   the attestation key), and `dcap_qvl::verify` as the peer.
//! - SE: `rootline_se::Response` decoded from its JSON and verified with
//!   the request secret (parsed once) against one aws-lc-rs HMAC-SHA512
//!   over the same measured bytes with the measurement key already set up:
//!   SE evidence carries no signature, its whole cryptographic cost is that
//!   one HMAC.
//! - SEV/SEV-ES (a `sevctl export --full` platform chain): the chain parsed
//!   and verified against its six signatures verified directly (ECDSA P-384
//!   for OCA, PEK twice and PDH, RSASSA-PSS for ASK and CEK), and the
//!   LAUNCH_MEASURE check of a synthetic launch against one HMAC-SHA256;
//!   end to end, both as `rootline sev` runs them (no broker path exists).
//! - Azure (SNP and TDX, guest-components' forms and the MAA requests):
//!   `rootline_azure::Verifier::verify` (the JSON forms, the hardware
//!   report with its chains cached, the runtime-data binding, the vTPM
//!   quote) against the raw verifies it cannot avoid, with fresh keys of
//!   the evidence's algorithms: one P-384 (SNP) or two P-256 (TDX) for the
//!   hardware report, and the vTPM quote's RSA or ECDSA signature with its
//!   scheme, hash and key size.
//! - TPM (every form `rootline verify` reads from one file: Trustee's and
//!   guest-components' JSON, go-attestation and go-tpm-tools dumps, the
//!   Google Cloud forms): `rootline_verifier::Verifier::verify` (decode,
//!   each quote's signature, PCRs, the event log replayed, the AK
//!   certificate chain when anchors are given) against each quote's
//!   signature verified with the evidence's own AK, key parsed once. The AK
//!   chain's signatures, when verified, are not in the floor: the row says
//!   how many certificates the evidence carries.
//! - Every other kind: `rootline_verifier::verify`, the whole `rootline verify`
//!   path without its I/O (collateral parsed, both DCAP verifiers run), as
//!   context.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context as _, bail};
use aws_lc_rs::signature::{self, ParsedPublicKey, UnparsedPublicKey};
use rootline_core::TeeKind;
use rootline_verifier::{Collateral, CollateralSource as _, Request};
use serde_json::{Value, json};
use time::OffsetDateTime;

/// Subcommands of `rootline bench`.
#[derive(clap::Subcommand)]
pub(crate) enum Command {
    /// Time verification of each EVIDENCE with collateral cached and chains
    /// verified once, beside the raw aws-lc-rs signature floor (one P-384
    /// verify for SNP, two P-256 for TDX/SGX, the chain's six for SEV, one
    /// HMAC for SE and SEV's LAUNCH_MEASURE, the hardware report's and the
    /// vTPM quote's for Azure, the platform and realm tokens' two for CCA,
    /// each quote's own for TPM, each GPU report's and certificate's for
    /// NVIDIA) and dcap-qvl's verify (TDX/SGX), measured in the same run;
    /// prints the ratios.
    Verify(VerifyArgs),
    /// Full KBS handshakes per second (auth, attest with the simulated P-384
    /// TEE, resource GET and decryption) and latency percentiles, against a
    /// broker on this machine (or one started in this process).
    Kbs(super::bench_kbs::KbsArgs),
}

/// Flags of `rootline bench verify`.
#[derive(clap::Args)]
pub(crate) struct VerifyArgs {
    /// Evidence files of any kind and form `rootline verify` reads (IBM SE
    /// responses with their request secret as --collateral), or a
    /// SEV/SEV-ES platform chain (`sevctl export --full`): its chain and a
    /// synthetic LAUNCH_MEASURE check are timed.
    #[arg(required = true)]
    evidence: Vec<PathBuf>,
    /// `rootline verify`'s collateral, time and trust-anchor flags; what
    /// collateral is missing is taken from the cache or fetched.
    #[command(flatten)]
    trust: super::appraise::TrustArgs,
    /// Timed iterations per evidence (after 5% of warm-up).
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(10..=10_000_000))]
    iterations: u32,
    /// Also run `openssl speed -seconds 1` for the matching curve, when
    /// `openssl` is on PATH, and print its verifies per second as context.
    #[arg(long)]
    openssl: bool,
    /// Print one JSON object: {"results": [...], "openssl": ...}; with one
    /// evidence file, its ops_per_sec, iterations, p50_us and p99_us are
    /// repeated at the top level.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    fetch: super::fetch::FetchArgs,
}

/// Per-iteration timings of one operation.
struct Samples(Vec<f64>);

impl Samples {
    fn pct(&self, p: f64) -> f64 {
        let mut v = self.0.clone();
        v.sort_by(f64::total_cmp);
        let i = ((v.len() as f64 - 1.0) * p).round() as usize;
        v.get(i).copied().unwrap_or(f64::NAN)
    }
    fn json(&self, what: &str) -> Value {
        let total: f64 = self.0.iter().sum();
        json!({
            "what": what,
            "ops_per_sec": round(self.0.len() as f64 * 1e6 / total),
            "p50_us": round(self.pct(0.5)),
            "p99_us": round(self.pct(0.99)),
        })
    }
}

fn round(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Runs each closure once per iteration, interleaved, after a warm-up.
fn measure(iterations: u32, ops: &mut [&mut dyn FnMut() -> bool]) -> anyhow::Result<Vec<Samples>> {
    let warm = (iterations / 20).max(5);
    for _ in 0..warm {
        for (i, op) in ops.iter_mut().enumerate() {
            if !op() {
                bail!("operation {i} failed during warm-up");
            }
        }
    }
    let mut out: Vec<Samples> = ops
        .iter()
        .map(|_| Samples(Vec::with_capacity(iterations as usize)))
        .collect();
    for _ in 0..iterations {
        for (op, s) in ops.iter_mut().zip(out.iter_mut()) {
            let t = Instant::now();
            let ok = op();
            s.0.push(t.elapsed().as_secs_f64() * 1e6);
            std::hint::black_box(ok);
        }
    }
    Ok(out)
}

pub(crate) fn run(c: Command) -> anyhow::Result<u8> {
    let a = match c {
        Command::Verify(a) => a,
        Command::Kbs(k) => return super::bench_kbs::run(k),
    };
    let at = a.trust.at()?;
    let at_s = at.unwrap_or_else(OffsetDateTime::now_utc).unix_timestamp();
    let given = a.trust.collateral()?;
    // The verifier the end-to-end figures use: the pinned roots plus the
    // trust anchors given, built once as the broker builds its own.
    let verifier = a.trust.verifier()?;
    let fetcher = super::fetch::fetcher(&a.fetch);
    let mut results = Vec::new();
    let mut curves = Vec::new();
    for path in &a.evidence {
        let evidence = super::read_limited(path, super::MAX_EVIDENCE, "evidence")?;
        // A SEV/SEV-ES platform chain (`sevctl export --full`) is no evidence
        // `rootline verify` reads: the guest owner checks it, and then the
        // launch, with `rootline sev`.
        if let Ok(chain) = rootline_sev::PlatformChain::parse_full(&evidence) {
            curves.push("ecdsap384");
            let mut r = bench_sev(&chain, &evidence, a.iterations)?;
            r["evidence"] = json!(path.display().to_string());
            r["iterations"] = json!(a.iterations);
            results.push(r);
            continue;
        }
        // Decoded once: for its kind, for the collateral it needs and for
        // the first verification.
        let decoded = rootline_verifier::decode(&evidence, None)
            .ok()
            .with_context(|| {
                format!(
                    "{}: not SNP, TDX, SGX, TPM, Azure, CCA, NVIDIA or SE evidence, nor a SEV platform chain",
                    path.display()
                )
            })?;
        let kind = decoded.tee();
        // One run may mix kinds: each evidence gets the files its kind reads.
        let given: Vec<Collateral> = given.iter().filter(|c| accepts(kind, c)).cloned().collect();
        let fetched = fetcher.gather(&decoded, &given, at_s);
        let mut collateral = given.clone();
        collateral.extend(fetched.collateral);
        let req = Request {
            evidence: evidence.clone(),
            tee: Some(kind),
            collateral,
            at,
            ..Request::default()
        };
        let outcome: rootline_verifier::Outcome = verifier.verify_decoded(&req, &decoded).into();
        let mut r = json!({
            "evidence": path.display().to_string(),
            "tee": kind.to_string(),
            "verified": outcome.verified,
            "error": outcome.error,
        });
        if !outcome.verified {
            // A rejected evidence would time the rejection path: say so instead.
            r["skipped"] = json!("not verified with this collateral and --at; nothing timed");
            r["fetch_failures"] = json!(fetched.failures);
            results.push(r);
            continue;
        }
        let timed = match kind {
            TeeKind::Snp => {
                curves.push("ecdsap384");
                bench_snp(&verifier, &req, a.iterations)?
            }
            TeeKind::Tdx | TeeKind::Sgx => {
                curves.push("ecdsap256");
                bench_dcap(&verifier, &req, at_s, a.iterations)?
            }
            TeeKind::Cca => {
                curves.push("ecdsap384");
                bench_cca(&req, a.iterations)?
            }
            TeeKind::Nvidia => {
                curves.push("ecdsap384");
                bench_nvidia(&verifier, &req, a.iterations)?
            }
            TeeKind::Se => bench_se(&verifier, &req, a.iterations)?,
            TeeKind::Tpm => bench_tpm(&verifier, &req, a.iterations)?,
            TeeKind::AzureSnp | TeeKind::AzureTdx => {
                curves.push(if kind == TeeKind::AzureSnp {
                    "ecdsap384"
                } else {
                    "ecdsap256"
                });
                bench_azure(&verifier, &req, kind, a.iterations)?
            }
            other => {
                let mut e2e = || broker_pays(&verifier, &req);
                let s = measure(a.iterations, &mut [&mut e2e])?;
                let mut j = json!({ "end_to_end": s.first().map(|s| s.json(END_TO_END)) });
                j["note"] = json!(format!("no floor measured for {other}"));
                j
            }
        };
        if let (Value::Object(r), Value::Object(t)) = (&mut r, timed) {
            r.extend(t);
        }
        r["iterations"] = json!(a.iterations);
        results.push(r);
    }
    curves.dedup();
    let openssl = if a.openssl {
        let mut m = serde_json::Map::new();
        for c in &curves {
            m.insert(
                (*c).to_owned(),
                openssl_speed(c).map_or(Value::Null, |v| json!(v)),
            );
        }
        Value::Object(m)
    } else {
        Value::Null
    };
    if a.json {
        let mut top = json!({ "results": results, "openssl_verifies_per_sec": openssl });
        if let [one] = top["results"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let one = one.clone();
            for k in ["ops_per_sec", "iterations", "p50_us", "p99_us"] {
                top[k] = one[k].clone();
            }
        }
        println!("{}", serde_json::to_string_pretty(&top)?);
    } else {
        print_text(&results, &openssl);
    }
    Ok(0)
}

/// True when `kind`'s collateral reader takes the file.
fn accepts(kind: TeeKind, c: &Collateral) -> bool {
    let origin = c.origin.display().to_string();
    match kind {
        TeeKind::Snp => rootline_snp::Collateral::new()
            .add(&origin, &c.bytes)
            .is_ok(),
        TeeKind::Tdx | TeeKind::Sgx => {
            let mut p = rootline_dcap::CollateralParts::default();
            p.add(&origin, &c.bytes).is_ok() && p.notes.is_empty()
        }
        TeeKind::Cca => rootline_cca::TrustAnchors::new().add_json(&c.bytes).is_ok(),
        TeeKind::Se => rootline_se::RequestSecret::from_json(&c.bytes).is_ok(),
        _ => true,
    }
}

fn print_text(results: &[Value], openssl: &Value) {
    for r in results {
        println!(
            "{} ({})",
            r["evidence"].as_str().unwrap_or(""),
            r["tee"].as_str().unwrap_or("")
        );
        if let Some(s) = r["skipped"].as_str() {
            println!("  skipped: {s}: {}", r["error"].as_str().unwrap_or(""));
            continue;
        }
        let line = |label: &str, v: &Value| {
            if v.is_object() {
                println!(
                    "  {label:<34} p50 {:>9.1} us  p99 {:>9.1} us  {:>9.0}/s   ({})",
                    v["p50_us"].as_f64().unwrap_or(f64::NAN),
                    v["p99_us"].as_f64().unwrap_or(f64::NAN),
                    v["ops_per_sec"].as_f64().unwrap_or(f64::NAN),
                    v["what"].as_str().unwrap_or("")
                );
            }
        };
        // SEV caches nothing and has no broker path: its labels say so.
        let sev = r["tee"] == "sev";
        if r["p50_us"].is_number() {
            line(
                if sev { "rootline" } else { "rootline, cached" },
                &json!({
                    "p50_us": r["p50_us"], "p99_us": r["p99_us"], "ops_per_sec": r["ops_per_sec"],
                    "what": r["what"],
                }),
            );
        }
        line("floor", &r["floor"]);
        line("peer", &r["peer"]);
        line(
            if sev {
                "rootline sev path (end to end)"
            } else {
                "rootline verify path (end to end)"
            },
            &r["end_to_end"],
        );
        if let Some(x) = r["floor_ratio"].as_f64() {
            println!("  floor/rootline ratio {x:.3} (1.0 = the signature floor itself)");
        }
        if let Some(l) = r.get("launch_measure").filter(|l| l.is_object()) {
            line("rootline, LAUNCH_MEASURE", l);
            line("floor, LAUNCH_MEASURE", &l["floor"]);
            if let Some(x) = l["floor_ratio"].as_f64() {
                println!("  LAUNCH_MEASURE floor/rootline ratio {x:.3} (1.0 = the HMAC itself)");
            }
        }
        if let Some(x) = r["end_to_end_floor_ratio"].as_f64() {
            let who = if sev {
                "what the guest owner pays per launch"
            } else {
                "what verify and the broker pay per report"
            };
            println!("  floor/end-to-end ratio {x:.3} ({who})");
        }
        if let Some(n) = r["note"].as_str() {
            println!("  note: {n}");
        }
        if let Some(x) = r["speedup_vs_peer"].as_f64() {
            println!("  speedup over the peer {x:.2}x");
        }
    }
    if let Value::Object(m) = openssl {
        for (c, v) in m {
            match v.as_f64() {
                Some(x) => println!("openssl speed {c}: {x:.0} verifies/s"),
                None => println!("openssl speed {c}: not available"),
            }
        }
    }
}

fn ratios(ours: &Samples, floor: &Samples, peer: Option<&Samples>) -> Value {
    let mut j = json!({
        "floor_ratio": round3(floor.pct(0.5) / ours.pct(0.5)),
    });
    if let Some(p) = peer {
        j["speedup_vs_peer"] = json!(round3(p.pct(0.5) / ours.pct(0.5)));
    }
    j
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn merge(mut a: Value, b: Value) -> Value {
    if let (Value::Object(a), Value::Object(b)) = (&mut a, b) {
        a.extend(b);
    }
    a
}

fn ours_json(s: &Samples, what: &str) -> Value {
    s.json(what)
}

/// A timed path beside its floor and the broker's end-to-end path, with
/// what each is for the reader.
type Timed<'a, 'b> = (&'a mut dyn FnMut() -> bool, &'b str);

/// Times our path, its signature floor and the broker's end-to-end path in
/// one run, and reports them with their ratios: the shape of every kind
/// measured against one floor (SNP, CCA, NVIDIA, SE).
fn against_floor(
    iterations: u32,
    (ours, ours_what): Timed<'_, '_>,
    (floor, floor_what): Timed<'_, '_>,
    e2e: &mut dyn FnMut() -> bool,
) -> anyhow::Result<Value> {
    let s = measure(iterations, &mut [ours, floor, e2e])?;
    let [o, f, e] = s.as_slice() else {
        bail!("internal: three samples expected");
    };
    Ok(merge(
        merge(ours_json(o, ours_what), ratios(o, f, None)),
        json!({
            "floor": f.json(floor_what),
            "end_to_end": e.json(END_TO_END),
            "end_to_end_floor_ratio": round3(f.pct(0.5) / e.pct(0.5)),
        }),
    ))
}

fn bench_snp(
    verifier: &rootline_verifier::Verifier,
    req: &Request,
    iterations: u32,
) -> anyhow::Result<Value> {
    let mut coll = rootline_snp::Collateral::new();
    for c in &req.collateral {
        coll.add(&c.origin.display().to_string(), &c.bytes)?;
    }
    let ev = rootline_snp::Evidence::decode(&req.evidence)?;
    let point = rootline_snp::needs::signing_key_point(&ev.report, &ev.cert_table, &coll)?;
    let key = ParsedPublicKey::new(&signature::ECDSA_P384_SHA384_FIXED, &point)
        .map_err(|e| anyhow::anyhow!("VCEK/VLEK key: {e}"))?;
    let signed = ev.report.signed_bytes().to_vec();
    let sig = ev.report.signature_fixed();
    let opts = rootline_snp::Options {
        at: req.at,
        nonce: None,
    };
    let v = rootline_snp::Verifier::amd();
    let mut ours = || v.verify_evidence(&req.evidence, &coll, &opts).is_ok();
    let mut floor = || key.verify_sig(&signed, &sig).is_ok();
    let mut e2e = || broker_pays(verifier, req);
    against_floor(
        iterations,
        (
            &mut ours,
            "rootline_snp::Verifier::verify_evidence, chain cached",
        ),
        (&mut floor, "aws-lc-rs ECDSA P-384 verify, key parsed once"),
        &mut e2e,
    )
}

/// What the end-to-end figure times.
const END_TO_END: &str = "rootline_verifier::Verifier::verify and the claims as JSON: what the \
     broker pays per report (evidence form, collateral files kept parsed by content, dcap-qvl \
     asked once per TCB input set)";

/// One end-to-end verification as the broker does it: the whole request
/// through a held verifier, then the claims as the JSON a token carries.
fn broker_pays(verifier: &rootline_verifier::Verifier, req: &Request) -> bool {
    verifier
        .verify(req)
        .is_ok_and(|v| !v.claims_json().is_empty())
}

/// A signature made by a fresh ECDSA key over a message of a given length:
/// a floor's operand where the cost is the algorithm's, not the evidence's
/// key (CCA, NVIDIA, Azure).
struct FreshEcdsa {
    public: ParsedPublicKey,
    message: Vec<u8>,
    sig: Vec<u8>,
}

impl FreshEcdsa {
    fn new(
        sign: &'static signature::EcdsaSigningAlgorithm,
        verify: &'static signature::EcdsaVerificationAlgorithm,
        len: usize,
    ) -> anyhow::Result<Self> {
        use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair as _};
        let key = EcdsaKeyPair::generate(sign).map_err(|_| anyhow::anyhow!("key generation"))?;
        let message = vec![0x5a_u8; len];
        let sig = key
            .sign(&aws_lc_rs::rand::SystemRandom::new(), &message)
            .map_err(|_| anyhow::anyhow!("signing"))?
            .as_ref()
            .to_vec();
        let public = ParsedPublicKey::new(verify, key.public_key().as_ref())
            .map_err(|e| anyhow::anyhow!("public key: {e}"))?;
        Ok(Self {
            public,
            message,
            sig,
        })
    }

    /// One verify: the floor's unit.
    fn verify(&self) -> bool {
        self.public.verify_sig(&self.message, &self.sig).is_ok()
    }
}

/// Arm CCA: our token verification (CBOR and COSE decoding, both ECDSA
/// signatures, the RAK binding) against two raw aws-lc-rs ECDSA verifies
/// with the token's algorithms, over messages as long as the token's two
/// halves (a fresh key signs them: the floor is the algorithm's cost).
fn bench_cca(req: &Request, iterations: u32) -> anyhow::Result<Value> {
    use rootline_cca::CoseAlg;

    let token = if rootline_cca::detect(&req.evidence) {
        req.evidence.clone()
    } else {
        rootline_cca::token_from_kbs_evidence(&req.evidence)
            .context("not a CCA token or guest-components' CCA evidence")?
    };
    let mut anchors = rootline_cca::TrustAnchors::new();
    let mut verifier = rootline_verifier::Verifier::pinned();
    for c in &req.collateral {
        anchors.add_json(&c.bytes)?;
        verifier = verifier
            .with_cca_anchors(&c.bytes)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    // What the broker holds: the anchors configured, not carried.
    let anchored = Request {
        collateral: Vec::new(),
        ..req.clone()
    };
    let parsed = rootline_cca::Token::parse(&token)?;
    let mut pairs = Vec::new();
    for alg in [parsed.platform_alg(), parsed.realm_alg()] {
        let (sign, verify) = match alg {
            CoseAlg::Es256 => (
                &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                &signature::ECDSA_P256_SHA256_FIXED,
            ),
            CoseAlg::Es384 => (
                &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
                &signature::ECDSA_P384_SHA384_FIXED,
            ),
            CoseAlg::Es512 => (
                &signature::ECDSA_P521_SHA512_FIXED_SIGNING,
                &signature::ECDSA_P521_SHA512_FIXED,
            ),
        };
        // Each over a message as long as half the token.
        pairs.push(FreshEcdsa::new(sign, verify, token.len() / 2)?);
    }
    let mut ours = || rootline_cca::verify(&token, &anchors, None).is_ok();
    let mut floor = || pairs.iter().all(FreshEcdsa::verify);
    let mut e2e = || broker_pays(&verifier, &anchored);
    against_floor(
        iterations,
        (
            &mut ours,
            "rootline_cca::verify (decode, both signatures, RAK binding)",
        ),
        (
            &mut floor,
            "two aws-lc-rs ECDSA verifies with the token's algorithms",
        ),
        &mut e2e,
    )
}

/// NVIDIA GPUs: the whole verification (per device, the SPDM report's
/// ECDSA P-384 signature and the device chain's P-384 signatures) against
/// that many raw aws-lc-rs P-384 verifies, counted from the evidence's own
/// chains.
fn bench_nvidia(
    verifier: &rootline_verifier::Verifier,
    req: &Request,
    iterations: u32,
) -> anyhow::Result<Value> {
    let claims = rootline_nvidia::decode(&req.evidence)?;
    // One signature per certificate below the root, plus the report's.
    let verifies: usize = claims
        .devices
        .iter()
        .map(|d| d.certificates.len().saturating_sub(1) + 1)
        .sum();
    // A certificate's signed part or a report: about a kilobyte each.
    let one = FreshEcdsa::new(
        &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
        &signature::ECDSA_P384_SHA384_FIXED,
        1024,
    )?;
    let mut ours = || {
        rootline_nvidia::Verifier::pinned()
            .verify(
                &req.evidence,
                &rootline_nvidia::Options {
                    nonce: None,
                    rims: &[],
                    ocsp: &[],
                    at: req.at.map(OffsetDateTime::unix_timestamp),
                },
            )
            .is_ok()
    };
    let mut floor = || (0..verifies).all(|_| one.verify());
    let mut e2e = || broker_pays(verifier, req);
    against_floor(
        iterations,
        (
            &mut ours,
            "rootline_nvidia::Verifier::verify (decode, chains, SPDM signatures, FWID)",
        ),
        (
            &mut floor,
            &format!(
                "{verifies} aws-lc-rs ECDSA P-384 verifies (the devices' chain and report signatures)"
            ),
        ),
        &mut e2e,
    )
}

/// TPM quotes: the whole verification against each quote's own signature
/// checked with the evidence's AK (parsed once) by aws-lc-rs.
fn bench_tpm(
    verifier: &rootline_verifier::Verifier,
    req: &Request,
    iterations: u32,
) -> anyhow::Result<Value> {
    use rootline_core::HashAlg;
    use rootline_tpm::PublicKey;
    use rootline_tpm::signature::TpmtSignature;
    use rootline_tpm::types::{AlgId, EccCurve};

    let ev = rootline_tpm::evidence::read(&rootline_tpm::evidence::Inputs {
        evidence: &req.evidence,
        ..Default::default()
    })
    .map_err(|e| anyhow::anyhow!("TPM evidence: {e}"))?;
    let spki = ev.ak.key.spki_der()?;
    let mut floors: Vec<(ParsedPublicKey, Vec<u8>, Vec<u8>)> = Vec::new();
    let mut what = Vec::new();
    for q in &ev.quotes {
        let (alg, sig, name): (
            &'static dyn signature::VerificationAlgorithm,
            Vec<u8>,
            String,
        ) = match (&q.signature, &ev.ak.key) {
            (TpmtSignature::Rsa { scheme, hash, sig }, PublicKey::Rsa { n, .. }) => {
                let pss = *scheme == AlgId::RSAPSS;
                let alg: &'static dyn signature::VerificationAlgorithm = match (pss, *hash) {
                    (false, HashAlg::SHA1) => {
                        &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY
                    }
                    (false, HashAlg::SHA256) => &signature::RSA_PKCS1_2048_8192_SHA256,
                    (false, HashAlg::SHA384) => &signature::RSA_PKCS1_2048_8192_SHA384,
                    (false, HashAlg::SHA512) => &signature::RSA_PKCS1_2048_8192_SHA512,
                    (true, HashAlg::SHA256) => &signature::RSA_PSS_2048_8192_SHA256,
                    (true, HashAlg::SHA384) => &signature::RSA_PSS_2048_8192_SHA384,
                    (true, HashAlg::SHA512) => &signature::RSA_PSS_2048_8192_SHA512,
                    (_, h) => bail!("quote signed with {scheme} and {h}: no floor for it"),
                };
                let kind = if pss { "PSS" } else { "PKCS#1 v1.5" };
                (
                    alg,
                    sig.clone(),
                    format!("RSA-{} {kind} {hash}", n.len() * 8),
                )
            }
            (TpmtSignature::Ecc { hash, r, s, .. }, PublicKey::Ecc { curve, .. }) => {
                let (alg, size, name): (&'static dyn signature::VerificationAlgorithm, _, _) =
                    match (*curve, *hash) {
                        (EccCurve::NIST_P256, HashAlg::SHA256) => {
                            (&signature::ECDSA_P256_SHA256_FIXED, 32, "P-256")
                        }
                        (EccCurve::NIST_P384, HashAlg::SHA384) => {
                            (&signature::ECDSA_P384_SHA384_FIXED, 48, "P-384")
                        }
                        (c, h) => bail!("quote signed on curve {c:?} with {h}: no floor for it"),
                    };
                // r || s, each left-padded to the curve's size.
                let mut fixed = vec![0u8; 2 * size];
                for (i, part) in [r, s].into_iter().enumerate() {
                    let part = part.get(part.len().saturating_sub(size)..).unwrap_or(part);
                    let at = (i + 1) * size - part.len();
                    fixed
                        .get_mut(at..(i + 1) * size)
                        .context("ECDSA signature part longer than the curve")?
                        .copy_from_slice(part);
                }
                (alg, fixed, format!("ECDSA {name} {hash}"))
            }
            _ => bail!("quote signature and AK of different algorithms: no floor for it"),
        };
        let key =
            ParsedPublicKey::new(alg, &spki).map_err(|e| anyhow::anyhow!("AK public key: {e}"))?;
        floors.push((key, q.attest.clone(), sig));
        what.push(name);
    }
    if floors.is_empty() {
        bail!("TPM evidence without a quote");
    }
    // The floor must pass: the signatures are the evidence's own.
    if !floors.iter().all(|(k, m, s)| k.verify_sig(m, s).is_ok()) {
        bail!("a quote signature does not verify with the AK by itself");
    }
    let certs = usize::from(ev.ak_cert.is_some()) + ev.intermediates.len();
    let mut ours = || verifier.verify(req).is_ok();
    let mut floor = || floors.iter().all(|(k, m, s)| k.verify_sig(m, s).is_ok());
    let mut e2e = || broker_pays(verifier, req);
    let mut j = against_floor(
        iterations,
        (
            &mut ours,
            "rootline_verifier::Verifier::verify (decode, quotes, PCRs, event-log replay, AK chain)",
        ),
        (
            &mut floor,
            &format!(
                "aws-lc-rs verifies of the {} quote signature(s) with the AK, key parsed once: {}",
                floors.len(),
                what.join(", ")
            ),
        ),
        &mut e2e,
    )?;
    if certs > 0 {
        j["note"] = json!(format!(
            "the evidence carries {certs} AK certificate(s); their signatures, verified when \
             anchors are given, are not in the floor"
        ));
    }
    Ok(j)
}

/// Azure confidential VMs: the whole verification against the signatures
/// underneath it, each made with a fresh key of the evidence's algorithm
/// over a message as long as the evidence's (the floor is the algorithms'
/// cost): the hardware report (SNP: one ECDSA P-384 over the report's
/// signed part; TDX: the quote's two ECDSA P-256, QE report and quote, the
/// chains being cached as the verifier caches them) and the vTPM quote
/// (TPMT_SIGNATURE's scheme and hash; RSA of the signature's length, or
/// ECDSA P-256/P-384). The MAA platform request has no vTPM quote.
fn bench_azure(
    verifier: &rootline_verifier::Verifier,
    req: &Request,
    kind: TeeKind,
    iterations: u32,
) -> anyhow::Result<Value> {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
    use aws_lc_rs::signature::KeyPair as _;
    use rootline_azure::{AzureKind, Collateral, Options};
    use rootline_core::HashAlg;
    use rootline_tpm::signature::TpmtSignature;
    use rootline_tpm::types::AlgId;

    let az = AzureKind::from_tee(kind).context("not an Azure kind")?;
    let mut coll = Collateral::default();
    for c in &req.collateral {
        coll.add(az, &c.origin.display().to_string(), &c.bytes)?;
    }
    // The vTPM quote's signature and message, in whichever form came:
    // guest-components' forms carry the bare RSASSA-PKCS1-v1_5 SHA-256
    // signature (as rootline_azure::vtpm verifies it), the AzureGuest
    // request a TPMT_SIGNATURE.
    let vtpm = match rootline_azure::Evidence::decode(&req.evidence) {
        Ok(ev) => Some((
            TpmtSignature::Rsa {
                scheme: AlgId::RSASSA,
                hash: HashAlg::SHA256,
                sig: ev.tpm_quote.signature,
            },
            ev.tpm_quote.message.len(),
        )),
        Err(_) => match rootline_azure::MaaEvidence::decode(&req.evidence)?.tpm {
            Some(t) => Some((TpmtSignature::parse(&t.signature)?, t.quote.len())),
            None => None,
        },
    };
    let rng = SystemRandom::new();
    type Check = Box<dyn Fn() -> bool>;
    let mut checks: Vec<Check> = Vec::new();
    let mut what = Vec::new();
    let ecdsa = |sign, verify, len| -> anyhow::Result<Check> {
        let f = FreshEcdsa::new(sign, verify, len)?;
        Ok(Box::new(move || f.verify()))
    };
    match az {
        AzureKind::Snp => {
            // The report's signed part: bytes 0x000-0x29F.
            checks.push(ecdsa(
                &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
                &signature::ECDSA_P384_SHA384_FIXED,
                0x2a0,
            )?);
            what.push("ECDSA P-384 (the SNP report)".to_owned());
        }
        AzureKind::Tdx => {
            // The QE report (384 bytes) and the quote's header and TD body
            // (48 + 584 bytes).
            for len in [384, 632] {
                checks.push(ecdsa(
                    &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                    &signature::ECDSA_P256_SHA256_ASN1,
                    len,
                )?);
            }
            what.push("two ECDSA P-256 (the TD quote and its QE report)".to_owned());
        }
    }
    if let Some((sig, message_len)) = vtpm {
        let message = vec![0x5a_u8; message_len];
        match sig {
            TpmtSignature::Rsa { scheme, hash, sig } => {
                let (sign, verify): (
                    &'static dyn signature::RsaEncoding,
                    &'static signature::RsaParameters,
                ) = match (scheme == AlgId::RSAPSS, hash) {
                    (false, HashAlg::SHA256) => (
                        &signature::RSA_PKCS1_SHA256,
                        &signature::RSA_PKCS1_2048_8192_SHA256,
                    ),
                    (false, HashAlg::SHA384) => (
                        &signature::RSA_PKCS1_SHA384,
                        &signature::RSA_PKCS1_2048_8192_SHA384,
                    ),
                    (true, HashAlg::SHA256) => (
                        &signature::RSA_PSS_SHA256,
                        &signature::RSA_PSS_2048_8192_SHA256,
                    ),
                    (true, HashAlg::SHA384) => (
                        &signature::RSA_PSS_SHA384,
                        &signature::RSA_PSS_2048_8192_SHA384,
                    ),
                    (_, h) => bail!("vTPM quote signed with {scheme} and {h}: no floor for it"),
                };
                let size = match sig.len() * 8 {
                    2048 => KeySize::Rsa2048,
                    3072 => KeySize::Rsa3072,
                    4096 => KeySize::Rsa4096,
                    bits => bail!("vTPM quote signed by a {bits}-bit RSA key: no floor for it"),
                };
                let key = RsaKeyPair::generate(size)
                    .map_err(|_| anyhow::anyhow!("RSA key generation"))?;
                let mut signed = vec![0; key.public_modulus_len()];
                key.sign(sign, &rng, &message, &mut signed)
                    .map_err(|_| anyhow::anyhow!("RSA signing"))?;
                let public = UnparsedPublicKey::new(verify, key.public_key().as_ref().to_vec());
                checks.push(Box::new(move || public.verify(&message, &signed).is_ok()));
                what.push(format!(
                    "RSA-{} {} {hash} (the vTPM quote)",
                    sig.len() * 8,
                    if scheme == AlgId::RSAPSS {
                        "PSS"
                    } else {
                        "PKCS#1 v1.5"
                    }
                ));
            }
            TpmtSignature::Ecc { r, .. } => {
                let (curve, check) = if r.len() > 32 {
                    (
                        "P-384",
                        ecdsa(
                            &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
                            &signature::ECDSA_P384_SHA384_FIXED,
                            message_len,
                        )?,
                    )
                } else {
                    (
                        "P-256",
                        ecdsa(
                            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                            &signature::ECDSA_P256_SHA256_FIXED,
                            message_len,
                        )?,
                    )
                };
                checks.push(check);
                what.push(format!("ECDSA {curve} (the vTPM quote)"));
            }
            other => bail!("vTPM quote signed with {}: no floor for it", other.scheme()),
        }
    }
    let v = rootline_azure::Verifier::pinned()?;
    let opts = Options {
        at: req.at,
        ..Default::default()
    };
    let mut ours = || v.verify(&req.evidence, Some(az), &coll, &opts).is_ok();
    let mut floor = || checks.iter().all(|c| c());
    let mut e2e = || broker_pays(verifier, req);
    against_floor(
        iterations,
        (
            &mut ours,
            "rootline_azure::Verifier::verify (JSON forms, hardware report with chains cached, runtime-data binding, vTPM quote)",
        ),
        (
            &mut floor,
            &format!("aws-lc-rs verifies: {}", what.join(", ")),
        ),
        &mut e2e,
    )
}

/// IBM SE: the response decoded from its JSON and its HMAC-SHA512 verified
/// with the request secret (parsed once, as a broker holds it after opening
/// it), against one raw aws-lc-rs HMAC-SHA512 verify over the same measured
/// bytes (header tags, CUID, user data, nonce, additional data) with the
/// key set up once.
fn bench_se(
    verifier: &rootline_verifier::Verifier,
    req: &Request,
    iterations: u32,
) -> anyhow::Result<Value> {
    use aws_lc_rs::hmac;
    use rootline_se::{Flags, RequestSecret, Response};

    let mut secrets = req
        .collateral
        .iter()
        .filter_map(|c| RequestSecret::from_json(&c.bytes).ok());
    let (Some(secret), None) = (secrets.next(), secrets.next()) else {
        bail!("SE evidence needs exactly one request secret (its JSON) as --collateral");
    };
    // The evidence as the verifier reads it (JSON, possibly hex or base64
    // around it), so that both sides decode the same bytes.
    let json = match rootline_verifier::decode(&req.evidence, Some(TeeKind::Se)) {
        Ok(rootline_verifier::Decoded::Whole { evidence, .. }) => evidence,
        _ => req.evidence.clone(),
    };
    let r = Response::from_json(&json)?;
    let items = rootline_se::response::measurement_items(
        &r.hdr_tags,
        &r.cuid,
        &r.user_data,
        secret.flags.contains(Flags::NONCE).then_some(&secret.nonce),
        &r.additional_data,
    )?;
    let key = hmac::Key::new(hmac::HMAC_SHA512, secret.measurement_key.as_ref());
    let tag = r.measurement.clone();
    let nonce = req.nonce.clone();
    let mut ours = || {
        Response::from_json(&json)
            .and_then(|r| r.verify(&secret, nonce.as_deref()))
            .is_ok()
    };
    let mut floor = || hmac::verify(&key, &items, &tag).is_ok();
    let mut e2e = || broker_pays(verifier, req);
    against_floor(
        iterations,
        (
            &mut ours,
            "rootline_se::Response::from_json + verify (JSON and base64 decode, HMAC, \
             additional data, user data), secret parsed once",
        ),
        (
            &mut floor,
            &format!(
                "one aws-lc-rs HMAC-SHA512 verify over the {} measured bytes, key set up once",
                items.len()
            ),
        ),
        &mut e2e,
    )
}

/// AMD SEV and SEV-ES (one path: the ES policy bit is one more input of the
/// same HMAC). Nothing is cached between iterations, as `rootline sev`
/// caches nothing:
///
/// - the platform chain parsed and verified to AMD's pinned ARKs against the
///   same signatures verified directly with aws-lc-rs, keys parsed once
///   (ECDSA P-384 for OCA, PEK twice and PDH; RSASSA-PSS for ASK and CEK);
/// - the LAUNCH_MEASURE check (session read, HMAC-SHA256 against one
///   expected digest) against one raw HMAC-SHA256 verify over the same
///   bytes with the key set up once. The launch is synthetic: a session
///   started with this platform's verified PDH, and the MEASURE a PSP would
///   compute under its TIK (the cost does not depend on the values);
/// - end to end: both, as `sev verify-chain` then `sev check` do them.
fn bench_sev(
    chain: &rootline_sev::PlatformChain,
    bytes: &[u8],
    iterations: u32,
) -> anyhow::Result<Value> {
    use aws_lc_rs::hmac;
    use rootline_sev::{
        GuestPolicy, LaunchMeasurement, LaunchSession, PlatformChain, PlatformVersion, TrustAnchors,
    };

    let anchors = TrustAnchors::amd()?;
    let platform = match chain.verify(&anchors) {
        Ok(p) => p,
        Err(e) => {
            return Ok(json!({
                "tee": "sev",
                "verified": false,
                "error": e.to_string(),
                "skipped": "the platform chain did not verify to AMD's pinned ARKs; nothing timed",
            }));
        }
    };
    let links = sev_links(chain, &anchors)?;
    let floor_what = sev_floor_what(&links);

    // The synthetic launch: API 0.17 or the PDH's, whichever is later (the
    // crate checks no older LAUNCH_MEASURE), build 0.
    let (major, minor) = platform.api_version().max((0, 17));
    let version = PlatformVersion {
        api_major: major,
        api_minor: minor,
        build: 0,
    };
    let policy = GuestPolicy(GuestPolicy::NO_DEBUG | GuestPolicy::NO_KEY_SHARING);
    let (session, _start) = LaunchSession::start(&platform, policy)?;
    let state = session.to_bytes();
    // policy (u32 LE) || TEK || TIK, as `LaunchSession::to_bytes` documents.
    let tik = state
        .get(20..36)
        .context("internal: session state shorter than documented")?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, tik);
    let digest = [0x5a_u8; 32];
    let mnonce = [0xa5_u8; 16];
    let input = rootline_sev::measure::measurement_input(version, policy, &digest, &mnonce);
    let mut mac = [0u8; 32];
    mac.copy_from_slice(hmac::sign(&key, &input).as_ref());
    let measurement = LaunchMeasurement {
        measure: mac,
        mnonce,
    };

    let mut chain_ours = || {
        PlatformChain::parse_full(bytes)
            .and_then(|c| c.verify(&anchors))
            .is_ok()
    };
    let mut chain_floor = || {
        links
            .iter()
            .all(|l| l.key.verify_sig(l.msg, &l.sig).is_ok())
    };
    let mut launch_ours = || {
        LaunchSession::from_bytes(state.as_ref())
            .and_then(|s| s.verify_measurement(version, &measurement, &[digest]))
            .is_ok()
    };
    let mut launch_floor = || hmac::verify(&key, &input, &measurement.measure).is_ok();
    let mut e2e = || {
        PlatformChain::parse_full(bytes)
            .and_then(|c| c.verify(&anchors))
            .is_ok()
            && LaunchSession::from_bytes(state.as_ref())
                .and_then(|s| s.verify_measurement(version, &measurement, &[digest]))
                .is_ok()
    };
    let s = measure(
        iterations,
        &mut [
            &mut chain_ours,
            &mut chain_floor,
            &mut launch_ours,
            &mut launch_floor,
            &mut e2e,
        ],
    )?;
    let [co, cf, lo, lf, e] = s.as_slice() else {
        bail!("internal: five samples expected");
    };
    let launch = merge(
        merge(
            ours_json(
                lo,
                "rootline_sev::LaunchSession::from_bytes + verify_measurement (one expected \
                 digest), a synthetic launch under a session with this platform's PDH",
            ),
            ratios(lo, lf, None),
        ),
        json!({
            "floor": lf.json(&format!(
                "one aws-lc-rs HMAC-SHA256 verify over the {} measured bytes, key set up once",
                input.len()
            )),
        }),
    );
    Ok(merge(
        merge(
            ours_json(
                co,
                "rootline_sev::PlatformChain::parse_full + verify to AMD's pinned ARKs",
            ),
            ratios(co, cf, None),
        ),
        json!({
            "tee": "sev",
            "verified": true,
            "error": null,
            "root": platform.root(),
            "api_version": format!("{}.{}", platform.api_version().0, platform.api_version().1),
            "signatures": links.len(),
            "floor": cf.json(&floor_what),
            "launch_measure": launch,
            "end_to_end": e.json(SEV_END_TO_END),
            "end_to_end_floor_ratio": round3((cf.pct(0.5) + lf.pct(0.5)) / e.pct(0.5)),
            "note": "SEV and SEV-ES share this path: the chain is the same, and the ES policy \
                     bit is one more input of the same HMAC",
        }),
    ))
}

/// What the SEV end-to-end figure times.
const SEV_END_TO_END: &str = "the chain parsed and verified, the session read and LAUNCH_MEASURE \
     checked: what `rootline sev verify-chain` then `sev check` verify per launch, without I/O";

/// One signature of a SEV platform chain, ready for aws-lc-rs.
struct SevLink<'a> {
    /// "ECDSA P-384" or "RSA-PSS 4096".
    what: String,
    key: ParsedPublicKey,
    msg: &'a [u8],
    sig: Vec<u8>,
}

/// The six signatures `PlatformChain::verify` checks, in its order: ASK by
/// the trusted ARK, CEK by the ASK, OCA by itself, PEK by the OCA and by
/// the CEK, PDH by the PEK.
fn sev_links<'a>(
    chain: &'a rootline_sev::PlatformChain,
    anchors: &rootline_sev::TrustAnchors,
) -> anyhow::Result<Vec<SevLink<'a>>> {
    use rootline_sev::cert::{Hash, PublicKey, RsaKey};
    use rootline_sev::{Algorithm, SevCertificate};

    fn rsa<'m>(key: &RsaKey, hash: Hash, msg: &'m [u8], sig: &[u8]) -> anyhow::Result<SevLink<'m>> {
        let params = match hash {
            Hash::Sha256 => &signature::RSA_PSS_2048_8192_SHA256,
            Hash::Sha384 => &signature::RSA_PSS_2048_8192_SHA384,
        };
        let parsed = signature::RsaPublicKeyComponents {
            n: key.modulus(),
            e: key.exponent(),
        }
        .to_parsed_public_key(params)
        .map_err(|e| anyhow::anyhow!("RSA key: {e}"))?;
        // A SEV certificate's slot is 512 bytes: the signature is its tail.
        let len = (key.bits() / 8) as usize;
        let sig = sig.get(sig.len().saturating_sub(len)..).unwrap_or_default();
        Ok(SevLink {
            what: format!("RSA-PSS {}", key.bits()),
            key: parsed,
            msg,
            sig: sig.to_vec(),
        })
    }
    fn by<'c>(
        cert: &'c SevCertificate,
        signer: rootline_sev::Usage,
        signer_key: &PublicKey,
        ca_hash: Option<Hash>,
    ) -> anyhow::Result<SevLink<'c>> {
        let slot = cert
            .signatures()
            .find(|s| s.usage == signer)
            .with_context(|| format!("{}: no signature by {signer}", cert.usage()))?;
        let hash = ca_hash.unwrap_or(match slot.algorithm {
            Algorithm::ECDSA_SHA256 | Algorithm::RSA_SHA256 => Hash::Sha256,
            _ => Hash::Sha384,
        });
        let sig = slot.to_aws_lc();
        match signer_key {
            PublicKey::P384(point) => {
                let alg = match hash {
                    Hash::Sha256 => &signature::ECDSA_P384_SHA256_ASN1,
                    Hash::Sha384 => &signature::ECDSA_P384_SHA384_ASN1,
                };
                let key = ParsedPublicKey::new(alg, point.sec1())
                    .map_err(|e| anyhow::anyhow!("{signer} P-384 key: {e}"))?;
                Ok(SevLink {
                    what: "ECDSA P-384".into(),
                    key,
                    msg: cert.signed_bytes(),
                    sig,
                })
            }
            PublicKey::Rsa(k) => rsa(k, hash, cert.signed_bytes(), &sig),
        }
    }

    let root = anchors
        .find(chain.ask.certifying_id())
        .context("the ASK's issuer is no trusted ARK")?;
    let ark = root.ark();
    let ask_key = PublicKey::Rsa(chain.ask.key().clone());
    Ok(vec![
        rsa(
            ark.key(),
            ark.hash(),
            chain.ask.signed_bytes(),
            chain.ask.signature(),
        )?,
        by(
            &chain.cek,
            chain.ask.usage(),
            &ask_key,
            Some(chain.ask.hash()),
        )?,
        by(&chain.oca, chain.oca.usage(), chain.oca.key(), None)?,
        by(&chain.pek, chain.oca.usage(), chain.oca.key(), None)?,
        by(&chain.pek, chain.cek.usage(), chain.cek.key(), None)?,
        by(&chain.pdh, chain.pek.usage(), chain.pek.key(), None)?,
    ])
}

/// "4 ECDSA P-384 and 2 RSA-PSS 4096 aws-lc-rs verifies ...", counted.
fn sev_floor_what(links: &[SevLink<'_>]) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for l in links {
        match counts.iter_mut().find(|(w, _)| *w == l.what) {
            Some((_, n)) => *n += 1,
            None => counts.push((&l.what, 1)),
        }
    }
    let parts: Vec<String> = counts.iter().map(|(w, n)| format!("{n} {w}")).collect();
    format!(
        "{} aws-lc-rs verifies (the chain's own signatures), keys parsed once",
        parts.join(" and ")
    )
}

fn bench_dcap(
    verifier: &rootline_verifier::Verifier,
    req: &Request,
    at: i64,
    iterations: u32,
) -> anyhow::Result<Value> {
    let decoded = rootline_dcap::evidence::decode(&req.evidence).context("not a DCAP quote")?;
    let raw = decoded.quote;
    let mut parts = rootline_dcap::CollateralParts::default();
    for c in &req.collateral {
        parts.add(&c.origin.display().to_string(), &c.bytes)?;
    }
    let collateral = parts.complete()?;
    let v = rootline_dcap::Verifier::intel()?;
    let prepared = v.prepare(&collateral)?;
    let q = rootline_dcap::Quote::parse(&raw)?;
    let leaf = rootline_dcap::pki::pem_certs(q.pck_chain_pem, "PCK chain")?;
    let pck = rootline_dcap::pki::CertInfo::from_der(
        leaf.first().context("the quote has no PCK certificate")?,
        "PCK",
    )?
    .public_key;
    let mut ak = [4u8; 65];
    if let Some(dst) = ak.get_mut(1..) {
        dst.copy_from_slice(&q.attestation_key);
    }
    let mut ours = || {
        rootline_dcap::Quote::parse(&raw)
            .map(|q| v.verify_prepared(&q, &prepared, at).is_ok())
            .unwrap_or(false)
    };
    let mut floor = || {
        let a = UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &pck)
            .verify(q.qe_report_raw, &q.qe_report_signature)
            .is_ok();
        let b = UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &ak[..])
            .verify(q.signed_bytes(), &q.signature)
            .is_ok();
        a && b
    };
    let mut peer = || v.verify_dcap_qvl(&raw, &collateral, at).is_ok();
    let mut e2e = || broker_pays(verifier, req);
    let s = measure(
        iterations,
        &mut [&mut ours, &mut floor, &mut peer, &mut e2e],
    )?;
    let [o, f, p, e] = s.as_slice() else {
        bail!("internal: four samples expected");
    };
    let what = "quote parse + rootline_dcap::Verifier::verify_prepared, collateral cached";
    Ok(merge(
        merge(ours_json(o, what), ratios(o, f, Some(p))),
        json!({
            "floor": f.json("two aws-lc-rs ECDSA P-256 verifies (QE report, quote)"),
            "peer": p.json("dcap_qvl::verify (re-verifies all collateral)"),
            "end_to_end": e.json(END_TO_END),
            "end_to_end_floor_ratio": round3(f.pct(0.5) / e.pct(0.5)),
        }),
    ))
}

/// Verifies per second from `openssl speed -seconds 1 CURVE`, when openssl
/// is on PATH and its output has the usual table.
fn openssl_speed(curve: &str) -> Option<f64> {
    let out = std::process::Command::new("openssl")
        .args(["speed", "-seconds", "1", curve])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let bits = curve.trim_start_matches("ecdsap");
    // " 384 bits ecdsa (nistp384)   0.0006s   0.0002s   1612.0   5011.2"
    text.lines()
        .find(|l| {
            let l = l.trim_start();
            l.starts_with(&format!("{bits} bits ecdsa")) || l.contains(&format!("nistp{bits})"))
        })
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
}

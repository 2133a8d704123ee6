//! A negative suite generated from every shared vector (hardening issue 15,
//! item 4): one-bit flips of each signed part, truncation at every offset of
//! the small structures, and extension, all through the verifier's single
//! entry point [`rootline_verifier::verify`], so that it covers what
//! `rootline verify` accepts. Nothing the signatures cover may be accepted.
//!
//! The cases are generated, not listed: every file under the vector folders
//! the verifier supports goes through [`rootline_verifier::detect`]; each
//! detected evidence file gets its baseline request from its folder's
//! `expected.json` (collateral, verification time) or, for a `tpm2_quote`
//! message, from the signature, attestation-key and PCR files beside it that
//! verify it. Files that are evidence by their `PROVENANCE.md` but of a form
//! the verifier does not take, and whole folders of unsupported kinds, are
//! skipped by name with the reason; a new file or folder that is neither
//! taken nor skipped fails the suite.
//!
//! Each case has a baseline that must verify (`verified == true`, and agree
//! with `expected.json`), or, for the DCAP quotes and Azure TDX evidence the
//! shared set has no complete Intel collateral for, a baseline that ends at
//! exactly the missing-collateral verdict, which rootline-dcap and
//! rootline-azure give only after the PCK chain and every signature verified
//! (the "signature stage"). There a mutation counts as accepted when it
//! verifies or reaches that same verdict.
//!
//! Mutations flip one bit per byte (the bit index rotating with the offset):
//! - SEV-SNP: every byte of the 1184-byte report (signed body, r and s, the
//!   reserved rest of the signature area), in whatever wrapper it came in;
//! - DCAP: every byte of header and body, signature data length, quote
//!   signature, attestation key, QE report, its signature, QE authentication
//!   data and the certification-data headers; the PCK chain's base64 of
//!   signed certificate bytes every fourth byte, the rest of it every byte;
//! - TPM: every byte of the TPMS_ATTEST and of the TPMT_SIGNATURE, in each
//!   form (tpm2-tools files, go-attestation JSON, go-tpm-tools protobuf);
//! - Azure: every byte of the HCL report (headers, hardware report, runtime
//!   data, padding), of the vTPM quote's message, signature and PCR values,
//!   of the VCEK, and of the TD quote (as DCAP above);
//!
//! then truncation of every part at every offset (a DCAP quote: every offset
//! up to the end of its attestation key, every fourth beyond; a whole wrapper
//! file: its first and last 64 offsets and a stride between), and extension
//! by 1 byte and by 64 bytes (zeros, and 0xa5).
//!
//! The same bytes in several containers (an Azure evidence's TD quote and
//! the TD quote file; evidence v0 and v1; the protobuf's quotes and their
//! tpm2-tools files) are mutated byte for byte once, in the smallest
//! container, and every eighth byte in containers larger than 8 KiB, whose
//! parsing makes a debug build slow.
//!
//! Bytes no signature covers are named below as regions with the reason
//! (PEM armor, a certificate's outer signatureAlgorithm, the TDREPORT's MAC
//! and CPUSVN, padding after a DCAP quote's signature data); so is trailing
//! data a format tolerates. For those the result must be a rejection or the
//! baseline's claims, exactly (or, for a protobuf cut between two fields, a
//! subset of them).
//!
//! Every case prints `negative_vectors: <vector>: N flips, M truncations,
//! K extensions, 0 accepted`. Run with `ROOTLINE_VECTORS=/path/to/vectors`;
//! under CI a missing folder fails (rootline-testkit).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use base64::Engine as _;
use base64::engine::GeneralPurpose;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use rootline_core::TeeKind;
use rootline_verifier::{Collateral, Extra, Outcome, Request, detect, verify};
use serde_json::Value;
use time::OffsetDateTime;
use time::macros::datetime;

// ---- what is taken, what is skipped, and why --------------------------------

/// Vector folders whose evidence `rootline verify` takes today.
const FOLDERS_TAKEN: [&str; 6] = ["snp", "tdx", "sgx", "tpm-quote", "azure", "ovmf-swtpm"];

/// Vector folders skipped whole. Each reason is checked: no file in them
/// verifies.
const FOLDERS_NOT_TAKEN: [(&str, &str); 1] = [(
    "tpm-eventlog",
    "bare TCG event logs: nothing signs a log; a log is bound by replay against a quote's PCRs (TPM and TDX cases)",
)];

/// Vector folders whose flips and cuts run in their evidence crate's own
/// suite, where the format's signed parts are known. Here every file goes
/// through `verify` alone and must be answered without a panic, and the
/// named files must verify or be refused as listed.
/// A folder, why its flips run elsewhere, and files with their verdicts.
type InTheirCrate = (&'static str, &'static str, &'static [(&'static str, bool)]);

const FOLDERS_IN_THEIR_CRATE: [InTheirCrate; 2] = [
    (
        "cca",
        "Arm CCA tokens: a token verifies only under a trust anchor (CPAK), which no CCA file carries itself; \
         crates/rootline-cca/tests/vectors.rs flips every bit of the three real tokens under their anchors, \
         and tests/verdict.rs runs them through `Verifier`",
        &[("cca/trustee/cca-example-token.cbor", false)],
    ),
    (
        "nvidia",
        "NVIDIA GPU evidence: crates/rootline-nvidia/tests/vectors.rs flips every signed byte of the Hopper report \
         and every certificate, and cuts the report at every length",
        &[
            ("nvidia/nvtrust/gpu_evidence.json", true),
            ("nvidia/veraison-services/blackwell-evidence.json", true),
            ("nvidia/trustee/hopper_cert_chain_case2.txt", false),
            ("nvidia/trustee/hopper_cert_chain_case4.txt", false),
        ],
    ),
];

/// Detected as evidence, but no baseline verifies it.
const DETECTED_NOT_VERIFIABLE: [(&str, &str); 1] = [(
    "azure/trustee-az-snp-vtpm/tpm-quote.msg",
    "a leftover vTPM quote of the HCL report Trustee replaced in January 2024: no attestation key in the set verifies \
     it (rootline-azure tests/vectors.rs, trustee_snp_leftover_quote_does_not_verify_with_the_shipped_ak)",
)];

/// Files their PROVENANCE.md calls evidence that are not a form `rootline
/// verify` takes on their own.
const FORMS_NOT_TAKEN: [(&str, &str); 10] = [
    (
        "azure/kinvolk-azure-cvm-tooling/hcl-report-snp.bin",
        "a bare HCL report: Azure evidence is taken as the az-snp-vtpm/az-tdx-vtpm JSON bundle only; and \
         expected.json marks it MUST FAIL with the shipped certs.pem (another chip's VCEK)",
    ),
    (
        "azure/kinvolk-azure-cvm-tooling/hcl-report-tdx.bin",
        "a bare HCL report with a TDREPORT (MAC-protected, parse-only per expected.json) and no TD quote",
    ),
    (
        "azure/kinvolk-azure-cvm-tooling/quote.bin",
        "az-cvm-vtpm's bincode vTPM quote, not a form the verifier takes; its AK (akpub.pem) is another VM's",
    ),
    (
        "azure/trustee-az-snp-vtpm/hcl-report.bin",
        "the HCL report inside evidence-v0/v1.json, mutated there",
    ),
    (
        "azure/trustee-az-snp-vtpm/quote.bin",
        "the vTPM quote inside evidence-v0/v1.json (bincode), mutated there",
    ),
    (
        "azure/trustee-az-snp-vtpm/tpm-quote-v1.json",
        "the vTPM quote inside evidence-v1.json (hex JSON), mutated there",
    ),
    (
        "azure/trustee-az-snp-vtpm/tpm-quote.sig",
        "the signature of the leftover tpm-quote.msg (see DETECTED_NOT_VERIFIABLE)",
    ),
    (
        "azure/trustee-az-tdx-vtpm/hcl-report.bin",
        "the HCL report inside evidence-v0/v1.json, mutated there",
    ),
    (
        "azure/trustee-az-tdx-vtpm/quote.bin",
        "the vTPM quote inside evidence-v0/v1.json (bincode), mutated there",
    ),
    (
        "azure/trustee-az-tdx-vtpm/tpm-quote-v1.json",
        "the vTPM quote inside evidence-v1.json (hex JSON), mutated there",
    ),
];

// ---- why some bytes are not covered by any signature ---------------------------

const WHY_PEM_ARMOR: &str = "PEM armor (BEGIN/END lines, line breaks, the NUL after the chain) is text around \
     the certificates, which their issuers sign; a block whose BEGIN line is damaged is skipped, so the chain's \
     last certificate, the root, may drop out: the pinned Intel root is used in any case";
const WHY_CERT_OUTSIDE_TBS: &str = "a certificate's outer SEQUENCE header and outer signatureAlgorithm lie \
     outside the TBSCertificate its issuer signs; the algorithm's values are checked (flips that change them are \
     rejected), but x509-parser does not insist on some of their DER tag bits, nor rootline-snp on the MGF's OID \
     of RSASSA-PSS (MGF1 is the only one)";
const WHY_BASE64_BITS: &str =
    "the low bits of the last base64 character before '=' padding carry no data";
const WHY_TDREPORT_VERSION: &str = "the TDREPORT's REPORTTYPE.VERSION (0 or 1, by TDX module) is in no hash the \
     TD quote carries; only the MAC covers it";
const WHY_TDREPORT_CPUSVN: &str = "the TDREPORT's CPUSVN is covered only by its MAC (the TD quote carries no \
     CPUSVN)";
const WHY_TDREPORT_MAC: &str = "the TDREPORT's MAC is keyed to the CPU: nothing offline can check it; the TD \
     quote's signature and the TDREPORT's TEE_TCB_INFO and TDINFO hashes bind the rest";
const WHY_QUOTE_PADDING: &str = "bytes after a DCAP quote's signature data are covered by no signature and \
     ignored by the parser (providers pad quotes to their buffer size; go-tdx-guest's quote has a text trailer)";
const WHY_SNP_TABLE: &str = "an SEV-SNP report followed by bytes is an extended report: they are its certificate \
     table (GHCB / configfs-tsm auxblob), which an all-zero entry ends, in a zero-padded buffer; no signature \
     covers the table, its certificates are verified against the AMD chain";
const WHY_HCL_PADDING: &str = "the HCL report ends in NV-index padding after its runtime data, which must be \
     zero and is covered by no signature; its length is free";
const WHY_TRAILING_SPACE: &str = "white space after a JSON document or hex text is not content";
const WHY_PROTOBUF_FIELDS: &str = "a protobuf message has no end marker: a cut between two top-level fields is a \
     shorter Attestation (fewer quotes, no event log or AK certificate); the verifier then claims only what the \
     remaining quotes sign";

// ---- verification times -------------------------------------------------------

/// Inside every SEV-SNP vector certificate's validity (the VLEK's ends
/// 2025-12-10, the Turin VCEK's starts 2025-07-17), as rootline-snp's tests.
const SNP_AT: OffsetDateTime = datetime!(2025-08-15 00:00 UTC);
/// Inside every certificate of the Azure vectors, as rootline-azure's tests.
const AZURE_AT: OffsetDateTime = datetime!(2026-06-01 00:00 UTC);
/// TPM quotes carry no validity; the go-tpm-tools AK certificate is valid then.
const TPM_AT: OffsetDateTime = datetime!(2024-01-01 00:00 UTC);

// ---- strides -----------------------------------------------------------------

/// The base64 of a DCAP quote's PCK chain (about 3.5 KiB): one flip every
/// this many bytes of each line (every byte of everything else).
const PEM_STRIDE: usize = 4;
/// DCAP truncation beyond the attestation key.
const QUOTE_CUT_STRIDE: usize = 4;
/// Flips and cuts inside a DCAP quote's unsigned padding longer than 512
/// bytes (go-tdx-guest's text trailer of 3 KiB).
const PADDING_STRIDE: usize = 16;
/// Truncation of a whole wrapper file (JSON, CBOR, protobuf, hex text): at
/// least this stride, and no more than about 512 cuts between the first and
/// last 64 bytes.
const WRAPPER_CUT_STRIDE: usize = 7;
/// A part byte-identical to one of another case (the same quote in another
/// container) is mutated in full in the case with the smallest evidence; in
/// the others, when their evidence is larger than `THIN_ABOVE` bytes (and so
/// slow to parse in a debug build), every `DUP_STRIDE` bytes and cuts: only
/// the container differs.
const DUP_STRIDE: usize = 8;
const THIN_ABOVE: usize = 8 << 10;

/// The tails appended in the extension tests.
fn tails() -> [(&'static str, Vec<u8>); 3] {
    [
        ("1 byte 0x00", vec![0]),
        ("64 bytes 0x00", vec![0; 64]),
        ("64 bytes 0xa5", vec![0xa5; 64]),
    ]
}

// ---- cases -------------------------------------------------------------------

/// What a mutated input must give.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// Covered by a signature (or checked by the parser): never accepted.
    Reject,
    /// Covered by no signature, for this reason: rejected, or accepted with
    /// exactly the baseline's claims.
    Unsigned(&'static str),
    /// Whole unsigned fields dropped, for this reason: rejected, or accepted
    /// with a subset of the baseline's claims.
    Subset(&'static str),
}

/// How the baseline ends.
#[derive(Clone, Debug)]
enum Mode {
    /// `verified == true`.
    Verified,
    /// The missing-collateral verdict after every signature verified.
    Stage { error: String },
}

/// Where a part lives in the request, and so how a mutated copy goes back.
#[derive(Clone, Debug)]
enum Slot {
    /// The evidence bytes are the part.
    Evidence,
    /// The evidence is the part's hex text.
    HexEvidence,
    /// A CBOR byte string whose content starts at `at`, with a `head`-byte
    /// header before it (rewritten when the length changes).
    Cbor { at: usize, head: usize },
    /// A bytes field of a protobuf message that is itself a bytes field of
    /// the top-level message: (length varint offset, value range) of each.
    Protobuf {
        outer: (usize, Range<usize>),
        inner: (usize, Range<usize>),
    },
    /// A JSON value in encoding `enc`, between the `around` halves of the
    /// serialized document.
    Json {
        enc: Enc,
        around: (Vec<u8>, Vec<u8>),
    },
    /// A JSON list of byte strings of `item` bytes each, likewise.
    JsonList {
        item: usize,
        enc: Enc,
        around: (Vec<u8>, Vec<u8>),
    },
    /// `Request.extra.signature`.
    Signature,
}

/// A labelled byte range of a part, flipped every `stride` bytes.
#[derive(Clone, Debug)]
struct Region {
    range: Range<usize>,
    stride: usize,
    what: &'static str,
    expect: Expect,
}

impl Region {
    fn every(range: Range<usize>, what: &'static str) -> Self {
        Self {
            range,
            stride: 1,
            what,
            expect: Expect::Reject,
        }
    }

    fn unsigned(range: Range<usize>, what: &'static str, why: &'static str) -> Self {
        Self {
            range,
            stride: 1,
            what,
            expect: Expect::Unsigned(why),
        }
    }
}

/// One signed (or bound) part of the evidence, or the whole wrapper file.
#[derive(Clone, Debug)]
struct Part {
    what: String,
    slot: Slot,
    /// Empty for the whole file (whose bytes are the evidence).
    bytes: Vec<u8>,
    regions: Vec<Region>,
    /// Offsets to cut at, with what each must give.
    cuts: Vec<(usize, Expect)>,
    /// What appended bytes must give; `None` when the slot has a fixed length.
    tails: Option<Expect>,
    /// The case that mutates the same bytes in full, when this part is
    /// mutated every `DUP_STRIDE` bytes.
    same_as: Option<String>,
}

impl Part {
    fn thin(&mut self, same_as: String) {
        for r in &mut self.regions {
            r.stride = r.stride.max(DUP_STRIDE);
        }
        self.cuts
            .retain(|(at, e)| at % DUP_STRIDE == 0 || *e != Expect::Reject);
        self.same_as = Some(same_as);
    }
}

/// One vector file with its baseline request and parts.
struct Case {
    name: String,
    kind: TeeKind,
    base: Request,
    mode: Mode,
    baseline: Outcome,
    json: Option<Value>,
    parts: Vec<Part>,
    /// Extensions a format explicitly allows, which must verify with the
    /// baseline's claims (an SEV-SNP report with its certificate table).
    allowed_extensions: Vec<(String, Request)>,
}

impl Case {
    /// Did `out` get as far as the baseline (the "accepted" of this suite)?
    fn passes(&self, out: &Outcome) -> bool {
        match &self.mode {
            Mode::Verified => out.verified,
            Mode::Stage { error } => out.verified || out.error.as_deref() == Some(error.as_str()),
        }
    }
}

// ---- encodings ---------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum B64 {
    Std,
    StdNoPad,
    Url,
    UrlNoPad,
}

impl B64 {
    const ALL: [Self; 4] = [Self::Std, Self::StdNoPad, Self::Url, Self::UrlNoPad];

    fn engine(self) -> GeneralPurpose {
        match self {
            Self::Std => STANDARD,
            Self::StdNoPad => STANDARD_NO_PAD,
            Self::Url => URL_SAFE,
            Self::UrlNoPad => URL_SAFE_NO_PAD,
        }
    }
}

/// How a JSON value carries bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Enc {
    /// `[1, 2, 3]`.
    Array,
    /// Lower-case hex text.
    Hex,
    /// Base64 of some alphabet and padding.
    B64(B64),
}

impl Enc {
    /// The encoding of `v` that gives it back exactly, and its bytes.
    fn infer(v: &Value) -> Option<(Self, Vec<u8>)> {
        match v {
            Value::Array(a) if !a.is_empty() => {
                let b = a
                    .iter()
                    .map(|n| n.as_u64().and_then(|n| u8::try_from(n).ok()))
                    .collect::<Option<Vec<u8>>>()?;
                Some((Self::Array, b))
            }
            Value::String(s) if !s.is_empty() => {
                if let Ok(b) = hex::decode(s) {
                    if hex::encode(&b) == *s {
                        return Some((Self::Hex, b));
                    }
                }
                B64::ALL.into_iter().find_map(|e| {
                    let b = e.engine().decode(s).ok()?;
                    (e.engine().encode(&b) == *s).then_some((Self::B64(e), b))
                })
            }
            _ => None,
        }
    }

    fn encode(self, b: &[u8]) -> Value {
        match self {
            Self::Array => Value::Array(b.iter().map(|x| Value::from(*x)).collect()),
            Self::Hex => Value::String(hex::encode(b)),
            Self::B64(e) => Value::String(e.engine().encode(b)),
        }
    }
}

/// The serialized document before and after the value at `path`, so that a
/// mutation is spliced in without re-serializing the whole document.
fn json_around(doc: &Value, path: &[String]) -> (Vec<u8>, Vec<u8>) {
    const MARK: &str = "\u{0}negative-vectors-slot\u{0}";
    let mut v = doc.clone();
    *path.iter().fold(&mut v, |v, k| v.get_mut(k).unwrap()) = Value::String(MARK.into());
    let text = serde_json::to_vec(&v).unwrap();
    let mark = serde_json::to_vec(&Value::String(MARK.into())).unwrap();
    let at = text.windows(mark.len()).position(|w| w == mark).unwrap();
    (text[..at].to_vec(), text[at + mark.len()..].to_vec())
}

/// Every leaf under `v` (through objects only) that carries bytes.
fn byte_leaves(v: &Value, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, Enc, Vec<u8>)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                path.push(k.clone());
                byte_leaves(x, path, out);
                path.pop();
            }
        }
        other => {
            if let Some((enc, b)) = Enc::infer(other) {
                out.push((path.clone(), enc, b));
            }
        }
    }
}

/// The header of a CBOR byte string of `len` bytes.
fn cbor_bstr_head(len: usize) -> Vec<u8> {
    match len {
        0..=23 => vec![0x40 | len as u8],
        24..=0xff => vec![0x58, len as u8],
        0x100..=0xffff => {
            let mut h = vec![0x59];
            h.extend((len as u16).to_be_bytes());
            h
        }
        _ => {
            let mut h = vec![0x5a];
            h.extend((len as u32).to_be_bytes());
            h
        }
    }
}

fn varint(mut v: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return out;
        }
        out.push(b | 0x80);
    }
}

/// One field of a protobuf message: number, the offset of its length varint
/// (length-delimited fields only) and its value's range.
struct PbField {
    number: u64,
    len_at: Option<usize>,
    value: Range<usize>,
}

fn pb_fields(b: &[u8]) -> Vec<PbField> {
    fn read_varint(b: &[u8], at: &mut usize) -> u64 {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let x = b[*at];
            *at += 1;
            v |= u64::from(x & 0x7f) << shift;
            if x & 0x80 == 0 {
                break;
            }
        }
        v
    }
    let mut out = Vec::new();
    let mut at = 0;
    while at < b.len() {
        let tag = read_varint(b, &mut at);
        let (len_at, start) = (at, at);
        let value = match tag & 7 {
            0 => {
                read_varint(b, &mut at);
                start..at
            }
            1 => start..start + 8,
            5 => start..start + 4,
            2 => {
                let len = read_varint(b, &mut at) as usize;
                at..at + len
            }
            w => panic!("protobuf wire type {w} at {at}"),
        };
        at = value.end;
        out.push(PbField {
            number: tag >> 3,
            len_at: (tag & 7 == 2).then_some(len_at),
            value,
        });
    }
    out
}

/// The request with `part` replaced by `bytes`.
fn with_part(c: &Case, part: &Part, bytes: &[u8]) -> Request {
    let mut r = c.base.clone();
    let e = &c.base.evidence;
    let splice = |around: &(Vec<u8>, Vec<u8>), v: &Value| {
        let mut out = around.0.clone();
        out.extend(serde_json::to_vec(v).unwrap());
        out.extend(&around.1);
        out
    };
    match &part.slot {
        Slot::Evidence => r.evidence = bytes.to_vec(),
        Slot::HexEvidence => r.evidence = hex::encode(bytes).into_bytes(),
        Slot::Cbor { at, head } => {
            let mut out = e[..at - head].to_vec();
            out.extend(cbor_bstr_head(bytes.len()));
            out.extend(bytes);
            out.extend(&e[at + part.bytes.len()..]);
            r.evidence = out;
        }
        Slot::Protobuf { outer, inner } => {
            let mut body = e[outer.1.start..inner.0].to_vec();
            body.extend(varint(bytes.len()));
            body.extend(bytes);
            body.extend(&e[inner.1.end..outer.1.end]);
            let mut out = e[..outer.0].to_vec();
            out.extend(varint(body.len()));
            out.extend(body);
            out.extend(&e[outer.1.end..]);
            r.evidence = out;
        }
        Slot::Json { enc, around } => r.evidence = splice(around, &enc.encode(bytes)),
        Slot::JsonList { item, enc, around } => {
            let list = Value::Array(bytes.chunks(*item).map(|x| enc.encode(x)).collect());
            r.evidence = splice(around, &list);
        }
        Slot::Signature => r.extra.signature = Some(bytes.to_vec()),
    }
    r
}

// ---- discovery ----------------------------------------------------------------

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn walk(d: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(d)
        .unwrap_or_else(|e| panic!("{}: {e}", d.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn files_in(d: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

/// The folder of a file's source (the nearest ancestor with PROVENANCE.md).
fn source_folder(root: &Path, f: &Path) -> PathBuf {
    let mut d = f.parent().unwrap();
    while d != root {
        if d.join("PROVENANCE.md").is_file() {
            return d.to_path_buf();
        }
        d = d.parent().unwrap();
    }
    panic!("{}: no PROVENANCE.md above it", f.display())
}

fn rel(root: &Path, f: &Path) -> String {
    f.strip_prefix(root).unwrap().display().to_string()
}

fn expected_json(folder: &Path) -> Option<Value> {
    let p = folder.join("expected.json");
    p.is_file()
        .then(|| serde_json::from_slice(&read(&p)).unwrap())
}

/// The expected.json entry of `f`, keyed by its path inside its source folder.
fn expected_entry(folder: &Path, f: &Path) -> Option<Value> {
    expected_json(folder)?.get(rel(folder, f)).cloned()
}

/// The other files listed with `f` in its folder's expected.json (`files`:
/// the evidence first, then what verifies it) that exist and are not
/// themselves evidence.
fn expected_collateral(folder: &Path, f: &Path) -> Vec<PathBuf> {
    let Some(all) = expected_json(folder) else {
        return Vec::new();
    };
    let me = rel(folder, f);
    let listed = |e: &Value| -> Vec<String> {
        e.get("files")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str()?.split_whitespace().next().map(str::to_owned))
            .collect()
    };
    let entry = all
        .as_object()
        .unwrap()
        .values()
        .find(|e| listed(e).contains(&me));
    entry
        .map(listed)
        .unwrap_or_default()
        .into_iter()
        .filter(|n| *n != me)
        .map(|n| folder.join(n))
        .filter(|p| p.is_file() && detect(&read(p)).is_none())
        .collect()
}

fn collateral(files: &[PathBuf]) -> Vec<Collateral> {
    files
        .iter()
        .map(|p| Collateral {
            origin: p.clone(),
            bytes: read(p),
        })
        .collect()
}

fn rfc3339(s: &str) -> OffsetDateTime {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// Verifies, turning a panic into an error that names it.
fn outcome(req: &Request) -> Result<Outcome, String> {
    catch_unwind(AssertUnwindSafe(|| verify(req))).map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "a panic".into())
    })
}

/// The missing-collateral verdicts: rootline-dcap's `verify_without_collateral`
/// answers NoCollateral only after the PCK chain and every signature
/// verified; rootline-azure's CollateralMissing says so.
fn is_signature_stage(kind: TeeKind, out: &Outcome) -> bool {
    let e = out.error.as_deref().unwrap_or_default();
    match kind {
        TeeKind::Tdx | TeeKind::Sgx => e.starts_with("no collateral: TCB status not evaluated"),
        TeeKind::AzureTdx => {
            e.starts_with("collateral missing:")
                && e.contains("its signatures and pck chain verified")
        }
        _ => false,
    }
}

/// Everything discovered under the vectors folder.
struct Discovery {
    root: PathBuf,
    cases: Vec<Case>,
    /// Files a case reads (evidence, signature, AK, PCRs, collateral, tables).
    used: BTreeSet<PathBuf>,
    /// Files `detect` recognises.
    detected: BTreeSet<PathBuf>,
}

fn discovery() -> Option<&'static Discovery> {
    static D: OnceLock<Option<Discovery>> = OnceLock::new();
    D.get_or_init(|| rootline_testkit::vectors().map(|root| discover(&root)))
        .as_ref()
}

fn discover(root: &Path) -> Discovery {
    let mut d = Discovery {
        root: root.to_path_buf(),
        cases: Vec::new(),
        used: BTreeSet::new(),
        detected: BTreeSet::new(),
    };
    for top in FOLDERS_TAKEN {
        let mut files = Vec::new();
        walk(&root.join(top), &mut files);
        for f in files {
            let bytes = read(&f);
            let Some(kind) = detect(&bytes) else { continue };
            d.detected.insert(f.clone());
            let name = rel(root, &f);
            let folder = source_folder(root, &f);
            let found = if kind == TeeKind::Tpm && bytes.starts_with(&[0xff, 0x54, 0x43, 0x47]) {
                tpm2_tools_baseline(&f, &bytes)
            } else {
                baseline(top, &folder, &f, kind, &bytes)
            };
            let skip = DETECTED_NOT_VERIFIABLE.iter().find(|(n, _)| *n == name);
            let Some((base, mode, used)) = found else {
                assert!(
                    skip.is_some(),
                    "{name}: detected as {kind} evidence, but no baseline verifies it: give it a recipe or add it \
                     to DETECTED_NOT_VERIFIABLE with the reason"
                );
                continue;
            };
            assert!(
                skip.is_none(),
                "{name} is listed as not verifiable, but it verifies"
            );
            let baseline = verify(&base);
            check_expected(&name, &folder, &f, &mode, &baseline);
            let json = serde_json::from_slice::<Value>(&base.evidence)
                .ok()
                .filter(Value::is_object);
            let mut case = Case {
                name,
                kind: baseline.tee.unwrap_or(kind),
                base,
                mode,
                baseline,
                json,
                parts: Vec::new(),
                allowed_extensions: Vec::new(),
            };
            case.parts = parts_for(&case);
            for (what, req, file) in allowed_extensions(&case, &f) {
                case.allowed_extensions.push((what, req));
                d.used.insert(file);
            }
            d.used.extend(used);
            d.cases.push(case);
        }
    }
    // The same bytes in several containers: in full once, in the case with
    // the smallest evidence (the cheapest to verify), thinned in large ones.
    let mut order: Vec<usize> = (0..d.cases.len()).collect();
    order.sort_by_key(|&i| (d.cases[i].base.evidence.len(), d.cases[i].name.clone()));
    let mut seen: BTreeMap<Vec<u8>, String> = BTreeMap::new();
    for i in order {
        let case = &mut d.cases[i];
        let large = case.base.evidence.len() > THIN_ABOVE;
        for p in &mut case.parts {
            if p.bytes.is_empty() {
                continue;
            }
            match seen.get(&p.bytes) {
                Some(first) if large => p.thin(first.clone()),
                Some(_) => {}
                None => {
                    seen.insert(p.bytes.clone(), case.name.clone());
                }
            }
        }
    }
    d
}

/// The baseline request of a detected evidence file: alone, then with the
/// collateral its expected.json lists; DCAP and Azure TDX evidence without
/// complete collateral ends at the signature stage.
fn baseline(
    top: &str,
    folder: &Path,
    f: &Path,
    kind: TeeKind,
    bytes: &[u8],
) -> Option<(Request, Mode, Vec<PathBuf>)> {
    let exp = expected_entry(folder, f);
    let (at, stage_at) = match top {
        "snp" => (SNP_AT, SNP_AT),
        "azure" => (AZURE_AT, AZURE_AT),
        "tpm-quote" | "ovmf-swtpm" => (TPM_AT, TPM_AT),
        "tdx" | "sgx" => {
            let exp = exp
                .as_ref()
                .unwrap_or_else(|| panic!("{}: no expected.json entry", f.display()));
            // Full verification at the time of the collector's dcap-qvl run;
            // the signature stage a day into the PCK certificate's validity.
            let leaf = rfc3339(exp["pck_leaf_validity"][0].as_str().unwrap()) + time::Duration::DAY;
            let at = exp["qvl"]["verified_at"].as_str().map_or(leaf, rfc3339);
            (at, leaf)
        }
        other => panic!("no verification time for folder {other}"),
    };
    let alone = Request {
        evidence: bytes.to_vec(),
        at: Some(at),
        ..Default::default()
    };
    if verify(&alone).verified {
        return Some((alone, Mode::Verified, vec![f.to_path_buf()]));
    }
    let files = expected_collateral(folder, f);
    if !files.is_empty() {
        let with = Request {
            collateral: collateral(&files),
            ..alone.clone()
        };
        if verify(&with).verified {
            let mut used = files;
            used.push(f.to_path_buf());
            return Some((with, Mode::Verified, used));
        }
    }
    let stage = Request {
        at: Some(stage_at),
        ..alone
    };
    let out = verify(&stage);
    is_signature_stage(kind, &out).then(|| {
        let error = out.error.unwrap();
        (stage, Mode::Stage { error }, vec![f.to_path_buf()])
    })
}

/// A `tpm2_quote` message: the signature, attestation key and PCR files
/// beside it that verify it (every combination is tried; a signature only
/// verifies with its own message and key).
fn tpm2_tools_baseline(f: &Path, msg: &[u8]) -> Option<(Request, Mode, Vec<PathBuf>)> {
    let others: Vec<(PathBuf, Vec<u8>)> = files_in(f.parent().unwrap())
        .into_iter()
        .filter(|p| p != f)
        .map(|p| {
            let b = read(&p);
            (p, b)
        })
        .collect();
    let sigs = others
        .iter()
        .filter(|(_, b)| rootline_tpm::TpmtSignature::parse(b).is_ok());
    for (sp, sig) in sigs {
        let aks = others
            .iter()
            .filter(|(_, b)| rootline_tpm::AkPublic::from_bytes(b).is_ok());
        for (ap, ak) in aks {
            let req = Request {
                evidence: msg.to_vec(),
                at: Some(TPM_AT),
                extra: Extra {
                    signature: Some(sig.clone()),
                    ak: Some(ak.clone()),
                    ..Default::default()
                },
                ..Default::default()
            };
            if !verify(&req).verified {
                continue;
            }
            let mut used = vec![f.to_path_buf(), sp.clone(), ap.clone()];
            // With the PCR values, when a file beside it holds the quoted ones.
            let with_pcrs = others.iter().find_map(|(pp, p)| {
                rootline_tpm::PcrValues::from_tpm2_tools(p).ok()?;
                let mut r = req.clone();
                r.extra.pcrs = Some(p.clone());
                verify(&r).verified.then(|| (pp.clone(), r))
            });
            let req = match with_pcrs {
                Some((pp, r)) => {
                    used.push(pp);
                    r
                }
                None => req,
            };
            return Some((req, Mode::Verified, used));
        }
    }
    None
}

/// The baseline agrees with the folder's expected.json: its signature
/// verdicts are true, the measurements of the evidence's own report, quote
/// body or TPMS_ATTEST are the claims, and a dcap-qvl TCB status is ours.
fn check_expected(name: &str, folder: &Path, f: &Path, mode: &Mode, out: &Outcome) {
    match mode {
        Mode::Verified => assert!(out.verified, "{name}: baseline: {:?}", out.error),
        Mode::Stage { error } => assert_eq!(out.error.as_deref(), Some(error.as_str()), "{name}"),
    }
    let Some(exp) = expected_entry(folder, f) else {
        return;
    };
    /// (parent key, key, value) of every leaf.
    fn leaves<'a>(
        v: &'a Value,
        parent: &str,
        key: &str,
        out: &mut Vec<(String, String, &'a Value)>,
    ) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    leaves(x, key, k, out);
                }
            }
            Value::Array(a) => {
                for x in a {
                    leaves(x, parent, key, out);
                }
            }
            other => out.push((parent.to_owned(), key.to_owned(), other)),
        }
    }
    const MEASURED: [&str; 10] = [
        "measurement",
        "report_data",
        "chip_id",
        "mr_td",
        "mr_enclave",
        "mr_signer",
        "mr_seam",
        "rtmr0",
        "qualified_signer",
        "extra_data",
    ];
    let mut want = Vec::new();
    leaves(&exp, "", "", &mut want);
    let claims = Value::Object(out.claims.clone());
    let mut got = Vec::new();
    leaves(&claims, "", "", &mut got);
    let mut compared = 0;
    for (parent, k, v) in &want {
        if k.ends_with("signature_valid") {
            assert_eq!(*v, &Value::Bool(true), "{name}: expected.json {k}");
        }
        let Some(s) = v.as_str().filter(|s| !s.is_empty()) else {
            continue;
        };
        if !MEASURED.contains(&k.as_str())
            || !["report", "body", "attest"].contains(&parent.as_str())
        {
            continue;
        }
        let same_key: Vec<&str> = got
            .iter()
            .filter(|(_, g, _)| g == k)
            .filter_map(|(_, _, v)| v.as_str())
            .collect();
        if same_key.is_empty() {
            continue;
        }
        assert!(
            same_key.iter().any(|g| g.eq_ignore_ascii_case(s)),
            "{name}: claim {k}: expected.json has {s}, the verifier {same_key:?}"
        );
        compared += 1;
    }
    assert!(compared > 0, "{name}: no claim compared with expected.json");
    if let (Mode::Verified, Some(status)) = (mode, exp["qvl"]["status"].as_str()) {
        assert_eq!(out.tcb_status.as_deref(), Some(status), "{name}");
        assert_eq!(
            serde_json::to_value(&out.advisory_ids).unwrap(),
            exp["qvl"]["advisory_ids"],
            "{name}"
        );
    }
}

// ---- parts of each kind --------------------------------------------------------

fn parts_for(c: &Case) -> Vec<Part> {
    let ev = &c.base.evidence;
    match c.kind {
        TeeKind::Snp => snp_parts(c),
        TeeKind::Tdx | TeeKind::Sgx => {
            let decoded = rootline_dcap::evidence::decode(ev).unwrap().quote;
            if decoded == *ev {
                return vec![dcap_part("quote", Slot::Evidence, decoded)];
            }
            assert_eq!(
                hex::decode(String::from_utf8_lossy(ev).trim())
                    .ok()
                    .as_ref(),
                Some(&decoded),
                "{}: a DCAP wrapper this suite has no slot for",
                c.name
            );
            let part = dcap_part("quote", Slot::HexEvidence, decoded);
            // Cuts of the text inside the quote's padding remove only padding.
            let padding = part
                .cuts
                .iter()
                .find(|(_, e)| *e != Expect::Reject)
                .map(|(at, _)| 2 * at);
            let whole = whole_file(c, |cut| match padding {
                Some(p) if cut >= p => Some(Expect::Unsigned(WHY_QUOTE_PADDING)),
                _ => None,
            });
            vec![part, whole]
        }
        TeeKind::Tpm => tpm_parts(c),
        TeeKind::AzureSnp | TeeKind::AzureTdx => azure_parts(c),
        other => panic!("{}: no parts for {other}", c.name),
    }
}

/// Truncation and extension of a whole wrapper file (its parts are flipped
/// inside it). `special` gives the expectation of cuts that are not plain
/// rejections; trailing white space is never content.
fn whole_file(c: &Case, special: impl Fn(usize) -> Option<Expect>) -> Part {
    let ev = &c.base.evidence;
    let len = ev.len();
    let text_end = ev.trim_ascii_end().len();
    let stride = WRAPPER_CUT_STRIDE.max(len / 512);
    let cuts = (0..len)
        .filter(|i| *i < 64 || i + 64 >= len || i % stride == 0)
        .map(|i| {
            let e = if i >= text_end {
                Expect::Unsigned(WHY_TRAILING_SPACE)
            } else {
                special(i).unwrap_or(Expect::Reject)
            };
            (i, e)
        })
        .collect();
    Part {
        what: "whole file".into(),
        slot: Slot::Evidence,
        bytes: Vec::new(),
        regions: Vec::new(),
        cuts,
        tails: Some(Expect::Reject),
        same_as: None,
    }
}

fn every_cut(len: usize) -> Vec<(usize, Expect)> {
    (0..len).map(|i| (i, Expect::Reject)).collect()
}

/// The regions of an SEV-SNP report at `base`.
fn snp_regions(base: usize) -> Vec<Region> {
    use rootline_snp::report::{REPORT_LEN, SIGNED_LEN};
    vec![
        Region::every(
            base..base + SIGNED_LEN,
            "report body (signed by the VCEK/VLEK)",
        ),
        Region::every(
            base + SIGNED_LEN..base + SIGNED_LEN + 144,
            "signature r and s",
        ),
        // Not signed, but rootline-snp requires zeros there.
        Region::every(
            base + SIGNED_LEN + 144..base + REPORT_LEN,
            "signature area after r and s (reserved, must be zero)",
        ),
    ]
}

fn is_snp_report(b: &[u8]) -> bool {
    b.len() == rootline_snp::report::REPORT_LEN && rootline_snp::Report::parse(b).is_ok()
}

fn snp_parts(c: &Case) -> Vec<Part> {
    use rootline_snp::report::REPORT_LEN;
    let ev = &c.base.evidence;
    let mut parts = Vec::new();
    if ev.len() == REPORT_LEN {
        parts.push(Part {
            what: "report".into(),
            slot: Slot::Evidence,
            bytes: ev.clone(),
            regions: snp_regions(0),
            cuts: every_cut(REPORT_LEN),
            tails: Some(Expect::Unsigned(WHY_SNP_TABLE)),
            same_as: None,
        });
        return parts;
    }
    let (slot, report) = if matches!(ev.first(), Some(0xa0..=0xbf)) {
        // configfs-tsm CBOR: the outblob is a byte string of 1184 bytes.
        let head = cbor_bstr_head(REPORT_LEN);
        let at = (head.len()..ev.len())
            .find(|&i| {
                ev[i - head.len()..i] == head[..]
                    && ev.get(i..i + REPORT_LEN).is_some_and(is_snp_report)
            })
            .unwrap_or_else(|| panic!("{}: no report in the CBOR", c.name));
        let slot = Slot::Cbor {
            at,
            head: head.len(),
        };
        (slot, ev[at..at + REPORT_LEN].to_vec())
    } else {
        let v = c
            .json
            .as_ref()
            .unwrap_or_else(|| panic!("{}: an SEV-SNP form this suite has no slot for", c.name));
        let mut leaves = Vec::new();
        byte_leaves(v, &mut Vec::new(), &mut leaves);
        let (path, enc, b) = leaves
            .into_iter()
            .find(|(_, _, b)| is_snp_report(b))
            .unwrap_or_else(|| panic!("{}: no report in the JSON", c.name));
        let around = json_around(v, &path);
        (Slot::Json { enc, around }, b)
    };
    parts.push(Part {
        what: "report".into(),
        slot,
        bytes: report,
        regions: snp_regions(0),
        cuts: every_cut(REPORT_LEN),
        tails: Some(Expect::Reject),
        same_as: None,
    });
    // Bytes after the configfs-tsm CBOR map were once ignored (a finding of
    // this suite); they are refused now, as after any other evidence.
    let whole = whole_file(c, |_| None);
    parts.push(whole);
    parts
}

fn sextet(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// The PEM chain at offset `base` of its part. A flip of a base64 character
/// changes known bits of the certificate's DER: when they all lie outside
/// what the issuer signs (the outer header and signatureAlgorithm) or past
/// the end (unused bits), the flip is unsigned; otherwise it must be
/// rejected. The armor is unsigned. Signed base64 is flipped every
/// `PEM_STRIDE` bytes of a run, the rest every byte.
fn pem_regions(base: usize, pem: &[u8]) -> Vec<Region> {
    let find = |needle: &[u8], from: usize| {
        pem.get(from..)?
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|i| i + from)
    };
    // None: armor; Some(expect): a base64 character of a certificate.
    let mut class: Vec<Option<Expect>> = vec![None; pem.len()];
    let mut from = 0;
    while let Some(begin) = find(b"-----BEGIN", from) {
        let body = find(b"\n", begin).unwrap() + 1;
        let end = find(b"-----END", body).unwrap();
        let chars: Vec<usize> = (body..end)
            .filter(|&i| sextet(pem[i]).is_some() || pem[i] == b'=')
            .collect();
        let text: Vec<u8> = chars.iter().map(|&i| pem[i]).collect();
        let der = STANDARD.decode(&text).unwrap();
        let [head, _, alg, _] = certificate_ranges(&der);
        for (k, &i) in chars.iter().enumerate() {
            let flipped = pem[i] ^ (1 << ((base + i) % 8));
            let e = match (sextet(pem[i]), sextet(flipped)) {
                (Some(a), Some(b)) => {
                    let changed: Vec<usize> = (0..6)
                        .filter(|j| (a ^ b) >> j & 1 == 1)
                        .map(|j| (6 * k + 5 - j) / 8)
                        .collect();
                    if changed.iter().all(|&x| x >= der.len()) {
                        Expect::Unsigned(WHY_BASE64_BITS)
                    } else if changed
                        .iter()
                        .all(|&x| x >= der.len() || head.contains(&x) || alg.contains(&x))
                    {
                        Expect::Unsigned(WHY_CERT_OUTSIDE_TBS)
                    } else {
                        Expect::Reject
                    }
                }
                _ => Expect::Reject,
            };
            class[i] = Some(e);
        }
        from = end;
    }
    let mut regions = Vec::new();
    let mut start = 0;
    for i in 1..=pem.len() {
        if i < pem.len() && class[i] == class[start] {
            continue;
        }
        let range = base + start..base + i;
        regions.push(match class[start] {
            None => Region::unsigned(range, "PCK certificate chain: PEM armor", WHY_PEM_ARMOR),
            Some(Expect::Reject) => Region {
                range,
                stride: PEM_STRIDE,
                what: "PCK certificate chain: base64 of signed certificate bytes",
                expect: Expect::Reject,
            },
            Some(e) => Region {
                range,
                stride: 1,
                what: "PCK certificate chain: base64 of unsigned certificate bits",
                expect: e,
            },
        });
        start = i;
    }
    regions
}

/// The regions, cuts and tails of a DCAP quote.
fn dcap_part(what: &str, slot: Slot, q: Vec<u8>) -> Part {
    let p = rootline_dcap::Quote::parse(&q).unwrap();
    let off = |s: &[u8]| s.as_ptr() as usize - q.as_ptr() as usize;
    let s = p.signed_len;
    let qe = off(p.qe_report_raw);
    let auth = off(p.qe_auth_data);
    let pem = off(p.pck_chain_pem);
    let end = q.len() - p.trailing;
    let mut regions = vec![
        Region::every(
            0..s,
            "header and report body (signed by the attestation key)",
        ),
        Region::every(s..s + 4, "signature data length"),
        Region::every(s + 4..s + 68, "quote signature"),
        Region::every(
            s + 68..s + 132,
            "attestation key (bound by the QE report data)",
        ),
    ];
    if qe > s + 132 {
        regions.push(Region::every(
            s + 132..qe,
            "certification data type 6 and size",
        ));
    }
    regions.extend([
        Region::every(qe..qe + 384, "QE report (signed by the PCK)"),
        Region::every(qe + 384..qe + 448, "QE report signature"),
        Region::every(
            auth - 2..auth + p.qe_auth_data.len(),
            "QE authentication data and its size (hashed into the QE report data)",
        ),
        Region::every(
            auth + p.qe_auth_data.len()..pem,
            "certification data type 5 and size",
        ),
    ]);
    regions.extend(pem_regions(pem, p.pck_chain_pem));
    assert_eq!(pem + p.pck_chain_pem.len(), end, "{what}: regions");
    if p.trailing > 0 {
        regions.push(Region {
            range: end..q.len(),
            stride: if p.trailing > 512 { PADDING_STRIDE } else { 1 },
            what: "bytes after the signature data",
            expect: Expect::Unsigned(WHY_QUOTE_PADDING),
        });
    }
    let cuts = (0..q.len())
        .filter(|&i| {
            let stride = if i > end + 512 {
                PADDING_STRIDE
            } else {
                QUOTE_CUT_STRIDE
            };
            i <= s + 132 || i % stride == 0 || (i + 8 >= end && i <= end + 8)
        })
        .map(|i| {
            let e = if i >= end {
                Expect::Unsigned(WHY_QUOTE_PADDING)
            } else {
                Expect::Reject
            };
            (i, e)
        })
        .collect();
    Part {
        what: what.into(),
        slot,
        regions,
        cuts,
        tails: Some(Expect::Unsigned(WHY_QUOTE_PADDING)),
        same_as: None,
        bytes: q,
    }
}

/// A TPM quote's message or signature: every byte signed (or the signature
/// itself), no padding, no trailing data.
fn tpm_part(what: String, slot: Slot, b: Vec<u8>) -> Part {
    Part {
        what,
        slot,
        regions: vec![Region::every(0..b.len(), "signed bytes")],
        cuts: every_cut(b.len()),
        tails: Some(Expect::Reject),
        same_as: None,
        bytes: b,
    }
}

fn is_quote_attest(b: &[u8]) -> bool {
    rootline_tpm::Attest::parse(b).is_ok_and(|a| a.quote_info().is_some())
}

fn tpm_parts(c: &Case) -> Vec<Part> {
    let ev = &c.base.evidence;
    if ev.starts_with(&[0xff, 0x54, 0x43, 0x47]) {
        let sig = c.base.extra.signature.clone().unwrap();
        return vec![
            tpm_part(
                "TPMS_ATTEST (the evidence)".into(),
                Slot::Evidence,
                ev.clone(),
            ),
            tpm_part(
                "TPMT_SIGNATURE (extra.signature)".into(),
                Slot::Signature,
                sig,
            ),
        ];
    }
    let mut parts = Vec::new();
    let whole = if let Some(v) = &c.json {
        // A quote message and, beside it in the same object, its signature
        // (not the AK's creation attestation, which the verifier does not read).
        let mut leaves = Vec::new();
        byte_leaves(v, &mut Vec::new(), &mut leaves);
        for (path, enc, b) in &leaves {
            if !is_quote_attest(b) {
                continue;
            }
            let around = json_around(v, path);
            parts.push(tpm_part(
                path.join("."),
                Slot::Json { enc: *enc, around },
                b.clone(),
            ));
            let parent = &path[..path.len() - 1];
            let (sp, se, sb) = leaves
                .iter()
                .find(|(p, _, s)| {
                    p.len() == path.len()
                        && p[..p.len() - 1] == *parent
                        && rootline_tpm::TpmtSignature::parse(s).is_ok()
                })
                .unwrap_or_else(|| panic!("{}: no signature beside {path:?}", c.name));
            let around = json_around(v, sp);
            parts.push(tpm_part(
                sp.join("."),
                Slot::Json { enc: *se, around },
                sb.clone(),
            ));
        }
        whole_file(c, |_| None)
    } else {
        // go-tpm-tools Attestation: field 2 `quotes`, each {1 quote, 2 raw_sig}.
        let top = pb_fields(ev);
        for (i, q) in top.iter().filter(|f| f.number == 2).enumerate() {
            let outer = (q.len_at.unwrap(), q.value.clone());
            for f in pb_fields(&ev[q.value.clone()]) {
                let what = match f.number {
                    1 => "quote (TPMS_ATTEST)",
                    2 => "raw_sig (TPMT_SIGNATURE)",
                    _ => continue,
                };
                let at = q.value.start;
                let inner = (at + f.len_at.unwrap(), at + f.value.start..at + f.value.end);
                let bytes = ev[inner.1.clone()].to_vec();
                let slot = Slot::Protobuf {
                    outer: outer.clone(),
                    inner,
                };
                parts.push(tpm_part(format!("quotes[{i}].{what}"), slot, bytes));
            }
        }
        let ends: BTreeSet<usize> = top.iter().map(|f| f.value.end).collect();
        let mut whole = whole_file(c, |cut| {
            ends.contains(&cut)
                .then_some(Expect::Subset(WHY_PROTOBUF_FIELDS))
        });
        // Every cut between two top-level fields, whatever the stride.
        whole.cuts.extend(
            ends.iter()
                .filter(|&&e| e < ev.len())
                .map(|&e| (e, Expect::Subset(WHY_PROTOBUF_FIELDS))),
        );
        whole.cuts.sort_by_key(|(at, _)| *at);
        whole.cuts.dedup_by_key(|(at, _)| *at);
        whole
    };
    assert!(parts.len() >= 2, "{}: no quote found", c.name);
    parts.push(whole);
    parts
}

/// Offsets of a DER element at `at`: (content start, end).
fn der_element(b: &[u8], at: usize) -> (usize, usize) {
    let first = b[at + 1];
    let (len, start) = if first < 0x80 {
        (usize::from(first), at + 2)
    } else {
        let n = usize::from(first & 0x7f);
        let len = b[at + 2..at + 2 + n]
            .iter()
            .fold(0usize, |l, x| l << 8 | usize::from(*x));
        (len, at + 2 + n)
    };
    (start, start + len)
}

/// The ranges of a DER certificate: (outer header, TBSCertificate, outer
/// signatureAlgorithm, signature). The issuer signs the TBSCertificate only.
fn certificate_ranges(der: &[u8]) -> [Range<usize>; 4] {
    let (tbs, _) = der_element(der, 0);
    let (_, alg) = der_element(der, tbs);
    let (_, sig) = der_element(der, alg);
    let (_, end) = der_element(der, sig);
    assert_eq!(end, der.len(), "certificate length");
    [0..tbs, tbs..alg, alg..sig, sig..end]
}

fn certificate_regions(der: &[u8]) -> Vec<Region> {
    let [head, tbs, alg, sig] = certificate_ranges(der);
    vec![
        Region::unsigned(head, "certificate header", WHY_CERT_OUTSIDE_TBS),
        Region::every(tbs, "TBSCertificate (signed by the issuer)"),
        Region::unsigned(alg, "outer signatureAlgorithm", WHY_CERT_OUTSIDE_TBS),
        Region::every(sig, "signature"),
    ]
}

fn azure_parts(c: &Case) -> Vec<Part> {
    use rootline_azure::hcl::{HW_REPORT_AREA, TDREPORT_LEN, VAR_DATA_OFFSET};
    let ev = rootline_azure::Evidence::decode(&c.base.evidence).unwrap();
    let v = c.json.as_ref().unwrap();
    let mut leaves = Vec::new();
    byte_leaves(v, &mut Vec::new(), &mut leaves);
    let find = |want: &[u8]| {
        leaves
            .iter()
            .find(|(_, _, b)| b == want)
            .map(|(p, e, _)| Slot::Json {
                enc: *e,
                around: json_around(v, p),
            })
    };
    let mut parts = Vec::new();

    // The HCL report.
    let hcl = &ev.hcl_report;
    let size = rootline_azure::HclReport::parse(hcl).unwrap().report_size as usize;
    let mut regions = vec![Region::every(0..32, "HCL header (checked field by field)")];
    if c.kind == TeeKind::AzureSnp {
        regions.extend(snp_regions(32));
    } else {
        // REPORTMACSTRUCT: type (4), reserved (12), CPUSVN (16), the two
        // hashes, report data, reserved (32), MAC (32); then TEE_TCB_INFO,
        // reserved and TDINFO.
        let td = |r: Range<usize>| 32 + r.start..32 + r.end;
        regions.extend([
            Region::every(td(0..2), "TDREPORT type and subtype"),
            Region::unsigned(td(2..3), "TDREPORT type version", WHY_TDREPORT_VERSION),
            Region::every(td(3..16), "TDREPORT reserved"),
            Region::unsigned(td(16..32), "TDREPORT CPUSVN", WHY_TDREPORT_CPUSVN),
            Region::every(
                td(32..224),
                "TDREPORT hashes, report data and reserved (bound to the TD quote)",
            ),
            Region::unsigned(td(224..256), "TDREPORT MAC", WHY_TDREPORT_MAC),
            Region::every(
                td(256..TDREPORT_LEN),
                "TEE_TCB_INFO and TDINFO (hashed into the TDREPORT, quoted in the TD quote)",
            ),
            Region::every(
                32 + TDREPORT_LEN..32 + HW_REPORT_AREA,
                "padding after the TDREPORT (must be zero)",
            ),
        ]);
    }
    regions.extend([
        Region::every(
            32 + HW_REPORT_AREA..VAR_DATA_OFFSET,
            "runtime data header (sizes, version, types checked)",
        ),
        Region::every(
            VAR_DATA_OFFSET..size,
            "runtime data (its SHA-256 is in the hardware report's report_data)",
        ),
        Region::every(
            size..hcl.len(),
            "NV padding after the runtime data (must be zero)",
        ),
    ]);
    let cuts = (0..hcl.len())
        .filter(|i| *i <= size || i % 16 == 0)
        .map(|i| {
            let e = if i >= size {
                Expect::Unsigned(WHY_HCL_PADDING)
            } else {
                Expect::Reject
            };
            (i, e)
        })
        .collect();
    parts.push(Part {
        what: "hcl_report".into(),
        slot: find(hcl).unwrap_or_else(|| panic!("{}: hcl report not found", c.name)),
        bytes: hcl.clone(),
        regions,
        cuts,
        tails: Some(Expect::Unsigned(WHY_HCL_PADDING)),
        same_as: None,
    });

    // The vTPM quote.
    let q = &ev.tpm_quote;
    for (what, b) in [
        ("tpm_quote message (TPMS_ATTEST)", &q.message),
        ("tpm_quote signature", &q.signature),
    ] {
        let slot = find(b).unwrap_or_else(|| panic!("{}: {what} not found", c.name));
        parts.push(tpm_part(what.into(), slot, b.clone()));
    }
    // Its PCR values (bound by the quote's PCR digest), a list of byte strings.
    fn lists<'a>(
        v: &'a Value,
        path: &mut Vec<String>,
        out: &mut Vec<(Vec<String>, &'a Vec<Value>)>,
    ) {
        if let Value::Object(m) = v {
            for (k, x) in m {
                path.push(k.clone());
                if let Value::Array(a) = x {
                    out.push((path.clone(), a));
                }
                lists(x, path, out);
                path.pop();
            }
        }
    }
    let mut all = Vec::new();
    lists(v, &mut Vec::new(), &mut all);
    let pcr_slot =
        all.into_iter()
            .find_map(|(path, a)| {
                let items: Vec<(Enc, Vec<u8>)> = a.iter().map(Enc::infer).collect::<Option<_>>()?;
                let values: Vec<&Vec<u8>> = items.iter().map(|(_, b)| b).collect();
                (values.len() == q.pcrs.len() && values.iter().zip(&q.pcrs).all(|(a, b)| *a == b))
                    .then(|| Slot::JsonList {
                        item: q.pcrs[0].len(),
                        enc: items[0].0,
                        around: json_around(v, &path),
                    })
            })
            .unwrap_or_else(|| panic!("{}: PCR values not found", c.name));
    let pcrs = q.pcrs.concat();
    parts.push(Part {
        what: "tpm_quote pcrs".into(),
        slot: pcr_slot,
        regions: vec![Region::every(
            0..pcrs.len(),
            "PCR values (bound by the quote's PCR digest)",
        )],
        bytes: pcrs,
        cuts: Vec::new(),
        tails: None,
        same_as: None,
    });

    // The VCEK (SNP) or the TD quote (TDX).
    if let Some(vcek) = &ev.vcek {
        match find(vcek) {
            Some(slot) => parts.push(Part {
                what: "vcek (DER)".into(),
                slot,
                regions: certificate_regions(vcek),
                cuts: every_cut(vcek.len()),
                tails: Some(Expect::Reject),
                same_as: None,
                bytes: vcek.clone(),
            }),
            // Evidence v0 carries the VCEK as PEM text; the v1 case mutates
            // the same certificate as DER.
            None => assert!(
                v["vcek"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("-----BEGIN")),
                "{}: a VCEK in an encoding this suite has no slot for",
                c.name
            ),
        }
    }
    if let Some(td) = &ev.td_quote {
        let slot = find(td).unwrap_or_else(|| panic!("{}: td quote not found", c.name));
        parts.push(dcap_part("td_quote", slot, td.clone()));
    }
    parts.push(whole_file(c, |_| None));
    parts
}

/// Extensions a format explicitly allows: an SEV-SNP report followed by its
/// real certificate table (the extended-report form), when its folder holds
/// the table. Returns (what, request, the table's file).
fn allowed_extensions(c: &Case, f: &Path) -> Vec<(String, Request, PathBuf)> {
    if c.kind != TeeKind::Snp || c.base.evidence.len() != rootline_snp::report::REPORT_LEN {
        return Vec::new();
    }
    files_in(f.parent().unwrap())
        .into_iter()
        .filter_map(|p| {
            let mut ext = c.base.evidence.clone();
            ext.extend(read(&p));
            let e = rootline_snp::Evidence::decode(&ext).ok()?;
            (!e.cert_table.is_empty()).then(|| {
                let what = format!(
                    "the report followed by its certificate table {}",
                    p.file_name().unwrap().to_string_lossy()
                );
                let r = Request {
                    evidence: ext,
                    ..c.base.clone()
                };
                (what, r, p)
            })
        })
        .collect()
}

// ---- running -------------------------------------------------------------------

#[derive(Default)]
struct Tally {
    flips: usize,
    cuts: usize,
    exts: usize,
    accepted: usize,
    tolerated: usize,
}

fn same_claims(a: &Outcome, b: &Outcome) -> bool {
    a.claims == b.claims && a.tcb_status == b.tcb_status && a.advisory_ids == b.advisory_ids
}

/// Every object member of `a` is in `b` and a subset of it; every list of
/// `a` is a prefix of `b`'s.
fn subset(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => x
            .iter()
            .all(|(k, v)| y.get(k).is_some_and(|w| subset(v, w))),
        (Value::Array(x), Value::Array(y)) => {
            x.len() <= y.len() && x.iter().zip(y).all(|(v, w)| v == w)
        }
        _ => a == b,
    }
}

fn claim_diff(a: &Outcome, b: &Outcome) -> String {
    let mut keys: BTreeSet<&String> = a.claims.keys().collect();
    keys.extend(b.claims.keys());
    let short = |v: Option<&Value>| {
        let s = format!("{v:?}");
        if s.len() > 120 {
            format!("{}...", &s[..120])
        } else {
            s
        }
    };
    let d: Vec<String> = keys
        .into_iter()
        .filter(|k| a.claims.get(*k) != b.claims.get(*k))
        .map(|k| {
            format!(
                "{k}: {} -> {}",
                short(b.claims.get(k)),
                short(a.claims.get(k))
            )
        })
        .collect();
    format!(
        "{} (tcb {:?} -> {:?})",
        d.join("; "),
        b.tcb_status,
        a.tcb_status
    )
}

fn judge(
    c: &Case,
    req: &Request,
    expect: Expect,
    label: &dyn Fn() -> String,
    t: &mut Tally,
    findings: &mut Vec<String>,
) {
    let out = match outcome(req) {
        Ok(o) => o,
        Err(p) => {
            findings.push(format!("{}: PANIC: {p}", label()));
            return;
        }
    };
    if !c.passes(&out) {
        if out.error.as_deref().is_none_or(str::is_empty) {
            findings.push(format!("{}: rejected without an error", label()));
        }
        return;
    }
    match expect {
        Expect::Reject => {
            t.accepted += 1;
            let claims = if same_claims(&out, &c.baseline) {
                "identical to the baseline".into()
            } else {
                format!("changed: {}", claim_diff(&out, &c.baseline))
            };
            findings.push(format!(
                "{}: ACCEPTED (verified={}, error={:?}; claims {claims})",
                label(),
                out.verified,
                out.error,
            ));
        }
        Expect::Unsigned(why) => {
            t.tolerated += 1;
            if why.starts_with("FINDING") {
                eprintln!("negative_vectors: {}: accepted: {why}", label());
            }
            if !same_claims(&out, &c.baseline) {
                findings.push(format!(
                    "{}: not signed and accepted, but the claims changed: {}",
                    label(),
                    claim_diff(&out, &c.baseline)
                ));
            }
        }
        Expect::Subset(_) => {
            t.tolerated += 1;
            let a = Value::Object(out.claims.clone());
            let b = Value::Object(c.baseline.claims.clone());
            if !subset(&a, &b) {
                findings.push(format!(
                    "{}: whole fields dropped and accepted, but the claims are not a subset of the baseline's: {}",
                    label(),
                    claim_diff(&out, &c.baseline)
                ));
            }
        }
    }
}

fn run_case(c: &Case, findings: &mut Vec<String>) {
    let started = Instant::now();
    let mut t = Tally::default();
    for p in &c.parts {
        if !p.bytes.is_empty() {
            let mut next = 0;
            for r in &p.regions {
                assert_eq!(
                    r.range.start, next,
                    "{}: {}: a gap before {}",
                    c.name, p.what, r.what
                );
                next = r.range.end;
            }
            assert_eq!(
                next,
                p.bytes.len(),
                "{}: {}: regions end early",
                c.name,
                p.what
            );
            // The slot is right: the unmodified part, put back, is the baseline.
            let out = outcome(&with_part(c, p, &p.bytes)).unwrap();
            assert!(
                c.passes(&out) && same_claims(&out, &c.baseline),
                "{}: {}: the unmodified part put back does not give the baseline: {:?}",
                c.name,
                p.what,
                out.error
            );
        }
        for r in &p.regions {
            for off in r.range.clone().step_by(r.stride) {
                let bit = off % 8;
                let mut b = p.bytes.clone();
                b[off] ^= 1 << bit;
                t.flips += 1;
                let label = || {
                    format!(
                        "{}: {} [{}] flip at {off:#x} bit {bit}",
                        c.name, p.what, r.what
                    )
                };
                judge(c, &with_part(c, p, &b), r.expect, &label, &mut t, findings);
            }
        }
        let Some(tail_expect) = p.tails else { continue };
        let whole = if p.bytes.is_empty() {
            &c.base.evidence
        } else {
            &p.bytes
        };
        for &(cut, expect) in &p.cuts {
            t.cuts += 1;
            let label = || format!("{}: {} cut at {cut} of {}", c.name, p.what, whole.len());
            judge(
                c,
                &with_part(c, p, &whole[..cut]),
                expect,
                &label,
                &mut t,
                findings,
            );
        }
        for (what, tail) in tails() {
            t.exts += 1;
            let mut b = whole.clone();
            b.extend(&tail);
            let label = || format!("{}: {} extended by {what}", c.name, p.what);
            judge(
                c,
                &with_part(c, p, &b),
                tail_expect,
                &label,
                &mut t,
                findings,
            );
        }
    }
    for (what, req) in &c.allowed_extensions {
        t.exts += 1;
        t.tolerated += 1;
        let out = outcome(req).unwrap();
        assert!(
            c.passes(&out) && same_claims(&out, &c.baseline),
            "{}: {what}: the format allows it, so it must verify with the baseline's claims: {:?}",
            c.name,
            out.error
        );
    }
    let stage = match c.mode {
        Mode::Verified => "",
        Mode::Stage { .. } => " (signature stage: the set has no complete collateral for it)",
    };
    let thinned: Vec<&str> = c
        .parts
        .iter()
        .filter(|p| p.same_as.is_some())
        .map(|p| p.what.as_str())
        .collect();
    let sources: BTreeSet<&str> = c
        .parts
        .iter()
        .filter_map(|p| p.same_as.as_deref())
        .collect();
    let thinned = if thinned.is_empty() {
        String::new()
    } else {
        format!(
            "; {} every {DUP_STRIDE}th byte, being byte for byte in {}",
            thinned.join(", "),
            sources.into_iter().collect::<Vec<_>>().join(", ")
        )
    };
    eprintln!(
        "negative_vectors: {}: {} flips, {} truncations, {} extensions, {} accepted{stage}; \
         {} inputs that change no signed byte gave the baseline's claims{thinned}; {:.1?}",
        c.name,
        t.flips,
        t.cuts,
        t.exts,
        t.accepted,
        t.tolerated,
        started.elapsed()
    );
}

fn run_kinds(kinds: &[TeeKind]) {
    let Some(d) = discovery() else { return };
    let mut findings = Vec::new();
    let mut n = 0;
    for c in d.cases.iter().filter(|c| kinds.contains(&c.kind)) {
        run_case(c, &mut findings);
        n += 1;
    }
    assert!(n > 0, "no {kinds:?} case");
    assert!(
        findings.is_empty(),
        "{} finding(s):\n{}",
        findings.len(),
        findings.join("\n")
    );
}

// ---- the tests ------------------------------------------------------------------

#[test]
fn snp_vectors() {
    run_kinds(&[TeeKind::Snp]);
}

#[test]
fn dcap_vectors() {
    run_kinds(&[TeeKind::Tdx, TeeKind::Sgx]);
}

#[test]
fn tpm_vectors() {
    run_kinds(&[TeeKind::Tpm]);
}

#[test]
fn azure_vectors() {
    run_kinds(&[TeeKind::AzureSnp, TeeKind::AzureTdx]);
}

/// Every folder is taken or skipped with its reason; every detected file is a
/// case or skipped with its reason; every file PROVENANCE.md calls evidence
/// is read by a case or skipped with its reason; nothing in the skipped
/// folders verifies.
#[test]
fn every_vector_file_is_taken_or_skipped_with_a_reason() {
    let Some(d) = discovery() else { return };
    let root = &d.root;
    for e in std::fs::read_dir(root).unwrap() {
        let p = e.unwrap().path();
        if !p.is_dir() {
            continue;
        }
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            FOLDERS_TAKEN.contains(&name.as_str())
                || FOLDERS_NOT_TAKEN.iter().any(|(n, _)| *n == name)
                || FOLDERS_IN_THEIR_CRATE.iter().any(|(n, _, _)| *n == name),
            "vector folder {name} is neither taken nor skipped with a reason"
        );
    }
    for (top, why) in FOLDERS_NOT_TAKEN {
        let mut files = Vec::new();
        walk(&root.join(top), &mut files);
        for f in files {
            let out = verify(&Request {
                evidence: read(&f),
                ..Default::default()
            });
            assert!(
                !out.verified,
                "{} verifies, but {top} is skipped: {why}",
                rel(root, &f)
            );
        }
        eprintln!("negative_vectors: {top}: skipped: {why}");
    }
    for (top, why, verdicts) in FOLDERS_IN_THEIR_CRATE {
        let mut files = Vec::new();
        walk(&root.join(top), &mut files);
        for f in &files {
            let out = outcome(&Request {
                evidence: read(f),
                ..Default::default()
            })
            .unwrap_or_else(|p| panic!("{}: verify panicked: {p}", rel(root, f)));
            if let Some((_, want)) = verdicts.iter().find(|(n, _)| root.join(n) == *f) {
                assert_eq!(out.verified, *want, "{}: {:?}", rel(root, f), out.error);
            }
        }
        for (n, _) in verdicts.iter() {
            assert!(
                files.contains(&root.join(n)),
                "{n} is gone: update its verdict"
            );
        }
        eprintln!("negative_vectors: {top}: flips in its crate: {why}");
    }
    for (name, why) in DETECTED_NOT_VERIFIABLE {
        assert!(
            d.detected.contains(&root.join(name)),
            "{name} is no longer detected"
        );
        eprintln!("negative_vectors: {name}: skipped: {why}");
    }
    // PROVENANCE.md's own word for which files are evidence.
    for top in FOLDERS_TAKEN {
        let mut files = Vec::new();
        walk(&root.join(top), &mut files);
        for p in files.into_iter().filter(|f| f.ends_with("PROVENANCE.md")) {
            let folder = p.parent().unwrap();
            let text = String::from_utf8(read(&p)).unwrap();
            for line in text.lines().filter(|l| l.starts_with("| `")) {
                let file = line.split('`').nth(1).unwrap();
                let what = line
                    .trim_end_matches('|')
                    .rsplit('|')
                    .next()
                    .unwrap()
                    .trim();
                let f = folder.join(file);
                if !what.contains("evidence") || d.used.contains(&f) {
                    continue;
                }
                let name = rel(root, &f);
                let skipped = FORMS_NOT_TAKEN
                    .iter()
                    .chain(DETECTED_NOT_VERIFIABLE.iter())
                    .any(|(n, _)| *n == name);
                assert!(
                    skipped,
                    "{name} is evidence by its PROVENANCE.md ({what}), but no case reads it and it is not skipped \
                     with a reason"
                );
            }
        }
    }
    for (name, why) in FORMS_NOT_TAKEN {
        assert!(root.join(name).is_file(), "{name} is gone: drop its skip");
        assert!(
            !d.used.contains(&root.join(name)),
            "{name} is skipped but read by a case"
        );
        eprintln!("negative_vectors: {name}: not taken: {why}");
    }
    for c in &d.cases {
        let mode = match c.mode {
            Mode::Verified => "verified",
            Mode::Stage { .. } => "signature stage",
        };
        eprintln!("negative_vectors: case {} ({}, {mode})", c.name, c.kind);
    }
}

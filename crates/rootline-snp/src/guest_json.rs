//! SEV-SNP evidence in the JSON form Confidential Containers' guest-components
//! send to a KBS, turned back into the report bytes the firmware signed.
//!
//! The guest-components SNP attester (`attestation-agent/attester/src/snp`)
//! parses the firmware report with the `sev` crate 6.3.1 and sends the serde
//! serialization of that struct, not the bytes:
//! `{"attestation_report": {..}, "cert_chain": null | [{"cert_type", "data"}]}`.
//! Byte arrays are JSON arrays of integers, TCB versions are objects of SVNs,
//! and every reserved byte is dropped. Trustee's verifier (sev 7.1, same
//! shape) puts the struct back into bytes and checks the signature over them;
//! [`decode`] does the same, field by field after the ABI specification
//! (publication 56860, Table "ATTESTATION_REPORT Structure"), so that the rest
//! of this crate verifies the signature over bytes it parses as usual.
//!
//! What the JSON cannot carry (so [`decode`] writes zeros there): the reserved
//! ranges 0x4C..0x50, 0x188..0x1A0 (version 2) or 0x18B..0x1A0 (versions 3 to
//! 5), 0x1EB, 0x1EF, 0x1F8..0x2A0 (versions 2 to 4) or 0x208..0x2A0 (version
//! 5), 0x330..0x4A0 (after the signature), and the reserved bytes inside each
//! of the four TCB_VERSION fields (bytes 2 to 5 in the Milan/Genoa layout,
//! 4 to 6 in the Turin layout). The specification requires all of them to be
//! zero and every captured report we have keeps to that, so nothing signed is
//! lost for a conforming report; a report that broke the rule would fail its
//! signature, never pass. [`encode`] refuses such a report rather than emit
//! JSON that cannot give its bytes back.
//!
//! Which TCB layout applies is not in the JSON as a flag: sev 6.3.1 picks it
//! from the CPUID family and model (version 3 and later) or from the shape of
//! the chip ID (version 2), and shows its choice as `fmc` being a number
//! (Turin) or `null` (Milan, Genoa). We follow `fmc` and require the four TCBs
//! and the CPUID or chip ID to agree with it.

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::evidence::MAX_EVIDENCE_LEN;
use crate::report::{Product, REPORT_LEN, Report, SIGNED_LEN, VERSIONS};

/// A report and its certificates, taken out of guest-components JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestEvidence {
    /// The report as the firmware produced it ([`REPORT_LEN`] bytes).
    pub report: Vec<u8>,
    /// `cert_chain` entries in order: the sev certificate type name (`ARK`,
    /// `ASK`, `VCEK`, `VLEK`, `CRL`, `Empty`, or the lower-case GUID of an
    /// `OTHER` entry) and the certificate bytes (DER, as the host stored them).
    pub certs: Vec<(String, Vec<u8>)>,
}

/// The certificate types sev 6.3.1 names, with the GUID each stands for
/// (GHCB specification, SNP_GET_EXT_REPORT certificate table).
const CERT_TYPES: [(&str, &str); 6] = [
    ("Empty", "00000000-0000-0000-0000-000000000000"),
    ("ARK", "c0b406a4-a803-4952-9743-3fb6014cd0ae"),
    ("ASK", "4ab7b379-bbac-4fe4-a02f-05aef327c782"),
    ("VCEK", "63da758d-e664-4564-adc5-f4b93be8accd"),
    ("VLEK", "a8074bc2-a25a-483e-aae6-39c045a0b8a1"),
    ("CRL", "92f81bc3-5811-4d3d-97ff-d19f88dc67ea"),
];

/// Most `cert_chain` entries accepted; a real chain has at most four.
const MAX_CERTS: usize = 64;

/// The four TCB_VERSION fields, in report order, with their offsets.
const TCB_FIELDS: [(&str, usize); 4] = [
    ("current_tcb", 0x38),
    ("reported_tcb", 0x180),
    ("committed_tcb", 0x1E0),
    ("launch_tcb", 0x1F0),
];

fn bad(path: &str, reason: impl std::fmt::Display) -> Error {
    Error::Evidence(format!("guest-components JSON: {path}: {reason}"))
}

/// True when `v` has the guest-components shape: an object whose
/// `attestation_report` is an object and whose `cert_chain`, if present, is
/// `null` or an array. Whether it decodes is for [`decode`] to say.
pub fn is_guest_components_json(v: &Value) -> bool {
    let Some(obj) = v.as_object() else {
        return false;
    };
    obj.get("attestation_report").is_some_and(Value::is_object)
        && obj
            .get("cert_chain")
            .is_none_or(|c| c.is_null() || c.is_array())
}

/// One JSON object being read, with its path for error messages.
struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: String,
}

impl<'a> Obj<'a> {
    fn new(v: &'a Value, path: String) -> Result<Self> {
        match v.as_object() {
            Some(map) => Ok(Self { map, path }),
            None => {
                let at = if path.is_empty() { "evidence" } else { &path };
                Err(bad(at, format!("is {}, expected an object", kind(v))))
            }
        }
    }

    fn path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn get(&self, key: &str) -> Result<&'a Value> {
        self.map
            .get(key)
            .ok_or_else(|| bad(&self.path(key), "is missing"))
    }

    /// A member sev declares as `Option`: serde reads an absent member as
    /// `None`, so we do too.
    fn opt(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn obj(&self, key: &str) -> Result<Obj<'a>> {
        Obj::new(self.get(key)?, self.path(key))
    }

    fn uint<T: TryFrom<u64>>(&self, key: &str) -> Result<T> {
        uint(self.get(key)?, &self.path(key))
    }

    fn opt_uint<T: TryFrom<u64>>(&self, key: &str) -> Result<Option<T>> {
        self.opt(key).map(|v| uint(v, &self.path(key))).transpose()
    }

    fn bytes<const N: usize>(&self, key: &str) -> Result<[u8; N]> {
        let path = self.path(key);
        let v = byte_vec(self.get(key)?, &path, N)?;
        <[u8; N]>::try_from(v)
            .map_err(|v| bad(&path, format!("has {} elements, expected {N}", v.len())))
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// An unsigned integer that fits `T` (u8, u32 or u64, as the field is wide).
fn uint<T: TryFrom<u64>>(v: &Value, path: &str) -> Result<T> {
    let Some(n) = v.as_u64() else {
        return Err(match v {
            Value::Number(n) => bad(path, format!("{n} is not an unsigned integer")),
            other => bad(
                path,
                format!("is {}, expected an unsigned integer", kind(other)),
            ),
        });
    };
    T::try_from(n).map_err(|_| {
        let bits = std::mem::size_of::<T>() * 8;
        bad(path, format!("{n} does not fit in {bits} bits"))
    })
}

/// A JSON array of exactly `len` integers, each 0 to 255.
fn byte_vec(v: &Value, path: &str, len: usize) -> Result<Vec<u8>> {
    let Some(items) = v.as_array() else {
        return Err(bad(
            path,
            format!("is {}, expected an array of bytes", kind(v)),
        ));
    };
    if items.len() != len {
        return Err(bad(
            path,
            format!("has {} elements, expected {len}", items.len()),
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let p = format!("{path}[{i}]");
            let n = b.as_u64().ok_or_else(|| {
                bad(
                    &p,
                    format!("is {} {b}, expected a byte (0 to 255)", kind(b)),
                )
            })?;
            u8::try_from(n).map_err(|_| bad(&p, format!("{n} is not a byte (0 to 255)")))
        })
        .collect()
}

/// Report bytes written in order; each fixed-offset field first pads the
/// reserved gap before it with zeros, so a misplaced field is caught here
/// rather than shifting everything after it.
struct Writer(Vec<u8>);

impl Writer {
    fn at(&mut self, offset: usize, what: &str) -> Result<&mut Self> {
        match offset.checked_sub(self.0.len()) {
            Some(gap) => {
                self.0.extend(std::iter::repeat_n(0, gap));
                Ok(self)
            }
            None => Err(Error::Evidence(format!(
                "guest-components JSON: internal layout error before {what} at 0x{offset:x}"
            ))),
        }
    }

    fn put(&mut self, bytes: &[u8]) -> &mut Self {
        self.0.extend_from_slice(bytes);
        self
    }
}

/// The TCB_VERSION members of one JSON TCB object and the layout they imply.
struct TcbJson {
    fmc: Option<u8>,
    bootloader: u8,
    tee: u8,
    snp: u8,
    microcode: u8,
}

impl TcbJson {
    fn read(o: &Obj<'_>) -> Result<Self> {
        Ok(Self {
            fmc: o.opt_uint("fmc")?,
            bootloader: o.uint("bootloader")?,
            tee: o.uint("tee")?,
            snp: o.uint("snp")?,
            microcode: o.uint("microcode")?,
        })
    }

    /// The 8 bytes in the layout `fmc` selects (ABI spec, TCB_VERSION):
    /// Turin `fmc, bootloader, tee, snp, 0, 0, 0, microcode`; Milan and
    /// Genoa `bootloader, tee, 0, 0, 0, 0, snp, microcode`.
    fn bytes(&self) -> [u8; 8] {
        match self.fmc {
            Some(fmc) => [
                fmc,
                self.bootloader,
                self.tee,
                self.snp,
                0,
                0,
                0,
                self.microcode,
            ],
            None => [
                self.bootloader,
                self.tee,
                0,
                0,
                0,
                0,
                self.snp,
                self.microcode,
            ],
        }
    }

    fn to_json(raw: u64, turin: bool) -> Value {
        let [b0, b1, b2, b3, _, _, b6, b7] = raw.to_le_bytes();
        let (fmc, bootloader, tee, snp) = if turin {
            (Value::from(b0), b1, b2, b3)
        } else {
            (Value::Null, b0, b1, b6)
        };
        let mut m = Map::new();
        m.insert("fmc".into(), fmc);
        m.insert("bootloader".into(), bootloader.into());
        m.insert("tee".into(), tee.into());
        m.insert("snp".into(), snp.into());
        m.insert("microcode".into(), b7.into());
        Value::Object(m)
    }

    /// The bytes the JSON object drops, which must be zero for it to carry
    /// the TCB whole.
    fn reserved_zero(raw: u64, turin: bool) -> bool {
        let b = raw.to_le_bytes();
        let reserved = if turin { b.get(4..7) } else { b.get(2..6) };
        reserved.is_some_and(|r| r.iter().all(|x| *x == 0))
    }
}

/// `{major, minor, build}`, which the report stores as build, minor, major.
fn version_bytes(o: &Obj<'_>) -> Result<[u8; 3]> {
    Ok([o.uint("build")?, o.uint("minor")?, o.uint("major")?])
}

fn version_json((build, minor, major): (u8, u8, u8)) -> Value {
    let mut m = Map::new();
    m.insert("major".into(), major.into());
    m.insert("minor".into(), minor.into());
    m.insert("build".into(), build.into());
    Value::Object(m)
}

fn bytes_json(b: &[u8]) -> Value {
    Value::Array(b.iter().map(|x| Value::from(*x)).collect())
}

/// True when a version-2 chip ID looks like Turin's (8 bytes, then zeros),
/// the test sev 6.3.1 uses to pick the TCB layout of a version-2 report.
fn chip_id_turin_like(chip_id: &[u8; 64]) -> bool {
    let (head, tail) = chip_id.split_at(8);
    head.iter().any(|b| *b != 0) && tail.iter().all(|b| *b == 0)
}

/// Decodes guest-components SNP evidence into the report bytes and the
/// certificates. Every integer is checked against its field's width and
/// every array against its length; errors name the JSON member. The result
/// is not verified: pass `report` to [`Report::parse`] or the verifier.
pub fn decode(v: &Value) -> Result<GuestEvidence> {
    let top = Obj::new(v, String::new())?;
    let ar = top.obj("attestation_report")?;

    let version: u32 = ar.uint("version")?;
    if !VERSIONS.contains(&version) {
        return Err(Error::Unsupported {
            field: "report version",
            value: format!("{version} (known: 2 to 5)"),
        });
    }

    let mut tcbs = Vec::with_capacity(TCB_FIELDS.len());
    for (name, _) in TCB_FIELDS {
        tcbs.push(TcbJson::read(&ar.obj(name)?)?);
    }
    let turin = tcbs.first().is_some_and(|t| t.fmc.is_some());
    for ((name, _), t) in TCB_FIELDS.iter().zip(&tcbs) {
        if t.fmc.is_some() != turin {
            return Err(bad(
                &format!("attestation_report.{name}.fmc"),
                "the four TCB versions disagree on whether fmc is present (Turin layout)",
            ));
        }
    }

    let cpuid: [Option<u8>; 3] = [
        ar.opt_uint("cpuid_fam_id")?,
        ar.opt_uint("cpuid_mod_id")?,
        ar.opt_uint("cpuid_step")?,
    ];
    let chip_id: [u8; 64] = ar.bytes("chip_id")?;
    let cpuid = match (version >= 3, cpuid) {
        (true, [Some(f), Some(m), Some(s)]) => {
            if let Some(p) = Product::from_cpuid(f, m)
                && p.has_fmc() != turin
            {
                return Err(bad(
                    "attestation_report.current_tcb.fmc",
                    format!(
                        "CPUID family 0x{f:x} model 0x{m:x} is {p}, whose TCB layout does not match"
                    ),
                ));
            }
            Some([f, m, s])
        }
        (true, _) => {
            return Err(bad(
                "attestation_report.cpuid_fam_id",
                format!(
                    "cpuid_fam_id, cpuid_mod_id and cpuid_step are required in a version-{version} report"
                ),
            ));
        }
        (false, [None, None, None]) => {
            let masked = chip_id.iter().all(|b| *b == 0);
            if !masked && chip_id_turin_like(&chip_id) != turin {
                return Err(bad(
                    "attestation_report.current_tcb.fmc",
                    "the chip ID's shape and the TCB layout disagree (Turin chip IDs are 8 bytes then zeros)",
                ));
            }
            None
        }
        (false, _) => {
            return Err(bad(
                "attestation_report.cpuid_fam_id",
                "must be null in a version-2 report (the bytes are reserved)",
            ));
        }
    };

    let mit: [Option<u64>; 2] = [
        ar.opt_uint("launch_mit_vector")?,
        ar.opt_uint("current_mit_vector")?,
    ];
    let mit = match (version >= 5, mit) {
        (true, [Some(l), Some(c)]) => Some([l, c]),
        (false, [None, None]) => None,
        (true, _) => {
            return Err(bad(
                "attestation_report.launch_mit_vector",
                "launch_mit_vector and current_mit_vector are required in a version-5 report",
            ));
        }
        (false, _) => {
            return Err(bad(
                "attestation_report.launch_mit_vector",
                format!("must be null in a version-{version} report (the bytes are reserved)"),
            ));
        }
    };

    let tcb = |i: usize| tcbs.get(i).map(TcbJson::bytes).unwrap_or_default();
    let sig = ar.obj("signature")?;
    let mut w = Writer(Vec::with_capacity(REPORT_LEN));
    w.put(&version.to_le_bytes())
        .put(&ar.uint::<u32>("guest_svn")?.to_le_bytes())
        .put(&ar.uint::<u64>("policy")?.to_le_bytes())
        .put(&ar.bytes::<16>("family_id")?)
        .put(&ar.bytes::<16>("image_id")?)
        .put(&ar.uint::<u32>("vmpl")?.to_le_bytes())
        .put(&ar.uint::<u32>("sig_algo")?.to_le_bytes());
    w.at(0x38, "current_tcb")?.put(&tcb(0));
    w.put(&ar.uint::<u64>("plat_info")?.to_le_bytes())
        .put(&ar.uint::<u32>("key_info")?.to_le_bytes());
    w.at(0x50, "report_data")?
        .put(&ar.bytes::<64>("report_data")?)
        .put(&ar.bytes::<48>("measurement")?)
        .put(&ar.bytes::<32>("host_data")?)
        .put(&ar.bytes::<48>("id_key_digest")?)
        .put(&ar.bytes::<48>("author_key_digest")?)
        .put(&ar.bytes::<32>("report_id")?)
        .put(&ar.bytes::<32>("report_id_ma")?);
    w.at(0x180, "reported_tcb")?.put(&tcb(1));
    if let Some(c) = cpuid {
        w.at(0x188, "cpuid_fam_id")?.put(&c);
    }
    w.at(0x1A0, "chip_id")?.put(&chip_id);
    w.at(0x1E0, "committed_tcb")?.put(&tcb(2));
    w.at(0x1E8, "current")?
        .put(&version_bytes(&ar.obj("current")?)?);
    w.at(0x1EC, "committed")?
        .put(&version_bytes(&ar.obj("committed")?)?);
    w.at(0x1F0, "launch_tcb")?.put(&tcb(3));
    if let Some([l, c]) = mit {
        w.at(0x1F8, "launch_mit_vector")?
            .put(&l.to_le_bytes())
            .put(&c.to_le_bytes());
    }
    w.at(SIGNED_LEN, "signature")?
        .put(&sig.bytes::<72>("r")?)
        .put(&sig.bytes::<72>("s")?);
    w.at(REPORT_LEN, "end of report")?;
    let report = w.0;
    if report.len() != REPORT_LEN {
        return Err(Error::Evidence(format!(
            "guest-components JSON: internal layout error: {} bytes rebuilt",
            report.len()
        )));
    }

    let certs = match top.opt("cert_chain") {
        None => Vec::new(),
        Some(c) => decode_certs(c)?,
    };
    Ok(GuestEvidence { report, certs })
}

fn decode_certs(v: &Value) -> Result<Vec<(String, Vec<u8>)>> {
    let Some(items) = v.as_array() else {
        return Err(bad(
            "cert_chain",
            format!("is {}, expected null or an array", kind(v)),
        ));
    };
    if items.len() > MAX_CERTS {
        return Err(bad(
            "cert_chain",
            format!("has {} entries, more than {MAX_CERTS}", items.len()),
        ));
    }
    let mut total = 0usize;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let e = Obj::new(item, format!("cert_chain[{i}]"))?;
        let name = cert_type_name(e.get("cert_type")?, &e.path("cert_type"))?;
        let data_path = e.path("data");
        let data = e.get("data")?;
        let len = data.as_array().map_or(0, Vec::len);
        total = total.saturating_add(len);
        if total > MAX_EVIDENCE_LEN {
            return Err(bad(
                &data_path,
                format!("certificates exceed {MAX_EVIDENCE_LEN} bytes in all"),
            ));
        }
        out.push((name, byte_vec(data, &data_path, len)?));
    }
    Ok(out)
}

/// `"VCEK"` and the other unit variants, or `{"OTHER": "<guid>"}`.
fn cert_type_name(v: &Value, path: &str) -> Result<String> {
    match v {
        Value::String(s) => CERT_TYPES
            .iter()
            .find(|(name, _)| name == s)
            .map(|(name, _)| (*name).to_owned())
            .ok_or_else(|| bad(path, format!("unknown certificate type {s:?}"))),
        Value::Object(m) => match (m.len(), m.get("OTHER")) {
            (1, Some(Value::String(g))) => guid_text(g)
                .ok_or_else(|| bad(&format!("{path}.OTHER"), "is not a hyphenated GUID")),
            _ => Err(bad(path, "expected a type name or {\"OTHER\": \"<guid>\"}")),
        },
        other => Err(bad(
            path,
            format!("is {}, expected a string or an object", kind(other)),
        )),
    }
}

/// A GUID in the hyphenated text form uuid serializes (8-4-4-4-12 hex
/// digits), lower-cased; `None` for anything else.
fn guid_text(s: &str) -> Option<String> {
    let groups: Vec<&str> = s.split('-').collect();
    let lens: Vec<usize> = groups.iter().map(|g| g.len()).collect();
    let ok = lens == [8, 4, 4, 4, 12]
        && groups
            .iter()
            .all(|g| g.chars().all(|c| c.is_ascii_hexdigit()));
    ok.then(|| s.to_ascii_lowercase())
}

/// The `cert_type` value for a certificate name: a sev type name (any case,
/// so the certificate table's `vcek` works too) or a GUID, which becomes the
/// named type when it is one (as sev does when it reads the firmware's
/// table) and `{"OTHER": guid}` otherwise.
fn cert_type_json(name: &str, index: usize) -> Result<Value> {
    if let Some((n, _)) = CERT_TYPES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
    {
        return Ok(Value::from(*n));
    }
    let guid = guid_text(name).ok_or_else(|| {
        bad(
            &format!("certs[{index}]"),
            format!("{name:?} is neither a certificate type nor a GUID"),
        )
    })?;
    Ok(match CERT_TYPES.iter().find(|(_, g)| *g == guid) {
        Some((n, _)) => Value::from(*n),
        None => {
            let mut m = Map::new();
            m.insert("OTHER".into(), Value::from(guid));
            Value::Object(m)
        }
    })
}

/// Encodes a raw report and its certificates as guest-components JSON, the
/// members in sev 6.3.1's declaration order. The report must parse
/// ([`Report::parse`]: known version, reserved bytes zero) and must be one
/// sev 6.3.1 can serialize: its TCB reserved bytes zero, and its TCB layout
/// knowable (a known CPUID for version 3 and later, an unmasked chip ID for
/// version 2). Then [`decode`] gives back exactly `report`.
pub fn encode(report: &[u8], certs: &[(String, Vec<u8>)]) -> Result<Value> {
    let r = Report::parse(report)?;
    let turin = match r.cpuid {
        Some((fam, model, _)) => Product::from_cpuid(fam, model)
            .ok_or_else(|| Error::Unsupported {
                field: "cpuid for guest-components JSON",
                value: format!(
                    "family 0x{fam:x} model 0x{model:x} (sev 6.3.1 knows no TCB layout for it)"
                ),
            })?
            .has_fmc(),
        None if r.chip_id_masked() => {
            return Err(Error::Unsupported {
                field: "chip id for guest-components JSON",
                value: "masked in a version-2 report (sev 6.3.1 cannot tell its TCB layout)".into(),
            });
        }
        None => chip_id_turin_like(&r.chip_id),
    };
    for ((name, _), raw) in
        TCB_FIELDS
            .iter()
            .zip([r.current_tcb, r.reported_tcb, r.committed_tcb, r.launch_tcb])
    {
        if !TcbJson::reserved_zero(raw, turin) {
            return Err(Error::Unsupported {
                field: "tcb for guest-components JSON",
                value: format!(
                    "{name} 0x{raw:016x} has non-zero reserved bytes, which the JSON cannot carry"
                ),
            });
        }
    }
    let sig = |range: std::ops::Range<usize>| report.get(range).map(bytes_json);
    let (Some(sig_r), Some(sig_s)) = (sig(0x2A0..0x2E8), sig(0x2E8..0x330)) else {
        return Err(Error::Evidence("report shorter than its signature".into()));
    };
    let opt = |v: Option<u8>| v.map_or(Value::Null, Value::from);
    let (fam, model, step) = match r.cpuid {
        Some((f, m, s)) => (Some(f), Some(m), Some(s)),
        None => (None, None, None),
    };

    let mut m = Map::new();
    m.insert("version".into(), r.version.into());
    m.insert("guest_svn".into(), r.guest_svn.into());
    m.insert("policy".into(), r.policy.0.into());
    m.insert("family_id".into(), bytes_json(&r.family_id));
    m.insert("image_id".into(), bytes_json(&r.image_id));
    m.insert("vmpl".into(), r.vmpl.into());
    m.insert("sig_algo".into(), r.signature_algo.into());
    m.insert("current_tcb".into(), TcbJson::to_json(r.current_tcb, turin));
    m.insert("plat_info".into(), r.platform_info.into());
    m.insert("key_info".into(), r.flags.into());
    m.insert("report_data".into(), bytes_json(&r.report_data));
    m.insert("measurement".into(), bytes_json(&r.measurement));
    m.insert("host_data".into(), bytes_json(&r.host_data));
    m.insert("id_key_digest".into(), bytes_json(&r.id_key_digest));
    m.insert("author_key_digest".into(), bytes_json(&r.author_key_digest));
    m.insert("report_id".into(), bytes_json(&r.report_id));
    m.insert("report_id_ma".into(), bytes_json(&r.report_id_ma));
    m.insert(
        "reported_tcb".into(),
        TcbJson::to_json(r.reported_tcb, turin),
    );
    m.insert("cpuid_fam_id".into(), opt(fam));
    m.insert("cpuid_mod_id".into(), opt(model));
    m.insert("cpuid_step".into(), opt(step));
    m.insert("chip_id".into(), bytes_json(&r.chip_id));
    m.insert(
        "committed_tcb".into(),
        TcbJson::to_json(r.committed_tcb, turin),
    );
    m.insert("current".into(), version_json(r.current_version));
    m.insert("committed".into(), version_json(r.committed_version));
    m.insert("launch_tcb".into(), TcbJson::to_json(r.launch_tcb, turin));
    m.insert(
        "launch_mit_vector".into(),
        r.launch_mit_vector.map_or(Value::Null, Value::from),
    );
    m.insert(
        "current_mit_vector".into(),
        r.current_mit_vector.map_or(Value::Null, Value::from),
    );
    let mut s = Map::new();
    s.insert("r".into(), sig_r);
    s.insert("s".into(), sig_s);
    m.insert("signature".into(), Value::Object(s));

    let cert_chain = if certs.is_empty() {
        Value::Null
    } else {
        let mut list = Vec::with_capacity(certs.len());
        for (i, (name, data)) in certs.iter().enumerate() {
            let mut e = Map::new();
            e.insert("cert_type".into(), cert_type_json(name, i)?);
            e.insert("data".into(), bytes_json(data));
            list.push(Value::Object(e));
        }
        Value::Array(list)
    };
    let mut top = Map::new();
    top.insert("attestation_report".into(), Value::Object(m));
    top.insert("cert_chain".into(), cert_chain);
    Ok(Value::Object(top))
}

//! The TCG Canonical Event Log (CEL) in its TLV encoding, as Google's
//! Confidential Space launcher writes it, and the COS events it carries.
//!
//! The launcher measures the workload (image reference and digest, restart
//! policy, image ID, arguments, environment, the launch separator, memory
//! monitoring) into PCR 13 of the vTPM, or into CCMR 4 (RTMR3) on TDX, and
//! appends each measurement to this log. A relying party learns which
//! container ran only by replaying the log into the register a quote signs.
//!
//! Encoding (go-tpm-tools `cel/cos_tlv.go`, go-eventlog `cel`, after
//! TCG_IWG_CEL_v1_r0p37): a TLV is a type byte, a big-endian u32 length and
//! the value. A record is four TLVs in this order: RECNUM (type 0, u64),
//! the register (PCR, type 1, or CCMR, type 108, one byte), DIGESTS (type
//! 3, nested TLVs typed by the low byte of the TPM_ALG_ID) and the content.
//! A COS content (type 80) nests one TLV whose type is the COS event type.
//! Each digest is the hash of the content TLV as encoded (type, length,
//! value): the bytes received are hashed, never a re-encoding.
//!
//! Choices: records must be numbered 0, 1, 2, ... ; every digest of every
//! record is recomputed; a content type other than COS is refused (its
//! digest rule is not known here, so what it says could not be checked).
//! [`parse`] keeps an unknown COS event type (its digest is checked) and
//! [`Cel::events_json`] shows it, but [`Cel::cos_claims`] refuses it, as
//! Google's own verifier does (`getVerifiedCosState` in go-tpm-tools'
//! server): what a new type changes (an override?) is not known, so the
//! named claims could mislead. `cos_claims` also refuses, as that verifier
//! does, a COS event outside PCR 13 / CCMR 4 and any event after the launch
//! separator; and, stricter than it, a single-valued event or an
//! environment variable that appears twice.

use std::collections::BTreeMap;
use std::fmt;

use rootline_core::{Digest, HashAlg, Reader};
use serde_json::{Map, Value, json};

use crate::Error;

/// At most this many records. Confidential Space writes a few dozen (one
/// per argument and environment variable); a log of thousands is not a
/// launcher's.
pub const MAX_RECORDS: usize = 4096;
/// At most this many bytes in the whole log.
pub const MAX_LOG_BYTES: usize = 4 << 20;
/// At most this many bytes in one record's content.
pub const MAX_CONTENT_BYTES: usize = 256 << 10;

/// The register field's TLV type (CEL spec 5.1, and go-tpm-tools' CCMR
/// extension).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IndexType(pub u8);

impl IndexType {
    /// CEL_PCR (CEL 5.1): a TPM PCR index.
    pub const PCR: Self = Self(1);
    /// CEL_NV_INDEX (CEL 5.1): not written by go-tpm-tools, refused.
    pub const NV_INDEX: Self = Self(2);
    /// A confidential-computing measurement register (UEFI 2.10 section
    /// 38.4.1 CC_MR index: 0 MRTD, 1..=4 RTMR0..=3); go-tpm-tools'
    /// `CCMRTypeValue`, not in the CEL spec.
    pub const CCMR: Self = Self(108);
}

impl fmt::Debug for IndexType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::PCR => f.write_str("pcr"),
            Self::CCMR => f.write_str("ccmr"),
            Self(v) => write!(f, "index_type_0x{v:02x}"),
        }
    }
}

impl fmt::Display for IndexType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A record's content type.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContentType(pub u8);

impl ContentType {
    /// A COS event (go-tpm-tools `cel.CosEventType`, not yet reserved in the
    /// CEL spec).
    pub const COS: Self = Self(80);
}

impl fmt::Debug for ContentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::COS => f.write_str("cos"),
            Self(v) => write!(f, "content_type_0x{v:02x}"),
        }
    }
}

/// A COS event's type (go-tpm-tools `cel.CosType`, numbered in order from 0).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CosType(pub u8);

impl CosType {
    /// The container image reference (`ImageRefType`).
    pub const IMAGE_REF: Self = Self(0);
    /// The image's manifest digest (`ImageDigestType`).
    pub const IMAGE_DIGEST: Self = Self(1);
    /// The restart policy (`RestartPolicyType`).
    pub const RESTART_POLICY: Self = Self(2);
    /// The image ID, the config's digest (`ImageIDType`).
    pub const IMAGE_ID: Self = Self(3);
    /// One argument (`ArgType`).
    pub const ARG: Self = Self(4);
    /// One environment variable, `NAME=value` (`EnvVarType`).
    pub const ENV_VAR: Self = Self(5);
    /// One overriding argument (`OverrideArgType`).
    pub const OVERRIDE_ARG: Self = Self(6);
    /// One overriding environment variable (`OverrideEnvType`).
    pub const OVERRIDE_ENV: Self = Self(7);
    /// The launch separator: empty on success, else an error message
    /// (`LaunchSeparatorType`).
    pub const LAUNCH_SEPARATOR: Self = Self(8);
    /// Memory monitoring, one byte 0 or 1 (`MemoryMonitorType`).
    pub const MEMORY_MONITOR: Self = Self(9);
    /// The GPU confidential-computing mode (`GpuCCModeType`).
    pub const GPU_CC_MODE: Self = Self(10);
    /// A GPU attestation binding (`GPUDeviceAttestationBindingType`).
    pub const GPU_DEVICE_ATTESTATION_BINDING: Self = Self(11);

    /// The claim name of the type, or `None` for a type unknown here.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::IMAGE_REF => "image_reference",
            Self::IMAGE_DIGEST => "image_digest",
            Self::RESTART_POLICY => "restart_policy",
            Self::IMAGE_ID => "image_id",
            Self::ARG => "arg",
            Self::ENV_VAR => "env",
            Self::OVERRIDE_ARG => "override_arg",
            Self::OVERRIDE_ENV => "override_env",
            Self::LAUNCH_SEPARATOR => "launch_separator",
            Self::MEMORY_MONITOR => "memory_monitoring",
            Self::GPU_CC_MODE => "gpu_cc_mode",
            Self::GPU_DEVICE_ATTESTATION_BINDING => "gpu_device_attestation_binding",
            _ => return None,
        })
    }
}

impl fmt::Debug for CosType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "cos_type_0x{:02x}", self.0),
        }
    }
}

impl fmt::Display for CosType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A register a record extends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Register {
    /// PCR or CCMR.
    pub kind: IndexType,
    /// Its index.
    pub index: u8,
}

impl Register {
    /// The TDX RTMR a CCMR index names (UEFI 2.10 section 38.4.1: CC_MR 1..=4
    /// are RTMR0..=3; go-tpm-tools writes RTMR n as CCMR n + 1). `None` for a
    /// PCR, and for CCMR 0 (MRTD, which nothing extends at run time).
    pub fn rtmr(self) -> Option<usize> {
        match (self.kind, self.index) {
            (IndexType::CCMR, i @ 1..=4) => Some(usize::from(i) - 1),
            _ => None,
        }
    }
}

impl fmt::Display for Register {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.rtmr() {
            Some(r) => write!(f, "ccmr {} (rtmr{r})", self.index),
            None => write!(f, "{} {}", self.kind, self.index),
        }
    }
}

/// The register Confidential Space measures into on a vTPM
/// (go-tpm-tools `cel.CosEventPCR`).
pub const COS_PCR: Register = Register {
    kind: IndexType::PCR,
    index: 13,
};
/// The register it measures into on TDX: CCMR 4, RTMR3
/// (go-tpm-tools `cel.CosCCELMRIndex`).
pub const COS_CCMR: Register = Register {
    kind: IndexType::CCMR,
    index: 4,
};

/// A COS event: its type and value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CosEvent {
    /// Its type.
    pub kind: CosType,
    /// Its value as measured.
    pub value: Vec<u8>,
}

/// One record, its digests checked against its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Its record number (equal to its position).
    pub recnum: u64,
    /// The register it extends.
    pub register: Register,
    /// Its digests, one per bank, in log order.
    pub digests: Vec<Digest>,
    /// The COS event it carries.
    pub event: CosEvent,
}

/// A parsed log whose every record's digests equal the hash of its content.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cel {
    /// Its records, in order.
    pub records: Vec<Record>,
}

fn err(record: usize, field: &'static str, reason: impl Into<String>) -> Error {
    Error::Cel {
        record,
        field,
        reason: reason.into(),
    }
}

/// Reads one TLV: its type, its value, and the whole TLV as received.
fn tlv<'a>(
    r: &mut Reader<'a>,
    record: usize,
    field: &'static str,
) -> Result<(u8, &'a [u8], &'a [u8]), Error> {
    let start = r.peek_rest();
    let t = r.u8(field).map_err(|e| err(record, field, e.to_string()))?;
    let len = r
        .u32_be(field)
        .map_err(|e| err(record, field, e.to_string()))? as usize;
    let value = r
        .take(len, field)
        .map_err(|e| err(record, field, e.to_string()))?;
    let whole = start.get(..5 + len).unwrap_or(start);
    Ok((t, value, whole))
}

/// Parses a log and checks each record's digests against its content.
pub fn parse(bytes: &[u8]) -> Result<Cel, Error> {
    if bytes.is_empty() {
        return Err(Error::Empty);
    }
    if bytes.len() > MAX_LOG_BYTES {
        return Err(err(
            0,
            "log",
            format!(
                "{} bytes, more than the {MAX_LOG_BYTES} accepted",
                bytes.len()
            ),
        ));
    }
    let mut r = Reader::new(bytes);
    let mut records = Vec::new();
    while !r.is_empty() {
        let n = records.len();
        if n >= MAX_RECORDS {
            return Err(err(n, "log", format!("more than {MAX_RECORDS} records")));
        }
        records.push(record(&mut r, n)?);
    }
    Ok(Cel { records })
}

fn record(r: &mut Reader<'_>, n: usize) -> Result<Record, Error> {
    let (t, v, _) = tlv(r, n, "recnum")?;
    if t != 0 {
        return Err(err(n, "recnum", format!("type is {t}, not RECNUM 0")));
    }
    let recnum: [u8; 8] = v
        .try_into()
        .map_err(|_| err(n, "recnum", format!("length is {}, not 8", v.len())))?;
    let recnum = u64::from_be_bytes(recnum);
    if recnum != n as u64 {
        return Err(err(
            n,
            "recnum",
            format!(
                "record number is {recnum}, expected {n}: records must be numbered from 0 without gaps"
            ),
        ));
    }

    let (t, v, _) = tlv(r, n, "register")?;
    let kind = IndexType(t);
    if kind != IndexType::PCR && kind != IndexType::CCMR {
        return Err(err(
            n,
            "register",
            format!("type is {t}, neither PCR 1 nor CCMR 108"),
        ));
    }
    let index = match v {
        [i] => *i,
        _ => {
            return Err(err(n, "register", format!("length is {}, not 1", v.len())));
        }
    };
    let register = Register { kind, index };

    let (t, v, _) = tlv(r, n, "digests")?;
    if t != 3 {
        return Err(err(n, "digests", format!("type is {t}, not DIGESTS 3")));
    }
    let mut dr = Reader::new(v);
    let mut digests: Vec<Digest> = Vec::new();
    while !dr.is_empty() {
        let (alg, d, _) = tlv(&mut dr, n, "digests")?;
        let alg = HashAlg(u16::from(alg));
        let Some(len) = alg.digest_len().filter(|_| alg.hasher().is_some()) else {
            return Err(err(
                n,
                "digests",
                format!("unsupported hash algorithm {alg}"),
            ));
        };
        if d.len() != len {
            return Err(err(
                n,
                "digests",
                format!("{alg} digest is {} bytes, not {len}", d.len()),
            ));
        }
        if digests.iter().any(|x| x.alg == alg) {
            return Err(err(n, "digests", format!("{alg} appears twice")));
        }
        digests.push(Digest::new(alg, d));
    }
    if digests.is_empty() {
        return Err(err(n, "digests", "no digest"));
    }

    let (t, v, whole) = tlv(r, n, "content")?;
    if ContentType(t) != ContentType::COS {
        return Err(err(
            n,
            "content",
            format!(
                "type is {t}, not COS 80: rootline cannot check what another content type says against its digest"
            ),
        ));
    }
    if v.len() > MAX_CONTENT_BYTES {
        return Err(err(
            n,
            "content",
            format!(
                "{} bytes, more than the {MAX_CONTENT_BYTES} accepted",
                v.len()
            ),
        ));
    }
    let mut cr = Reader::new(v);
    let (kind, value, _) = tlv(&mut cr, n, "content")?;
    if !cr.is_empty() {
        return Err(err(
            n,
            "content",
            format!("{} bytes after the COS event", cr.remaining()),
        ));
    }
    for d in &digests {
        let Some(computed) = d.alg.hash(whole) else {
            return Err(err(n, "digests", format!("cannot compute {}", d.alg)));
        };
        if computed.bytes != d.bytes {
            return Err(err(
                n,
                "digests",
                format!(
                    "the {} digest is {}, the hash of the content is {}",
                    d.alg,
                    d.hex(),
                    computed.hex()
                ),
            ));
        }
    }
    Ok(Record {
        recnum,
        register,
        digests,
        event: CosEvent {
            kind: CosType(kind),
            value: value.to_vec(),
        },
    })
}

impl Cel {
    /// Replays the records from zero: per register, per bank, the final
    /// value. Every record extending a register must carry the banks its
    /// first record carries, so that no bank's replay skips a record.
    pub fn replay(&self) -> Result<BTreeMap<Register, BTreeMap<HashAlg, Digest>>, Error> {
        let mut out: BTreeMap<Register, BTreeMap<HashAlg, Digest>> = BTreeMap::new();
        for (n, rec) in self.records.iter().enumerate() {
            let banks = out.entry(rec.register).or_default();
            if banks.is_empty() {
                for d in &rec.digests {
                    let zero = d
                        .alg
                        .zero()
                        .ok_or_else(|| err(n, "digests", format!("cannot compute {}", d.alg)))?;
                    banks.insert(d.alg, zero);
                }
            }
            if banks.len() != rec.digests.len() {
                return Err(err(
                    n,
                    "digests",
                    format!(
                        "{} banks, while the first record for {} carries {}",
                        rec.digests.len(),
                        rec.register,
                        banks.len()
                    ),
                ));
            }
            for d in &rec.digests {
                let Some(reg) = banks.get_mut(&d.alg) else {
                    return Err(err(
                        n,
                        "digests",
                        format!(
                            "a {} digest, which the first record for {} does not carry",
                            d.alg, rec.register
                        ),
                    ));
                };
                reg.extend(&d.bytes)
                    .ok_or_else(|| err(n, "digests", format!("cannot compute {}", d.alg)))?;
            }
        }
        Ok(out)
    }

    /// The COS events as claims: `{image_reference, image_digest,
    /// restart_policy, image_id, args, env, override_args, override_env,
    /// launch_separator, launch_error, memory_monitoring, gpu_cc_mode}`
    /// (each only when logged). Refused: a single-valued event logged
    /// twice (which one ran would be ambiguous), an unknown COS type, an
    /// event outside PCR 13 / CCMR 4 or after the launch separator.
    pub fn cos_claims(&self) -> Result<Map<String, Value>, Error> {
        let mut m = Map::new();
        let mut args = Vec::new();
        let mut override_args = Vec::new();
        let mut env = Map::new();
        let mut override_env = Map::new();
        let mut separated = false;
        for (n, rec) in self.records.iter().enumerate() {
            let ev = &rec.event;
            if rec.register != COS_PCR && rec.register != COS_CCMR {
                return Err(err(
                    n,
                    "register",
                    format!(
                        "a COS event in {}: the launcher measures into pcr 13 or ccmr 4 (rtmr3)",
                        rec.register
                    ),
                ));
            }
            if separated {
                return Err(err(
                    n,
                    "content",
                    format!(
                        "a {} event after the launch separator: the launcher measures nothing after it",
                        ev.kind
                    ),
                ));
            }
            let text = || {
                String::from_utf8(ev.value.clone())
                    .map_err(|_| err(n, "content", format!("{} is not UTF-8", ev.kind)))
            };
            let single = |m: &mut Map<String, Value>, key: &'static str, v: Value| {
                if m.insert(key.into(), v).is_some() {
                    Err(err(
                        n,
                        "content",
                        format!("a second {} event: which one applies is ambiguous", ev.kind),
                    ))
                } else {
                    Ok(())
                }
            };
            match ev.kind {
                CosType::IMAGE_REF
                | CosType::IMAGE_DIGEST
                | CosType::RESTART_POLICY
                | CosType::IMAGE_ID
                | CosType::GPU_CC_MODE => {
                    let key = ev.kind.name().unwrap_or("unknown");
                    single(&mut m, key, json!(text()?))?;
                }
                CosType::LAUNCH_SEPARATOR => {
                    separated = true;
                    single(&mut m, "launch_separator", json!(true))?;
                    if !ev.value.is_empty() {
                        m.insert(
                            "launch_error".into(),
                            json!(String::from_utf8_lossy(&ev.value)),
                        );
                    }
                }
                CosType::MEMORY_MONITOR => {
                    let on = match ev.value.as_slice() {
                        [0] => false,
                        [1] => true,
                        _ => {
                            return Err(err(
                                n,
                                "content",
                                "memory_monitoring is not one byte 0 or 1",
                            ));
                        }
                    };
                    single(&mut m, "memory_monitoring", json!(on))?;
                }
                CosType::ARG => args.push(json!(text()?)),
                CosType::OVERRIDE_ARG => override_args.push(json!(text()?)),
                CosType::ENV_VAR | CosType::OVERRIDE_ENV => {
                    let s = text()?;
                    let Some((k, v)) = s.split_once('=') else {
                        return Err(err(n, "content", format!("{} has no '='", ev.kind)));
                    };
                    let map = if ev.kind == CosType::ENV_VAR {
                        &mut env
                    } else {
                        &mut override_env
                    };
                    if map.insert(k.into(), json!(v)).is_some() {
                        return Err(err(
                            n,
                            "content",
                            format!(
                                "{} {k} is set twice: which value applies is ambiguous",
                                ev.kind
                            ),
                        ));
                    }
                }
                // A GPU attestation binding (a protobuf): in `events` only.
                CosType::GPU_DEVICE_ATTESTATION_BINDING => {}
                other => {
                    return Err(err(
                        n,
                        "content",
                        format!(
                            "unknown COS event type {other}: what it would change is not known"
                        ),
                    ));
                }
            }
        }
        m.insert("args".into(), Value::Array(args));
        m.insert("env".into(), Value::Object(env));
        if !override_args.is_empty() {
            m.insert("override_args".into(), Value::Array(override_args));
        }
        if !override_env.is_empty() {
            m.insert("override_env".into(), Value::Object(override_env));
        }
        Ok(m)
    }

    /// Every record as `{recnum, pcr | ccmr, type, value | value_hex,
    /// digests {bank: hex}}`: `value` when the content is UTF-8 text.
    pub fn events_json(&self) -> Value {
        Value::Array(
            self.records
                .iter()
                .map(|rec| {
                    let mut e = Map::new();
                    e.insert("recnum".into(), json!(rec.recnum));
                    let key = if rec.register.kind == IndexType::CCMR {
                        "ccmr"
                    } else {
                        "pcr"
                    };
                    e.insert(key.into(), json!(rec.register.index));
                    e.insert("type".into(), json!(rec.event.kind.to_string()));
                    match std::str::from_utf8(&rec.event.value) {
                        Ok(s) if rec.event.kind != CosType::MEMORY_MONITOR => {
                            e.insert("value".into(), json!(s))
                        }
                        _ => e.insert("value_hex".into(), json!(hex::encode(&rec.event.value))),
                    };
                    let digests: Map<String, Value> = rec
                        .digests
                        .iter()
                        .map(|d| (d.alg.to_string(), json!(d.hex())))
                        .collect();
                    e.insert("digests".into(), Value::Object(digests));
                    Value::Object(e)
                })
                .collect(),
        )
    }

    /// The log written again with [`encode`] from its parsed records (their
    /// registers, banks and COS contents): a log that parsed re-encodes to
    /// exactly the bytes received, since each digest was recomputed from its
    /// content and the encoding has one form.
    pub fn encode(&self) -> Vec<u8> {
        let banks: Vec<Vec<HashAlg>> = self
            .records
            .iter()
            .map(|r| r.digests.iter().map(|d| d.alg).collect())
            .collect();
        let records: Vec<_> = self
            .records
            .iter()
            .zip(&banks)
            .map(|(r, b)| {
                (
                    r.register,
                    b.as_slice(),
                    r.event.kind,
                    r.event.value.as_slice(),
                )
            })
            .collect();
        encode(&records)
    }
}

/// Encodes records as go-tpm-tools does, for tests and fixtures: each
/// `(register, banks, cos type, value)` becomes a record numbered by its
/// position, with its digests computed over the content TLV.
pub fn encode(records: &[(Register, &[HashAlg], CosType, &[u8])]) -> Vec<u8> {
    fn put(out: &mut Vec<u8>, t: u8, v: &[u8]) {
        out.push(t);
        out.extend_from_slice(&u32::try_from(v.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(v);
    }
    let mut out = Vec::new();
    for (n, (reg, banks, kind, value)) in records.iter().enumerate() {
        let mut inner = Vec::new();
        put(&mut inner, kind.0, value);
        let mut content = Vec::new();
        put(&mut content, ContentType::COS.0, &inner);
        let mut digests = Vec::new();
        for alg in *banks {
            if let (Ok(t), Some(d)) = (u8::try_from(alg.0), alg.hash(&content)) {
                put(&mut digests, t, &d.bytes);
            }
        }
        put(&mut out, 0, &(n as u64).to_be_bytes());
        put(&mut out, reg.kind.0, &[reg.index]);
        put(&mut out, 3, &digests);
        out.extend_from_slice(&content);
    }
    out
}

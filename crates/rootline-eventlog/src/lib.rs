//! TCG event logs: parse, replay, explain.
//!
//! Measured boot writes each measurement twice: folded into a register (a TPM
//! PCR, a TDX RTMR) and appended to a log. A verifier trusts the register,
//! because hardware signed it, and reads the log, because only the log says
//! what was measured. This crate parses the logs, replays them into register
//! values and explains every difference from the signed values.
//!
//! Formats:
//! - TCG PC Client Platform Firmware Profile logs, both the SHA-1 legacy
//!   format (TCG_PCClientPCREvent) and the crypto-agile format (TCG_PCR_EVENT2
//!   after a Spec ID event), with digest sizes taken from the Spec ID event;
//! - the TDX CCEL log (crypto-agile, SHA-384, MR index in place of the PCR);
//! - the Linux IMA binary runtime measurement list ([`ima`]);
//! - the TCG Canonical Event Log in go-tpm-tools' TLV encoding, with the
//!   COS events of GCP Confidential Space ([`cel`]).
//!
//! Firmware quirks (trailing bytes, a truncated last event, a missing
//! ExitBootServices event) are tolerated where the vendors' tools tolerate
//! them and always reported in [`EventLog::warnings`]; nothing that could
//! change a replay result is skipped silently.
//!
//! Non-goals: no I/O, no policy. Deciding whether a replayed value is
//! acceptable belongs to appraisal.
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

pub mod builder;
pub mod ccel;
pub mod cel;
pub mod decode;
pub mod ima;
pub mod pcrs;
pub mod quoted;
pub mod replay;
mod types;

use rootline_core::{CodecError, Digest, HashAlg, Reader};
use serde::Serialize;

pub use decode::EventData;
pub use pcrs::PcrValues;
pub use replay::{Mismatch, Replay};
pub use types::{EventType, Guid};

/// Why a log could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes do not form a log at all.
    #[error("malformed event log: {0}")]
    Malformed(CodecError),
    /// The log is empty.
    #[error("the event log is empty")]
    Empty,
    /// The log holds nothing but fill bytes (all zero or all 0xff): an
    /// unused log area, not a log.
    #[error("the event log holds only {0} fill bytes (all zero or all 0xff) and no event")]
    OnlyPadding(usize),
    /// The Spec ID event is malformed.
    #[error("malformed Spec ID event: {0}")]
    SpecId(String),
    /// An event in a crypto-agile log names an algorithm the Spec ID event did not list.
    #[error(
        "event {index} at offset {offset} carries a digest of {alg}, which the Spec ID event does not list"
    )]
    UnlistedAlgorithm {
        /// Event number.
        index: usize,
        /// Offset of the event.
        offset: usize,
        /// The algorithm.
        alg: HashAlg,
    },
    /// A PCR value file could not be read.
    #[error("malformed PCR values: {0}")]
    Pcrs(String),
    /// A canonical event log record is malformed or contradicts itself.
    #[error("canonical event log record {record}: {field}: {reason}")]
    Cel {
        /// The record's position in the log (its expected record number).
        record: usize,
        /// The field.
        field: &'static str,
        /// Why.
        reason: String,
    },
}

impl From<CodecError> for Error {
    fn from(e: CodecError) -> Self {
        Self::Malformed(e)
    }
}

/// Which of the two PC Client log formats a log uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    /// SHA-1 only TCG_PCClientPCREvent records (TPM 1.2 style).
    Sha1,
    /// TCG_PCR_EVENT2 records after a "Spec ID Event03" header.
    CryptoAgile,
}

/// One algorithm listed in the Spec ID event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpecAlgorithm {
    /// The algorithm.
    pub alg: HashAlg,
    /// Its digest size as the log declares it.
    pub digest_size: u16,
}

/// The Spec ID event of a crypto-agile log (PFP 10.4.5.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpecId {
    /// The signature, "Spec ID Event03".
    pub signature: String,
    /// Platform class.
    pub platform_class: u32,
    /// Spec version major.
    pub spec_version_major: u8,
    /// Spec version minor.
    pub spec_version_minor: u8,
    /// Spec errata.
    pub spec_errata: u8,
    /// Size of UINTN in the firmware (1 = 32 bit, 2 = 64 bit).
    pub uintn_size: u8,
    /// Algorithms and digest sizes every following event carries.
    pub algorithms: Vec<SpecAlgorithm>,
    /// Vendor information bytes.
    #[serde(serialize_with = "ser_hex")]
    pub vendor_info: Vec<u8>,
}

fn ser_hex<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(v))
}

/// One event of the log.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// Position in the log, counting from 0 (the header event, when there is one, is not counted).
    pub index: usize,
    /// Byte offset of the event in the log.
    pub offset: usize,
    /// PCR index (or, in a CCEL log, the CC measurement-register index).
    pub pcr: u32,
    /// Event type.
    pub event_type: EventType,
    /// Digests, one per bank.
    pub digests: Vec<Digest>,
    /// The event data as it appears in the log.
    #[serde(serialize_with = "ser_hex")]
    pub data: Vec<u8>,
}

impl Event {
    /// The digest for `alg`, if the event carries one.
    pub fn digest(&self, alg: HashAlg) -> Option<&Digest> {
        self.digests.iter().find(|d| d.alg == alg)
    }

    /// The typed decoding of the event data.
    pub fn decoded(&self) -> EventData {
        decode::decode(self.event_type, &self.data)
    }

    /// One line a person can read: type and decoded data.
    pub fn describe(&self) -> String {
        format!("{} {}", self.event_type, self.decoded().summary())
    }

    /// True when this event is extended into a register (everything but EV_NO_ACTION).
    pub fn is_extended(&self) -> bool {
        self.event_type != EventType::EV_NO_ACTION
    }
}

/// A parsed log.
#[derive(Debug, Clone, Serialize)]
pub struct EventLog {
    /// The format.
    pub format: LogFormat,
    /// The Spec ID event of a crypto-agile log.
    pub spec_id: Option<SpecId>,
    /// The events after the header.
    pub events: Vec<Event>,
    /// Locality from a StartupLocality event, which sets PCR 0's initial value.
    pub startup_locality: Option<u8>,
    /// Bytes parsed into events.
    pub parsed_bytes: usize,
    /// Bytes in the input.
    pub total_bytes: usize,
    /// Quirks that were tolerated.
    pub warnings: Vec<String>,
}

const SPEC_ID_03: &[u8] = b"Spec ID Event03\0";
const SPEC_ID_00: &[u8] = b"Spec ID Event00\0";
const STARTUP_LOCALITY: &[u8] = b"StartupLocality\0";

impl EventLog {
    /// Parses a TCG PC Client log (either format) or a CCEL log.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.is_empty() {
            return Err(Error::Empty);
        }
        // Hardening finding 12: a log of zeros parsed as one EV_PREBOOT_CERT
        // event with a zero digest and replayed with exit 0.
        if is_padding(bytes) {
            return Err(Error::OnlyPadding(bytes.len()));
        }
        let mut r = Reader::new(bytes);
        // The first event is always in the SHA-1 format (PFP 10.2.1).
        let first = read_sha1_event(&mut r, 0)?;
        let mut log = EventLog {
            format: LogFormat::Sha1,
            spec_id: None,
            events: Vec::new(),
            startup_locality: None,
            parsed_bytes: 0,
            total_bytes: bytes.len(),
            warnings: Vec::new(),
        };
        // PFP puts the Spec ID event in PCR 0; TDVF's CCEL puts it at MR index 1.
        let is_agile =
            first.event_type == EventType::EV_NO_ACTION && first.data.starts_with(SPEC_ID_03);
        if is_agile {
            log.format = LogFormat::CryptoAgile;
            let spec = parse_spec_id(&first.data, &mut log.warnings)?;
            log.parsed_bytes = r.offset();
            let sizes: Vec<(HashAlg, usize)> = spec
                .algorithms
                .iter()
                .map(|a| (a.alg, a.digest_size as usize))
                .collect();
            log.spec_id = Some(spec);
            while !r.is_empty() {
                let start = r.offset();
                if is_padding(r.peek_rest()) {
                    log.padding(start, r.peek_rest().len());
                    break;
                }
                let mut attempt = r.clone();
                match read_agile_event(&mut attempt, log.events.len(), &sizes) {
                    Ok(ev) => {
                        r = attempt;
                        log.push(ev);
                        log.parsed_bytes = r.offset();
                    }
                    Err(e) => {
                        log.stop_at(start, r.peek_rest(), &e);
                        break;
                    }
                }
            }
        } else {
            if first.data.starts_with(SPEC_ID_00) {
                // TPM 1.2 logs start with a Spec ID Event00 header; keep it out of the events.
            } else {
                log.push(first);
            }
            log.parsed_bytes = r.offset();
            while !r.is_empty() {
                let start = r.offset();
                if is_padding(r.peek_rest()) {
                    log.padding(start, r.peek_rest().len());
                    break;
                }
                let mut attempt = r.clone();
                match read_sha1_event(&mut attempt, log.events.len()) {
                    Ok(ev) => {
                        r = attempt;
                        log.push(ev);
                        log.parsed_bytes = r.offset();
                    }
                    Err(e) => {
                        log.stop_at(start, r.peek_rest(), &e);
                        break;
                    }
                }
            }
        }
        log.check_quirks();
        Ok(log)
    }

    /// The events after the header.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// Banks this log can replay: those of the Spec ID event, or SHA-1.
    pub fn banks(&self) -> Vec<HashAlg> {
        match &self.spec_id {
            Some(s) => s.algorithms.iter().map(|a| a.alg).collect(),
            None => vec![HashAlg::SHA1],
        }
    }

    /// Replays every bank into register values.
    pub fn replay(&self) -> Replay {
        replay::replay(self)
    }

    /// True when parsing stopped before the end of the input.
    pub fn is_truncated(&self) -> bool {
        self.parsed_bytes < self.total_bytes
    }

    fn push(&mut self, mut ev: Event) {
        ev.index = self.events.len();
        if ev.event_type == EventType::EV_NO_ACTION
            && ev.pcr == 0
            && ev.data.starts_with(STARTUP_LOCALITY)
        {
            match ev.data.get(STARTUP_LOCALITY.len()) {
                Some(l) => self.startup_locality = Some(*l),
                None => self.warnings.push(format!(
                    "event {} (StartupLocality) has no locality byte; PCR 0 starts at zero",
                    ev.index
                )),
            }
        }
        self.events.push(ev);
    }

    fn padding(&mut self, offset: usize, n: usize) {
        self.warnings.push(format!(
            "{n} bytes of padding after the last event at offset {offset} were ignored"
        ));
    }

    fn stop_at(&mut self, offset: usize, rest: &[u8], err: &Error) {
        let n = rest.len();
        if is_padding(rest) {
            self.padding(offset, n);
        } else {
            self.warnings.push(format!(
                "the log is truncated or corrupt at offset {offset} ({err}); the last {n} bytes were not replayed"
            ));
        }
    }

    fn check_quirks(&mut self) {
        let ebs = self.events.iter().any(|e| {
            e.event_type == EventType::EV_EFI_ACTION
                && e.data.starts_with(b"Exit Boot Services Invocation")
        });
        let uefi = self
            .events
            .iter()
            .any(|e| e.event_type == EventType::EV_EFI_BOOT_SERVICES_APPLICATION);
        if uefi && !ebs {
            self.warnings.push(
                "no ExitBootServices event: the log may end before the OS took over (a known firmware quirk); PCR 5 may carry measurements the log does not show"
                    .into(),
            );
        }
        for e in &self.events {
            if e.is_extended() && e.pcr > 23 && self.spec_id.is_some() {
                self.warnings.push(format!(
                    "event {} extends register {}, which no TPM has; it is not replayed",
                    e.index, e.pcr
                ));
            }
        }
    }
}

/// A log area's unused tail: all zero (CCEL, some firmware) or all ones
/// (erased flash). Only checked when the next header looks like it, so the
/// scan stays linear.
fn is_padding(rest: &[u8]) -> bool {
    let head = rest.get(..rest.len().min(12)).unwrap_or(rest);
    let fill = match head.first() {
        Some(b @ (0 | 0xff)) => *b,
        _ => return false,
    };
    head.iter().all(|b| *b == fill) && rest.iter().all(|b| *b == fill)
}

fn read_sha1_event(r: &mut Reader<'_>, index: usize) -> Result<Event, Error> {
    let offset = r.offset();
    let pcr = r.u32_le("pcr index")?;
    let event_type = EventType(r.u32_le("event type")?);
    let digest = r.array::<20>("sha1 digest")?;
    let data = r.vec_u32_le("event data")?.to_vec();
    Ok(Event {
        index,
        offset,
        pcr,
        event_type,
        digests: vec![Digest::new(HashAlg::SHA1, digest.to_vec())],
        data,
    })
}

fn read_agile_event(
    r: &mut Reader<'_>,
    index: usize,
    sizes: &[(HashAlg, usize)],
) -> Result<Event, Error> {
    let offset = r.offset();
    let pcr = r.u32_le("pcr index")?;
    let event_type = EventType(r.u32_le("event type")?);
    let count = r.u32_le("digest count")? as usize;
    if count == 0 || count > sizes.len() {
        return Err(r
            .invalid(
                "digest count",
                format!(
                    "{count} digests, but the Spec ID event lists {} algorithms",
                    sizes.len()
                ),
            )
            .into());
    }
    let mut digests = Vec::with_capacity(count);
    for _ in 0..count {
        let alg = HashAlg(r.u16_le("digest algorithm")?);
        let size = sizes
            .iter()
            .find(|(a, _)| *a == alg)
            .map(|(_, s)| *s)
            .ok_or(Error::UnlistedAlgorithm { index, offset, alg })?;
        digests.push(Digest::new(alg, r.take(size, "digest")?.to_vec()));
    }
    let data = r.vec_u32_le("event data")?.to_vec();
    Ok(Event {
        index,
        offset,
        pcr,
        event_type,
        digests,
        data,
    })
}

fn parse_spec_id(data: &[u8], warnings: &mut Vec<String>) -> Result<SpecId, Error> {
    let mut r = Reader::new(data);
    let sig = r.take(16, "signature")?;
    let signature = String::from_utf8_lossy(sig)
        .trim_end_matches('\0')
        .to_owned();
    let platform_class = r.u32_le("platformClass")?;
    let spec_version_minor = r.u8("specVersionMinor")?;
    let spec_version_major = r.u8("specVersionMajor")?;
    let spec_errata = r.u8("specErrata")?;
    let uintn_size = r.u8("uintnSize")?;
    let n = r.u32_le("numberOfAlgorithms")? as usize;
    if n == 0 || n > 16 {
        return Err(Error::SpecId(format!(
            "numberOfAlgorithms is {n}; expected 1 to 16"
        )));
    }
    let mut algorithms = Vec::with_capacity(n);
    for _ in 0..n {
        let alg = HashAlg(r.u16_le("algorithmId")?);
        let digest_size = r.u16_le("digestSize")?;
        if let Some(len) = alg.digest_len() {
            if len != digest_size as usize {
                return Err(Error::SpecId(format!(
                    "{alg} is listed with digest size {digest_size}, but its digests are {len} bytes"
                )));
            }
        }
        algorithms.push(SpecAlgorithm { alg, digest_size });
    }
    let vendor_info = match r.u8("vendorInfoSize") {
        Ok(size) => match r.take(size as usize, "vendorInfo") {
            Ok(v) => v.to_vec(),
            Err(_) => {
                warnings.push(format!(
                    "the Spec ID event declares {size} bytes of vendor info but holds {}; the vendor info is ignored",
                    r.remaining()
                ));
                r.rest().to_vec()
            }
        },
        Err(_) => {
            warnings.push("the Spec ID event has no vendorInfoSize byte".into());
            Vec::new()
        }
    };
    Ok(SpecId {
        signature,
        platform_class,
        spec_version_major,
        spec_version_minor,
        spec_errata,
        uintn_size,
        algorithms,
        vendor_info,
    })
}

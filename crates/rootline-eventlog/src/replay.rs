//! Replay: fold the log's digests into registers, and explain differences.
//!
//! A register starts at zero (PCR 0 at the StartupLocality value when the log
//! carries that event) and is extended with each event's digest for its bank:
//! `R = H(R || digest)`. EV_NO_ACTION events are never extended (PFP 10.4.1).
//! Besides the values, a replay remembers which events touched each register,
//! so that a mismatch can name them.

use std::collections::BTreeMap;

use rootline_core::{Digest, HashAlg};
use serde::Serialize;

use crate::{Event, EventLog, EventType, PcrValues};

/// The result of replaying a log.
#[derive(Debug, Clone, Serialize)]
pub struct Replay {
    /// Events replayed (every event after the header, EV_NO_ACTION included in the count).
    pub events: usize,
    /// Register values per bank: only registers that at least one event extended.
    pub pcrs: BTreeMap<HashAlg, BTreeMap<u32, Digest>>,
    /// For each register, the indices of the events that extended it.
    #[serde(skip)]
    pub contributors: BTreeMap<u32, Vec<usize>>,
    /// Banks that could not be replayed, with the reason.
    pub unreplayable: BTreeMap<HashAlg, String>,
}

/// The initial value of a register: zero, or the locality for PCR 0 (PFP 10.4.5.3).
fn initial(alg: HashAlg, pcr: u32, locality: Option<u8>) -> Option<Digest> {
    let mut d = alg.zero()?;
    if pcr == 0 {
        if let (Some(l), Some(last)) = (locality, d.bytes.last_mut()) {
            *last = l;
        }
    }
    Some(d)
}

pub(crate) fn replay(log: &EventLog) -> Replay {
    let mut out = Replay {
        events: log.events.len(),
        pcrs: BTreeMap::new(),
        contributors: BTreeMap::new(),
        unreplayable: BTreeMap::new(),
    };
    for alg in log.banks() {
        if alg.hasher().is_none() {
            out.unreplayable
                .insert(alg, format!("rootline cannot compute {alg}"));
            continue;
        }
        let mut bank: BTreeMap<u32, Digest> = BTreeMap::new();
        for e in log.events.iter().filter(|e| e.is_extended() && e.pcr <= 23) {
            let Some(d) = e.digest(alg) else {
                out.unreplayable.insert(
                    alg,
                    format!(
                        "event {} ({}) carries no {alg} digest",
                        e.index, e.event_type
                    ),
                );
                break;
            };
            let reg = match bank.entry(e.pcr) {
                std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
                std::collections::btree_map::Entry::Vacant(v) => {
                    match initial(alg, e.pcr, log.startup_locality) {
                        Some(init) => v.insert(init),
                        None => break,
                    }
                }
            };
            if reg.extend(&d.bytes).is_none() {
                break;
            }
        }
        if !out.unreplayable.contains_key(&alg) {
            out.pcrs.insert(alg, bank);
        }
    }
    for e in log.events.iter().filter(|e| e.is_extended()) {
        out.contributors.entry(e.pcr).or_default().push(e.index);
    }
    out
}

/// One register whose replayed value differs from the value given.
#[derive(Debug, Clone, Serialize)]
pub struct Mismatch {
    /// The bank.
    pub bank: HashAlg,
    /// The register.
    pub pcr: u32,
    /// What the log replays to (`None`: no event touched it, so it should be at its reset value).
    pub replayed: Option<Digest>,
    /// The value given (signed, quoted, expected).
    pub given: Digest,
    /// Events that extended this register, in order: index, type, description.
    pub events: Vec<(usize, String)>,
    /// The first event that differs from a reference log, when one was given.
    pub first_difference: Option<String>,
}

impl Mismatch {
    /// A paragraph a person can act on.
    pub fn explain(&self) -> String {
        let mut s = format!(
            "PCR {} ({}): the log replays to {}, but the given value is {}",
            self.pcr,
            self.bank,
            self.replayed
                .as_ref()
                .map(|d| d.hex())
                .unwrap_or_else(|| "nothing (no event extends it)".into()),
            self.given.hex()
        );
        if let Some(f) = &self.first_difference {
            s.push_str(&format!("\n  first difference from the reference log: {f}"));
        }
        if self.events.is_empty() {
            s.push_str("\n  no event in the log extends this register");
        } else {
            let n = self.events.len();
            let word = if n == 1 {
                "event extends"
            } else {
                "events extend"
            };
            s.push_str(&format!("\n  {n} {word} it:"));
            for (i, d) in &self.events {
                s.push_str(&format!("\n    #{i} {d}"));
            }
        }
        s
    }
}

impl Replay {
    /// Compares with given register values. Every given register that the log
    /// extends is checked, and so are the firmware registers 0-7 even when the
    /// log does not touch them (they must then hold their reset value).
    /// Registers outside 0-7 that the log never extends belong to other logs
    /// (PCR 10 to IMA, for example) and are not judged here.
    pub fn compare(&self, log: &EventLog, given: &PcrValues) -> Vec<Mismatch> {
        self.compare_with_reference(log, given, None)
    }

    /// As [`Replay::compare`], naming for each mismatch the first event that
    /// differs from `reference` (a known-good log of the same platform).
    pub fn compare_with_reference(
        &self,
        log: &EventLog,
        given: &PcrValues,
        reference: Option<&EventLog>,
    ) -> Vec<Mismatch> {
        let mut out = Vec::new();
        for (bank, regs) in &given.banks {
            let Some(replayed) = self.pcrs.get(bank) else {
                continue;
            };
            for (pcr, want) in regs {
                let got = replayed.get(pcr);
                if got.is_none() && *pcr > 7 {
                    continue;
                }
                let ok = match got {
                    Some(g) => g.bytes == want.bytes,
                    None => is_reset_value(*pcr, &want.bytes, log.startup_locality),
                };
                if ok {
                    continue;
                }
                let events = self
                    .contributors
                    .get(pcr)
                    .map(|ix| {
                        ix.iter()
                            .filter_map(|i| log.events.get(*i))
                            .map(|e| (e.index, describe_with_digest(e, *bank)))
                            .collect()
                    })
                    .unwrap_or_default();
                out.push(Mismatch {
                    bank: *bank,
                    pcr: *pcr,
                    replayed: got.cloned(),
                    given: want.clone(),
                    events,
                    first_difference: reference.and_then(|r| first_difference(log, r, *bank, *pcr)),
                });
            }
        }
        out
    }
}

fn describe_with_digest(e: &Event, bank: HashAlg) -> String {
    let d = e.digest(bank).map(|d| d.hex()).unwrap_or_default();
    let short = d.get(..16).unwrap_or(&d);
    format!("{} [{bank} {short}...]", e.describe())
}

fn is_reset_value(pcr: u32, v: &[u8], locality: Option<u8>) -> bool {
    if (17..=22).contains(&pcr) {
        return v.iter().all(|b| *b == 0xff);
    }
    match (pcr, locality, v.split_last()) {
        (0, Some(l), Some((last, rest))) => *last == l && rest.iter().all(|b| *b == 0),
        _ => v.iter().all(|b| *b == 0),
    }
}

/// The first event extending `pcr` whose `bank` digest differs between `log`
/// and `reference`, described for people.
pub fn first_difference(
    log: &EventLog,
    reference: &EventLog,
    bank: HashAlg,
    pcr: u32,
) -> Option<String> {
    let mine: Vec<&Event> = log
        .events
        .iter()
        .filter(|e| e.is_extended() && e.pcr == pcr)
        .collect();
    let theirs: Vec<&Event> = reference
        .events
        .iter()
        .filter(|e| e.is_extended() && e.pcr == pcr)
        .collect();
    for (k, e) in mine.iter().enumerate() {
        match theirs.get(k) {
            None => {
                return Some(format!(
                    "event #{} {} is extra: the reference log has only {} events for PCR {pcr}",
                    e.index,
                    e.describe(),
                    theirs.len()
                ));
            }
            Some(r) => {
                if e.digest(bank) != r.digest(bank) || e.event_type != r.event_type {
                    return Some(format!(
                        "event #{} {}: digest {}, reference event #{} {} has {}",
                        e.index,
                        e.describe(),
                        e.digest(bank).map(|d| d.hex()).unwrap_or_default(),
                        r.index,
                        r.describe(),
                        r.digest(bank).map(|d| d.hex()).unwrap_or_default()
                    ));
                }
            }
        }
    }
    theirs.get(mine.len()).map(|r| {
        format!(
            "the log lacks reference event #{} {}",
            r.index,
            r.describe()
        )
    })
}

/// An event whose data contradicts its digest.
#[derive(Debug, Clone, Serialize)]
pub struct DataMismatch {
    /// The event index.
    pub index: usize,
    /// The event type.
    pub event_type: EventType,
    /// The bank whose digest does not match.
    pub bank: HashAlg,
    /// What the explanation says.
    pub reason: String,
    /// True for the one inconsistency seen in the field rather than an edit
    /// (an EV_EFI_VARIABLE_AUTHORITY event declaring fewer bytes than it
    /// holds): reported as a warning, not as tampering. Its content still
    /// contradicts its digest, so nothing may be read from it as a claim.
    pub firmware_quirk: bool,
}

/// Checks, for event types whose digest is defined as the hash of the event
/// data (PFP 10.4.1: separators, actions, UEFI variables, GPT, S-CRTM
/// version), that the data hashes to the digest. A log whose text says one
/// thing while its digests say another is lying about what was measured.
///
/// EV_EFI_VARIABLE_BOOT and EV_EFI_VARIABLE_AUTHORITY are accepted when the
/// digest covers either the whole UEFI_VARIABLE_DATA or only VariableData, as
/// real firmware does both.
pub fn check_data_digests(log: &EventLog) -> Vec<DataMismatch> {
    let mut out = Vec::new();
    for e in &log.events {
        let covered = matches!(
            e.event_type,
            EventType::EV_SEPARATOR
                | EventType::EV_EFI_ACTION
                | EventType::EV_ACTION
                | EventType::EV_EFI_VARIABLE_DRIVER_CONFIG
                | EventType::EV_EFI_VARIABLE_BOOT
                | EventType::EV_EFI_VARIABLE_BOOT2
                | EventType::EV_EFI_VARIABLE_AUTHORITY
                | EventType::EV_EFI_GPT_EVENT
        );
        if !covered {
            continue;
        }
        for d in &e.digests {
            let Some(h) = d.alg.hash(&e.data) else {
                continue;
            };
            if h.bytes == d.bytes {
                continue;
            }
            let alt_ok = match e.event_type {
                // Boot####: EDK2 measured only VariableData for years. Authority:
                // some firmware (GCE's, seen in the go-tpm-tools vectors) also
                // measures only the EFI_SIGNATURE_DATA it matched.
                EventType::EV_EFI_VARIABLE_BOOT
                | EventType::EV_EFI_VARIABLE_BOOT2
                | EventType::EV_EFI_VARIABLE_AUTHORITY => variable_data(&e.data)
                    .and_then(|v| d.alg.hash(v))
                    .is_some_and(|h| h.bytes == d.bytes),
                _ => false,
            };
            if !alt_ok {
                // Only the bug seen in real firmware and shim counts as a
                // quirk: an EV_EFI_VARIABLE_AUTHORITY event whose declared
                // lengths cover less than the data it holds (cos-85's db
                // entry, debian-10's shim vendor certificate). Anything else,
                // configuration variables above all (SecureBoot, PK, KEK, db,
                // dbx), is tampering: a quirk there would let an edited
                // SecureBoot value through with a bit flipped in a length.
                let firmware_quirk = e.event_type == EventType::EV_EFI_VARIABLE_AUTHORITY
                    && declares_less_than_it_holds(&e.data);
                out.push(DataMismatch {
                    firmware_quirk,
                    index: e.index,
                    event_type: e.event_type,
                    bank: d.alg,
                    reason: format!(
                        "event #{} {}: its data hashes to {} under {}, but its digest is {}",
                        e.index,
                        e.describe(),
                        h.hex(),
                        d.alg,
                        d.hex()
                    ),
                });
            }
        }
    }
    out
}

/// True when a UEFI_VARIABLE_DATA's declared lengths fit inside its size
/// and leave bytes over (the field bug); false when they add up exactly or
/// overrun the data.
fn declares_less_than_it_holds(data: &[u8]) -> bool {
    let mut r = rootline_core::Reader::new(data);
    let ok = (|| {
        r.take(16, "guid").ok()?;
        let n = usize::try_from(r.u64_le("name length").ok()?).ok()?;
        let len = usize::try_from(r.u64_le("data length").ok()?).ok()?;
        r.take(n.checked_mul(2)?, "name").ok()?;
        r.take(len, "data").ok()?;
        Some(!r.is_empty())
    })();
    ok == Some(true)
}

fn variable_data(data: &[u8]) -> Option<&[u8]> {
    let mut r = rootline_core::Reader::new(data);
    r.take(16, "guid").ok()?;
    let n = usize::try_from(r.u64_le("name length").ok()?).ok()?;
    let len = usize::try_from(r.u64_le("data length").ok()?).ok()?;
    r.take(n.checked_mul(2)?, "name").ok()?;
    r.take(len, "data").ok()
}

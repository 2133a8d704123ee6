//! A log replayed against the PCR values a TPM quote signs: the one check
//! that makes a log's events mean something, and the events behind each
//! quoted register as claims, so that appraisal can name the first event a
//! reference does not accept.
//!
//! Shared by every evidence that carries a TCG log beside a quote (TPM
//! evidence, the AzureGuest request's `TcgLogs`), so that they accept and
//! refuse the same logs and show their events in the same shape.

use std::collections::{BTreeMap, BTreeSet};

use rootline_core::{Digest, HashAlg};
use serde_json::{Map, Value, json};

use crate::replay::check_data_digests;
use crate::{Error, EventData, EventLog, EventType, PcrValues};

/// PCR values by bank and index, as a verified quote covers them.
pub type QuotedPcrs = BTreeMap<HashAlg, BTreeMap<u8, Vec<u8>>>;

/// An event log replayed against the quoted PCRs.
#[derive(Debug, Clone)]
pub struct EventLogClaims {
    /// Events replayed.
    pub events: usize,
    /// The log's banks that the quote also covers.
    pub banks_replayed_against_quote: Vec<HashAlg>,
    /// True when every replayed register equals the quoted one.
    pub matches_quote: bool,
    /// Per quoted bank the log has, the events behind each register, in
    /// the order registers first appear in the log.
    pub registers: Vec<(HashAlg, Vec<RegisterEvents>)>,
}

/// A register (PCR index) and the events that extended it, in log order.
pub type RegisterEvents = (u32, Vec<LoggedEvent>);

/// One event extending a register.
#[derive(Debug, Clone)]
pub struct LoggedEvent {
    /// Its index in the log.
    pub index: usize,
    /// Its type.
    pub event_type: EventType,
    /// What it says, decoded; `None` when its data contradicts its digest
    /// (then nothing it says is used).
    pub decoded: Option<EventData>,
    /// Its digest in the bank.
    pub digest: Vec<u8>,
}

impl EventLogClaims {
    /// Writes `event_log` (`{events, banks_replayed_against_quote,
    /// matches_quote}`) and `events` (`{bank: {pcr: [{index, type, event,
    /// digest}]}}`) into `m`: the shape of `rootline verify --json`.
    pub fn write_json(&self, m: &mut Map<String, Value>) {
        let banks: Vec<String> = self
            .banks_replayed_against_quote
            .iter()
            .map(|b| b.to_string())
            .collect();
        m.insert(
            "event_log".into(),
            json!({
                "events": self.events,
                "banks_replayed_against_quote": banks,
                "matches_quote": self.matches_quote,
            }),
        );
        let mut events = Map::new();
        for (bank, regs) in &self.registers {
            let mut per_pcr = Map::new();
            for (pcr, list) in regs {
                let list = list
                    .iter()
                    .map(|e| {
                        json!({
                            "index": e.index,
                            "type": e.event_type.to_string(),
                            "event": match &e.decoded {
                                Some(d) => d.summary(),
                                None => "(data contradicts its digest: not decoded)".to_owned(),
                            },
                            "digest": hex::encode(&e.digest),
                        })
                    })
                    .collect();
                per_pcr.insert(pcr.to_string(), Value::Array(list));
            }
            events.insert(bank.to_string(), Value::Object(per_pcr));
        }
        m.insert("events".into(), Value::Object(events));
    }
}

/// Why a log was refused against a quote.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QuoteReplayError {
    /// The bytes are not a log.
    #[error("event log: {0}")]
    Malformed(#[source] Error),
    /// The log parsed but does not hold against the quote: a register
    /// replays to another value (the message names the PCR, the replayed and
    /// the quoted digest, and the events behind it), the quote has nothing
    /// to replay against, or an event's data contradicts its digest.
    #[error("{0}")]
    Mismatch(String),
}

/// Replays the log in `bytes` against the `quoted` PCRs. `claims` gets what
/// the replay found once the log parsed, also when the check then fails, and
/// `warnings` the log's quirks. A log that was given must hold against the
/// quote, or it is refused: a log that cannot be replayed proves nothing,
/// and accepting it with a warning let any log through (a Spec ID header
/// with only an sm3_256 bank passed).
pub fn replay_against_quote(
    bytes: &[u8],
    quoted: &QuotedPcrs,
    claims: &mut Option<EventLogClaims>,
    warnings: &mut Vec<String>,
) -> Result<(), QuoteReplayError> {
    let log = EventLog::parse(bytes).map_err(QuoteReplayError::Malformed)?;
    let replay = log.replay();
    for w in &log.warnings {
        warnings.push(format!("event log: {w}"));
    }
    if quoted.is_empty() {
        return Err(QuoteReplayError::Mismatch(
            "event log check failed: the quote carries no verified PCR values to replay the log against (quote the PCRs the log extends, or leave the log out)"
                .into(),
        ));
    }
    let mut given = PcrValues::default();
    for (bank, regs) in quoted {
        let b = given.banks.entry(*bank).or_default();
        for (i, v) in regs {
            b.insert(u32::from(*i), Digest::new(*bank, v.clone()));
        }
    }
    let mismatches = replay.compare(&log, &given);
    let data_mismatches = check_data_digests(&log);
    // Events whose data contradicts their digest, quirks included: what they
    // say is never reported as a claim.
    let untrusted: BTreeSet<usize> = data_mismatches.iter().map(|d| d.index).collect();
    for q in data_mismatches.iter().filter(|d| d.firmware_quirk) {
        warnings.push(format!(
            "event log: event #{} {} holds more data than it declares (a known firmware quirk); its content is not used",
            q.index, q.event_type
        ));
    }
    let tampered: Vec<_> = data_mismatches
        .into_iter()
        .filter(|d| !d.firmware_quirk)
        .collect();
    let replayed_banks: Vec<HashAlg> = replay
        .pcrs
        .keys()
        .filter(|b| quoted.contains_key(b))
        .copied()
        .collect();
    // The events behind each quoted register, so that appraisal can name the
    // first event a reference does not accept (reference keys tpm.event.BANK.PCR).
    let mut registers = Vec::new();
    for bank in quoted.keys().filter(|b| replay.pcrs.contains_key(b)) {
        let mut per_pcr: Vec<RegisterEvents> = Vec::new();
        for e in log.events.iter().filter(|e| e.is_extended()) {
            let Some(d) = e.digest(*bank) else { continue };
            let event = LoggedEvent {
                index: e.index,
                event_type: e.event_type,
                decoded: (!untrusted.contains(&e.index)).then(|| e.decoded()),
                digest: d.bytes.clone(),
            };
            match per_pcr.iter_mut().find(|(p, _)| *p == e.pcr) {
                Some((_, list)) => list.push(event),
                None => per_pcr.push((e.pcr, vec![event])),
            }
        }
        registers.push((*bank, per_pcr));
    }
    *claims = Some(EventLogClaims {
        events: replay.events,
        matches_quote: mismatches.is_empty() && !replayed_banks.is_empty(),
        banks_replayed_against_quote: replayed_banks.clone(),
        registers,
    });
    if let Some(m) = mismatches.first() {
        let mut msg = format!("event log replay check failed: {}", m.explain());
        if let Some(d) = tampered.first() {
            msg.push_str(&format!(
                "\n  first event whose data contradicts its digest: #{} {} ({}): {}",
                d.index, d.event_type, d.bank, d.reason
            ));
        } else if let Some((i, desc)) = m.events.last() {
            msg.push_str(&format!(
                "\n  the log cannot say which event is wrong; the last one extending it is #{i} {desc}"
            ));
        }
        return Err(QuoteReplayError::Mismatch(msg));
    }
    if replayed_banks.is_empty() {
        return Err(QuoteReplayError::Mismatch(format!(
            "event log check failed: the log's banks ({}) have none in common with the quoted PCR banks ({}), so it cannot be replayed against the quote",
            replay
                .pcrs
                .keys()
                .map(|b| b.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            quoted
                .keys()
                .map(|b| b.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    if let Some(d) = tampered.first() {
        return Err(QuoteReplayError::Mismatch(format!(
            "event log check failed: event #{} {} ({}) data contradicts its digest: {}",
            d.index, d.event_type, d.bank, d.reason
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::LogBuilder;

    fn log() -> Vec<u8> {
        let mut b = LogBuilder::crypto_agile(&[HashAlg::SHA256]);
        for pcr in 0..8 {
            b.measure_data(pcr, EventType::EV_SEPARATOR, &[0, 0, 0, 0]);
        }
        b.measure(
            4,
            EventType::EV_EFI_BOOT_SERVICES_APPLICATION,
            b"image",
            b"",
        )
        .measure_data(8, EventType::EV_IPL, b"cmdline\0");
        b.into_bytes()
    }

    fn quoted_of(bytes: &[u8]) -> QuotedPcrs {
        let replay = EventLog::parse(bytes).unwrap().replay();
        let mut q = QuotedPcrs::new();
        for (bank, regs) in replay.pcrs {
            let b = q.entry(bank).or_default();
            for i in 0..24u8 {
                let v = regs
                    .get(&u32::from(i))
                    .map_or_else(|| bank.zero().unwrap().bytes, |d| d.bytes.clone());
                b.insert(i, v);
            }
        }
        q
    }

    #[test]
    fn a_log_holds_against_the_pcrs_it_replays_to_and_not_against_others() {
        let bytes = log();
        let quoted = quoted_of(&bytes);
        let (mut claims, mut warnings) = (None, Vec::new());
        replay_against_quote(&bytes, &quoted, &mut claims, &mut warnings).unwrap();
        let c = claims.unwrap();
        assert!(c.matches_quote);
        assert_eq!(c.banks_replayed_against_quote, vec![HashAlg::SHA256]);
        let mut m = Map::new();
        c.write_json(&mut m);
        assert_eq!(m["events"]["sha256"]["4"].as_array().unwrap().len(), 2);

        // PCR 8 quoted with one bit flipped: refused naming it and both values.
        let mut other = quoted.clone();
        let v = other
            .get_mut(&HashAlg::SHA256)
            .unwrap()
            .get_mut(&8)
            .unwrap();
        let replayed = hex::encode(&*v);
        v[0] ^= 1;
        let flipped = hex::encode(&*v);
        let mut claims = None;
        let e = replay_against_quote(&bytes, &other, &mut claims, &mut Vec::new()).unwrap_err();
        let QuoteReplayError::Mismatch(msg) = e else {
            panic!("{e}");
        };
        assert!(msg.contains("PCR 8 (sha256)"), "{msg}");
        assert!(msg.contains(&replayed) && msg.contains(&flipped), "{msg}");
        assert!(!claims.unwrap().matches_quote);

        // Nothing quoted, or no log at all.
        let e = replay_against_quote(&bytes, &QuotedPcrs::new(), &mut None, &mut Vec::new());
        assert!(matches!(e, Err(QuoteReplayError::Mismatch(_))), "{e:?}");
        let e = replay_against_quote(b"no log", &quoted, &mut None, &mut Vec::new());
        assert!(matches!(e, Err(QuoteReplayError::Malformed(_))), "{e:?}");
    }
}

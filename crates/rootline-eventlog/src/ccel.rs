//! The TDX Confidential Computing Event Log (CCEL).
//!
//! The log itself is a crypto-agile TCG log (SHA-384) read by
//! [`crate::EventLog::parse`]; its "PCR index" field holds the CC measurement
//! register index of the UEFI EFI_CC_MEASUREMENT_PROTOCOL: 0 is MRTD, 1 to 4
//! are RTMR0 to RTMR3. The ACPI CCEL table (Linux:
//! `/sys/firmware/acpi/tables/CCEL`) only says where the log lives; it is
//! parsed here so that callers can tell the two apart and report a useful
//! error.

use rootline_core::{Digest, HashAlg, Reader};

use crate::{Error, EventLog};

/// The ACPI CCEL table (GHCI 1.5, and UEFI 2.10 section 38.4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CcelTable {
    /// CC type (2 = TDX).
    pub cc_type: u8,
    /// CC subtype.
    pub cc_subtype: u8,
    /// Log area minimum length.
    pub laml: u64,
    /// Log area start address.
    pub lasa: u64,
}

impl CcelTable {
    /// Parses the table (36-byte ACPI header, then the CCEL fields).
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(bytes);
        let sig = r.take(4, "ACPI signature")?;
        if sig != b"CCEL" {
            return Err(r.invalid("ACPI signature", "not \"CCEL\"").into());
        }
        let len = r.u32_le("ACPI table length")? as usize;
        if len != bytes.len() {
            return Err(r
                .invalid(
                    "ACPI table length",
                    format!("{len}, but the table is {} bytes", bytes.len()),
                )
                .into());
        }
        r.take(28, "ACPI header")?;
        let cc_type = r.u8("CC type")?;
        let cc_subtype = r.u8("CC subtype")?;
        r.take(2, "reserved")?;
        let laml = r.u64_le("LAML")?;
        let lasa = r.u64_le("LASA")?;
        Ok(Self {
            cc_type,
            cc_subtype,
            laml,
            lasa,
        })
    }
}

/// True when `bytes` look like the ACPI CCEL table rather than the log.
pub fn is_acpi_table(bytes: &[u8]) -> bool {
    bytes.starts_with(b"CCEL")
}

/// The RTMR index a CC measurement-register index maps to (1 -> RTMR0 ... 4 -> RTMR3).
pub fn rtmr_of_mr_index(mr: u32) -> Option<usize> {
    match mr {
        1..=4 => Some(mr as usize - 1),
        _ => None,
    }
}

/// Replays a CCEL log into RTMR0..RTMR3 (SHA-384). Registers no event touched
/// stay zero, as they are at TD start.
pub fn replay_rtmrs(log: &EventLog) -> Result<[Digest; 4], Error> {
    let replay = log.replay();
    let bank = replay.pcrs.get(&HashAlg::SHA384).ok_or_else(|| {
        Error::SpecId(
            replay
                .unreplayable
                .get(&HashAlg::SHA384)
                .cloned()
                .unwrap_or_else(|| "a CCEL log must carry SHA-384 digests".into()),
        )
    })?;
    let zero = Digest::new(HashAlg::SHA384, vec![0u8; 48]);
    let mut out = [zero.clone(), zero.clone(), zero.clone(), zero];
    for (mr, v) in bank {
        if let Some(slot) = rtmr_of_mr_index(*mr).and_then(|i| out.get_mut(i)) {
            *slot = v.clone();
        }
    }
    Ok(out)
}

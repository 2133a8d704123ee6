//! The prediction: events for PCR 4, 9 and 11 and the register values they fold to.
//!
//! The order and the exact bytes hashed follow systemd 252's `stub.c`
//! (sections measured in its `unified_sections` order, name including the
//! NUL, then `VirtualSize` bytes from the loaded image), its `linux.c` (the
//! `.cmdline` bytes up to the first NUL, converted to UTF-16 with a NUL, as
//! LoadOptions; the `.linux` buffer of `VirtualSize` bytes to `LoadImage`) and
//! Linux 6.1's `efi-stub-helper.c` (tagged PCR 9 events over LoadOptions and
//! the initrd).

use std::collections::BTreeMap;

use rootline_core::{Digest, HashAlg};
use rootline_eventlog::EventType;
use serde::Serialize;

use crate::{Error, PeImage, authenticode};

/// Sections systemd-stub 252 measures into PCR 11, in the order it measures
/// them (`.pcrsig` is the one it skips; `.uname` and `.sbat` came after 252).
pub const MEASURED_SECTIONS: [&str; 7] = [
    ".linux", ".osrel", ".cmdline", ".initrd", ".splash", ".dtb", ".pcrpkey",
];

/// The PCR systemd-stub extends with the UKI's sections.
pub const PCR_KERNEL_IMAGE: u32 = 11;
/// The PCR the Linux EFI stub extends with load options and initrd.
pub const PCR_KERNEL_PARAMS: u32 = 9;
/// The PCR the firmware extends with boot applications.
pub const PCR_BOOT_APPS: u32 = 4;

/// EFI_ACTION data OVMF measures before the first boot option's application.
pub const CALLING_EFI_APPLICATION: &[u8] = b"Calling EFI Application from Boot Option";
/// Linux efistub's event tag ids (include/linux/efi.h... `efi-stub-helper.c`).
pub const TAG_LOAD_OPTIONS: u32 = 0x8f3b_22ed;
/// Tag id of the "Linux initrd" event.
pub const TAG_INITRD: u32 = 0x8f3b_22ec;

/// One event the boot is predicted to log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PredictedEvent {
    /// The register.
    pub pcr: u32,
    /// The event type the log will carry.
    pub event_type: EventType,
    /// What was measured, for people.
    pub what: String,
    /// Who measures it.
    pub measured_by: &'static str,
    /// The digest extended.
    pub digest: Digest,
}

/// One predicted event set beside the log event at the same position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventCheck {
    /// The register.
    pub pcr: u32,
    /// What was predicted (`None`: the log has more events than predicted).
    pub predicted: Option<String>,
    /// The predicted digest.
    pub predicted_digest: Option<Digest>,
    /// The log event at that position (`None`: the log has fewer events).
    pub log_event: Option<String>,
    /// Its digest in the prediction's bank.
    pub log_digest: Option<Digest>,
    /// True when both exist and the digests are equal.
    pub matches: bool,
}

impl EventCheck {
    /// One line for people.
    pub fn explain(&self) -> String {
        let d = |d: &Option<Digest>| d.as_ref().map(|d| d.hex()).unwrap_or_else(|| "-".into());
        match (&self.predicted, &self.log_event) {
            (Some(p), Some(l)) if self.matches => format!("PCR {}: {p}: matches {l}", self.pcr),
            (Some(p), Some(l)) => format!(
                "PCR {}: {p}: predicted {}, but the log has {} in {l}",
                self.pcr,
                d(&self.predicted_digest),
                d(&self.log_digest)
            ),
            (Some(p), None) => format!(
                "PCR {}: {p}: predicted {}, but the log has no such event",
                self.pcr,
                d(&self.predicted_digest)
            ),
            (None, Some(l)) => format!("PCR {}: the log has an unpredicted event {l}", self.pcr),
            (None, None) => format!("PCR {}: nothing", self.pcr),
        }
    }
}

/// What a UKI boot measures.
#[derive(Debug, Clone, Serialize)]
pub struct Prediction {
    /// The bank.
    pub alg: HashAlg,
    /// The systemd-stub version found in `.sdmagic`, when there is one.
    pub stub: Option<String>,
    /// The section table of the UKI.
    pub sections: Vec<crate::Section>,
    /// Predicted events, per register in extend order.
    pub events: Vec<PredictedEvent>,
    /// Final register values (only registers fully predicted).
    pub pcrs: BTreeMap<u32, Digest>,
    /// Assumptions and things that could not be predicted.
    pub notes: Vec<String>,
}

impl Prediction {
    /// Reference values named as the policy store names them:
    /// `tpm.pcr.<bank>.<index>` -> lower-case hex.
    pub fn reference_values(&self) -> BTreeMap<String, String> {
        self.pcrs
            .iter()
            .map(|(pcr, d)| (format!("tpm.pcr.{}.{pcr}", self.alg), d.hex()))
            .collect()
    }

    /// Compares the predicted events with a captured log, register by
    /// register and in order: one entry per predicted event, and one per log
    /// event beyond those predicted for a predicted register.
    pub fn check_log(&self, log: &rootline_eventlog::EventLog) -> Vec<EventCheck> {
        let mut out = Vec::new();
        for pcr in self.pcrs.keys().copied().chain(
            self.events
                .iter()
                .map(|e| e.pcr)
                .filter(|p| !self.pcrs.contains_key(p)),
        ) {
            if out.iter().any(|c: &EventCheck| c.pcr == pcr) {
                continue;
            }
            let logged: Vec<&rootline_eventlog::Event> = log
                .events
                .iter()
                .filter(|e| e.is_extended() && e.pcr == pcr)
                .collect();
            let predicted: Vec<&PredictedEvent> = self.events_for(pcr).collect();
            for k in 0..predicted.len().max(logged.len()) {
                let p = predicted.get(k);
                let l = logged.get(k);
                let logged_digest = l.and_then(|e| e.digest(self.alg)).cloned();
                out.push(EventCheck {
                    pcr,
                    predicted: p.map(|p| p.what.clone()),
                    predicted_digest: p.map(|p| p.digest.clone()),
                    log_event: l.map(|e| format!("#{} {}", e.index, e.describe())),
                    log_digest: logged_digest.clone(),
                    matches: match (p, &logged_digest) {
                        (Some(p), Some(d)) => p.digest == *d,
                        _ => false,
                    },
                });
            }
        }
        out
    }

    /// The events predicted for one register.
    pub fn events_for(&self, pcr: u32) -> impl Iterator<Item = &PredictedEvent> {
        self.events.iter().filter(move |e| e.pcr == pcr)
    }
}

fn hash(alg: HashAlg, data: &[u8]) -> Result<Digest, Error> {
    alg.hash(data).ok_or(Error::UnsupportedHash(alg))
}

/// The LoadOptions systemd-stub 252 gives the kernel for a `.cmdline`: the
/// bytes up to the first NUL, decoded as UTF-8 and stored as UTF-16LE with a
/// terminating NUL (`xstrn8_to_16`, `LoadOptionsSize = strsize16`).
pub fn load_options(cmdline: &[u8]) -> Result<Vec<u8>, Error> {
    let end = cmdline
        .iter()
        .position(|b| *b == 0)
        .unwrap_or(cmdline.len());
    let text = std::str::from_utf8(cmdline.get(..end).unwrap_or_default()).map_err(|e| {
        Error::Section {
            name: ".cmdline".into(),
            reason: format!("not UTF-8 ({e}): the load options cannot be predicted"),
        }
    })?;
    let mut out: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    out.extend_from_slice(&[0, 0]);
    Ok(out)
}

/// The systemd-stub version string from the `.sdmagic` section.
fn stub_version(img: &PeImage<'_>) -> Option<String> {
    let s = img.sections.iter().find(|s| s.name == ".sdmagic")?;
    let bytes = img.loaded(s).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    let text = text.trim_end_matches('\0');
    let v = text
        .strip_prefix("#### LoaderInfo: ")?
        .strip_suffix(" ####")?;
    Some(v.to_string())
}

/// Predicts the PCR 4, 9 and 11 measurements of booting `uki` from a boot
/// option with OVMF, in bank `alg`.
pub fn predict(uki: &[u8], alg: HashAlg) -> Result<Prediction, Error> {
    let img = PeImage::parse(uki)?;
    let linux = img
        .stub_section(".linux")
        .ok_or_else(|| Error::NotUki("it has no .linux section".into()))?;
    let stub = stub_version(&img);
    let mut notes = Vec::new();
    match &stub {
        Some(v) if v.starts_with("systemd-stub 252") => {}
        Some(v) => notes.push(format!(
            "the stub is {v}; the PCR 11 section list and order modelled are systemd-stub 252's"
        )),
        None => notes.push(
            "no .sdmagic section: the stub version is unknown; systemd-stub 252 is assumed".into(),
        ),
    }
    let mut events = Vec::new();

    // PCR 4: firmware action, separator, the UKI, then the kernel.
    events.push(PredictedEvent {
        pcr: PCR_BOOT_APPS,
        event_type: EventType::EV_EFI_ACTION,
        what: String::from_utf8_lossy(CALLING_EFI_APPLICATION).into_owned(),
        measured_by: "firmware",
        digest: hash(alg, CALLING_EFI_APPLICATION)?,
    });
    events.push(PredictedEvent {
        pcr: PCR_BOOT_APPS,
        event_type: EventType::EV_SEPARATOR,
        what: "separator 0x00000000".into(),
        measured_by: "firmware",
        digest: hash(alg, &[0; 4])?,
    });
    events.push(PredictedEvent {
        pcr: PCR_BOOT_APPS,
        event_type: EventType::EV_EFI_BOOT_SERVICES_APPLICATION,
        what: format!("UKI Authenticode ({} bytes)", uki.len()),
        measured_by: "firmware",
        digest: authenticode::digest(uki, alg)?,
    });
    let kernel = img.loaded(linux)?;
    match PeImage::parse(&kernel) {
        Ok(k) if k.major_image_version >= 1 => events.push(PredictedEvent {
            pcr: PCR_BOOT_APPS,
            event_type: EventType::EV_EFI_BOOT_SERVICES_APPLICATION,
            what: format!("kernel (.linux) Authenticode ({} bytes)", kernel.len()),
            measured_by: "firmware, on systemd-stub's LoadImage",
            digest: authenticode::digest(&kernel, alg)?,
        }),
        Ok(_) => notes.push(
            "the kernel's PE MajorImageVersion is 0: systemd-stub uses the EFI handover protocol, so no PCR 4 event for the kernel"
                .into(),
        ),
        Err(e) => notes.push(format!(
            "the .linux section is not a PE image ({e}): no PCR 4 event for the kernel"
        )),
    }

    // PCR 11: systemd-stub's sections.
    for name in MEASURED_SECTIONS {
        let Some(s) = img.stub_section(name) else {
            continue;
        };
        if s.virtual_size == 0 {
            continue;
        }
        let mut name_z = name.as_bytes().to_vec();
        name_z.push(0);
        events.push(PredictedEvent {
            pcr: PCR_KERNEL_IMAGE,
            event_type: EventType::EV_IPL,
            what: format!("section name {name}"),
            measured_by: "systemd-stub",
            digest: hash(alg, &name_z)?,
        });
        events.push(PredictedEvent {
            pcr: PCR_KERNEL_IMAGE,
            event_type: EventType::EV_IPL,
            what: format!("section content {name} ({} bytes)", s.virtual_size),
            measured_by: "systemd-stub",
            digest: hash(alg, &img.loaded(s)?)?,
        });
    }
    for s in &img.sections {
        if s.name.starts_with(".uname") {
            notes.push(format!(
                "section {} is not measured by systemd-stub 252 (later versions measure it)",
                s.name
            ));
        }
    }

    // PCR 9: the Linux EFI stub's LoadOptions and initrd.
    let mut pcr9_complete = true;
    match img.stub_section(".cmdline").filter(|s| s.virtual_size > 0) {
        Some(s) => {
            let opts = load_options(&img.loaded(s)?)?;
            events.push(PredictedEvent {
                pcr: PCR_KERNEL_PARAMS,
                event_type: EventType::EV_EVENT_TAG,
                what: format!(
                    "LOADED_IMAGE::LoadOptions (tag {TAG_LOAD_OPTIONS:#x}): .cmdline as UTF-16LE, {} bytes",
                    opts.len()
                ),
                measured_by: "Linux EFI stub",
                digest: hash(alg, &opts)?,
            });
        }
        None => {
            pcr9_complete = false;
            notes.push(
                "no .cmdline: systemd-stub passes the firmware's load options, which a file cannot predict: PCR 9 is not predicted"
                    .into(),
            );
        }
    }
    if let Some(s) = img.stub_section(".initrd").filter(|s| s.virtual_size > 0) {
        events.push(PredictedEvent {
            pcr: PCR_KERNEL_PARAMS,
            event_type: EventType::EV_EVENT_TAG,
            what: format!(
                "Linux initrd (tag {TAG_INITRD:#x}), {} bytes",
                s.virtual_size
            ),
            measured_by: "Linux EFI stub",
            digest: hash(alg, &img.loaded(s)?)?,
        });
    }
    notes.push(
        "PCR 4 assumes OVMF boots the UKI directly from a boot option (no shim, no boot menu); PCR 9 assumes a Linux 6.1+ EFI stub and no credentials or system extensions beside the UKI"
            .into(),
    );

    let mut pcrs = BTreeMap::new();
    for pcr in [PCR_BOOT_APPS, PCR_KERNEL_PARAMS, PCR_KERNEL_IMAGE] {
        if pcr == PCR_KERNEL_PARAMS && !pcr9_complete {
            continue;
        }
        let mut reg = alg.zero().ok_or(Error::UnsupportedHash(alg))?;
        for e in events.iter().filter(|e| e.pcr == pcr) {
            reg.extend(&e.digest.bytes)
                .ok_or(Error::UnsupportedHash(alg))?;
        }
        pcrs.insert(pcr, reg);
    }
    Ok(Prediction {
        alg,
        stub,
        sections: img.sections.clone(),
        events,
        pcrs,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_options_are_utf16_with_nul_and_stop_at_nul() {
        assert_eq!(load_options(b"ab").unwrap(), b"a\0b\0\0\0");
        assert_eq!(load_options(b"ab\0junk").unwrap(), b"a\0b\0\0\0");
        assert!(load_options(&[0xff, 0xfe]).is_err());
    }
}

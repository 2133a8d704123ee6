//! Typed decoding of event data, for people to read.
//!
//! Decoding never fails: data that does not match the structure its type
//! promises is kept as raw bytes with the reason, so a malformed event still
//! prints. Structures from the PC Client PFP 1.05 (section 10.4) and UEFI 2.9
//! (device paths, chapter 10; EFI_LOAD_OPTION, 3.1.3; signature lists, 32.4).

use std::fmt::Write as _;

use rootline_core::{CodecError, Reader};
use serde::Serialize;

use crate::types::{EventType, Guid};

/// The decoded data of one event.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventData {
    /// A text (EV_ACTION, EV_EFI_ACTION, EV_IPL strings, S-CRTM version, POST code strings).
    Text {
        /// The text.
        text: String,
    },
    /// EV_SEPARATOR.
    Separator {
        /// 0 normally; 0xFFFFFFFF marks an error.
        value: u32,
    },
    /// EV_NO_ACTION Spec ID event.
    SpecId {
        /// The signature text.
        signature: String,
    },
    /// EV_NO_ACTION StartupLocality event.
    StartupLocality {
        /// The locality PCR 0 starts from.
        locality: u8,
    },
    /// EV_NO_ACTION SP 800-155 reference-manifest event.
    Sp800_155 {
        /// The signature text.
        signature: String,
        /// Platform manufacturer id, when present.
        platform_manufacturer_id: Option<u32>,
    },
    /// Another EV_NO_ACTION event (NvIndexInstance, NvIndexDynamic, ...).
    NoAction {
        /// Its 16-byte signature, as text.
        signature: String,
    },
    /// A UEFI variable (EV_EFI_VARIABLE_*).
    Variable {
        /// The vendor GUID.
        guid: Guid,
        /// The variable name.
        name: String,
        /// What the data means, decoded.
        value: VariableValue,
    },
    /// An image load (boot services application or driver, runtime driver).
    ImageLoad {
        /// Location in memory.
        location: u64,
        /// Length in memory.
        length: u64,
        /// Link-time address.
        link_time_address: u64,
        /// The device path, as UEFI text.
        device_path: String,
    },
    /// A GPT (EV_EFI_GPT_EVENT).
    Gpt {
        /// The disk GUID.
        disk_guid: Guid,
        /// The partitions.
        partitions: Vec<GptPartition>,
    },
    /// Platform firmware blob (version 1 or 2).
    FirmwareBlob {
        /// The description (version 2 only).
        description: Option<String>,
        /// Base address.
        base: u64,
        /// Length.
        length: u64,
    },
    /// Handoff tables (version 1 or 2).
    HandoffTables {
        /// The description (version 2 only).
        description: Option<String>,
        /// The table GUIDs.
        tables: Vec<Guid>,
    },
    /// EV_EVENT_TAG.
    Tagged {
        /// The tagged event ID.
        id: u32,
        /// The tagged data, as text when it is text.
        text: Option<String>,
        /// The tagged data.
        #[serde(serialize_with = "crate::ser_hex")]
        data: Vec<u8>,
    },
    /// Data with no decoding (or that failed to decode).
    Raw {
        /// Why it was not decoded, when it should have been.
        note: Option<String>,
        /// The bytes.
        #[serde(serialize_with = "crate::ser_hex")]
        data: Vec<u8>,
    },
}

/// A GPT partition entry.
#[derive(Debug, Clone, Serialize)]
pub struct GptPartition {
    /// Partition type GUID.
    pub type_guid: Guid,
    /// Unique partition GUID.
    pub unique_guid: Guid,
    /// First LBA.
    pub first_lba: u64,
    /// Last LBA.
    pub last_lba: u64,
    /// Name.
    pub name: String,
}

/// The decoded value of a UEFI variable.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum VariableValue {
    /// A boolean byte (SecureBoot, ...).
    Bool {
        /// The value.
        enabled: bool,
    },
    /// BootOrder.
    BootOrder {
        /// Boot option numbers, in order.
        order: Vec<u16>,
    },
    /// A Boot#### load option.
    LoadOption {
        /// Attributes.
        attributes: u32,
        /// Description.
        description: String,
        /// Device path text.
        device_path: String,
    },
    /// A signature database (PK, KEK, db, dbx, MokList...).
    SignatureDb {
        /// The lists it holds.
        lists: Vec<SignatureList>,
    },
    /// Anything else.
    Bytes {
        /// The bytes.
        #[serde(serialize_with = "crate::ser_hex")]
        data: Vec<u8>,
    },
}

/// One EFI_SIGNATURE_LIST.
#[derive(Debug, Clone, Serialize)]
pub struct SignatureList {
    /// The signature type (X509, SHA256, ...).
    pub signature_type: String,
    /// Number of entries.
    pub entries: usize,
}

/// Decodes event data by type. Never fails.
pub fn decode(t: EventType, data: &[u8]) -> EventData {
    let raw = |note: Option<String>| EventData::Raw {
        note,
        data: data.to_vec(),
    };
    let attempt = match t {
        EventType::EV_NO_ACTION => Ok(decode_no_action(data)),
        EventType::EV_SEPARATOR => match data {
            [a, b, c, d] => Ok(EventData::Separator {
                value: u32::from_le_bytes([*a, *b, *c, *d]),
            }),
            _ => Err(CodecError::Invalid {
                field: "separator",
                offset: 0,
                reason: format!("{} bytes, not 4", data.len()),
            }),
        },
        EventType::EV_ACTION
        | EventType::EV_EFI_ACTION
        | EventType::EV_IPL
        | EventType::EV_S_CRTM_VERSION
        | EventType::EV_POST_CODE
        | EventType::EV_POST_CODE2
        | EventType::EV_EFI_HCRTM_EVENT
        | EventType::EV_OMIT_BOOT_DEVICE_EVENTS
        | EventType::EV_COMPACT_HASH => match text(data) {
            Some(text) => Ok(EventData::Text { text }),
            None if t == EventType::EV_POST_CODE && data.len() == 16 => {
                // PFP 10.4.1: a POST code may be measured as a blob {base, length}.
                firmware_blob(data, false)
            }
            None => return raw(None),
        },
        EventType::EV_EFI_VARIABLE_DRIVER_CONFIG
        | EventType::EV_EFI_VARIABLE_BOOT
        | EventType::EV_EFI_VARIABLE_BOOT2
        | EventType::EV_EFI_VARIABLE_AUTHORITY => variable(data),
        EventType::EV_EFI_BOOT_SERVICES_APPLICATION
        | EventType::EV_EFI_BOOT_SERVICES_DRIVER
        | EventType::EV_EFI_RUNTIME_SERVICES_DRIVER => image_load(data),
        EventType::EV_EFI_GPT_EVENT | EventType::EV_EFI_GPT_EVENT2 => gpt(data),
        EventType::EV_EFI_PLATFORM_FIRMWARE_BLOB => firmware_blob(data, false),
        EventType::EV_EFI_PLATFORM_FIRMWARE_BLOB2 => firmware_blob(data, true),
        EventType::EV_EFI_HANDOFF_TABLES => handoff(data, false),
        EventType::EV_EFI_HANDOFF_TABLES2 => handoff(data, true),
        EventType::EV_EVENT_TAG => tagged(data),
        // Unknown or opaque types: no guessing, the bytes in hex.
        _ => return raw(None),
    };
    attempt.unwrap_or_else(|e| raw(Some(e.to_string())))
}

impl EventData {
    /// One line for people.
    pub fn summary(&self) -> String {
        match self {
            EventData::Text { text } => format!("{text:?}"),
            EventData::Separator { value } => format!("separator 0x{value:08x}"),
            EventData::SpecId { signature } => signature.clone(),
            EventData::StartupLocality { locality } => format!("StartupLocality {locality}"),
            EventData::Sp800_155 { signature, .. } => format!("{signature} (reference manifest)"),
            EventData::NoAction { signature } => signature.clone(),
            EventData::Variable { guid, name, value } => {
                let v = match value {
                    VariableValue::Bool { enabled } => format!("= {enabled}"),
                    VariableValue::BootOrder { order } => format!(
                        "= {}",
                        order
                            .iter()
                            .map(|n| format!("Boot{n:04X}"))
                            .collect::<Vec<_>>()
                            .join(",")
                    ),
                    VariableValue::LoadOption {
                        description,
                        device_path,
                        ..
                    } => format!("= {description:?} {device_path}"),
                    VariableValue::SignatureDb { lists } => {
                        let n: usize = lists.iter().map(|l| l.entries).sum();
                        format!("= {} lists, {n} entries", lists.len())
                    }
                    VariableValue::Bytes { data } => format!("= {} bytes", data.len()),
                };
                format!("{name} ({guid}) {v}")
            }
            EventData::ImageLoad {
                device_path,
                length,
                ..
            } => format!("{device_path} ({length} bytes)"),
            EventData::Gpt {
                disk_guid,
                partitions,
            } => format!("GPT disk {disk_guid}, {} partitions", partitions.len()),
            EventData::FirmwareBlob {
                description,
                base,
                length,
            } => format!(
                "{}base 0x{base:x} length 0x{length:x}",
                description
                    .as_ref()
                    .map(|d| format!("{d:?} "))
                    .unwrap_or_default()
            ),
            EventData::HandoffTables {
                description,
                tables,
            } => format!(
                "{}{} tables: {}",
                description
                    .as_ref()
                    .map(|d| format!("{d:?} "))
                    .unwrap_or_default(),
                tables.len(),
                tables
                    .iter()
                    .map(|g| g.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            EventData::Tagged { id, text, data } => match text {
                Some(t) => format!("tag 0x{id:08x} {t:?}"),
                None => format!("tag 0x{id:08x} {} bytes", data.len()),
            },
            EventData::Raw { note, data } => {
                let shown: String = data.iter().take(32).map(|b| format!("{b:02x}")).collect();
                let more = if data.len() > 32 { "..." } else { "" };
                match note {
                    Some(n) => format!("[{n}] {shown}{more}"),
                    None => format!("{shown}{more}"),
                }
            }
        }
    }
}

/// Decodes printable text: UTF-8/ASCII, or UTF-16LE (systemd and some
/// firmware write that), with trailing NULs removed.
pub fn text(data: &[u8]) -> Option<String> {
    if data.is_empty() {
        return Some(String::new());
    }
    let printable = |c: char| !c.is_control() || c == '\n' || c == '\t' || c == '\r';
    if let Ok(s) = std::str::from_utf8(data) {
        let t = s.trim_end_matches('\0');
        if !t.is_empty() && t.chars().all(printable) {
            return Some(t.to_owned());
        }
    }
    if data.len() % 2 == 0 {
        let units: Vec<u16> = data
            .chunks_exact(2)
            .map(|c| {
                u16::from_le_bytes([
                    c.first().copied().unwrap_or(0),
                    c.get(1).copied().unwrap_or(0),
                ])
            })
            .collect();
        if let Ok(s) = String::from_utf16(&units) {
            let t = s.trim_end_matches('\0');
            // Only ASCII-range UTF-16: random binary often decodes as CJK.
            if !t.is_empty() && t.chars().all(|c| c.is_ascii() && printable(c)) {
                return Some(t.to_owned());
            }
        }
    }
    None
}

fn utf16(data: &[u8]) -> String {
    let units: Vec<u16> = data
        .chunks_exact(2)
        .map(|c| {
            u16::from_le_bytes([
                c.first().copied().unwrap_or(0),
                c.get(1).copied().unwrap_or(0),
            ])
        })
        .take_while(|u| *u != 0)
        .collect();
    String::from_utf16_lossy(&units)
}

fn guid(r: &mut Reader<'_>, field: &'static str) -> Result<Guid, CodecError> {
    r.array::<16>(field).map(Guid)
}

fn decode_no_action(data: &[u8]) -> EventData {
    let sig = data.get(..16).unwrap_or(data);
    let sig_text = String::from_utf8_lossy(sig)
        .trim_end_matches('\0')
        .to_owned();
    if data.starts_with(b"Spec ID Event") {
        EventData::SpecId {
            signature: sig_text,
        }
    } else if data.starts_with(b"StartupLocality\0") {
        match data.get(16) {
            Some(l) => EventData::StartupLocality { locality: *l },
            None => EventData::Raw {
                note: Some("StartupLocality without a locality byte".into()),
                data: data.to_vec(),
            },
        }
    } else if data.starts_with(b"SP800-155 Event") {
        // Both "SP800-155 Event\0" and "SP800-155 Event3" signatures are 16
        // bytes; the platform manufacturer id follows (PFP 1.06, 10.4.5.4).
        let pm = data
            .get(16..20)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_le_bytes);
        EventData::Sp800_155 {
            signature: sig_text,
            platform_manufacturer_id: pm,
        }
    } else {
        match text(sig) {
            Some(signature) => EventData::NoAction { signature },
            None => EventData::Raw {
                note: None,
                data: data.to_vec(),
            },
        }
    }
}

fn variable(data: &[u8]) -> Result<EventData, CodecError> {
    let mut r = Reader::new(data);
    let g = guid(&mut r, "VariableName")?;
    let name_len = r.u64_le("UnicodeNameLength")?;
    let data_len = r.u64_le("VariableDataLength")?;
    let name_bytes = usize::try_from(name_len)
        .ok()
        .and_then(|n| n.checked_mul(2))
        .ok_or_else(|| r.invalid("UnicodeNameLength", "too large"))?;
    let name = utf16(r.take(name_bytes, "UnicodeName")?);
    let data_len =
        usize::try_from(data_len).map_err(|_| r.invalid("VariableDataLength", "too large"))?;
    let value = r.take(data_len, "VariableData")?;
    let value = variable_value(&g, &name, value);
    Ok(EventData::Variable {
        guid: g,
        name,
        value,
    })
}

fn variable_value(g: &Guid, name: &str, v: &[u8]) -> VariableValue {
    let bytes = || VariableValue::Bytes { data: v.to_vec() };
    let global = *g == Guid::EFI_GLOBAL_VARIABLE;
    match name {
        "SecureBoot" | "DeployedMode" | "AuditMode" | "SetupMode" if global && v.len() == 1 => {
            VariableValue::Bool {
                enabled: v.first().copied().unwrap_or(0) != 0,
            }
        }
        "BootOrder" if global && v.len() % 2 == 0 => VariableValue::BootOrder {
            order: v
                .chunks_exact(2)
                .map(|c| {
                    u16::from_le_bytes([
                        c.first().copied().unwrap_or(0),
                        c.get(1).copied().unwrap_or(0),
                    ])
                })
                .collect(),
        },
        n if global
            && n.len() == 8
            && n.starts_with("Boot")
            && n.get(4..)
                .is_some_and(|h| h.chars().all(|c| c.is_ascii_hexdigit())) =>
        {
            load_option(v).unwrap_or_else(bytes)
        }
        "PK" | "KEK" | "db" | "dbx" | "dbt" | "dbr" | "MokList" | "MokListX" | "MokListTrusted" => {
            signature_db(v).unwrap_or_else(bytes)
        }
        _ if v.len() > 16 + 28 && signature_db(v).is_some() && name.is_empty() => {
            signature_db(v).unwrap_or_else(bytes)
        }
        _ => bytes(),
    }
}

fn load_option(v: &[u8]) -> Option<VariableValue> {
    let mut r = Reader::new(v);
    let attributes = r.u32_le("Attributes").ok()?;
    let fpl = r.u16_le("FilePathListLength").ok()? as usize;
    // Description: NUL-terminated UTF-16.
    let mut desc = Vec::new();
    loop {
        let u = r.u16_le("Description").ok()?;
        if u == 0 {
            break;
        }
        desc.push(u);
    }
    let dp = r.take(fpl, "FilePathList").ok()?;
    Some(VariableValue::LoadOption {
        attributes,
        description: String::from_utf16_lossy(&desc),
        device_path: device_path(dp),
    })
}

fn signature_db(v: &[u8]) -> Option<VariableValue> {
    let mut r = Reader::new(v);
    let mut lists = Vec::new();
    while !r.is_empty() {
        let t = Guid(r.array::<16>("SignatureType").ok()?);
        let list_size = r.u32_le("SignatureListSize").ok()? as usize;
        let header_size = r.u32_le("SignatureHeaderSize").ok()? as usize;
        let sig_size = r.u32_le("SignatureSize").ok()? as usize;
        let body = list_size.checked_sub(28)?;
        let mut lr = r.sub(body, "signature list").ok()?;
        lr.take(header_size, "SignatureHeader").ok()?;
        let entries_len = lr.remaining();
        if sig_size == 0 || entries_len % sig_size != 0 {
            return None;
        }
        let signature_type = if t == Guid::EFI_CERT_X509 {
            "x509".to_owned()
        } else if t == Guid::EFI_CERT_SHA256 {
            "sha256".to_owned()
        } else {
            t.to_string()
        };
        lists.push(SignatureList {
            signature_type,
            entries: entries_len / sig_size,
        });
    }
    Some(VariableValue::SignatureDb { lists })
}

fn image_load(data: &[u8]) -> Result<EventData, CodecError> {
    let mut r = Reader::new(data);
    let location = r.u64_le("ImageLocationInMemory")?;
    let length = r.u64_le("ImageLengthInMemory")?;
    let link_time_address = r.u64_le("ImageLinkTimeAddress")?;
    let dp_len = r.u64_le("LengthOfDevicePath")?;
    let dp_len =
        usize::try_from(dp_len).map_err(|_| r.invalid("LengthOfDevicePath", "too large"))?;
    let dp = r.take(dp_len, "DevicePath")?;
    Ok(EventData::ImageLoad {
        location,
        length,
        link_time_address,
        device_path: device_path(dp),
    })
}

fn gpt(data: &[u8]) -> Result<EventData, CodecError> {
    let mut r = Reader::new(data);
    let sig = r.take(8, "GPT signature")?;
    if sig != b"EFI PART" {
        return Err(r.invalid("GPT signature", "not \"EFI PART\""));
    }
    let _revision = r.u32_le("Revision")?;
    let header_size = r.u32_le("HeaderSize")? as usize;
    // Skip: HeaderCRC32, Reserved, MyLBA, AlternateLBA, FirstUsableLBA, LastUsableLBA.
    r.take(4 + 4 + 8 * 4, "GPT header")?;
    let disk_guid = guid(&mut r, "DiskGUID")?;
    // PartitionEntryLBA, NumberOfPartitionEntries, SizeOfPartitionEntry, PartitionEntryArrayCRC32.
    r.take(8, "PartitionEntryLBA")?;
    let _n_entries = r.u32_le("NumberOfPartitionEntries")?;
    let entry_size = r.u32_le("SizeOfPartitionEntry")? as usize;
    r.take(4, "PartitionEntryArrayCRC32")?;
    // The measured header is HeaderSize bytes; 92 were read.
    r.take(header_size.saturating_sub(92), "GPT header padding")?;
    let n = r.u64_le("NumberOfPartitions")?;
    if entry_size < 128 {
        return Err(r.invalid("SizeOfPartitionEntry", format!("{entry_size} is below 128")));
    }
    let mut partitions = Vec::new();
    for _ in 0..n {
        let mut p = r.sub(entry_size, "partition entry")?;
        let type_guid = guid(&mut p, "PartitionTypeGUID")?;
        let unique_guid = guid(&mut p, "UniquePartitionGUID")?;
        let first_lba = p.u64_le("StartingLBA")?;
        let last_lba = p.u64_le("EndingLBA")?;
        p.take(8, "Attributes")?;
        let name = utf16(p.take(72, "PartitionName")?);
        partitions.push(GptPartition {
            type_guid,
            unique_guid,
            first_lba,
            last_lba,
            name,
        });
    }
    Ok(EventData::Gpt {
        disk_guid,
        partitions,
    })
}

/// A u8-length-prefixed ASCII description (the "2" forms of firmware blob
/// and handoff table events, PFP 10.4.5).
fn description(r: &mut Reader<'_>, field: &'static str) -> Result<String, CodecError> {
    let n = r.u8(field)? as usize;
    let bytes = r.take(n, field)?;
    Ok(String::from_utf8_lossy(bytes)
        .trim_end_matches('\0')
        .to_owned())
}

fn firmware_blob(data: &[u8], v2: bool) -> Result<EventData, CodecError> {
    let mut r = Reader::new(data);
    let description = if v2 {
        Some(description(&mut r, "BlobDescription")?)
    } else {
        None
    };
    let base = r.u64_le("BlobBase")?;
    let length = r.u64_le("BlobLength")?;
    r.finish("firmware blob")?;
    Ok(EventData::FirmwareBlob {
        description,
        base,
        length,
    })
}

fn handoff(data: &[u8], v2: bool) -> Result<EventData, CodecError> {
    let mut r = Reader::new(data);
    let description = if v2 {
        Some(description(&mut r, "TableDescription")?)
    } else {
        None
    };
    let n = r.u64_le("NumberOfTables")?;
    let mut tables = Vec::new();
    for _ in 0..n {
        tables.push(guid(&mut r, "VendorGuid")?);
        r.u64_le("VendorTable")?;
    }
    Ok(EventData::HandoffTables {
        description,
        tables,
    })
}

fn tagged(data: &[u8]) -> Result<EventData, CodecError> {
    let mut r = Reader::new(data);
    let id = r.u32_le("taggedEventID")?;
    let d = r.vec_u32_le("taggedEventData")?;
    Ok(EventData::Tagged {
        id,
        text: text(d).filter(|t| !t.is_empty()),
        data: d.to_vec(),
    })
}

/// Renders a UEFI device path (UEFI 2.9, chapter 10) as text. Unknown nodes
/// print as `Path(type,subtype,hex)` as the UEFI text form does.
pub fn device_path(dp: &[u8]) -> String {
    let mut out = String::new();
    let mut r = Reader::new(dp);
    while r.remaining() >= 4 {
        let (Ok(t), Ok(st), Ok(len)) = (r.u8("type"), r.u8("subtype"), r.u16_le("length")) else {
            break;
        };
        let Some(body_len) = (len as usize).checked_sub(4) else {
            out.push_str("/<bad node length>");
            break;
        };
        let Ok(body) = r.take(body_len, "node") else {
            out.push_str("/<truncated node>");
            break;
        };
        if t == 0x7f {
            if st == 0xff {
                break;
            }
            out.push(',');
            continue;
        }
        if !out.is_empty() && !out.ends_with(',') {
            out.push('/');
        }
        node(&mut out, t, st, body);
    }
    if !r.is_empty() && r.remaining() < 4 {
        out.push_str("/<trailing bytes>");
    }
    out
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .and_then(|s| <[u8; 4]>::try_from(s).ok())
        .map(u32::from_le_bytes)
}

fn le64(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at + 8)
        .and_then(|s| <[u8; 8]>::try_from(s).ok())
        .map(u64::from_le_bytes)
}

fn node(out: &mut String, t: u8, st: u8, b: &[u8]) {
    let hexs = || b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let _ = match (t, st) {
        (1, 1) if b.len() == 2 => write!(
            out,
            "Pci(0x{:x},0x{:x})",
            b.get(1).copied().unwrap_or(0),
            b.first().copied().unwrap_or(0)
        ),
        (1, 4) if b.len() >= 16 => write!(
            out,
            "VenHw({})",
            b.get(..16)
                .and_then(|g| <[u8; 16]>::try_from(g).ok())
                .map(|g| Guid(g).to_string())
                .unwrap_or_default()
        ),
        (2, 1) if b.len() == 8 => {
            let hid = le32(b, 0).unwrap_or(0);
            let uid = le32(b, 4).unwrap_or(0);
            match hid {
                0x0a03_41d0 => write!(out, "PciRoot(0x{uid:x})"),
                0x0a08_41d0 => write!(out, "PcieRoot(0x{uid:x})"),
                _ => write!(out, "Acpi(0x{hid:08x},0x{uid:x})"),
            }
        }
        (3, 2) if b.len() == 4 => write!(
            out,
            "Scsi(0x{:x},0x{:x})",
            u16::from_le_bytes([
                b.first().copied().unwrap_or(0),
                b.get(1).copied().unwrap_or(0)
            ]),
            u16::from_le_bytes([
                b.get(2).copied().unwrap_or(0),
                b.get(3).copied().unwrap_or(0)
            ])
        ),
        (3, 5) if b.len() == 2 => write!(
            out,
            "USB(0x{:x},0x{:x})",
            b.first().copied().unwrap_or(0),
            b.get(1).copied().unwrap_or(0)
        ),
        (3, 11) => write!(
            out,
            "MAC({})",
            b.iter()
                .take(6)
                .map(|x| format!("{x:02x}"))
                .collect::<String>()
        ),
        (3, 18) if b.len() == 6 => write!(
            out,
            "Sata(0x{:x},0x{:x},0x{:x})",
            u16::from_le_bytes([
                b.first().copied().unwrap_or(0),
                b.get(1).copied().unwrap_or(0)
            ]),
            u16::from_le_bytes([
                b.get(2).copied().unwrap_or(0),
                b.get(3).copied().unwrap_or(0)
            ]),
            u16::from_le_bytes([
                b.get(4).copied().unwrap_or(0),
                b.get(5).copied().unwrap_or(0)
            ])
        ),
        (3, 23) if b.len() >= 4 => write!(out, "NVMe(0x{:x})", le32(b, 0).unwrap_or(0)),
        (3, 24) => write!(out, "Uri({})", String::from_utf8_lossy(b)),
        (4, 1) if b.len() >= 38 => {
            let part = le32(b, 0).unwrap_or(0);
            let start = le64(b, 4).unwrap_or(0);
            let size = le64(b, 12).unwrap_or(0);
            let sig = b.get(20..36).unwrap_or(&[]);
            let fmt = b.get(36).copied().unwrap_or(0);
            let sigtype = b.get(37).copied().unwrap_or(0);
            let sig_text = match (sigtype, <[u8; 16]>::try_from(sig)) {
                (2, Ok(g)) => Guid(g).to_string(),
                (1, _) => format!("0x{:08x}", le32(sig, 0).unwrap_or(0)),
                _ => String::new(),
            };
            let fmt_text = if fmt == 2 { "GPT" } else { "MBR" };
            write!(
                out,
                "HD({part},{fmt_text},{sig_text},0x{start:x},0x{size:x})"
            )
        }
        (4, 2) => write!(out, "CDROM({})", hexs()),
        (4, 3) if b.len() >= 16 => write!(
            out,
            "VenMedia({})",
            b.get(..16)
                .and_then(|g| <[u8; 16]>::try_from(g).ok())
                .map(|g| Guid(g).to_string())
                .unwrap_or_default()
        ),
        (4, 4) => write!(out, "{}", utf16(b)),
        (4, 6) if b.len() == 16 => write!(
            out,
            "FvFile({})",
            <[u8; 16]>::try_from(b)
                .map(|g| Guid(g).to_string())
                .unwrap_or_default()
        ),
        (4, 7) if b.len() == 16 => write!(
            out,
            "Fv({})",
            <[u8; 16]>::try_from(b)
                .map(|g| Guid(g).to_string())
                .unwrap_or_default()
        ),
        (4, 8) if b.len() >= 20 => write!(
            out,
            "Offset(0x{:x},0x{:x})",
            le64(b, 4).unwrap_or(0),
            le64(b, 12).unwrap_or(0)
        ),
        (5, 1) => write!(out, "BBS({})", hexs()),
        _ => write!(out, "Path({t},{st},{})", hexs()),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms() {
        assert_eq!(
            text(b"Calling EFI Application from Boot Option").as_deref(),
            Some("Calling EFI Application from Boot Option")
        );
        let u16s: Vec<u8> = ".linux\0"
            .encode_utf16()
            .flat_map(|u| u.to_le_bytes())
            .collect();
        assert_eq!(text(&u16s).as_deref(), Some(".linux"));
        assert_eq!(text(&[0x01, 0x02, 0x03]), None);
    }

    #[test]
    fn device_path_file_and_hd() {
        let mut dp = Vec::new();
        // PciRoot(0x0)
        dp.extend_from_slice(&[2, 1, 12, 0, 0xd0, 0x41, 0x03, 0x0a, 0, 0, 0, 0]);
        // File path node
        let name: Vec<u8> = "\\EFI\\BOOT\\BOOTX64.EFI\0"
            .encode_utf16()
            .flat_map(|u| u.to_le_bytes())
            .collect();
        let len = (4 + name.len()) as u16;
        dp.extend_from_slice(&[4, 4]);
        dp.extend_from_slice(&len.to_le_bytes());
        dp.extend_from_slice(&name);
        dp.extend_from_slice(&[0x7f, 0xff, 4, 0]);
        assert_eq!(device_path(&dp), "PciRoot(0x0)/\\EFI\\BOOT\\BOOTX64.EFI");
        // A node whose length is below 4 must not loop or panic.
        assert!(device_path(&[4, 4, 1, 0, 0, 0]).contains("bad node length"));
    }
}

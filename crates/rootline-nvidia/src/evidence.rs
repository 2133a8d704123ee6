//! The forms NVIDIA GPU evidence arrives in, decoded into [`Evidence`]: one
//! SPDM report and one certificate chain per device, plus what the sender
//! claims about it (architecture, nonce, versions), which is checked later
//! against the signed report and never trusted by itself.
//!
//! JSON forms accepted by [`Evidence::decode`]:
//! - guest-components' NVIDIA attester (the KBS `tee-evidence` for
//!   `nvidia`, and trustee's verifier input):
//!   `{"device_evidence_list": [{"arch": "HOPPER", "uuid": "...",
//!   "evidence": <hex or base64 report>, "certificate": <base64 PEM chain>}]}`;
//! - NVIDIA's attestation SDK / nvtrust and Veraison test data: a JSON
//!   array of such items, optionally with `"nonce"` (hex),
//!   `"driver_version"`, `"vbios_version"`;
//! - NVIDIA's remote attestation service request body: `{"nonce": hex,
//!   "arch": "HOPPER", "evidence_list": [{"evidence", "certificate"}]}`;
//! - a single item object.
//!
//! `evidence` is hex when it is all hex digits (as trustee tries first),
//! else base64 (standard or URL-safe, padded or not). `certificate` is
//! base64 of a PEM or DER chain, or the PEM itself.
//!
//! A raw report (binary, or hex text like nvtrust's
//! `hopperAttestationReport.txt`) carries no chain: pair it with one through
//! [`Evidence::from_parts`].

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::spdm::{GET_MEASUREMENTS, MAX_REPORT_LEN, MEASUREMENTS, REQUEST_LEN};

/// The largest evidence document accepted (nvtrust's 8-GPU sample is ~100 KiB).
pub const MAX_EVIDENCE_LEN: usize = 4 << 20;
/// The most devices accepted in one evidence document (an HGX board has 8
/// GPUs and 4 NVSwitches).
pub const MAX_DEVICES: usize = 64;

/// One device's evidence, as received.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceEvidence {
    /// The architecture the sender names (`HOPPER`, `BLACKWELL`, `LS10`).
    pub arch: Option<String>,
    /// The device UUID the sender names (not attested).
    pub uuid: Option<String>,
    /// The SPDM GET_MEASUREMENTS request || MEASUREMENTS response.
    pub report: Vec<u8>,
    /// The device certificate chain (PEM or DER), or `None` for a bare report.
    pub cert_chain: Option<Vec<u8>>,
    /// The nonce the sender says it used (checked against the report).
    pub nonce: Option<Vec<u8>>,
    /// The driver version the sender reports (checked against the report).
    pub driver_version: Option<String>,
    /// The VBIOS version the sender reports (checked against the report).
    pub vbios_version: Option<String>,
}

/// Evidence for one or more devices.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Evidence {
    /// The devices, in the order received.
    pub devices: Vec<DeviceEvidence>,
}

impl Evidence {
    /// Decodes any accepted form: one of the JSON forms, or a bare report
    /// (binary or hex), which then has no certificate chain.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_EVIDENCE_LEN {
            return Err(Error::TooLarge {
                what: "NVIDIA evidence",
                len: bytes.len(),
                max: MAX_EVIDENCE_LEN,
            });
        }
        let t = bytes.trim_ascii();
        if matches!(t.first(), Some(b'{' | b'[')) {
            let v: Value = serde_json::from_slice(t).map_err(|e| Error::Evidence {
                field: "JSON",
                reason: e.to_string(),
            })?;
            return Self::from_json(&v);
        }
        if let Some(report) = raw_report(bytes) {
            return Ok(Self {
                devices: vec![DeviceEvidence {
                    report,
                    ..Default::default()
                }],
            });
        }
        Err(Error::Evidence {
            field: "evidence",
            reason: "neither NVIDIA evidence JSON nor an SPDM GET_MEASUREMENTS report".into(),
        })
    }

    /// One device from a report (binary or hex text) and its certificate
    /// chain (PEM or DER), as nvtrust's samples store them.
    pub fn from_parts(report: &[u8], cert_chain: &[u8]) -> Result<Self> {
        let report = raw_report(report).ok_or_else(|| Error::Evidence {
            field: "report",
            reason: "not an SPDM GET_MEASUREMENTS report (binary or hex)".into(),
        })?;
        Ok(Self {
            devices: vec![DeviceEvidence {
                report,
                cert_chain: Some(cert_chain.to_vec()),
                ..Default::default()
            }],
        })
    }

    /// Decodes a parsed JSON value (see the module docs for the forms).
    pub fn from_json(v: &Value) -> Result<Self> {
        let (items, top_arch, top_nonce) = match v {
            Value::Array(items) => (items.as_slice(), None, None),
            Value::Object(o) => {
                if let Some(list) = o.get("device_evidence_list") {
                    (as_array(list, "device_evidence_list")?, None, None)
                } else if let Some(list) = o.get("evidence_list") {
                    (
                        as_array(list, "evidence_list")?,
                        opt_str(o.get("arch"), "arch")?,
                        opt_str(o.get("nonce"), "nonce")?,
                    )
                } else if o.contains_key("evidence") {
                    (std::slice::from_ref(v), None, None)
                } else {
                    return Err(Error::Evidence {
                        field: "JSON",
                        reason: "no device_evidence_list, evidence_list or evidence".into(),
                    });
                }
            }
            _ => {
                return Err(Error::Evidence {
                    field: "JSON",
                    reason: "neither an object nor an array".into(),
                });
            }
        };
        if items.is_empty() {
            return Err(Error::Evidence {
                field: "device list",
                reason: "no devices".into(),
            });
        }
        if items.len() > MAX_DEVICES {
            return Err(Error::TooLarge {
                what: "device list (devices)",
                len: items.len(),
                max: MAX_DEVICES,
            });
        }
        let devices = items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                device(item, top_arch.as_deref(), top_nonce.as_deref()).map_err(|e| {
                    Error::InDevice {
                        index: i,
                        source: Box::new(e),
                    }
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { devices })
    }
}

fn device(item: &Value, top_arch: Option<&str>, top_nonce: Option<&str>) -> Result<DeviceEvidence> {
    let o = item.as_object().ok_or_else(|| Error::Evidence {
        field: "device",
        reason: "not a JSON object".into(),
    })?;
    let evidence = opt_str(o.get("evidence"), "evidence")?.ok_or_else(|| Error::Evidence {
        field: "evidence",
        reason: "missing".into(),
    })?;
    let report = decode_report_text(&evidence)?;
    let cert_chain = opt_str(o.get("certificate"), "certificate")?
        .map(|c| decode_chain_text(&c))
        .transpose()?;
    let nonce = match opt_str(o.get("nonce"), "nonce")?.or_else(|| top_nonce.map(str::to_owned)) {
        Some(n) => Some(hex::decode(n.trim()).map_err(|e| Error::Evidence {
            field: "nonce",
            reason: format!("not hex: {e}"),
        })?),
        None => None,
    };
    Ok(DeviceEvidence {
        arch: opt_str(o.get("arch"), "arch")?.or_else(|| top_arch.map(str::to_owned)),
        uuid: opt_str(o.get("uuid"), "uuid")?,
        report,
        cert_chain,
        nonce,
        driver_version: opt_str(o.get("driver_version"), "driver_version")?,
        vbios_version: opt_str(o.get("vbios_version"), "vbios_version")?,
    })
}

fn as_array<'v>(v: &'v Value, field: &'static str) -> Result<&'v [Value]> {
    v.as_array()
        .map(Vec::as_slice)
        .ok_or_else(|| Error::Evidence {
            field,
            reason: "not an array".into(),
        })
}

fn opt_str(v: Option<&Value>, field: &'static str) -> Result<Option<String>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Error::Evidence {
            field,
            reason: "not a string".into(),
        }),
    }
}

fn decode_report_text(s: &str) -> Result<Vec<u8>> {
    let compact: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if compact.len() > 2 * MAX_REPORT_LEN + 8 {
        return Err(Error::TooLarge {
            what: "evidence string",
            len: compact.len(),
            max: 2 * MAX_REPORT_LEN,
        });
    }
    if compact.len() % 2 == 0 && compact.bytes().all(|b| b.is_ascii_hexdigit()) {
        return hex::decode(&compact).map_err(|e| Error::Evidence {
            field: "evidence",
            reason: format!("hex: {e}"),
        });
    }
    base64_any(&compact).ok_or_else(|| Error::Evidence {
        field: "evidence",
        reason: "neither hex nor base64".into(),
    })
}

fn decode_chain_text(s: &str) -> Result<Vec<u8>> {
    if s.trim_start().starts_with("-----BEGIN") {
        return Ok(s.as_bytes().to_vec());
    }
    let compact: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64_any(&compact).ok_or_else(|| Error::Evidence {
        field: "certificate",
        reason: "neither PEM nor base64".into(),
    })
}

fn base64_any(s: &str) -> Option<Vec<u8>> {
    [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD]
        .into_iter()
        .find_map(|e| e.decode(s).ok())
}

/// A bare report: binary starting with a GET_MEASUREMENTS request followed
/// by a MEASUREMENTS response, or the same as hex text.
pub(crate) fn raw_report(bytes: &[u8]) -> Option<Vec<u8>> {
    if looks_like_report(bytes) {
        return Some(bytes.to_vec());
    }
    let t = bytes.trim_ascii();
    if t.len() > 2 * MAX_REPORT_LEN || t.len() % 2 != 0 || !t.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let b = hex::decode(t).ok()?;
    looks_like_report(&b).then_some(b)
}

/// SPDM 1.x GET_MEASUREMENTS (0xE0) then, after the 37-byte request, a
/// MEASUREMENTS (0x60) response of the same version.
pub(crate) fn looks_like_report(b: &[u8]) -> bool {
    let (Some(v), Some(code), Some(rv), Some(rcode)) = (
        b.first(),
        b.get(1),
        b.get(REQUEST_LEN),
        b.get(REQUEST_LEN + 1),
    ) else {
        return false;
    };
    v >> 4 == 1 && *code == GET_MEASUREMENTS && rv == v && *rcode == MEASUREMENTS
}

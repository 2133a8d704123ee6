//! TPM evidence in the JSON shapes `rootline-verifier` reads: rootline's
//! own (Trustee's older TPM attester shape: the AK as PEM, one quote per PCR
//! bank with the quoted values in selection order, and the event log) and
//! guest-components' current one (`{tpm_quote: {signature, message, pcrs},
//! ak_public}`), the only one Trustee's KBS reads.
//!
//! The report data (the KBS binding, SHA-384 of the runtime data) goes into
//! the quote as qualifying data, where a verifier finds it as `extraData`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rootline_core::HashAlg;
use serde_json::{Map, Value, json};

use crate::Error;
use crate::tpm::{Ak, Selection, Tpm};

/// The AK's public key as a DER SubjectPublicKeyInfo.
pub fn ak_spki_der(ak: &Ak) -> Result<Vec<u8>, Error> {
    rootline_tpm::TpmtPublic::parse(&ak.public)
        .and_then(|p| p.public_key().and_then(|k| k.spki_der()))
        .map_err(|e| Error::malformed("attestation key public area", e.to_string()))
}

/// The AK's public key as a PEM SubjectPublicKeyInfo.
pub fn ak_pem(ak: &Ak) -> Result<String, Error> {
    Ok(pem("PUBLIC KEY", &ak_spki_der(ak)?))
}

/// PEM armour around DER bytes.
pub fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Quotes every bank of `sel` separately with `report_data` as qualifying
/// data and assembles the evidence JSON.
pub fn collect(
    tpm: &mut Tpm,
    ak: &Ak,
    sel: &Selection,
    report_data: &[u8],
    eventlog: Option<&[u8]>,
) -> Result<Value, Error> {
    let mut quotes = Map::new();
    for (bank, indices) in sel {
        let one = [(*bank, indices.clone())];
        let q = tpm.quote(ak, &one, report_data)?;
        let values = tpm.pcr_read(&one)?;
        let mut sorted = indices.clone();
        sorted.sort_unstable();
        sorted.dedup();
        let pcrs: Vec<Value> = sorted
            .iter()
            .map(|i| values.get(*bank, *i).map(|v| Value::String(hex::encode(v))))
            .collect::<Option<_>>()
            .ok_or_else(|| Error::malformed("PCR read", format!("{bank} values missing")))?;
        let name = bank
            .name()
            .ok_or_else(|| Error::Unsupported(format!("PCR bank {bank}")))?;
        quotes.insert(
            name.to_owned(),
            json!({
                "attest_body": STANDARD.encode(&q.attest),
                "attest_sig": STANDARD.encode(&q.signature),
                "pcrs": pcrs,
            }),
        );
    }
    let mut out = json!({
        "ak_pubkey": ak_pem(ak)?,
        "quote": quotes,
    });
    if let (Some(log), Value::Object(m)) = (eventlog, &mut out) {
        m.insert("eventlog".into(), STANDARD.encode(log).into());
    }
    Ok(out)
}

/// guest-components' TPM evidence (attestation-agent/attester/src/tpm):
/// one quote of SHA-256 PCRs 0-23 with `report_data` resized to 32 bytes
/// as qualifying data, its TPMT_SIGNATURE, the 24 values as hex, and the
/// AK as a DER SubjectPublicKeyInfo, each base64.
pub fn collect_guest_components(
    tpm: &mut Tpm,
    ak: &Ak,
    report_data: &[u8],
) -> Result<Value, Error> {
    let mut qualifying = report_data.to_vec();
    qualifying.resize(32, 0);
    let sel = [(HashAlg::SHA256, (0u8..24).collect::<Vec<u8>>())];
    let q = tpm.quote(ak, &sel, &qualifying)?;
    let values = tpm.pcr_read(&sel)?;
    let pcrs: Vec<Value> = (0u8..24)
        .map(|i| {
            values
                .get(HashAlg::SHA256, i)
                .map(|v| Value::String(hex::encode(v)))
        })
        .collect::<Option<_>>()
        .ok_or_else(|| Error::malformed("PCR read", "sha256 values missing"))?;
    let der = ak_spki_der(ak)?;
    Ok(json!({
        "tpm_quote": {
            "signature": STANDARD.encode(&q.signature),
            "message": STANDARD.encode(&q.attest),
            "pcrs": pcrs,
        },
        "ak_public": STANDARD.encode(der),
    }))
}

/// The default selection: PCRs 0-9 and 14 (firmware, boot loader, kernel,
/// Secure Boot) in SHA-256.
pub fn default_selection() -> Vec<(HashAlg, Vec<u8>)> {
    vec![(HashAlg::SHA256, vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 14])]
}

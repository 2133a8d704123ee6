//! Register values given from outside: the values a quote signed, or that a
//! person expects.
//!
//! Three spellings are read, recognised by content: JSON `{bank: {index:
//! hex}}` (what `rootline eventlog replay --json` prints under `pcrs`), the
//! YAML `tpm2_pcrread` and `tpm2_quote` print, and the binary file
//! `tpm2_quote -o` writes (tpm2-tools 5.x: a raw TPML_PCR_SELECTION in host
//! order, a UINT32 count, then that many raw TPML_DIGEST structures).

use std::collections::BTreeMap;

use rootline_core::{Digest, HashAlg, Reader};

use crate::Error;

/// Register values per bank.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PcrValues {
    /// Bank -> register index -> value.
    pub banks: BTreeMap<HashAlg, BTreeMap<u32, Digest>>,
}

/// JSON `{bank: {index: hex}}` of register values, the spelling
/// [`PcrValues::from_json`] reads; banks without registers are left out.
pub fn banks_to_json(banks: &BTreeMap<HashAlg, BTreeMap<u32, Digest>>) -> serde_json::Value {
    let m: serde_json::Map<String, serde_json::Value> = banks
        .iter()
        .filter(|(_, regs)| !regs.is_empty())
        .map(|(bank, regs)| {
            let r: serde_json::Map<String, serde_json::Value> = regs
                .iter()
                .map(|(i, d)| (i.to_string(), d.hex().into()))
                .collect();
            (bank.to_string(), r.into())
        })
        .collect();
    m.into()
}

impl PcrValues {
    /// JSON `{bank: {index: hex}}`, as [`PcrValues::from_json`] reads it.
    pub fn to_json(&self) -> serde_json::Value {
        banks_to_json(&self.banks)
    }

    /// Reads any of the three spellings.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let trimmed = bytes
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .and_then(|i| bytes.get(i));
        match trimmed {
            Some(b'{') => Self::from_json(bytes),
            _ if std::str::from_utf8(bytes).is_ok_and(|s| s.contains(':')) => {
                Self::from_yaml(std::str::from_utf8(bytes).unwrap_or_default())
            }
            _ => Self::from_tpm2_tools_binary(bytes),
        }
    }

    /// JSON `{"sha256": {"0": "hex", ...}}`, optionally wrapped as `{"pcrs": {...}}`.
    pub fn from_json(bytes: &[u8]) -> Result<Self, Error> {
        let v: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| Error::Pcrs(format!("not JSON: {e}")))?;
        let v = v.get("pcrs").cloned().unwrap_or(v);
        let obj = v
            .as_object()
            .ok_or_else(|| Error::Pcrs("expected an object {bank: {index: hex}}".into()))?;
        let mut out = Self::default();
        for (bank, regs) in obj {
            let alg = HashAlg::from_name(bank)
                .ok_or_else(|| Error::Pcrs(format!("unknown bank {bank:?}")))?;
            let regs = regs
                .as_object()
                .ok_or_else(|| Error::Pcrs(format!("bank {bank} is not an object")))?;
            for (idx, hexv) in regs {
                let s = hexv
                    .as_str()
                    .ok_or_else(|| Error::Pcrs(format!("{bank}:{idx} is not a hex string")))?;
                out.insert(alg, idx, s)?;
            }
        }
        Ok(out)
    }

    /// The YAML of `tpm2_pcrread` / `tpm2_quote` (`sha256:` then `  0 : 0x...`).
    pub fn from_yaml(text: &str) -> Result<Self, Error> {
        let mut out = Self::default();
        let mut bank: Option<HashAlg> = None;
        let mut in_pcrs = false;
        let mut base_indent = 0usize;
        for line in text.lines() {
            let indent = line.len() - line.trim_start().len();
            let l = line.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            if l == "pcrs:" {
                in_pcrs = true;
                base_indent = indent;
                continue;
            }
            let Some((k, v)) = l.split_once(':') else {
                continue;
            };
            let (k, v) = (k.trim(), v.trim());
            if v.is_empty() {
                if let Some(alg) = HashAlg::from_name(k) {
                    bank = Some(alg);
                    continue;
                }
                if in_pcrs && indent <= base_indent {
                    in_pcrs = false;
                }
                bank = None;
                continue;
            }
            if let (Some(alg), true) = (bank, k.chars().all(|c| c.is_ascii_digit())) {
                out.insert(alg, k, v)?;
            }
        }
        if out.banks.is_empty() {
            return Err(Error::Pcrs(
                "no PCR values found: expected JSON {bank: {index: hex}}, tpm2_pcrread YAML or a tpm2_quote -o file".into(),
            ));
        }
        Ok(out)
    }

    /// The binary file `tpm2_quote -o` writes.
    pub fn from_tpm2_tools_binary(bytes: &[u8]) -> Result<Self, Error> {
        Self::binary(bytes).map_err(|e| match e {
            Error::Malformed(c) => {
                Error::Pcrs(format!("not JSON, YAML or a tpm2_quote -o file: {c}"))
            }
            other => other,
        })
    }

    fn binary(bytes: &[u8]) -> Result<Self, Error> {
        const SELECTIONS: usize = 16;
        const SEL_SIZE: usize = 8; // u16 hash, u8 sizeofSelect, u8[4] select, 1 pad
        const DIGESTS: usize = 8;
        const TPM2B_SIZE: usize = 2 + 64;
        let mut r = Reader::new(bytes);
        let count = r.u32_le("TPML_PCR_SELECTION.count")? as usize;
        if count > SELECTIONS {
            return Err(Error::Pcrs(format!(
                "TPML_PCR_SELECTION.count is {count}; at most {SELECTIONS}"
            )));
        }
        let mut sels = Vec::new();
        for i in 0..SELECTIONS {
            let mut s = r.sub(SEL_SIZE, "TPMS_PCR_SELECTION")?;
            let alg = HashAlg(s.u16_le("hash")?);
            let size = s.u8("sizeofSelect")? as usize;
            let bits = s.array::<4>("pcrSelect")?;
            if i < count {
                if size > 4 {
                    return Err(Error::Pcrs(format!("sizeofSelect is {size}; at most 4")));
                }
                sels.push((alg, bits, size));
            }
        }
        let n_lists = r.u32_le("TPML_DIGEST count")? as usize;
        if n_lists > 64 {
            return Err(Error::Pcrs(format!(
                "{n_lists} digest lists is implausible"
            )));
        }
        let mut values = Vec::new();
        for _ in 0..n_lists {
            let mut l = r.sub(4 + DIGESTS * TPM2B_SIZE, "TPML_DIGEST")?;
            let c = l.u32_le("TPML_DIGEST.count")? as usize;
            if c > DIGESTS {
                return Err(Error::Pcrs(format!(
                    "TPML_DIGEST.count is {c}; at most {DIGESTS}"
                )));
            }
            for k in 0..DIGESTS {
                let mut d = l.sub(TPM2B_SIZE, "TPM2B_DIGEST")?;
                let size = d.u16_le("TPM2B_DIGEST.size")? as usize;
                let buf = d.take(64, "TPM2B_DIGEST.buffer")?;
                if k < c {
                    let v = buf
                        .get(..size)
                        .ok_or_else(|| Error::Pcrs(format!("digest size {size} exceeds 64")))?;
                    values.push(v.to_vec());
                }
            }
        }
        r.finish("PCR values file")?;
        let mut out = Self::default();
        let mut it = values.into_iter();
        for (alg, bits, size) in sels {
            for (byte_i, byte) in bits.iter().take(size).enumerate() {
                for bit in 0..8 {
                    if byte & (1 << bit) != 0 {
                        let pcr = (byte_i * 8 + bit) as u32;
                        let v = it.next().ok_or_else(|| {
                            Error::Pcrs("fewer digests than selected PCRs".into())
                        })?;
                        out.banks
                            .entry(alg)
                            .or_default()
                            .insert(pcr, Digest::new(alg, v));
                    }
                }
            }
        }
        if it.next().is_some() {
            return Err(Error::Pcrs("more digests than selected PCRs".into()));
        }
        Ok(out)
    }

    fn insert(&mut self, alg: HashAlg, idx: &str, hexv: &str) -> Result<(), Error> {
        let pcr: u32 = idx
            .trim()
            .parse()
            .map_err(|_| Error::Pcrs(format!("{alg}: register index {idx:?} is not a number")))?;
        if pcr > 23 {
            return Err(Error::Pcrs(format!(
                "{alg}: register {pcr} does not exist (0-23)"
            )));
        }
        let bytes = rootline_core::from_hex(hexv.trim_matches('"'))
            .map_err(|e| Error::Pcrs(format!("{alg}:{pcr}: {hexv:?} is not hex: {e}")))?;
        if let Some(len) = alg.digest_len() {
            if bytes.len() != len {
                return Err(Error::Pcrs(format!(
                    "{alg}:{pcr}: {} bytes, but {alg} digests are {len}",
                    bytes.len()
                )));
            }
        }
        self.banks
            .entry(alg)
            .or_default()
            .insert(pcr, Digest::new(alg, bytes));
        Ok(())
    }
}

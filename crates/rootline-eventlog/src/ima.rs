//! The Linux IMA binary runtime measurement list
//! (`/sys/kernel/security/ima/binary_runtime_measurements`).
//!
//! Each entry: PCR (u32), the SHA-1 template digest, the template name, and
//! the template data (host byte order; x86 and Arm are little-endian). IMA
//! extends the SHA-1 bank with the template digest and every other bank with
//! the hash of the template data under that bank's algorithm; a violation
//! (template digest all zero) extends all ones instead.

use std::collections::BTreeMap;

use rootline_core::{Digest, HashAlg, Reader};
use serde::Serialize;

use crate::Error;

/// One IMA entry.
#[derive(Debug, Clone, Serialize)]
pub struct ImaEntry {
    /// Position in the list.
    pub index: usize,
    /// The PCR it extends (10 by default).
    pub pcr: u32,
    /// The SHA-1 template digest.
    pub template_digest: Digest,
    /// Template name (ima, ima-ng, ima-sig, ima-buf...).
    pub template: String,
    /// The template data as measured.
    #[serde(serialize_with = "crate::ser_hex")]
    pub template_data: Vec<u8>,
    /// The file digest algorithm (ima-ng and later).
    pub file_digest_alg: Option<String>,
    /// The file digest.
    pub file_digest: Option<String>,
    /// The file name (or buffer name).
    pub file_name: Option<String>,
    /// The signature (ima-sig), hex.
    pub signature: Option<String>,
}

impl ImaEntry {
    /// True when this entry records a violation (a file opened for write while measured).
    pub fn is_violation(&self) -> bool {
        self.template_digest.bytes.iter().all(|b| *b == 0)
    }
}

/// A parsed IMA list.
#[derive(Debug, Clone, Serialize)]
pub struct ImaLog {
    /// The entries.
    pub entries: Vec<ImaEntry>,
}

impl ImaLog {
    /// Parses the binary list.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(bytes);
        let mut entries = Vec::new();
        while !r.is_empty() {
            let pcr = r.u32_le("pcr")?;
            let digest = r.array::<20>("template digest")?;
            let name_len = r.u32_le("template name length")? as usize;
            if name_len > 255 {
                return Err(r
                    .invalid("template name length", format!("{name_len} exceeds 255"))
                    .into());
            }
            let template = String::from_utf8_lossy(r.take(name_len, "template name")?).into_owned();
            let data = if template == "ima" {
                // The original template has no length prefix: SHA-1 digest, then a
                // length-prefixed name (up to 255 bytes).
                let start = r.clone();
                r.take(20, "ima file digest")?;
                let n = r.u32_le("ima file name length")? as usize;
                r.take(n, "ima file name")?;
                let used = start.remaining() - r.remaining();
                start.peek_rest().get(..used).unwrap_or(&[]).to_vec()
            } else {
                r.vec_u32_le("template data")?.to_vec()
            };
            let mut e = ImaEntry {
                index: entries.len(),
                pcr,
                template_digest: Digest::new(HashAlg::SHA1, digest.to_vec()),
                template,
                template_data: data,
                file_digest_alg: None,
                file_digest: None,
                file_name: None,
                signature: None,
            };
            decode_fields(&mut e);
            entries.push(e);
        }
        Ok(Self { entries })
    }

    /// Replays into PCR values for the given banks.
    pub fn replay(&self, banks: &[HashAlg]) -> BTreeMap<HashAlg, BTreeMap<u32, Digest>> {
        let mut out: BTreeMap<HashAlg, BTreeMap<u32, Digest>> = BTreeMap::new();
        for alg in banks {
            let (Some(zero), Some(len)) = (alg.zero(), alg.digest_len()) else {
                continue;
            };
            let bank = out.entry(*alg).or_default();
            for e in &self.entries {
                let m = if e.is_violation() {
                    vec![0xff; len]
                } else if *alg == HashAlg::SHA1 {
                    e.template_digest.bytes.clone()
                } else {
                    match alg.hash(&e.template_data) {
                        Some(d) => d.bytes,
                        None => continue,
                    }
                };
                let reg = bank.entry(e.pcr).or_insert_with(|| zero.clone());
                let _ = reg.extend(&m);
            }
        }
        out
    }

    /// Entries whose SHA-1 template digest does not match their template data:
    /// a list edited after the fact.
    pub fn check_template_digests(&self) -> Vec<usize> {
        self.entries
            .iter()
            .filter(|e| !e.is_violation())
            .filter(|e| {
                HashAlg::SHA1
                    .hash(&e.template_data)
                    .is_some_and(|d| d.bytes != e.template_digest.bytes)
            })
            .map(|e| e.index)
            .collect()
    }
}

fn decode_fields(e: &mut ImaEntry) {
    let mut r = Reader::new(&e.template_data);
    let mut fields = Vec::new();
    if e.template == "ima" {
        if let (Ok(d), Ok(n)) = (r.take(20, "d"), r.vec_u32_le("n")) {
            e.file_digest_alg = Some("sha1".into());
            e.file_digest = Some(hex::encode(d));
            e.file_name = Some(String::from_utf8_lossy(n).trim_end_matches('\0').to_owned());
        }
        return;
    }
    while !r.is_empty() {
        match r.vec_u32_le("field") {
            Ok(f) => fields.push(f),
            Err(_) => return,
        }
    }
    if let Some(d) = fields.first() {
        // d-ng: "alg:\0" + digest, or a bare SHA-1/MD5 digest for legacy algs.
        if let Some(pos) = d.windows(2).position(|w| w == b":\0") {
            e.file_digest_alg =
                Some(String::from_utf8_lossy(d.get(..pos).unwrap_or(&[])).into_owned());
            e.file_digest = Some(hex::encode(d.get(pos + 2..).unwrap_or(&[])));
        } else {
            e.file_digest_alg = Some("sha1".into());
            e.file_digest = Some(hex::encode(d));
        }
    }
    if let Some(n) = fields.get(1) {
        e.file_name = Some(String::from_utf8_lossy(n).trim_end_matches('\0').to_owned());
    }
    if let Some(s) = fields.get(2).filter(|s| !s.is_empty()) {
        e.signature = Some(hex::encode(s));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, file_digest: &[u8], path: &str) -> Vec<u8> {
        let mut d = b"sha256:\0".to_vec();
        d.extend_from_slice(file_digest);
        let mut n = path.as_bytes().to_vec();
        n.push(0);
        let mut data = Vec::new();
        data.extend_from_slice(&(d.len() as u32).to_le_bytes());
        data.extend_from_slice(&d);
        data.extend_from_slice(&(n.len() as u32).to_le_bytes());
        data.extend_from_slice(&n);
        let td = HashAlg::SHA1.hash(&data).unwrap();
        let mut out = Vec::new();
        out.extend_from_slice(&10u32.to_le_bytes());
        out.extend_from_slice(&td.bytes);
        out.extend_from_slice(&(name.len() as u32).to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&data);
        out
    }

    #[test]
    fn ima_ng_round_trip_and_replay() {
        let mut log = entry("ima-ng", &[7u8; 32], "boot_aggregate");
        log.extend(entry("ima-ng", &[9u8; 32], "/usr/bin/sh"));
        let l = ImaLog::parse(&log).unwrap();
        assert_eq!(l.entries.len(), 2);
        assert_eq!(l.entries[1].file_name.as_deref(), Some("/usr/bin/sh"));
        assert_eq!(l.entries[1].file_digest_alg.as_deref(), Some("sha256"));
        assert!(l.check_template_digests().is_empty());
        let r = l.replay(&[HashAlg::SHA1, HashAlg::SHA256]);
        let mut want = HashAlg::SHA256.zero().unwrap();
        for e in &l.entries {
            want.extend(&HashAlg::SHA256.hash(&e.template_data).unwrap().bytes)
                .unwrap();
        }
        assert_eq!(r[&HashAlg::SHA256][&10], want);
    }

    #[test]
    fn edited_entry_is_found_and_truncation_is_an_error() {
        let mut log = entry("ima-ng", &[7u8; 32], "/etc/passwd");
        let last = log.len() - 3;
        log[last] ^= 1;
        let l = ImaLog::parse(&log).unwrap();
        assert_eq!(l.check_template_digests(), vec![0]);
        for cut in 1..log.len() {
            assert!(ImaLog::parse(&log[..cut]).is_err(), "cut at {cut}");
        }
    }
}

//! Writing event logs: what a measuring boot stage (or a test) produces.
//!
//! The attester uses this to log the stages it measures into a TPM, and tests
//! use it to make synthetic logs of every event type, bank and quirk. Each
//! measurement is hashed once per bank, as firmware does.

use rootline_core::{Digest, HashAlg};

use crate::EventType;

/// Builds a crypto-agile (or SHA-1 legacy) log.
#[derive(Debug, Clone)]
pub struct LogBuilder {
    banks: Vec<HashAlg>,
    agile: bool,
    out: Vec<u8>,
    /// Digests of every extended event, for callers that also extend a TPM.
    extended: Vec<(u32, Vec<Digest>)>,
}

impl LogBuilder {
    /// A crypto-agile log with the given banks (each must be computable and known).
    pub fn crypto_agile(banks: &[HashAlg]) -> Self {
        let mut spec = b"Spec ID Event03\0".to_vec();
        spec.extend_from_slice(&0u32.to_le_bytes()); // platformClass: client
        spec.extend_from_slice(&[0, 2, 0, 2]); // minor 0, major 2, errata 0, uintnSize 2
        spec.extend_from_slice(&(banks.len() as u32).to_le_bytes());
        for b in banks {
            spec.extend_from_slice(&b.0.to_le_bytes());
            spec.extend_from_slice(&(b.digest_len().unwrap_or(0) as u16).to_le_bytes());
        }
        spec.push(0); // vendorInfoSize
        let mut me = Self {
            banks: banks.to_vec(),
            agile: true,
            out: Vec::new(),
            extended: Vec::new(),
        };
        me.write_sha1_format(0, EventType::EV_NO_ACTION, &[0u8; 20], &spec);
        me
    }

    /// A SHA-1 legacy log.
    pub fn sha1() -> Self {
        Self {
            banks: vec![HashAlg::SHA1],
            agile: false,
            out: Vec::new(),
            extended: Vec::new(),
        }
    }

    /// The banks this log carries.
    pub fn banks(&self) -> &[HashAlg] {
        &self.banks
    }

    /// Appends a StartupLocality event (PCR 0 starts at `locality`).
    pub fn startup_locality(&mut self, locality: u8) -> &mut Self {
        let mut data = b"StartupLocality\0".to_vec();
        data.push(locality);
        self.no_action(&data)
    }

    /// Appends an EV_NO_ACTION event with `data` and zero digests.
    pub fn no_action(&mut self, data: &[u8]) -> &mut Self {
        let zeros: Vec<Digest> = self.banks.iter().filter_map(|b| b.zero()).collect();
        self.write(0, EventType::EV_NO_ACTION, &zeros, data);
        self
    }

    /// Appends an event whose digests are the hash of `measured` in every bank.
    pub fn measure(&mut self, pcr: u32, t: EventType, measured: &[u8], data: &[u8]) -> &mut Self {
        let digests: Vec<Digest> = self.banks.iter().filter_map(|b| b.hash(measured)).collect();
        self.event(pcr, t, &digests, data)
    }

    /// Appends an event whose digest is the hash of its own data.
    pub fn measure_data(&mut self, pcr: u32, t: EventType, data: &[u8]) -> &mut Self {
        self.measure(pcr, t, data, data)
    }

    /// Appends an event with explicit digests (one per bank, in bank order).
    pub fn event(&mut self, pcr: u32, t: EventType, digests: &[Digest], data: &[u8]) -> &mut Self {
        self.write(pcr, t, digests, data);
        if t != EventType::EV_NO_ACTION {
            self.extended.push((pcr, digests.to_vec()));
        }
        self
    }

    /// Every extension made so far: (PCR, digests per bank).
    pub fn extensions(&self) -> &[(u32, Vec<Digest>)] {
        &self.extended
    }

    /// The log bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.out
    }

    /// Consumes the builder, returning the log bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.out
    }

    fn write(&mut self, pcr: u32, t: EventType, digests: &[Digest], data: &[u8]) {
        if !self.agile {
            let d = digests
                .iter()
                .find(|d| d.alg == HashAlg::SHA1)
                .map(|d| d.bytes.clone())
                .unwrap_or_else(|| vec![0; 20]);
            self.write_sha1_format(pcr, t, &d, data);
            return;
        }
        self.out.extend_from_slice(&pcr.to_le_bytes());
        self.out.extend_from_slice(&t.0.to_le_bytes());
        self.out
            .extend_from_slice(&(digests.len() as u32).to_le_bytes());
        for d in digests {
            self.out.extend_from_slice(&d.alg.0.to_le_bytes());
            self.out.extend_from_slice(&d.bytes);
        }
        self.out
            .extend_from_slice(&(data.len() as u32).to_le_bytes());
        self.out.extend_from_slice(data);
    }

    fn write_sha1_format(&mut self, pcr: u32, t: EventType, digest: &[u8], data: &[u8]) {
        self.out.extend_from_slice(&pcr.to_le_bytes());
        self.out.extend_from_slice(&t.0.to_le_bytes());
        self.out.extend_from_slice(digest);
        self.out
            .extend_from_slice(&(data.len() as u32).to_le_bytes());
        self.out.extend_from_slice(data);
    }
}

/// Event data helpers for the UEFI structures tests and the attester write.
pub mod data {
    use crate::Guid;

    /// UTF-16LE with a terminating NUL.
    pub fn utf16z(s: &str) -> Vec<u8> {
        s.encode_utf16()
            .chain(std::iter::once(0))
            .flat_map(|u| u.to_le_bytes())
            .collect()
    }

    /// UEFI_VARIABLE_DATA (PFP 10.4.5.6 / UEFI_VARIABLE_DATA).
    pub fn variable(guid: Guid, name: &str, value: &[u8]) -> Vec<u8> {
        let units: Vec<u16> = name.encode_utf16().collect();
        let mut v = guid.0.to_vec();
        v.extend_from_slice(&(units.len() as u64).to_le_bytes());
        v.extend_from_slice(&(value.len() as u64).to_le_bytes());
        for u in units {
            v.extend_from_slice(&u.to_le_bytes());
        }
        v.extend_from_slice(value);
        v
    }

    /// A file-path device path ending in an end node.
    pub fn file_path(path: &str) -> Vec<u8> {
        let name = utf16z(path);
        let mut dp = vec![4u8, 4];
        dp.extend_from_slice(&((4 + name.len()) as u16).to_le_bytes());
        dp.extend_from_slice(&name);
        dp.extend_from_slice(&[0x7f, 0xff, 4, 0]);
        dp
    }

    /// UEFI_IMAGE_LOAD_EVENT for an image at `path`.
    pub fn image_load(location: u64, length: u64, path: &str) -> Vec<u8> {
        let dp = file_path(path);
        let mut v = Vec::new();
        v.extend_from_slice(&location.to_le_bytes());
        v.extend_from_slice(&length.to_le_bytes());
        v.extend_from_slice(&0u64.to_le_bytes());
        v.extend_from_slice(&(dp.len() as u64).to_le_bytes());
        v.extend_from_slice(&dp);
        v
    }

    /// UEFI_PLATFORM_FIRMWARE_BLOB2.
    pub fn firmware_blob2(desc: &str, base: u64, length: u64) -> Vec<u8> {
        let mut v = vec![desc.len() as u8];
        v.extend_from_slice(desc.as_bytes());
        v.extend_from_slice(&base.to_le_bytes());
        v.extend_from_slice(&length.to_le_bytes());
        v
    }

    /// An EFI_LOAD_OPTION for Boot####.
    pub fn load_option(description: &str, path: &str) -> Vec<u8> {
        let dp = file_path(path);
        let mut v = 1u32.to_le_bytes().to_vec();
        v.extend_from_slice(&(dp.len() as u16).to_le_bytes());
        v.extend_from_slice(&utf16z(description));
        v.extend_from_slice(&dp);
        v
    }
}

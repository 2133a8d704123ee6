//! PCR selections and PCR values.
//!
//! A quote signs a TPML_PCR_SELECTION and a digest of the selected PCR values
//! (in selection order: banks as listed, indices ascending); the values
//! themselves travel beside the quote. [`PcrValues::from_tpm2_tools`] reads
//! the file `tpm2_quote -o` writes: tpm2-tools 5.x dumps its in-memory C
//! structures in host byte order (a TPML_PCR_SELECTION of 16 fixed 8-byte
//! entries, then a count and that many TPML_DIGEST of 8 fixed 66-byte
//! TPM2B_DIGEST slots; see `pcr_fwrite_serialized` in tpm2-tools `lib/pcr.c`).

use std::collections::BTreeMap;

use rootline_core::{CodecError, HashAlg, Reader};

use crate::error::Error;

/// Most banks a TPML_PCR_SELECTION may list (TPM2_NUM_PCR_BANKS).
pub const MAX_BANKS: usize = 16;
/// Most bytes of a PCR bitmap (TPM2_PCR_SELECT_MAX: 32 PCRs).
pub const MAX_SELECT: usize = 4;

/// TPMS_PCR_SELECTION: one bank and a bitmap of its PCRs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcrBank {
    /// The bank's hash algorithm.
    pub hash: HashAlg,
    /// The bitmap, PCR n at byte n/8, bit n%8.
    pub select: Vec<u8>,
}

impl PcrBank {
    /// A bank selecting `indices` (indices above 31 do not exist and are ignored).
    pub fn new(hash: HashAlg, indices: &[u8]) -> Self {
        let mut select = vec![0u8; 3];
        for &i in indices.iter().filter(|i| **i < 32) {
            let byte = usize::from(i / 8);
            if select.len() <= byte {
                select.resize(byte + 1, 0);
            }
            if let Some(b) = select.get_mut(byte) {
                *b |= 1 << (i % 8);
            }
        }
        Self { hash, select }
    }

    /// The selected PCR indices, ascending.
    pub fn indices(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // A parsed bitmap has at most MAX_SELECT bytes; a hand-built one may
        // be longer, and indices that do not fit a u8 are not PCRs.
        for (byte, bits) in self.select.iter().enumerate().take(MAX_SELECT) {
            for bit in 0..8u8 {
                if bits & (1 << bit) != 0 {
                    out.push((byte as u8) * 8 + bit);
                }
            }
        }
        out
    }
}

/// TPML_PCR_SELECTION.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PcrSelection {
    /// The banks, in the order the TPM hashed them.
    pub banks: Vec<PcrBank>,
}

impl PcrSelection {
    /// Parses a marshalled (big-endian) TPML_PCR_SELECTION.
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        let count = r.u32_be("TPML_PCR_SELECTION.count")? as usize;
        if count > MAX_BANKS {
            return Err(r.invalid(
                "TPML_PCR_SELECTION.count",
                format!("{count} banks, at most {MAX_BANKS} allowed"),
            ));
        }
        let mut banks = Vec::with_capacity(count);
        for _ in 0..count {
            let hash = HashAlg(r.u16_be("TPMS_PCR_SELECTION.hash")?);
            let size = usize::from(r.u8("TPMS_PCR_SELECTION.sizeofSelect")?);
            if size > MAX_SELECT {
                return Err(r.invalid(
                    "TPMS_PCR_SELECTION.sizeofSelect",
                    format!("{size} bytes, at most {MAX_SELECT} allowed"),
                ));
            }
            let select = r.take(size, "TPMS_PCR_SELECTION.pcrSelect")?.to_vec();
            banks.push(PcrBank { hash, select });
        }
        Ok(Self { banks })
    }

    /// Marshals to the TPM wire format.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(self.banks.len() as u32).to_be_bytes());
        for b in &self.banks {
            out.extend_from_slice(&b.hash.0.to_be_bytes());
            out.push(b.select.len() as u8);
            out.extend_from_slice(&b.select);
        }
        out
    }

    /// Every (bank, index) pair, in the order the TPM hashes them.
    pub fn pairs(&self) -> Vec<(HashAlg, u8)> {
        self.banks
            .iter()
            .flat_map(|b| b.indices().into_iter().map(move |i| (b.hash, i)))
            .collect()
    }

    /// True when no PCR is selected.
    pub fn is_empty(&self) -> bool {
        self.pairs().is_empty()
    }
}

/// PCR values by bank and index.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PcrValues {
    banks: BTreeMap<HashAlg, BTreeMap<u8, Vec<u8>>>,
}

impl PcrValues {
    /// No values.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets one value, checking its length against the bank.
    pub fn insert(&mut self, bank: HashAlg, index: u8, value: Vec<u8>) -> Result<(), Error> {
        if index >= 32 {
            return Err(Error::PcrValues {
                reason: format!("{bank} PCR index {index} is out of range"),
            });
        }
        if let Some(len) = bank.digest_len() {
            if value.len() != len {
                return Err(Error::PcrValues {
                    reason: format!(
                        "{bank} PCR {index} has {} bytes, a {bank} digest has {len}",
                        value.len()
                    ),
                });
            }
        }
        self.banks.entry(bank).or_default().insert(index, value);
        Ok(())
    }

    /// Values listed in the order of `pairs` (a quote's selection, as
    /// quoting tools and attesters list them): exactly one per selected PCR,
    /// each checked as [`PcrValues::insert`] checks it.
    pub fn from_listed(pairs: &[(HashAlg, u8)], values: Vec<Vec<u8>>) -> Result<Self, Error> {
        if pairs.len() != values.len() {
            return Err(Error::PcrValues {
                reason: format!(
                    "{} values for a quote selecting {} PCRs",
                    values.len(),
                    pairs.len()
                ),
            });
        }
        let mut out = Self::new();
        for ((bank, index), v) in pairs.iter().zip(values) {
            out.insert(*bank, *index, v)?;
        }
        Ok(out)
    }

    /// One value.
    pub fn get(&self, bank: HashAlg, index: u8) -> Option<&[u8]> {
        self.banks.get(&bank)?.get(&index).map(Vec::as_slice)
    }

    /// The banks and their values.
    pub fn banks(&self) -> &BTreeMap<HashAlg, BTreeMap<u8, Vec<u8>>> {
        &self.banks
    }

    /// True when there are no values.
    pub fn is_empty(&self) -> bool {
        self.banks.values().all(BTreeMap::is_empty)
    }

    /// The digest a quote over `selection` carries when made with hash `alg`:
    /// `alg(value_1 || value_2 || ...)` in selection order.
    pub fn digest(&self, selection: &PcrSelection, alg: HashAlg) -> Result<Vec<u8>, Error> {
        let mut h = alg.hasher().ok_or_else(|| Error::Unsupported {
            what: "pcr digest hash algorithm",
            value: alg.to_string(),
        })?;
        for (bank, index) in selection.pairs() {
            let v = self
                .get(bank, index)
                .ok_or(Error::PcrValueMissing { bank, index })?;
            h.update(v);
        }
        Ok(h.finish().bytes)
    }

    /// Parses the file `tpm2_quote -o FILE` (and `tpm2_pcrread -o`) writes,
    /// returning the selection it records and the values.
    pub fn from_tpm2_tools(bytes: &[u8]) -> Result<(PcrSelection, Self), Error> {
        let what = "tpm2-tools PCR file";
        // tpm2-tools writes host byte order (little-endian on every machine
        // it ships for); some releases swapped to network order first. Tell
        // them apart by the bank count, which is at most 16.
        let head: [u8; 4] = bytes
            .get(..4)
            .and_then(|h| h.try_into().ok())
            .ok_or_else(|| {
                Error::malformed(what)(CodecError::Truncated {
                    field: "TPML_PCR_SELECTION.count",
                    offset: 0,
                    needed: 4,
                    available: bytes.len(),
                })
            })?;
        let le = u32::from_le_bytes(head) as usize <= MAX_BANKS;
        let mut r = Reader::new(bytes);
        let u16_ = |r: &mut Reader<'_>, f| if le { r.u16_le(f) } else { r.u16_be(f) };
        let u32_ = |r: &mut Reader<'_>, f| if le { r.u32_le(f) } else { r.u32_be(f) };

        let parse = |r: &mut Reader<'_>| -> Result<(PcrSelection, Vec<Vec<u8>>), CodecError> {
            let count = u32_(r, "TPML_PCR_SELECTION.count")? as usize;
            if count > MAX_BANKS {
                return Err(r.invalid("TPML_PCR_SELECTION.count", format!("{count} banks")));
            }
            let mut banks = Vec::new();
            for i in 0..MAX_BANKS {
                let hash = HashAlg(u16_(r, "TPMS_PCR_SELECTION.hash")?);
                let size = usize::from(r.u8("TPMS_PCR_SELECTION.sizeofSelect")?);
                let select = r.array::<4>("TPMS_PCR_SELECTION.pcrSelect")?;
                r.take(1, "TPMS_PCR_SELECTION padding")?;
                if i < count {
                    let sel = select.get(..size).ok_or_else(|| {
                        r.invalid("TPMS_PCR_SELECTION.sizeofSelect", format!("{size} > 4"))
                    })?;
                    banks.push(PcrBank {
                        hash,
                        select: sel.to_vec(),
                    });
                }
            }
            let lists = u32_(r, "tpm2_pcrs.count")? as usize;
            // 32 PCRs in each of 16 banks, 8 digests to a list.
            if lists > MAX_BANKS * 32 / 8 {
                return Err(r.invalid("tpm2_pcrs.count", format!("{lists} digest lists")));
            }
            let mut digests = Vec::new();
            for _ in 0..lists {
                let n = u32_(r, "TPML_DIGEST.count")? as usize;
                if n > 8 {
                    return Err(r.invalid("TPML_DIGEST.count", format!("{n} digests, at most 8")));
                }
                for slot in 0..8 {
                    let size = usize::from(u16_(r, "TPM2B_DIGEST.size")?);
                    let buf = r.array::<64>("TPM2B_DIGEST.buffer")?;
                    if slot < n {
                        let d = buf.get(..size).ok_or_else(|| {
                            r.invalid("TPM2B_DIGEST.size", format!("{size} > 64"))
                        })?;
                        digests.push(d.to_vec());
                    }
                }
            }
            r.finish("tpm2-tools PCR file")?;
            Ok((PcrSelection { banks }, digests))
        };
        let (selection, digests) = parse(&mut r).map_err(Error::malformed(what))?;
        let pairs = selection.pairs();
        if pairs.len() != digests.len() {
            return Err(Error::PcrValues {
                reason: format!(
                    "the PCR file selects {} PCRs but holds {} values",
                    pairs.len(),
                    digests.len()
                ),
            });
        }
        let mut values = Self::new();
        for ((bank, index), d) in pairs.into_iter().zip(digests) {
            values.insert(bank, index, d)?;
        }
        Ok((selection, values))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_round_trip_and_order() {
        let sel = PcrSelection {
            banks: vec![
                PcrBank::new(HashAlg::SHA256, &[16, 0, 7]),
                PcrBank::new(HashAlg::SHA1, &[23]),
            ],
        };
        let bytes = sel.to_bytes();
        let back = PcrSelection::parse(&mut Reader::new(&bytes)).unwrap();
        assert_eq!(back, sel);
        assert_eq!(
            back.pairs(),
            vec![
                (HashAlg::SHA256, 0),
                (HashAlg::SHA256, 7),
                (HashAlg::SHA256, 16),
                (HashAlg::SHA1, 23)
            ]
        );
    }

    #[test]
    fn too_many_banks_is_rejected_before_allocation() {
        let bytes = [0xff, 0xff, 0xff, 0xff];
        let e = PcrSelection::parse(&mut Reader::new(&bytes)).unwrap_err();
        assert!(matches!(
            e,
            CodecError::Invalid {
                field: "TPML_PCR_SELECTION.count",
                ..
            }
        ));
    }

    #[test]
    fn wrong_length_value_is_rejected() {
        let mut v = PcrValues::new();
        assert!(v.insert(HashAlg::SHA256, 0, vec![0; 20]).is_err());
        assert!(v.insert(HashAlg::SHA256, 0, vec![0; 32]).is_ok());
    }
}

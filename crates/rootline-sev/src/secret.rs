//! The LAUNCH_SECRET packet: the guest owner's secret, encrypted to the
//! measured launch, and the GUID-headed secret table OVMF hands to Linux.
//!
//! The packet (SEV API specification, AMD pub. 55766, "LAUNCH_SECRET"; AMD
//! `sev-tool` `create_launch_secret_header`, `sevctl secret build`, the `sev`
//! crate's `Session::secret`):
//!
//! - the payload is AES-128-CTR(TEK, IV, table);
//! - the 52-byte header is FLAGS (`u32` LE, 0) || IV (16) || MAC (32), with
//!   `MAC = HMAC-SHA256(TIK, 0x01 || FLAGS || IV || GUEST_LENGTH (u32 LE) ||
//!   TRANS_LENGTH (u32 LE) || payload || MEASURE)`, both lengths the payload's
//!   and MEASURE the LAUNCH_MEASURE HMAC. Binding MEASURE means the PSP
//!   accepts the packet only in the launch whose measurement was checked.
//!   (For API 0.17 and later: before 0.17 MEASURE was not included, and
//!   [`crate::measure`] refuses those versions.)
//!
//! The table (Linux `drivers/virt/coco/efi_secret/efi_secret.c`, "Structure
//! of the EFI secret area"; `sevctl secret build`): the header GUID
//! `1e74f542-71dd-4d66-963e-ef4287ff173b` and a `u32` length of the whole
//! table, then entries of a GUID, a `u32` length (20 + data) and the data.
//! Like `sevctl`, the table is then padded with 1 to 16 zero bytes to a
//! multiple of 16; the length field does not count the padding. Linux
//! exposes each entry as `/sys/kernel/security/secrets/coco/<guid>`.

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use rootline_core::Reader;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::measure::VerifiedLaunch;
use crate::session::{aes128_ctr, hmac_sha256};

/// A GUID in its in-memory (mixed-endian) byte order.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Guid(pub [u8; 16]);

impl Guid {
    /// The secret table's header GUID, `1e74f542-71dd-4d66-963e-ef4287ff173b`
    /// (Linux `EFI_SECRET_TABLE_HEADER_GUID`).
    pub const SECRET_TABLE: Guid = Guid([
        0x42, 0xf5, 0x74, 0x1e, 0xdd, 0x71, 0x66, 0x4d, 0x96, 0x3e, 0xef, 0x42, 0x87, 0xff, 0x17,
        0x3b,
    ]);
    /// The all-zero GUID, which marks a deleted entry.
    pub const NULL: Guid = Guid([0; 16]);
}

impl FromStr for Guid {
    type Err = Error;

    /// Parses the text form `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            Error::invalid(
                "GUID",
                format!("{s:?} is not of the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"),
            )
        };
        let groups: Vec<&str> = s.split('-').collect();
        let lens: Vec<usize> = groups.iter().map(|g| g.len()).collect();
        if lens != [8, 4, 4, 4, 12] {
            return Err(bad());
        }
        let bytes = hex::decode(groups.concat()).map_err(|_| bad())?;
        let b: [u8; 16] = bytes.try_into().map_err(|_| bad())?;
        Ok(Guid([
            b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13],
            b[14], b[15],
        ]))
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let g = &self.0;
        write!(
            f,
            "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-",
            g[3], g[2], g[1], g[0], g[5], g[4], g[7], g[6], g[8], g[9]
        )?;
        for b in g.iter().skip(10) {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Guid({self})")
    }
}

/// Header and entry headers: a GUID and a `u32` length.
const HEADER_LEN: usize = 20;

/// The largest table accepted, padding included: `sevctl`'s limit (its
/// tests fill 16 KiB). The OVMF build decides the real one (its SEV secret
/// area; 4 KiB in edk2's `AmdSevX64`), and LAUNCH_SECRET fails on the host if
/// the packet does not fit there.
pub const MAX_TABLE_LEN: usize = 16 * 1024;

/// The guest owner's secrets, each under a GUID that tells the guest what
/// it is (`736869e5-84f0-4973-92ec-06879ce3da0b` is the disk passphrase
/// GRUB's `efisecret` module and cryptsetup tooling look for, for example).
#[derive(Default, Clone)]
pub struct SecretTable {
    entries: Vec<(Guid, Zeroizing<Vec<u8>>)>,
}

impl fmt::Debug for SecretTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(
                self.entries
                    .iter()
                    .map(|(g, d)| format!("{g}: {} bytes", d.len())),
            )
            .finish()
    }
}

impl SecretTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a secret. Refuses the null GUID, a GUID already present and a
    /// table that would exceed [`MAX_TABLE_LEN`].
    pub fn insert(&mut self, guid: Guid, data: &[u8]) -> Result<()> {
        if guid == Guid::NULL || guid == Guid::SECRET_TABLE {
            return Err(Error::invalid("secret GUID", format!("{guid} is reserved")));
        }
        if self.entries.iter().any(|(g, _)| *g == guid) {
            return Err(Error::invalid(
                "secret GUID",
                format!("{guid} appears twice"),
            ));
        }
        let len = self.encoded_len() + HEADER_LEN + data.len();
        if padded(len) > MAX_TABLE_LEN {
            return Err(Error::invalid(
                "secret table",
                format!(
                    "{} bytes padded exceed the {MAX_TABLE_LEN}-byte limit",
                    padded(len)
                ),
            ));
        }
        self.entries.push((guid, Zeroizing::new(data.to_vec())));
        Ok(())
    }

    /// The entries, in order.
    pub fn entries(&self) -> impl Iterator<Item = (Guid, &[u8])> {
        self.entries.iter().map(|(g, d)| (*g, d.as_slice()))
    }

    /// The length the header states (without padding).
    fn encoded_len(&self) -> usize {
        HEADER_LEN
            + self
                .entries
                .iter()
                .map(|(_, d)| HEADER_LEN + d.len())
                .sum::<usize>()
    }

    /// The table as the guest reads it, padded.
    pub fn encode(&self) -> Result<Zeroizing<Vec<u8>>> {
        if self.entries.is_empty() {
            return Err(Error::invalid("secret table", "no secrets"));
        }
        let len = self.encoded_len();
        let mut out = Zeroizing::new(Vec::with_capacity(padded(len)));
        out.extend_from_slice(&Guid::SECRET_TABLE.0);
        out.extend_from_slice(&u32_len(len)?.to_le_bytes());
        for (guid, data) in &self.entries {
            out.extend_from_slice(&guid.0);
            out.extend_from_slice(&u32_len(HEADER_LEN + data.len())?.to_le_bytes());
            out.extend_from_slice(data);
        }
        out.resize(padded(len), 0);
        Ok(out)
    }

    /// Parses a table (as the guest would read it): the header GUID, a
    /// length within the input, whole entries, and only zeros after it.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let m = || Error::malformed("secret table");
        let mut r = Reader::new(bytes);
        let guid = Guid(r.array::<16>("header GUID").map_err(m())?);
        if guid != Guid::SECRET_TABLE {
            return Err(Error::invalid(
                "secret table",
                format!("header GUID {guid} is not {}", Guid::SECRET_TABLE),
            ));
        }
        let len = r.u32_le("table length").map_err(m())? as usize;
        let body_len = len.checked_sub(HEADER_LEN).ok_or_else(|| {
            Error::invalid(
                "secret table length",
                format!("{len} is less than its 20-byte header"),
            )
        })?;
        let mut body = r.sub(body_len, "table entries").map_err(m())?;
        let mut table = SecretTable::new();
        while !body.is_empty() {
            let guid = Guid(body.array::<16>("entry GUID").map_err(m())?);
            let elen = body.u32_le("entry length").map_err(m())? as usize;
            let dlen = elen.checked_sub(HEADER_LEN).ok_or_else(|| {
                Error::invalid(
                    "secret entry length",
                    format!("{elen} is less than its 20-byte header"),
                )
            })?;
            let data = body.take(dlen, "entry data").map_err(m())?;
            if guid == Guid::NULL {
                // A deleted entry.
                continue;
            }
            if table.entries.iter().any(|(g, _)| *g == guid) {
                return Err(Error::invalid(
                    "secret GUID",
                    format!("{guid} appears twice"),
                ));
            }
            table.entries.push((guid, Zeroizing::new(data.to_vec())));
        }
        r.reserved_zero(r.remaining(), "padding").map_err(m())?;
        Ok(table)
    }
}

/// `sevctl`'s padding: 1 to 16 bytes, to the next multiple of 16.
fn padded(len: usize) -> usize {
    len + (16 - len % 16)
}

fn u32_len(len: usize) -> Result<u32> {
    u32::try_from(len).map_err(|_| Error::invalid("secret table", "longer than 4 GiB"))
}

/// What the host passes to LAUNCH_SECRET (QEMU's `sev-inject-launch-secret`
/// takes both in base64 as `packet-header` and `secret`; the guest address
/// defaults to OVMF's SEV secret area).
#[derive(Clone, PartialEq, Eq)]
pub struct LaunchSecret {
    /// FLAGS || IV || MAC.
    pub header: [u8; 52],
    /// The encrypted table.
    pub payload: Vec<u8>,
}

impl fmt::Debug for LaunchSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LaunchSecret")
            .field("header", &hex::encode(self.header))
            .field("payload", &format_args!("{} bytes", self.payload.len()))
            .finish()
    }
}

/// The packet for `plaintext` under the given keys and IV.
fn packet(
    tek: &[u8; 16],
    tik: &[u8; 16],
    measure: &[u8; 32],
    iv: &[u8; 16],
    plaintext: &[u8],
) -> Result<LaunchSecret> {
    let flags = 0u32.to_le_bytes();
    let mut payload = plaintext.to_vec();
    aes128_ctr(tek, iv, &mut payload)?;
    let len = u32_len(payload.len())?.to_le_bytes();
    let mac = hmac_sha256(tik, &[&[0x01], &flags, iv, &len, &len, &payload, measure]);
    let mut header = [0u8; 52];
    for (o, b) in header
        .iter_mut()
        .zip(flags.iter().chain(iv.iter()).chain(mac.iter()))
    {
        *o = *b;
    }
    Ok(LaunchSecret { header, payload })
}

impl VerifiedLaunch {
    /// The LAUNCH_SECRET packet that injects `table` into this launch, with
    /// a fresh random IV. It can be made only from a measurement that
    /// matched; the caller's policy decides whether to make it at all.
    pub fn launch_secret(&self, table: &SecretTable) -> Result<LaunchSecret> {
        let mut iv = [0u8; 16];
        SystemRandom::new()
            .fill(&mut iv)
            .map_err(|_| Error::Crypto("no randomness"))?;
        let plaintext = table.encode()?;
        packet(
            &self.tek,
            &self.tik,
            &self.measurement.measure,
            &iv,
            &plaintext,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_text_round_trip() {
        let g: Guid = "1e74f542-71dd-4d66-963e-ef4287ff173b".parse().unwrap();
        assert_eq!(g, Guid::SECRET_TABLE);
        assert_eq!(g.to_string(), "1e74f542-71dd-4d66-963e-ef4287ff173b");
        for bad in [
            "",
            "1e74f542-71dd-4d66-963e-ef4287ff173",
            "1e74f54271dd-4d66-963e-ef4287ff173b0",
            "ge74f542-71dd-4d66-963e-ef4287ff173b",
        ] {
            assert!(bad.parse::<Guid>().is_err(), "{bad}");
        }
    }

    /// `sevctl` tests/secretbuild.rs (virtee/sevctl 8b47f3a6): one and two
    /// secrets, fixed IV, TEK, TIK and LAUNCH_MEASURE blob.
    #[test]
    fn matches_sevctl_secret_build() {
        let tek: [u8; 16] = include_bytes!("../tests/data/sevctl/secret-tek1.bin").to_owned();
        let tik: [u8; 16] = include_bytes!("../tests/data/sevctl/secret-tik1.bin").to_owned();
        let s1 = include_bytes!("../tests/data/sevctl/secret1.txt");
        let s2 = include_bytes!("../tests/data/sevctl/secret2.txt");
        // TLeA7607lZQntLjRY1/i+sbtdSZ+75zxpz4Px9hzpBLwItF5Q2o4prA++3ZZv9ZS
        let blob = hex::decode(
            "4cb780efad3b959427b4b8d1635fe2fac6ed75267eef9cf1a73e0fc7d873a412f022d179436a38a6b03efb7659bfd652",
        )
        .unwrap();
        let measure: [u8; 32] = blob[..32].try_into().unwrap();
        let iv: [u8; 16] = hex::decode("ac5474ed4dd32c7d989ec523d92559ec")
            .unwrap()
            .try_into()
            .unwrap();

        let mut t = SecretTable::new();
        t.insert("736869e5-84f0-4973-92ec-06879ce3da0b".parse().unwrap(), s1)
            .unwrap();
        let p = packet(&tek, &tik, &measure, &iv, &t.encode().unwrap()).unwrap();
        assert_eq!(
            hex::encode(p.header),
            "00000000ac5474ed4dd32c7d989ec523d92559ecbc152cde610e17f0aef557334a2d4fca42c22c4312e3b5b85a3d47b0aac857e5"
        );
        assert_eq!(
            hex::encode(&p.payload),
            "d14ddee4f717bf4516f87e2d48114a39d0987ca135fa3dfc05cd9fb8ed7a9988b223eb16c7b20d7e7fa58188f9e862f5db2ca29c36be9557c20b00ffdb0e5c3c"
        );

        t.insert("736869e5-aaaa-4973-92ec-06879ce3da0b".parse().unwrap(), s2)
            .unwrap();
        let p = packet(&tek, &tik, &measure, &iv, &t.encode().unwrap()).unwrap();
        assert_eq!(
            hex::encode(p.header),
            "00000000ac5474ed4dd32c7d989ec523d92559ec99debd1d38428750e84846acc6618bd326074cb413cbd672ba183f5a1844fb36"
        );
        assert_eq!(
            hex::encode(&p.payload),
            "d14ddee4f717bf4516f87e2d48114a39b5987ca135fa3dfc05cd9fb8ed7a9988b223eb16c7b20d7e7fa58188f9e862f5db2ca29c36be9557c20be596b37df69692cd517d5923760aeef620b72b385feb86c4422590843dd2ff3fc3c64599031e"
        );
    }

    #[test]
    fn table_round_trip_and_limits() {
        let mut t = SecretTable::new();
        assert!(t.encode().is_err(), "an empty table is refused");
        let a: Guid = "736869e5-84f0-4973-92ec-06879ce3da0b".parse().unwrap();
        t.insert(a, b"hunter2").unwrap();
        assert!(t.insert(a, b"again").is_err());
        assert!(t.insert(Guid::NULL, b"x").is_err());
        let enc = t.encode().unwrap();
        assert_eq!(enc.len() % 16, 0);
        let back = SecretTable::parse(&enc).unwrap();
        assert_eq!(
            back.entries().collect::<Vec<_>>(),
            vec![(a, &b"hunter2"[..])]
        );
        // Exactly 16-aligned content still gets 16 bytes of padding, as sevctl.
        let mut u = SecretTable::new();
        u.insert(a, &[7u8; 24]).unwrap();
        assert_eq!(u.encode().unwrap().len(), 64 + 16);
        let mut big = SecretTable::new();
        assert!(big.insert(a, &vec![0u8; MAX_TABLE_LEN]).is_err());
        // Non-zero padding is refused by the parser.
        let mut bad = enc.to_vec();
        *bad.last_mut().unwrap() = 1;
        assert!(SecretTable::parse(&bad).is_err());
    }
}

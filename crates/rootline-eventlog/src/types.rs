//! Event types as wire newtypes with named constants.
//!
//! Values from the TCG PC Client Platform Firmware Profile (PFP) 1.05,
//! section 10.4.1 (Event Types). Unknown values survive and print in hex.

use std::fmt;

use serde::{Serialize, Serializer};

/// A TCG event type (PFP 10.4.1).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventType(pub u32);

macro_rules! event_types {
    ($($name:ident = $val:expr;)*) => {
        impl EventType {
            $(
                #[doc = concat!("`", stringify!($name), "` (PFP 10.4.1).")]
                pub const $name: Self = Self($val);
            )*

            /// The spec's name for this type, when it is a known one.
            pub fn name(self) -> Option<&'static str> {
                match self {
                    $(Self::$name => Some(stringify!($name)),)*
                    _ => None,
                }
            }
        }
    };
}

event_types! {
    EV_PREBOOT_CERT = 0x0;
    EV_POST_CODE = 0x1;
    EV_UNUSED = 0x2;
    EV_NO_ACTION = 0x3;
    EV_SEPARATOR = 0x4;
    EV_ACTION = 0x5;
    EV_EVENT_TAG = 0x6;
    EV_S_CRTM_CONTENTS = 0x7;
    EV_S_CRTM_VERSION = 0x8;
    EV_CPU_MICROCODE = 0x9;
    EV_PLATFORM_CONFIG_FLAGS = 0xA;
    EV_TABLE_OF_DEVICES = 0xB;
    EV_COMPACT_HASH = 0xC;
    EV_IPL = 0xD;
    EV_IPL_PARTITION_DATA = 0xE;
    EV_NONHOST_CODE = 0xF;
    EV_NONHOST_CONFIG = 0x10;
    EV_NONHOST_INFO = 0x11;
    EV_OMIT_BOOT_DEVICE_EVENTS = 0x12;
    EV_POST_CODE2 = 0x13;
    EV_EFI_EVENT_BASE = 0x8000_0000;
    EV_EFI_VARIABLE_DRIVER_CONFIG = 0x8000_0001;
    EV_EFI_VARIABLE_BOOT = 0x8000_0002;
    EV_EFI_BOOT_SERVICES_APPLICATION = 0x8000_0003;
    EV_EFI_BOOT_SERVICES_DRIVER = 0x8000_0004;
    EV_EFI_RUNTIME_SERVICES_DRIVER = 0x8000_0005;
    EV_EFI_GPT_EVENT = 0x8000_0006;
    EV_EFI_ACTION = 0x8000_0007;
    EV_EFI_PLATFORM_FIRMWARE_BLOB = 0x8000_0008;
    EV_EFI_HANDOFF_TABLES = 0x8000_0009;
    EV_EFI_PLATFORM_FIRMWARE_BLOB2 = 0x8000_000A;
    EV_EFI_HANDOFF_TABLES2 = 0x8000_000B;
    EV_EFI_VARIABLE_BOOT2 = 0x8000_000C;
    EV_EFI_GPT_EVENT2 = 0x8000_000D;
    EV_EFI_HCRTM_EVENT = 0x8000_0010;
    EV_EFI_VARIABLE_AUTHORITY = 0x8000_00E0;
    EV_EFI_SPDM_FIRMWARE_BLOB = 0x8000_00E1;
    EV_EFI_SPDM_FIRMWARE_CONFIG = 0x8000_00E2;
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "EV_0x{:08x}", self.0),
        }
    }
}

impl fmt::Debug for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for EventType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A UEFI GUID (mixed-endian on the wire: RFC 4122 fields little-endian).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Guid(pub [u8; 16]);

impl Guid {
    /// EFI_GLOBAL_VARIABLE (UEFI 2.9, 3.3): SecureBoot, PK, KEK, BootOrder, Boot####.
    pub const EFI_GLOBAL_VARIABLE: Self = Self::from_fields(
        0x8BE4DF61,
        0x93CA,
        0x11D2,
        [0xAA, 0x0D, 0x00, 0xE0, 0x98, 0x03, 0x2B, 0x8C],
    );
    /// EFI_IMAGE_SECURITY_DATABASE_GUID (UEFI 2.9, 32.6.1): db, dbx.
    pub const EFI_IMAGE_SECURITY_DATABASE: Self = Self::from_fields(
        0xD719B2CB,
        0x3D3A,
        0x4596,
        [0xA3, 0xBC, 0xDA, 0xD0, 0x0E, 0x67, 0x65, 0x6F],
    );
    /// EFI_CERT_X509_GUID (UEFI 2.9, 32.4.1).
    pub const EFI_CERT_X509: Self = Self::from_fields(
        0xA5C059A1,
        0x94E4,
        0x4AA7,
        [0x87, 0xB5, 0xAB, 0x15, 0x5C, 0x2B, 0xF0, 0x72],
    );
    /// EFI_CERT_SHA256_GUID (UEFI 2.9, 32.4.1).
    pub const EFI_CERT_SHA256: Self = Self::from_fields(
        0xC1C41626,
        0x504C,
        0x4092,
        [0xAC, 0xA9, 0x41, 0xF9, 0x36, 0x93, 0x43, 0x28],
    );
    /// Shim's vendor GUID (MokList, SbatLevel, MokListTrusted).
    pub const SHIM_LOCK: Self = Self::from_fields(
        0x605DAB50,
        0xE046,
        0x4300,
        [0xAB, 0xB6, 0x3D, 0xD8, 0x10, 0xDD, 0x8B, 0x23],
    );

    /// Builds a GUID from its textual fields.
    pub const fn from_fields(d1: u32, d2: u16, d3: u16, d4: [u8; 8]) -> Self {
        let a = d1.to_le_bytes();
        let b = d2.to_le_bytes();
        let c = d3.to_le_bytes();
        Self([
            a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d4[0], d4[1], d4[2], d4[3], d4[4],
            d4[5], d4[6], d4[7],
        ])
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        write!(
            f,
            "{:08x}-{:04x}-{:04x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
            u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            u16::from_le_bytes([b[4], b[5]]),
            u16::from_le_bytes([b[6], b[7]]),
            b[8],
            b[9],
            b[10],
            b[11],
            b[12],
            b[13],
            b[14],
            b[15]
        )
    }
}

impl fmt::Debug for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Guid {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_unknowns() {
        assert_eq!(
            EventType(0x8000_0003).to_string(),
            "EV_EFI_BOOT_SERVICES_APPLICATION"
        );
        assert_eq!(EventType(0x1234).to_string(), "EV_0x00001234");
        assert_eq!(
            Guid::EFI_GLOBAL_VARIABLE.to_string(),
            "8be4df61-93ca-11d2-aa0d-00e098032b8c"
        );
    }
}

//! A measured boot on a real TPM (swtpm or hardware): a chain of stage files
//! (firmware, boot loader, kernel and its command line), each measured by
//! the stage before it into its PCR while a crypto-agile TCG event log is
//! written, as UEFI firmware and a boot loader do.
//!
//! The PCR layout follows the TCG PC Client profile: the root of trust for
//! measurement puts the firmware into PCR 0 (EV_EFI_PLATFORM_FIRMWARE_BLOB2),
//! firmware puts Secure Boot state into PCR 7 and separators into 0-7, the
//! boot loader image into PCR 4 (EV_EFI_BOOT_SERVICES_APPLICATION), and the
//! boot loader puts the kernel into PCR 9 and its command line into PCR 8
//! (EV_IPL, as GRUB does). Every event is extended into the TPM with the
//! digests the log records, so the quoted PCRs and the log's replay agree
//! unless someone lies.

use std::path::{Path, PathBuf};

use rootline_core::HashAlg;
use rootline_eventlog::builder::{LogBuilder, data};
use rootline_eventlog::{EventType, Guid};

use crate::Error;
use crate::tpm::Tpm;

/// The stage files of a boot chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stages {
    /// The firmware volume.
    pub firmware: Vec<u8>,
    /// The boot loader image.
    pub bootloader: Vec<u8>,
    /// The kernel image.
    pub kernel: Vec<u8>,
    /// The kernel command line.
    pub cmdline: String,
}

/// File names of the stages inside a stage directory.
pub const FILES: [&str; 4] = ["firmware.fd", "bootx64.efi", "vmlinuz", "cmdline"];

impl Stages {
    /// A small sample chain (the bytes stand in for real images).
    pub fn sample() -> Self {
        let mut kernel = b"\x7fELF rootline demo kernel 6.1.0".to_vec();
        kernel.extend((0..64 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8));
        Self {
            firmware: b"OVMF-like firmware volume, build 2022.11".repeat(512),
            bootloader: b"MZ systemd-boot 252 (demo)".repeat(256),
            kernel,
            cmdline: "console=ttyS0 root=/dev/vda2 ro".into(),
        }
    }

    /// Reads the stage files from `dir` (names in [`FILES`]).
    pub fn read(dir: &Path) -> Result<Self, Error> {
        let r = |n: &str| {
            let p = dir.join(n);
            std::fs::read(&p).map_err(Error::io(p.display()))
        };
        Ok(Self {
            firmware: r(FILES[0])?,
            bootloader: r(FILES[1])?,
            kernel: r(FILES[2])?,
            cmdline: String::from_utf8_lossy(&r(FILES[3])?).trim_end().to_owned(),
        })
    }

    /// Writes the stage files into `dir`; returns their paths.
    pub fn write(&self, dir: &Path) -> Result<Vec<PathBuf>, Error> {
        std::fs::create_dir_all(dir).map_err(Error::io(dir.display()))?;
        let parts: [&[u8]; 4] = [
            &self.firmware,
            &self.bootloader,
            &self.kernel,
            self.cmdline.as_bytes(),
        ];
        let mut out = Vec::new();
        for (name, bytes) in FILES.iter().zip(parts) {
            let p = dir.join(name);
            std::fs::write(&p, bytes).map_err(Error::io(p.display()))?;
            out.push(p);
        }
        Ok(out)
    }
}

/// One step of the boot, for callers that narrate it.
#[derive(Debug, Clone)]
pub struct Step {
    /// Who measured.
    pub by: &'static str,
    /// What was measured.
    pub what: String,
    /// Into which PCR.
    pub pcr: u32,
}

/// Boots `stages` on `tpm`: every event goes into the log and, with the
/// same digests and in the same order, into the TPM. `banks` must be banks
/// the TPM has active. Returns the log and the steps taken.
pub fn boot(
    tpm: &mut Tpm,
    stages: &Stages,
    banks: &[HashAlg],
) -> Result<(Vec<u8>, Vec<Step>), Error> {
    let (b, steps) = log(stages, banks);
    for (pcr, digests) in b.extensions() {
        let index = u8::try_from(*pcr).map_err(|_| Error::Unsupported(format!("PCR {pcr}")))?;
        tpm.pcr_extend(index, digests)?;
    }
    Ok((b.into_bytes(), steps))
}

/// The boot's event log, without a TPM: what each stage measures, in order.
/// [`boot`] extends exactly these events; the builder's extensions give the
/// registers a TPM would hold.
pub fn log(stages: &Stages, banks: &[HashAlg]) -> (LogBuilder, Vec<Step>) {
    let mut b = LogBuilder::crypto_agile(banks);
    let mut steps = Vec::new();
    // swtpm and hardware TPMs start PCR 0 at locality 0.
    b.startup_locality(0);
    let mut step = |b: &LogBuilder, by: &'static str, what: String| {
        if let Some((pcr, _)) = b.extensions().last() {
            steps.push(Step {
                by,
                what,
                pcr: *pcr,
            });
        }
    };
    b.measure(
        0,
        EventType::EV_EFI_PLATFORM_FIRMWARE_BLOB2,
        &stages.firmware,
        &data::firmware_blob2("FVMAIN", 0xFFC0_0000, stages.firmware.len() as u64),
    );
    step(
        &b,
        "root of trust",
        format!("firmware ({} bytes)", stages.firmware.len()),
    );
    b.measure_data(
        7,
        EventType::EV_EFI_VARIABLE_DRIVER_CONFIG,
        &data::variable(Guid::EFI_GLOBAL_VARIABLE, "SecureBoot", &[1]),
    );
    step(&b, "firmware", "Secure Boot state".into());
    for pcr in 0..=7 {
        b.measure_data(pcr, EventType::EV_SEPARATOR, &[0; 4]);
        step(&b, "firmware", "separator".into());
    }
    b.measure(
        4,
        EventType::EV_EFI_BOOT_SERVICES_APPLICATION,
        &stages.bootloader,
        &data::image_load(
            0x7E00_0000,
            stages.bootloader.len() as u64,
            "\\EFI\\BOOT\\BOOTX64.EFI",
        ),
    );
    step(
        &b,
        "firmware",
        format!("boot loader ({} bytes)", stages.bootloader.len()),
    );
    b.measure(9, EventType::EV_IPL, &stages.kernel, b"kernel /vmlinuz\0");
    step(
        &b,
        "boot loader",
        format!("kernel ({} bytes)", stages.kernel.len()),
    );
    let cmd = format!("kernel_cmdline: {}", stages.cmdline);
    b.measure_data(8, EventType::EV_IPL, cmd.as_bytes());
    step(&b, "boot loader", "kernel command line".into());
    b.measure_data(
        5,
        EventType::EV_EFI_ACTION,
        b"Exit Boot Services Invocation",
    );
    step(&b, "firmware", "ExitBootServices".into());
    (b, steps)
}

/// The PCRs a measured boot touches: 0-9, in each bank.
pub fn selection(banks: &[HashAlg]) -> Vec<(HashAlg, Vec<u8>)> {
    banks.iter().map(|b| (*b, (0u8..=9).collect())).collect()
}

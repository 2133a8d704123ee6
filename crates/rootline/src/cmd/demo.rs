//! `rootline demo`: the chain of trust, step by step, on embedded defaults.
//!
//! Today the demo walks the measured-boot core: a boot chain whose stages
//! measure the next one into registers while writing an event log, a replay
//! that explains the registers, and two kinds of tampering (a changed stage,
//! and a log edited to hide it), each caught with the register and the event
//! named. It needs nothing installed and no network. When the shared vectors
//! are present it also replays a real OVMF boot captured under QEMU.

use std::path::PathBuf;

use anyhow::Context as _;
use rootline_core::{Digest, HashAlg};
use rootline_eventlog::builder::{LogBuilder, data};
use rootline_eventlog::replay::check_data_digests;
use rootline_eventlog::{EventLog, EventType, Guid, PcrValues};

/// Flags of `rootline demo`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Keep the demo's files (stage files, logs, register values) in this
    /// directory instead of a temporary one, to inspect them afterwards.
    #[arg(long, value_name = "DIR")]
    workdir: Option<PathBuf>,
}

const BANKS: [HashAlg; 2] = [HashAlg::SHA256, HashAlg::SHA384];

/// The stage files of a small boot chain: firmware, boot loader, kernel,
/// command line. Their bytes stand in for real images; what matters is that
/// each stage hashes the next before running it.
struct Stages {
    firmware: Vec<u8>,
    bootloader: Vec<u8>,
    kernel: Vec<u8>,
    cmdline: String,
}

impl Stages {
    fn golden() -> Self {
        let mut kernel = b"\x7fELF rootline demo kernel 6.1.0".to_vec();
        kernel.extend((0..64 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8));
        Self {
            firmware: b"OVMF-like firmware volume, build 2022.11".repeat(512),
            bootloader: b"MZ systemd-boot 252 (demo)".repeat(256),
            kernel,
            cmdline: "console=ttyS0 root=/dev/vda2 ro".into(),
        }
    }
}

/// Boots the chain: each stage measures the next into its PCR and logs it.
fn boot(s: &Stages) -> LogBuilder {
    let mut b = LogBuilder::crypto_agile(&BANKS);
    b.startup_locality(0);
    // The root of trust for measurement measures the firmware itself (PCR 0).
    b.measure(
        0,
        EventType::EV_EFI_PLATFORM_FIRMWARE_BLOB2,
        &s.firmware,
        &data::firmware_blob2("FVMAIN", 0xFFC0_0000, s.firmware.len() as u64),
    );
    // Firmware measures Secure Boot state (PCR 7).
    b.measure_data(
        7,
        EventType::EV_EFI_VARIABLE_DRIVER_CONFIG,
        &data::variable(Guid::EFI_GLOBAL_VARIABLE, "SecureBoot", &[1]),
    );
    for pcr in 0..=7 {
        b.measure_data(pcr, EventType::EV_SEPARATOR, &[0; 4]);
    }
    // Firmware measures the boot loader before running it (PCR 4).
    b.measure(
        4,
        EventType::EV_EFI_BOOT_SERVICES_APPLICATION,
        &s.bootloader,
        &data::image_load(
            0x7E00_0000,
            s.bootloader.len() as u64,
            "\\EFI\\BOOT\\BOOTX64.EFI",
        ),
    );
    // The boot loader measures the kernel (PCR 9) and its command line (PCR 8).
    b.measure(9, EventType::EV_IPL, &s.kernel, b"kernel /vmlinuz-6.1.0\0");
    let cmd = format!("kernel_cmdline: {}", s.cmdline);
    b.measure_data(8, EventType::EV_IPL, cmd.as_bytes());
    b.measure_data(
        5,
        EventType::EV_EFI_ACTION,
        b"Exit Boot Services Invocation",
    );
    b
}

/// What a TPM would hold after this boot: every extension applied in order.
fn registers(b: &LogBuilder) -> PcrValues {
    let mut out = PcrValues::default();
    for (pcr, digests) in b.extensions() {
        for d in digests {
            let reg = out
                .banks
                .entry(d.alg)
                .or_default()
                .entry(*pcr)
                .or_insert_with(|| Digest::new(d.alg, vec![0; d.bytes.len()]));
            let _ = reg.extend(&d.bytes);
        }
    }
    out
}

fn step(n: u32, title: &str) {
    println!("\n== step {n}: {title}");
}

pub(crate) fn run(a: Args) -> anyhow::Result<u8> {
    let tmp;
    let keep = a.workdir.is_some();
    let dir = match a.workdir {
        Some(d) => {
            std::fs::create_dir_all(&d)
                .with_context(|| format!("cannot create {}", d.display()))?;
            d
        }
        None => {
            tmp = TempDir::new()?;
            tmp.0.clone()
        }
    };
    println!("rootline demo: a measured boot, replayed, then tampered with");
    println!("(files in {})", dir.display());

    step(
        1,
        "a good boot: each stage measures the next before running it",
    );
    let golden = Stages::golden();
    let good = boot(&golden);
    let tpm = registers(&good);
    std::fs::write(dir.join("good.log"), good.bytes())?;
    let log = EventLog::parse(good.bytes())?;
    for e in &log.events {
        println!("  #{:<2} PCR {:<2} {}", e.index, e.pcr, e.describe());
    }
    println!(
        "  the registers now hold what was measured (the TPM's part; in this demo the\n  extensions are applied in software, a later step does it on a real TPM)"
    );

    step(2, "replay the log and compare with the registers");
    let replay = log.replay();
    let mism = replay.compare(&log, &tpm);
    for (pcr, d) in &replay.pcrs[&HashAlg::SHA256] {
        println!("  PCR {pcr:>2} sha256 {}", d.hex());
    }
    println!(
        "  {} registers compared: {}",
        tpm.banks.values().map(|b| b.len()).sum::<usize>(),
        if mism.is_empty() {
            "all match, the log is the true record of this boot"
        } else {
            "MISMATCH"
        }
    );
    anyhow::ensure!(mism.is_empty(), "the demo's own good boot does not replay");
    // These values become the reference: what an owner expects.
    let reference = tpm.clone();
    write_pcrs(&dir.join("reference-pcrs.json"), &reference)?;
    println!(
        "  recorded as reference values: {}",
        dir.join("reference-pcrs.json").display()
    );

    step(3, "tampering 1: someone swaps the kernel");
    let mut evil = Stages::golden();
    if let Some(b) = evil.kernel.get_mut(4096) {
        *b ^= 0x01;
    }
    let evil_boot = boot(&evil);
    std::fs::write(dir.join("evil.log"), evil_boot.bytes())?;
    let evil_log = EventLog::parse(evil_boot.bytes())?;
    let m = evil_log
        .replay()
        .compare_with_reference(&evil_log, &reference, Some(&log));
    println!("  one bit of the kernel changed; the honest log and the TPM agree with each other,");
    println!("  but not with the reference values:");
    for x in m.iter().filter(|x| x.bank == HashAlg::SHA256) {
        println!("  {}", x.explain().replace('\n', "\n  "));
    }
    anyhow::ensure!(
        m.iter().any(|x| x.pcr == 9),
        "the swapped kernel was not caught"
    );

    step(
        4,
        "tampering 2: the log is edited to hide the swapped kernel",
    );
    let evil_tpm = registers(&evil_boot);
    let mut lying = LogBuilder::crypto_agile(&BANKS);
    lying.startup_locality(0);
    for e in evil_log.events.iter().skip(1) {
        if e.event_type == EventType::EV_NO_ACTION {
            lying.no_action(&e.data);
            continue;
        }
        // The attacker copies the golden kernel's digests into the log.
        let digests = if e.pcr == 9 {
            log.events
                .iter()
                .find(|g| g.pcr == 9)
                .map(|g| g.digests.clone())
                .unwrap_or_default()
        } else {
            e.digests.clone()
        };
        lying.event(e.pcr, e.event_type, &digests, &e.data);
    }
    std::fs::write(dir.join("lying.log"), lying.bytes())?;
    let lying_log = EventLog::parse(lying.bytes())?;
    let m = lying_log.replay().compare(&lying_log, &evil_tpm);
    println!("  the log now matches the reference values, but the TPM's registers, which the");
    println!("  attacker cannot rewrite, still hold the swapped kernel:");
    for x in m.iter().filter(|x| x.bank == HashAlg::SHA256) {
        println!("  {}", x.explain().replace('\n', "\n  "));
    }
    anyhow::ensure!(m.iter().any(|x| x.pcr == 9), "the lying log was not caught");
    let data = check_data_digests(&lying_log);
    anyhow::ensure!(data.is_empty(), "unexpected data mismatch");

    step(
        5,
        "tampering 3: the log's text is edited (Secure Boot shown as on when it was off)",
    );
    let mut sb_off = LogBuilder::crypto_agile(&BANKS);
    for e in log.events.iter().skip(1) {
        if e.event_type == EventType::EV_NO_ACTION {
            sb_off.no_action(&e.data);
        } else if e.describe().contains("SecureBoot") {
            // Measured: SecureBoot = 0. Logged text: SecureBoot = 1.
            let measured = data::variable(Guid::EFI_GLOBAL_VARIABLE, "SecureBoot", &[0]);
            let digests: Vec<Digest> = BANKS.iter().filter_map(|b| b.hash(&measured)).collect();
            sb_off.event(e.pcr, e.event_type, &digests, &e.data);
        } else {
            sb_off.event(e.pcr, e.event_type, &e.digests, &e.data);
        }
    }
    let sb_log = EventLog::parse(sb_off.bytes())?;
    let bad = check_data_digests(&sb_log);
    for b in bad.iter().filter(|b| b.bank == HashAlg::SHA256) {
        println!("  {}", b.reason);
    }
    anyhow::ensure!(!bad.is_empty(), "the edited text was not caught");

    if let Some(v) = shared_vectors() {
        let d = v.join("ovmf-swtpm/uki-esp-ekcert-tpm");
        step(
            6,
            "a real boot: OVMF firmware and a Linux UKI under QEMU with swtpm",
        );
        let real = EventLog::parse(&std::fs::read(d.join("binary_bios_measurements"))?)?;
        let quoted = PcrValues::parse(&std::fs::read(d.join("quote.pcrs"))?)?;
        let m = real.replay().compare(&real, &quoted);
        println!(
            "  {} events replay to the {} PCRs the TPM quoted: {}",
            real.events.len(),
            quoted.banks.values().map(|b| b.len()).sum::<usize>(),
            if m.is_empty() {
                "all match"
            } else {
                "MISMATCH"
            }
        );
        for e in real.events.iter().filter(|e| e.pcr == 11).take(4) {
            println!("  #{:<2} PCR 11 {}", e.index, e.describe());
        }
    }

    println!("\ndone: every tampering was caught, with the register and the event named.");
    if keep {
        println!(
            "try: rootline eventlog check {} --pcrs {} --reference {}",
            dir.join("evil.log").display(),
            dir.join("reference-pcrs.json").display(),
            dir.join("good.log").display()
        );
    } else {
        println!(
            "rerun with --workdir DIR to keep the logs and try `rootline eventlog check` on them"
        );
    }
    Ok(0)
}

fn write_pcrs(path: &std::path::Path, p: &PcrValues) -> anyhow::Result<()> {
    let mut m = serde_json::Map::new();
    for (bank, regs) in &p.banks {
        let r: serde_json::Map<String, serde_json::Value> = regs
            .iter()
            .map(|(i, d)| (i.to_string(), d.hex().into()))
            .collect();
        m.insert(bank.to_string(), r.into());
    }
    std::fs::write(path, serde_json::to_string_pretty(&m)?)?;
    Ok(())
}

fn shared_vectors() -> Option<PathBuf> {
    let p = std::env::var_os("ROOTLINE_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("../shared/vectors"));
    p.join("ovmf-swtpm").is_dir().then_some(p)
}

/// A temporary directory removed on drop (no extra dependency for one use).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> anyhow::Result<Self> {
        let base = std::env::temp_dir();
        for i in 0..100u32 {
            let p = base.join(format!("rootline-demo-{}-{i}", std::process::id()));
            if std::fs::create_dir(&p).is_ok() {
                return Ok(Self(p));
            }
        }
        anyhow::bail!(
            "cannot create a temporary directory under {}",
            base.display()
        )
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

//! `rootline measure`: predict reference values from the artifacts themselves.
//!
//! `measure uki` reads a unified kernel image and prints what an OVMF +
//! systemd-stub + Linux boot of it extends into PCR 4, 9 and 11, event by
//! event, and the register values as reference values
//! (`tpm.pcr.sha256.N`). With `--eventlog` it also compares the prediction
//! with a captured log and names every event that differs.
//!
//! `measure snp` predicts an SEV-SNP launch
//! measurement from OVMF, kernel hashes and vCPUs; `measure tdx` a TDX
//! guest's MRTD from its TDVF firmware.
//!
//! Exit codes: 0 predicted (and, with `--eventlog`, every predicted event
//! matches), 1 a predicted event differs from the log, 2 unreadable input.

use std::path::PathBuf;

use anyhow::Context as _;
use rootline_core::HashAlg;
use rootline_eventlog::EventLog;
use serde_json::json;

use super::read_input;
use crate::EXIT_REJECTED;

/// Subcommands of `rootline measure`.
#[derive(clap::Subcommand)]
pub(crate) enum Command {
    /// Predict PCR 4, 9 and 11 of booting a unified kernel image (UKI).
    ///
    /// PCR 4: the firmware's "Calling EFI Application from Boot Option"
    /// action, the separator, the Authenticode digest of the UKI and that of
    /// the kernel systemd-stub loads. PCR 11: systemd-stub 252's section
    /// measurements (.linux, .osrel, .cmdline, .initrd, .splash, .dtb,
    /// .pcrpkey: name with NUL, then content). PCR 9: the Linux EFI stub's
    /// LoadOptions (the .cmdline as UTF-16LE) and initrd events. PCR 0-3 and
    /// 5-7 depend on firmware and its configuration, not on the UKI: record
    /// them from a verified boot.
    Uki(UkiArgs),
    /// Predict an SEV-SNP guest's launch measurement (the attestation
    /// report's `measurement`) from its OVMF, vCPUs and, with `--kernel`,
    /// the kernel, initrd and command line QEMU hashes into OVMF's SEV hash
    /// table.
    ///
    /// The digest is the SNP_LAUNCH_UPDATE PAGE_INFO chain over the OVMF
    /// image (mapped to end at 4 GiB), its SEV metadata sections (zero,
    /// secrets, CPUID and kernel-hash pages) and one VMSA per vCPU, computed
    /// with the `sev` crate (the Rust port of `sev-snp-measure`). Every
    /// input must be what the VMM really launches: another vCPU count, vCPU
    /// model, OVMF build or command line gives another measurement. Prints
    /// the 96 hex digits; `--json` adds the inputs, the OVMF structures and
    /// `reference_values` (`snp.measurement`) for `rootline reference
    /// import`.
    ///
    /// Example: rootline measure snp --ovmf OVMF.amdsev.fd --kernel vmlinuz
    /// --initrd initrd.img --append "console=ttyS0" --vcpus 4 --vcpu-type
    /// EPYC-Milan
    Snp(SnpArgs),
    /// Predict a TDX guest's MRTD (the TD quote's `mr_td`) from its TDVF
    /// firmware (OVMF built with TDX support).
    ///
    /// MRTD is the SHA-384 chain of the TDX module's TDH.MEM.PAGE.ADD and
    /// TDH.MR.EXTEND calls as the VMM adds the firmware's TDX metadata
    /// sections: it depends on the firmware code (BFV) and on the sections'
    /// addresses and sizes, not on the memory size, vCPUs or command line.
    /// RTMR0-2 are not predicted: they depend on the TD HOB, QEMU's ACPI
    /// tables, the variable store and a kernel patched by QEMU (see
    /// crates/rootline-tdx-measure); record them from a verified boot.
    /// Prints the 96 hex digits; `--json` adds the TDX metadata sections and
    /// `reference_values` (`tdx.mr_td`) for `rootline reference import`.
    ///
    /// Example: rootline measure tdx --firmware /usr/share/ovmf/OVMF.fd
    Tdx(TdxArgs),
    /// Predict an AMD SEV guest's launch digest (what LAUNCH_MEASURE's HMAC
    /// covers) from its OVMF and, with `--kernel`, QEMU's hash table of the
    /// kernel, initrd and command line.
    ///
    /// The guest owner compares it with the platform's measurement before
    /// sending any secret (docs/sev-launch.md). Prints the 64 hex digits;
    /// `--json` adds the inputs and the OVMF's secret area.
    ///
    /// Example: rootline measure sev --ovmf OVMF.amdsev.fd --kernel vmlinuz
    /// --append "console=ttyS0"
    Sev(SevArgs),
    /// Predict an AMD SEV-ES guest's launch digest: as `measure sev`, plus
    /// one VMSA per vCPU (`--vcpus`, `--vcpu-type`).
    ///
    /// Hosts differ in one VMSA detail: newer KVM writes the x87/SSE reset
    /// state into the initial VMSAs (`--vmsa-fpu reset`, sev-snp-measure's
    /// model), older hosts leave it zero (`--vmsa-fpu zero`, sevctl's). When
    /// the host is unknown, accept both digests.
    ///
    /// Example: rootline measure sev-es --ovmf OVMF.amdsev.fd --vcpus 4
    /// --vcpu-type EPYC-Milan
    SevEs(SevEsArgs),
}

/// Flags of `rootline measure uki`.
#[derive(clap::Args)]
pub(crate) struct UkiArgs {
    /// The UKI (a PE file: systemd-stub with .linux, .initrd, .cmdline...).
    uki: PathBuf,
    /// PCR bank to predict: sha256, sha384, sha512 or sha1.
    #[arg(long, default_value = "sha256")]
    bank: String,
    /// A captured event log (binary_bios_measurements) of a boot of this
    /// UKI: compare every predicted event with it; exit 1 on a difference.
    #[arg(long, value_name = "FILE")]
    eventlog: Option<PathBuf>,
    /// Print only the reference values as a JSON object
    /// {"tpm.pcr.sha256.N": "hex"}, the shape `rootline reference import` reads.
    #[arg(long, conflicts_with = "json")]
    reference_values: bool,
    /// Print one JSON object: stub version, sections, events, pcrs,
    /// reference_values, notes (and checks with --eventlog).
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(c: Command) -> anyhow::Result<u8> {
    match c {
        Command::Uki(a) => uki(a),
        Command::Snp(a) => snp(a),
        Command::Tdx(a) => tdx(a),
        Command::Sev(a) => sev(&a, rootline_snp_measure::SevMode::Sev),
        Command::SevEs(a) => {
            let vcpu_type = a.vcpu_type.parse().context("--vcpu-type")?;
            let fpu = match a.vmsa_fpu.as_str() {
                "reset" => rootline_snp_measure::VmsaFpu::Reset,
                "zero" => rootline_snp_measure::VmsaFpu::Zero,
                other => anyhow::bail!("--vmsa-fpu {other:?}: expected reset or zero"),
            };
            sev(
                &a.common,
                rootline_snp_measure::SevMode::SevEs {
                    vcpus: a.vcpus,
                    vcpu_type,
                    fpu,
                },
            )
        }
    }
}

fn uki(a: UkiArgs) -> anyhow::Result<u8> {
    let alg = HashAlg::from_name(&a.bank)
        .filter(|h| h.hasher().is_some())
        .with_context(|| format!("--bank {:?} is not a bank rootline can hash", a.bank))?;
    let bytes = super::read_limited(&a.uki, 1 << 30, "unified kernel image")?;
    let p = rootline_uki::predict(&bytes, alg)
        .with_context(|| format!("cannot measure {}", a.uki.display()))?;
    let checks = match &a.eventlog {
        None => None,
        Some(path) => {
            let log = EventLog::parse(&read_input(path)?)
                .with_context(|| format!("cannot parse event log {}", path.display()))?;
            Some(p.check_log(&log))
        }
    };
    let ok = checks.as_ref().is_none_or(|c| c.iter().all(|c| c.matches));
    if a.reference_values {
        println!("{}", serde_json::to_string_pretty(&p.reference_values())?);
    } else if a.json {
        let mut out = json!({
            "uki": a.uki.display().to_string(),
            "bank": alg,
            "stub": p.stub,
            "sections": p.sections,
            "events": p.events,
            "pcrs": p.pcrs.iter().map(|(k, v)| (k.to_string(), v.hex())).collect::<std::collections::BTreeMap<_, _>>(),
            "reference_values": p.reference_values(),
            "notes": p.notes,
        });
        if let (Some(c), Some(o)) = (&checks, out.as_object_mut()) {
            o.insert("checks".into(), serde_json::to_value(c)?);
            o.insert("matches_log".into(), ok.into());
        }
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "{}: {}",
            a.uki.display(),
            p.stub.as_deref().unwrap_or("unknown stub")
        );
        for pcr in p
            .events
            .iter()
            .map(|e| e.pcr)
            .collect::<std::collections::BTreeSet<_>>()
        {
            println!("PCR {pcr}:");
            for e in p.events_for(pcr) {
                println!(
                    "  {} {} [{}]\n      {alg} {}",
                    e.event_type, e.what, e.measured_by, e.digest
                );
            }
        }
        println!("reference values:");
        for (k, v) in p.reference_values() {
            println!("  {k} = {v}");
        }
        for n in &p.notes {
            println!("note: {n}");
        }
        if let Some(checks) = &checks {
            println!("against the log:");
            for c in checks {
                let mark = if c.matches { "ok  " } else { "FAIL" };
                println!("  {mark} {}", c.explain());
            }
        }
    }
    Ok(if ok { 0 } else { EXIT_REJECTED })
}

/// An OVMF image is a few MiB (the 4M builds are 3.5 MiB of code); refuse to
/// read anything much larger into memory.
const MAX_OVMF_BYTES: u64 = 64 << 20;

/// A firmware image, refused before it is read when it is larger than any
/// OVMF build.
fn read_firmware(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    anyhow::ensure!(
        size <= MAX_OVMF_BYTES,
        "{} is {size} bytes: larger than any firmware image ({MAX_OVMF_BYTES} bytes at most)",
        path.display()
    );
    read_input(path)
}

/// Flags of `rootline measure snp`.
/// The firmware and direct-boot files of an AMD guest launch, shared by
/// `measure snp`, `measure sev` and `measure sev-es`.
#[derive(clap::Args)]
pub(crate) struct BootFiles {
    /// The OVMF image the VMM maps (`-bios`, or the code part of the
    /// pflash). It must carry SEV metadata; `--kernel` needs an AmdSevX64
    /// build (e.g. OVMF.amdsev.fd), whose metadata has the kernel-hashes page.
    #[arg(long, value_name = "FILE")]
    ovmf: PathBuf,
    /// The kernel QEMU boots with `-kernel` (and `kernel-hashes=on`): its
    /// SHA-256, the initrd's and the command line's are measured.
    #[arg(long, value_name = "FILE")]
    kernel: Option<PathBuf>,
    /// The `-initrd` file (needs --kernel; absent is measured as empty).
    #[arg(long, value_name = "FILE", requires = "kernel")]
    initrd: Option<PathBuf>,
    /// The `-append` command line, exactly as QEMU gets it (needs --kernel;
    /// absent is measured as empty).
    #[arg(
        long,
        value_name = "STR",
        requires = "kernel",
        allow_hyphen_values = true
    )]
    append: Option<String>,
}

impl BootFiles {
    /// The firmware's bytes, once the kernel and initrd are known to be
    /// readable (the predictor opens them itself; checked first so that the
    /// error names the file).
    fn read(&self) -> anyhow::Result<Vec<u8>> {
        let ovmf = read_firmware(&self.ovmf)?;
        for p in self.kernel.iter().chain(self.initrd.iter()) {
            std::fs::File::open(p).with_context(|| format!("cannot read {}", p.display()))?;
        }
        Ok(ovmf)
    }

    /// The inputs as `--json` names them.
    fn json(&self, ovmf: &[u8]) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        m.insert("ovmf".into(), json!(self.ovmf.display().to_string()));
        m.insert(
            "ovmf_sha256".into(),
            json!(HashAlg::SHA256.hash(ovmf).map(|d| d.hex())),
        );
        let path = |p: &Option<PathBuf>| json!(p.as_ref().map(|k| k.display().to_string()));
        m.insert("kernel".into(), path(&self.kernel));
        m.insert("initrd".into(), path(&self.initrd));
        m.insert("append".into(), json!(self.append));
        m
    }
}

#[derive(clap::Args)]
pub(crate) struct SnpArgs {
    /// The firmware and the direct-boot files.
    #[command(flatten)]
    boot: BootFiles,
    /// Number of vCPUs (`-smp`): each is one measured VMSA page.
    #[arg(long, value_name = "N")]
    vcpus: u32,
    /// The vCPU model (`-cpu`), which sets the CPUID signature in each VMSA:
    /// EPYC, EPYC-v1..v4, EPYC-IBPB, EPYC-Rome[-v1..v3],
    /// EPYC-Milan[-v1|-v2], EPYC-Genoa[-v1], EPYC-Turin[-v1|-v2].
    #[arg(long, value_name = "TYPE")]
    vcpu_type: String,
    /// The VMM: qemu (cross-checked against sev-snp-measure) or krun
    /// (libkrun's VMSA, from the sev crate, unchecked). ec2 is refused: the
    /// sev crate's EC2 VMSA (RDX 0) is older than what EC2 launches today
    /// (0x600); use sev-snp-measure --vmm-type ec2 for EC2.
    #[arg(long, value_name = "VMM", default_value = "qemu")]
    vmm_type: String,
    /// The guest's SEV_FEATURES in hex (bit 0 SNPActive must be set): 0x1 is
    /// QEMU's default; Linux 6.x guests with DebugSwap run with 0x21.
    #[arg(long, value_name = "HEX", default_value = "0x1")]
    guest_features: String,
    /// Print only the reference values as a JSON object
    /// {"snp.measurement": "hex"}, the shape `rootline reference import` reads.
    #[arg(long, conflicts_with = "json")]
    reference_values: bool,
    /// Print one JSON object: measurement, inputs, the OVMF's SEV structures
    /// and reference_values (importable with `rootline reference import`).
    #[arg(long)]
    json: bool,
}

fn snp(a: SnpArgs) -> anyhow::Result<u8> {
    use rootline_snp_measure::{Inputs, VcpuType, VmmType};

    let vcpu_type: VcpuType = a.vcpu_type.parse().context("--vcpu-type")?;
    let vmm_type: VmmType = a.vmm_type.parse().context("--vmm-type")?;
    let features = a.guest_features.trim();
    let features = features
        .strip_prefix("0x")
        .or_else(|| features.strip_prefix("0X"))
        .unwrap_or(features);
    let guest_features = u64::from_str_radix(features, 16)
        .with_context(|| format!("--guest-features {:?} is not hex", a.guest_features))?;
    let ovmf = a.boot.read()?;
    let p = rootline_snp_measure::predict(&Inputs {
        ovmf: &ovmf,
        kernel: a.boot.kernel.as_deref(),
        initrd: a.boot.initrd.as_deref(),
        append: a.boot.append.as_deref(),
        vcpus: a.vcpus,
        vcpu_type,
        vmm_type,
        guest_features,
    })
    .with_context(|| {
        format!(
            "cannot predict the launch measurement of {}",
            a.boot.ovmf.display()
        )
    })?;
    let reference_values = json!({ "snp.measurement": p.hex() });
    if a.reference_values {
        println!("{}", serde_json::to_string_pretty(&reference_values)?);
    } else if a.json {
        let mut inputs = a.boot.json(&ovmf);
        inputs.insert("vcpus".into(), json!(a.vcpus));
        inputs.insert("vcpu_type".into(), json!(vcpu_type));
        inputs.insert(
            "vcpu_signature".into(),
            json!(format!("{:#x}", vcpu_type.signature())),
        );
        inputs.insert("vmm_type".into(), json!(vmm_type));
        inputs.insert(
            "guest_features".into(),
            json!(format!("{guest_features:#x}")),
        );
        let out = json!({
            "tee": "snp",
            "measurement": p.hex(),
            "inputs": inputs,
            "ovmf": p.ovmf,
            "kernel_hashes": p.kernel_hashes,
            "reference_values": reference_values,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("{}", p.hex());
    }
    Ok(0)
}

/// Flags of `rootline measure tdx`.
#[derive(clap::Args)]
pub(crate) struct TdxArgs {
    /// The whole firmware image the VMM loads (`-bios`): for a split build,
    /// the variable store followed by the code (Debian's OVMF.fd is
    /// OVMF_VARS.fd then OVMF_CODE.fd), since the TDX metadata describes the
    /// combined image.
    #[arg(long, value_name = "FILE")]
    firmware: PathBuf,
    /// How the VMM adds pages: per-page (upstream QEMU and KVM: each page
    /// added, then extended) or per-section (pre-upstream TDX stacks: all
    /// pages of a section added, then extended).
    #[arg(long, value_name = "ORDER", default_value = "per-page")]
    page_order: String,
    /// Print only the reference values as a JSON object
    /// {"tdx.mr_td": "hex"}, the shape `rootline reference import` reads.
    #[arg(long, conflicts_with = "json")]
    reference_values: bool,
    /// Print one JSON object: mrtd, the inputs, the TDX metadata sections
    /// and reference_values.
    #[arg(long)]
    json: bool,
}

fn tdx(a: TdxArgs) -> anyhow::Result<u8> {
    let order: rootline_tdx_measure::PageOrder = a
        .page_order
        .parse()
        .map_err(|e| anyhow::anyhow!("--page-order {:?}: {e}", a.page_order))?;
    let firmware = read_firmware(&a.firmware)?;
    let p = rootline_tdx_measure::predict(&firmware, order)
        .with_context(|| format!("cannot predict the MRTD of {}", a.firmware.display()))?;
    let mrtd = p.hex();
    let reference_values = json!({ "tdx.mr_td": mrtd });
    if a.reference_values {
        println!("{}", serde_json::to_string_pretty(&reference_values)?);
    } else if a.json {
        let out = json!({
            "tee": "tdx",
            "mrtd": mrtd,
            "page_order": p.page_order,
            "inputs": {
                "firmware": a.firmware.display().to_string(),
                "firmware_sha256": HashAlg::SHA256.hash(&firmware).map(|d| d.hex()),
            },
            "firmware": p.firmware,
            "not_predicted": "rtmr0-2: they depend on the TD HOB, QEMU's ACPI tables, the variable store and the kernel as QEMU patched it; record them from a verified boot",
            "reference_values": reference_values,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("{mrtd}");
    }
    Ok(0)
}

/// Flags of `rootline measure sev`.
#[derive(clap::Args)]
pub(crate) struct SevArgs {
    /// The firmware and the direct-boot files.
    #[command(flatten)]
    boot: BootFiles,
    /// Print one JSON object: digest, mode, inputs, the OVMF's secret area.
    #[arg(long)]
    json: bool,
}

/// Flags of `rootline measure sev-es`.
#[derive(clap::Args)]
pub(crate) struct SevEsArgs {
    #[command(flatten)]
    common: SevArgs,
    /// Number of vCPUs (`-smp`): each is one measured VMSA.
    #[arg(long, value_name = "N")]
    vcpus: u32,
    /// The vCPU model (`-cpu`), whose CPUID signature is in each VMSA:
    /// EPYC, EPYC-Rome, EPYC-Milan, EPYC-Genoa...
    #[arg(long, value_name = "TYPE")]
    vcpu_type: String,
    /// The x87/SSE state in the initial VMSAs: reset (newer KVM) or zero
    /// (older hosts, sevctl).
    #[arg(long, value_name = "STATE", default_value = "reset")]
    vmsa_fpu: String,
}

fn sev(a: &SevArgs, mode: rootline_snp_measure::SevMode) -> anyhow::Result<u8> {
    let ovmf = a.boot.read()?;
    let p = rootline_snp_measure::predict_sev(&rootline_snp_measure::SevInputs {
        ovmf: &ovmf,
        kernel: a.boot.kernel.as_deref(),
        initrd: a.boot.initrd.as_deref(),
        append: a.boot.append.as_deref(),
        mode,
    })
    .with_context(|| {
        format!(
            "cannot predict the launch digest of {}",
            a.boot.ovmf.display()
        )
    })?;
    if a.json {
        let out = json!({
            "digest": p.hex(),
            "prediction": p,
            "inputs": a.boot.json(&ovmf),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("{}", p.hex());
    }
    Ok(0)
}

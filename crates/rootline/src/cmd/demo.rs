//! `rootline demo`: the chain of trust, step by step, on embedded defaults.
//!
//! Today the demo walks the measured-boot core: a boot chain whose stages
//! measure the next one into registers while writing an event log, a replay
//! that explains the registers, and two kinds of tampering (a changed stage,
//! and a log edited to hide it), each caught with the register and the event
//! named. It needs nothing installed and no network. When the shared vectors
//! are present it also replays a real OVMF boot captured under QEMU.
//!
//! Then the whole chain, when swtpm is installed: a software TPM with an EK
//! certificate from a private CA, a key broker in this process (SQLite in
//! the work directory), a measured boot of stage files on the TPM, reference
//! values recorded from that verified boot, a Rego policy and a secret, the
//! attester fetching the secret over the KBS protocol, and, after one stage
//! is changed and the TPM rebooted, the broker's denial with its reason and
//! the event that differs.

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
    /// Instead: boot a real unified kernel image on OVMF + swtpm under QEMU
    /// and let the guest attest to a key broker over virtio-serial for its
    /// disk key, then refuse a changed command line (a few minutes; needs
    /// qemu-system-x86, ovmf, swtpm, systemd-boot-efi and the scripts/vm tools).
    #[arg(long)]
    vm: bool,
    /// With --vm: the scripts/vm folder (default: the source tree's).
    #[arg(long, value_name = "DIR", requires = "vm")]
    scripts: Option<PathBuf>,
}

const BANKS: [HashAlg; 2] = [HashAlg::SHA256, HashAlg::SHA384];

/// Boots the chain in software: each stage measures the next into its PCR
/// and logs it, the same events the TPM steps extend on swtpm.
fn boot(s: &rootline_attester::measured_boot::Stages) -> LogBuilder {
    rootline_attester::measured_boot::log(s, &BANKS).0
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
    if a.vm {
        return super::demo_vm::run(&dir, a.scripts.as_deref());
    }
    println!("rootline demo: a measured boot, replayed, then tampered with");
    println!("(files in {})", dir.display());

    step(
        1,
        "a good boot: each stage measures the next before running it",
    );
    let golden = rootline_attester::measured_boot::Stages::sample();
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
    let mut evil = rootline_attester::measured_boot::Stages::sample();
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

    tpm_and_broker(&dir, 7)?;

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
    std::fs::write(path, serde_json::to_string_pretty(&p.to_json())?)?;
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

/// The chain with a real TPM and a broker: steps `n` onwards.
fn tpm_and_broker(dir: &std::path::Path, n: u32) -> anyhow::Result<()> {
    use rootline_attester::evidence::TpmAttester;
    use rootline_attester::kbs::KbsClient;
    use rootline_attester::measured_boot::{self, Stages};
    use rootline_attester::swtpm::{self, Swtpm};
    use rootline_attester::tpm::{KeyAlg, Tpm};

    if !swtpm::installed() {
        println!(
            "\n(the TPM and broker steps need swtpm: apt-get install swtpm swtpm-tools, or run scripts/demo)"
        );
        return Ok(());
    }
    step(n, "a real TPM (swtpm) and a key broker");
    let tpm_dir = dir.join("tpm");
    let _ = std::fs::remove_dir_all(&tpm_dir);
    let mut swtpm = Swtpm::start(&tpm_dir)?;
    println!(
        "  swtpm serves a TPM 2.0 on {}; its EK certificate is signed by a private CA ({})",
        swtpm.socket().display(),
        swtpm.ca_root().display()
    );
    let broker_dir = dir.join("broker");
    let _ = std::fs::remove_dir_all(&broker_dir);
    // The TPM policy requires the PCRs the demo records: its firmware is
    // simulated, so PCR 1-3, 5 and 6 hold nothing worth a reference.
    let broker = super::local_broker::LocalBroker::start(
        &broker_dir,
        Vec::new(),
        2,
        serde_json::json!({"tpm_required_pcrs": [0, 4, 7, 8, 9]}),
    )?;
    println!(
        "  key broker (KBS protocol 0.4.0) on {}, SQLite in {}",
        broker.url,
        broker_dir.display()
    );

    step(
        n + 1,
        "measured boot on the TPM: each stage measures the next before running it",
    );
    let stages_dir = dir.join("stages");
    Stages::sample().write(&stages_dir)?;
    let boot = |swtpm: &Swtpm, log_name: &str| -> anyhow::Result<std::path::PathBuf> {
        let mut tpm = Tpm::open(&swtpm.tcti())?;
        let (log, steps) =
            measured_boot::boot(&mut tpm, &Stages::read(&stages_dir)?, &[HashAlg::SHA256])?;
        for s in steps.iter().filter(|s| s.what != "separator") {
            println!("  {:<13} measures {:<24} into PCR {}", s.by, s.what, s.pcr);
        }
        let p = dir.join(log_name);
        std::fs::write(&p, log)?;
        println!(
            "  TPM2_PCR_Extend x{}; event log {}",
            steps.len(),
            p.display()
        );
        Ok(p)
    };
    let good_log = boot(&swtpm, "tpm-good.log")?;

    let tcti = swtpm.tcti();
    let attester = |log: &std::path::Path| TpmAttester {
        tcti: tcti.clone(),
        alg: KeyAlg::EccP256,
        selection: measured_boot::selection(&[HashAlg::SHA256]),
        eventlog: Some(log.to_path_buf()),
        ak_dir: Some(dir.join("ak")),
    };
    step(
        n + 2,
        "the owner verifies this boot and records its PCRs as reference values",
    );
    let nonce = HashAlg::SHA384
        .hash(b"rootline demo reference")
        .map(|d| d.bytes)
        .unwrap_or_default();
    let mut a = attester(&good_log);
    let ev = rootline_attester::Attester::evidence(&mut a, &nonce)?;
    let out = rootline_verifier::verify(&rootline_verifier::Request {
        evidence: serde_json::to_vec(&ev)?,
        tee: Some(rootline_core::TeeKind::Tpm),
        nonce: Some(nonce.clone()),
        ..Default::default()
    });
    anyhow::ensure!(
        out.verified,
        "the golden boot does not verify: {:?}",
        out.error
    );
    println!("  quote verified: AK signature, nonce, PCR digest, event log replay");
    let mut reference = PcrValues::default();
    for pcr in [0u32, 4, 7, 8, 9] {
        let v = out.claims["pcrs"]["sha256"][pcr.to_string()]
            .as_str()
            .context("the verifier reported no sha256 PCR")?
            .to_owned();
        println!("  reference tpm.pcr.sha256.{pcr} = {v}");
        // The reference-value vocabulary of `rootline reference` and the
        // admin API (rootline_policy::vocabulary): tee tpm, claim pcr.BANK.N.
        broker.put_reference_value(
            &format!("demo-pcr{pcr}"),
            "tpm",
            &format!("pcr.sha256.{pcr}"),
            vec![v.clone()],
        )?;
        reference.banks.entry(HashAlg::SHA256).or_default().insert(
            pcr,
            Digest::new(HashAlg::SHA256, rootline_core::from_hex(&v)?),
        );
    }
    let policy = "package policy\nimport rego.v1\n\ndefault allow := false\n\n# Release the disk key only to a guest whose boot matched every reference value.\nallow if {\n\tinput.submods.cpu0[\"ear.status\"] == \"affirming\"\n\tdata.path == \"demo/tpm/disk-key\"\n}\n";
    broker.put_policy("demo-tpm", policy)?;
    let secret = b"demo disk key: 6b1c2f0e9d8a7b3c";
    broker.put_resource("demo/tpm/disk-key", secret, Some("demo-tpm"))?;
    println!("  policy demo-tpm loaded: release only when every reference value holds");
    println!("  secret stored at kbs:///demo/tpm/disk-key (sealed at rest under the broker's key)");

    step(
        n + 3,
        "the attester fetches the secret: auth, TPM quote bound to its key, attest, resource",
    );
    let client = KbsClient::new(&broker.url, None)?;
    let session = client.attest(&mut attester(&good_log))?;
    let claims = session.claims()?;
    println!(
        "  token issued: ear.status {}",
        claims
            .pointer("/submods/cpu0/ear.status")
            .and_then(|v| v.as_str())
            .unwrap_or("?")
    );
    let got = client.get_resource(&session, "demo/tpm/disk-key")?;
    anyhow::ensure!(got == secret, "the released secret differs");
    println!(
        "  released and decrypted with the attested key: {:?}",
        String::from_utf8_lossy(&got)
    );

    step(
        n + 4,
        "tampering: the kernel file changes, the machine reboots and asks again",
    );
    let mut evil = Stages::read(&stages_dir)?;
    if let Some(b) = evil.kernel.get_mut(4096) {
        *b ^= 0x01;
    }
    evil.write(&stages_dir)?;
    swtpm.restart()?;
    println!(
        "  one bit of {} flipped; TPM restarted (PCRs reset)",
        stages_dir.join("vmlinuz").display()
    );
    let evil_log = boot(&swtpm, "tpm-tampered.log")?;
    let session = client.attest(&mut attester(&evil_log))?;
    let claims = session.claims()?;
    println!(
        "  token issued: ear.status {}",
        claims
            .pointer("/submods/cpu0/ear.status")
            .and_then(|v| v.as_str())
            .unwrap_or("?")
    );
    match client.get_resource(&session, "demo/tpm/disk-key") {
        Ok(_) => anyhow::bail!("the tampered boot got the secret"),
        Err(e) => {
            anyhow::ensure!(e.is_policy_denial(), "unexpected failure: {e}");
            println!("  DENIED by policy: {e}");
        }
    }
    let good = EventLog::parse(&std::fs::read(&good_log)?)?;
    let bad = EventLog::parse(&std::fs::read(&evil_log)?)?;
    write_pcrs(&dir.join("tpm-reference-pcrs.json"), &reference)?;
    println!("  the event log against the reference values names the register and the event:");
    for m in bad
        .replay()
        .compare_with_reference(&bad, &reference, Some(&good))
    {
        println!("  {}", m.explain().replace('\n', "\n  "));
    }
    println!(
        "  (by hand: rootline eventlog check {} --pcrs {} --reference {})",
        evil_log.display(),
        dir.join("tpm-reference-pcrs.json").display(),
        good_log.display()
    );
    println!("  audit log:");
    for r in broker.audit(10)?.iter().rev() {
        println!("    {} {} {}: {}", r.result, r.resource, r.policy, r.reason);
    }
    Ok(())
}

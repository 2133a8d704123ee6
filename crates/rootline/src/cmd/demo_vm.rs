//! `rootline demo --vm`: the confidential-VM chain of trust on a real
//! measured boot, step by step.
//!
//! A unified kernel image (systemd-stub, a Debian kernel, an initrd holding
//! this very binary) boots on OVMF under QEMU with swtpm as its TPM; the
//! guest has no network, only a virtio-serial port whose host side is the
//! unix socket a key broker in this process listens on. The owner records
//! reference values from a verified first boot; the guest then proves its
//! attestation key by credential activation against the swtpm EK CA, quotes
//! PCRs 0-7, 9 and 11 and receives its 32-byte disk key; a UKI with another
//! command line is refused, the reason naming PCR 11 and `.cmdline`. Uses
//! `scripts/vm/*.sh` (`--scripts`), the kernel that
//! `scripts/vm/fetch-kernel.sh` caches, and QEMU, OVMF, swtpm,
//! systemd-boot-efi, mtools, busybox-static, tpm2-tools, binutils, cpio.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, bail, ensure};
use rootline_broker::appraise::PolicyAppraiser;
use rootline_broker::kek::Kek;
use rootline_broker::store::prelude::*;
use rootline_broker::store::{ReferenceValue, SqlStore};
use rootline_broker::{Broker, BrokerOptions};
use serde_json::{Value, json};

use crate::EXIT_USAGE;

/// PCRs the broker requires reference values for.
const REQUIRED: [u8; 10] = [0, 1, 2, 3, 4, 5, 6, 7, 9, 11];

fn step(n: u32, title: &str) {
    println!("\n== step {n}: {title}");
}

/// The scripts folder: `--scripts`, else the source tree this binary was built from.
fn scripts_dir(given: Option<&Path>) -> PathBuf {
    given
        .map(Path::to_path_buf)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/vm"))
}

fn missing_tools() -> Vec<String> {
    let mut missing: Vec<String> = [
        "qemu-system-x86_64",
        "swtpm",
        "swtpm_setup",
        "swtpm_localca",
        "objcopy",
        "strip",
        "mformat",
        "mcopy",
        "busybox",
        "tpm2",
        "cpio",
        "timeout",
    ]
    .iter()
    .filter(|t| {
        !Command::new("sh")
            .args(["-c", &format!("command -v {t}")])
            .output()
            .is_ok_and(|o| o.status.success())
    })
    .map(|t| t.to_string())
    .collect();
    for f in [
        "/usr/lib/systemd/boot/efi/linuxx64.efi.stub",
        "/usr/share/OVMF/OVMF_CODE.fd",
    ] {
        if !Path::new(f).exists() {
            missing.push(f.into());
        }
    }
    missing
}

fn run_ok(c: &mut Command, what: &str) -> anyhow::Result<String> {
    let out = c.output().with_context(|| format!("cannot run {what}"))?;
    ensure!(
        out.status.success(),
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn me(args: &[&str]) -> anyhow::Result<Value> {
    let exe = std::env::current_exe()?;
    let out = run_ok(
        Command::new(exe).args(args),
        &format!("rootline {}", args[0]),
    )?;
    Ok(serde_json::from_str(&out)?)
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap_or_default()
}

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b).as_ref())
}

/// Runs the demo in `dir` with the scripts in `scripts` (`None`: the source tree's).
pub(crate) fn run(dir: &Path, scripts: Option<&Path>) -> anyhow::Result<u8> {
    let scripts = scripts_dir(scripts);
    let missing = missing_tools();
    if !missing.is_empty() || !scripts.join("boot.sh").is_file() {
        eprintln!(
            "rootline demo --vm needs {} and scripts/vm (--scripts); apt-get install qemu-system-x86 ovmf swtpm swtpm-tools systemd-boot-efi mtools dosfstools busybox-static tpm2-tools binutils cpio",
            if missing.is_empty() {
                "nothing more".to_owned()
            } else {
                missing.join(", ")
            }
        );
        return Ok(EXIT_USAGE);
    }
    println!(
        "rootline demo --vm: a UKI boots on OVMF + swtpm and asks a key broker for its disk key"
    );
    println!("(files in {})", dir.display());
    let exe = std::env::current_exe()?;

    step(1, "the kernel (cached Debian package)");
    let kdir = run_ok(
        &mut Command::new(scripts.join("fetch-kernel.sh")),
        "scripts/vm/fetch-kernel.sh",
    )?;
    println!("  {}", kdir.trim());

    step(
        2,
        "a unified kernel image: systemd-stub + kernel + initrd (busybox, tpm2-tools, this rootline) + command line",
    );
    let cmdline = "console=ttyS0 quiet loglevel=3 panic=-1";
    let a = dir.join("uki-a");
    let t = Instant::now();
    run_ok(
        Command::new(scripts.join("build.sh"))
            .arg(&a)
            .arg(cmdline)
            .arg("/etc/os-release")
            .env("ROOTLINE_GUEST_BIN", &exe),
        "scripts/vm/build.sh",
    )?;
    println!(
        "  {} ({} bytes) in {:.1} s; command line {cmdline:?}",
        a.join("uki.efi").display(),
        std::fs::metadata(a.join("uki.efi"))?.len(),
        t.elapsed().as_secs_f64()
    );

    step(
        3,
        "a key broker in this process, listening on a unix socket (the guest's virtio-serial port)",
    );
    let sock = dir.join("kbs.sock");
    let _ = std::fs::remove_file(&sock);
    let broker_dir = dir.join("broker");
    let _ = std::fs::remove_dir_all(&broker_dir);
    std::fs::create_dir_all(&broker_dir)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (kek, raw) = Kek::generate()?;
    let sealer = Kek::from_bytes(&raw)?;
    let db = format!(
        "sqlite://{}?mode=rwc",
        broker_dir.join("broker.db").display()
    );
    let (broker, store) = rt.block_on(async {
        let store = Arc::new(SqlStore::connect(&db).await?);
        let broker = Broker::new(BrokerOptions {
            appraiser: Arc::new(PolicyAppraiser::with_defaults(
                json!({ "tpm_required_pcrs": REQUIRED }),
            )?),
            secure_cookies: false,
            ..BrokerOptions::new(store.clone(), kek)
        })
        .await?;
        let l = tokio::net::UnixListener::bind(&sock)?;
        let app = rootline_broker::app(broker.clone());
        tokio::spawn(async move {
            let _ = axum::serve(l, app.into_make_service()).await;
        });
        anyhow::Ok((broker, store))
    })?;
    println!(
        "  KBS 0.4.0 on unix:{} (SQLite in {}); QEMU connects the guest's port rootline.kbs to it: the guest has no network address",
        sock.display(),
        broker_dir.display()
    );

    step(
        4,
        "the owner's golden boot: a quote verified, PCRs recorded (0-3, 5-7) and predicted (4, 9, 11)",
    );
    let boot = |build: &Path, run: &str, mode: Option<&str>| -> anyhow::Result<(PathBuf, f64)> {
        let t = Instant::now();
        let mut c = Command::new(scripts.join("boot.sh"));
        c.arg(build)
            .arg(dir.join(run))
            .arg(format!("{:016x}", rand_u64()?))
            .arg(dir.join("tpm"))
            .env("ROOTLINE_KBS_SOCK", &sock);
        match mode {
            Some(m) => c.env("ROOTLINE_GUEST_MODE", m),
            None => c.env_remove("ROOTLINE_GUEST_MODE"),
        };
        run_ok(&mut c, "scripts/vm/boot.sh")?;
        Ok((dir.join(run).join("guest"), t.elapsed().as_secs_f64()))
    };
    let _ = std::fs::remove_dir_all(dir.join("tpm"));
    let (g0, secs0) = boot(&a, "run0", None)?;
    println!(
        "  booted in {secs0:.1} s; swtpm's EK certificate comes from a private CA made for this demo"
    );
    let nonce = std::fs::read_to_string(g0.join("nonce.txt"))?;
    let f = |n: &str| g0.join(n);
    let recorded = me(&[
        "reference",
        "record",
        p(&f("quote.msg")),
        "--signature",
        p(&f("quote.sig")),
        "--ak",
        p(&f("ak.pub")),
        "--pcrs",
        p(&f("quote.pcrs")),
        "--eventlog",
        p(&f("eventlog.bin")),
        "--nonce",
        nonce.trim(),
        "--label",
        "demo --vm golden boot",
    ])?;
    let mut refs: Vec<(String, Vec<String>)> = Vec::new();
    for r in recorded.as_array().into_iter().flatten() {
        refs.push((
            r["key"].as_str().unwrap_or_default().to_owned(),
            vec![r["value"].as_str().unwrap_or_default().to_owned()],
        ));
    }
    let m = me(&[
        "measure",
        "uki",
        p(&a.join("uki.efi")),
        "--eventlog",
        p(&f("eventlog.bin")),
        "--json",
    ])?;
    for (k, v) in m["reference_values"].as_object().into_iter().flatten() {
        refs.push((k.clone(), vec![v.as_str().unwrap_or_default().to_owned()]));
    }
    let replay = me(&["eventlog", "replay", p(&f("eventlog.bin")), "--json"])?;
    for (k, v) in &refs {
        println!("  {k} = {}", v.join(", "));
    }
    for pcr in REQUIRED {
        let digests: Vec<String> = replay["event_digests"]["sha256"][pcr.to_string()]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d.as_str().map(str::to_owned))
            .collect();
        if !digests.is_empty() {
            refs.push((format!("tpm.event.sha256.{pcr}"), digests));
        }
    }
    println!("  + the log's events per PCR (tpm.event.sha256.N), to name a changed event");

    step(
        5,
        "the broker trusts the EK CA, holds the reference values and a 32-byte disk key",
    );
    let ca = dir.join("tpm/ca");
    let roots = ["swtpm-localca-rootca-cert.pem", "issuercert.pem"]
        .iter()
        .map(|n| std::fs::read(ca.join(n)))
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("the swtpm EK CA in {}", ca.display()))?;
    broker.trust_ek_roots(&roots)?;
    let mut key = [0u8; 32];
    aws_lc_rs::rand::fill(&mut key).map_err(|_| anyhow::anyhow!("random generator failed"))?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    rt.block_on(async {
        for (k, values) in &refs {
            let claim = k.strip_prefix("tpm.").unwrap_or(k);
            store
                .put_reference_value(
                    &ReferenceValue {
                        name: k.clone(),
                        tee: "tpm".into(),
                        claim: claim.into(),
                        values: values.clone(),
                        version: 0,
                    },
                    now,
                )
                .await?;
        }
        store
            .put_resource(
                "disk/key/root",
                &sealer.seal("disk/key/root", &key)?,
                None,
                now,
            )
            .await?;
        anyhow::Ok(())
    })?;
    println!(
        "  EK CA: {}; PCRs 0-7, 9, 11 required; kbs:///disk/key/root has SHA-256 {}",
        ca.display(),
        sha256_hex(&key)
    );

    step(
        6,
        "the same UKI boots and asks for its key: auth, credential activation, quote, attest, resource",
    );
    let (g1, secs1) = boot(&a, "run1", Some("kbs"))?;
    let result = std::fs::read_to_string(g1.join("result.txt")).unwrap_or_default();
    println!("  guest: {}", result.trim());
    ensure!(
        result.contains(&format!("sha256={}", sha256_hex(&key))),
        "the guest did not get the key: {}",
        std::fs::read_to_string(g1.join("kbs-err.txt")).unwrap_or_default()
    );
    println!("  the hash matches the stored key; boot to power-off {secs1:.1} s");

    step(
        7,
        "tampering: the UKI is rebuilt with another kernel command line",
    );
    let b = dir.join("uki-b");
    run_ok(
        Command::new(scripts.join("build.sh"))
            .arg(&b)
            .arg(format!("{cmdline} init=/bin/sh"))
            .arg("/etc/os-release")
            .arg(a.join("initrd.cpio.gz")),
        "scripts/vm/build.sh",
    )?;
    let (g2, _) = boot(&b, "run2", Some("kbs"))?;
    let result = std::fs::read_to_string(g2.join("result.txt")).unwrap_or_default();
    println!("  guest: {}", result.trim());
    if !result.contains("refused") {
        bail!("the changed command line was not refused: {result}");
    }
    let err = std::fs::read_to_string(g2.join("kbs-err.txt")).unwrap_or_default();
    if let Some(l) = err.lines().find(|l| l.contains("refused")) {
        println!("  attester: {l}");
    }
    println!("  audit log:");
    let rows = rt.block_on(store.list_audit(10))?;
    for r in rows.iter().rev() {
        println!("    {} {} {}: {}", r.result, r.resource, r.policy, r.reason);
    }
    Ok(0)
}

fn rand_u64() -> anyhow::Result<u64> {
    let mut b = [0u8; 8];
    aws_lc_rs::rand::fill(&mut b).map_err(|_| anyhow::anyhow!("random generator failed"))?;
    Ok(u64::from_be_bytes(b))
}

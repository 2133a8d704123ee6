//! A real measured boot: a UKI we build, booted by OVMF under QEMU with swtpm,
//! attested by a quote made inside the guest, checked on the host.
//!
//! `scripts/vm/build.sh` builds the UKI: systemd-stub 252, the Debian kernel
//! that `scripts/vm/fetch-kernel.sh` cached in `$ROOTLINE_VM_CACHE` or
//! `~/.cache/rootline-vm` (`scripts/test` runs it; the test never downloads)
//! and a busybox/tpm2-tools initrd. `scripts/vm/boot.sh` boots it (TCG, q35,
//! `-nodefaults`, under `timeout`), the nonce passed through fw_cfg, the
//! evidence coming back on
//! the second serial port. The test then checks, with the real binary:
//! 1. the quote verifies with the nonce and the event log replays to it;
//! 2. `measure uki` predicts every PCR 4, 9 and 11 event of that log, and the
//!    quoted registers;
//! 3. where the shared vector's inputs are at hand (its kernel package, its
//!    cmdline.txt and os-release), the same events equal the vector's;
//! 4. a second boot with the same inputs gives a byte-identical log;
//! 5. `reference record` takes PCR 0-3, 5-7 from the verified boot;
//! 6. a UKI rebuilt with another command line boots and quotes fine, but the
//!    comparison with the golden values fails on PCR 11 (and 9, and 4: the UKI
//!    file changed) only, the explanation names the `.cmdline` section, and
//!    `rootline appraise` over the reference values (recorded + predicted,
//!    PCRs 0-7, 9, 11 required) affirms the first UKI and refuses this one.
//!
//! Outside CI the test skips with a reason when QEMU, OVMF, swtpm or the
//! UKI tools are missing; under CI (`CI` set) a missing tool is a failure.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

const STUB: &str = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub";
const OVMF: &str = "/usr/share/OVMF/OVMF_CODE.fd";

fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false")
}

/// True when everything the boot needs is installed; otherwise prints what
/// is missing and returns false, or fails under CI.
fn prerequisites() -> bool {
    let tools = [
        "qemu-system-x86_64",
        "swtpm",
        "swtpm_setup",
        "swtpm_localca",
        "objcopy",
        "mformat",
        "mcopy",
        "busybox",
        "tpm2",
        "cpio",
        "timeout",
    ];
    let mut missing: Vec<String> = tools
        .iter()
        .filter(|t| {
            !Command::new("sh")
                .args(["-c", &format!("command -v {t}")])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .map(|t| t.to_string())
        .collect();
    for f in [STUB, OVMF] {
        if !Path::new(f).exists() {
            missing.push(f.to_string());
        }
    }
    if !kernel_cached() {
        missing.push(format!(
            "a kernel in {} (scripts/vm/fetch-kernel.sh puts it there; tests never download)",
            cache_dir().display()
        ));
    }
    if missing.is_empty() {
        return true;
    }
    let msg = format!(
        "VM boot test needs {} (apt-get install qemu-system-x86 ovmf swtpm swtpm-tools systemd-boot-efi mtools dosfstools busybox-static tpm2-tools binutils cpio)",
        missing.join(", ")
    );
    assert!(!in_ci(), "{msg}, and CI is set");
    eprintln!("skipping: {msg}");
    false
}

/// The VM cache, as scripts/vm/build.sh finds it.
fn cache_dir() -> PathBuf {
    match std::env::var_os("ROOTLINE_VM_CACHE") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/tmp".into()))
            .join(".cache/rootline-vm"),
    }
}

fn kernel_cached() -> bool {
    std::fs::read_dir(cache_dir()).is_ok_and(|d| {
        d.flatten().any(|e| {
            e.file_name().to_string_lossy().starts_with("kernel-")
                && e.path().join("vmlinuz").is_file()
        })
    })
}

fn script(name: &str) -> PathBuf {
    rootline_testkit::repo_root().join("scripts/vm").join(name)
}

fn ok(out: Output, what: &str) -> Output {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn build(out: &Path, cmdline: &str, osrel: &Path, initrd: Option<&Path>) {
    let mut c = Command::new(script("build.sh"));
    c.arg(out).arg(cmdline).arg(osrel);
    if let Some(i) = initrd {
        c.arg(i);
    }
    ok(c.output().unwrap(), "scripts/vm/build.sh");
}

/// Boots and returns the folder holding what the guest sent, and the wall time.
fn boot(build: &Path, run: &Path, nonce: &str) -> (PathBuf, f64) {
    let t = Instant::now();
    // One TPM (one EK, one private CA) for every boot of the test.
    let tpm = run.parent().unwrap().join("tpm");
    ok(
        Command::new(script("boot.sh"))
            .arg(build)
            .arg(run)
            .arg(nonce)
            .arg(tpm)
            .output()
            .unwrap(),
        "scripts/vm/boot.sh",
    );
    (run.join("guest"), t.elapsed().as_secs_f64())
}

fn rootline(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rootline"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn nonce() -> String {
    let n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{:016x}", n as u64)
}

/// `rootline verify --json` of a guest's quote; asserts it verified with the
/// log replaying to the quote, and returns the quoted sha256 PCRs.
fn verify(g: &Path, nonce: &str) -> serde_json::Map<String, Value> {
    let (code, out, err) = rootline(&[
        "verify",
        "--tee",
        "tpm",
        p(&g.join("quote.msg")),
        "--signature",
        p(&g.join("quote.sig")),
        "--ak",
        p(&g.join("ak.pub")),
        "--pcrs",
        p(&g.join("quote.pcrs")),
        "--eventlog",
        p(&g.join("eventlog.bin")),
        "--nonce",
        nonce,
        "--json",
    ]);
    assert_eq!(code, 0, "verify rejected the guest's quote: {out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["verified"], true);
    assert_eq!(v["claims"]["event_log"]["matches_quote"], true, "{out}");
    v["claims"]["pcrs"]["sha256"].as_object().unwrap().clone()
}

fn log_digests(log: &Path, pcr: u32) -> Vec<String> {
    let (code, out, _) = rootline(&["eventlog", "show", p(log), "--json"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["pcr"] == pcr && e["type"] != "EV_NO_ACTION")
        .map(|e| e["digests"]["sha256"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn uki_boot_on_ovmf_and_swtpm_matches_predictions_and_names_a_changed_cmdline() {
    if !prerequisites() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    // The vector's command line and os-release, when at hand, so that its
    // digests apply to our UKI too.
    let vector = rootline_testkit::vectors().map(|v| v.join("ovmf-swtpm/uki-esp-ekcert-tpm"));
    let (cmdline, osrel) = match &vector {
        Some(v) => (
            std::fs::read_to_string(v.join("cmdline.txt")).unwrap(),
            v.join("os-release"),
        ),
        None => (
            "console=ttyS0 quiet loglevel=3 panic=-1".to_string(),
            PathBuf::from("/etc/os-release"),
        ),
    };
    let a = w.join("uki-a");
    build(&a, &cmdline, &osrel, None);

    // 1. First boot: verify.
    let n1 = nonce();
    let (g1, secs1) = boot(&a, &w.join("run1"), &n1);
    let quoted = verify(&g1, &n1);
    let log1 = std::fs::read(g1.join("eventlog.bin")).unwrap();

    // 2. The prediction equals the log, event by event, and the quote.
    let (code, out, err) = rootline(&[
        "measure",
        "uki",
        p(&a.join("uki.efi")),
        "--eventlog",
        p(&g1.join("eventlog.bin")),
        "--json",
    ]);
    assert_eq!(code, 0, "prediction differs from the boot: {out}{err}");
    let m: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(m["matches_log"], true);
    for pcr in ["4", "9", "11"] {
        assert_eq!(
            m["pcrs"][pcr], quoted[pcr],
            "PCR {pcr}: predicted vs quoted"
        );
    }
    let checks = m["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 4 + 2 + 8, "{checks:?}");

    // 3. Against the shared vector, where its inputs are the same.
    let kernel_pkg = std::fs::read_to_string(a.join("kernel-package")).unwrap();
    if let Some(v) = &vector {
        if kernel_pkg.starts_with("linux-image-6.1.0-56-amd64_") {
            let vlog = v.join("binary_bios_measurements");
            let ours11 = log_digests(&g1.join("eventlog.bin"), 11);
            let theirs11 = log_digests(&vlog, 11);
            // names of all four sections, .linux, .osrel and .cmdline contents
            // (the initrd is not at hand: index 7 differs).
            for i in 0..7 {
                assert_eq!(ours11[i], theirs11[i], "PCR 11 event {i} vs the vector");
            }
            let ours4 = log_digests(&g1.join("eventlog.bin"), 4);
            let theirs4 = log_digests(&vlog, 4);
            assert_eq!(ours4[3], theirs4[3], "kernel Authenticode vs the vector");
            assert_eq!(ours4[..2], theirs4[..2], "firmware PCR 4 events");
            let ours9 = log_digests(&g1.join("eventlog.bin"), 9);
            let theirs9 = log_digests(&vlog, 9);
            assert_eq!(ours9[0], theirs9[0], "LoadOptions vs the vector");
            eprintln!(
                "vector: PCR 11 names/.linux/.osrel/.cmdline, PCR 4 kernel and firmware events, PCR 9 LoadOptions equal the captured boot"
            );
        } else {
            eprintln!(
                "vector not compared: kernel {kernel_pkg} is not the vector's 6.1.0-56 (no longer in the archive)"
            );
        }
    }

    // 4. Same inputs, another boot: the same log and registers.
    let n2 = nonce();
    let (g2, secs2) = boot(&a, &w.join("run2"), &n2);
    let quoted2 = verify(&g2, &n2);
    assert_eq!(
        std::fs::read(g2.join("eventlog.bin")).unwrap(),
        log1,
        "two boots of the same inputs gave different event logs"
    );
    for i in 0..24 {
        let k = i.to_string();
        if k != "10" {
            assert_eq!(quoted[&k], quoted2[&k], "PCR {i} differs between boots");
        }
    }

    // 5. Golden values for what a file cannot predict.
    let (code, out, err) = rootline(&[
        "reference",
        "record",
        p(&g1.join("quote.msg")),
        "--signature",
        p(&g1.join("quote.sig")),
        "--ak",
        p(&g1.join("ak.pub")),
        "--pcrs",
        p(&g1.join("quote.pcrs")),
        "--eventlog",
        p(&g1.join("eventlog.bin")),
        "--nonce",
        &n1,
        "--label",
        "vm_boot test first boot",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let records: Value = serde_json::from_str(&out).unwrap();
    let records = records.as_array().unwrap();
    let keys: Vec<&str> = records.iter().map(|r| r["key"].as_str().unwrap()).collect();
    assert_eq!(
        keys,
        [0, 1, 2, 3, 5, 6, 7].map(|i| format!("tpm.pcr.sha256.{i}"))
    );
    for r in records {
        let idx = r["key"].as_str().unwrap().rsplit('.').next().unwrap();
        assert_eq!(r["value"], quoted[idx]);
        assert!(r["provenance"].as_str().unwrap().contains(&n1));
    }
    // A replayed quote (wrong nonce) is not recorded.
    let (code, _, _) = rootline(&[
        "reference",
        "record",
        p(&g1.join("quote.msg")),
        "--signature",
        p(&g1.join("quote.sig")),
        "--ak",
        p(&g1.join("ak.pub")),
        "--pcrs",
        p(&g1.join("quote.pcrs")),
        "--eventlog",
        p(&g1.join("eventlog.bin")),
        "--nonce",
        &n2,
    ]);
    assert_eq!(code, 1);

    // Golden PCRs: recorded 0-3, 5-7 plus the predicted 4, 9, 11.
    let mut golden = serde_json::Map::new();
    for r in records {
        let idx = r["key"].as_str().unwrap().rsplit('.').next().unwrap();
        golden.insert(idx.to_string(), r["value"].clone());
    }
    for pcr in ["4", "9", "11"] {
        golden.insert(pcr.to_string(), m["pcrs"][pcr].clone());
    }
    let golden_file = w.join("golden.json");
    std::fs::write(
        &golden_file,
        serde_json::to_vec(&serde_json::json!({ "sha256": golden })).unwrap(),
    )
    .unwrap();

    // 6. The negative: the same UKI but for its command line.
    let b = w.join("uki-b");
    build(
        &b,
        &format!("{cmdline} rootline.changed=1"),
        &osrel,
        Some(&a.join("initrd.cpio.gz")),
    );
    let n3 = nonce();
    let (g3, secs3) = boot(&b, &w.join("run3"), &n3);
    let quoted3 = verify(&g3, &n3); // a genuine quote of a different boot
    assert_ne!(quoted3["11"], quoted["11"]);
    let (code, out, _) = rootline(&[
        "eventlog",
        "check",
        p(&g3.join("eventlog.bin")),
        "--pcrs",
        p(&golden_file),
        "--reference",
        p(&g1.join("eventlog.bin")),
    ]);
    assert_eq!(code, 1, "the changed command line was not caught: {out}");
    assert!(out.contains("PCR 11"), "{out}");
    assert!(out.contains(".cmdline"), "{out}");
    for untouched in [0, 1, 2, 3, 5, 6, 7] {
        assert!(
            !out.contains(&format!("PCR {untouched} (")),
            "PCR {untouched} should still match: {out}"
        );
    }
    // The prediction of the good UKI, held against the changed boot's log.
    let (code, out, _) = rootline(&[
        "measure",
        "uki",
        p(&a.join("uki.efi")),
        "--eventlog",
        p(&g3.join("eventlog.bin")),
    ]);
    assert_eq!(code, 1);
    let fails: Vec<&str> = out.lines().filter(|l| l.contains("FAIL")).collect();
    assert!(
        fails
            .iter()
            .any(|l| l.contains("PCR 11") && l.contains("section content .cmdline")),
        "{out}"
    );
    assert!(
        fails
            .iter()
            .all(|l| l.contains("PCR 11") || l.contains("PCR 9") || l.contains("PCR 4")),
        "{out}"
    );
    // Appraisal over the reference values (recorded 0-3, 5-7 + predicted 4,
    // 9, 11), requiring PCRs 0-7, 9 and 11: the first boot is affirmed, the
    // changed command line is contraindicated on PCR 11.
    let refs = w.join("refs.json");
    let mut all = serde_json::Map::new();
    for r in records {
        all.insert(r["key"].as_str().unwrap().to_string(), r["value"].clone());
    }
    for (k, v) in m["reference_values"].as_object().unwrap() {
        all.insert(k.clone(), v.clone());
    }
    std::fs::write(&refs, serde_json::to_vec(&all).unwrap()).unwrap();
    let settings = w.join("settings.json");
    std::fs::write(
        &settings,
        br#"{"tpm_required_pcrs": [0,1,2,3,4,5,6,7,9,11]}"#,
    )
    .unwrap();
    let data = w.join("data");
    let appraise = |g: &Path, n: &str| {
        rootline(&[
            "appraise",
            "--tee",
            "tpm",
            p(&g.join("quote.msg")),
            "--signature",
            p(&g.join("quote.sig")),
            "--ak",
            p(&g.join("ak.pub")),
            "--pcrs",
            p(&g.join("quote.pcrs")),
            "--eventlog",
            p(&g.join("eventlog.bin")),
            "--nonce",
            n,
            "--reference-values",
            p(&refs),
            "--settings",
            p(&settings),
            "--data-dir",
            p(&data),
        ])
    };
    let (code, out, err) = appraise(&g2, &n2);
    assert_eq!(code, 0, "the unchanged boot was not affirmed: {out}{err}");
    let (code, out, err) = appraise(&g3, &n3);
    assert_eq!(code, 1, "the changed boot was not refused: {out}{err}");
    assert!(out.contains("tpm.pcr.sha256.11"), "{out}");

    eprintln!("boots: {secs1:.1} s, {secs2:.1} s (same inputs), {secs3:.1} s (changed cmdline)");
    for g in [&g1, &g2, &g3] {
        if let Ok(t) = std::fs::read_to_string(g.join("timing.txt")) {
            eprintln!("guest uptime: {}", t.trim());
        }
    }
}

//! A real measured boot: a UKI we build, booted by OVMF under QEMU with swtpm,
//! attested by a quote made inside the guest, checked on the host; then the
//! guest attests to a key broker over virtio-serial for its disk key.
//!
//! `scripts/vm/build.sh` builds the UKI: systemd-stub 252, the Debian kernel
//! that `scripts/vm/fetch-kernel.sh` cached in `$ROOTLINE_VM_CACHE` or
//! `~/.cache/rootline-vm` (`scripts/test` runs it; the test never downloads)
//! and an initrd with busybox, tpm2-tools and this `rootline` binary.
//! `scripts/vm/boot.sh` boots it (TCG, q35, `-nodefaults`, under `timeout`),
//! the nonce passed through fw_cfg, the evidence coming back on the second
//! serial port. The guest has no network: its one way to the broker is a
//! virtio-serial port (`rootline.kbs`) whose host side is a unix socket,
//! relayed here to `rootline serve` on 127.0.0.1. Three boots share all the
//! checks (each boot costs 15-35 s under TCG). The test checks, with the
//! real binary:
//! 1. the quote verifies with the nonce and the event log replays to it;
//! 2. `measure uki` predicts every PCR 4, 9 and 11 event of that log, and the
//!    quoted registers;
//! 3. where the shared vector's inputs are at hand (its kernel package, its
//!    cmdline.txt and os-release), the same events equal the vector's;
//! 4. `reference record` takes PCR 0-3, 5-7 from the verified boot;
//! 5. KBS: a broker (SQLite in a temp dir) trusting the swtpm EK CA,
//!    requiring PCRs 0-7, 9 and 11 against those reference values (with the
//!    golden log's events, `tpm.event.*`, to name a changed event), holding a
//!    32-byte disk key; a second boot of the same UKI runs `rootline
//!    get-resource --tpm-activate` over the port (credential activation,
//!    quote, attest, resource) and prints the key's SHA-256, which equals the
//!    stored key's; the same boot then gives a byte-identical log;
//! 6. a UKI rebuilt with another command line boots and quotes fine, but the
//!    comparison with the golden values fails on PCR 11 (and 9, and 4: the UKI
//!    file changed) only, the explanation names the `.cmdline` section, and
//!    `rootline appraise` over the reference values (recorded + predicted,
//!    PCRs 0-7, 9, 11 required) affirms the first UKI and refuses this one;
//!    and the broker refuses it the key, the attester's error and the audit
//!    log naming PCR 11 and `.cmdline`. The boot-to-secret time is printed.
//!
//! Outside CI the test skips with a reason when QEMU, OVMF, swtpm or the
//! UKI tools are missing; under CI (`CI` set) a missing tool is a failure.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
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
        "strip",
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
            "a kernel with its virtio modules in {} (scripts/vm/fetch-kernel.sh puts them there; tests never download)",
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
                && e.path().join("virtio/modules.order").is_file()
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
    c.arg(out)
        .arg(cmdline)
        .arg(osrel)
        .env("ROOTLINE_GUEST_BIN", env!("CARGO_BIN_EXE_rootline"));
    if let Some(i) = initrd {
        c.arg(i);
    }
    ok(c.output().unwrap(), "scripts/vm/build.sh");
}

/// Boots with the virtio-serial port on `sock`, the guest in `mode` (fw_cfg
/// opt/rootline-mode: none for the quote only, `kbs+quote` to ask the
/// broker for the key first); returns the folder holding what the guest
/// sent, the wall time, and when the boot began.
fn boot(
    build: &Path,
    run: &Path,
    nonce: &str,
    sock: &Path,
    mode: Option<&str>,
) -> (PathBuf, f64, Instant) {
    let t = Instant::now();
    // One TPM (one EK, one private CA) for every boot of the test.
    let tpm = run.parent().unwrap().join("tpm");
    let mut c = Command::new(script("boot.sh"));
    c.arg(build)
        .arg(run)
        .arg(nonce)
        .arg(tpm)
        .env("ROOTLINE_KBS_SOCK", sock);
    match mode {
        Some(m) => c.env("ROOTLINE_GUEST_MODE", m),
        None => c.env_remove("ROOTLINE_GUEST_MODE"),
    };
    ok(c.output().unwrap(), "scripts/vm/boot.sh");
    (run.join("guest"), t.elapsed().as_secs_f64(), t)
}

/// When the relay last passed bytes from the broker to the guest: the end
/// of the response that carried the secret, on a boot that gets one.
type LastAnswer = Arc<Mutex<Option<Instant>>>;

/// The host side of the guest's port: accepts QEMU's chardev connection on
/// a unix socket and relays it to the broker's loopback port once the
/// broker is up (the golden boot runs before it).
fn relay(sock: &Path, broker: Arc<OnceLock<String>>, last: LastAnswer) {
    let listener = UnixListener::bind(sock).unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(guest) = conn else { continue };
            let broker = broker.clone();
            let last = last.clone();
            std::thread::spawn(move || {
                // The guest speaks only when it needs the broker.
                let mut first = [0u8; 1];
                let mut g = guest;
                let Ok(1) = g.read(&mut first) else { return };
                let addr = loop {
                    if let Some(a) = broker.get() {
                        break a.clone();
                    }
                    std::thread::sleep(std::time::Duration::from_millis(50));
                };
                let Ok(mut tcp) = TcpStream::connect(addr) else {
                    return;
                };
                if tcp.write_all(&first).is_err() {
                    return;
                }
                pipe(g, tcp, &last);
            });
        }
    });
}

fn pipe(guest: UnixStream, tcp: TcpStream, last: &LastAnswer) {
    let (mut g_r, mut t_w) = (guest.try_clone().unwrap(), tcp.try_clone().unwrap());
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut g_r, &mut t_w);
        let _ = t_w.shutdown(std::net::Shutdown::Write);
    });
    let (mut t_r, mut g_w) = (tcp, guest);
    let mut buf = [0u8; 16384];
    while let Ok(n @ 1..) = t_r.read(&mut buf) {
        if g_w.write_all(&buf[..n]).is_err() {
            break;
        }
        *last.lock().unwrap() = Some(Instant::now());
    }
    let _ = g_w.shutdown(std::net::Shutdown::Write);
    let _ = up.join();
}

/// A running `rootline serve`, killed on drop.
struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(config: &Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rootline"))
        .args(["serve", "--config", p(config)])
        .env_remove("ROOTLINE_KEK")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    Server {
        child,
        url: format!("http://{addr}"),
    }
}

fn admin(url: &str, key: &Path, args: &[&str]) -> String {
    let (code, out, err) =
        rootline(&[&["admin", "--url", url, "--key", p(key)][..], args].concat());
    assert_eq!(code, 0, "admin {args:?}: {out}{err}");
    out
}

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b).as_ref())
}

/// A number from the guest's result line (`name=value`).
fn field(result: &str, name: &str) -> f64 {
    result
        .split_whitespace()
        .find_map(|f| f.strip_prefix(name))
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
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
    let t = Instant::now();
    build(&a, &cmdline, &osrel, None);
    let build_secs = t.elapsed().as_secs_f64();
    let sock = w.join("kbs.sock");
    let broker_addr = Arc::new(OnceLock::new());
    let last_answer = LastAnswer::default();
    relay(&sock, broker_addr.clone(), last_answer.clone());

    // 1. First boot: verify.
    let n1 = nonce();
    let (g1, secs1, _) = boot(&a, &w.join("run1"), &n1, &sock, None);
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

    // 4. Golden values for what a file cannot predict.
    // `reference record` over the first boot's quote, with `nonce`.
    let record = |nonce: &str, extra: &[&str]| {
        let files = [
            "quote.msg",
            "quote.sig",
            "ak.pub",
            "quote.pcrs",
            "eventlog.bin",
        ]
        .map(|f| g1.join(f));
        let mut args = vec!["reference", "record", p(&files[0])];
        for (flag, file) in ["--signature", "--ak", "--pcrs", "--eventlog"]
            .into_iter()
            .zip(&files[1..])
        {
            args.extend([flag, p(file)]);
        }
        args.extend(["--nonce", nonce]);
        args.extend(extra);
        rootline(&args)
    };
    let (code, out, err) = record(&n1, &["--label", "vm_boot test first boot"]);
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
    // A replayed quote (another nonce) is not recorded.
    let other_nonce = nonce();
    let (code, _, _) = record(&other_nonce, &[]);
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

    // 5. The broker: SQLite in a temp dir, the swtpm EK CA trusted, PCRs
    // 0-7, 9 and 11 required against the reference values (recorded +
    // predicted) and the golden log's events, the disk key stored.
    let mut refs: Vec<(String, Vec<String>)> = Vec::new();
    for r in records {
        refs.push((
            r["key"].as_str().unwrap().to_owned(),
            vec![r["value"].as_str().unwrap().to_owned()],
        ));
    }
    for (k, v) in m["reference_values"].as_object().unwrap() {
        refs.push((k.clone(), vec![v.as_str().unwrap().to_owned()]));
    }
    let (code, out, _) = rootline(&["eventlog", "replay", p(&g1.join("eventlog.bin")), "--json"]);
    assert_eq!(code, 0);
    let replay: Value = serde_json::from_str(&out).unwrap();
    for pcr in [0, 1, 2, 3, 4, 5, 6, 7, 9, 11] {
        let digests: Vec<String> = replay["event_digests"]["sha256"][pcr.to_string()]
            .as_array()
            .map(|a| a.iter().map(|d| d.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default();
        if !digests.is_empty() {
            refs.push((format!("tpm.event.sha256.{pcr}"), digests));
        }
    }
    let ca = w.join("tpm/ca");
    let ek_roots: Vec<PathBuf> = ["swtpm-localca-rootca-cert.pem", "issuercert.pem"]
        .iter()
        .map(|f| ca.join(f))
        .filter(|f| f.exists())
        .collect();
    assert!(
        !ek_roots.is_empty(),
        "boot.sh made no EK CA in {}",
        ca.display()
    );
    let admin_key = w.join("admin.key");
    rootline(&["admin", "keygen", p(&admin_key)]);
    let config = w.join("broker.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\ndata_dir = {:?}\nsecure_cookies = false\nadmin_public_key = {:?}\ntpm_ek_roots = {:?}\ntpm_required_pcrs = [0, 1, 2, 3, 4, 5, 6, 7, 9, 11]\n",
            p(&w.join("broker")),
            format!("{}.pub", p(&admin_key)),
            ek_roots.iter().map(|r| p(r)).collect::<Vec<_>>(),
        ),
    )
    .unwrap();
    let server = serve(&config);
    let mut key = [0u8; 32];
    aws_lc_rs::rand::fill(&mut key).unwrap();
    let key_file = w.join("disk.key");
    std::fs::write(&key_file, key).unwrap();
    admin(
        &server.url,
        &admin_key,
        &["resource", "set", "disk/key/root", "--file", p(&key_file)],
    );
    for (k, values) in &refs {
        let claim = k.strip_prefix("tpm.").unwrap();
        let mut args = vec![
            "reference",
            "set",
            k.as_str(),
            "--tee",
            "tpm",
            "--claim",
            claim,
        ];
        for v in values {
            args.extend(["--value", v.as_str()]);
        }
        admin(&server.url, &admin_key, &args);
    }
    broker_addr
        .set(server.url.trim_start_matches("http://").to_owned())
        .unwrap();

    // The same UKI boots again and asks for its key over the virtio-serial
    // port first (credential activation, quote of PCRs 0-7, 9, 11, attest,
    // resource), then quotes with tpm2-tools as the first boot did.
    let n2 = nonce();
    let (g2, secs2, started2) = boot(&a, &w.join("run2"), &n2, &sock, Some("kbs+quote"));
    // Boot to secret on the host's clock: from starting boot.sh (swtpm, then
    // QEMU) to the last byte of the broker's answer that carried the key.
    let to_secret = last_answer
        .lock()
        .unwrap()
        .map(|t| t.duration_since(started2).as_secs_f64())
        .unwrap_or(f64::NAN);
    let result2 = std::fs::read_to_string(g2.join("result.txt")).unwrap_or_default();
    let err2 = std::fs::read_to_string(g2.join("kbs-err.txt")).unwrap_or_default();
    assert!(
        result2.starts_with("ROOTLINE-KBS released"),
        "the good boot got no key: {result2}\n{err2}"
    );
    let want = format!("sha256={}", sha256_hex(&key));
    assert!(result2.contains(&want), "{result2} vs {want}");
    assert!(result2.contains("bytes=32"), "{result2}");
    // The same inputs give the same log and registers.
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

    // 6. The negative: the same UKI but for its command line.
    let b = w.join("uki-b");
    build(
        &b,
        &format!("{cmdline} rootline.changed=1"),
        &osrel,
        Some(&a.join("initrd.cpio.gz")),
    );
    let n3 = nonce();
    let (g3, secs3, _) = boot(&b, &w.join("run3"), &n3, &sock, Some("kbs+quote"));
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

    // ... and the broker refused it the key, naming PCR 11 and .cmdline.
    let result3 = std::fs::read_to_string(g3.join("result.txt")).unwrap_or_default();
    let err3 = std::fs::read_to_string(g3.join("kbs-err.txt")).unwrap_or_default();
    assert!(
        result3.starts_with("ROOTLINE-KBS refused rc=1"),
        "the changed command line was not refused the key: {result3}\n{err3}"
    );
    assert!(
        err3.contains("tpm.pcr.sha256.11") && err3.contains(".cmdline"),
        "the attester's error does not name PCR 11 and .cmdline: {err3}"
    );
    let audit = admin(
        &server.url,
        &admin_key,
        &["--json", "audit", "--limit", "20"],
    );
    let rows: Value = serde_json::from_str(&audit).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(
        rows.iter()
            .filter(|r| r["result"] == "released" && r["resource"] == "disk/key/root")
            .count(),
        1,
        "{audit}"
    );
    let denied = rows
        .iter()
        .find(|r| r["result"] == "denied" && r["resource"] == "disk/key/root")
        .unwrap_or_else(|| panic!("no denial in the audit log: {audit}"));
    let reason = denied["reason"].as_str().unwrap();
    assert!(
        reason.contains("tpm.pcr.sha256.11") && reason.contains(".cmdline"),
        "{reason}"
    );
    // The firmware's registers still match; PCR 4 (the UKI file) and 9 (the
    // command line the kernel measures) differ as PCR 11 does.
    for firmware in [0, 1, 2, 3, 5, 6, 7] {
        assert!(
            !reason.contains(&format!("tpm.pcr.sha256.{firmware})")),
            "PCR {firmware} should still match: {reason}"
        );
    }

    eprintln!(
        "build {build_secs:.1} s; boots: {secs1:.1} s, {secs2:.1} s (same inputs, key released), {secs3:.1} s (changed cmdline, refused)"
    );
    eprintln!(
        "boot-to-secret {to_secret:.1} s wall (boot.sh start to the broker's last answer); guest kernel uptime {:.2} s at the key (handshake {:.2} s)",
        field(&result2, "uptime_secret="),
        field(&result2, "uptime_secret=") - field(&result2, "uptime_start=")
    );
    eprintln!("refusal in the audit log: {reason}");
    for g in [&g1, &g2, &g3] {
        if let Ok(t) = std::fs::read_to_string(g.join("timing.txt")) {
            eprintln!("guest uptime: {}", t.trim());
        }
    }
}

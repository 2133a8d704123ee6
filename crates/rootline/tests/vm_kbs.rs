//! The measured boot attests to the broker before it gets its disk key.
//!
//! A UKI we build (systemd-stub 252, the cached Debian kernel, an initrd
//! holding busybox, tpm2-tools and this `rootline` binary with its
//! libraries) boots on OVMF under QEMU with swtpm, whose EK certificate
//! comes from a private CA that `scripts/vm/boot.sh` creates. The guest has
//! no network: a virtio-serial port (`rootline.kbs`) whose host side is a
//! unix socket, relayed here to `rootline serve` on 127.0.0.1. Three boots:
//! 1. the golden boot (tpm2-tools quote, as `vm_boot`): `reference record`
//!    takes PCRs 0-3, 5-7, `measure uki` predicts 4, 9 and 11, and the log's
//!    events become accepted events (`tpm.event.*`, which let appraisal name
//!    the first differing event);
//! 2. the same UKI in KBS mode: `rootline get-resource --tpm-activate` over
//!    the port proves its AK by credential activation against the EK CA the
//!    broker trusts, attests PCRs 0-7, 9 and 11 and receives the 32-byte key
//!    `disk/key/root`; the guest prints the key's SHA-256, which must equal
//!    the stored key's;
//! 3. the UKI rebuilt with another command line: refused, and both the
//!    attester's error and the broker's audit log name PCR 11 and `.cmdline`.
//!
//! Outside CI the test skips with a reason when QEMU, OVMF, swtpm, the UKI
//! tools or the kernel cache are missing; under CI (`CI` set) that fails.

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

/// True when everything the boots need is installed; otherwise prints what
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
        "VM KBS test needs {} (apt-get install qemu-system-x86 ovmf swtpm swtpm-tools systemd-boot-efi mtools dosfstools busybox-static tpm2-tools binutils cpio)",
        missing.join(", ")
    );
    assert!(!in_ci(), "{msg}, and CI is set");
    eprintln!("skipping: {msg}");
    false
}

fn script(name: &str) -> PathBuf {
    rootline_testkit::repo_root().join("scripts/vm").join(name)
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_rootline")
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

fn rootline(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin()).args(args).output().unwrap();
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

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b).as_ref())
}

/// Boots `build` with the virtio-serial port on `sock`, in `mode` (the
/// guest's fw_cfg opt/rootline-mode); returns the guest's files, the wall
/// time of the boot and when it began.
fn boot(build: &Path, run: &Path, sock: &Path, mode: Option<&str>) -> (PathBuf, f64, Instant) {
    let t = Instant::now();
    let tpm = run.parent().unwrap().join("tpm");
    let mut c = Command::new(script("boot.sh"));
    c.arg(build)
        .arg(run)
        .arg(nonce())
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
                // The guest speaks only after its broker is needed.
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
    let mut child = Command::new(bin())
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

#[test]
fn uki_boot_attests_over_virtio_serial_and_gets_its_disk_key_and_a_changed_cmdline_does_not() {
    if !prerequisites() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let cmdline = "console=ttyS0 quiet loglevel=3 panic=-1";
    let osrel = PathBuf::from("/etc/os-release");
    let a = w.join("uki-a");
    let t = Instant::now();
    ok(
        Command::new(script("build.sh"))
            .arg(&a)
            .arg(cmdline)
            .arg(&osrel)
            .env("ROOTLINE_GUEST_BIN", bin())
            .output()
            .unwrap(),
        "scripts/vm/build.sh",
    );
    let build_secs = t.elapsed().as_secs_f64();
    let sock = w.join("kbs.sock");
    let broker_addr = Arc::new(OnceLock::new());
    let last_answer = LastAnswer::default();
    relay(&sock, broker_addr.clone(), last_answer.clone());

    // 1. The golden boot: reference values recorded and predicted.
    let (g0, secs0, _) = boot(&a, &w.join("run0"), &sock, None);
    let n0 = std::fs::read_to_string(g0.join("nonce.txt")).unwrap();
    let (code, out, err) = rootline(&[
        "reference",
        "record",
        p(&g0.join("quote.msg")),
        "--signature",
        p(&g0.join("quote.sig")),
        "--ak",
        p(&g0.join("ak.pub")),
        "--pcrs",
        p(&g0.join("quote.pcrs")),
        "--eventlog",
        p(&g0.join("eventlog.bin")),
        "--nonce",
        n0.trim(),
        "--label",
        "vm_kbs golden boot",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let mut refs: Vec<(String, Vec<String>)> = Vec::new();
    for r in serde_json::from_str::<Value>(&out)
        .unwrap()
        .as_array()
        .unwrap()
    {
        refs.push((
            r["key"].as_str().unwrap().to_owned(),
            vec![r["value"].as_str().unwrap().to_owned()],
        ));
    }
    let (code, out, err) = rootline(&[
        "measure",
        "uki",
        p(&a.join("uki.efi")),
        "--eventlog",
        p(&g0.join("eventlog.bin")),
        "--json",
    ]);
    assert_eq!(
        code, 0,
        "prediction differs from the golden boot: {out}{err}"
    );
    let m: Value = serde_json::from_str(&out).unwrap();
    for (k, v) in m["reference_values"].as_object().unwrap() {
        refs.push((k.clone(), vec![v.as_str().unwrap().to_owned()]));
    }
    let (code, out, _) = rootline(&["eventlog", "replay", p(&g0.join("eventlog.bin")), "--json"]);
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
    let pcr_keys: Vec<&str> = refs
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| k.starts_with("tpm.pcr."))
        .collect();
    for i in [0, 1, 2, 3, 4, 5, 6, 7, 9, 11] {
        assert!(
            pcr_keys.contains(&format!("tpm.pcr.sha256.{i}").as_str()),
            "{pcr_keys:?}"
        );
    }

    // 2. The broker: SQLite in a temp dir, the swtpm EK CA trusted, PCRs
    // 0-7, 9 and 11 required, the disk key stored.
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
    let key = {
        let mut k = [0u8; 32];
        aws_lc_rs::rand::fill(&mut k).unwrap();
        k
    };
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

    // 3. The same UKI asks for its key over the virtio-serial port.
    let (g1, secs1, started1) = boot(&a, &w.join("run1"), &sock, Some("kbs"));
    // Boot to secret, on the host's clock: from starting boot.sh (swtpm,
    // then QEMU) to the last byte of the broker's answer with the key.
    let to_secret = last_answer
        .lock()
        .unwrap()
        .map(|t| t.duration_since(started1).as_secs_f64())
        .unwrap_or(f64::NAN);
    let result = std::fs::read_to_string(g1.join("result.txt")).unwrap_or_default();
    let err1 = std::fs::read_to_string(g1.join("kbs-err.txt")).unwrap_or_default();
    assert!(
        result.starts_with("ROOTLINE-KBS released"),
        "the good boot got no key: {result}\n{err1}"
    );
    let want = format!("sha256={}", sha256_hex(&key));
    assert!(result.contains(&want), "{result} vs {want}");
    assert!(result.contains("bytes=32"), "{result}");
    let field = |name: &str| -> f64 {
        result
            .split_whitespace()
            .find_map(|f| f.strip_prefix(name))
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    };
    let (start, secret) = (field("uptime_start="), field("uptime_secret="));

    // 4. Another command line: refused, and the reason names PCR 11 and .cmdline.
    let b = w.join("uki-b");
    ok(
        Command::new(script("build.sh"))
            .arg(&b)
            .arg(format!("{cmdline} rootline.changed=1"))
            .arg(&osrel)
            .arg(a.join("initrd.cpio.gz"))
            .output()
            .unwrap(),
        "scripts/vm/build.sh",
    );
    let (g2, secs2, _) = boot(&b, &w.join("run2"), &sock, Some("kbs"));
    let result2 = std::fs::read_to_string(g2.join("result.txt")).unwrap_or_default();
    let err2 = std::fs::read_to_string(g2.join("kbs-err.txt")).unwrap_or_default();
    assert!(
        result2.starts_with("ROOTLINE-KBS refused rc=1"),
        "the changed command line was not refused: {result2}\n{err2}"
    );
    assert!(
        err2.contains("tpm.pcr.sha256.11") && err2.contains(".cmdline"),
        "the attester's error does not name PCR 11 and .cmdline: {err2}"
    );
    let audit = admin(
        &server.url,
        &admin_key,
        &["--json", "audit", "--limit", "20"],
    );
    let rows: Value = serde_json::from_str(&audit).unwrap();
    let rows = rows.as_array().unwrap();
    assert!(
        rows.iter()
            .any(|r| r["result"] == "released" && r["resource"] == "disk/key/root"),
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
        "vm_kbs: build {build_secs:.1} s; boots {secs0:.1} s (golden), {secs1:.1} s (key released), {secs2:.1} s (refused)"
    );
    eprintln!(
        "vm_kbs: boot-to-secret {to_secret:.1} s wall (boot.sh start to the broker's last answer); guest kernel uptime {secret:.2} s at the key (handshake {:.2} s from uptime {start:.2} s); boot to power-off {secs1:.1} s",
        secret - start
    );
    eprintln!("vm_kbs: refusal: {reason}");
}

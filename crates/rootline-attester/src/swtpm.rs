//! A software TPM for tests and `rootline demo`: swtpm in a directory of its own.
//!
//! `swtpm_setup --tpm2 --create-ek-cert` provisions the state with EK
//! certificates signed by a private CA that `swtpm_localca` creates inside
//! that directory (never the machine-wide swtpm-localca), then `swtpm socket`
//! serves it on unix sockets in the same directory (never a TCP port). The
//! process is killed when the [`Swtpm`] is dropped. Needs the Debian
//! packages swtpm and swtpm-tools.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Error;
use crate::tpm::Tcti;

/// A running swtpm.
#[derive(Debug)]
pub struct Swtpm {
    dir: PathBuf,
    child: Child,
}

impl Drop for Swtpm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// True when `swtpm` and `swtpm_setup` can be started.
pub fn installed() -> bool {
    let ok = |cmd: &str| {
        Command::new(cmd)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    };
    ok("swtpm") && ok("swtpm_setup")
}

fn write(path: &Path, text: &str) -> Result<(), Error> {
    std::fs::write(path, text).map_err(Error::io(path.display()))
}

impl Swtpm {
    /// Provisions a TPM with EK certificates in `dir` (which must exist and
    /// be empty or hold an earlier provisioning to overwrite) and starts it.
    pub fn start(dir: &Path) -> Result<Self, Error> {
        let state = dir.join("state");
        let ca = dir.join("ca");
        for d in [&state, &ca] {
            std::fs::create_dir_all(d).map_err(Error::io(d.display()))?;
        }
        let d = dir.display();
        write(
            &dir.join("setup.conf"),
            &format!(
                "create_certs_tool = /usr/bin/swtpm_localca\n\
                 create_certs_tool_config = {d}/localca.conf\n\
                 create_certs_tool_options = {d}/localca.options\n\
                 active_pcr_banks = sha256\n"
            ),
        )?;
        write(
            &dir.join("localca.conf"),
            &format!(
                "statedir = {d}/ca\nsignkey = {d}/ca/signkey.pem\nsigningkey = {d}/ca/signkey.pem\n\
                 issuercert = {d}/ca/issuercert.pem\ncertserial = {d}/ca/certserial\n"
            ),
        )?;
        write(
            &dir.join("localca.options"),
            "--platform-manufacturer rootline\n--platform-version 2.1\n--platform-model swtpm\n",
        )?;
        let out = Command::new("swtpm_setup")
            .args(["--tpm2", "--create-ek-cert", "--overwrite"])
            .args(["--pcr-banks", "sha256,sha384"])
            .arg("--tpmstate")
            .arg(&state)
            .arg("--config")
            .arg(dir.join("setup.conf"))
            .output()
            .map_err(Error::io("swtpm_setup"))?;
        if !out.status.success() {
            return Err(Error::malformed(
                "swtpm_setup",
                String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            ));
        }
        let child = Self::spawn(dir)?;
        let mut me = Self {
            dir: dir.to_path_buf(),
            child,
        };
        me.wait_ready()?;
        Ok(me)
    }

    /// Stops swtpm and starts it again on the same state: a reboot (PCRs
    /// back to their reset values, keys and NV kept).
    pub fn restart(&mut self) -> Result<(), Error> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for s in ["sock", "sock.ctrl"] {
            let _ = std::fs::remove_file(self.dir.join(s));
        }
        self.child = Self::spawn(&self.dir)?;
        self.wait_ready()
    }

    fn spawn(dir: &Path) -> Result<Child, Error> {
        let state = dir.join("state");
        let sock = dir.join("sock");
        let ctrl = dir.join("sock.ctrl");
        Command::new("swtpm")
            .args(["socket", "--tpm2", "--flags", "startup-clear"])
            .arg("--server")
            .arg(format!("type=unixio,path={}", sock.display()))
            .arg("--ctrl")
            .arg(format!("type=unixio,path={}", ctrl.display()))
            .arg("--tpmstate")
            .arg(format!("dir={}", state.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(Error::io("swtpm"))
    }

    fn wait_ready(&mut self) -> Result<(), Error> {
        let (sock, ctrl) = (self.dir.join("sock"), self.dir.join("sock.ctrl"));
        let start = Instant::now();
        // The socket file appears at bind(), before listen(): ready means a
        // connection is accepted (swtpm sees the probe close and waits on).
        while !(ctrl.exists() && std::os::unix::net::UnixStream::connect(&sock).is_ok()) {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Err(Error::malformed(
                    "swtpm",
                    format!("exited at start-up: {st}"),
                ));
            }
            if start.elapsed() > Duration::from_secs(20) {
                return Err(Error::malformed("swtpm", "no sockets after 20 s"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// The TCTI that reaches it.
    pub fn tcti(&self) -> Tcti {
        Tcti::SwtpmUnix(self.dir.join("sock"))
    }

    /// The data socket path.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("sock")
    }

    /// The private CA's root certificate (PEM), which anchors the EK certificates.
    pub fn ca_root(&self) -> PathBuf {
        self.dir.join("ca/swtpm-localca-rootca-cert.pem")
    }

    /// The private CA's issuing certificate (PEM), the EK certificates' issuer.
    pub fn ca_issuer(&self) -> PathBuf {
        self.dir.join("ca/issuercert.pem")
    }
}

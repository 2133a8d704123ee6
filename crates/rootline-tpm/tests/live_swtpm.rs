//! Live tests against a software TPM started by the test itself.
//!
//! swtpm runs on unix sockets in a temporary directory (never a fixed TCP
//! port), provisioned by `swtpm_setup --create-ek-cert` under a private CA
//! that swtpm_localca creates inside that directory (never the machine-wide
//! swtpm-localca). tpm2-tools drive it through the swtpm TCTI; there is no
//! resource manager, so every command is followed by a flush of transient
//! objects. Needs the Debian packages swtpm, swtpm-tools and tpm2-tools; the
//! tests skip with a printed reason when they are absent, except under CI.

use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rootline_core::HashAlg;
use rootline_tpm::certs::{certificates_from_bytes, verify_chain};
use rootline_tpm::credential::{make_credential, tpm2_tools_credential_file};
use rootline_tpm::{AkPublic, PcrValues, QuoteCheck, TpmtPublic, TpmtSignature, verify_quote};

fn tools_present() -> bool {
    // Only whether the programs can be started matters (swtpm_setup
    // --version exits 1 on Debian 12's 0.7.1).
    let ok = |cmd: &str, arg: &str| {
        Command::new(cmd)
            .arg(arg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    };
    let present =
        ok("swtpm", "--version") && ok("swtpm_setup", "--version") && ok("tpm2_quote", "-v");
    if !present {
        let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false");
        assert!(
            !ci,
            "swtpm, swtpm_setup or tpm2-tools missing and CI is set: apt-get install swtpm swtpm-tools tpm2-tools"
        );
        eprintln!(
            "skipping: swtpm/swtpm-tools/tpm2-tools not installed (apt-get install swtpm swtpm-tools tpm2-tools)"
        );
    }
    present
}

/// A running swtpm with its state, CA and sockets in a temporary directory.
struct Swtpm {
    dir: tempfile::TempDir,
    child: Child,
}

impl Drop for Swtpm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Swtpm {
    fn start() -> Option<Self> {
        if !tools_present() {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::create_dir_all(d.join("state")).unwrap();
        fs::create_dir_all(d.join("ca")).unwrap();
        fs::write(
            d.join("setup.conf"),
            format!(
                "create_certs_tool = /usr/bin/swtpm_localca\n\
                 create_certs_tool_config = {0}/localca.conf\n\
                 create_certs_tool_options = {0}/localca.options\n\
                 active_pcr_banks = sha256\n",
                d.display()
            ),
        )
        .unwrap();
        fs::write(
            d.join("localca.conf"),
            format!(
                "statedir = {0}/ca\nsignkey = {0}/ca/signkey.pem\nsigningkey = {0}/ca/signkey.pem\n\
                 issuercert = {0}/ca/issuercert.pem\ncertserial = {0}/ca/certserial\n",
                d.display()
            ),
        )
        .unwrap();
        fs::write(
            d.join("localca.options"),
            "--platform-manufacturer rootline-test\n--platform-version 2.1\n--platform-model swtpm\n",
        )
        .unwrap();
        let out = Command::new("swtpm_setup")
            .args([
                "--tpm2",
                "--create-ek-cert",
                "--overwrite",
                "--pcr-banks",
                "sha256",
            ])
            .arg("--tpmstate")
            .arg(d.join("state"))
            .arg("--config")
            .arg(d.join("setup.conf"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "swtpm_setup: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let sock = d.join("sock");
        let child = Command::new("swtpm")
            .args(["socket", "--tpm2", "--flags", "startup-clear"])
            .arg("--server")
            .arg(format!("type=unixio,path={}", sock.display()))
            .arg("--ctrl")
            .arg(format!("type=unixio,path={}.ctrl", sock.display()))
            .arg("--tpmstate")
            .arg(format!("dir={}", d.join("state").display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let t = Self { dir, child };
        let start = Instant::now();
        while !(sock.exists() && t.dir.path().join("sock.ctrl").exists()) {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "swtpm did not create its sockets"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(t)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs a tpm2-tools command in the state directory and flushes
    /// transient objects after it.
    fn try_tool(&self, args: &[&str]) -> Output {
        let tcti = format!("swtpm:path={}", self.path("sock").display());
        let (cmd, rest) = args.split_first().unwrap();
        let out = Command::new(cmd)
            .args(rest)
            .current_dir(self.dir.path())
            .env("TPM2TOOLS_TCTI", &tcti)
            .output()
            .unwrap();
        let flush = Command::new("tpm2_flushcontext")
            .arg("-t")
            .env("TPM2TOOLS_TCTI", &tcti)
            .output()
            .unwrap();
        assert!(flush.status.success());
        out
    }

    fn tool(&self, args: &[&str]) -> Output {
        let out = self.try_tool(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn read(&self, name: &str) -> Vec<u8> {
        fs::read(self.path(name)).unwrap()
    }

    /// TPM2_ActivateCredential through tpm2-tools with the EK's policy session.
    /// `session_hash` must be the EK's name algorithm, the hash of its policy.
    fn activate(
        &self,
        ak_ctx: &str,
        ek_ctx: &str,
        session_hash: &str,
        cred: &[u8],
    ) -> Result<Vec<u8>, String> {
        fs::write(self.path("cred.bin"), cred).unwrap();
        let _ = fs::remove_file(self.path("recovered.bin"));
        self.tool(&[
            "tpm2_startauthsession",
            "--policy-session",
            "-g",
            session_hash,
            "-S",
            "session.ctx",
        ]);
        self.tool(&["tpm2_policysecret", "-S", "session.ctx", "-c", "e"]);
        let out = self.try_tool(&[
            "tpm2_activatecredential",
            "-c",
            ak_ctx,
            "-C",
            ek_ctx,
            "-i",
            "cred.bin",
            "-o",
            "recovered.bin",
            "-P",
            "session:session.ctx",
        ]);
        self.tool(&["tpm2_flushcontext", "session.ctx"]);
        if out.status.success() {
            Ok(self.read("recovered.bin"))
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}

fn ca_file(t: &Swtpm, name: &str) -> Vec<Vec<u8>> {
    certificates_from_bytes(&t.read(&format!("ca/{name}"))).unwrap()
}

#[test]
fn ek_certificate_chains_and_credential_activates() {
    let Some(t) = Swtpm::start() else { return };
    let roots = ca_file(&t, "swtpm-localca-rootca-cert.pem");
    let issuer = ca_file(&t, "issuercert.pem");
    let now = time::OffsetDateTime::now_utc();

    // swtpm 0.7 certifies an RSA-2048 EK (SHA-256, AES-128) and an ECC P-384
    // EK (SHA-384, AES-256, the TCG high-range template).
    for (ek_alg, nv) in [("rsa", "0x1c00002"), ("ecc384", "0x1c00016")] {
        // The EK certificate swtpm_setup wrote chains to the private CA and
        // certifies the EK that the TCG template recreates.
        t.tool(&["tpm2_nvread", "-C", "o", "-o", "ekcert.der", nv]);
        let chain = verify_chain(&t.read("ekcert.der"), &issuer, &roots, now)
            .unwrap_or_else(|e| panic!("{ek_alg} EK certificate: {e}"));
        t.tool(&[
            "tpm2_createek",
            "-c",
            "ek.ctx",
            "-G",
            ek_alg,
            "-u",
            "ek.pub",
        ]);
        let ek = TpmtPublic::parse_tpm2b(&t.read("ek.pub")).unwrap();
        assert_eq!(
            &chain.leaf_key,
            ek.public_key().unwrap(),
            "{ek_alg} EK vs certificate"
        );
        // Supplied as a root, the issuing CA anchors it; the root without
        // the intermediate does not.
        let e = verify_chain(&t.read("ekcert.der"), &[], &issuer, now);
        assert!(e.is_ok(), "the issuer signed the EK certificate directly");
        let e = verify_chain(&t.read("ekcert.der"), &[], &roots, now).unwrap_err();
        assert_eq!(e.check(), "chain");
    }

    // Activation through an RSA EK (RSA-OAEP seed, SHA-256 KDFa, AES-128) and
    // an ECC P-256 EK (ECDH + KDFe seed). tpm2-tools 5.4 cannot satisfy the
    // PolicyOR of the high-range P-384 template, so the ECC case uses the
    // low-range P-256 EK, which has no certificate here.
    for ek_alg in ["rsa", "ecc"] {
        t.tool(&[
            "tpm2_createek",
            "-c",
            "ek.ctx",
            "-G",
            ek_alg,
            "-u",
            "ek.pub",
        ]);
        let ek = TpmtPublic::parse_tpm2b(&t.read("ek.pub")).unwrap();
        let session = ek.name_alg.name().unwrap();

        t.tool(&[
            "tpm2_createak",
            "-C",
            "ek.ctx",
            "-c",
            "ak.ctx",
            "-G",
            "ecc",
            "-g",
            "sha256",
            "-s",
            "ecdsa",
            "-u",
            "ak.pub",
            "-n",
            "ak.name",
        ]);
        let ak = TpmtPublic::parse_tpm2b(&t.read("ak.pub")).unwrap();
        let name = ak.name().unwrap();
        assert_eq!(
            name,
            t.read("ak.name"),
            "AK name computed here vs by the TPM"
        );

        let secret = b"rootline activation secret 0123";
        let (blob, enc) = make_credential(&ek, &name, secret).unwrap();
        let got = t
            .activate(
                "ak.ctx",
                "ek.ctx",
                session,
                &tpm2_tools_credential_file(&blob, &enc),
            )
            .unwrap_or_else(|e| panic!("{ek_alg} EK: activation failed: {e}"));
        assert_eq!(got, secret, "{ek_alg} EK");

        // A credential bound to another name is refused by the TPM.
        let mut wrong = name.clone();
        *wrong.last_mut().unwrap() ^= 1;
        let (blob, enc) = make_credential(&ek, &wrong, secret).unwrap();
        let r = t.activate(
            "ak.ctx",
            "ek.ctx",
            session,
            &tpm2_tools_credential_file(&blob, &enc),
        );
        assert!(
            r.is_err(),
            "{ek_alg} EK: a credential for another name activated"
        );
    }
}

fn quote_with(t: &Swtpm, ak_alg: &str, scheme: &str) {
    t.tool(&["tpm2_createek", "-c", "ek.ctx", "-G", "rsa", "-u", "ek.pub"]);
    t.tool(&[
        "tpm2_createak",
        "-C",
        "ek.ctx",
        "-c",
        "ak.ctx",
        "-G",
        ak_alg,
        "-g",
        "sha256",
        "-s",
        scheme,
        "-u",
        "ak.pub",
        "-n",
        "ak.name",
    ]);
    t.tool(&[
        "tpm2_readpublic",
        "-c",
        "ak.ctx",
        "-f",
        "pem",
        "-o",
        "ak.pem",
    ]);
    t.tool(&["tpm2_pcrreset", "16"]);
    t.tool(&["tpm2_pcrextend", &format!("16:sha256={}", "ab".repeat(32))]);
    let nonce = "5eed00aa11223344";
    t.tool(&[
        "tpm2_quote",
        "-c",
        "ak.ctx",
        "-l",
        "sha256:0,1,7,16",
        "-q",
        nonce,
        "-m",
        "quote.msg",
        "-s",
        "quote.sig",
        "-o",
        "quote.pcrs",
        "-g",
        "sha256",
        "--scheme",
        scheme,
    ]);
    let (_, pcrs) = PcrValues::from_tpm2_tools(&t.read("quote.pcrs")).unwrap();
    let sig = TpmtSignature::parse(&t.read("quote.sig")).unwrap();
    let nonce = hex::decode(nonce).unwrap();
    for ak_file in ["ak.pub", "ak.pem"] {
        let ak = AkPublic::from_bytes(&t.read(ak_file)).unwrap();
        let claims = verify_quote(&QuoteCheck {
            attest: &t.read("quote.msg"),
            signature: &sig,
            ak: &ak,
            nonce: Some(&nonce),
            pcrs: Some(&pcrs),
        })
        .unwrap_or_else(|e| panic!("{ak_alg} AK from {ak_file}: {e}"))
        .into_inner();
        assert_eq!(claims.selection.pairs().len(), 4);
        // PCR 16 was extended once from zero.
        let mut want = HashAlg::SHA256.zero().unwrap();
        want.extend(&[0xab; 32]).unwrap();
        assert_eq!(pcrs.get(HashAlg::SHA256, 16), Some(&want.bytes[..]));
        // Another nonce is refused.
        let e = verify_quote(&QuoteCheck {
            attest: &t.read("quote.msg"),
            signature: &sig,
            ak: &ak,
            nonce: Some(b"other"),
            pcrs: Some(&pcrs),
        })
        .unwrap_err();
        assert_eq!(e.check(), "nonce");
    }
}

#[test]
fn live_quotes_verify_with_ecc_and_rsa_aks() {
    let Some(t) = Swtpm::start() else { return };
    quote_with(&t, "ecc", "ecdsa");
    quote_with(&t, "rsa", "rsassa");
    quote_with(&t, "rsa", "rsapss");
}

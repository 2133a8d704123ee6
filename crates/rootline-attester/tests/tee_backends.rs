//! The SNP and TDX backends against recorded responses: a fake configfs-tsm
//! tree in a temporary directory whose blobs are the real vector files (read
//! in place through symlinks), and a mocked `/dev/sev-guest` ioctl that
//! answers with a recorded report. The evidence they produce is what
//! `rootline-verifier` accepts.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rootline_attester::Attester;
use rootline_attester::sev_guest::{IoctlError, SevGuestAttester, SevGuestDevice, parse_response};
use rootline_attester::tsm::{EntryFs, Provider, Tsm, TsmAttester};
use rootline_core::TeeKind;
use rootline_verifier::{Collateral, Request, verify};

/// Entries removed, with the inblob each was given.
type Seen = Arc<Mutex<Vec<(PathBuf, Vec<u8>)>>>;
/// Report requests the mock answered: user data and VMPL.
type Asked = Arc<Mutex<Vec<([u8; 64], u32)>>>;

/// A recorded configfs-tsm entry: what each attribute holds when the kernel
/// creates the directory. Remembers the inblob written and whether the
/// entry was removed.
struct RecordedFs {
    blobs: Vec<(&'static str, PathBuf)>,
    provider: &'static str,
    generation: u64,
    seen: Seen,
}

impl EntryFs for RecordedFs {
    fn create(&self, entry: &Path) -> std::io::Result<()> {
        std::fs::create_dir(entry)?;
        for (name, src) in &self.blobs {
            symlink(src, entry.join(name))?;
        }
        std::fs::write(entry.join("provider"), format!("{}\n", self.provider))?;
        std::fs::write(entry.join("generation"), format!("{}\n", self.generation))
    }
    fn remove(&self, entry: &Path) -> std::io::Result<()> {
        let inblob = std::fs::read(entry.join("inblob")).unwrap_or_default();
        self.seen
            .lock()
            .unwrap()
            .push((entry.to_path_buf(), inblob));
        std::fs::remove_dir_all(entry)
    }
}

fn snp_vector() -> Option<PathBuf> {
    rootline_testkit::vector("snp/veraison-services")
}

/// The report data the recorded SNP report carries.
fn recorded_report_data() -> Vec<u8> {
    hex::decode(
        "4d4944424e48323869696f69736a5079787878787878787878787878787878784d4944424e48323869696f69736a507978787878787878787878787878787878",
    )
    .unwrap()
}

#[test]
fn configfs_snp_report_from_a_recorded_tree_verifies() {
    let Some(v) = snp_vector() else { return };
    let root = tempfile::tempdir().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let fs = RecordedFs {
        blobs: vec![
            ("outblob", v.join("tsm_outblob_report.bin")),
            ("auxblob", v.join("tsm_auxblob_certtable.bin")),
        ],
        provider: "sev_guest",
        generation: 3,
        seen: seen.clone(),
    };
    let mut a = TsmAttester {
        tsm: Tsm::new(root.path().to_path_buf(), Box::new(fs)),
        want: Provider::Snp,
        ccel: None,
    };
    assert_eq!(a.tee(), "snp");
    let rd = recorded_report_data();
    let ev = a.evidence(&rd).unwrap();

    // The kernel was handed the report data, and the entry is gone.
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].1, rd);
    assert!(!seen[0].0.exists());
    assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 0);

    let outblob = STANDARD.decode(ev["outblob"].as_str().unwrap()).unwrap();
    assert_eq!(
        outblob,
        std::fs::read(v.join("tsm_outblob_report.bin")).unwrap()
    );
    // The verifier accepts the evidence as sent: signature, the chain from
    // the auxblob certificates, and the binding.
    let out = verify(&Request {
        evidence: serde_json::to_vec(&ev).unwrap(),
        tee: Some(TeeKind::Snp),
        nonce: Some(rd.clone()),
        ..Default::default()
    });
    assert!(out.verified, "{:?}", out.error);
    // Bound to other report data: refused.
    let mut other = rd.clone();
    other[0] ^= 1;
    let out = verify(&Request {
        evidence: serde_json::to_vec(&ev).unwrap(),
        tee: Some(TeeKind::Snp),
        nonce: Some(other),
        ..Default::default()
    });
    assert!(!out.verified);
    drop(seen);

    // The form guest-components sends (for a broker that is not rootline):
    // the sev crate's serde JSON with the auxblob's certificates; it
    // verifies as the configfs capture does.
    let gc = rootline_attester::Attester::guest_components_evidence(&mut a, &rd).unwrap();
    assert!(gc.get("attestation_report").is_some(), "{gc}");
    assert!(gc["cert_chain"].as_array().is_some_and(|c| !c.is_empty()));
    let out = verify(&Request {
        evidence: serde_json::to_vec(&gc).unwrap(),
        tee: Some(TeeKind::Snp),
        nonce: Some(rd.clone()),
        ..Default::default()
    });
    assert!(out.verified, "{:?}", out.error);
}

#[test]
fn configfs_refuses_the_wrong_provider_and_an_empty_outblob() {
    let Some(tdx) = rootline_testkit::vector("tdx/trustee") else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let tree = |provider: &'static str| RecordedFs {
        blobs: vec![("outblob", tdx.join("tdx_quote_4.dat"))],
        provider,
        generation: 1,
        seen: seen.clone(),
    };
    // A TDX guest asked for SNP evidence.
    let mut a = TsmAttester {
        tsm: Tsm::new(root.path().to_path_buf(), Box::new(tree("tdx_guest"))),
        want: Provider::Snp,
        ccel: None,
    };
    let e = a.evidence(&[1; 48]).unwrap_err().to_string();
    assert!(e.contains("provider is tdx"), "{e}");
    // Asked for TDX: Trustee's shape, quote and CCEL, which the verifier
    // recognises as TDX.
    let mut a = TsmAttester {
        tsm: Tsm::new(root.path().to_path_buf(), Box::new(tree("tdx_guest"))),
        want: Provider::Tdx,
        ccel: Some(tdx.join("CCEL_data")),
    };
    let ev = a.evidence(&[1; 48]).unwrap();
    let quote = STANDARD.decode(ev["quote"].as_str().unwrap()).unwrap();
    assert_eq!(quote, std::fs::read(tdx.join("tdx_quote_4.dat")).unwrap());
    // The CCEL was cut down to its log (the region is 1 MiB, mostly zero)
    // without losing an event.
    let sent = STANDARD
        .decode(ev["cc_eventlog"].as_str().unwrap())
        .unwrap();
    let full = std::fs::read(tdx.join("CCEL_data")).unwrap();
    assert!(sent.len() < 16 * 1024 && full.starts_with(&sent));
    let parse = |b: &[u8]| rootline_eventlog::EventLog::parse(b).unwrap().events.len();
    assert_eq!(parse(&sent), parse(&full));
    assert_eq!(
        rootline_verifier::detect(&serde_json::to_vec(&ev).unwrap()),
        Some(TeeKind::Tdx)
    );
    // An unknown provider is refused by name.
    let mut a = TsmAttester {
        tsm: Tsm::new(root.path().to_path_buf(), Box::new(tree("arm_cca_guest"))),
        want: Provider::Tdx,
        ccel: None,
    };
    let e = a.evidence(&[1; 48]).unwrap_err().to_string();
    assert!(e.contains("arm_cca_guest"), "{e}");
    // An empty outblob.
    let empty = root.path().join("empty.bin");
    std::fs::write(&empty, b"").unwrap();
    let fs = RecordedFs {
        blobs: vec![("outblob", empty)],
        provider: "sev_guest",
        generation: 1,
        seen: seen.clone(),
    };
    let r = Tsm::new(root.path().join("r"), Box::new(fs));
    std::fs::create_dir(root.path().join("r")).unwrap();
    assert!(
        r.report(&[0; 64])
            .unwrap_err()
            .to_string()
            .contains("empty")
    );
    assert!(
        r.report(&[0; 65]).is_err(),
        "more than 64 bytes of report data"
    );
    // Every entry made was removed again.
    assert!(seen.lock().unwrap().iter().all(|(p, _)| !p.exists()));
}

/// A mocked SNP_GET_REPORT: answers with a recorded report, or an error.
struct MockDevice {
    report: Vec<u8>,
    status: u32,
    fail: Option<IoctlError>,
    asked: Asked,
}

impl SevGuestDevice for MockDevice {
    fn get_report(&mut self, user_data: &[u8; 64], vmpl: u32) -> Result<Vec<u8>, IoctlError> {
        self.asked.lock().unwrap().push((*user_data, vmpl));
        if let Some(e) = self.fail {
            return Err(e);
        }
        let mut resp = vec![0u8; 4000];
        resp[..4].copy_from_slice(&self.status.to_le_bytes());
        resp[4..8].copy_from_slice(&(self.report.len() as u32).to_le_bytes());
        resp[32..32 + self.report.len()].copy_from_slice(&self.report);
        Ok(resp)
    }
}

#[test]
fn sev_guest_ioctl_responses() {
    let Some(v) = snp_vector() else { return };
    let report = std::fs::read(v.join("tsm_outblob_report.bin")).unwrap();
    let asked = Arc::new(Mutex::new(Vec::new()));
    let mut a = SevGuestAttester {
        device: Box::new(MockDevice {
            report: report.clone(),
            status: 0,
            fail: None,
            asked: asked.clone(),
        }),
        vmpl: 0,
    };
    let rd = recorded_report_data();
    let ev = a.evidence(&rd).unwrap();
    assert_eq!(asked.lock().unwrap()[0].0.to_vec(), rd);
    // No certificates come from the ioctl: the verifier takes the chain from
    // collateral files.
    let collateral = ["tsm_vcek.pem", "tsm_ask.pem", "tsm_ark.pem"]
        .iter()
        .map(|n| Collateral {
            origin: v.join(n),
            bytes: std::fs::read(v.join(n)).unwrap(),
        })
        .collect();
    let out = verify(&Request {
        evidence: serde_json::to_vec(&ev).unwrap(),
        tee: Some(TeeKind::Snp),
        nonce: Some(rd),
        collateral,
        ..Default::default()
    });
    assert!(out.verified, "{:?}", out.error);

    // Firmware refused: the status is reported.
    let mut a = SevGuestAttester {
        device: Box::new(MockDevice {
            report: report.clone(),
            status: 0x16,
            fail: None,
            asked: asked.clone(),
        }),
        vmpl: 0,
    };
    assert!(
        a.evidence(&[0; 48])
            .unwrap_err()
            .to_string()
            .contains("0x16")
    );
    // The ioctl failed: errno and firmware error are reported.
    let mut a = SevGuestAttester {
        device: Box::new(MockDevice {
            report: report.clone(),
            status: 0,
            fail: Some(IoctlError {
                errno: 5,
                exitinfo2: 0x0000_0001_0000_0007,
            }),
            asked,
        }),
        vmpl: 0,
    };
    let e = a.evidence(&[0; 48]).unwrap_err().to_string();
    assert!(
        e.contains("errno 5") && e.contains("0x7") && e.contains("vmm error 0x1"),
        "{e}"
    );
    // Hostile responses: a size past the buffer, a short report, non-zero reserved bytes.
    let mut resp = vec![0u8; 4000];
    resp[4..8].copy_from_slice(&5000u32.to_le_bytes());
    assert!(parse_response(&resp).is_err());
    resp[4..8].copy_from_slice(&100u32.to_le_bytes());
    assert!(parse_response(&resp).is_err());
    resp[4..8].copy_from_slice(&1184u32.to_le_bytes());
    resp[10] = 1;
    assert!(parse_response(&resp).is_err());
    resp[10] = 0;
    assert_eq!(parse_response(&resp).unwrap().len(), 1184);
}

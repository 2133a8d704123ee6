//! SEV-SNP and TDX evidence through Linux configfs-tsm
//! (`/sys/kernel/config/tsm/report`, Documentation/ABI/testing/configfs-tsm).
//!
//! One report: make an entry directory, write the 64-byte `inblob` (the
//! report data), read `generation`, read `outblob` (the kernel asks the TEE
//! then), `auxblob` (SNP: the host's certificate table, when it has one) and
//! `provider` (`sev_guest`, `tdx_guest`), read `generation` again and refuse
//! the report when it moved (another writer raced us), remove the entry.
//!
//! The entry operations sit behind [`EntryFs`] so tests can serve recorded
//! trees from a temporary directory; everything else is the same code the
//! kernel interface runs.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::{Attester, Error};

/// Where the kernel exposes configfs-tsm reports.
pub const TSM_REPORT: &str = "/sys/kernel/config/tsm/report";
/// The largest blob read from an entry (a TDX quote with certificates is ~8 KiB).
const MAX_BLOB: u64 = 1 << 20;

/// Creating and removing report entries.
pub trait EntryFs: Send + Sync {
    /// Creates the entry directory (configfs populates its attributes).
    fn create(&self, entry: &Path) -> std::io::Result<()>;
    /// Removes it.
    fn remove(&self, entry: &Path) -> std::io::Result<()>;
}

/// The kernel's configfs: `mkdir` and `rmdir`.
#[derive(Debug, Clone, Copy, Default)]
pub struct KernelFs;

impl EntryFs for KernelFs {
    fn create(&self, entry: &Path) -> std::io::Result<()> {
        std::fs::create_dir(entry)
    }
    fn remove(&self, entry: &Path) -> std::io::Result<()> {
        std::fs::remove_dir(entry)
    }
}

/// Which TEE a provider name belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// AMD SEV-SNP (`sev_guest`).
    Snp,
    /// Intel TDX (`tdx_guest`).
    Tdx,
}

impl Provider {
    /// The KBS `tee` name.
    pub fn tee(self) -> &'static str {
        match self {
            Self::Snp => "snp",
            Self::Tdx => "tdx",
        }
    }

    fn of(name: &str) -> Option<Self> {
        match name.trim() {
            "sev_guest" => Some(Self::Snp),
            "tdx_guest" => Some(Self::Tdx),
            _ => None,
        }
    }
}

/// What one report entry yielded.
#[derive(Debug, Clone)]
pub struct Report {
    /// The provider.
    pub provider: Provider,
    /// The report (SNP) or quote (TDX).
    pub outblob: Vec<u8>,
    /// SNP's certificate table, when the host supplied one.
    pub auxblob: Option<Vec<u8>>,
    /// The generation the report was read at.
    pub generation: u64,
}

/// A configfs-tsm report interface.
pub struct Tsm {
    root: PathBuf,
    fs: Box<dyn EntryFs>,
}

impl std::fmt::Debug for Tsm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tsm")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn read_limited(p: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let f = std::fs::File::open(p)?;
    let mut out = Vec::new();
    f.take(MAX_BLOB + 1).read_to_end(&mut out)?;
    if out.len() as u64 > MAX_BLOB {
        return Err(std::io::Error::other("larger than 1 MiB"));
    }
    Ok(out)
}

impl Tsm {
    /// The kernel's interface.
    pub fn kernel() -> Self {
        Self::new(PathBuf::from(TSM_REPORT), Box::new(KernelFs))
    }

    /// An interface at `root` with entry operations `fs`.
    pub fn new(root: PathBuf, fs: Box<dyn EntryFs>) -> Self {
        Self { root, fs }
    }

    /// True when the report directory exists.
    pub fn available(&self) -> bool {
        self.root.is_dir()
    }

    /// Asks for one report over `report_data` (at most 64 bytes, zero-padded).
    pub fn report(&self, report_data: &[u8]) -> Result<Report, Error> {
        if report_data.len() > 64 {
            return Err(Error::malformed("report data", "longer than 64 bytes"));
        }
        let mut inblob = [0u8; 64];
        inblob
            .iter_mut()
            .zip(report_data)
            .for_each(|(d, s)| *d = *s);
        let name = format!(
            "rootline-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let entry = self.root.join(name);
        self.fs.create(&entry).map_err(Error::io(entry.display()))?;
        let out = Self::read_entry(&entry, &inblob);
        let removed = self.fs.remove(&entry).map_err(Error::io(entry.display()));
        let report = out?;
        removed?;
        Ok(report)
    }

    fn read_entry(entry: &Path, inblob: &[u8; 64]) -> Result<Report, Error> {
        let at = |n: &str| entry.join(n);
        let p = at("inblob");
        std::fs::write(&p, inblob).map_err(Error::io(p.display()))?;
        let generation = |path: &Path| -> Result<u64, Error> {
            let t = read_limited(path).map_err(Error::io(path.display()))?;
            String::from_utf8_lossy(&t)
                .trim()
                .parse()
                .map_err(|_| Error::malformed("configfs-tsm generation", "not a number"))
        };
        let g1 = generation(&at("generation"))?;
        let p = at("outblob");
        let outblob = read_limited(&p).map_err(Error::io(p.display()))?;
        if outblob.is_empty() {
            return Err(Error::malformed("configfs-tsm outblob", "empty"));
        }
        let p = at("auxblob");
        let auxblob = match read_limited(&p) {
            Ok(b) if !b.is_empty() => Some(b),
            Ok(_) => None,
            // TDX has no auxblob; some kernels fail the read with ENOENT/EIO
            // when the host supplies no certificates.
            Err(_) => None,
        };
        let p = at("provider");
        let provider_name = read_limited(&p).map_err(Error::io(p.display()))?;
        let provider_name = String::from_utf8_lossy(&provider_name).trim().to_owned();
        let provider = Provider::of(&provider_name).ok_or_else(|| {
            Error::Unsupported(format!("configfs-tsm provider {provider_name:?}"))
        })?;
        let g2 = generation(&at("generation"))?;
        if g1 != g2 {
            return Err(Error::malformed(
                "configfs-tsm generation",
                format!(
                    "changed from {g1} to {g2} while reading: another writer raced this report"
                ),
            ));
        }
        Ok(Report {
            provider,
            outblob,
            auxblob,
            generation: g2,
        })
    }
}

/// The CC event log TDX firmware leaves in ACPI (`CCEL`), when readable.
pub const CCEL: &str = "/sys/firmware/acpi/tables/data/CCEL";

/// Bytes of zero padding kept after the last non-zero byte of a CCEL: the
/// log's last event may end in zeros (a separator's data is four), and the
/// parser stops at the padding anyway.
const CCEL_SLACK: usize = 4096;

/// The CCEL region is reserved at a fixed size (often 1 MiB) and zero-filled
/// after the log; sending it whole would exceed what verifiers accept.
fn trim_log(log: &[u8]) -> &[u8] {
    let used = log.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
    log.get(..log.len().min(used + CCEL_SLACK)).unwrap_or(log)
}

/// configfs-tsm as an evidence source for SNP or TDX.
#[derive(Debug)]
pub struct TsmAttester {
    /// The interface.
    pub tsm: Tsm,
    /// The TEE the caller asked for; a report from another provider is refused.
    pub want: Provider,
    /// TDX: the CCEL to send along (`None`: the ACPI table when readable).
    pub ccel: Option<PathBuf>,
}

impl TsmAttester {
    /// The kernel's configfs-tsm for `want`.
    pub fn kernel(want: Provider) -> Self {
        Self {
            tsm: Tsm::kernel(),
            want,
            ccel: None,
        }
    }
}

/// SNP evidence as guest-components sends it: the `sev` crate's serde form
/// of the report, with the certificates of the extended report.
pub(crate) fn snp_guest_components(report: &[u8], auxblob: Option<&[u8]>) -> Result<Value, Error> {
    let certs: Vec<(String, Vec<u8>)> = match auxblob {
        Some(t) if !t.is_empty() => rootline_snp::certtable::parse(t)
            .map_err(|e| Error::malformed("SNP certificate table", e.to_string()))?
            .into_iter()
            .map(|c| (c.guid.name(), c.bytes))
            .collect(),
        _ => Vec::new(),
    };
    rootline_snp::guest_json::encode(report, &certs)
        .map_err(|e| Error::malformed("SNP report", e.to_string()))
}

impl Attester for TsmAttester {
    fn tee(&self) -> &str {
        self.want.tee()
    }

    fn guest_components_evidence(&mut self, report_data: &[u8]) -> Result<Value, Error> {
        if self.want != Provider::Snp {
            return self.evidence(report_data);
        }
        let r = self.tsm.report(report_data)?;
        if r.provider != Provider::Snp {
            return Err(Error::Unsupported(format!(
                "asked for snp evidence but configfs-tsm's provider is {}",
                r.provider.tee()
            )));
        }
        snp_guest_components(&r.outblob, r.auxblob.as_deref())
    }

    fn evidence(&mut self, report_data: &[u8]) -> Result<Value, Error> {
        let r = self.tsm.report(report_data)?;
        if r.provider != self.want {
            return Err(Error::Unsupported(format!(
                "asked for {} evidence but configfs-tsm's provider is {}",
                self.want.tee(),
                r.provider.tee()
            )));
        }
        Ok(match r.provider {
            // The configfs-tsm capture as JSON, which rootline-snp reads.
            Provider::Snp => {
                let mut v = json!({
                    "provider": "sev_guest",
                    "outblob": STANDARD.encode(&r.outblob),
                });
                if let (Some(aux), Value::Object(m)) = (&r.auxblob, &mut v) {
                    m.insert("auxblob".into(), STANDARD.encode(aux).into());
                }
                v
            }
            // Trustee's TDX evidence shape: quote and CC event log, base64.
            Provider::Tdx => {
                let ccel_path = self.ccel.clone().unwrap_or_else(|| PathBuf::from(CCEL));
                let mut v = json!({"quote": STANDARD.encode(&r.outblob)});
                if let (Ok(log), Value::Object(m)) = (read_limited(&ccel_path), &mut v) {
                    m.insert("cc_eventlog".into(), STANDARD.encode(trim_log(&log)).into());
                }
                v
            }
        })
    }
}

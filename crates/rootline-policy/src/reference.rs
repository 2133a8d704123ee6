//! Reference values: what an owner accepts, with where it came from.
//!
//! A reference value is one accepted value under a key that names the claim it
//! is compared with (`snp.measurement`, `tdx.mr_td`, `tpm.pcr.sha256.4`). Keys
//! hold sets: a PCR may have two accepted values during a rollout. Every value
//! carries its provenance, a version, its creation time and an optional
//! expiry.
//!
//! Nothing is overwritten silently: adding a value that is already accepted
//! retires the old record and adds a new version beside it; deleting retires
//! records. The history stays in the store and [`ReferenceStore::list`] shows
//! it. [`ReferenceStore`] is small and synchronous so that the broker can put
//! an SQL implementation behind it; [`FileStore`] is one JSON file written
//! atomically (temporary file, fsync, rename), so a failed write never loses
//! what was stored.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::Error;

/// Longest accepted key, in bytes.
pub const MAX_KEY_LEN: usize = 128;
/// Longest accepted string value, in bytes.
pub const MAX_VALUE_LEN: usize = 4096;
/// Largest reference file or import file read, in bytes.
pub const MAX_FILE_LEN: u64 = 64 << 20;

/// One stored reference value, current or retired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferenceValue {
    /// The claim it is compared with, e.g. `tpm.pcr.sha256.4`.
    pub key: String,
    /// The accepted value: lower-case hex text, a number or a boolean.
    pub value: Value,
    /// 1 for the first record of this key and value, then one more per change.
    pub version: u32,
    /// Where the value came from (a file, a build, "claims of ...").
    pub provenance: String,
    /// When this record was added.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// After this instant the value is no longer accepted.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires: Option<OffsetDateTime>,
    /// When this record was superseded by a newer version or deleted.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub retired: Option<OffsetDateTime>,
}

impl ReferenceValue {
    /// True when the record is neither retired nor expired at `at`.
    pub fn is_active(&self, at: OffsetDateTime) -> bool {
        self.retired.is_none() && self.expires.is_none_or(|e| e > at)
    }
}

/// A value to add.
#[derive(Debug, Clone, PartialEq)]
pub struct NewValue {
    /// The reference key.
    pub key: String,
    /// The value.
    pub value: Value,
    /// Where it came from.
    pub provenance: String,
    /// Optional expiry.
    pub expires: Option<OffsetDateTime>,
}

impl NewValue {
    /// A value without expiry.
    pub fn new(key: impl Into<String>, value: Value, provenance: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            value,
            provenance: provenance.into(),
            expires: None,
        }
    }
}

/// Checks a key: `kind.name[.more]`, lower-case ASCII letters, digits, `_`
/// and `-`, no empty segment.
pub fn check_key(key: &str) -> Result<(), Error> {
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(Error::Reference(format!(
            "key {key:?} must be 1 to {MAX_KEY_LEN} bytes"
        )));
    }
    let segments: Vec<&str> = key.split('.').collect();
    if segments.len() < 2 {
        return Err(Error::Reference(format!(
            "key {key:?} must name the TEE and the claim, e.g. snp.measurement or tpm.pcr.sha256.4"
        )));
    }
    for s in segments {
        if s.is_empty()
            || !s
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        {
            return Err(Error::Reference(format!(
                "key {key:?}: each dot-separated part must be non-empty lower-case ASCII letters, digits, '_' or '-'"
            )));
        }
    }
    Ok(())
}

/// Checks a value and puts it in canonical form: hex text in lower case.
/// Strings, integers and booleans are accepted; objects, arrays, null and
/// fractions are not.
pub fn normalize_value(key: &str, v: &Value) -> Result<Value, Error> {
    match v {
        Value::String(s) if s.len() > MAX_VALUE_LEN => Err(Error::Reference(format!(
            "value of {key} is {} bytes, more than {MAX_VALUE_LEN}",
            s.len()
        ))),
        Value::String(s) if s.is_empty() => {
            Err(Error::Reference(format!("value of {key} is empty")))
        }
        Value::String(s) => {
            let s = s.trim();
            let s = s.strip_prefix("0x").unwrap_or(s);
            if s.bytes().all(|b| b.is_ascii_hexdigit()) {
                Ok(Value::String(s.to_ascii_lowercase()))
            } else {
                Ok(Value::String(s.to_owned()))
            }
        }
        Value::Bool(_) => Ok(v.clone()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Ok(v.clone()),
        other => Err(Error::Reference(format!(
            "value of {key} must be hex text, an integer or a boolean, not {other}"
        ))),
    }
}

/// The accepted values at one instant, as the policy sees them
/// (`data.reference`): key to the list of accepted values.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReferenceValues(pub BTreeMap<String, Vec<Value>>);

impl ReferenceValues {
    /// The active values of `records` at `at`.
    pub fn active(records: &[ReferenceValue], at: OffsetDateTime) -> Self {
        let mut m: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for r in records.iter().filter(|r| r.is_active(at)) {
            let vals = m.entry(r.key.clone()).or_default();
            if !vals.contains(&r.value) {
                vals.push(r.value.clone());
            }
        }
        Self(m)
    }

    /// The values as a JSON object.
    pub fn to_json(&self) -> Value {
        Value::Object(
            self.0
                .iter()
                .map(|(k, v)| (k.clone(), Value::Array(v.clone())))
                .collect(),
        )
    }
}

/// Storage of reference values with their history.
///
/// Implementations must never lose a stored record on a failed write and
/// never overwrite one: [`add`](ReferenceStore::add) of an accepted value
/// retires the old record and appends a new version.
pub trait ReferenceStore {
    /// Adds one value (see the trait documentation for versions).
    fn add(&self, new: NewValue) -> Result<ReferenceValue, Error>;
    /// Adds several values in one write: all or none.
    fn add_all(&self, new: Vec<NewValue>) -> Result<Vec<ReferenceValue>, Error>;
    /// Retires the active records of `key` (only those equal to `value` when
    /// given); returns how many were retired, and an error when none was.
    fn delete(&self, key: &str, value: Option<&Value>) -> Result<usize, Error>;
    /// Every record, current and retired, in insertion order.
    fn list(&self) -> Result<Vec<ReferenceValue>, Error>;
    /// The values accepted at `at`.
    fn active(&self, at: OffsetDateTime) -> Result<ReferenceValues, Error> {
        Ok(ReferenceValues::active(&self.list()?, at))
    }
}

/// Applies `new` to `records` with the versioning rules; returns the records
/// added. Shared by every store so that they behave alike.
pub fn apply_add(
    records: &mut Vec<ReferenceValue>,
    new: Vec<NewValue>,
    now: OffsetDateTime,
) -> Result<Vec<ReferenceValue>, Error> {
    let mut added = Vec::with_capacity(new.len());
    for n in new {
        check_key(&n.key)?;
        let value = normalize_value(&n.key, &n.value)?;
        if n.provenance.trim().is_empty() {
            return Err(Error::Reference(format!(
                "value {value} of {} has no provenance: say where it came from",
                n.key
            )));
        }
        let mut version = 0;
        for r in records
            .iter_mut()
            .filter(|r| r.key == n.key && r.value == value)
        {
            version = version.max(r.version);
            if r.retired.is_none() {
                r.retired = Some(now);
            }
        }
        let rec = ReferenceValue {
            key: n.key,
            value,
            version: version.saturating_add(1),
            provenance: n.provenance,
            created: now,
            expires: n.expires,
            retired: None,
        };
        records.push(rec.clone());
        added.push(rec);
    }
    Ok(added)
}

/// Retires matching active records; shared by every store.
pub fn apply_delete(
    records: &mut [ReferenceValue],
    key: &str,
    value: Option<&Value>,
    now: OffsetDateTime,
) -> Result<usize, Error> {
    let value = value.map(|v| normalize_value(key, v)).transpose()?;
    let mut n = 0;
    for r in records.iter_mut().filter(|r| {
        r.key == key && r.retired.is_none() && value.as_ref().is_none_or(|v| *v == r.value)
    }) {
        r.retired = Some(now);
        n += 1;
    }
    if n == 0 {
        return Err(Error::Reference(match value {
            Some(v) => format!("no current value {v} of {key} to delete"),
            None => format!("no current value of {key} to delete"),
        }));
    }
    Ok(n)
}

/// The on-disk format of [`FileStore`].
#[derive(Serialize, Deserialize)]
struct FileFormat {
    /// Format version; only 1 is known.
    version: u32,
    values: Vec<ReferenceValue>,
}

/// Reference values in one JSON file, rewritten atomically on every change.
#[derive(Debug)]
pub struct FileStore {
    path: PathBuf,
    lock: Mutex<()>,
}

impl FileStore {
    /// The store in `path` (created on the first write).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            lock: Mutex::new(()),
        }
    }

    /// The store file `reference-values.json` in a data directory.
    pub fn in_dir(dir: &Path) -> Self {
        Self::new(dir.join("reference-values.json"))
    }

    /// The file it uses.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, reason: impl Into<String>) -> Error {
        Error::Store {
            path: self.path.display().to_string(),
            reason: reason.into(),
        }
    }

    fn read(&self) -> Result<Vec<ReferenceValue>, Error> {
        let bytes = match read_bounded(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.err(e.to_string())),
        };
        let f: FileFormat = serde_json::from_slice(&bytes)
            .map_err(|e| self.err(format!("not a reference-value file: {e}")))?;
        if f.version != 1 {
            return Err(self.err(format!(
                "format version {} is not known (only 1)",
                f.version
            )));
        }
        Ok(f.values)
    }

    fn write(&self, values: Vec<ReferenceValue>) -> Result<(), Error> {
        let body = serde_json::to_vec_pretty(&FileFormat { version: 1, values })
            .map_err(|e| self.err(e.to_string()))?;
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&dir).map_err(|e| self.err(format!("create directory: {e}")))?;
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "reference-values.json".into());
        let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let result = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&body)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(self.err(format!("write: {e}")));
        }
        Ok(())
    }

    fn change<T>(
        &self,
        f: impl FnOnce(&mut Vec<ReferenceValue>, OffsetDateTime) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let _g = self.lock.lock().map_err(|_| self.err("lock poisoned"))?;
        let mut records = self.read()?;
        let out = f(&mut records, OffsetDateTime::now_utc())?;
        self.write(records)?;
        Ok(out)
    }
}

impl ReferenceStore for FileStore {
    fn add(&self, new: NewValue) -> Result<ReferenceValue, Error> {
        let mut v = self.add_all(vec![new])?;
        v.pop().ok_or_else(|| self.err("nothing was added"))
    }

    fn add_all(&self, new: Vec<NewValue>) -> Result<Vec<ReferenceValue>, Error> {
        self.change(|r, now| apply_add(r, new, now))
    }

    fn delete(&self, key: &str, value: Option<&Value>) -> Result<usize, Error> {
        self.change(|r, now| apply_delete(r, key, value, now))
    }

    fn list(&self) -> Result<Vec<ReferenceValue>, Error> {
        let _g = self.lock.lock().map_err(|_| self.err("lock poisoned"))?;
        self.read()
    }
}

/// Reads a file of at most [`MAX_FILE_LEN`] bytes.
pub fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let f = std::fs::File::open(path)?;
    let mut out = Vec::new();
    f.take(MAX_FILE_LEN + 1).read_to_end(&mut out)?;
    if out.len() as u64 > MAX_FILE_LEN {
        return Err(std::io::Error::other(format!(
            "larger than {MAX_FILE_LEN} bytes"
        )));
    }
    Ok(out)
}

/// Which claims of each TEE become reference values when they are taken from
/// a verified outcome, as normalized keys (see [`crate::claims`]).
fn referable(key: &str) -> bool {
    const EXACT: &[&str] = &[
        "snp.measurement",
        "snp.host_data",
        "snp.family_id",
        "snp.image_id",
        "tdx.mr_td",
        "tdx.rtmr0",
        "tdx.rtmr1",
        "tdx.rtmr2",
        "tdx.rtmr3",
        "tdx.mr_config_id",
        "tdx.mr_owner",
        "tdx.mr_owner_config",
        "tdx.mr_seam",
        "tdx.td_attributes",
        "tdx.xfam",
        "sgx.mr_enclave",
        "sgx.mr_signer",
        "sgx.isv_prod_id",
        "sgx.isv_svn",
        "sgx.attributes",
        "cca.realm.initial_measurement",
        "cca.realm.rem0",
        "cca.realm.rem1",
        "cca.realm.rem2",
        "cca.realm.rem3",
        "cca.realm.personalization_value",
        "cca.platform.implementation_id",
        "cca.platform.config",
    ];
    EXACT.contains(&key)
        // GCP: the SEV-SNP report or TD quote verified beside vTPM quotes
        // nests its claims under the TPM's (tpm.snp.*, tpm.tdx.*).
        || key
            .strip_prefix("tpm.")
            .is_some_and(|k| (k.starts_with("snp.") || k.starts_with("tdx.")) && EXACT.contains(&k))
        || key.starts_with("tpm.pcr.")
        // GCP Confidential Space: the workload its canonical event log names.
        || matches!(
            key,
            "tpm.cel.cos.image_reference"
                | "tpm.cel.cos.image_digest"
                | "tpm.cel.cos.image_id"
                | "tpm.cel.cos.restart_policy"
        )
        || key.starts_with("azure-snp.tpm.pcrs.")
        || key.starts_with("azure-tdx.tpm.pcrs.")
        || key == "azure-snp.measurement"
        || key == "azure-tdx.mr_td"
}

/// Reference values taken from the claims of verified evidence: the
/// measurements and configuration of that TEE (launch measurement, MRTD and
/// RTMRs, MRENCLAVE, PCRs...), not per-boot values such as report data.
/// Only a [`rootline_verifier::Verified`] is taken: rejected claims prove
/// nothing.
pub fn from_verified(
    verified: &rootline_verifier::Verified,
    provenance: &str,
) -> Result<Vec<NewValue>, Error> {
    from_claims(verified.tee(), verified.claims_json(), provenance)
}

/// Reference values from the claims of `rootline verify --json` output
/// that says it verified: an operator's own file, taken on their word (the
/// verification happened when the file was written).
fn from_verify_json(m: &Map<String, Value>, provenance: &str) -> Result<Vec<NewValue>, Error> {
    if m.get("verified").and_then(Value::as_bool) != Some(true) {
        return Err(Error::Reference(format!(
            "the outcome did not verify ({}); reference values are only taken from verified claims",
            m.get("error")
                .and_then(Value::as_str)
                .unwrap_or("no reason given")
        )));
    }
    let tee = match m.get("tee") {
        Some(Value::String(s)) => s
            .parse::<rootline_core::TeeKind>()
            .map_err(|e| Error::Reference(format!("tee {s:?}: {e}")))?,
        _ => return Err(Error::Reference("the outcome names no TEE kind".into())),
    };
    let empty = Map::new();
    let claims = m.get("claims").and_then(Value::as_object).unwrap_or(&empty);
    from_claims(tee, claims, provenance)
}

fn from_claims(
    tee: rootline_core::TeeKind,
    claims: &Map<String, Value>,
    provenance: &str,
) -> Result<Vec<NewValue>, Error> {
    let flat = crate::claims::normalize(tee, claims);
    let mut out: Vec<NewValue> = Vec::new();
    for (k, v) in flat {
        if let Some((prefix, rest)) = events_key(tee, &k) {
            // The events behind a quoted PCR: each digest becomes an accepted
            // event of that PCR, which lets appraisal name the first event a
            // later boot changed.
            out.extend(
                event_digests(&v)
                    .map(|d| NewValue::new(format!("{prefix}tpm.event.{rest}"), d, provenance)),
            );
        } else if referable(&k) && !v.is_null() {
            out.push(NewValue::new(k, v, provenance));
        }
    }
    if out.is_empty() {
        return Err(Error::Reference(format!(
            "the {tee} claims hold no measurement to take as a reference value"
        )));
    }
    Ok(out)
}

/// A claim of the events behind a quoted PCR, split into the prefix of its
/// reference keys and `BANK.PCR`: `tpm.events.BANK.PCR` of a TPM (GCP
/// included), or `KIND.tpm.events.BANK.PCR` of a kind whose claims nest a
/// vTPM under `tpm` (an Azure vTPM's `TcgLogs`: `azure-snp.tpm.events...`).
fn events_key(tee: rootline_core::TeeKind, k: &str) -> Option<(String, &str)> {
    if let Some(rest) = k.strip_prefix("tpm.events.") {
        return Some((String::new(), rest));
    }
    let rest = k.strip_prefix(tee.as_str())?.strip_prefix(".tpm.events.")?;
    Some((format!("{}.", tee.as_str()), rest))
}

/// The digests of a `tpm.events.BANK.PCR` claim (a list of `{digest, ...}`).
fn event_digests(v: &Value) -> impl Iterator<Item = Value> + '_ {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("digest").cloned())
}

/// Values from `rootline eventlog replay --json` output
/// (`{"events": N, "pcrs": {"sha256": {"0": "hex"...}}, "event_digests":
/// {"sha256": {"4": ["hex", ...]}}}`): one per bank and PCR, keyed
/// `tpm.pcr.BANK.INDEX`, and each event digest as an accepted event of its
/// PCR, keyed `tpm.event.BANK.INDEX`.
pub fn from_replay(json: &Value, provenance: &str) -> Result<Vec<NewValue>, Error> {
    let pcrs = json
        .get("pcrs")
        .and_then(Value::as_object)
        .ok_or_else(|| Error::Reference("replay output has no \"pcrs\" object".into()))?;
    let mut out = Vec::new();
    for (bank, m) in pcrs {
        let m = m.as_object().ok_or_else(|| {
            Error::Reference(format!("replay output: pcrs.{bank} is not an object"))
        })?;
        for (i, v) in m {
            let idx: u8 = i.parse().map_err(|_| {
                Error::Reference(format!("replay output: PCR index {i:?} is not a number"))
            })?;
            out.push(NewValue::new(
                format!("tpm.pcr.{bank}.{idx}"),
                v.clone(),
                provenance,
            ));
        }
    }
    if let Some(ev) = json.get("event_digests").and_then(Value::as_object) {
        for (bank, m) in ev {
            for (i, list) in m.as_object().into_iter().flatten() {
                let idx: u8 = i.parse().map_err(|_| {
                    Error::Reference(format!(
                        "replay output: event PCR index {i:?} is not a number"
                    ))
                })?;
                for d in list.as_array().into_iter().flatten() {
                    out.push(NewValue::new(
                        format!("tpm.event.{bank}.{idx}"),
                        d.clone(),
                        provenance,
                    ));
                }
            }
        }
    }
    Ok(out)
}

/// Values from a JSON file in any of the shapes rootline reads:
/// - `rootline verify --json` output (claims of a verified outcome);
/// - `rootline eventlog replay --json` output;
/// - `rootline measure uki --json` output (its `reference_values`) or
///   `--reference-values` output (an object of key to value);
/// - a list of records (`rootline reference list --json`, `rootline
///   reference record`, or `[{"key", "value", "provenance"?, "expires"?}]`);
/// - a reference store file or `rootline reference record --json` output
///   (`{"values": [...]}`, `{"records": [...]}`; retired records skipped);
/// - an object of key to value or list of values.
pub fn from_json(json: &Value, provenance: &str) -> Result<Vec<NewValue>, Error> {
    match json {
        Value::Object(m) if m.contains_key("verified") && m.contains_key("claims") => {
            from_verify_json(m, provenance)
        }
        // `rootline measure uki --json`: its predicted reference values.
        Value::Object(m) if matches!(m.get("reference_values"), Some(Value::Object(_))) => {
            from_json(m.get("reference_values").unwrap_or(&Value::Null), provenance)
        }
        Value::Object(m) if m.contains_key("pcrs") && m.contains_key("events") => {
            from_replay(json, provenance)
        }
        // A FileStore file, or `rootline reference record --json`: the
        // current records.
        Value::Object(m)
            if matches!(m.get("values"), Some(Value::Array(_)))
                || matches!(m.get("records"), Some(Value::Array(_))) =>
        {
            let items = m
                .get("values")
                .or_else(|| m.get("records"))
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default();
            let mut out = Vec::new();
            for (i, it) in items.iter().enumerate() {
                if it.get("retired").is_some_and(|r| !r.is_null()) {
                    continue;
                }
                out.push(record_from_json(it, provenance).map_err(|e| in_item(i, e))?);
            }
            Ok(out)
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, it)| record_from_json(it, provenance).map_err(|e| in_item(i, e)))
            .collect(),
        Value::Object(m) => {
            let mut out = Vec::new();
            for (k, v) in m {
                match v {
                    Value::Array(vs) => {
                        out.extend(vs.iter().map(|v| NewValue::new(k, v.clone(), provenance)))
                    }
                    v => out.push(NewValue::new(k, v.clone(), provenance)),
                }
            }
            Ok(out)
        }
        _ => Err(Error::Reference(
            "the JSON is neither a verify or replay output, a list of records, nor an object of key to values".into(),
        )),
    }
}

fn in_item(i: usize, e: Error) -> Error {
    match e {
        Error::Reference(m) => Error::Reference(format!("item {i}: {m}")),
        other => other,
    }
}

fn record_from_json(it: &Value, provenance: &str) -> Result<NewValue, Error> {
    let key = it
        .get("key")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::Reference("no \"key\" string".into()))?;
    let value = it
        .get("value")
        .ok_or_else(|| Error::Reference("no \"value\"".into()))?;
    let prov = it
        .get("provenance")
        .and_then(Value::as_str)
        .unwrap_or(provenance);
    let expires = match it.get("expires") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(
            OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .map_err(|e| Error::Reference(format!("expires {s:?}: {e}")))?,
        ),
        Some(other) => {
            return Err(Error::Reference(format!(
                "expires must be RFC 3339 text, not {other}"
            )));
        }
    };
    // Retired records of a listing are history, not values to accept.
    if it.get("retired").is_some_and(|r| !r.is_null()) {
        return Err(Error::Reference(format!(
            "the record of {key} is retired; import only current values (rootline reference list --json without --history)"
        )));
    }
    Ok(NewValue {
        key: key.to_owned(),
        value: value.clone(),
        provenance: prov.to_owned(),
        expires,
    })
}

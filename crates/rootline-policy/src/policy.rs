//! Rego appraisal with regorus: compiled once, evaluated per device.
//!
//! A policy is a Rego module in package `rootline.appraisal` whose rule
//! `result` gives `{"trust_vector": {component: AR4SI value}, "reasons":
//! [{"component", "key"?, "message"}]}` for one device. Its input is
//! [`crate::claims::device_input`]; its data is `{"reference": key -> [values],
//! "settings": {...}}`. The helpers of `policies/lib.rego` (package
//! `rootline.lib`) are compiled beside every policy.
//!
//! Everything that can be wrong with a policy is found when it is loaded, not
//! when a request comes: the text is parsed, every `data.` reference must name
//! `data.reference`, `data.settings` or a loaded package, and a dry evaluation
//! against inputs with no claims must give a well-formed result.
//! [`CompiledPolicy`] is cached by the SHA-256 of its text and is cheap to
//! clone and share between threads; [`Appraiser`] binds policies to one
//! snapshot of reference values (regorus compiles the entry point with the
//! data once) and is `Send + Sync`.
//!
//! The Rust side keeps the guarantees a policy could forget: an unverified
//! outcome is never affirming, a device whose trust vector is empty is
//! "none", and every claim that is not affirming has a reason.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use rootline_core::TeeKind;
use serde::Serialize;
use serde_json::Value;

use crate::Error;
use crate::reference::ReferenceValues;

/// The rule every policy defines.
pub const ENTRYPOINT: &str = "data.rootline.appraisal.result";
/// Largest policy text accepted, in bytes.
pub const MAX_POLICY_LEN: usize = 1 << 20;

/// Helpers compiled beside every policy.
pub const LIB_REGO: &str = include_str!("../../../policies/lib.rego");
/// The default TPM policy.
pub const DEFAULT_TPM: &str = include_str!("../../../policies/tpm.rego");
/// The default SEV-SNP policy.
pub const DEFAULT_SNP: &str = include_str!("../../../policies/snp.rego");
/// The default TDX policy.
pub const DEFAULT_TDX: &str = include_str!("../../../policies/tdx.rego");
/// The default Arm CCA policy.
pub const DEFAULT_CCA: &str = include_str!("../../../policies/cca.rego");
/// The default policy for Azure confidential VMs on SEV-SNP.
pub const DEFAULT_AZURE_SNP: &str = include_str!("../../../policies/azure-snp.rego");
/// The default policy for Azure confidential VMs on TDX.
pub const DEFAULT_AZURE_TDX: &str = include_str!("../../../policies/azure-tdx.rego");
/// The default IBM Z Secure Execution policy.
pub const DEFAULT_SE: &str = include_str!("../../../policies/se.rego");
/// The default SGX policy.
pub const DEFAULT_SGX: &str = include_str!("../../../policies/sgx.rego");

/// The default policy text for a kind, when one is shipped.
pub fn default_policy(tee: TeeKind) -> Option<&'static str> {
    match tee {
        TeeKind::Tpm => Some(DEFAULT_TPM),
        TeeKind::Snp => Some(DEFAULT_SNP),
        TeeKind::Tdx => Some(DEFAULT_TDX),
        TeeKind::Sgx => Some(DEFAULT_SGX),
        TeeKind::Cca => Some(DEFAULT_CCA),
        TeeKind::Se => Some(DEFAULT_SE),
        TeeKind::AzureSnp => Some(DEFAULT_AZURE_SNP),
        TeeKind::AzureTdx => Some(DEFAULT_AZURE_TDX),
        _ => None,
    }
}

/// The AR4SI trustworthiness claims, in EAR order and spelling.
pub const COMPONENTS: [&str; 8] = [
    "instance-identity",
    "configuration",
    "executables",
    "file-system",
    "hardware",
    "runtime-opaque",
    "storage-opaque",
    "sourced-data",
];

fn component_index(name: &str) -> Option<usize> {
    let n = name.replace('_', "-");
    COMPONENTS.iter().position(|c| *c == n)
}

/// AR4SI trust tier of a value (draft-ietf-rats-ar4si section 2.3.1):
/// -1..1 none, 2..31 affirming, 32..95 warning, 96 and above contraindicated
/// (the same bands for negative values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// No claim made.
    None,
    /// Affirming.
    Affirming,
    /// Warning.
    Warning,
    /// Contraindicated.
    Contraindicated,
}

impl Tier {
    /// The tier of an AR4SI value.
    pub fn of(v: i8) -> Self {
        match v {
            -1..=1 => Self::None,
            -31..=31 => Self::Affirming,
            -95..=95 => Self::Warning,
            _ => Self::Contraindicated,
        }
    }

    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Affirming => "affirming",
            Self::Warning => "warning",
            Self::Contraindicated => "contraindicated",
        }
    }

    pub(crate) fn to_ear(self) -> ear::TrustTier {
        match self {
            Self::None => ear::TrustTier::None,
            Self::Affirming => ear::TrustTier::Affirming,
            Self::Warning => ear::TrustTier::Warning,
            Self::Contraindicated => ear::TrustTier::Contraindicated,
        }
    }
}

impl std::fmt::Display for Tier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An AR4SI trust vector: one value per [`COMPONENTS`] entry, 0 when unset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrustVector(pub [i8; 8]);

impl TrustVector {
    /// The value of a component (`hardware`, `instance_identity`...).
    pub fn get(&self, name: &str) -> Option<i8> {
        component_index(name).and_then(|i| self.0.get(i).copied())
    }

    /// The set components and their values.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, i8)> + '_ {
        COMPONENTS
            .iter()
            .zip(self.0.iter())
            .filter(|(_, v)| **v != 0)
            .map(|(c, v)| (*c, *v))
    }

    /// The worst tier of the set components; `None` when nothing is set.
    pub fn tier(&self) -> Tier {
        self.iter()
            .map(|(_, v)| Tier::of(v))
            .max()
            .unwrap_or(Tier::None)
    }
}

impl Serialize for TrustVector {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut m = s.serialize_map(None)?;
        for (c, v) in self.iter() {
            m.serialize_entry(c, &v)?;
        }
        m.end()
    }
}

/// Why a claim is not affirming.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Reason {
    /// The trust-vector component concerned (or `policy` when the policy
    /// itself failed).
    pub component: String,
    /// The reference key concerned, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// A sentence a person can act on.
    pub message: String,
}

/// The appraisal of one device.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceAppraisal {
    /// `cpu0`, `gpu0`...
    pub device: String,
    /// The evidence kind.
    pub tee: Option<TeeKind>,
    /// The policy applied (its name).
    pub policy: String,
    /// SHA-256 of the policy text, hex.
    pub policy_hash: String,
    /// The overall status of this device.
    pub status: Tier,
    /// The AR4SI trust vector.
    pub trust_vector: TrustVector,
    /// One or more reasons for every component that is not affirming.
    pub reasons: Vec<Reason>,
}

/// The appraisal of every device of one attestation.
#[derive(Debug, Clone, Serialize)]
pub struct Appraisal {
    /// Affirming only when every device is.
    pub status: Tier,
    /// Per device.
    pub devices: Vec<DeviceAppraisal>,
}

impl Appraisal {
    /// True when every device is affirming.
    pub fn is_affirming(&self) -> bool {
        self.status == Tier::Affirming
    }

    fn overall(devices: &[DeviceAppraisal]) -> Tier {
        if !devices.is_empty() && devices.iter().all(|d| d.status == Tier::Affirming) {
            return Tier::Affirming;
        }
        devices
            .iter()
            .map(|d| d.status)
            .filter(|t| *t >= Tier::Warning)
            .max()
            .unwrap_or(Tier::None)
    }
}

struct Inner {
    hash: String,
    /// Policy and helpers added and prepared; no data.
    engine: regorus::Engine,
}

/// A loaded policy: parsed, checked and dry-run once. Cheap to clone.
#[derive(Clone)]
pub struct CompiledPolicy {
    name: Arc<str>,
    inner: Arc<Inner>,
}

impl std::fmt::Debug for CompiledPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledPolicy")
            .field("name", &self.name)
            .field("hash", &self.inner.hash)
            .finish()
    }
}

fn cache() -> &'static Mutex<HashMap<String, Arc<Inner>>> {
    static C: OnceLock<Mutex<HashMap<String, Arc<Inner>>>> = OnceLock::new();
    C.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Largest number of compiled policies kept in the process-wide cache.
const CACHE_MAX: usize = 256;

impl CompiledPolicy {
    /// Loads a policy, or takes it from the process-wide cache when the same
    /// text was loaded before. `name` is used in messages.
    pub fn load(name: &str, text: &str) -> Result<Self, Error> {
        let hash = hex::encode(
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes()).as_ref(),
        );
        let name: Arc<str> = Arc::from(name);
        if let Ok(c) = cache().lock()
            && let Some(inner) = c.get(&hash)
        {
            return Ok(Self {
                name,
                inner: inner.clone(),
            });
        }
        let inner = Arc::new(compile(&name, text, hash.clone())?);
        if let Ok(mut c) = cache().lock() {
            if c.len() >= CACHE_MAX {
                c.clear();
            }
            c.insert(hash, inner.clone());
        }
        Ok(Self { name, inner })
    }

    /// The default policy of a kind.
    pub fn default_for(tee: TeeKind) -> Result<Self, Error> {
        let text = default_policy(tee).ok_or_else(|| Error::PolicyLoad {
            name: format!("default {tee}"),
            reason: format!("no default policy is shipped for {tee}"),
        })?;
        Self::load(&format!("default {tee}"), text)
    }

    /// The name given at load time.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// SHA-256 of the policy text, hex.
    pub fn hash(&self) -> &str {
        &self.inner.hash
    }

    /// Compiles the entry point with `data` baked in.
    fn bind(&self, data: &Value) -> Result<regorus::CompiledPolicy, Error> {
        let mut e = self.inner.engine.clone();
        e.add_data(regorus::Value::from(data.clone()))
            .map_err(|err| Error::PolicyLoad {
                name: self.name.to_string(),
                reason: format!("data: {err}"),
            })?;
        e.compile_with_entrypoint(&ENTRYPOINT.into())
            .map_err(|err| Error::PolicyLoad {
                name: self.name.to_string(),
                reason: format!("{err}"),
            })
    }
}

/// Finds `data.X` references whose first part is not `reference`, `settings`
/// or a package the policy modules declare.
fn undefined_data_refs(text: &str, packages: &[String]) -> Vec<String> {
    let mut bad = Vec::new();
    for line in text.lines() {
        let code = strip_comment(line);
        let mut rest = code;
        while let Some(pos) = rest.find("data.") {
            let before = rest.get(..pos).and_then(|b| b.chars().last());
            let after = rest.get(pos + 5..).unwrap_or("");
            rest = after;
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.') {
                continue;
            }
            let path: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '.')
                .collect();
            let first = path.split('.').next().unwrap_or("");
            if first == "reference" || first == "settings" {
                continue;
            }
            let full = format!("data.{path}");
            let known = packages
                .iter()
                .any(|p| full == *p || full.starts_with(&format!("{p}.")) || p.starts_with(&full));
            if !known && !bad.contains(&full) {
                bad.push(full);
            }
        }
    }
    bad
}

/// Names of the rules and functions `policies/lib.rego` declares.
fn lib_rules() -> Vec<&'static str> {
    LIB_REGO
        .lines()
        .filter_map(|l| {
            let end = l
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(l.len());
            let name = l.get(..end)?;
            let rest = l.get(end..)?.trim_start();
            let is_rule = ["(", ":=", "contains ", "if ", "if{", "=", "{"]
                .iter()
                .any(|p| rest.starts_with(p));
            (!name.is_empty() && is_rule && !["package", "import", "default"].contains(&name))
                .then_some(name)
        })
        .collect()
}

/// `lib.X` (or `data.rootline.lib.X`) references to rules the helpers do not
/// declare: Rego would make them silently undefined.
fn undefined_lib_refs(text: &str) -> Vec<String> {
    let known = lib_rules();
    let mut bad = Vec::new();
    for line in text.lines() {
        let code = strip_comment(line);
        let mut rest = code;
        while let Some(pos) = rest.find("lib.") {
            let before = rest.get(..pos).and_then(|b| b.chars().last());
            let after = rest.get(pos + 4..).unwrap_or("");
            rest = after;
            let qualified = rest_ends_with(code, after, "data.rootline.lib.");
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || (c == '.' && !qualified)) {
                continue;
            }
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !known.contains(&name.as_str()) && !bad.contains(&format!("lib.{name}")) {
                bad.push(format!("lib.{name}"));
            }
        }
    }
    bad
}

/// True when the text just before `after` (a suffix of `code`) ends with `p`.
fn rest_ends_with(code: &str, after: &str, p: &str) -> bool {
    code.len()
        .checked_sub(after.len())
        .and_then(|i| code.get(..i))
        .is_some_and(|head| head.ends_with(p))
}

/// The line without a `#` comment (a `#` inside a string is kept).
fn strip_comment(line: &str) -> &str {
    let mut in_str = false;
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match c {
            '"' if prev != '\\' => in_str = !in_str,
            '#' if !in_str => return line.get(..i).unwrap_or(line),
            _ => {}
        }
        prev = c;
    }
    line
}

fn compile(name: &str, text: &str, hash: String) -> Result<Inner, Error> {
    let fail = |reason: String| Error::PolicyLoad {
        name: name.to_owned(),
        reason,
    };
    if text.len() > MAX_POLICY_LEN {
        return Err(fail(format!(
            "{} bytes, more than the {MAX_POLICY_LEN} accepted",
            text.len()
        )));
    }
    let mut engine = regorus::Engine::new();
    engine
        .add_policy("policies/lib.rego".into(), LIB_REGO.into())
        .map_err(|e| fail(format!("built-in helpers: {e}")))?;
    engine
        .add_policy(name.to_owned(), text.to_owned())
        .map_err(|e| fail(format!("{e}")))?;
    let packages = engine.get_packages().map_err(|e| fail(format!("{e}")))?;
    if !packages.iter().any(|p| p == "data.rootline.appraisal") {
        return Err(fail(format!(
            "the policy must be in package rootline.appraisal (found {})",
            packages.join(", ")
        )));
    }
    let bad = undefined_data_refs(text, &packages);
    if !bad.is_empty() {
        return Err(fail(format!(
            "undefined reference {}: data holds only data.reference, data.settings and the policy packages",
            bad.join(", ")
        )));
    }
    let bad = undefined_lib_refs(text);
    if !bad.is_empty() {
        return Err(fail(format!(
            "undefined reference {}: policies/lib.rego declares {}",
            bad.join(", "),
            lib_rules().join(", ")
        )));
    }
    let inner = Inner { hash, engine };
    // Dry runs: no claims, verified or not, with and without settings. Any
    // error or malformed result here is a load error, not a request error.
    let probe = CompiledPolicy {
        name: Arc::from(name),
        inner: Arc::new(Inner {
            hash: inner.hash.clone(),
            engine: inner.engine.clone(),
        }),
    };
    let data = serde_json::json!({"reference": {}, "settings": {}});
    let bound = probe.bind(&data)?;
    for verified in [false, true] {
        for tee in ["tpm", "snp", "tdx", "sgx"] {
            let input = serde_json::json!({
                "device": "cpu0", "tee": tee, "verified": verified, "error": null,
                "tcb_status": null, "advisory_ids": [], "warnings": [], "claims": {},
            });
            let out = bound
                .eval_with_input(regorus::Value::from(input))
                .map_err(|e| fail(format!("dry evaluation: {e}")))?;
            parse_result(&out).map_err(|e| fail(format!("dry evaluation: {e}")))?;
        }
    }
    Ok(inner)
}

/// What a policy returned, checked.
fn parse_result(v: &regorus::Value) -> Result<(TrustVector, Vec<Reason>), String> {
    if *v == regorus::Value::Undefined {
        return Err(format!(
            "{ENTRYPOINT} is undefined; a policy must always give a result (use `default` rules or rootline.lib.result)"
        ));
    }
    let j = serde_json::to_value(v).map_err(|e| format!("result is not JSON: {e}"))?;
    let obj = j
        .as_object()
        .ok_or_else(|| format!("result must be an object, not {j}"))?;
    let mut tv = TrustVector::default();
    match obj.get("trust_vector") {
        Some(Value::Object(m)) => {
            for (k, v) in m {
                let i = component_index(k)
                    .ok_or_else(|| format!("trust_vector: {k:?} is not an AR4SI claim"))?;
                let n = v
                    .as_i64()
                    .and_then(|n| i8::try_from(n).ok())
                    .ok_or_else(|| {
                        format!("trust_vector.{k} must be an integer in -128..127, not {v}")
                    })?;
                if let Some(slot) = tv.0.get_mut(i) {
                    *slot = n;
                }
            }
        }
        other => {
            return Err(format!(
                "result.trust_vector must be an object, not {}",
                other
                    .map(|o| o.to_string())
                    .unwrap_or_else(|| "absent".into())
            ));
        }
    }
    let mut reasons = Vec::new();
    match obj.get("reasons") {
        None => {}
        Some(Value::Array(a)) => {
            for r in a {
                let component = r
                    .get("component")
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("reason {r} has no component"))?;
                let idx = component_index(component).ok_or_else(|| {
                    format!("reason component {component:?} is not an AR4SI claim")
                })?;
                let message = r
                    .get("message")
                    .and_then(Value::as_str)
                    .filter(|m| !m.is_empty())
                    .ok_or_else(|| format!("reason {r} has no message"))?;
                reasons.push(Reason {
                    component: COMPONENTS.get(idx).copied().unwrap_or("").to_owned(),
                    key: r.get("key").and_then(Value::as_str).map(str::to_owned),
                    message: message.to_owned(),
                });
            }
        }
        Some(other) => return Err(format!("result.reasons must be an array, not {other}")),
    }
    Ok((tv, reasons))
}

/// Which policy applies to which kind.
#[derive(Debug, Clone, Default)]
pub struct PolicySet(BTreeMap<&'static str, CompiledPolicy>);

impl PolicySet {
    /// An empty set: every device is appraised "none".
    pub fn new() -> Self {
        Self::default()
    }

    /// The shipped default policies for TPM, SNP, TDX, SGX, Arm CCA, IBM
    /// Secure Execution and Azure confidential VMs.
    pub fn defaults() -> Result<Self, Error> {
        let mut s = Self::new();
        for t in [
            TeeKind::Tpm,
            TeeKind::Snp,
            TeeKind::Tdx,
            TeeKind::Sgx,
            TeeKind::Cca,
            TeeKind::Se,
            TeeKind::AzureSnp,
            TeeKind::AzureTdx,
        ] {
            s.set(t, CompiledPolicy::default_for(t)?);
        }
        Ok(s)
    }

    /// Uses `policy` for devices of kind `tee`.
    pub fn set(&mut self, tee: TeeKind, policy: CompiledPolicy) {
        self.0.insert(tee.as_str(), policy);
    }

    /// The policy of a kind.
    pub fn get(&self, tee: TeeKind) -> Option<&CompiledPolicy> {
        self.0.get(tee.as_str())
    }
}

struct Bound {
    policy: CompiledPolicy,
    compiled: regorus::CompiledPolicy,
}

/// Policies bound to one snapshot of reference values and settings; share it
/// between threads and rebuild it when the reference values change.
pub struct Appraiser {
    bound: BTreeMap<&'static str, Bound>,
}

impl std::fmt::Debug for Appraiser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.bound.iter().map(|(k, b)| (k, &b.policy)))
            .finish()
    }
}

impl Appraiser {
    /// Binds every policy of `set` to `reference` and `settings` (a JSON
    /// object: `allow_sw_hardening_needed`, `allow_debug`, `tpm_pcr_bank`...).
    pub fn new(
        set: &PolicySet,
        reference: &ReferenceValues,
        settings: &Value,
    ) -> Result<Self, Error> {
        if !settings.is_object() {
            return Err(Error::PolicyLoad {
                name: "settings".into(),
                reason: format!("settings must be a JSON object, not {settings}"),
            });
        }
        let data = serde_json::json!({"reference": reference.to_json(), "settings": settings});
        let mut bound = BTreeMap::new();
        for (k, p) in &set.0 {
            bound.insert(
                *k,
                Bound {
                    policy: p.clone(),
                    compiled: p.bind(&data)?,
                },
            );
        }
        Ok(Self { bound })
    }

    /// Evaluates the policy of `tee` on an already-built input, returning
    /// regorus's answer as it is (for benchmarks and debugging).
    pub fn eval_raw(&self, tee: TeeKind, input: regorus::Value) -> Result<regorus::Value, Error> {
        let b = self
            .bound
            .get(tee.as_str())
            .ok_or_else(|| Error::PolicyEval {
                name: tee.to_string(),
                reason: "no policy for this kind".into(),
            })?;
        b.compiled
            .eval_with_input(input)
            .map_err(|e| Error::PolicyEval {
                name: b.policy.name().to_owned(),
                reason: e.to_string(),
            })
    }

    /// Appraises one device whose evidence verified.
    pub fn appraise_device(
        &self,
        device: &str,
        verified: &rootline_verifier::Verified,
    ) -> DeviceAppraisal {
        self.appraise_verdict(device, Ok(verified))
    }

    /// Appraises one device from its verdict: a rejected device is
    /// contraindicated, with the policy's own reasons when it gives any
    /// and the rejection's otherwise.
    pub fn appraise_verdict(
        &self,
        device: &str,
        verdict: Result<&rootline_verifier::Verified, &rootline_verifier::Rejection>,
    ) -> DeviceAppraisal {
        let tee = match verdict {
            Ok(v) => Some(v.tee()),
            Err(r) => r.tee,
        };
        let mut d = DeviceAppraisal {
            device: device.to_owned(),
            tee,
            policy: String::new(),
            policy_hash: String::new(),
            status: Tier::None,
            trust_vector: TrustVector::default(),
            reasons: Vec::new(),
        };
        let Some(b) = tee.and_then(|t| self.bound.get(t.as_str())) else {
            d.status = Tier::Contraindicated;
            d.reasons.push(Reason {
                component: "hardware".into(),
                key: None,
                message: match tee {
                    Some(t) => format!("no appraisal policy is loaded for {t} evidence"),
                    None => "the evidence kind is unknown, so no policy applies".into(),
                },
            });
            return d;
        };
        d.policy = b.policy.name().to_owned();
        d.policy_hash = b.policy.hash().to_owned();
        let input = regorus::Value::from(crate::claims::device_input(device, verdict));
        let parsed = b
            .compiled
            .eval_with_input(input)
            .map_err(|e| e.to_string())
            .and_then(|v| parse_result(&v));
        match parsed {
            Ok((tv, reasons)) => {
                d.trust_vector = tv;
                d.reasons = reasons;
            }
            Err(e) => {
                // AR4SI -1: verifier malfunction, on every claim.
                d.trust_vector = TrustVector([-1; 8]);
                d.status = Tier::Contraindicated;
                d.reasons.push(Reason {
                    component: "policy".into(),
                    key: None,
                    message: format!("policy {} failed: {e}", b.policy.name()),
                });
                return d;
            }
        }
        d.status = d.trust_vector.tier();
        for (c, v) in d.trust_vector.iter() {
            if Tier::of(v) >= Tier::Warning && !d.reasons.iter().any(|r| r.component == c) {
                d.reasons.push(Reason {
                    component: c.to_owned(),
                    key: None,
                    message: format!(
                        "the policy set {c} to {v} ({}) without giving a reason",
                        Tier::of(v)
                    ),
                });
            }
        }
        if let Err(r) = verdict {
            d.status = Tier::Contraindicated;
            if d.reasons.is_empty() {
                d.reasons.push(Reason {
                    component: "hardware".into(),
                    key: None,
                    message: format!("the evidence failed verification: {}", r.reason),
                });
            }
        }
        if d.status == Tier::None && d.reasons.is_empty() {
            d.reasons.push(Reason {
                component: "hardware".into(),
                key: None,
                message: "the policy made no claim about this device".into(),
            });
        }
        d.reasons.sort_by(|a, b| {
            let ia = component_index(&a.component).unwrap_or(usize::MAX);
            let ib = component_index(&b.component).unwrap_or(usize::MAX);
            (ia, &a.key, &a.message).cmp(&(ib, &b.key, &b.message))
        });
        d
    }

    /// Appraises every device of one attestation.
    pub fn appraise(&self, devices: &[(&str, &rootline_verifier::Verdict)]) -> Appraisal {
        let devices: Vec<DeviceAppraisal> = devices
            .iter()
            .map(|(name, v)| self.appraise_verdict(name, v.as_ref().map_err(|r| &**r)))
            .collect();
        Appraisal {
            status: Appraisal::overall(&devices),
            devices,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_follow_ar4si_bands() {
        assert_eq!(Tier::of(0), Tier::None);
        assert_eq!(Tier::of(2), Tier::Affirming);
        assert_eq!(Tier::of(3), Tier::Affirming);
        assert_eq!(Tier::of(32), Tier::Warning);
        assert_eq!(Tier::of(33), Tier::Warning);
        assert_eq!(Tier::of(96), Tier::Contraindicated);
        assert_eq!(Tier::of(99), Tier::Contraindicated);
        assert_eq!(Tier::of(-1), Tier::None);
    }

    #[test]
    fn lib_rules_are_found_and_unknown_lib_references_flagged() {
        let known = lib_rules();
        for r in [
            "components",
            "accepted",
            "mismatches",
            "missing",
            "unverified",
            "debug",
            "tcb",
            "result",
            "affirming",
        ] {
            assert!(known.contains(&r), "{r} not in {known:?}");
        }
        let text = "a := lib.accepted(k)\nb := data.rootline.lib.nope\nc := mylib.x # lib.zzz";
        assert_eq!(undefined_lib_refs(text), vec!["lib.nope".to_owned()]);
    }

    #[test]
    fn data_references_outside_reference_settings_and_packages_are_found() {
        let pk = vec![
            "data.rootline.appraisal".to_owned(),
            "data.rootline.lib".to_owned(),
        ];
        let text = "x := data.reference[\"a\"]\ny := data.setings.z # data.nothing\nz := data.rootline.lib.affirming";
        assert_eq!(
            undefined_data_refs(text, &pk),
            vec!["data.setings.z".to_owned()]
        );
    }
}

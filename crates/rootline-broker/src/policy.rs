//! Resource policies in Rego (regorus): `data.policy.allow` over the token's
//! claims, compiled once per policy text and evaluated per request.
//!
//! Input is the EAR claims of the token; data is
//! `{"plugin": "resource", "resource-path": "repo/type/tag", "query": {...}}`,
//! as Trustee hands them to its resource policy. The built-in default
//! releases only when cpu0's EAR status is `affirming` (Trustee's default
//! releases to any non-sample TEE). A resource may name its own policy; a
//! stored policy called `default` replaces the built-in one.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::Value;

use crate::error::{Error, Result};

/// The name under which the built-in policy is reported.
pub const DEFAULT_NAME: &str = "default";

/// The built-in default: deny unless cpu0 is affirming.
pub const DEFAULT_POLICY: &str = r#"package policy
import rego.v1

default allow := false

allow if {
	input.submods.cpu0["ear.status"] == "affirming"
}
"#;

/// Compiled policies, by name, recompiled when their text changes.
#[derive(Default)]
pub struct PolicyCache {
    engines: Mutex<HashMap<String, (String, regorus::Engine)>>,
}

impl std::fmt::Debug for PolicyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PolicyCache")
    }
}

/// Compiles a policy (for validation at upload time).
pub fn compile(name: &str, rego: &str) -> Result<regorus::Engine> {
    if rego.len() > 256 * 1024 {
        return Err(Error::Malformed("policy is larger than 256 KiB".into()));
    }
    let mut e = regorus::Engine::new();
    e.add_policy(format!("{name}.rego"), rego.to_owned())
        .map_err(|err| Error::Malformed(format!("policy {name} does not compile: {err}")))?;
    Ok(e)
}

impl PolicyCache {
    /// Evaluates `data.policy.allow` of policy `name` (text `rego`).
    pub fn allow(&self, name: &str, rego: &str, input: &Value, data: &Value) -> Result<bool> {
        let mut engine = {
            let mut map = self
                .engines
                .lock()
                .map_err(|_| Error::Policy("policy cache poisoned".into()))?;
            match map.get(name) {
                Some((text, e)) if text == rego => e.clone(),
                _ => {
                    let e = compile(name, rego).map_err(|e| Error::Policy(e.to_string()))?;
                    map.insert(name.to_owned(), (rego.to_owned(), e.clone()));
                    e
                }
            }
        };
        engine.set_input(regorus::Value::from(input.clone()));
        engine
            .add_data(regorus::Value::from(data.clone()))
            .map_err(|e| Error::Policy(format!("policy data: {e}")))?;
        let v = engine
            .eval_rule("data.policy.allow".to_owned())
            .map_err(|e| Error::Policy(format!("policy {name} failed: {e}")))?;
        // Anything but a literal true (including undefined) denies.
        Ok(matches!(v.as_bool(), Ok(true)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn default_policy_needs_affirming() {
        let c = PolicyCache::default();
        let data = json!({"plugin": "resource", "resource-path": "a/b/c", "query": {}});
        let ok = json!({"submods": {"cpu0": {"ear.status": "affirming"}}});
        let bad = json!({"submods": {"cpu0": {"ear.status": "contraindicated"}}});
        assert!(c.allow(DEFAULT_NAME, DEFAULT_POLICY, &ok, &data).unwrap());
        assert!(!c.allow(DEFAULT_NAME, DEFAULT_POLICY, &bad, &data).unwrap());
        assert!(
            !c.allow(DEFAULT_NAME, DEFAULT_POLICY, &json!({}), &data)
                .unwrap()
        );
        // A per-resource policy that looks at the path.
        let p = "package policy\nimport rego.v1\ndefault allow := false\nallow if { data[\"resource-path\"] == \"a/b/c\"; input.submods.cpu0[\"ear.status\"] == \"affirming\" }\n";
        assert!(c.allow("p", p, &ok, &data).unwrap());
        let other = json!({"plugin": "resource", "resource-path": "x/y/z", "query": {}});
        assert!(!c.allow("p", p, &ok, &other).unwrap());
        assert!(compile("bad", "package policy\nallow if {").is_err());
    }
}

//! Resource policies in Rego (regorus): `data.policy.allow` over the token's
//! claims, compiled once per policy text and evaluated per request.
//!
//! Input is the EAR claims of the token; data is
//! `{"plugin": "resource", "resource-path": ["repo", "type", "tag"], "path":
//! "repo/type/tag", "query": {...}}`: Trustee's data (its `resource-path` is
//! the list of segments) plus `path`, so Trustee's resource policies run
//! unchanged. The built-in default
//! releases only when cpu0's EAR status is `affirming` (Trustee's default
//! releases to any non-sample TEE). A resource may name its own policy; a
//! stored policy called `default` replaces the built-in one.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Deserialize as _;
use serde_json::Value;

use crate::error::{Error, Result};

/// The name under which the built-in policy is reported.
pub const DEFAULT_NAME: &str = "default";

/// The built-in default: deny unless cpu0 and every other device (GPUs of
/// composite evidence) are affirming, and never to a token from insecure
/// test mode (the unsigned `sample` TEE), whatever its status says.
pub const DEFAULT_POLICY: &str = r#"package policy
import rego.v1

default allow := false

allow if {
	input.submods.cpu0["ear.status"] == "affirming"
	every _, device in input.submods {
		device["ear.status"] == "affirming"
	}
	not input["rootline.insecure-test-mode"]
}
"#;

/// A policy's decision to release the resource at one path: made only by
/// [`PolicyCache::decide`], when the policy allowed it for an attested
/// session's claims. Releasing a resource takes one (see `service::release`),
/// and it names the path it was decided for.
#[derive(Debug)]
pub struct Allow {
    path: String,
    policy: String,
}

impl Allow {
    /// The resource path the policy allowed.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The policy that allowed it.
    pub fn policy(&self) -> &str {
        &self.policy
    }
}

/// Compiled policies, by name and resource path, recompiled when their text
/// changes.
///
/// Each (policy, resource path) pair is compiled once with its data
/// (`resource-path` and friends) into a `regorus::CompiledPolicy`; a request
/// then only sets its input and evaluates. Evaluating a cloned `Engine` with
/// the data added per request (as before) made regorus re-analyse the
/// policy every time: about three quarters of the policy's cost.
#[derive(Default)]
pub struct PolicyCache {
    compiled: Mutex<HashMap<(String, String), Compiled>>,
}

/// A policy's text (shared by its paths) and its compiled form for a path.
type Compiled = (std::sync::Arc<str>, regorus::CompiledPolicy);

/// Compiled (policy, path) pairs kept; beyond this the cache starts afresh.
const MAX_COMPILED: usize = 4096;

impl std::fmt::Debug for PolicyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PolicyCache")
    }
}

/// Deepest bracket nesting a policy may have. regorus's parser backtracks
/// exponentially on nested brackets: the fuzz target `kbs_routes` found
/// that `p pagkae[[[6,[[[[...` takes 0.5 ms with ten brackets, 0.3 s with
/// twenty and minutes with forty, on the request's thread. Real policies
/// nest a few levels.
pub const MAX_NESTING: usize = 16;

/// Longest number literal a policy may hold, and the largest exponent: the
/// same fuzz target found that `0e800000000` held regorus for minutes.
const MAX_NUMBER_LEN: usize = 64;
const MAX_EXPONENT: u32 = 308;

/// Refuses a policy whose brackets (`(`, `[`, `{`, outside strings and
/// comments) nest deeper than [`MAX_NESTING`], or that holds a number
/// literal longer than 64 characters or with an exponent beyond 308 (a
/// double's range): both make regorus's parser run for minutes.
fn check_nesting(rego: &str) -> Result<()> {
    let (mut depth, mut max) = (0usize, 0usize);
    let mut chars = rego.chars().peekable();
    let mut prev = ' ';
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() && !(prev.is_alphanumeric() || prev == '_') {
            let mut len = 1;
            let mut exponent: Option<u32> = None;
            while let Some(&n) = chars.peek() {
                match n {
                    '0'..='9' | '.' => {
                        if let Some(e) = exponent.as_mut() {
                            *e = e
                                .saturating_mul(10)
                                .saturating_add(n.to_digit(10).unwrap_or(0));
                        }
                    }
                    'e' | 'E' if exponent.is_none() => exponent = Some(0),
                    '+' | '-' if exponent == Some(0) => {}
                    _ => break,
                }
                len += 1;
                chars.next();
            }
            if len > MAX_NUMBER_LEN || exponent.is_some_and(|e| e > MAX_EXPONENT) {
                return Err(Error::Malformed(format!(
                    "policy holds a number literal longer than {MAX_NUMBER_LEN} characters or with an exponent beyond {MAX_EXPONENT}, which the Rego parser cannot take in reasonable time"
                )));
            }
            prev = '0';
            continue;
        }
        prev = c;
        match c {
            '#' => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '"' => {
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' | '\n' => break,
                        _ => {}
                    }
                }
            }
            '`' => {
                for c in chars.by_ref() {
                    if c == '`' {
                        break;
                    }
                }
            }
            '(' | '[' | '{' => {
                depth += 1;
                max = max.max(depth);
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        if max > MAX_NESTING {
            return Err(Error::Malformed(format!(
                "policy nests brackets more than {MAX_NESTING} deep, which the Rego parser cannot take in reasonable time"
            )));
        }
    }
    Ok(())
}

/// Compiles a policy (for validation at upload time).
pub fn compile(name: &str, rego: &str) -> Result<regorus::Engine> {
    if rego.len() > 256 * 1024 {
        return Err(Error::Malformed("policy is larger than 256 KiB".into()));
    }
    check_nesting(rego)?;
    let mut e = regorus::Engine::new();
    e.add_policy(format!("{name}.rego"), rego.to_owned())
        .map_err(|err| Error::Malformed(format!("policy {name} does not compile: {err}")))?;
    Ok(e)
}

/// [`DEFAULT_POLICY`]'s decision for `input`. Rego's `not x` holds when
/// `x` is undefined or `false`, so any other value of the insecure mark
/// (`true`, `null`, a string) denies, as it does here.
fn default_allows(input: &Value) -> bool {
    let is_affirming = |m: &Value| m.get("ear.status").and_then(Value::as_str) == Some("affirming");
    let submods = input.get("submods");
    let affirming = submods
        .and_then(|s| s.get("cpu0"))
        .is_some_and(is_affirming)
        && submods
            .and_then(Value::as_object)
            .is_some_and(|m| m.values().all(is_affirming));
    affirming && !crate::token::is_insecure(input)
}

/// The data a resource policy sees for `path`: as Trustee hands it over
/// (`plugin`, `resource-path` as the list of segments, `query`), plus
/// `path`, the segments joined with `/`.
pub fn resource_data(path: &str) -> Value {
    let segments: Vec<&str> = path.split('/').collect();
    serde_json::json!({"plugin": "resource", "resource-path": segments, "path": path, "query": {}})
}

impl PolicyCache {
    /// Compiled (policy, path) pairs kept.
    pub fn len(&self) -> usize {
        self.compiled.lock().map_or(0, |m| m.len())
    }

    /// Whether nothing is compiled yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Evaluates policy `name` (text `rego`) for the resource at `path` with
    /// an attested session's claims: an [`Allow`] when it allows the release.
    pub fn decide(
        &self,
        name: &str,
        rego: &str,
        attested: &crate::token::Attested,
        path: &str,
        keep: bool,
    ) -> Result<Option<Allow>> {
        Ok(self
            .allow(name, rego, attested.claims(), path, keep)?
            .then(|| Allow {
                path: path.to_owned(),
                policy: name.to_owned(),
            }))
    }

    /// Evaluates `data.policy.allow` of policy `name` (text `rego`) for the
    /// resource at `path`, with `input` (the token's claims). The compiled
    /// policy is kept only when `keep` (the resource exists): paths a
    /// client makes up are compiled for the request and forgotten, so they
    /// neither fill the cache nor push the real ones out.
    pub fn allow(
        &self,
        name: &str,
        rego: &str,
        input: &Value,
        path: &str,
        keep: bool,
    ) -> Result<bool> {
        if rego == DEFAULT_POLICY {
            // The built-in default policy, evaluated natively: converting a
            // token's claims into regorus values (and dropping them) cost
            // 10-15 us of every release, more than the rule itself. Same
            // decision as regorus gives it (`default_policy_natively`
            // checks the two against each other): `allow` holds only when
            // cpu0's ear.status is the string "affirming".
            return Ok(default_allows(input));
        }
        let key = (name.to_owned(), path.to_owned());
        let cached = {
            let map = self
                .compiled
                .lock()
                .map_err(|_| Error::Policy("policy cache poisoned".into()))?;
            map.get(&key)
                .filter(|(text, _)| &**text == rego)
                .map(|(_, c)| c.clone())
        };
        let compiled = match cached {
            Some(c) => c,
            None => {
                let mut e = compile(name, rego).map_err(|e| Error::Policy(e.to_string()))?;
                e.add_data(regorus::Value::from(resource_data(path)))
                    .map_err(|e| Error::Policy(format!("policy data: {e}")))?;
                let c = e
                    .compile_with_entrypoint(&"data.policy.allow".into())
                    .map_err(|e| Error::Policy(format!("policy {name}: {e}")))?;
                if keep {
                    let mut map = self
                        .compiled
                        .lock()
                        .map_err(|_| Error::Policy("policy cache poisoned".into()))?;
                    if map.len() >= MAX_COMPILED {
                        map.clear();
                    }
                    // One copy of a policy's text for all its paths.
                    let text = map
                        .iter()
                        .find(|((n, _), (t, _))| n == name && &**t == rego)
                        .map(|(_, (t, _))| t.clone())
                        .unwrap_or_else(|| rego.into());
                    map.insert(key, (text, c.clone()));
                }
                c
            }
        };
        let input = regorus::Value::deserialize(input)
            .map_err(|e| Error::Policy(format!("policy input: {e}")))?;
        let v = compiled
            .eval_with_input(input)
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

    /// Found by the `kbs_routes` fuzz target: an uploaded policy with deeply
    /// nested brackets held a request thread for minutes in regorus's
    /// parser. It is refused before regorus sees it; real nesting passes.
    #[test]
    fn deeply_nested_policy_is_refused_before_regorus_parses_it() {
        let evil = format!("package p\np pagkae[[[6,{}7", "[".repeat(60));
        let e = compile("x", &evil).err().unwrap();
        assert!(e.to_string().contains("nests brackets"), "{e}");
        // Brackets inside strings and comments do not count.
        let e = compile("x", "package p\np pagk008a[0e800000000]")
            .err()
            .unwrap();
        assert!(e.to_string().contains("number literal"), "{e}");
        assert!(compile("x", &format!("package p\nx := {}", "9".repeat(100))).is_err());
        assert!(check_nesting("package p\nx := 1.5e10\ny := 2E-3\nz := v1e999").is_ok());
        let fine = format!(
            "package policy\n# {}\nallow if {{ x := \"{}\"; [[[1]]] == [[[1]]] }}\n",
            "[".repeat(60),
            "(".repeat(60)
        );
        assert!(check_nesting(&fine).is_ok());
        compile("default", DEFAULT_POLICY).unwrap();
    }

    #[test]
    fn default_policy_needs_affirming() {
        let c = PolicyCache::default();
        let ok = json!({"submods": {"cpu0": {"ear.status": "affirming"}}});
        let bad = json!({"submods": {"cpu0": {"ear.status": "contraindicated"}}});
        assert!(
            c.allow(DEFAULT_NAME, DEFAULT_POLICY, &ok, "a/b/c", true)
                .unwrap()
        );
        assert!(
            !c.allow(DEFAULT_NAME, DEFAULT_POLICY, &bad, "a/b/c", true)
                .unwrap()
        );
        assert!(
            !c.allow(DEFAULT_NAME, DEFAULT_POLICY, &json!({}), "a/b/c", true)
                .unwrap()
        );
        // A per-resource policy that looks at the path.
        let p = "package policy\nimport rego.v1\ndefault allow := false\nallow if { data.path == \"a/b/c\"; input.submods.cpu0[\"ear.status\"] == \"affirming\" }\n";
        assert!(c.allow("p", p, &ok, "a/b/c", true).unwrap());
        assert!(!c.allow("p", p, &ok, "x/y/z", true).unwrap());
        // A changed text is recompiled.
        let q = p.replace("a/b/c", "x/y/z");
        assert!(!c.allow("p", &q, &ok, "a/b/c", true).unwrap());
        assert!(c.allow("p", &q, &ok, "x/y/z", true).unwrap());
        // Paths that name no resource are evaluated, not kept.
        let kept = c.len();
        for i in 0..100 {
            assert!(
                !c.allow("p", &q, &ok, &format!("no/such/{i}"), false)
                    .unwrap()
            );
        }
        assert_eq!(c.len(), kept);
        assert!(compile("bad", "package policy\nallow if {").is_err());
    }

    /// The native evaluation of the default policy decides as regorus does.
    #[test]
    fn default_policy_natively() {
        let mut e = compile(DEFAULT_NAME, DEFAULT_POLICY).unwrap();
        e.add_data(regorus::Value::from(resource_data("a/b/c")))
            .unwrap();
        let c = e
            .compile_with_entrypoint(&"data.policy.allow".into())
            .unwrap();
        let inputs = [
            json!({"submods": {"cpu0": {"ear.status": "affirming"}}}),
            json!({"submods": {"cpu0": {"ear.status": "affirming"}}, "rootline.insecure-test-mode": true}),
            json!({"submods": {"cpu0": {"ear.status": "affirming"}}, "rootline.insecure-test-mode": false}),
            json!({"submods": {"cpu0": {"ear.status": "affirming"}}, "rootline.insecure-test-mode": null}),
            json!({"submods": {"cpu0": {"ear.status": "affirming"}}, "rootline.insecure-test-mode": "no"}),
            json!({"submods": {"cpu0": {"ear.status": "affirming"}}, "rootline.insecure-test-mode": 0}),
            json!({"submods": {"cpu0": {"ear.status": "affirming", "x": 1}, "gpu0": {"ear.status": "contraindicated"}}}),
            json!({"submods": {"cpu0": {"ear.status": "affirming"}, "gpu0": {"ear.status": "affirming"}, "gpu1": "affirming"}}),
            json!({"submods": {"cpu0": {"ear.status": "affirming"}, "gpu0": {}}}),
            json!({"submods": {"cpu0": {"ear.status": "warning"}}}),
            json!({"submods": {"cpu0": {"ear.status": "contraindicated"}}}),
            json!({"submods": {"cpu0": {"ear.status": "Affirming"}}}),
            json!({"submods": {"cpu0": {"ear.status": ["affirming"]}}}),
            json!({"submods": {"cpu0": {"ear.status": 2}}}),
            json!({"submods": {"cpu0": {"ear.status": null}}}),
            json!({"submods": {"cpu0": {}}}),
            json!({"submods": {"cpu1": {"ear.status": "affirming"}}}),
            json!({"submods": [{"ear.status": "affirming"}]}),
            json!({"submods": {"cpu0": "affirming"}}),
            json!({"ear.status": "affirming"}),
            json!({}),
            json!([]),
            json!("affirming"),
        ];
        let mut allowed = 0;
        for input in inputs {
            let v = c
                .eval_with_input(regorus::Value::deserialize(&input).unwrap())
                .unwrap();
            let by_regorus = matches!(v.as_bool(), Ok(true));
            assert_eq!(default_allows(&input), by_regorus, "{input}");
            allowed += usize::from(by_regorus);
        }
        assert_eq!(allowed, 2);
    }
}

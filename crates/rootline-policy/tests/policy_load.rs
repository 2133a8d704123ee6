//! Policy problems are load-time errors, never request-time ones.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rootline_policy::{CompiledPolicy, Error};

fn load_err(text: &str) -> String {
    match CompiledPolicy::load("test.rego", text) {
        Err(Error::PolicyLoad { name, reason }) => {
            assert_eq!(name, "test.rego");
            reason
        }
        Err(other) => panic!("wrong error kind: {other}"),
        Ok(_) => panic!("policy loaded: {text}"),
    }
}

const GOOD: &str = r#"package rootline.appraisal
import rego.v1
import data.rootline.lib
result := lib.result(set(), {"hardware": 2})
"#;

#[test]
fn a_minimal_policy_loads_and_is_cached_by_its_text() {
    let a = CompiledPolicy::load("a.rego", GOOD).unwrap();
    let b = CompiledPolicy::load("b.rego", GOOD).unwrap();
    assert_eq!(a.hash(), b.hash());
    assert_eq!(a.hash().len(), 64);
    assert_eq!(b.name(), "b.rego");
}

#[test]
fn syntax_error_is_a_load_error_with_its_line() {
    let r = load_err("package rootline.appraisal\nimport rego.v1\nresult := {\"a\": }\n");
    assert!(r.contains("test.rego:3:"), "{r}");
    assert!(r.contains("expecting"), "{r}");
}

#[test]
fn wrong_package_is_a_load_error() {
    let r = load_err("package something.else\nimport rego.v1\nresult := 1\n");
    assert!(r.contains("package rootline.appraisal"), "{r}");
}

#[test]
fn undefined_data_reference_is_a_load_error() {
    let r = load_err(&GOOD.replace(
        "result :=",
        "x := data.referenec[\"snp.measurement\"]\nresult :=",
    ));
    assert!(r.contains("data.referenec"), "{r}");
}

#[test]
fn undefined_function_is_a_load_error() {
    let r = load_err(&GOOD.replace("lib.result(", "lib.resultz("));
    assert!(r.contains("resultz"), "{r}");
}

#[test]
fn undefined_result_is_a_load_error() {
    let r = load_err("package rootline.appraisal\nimport rego.v1\nresult := 1 if input.never\n");
    assert!(r.contains("undefined"), "{r}");
}

#[test]
fn malformed_result_is_a_load_error() {
    let r = load_err(
        "package rootline.appraisal\nimport rego.v1\nresult := {\"trust_vector\": {\"hardwre\": 2}}\n",
    );
    assert!(r.contains("hardwre"), "{r}");
    let r = load_err(
        "package rootline.appraisal\nimport rego.v1\nresult := {\"trust_vector\": {\"hardware\": 300}}\n",
    );
    assert!(r.contains("-128..127"), "{r}");
}

#[test]
fn runtime_error_on_an_empty_input_is_a_load_error() {
    // Division by zero happens on every input: found by the dry evaluation.
    let r = load_err(
        "package rootline.appraisal\nimport rego.v1\nx := count(input.claims) / 0\nresult := {\"trust_vector\": {\"hardware\": x}}\n",
    );
    assert!(r.contains("dry evaluation"), "{r}");
}

#[test]
fn every_default_policy_loads() {
    for t in rootline_core::TeeKind::ALL {
        if t == rootline_core::TeeKind::Nvidia {
            // GPUs are appraised as devices beside a CPU's evidence (the
            // broker's gpuN submodules), not by a policy of their own.
            let e = CompiledPolicy::default_for(t).unwrap_err().to_string();
            assert!(e.contains("no default policy is shipped for nvidia"), "{e}");
            continue;
        }
        let p = CompiledPolicy::default_for(t).unwrap();
        assert_eq!(p.name(), format!("default {t}"));
    }
}

#[test]
fn undefined_helper_rule_is_a_load_error_even_where_the_dry_run_does_not_reach() {
    let text = GOOD.replace(
        "result :=",
        "f contains 1 if input.claims.x == lib.contraindicatd\nresult :=",
    );
    let r = load_err(&text);
    assert!(r.contains("lib.contraindicatd"), "{r}");
}

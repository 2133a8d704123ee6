//! Appraisal benchmark (stub).
fn main() {}

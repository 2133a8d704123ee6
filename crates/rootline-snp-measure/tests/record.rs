//! Writes the synthetic inputs to a directory so that another implementation
//! (sev-snp-measure) can measure them: how the recorded answers in
//! `known_answers.rs` were made. Run by hand:
//! `ROOTLINE_SNP_SYNTHETIC_DIR=/tmp/snp cargo test -p rootline-snp-measure --test record -- --ignored`
//! then `sev-snp-measure --mode snp --ovmf /tmp/snp/ovmf.fd ...`.

use rootline_snp_measure::synthetic;

#[test]
#[ignore = "writes files for recording with sev-snp-measure"]
fn write_synthetic_inputs() {
    let dir = std::env::var("ROOTLINE_SNP_SYNTHETIC_DIR").expect("set ROOTLINE_SNP_SYNTHETIC_DIR");
    let dir = std::path::Path::new(&dir);
    std::fs::create_dir_all(dir).unwrap();
    let img = synthetic::image(&synthetic::Spec::default()).unwrap();
    std::fs::write(dir.join("ovmf.fd"), img).unwrap();
    std::fs::write(dir.join("kernel"), synthetic::blob(100_000, 1)).unwrap();
    std::fs::write(dir.join("initrd"), synthetic::blob(50_000, 2)).unwrap();
}

//! `rootline measure snp` on the real binary: the synthetic OVMF image of
//! `rootline_snp_measure::synthetic` with a kernel, initrd and command line,
//! compared with what `sev-snp-measure` 0.0.13 computed for the same files;
//! the JSON imported as a reference value; refusals exit 2 naming the input.

use std::path::Path;

use rootline_snp_measure::synthetic;
use serde_json::Value;

mod common;
use common::run as rootline;

/// `sev-snp-measure --mode snp --vcpus 2 --vcpu-type EPYC-Genoa --ovmf
/// ovmf.fd --kernel kernel --initrd initrd --append "console=ttyS0
/// root=/dev/vda"` over the files written below.
const RECORDED: &str = "d06aca54bf4e4f8ad6d2623dbc63b5b9dee5f24fa49859cada3bc5a7fcb60e145cd7cca4344e313cd5ae284be5db9a95";

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn predicts_the_recorded_measurement_and_imports_it() {
    let dir = tempfile::tempdir().unwrap();
    let ovmf = dir.path().join("ovmf.fd");
    let kernel = dir.path().join("kernel");
    let initrd = dir.path().join("initrd");
    std::fs::write(
        &ovmf,
        synthetic::image(&synthetic::Spec::default()).unwrap(),
    )
    .unwrap();
    std::fs::write(&kernel, synthetic::blob(100_000, 1)).unwrap();
    std::fs::write(&initrd, synthetic::blob(50_000, 2)).unwrap();
    let args = [
        "measure",
        "snp",
        "--ovmf",
        p(&ovmf),
        "--kernel",
        p(&kernel),
        "--initrd",
        p(&initrd),
        "--append",
        "console=ttyS0 root=/dev/vda",
        "--vcpus",
        "2",
        "--vcpu-type",
        "epyc-genoa",
    ];

    let (code, out, err) = rootline(&args);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), RECORDED);

    let (code, out, err) = rootline(&[&args[..], &["--json"]].concat());
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["measurement"], RECORDED);
    assert_eq!(v["reference_values"]["snp.measurement"], RECORDED);
    assert_eq!(v["kernel_hashes"], true);
    assert_eq!(v["inputs"]["vcpu_type"], "EPYC-Genoa");
    assert_eq!(v["inputs"]["vcpu_signature"], "0xa10f10");
    assert_eq!(v["ovmf"]["sections"].as_array().unwrap().len(), 7);
    assert_eq!(v["ovmf"]["sections"][4]["kind"], "snp_kernel_hashes");

    let (code, out, err) = rootline(&[&args[..], &["--reference-values"]].concat());
    assert_eq!(code, 0, "{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r, v["reference_values"]);

    // The --json output is what `rootline reference import` reads.
    let json_file = dir.path().join("snp.json");
    std::fs::write(&json_file, serde_json::to_vec(&v).unwrap()).unwrap();
    let data = dir.path().join("data");
    let (code, out, err) = rootline(&[
        "reference",
        "--data-dir",
        p(&data),
        "import",
        p(&json_file),
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let added: Value = serde_json::from_str(&out).unwrap();
    let added = added.as_array().unwrap();
    assert_eq!(added.len(), 1, "{added:?}");
    assert_eq!(added[0]["key"], "snp.measurement");
    assert_eq!(added[0]["value"], RECORDED);

    // Another command line, another measurement.
    let mut other = args.to_vec();
    other[9] = "console=ttyS0 root=/dev/vdb";
    let (code, out, _) = rootline(&other);
    assert_eq!(code, 0);
    assert_ne!(out.trim(), RECORDED);
}

#[test]
fn refusals_exit_2_and_name_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let ovmf = dir.path().join("ovmf.fd");
    std::fs::write(
        &ovmf,
        synthetic::image(&synthetic::Spec::default()).unwrap(),
    )
    .unwrap();
    let kernel = dir.path().join("kernel");
    std::fs::write(&kernel, b"k").unwrap();
    let base = ["measure", "snp", "--ovmf", p(&ovmf), "--vcpus", "1"];
    let cases: &[(&[&str], &str)] = &[
        (&["--vcpu-type", "EPYC-Zen9"], "EPYC-Milan"),
        (&["--vcpu-type", "EPYC-v4", "--vmm-type", "ec2"], "0x600"),
        (
            &["--vcpu-type", "EPYC-v4", "--guest-features", "0x20"],
            "SNPActive",
        ),
        (
            &["--vcpu-type", "EPYC-v4", "--guest-features", "zz"],
            "--guest-features",
        ),
        (
            &[
                "--vcpu-type",
                "EPYC-v4",
                "--kernel",
                p(&kernel),
                "--append",
                "ro ",
            ],
            "whitespace",
        ),
        (&["--vcpu-type", "EPYC-v4", "--append", "ro"], "--kernel"),
        (
            &["--vcpu-type", "EPYC-v4", "--kernel", "/nonexistent/vmlinuz"],
            "/nonexistent/vmlinuz",
        ),
    ];
    for (extra, expect) in cases {
        let (code, out, err) = rootline(&[&base[..], extra].concat());
        assert_eq!(code, 2, "{extra:?}: {out}{err}");
        assert!(err.contains(expect), "{extra:?}: {err}");
    }
    let not_ovmf = dir.path().join("zeros.fd");
    std::fs::write(&not_ovmf, vec![0u8; 8192]).unwrap();
    let (code, _, err) = rootline(&[
        "measure",
        "snp",
        "--ovmf",
        p(&not_ovmf),
        "--vcpus",
        "1",
        "--vcpu-type",
        "EPYC-v4",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("footer"), "{err}");
}

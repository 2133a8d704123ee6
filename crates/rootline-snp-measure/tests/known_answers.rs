//! Launch measurements compared with another implementation.
//!
//! The expected digests were computed by `sev-snp-measure` 0.0.13 (PyPI,
//! virtee's Python tool, `--mode snp`), not by this crate: on the synthetic
//! image of [`synthetic`] (inputs written by `tests/record.rs`), and on
//! Debian 12's OVMF builds (package ovmf 2022.11-6+deb12u2), which are
//! checked by SHA-256 first and skipped with a printed reason when the
//! installed file differs (another Debian update). The `sev` crate's own
//! known answers are checked too when its sources (with its 4 KiB OVMF
//! tail) are in the cargo registry.

use std::path::{Path, PathBuf};

use rootline_core::HashAlg;
use rootline_snp_measure::{Error, Inputs, VcpuType, VmmType, predict, synthetic};

fn sha256_hex(b: &[u8]) -> String {
    HashAlg::SHA256.hash(b).unwrap().hex()
}

struct Case {
    vcpus: u32,
    vcpu_type: &'static str,
    features: u64,
    kernel: bool,
    initrd: bool,
    append: Option<&'static str>,
    expected: &'static str,
}

fn run(ovmf: &[u8], kernel: Option<&Path>, initrd: Option<&Path>, c: &Case) -> String {
    predict(&Inputs {
        ovmf,
        kernel: kernel.filter(|_| c.kernel),
        initrd: initrd.filter(|_| c.initrd),
        append: c.append,
        vcpus: c.vcpus,
        vcpu_type: c.vcpu_type.parse().unwrap(),
        vmm_type: VmmType::Qemu,
        guest_features: c.features,
    })
    .unwrap()
    .hex()
}

/// SHA-256 of `synthetic::image(&Spec::default())` when the answers below
/// were recorded: if the generator changes, they must be recorded again.
const SYNTHETIC_SHA256: &str = "1308735380b2bd0fc34f2e6ed5de98a42b6f2c09e3c49dc474f272e223e0e55d";

const APPEND: &str = "console=ttyS0 root=/dev/vda";

const SYNTHETIC_CASES: &[Case] = &[
    Case {
        vcpus: 1,
        vcpu_type: "EPYC-v4",
        features: 0x1,
        kernel: false,
        initrd: false,
        append: None,
        expected: "c6f85af133c49f019734a425cf077c4a76c4e793588e6c8c0ecca98d12da7c706df4832dd471edfab24dbe3a9ab9a35f",
    },
    Case {
        vcpus: 4,
        vcpu_type: "EPYC-Milan",
        features: 0x21,
        kernel: false,
        initrd: false,
        append: None,
        expected: "65afa6400a93cd980085545859b16dd2a85861f819116039b155bc4617c9313899f6a6509db4cf4b3d622c42422b172d",
    },
    Case {
        vcpus: 64,
        vcpu_type: "EPYC-Genoa",
        features: 0x1,
        kernel: false,
        initrd: false,
        append: None,
        expected: "7783b16f2d48aea83980b694412238d84a5938c9ed6a5b78a03bee0cab65dda8bcf607fe5a46c3917af930de0b9cfa48",
    },
    Case {
        vcpus: 3,
        vcpu_type: "EPYC-Turin",
        features: 0x21,
        kernel: false,
        initrd: false,
        append: None,
        expected: "390ee7c24dae3b039569b090e3a5fb8c84c2395dc7e1793eca9391ee964da10645f627d01e02de87a73a914f172d3c99",
    },
    Case {
        vcpus: 1,
        vcpu_type: "EPYC-v4",
        features: 0x1,
        kernel: true,
        initrd: false,
        append: None,
        expected: "793e505951193d68b32912e26c58ccbc5542c1f384cb3511d2a7bca2fa0d63b186f6b0a0bd183431f37008236d2806a5",
    },
    Case {
        vcpus: 2,
        vcpu_type: "EPYC-Genoa",
        features: 0x1,
        kernel: true,
        initrd: true,
        append: Some(APPEND),
        expected: "d06aca54bf4e4f8ad6d2623dbc63b5b9dee5f24fa49859cada3bc5a7fcb60e145cd7cca4344e313cd5ae284be5db9a95",
    },
    Case {
        vcpus: 2,
        vcpu_type: "EPYC-Genoa",
        features: 0x1,
        kernel: true,
        initrd: true,
        append: Some("console=ttyS0 root=/dev/vdb"),
        expected: "9f8bedb95b11a4768eb0693328a48086a30af6f2ca8509c00b1b56eb01306a0e4fbcba3792f5a1fb203d5b4833427def",
    },
    Case {
        vcpus: 16,
        vcpu_type: "EPYC-Milan",
        features: 0x21,
        kernel: true,
        initrd: true,
        append: Some(APPEND),
        expected: "ec789a0c6e763692a272366d50301bc35e0b90a1b4ac75fb151fd45070769f1d1fa4be1379d22b1d2751198bad7c5bb1",
    },
    Case {
        vcpus: 8,
        vcpu_type: "EPYC-Rome",
        features: 0x1,
        kernel: true,
        initrd: true,
        append: None,
        expected: "ffa8949876a53d9cf708827ce31b73ced991f4343ef9acc63c8150f60d4f67ccbbda3d52894c180f1e2d0334aaf7f2d0",
    },
];

struct Staged {
    _dir: tempfile::TempDir,
    kernel: PathBuf,
    initrd: PathBuf,
}

fn staged_blobs() -> Staged {
    let dir = tempfile::tempdir().unwrap();
    let kernel = dir.path().join("kernel");
    let initrd = dir.path().join("initrd");
    std::fs::write(&kernel, synthetic::blob(100_000, 1)).unwrap();
    std::fs::write(&initrd, synthetic::blob(50_000, 2)).unwrap();
    Staged {
        _dir: dir,
        kernel,
        initrd,
    }
}

#[test]
fn synthetic_image_matches_sev_snp_measure() {
    let img = synthetic::image(&synthetic::Spec::default()).unwrap();
    assert_eq!(
        sha256_hex(&img),
        SYNTHETIC_SHA256,
        "the synthetic image changed: record the answers again (tests/record.rs)"
    );
    let b = staged_blobs();
    for (i, c) in SYNTHETIC_CASES.iter().enumerate() {
        assert_eq!(
            run(&img, Some(&b.kernel), Some(&b.initrd), c),
            c.expected,
            "case {i}: {} vCPUs {} features {:#x} kernel {} initrd {} append {:?}",
            c.vcpus,
            c.vcpu_type,
            c.features,
            c.kernel,
            c.initrd,
            c.append
        );
    }
}

/// Debian 12's OVMF builds (OvmfX64: SEV metadata, no kernel-hashes page).
const DEBIAN: &[(&str, &str, &[Case])] = &[
    (
        "/usr/share/ovmf/OVMF.fd",
        "7b456907dd0786d415999e801a1ac4637b8ed4d7cf5378cfc6edbe5e574dd773",
        &[
            Case {
                vcpus: 1,
                vcpu_type: "EPYC-v4",
                features: 0x1,
                kernel: false,
                initrd: false,
                append: None,
                expected: "11570979c77a0adb515761a702527c8b9e11554e730552621d950988613a3a75c6ff1703f540bd22a9beede8fe7a97e3",
            },
            Case {
                vcpus: 4,
                vcpu_type: "EPYC-Milan",
                features: 0x21,
                kernel: false,
                initrd: false,
                append: None,
                expected: "968824524f03c9ab191fbb02ac50d286a4aa1b5922ed74a422a806ce376a9e589d16c8dd8202c256834c0d4013e2584b",
            },
            Case {
                vcpus: 2,
                vcpu_type: "EPYC-Genoa",
                features: 0x1,
                kernel: false,
                initrd: false,
                append: None,
                expected: "143c7e1f11948ce6cbc700b16c3acff0797146df54b0b3d6c5899dc30dc8e31c34a2217d162a219bbbf7a2a1aedd104a",
            },
            Case {
                vcpus: 32,
                vcpu_type: "EPYC-Genoa",
                features: 0x21,
                kernel: false,
                initrd: false,
                append: None,
                expected: "dbcb14d101e7089fe229d766e3c9867705c529ca871202cf2dfecf04c3aa234b7922eb29d99e0f1c62149bb39f15d782",
            },
        ],
    ),
    (
        "/usr/share/OVMF/OVMF_CODE.fd",
        "d9b568def24088c92f34b5479e0ed7e44d0a4d4cea8a0f5716719180bba48106",
        &[
            Case {
                vcpus: 1,
                vcpu_type: "EPYC-v4",
                features: 0x1,
                kernel: false,
                initrd: false,
                append: None,
                expected: "a479327cbb0b50e876024c2dac7412d4e5e95c7315c1f8b0446f6d3be69fefba50766285475926737e4a70b155252f88",
            },
            Case {
                vcpus: 4,
                vcpu_type: "EPYC-Milan",
                features: 0x21,
                kernel: false,
                initrd: false,
                append: None,
                expected: "d44124322592a3390e2d258d4ad7df5897c9dd3958f906aa223588e327f97935802f9130b9009cf3dd60f9734cdc72f3",
            },
        ],
    ),
];

#[test]
fn debian_ovmf_matches_sev_snp_measure() {
    let mut checked = 0;
    for (path, sha, cases) in DEBIAN {
        let Ok(img) = std::fs::read(path) else {
            eprintln!("skipping {path}: not installed (apt-get install ovmf)");
            continue;
        };
        let got = sha256_hex(&img);
        if got != *sha {
            eprintln!(
                "skipping {path}: SHA-256 {got} is not the recorded build {sha} (another Debian ovmf version; record again with sev-snp-measure)"
            );
            continue;
        }
        let layout = rootline_snp_measure::OvmfLayout::parse(&img).unwrap();
        assert!(
            !layout.supports_kernel_hashes(),
            "{path} is an OvmfX64 build"
        );
        for (i, c) in cases.iter().enumerate() {
            assert_eq!(run(&img, None, None, c), c.expected, "{path} case {i}");
            checked += 1;
        }
        // QEMU cannot measure a kernel with this build: refused, not guessed.
        let b = staged_blobs();
        let e = predict(&Inputs {
            ovmf: &img,
            kernel: Some(&b.kernel),
            initrd: None,
            append: None,
            vcpus: 1,
            vcpu_type: "EPYC-v4".parse().unwrap(),
            vmm_type: VmmType::Qemu,
            guest_features: 1,
        })
        .unwrap_err();
        assert!(matches!(e, Error::NoKernelHashes(_)), "{e}");
    }
    eprintln!("{checked} Debian OVMF measurements checked");
}

/// The `sev` crate's tests/measurement.rs answers, over its 4 KiB tail of an
/// AmdSevX64 build (`ovmf_AmdSev_suffix.bin`), with /dev/null as kernel and
/// initrd. The file ships in the crate package, so it is in the registry
/// wherever `sev` was built from crates.io.
#[test]
fn sev_crate_known_answers() {
    const SUFFIX_SHA256: &str = "8f765dfabc127fc0a938a0744a3103ec15864d7d794eb4c398aa976b6d6ab16c";
    let Some(path) = sev_test_file("ovmf_AmdSev_suffix.bin") else {
        eprintln!("skipping: the sev 8.x sources are not in the cargo registry");
        return;
    };
    let img = std::fs::read(&path).unwrap();
    if sha256_hex(&img) != SUFFIX_SHA256 {
        eprintln!("skipping: {} is not the recorded file", path.display());
        return;
    }
    let null = Path::new("/dev/null");
    let cases = [
        (
            1,
            0x1,
            true,
            Some("console=ttyS0 loglevel=7"),
            "6d287813eb5222d770f75005c664e34c204f385ce832cc2ce7d0d6f354454362f390ef83a92046c042e706363b4b08fa",
        ),
        (
            1,
            0x21,
            true,
            Some("console=ttyS0 loglevel=7"),
            "803f691094946e42068aaa3a8f9e26a5c89f36f7b73ecfb28c653360fe4b3aba7e534442e7e1e17895dfe778d0228977",
        ),
        (
            1,
            0x1,
            false,
            None,
            "19358ba9a7615534a9a1e2f0dfc29384dcd4dcb7062ff9c6013b26869a5fc6ecabe033c48dd6f6db5d6d76e7c5df632d",
        ),
        (
            1,
            0x21,
            false,
            None,
            "e1e1ca029dd7973ab9513295be68198472dcd4fc834bd9af9b63f6e8a1674dbf281a9278a4a2ebe0eed9f22adbcd0e2b",
        ),
        (
            4,
            0x1,
            true,
            None,
            "5061fffb019493a903613d56d54b94912a1a2f9e4502385f5c194616753720a92441310ba6c4933de877c36e23046ad5",
        ),
        (
            4,
            0x21,
            true,
            None,
            "4953b1fb416fa874980e8442b3706d345926d5f38879134e00813c5d7abcbe78eafe7b422907be0b4698e2414a631942",
        ),
    ];
    for (vcpus, features, kernel, append, expected) in cases {
        let got = predict(&Inputs {
            ovmf: &img,
            kernel: kernel.then_some(null),
            initrd: kernel.then_some(null),
            append,
            vcpus,
            vcpu_type: "EPYC-v4".parse().unwrap(),
            vmm_type: VmmType::Qemu,
            guest_features: features,
        })
        .unwrap();
        assert_eq!(
            got.hex(),
            expected,
            "{vcpus} vCPUs, features {features:#x}, kernel {kernel}"
        );
    }
}

fn sev_test_file(name: &str) -> Option<PathBuf> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
    let registries = std::fs::read_dir(home.join("registry/src")).ok()?;
    for reg in registries.flatten() {
        let Ok(crates) = std::fs::read_dir(reg.path()) else {
            continue;
        };
        for c in crates.flatten() {
            if c.file_name().to_string_lossy().starts_with("sev-8.") {
                let p = c.path().join("tests/measurement").join(name);
                if p.is_file() {
                    return Some(p);
                }
            }
        }
    }
    None
}

fn inputs<'a>(ovmf: &'a [u8]) -> Inputs<'a> {
    Inputs {
        ovmf,
        kernel: None,
        initrd: None,
        append: None,
        vcpus: 1,
        vcpu_type: "EPYC-Milan".parse().unwrap(),
        vmm_type: VmmType::Qemu,
        guest_features: 1,
    }
}

#[test]
fn inputs_sev_would_mis_measure_are_refused() {
    let img = synthetic::image(&synthetic::Spec::default()).unwrap();
    let b = staged_blobs();
    let with_kernel = |append| Inputs {
        kernel: Some(&b.kernel),
        append,
        ..inputs(&img)
    };

    // sev trims the command line, QEMU hashes it as given.
    for a in [" console=ttyS0", "console=ttyS0 ", "console=ttyS0\n"] {
        let e = predict(&with_kernel(Some(a))).unwrap_err();
        assert!(
            e.to_string().contains("append") && e.to_string().contains("whitespace"),
            "{e}"
        );
    }
    let e = predict(&Inputs {
        vmm_type: VmmType::Ec2,
        ..inputs(&img)
    })
    .unwrap_err();
    assert!(
        e.to_string().contains("ec2") && e.to_string().contains("0x600"),
        "{e}"
    );
    for v in [0, rootline_snp_measure::MAX_VCPUS + 1] {
        let e = predict(&Inputs {
            vcpus: v,
            ..inputs(&img)
        })
        .unwrap_err();
        assert!(e.to_string().contains("vcpus"), "{e}");
    }
    let e = predict(&Inputs {
        guest_features: 0x20,
        ..inputs(&img)
    })
    .unwrap_err();
    assert!(e.to_string().contains("SNPActive"), "{e}");
    let e = predict(&Inputs {
        append: Some("x"),
        ..inputs(&img)
    })
    .unwrap_err();
    assert!(e.to_string().contains("only with a kernel"), "{e}");
    let e = "EPYC-Zen9".parse::<VcpuType>().unwrap_err();
    assert!(
        e.to_string().contains("EPYC-Milan"),
        "the error lists the names: {e}"
    );

    // A missing kernel file is an I/O error naming it, not a panic.
    let missing = b.kernel.with_file_name("no-such-kernel");
    let e = predict(&Inputs {
        kernel: Some(&missing),
        ..inputs(&img)
    })
    .unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e}");
}

#[test]
fn every_input_changes_the_measurement() {
    let img = synthetic::image(&synthetic::Spec::default()).unwrap();
    let b = staged_blobs();
    let base = Inputs {
        kernel: Some(&b.kernel),
        initrd: Some(&b.initrd),
        append: Some(APPEND),
        ..inputs(&img)
    };
    let m = |i: &Inputs| predict(i).unwrap().hex();
    let reference = m(&base);
    let mut other_img = img.clone();
    other_img[0] ^= 1; // one bit of code in the first page
    let variants = [
        (
            "ovmf byte",
            m(&Inputs {
                ovmf: &other_img,
                ..base.clone()
            }),
        ),
        (
            "vcpus",
            m(&Inputs {
                vcpus: 2,
                ..base.clone()
            }),
        ),
        (
            "vcpu type",
            m(&Inputs {
                vcpu_type: "EPYC-Genoa".parse().unwrap(),
                ..base.clone()
            }),
        ),
        (
            "guest features",
            m(&Inputs {
                guest_features: 0x21,
                ..base.clone()
            }),
        ),
        (
            "initrd",
            m(&Inputs {
                initrd: Some(&b.kernel),
                ..base.clone()
            }),
        ),
        (
            "append",
            m(&Inputs {
                append: Some("console=ttyS1"),
                ..base.clone()
            }),
        ),
        (
            "no kernel",
            m(&Inputs {
                kernel: None,
                initrd: None,
                append: None,
                ..base.clone()
            }),
        ),
    ];
    for (what, v) in variants {
        assert_ne!(
            v, reference,
            "changing the {what} must change the measurement"
        );
    }
}

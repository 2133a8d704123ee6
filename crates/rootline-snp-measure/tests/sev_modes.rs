//! SEV and SEV-ES launch digests compared with other implementations.
//!
//! - `sev-snp-measure` 0.0.13 (PyPI, virtee; `--mode sev` and `--mode
//!   seves`), run by hand on the synthetic image (inputs written by
//!   `tests/record.rs`), on sevctl's trimmed OVMF and on Debian 12's OVMF
//!   builds (checked by SHA-256 first, skipped when the installed file
//!   differs);
//! - the `sev` crate 8.0.0's tests/measurement.rs answers over its 4 KiB
//!   OVMF tails, which `sev-snp-measure` 0.0.13 also gives (read in place
//!   from the cargo registry, skipped when absent);
//! - `sevctl` (virtee/sevctl 8b47f3a6): its test VMSAs (`tests/data/
//!   vmsa{0,1}.bin`, built for family 25 model 1 stepping 1, EPYC-Milan)
//!   are byte for byte the pages predicted with [`VmsaFpu::Zero`]; the
//!   digests below are the ones its `measurement build` tests' HMACs verify
//!   with (checked in `rootline-sev`'s `measure` tests).

use std::path::{Path, PathBuf};

use rootline_core::HashAlg;
use rootline_snp_measure::{Error, SevInputs, SevMode, VmsaFpu, predict_sev, synthetic};

fn sha256_hex(b: &[u8]) -> String {
    HashAlg::SHA256.hash(b).unwrap().hex()
}

fn es(vcpus: u32, vcpu_type: &str, fpu: VmsaFpu) -> SevMode {
    SevMode::SevEs {
        vcpus,
        vcpu_type: vcpu_type.parse().unwrap(),
        fpu,
    }
}

fn sev(
    ovmf: &[u8],
    kernel: Option<&Path>,
    initrd: Option<&Path>,
    append: Option<&str>,
    mode: SevMode,
) -> Result<String, Error> {
    predict_sev(&SevInputs {
        ovmf,
        kernel,
        initrd,
        append,
        mode,
    })
    .map(|p| p.hex())
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/sevctl")
        .join(name)
}

const APPEND: &str = "console=ttyS0 root=/dev/vda";

/// Kernel, initrd, command line, mode, expected digest.
type Case<'a> = (
    Option<&'a Path>,
    Option<&'a Path>,
    Option<&'a str>,
    SevMode,
    &'a str,
);

#[test]
fn synthetic_image_matches_sev_snp_measure() {
    let img = synthetic::image(&synthetic::Spec::default()).unwrap();
    assert_eq!(
        sha256_hex(&img),
        "1308735380b2bd0fc34f2e6ed5de98a42b6f2c09e3c49dc474f272e223e0e55d",
        "the synthetic image changed: record the answers again (tests/record.rs)"
    );
    let dir = tempfile::tempdir().unwrap();
    let kernel = dir.path().join("kernel");
    let initrd = dir.path().join("initrd");
    std::fs::write(&kernel, synthetic::blob(100_000, 1)).unwrap();
    std::fs::write(&initrd, synthetic::blob(50_000, 2)).unwrap();
    let (k, i) = (Some(kernel.as_path()), Some(initrd.as_path()));
    let cases: [Case<'_>; 6] = [
        (
            None,
            None,
            None,
            SevMode::Sev,
            "1308735380b2bd0fc34f2e6ed5de98a42b6f2c09e3c49dc474f272e223e0e55d",
        ),
        (
            k,
            i,
            Some(APPEND),
            SevMode::Sev,
            "c59f57d817d61bea9adac3c5a7c28ab942f18ec584089eeff44c172935526cc4",
        ),
        (
            k,
            None,
            None,
            SevMode::Sev,
            "f9c4402f00fa48ef7280e2090718ad72abcf922a6484bf515a56aa4da4973512",
        ),
        (
            None,
            None,
            None,
            es(1, "EPYC-v4", VmsaFpu::Reset),
            "1d2193e050cbe2b83a18bca2acc67854510af554d2094a265b5c597e7b494f5f",
        ),
        (
            k,
            i,
            Some(APPEND),
            es(4, "EPYC-Milan", VmsaFpu::Reset),
            "c8c2a86df22915e67c8a5c770177407876dd94675029b6be60d98ef3f3790bc1",
        ),
        (
            k,
            None,
            None,
            es(64, "EPYC-Genoa", VmsaFpu::Reset),
            "b92d4a19ad4315df0502e19902de44945d0ca67cacd035af3026bf11ddc8a7a9",
        ),
    ];
    for (n, (k, i, a, mode, want)) in cases.into_iter().enumerate() {
        assert_eq!(
            sev(&img, k, i, a, mode).unwrap(),
            want,
            "case {n}: {mode:?}"
        );
    }
}

#[test]
fn sevctl_trimmed_ovmf_matches_sev_snp_measure_and_sevctl() {
    let ovmf = std::fs::read(data("OVMF.amdsev.fd_trimmed")).unwrap();
    let kernel = data("vmlinuz-fake");
    let initrd = data("initrd-fake");
    assert_eq!(
        sev(&ovmf, None, None, None, SevMode::Sev).unwrap(),
        "2f6fc6065f4abc131eb4fb2b5090a542636eae84a94c0db0fdd5f405cb372ff5"
    );
    // sev-snp-measure; sevctl's `--firmware --kernel --initrd --cmdline`
    // measurement verifies with it.
    assert_eq!(
        sev(
            &ovmf,
            Some(&kernel),
            Some(&initrd),
            Some("foo bar baz fake kernel=cmdline"),
            SevMode::Sev
        )
        .unwrap(),
        "4b47fec6f851487c33714c8a00a832a1b705ad0a7cac4a647388eccfa9f0c570"
    );
    // sev-snp-measure --mode seves --vcpus 4 --vcpu-type EPYC-Milan.
    assert_eq!(
        sev(&ovmf, None, None, None, es(4, "EPYC-Milan", VmsaFpu::Reset)).unwrap(),
        "e30a6bf3bddc6ff62ebc65fe8d10ce71fd920b03c769bd70528c2c606881beb8"
    );
    // SHA-256 of the OVMF, sevctl's vmsa0.bin and three times vmsa1.bin;
    // sevctl's SEV-ES `measurement build` HMAC verifies with it.
    let mut concat = ovmf.clone();
    let v0 = std::fs::read(data("vmsa0.bin")).unwrap();
    let v1 = std::fs::read(data("vmsa1.bin")).unwrap();
    concat.extend_from_slice(&v0);
    for _ in 0..3 {
        concat.extend_from_slice(&v1);
    }
    let legacy = "847b5ab6db136ea67dc5a95478ebe7e5ebbe93e9e74bdb1284165f9007a4e367";
    assert_eq!(sha256_hex(&concat), legacy);
    assert_eq!(
        sev(&ovmf, None, None, None, es(4, "EPYC-Milan", VmsaFpu::Zero)).unwrap(),
        legacy
    );
    // One vCPU: the boot processor's VMSA alone is sevctl's vmsa0.bin.
    assert_eq!(
        sev(&ovmf, None, None, None, es(1, "EPYC-Milan", VmsaFpu::Zero)).unwrap(),
        sha256_hex(&[&ovmf[..], &v0].concat())
    );
}

fn sev_crate_file(name: &str) -> Option<PathBuf> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
    for reg in std::fs::read_dir(home.join("registry/src")).ok()?.flatten() {
        for c in std::fs::read_dir(reg.path())
            .into_iter()
            .flatten()
            .flatten()
        {
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

#[test]
fn sev_crate_known_answers() {
    let (Some(amdsev), Some(ovmfx64)) = (
        sev_crate_file("ovmf_AmdSev_suffix.bin"),
        sev_crate_file("ovmf_OvmfX64_suffix.bin"),
    ) else {
        eprintln!("skipping: the sev 8.x sources are not in the cargo registry");
        return;
    };
    let amdsev = std::fs::read(amdsev).unwrap();
    let ovmfx64 = std::fs::read(ovmfx64).unwrap();
    if sha256_hex(&amdsev) != "8f765dfabc127fc0a938a0744a3103ec15864d7d794eb4c398aa976b6d6ab16c" {
        eprintln!("skipping: not the recorded ovmf_AmdSev_suffix.bin");
        return;
    }
    let null = Some(Path::new("/dev/null"));
    type Row<'a> = (
        &'a [u8],
        Option<&'a Path>,
        Option<&'a Path>,
        Option<&'a str>,
        SevMode,
        &'a str,
    );
    let cases: [Row<'_>; 5] = [
        (
            &amdsev,
            null,
            null,
            Some("console=ttyS0 loglevel=7"),
            SevMode::Sev,
            "82a3ee5d537c3620628270c292ae30cb40c3c878666a7890ee7ef2a08fb535ff",
        ),
        (
            &amdsev,
            null,
            None,
            None,
            SevMode::Sev,
            "77f613d7bbcdf12a73782ea9e88b0172aeda50d1a54201cb903594ff52846898",
        ),
        (
            &ovmfx64,
            None,
            None,
            None,
            SevMode::Sev,
            "b4c021e085fb83ceffe6571a3d357b4a98773c83c474e47f76c876708fe316da",
        ),
        (
            &amdsev,
            null,
            null,
            None,
            es(1, "EPYC-v4", VmsaFpu::Reset),
            "13810ae661ea11e2bb205621f582fee268f0367c8f97bc297b7fadef3e12002c",
        ),
        (
            &amdsev,
            null,
            null,
            None,
            es(4, "EPYC-v4", VmsaFpu::Reset),
            "0dccbcaba8e90b261bd0d2e1863a2f9da714768b7b2a19363cd6ae35aa90de91",
        ),
    ];
    for (n, (img, k, i, a, mode, want)) in cases.into_iter().enumerate() {
        assert_eq!(sev(img, k, i, a, mode).unwrap(), want, "case {n}");
    }
    // An OvmfX64 tail has no SEV hash table: a kernel is refused, not guessed.
    for mode in [SevMode::Sev, es(1, "EPYC-v4", VmsaFpu::Reset)] {
        let e = sev(&ovmfx64, null, null, None, mode).unwrap_err();
        assert!(matches!(e, Error::NoKernelHashes(_)), "{e}");
    }
}

#[test]
fn debian_ovmf_matches_sev_snp_measure() {
    let cases: [(&str, &str, SevMode, &str); 3] = [
        (
            "/usr/share/ovmf/OVMF.fd",
            "7b456907dd0786d415999e801a1ac4637b8ed4d7cf5378cfc6edbe5e574dd773",
            SevMode::Sev,
            "7b456907dd0786d415999e801a1ac4637b8ed4d7cf5378cfc6edbe5e574dd773",
        ),
        (
            "/usr/share/ovmf/OVMF.fd",
            "7b456907dd0786d415999e801a1ac4637b8ed4d7cf5378cfc6edbe5e574dd773",
            es(2, "EPYC-Genoa", VmsaFpu::Reset),
            "e4b4746142b2df911ee18a0b0e71af077529f26f150b6b788e5135a1d7cf14f1",
        ),
        (
            "/usr/share/OVMF/OVMF_CODE.fd",
            "d9b568def24088c92f34b5479e0ed7e44d0a4d4cea8a0f5716719180bba48106",
            es(4, "EPYC-Milan", VmsaFpu::Reset),
            "6979b214746d29495a772e952f0177cb74051e5a40edd18ac5b0821826e4cab2",
        ),
    ];
    let mut checked = 0;
    for (path, sha, mode, want) in cases {
        let Ok(img) = std::fs::read(path) else {
            eprintln!("skipping {path}: not installed (apt-get install ovmf)");
            continue;
        };
        if sha256_hex(&img) != sha {
            eprintln!("skipping {path}: not the recorded build {sha}");
            continue;
        }
        assert_eq!(
            sev(&img, None, None, None, mode).unwrap(),
            want,
            "{path} {mode:?}"
        );
        checked += 1;
    }
    eprintln!("{checked} Debian OVMF digests checked");
}

#[test]
fn inputs_qemu_would_refuse_are_refused() {
    let img = synthetic::image(&synthetic::Spec::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kernel = dir.path().join("kernel");
    std::fs::write(&kernel, b"k").unwrap();
    // An initrd or a command line without a kernel.
    assert!(matches!(
        sev(&img, None, None, Some("x"), SevMode::Sev),
        Err(Error::Input { .. })
    ));
    // A command line sev would trim.
    assert!(matches!(
        sev(&img, Some(&kernel), None, Some(" x"), SevMode::Sev),
        Err(Error::Input { .. })
    ));
    // vCPU counts out of range.
    for n in [0, rootline_snp_measure::MAX_VCPUS + 1] {
        assert!(matches!(
            sev(&img, None, None, None, es(n, "EPYC", VmsaFpu::Reset)),
            Err(Error::Input { .. })
        ));
    }
    // A blob that is no OVMF: plain SEV measures it as it is; SEV-ES and a
    // kernel need the footer table.
    let blob = vec![0x5au8; 8192];
    assert_eq!(
        sev(&blob, None, None, None, SevMode::Sev).unwrap(),
        sha256_hex(&blob)
    );
    assert!(matches!(
        sev(&blob, None, None, None, es(1, "EPYC", VmsaFpu::Reset)),
        Err(Error::NotSevOvmf(_))
    ));
    assert!(matches!(
        sev(&blob, Some(&kernel), None, None, SevMode::Sev),
        Err(Error::NotSevOvmf(_))
    ));
    // An AP reset EIP of 0 with more than one vCPU.
    let spec = synthetic::Spec {
        ap_reset_eip: 0,
        ..synthetic::Spec::default()
    };
    let zero_eip = synthetic::image(&spec).unwrap();
    assert!(sev(&zero_eip, None, None, None, es(1, "EPYC", VmsaFpu::Reset)).is_ok());
    assert!(matches!(
        sev(&zero_eip, None, None, None, es(2, "EPYC", VmsaFpu::Reset)),
        Err(Error::Ovmf(_))
    ));
    // A truncated or unaligned image with a kernel: an error, never a panic.
    for len in [0usize, 1, 4095, 4097] {
        assert!(
            sev(
                &img[..len.min(img.len())],
                Some(&kernel),
                None,
                None,
                SevMode::Sev
            )
            .is_err()
        );
    }
}

#[test]
fn every_input_changes_the_digest() {
    let img = synthetic::image(&synthetic::Spec::default()).unwrap();
    let base = sev(&img, None, None, None, es(2, "EPYC-Milan", VmsaFpu::Reset)).unwrap();
    let mut other = img.clone();
    other[100] ^= 1;
    for d in [
        sev(
            &other,
            None,
            None,
            None,
            es(2, "EPYC-Milan", VmsaFpu::Reset),
        )
        .unwrap(),
        sev(&img, None, None, None, es(3, "EPYC-Milan", VmsaFpu::Reset)).unwrap(),
        sev(&img, None, None, None, es(2, "EPYC-Genoa", VmsaFpu::Reset)).unwrap(),
        sev(&img, None, None, None, es(2, "EPYC-Milan", VmsaFpu::Zero)).unwrap(),
        sev(&img, None, None, None, SevMode::Sev).unwrap(),
    ] {
        assert_ne!(d, base);
    }
}

//! `packaging/rootline.service` passes `systemd-analyze verify` (issue 19,
//! item 2) and keeps its sandbox. systemd-analyze checks that ExecStart's
//! binary exists, so the unit is checked as a copy whose ExecStart names
//! the binary under test (through a symbolic link in a temporary
//! directory). Skipped, with the reason, where systemd-analyze is absent (a
//! failure under CI, which installs the Debian package systemd).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::Command;

fn unit_text() -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../packaging/rootline.service");
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn the_unit_keeps_its_sandbox() {
    let unit = unit_text();
    let lines: Vec<&str> = unit.lines().map(str::trim).collect();
    for want in [
        "ExecStart=/usr/bin/rootline serve --config /etc/rootline/rootline.toml",
        "User=rootline",
        "DynamicUser=yes",
        "StateDirectory=rootline",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "ProtectHome=yes",
        "CapabilityBoundingSet=",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "SystemCallFilter=@system-service",
    ] {
        assert!(
            lines.contains(&want),
            "packaging/rootline.service lacks {want:?}"
        );
    }
}

#[test]
fn systemd_analyze_verifies_the_unit() {
    let analyze = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    let Some(analyze) = analyze else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI: systemd-analyze is missing; scripts/test installs the Debian package systemd"
        );
        eprintln!("SKIPPED: systemd-analyze not found (Debian package systemd)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("rootline");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_rootline"), &bin).unwrap();
    let unit = unit_text().replace(
        "ExecStart=/usr/bin/rootline ",
        &format!("ExecStart={} ", bin.display()),
    );
    assert!(unit.contains(&format!("ExecStart={} serve", bin.display())));
    let path = dir.path().join("rootline.service");
    std::fs::write(&path, unit).unwrap();
    let out = Command::new(&analyze)
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "systemd-analyze verify failed:\n{stderr}"
    );
    // Unknown keys and bad values are warnings with exit status 0: any
    // line about this unit counts as a failure.
    let about_unit: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("rootline.service"))
        .collect();
    assert!(
        about_unit.is_empty(),
        "systemd-analyze verify warns:\n{}",
        about_unit.join("\n")
    );
}

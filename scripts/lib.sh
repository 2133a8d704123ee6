# Shared by scripts/demo and scripts/test: install what a fresh Debian/Ubuntu
# machine with Rust lacks. Sourced, not run.

# Debian packages the tests need: tpm2-tools (tpm2_eventlog for the live
# comparison, tpm2_* clients for swtpm tests), swtpm for a real TPM 2.0,
# libtss2-dev for the attester's tss-esapi backend.
# postgresql (initdb, pg_ctl) for the broker's two-replica tests (the broker's
# JWE cross-check against Python's joserfc skips where joserfc is absent).
# The measured-boot VM test (crates/rootline/tests/vm_boot.rs) boots a UKI on
# OVMF under QEMU: qemu-system-x86, ovmf, systemd-boot-efi (the stub),
# binutils (objcopy), mtools and dosfstools (the ESP), busybox-static and cpio
# (the initrd).
# systemd: systemd-analyze verifies packaging/rootline.service.
# chromium and chromium-driver: the broker's web view is tested in headless
# Chromium through chromedriver (crates/rootline-broker/tests/web.rs); its
# screenshots land in target/artifacts/web.
# Packaging (scripts/test-packaging): dpkg-dev (dpkg-shlibdeps) and lintian
# for the .deb; mmdebstrap to install it with apt into a fresh system;
# podman, buildah and runc to build the OCI image FROM scratch and run it
# (crun fails on this machine kind's hybrid cgroup hierarchy), curl to probe
# it; python3-venv for the chart's renderer and validator (from PyPI).
# libssl-dev: build-time only. The `ear` crate's dependency `cmw` has reqwest
# (native-tls, so openssl-sys) as an unconditional build-dependency of a
# build script that does nothing unless a feature we never enable is on;
# nothing of OpenSSL is linked into rootline.
TEST_PACKAGES=(libssl-dev tpm2-tools swtpm swtpm-tools libtss2-dev pkg-config postgresql sqlite3
    qemu-system-x86 ovmf systemd-boot-efi binutils mtools dosfstools busybox-static cpio systemd
    chromium chromium-driver dpkg-dev lintian mmdebstrap podman buildah runc curl python3-venv)
# The rootline binary links the TSS2 libraries (the attester's TPM backend:
# libtss2-dev and pkg-config to build it); the demo's TPM and broker steps
# run swtpm with an EK certificate (swtpm, swtpm-tools).
DEMO_PACKAGES=(libssl-dev libtss2-dev pkg-config swtpm swtpm-tools)

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# apt_install PKG...: installs the packages that are missing, quietly.
apt_install() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "installing: ${missing[*]}" >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# cargo_tool NAME CRATE: installs a cargo subcommand when missing.
cargo_tool() {
    command -v "$1" >/dev/null 2>&1 || cargo install --locked "$2"
}

#!/usr/bin/env bash
# Puts a Debian 6.1 kernel (vmlinuz + qemu_fw_cfg.ko) into the VM cache
# ($ROOTLINE_VM_CACHE, default ~/.cache/rootline-vm), once: the measured-boot
# test reads it from there and never downloads anything itself. Prefers
# linux-image-6.1.0-56-amd64, the kernel of the shared OVMF + swtpm vector
# (its digests can then be compared), else the newest 6.1 the archive has.
# Prints the cached kernel folder.
set -euo pipefail
cache=${ROOTLINE_VM_CACHE:-${HOME:-/tmp}/.cache/rootline-vm}
mkdir -p "$cache"
kdir=$(ls -d "$cache"/kernel-* 2>/dev/null | sort -V | tail -1 || true)
if [ -n "$kdir" ] && [ -f "$kdir/vmlinuz" ] && [ -f "$kdir/qemu_fw_cfg.ko" ]; then
  echo "$kdir"; exit 0
fi
pick_kernel() {
  if apt-cache show linux-image-6.1.0-56-amd64 >/dev/null 2>&1; then
    echo linux-image-6.1.0-56-amd64; return
  fi
  apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' | cut -d' ' -f1 | sort -V | tail -1
}
pkg=$(pick_kernel)
if [ -z "$pkg" ]; then apt-get update -qq >/dev/null 2>&1 || true; pkg=$(pick_kernel); fi
[ -n "$pkg" ] || { echo "fetch-kernel.sh: no linux-image-6.1.0-*-amd64 in apt" >&2; exit 3; }
kdir="$cache/kernel-${pkg#linux-image-}"
tmp=$(mktemp -d "$cache/dl.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download "$pkg" >/dev/null 2>&1) || { echo "fetch-kernel.sh: apt-get download $pkg failed" >&2; exit 3; }
dpkg-deb --fsys-tarfile "$tmp"/*.deb | tar -x -C "$tmp" ./boot ./lib/modules
rm -rf "$kdir.part"
mkdir -p "$kdir.part"
cp "$tmp"/boot/vmlinuz-* "$kdir.part/vmlinuz"
cp "$(find "$tmp/lib/modules" -name qemu_fw_cfg.ko | head -1)" "$kdir.part/qemu_fw_cfg.ko"
basename "$tmp"/*.deb > "$kdir.part/package"
mv "$kdir.part" "$kdir"
echo "$kdir"

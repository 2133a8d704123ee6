#!/usr/bin/env bash
# Puts a Debian 6.1 kernel (vmlinuz, qemu_fw_cfg.ko and the virtio modules
# the KBS test's virtio-serial port needs: virtio_console.ko and, where
# Debian builds them as modules, the virtio PCI transport) into the VM cache
# ($ROOTLINE_VM_CACHE, default ~/.cache/rootline-vm), once: the measured-boot
# test reads it from there and never downloads anything itself. Prefers
# linux-image-6.1.0-56-amd64, the kernel of the shared OVMF + swtpm vector
# (its digests can then be compared), else the newest 6.1 the archive has.
# Prints the cached kernel folder.
set -euo pipefail
cache=${ROOTLINE_VM_CACHE:-${HOME:-/tmp}/.cache/rootline-vm}
mkdir -p "$cache"
kdir=$(ls -d "$cache"/kernel-* 2>/dev/null | sort -V | tail -1 || true)
if [ -n "$kdir" ] && [ -f "$kdir/vmlinuz" ] && [ -f "$kdir/qemu_fw_cfg.ko" ] && [ -f "$kdir/virtio/modules.order" ]; then
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
# virtio-serial in the guest: virtio_console and the modules it depends on
# (the depends field of .modinfo), dependencies first; built-in parts are absent.
mkdir -p "$kdir.part/virtio"
: > "$kdir.part/virtio/modules.order"
add_module() { # module name
  local f dep
  f=$(find "$tmp/lib/modules" -name "$1.ko" | head -1)
  [ -n "$f" ] || return 0
  grep -qx "$1.ko" "$kdir.part/virtio/modules.order" && return 0
  for dep in $(strings "$f" | sed -n "s/^depends=//p" | head -1 | tr "," " "); do add_module "$dep"; done
  cp "$f" "$kdir.part/virtio/"
  echo "$1.ko" >> "$kdir.part/virtio/modules.order"
}
for want in virtio_pci virtio_console; do add_module "$want"; done
basename "$tmp"/*.deb > "$kdir.part/package"
rm -rf "$kdir"
mv "$kdir.part" "$kdir"
echo "$kdir"

#!/usr/bin/env bash
# Builds a unified kernel image (UKI) and a FAT ESP for the measured-boot test.
#
#   scripts/vm/build.sh OUT_DIR CMDLINE [OS_RELEASE_FILE [INITRD]]
#
# With INITRD (an initrd.cpio.gz from an earlier build) the initrd is reused,
# so that two UKIs can differ in their command line only.
# The Debian kernel comes from the cache ($ROOTLINE_VM_CACHE, default
# ~/.cache/rootline-vm) that scripts/vm/fetch-kernel.sh fills. The initrd
# holds busybox-static, scripts/vm/guest-init.sh as /init, tpm2-tools with the
# libraries ldd names (and the TCTI it dlopens), and qemu_fw_cfg.ko. The UKI
# is systemd-boot-efi's stub with .osrel/.cmdline/.linux/.initrd added by
# objcopy (systemd 252 has no ukify). Everything is built reproducibly (fixed
# mtimes, sorted cpio, gzip -n), so the same inputs give the same bytes.
# With ROOTLINE_GUEST_BIN set (the rootline binary, glibc build) the initrd
# also holds it, stripped, with the libraries ldd names (libtss2-*), and the
# cached virtio modules (virtio-serial) for the KBS test's guest.
set -euo pipefail
out=${1:?usage: build.sh OUT_DIR CMDLINE [OS_RELEASE]}
cmdline=${2:?usage: build.sh OUT_DIR CMDLINE [OS_RELEASE]}
osrel=${3:-/etc/os-release}
initrd_in=${4:-}
here=$(cd "$(dirname "$0")" && pwd)
cache=${ROOTLINE_VM_CACHE:-${HOME:-/tmp}/.cache/rootline-vm}
stub=/usr/lib/systemd/boot/efi/linuxx64.efi.stub
mkdir -p "$out" "$cache"
for tool in objcopy mformat mcopy cpio busybox tpm2; do
  command -v "$tool" >/dev/null || { echo "build.sh: $tool is missing" >&2; exit 3; }
done
[ -f "$stub" ] || { echo "build.sh: $stub is missing (systemd-boot-efi)" >&2; exit 3; }

# Kernel: fetched once into the cache by scripts/vm/fetch-kernel.sh (this
# script never downloads).
kdir=$(ls -d "$cache"/kernel-* 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$kdir" ] || [ ! -f "$kdir/vmlinuz" ]; then
  echo "build.sh: no kernel in $cache: run scripts/vm/fetch-kernel.sh" >&2; exit 3
fi

# initrd
if [ -n "$initrd_in" ]; then
  [ "$(readlink -f "$initrd_in")" = "$(readlink -f "$out/initrd.cpio.gz")" ] || cp "$initrd_in" "$out/initrd.cpio.gz"
else
root="$out/initrd.root"
rm -rf "$root"
mkdir -p "$root"/{bin,lib/guest,lib64,lib/modules,proc,sys,dev,tmp}
cp "$(command -v busybox)" "$root/bin/busybox"
cp "$here/guest-init.sh" "$root/init"
chmod 755 "$root/init"
cp "$kdir/qemu_fw_cfg.ko" "$root/lib/modules/"
cp "$(readlink -f "$(command -v tpm2)")" "$root/bin/tpm2"
for t in createek createak quote nvread; do ln -s tpm2 "$root/bin/tpm2_$t"; done
tcti=$(ls /usr/lib/x86_64-linux-gnu/libtss2-tcti-device.so.0 2>/dev/null || true)
[ -n "$tcti" ] || { echo "build.sh: libtss2-tcti-device.so.0 is missing" >&2; exit 3; }
for bin in "$(command -v tpm2)" "$tcti"; do
  ldd "$bin" | awk '/=> \//{print $3} /^\t\/lib64/{print $1}' | while read -r lib; do
    cp -L "$lib" "$root/lib/guest/"
  done
done
cp -L "$tcti" "$root/lib/guest/"
if [ -n "${ROOTLINE_GUEST_BIN:-}" ]; then
  [ -f "$kdir/virtio/modules.order" ] || { echo "build.sh: no virtio modules in $kdir: run scripts/vm/fetch-kernel.sh" >&2; exit 3; }
  strip -o "$root/bin/rootline" "$ROOTLINE_GUEST_BIN"
  ldd "$ROOTLINE_GUEST_BIN" | awk '/=> \//{print $3}' | while read -r lib; do
    cp -L "$lib" "$root/lib/guest/"
  done
  mkdir -p "$root/lib/modules/virtio"
  cp "$kdir"/virtio/* "$root/lib/modules/virtio/"
fi
cp -L /lib64/ld-linux-x86-64.so.2 "$root/lib64/"
find "$root" -exec touch -h -d @0 {} +
(cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null --reproducible -o -H newc --quiet) | gzip -n -9 > "$out/initrd.cpio.gz"
rm -rf "$root"
fi

# UKI
printf '%s' "$cmdline" > "$out/cmdline.txt"
cp "$osrel" "$out/os-release"
cp "$kdir/vmlinuz" "$out/vmlinuz"
cp "$kdir/package" "$out/kernel-package"
objcopy \
  --add-section .osrel="$out/os-release" --change-section-vma .osrel=0x20000 \
  --add-section .cmdline="$out/cmdline.txt" --change-section-vma .cmdline=0x30000 \
  --add-section .linux="$out/vmlinuz" --change-section-vma .linux=0x2000000 \
  --add-section .initrd="$out/initrd.cpio.gz" --change-section-vma .initrd=0x3000000 \
  "$stub" "$out/uki.efi"

# ESP: a FAT image holding \EFI\BOOT\BOOTX64.EFI (removable-media boot path).
size_kb=$(( $(stat -c %s "$out/uki.efi") / 1024 + 4096 ))
rm -f "$out/esp.img"
truncate -s "${size_kb}K" "$out/esp.img"
mformat -i "$out/esp.img" -N 12345678 -v ESP ::
mmd -i "$out/esp.img" ::/EFI ::/EFI/BOOT
mcopy -i "$out/esp.img" -m "$out/uki.efi" ::/EFI/BOOT/BOOTX64.EFI
echo "built $out/uki.efi ($(stat -c %s "$out/uki.efi") bytes) with $(cat "$kdir/package")"

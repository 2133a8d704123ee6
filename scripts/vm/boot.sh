#!/usr/bin/env bash
# Boots an ESP built by scripts/vm/build.sh under QEMU (TCG, q35, OVMF) with
# swtpm as its TPM 2.0, and collects what the guest sent on its second
# serial port.
#
#   scripts/vm/boot.sh BUILD_DIR RUN_DIR NONCE_HEX [TPM_DIR]
#
# TPM_DIR (default RUN_DIR/tpm) holds the swtpm state, made on first use by
# `swtpm_setup --create-ek-cert` under a private CA in TPM_DIR/ca (never
# the machine-wide swtpm-localca); later boots given the same TPM_DIR reuse it.
# Each boot gets a fresh copy of OVMF_VARS, so the same inputs give the same
# event log. The nonce goes in through fw_cfg (opt/nonce), not the kernel
# command line, so that it changes no PCR. swtpm and QEMU talk over unix
# sockets only. Output: RUN_DIR/console.log, RUN_DIR/guest/<files>,
# RUN_DIR/boot-seconds.
#
# KBS test: with ROOTLINE_KBS_SOCK set, the guest gets a virtio-serial port
# named rootline.kbs whose host side is a chardev that connects to that unix
# socket (a broker, or a relay to one: never a network address in the
# guest); ROOTLINE_GUEST_MODE (e.g. kbs) goes to the guest through fw_cfg
# (opt/rootline-mode), which measures nothing.
set -euo pipefail
build=${1:?usage: boot.sh BUILD_DIR RUN_DIR NONCE_HEX}
run=${2:?usage: boot.sh BUILD_DIR RUN_DIR NONCE_HEX}
nonce=${3:?usage: boot.sh BUILD_DIR RUN_DIR NONCE_HEX}
code=/usr/share/OVMF/OVMF_CODE.fd
vars=/usr/share/OVMF/OVMF_VARS.fd
for tool in qemu-system-x86_64 swtpm swtpm_setup swtpm_localca timeout base64; do
  command -v "$tool" >/dev/null || { echo "boot.sh: $tool is missing" >&2; exit 3; }
done
[ -f "$code" ] || { echo "boot.sh: $code is missing (ovmf)" >&2; exit 3; }
mkdir -p "$run"
run=$(cd "$run" && pwd)
tpm=${4:-$run/tpm}
mkdir -p "$tpm"
tpm=$(cd "$tpm" && pwd)
if [ ! -f "$tpm/state/tpm2-00.permall" ]; then
  mkdir -p "$tpm/state" "$tpm/ca"
  cat > "$tpm/setup.conf" <<CONF
create_certs_tool = /usr/bin/swtpm_localca
create_certs_tool_config = $tpm/localca.conf
create_certs_tool_options = $tpm/localca.options
active_pcr_banks = sha256
CONF
  cat > "$tpm/localca.conf" <<CONF
statedir = $tpm/ca
signingkey = $tpm/ca/signkey.pem
issuercert = $tpm/ca/issuercert.pem
certserial = $tpm/ca/certserial
CONF
  printf -- '--platform-manufacturer rootline-test\n--platform-version 2.1\n--platform-model swtpm\n' > "$tpm/localca.options"
  swtpm_setup --tpm2 --create-ek-cert --overwrite --pcr-banks sha256 \
    --tpmstate "$tpm/state" --config "$tpm/setup.conf" > "$tpm/setup.log" 2>&1 \
    || { cat "$tpm/setup.log" >&2; exit 4; }
fi
sock="$run/swtpm.sock"
rm -f "$sock" "$run/console.log" "$run/serial1.txt"
rm -rf "$run/guest"
mkdir -p "$run/guest"
cp "$vars" "$run/vars.fd"
swtpm socket --tpm2 --tpmstate dir="$tpm/state" --ctrl type=unixio,path="$sock" \
  --terminate --log file="$run/swtpm.log" &
swtpm_pid=$!
trap 'kill $swtpm_pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
extra=()
if [ -n "${ROOTLINE_KBS_SOCK:-}" ]; then
  extra+=(-device virtio-serial-pci -chardev socket,id=kbs,path="$ROOTLINE_KBS_SOCK"
    -device virtserialport,chardev=kbs,name=rootline.kbs)
fi
if [ -n "${ROOTLINE_GUEST_MODE:-}" ]; then
  extra+=(-fw_cfg name=opt/rootline-mode,string="$ROOTLINE_GUEST_MODE")
fi
start=$(date +%s%N)
timeout 180 qemu-system-x86_64 -accel tcg -machine q35 -m 1024 -smp 1 -nodefaults \
  -display none -no-reboot \
  -drive if=pflash,format=raw,unit=0,readonly=on,file="$code" \
  -drive if=pflash,format=raw,unit=1,file="$run/vars.fd" \
  -drive if=none,id=esp,format=raw,readonly=on,file="$build/esp.img" \
  -device virtio-blk-pci,drive=esp \
  -chardev socket,id=chrtpm,path="$sock" \
  -tpmdev emulator,id=tpm0,chardev=chrtpm -device tpm-tis,tpmdev=tpm0 \
  -fw_cfg name=opt/nonce,string="$nonce" \
  -serial file:"$run/console.log" -serial file:"$run/serial1.txt" \
  ${extra[@]+"${extra[@]}"} \
  || { echo "boot.sh: qemu failed or timed out; console:" >&2; tail -20 "$run/console.log" >&2; exit 5; }
end=$(date +%s%N)
awk -v s="$start" -v e="$end" 'BEGIN { printf "%.2f\n", (e - s) / 1e9 }' > "$run/boot-seconds"
wait $swtpm_pid 2>/dev/null || true
trap - EXIT
grep -q '^===DONE===' "$run/serial1.txt" || { echo "boot.sh: the guest did not finish; console:" >&2; tail -30 "$run/console.log" >&2; exit 6; }
# Split the ===BEGIN name=== ... ===END name=== blocks into files.
tr -d '\r' < "$run/serial1.txt" | awk -v dir="$run/guest" '
  /^===BEGIN .*===$/ { name=$2; sub(/===$/, "", name); f=dir "/" name ".b64"; next }
  /^===END .*===$/ { close(f); f=""; next }
  f != "" { print > f }
'
for b in "$run"/guest/*.b64; do base64 -d "$b" > "${b%.b64}"; rm "$b"; done
cp "$tpm/ca/issuercert.pem" "$run/guest/issuercert.pem" 2>/dev/null || true
cp "$tpm/ca/swtpm-localca-rootca-cert.pem" "$run/guest/rootca.pem" 2>/dev/null || true
echo "boot.sh: guest done in $(cat "$run/boot-seconds") s"

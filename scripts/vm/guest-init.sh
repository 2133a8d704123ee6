#!/bin/busybox sh
# /init of the measured-boot test guest (scripts/vm/build.sh puts it in the
# initrd). It reads the firmware event log, makes a TPM quote over all sha256
# PCRs with the nonce the host passed through fw_cfg, and writes everything
# base64-encoded to the second serial port (ttyS1), which QEMU writes to a
# file on the host. Then it powers off. Nothing here talks to a network.
/bin/busybox mkdir -p /proc /sys /dev /tmp
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox mount -t securityfs securityfs /sys/kernel/security
/bin/busybox --install -s /bin
export PATH=/bin:/usr/bin
export LD_LIBRARY_PATH=/lib/guest
export TPM2TOOLS_TCTI=device:/dev/tpmrm0
insmod /lib/modules/qemu_fw_cfg.ko 2>/dev/null
out=/dev/ttyS1
up() { cut -d' ' -f1 /proc/uptime; }
emit() { # name file
  { echo "===BEGIN $1==="; base64 "$2"; echo "===END $1==="; } > $out
}
cd /tmp
echo "=== GUEST UP: $(up) ===" > /dev/console
# KBS modes (fw_cfg opt/rootline-mode): `kbs` asks the broker on the host for
# the disk key over the virtio-serial port (no network), proving the AK by
# credential activation, prints the key's SHA-256 (never the key) and powers
# off; `kbs+quote` does the same first, then the tpm2-tools quote below.
kbs() {
  for m in $(cat /lib/modules/virtio/modules.order); do insmod /lib/modules/virtio/$m 2>/dev/null; done
  mkdir -p /dev/virtio-ports
  for i in $(seq 100); do
    for p in /sys/class/virtio-ports/*; do
      [ "$(cat "$p/name" 2>/dev/null)" = rootline.kbs ] && ln -sf "/dev/${p##*/}" /dev/virtio-ports/rootline.kbs
    done
    [ -e /dev/virtio-ports/rootline.kbs ] && break
    sleep 0.1
  done
  t0=$(up)
  rootline get-resource kbs:///disk/key/root --tee tpm --tpm-activate --key-alg rsa --tcti device:/dev/tpmrm0 \
    --pcrs sha256:0-7,9,11 --kbs kbs+serial:///dev/virtio-ports/rootline.kbs -o /tmp/key \
    2> kbs-err.txt
  rc=$?
  t1=$(up)
  if [ $rc = 0 ]; then
    echo "ROOTLINE-KBS released sha256=$(sha256sum /tmp/key | cut -d' ' -f1) bytes=$(wc -c < /tmp/key) uptime_start=$t0 uptime_secret=$t1"
  else
    echo "ROOTLINE-KBS refused rc=$rc uptime_start=$t0 uptime_end=$t1"
  fi > result.txt
  cat result.txt > /dev/console
  rm -f /tmp/key
  for f in result.txt kbs-err.txt; do emit "$f" "$f"; done
}
mode=$(cat /sys/firmware/qemu_fw_cfg/by_name/opt/rootline-mode/raw 2>/dev/null)
case "$mode" in
  kbs|kbs+quote) [ -x /bin/rootline ] && kbs ;;
esac
if [ "$mode" = kbs ]; then
  echo "===DONE===" > $out
  sync
  poweroff -f
fi
nonce=$(cat /sys/firmware/qemu_fw_cfg/by_name/opt/nonce/raw 2>/dev/null)
echo -n "$nonce" > nonce.txt
cat /proc/cmdline > cmdline.txt
cp /sys/kernel/security/tpm0/binary_bios_measurements eventlog.bin
cp /sys/kernel/security/ima/binary_runtime_measurements ima.bin 2>/dev/null
t0=$(up)
tpm2_createek -c ek.ctx -G rsa -u ek.pub >/dev/null 2>err.txt &&
tpm2_createak -C ek.ctx -c ak.ctx -G ecc -g sha256 -s ecdsa -u ak.pub -f pem -n ak.name >/dev/null 2>>err.txt &&
tpm2_quote -c ak.ctx -l sha256:0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23 \
  -q "$nonce" -m quote.msg -s quote.sig -o quote.pcrs -g sha256 >/dev/null 2>>err.txt
echo "rc=$?" >> err.txt
tpm2_nvread 0x1c00002 -o ekcert.der >/dev/null 2>>err.txt
t1=$(up)
echo "guest_up_to_quote_start=$t0 quote_done=$t1" > timing.txt
for f in nonce.txt cmdline.txt eventlog.bin ima.bin ek.pub ak.pub ak.name quote.msg quote.sig quote.pcrs ekcert.der timing.txt err.txt; do
  [ -f "$f" ] && emit "$f" "$f"
done
echo "===DONE===" > $out
echo "=== GUEST DONE: $(up) ===" > /dev/console
sync
poweroff -f

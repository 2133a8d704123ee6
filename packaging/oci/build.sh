#!/usr/bin/env bash
# Builds the broker's OCI image FROM scratch, from an already-built binary,
# with podman (or buildah) from Debian: no base image is downloaded.
#
#   packaging/oci/build.sh BINARY [IMAGE]     # IMAGE: localhost/rootline:VERSION
#
# BINARY must be a broker built without the TPM attester
# (`cargo build -p rootline --no-default-features`, or --release): the
# image carries no TSS2 library, and the script refuses a binary that links
# one.
#
# What goes in:
# - /usr/bin/rootline (debug info stripped) and the shared libraries `ldd`
#   lists for it (glibc, libgcc_s...), at the paths the binary looks for them.
#   Not a static binary: a statically linked glibc cannot load the NSS
#   modules that resolve names (PostgreSQL's host, a KDS mirror) reliably,
#   and musl would change the allocator and resolver under the measured
#   broker. glibc 2.34 and later has the `files` and `dns` NSS modules built
#   into libc.so.6, so ldd's list is complete for name resolution; the image
#   adds an /etc/nsswitch.conf saying `hosts: files dns`.
# - /etc/passwd and /etc/group naming the non-root user `rootline`, uid and
#   gid 65532, which the image runs as (USER); a /var/lib/rootline owned by
#   it (0700), declared a VOLUME: the data directory (SQLite, generated KEK,
#   collateral cache) when no PostgreSQL is configured. Everything else can
#   be read-only (`podman run --read-only`, readOnlyRootFilesystem).
# - ENTRYPOINT `rootline serve`, listening on 0.0.0.0:8080 (ROOTLINE_LISTEN)
#   with its data in /var/lib/rootline (ROOTLINE_DATA_DIR); arguments after
#   the image name go to `serve` (e.g. --config FILE).
# TLS roots for fetching collateral are compiled in (webpki-roots): no CA
# bundle is needed.
set -euo pipefail

[ $# -ge 1 ] && [ $# -le 2 ] || { echo "usage: $0 BINARY [IMAGE]" >&2; exit 2; }
bin=$(realpath "$1")
version=$("$bin" --version | awk '{print $2}')
image=${2:-localhost/rootline:$version}
if command -v podman >/dev/null; then
    builder=(podman build)
elif command -v buildah >/dev/null; then
    builder=(buildah bud)
else
    echo "$0: neither podman nor buildah is installed (Debian packages podman or buildah)" >&2
    exit 2
fi

libs=$(ldd "$bin" | awk '/=>/ { print $3 } /^\t\// { print $1 }')
if grep -q libtss2 <<<"$libs"; then
    echo "$0: $bin links libtss2 (the TPM attester); build the broker with" >&2
    echo "    cargo build -p rootline --no-default-features" >&2
    exit 2
fi

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
root="$ctx/rootfs"
mkdir -p "$root/usr/bin" "$root/etc" "$ctx/data/rootline"
objcopy --strip-debug "$bin" "$root/usr/bin/rootline"
for lib in $libs; do
    # The path as the loader finds it (/lib64/ld-linux-x86-64.so.2,
    # /lib/x86_64-linux-gnu/libc.so.6), with the file behind any symbolic link.
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
done
cat >"$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/sbin/nologin
rootline:x:65532:65532:rootline key broker:/var/lib/rootline:/sbin/nologin
PASSWD
cat >"$root/etc/group" <<'GROUP'
root:x:0:
rootline:x:65532:
GROUP
echo "hosts: files dns" >"$root/etc/nsswitch.conf"
chmod 0700 "$ctx/data/rootline"

cat >"$ctx/Containerfile" <<CONTAINERFILE
FROM scratch
COPY rootfs/ /
# The data directory itself is copied (not only its contents), so that
# --chown gives it to the broker's user.
COPY --chown=65532:65532 data/ /var/lib/
ENV ROOTLINE_LISTEN=0.0.0.0:8080 ROOTLINE_DATA_DIR=/var/lib/rootline
USER 65532:65532
VOLUME /var/lib/rootline
EXPOSE 8080
ENTRYPOINT ["/usr/bin/rootline", "serve"]
LABEL org.opencontainers.image.title="rootline" \\
      org.opencontainers.image.description="rootline key broker (rootline serve), FROM scratch, non-root" \\
      org.opencontainers.image.version="$version" \\
      org.opencontainers.image.licenses="Apache-2.0"
CONTAINERFILE

# --timestamp 0: the same binary gives the same image.
"${builder[@]}" --quiet --timestamp 0 --tag "$image" "$ctx" >/dev/null
echo "$image"

#!/usr/bin/env bash
# Builds the distgan image without a registry.
#
# The base image is a minimal Debian root file system made by debootstrap
# from Debian's packages (with libopenblas0) and loaded by `docker import`;
# it is built once and reused while it exists. The binary is built on the
# host with cargo, and deploy/Dockerfile's `prebuilt` target puts it on that
# base, so the image matches the one built with a registry.
#
# Usage: deploy/build-image.sh [IMAGE]   (default distgan:latest)
# Environment:
#   DISTGAN_BASE_IMAGE  base image tag; default distgan-base:SUITE
#   DEBIAN_SUITE        Debian release of the base; default bookworm, which
#                       must match the host's C library the binary links
#   DEBIAN_MIRROR       default http://deb.debian.org/debian
#   DISTGAN_BINARY      use this binary instead of building one
#   REBUILD_BASE=1      rebuild the base even when it exists
set -euo pipefail

deploy_dir=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$deploy_dir")
# shellcheck source=deploy/lib.sh
. "$deploy_dir/lib.sh"

image=${1:-distgan:latest}
suite=${DEBIAN_SUITE:-bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
base_image=${DISTGAN_BASE_IMAGE:-distgan-base:$suite}

work=$(mktemp -d "${TMPDIR:-/var/tmp}/distgan-image.XXXXXX")
cleanup() {
    # debootstrap mounts /proc and /sys inside the root. A failed run can
    # leave them mounted, and rm must not descend into them.
    local mount_point
    for mount_point in proc sys dev/pts; do
        if mountpoint -q "$work/rootfs/$mount_point" 2>/dev/null; then
            umount -l "$work/rootfs/$mount_point" || true
        fi
    done
    rm -rf --one-file-system "$work"
}
trap cleanup EXIT

build_base() {
    ensure_packages debootstrap
    log "building the base image $base_image from Debian $suite with debootstrap"
    debootstrap --variant=minbase --include=libopenblas0 "$suite" "$work/rootfs" "$mirror" \
        >"$work/debootstrap.log" 2>&1 || {
        tail -n 30 "$work/debootstrap.log" >&2
        die "debootstrap failed; the log is above"
    }

    # What a slim image leaves out: package caches, documentation, locales.
    rm -rf "$work/rootfs"/var/cache/apt/archives/*.deb \
        "$work/rootfs"/var/lib/apt/lists/* \
        "$work/rootfs"/usr/share/doc/* \
        "$work/rootfs"/usr/share/man/* \
        "$work/rootfs"/usr/share/info/* \
        "$work/rootfs"/usr/share/locale/* \
        "$work/rootfs"/var/log/*.log

    tar --numeric-owner -C "$work/rootfs" -cf - . | docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["/bin/bash"]' \
        --message "debootstrap --variant=minbase --include=libopenblas0 $suite" \
        - "$base_image" >/dev/null
    log "base image $base_image: $(docker image inspect -f '{{.Size}}' "$base_image") bytes"
}

if [ "${REBUILD_BASE:-0}" = 1 ] || ! docker image inspect "$base_image" >/dev/null 2>&1; then
    build_base
else
    log "reusing the base image $base_image"
fi

binary=${DISTGAN_BINARY:-}
if [ -z "$binary" ]; then
    binary=$(build_release_binary "$repo")
fi
[ -x "$binary" ] || die "binary $binary not found or not executable; build it or set DISTGAN_BINARY"

mkdir -p "$work/context"
# Line tables stay in the cargo build for local backtraces; the image
# keeps the symbol names and drops the debug sections (about 45 MB).
strip --strip-debug -o "$work/context/distgan" "$binary"
log "building $image on $base_image"
docker build --quiet -f "$deploy_dir/Dockerfile" --target prebuilt \
    --build-arg BASE_IMAGE="$base_image" -t "$image" "$work/context" >/dev/null
log "image $image: $(docker image inspect -f '{{.Size}}' "$image") bytes"

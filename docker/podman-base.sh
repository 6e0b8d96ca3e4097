#!/usr/bin/env bash
# For podman on machines that reach Debian's package mirror but no image registry: builds
# debian:bookworm(-slim) with debootstrap and imports it, once. A machine with a registry never
# needs this; the Dockerfile builds unchanged with `docker build` anywhere.
set -euo pipefail
if podman image exists docker.io/library/debian:bookworm; then exit 0; fi
MIRROR=$(awk '/^URIs:/ {print $2; exit} /^deb / {print $2; exit}' \
    /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list 2>/dev/null || true)
ROOTFS=$(mktemp -d)
trap 'rm -rf "$ROOTFS"' EXIT
debootstrap --variant=minbase bookworm "$ROOTFS" "${MIRROR:-http://deb.debian.org/debian}" >/dev/null
tar -C "$ROOTFS" -c . | podman import - docker.io/library/debian:bookworm-slim >/dev/null
podman tag docker.io/library/debian:bookworm-slim docker.io/library/debian:bookworm

#!/usr/bin/env bash
# A Debian base image made here, for machines that cannot pull one from a registry:
# debootstrap a minimal bookworm, then `docker import` it. Skips when the image exists.
#   images/base/build.sh [IMAGE]   (default localzure/base:bookworm)
# MIRROR overrides the Debian mirror (default: the first one in the host's apt sources).
set -euo pipefail

IMAGE="${1:-localzure/base:bookworm}"
SUITE="${SUITE:-bookworm}"

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
    echo "base image $IMAGE exists; skipping"
    exit 0
fi

mirror="${MIRROR:-}"
if [ -z "$mirror" ]; then
    mirror="$(grep -hoE '^(URIs:|deb) +https?://[^ ]+' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
        | grep -v security | head -n1 | awk '{print $2}' || true)"
fi
mirror="${mirror:-http://deb.debian.org/debian}"

if ! command -v debootstrap >/dev/null 2>&1; then
    echo "debootstrap is missing: apt-get install -y debootstrap" >&2
    exit 1
fi

root="$(mktemp -d /tmp/localzure-base.XXXXXX)"
trap 'rm -rf "$root"' EXIT
echo "debootstrap $SUITE from $mirror into $root"
debootstrap --variant=minbase "$SUITE" "$root" "$mirror"
# Keep the image small and apt usable inside builds.
echo "deb $mirror $SUITE main" > "$root/etc/apt/sources.list"
printf 'Acquire::Languages "none";\nAPT::Install-Recommends "false";\n' > "$root/etc/apt/apt.conf.d/99localzure"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
tar -C "$root" -c . | docker import \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/bash"]' \
    - "$IMAGE"
echo "built $IMAGE"

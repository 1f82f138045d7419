#!/usr/bin/env bash
# Build the kopfka images here, with no container registry: kopfka/broker and kopfka/operator, FROM a
# Debian base made with debootstrap and `docker import`, from wheels built on the host (PyPI is reachable,
# the build containers need no network). Starts dockerd when none answers, always with the kopfka-runc
# runtime (scripts/docker/dockerd.sh). Idempotent: the base images are made once (they stay in dockerd's
# store); the product images are rebuilt (Docker's layer cache keeps it quick when nothing changed).
#
# Usage: scripts/build-images.sh [--zookeeper]
#   --zookeeper   also make kopfka/zookeeper-test (Debian's ZooKeeper 3.8 on the same base), for tests/images,
#                 and kopfka/zookeeper:3.8 from it (scripts/zookeeper-image: the official image's entrypoint
#                 contract), for the operator's managed ensemble in tests/e2e.
# Environment: TAG (default: the project version), KOPFKA_CACHE (default ~/.cache/kopfka), PYTHON (the
# interpreter whose pip builds the wheels; default python3).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TAG="${TAG:-$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/pyproject.toml" | head -1)}"
CACHE="${KOPFKA_CACHE:-$HOME/.cache/kopfka}"
BASE_IMAGE=kopfka/base:bookworm
ZOOKEEPER_IMAGE=kopfka/zookeeper-test:3.8
ZOOKEEPER_SERVER_IMAGE=kopfka/zookeeper:3.8
SUITE=bookworm
WITH_ZOOKEEPER=0
[[ "${1:-}" == "--zookeeper" ]] && WITH_ZOOKEEPER=1
export DOCKER_BUILDKIT=0   # the classic builder never tries to pull a FROM image that exists locally

log() { printf '[build-images] %s\n' "$*" >&2; }

ensure_packages() {
    local missing=()
    command -v dockerd >/dev/null || missing+=(docker.io)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    ((${#missing[@]} == 0)) && return 0
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# ensure_dockerd: scripts/docker/dockerd.sh.
# shellcheck source=docker/dockerd.sh
source "$ROOT/scripts/docker/dockerd.sh"
# shellcheck source=lib/debian.sh
source "$ROOT/scripts/lib/debian.sh"

# rootfs_image NAME PACKAGES: a minbase Debian rootfs with PACKAGES, imported as image NAME (once).
rootfs_image() {
    local name="$1" packages="$2"
    docker image inspect "$name" >/dev/null 2>&1 && return 0
    log "debootstrap $SUITE with $packages → $name"
    local dir
    dir="$(mktemp -d)"
    debootstrap --variant=minbase --include="$packages" "$SUITE" "$dir" "$(debian_mirror)" >"$CACHE/debootstrap.log" 2>&1 \
        || { tail -20 "$CACHE/debootstrap.log" >&2; rm -rf "$dir"; exit 1; }
    rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
    tar -C "$dir" -c . | docker import - "$name" >/dev/null
    rm -rf "$dir"
}

build_wheels() {
    local out="$1"
    log "wheels for kopfka[broker,operator] → $out"
    mkdir -p "$out"
    "${PYTHON:-python3}" -m pip wheel --quiet --wheel-dir "$out" "$ROOT[broker,operator]"
}

main() {
    mkdir -p "$CACHE"
    ensure_packages
    ensure_dockerd
    rootfs_image "$BASE_IMAGE" python3,python3-venv,ca-certificates
    if ((WITH_ZOOKEEPER)); then
        rootfs_image "$ZOOKEEPER_IMAGE" zookeeper,ca-certificates
        log "$ZOOKEEPER_SERVER_IMAGE (log: $CACHE/build-zookeeper.log)"
        docker build --build-arg "BASE_IMAGE=$ZOOKEEPER_IMAGE" -t "$ZOOKEEPER_SERVER_IMAGE" \
            "$ROOT/scripts/zookeeper-image" >"$CACHE/build-zookeeper.log" 2>&1 \
            || { tail -30 "$CACHE/build-zookeeper.log" >&2; exit 1; }
    fi
    CONTEXT="$(mktemp -d)"
    trap 'rm -rf "$CONTEXT"' EXIT
    build_wheels "$CONTEXT/wheels"
    for component in broker operator; do
        cp "$ROOT/Dockerfile.$component" "$CONTEXT/"
        log "kopfka/$component:$TAG (log: $CACHE/build-$component.log)"
        docker build --build-arg "BASE_IMAGE=$BASE_IMAGE" -f "$CONTEXT/Dockerfile.$component" \
            -t "kopfka/$component:$TAG" "$CONTEXT" >"$CACHE/build-$component.log" 2>&1 \
            || { tail -30 "$CACHE/build-$component.log" >&2; exit 1; }
    done
    # Every rebuild leaves the previous images untagged ("dangling"): on a machine that builds for every
    # CI run they would fill the disk. Only images nothing refers to go; tagged ones and their layers stay.
    docker image prune -f >/dev/null
    log "ready: kopfka/broker:$TAG kopfka/operator:$TAG"
}

main

#!/usr/bin/env bash
# Make a kind node image offline: kopfka/kind-node:<kubernetes version>-<recipe hash>, printed on stdout.
#
# kind's own node images (kindest/node) come from a registry, which this machine cannot reach, and
# `kind build node-image` pulls its CNI and storage images. This script assembles the same kind of image from
# what is here: a Debian rootfs made with debootstrap (systemd, iptables, runc, ...), the binaries
# scripts/build-tools.sh built from their Go modules (kubelet, kubeadm, kubectl, containerd, crictl, CNI
# plugins), the systemd units and configuration in scripts/kind-node/, and, preloaded into the node's
# containerd, every image kubeadm asks for (`kubeadm config images list`) under exactly those names:
#
#   kube-apiserver, kube-controller-manager, kube-scheduler, etcd, coredns, pause
#                    `docker import` of a rootfs holding the static binary (+ /etc/passwd, CA certificates)
#   kube-proxy       a Debian rootfs with iptables and conntrack, plus the binary behind a wrapper that
#                    selects the iptables backend the node uses
#
# Networking needs no image: the node ships a CNI config (ptp + host-local, one node, so one pod range)
# and the cluster is created with kind's default CNI disabled. Storage: the node's default StorageClass
# has no provisioner; the e2e tests create local PersistentVolumes.
#
# Idempotent: the image's tag hashes this script, scripts/kind-node/ and the binaries' version stamps; when
# an image with that tag exists nothing is done. The debootstrap rootfs tarballs are cached under
# $KOPFKA_CACHE/kind-node/, and each component image is rebuilt only when its recipe changed.
#
# Usage: scripts/build-kind-node.sh      (needs root, `make tools` first; starts dockerd when needed)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${KOPFKA_CACHE:-$HOME/.cache/kopfka}"
BIN="$CACHE/bin"
WORK="$CACHE/kind-node"
FILES="$ROOT/scripts/kind-node"
K8S_VERSION="${K8S_VERSION:-v1.36.3}"
SUITE=bookworm
NODE_PACKAGES=systemd,iptables,iproute2,conntrack,ethtool,socat,kmod,procps,ca-certificates,runc,libseccomp2,mount,util-linux
PROXY_PACKAGES=iptables,conntrack,ca-certificates
NODE_BINARIES=(kubelet kubeadm kubectl containerd containerd-shim-runc-v2 ctr crictl)
CNI_PLUGINS=(ptp host-local loopback portmap)

log() { printf '[build-kind-node] %s\n' "$*" >&2; }

# shellcheck source=docker/dockerd.sh
source "$ROOT/scripts/docker/dockerd.sh"
# shellcheck source=lib/debian.sh
source "$ROOT/scripts/lib/debian.sh"

check_tools() {
    local missing=() name
    for name in "${NODE_BINARIES[@]}" kube-apiserver kube-controller-manager kube-scheduler kube-proxy etcd coredns pause; do
        [[ -x "$BIN/$name" ]] || missing+=("$name")
    done
    for name in "${CNI_PLUGINS[@]}"; do
        [[ -x "$BIN/cni/$name" ]] || missing+=("cni/$name")
    done
    if ((${#missing[@]})); then
        log "missing in $BIN: ${missing[*]} — run \`make tools\` (scripts/build-tools.sh) first"
        exit 1
    fi
    command -v debootstrap >/dev/null || {
        log "installing debootstrap"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
    }
}

# rootfs_tar NAME PACKAGES: path of a cached tarball of a minbase Debian rootfs with PACKAGES.
rootfs_tar() {
    local name="$1" packages="$2" tar dir
    tar="$WORK/rootfs-$name-$SUITE-$(printf '%s' "$packages" | sha256sum | cut -c1-12).tar"
    if [[ ! -f "$tar" ]]; then
        log "debootstrap $SUITE with $packages → $tar"
        dir="$(mktemp -d)"
        debootstrap --variant=minbase --include="$packages" "$SUITE" "$dir" "$(debian_mirror)" \
            >"$WORK/debootstrap-$name.log" 2>&1 || { tail -20 "$WORK/debootstrap-$name.log" >&2; rm -rf "$dir"; exit 1; }
        rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
        tar -C "$dir" -cf "$tar.tmp" .
        mv "$tar.tmp" "$tar"
        rm -rf "$dir"
    fi
    printf '%s' "$tar"
}

# recipe_hash FILE...: a short hash of the given files' contents.
recipe_hash() { cat "$@" | sha256sum | cut -c1-12; }

image_has_recipe() { [[ "$(docker image inspect -f '{{index .Config.Labels "kopfka.recipe"}}' "$1" 2>/dev/null)" == "$2" ]]; }

# static_image NAME BINARY PATH_IN_IMAGE ENTRYPOINT_JSON: an image of one static binary.
static_image() {
    local name="$1" binary="$2" path="$3" entrypoint="$4" recipe dir
    recipe="$(recipe_hash "$BIN/.$binary.version" "$0" | cut -c1-12)"
    image_has_recipe "$name" "$recipe" && return 0
    log "$name (static $binary)"
    dir="$(mktemp -d)"
    mkdir -p "$dir$(dirname "$path")" "$dir/etc/ssl/certs" "$dir/tmp" "$dir/var/run"
    chmod 1777 "$dir/tmp"
    cp "$BIN/$binary" "$dir$path"
    printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n' >"$dir/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$dir/etc/group"
    printf 'hosts: files dns\n' >"$dir/etc/nsswitch.conf"
    cp /etc/ssl/certs/ca-certificates.crt "$dir/etc/ssl/certs/"
    tar -C "$dir" -c . | docker import \
        --change "ENV PATH=/usr/local/bin:/usr/bin:/bin" \
        ${entrypoint:+--change "ENTRYPOINT $entrypoint"} \
        --change "LABEL kopfka.recipe=$recipe" - "$name" >/dev/null
    rm -rf "$dir"
}

kube_proxy_image() {
    local name="$1" recipe base dir
    recipe="$(recipe_hash "$BIN/.kube-proxy.version" "$FILES/kube-proxy" "$FILES/select-iptables" "$0")"
    image_has_recipe "$name" "$recipe" && return 0
    base="$(rootfs_tar kube-proxy "$PROXY_PACKAGES")"
    log "$name (Debian with iptables + kube-proxy)"
    dir="$(mktemp -d)"
    tar -C "$dir" -xf "$base"
    install -m 0755 "$BIN/kube-proxy" "$dir/usr/local/bin/kube-proxy.bin"
    install -m 0755 "$FILES/kube-proxy" "$FILES/select-iptables" "$dir/usr/local/bin/"
    tar -C "$dir" -c . | docker import \
        --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
        --change "LABEL kopfka.recipe=$recipe" - "$name" >/dev/null
    rm -rf "$dir"
}

# component_images: every image kubeadm will ask for, made locally; prints their names.
component_images() {
    local image name tag wanted
    wanted="$("$BIN/kubeadm" config images list --kubernetes-version "$K8S_VERSION" 2>/dev/null)" \
        || { log "kubeadm config images list failed"; exit 1; }
    while read -r image; do
        name="${image%:*}"; tag="${image##*:}"
        case "${name##*/}" in
            kube-apiserver | kube-controller-manager | kube-scheduler)
                [[ "$tag" == "$K8S_VERSION" ]] || { log "kubeadm wants $image, the tools are $K8S_VERSION"; exit 1; }
                static_image "$image" "${name##*/}" "/usr/local/bin/${name##*/}" "" ;;
            kube-proxy)
                kube_proxy_image "$image" ;;
            etcd)
                [[ "v${tag%-*}" == "$(cat "$BIN/.etcd.version")" ]] || { log "kubeadm wants $image, etcd is $(cat "$BIN/.etcd.version")"; exit 1; }
                static_image "$image" etcd /usr/local/bin/etcd "" ;;
            coredns)
                [[ "$tag" == "$(cat "$BIN/.coredns.version")" ]] || { log "kubeadm wants $image, coredns is $(cat "$BIN/.coredns.version")"; exit 1; }
                static_image "$image" coredns /coredns '["/coredns"]' ;;
            pause)
                static_image "$image" pause /pause '["/pause"]' ;;
            *)
                log "kubeadm wants $image, which this script does not know how to make"; exit 1 ;;
        esac
        printf '%s\n' "$image"
    done <<<"$wanted"
}

# node_rootfs DIR PAUSE_IMAGE: the node's filesystem, without images.
node_rootfs() {
    local dir="$1" pause="$2" name
    tar -C "$dir" -xf "$(rootfs_tar node "$NODE_PACKAGES")"
    # As on kind's nodes: only the units the node needs start (no getty, no udev, no timers), journald does
    # not read the machine's kmsg, and binfmt_misc (machine-global) is left alone.
    find "$dir/lib/systemd/system/sysinit.target.wants/" -name systemd-tmpfiles-setup.service -delete
    rm -f "$dir"/lib/systemd/system/multi-user.target.wants/* "$dir"/etc/systemd/system/*.wants/* \
        "$dir"/lib/systemd/system/local-fs.target.wants/* "$dir"/lib/systemd/system/sockets.target.wants/*udev* \
        "$dir"/lib/systemd/system/sockets.target.wants/*initctl* "$dir"/lib/systemd/system/basic.target.wants/*
    echo "ReadKMsg=no" >>"$dir/etc/systemd/journald.conf"
    ln -sf /dev/null "$dir/etc/systemd/system/systemd-binfmt.service"
    ln -sf /lib/systemd/systemd "$dir/sbin/init"

    cp -r "$FILES/files/." "$dir/"
    sed -i "s|@PAUSE_IMAGE@|$pause|" "$dir/etc/containerd/config.toml"
    mkdir -p "$dir/etc/systemd/system/multi-user.target.wants" "$dir/etc/kubernetes/manifests" "$dir/opt/cni/bin"
    for name in containerd kubelet; do
        ln -sf "/etc/systemd/system/$name.service" "$dir/etc/systemd/system/multi-user.target.wants/$name.service"
    done
    for name in kubelet kubeadm kubectl; do install -m 0755 "$BIN/$name" "$dir/usr/bin/$name"; done
    for name in containerd containerd-shim-runc-v2 ctr crictl; do install -m 0755 "$BIN/$name" "$dir/usr/local/bin/$name"; done
    for name in "${CNI_PLUGINS[@]}"; do install -m 0755 "$BIN/cni/$name" "$dir/opt/cni/bin/$name"; done
    install -m 0755 "$FILES/entrypoint" "$FILES/select-iptables" "$dir/usr/local/bin/"
    # containerd's default OCI spec minus its process rlimits (RLIMIT_NOFILE 1024), as pods' base spec.
    "$BIN/ctr" oci spec | python3 -c 'import json, sys; s = json.load(sys.stdin); s["process"].pop("rlimits", None); json.dump(s, sys.stdout, indent=2)' \
        >"$dir/etc/containerd/cri-base.json"
    printf '%s\n' "$K8S_VERSION" >"$dir/kind/version"
    : >"$dir/etc/machine-id"
}

# preload STAGE_IMAGE FINAL_IMAGE IMAGES...: imports IMAGES into the node's containerd (as kind's own node
# image build does: containerd started in a plain container, `ctr images import`), commits FINAL_IMAGE.
preload() {
    local stage="$1" final="$2"; shift 2
    local container="kopfka-kind-node-build-$$"
    trap 'docker rm -f "'"$container"'" >/dev/null 2>&1 || true' EXIT
    # --init: something must reap containerd when it is stopped (sleep, PID 1 otherwise, does not).
    docker run -d --init --name "$container" --security-opt seccomp=unconfined --entrypoint sleep "$stage" infinity >/dev/null
    docker exec "$container" bash -c 'nohup containerd >/tmp/containerd.log 2>&1 &'
    for _ in $(seq 30); do
        docker exec "$container" ctr version >/dev/null 2>&1 && break
        sleep 1
    done
    log "preloading $# images into the node's containerd"
    docker save "$@" | docker exec -i "$container" \
        ctr --namespace=k8s.io images import --all-platforms --no-unpack --digests --label=io.cri-containerd.pinned=pinned - >/dev/null
    local listed
    listed="$(docker exec "$container" ctr --namespace=k8s.io images list -q)"
    for image in "$@"; do
        grep -qxF "$image" <<<"$listed" || { log "$image is not in the node's containerd after import"; exit 1; }
    done
    docker exec "$container" pkill containerd
    docker exec "$container" bash -c 'while pgrep -x containerd >/dev/null; do sleep 0.2; done; rm -rf /tmp/* /run/containerd'
    docker commit \
        --change 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]' \
        --change 'CMD []' \
        --change 'ENV container=docker' \
        "$container" "$stage-preloaded" >/dev/null
    docker rm -f "$container" >/dev/null
    trap - EXIT
    # systemd stops on SIGRTMIN+3 (SIGTERM makes it re-execute); `docker commit` cannot set STOPSIGNAL.
    printf 'FROM %s\nSTOPSIGNAL SIGRTMIN+3\n' "$stage-preloaded" | DOCKER_BUILDKIT=0 docker build -q -t "$final" - >/dev/null
    docker rmi "$stage-preloaded" >/dev/null
}

main() {
    mkdir -p "$WORK"
    check_tools
    local stamps=() name
    for name in "${NODE_BINARIES[@]}" kube-apiserver kube-controller-manager kube-scheduler kube-proxy etcd coredns pause cni; do
        stamps+=("$BIN/.$name.version")
    done
    local tag
    tag="$K8S_VERSION-$(recipe_hash "$0" "$ROOT/scripts/docker/dockerd.sh" "${stamps[@]}" \
        $(find "$FILES" -type f | LC_ALL=C sort))"
    local final="kopfka/kind-node:$tag"
    ensure_dockerd
    if docker image inspect "$final" >/dev/null 2>&1; then
        printf '%s\n' "$final"
        return 0
    fi
    local started=$SECONDS images=()
    component_images >"$WORK/images.txt"
    mapfile -t images <"$WORK/images.txt"
    local pause
    pause="$(printf '%s\n' "${images[@]}" | grep '/pause:')"
    log "node rootfs (pause image $pause)"
    local dir stage="kopfka/kind-node-stage:$tag"
    dir="$(mktemp -d)"
    node_rootfs "$dir" "$pause"
    tar -C "$dir" -c . | docker import - "$stage" >/dev/null
    rm -rf "$dir"
    preload "$stage" "$final" "${images[@]}"
    docker rmi "$stage" >/dev/null
    # Node images of earlier recipes are only disk space now.
    docker images --format '{{.Repository}}:{{.Tag}}' | grep -E '^kopfka/kind-node(-stage)?:' | grep -vxF "$final" \
        | xargs -r docker rmi >/dev/null 2>&1 || true
    log "ready in $((SECONDS - started)) s: $final"
    printf '%s\n' "$final"
}

main

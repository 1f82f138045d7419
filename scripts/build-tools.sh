#!/usr/bin/env bash
# Build the Kubernetes tools the k8s and e2e test tiers run, at pinned versions,
# from their Go modules (no other download source is reachable here), into
# ${KOPFKA_CACHE:-~/.cache/kopfka}/bin:
#   k8s tier:  etcd, kube-apiserver, kube-controller-manager, kubectl, helm
#   e2e tier:  kind, and what scripts/build-kind-node.sh puts into a kind node
#              image: kubelet, kubeadm, kube-scheduler, kube-proxy, CoreDNS,
#              containerd (+ its runc shim and ctr), crictl, the CNI plugins
#              (in cni/), and pause (a small static C program of ours).
#
# Why a cache outside the repo: CI runs in a fresh clone, and a cold build takes
# many minutes on two cores; the Go module and build caches stay in their usual
# places under $HOME for the same reason.
#
# Idempotent: each binary has a stamp file naming the version it was built at;
# when every stamp matches the pins below the script exits at once.
#
# k8s.io/kubernetes requires its staging modules (k8s.io/api, k8s.io/apiserver,
# ...) at v0.0.0 and replaces them with ./staging paths, which only work inside
# its own repository. We build it from a small wrapper module that requires
# k8s.io/kubernetes and replaces every staging module with its published
# v0.<minor>.<patch> twin. etcd's server module has ../ replaces too, so it gets
# a wrapper as well; helm, kind, containerd, crictl and the CNI plugins have none
# and are built with plain `go install`. CoreDNS gets a wrapper main that
# compiles in only the plugins kubeadm's Corefile uses (plus log), instead of
# every cloud DNS backend CoreDNS ships.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.36.3}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.8}"     # the etcd release k8s.io/kubernetes v1.36.3 is built against
HELM_VERSION="${HELM_VERSION:-v3.22.0}"
HELM_KUBE_MINOR=37                          # helm v3.22.0 is built with k8s.io/client-go v0.37
KIND_VERSION="${KIND_VERSION:-v0.33.0}"
COREDNS_VERSION="${COREDNS_VERSION:-v1.14.2}"    # kubeadm v1.36.3's CoreDNSVersion (the image tag it asks for)
CONTAINERD_VERSION="${CONTAINERD_VERSION:-v2.3.7}"
CRI_TOOLS_VERSION="${CRI_TOOLS_VERSION:-v1.36.0}"
CNI_PLUGINS_VERSION="${CNI_PLUGINS_VERSION:-v1.10.0}"
CNI_PLUGINS=(main/ptp main/loopback ipam/host-local meta/portmap)
ROOT="$(cd "$(dirname "$0")/.." && pwd)"

CACHE="${KOPFKA_CACHE:-$HOME/.cache/kopfka}"
BIN="$CACHE/bin"
SRC="$CACHE/src"
mkdir -p "$BIN" "$SRC"

command -v go >/dev/null || { echo "[build-tools] go is not installed" >&2; exit 1; }
# Two compile jobs and a low priority: the machines have two cores that tests may be using.
export GOFLAGS="${KOPFKA_GOFLAGS:--p=2 -buildvcs=false}"
export CGO_ENABLED=0
NICE=(nice -n 10)

log() { printf '[build-tools] %s\n' "$*" >&2; }

# fresh NAME VERSION: true when $BIN/NAME exists and was built at VERSION.
fresh() { [[ -x "$BIN/$1" && -f "$BIN/.$1.version" && "$(cat "$BIN/.$1.version")" == "$2" ]]; }
stamp() { printf '%s\n' "$2" >"$BIN/.$1.version"; }

build_etcd() {
    fresh etcd "$ETCD_VERSION" && return 0
    log "etcd $ETCD_VERSION"
    local dir="$SRC/etcd-$ETCD_VERSION"
    mkdir -p "$dir"
    cat >"$dir/go.mod" <<EOF
module kopfka.local/tools/etcd

go 1.24.0

require go.etcd.io/etcd/server/v3 $ETCD_VERSION
EOF
    (cd "$dir" && "${NICE[@]}" go build -mod=mod -trimpath -ldflags "-s -w" -o "$BIN/etcd.tmp" go.etcd.io/etcd/server/v3)
    mv "$BIN/etcd.tmp" "$BIN/etcd"
    stamp etcd "$ETCD_VERSION"
}

KUBERNETES_COMMANDS=(kube-apiserver kube-controller-manager kubectl kube-scheduler kube-proxy kubelet kubeadm)

build_kubernetes() {
    local missing=0 name
    for name in "${KUBERNETES_COMMANDS[@]}"; do
        fresh "$name" "$K8S_VERSION" || missing=1
    done
    ((missing)) || return 0
    log "${KUBERNETES_COMMANDS[*]} $K8S_VERSION"
    local dir="$SRC/kubernetes-$K8S_VERSION" staging="v0.${K8S_VERSION#v1.}"
    mkdir -p "$dir"
    (cd "$dir" && go mod download k8s.io/kubernetes@"$K8S_VERSION")
    local modfile
    modfile="$(cd "$dir" && go mod download -json k8s.io/kubernetes@"$K8S_VERSION" \
        | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
    {
        printf 'module kopfka.local/tools/kubernetes\n\ngo 1.26.0\n\n'
        printf 'require k8s.io/kubernetes %s\n\n' "$K8S_VERSION"
        # Every "k8s.io/X => ./staging/src/k8s.io/X" becomes "k8s.io/X => k8s.io/X v0.Y.Z".
        awk -v v="$staging" '$2 == "=>" && $3 ~ /^\.\/staging\// { printf "replace %s => %s %s\n", $1, $1, v }' "$modfile"
    } >"$dir/go.mod"
    local major minor
    major="${K8S_VERSION#v}"; major="${major%%.*}"
    minor="${K8S_VERSION#v*.}"; minor="${minor%%.*}"
    local ldflags="-s -w"
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
        ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
    done
    mkdir -p "$dir/out"
    # One `go build` for all of them, so they share one compilation of their common packages.
    (cd "$dir" && "${NICE[@]}" go build -mod=mod -trimpath -ldflags "$ldflags" -o "$dir/out/" \
        "${KUBERNETES_COMMANDS[@]/#/k8s.io/kubernetes/cmd/}")
    for name in "${KUBERNETES_COMMANDS[@]}"; do
        mv "$dir/out/$name" "$BIN/$name"
        stamp "$name" "$K8S_VERSION"
    done
}

build_helm() {
    fresh helm "$HELM_VERSION+k8s1.$HELM_KUBE_MINOR" && return 0
    log "helm $HELM_VERSION"
    # As helm's Makefile does: the default Kubernetes version of `helm template`/`lint` is the one of the
    # client-go helm is built with (k8s.io/client-go v0.37 → 1.37), not the source's fallback 1.20.
    local ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" pkg
    for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
        ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$HELM_KUBE_MINOR"
    done
    GOBIN="$SRC/helm-bin" "${NICE[@]}" go install -trimpath -ldflags "$ldflags" \
        "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
    mv "$SRC/helm-bin/helm" "$BIN/helm"
    stamp helm "$HELM_VERSION+k8s1.$HELM_KUBE_MINOR"
}

build_kind() {
    fresh kind "$KIND_VERSION" && return 0
    log "kind $KIND_VERSION"
    GOBIN="$SRC/kind-bin" "${NICE[@]}" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kind@$KIND_VERSION"
    mv "$SRC/kind-bin/kind" "$BIN/kind"
    stamp kind "$KIND_VERSION"
}

build_containerd() {
    local missing=0 name
    for name in containerd containerd-shim-runc-v2 ctr; do
        fresh "$name" "$CONTAINERD_VERSION" || missing=1
    done
    ((missing)) || return 0
    log "containerd, containerd-shim-runc-v2, ctr $CONTAINERD_VERSION"
    local module=github.com/containerd/containerd/v2
    # Without the snapshotters a kind node never selects (as kind's own build does), and so without cgo.
    GOBIN="$SRC/containerd-bin" "${NICE[@]}" go install -trimpath -tags "no_aufs no_zfs no_btrfs no_devmapper" \
        -ldflags "-s -w -X $module/version.Version=$CONTAINERD_VERSION" \
        "$module/cmd/containerd@$CONTAINERD_VERSION" \
        "$module/cmd/containerd-shim-runc-v2@$CONTAINERD_VERSION" \
        "$module/cmd/ctr@$CONTAINERD_VERSION"
    for name in containerd containerd-shim-runc-v2 ctr; do
        mv "$SRC/containerd-bin/$name" "$BIN/$name"
        stamp "$name" "$CONTAINERD_VERSION"
    done
}

build_crictl() {
    fresh crictl "$CRI_TOOLS_VERSION" && return 0
    log "crictl $CRI_TOOLS_VERSION"
    GOBIN="$SRC/crictl-bin" "${NICE[@]}" go install -trimpath \
        -ldflags "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$CRI_TOOLS_VERSION" \
        "sigs.k8s.io/cri-tools/cmd/crictl@$CRI_TOOLS_VERSION"
    mv "$SRC/crictl-bin/crictl" "$BIN/crictl"
    stamp crictl "$CRI_TOOLS_VERSION"
}

build_cni() {
    local plugin built=1
    for plugin in "${CNI_PLUGINS[@]}"; do [[ -x "$BIN/cni/${plugin#*/}" ]] || built=0; done
    ((built)) && [[ -f "$BIN/.cni.version" && "$(cat "$BIN/.cni.version")" == "$CNI_PLUGINS_VERSION" ]] && return 0
    log "CNI plugins ${CNI_PLUGINS[*]} $CNI_PLUGINS_VERSION"
    local module=github.com/containernetworking/plugins
    mkdir -p "$BIN/cni"
    local packages=()
    for plugin in "${CNI_PLUGINS[@]}"; do packages+=("$module/plugins/$plugin@$CNI_PLUGINS_VERSION"); done
    GOBIN="$SRC/cni-bin" "${NICE[@]}" go install -trimpath \
        -ldflags "-s -w -X $module/pkg/utils/buildversion.BuildVersion=$CNI_PLUGINS_VERSION" "${packages[@]}"
    for plugin in "${CNI_PLUGINS[@]}"; do
        mv "$SRC/cni-bin/${plugin#*/}" "$BIN/cni/${plugin#*/}"
    done
    stamp cni "$CNI_PLUGINS_VERSION"
}

# CoreDNS's own main is coremain.Run with every plugin registered by an import; ours registers the plugins
# of kubeadm's Corefile (errors health ready kubernetes prometheus=metrics forward cache loop reload
# loadbalance) and log. The directive order stays CoreDNS's own (core/dnsserver).
COREDNS_PLUGINS=(cache errors forward health kubernetes loadbalance log loop metrics ready reload)

build_coredns() {
    fresh coredns "$COREDNS_VERSION" && return 0
    log "coredns $COREDNS_VERSION (plugins: ${COREDNS_PLUGINS[*]})"
    local dir="$SRC/coredns-$COREDNS_VERSION" plugin
    mkdir -p "$dir"
    printf 'module kopfka.local/tools/coredns\n\ngo 1.24.0\n\nrequire github.com/coredns/coredns %s\n' \
        "$COREDNS_VERSION" >"$dir/go.mod"
    {
        printf 'package main\n\nimport (\n\t"github.com/coredns/coredns/coremain"\n\n'
        for plugin in "${COREDNS_PLUGINS[@]}"; do
            printf '\t_ "github.com/coredns/coredns/plugin/%s"\n' "$plugin"
        done
        printf ')\n\nfunc main() { coremain.Run() }\n'
    } >"$dir/main.go"
    (cd "$dir" && "${NICE[@]}" go build -mod=mod -trimpath \
        -ldflags "-s -w -X github.com/coredns/coredns/coremain.GitCommit=$COREDNS_VERSION" -o "$BIN/coredns.tmp" .)
    mv "$BIN/coredns.tmp" "$BIN/coredns"
    stamp coredns "$COREDNS_VERSION"
}

build_pause() {
    local source="$ROOT/scripts/kind-node/pause.c" version
    version="$(sha256sum "$source" | cut -c1-12)"
    fresh pause "$version" && return 0
    log "pause (scripts/kind-node/pause.c)"
    command -v cc >/dev/null || { log "a C compiler (cc) is needed for pause"; exit 1; }
    cc -static -Os -s -o "$BIN/pause.tmp" "$source"
    mv "$BIN/pause.tmp" "$BIN/pause"
    stamp pause "$version"
}

build_etcd
build_helm
build_kubernetes
build_kind
build_containerd
build_crictl
build_cni
build_coredns
build_pause
log "ready in $BIN: etcd $ETCD_VERSION, kubernetes $K8S_VERSION, helm $HELM_VERSION, kind $KIND_VERSION," \
    "containerd $CONTAINERD_VERSION, crictl $CRI_TOOLS_VERSION, CNI plugins $CNI_PLUGINS_VERSION, coredns $COREDNS_VERSION"

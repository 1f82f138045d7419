#!/usr/bin/env bash
# Build the Kubernetes tools the k8s test tier runs: etcd, kube-apiserver,
# kube-controller-manager, kubectl and helm, at pinned versions, from their Go
# modules (no other download source is reachable here), into
# ${KOPFKA_CACHE:-~/.cache/kopfka}/bin.
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
# a wrapper as well; helm has none and is built with plain `go install`.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.36.3}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.8}"     # the etcd release k8s.io/kubernetes v1.36.3 is built against
HELM_VERSION="${HELM_VERSION:-v3.22.0}"
HELM_KUBE_MINOR=37                          # helm v3.22.0 is built with k8s.io/client-go v0.37

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

build_kubernetes() {
    local missing=0 name
    for name in kube-apiserver kube-controller-manager kubectl; do
        fresh "$name" "$K8S_VERSION" || missing=1
    done
    ((missing)) || return 0
    log "kube-apiserver, kube-controller-manager, kubectl $K8S_VERSION"
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
    (cd "$dir" && "${NICE[@]}" go build -mod=mod -trimpath -ldflags "$ldflags" -o "$dir/out/" \
        k8s.io/kubernetes/cmd/kube-apiserver \
        k8s.io/kubernetes/cmd/kube-controller-manager \
        k8s.io/kubernetes/cmd/kubectl)
    for name in kube-apiserver kube-controller-manager kubectl; do
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

build_etcd
build_helm
build_kubernetes
log "ready in $BIN: etcd $ETCD_VERSION, kubernetes $K8S_VERSION, helm $HELM_VERSION"

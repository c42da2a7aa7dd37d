#!/usr/bin/env bash
# Builds a Kubernetes control plane for the operator's tests from the Go
# module proxy (no other downloads): etcd, kube-apiserver,
# kube-controller-manager and kubectl of one release, plus helm; cached by
# version under $HOME/.cache/govchain/k8s/<version>/bin. Prints the bin dir.
#   scripts/k8s-bins.sh            (versions below; override with env)
set -euo pipefail
K8S_VERSION=${K8S_VERSION:-v1.36.3}
ETCD_VERSION=${ETCD_VERSION:-v3.5.35}
HELM_VERSION=${HELM_VERSION:-v3.19.0}
cache="$HOME/.cache/govchain/k8s/$K8S_VERSION-etcd$ETCD_VERSION-helm$HELM_VERSION"
bin="$cache/bin"
want=(etcd kube-apiserver kube-controller-manager kubectl helm)
have=1
for b in "${want[@]}"; do [ -x "$bin/$b" ] || have=0; done
if ((have)); then echo "$bin"; exit 0; fi
command -v go >/dev/null || { echo "k8s-bins.sh: go is required" >&2; exit 1; }
export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0
mkdir -p "$bin" "$cache/src"
log="$cache/build.log"
: >"$log"
step() { echo "k8s-bins.sh: $*" >&2; }

# kube-apiserver, kube-controller-manager, kubectl: a wrapper module with one
# replace per staging module of the release (the release's own go.mod
# points them at ./staging, which a module download does not have).
k8s="$cache/src/k8s"
mkdir -p "$k8s"
minor=${K8S_VERSION#v1.}
staging_version="v0.$minor"
minor_only=${minor%%.*}
mod=$(curl -fsS "https://proxy.golang.org/k8s.io/kubernetes/@v/$K8S_VERSION.mod")
{
    echo "module govchain.test/k8sbins"
    echo
    echo "go $(sed -n 's/^go //p' <<<"$mod" | head -1)"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#replace \1 => \1 '"$staging_version"'#p' <<<"$mod"
} >"$k8s/go.mod"
step "building kube-apiserver, kube-controller-manager, kubectl $K8S_VERSION (a few minutes the first time)"
(
    cd "$k8s"
    for cmd in kube-apiserver kube-controller-manager kubectl; do
        go get "k8s.io/kubernetes/cmd/$cmd@$K8S_VERSION" >>"$log" 2>&1
    done
    # The release's own build stamps the version; so does this, or clients
    # (and kubectl's skew check) would see v0.0.0-master.
    ver="-X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1"
    ver+=" -X k8s.io/component-base/version.gitMinor=$minor_only -X k8s.io/component-base/version.gitTreeState=clean"
    ver+=" -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1"
    ver+=" -X k8s.io/client-go/pkg/version.gitMinor=$minor_only"
    go build -trimpath -ldflags "-s -w $ver" -o "$bin/" \
        k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
        k8s.io/kubernetes/cmd/kubectl >>"$log" 2>&1
) || { tail -30 "$log" >&2; exit 1; }

# etcd: a three-line main around etcdmain.
step "building etcd $ETCD_VERSION"
e="$cache/src/etcd"
mkdir -p "$e"
cat >"$e/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
printf 'module govchain.test/etcd\n\ngo 1.23\n' >"$e/go.mod"
(
    cd "$e"
    go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >>"$log" 2>&1
    go mod tidy >>"$log" 2>&1
    go build -trimpath -ldflags "-s -w" -o "$bin/etcd" . >>"$log" 2>&1
) || { tail -30 "$log" >&2; exit 1; }

step "building helm $HELM_VERSION"
GOBIN="$bin" go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >>"$log" 2>&1 || { tail -30 "$log" >&2; exit 1; }
for b in "${want[@]}"; do [ -x "$bin/$b" ] || { echo "k8s-bins.sh: $b missing after the build" >&2; exit 1; }; done
echo "$bin"

#!/usr/bin/env bash
# Builds govchain's container images with podman: `FROM scratch` around
# static musl binaries (no registry can be reached, so no base image).
#   scripts/images.sh [--tag TAG] [COMPONENT...]
# COMPONENT is node, operator or api (default: each of them whose crate is in
# the workspace). Images are tagged govchain/<component>:<TAG>, TAG being the
# workspace version unless --tag is given:
#   node      govchain/node      /govchain-node      (crate govchain-node)
#   operator  govchain/operator  /govchain-operator  (crate govchain-operator)
#   api       govchain/api       /govchain           (crate govchain-cli)
# Binaries are built in release mode for x86_64-unknown-linux-musl in their
# own target dir ($GOVCHAIN_MUSL_TARGET_DIR, default
# $HOME/.cache/govchain/target-musl), so they never invalidate the ordinary
# build. Needs: rustup (the musl target is added when missing), musl-gcc
# (Debian musl-tools, installed when missing and root: ring and SQLite
# compile C), podman (scripts/podman.sh start installs it).
# Prints one line per image on stdout: `image=<ref> size=<bytes>`; progress
# and timings go to stderr.
set -euo pipefail
exec 3>&1 1>&2 # stdout carries only the result lines

die() { echo "images.sh: $*" >&2; exit 1; }

repo=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$repo"
target=x86_64-unknown-linux-musl
target_dir="${GOVCHAIN_MUSL_TARGET_DIR:-$HOME/.cache/govchain/target-musl}"

# The workspace version: [workspace.package] version in the root Cargo.toml.
version=$(awk '
    /^\[/ { in_pkg = ($0 == "[workspace.package]") }
    in_pkg && /^version[[:space:]]*=/ { gsub(/.*=[[:space:]]*"|".*/, ""); print; exit }
' Cargo.toml)
[[ -n $version ]] || die "no version in [workspace.package] of Cargo.toml"
tag=$version

components=()
while (($#)); do
    case "$1" in
        --tag) [[ $# -ge 2 ]] || die "--tag needs a value"; tag=$2; shift 2 ;;
        node | operator | api) components+=("$1"); shift ;;
        -h | --help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument '$1' (components: node, operator, api)" ;;
    esac
done

# component -> crate, binary
crate_of() { case "$1" in node) echo govchain-node ;; operator) echo govchain-operator ;; api) echo govchain-cli ;; esac; }
bin_of() { case "$1" in node) echo govchain-node ;; operator) echo govchain-operator ;; api) echo govchain ;; esac; }

members=$(cargo metadata --no-deps --format-version 1 --locked 2>/dev/null | tr ',' '\n' | sed -n 's/^{*"name":"\(govchain-[a-z-]*\)"$/\1/p') \
    || die "cargo metadata failed"
in_workspace() { grep -qx "$1" <<<"$members"; }

if ((${#components[@]} == 0)); then
    for c in node operator api; do
        if in_workspace "$(crate_of "$c")"; then components+=("$c"); else echo "images.sh: skipping $c (crate $(crate_of "$c") not in the workspace yet)"; fi
    done
else
    for c in "${components[@]}"; do
        in_workspace "$(crate_of "$c")" || die "component $c: crate $(crate_of "$c") is not in the workspace"
    done
fi
((${#components[@]})) || die "nothing to build"

command -v podman >/dev/null 2>&1 || die "podman not found; run scripts/podman.sh start (it installs podman)"
command -v strip >/dev/null 2>&1 || die "strip not found (Debian binutils)"
if ! rustup target list --installed | grep -qx "$target"; then
    echo "images.sh: rustup target add $target"
    rustup target add "$target" || die "rustup target add $target failed"
fi
if ! command -v musl-gcc >/dev/null 2>&1; then
    ((EUID == 0)) || die "musl-gcc missing and installing it needs root: apt-get install musl-tools"
    echo "images.sh: installing musl-tools"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq 3>&- || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends musl-tools 3>&- \
        || die "apt-get install musl-tools failed"
fi

# Variables cargo sets for a test that runs this script: ring's build script
# reruns when CARGO_MANIFEST_DIR changes, which would recompile the whole
# dependency tree on every switch between a shell and `cargo test`.
while IFS= read -r v; do unset "$v"; done < <(compgen -e \
    | grep -E '^(CARGO_(MANIFEST_|PKG_|CRATE_NAME|BIN_|PRIMARY_PACKAGE|TARGET_TMPDIR|RUSTC_CURRENT_DIR)|OUT_DIR$)' || true)

# One cargo invocation per binary: with several packages in one invocation
# cargo unifies their dependencies' features, so `node` alone and `node api`
# would compile different artifacts and evict each other from the cache.
for c in "${components[@]}"; do
    t0=$SECONDS
    echo "images.sh: building $(bin_of "$c") for $target (release) in $target_dir"
    CARGO_TARGET_DIR=$target_dir CC_x86_64_unknown_linux_musl=musl-gcc \
        cargo build --release --locked --target "$target" -p "$(crate_of "$c")" --bin "$(bin_of "$c")" \
        || die "cargo build of $(bin_of "$c") for $target failed"
    echo "images.sh: $(bin_of "$c") built in $((SECONDS - t0))s"
done

ctx_root=$(mktemp -d "${TMPDIR:-/tmp}/govchain-images.XXXXXX")
trap 'rm -rf "$ctx_root"' EXIT

for c in "${components[@]}"; do
    bin="$target_dir/$target/release/$(bin_of "$c")"
    [[ -x $bin ]] || die "$bin was not built"
    # A scratch image has no loader: refuse a dynamically linked binary here
    # rather than let the container fail with a bare "no such file".
    if LC_ALL=C readelf -l "$bin" 2>/dev/null | grep -q 'Requesting program interpreter'; then
        die "$bin is dynamically linked; a FROM scratch image needs a static binary"
    fi
    # The context holds only what the Containerfile copies: the binary and an
    # empty data directory (scratch has no mkdir).
    ctx="$ctx_root/$c"
    mkdir -p "$ctx/data"
    # Release builds keep line tables (for backtraces on a developer's
    # machine); the image drops them (91 -> 19 MiB for the node) but keeps
    # the symbols, so a panic's backtrace still names functions.
    strip --strip-debug -o "$ctx/$(bin_of "$c")" "$bin" || die "strip of $bin failed"
    ref="govchain/$c:$tag"
    t1=$SECONDS
    podman build --quiet --layers=false --pull=never -f "images/$c/Containerfile" \
        --label "org.opencontainers.image.version=$tag" -t "$ref" "$ctx" >/dev/null \
        || die "podman build of $ref failed"
    size=$(podman image inspect --format '{{.Size}}' "$ref") || die "cannot inspect $ref"
    echo "images.sh: $ref built in $((SECONDS - t1))s, $((size / 1024 / 1024)) MiB"
    echo "image=$ref size=$size" >&3
done

#!/usr/bin/env bash
# Starts a fresh chain on loopback, runs `govchain bench` against it with the
# given arguments, and stops it.
#   scripts/bench-local.sh [--suite gm|intl-k1|intl-r1] [--nodes N]
#                          [--consensus raft|hotstuff] [bench args...]
# One node (solo) by default; `--nodes N` (N > 1) creates a replicated chain
# (Raft unless `--consensus hotstuff`) of N nodes with `govchain net init`,
# runs each as a `govchain-node` process, benchmarks its leader (Raft) or its
# first node (HotStuff: every voter takes transactions and the leader
# rotates) and passes `--nodes N` on, so the ratio is against the verify
# limit of N nodes sharing this machine.
# PROFILE=release for release builds; BIN=dir runs the binaries in dir
# without building (NODE_BIN=dir takes govchain-node from another dir).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/govchain/target}"
profile=${PROFILE:-dev}
suite=gm
nodes=1
consensus=raft
args=()
while (($#)); do
    case "$1" in
        --suite) suite=$2; shift 2 ;;
        --nodes) nodes=$2; args+=(--nodes "$2"); shift 2 ;;
        --consensus) consensus=$2; shift 2 ;;
        *) args+=("$1"); shift ;;
    esac
done
if [ -z "${BIN:-}" ]; then
    cargo build -q --profile "$profile" -p govchain-node -p govchain-cli
    BIN="$CARGO_TARGET_DIR/$([ "$profile" = dev ] && echo debug || echo "$profile")"
fi
NODE_BIN=${NODE_BIN:-$BIN}
dir=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$dir"
}
trap cleanup EXIT

if [ "$nodes" -gt 1 ]; then
    # Loopback addresses and ports apart from the defaults and the tests.
    api=18600
    "$BIN/govchain" net init --nodes "$nodes" --suite "$suite" --consensus "$consensus" --out "$dir/net" \
        --chain-id bench --first-ip 201 --api-port "$api" --p2p-port 18700 >/dev/null
    for node in "$dir"/net/node*/; do
        RUST_LOG=warn "$NODE_BIN/govchain-node" run --config "$node/node.toml" >/dev/null 2>"$node/err" &
        pids+=($!)
    done
    # The node to load: the Raft leader, or any voter of a HotStuff chain.
    want='"role": *"leader"'
    [ "$consensus" = raft ] || want='"role": *"(leader|follower)"'
    url=
    for _ in $(seq 100); do
        for i in $(seq 0 $((nodes - 1))); do
            u="http://127.0.0.$((201 + i)):$api"
            if "$BIN/govchain" status --node "$u" 2>/dev/null | grep -Eq "$want"; then
                url=$u
                break 2
            fi
        done
        sleep 0.2
    done
    [ -n "$url" ] || { echo "no $consensus node ready to take transactions" >&2; exit 1; }
    echo "$consensus: loading $url" >&2
else
    "$NODE_BIN/govchain-node" init --out "$dir/node" --suite "$suite" --chain-id bench --listen 127.0.0.1:0 >/dev/null
    RUST_LOG=warn "$NODE_BIN/govchain-node" run --config "$dir/node/node.toml" >"$dir/out" 2>"$dir/err" &
    pid=$!
    pids+=("$pid")
    url=
    for _ in $(seq 100); do
        url=$(sed -n 's/.*url=\(http[^ ]*\).*/\1/p' "$dir/out")
        [ -n "$url" ] && break
        kill -0 "$pid" 2>/dev/null || { cat "$dir/err" >&2; exit 1; }
        sleep 0.1
    done
    [ -n "$url" ] || { echo "node did not start" >&2; cat "$dir/err" >&2; exit 1; }
fi
"$BIN/govchain" bench --node "$url" --suite "$suite" "${args[@]}"

#!/usr/bin/env bash
# Starts a fresh single-node chain on loopback, runs `govchain bench` against
# it with the given arguments, and stops the node.
#   scripts/bench-local.sh [--suite gm|intl-k1|intl-r1] [bench args...]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/govchain/target}"
profile=${PROFILE:-dev}
suite=gm
args=()
while (($#)); do
    case "$1" in
        --suite) suite=$2; shift 2 ;;
        *) args+=("$1"); shift ;;
    esac
done
cargo build -q --profile "$profile" -p govchain-node -p govchain-cli
bin="$CARGO_TARGET_DIR/$([ "$profile" = dev ] && echo debug || echo "$profile")"
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
"$bin/govchain-node" init --out "$dir/node" --suite "$suite" --chain-id bench --listen 127.0.0.1:0 >/dev/null
RUST_LOG=warn "$bin/govchain-node" run --config "$dir/node/node.toml" >"$dir/out" 2>"$dir/err" &
pid=$!
for _ in $(seq 100); do
    url=$(sed -n 's/.*url=\(http[^ ]*\).*/\1/p' "$dir/out")
    [ -n "$url" ] && break
    kill -0 "$pid" 2>/dev/null || { cat "$dir/err" >&2; exit 1; }
    sleep 0.1
done
[ -n "$url" ] || { echo "node did not start" >&2; cat "$dir/err" >&2; exit 1; }
"$bin/govchain" bench --node "$url" --suite "$suite" "${args[@]}"

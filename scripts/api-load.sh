#!/usr/bin/env bash
# A bounded load run against the control plane: starts `govchain up` on a
# fresh data directory (SQLite, or PostgreSQL with --database URL), runs the
# load example against it (organizations, users, concurrent clients on the
# main endpoints; p50/p95/p99 and each p95 against /healthz in the same
# run), then stops it.
#   scripts/api-load.sh [--database postgres://...] [--clients 200] [--seconds 10] [--orgs 10] [--users 20]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/govchain/target}"
profile=${PROFILE:-dev}
db=()
args=()
while (($#)); do
    case "$1" in
        --database) db=(--database "$2"); shift 2 ;;
        *) args+=("$1"); shift ;;
    esac
done
cargo build -q --profile "$profile" -p govchain-cli --bin govchain
cargo build -q --profile "$profile" -p govchain-api --example load
bin="$CARGO_TARGET_DIR/$([ "$profile" = dev ] && echo debug || echo "$profile")"
dir=$(mktemp -d)
password="Load-Test-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
trap 'kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
GOVCHAIN_ADMIN_PASSWORD="$password" RUST_LOG=warn \
    "$bin/govchain" up --data "$dir/data" --listen 127.0.0.1:0 "${db[@]}" >"$dir/out" 2>"$dir/err" &
pid=$!
url=
for _ in $(seq 300); do
    url=$(sed -n 's/^url=\(http[^ ]*\)$/\1/p' "$dir/out")
    [ -n "$url" ] && break
    kill -0 "$pid" 2>/dev/null || { cat "$dir/err" >&2; exit 1; }
    sleep 0.1
done
[ -n "$url" ] || { echo "govchain up did not start" >&2; cat "$dir/err" >&2; exit 1; }
"$bin/examples/load" --url "$url" --admin-password "$password" "${args[@]}"

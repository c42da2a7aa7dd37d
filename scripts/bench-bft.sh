#!/usr/bin/env bash
# Raft and HotStuff side by side: for each suite, a fresh 4-node chain of each
# engine on loopback under the same open-loop load (scripts/bench-local.sh),
# then one table with each run's throughput, latency and ratio to the verify
# limit measured in that run, and HotStuff's throughput as a share of Raft's.
#   scripts/bench-bft.sh [--suites gm,intl-r1] [--nodes 4] [--check] [bench args...]
# Defaults: --rate 1000 --duration 10. `--check` fails the run unless every
# HotStuff chain reaches 0.6 of Raft's throughput with a p99 commit latency
# under 100 ms (meaningful with PROFILE=release). BIN / PROFILE as for
# bench-local.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
suites=gm,intl-r1
nodes=4
check=
args=()
while (($#)); do
    case "$1" in
        --suites) suites=$2; shift 2 ;;
        --nodes) nodes=$2; shift 2 ;;
        --check) check=1; shift ;;
        *) args+=("$1"); shift ;;
    esac
done
[[ " ${args[*]} " == *" --rate "* ]] || args+=(--rate 1000)
[[ " ${args[*]} " == *" --duration "* ]] || args+=(--duration 10)

# One `workload=... tps=...` line per run; its fields by name.
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }

declare -A line
for suite in ${suites//,/ }; do
    for consensus in raft hotstuff; do
        echo "== $consensus, $suite, $nodes nodes" >&2
        out=$(scripts/bench-local.sh --suite "$suite" --nodes "$nodes" --consensus "$consensus" "${args[@]}")
        line[$suite/$consensus]=$(grep '^workload=' <<<"$out" | head -1)
        [ -n "${line[$suite/$consensus]}" ] || { echo "no result from $consensus on $suite" >&2; exit 1; }
        echo "${line[$suite/$consensus]}" >&2
    done
done

failed=0
echo "| suite | engine | tps | p50 ms | p99 ms | verify limit tx/s | ratio to limit | share of raft |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
for suite in ${suites//,/ }; do
    raft_tps=$(field "${line[$suite/raft]}" tps)
    for consensus in raft hotstuff; do
        l=${line[$suite/$consensus]}
        tps=$(field "$l" tps)
        p99=$(field "$l" p99_ms)
        share=$(awk -v a="$tps" -v b="$raft_tps" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
        echo "| $suite | $consensus | $tps | $(field "$l" p50_ms) | $p99 | $(field "$l" verify_limit_tps) | $(field "$l" ratio) | $share |"
        if [ "$consensus" = hotstuff ] && [ -n "$check" ]; then
            awk -v s="$share" -v p="$p99" 'BEGIN { exit !(s >= 0.6 && p < 100) }' || {
                echo "goal missed on $suite: share of raft $share (>= 0.6), p99 $p99 ms (< 100)" >&2
                failed=1
            }
        fi
    done
done
exit $failed

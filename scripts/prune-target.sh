#!/usr/bin/env bash
# Deletes superseded executables from a cargo deps directory. Every clone
# path and every change links its own test and bin executables (up to
# 3 GiB each), named <name>-<hash> without an extension; only the newest one
# built from the same source file (the first entry of its .d file, by its
# last three path components, so clones at other paths count as the same)
# is ever run again. Leftover codegen objects go too.
set -euo pipefail
deps=${1:?usage: prune-target.sh <target>/debug/deps}
[[ -d $deps ]] || exit 0
cd "$deps"
rm -f -- *.rcgu.o
find . -maxdepth 1 -type d -name "rmeta*" -exec rm -rf {} +
declare -A seen=()
while IFS= read -r f; do
    [[ $f == *.* || ! -f $f.d ]] && continue
    src=$(head -1 "$f.d" | awk '{print $2}')
    key="${f%-*} $(echo "$src" | awk -F/ '{print $(NF-3) "/" $(NF-2) "/" $(NF-1) "/" $NF}')"
    if [[ -n ${seen[$key]:-} ]]; then rm -f -- "$f" "$f.d"; else seen[$key]=1; fi
done < <(ls -t) # newest first

#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine of this kind.
# Idempotent: installs only what is missing; fails loudly when it cannot.
set -euo pipefail

need_apt=()
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
command -v cc >/dev/null 2>&1 || need_apt+=(build-essential)
# scripts/postgres.sh runs the server from here, not from PATH.
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need_apt+=(postgresql)
# The images are FROM scratch around static musl binaries (ring and SQLite
# need musl-gcc); podman and runc build and run them (scripts/podman.sh).
command -v musl-gcc >/dev/null 2>&1 || need_apt+=(musl-tools)
command -v podman >/dev/null 2>&1 || need_apt+=(podman)
command -v runc >/dev/null 2>&1 || need_apt+=(runc)
# The console's browser journeys (tests/): Debian's chromium driven by
# playwright-core from npm.
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v npm >/dev/null 2>&1 || need_apt+=(nodejs npm)
# A real Prometheus scrapes the platform and its nodes, and promtool checks
# the shipped rules (api/tests/it/prometheus.rs).
{ command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; } || need_apt+=(prometheus)
# A real SMTP server receives the alert e-mails (api/tests/it/alerts.rs);
# it runs under Debian's python3, whatever python3 a PATH finds first.
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null || need_apt+=(python3-aiosmtpd)
# A Chinese font, so the screenshots of the Chinese pages can be read.
{ command -v fc-list >/dev/null 2>&1 && fc-list :lang=zh | grep -q .; } || need_apt+=(fonts-wqy-microhei)

if ((${#need_apt[@]})); then
    echo "installing: ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need_apt[@]}"
fi

rustup target list --installed | grep -qx x86_64-unknown-linux-musl ||
    rustup target add x86_64-unknown-linux-musl
# The console's browser part (also listed in rust-toolchain.toml).
rustup target list --installed | grep -qx wasm32-unknown-unknown ||
    rustup target add wasm32-unknown-unknown

# The Solidity compiler (solc-js, pinned in contracts/js/package-lock.json),
# run through node by govchain-contracts and `govchain contract compile`.
solc_js="$(dirname "$0")/../contracts/js"
grep -qs '"version": "0.8.37"' "$solc_js/node_modules/solc/package.json" ||
    npm ci --prefix "$solc_js" --no-audit --no-fund

openssl version | grep -q '^OpenSSL 3' || { echo "OpenSSL 3 CLI required for interop tests" >&2; exit 1; }
/usr/bin/python3 -c 'import aiosmtpd' || { echo "python3-aiosmtpd is required for the alert tests" >&2; exit 1; }

#!/usr/bin/env bash
# A Docker-compatible engine for the tests: Debian podman + runc, and
# `podman system service` serving the Docker API on a unix socket.
#   scripts/podman.sh start   prints one line on stdout:
#       DOCKER_HOST=unix:///<cache>/govchain/podman/<clone>.sock
#   scripts/podman.sh env     prints the same line when the service runs
#                             (exit 1 when it does not)
#   scripts/podman.sh stop    stops the service this clone started
# Installs `podman` and `runc` when missing (needs root) and writes
# /etc/containers/containers.conf for machines of this kind: no default
# ulimits (the container runtime may not raise them here), cgroupfs instead of
# systemd (no systemd in a container), runc instead of crun. Idempotent: a
# second `start` reuses a running service. Everything but the final line goes
# to stderr; a non-zero exit always comes with a message.
set -euo pipefail
exec 3>&1 1>&2 # stdout carries only the result line

die() { echo "podman.sh: $*" >&2; exit 1; }

repo=$(cd "$(dirname "$0")/.." && pwd -P)
# One service per clone, so two clones on one machine do not stop each
# other's service.
state_dir="${XDG_CACHE_HOME:-$HOME/.cache}/govchain/podman"
id=$(printf %s "$repo" | sha256sum | cut -c1-12)
sock="$state_dir/$id.sock"
pidfile="$state_dir/$id.pid"
log="$state_dir/$id.log"
conf=/etc/containers/containers.conf

# The settings this machine kind needs; written only when they differ, so a
# hand-made config elsewhere is never touched silently (we say so).
want_conf='# Written by govchain scripts/podman.sh: settings for containers without
# systemd and without the right to raise ulimits.
[containers]
default_ulimits = []

[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"'

install_packages() {
    local need=()
    command -v podman >/dev/null 2>&1 || need+=(podman)
    command -v runc >/dev/null 2>&1 || need+=(runc)
    ((${#need[@]})) || return 0
    ((EUID == 0)) || die "${need[*]} missing and installing needs root: apt-get install ${need[*]}"
    echo "podman.sh: installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # fd 3 closed: package scripts may start daemons that would otherwise
    # keep a caller's $(scripts/podman.sh start) waiting for EOF.
    apt-get update -qq 3>&- || die "apt-get update failed"
    apt-get install -y -qq --no-install-recommends podman runc 3>&- || die "apt-get install ${need[*]} failed"
    command -v podman >/dev/null 2>&1 || die "podman not on PATH after install"
}

write_conf() {
    if [[ -f $conf ]] && [[ $(<"$conf") == "$want_conf" ]]; then return 0; fi
    ((EUID == 0)) || die "$conf must hold the settings below and writing it needs root:
$want_conf"
    if [[ -f $conf ]]; then
        cp "$conf" "$conf.govchain-backup"
        echo "podman.sh: replacing $conf (old one kept as $conf.govchain-backup)"
    fi
    mkdir -p "$(dirname "$conf")"
    printf '%s\n' "$want_conf" >"$conf"
}

running() {
    [[ -f $pidfile ]] || return 1
    local pid
    pid=$(<"$pidfile")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    # The pid must still be our service, not a recycled number.
    [[ -r /proc/$pid/cmdline ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "system service.*$sock" || return 1
    [[ -S $sock ]]
}

# GET /_ping on the socket answers OK when the Docker API is up.
ping() { podman --url "unix://$sock" version >/dev/null 2>&1; }

start() {
    local t0=$SECONDS
    install_packages
    write_conf
    mkdir -p "$state_dir"
    if running && ping; then
        echo "podman.sh: service already running (pid $(<"$pidfile"))"
        echo "DOCKER_HOST=unix://$sock" >&3
        return 0
    fi
    [[ ! -f $pidfile ]] || stop
    rm -f "$sock"
    # setsid: its own session, so a Ctrl-C of the caller does not stop it;
    # fds 0 and 3 closed so nobody waits on it.
    setsid podman system service --time=0 "unix://$sock" </dev/null >"$log" 2>&1 3>&- &
    echo $! >"$pidfile"
    local i
    for i in $(seq 1 100); do
        if ping; then
            echo "podman.sh: $(podman --version), Docker API on $sock ($((SECONDS - t0))s)"
            echo "DOCKER_HOST=unix://$sock" >&3
            return 0
        fi
        kill -0 "$(<"$pidfile")" 2>/dev/null || { tail -n 30 "$log" >&2; die "podman system service exited"; }
        sleep 0.1
    done
    tail -n 30 "$log" >&2
    stop || true
    die "the Docker API did not answer on $sock within 10 s"
}

stop() {
    if [[ ! -f $pidfile ]]; then
        echo "podman.sh: no service recorded for $repo"
        return 0
    fi
    if running; then
        local pid i
        pid=$(<"$pidfile")
        kill "$pid"
        for i in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" || true; fi
        echo "podman.sh: stopped service (pid $pid)"
    fi
    rm -f "$pidfile" "$sock"
}

env_line() {
    running && ping || die "no service running for $repo; run scripts/podman.sh start"
    echo "DOCKER_HOST=unix://$sock" >&3
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    env) env_line ;;
    *) die "usage: scripts/podman.sh start|stop|env" ;;
esac

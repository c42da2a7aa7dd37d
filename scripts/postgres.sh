#!/usr/bin/env bash
# A throwaway PostgreSQL server for the control plane's integration tests.
#   scripts/postgres.sh start   prints one line on stdout:
#       GOVCHAIN_TEST_PG=postgres://govchain:<password>@127.0.0.1:<port>/postgres
#   scripts/postgres.sh stop    stops it and deletes its data
# The role `govchain` has CREATEDB, so every test can make its own database.
# Uses Debian's `postgresql` package (installed when no initdb is found). The
# server listens only on 127.0.0.1, trades durability for speed (fsync=off),
# and runs as the `postgres` system user when started by root, because
# PostgreSQL refuses to run as root. Everything but the final line goes to
# stderr. Fails loudly: a non-zero exit always comes with a message.
set -euo pipefail
exec 3>&1 1>&2 # stdout carries only the result line

die() { echo "postgres.sh: $*" >&2; exit 1; }

repo=$(cd "$(dirname "$0")/.." && pwd -P)
# One server per clone, so two clones on one machine do not stop each
# other's server. The state file lives in the cache; the cluster itself lives
# under $TMPDIR, because $HOME (/root under CI) is 0700 and the `postgres`
# user could not reach a cluster there.
state_dir="${XDG_CACHE_HOME:-$HOME/.cache}/govchain/pg"
state="$state_dir/$(printf %s "$repo" | sha256sum | cut -c1-12).env"

# fd 3 is closed for the server: a daemon holding it open would keep a
# caller's $(scripts/postgres.sh start) waiting for EOF forever.
if ((EUID == 0)); then
    owner=postgres
    as_owner() { (cd / && runuser -u postgres -- "$@" 3>&-); }
else
    owner=$(id -un)
    as_owner() { (cd / && "$@" 3>&-); }
fi

# Newest installed major version; empty when none is installed.
find_bindir() {
    local initdb
    initdb=$(compgen -G '/usr/lib/postgresql/*/bin/initdb' | sort -V | tail -n 1 || true)
    [[ -n $initdb ]] && dirname "$initdb"
    return 0
}

install_postgresql() {
    ((EUID == 0)) || die "PostgreSQL is not installed and installing it needs root: apt-get install postgresql"
    echo "postgres.sh: installing Debian's postgresql package"
    export DEBIAN_FRONTEND=noninteractive
    # fd 3 closed: the package's scripts may start a daemon (see as_owner).
    apt-get update -qq 3>&- || die "apt-get update failed"
    apt-get install -y -qq postgresql 3>&- || die "apt-get install postgresql failed"
}

stop() {
    [[ -f $state ]] || { echo "postgres.sh: no server recorded for $repo"; return 0; }
    local dir bindir
    # shellcheck source=/dev/null
    source "$state"
    # The state file names the directory we delete: refuse anything we did
    # not make ourselves.
    [[ $dir == */govchain-pg.* ]] || die "state $state names an unexpected directory '$dir'; remove it by hand"
    if [[ ! -d $dir ]]; then # e.g. /tmp was cleared by a reboot
        rm -f "$state"
        echo "postgres.sh: $dir is already gone"
        return 0
    fi
    # Exit 0 means a server is running; 3 and 4 mean none is.
    if as_owner "$bindir/pg_ctl" status -D "$dir/data" >/dev/null 2>&1; then
        as_owner "$bindir/pg_ctl" stop -D "$dir/data" -m fast -w -t 60 \
            || die "pg_ctl stop failed; server log: $dir/server.log"
    fi
    mkdir -p "$state_dir"
    # Kept after the data is gone, for a look after a failed CI run.
    [[ ! -f $dir/server.log ]] || cp "$dir/server.log" "${state%.env}.log"
    rm -rf "$dir"
    rm -f "$state"
    echo "postgres.sh: stopped, removed $dir"
}

port_free() { ! (exec 4<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
    # Not local: the EXIT trap below reads $dir.
    local t0=$SECONDS bindir port= password url
    # A server left over from a run that died before `stop`.
    [[ ! -f $state ]] || stop

    bindir=$(find_bindir)
    if [[ -z $bindir ]]; then
        install_postgresql
        bindir=$(find_bindir)
        [[ -n $bindir ]] || die "installed postgresql but found no /usr/lib/postgresql/*/bin/initdb"
    fi
    id -u "$owner" >/dev/null 2>&1 || die "user '$owner' to run the server as does not exist"

    dir=$(mktemp -d "${TMPDIR:-/tmp}/govchain-pg.XXXXXX")
    mkdir -p "$state_dir"
    printf 'dir=%q\nbindir=%q\n' "$dir" "$bindir" >"$state"
    # From here on a failure must not leave a server or data behind.
    trap 'rc=$?; if ((rc)); then echo "postgres.sh: start failed, cleaning up" >&2; [[ ! -f $dir/server.log ]] || tail -n 30 "$dir/server.log" >&2; stop || true; fi' EXIT
    chown "$owner": "$dir"
    chmod 700 "$dir"

    # Local connections only through the socket in $dir (mode 0700, owner
    # only), so `trust` there admits nobody else; TCP needs the password.
    as_owner "$bindir/initdb" -D "$dir/data" -U postgres --encoding=UTF8 --locale=C \
        --auth-local=trust --auth-host=scram-sha-256 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log"; die "initdb failed"; }
    cat >>"$dir/data/postgresql.conf" <<EOF
# scripts/postgres.sh: a throwaway test server
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
unix_socket_permissions = 0700
max_connections = 300
fsync = off
synchronous_commit = off
full_page_writes = off
EOF

    # Another process may take the port between the check and the bind;
    # then the server fails to start and we try another port.
    local try candidate
    for try in 1 2 3 4 5 6 7 8; do
        candidate=$((15000 + RANDOM % 17000)) # below Linux's ephemeral range
        port_free "$candidate" || continue
        rm -f "$dir/server.log" # the owner writes it; judge only this attempt
        if as_owner "$bindir/pg_ctl" start -D "$dir/data" -l "$dir/server.log" \
            -o "-p $candidate" -w -t 60 >/dev/null; then
            port=$candidate
            break
        fi
        grep -q 'could not create any TCP/IP sockets' "$dir/server.log" \
            || die "pg_ctl start failed"
    done
    [[ -n $port ]] || die "found no free port for the server in $try tries"

    password=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
    as_owner "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d postgres \
        -c "CREATE ROLE govchain LOGIN CREATEDB PASSWORD '$password'" \
        || die "could not create role govchain"

    url="postgres://govchain:$password@127.0.0.1:$port/postgres"
    # Prove the URL the tests get works: TCP, password, CREATEDB.
    PGCONNECT_TIMEOUT=10 "$bindir/psql" -X -q -At -v ON_ERROR_STOP=1 "$url" \
        -c "SELECT rolcreatedb FROM pg_roles WHERE rolname = current_user" | grep -qx t \
        || die "cannot log in as govchain over TCP at 127.0.0.1:$port"

    trap - EXIT
    echo "postgres.sh: PostgreSQL $(basename "$(dirname "$bindir")") on 127.0.0.1:$port, data in $dir ($((SECONDS - t0))s)"
    echo "GOVCHAIN_TEST_PG=$url" >&3
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) die "usage: scripts/postgres.sh start|stop" ;;
esac

#!/usr/bin/env python3
"""Runs the workspace's tests in parallel lanes.

`cargo test --workspace` runs one test binary after another, and most of
ours spend their time waiting on real processes (clusters, kube-apiserver,
PostgreSQL, podman), so a second lane nearly halves the wall time on two
cores. This builds every test binary once (`cargo test --no-run`, the same
features as a plain `cargo test --workspace`), then runs them, longest
first by the durations of the previous run, in LANES lanes; the doctests
run as one more job. Tests that judge throughput against a capacity they
measure (ALONE) run after the lanes, with nothing beside them, since a
suite in the other lane would move the machine's capacity under them.
Each job's output goes to its own log; a failed job's log is printed at
the end and the exit status is 1.

    scripts/test-lanes.py [--lanes N] [--list] [-- extra cargo test args]

Env: TEST_LANES (default 2), TEST_LOGS (default $CARGO_TARGET_DIR/test-logs).
"""

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = str(Path(__file__).resolve().parent.parent)

# (test binary, test name filter): run alone after the lanes.
ALONE = [("govchain-cli:test:it", "overload::")]


def toolchain_env() -> dict[str, str]:
    """The environment `cargo test` gives a test: the toolchain of this
    checkout pinned (`RUSTUP_TOOLCHAIN`) and `CARGO`, so a test that builds
    a binary with cargo compiles every crate with this toolchain, also a
    dependency whose own rust-toolchain.toml names another one."""
    env = dict(os.environ)
    if "RUSTUP_TOOLCHAIN" in env and "CARGO" in env:
        return env
    try:
        cargo = subprocess.run(["rustup", "which", "cargo"], stdout=subprocess.PIPE,
                               text=True, check=True, cwd=ROOT).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return env
    env.setdefault("CARGO", cargo)
    env.setdefault("RUSTUP_TOOLCHAIN", Path(cargo).parent.parent.name)
    return env


def main() -> int:
    args = sys.argv[1:]
    lanes = int(os.environ.get("TEST_LANES", "2"))
    if args[:1] == ["--lanes"]:
        lanes, args = int(args[1]), args[2:]
    listing = args[:1] == ["--list"]
    if listing:
        args = args[1:]
    if args[:1] == ["--"]:
        args = args[1:]
    target = Path(os.environ.get("CARGO_TARGET_DIR", "target"))
    logs = Path(os.environ.get("TEST_LOGS", target / "test-logs"))
    logs.mkdir(parents=True, exist_ok=True)
    times_file = target / "test-times.json"
    # Before a first run has measured them: the suites known to be long.
    times = {"govchain-api:test:it": 600.0, "govchain-images:test:it": 320.0,
             "govchain-cli:test:it": 150.0, "govchain-operator:test:it": 100.0,
             "govchain-testenv:test:it": 30.0, "govchain-node:test:it": 30.0}
    try:
        times.update(json.loads(times_file.read_text()))
    except (OSError, ValueError):
        pass

    build = subprocess.run(
        ["cargo", "test", "--workspace", "--locked", "--no-run",
         "--message-format=json-render-diagnostics", *args],
        stdout=subprocess.PIPE, text=True,
    )
    if build.returncode != 0:
        print("test build failed", file=sys.stderr)
        return build.returncode
    jobs = []
    alone = []
    tenv = toolchain_env()
    for line in build.stdout.splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("reason") != "compiler-artifact" or not msg.get("executable"):
            continue
        if not msg.get("profile", {}).get("test"):
            continue
        target_info = msg["target"]
        manifest = Path(msg["manifest_path"])
        # path+file:///dir/name#version or path+file:///dir#name@version
        where, _, spec = msg["package_id"].partition("#")
        pkg = spec.split("@")[0] if "@" in spec else where.rstrip("/").rsplit("/", 1)[-1]
        kind = target_info["kind"][0]
        name = f"{pkg}:{kind}:{target_info['name']}"
        env = dict(tenv, CARGO_MANIFEST_DIR=str(manifest.parent), CARGO_PKG_NAME=pkg)
        filters = [f for (job, f) in ALONE if job == name]
        skips = [a for f in filters for a in ("--skip", f)]
        jobs.append((name, [msg["executable"], *skips], str(manifest.parent), env))
        for f in filters:
            alone.append((f"{name}:{f.rstrip(':')}", [msg["executable"], f], str(manifest.parent), env))
    jobs.append(("doctests", ["cargo", "test", "--workspace", "--locked", "--doc", *args], ROOT,
                 dict(os.environ)))
    jobs.sort(key=lambda j: -times.get(j[0], 5.0))
    if listing:
        for name, cmd, cwd, _ in jobs + alone:
            print(f"{times.get(name, '?'):>6}  {name}  {' '.join(cmd)}  (in {cwd})")
        return 0

    queue = list(jobs)
    lock = threading.Lock()
    failed: list[tuple[str, Path]] = []
    started = time.monotonic()

    def lane(queue: list) -> None:
        while True:
            with lock:
                if not queue:
                    return
                name, cmd, cwd, env = queue.pop(0)
            log = logs / (name.replace(":", "-").replace("/", "-") + ".log")
            t0 = time.monotonic()
            with open(log, "w") as out:
                code = subprocess.run(cmd, cwd=cwd, env=env, stdout=out,
                                      stderr=subprocess.STDOUT).returncode
            took = time.monotonic() - t0
            with lock:
                times[name] = round(took, 1)
                state = "ok" if code == 0 else f"FAILED (exit {code})"
                print(f"[{time.monotonic() - started:6.0f}s] {state:<16} {took:6.1f}s  {name}",
                      flush=True)
                if code != 0:
                    failed.append((name, log))

    threads = [threading.Thread(target=lane, args=(queue,)) for _ in range(max(1, lanes))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lane(list(alone))
    try:
        times_file.write_text(json.dumps(times, indent=1, sort_keys=True))
    except OSError:
        pass
    for name, log in failed:
        print(f"\n===== {name}: {log}", flush=True)
        sys.stdout.write(log.read_text(errors="replace")[-60000:])
    total = len(jobs) + len(alone)
    print(f"\n{total - len(failed)} of {total} test jobs passed "
          f"in {time.monotonic() - started:.0f}s ({lanes} lanes); logs in {logs}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

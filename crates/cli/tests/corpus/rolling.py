#!/usr/bin/env python3
"""A rolling upgrade: an old and a new plugin build on one LSU at once.

    python3 crates/cli/tests/corpus/rolling.py --old OLD_BIN --new NEW_BIN

OLD_BIN and NEW_BIN are release build folders (holding `vastost` and
`libstspiVastDataMT.so`), for instance the one `make.py --commit 0aa5641`
builds and this checkout's `target/release`. Over the NFS data path (a
temporary folder) and the S3 one (the new build's simulator), both builds
back up images into the same LSU at the same time; then each lists,
restores and verifies everything; then each reclaims (old first, then new,
then old again) and everything is restored again. It prints what each
build sees and exits non-zero if anything written was lost or damaged, or
if a build took another's image for damage it could act on.
"""

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
from pathlib import Path


def run(binary: Path, config: Path, server: str, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "VASTOST_CONFIG": str(config),
        "VASTOST_PLUGIN": str(binary.parent / "libstspiVastDataMT.so"),
        "VASTOST_SERVER": f"VastData:{server}",
        "VASTOST_LSU": "lsu1",
    }
    return subprocess.run([str(binary), *args], env=env, capture_output=True, text=True, check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--old", type=Path, required=True)
    parser.add_argument("--new", type=Path, required=True)
    parser.add_argument("--images", type=int, default=6, help="images each build backs up per data path")
    args = parser.parse_args()
    builds = {"old": args.old / "vastost", "new": args.new / "vastost"}
    work = Path(tempfile.mkdtemp(prefix="vastost-rolling-"))
    (work / "nfs" / "lsu1").mkdir(parents=True)
    sim = subprocess.Popen(
        [str(builds["new"]), "sim", "--data", str(work / "sim"), "--bucket", "lsu1", "--credentials-out", str(work / "keys")],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    endpoint = sim.stdout.readline().strip().removeprefix("s3 endpoint: ")
    config = work / "vastost.toml"
    config.write_text(
        f"""[plugin]
log_file = "{work}/plugin.log"

[server."nfs"]
data_path = "nfs"
directory = "{work / 'nfs'}"
fragment_size = "64KiB"

[server."s3"]
data_path = "s3"
endpoint = "{endpoint}"
credentials_file = "{work / 'keys'}"
lsus = ["lsu1"]
fragment_size = "64KiB"
"""
    )
    failures = []
    try:
        for server in ("nfs", "s3"):
            sources = {}
            running = []
            for who, binary in builds.items():
                for i in range(args.images):
                    name = f"{who}_{i}"
                    data = random.Random(f"{server}{name}").randbytes(100_000 + 70_001 * i)
                    src = work / f"{server}-{name}.bin"
                    src.write_bytes(data)
                    sources[name] = src
                    env = {
                        **os.environ,
                        "VASTOST_CONFIG": str(config),
                        "VASTOST_PLUGIN": str(binary.parent / "libstspiVastDataMT.so"),
                        "VASTOST_SERVER": f"VastData:{server}",
                        "VASTOST_LSU": "lsu1",
                    }
                    cmd = [str(binary), "backup", "--image", name, "--date", "1", "--input", str(src)]
                    running.append((name, subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)))
            for name, child in running:
                if child.wait() != 0:
                    failures.append(f"{server}: backup of {name} failed: {child.stderr.read()}")

            def views(stage: str) -> None:
                for who, binary in builds.items():
                    listed = run(binary, config, server, "images")
                    names = sorted(line.split()[0] for line in listed.stdout.splitlines()[1:] if line.strip())
                    verify = run(binary, config, server, "verify-lsu")
                    print(f"{server} {stage}: {who} lists {len(names)}: {' '.join(names)}")
                    print(f"{server} {stage}: {who} verify-lsu exit {verify.returncode}: {verify.stderr.strip().splitlines()[-1:]}")
                    for name, src in sources.items():
                        if who == "old" and name.startswith("new_"):
                            # Format 1 does not read format 2; it must not have changed it.
                            continue
                        out = work / "restored"
                        done = run(binary, config, server, "restore", "--image", name, "--date", "1", "--output", str(out))
                        if done.returncode != 0 or out.read_bytes() != src.read_bytes():
                            failures.append(f"{server} {stage}: {who} could not restore {name}: {done.stderr.strip()}")
                    if who == "new" and set(names) != set(sources):
                        failures.append(f"{server} {stage}: the new build lists {names}")

            views("after the backups")
            # Each deletes one of its own: reclaim then has something to free.
            for who in builds:
                done = run(builds[who], config, server, "delete", "--image", f"{who}_0", "--date", "1")
                if done.returncode != 0:
                    failures.append(f"{server}: {who} could not delete {who}_0: {done.stderr.strip()}")
                del sources[f"{who}_0"]
            for who in ("old", "new", "old"):
                # Format 1's reclaim had no --older-than.
                age = ["--older-than", "0s"] if who == "new" else []
                done = run(builds[who], config, server, "reclaim", "--grace", "0", *age)
                said = (done.stdout + done.stderr).strip().splitlines()
                print(f"{server}: reclaim by {who} exit {done.returncode}: {said[-1:] if said else ''}")
            views("after every reclaim")
    finally:
        sim.send_signal(signal.SIGINT)
        sim.wait()
    for f in failures:
        print("FAILED:", f)
    print("nothing lost" if not failures else f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Writes a compatibility corpus: small LSUs written by one release's plugin.

    python3 crates/cli/tests/corpus/make.py --commit 0aa5641 --format 1

builds the plugin and `vastost` of that commit (in a git worktree, release
profile), and has them write, over both data paths, the images a site has:
plain, checkpointed, copied, synthetic, deleted, deleted but still
referenced, crashed (a backup killed mid-way) and, from format 2 on, locked.
The NFS data path writes into `format-N/nfs/lsu1/`; the S3 data path writes
to bucket `lsu1` of a simulator (this checkout's `vastost sim`, built if
missing) whose data folder is `format-N/s3/`. `format-N/expected.json`
says what each image holds (length and CRC32C of its content, computed
here from the bytes given to the backup, never read back).

The corpus of a format, once checked in, is never regenerated: it is what
that release wrote. Only a new format gets a new folder.
"""

import argparse
import ctypes
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[3]
FRAGMENT = 16 * 1024


def crc32c(data: bytes) -> int:
    """CRC32C (Castagnoli), bit by bit: the corpus is small."""
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    crc = 0xFFFFFFFF
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def content(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def build(commit: str, work: Path) -> Path:
    """The release build of `commit`: the folder holding vastost and the plugin."""
    src = work / "src"
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "-f", str(src), commit], check=True)
    target = work / "target"
    subprocess.run(
        ["cargo", "build", "--release", "-p", "vastost", "-p", "vastost-plugin-mt"],
        cwd=src,
        env={**os.environ, "CARGO_TARGET_DIR": str(target)},
        check=True,
    )
    return target / "release"


def simulator() -> Path:
    """This checkout's `vastost`, for its simulator."""
    binary = REPO / "target" / "release" / "vastost"
    if not binary.exists():
        subprocess.run(["cargo", "build", "--release", "-p", "vastost"], cwd=REPO, check=True)
    return binary


class Release:
    """The release's `vastost` and plugin, with a configuration."""

    def __init__(self, bin_dir: Path, config: Path):
        self.vastost = bin_dir / "vastost"
        self.plugin = bin_dir / "libstspiVastDataMT.so"
        self.config = config

    def env(self, server: str) -> dict:
        return {
            **os.environ,
            "VASTOST_CONFIG": str(self.config),
            "VASTOST_PLUGIN": str(self.plugin),
            "VASTOST_SERVER": f"VastData:{server}",
            "VASTOST_LSU": "lsu1",
        }

    def run(self, server: str, *args: str, stdin: bytes | None = None) -> str:
        done = subprocess.run(
            [str(self.vastost), *args], env=self.env(server), input=stdin, capture_output=True, check=False
        )
        if done.returncode != 0:
            sys.exit(f"vastost {' '.join(args)} failed ({done.returncode}):\n{done.stderr.decode()}")
        return done.stdout.decode()


def checkpoint(release: Release, server: str, name: str, data: bytes) -> None:
    """Writes `data` into a new image and closes it incomplete (a
    checkpoint), through the C ABI, as a media server does; in a child
    process, so that each call loads the plugin afresh."""
    code = f"""
import ctypes, sys
lib = ctypes.CDLL({str(release.plugin)!r})
class Info(ctypes.Structure):
    _fields_ = [("v", ctypes.c_uint64), ("f", ctypes.c_uint32), ("a", ctypes.c_char * 256),
                ("b", ctypes.c_char * 256), ("c", ctypes.c_char * 256)]
class Lsu(ctypes.Structure):
    _fields_ = [("server", ctypes.c_void_p), ("name", ctypes.c_char * 256)]
class Def(ctypes.Structure):
    _fields_ = [("base", ctypes.c_char * 256), ("date", ctypes.c_char * 256)]
def ok(status, what):
    if status != 0:
        sys.exit(f"{{what}}: status {{status}}")
info = Info()
ok(lib.stspi_init(ctypes.c_uint64(11), {str(release.config).encode()!r}, ctypes.byref(info)), "init")
server = ctypes.c_void_p()
ok(lib.stspi_open_server(b"VastData:{server}", None, ctypes.byref(server)), "open_server")
lsu = Lsu(server, b"lsu1")
image = ctypes.c_void_p()
ok(lib.stspi_create_image(ctypes.byref(lsu), ctypes.byref(Def({name.encode()!r}, b"1")), 0, ctypes.byref(image)), "create")
data = sys.stdin.buffer.read()
written = ctypes.c_uint64()
ok(lib.stspi_write_image(image, None, data, ctypes.c_uint64(len(data)), ctypes.c_uint64(0), ctypes.byref(written)), "write")
ok(lib.stspi_close_image(image, 0), "close (checkpoint)")
ok(lib.stspi_close_server(server), "close_server")
ok(lib.stspi_terminate(), "terminate")
"""
    subprocess.run([sys.executable, "-c", code], input=data, check=True)


def crash(release: Release, server: str, name: str, data: bytes) -> None:
    """A backup killed (SIGKILL) after some of its data went out."""
    child = subprocess.Popen(
        [str(release.vastost), "backup", "--image", name, "--date", "1", "--input", "-", "--block", "4KiB"],
        env=release.env(server),
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    child.stdin.write(data)
    child.stdin.flush()
    time.sleep(2)
    child.send_signal(signal.SIGKILL)
    child.wait()


def scenario(release: Release, server: str, scratch: Path) -> dict:
    """Writes every kind of image into LSU lsu1 of `server`; returns what
    each holds."""
    expected = {}

    def backup(name: str, seed: int, size: int) -> bytes:
        data = content(seed, size)
        source = scratch / f"{server}-{name}.bin"
        source.write_bytes(data)
        release.run(server, "backup", "--image", name, "--date", "1", "--input", str(source))
        return data

    plain = backup("plain", 1, 3 * FRAGMENT + 1001)
    expected["plain"] = {"state": "complete", "data": plain}
    backup("small", 2, 700)
    expected["small"] = {"state": "complete", "data": content(2, 700)}
    ckpt = content(3, 2 * FRAGMENT)
    checkpoint(release, server, "checkpointed", ckpt)
    expected["checkpointed"] = {"state": "pending", "data": ckpt}
    release.run(server, "copy", "--image", "plain", "--date", "1", "--to-image", "copied")
    expected["copied"] = {"state": "complete", "data": plain}
    # A synthetic image of ranges of two images (512-byte multiples).
    release.run(
        server,
        "synth",
        "--image",
        "synthetic",
        "--date",
        "1",
        "--from",
        "plain:0:16384",
        "--from",
        "copied:32768:8192",
    )
    expected["synthetic"] = {"state": "complete", "data": plain[:16384] + plain[32768 : 32768 + 8192], "synthetic": True}
    backup("deleted", 4, FRAGMENT + 512)
    release.run(server, "delete", "--image", "deleted", "--date", "1")
    expected["deleted"] = {"state": "gone"}
    shared = backup("deleted_shared", 5, 2 * FRAGMENT)
    release.run(server, "copy", "--image", "deleted_shared", "--date", "1", "--to-image", "holds_deleted")
    release.run(server, "delete", "--image", "deleted_shared", "--date", "1")
    expected["deleted_shared"] = {"state": "gone"}
    expected["holds_deleted"] = {"state": "complete", "data": shared}
    crash(release, server, "crashed", content(6, 3 * FRAGMENT))
    expected["crashed"] = {"state": "pending"}
    return summary(expected)


def summary(expected: dict) -> dict:
    """What expected.json says of each image: the content's length and
    CRC32C instead of the content."""
    out = {}
    for name, e in expected.items():
        entry = {k: v for k, v in e.items() if k != "data"}
        if "data" in e:
            entry["length"] = len(e["data"])
            entry["crc32c"] = crc32c(e["data"])
        out[name] = entry
    return out


def locked_scenario(release: Release, scratch: Path) -> dict:
    """Images locked (WORM) in an Object Lock bucket (format 2 on)."""
    data = content(7, FRAGMENT + 4096)
    source = scratch / "locked.bin"
    source.write_bytes(data)
    env = {**release.env("worm"), "VASTOST_LSU": "worm1"}
    for args in (
        ["backup", "--image", "locked", "--date", "1", "--input", str(source)],
        ["lock", "--image", "locked", "--date", "1", "--for", "100y"],
    ):
        subprocess.run([str(release.vastost), *args], env=env, check=True)
    return summary({"locked": {"state": "complete", "data": data, "locked": True}})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commit", required=True, help="the release commit to build")
    parser.add_argument("--format", type=int, required=True, help="the stored format it writes")
    parser.add_argument("--bin", type=Path, help="an existing release build of that commit (skips the build)")
    args = parser.parse_args()
    dest = HERE / f"format-{args.format}"
    if dest.exists():
        sys.exit(f"{dest} exists: a corpus is written once per format")
    work = Path(tempfile.mkdtemp(prefix="vastost-corpus-"))
    bin_dir = args.bin or build(args.commit, work)
    sim_bin = simulator()
    (dest / "nfs" / "lsu1").mkdir(parents=True)
    s3_data = dest / "s3"
    keys = work / "keys.toml"
    sim = subprocess.Popen(
        [str(sim_bin), "sim", "--data", str(s3_data), "--bucket", "lsu1", "--credentials-out", str(keys)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    endpoint = sim.stdout.readline().strip().removeprefix("s3 endpoint: ")
    config = work / "vastost.toml"
    worm = ""
    if args.format >= 2:
        # An Object Lock bucket, made by an S3 client nobody here wrote.
        aws = ["aws", "--endpoint-url", endpoint, "s3api", "create-bucket", "--bucket", "worm1"]
        creds = dict(line.split(" = ") for line in keys.read_text().splitlines() if " = " in line)
        subprocess.run(
            aws + ["--object-lock-enabled-for-bucket"],
            env={
                **os.environ,
                "AWS_ACCESS_KEY_ID": creds["access_key"].strip('"'),
                "AWS_SECRET_ACCESS_KEY": creds["secret_key"].strip('"'),
                "AWS_DEFAULT_REGION": "us-east-1",
            },
            check=True,
            stdout=subprocess.DEVNULL,
        )
        worm = f"""
[server."worm"]
data_path = "s3"
endpoint = "{endpoint}"
credentials_file = "{keys}"
lsus = ["worm1"]
fragment_size = "16KiB"
worm_mode = "governance"
worm_min_secs = 60
worm_max_secs = 4000000000
"""
    config.write_text(
        f"""[plugin]
log_file = "{work}/plugin.log"
log_level = "debug"

[server."nfs"]
data_path = "nfs"
directory = "{dest / 'nfs'}"
fragment_size = "16KiB"

[server."s3"]
data_path = "s3"
endpoint = "{endpoint}"
credentials_file = "{keys}"
lsus = ["lsu1"]
fragment_size = "16KiB"
{worm}"""
    )
    release = Release(bin_dir, config)
    try:
        expected = {
            "commit": args.commit,
            "format": args.format,
            "fragment_size": FRAGMENT,
            "version": subprocess.run([str(release.vastost), "--version"], capture_output=True, text=True).stdout.strip(),
            "nfs": scenario(release, "nfs", work),
            "s3": scenario(release, "s3", work),
        }
        if args.format >= 2:
            expected["s3_worm"] = locked_scenario(release, work)
    finally:
        sim.send_signal(signal.SIGINT)
        sim.wait()
    shutil.rmtree(s3_data / ".staging", ignore_errors=True)
    (dest / "expected.json").write_text(json.dumps(expected, indent=2, sort_keys=True) + "\n")
    print(f"corpus of format {args.format} written to {dest}")


if __name__ == "__main__":
    main()

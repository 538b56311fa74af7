"""Making bad recordings from a good one, and running the CLI on them in-process.

Shared by the corpus test (test_reliability_recording.py) and the fuzz test
(unit/test_recording_fuzz.py)."""
from __future__ import annotations

import contextlib
import io
import json
import os
import re
import struct
import subprocess
import sys
import zipfile
import zlib

import numpy as np

from pcrun import env_for

TINY_SCRIPT = "def f():\n    return sum(i * i for i in range(100000))\nfor _ in range(3):\n    f()\n"


def make_real_recording(directory: str, unconverted: bool = False) -> str:
    """A small recording of a real run (`unconverted`: as `run -q` saves it, else converted, the
    format the mutations here know); a synthetic one where the sampler is not built."""
    path = os.path.join(directory, "good-unconverted.pcarbon" if unconverted else "good.pcarbon")
    raw = os.path.join(directory, "raw.pcarbon")
    script = os.path.join(directory, "tiny.py")
    with open(script, "w") as f:
        f.write(TINY_SCRIPT)
    r = subprocess.run([sys.executable, "-m", "pyprof_carbon", "run", "-q", "--baseline", "0.05", "-o", raw,
                        script], env=env_for(), capture_output=True, text=True, timeout=120)
    if r.returncode != 0 or not os.path.exists(raw):
        if unconverted:
            raise RuntimeError(f"run -q failed: {r.stderr[-500:]}")
        from synthetic import recording
        recording(n_samples=200).save(path)
        return path
    if unconverted:
        os.rename(raw, path)
    else:
        from pyprof_carbon.journal import load_any
        load_any(raw).save(path)
    return path


def members(path: str) -> dict:
    """name -> raw bytes of each member."""
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist()}


def write_members(path: str, items: dict) -> str:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in items.items():
            z.writestr(name, data)
    return path


def npy(arr) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.asarray(arr), allow_pickle=False)
    return buf.getvalue()


def load_npy(data: bytes) -> np.ndarray:
    return np.load(io.BytesIO(data), allow_pickle=False)


def json_member(obj) -> bytes:
    return npy(np.frombuffer(json.dumps(obj).encode(), np.uint8))


def read_json_member(data: bytes):
    return json.loads(load_npy(data).tobytes())


def npy_header_claiming(n: int, dtype: str = "<i8") -> bytes:
    """An npy file whose header claims `n` elements but carries only a few bytes of data."""
    header = repr({"descr": dtype, "fortran_order": False, "shape": (n,)}).encode()
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + bytes(64)


def zip_bomb(path: str, member: str = "s_t_ns.npy", gib: int = 2) -> str:
    """A valid zip whose one member really inflates to `gib` GiB (a valid npy of int64 zeros):
    the deflate stream is a 16 MiB block of zeros compressed once and repeated, since blocks ending
    in a full flush are byte-aligned and independent. About 2 MB on disk (deflate tops out near 1032:1)."""
    n = (gib << 30) // 8
    header = npy_header_claiming(n)[:-64]
    chunk = 1 << 24
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = co.compress(header) + co.flush(zlib.Z_FULL_FLUSH)
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = co.compress(bytes(chunk)) + co.flush(zlib.Z_FULL_FLUSH)
    reps = n * 8 // chunk
    stream = head + block * reps + b"\x03\x00"  # \x03\x00: an empty final block
    size = len(header) + reps * chunk
    crc = zlib.crc32(header)
    zeros = bytes(chunk)
    for _ in range(reps):
        crc = zlib.crc32(zeros, crc)
    name = member.encode()
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0x21, crc, len(stream), size, len(name), 0)
    central = struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 8, 0, 0x21, crc, len(stream), size,
                          len(name), 0, 0, 0, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(local + name + stream)
        cd_offset = f.tell()
        f.write(central + name)
        f.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(central) + len(name), cd_offset, 0))
    return path


def cli(argv) -> tuple:
    """(exit status, stdout, stderr) of pyprof_carbon.cli.main(argv) in this process. An exception
    escaping main is what a user would see as a traceback: it propagates (the test fails)."""
    from pyprof_carbon import cli as cli_mod
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = cli_mod.main(list(argv))
        except SystemExit as e:  # argparse
            rc = e.code
    return rc, out.getvalue(), err.getvalue()


def assert_ok_or_invalid(result, *paths) -> bool:
    """The command succeeded, or it failed with exactly the one line naming a bad file, exit 2.
    Returns True when it failed that way."""
    rc, out, err = result
    if rc == 0:
        assert "Traceback" not in err, err
        return False
    names = "|".join(re.escape(p) for p in paths)
    assert rc == 2, (rc, err)
    assert re.fullmatch(rf"pyprof-carbon: error: ({names}) is not a valid pyprof-carbon recording: [^\n]+\n",
                        err), err
    return True


def refused(path, good, why=None):
    """Every command that reads a recording (report text and json, diff on either side, against
    the good recording `good`) refuses `path` with the one line; returns the reason."""
    lines = []
    for argv in (["report", path, "--format", "text"], ["report", path, "--format", "json"],
                 ["diff", good, path], ["diff", path, good]):
        res = cli(argv)
        assert assert_ok_or_invalid(res, path), f"{argv} accepted a bad file"
        lines.append(res[2])
    reason = lines[0].split("recording: ", 1)[1].strip()
    if why:
        assert why in reason, reason
    return reason

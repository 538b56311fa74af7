"""The stream each profiled process writes while it runs (`proc-PID.stream` in the run's working
directory), and its reader.

A stream is a sequence of chunks, each self-describing and checksummed so that a process killed
mid-write leaves a readable prefix:

    b"PCS1" | payload length (u32, little-endian) | CRC-32 of the payload (u32, zlib's) | payload

The payload is a `marshal`led dict (the writer is `_boot/sitecustomize.py`, inside the program's
interpreter, where nothing but builtins may be imported). In order:

    {"process": {pid, ppid, argv, how, start_unix_s, python}}   how: first | exec | fork
    {"engine": "perf"}                                          once sampling runs
    {"results": RAW, "thread_names": {tid: name}}               every 50 ms
    {"results": RAW, "thread_names": ..., "regions": [...], "end": True}   at the process's exit
    {"error": "why sampling could not start", "end": True}      instead of the above

RAW is what `_native.Collector.raw_results()` returns: the samples, stacks, locations, code
objects and counter ticks that the previous parts did not hold (arrays as bytes; ids continue
across parts). A stream without its `end` chunk belongs to a process that exited without exit work
(os._exit, SIGKILL, a pool worker): everything up to its last complete chunk is kept.
"""
from __future__ import annotations

import dataclasses
import marshal
import os
import zlib
from typing import Dict, List, Optional

from ._lazy import numpy as np

MAGIC = b"PCS1"
HEADER = 12
MAX_CHUNK = 1 << 30  # a larger length is a corrupt header, not a chunk


def stream_name(pid: int) -> str:
    """A process's stream file in the run's working directory (the bootstrap, which may import
    nothing of ours, writes the same name)."""
    return f"proc-{pid}.stream"


def is_stream_name(name: str) -> bool:
    return name.startswith("proc-") and name.endswith(".stream")


@dataclasses.dataclass
class ProcessStream:
    process: dict
    engine: Optional[str] = None
    error: Optional[str] = None
    parts: List[dict] = dataclasses.field(default_factory=list)
    thread_names: Dict[int, str] = dataclasses.field(default_factory=dict)
    regions: list = dataclasses.field(default_factory=list)
    complete: bool = False  # the process's exit work ran (its last chunk is there)
    damaged: str = ""       # why reading stopped before the end of the file, if it did

    @property
    def pid(self) -> int:
        return int(self.process.get("pid", 0))


def encode(chunk: dict) -> bytes:
    """One chunk as written (the profiler's own stream and the privileged helper's pipe; the
    bootstrap, which may import nothing of ours, frames its chunks the same way)."""
    payload = marshal.dumps(chunk)
    return MAGIC + len(payload).to_bytes(4, "little") + zlib.crc32(payload).to_bytes(4, "little") + payload


def decode(data: bytes, pos: int = 0):
    """(the chunks in `data` from `pos` up to the first short, damaged or undecodable one, the
    position after the last good one, why reading stopped early or "")."""
    chunks, damaged = [], ""
    while pos < len(data):
        head = data[pos:pos + HEADER]
        if len(head) < HEADER or head[:4] != MAGIC:
            damaged = "a chunk header is cut short" if len(head) < HEADER else "a chunk has no valid header"
            break
        size, crc = int.from_bytes(head[4:8], "little"), int.from_bytes(head[8:12], "little")
        payload = data[pos + HEADER:pos + HEADER + size]
        if size > MAX_CHUNK or len(payload) < size:
            damaged = "the last chunk is cut short"
            break
        if zlib.crc32(payload) != crc:
            damaged = "a chunk fails its checksum"
            break
        try:
            chunk = marshal.loads(payload)
        except (EOFError, ValueError, TypeError):
            damaged = "a chunk cannot be decoded"
            break
        if not isinstance(chunk, dict):
            damaged = "a chunk is not a record"
            break
        chunks.append(chunk)
        pos += HEADER + size
    return chunks, pos, damaged


class Tail:
    """The chunks appended to a growing stream file since the last call (a writer's chunk not yet
    complete is read next time): a long run's stream is read once, not again at every look."""

    def __init__(self, path: str):
        self.path, self.pos = path, 0

    def new_chunks(self) -> List[dict]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                data = f.read()
        except OSError:  # not created yet
            return []
        chunks, end, _ = decode(data)
        self.pos += end
        return chunks


def read(path: str) -> Optional[ProcessStream]:
    """The stream in `path` up to its last complete, intact chunk; None when not even the process
    header is there (the process died at its first instant)."""
    with open(path, "rb") as f:
        data = f.read()
    chunks, _, damaged = decode(data)
    if not chunks or not isinstance(chunks[0].get("process"), dict):
        return None
    s = ProcessStream(process=chunks[0]["process"], damaged=damaged)
    for c in chunks[1:]:
        if "engine" in c:
            s.engine = c["engine"]
        if "error" in c:
            s.error = str(c["error"])
        if isinstance(c.get("results"), dict):
            s.parts.append(c["results"])
        if isinstance(c.get("thread_names"), dict):
            s.thread_names.update(c["thread_names"])
        if isinstance(c.get("regions"), list):
            s.regions = c["regions"]
        if c.get("end"):
            s.complete = True
    return s


def read_all(workdir: str) -> List[ProcessStream]:
    """Every process's stream in a run's working directory, in the order the processes started."""
    streams = []
    for name in os.listdir(workdir):
        if is_stream_name(name):
            s = read(os.path.join(workdir, name))
            if s is not None:
                streams.append(s)
    streams.sort(key=lambda s: (s.process.get("how") != "first", s.process.get("start_unix_s", 0.0), s.pid))
    return streams


def joined(parts: List[dict]) -> Optional[dict]:
    """The parts of one process's results as one (what a single raw_results() at the end would
    have returned); None when there are none."""
    if not parts:
        return None
    out = dict(parts[-1])  # threads, stats, nsources: cumulative, the last part's are the run's
    for key in ("t_ns", "cpu_ns", "tid", "cpu", "stack", "nvcsw", "native", "stack_locs", "loc_code", "loc_lasti", "loc_line",
                "tick_t_ns", "tick_raw", "child_t_ns", "child_pid", "child_cpu_ns"):
        out[key] = b"".join(p[key] for p in parts)
    offsets, flat = [np.zeros(1, np.int64)], 0
    for p in parts:
        part = np.frombuffer(p["stack_offsets"], dtype=np.int64)
        offsets.append(part[1:] + flat)
        flat += int(part[-1]) if len(part) else 0
    out["stack_offsets"] = np.concatenate(offsets).tobytes()
    for key in ("codes", "spawns", "children"):
        out[key] = [c for p in parts for c in p[key]]
    return out

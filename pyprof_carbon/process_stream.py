"""The stream each profiled process writes while it runs (`proc-PID.stream` in the run's working
directory), and its reader.

A stream is a sequence of chunks, each self-describing and checksummed so that a process killed
mid-write leaves a readable prefix:

    b"PCS1" | payload length (u32, little-endian) | CRC-32 of the payload (u32, zlib's) | payload

The payload is a `marshal`led dict (the writer is `_boot/sitecustomize.py`, inside the program's
interpreter, where nothing but builtins may be imported; `_native.write_chunk` frames and writes
it, csrc/module.cpp). In order:

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

import array
import dataclasses
import marshal
import os
import zlib
from typing import Dict, List, Optional


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
    parts: List[dict] = dataclasses.field(default_factory=list)  # its results; read() joins them into one
    thread_names: Dict[int, str] = dataclasses.field(default_factory=dict)
    regions: list = dataclasses.field(default_factory=list)
    complete: bool = False  # the process's exit work ran (its last chunk is there)
    damaged: str = ""       # why reading stopped before the end of the file, if it did

    @property
    def pid(self) -> int:
        return int(self.process.get("pid", 0))


def encode(chunk: dict) -> bytes:
    """One chunk as written (the journal, the privileged helper's pipe; the bootstrap, which may
    import nothing of ours, frames its chunks the same way in _native.write_chunk)."""
    payload = marshal.dumps(chunk)
    return MAGIC + len(payload).to_bytes(4, "little") + zlib.crc32(payload).to_bytes(4, "little") + payload


def _chunk(head: bytes, payload: bytes):
    """(the chunk framed by `head` and `payload`, or None, why it is not one or "")."""
    if len(head) < HEADER or head[:4] != MAGIC:
        return None, "a chunk header is cut short" if len(head) < HEADER else "a chunk has no valid header"
    size, crc = int.from_bytes(head[4:8], "little"), int.from_bytes(head[8:12], "little")
    if size > MAX_CHUNK or len(payload) < size:
        return None, "the last chunk is cut short"
    if zlib.crc32(payload) != crc:
        return None, "a chunk fails its checksum"
    try:
        chunk = marshal.loads(payload)
    except (EOFError, ValueError, TypeError):
        return None, "a chunk cannot be decoded"
    if not isinstance(chunk, dict):
        return None, "a chunk is not a record"
    return chunk, ""


def _size(head: bytes) -> int:
    return min(int.from_bytes(head[4:8], "little"), MAX_CHUNK + 1) if len(head) == HEADER else 0


def decode(data: bytes, pos: int = 0):
    """(the chunks in `data` from `pos` up to the first short, damaged or undecodable one, the
    position after the last good one, why reading stopped early or "")."""
    chunks, damaged = [], ""
    while pos < len(data):
        head = data[pos:pos + HEADER]
        size = _size(head)
        chunk, damaged = _chunk(head, data[pos + HEADER:pos + HEADER + size])
        if chunk is None:
            break
        chunks.append(chunk)
        pos += HEADER + size
    return chunks, pos, damaged


def _file_chunks(f, damaged: list):
    """The chunks of open stream file `f`, read one at a time (a long run's stream is never
    held whole in memory); why reading stopped early is appended to `damaged`."""
    while True:
        head = f.read(HEADER)
        if not head:
            return
        size = _size(head)
        chunk, why = _chunk(head, f.read(size) if size <= MAX_CHUNK else b"")  # a corrupt length: not read
        if chunk is None:
            damaged.append(why)
            return
        yield chunk


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


def read(path: str, add_results=None) -> Optional[ProcessStream]:
    """The stream in `path` up to its last complete, intact chunk; None when not even the process
    header is there (the process died at its first instant). Its results parts are joined as they
    are read (`parts` holds one): a run's samples are in memory once, as compact arrays' bytes.
    `add_results`: a callable that takes each results part as it is read instead (`parts` then
    stays empty; unconverted.save writes them out as they come)."""
    damaged: list = []
    with open(path, "rb") as f:
        chunks = _file_chunks(f, damaged)
        first = next(chunks, None)
        if first is None or not isinstance(first.get("process"), dict):
            return None
        s = ProcessStream(process=first["process"])
        results = Joiner()
        for c in chunks:
            if "engine" in c:
                s.engine = c["engine"]
            if "error" in c:
                s.error = str(c["error"])
            if isinstance(c.get("results"), dict):
                (add_results or results.add)(c["results"])
            if isinstance(c.get("thread_names"), dict):
                s.thread_names.update(c["thread_names"])
            if isinstance(c.get("regions"), list):
                s.regions = c["regions"]
            if c.get("end"):
                s.complete = True
    s.damaged = damaged[0] if damaged else ""
    s.parts = [results.out] if results.out is not None else []
    return s


def stream_paths(workdir: str) -> List[str]:
    """The stream files in a run's working directory, in the order their processes started (the
    program's own first); a file without even its process header is left out."""
    found = []
    for name in os.listdir(workdir):
        if is_stream_name(name):
            path = os.path.join(workdir, name)
            with open(path, "rb") as f:
                first = next(_file_chunks(f, []), None)
            if first is not None and isinstance(first.get("process"), dict):
                p = first["process"]
                found.append(((p.get("how") != "first", p.get("start_unix_s", 0.0), p.get("pid", 0)), path))
    return [path for _, path in sorted(found)]


def read_all(workdir: str) -> List[ProcessStream]:
    """Every process's stream in a run's working directory, in the order the processes started."""
    return [s for s in map(read, stream_paths(workdir)) if s is not None]


CONCATENATED = ("t_ns", "cpu_ns", "tid", "cpu", "stack", "nvcsw", "native", "stack_locs", "loc_code", "loc_lasti",
                "loc_line", "tick_t_ns", "tick_raw", "child_t_ns", "child_pid", "child_cpu_ns")
LISTS = ("codes", "spawns", "children")


class Joiner:
    """The parts of one process's results folded into one as they come (`out`: what a single
    raw_results() at the end would have returned; None before the first part). Arrays grow in
    place (bytearrays), so a part is dropped once added: the whole is held once, not also as its
    parts. A single part is kept as it is, uncopied."""

    def __init__(self):
        self.out: Optional[dict] = None
        self._flat = 0  # stack locations so far: where the next part's stack offsets start
        self._owned = False  # out's arrays and lists are ours to grow (not the first part's)
        self.nbytes = 0  # of out's arrays

    def add(self, part: dict) -> None:
        # int64 in the machine's order, as the collector wrote them (not numpy: a run saved
        # unconverted reads its streams without it, unconverted.py)
        offsets = memoryview(part["stack_offsets"]).cast("q")
        flat = int(offsets[-1]) if len(offsets) else 0
        self.nbytes += sum(len(part[key]) for key in CONCATENATED) + len(part["stack_offsets"])
        if self.out is None:
            self.out, self._flat = dict(part), flat
            return
        out = self.out
        for key, value in part.items():  # threads, stats, nsources: cumulative, the last part's are the run's
            if key not in CONCATENATED and key not in LISTS and key != "stack_offsets":
                out[key] = value
        if not self._owned:  # the first part's own objects are not grown: copies, once
            self._owned = True
            for key in (*CONCATENATED, "stack_offsets"):
                out[key] = bytearray(out[key])
            for key in LISTS:
                out[key] = list(out[key])
        for key in CONCATENATED:
            out[key] += part[key]
        out["stack_offsets"] += array.array("q", [o + self._flat for o in offsets[1:]]).tobytes()
        self._flat += flat
        for key in LISTS:
            out[key].extend(part[key])


def joined(parts: List[dict]) -> Optional[dict]:
    """The parts of one process's results as one (Joiner); None when there are none."""
    j = Joiner()
    for p in parts:
        j.add(p)
    return j.out

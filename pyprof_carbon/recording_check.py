"""Reading a recording file as untrusted input: every member, type, shape, index and counter is
checked before anything downstream sees it, and sizes are checked before anything is inflated.

A recording may come from another machine, a truncated copy or a hostile sender, and it is read
by commands that print numbers people act on. So a bad file must end in one clear `Invalid`
(recording.load turns it into the CLI's one-line error), never in a traceback, an allocation
the size of a zip bomb, or a report with silently wrong numbers.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import stat
import struct
import zipfile
import zlib
from typing import Dict, Iterator, List, Tuple

from ._lazy import numpy as np  # a run saved unconverted is written without it (unconverted.py)

from . import speed_probe

# Limits: generous for real runs (a million samples is 8 MB per int64 array; a 37 CPU-hour run at
# 1 kHz is ~1 GiB), far below what would exhaust memory.
MAX_MEMBER_BYTES = 1 << 30        # one inflated member
MAX_TOTAL_BYTES = 3 << 30         # all members together
MAX_JSON_BYTES = 64 << 20         # meta.json, functions.json
MAX_RATIO = 1100                  # deflate cannot do better than ~1032:1: a header claiming more lies
RATIO_SLACK = 1 << 16             # tiny members have headers larger than their compressed data
MAX_MEMBERS = 10_000
MAX_G_PER_KWH = 100_000.0         # ~100x the dirtiest grid: beyond it, CO2 sums could overflow
MAX_ABS_J = 1e15                  # a petajoule: bigger cumulative energy would lose all precision
MAX_NCPU = 1 << 20
MAX_UNIX_S = 253402300799.0       # 9999-12-31: the last instant a datetime can show

INTEGER, FLOAT, BYTES = "integer", "float", "bytes"
UNCONVERTED = "run.json"  # the header member of a run saved unconverted (unconverted.py)


class Invalid(Exception):
    """What is wrong with the file, in words (no path: the caller adds it)."""


def read(path: str) -> Tuple[dict, list, Dict[str, np.ndarray]]:
    """(meta, functions rows, arrays by member name without .npy), all checked.
    Raises FileNotFoundError / OSError for a file that cannot be opened, Invalid for a bad one."""
    with archive(path) as (z, infos):
        if "meta.json.npy" not in infos and UNCONVERTED in infos:
            raise Invalid("it is a run saved unconverted (`run -q`): `pyprof-carbon report` reads it, "
                          "and pyprof_carbon.load")
        return _read_archive(z, infos)


@contextlib.contextmanager
def archive(path: str) -> Iterator[Tuple[zipfile.ZipFile, Dict[str, zipfile.ZipInfo]]]:
    """The zip archive at `path` and its members by name, every size claim checked (the first
    checks of read(), shared with unconverted.py). Raises as read() does."""
    if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO would block the open, a device never end
        raise Invalid("it is not a regular file")
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            raise Invalid("the file is empty")
        try:
            z = zipfile.ZipFile(f)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OverflowError, OSError,
                NotImplementedError, IndexError, KeyError, struct.error) as e:  # OSError: a seek before the start
            raise Invalid(f"not a zip archive ({_why(e)})") from None
        with z:
            yield z, _member_table(z)


def _why(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:200]}" if text else type(e).__name__


def _read_archive(z: zipfile.ZipFile, infos: Dict[str, zipfile.ZipInfo]):
    meta = _json_member(z, infos, "meta.json")
    functions = _json_member(z, infos, "functions.json")
    check_meta(meta)
    check_functions(functions)
    arrays = {}
    for name, kind in _expected_arrays(meta, infos):
        arrays[name] = _array_member(z, infos[name], kind)
    check_arrays(arrays, meta, len(functions))
    return meta, functions, arrays


def _member_table(z: zipfile.ZipFile) -> Dict[str, zipfile.ZipInfo]:
    """Members by name, with every size claim checked against the caps before any is inflated."""
    infos = z.infolist()
    if len(infos) > MAX_MEMBERS:
        raise Invalid(f"{len(infos)} members in the archive")
    out, total = {}, 0
    for info in infos:
        name = info.filename
        if name in out:
            raise Invalid(f"member {name} appears twice")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise Invalid(f"member {name} uses an unsupported compression ({info.compress_type})")
        if info.flag_bits & 0x1:
            raise Invalid(f"member {name} is encrypted")
        size, packed = info.file_size, info.compress_size
        if size > MAX_MEMBER_BYTES:
            raise Invalid(f"member {name} would inflate to {size:,} bytes (limit {MAX_MEMBER_BYTES:,})")
        if info.compress_type == zipfile.ZIP_STORED and size != packed:
            raise Invalid(f"member {name}: stored size {packed:,} differs from its size {size:,}")
        if size > packed * MAX_RATIO + RATIO_SLACK:
            raise Invalid(f"member {name} claims {size:,} bytes from {packed:,} compressed "
                          f"(more than deflate can compress)")
        total += size
        out[name] = info
    if total > MAX_TOTAL_BYTES:
        raise Invalid(f"members would inflate to {total:,} bytes in all (limit {MAX_TOTAL_BYTES:,})")
    return out


def _open_npy(z, info: zipfile.ZipInfo):
    """The member's stream positioned after its npy header, with the header's dtype and shape."""
    f = z.open(info)
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"npy version {version}")
    except Exception as e:  # numpy raises ValueError, SyntaxError, TypeError... for a bad header
        f.close()
        raise Invalid(f"member {info.filename} has no valid npy header ({_why(e)})") from None
    return f, shape, fortran, dtype


def _read_exact(f, arr: np.ndarray, name: str) -> None:
    """Fill `arr` from the stream, then read to the end so the zip CRC is checked."""
    view = memoryview(arr).cast("B")
    got = 0
    while got < len(view):
        n = f.readinto(view[got:])
        if not n:
            raise Invalid(f"member {name} is truncated ({got:,} of {len(view):,} data bytes)")
        got += n
    if f.read(1):
        raise Invalid(f"member {name} has data after its array")


def _array_member(z, info: zipfile.ZipInfo, kind: str) -> np.ndarray:
    name = info.filename
    try:
        f, shape, fortran, dtype = _open_npy(z, info)
        with f:
            if len(shape) != 1:
                raise Invalid(f"{name} has shape {shape}, expected one dimension")
            if not _dtype_ok(dtype, kind):
                raise Invalid(f"{name} has dtype {dtype}, expected {kind}")
            n = shape[0]
            if n < 0:
                raise Invalid(f"{name} header claims {n} elements")
            nbytes = n * dtype.itemsize
            if nbytes > info.file_size:  # the header claims more than the member holds (checked size)
                raise Invalid(f"{name} header claims {n:,} elements, more than the member holds")
            arr = np.empty(n, dtype=dtype)
            _read_exact(f, arr, name)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, struct.error,
            NotImplementedError, RuntimeError) as e:  # the last two: local-header flags zipfile refuses
        raise Invalid(f"member {name} is corrupt ({_why(e)})") from None
    return arr.astype(arr.dtype.newbyteorder("="), copy=False)


def _dtype_ok(dtype: np.dtype, kind: str) -> bool:
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
        return False
    if kind == INTEGER:
        return dtype.kind in "iu" and dtype.itemsize <= 8
    if kind == FLOAT:
        return dtype.kind == "f" and dtype.itemsize in (4, 8)
    return dtype == np.uint8  # BYTES


def _json_member(z, infos, base: str):
    name = base + ".npy"
    if name not in infos:
        raise Invalid(f"member {base} is missing")
    if infos[name].file_size > MAX_JSON_BYTES:
        raise Invalid(f"{base} is {infos[name].file_size:,} bytes (limit {MAX_JSON_BYTES:,})")
    raw = _array_member(z, infos[name], BYTES)
    try:
        return json.loads(raw.tobytes().decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise Invalid(f"{base} is not valid JSON ({_why(e)})") from None


def _no_constant(word: str):
    raise ValueError(f"{word} is not JSON")  # NaN and Infinity are Python's extensions, not JSON


# --- meta.json and functions.json ------------------------------------------------------------

def _is_int(v) -> bool:
    """A JSON whole number that fits the int64 arithmetic it will meet."""
    return isinstance(v, int) and not isinstance(v, bool) and -2**63 <= v < 2**63


def _is_num(v) -> bool:
    return _is_int(v) or (isinstance(v, float) and math.isfinite(v))


def _opt(test):
    return lambda v: v is None or test(v)


def _str(v) -> bool:
    return isinstance(v, str)


def _str_list(v) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _nonneg(v) -> bool:
    return _is_num(v) and v >= 0


def _nonneg_int(v) -> bool:
    return _is_int(v) and v >= 0


def _rate(v) -> bool:
    return isinstance(v, dict) and all(_opt(_nonneg)(v.get(k)) for k in ("requested", "achieved")) \
        and _opt(_str)(v.get("per"))


def _threads(v) -> bool:
    return isinstance(v, list) and all(
        isinstance(t, dict) and _is_int(t.get("tid")) and all(_opt(_str)(t.get(k)) for k in ("name", "comm"))
        for t in v)


def _processes(v) -> bool:
    """The process table (format 2): one row per profiled process of the run."""
    return isinstance(v, list) and len(v) >= 1 and all(
        isinstance(p, dict) and _nonneg_int(p.get("pid")) and _opt(_nonneg_int)(p.get("ppid"))
        and _opt(_str_list)(p.get("argv")) and _opt(_str)(p.get("how")) and _opt(_is_int)(p.get("exit_status"))
        and _opt(_nonneg_int)(p.get("samples")) for p in v)


def _baseline(v) -> bool:
    return isinstance(v, dict) and all(isinstance(k, str) and _nonneg(x) for k, x in v.items())


def _intensity_value(v) -> bool:
    return _nonneg(v) and v <= MAX_G_PER_KWH


def _intensity(v) -> bool:
    if not isinstance(v, dict) or not _intensity_value(v.get("g_per_kwh")):
        return False
    if not all(_opt(_str)(v.get(k)) for k in ("code", "name", "origin", "source", "kind", "unit",
                                              "country", "provider", "cloud_region")):
        return False
    if not (_opt(_is_int)(v.get("year")) and _opt(lambda x: isinstance(x, bool))(v.get("live"))
            and _opt(_str_list)(v.get("notes"))):
        return False
    s = v.get("schedule")
    if s is None:
        return True
    if not isinstance(s, dict):
        return False
    t, g = s.get("t_unix_s"), s.get("g_per_kwh")
    return (isinstance(t, list) and isinstance(g, list) and len(t) == len(g) and all(map(_is_num, t))
            and all(map(_intensity_value, g)) and all(a < b for a, b in zip(t, t[1:])))


def _regions(v) -> bool:
    """Named regions' spans: name, start and end (int64 ns, start <= end), thread id."""
    return isinstance(v, list) and all(
        isinstance(r, dict) and _str(r.get("name")) and _is_int(r.get("start_ns")) and _is_int(r.get("end_ns"))
        and r["start_ns"] <= r["end_ns"] and _is_int(r.get("tid")) for r in v)


# Keys a report reads, and what each must be when present. Other keys are kept as they are.
META_KEYS = {
    "command": _str_list, "python": _str, "python_implementation": _str, "tool_version": _str,
    "run_id": _str, "start_time": _str, "engine": _str, "os": _str, "hostname": _str, "cpu_model": _opt(_str),
    "start_unix_s": lambda v: _is_num(v) and 0 <= v <= MAX_UNIX_S, "start_monotonic_ns": _is_int, "duration_s": _nonneg,
    "rate_hz": _rate, "cadence_ms": _opt(_nonneg), "samples": _nonneg_int, "lost_samples": _nonneg_int,
    "unreadable_samples": _nonneg_int, "lost_cpu_s": _nonneg, "handler_s": _nonneg,
    "collector_cpu_s": _nonneg, "profiler_process_cpu_s": _nonneg, "threads": _threads, "baseline_w": _baseline,
    "cpu_count": _opt(_nonneg_int), "ram_total_gb": _opt(_nonneg), "pid": _nonneg_int,
    "intensity": _intensity, "pue": _opt(lambda v: _is_num(v) and 1 <= v <= 10),
    "privileges": _opt(_str), "attribution": _opt(lambda v: v in ("share", "active", "dynamic")),
    "split": _opt(lambda v: v in ("power", "cpu")), "meters": lambda v: isinstance(v, list),
    "meter_notes": lambda v: isinstance(v, list), "regions": _regions, "exit_status": _opt(_is_int),
    "processes": _processes, "cut_short": _opt(_str), "native_threads": _opt(lambda v: v in ("caller", "separate")),
    "sampling_warnings": lambda v: isinstance(v, list) and all(map(_str, v)),
    "sampling": lambda v: isinstance(v, dict), "speed_probe": speed_probe.valid,
}
DOMAIN_KINDS = ("cpu", "dram", "gpu", "psys")
# recording.Domain's fields; `inside` and `contains` (names of other domains) are absent from
# recordings saved before domains declared their nesting
DOMAIN_KEYS = {"name", "meter", "measured", "kind", "notes", "cpus", "inside", "contains"}


def check_meta(meta) -> None:
    from .recording import FORMAT, VERSION
    if not isinstance(meta, dict):
        raise Invalid("meta.json is not an object")
    if meta.get("format") != FORMAT:
        raise Invalid(f"meta.json format is {meta.get('format')!r}, expected {FORMAT!r}")
    v = meta.get("format_version")
    if not _is_int(v) or v < 1:
        raise Invalid(f"format_version is {v!r}, expected a whole number >= 1")
    if v > VERSION:
        raise Invalid(f"written by a newer pyprof-carbon (format_version {v}, this one reads {VERSION}); "
                      f"upgrade to read it")
    for key, ok in META_KEYS.items():
        if key in meta and not ok(meta[key]):
            raise Invalid(f"meta.json {key} is malformed: {_short(meta[key])}")
    if "intensity" not in meta:
        raise Invalid("meta.json has no carbon intensity")
    doms = meta.get("domains")
    if not isinstance(doms, list):
        raise Invalid("meta.json domains is not a list")
    names = set()
    for i, d in enumerate(doms):
        if not (isinstance(d, dict) and set(d) <= DOMAIN_KEYS
                and _str(d.get("name")) and _str(d.get("meter")) and isinstance(d.get("measured"), bool)
                and d.get("kind", "cpu") in DOMAIN_KINDS and _str(d.get("notes", ""))
                and isinstance(d.get("cpus", []), list) and all(_nonneg_int(c) for c in d.get("cpus", []))
                and _str_list(d.get("inside", [])) and _str_list(d.get("contains", []))):
            raise Invalid(f"meta.json domain {i} is malformed: {_short(d)}")
        if d["name"] in names:
            raise Invalid(f"meta.json names domain {d['name']!r} twice")
        names.add(d["name"])
    s = meta.get("sched")
    if not (isinstance(s, dict) and _str(s.get("backend")) and _is_int(s.get("ncpu")) and 1 <= s["ncpu"] <= MAX_NCPU
            and _str(s.get("resolution_note", ""))):
        raise Invalid(f"meta.json sched is malformed: {_short(s)}")


def check_functions(functions) -> None:
    if not isinstance(functions, list):
        raise Invalid("functions.json is not a list")
    for i, f in enumerate(functions):
        if not (isinstance(f, list) and len(f) == 4 and all(_str(x) for x in f[:3]) and _nonneg_int(f[3])):
            raise Invalid(f"functions.json entry {i} is malformed: {_short(f)}")


def _short(v) -> str:
    text = json.dumps(v)
    return text if len(text) <= 60 else text[:57] + "..."


# --- the arrays -------------------------------------------------------------------------------

SAMPLES = ("s_t_ns", "s_cpu_ns", "s_tid", "s_cpu", "s_stack")
OPTIONAL_SAMPLES = ("s_nvcsw", "s_native")  # written since format 2, absent from its first files
SCHED = ("sched_t_ns", "sched_busy_ns", "sched_proc_ns", "sched_prof_ns")


def _expected_arrays(meta, infos) -> List[Tuple[str, str]]:
    want = [(n, INTEGER) for n in SAMPLES + ("stack_offsets", "stack_func", "stack_line") + SCHED]
    if meta["format_version"] >= 2:
        want.append(("s_pid", INTEGER))
    want += [(n, INTEGER) for n in OPTIONAL_SAMPLES if n + ".npy" in infos]
    for i in range(len(meta["domains"])):
        want += [(f"e_{i}_t_ns", INTEGER), (f"e_{i}_j", FLOAT)]
        if f"e_{i}_share.npy" in infos:
            want.append((f"e_{i}_share", FLOAT))
    for name, _ in want:
        if name + ".npy" not in infos:
            raise Invalid(f"member {name} is missing")
    return [(n + ".npy", k) for n, k in want]


def _monotone(a: np.ndarray) -> bool:
    return bool(np.all(a[1:] >= a[:-1])) if len(a) > 1 else True


def _in_range(a: np.ndarray, lo: int, hi: int) -> bool:
    return len(a) == 0 or (int(a.min()) >= lo and int(a.max()) < hi)


def check_arrays(arrays: Dict[str, np.ndarray], meta: dict, n_functions: int) -> None:
    a = {k[:-4]: v for k, v in arrays.items()}
    n = len(a["s_t_ns"])
    for k in SAMPLES + tuple(k for k in ("s_pid",) + OPTIONAL_SAMPLES if k in a):
        if len(a[k]) != n:
            raise Invalid(f"{k} has {len(a[k]):,} entries, s_t_ns {n:,}")
    off, func, line = a["stack_offsets"], a["stack_func"], a["stack_line"]
    n_stacks = len(off) - 1
    if n_stacks < 0 or off[0] != 0 or not _monotone(off) or off[-1] != len(func):
        raise Invalid("stack_offsets do not delimit stack_func")
    if len(line) != len(func):
        raise Invalid(f"stack_line has {len(line):,} entries, stack_func {len(func):,}")
    if not _in_range(func, 0, n_functions):
        raise Invalid(f"stack_func has a function index outside 0..{n_functions - 1}")
    if not _in_range(line, 0, 2**31):
        raise Invalid("stack_line has a negative line number")
    if not _in_range(a["s_stack"], 0, n_stacks):
        raise Invalid(f"s_stack has a stack index outside 0..{n_stacks - 1}")
    if "s_pid" in a:
        pids = {p["pid"] for p in meta.get("processes", [])}
        if not set(np.unique(a["s_pid"]).tolist()) <= pids:
            raise Invalid("s_pid has a process id that is not in the process table")
    if not _in_range(a["s_tid"], 1, 2**31):
        raise Invalid("s_tid has a thread id outside 1..2^31-1")
    if not _in_range(a["s_cpu"], -1, 2**31):
        raise Invalid("s_cpu has a CPU number below -1")
    if not _in_range(a["s_cpu_ns"], 0, 2**63 - 1):
        raise Invalid("s_cpu_ns has a negative CPU time")
    if not _monotone(a["s_t_ns"]):
        raise Invalid("s_t_ns is not in time order")
    m = len(a["sched_t_ns"])
    for k in SCHED:
        if len(a[k]) != m:
            raise Invalid(f"{k} has {len(a[k]):,} entries, sched_t_ns {m:,}")
        if not _monotone(a[k]):
            raise Invalid(f"{k} decreases (a cumulative counter must not)")
    for i, d in enumerate(meta["domains"]):
        t, j = a[f"e_{i}_t_ns"], a[f"e_{i}_j"]
        if len(t) != len(j):
            raise Invalid(f"e_{i}_j has {len(j):,} entries, e_{i}_t_ns {len(t):,}")
        if not _monotone(t):
            raise Invalid(f"e_{i}_t_ns ({d['name']}) is not in time order")
        if not np.all(np.isfinite(j) & (np.abs(j) <= MAX_ABS_J)):
            raise Invalid(f"e_{i}_j ({d['name']}) has a value that is not a finite number of joules "
                          f"(|J| <= {MAX_ABS_J:g})")
        if not _monotone(j):
            raise Invalid(f"e_{i}_j ({d['name']}) decreases (cumulative energy must not)")
        share = a.get(f"e_{i}_share")
        if share is not None and (len(share) != len(t) or not np.all((share >= 0) & (share <= 1))):
            raise Invalid(f"e_{i}_share ({d['name']}) is not one fraction in [0, 1] per reading")

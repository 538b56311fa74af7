"""pprof: a gzip-compressed `perftools.profiles.Profile` protobuf (google/pprof proto/profile.proto),
encoded by hand. Sample types samples/count, cpu/nanoseconds, energy/microjoules and
co2/micrograms (default: energy); one Sample per (stack, thread) with labels `thread`,
`thread_id` and `pid`; one Location per (function, line), leaf first in each sample."""
from __future__ import annotations

import gzip
from typing import Dict, List, Tuple

import numpy as np

from ..attributed_profile import Profile
from . import NoOptions as Options  # no settings


# ---- a tiny protobuf writer (varint and length-delimited fields only) ---------------------------
def varint(v: int) -> bytes:
    v &= (1 << 64) - 1  # negative int64 values are 10-byte two's complement
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_varint(num: int, v: int) -> bytes:
    return varint(num << 3) + varint(v) if v else b""  # proto3: zero is the default, omitted


def field_bytes(num: int, data: bytes) -> bytes:
    return varint((num << 3) | 2) + varint(len(data)) + data


def packed(num: int, values) -> bytes:
    if not len(values):
        return b""
    return field_bytes(num, b"".join(varint(int(v)) for v in values))


class Strings:
    def __init__(self):
        self.table: List[str] = [""]
        self.index: Dict[str, int] = {"": 0}

    def __call__(self, s: str) -> int:
        i = self.index.get(s)
        if i is None:
            i = self.index[s] = len(self.table)
            self.table.append(s)
        return i


def value_type(st: Strings, typ: str, unit: str) -> bytes:
    return field_varint(1, st(typ)) + field_varint(2, st(unit))


def display_name(name: str) -> str:
    """pprof drops `<...>` from names (C++ template arguments), so `<module>` would print as
    nothing: use look-alike angle quotes. system_name keeps the original."""
    return name.replace("<", "\u2039").replace(">", "\u203a")


def encode(profile: Profile) -> bytes:
    st = Strings()
    types = [("samples", "count"), ("cpu", "nanoseconds"), ("energy", "microjoules"), ("co2", "micrograms")]
    out = bytearray()
    for t, u in types:
        out += field_bytes(1, value_type(st, t, u))

    # aggregate rows per (stack, thread)
    key_ = profile.row_stack.astype(np.int64) * (1 << 32) + (profile.row_tid.astype(np.int64) & 0xFFFFFFFF)
    keys, inv = np.unique(key_, return_inverse=True)
    vals = np.stack([np.bincount(inv, weights=v.astype(np.float64), minlength=len(keys)) for v in (
        profile.row_samples, profile.row_cpu_ns, profile.row_energy_total * 1e6, profile.row_co2_g * 1e6)], axis=1)
    vals = np.rint(vals).astype(np.int64)
    tid_of = {int(t) & 0xFFFFFFFF: int(t) for t in np.unique(profile.row_tid)}

    locations: Dict[Tuple[int, int], int] = {}
    functions: Dict[int, int] = {}
    k_thread, k_tid, k_pid = st("thread"), st("thread_id"), st("pid")
    pid_of = {int(th["tid"]): int(th["pid"]) for th in profile.meta.get("threads", []) if "pid" in th}
    for key, v in zip(keys.tolist(), vals.tolist()):
        if not any(v):
            continue
        sid, tid = key >> 32, tid_of[key & 0xFFFFFFFF]
        ids = []
        for fr in reversed(profile.stacks[sid]):  # leaf first
            loc = locations.get(fr)
            if loc is None:
                loc = locations[fr] = len(locations) + 1
                functions.setdefault(fr[0], len(functions) + 1)
            ids.append(loc)
        label_t = field_varint(1, k_thread) + field_varint(2, st(profile.thread_names.get(tid, str(tid))))
        label_n = field_varint(1, k_tid) + field_varint(3, tid)
        sample = packed(1, ids) + packed(2, v) + field_bytes(3, label_t) + field_bytes(3, label_n)
        if tid in pid_of:  # the process it ran in (a run profiles the program's children too)
            sample += field_bytes(3, field_varint(1, k_pid) + field_varint(3, pid_of[tid]))
        out += field_bytes(2, sample)
    for (func, line), loc in locations.items():
        ln = field_varint(1, functions[func]) + field_varint(2, line)
        out += field_bytes(4, field_varint(1, loc) + field_bytes(4, ln))
    for func, fid in functions.items():
        fn = profile.functions[func]
        out += field_bytes(5, field_varint(1, fid) + field_varint(2, st(display_name(fn.qualname))) + field_varint(3, st(fn.name))
                           + field_varint(4, st(fn.file)) + field_varint(5, fn.line))
    meta = profile.meta or {}
    start = meta.get("start_unix_s")
    time_ns = int(float(start) * 1e9) if start else 0
    dur_ns = int(float(meta.get("duration_s") or 0) * 1e9)
    comments = [st("pyprof-carbon: energy attributed to Python stacks; CO2eq at "
                   f"{(meta.get('intensity') or {}).get('g_per_kwh', '?')} g/kWh "
                   f"({(meta.get('intensity') or {}).get('code', '?')})")]
    for m in meta.get("meters") or []:
        comments.append(st(f"{m.get('domain')}: {m.get('meter')} ({'measured' if m.get('measured') else 'estimated'})"))
    tail = (field_varint(9, time_ns) + field_varint(10, dur_ns) + field_bytes(11, value_type(st, "energy", "microjoules"))
            + field_varint(12, 1) + packed(13, comments) + field_varint(14, st("energy")))
    for s in st.table:  # string_table[0] == ""
        out += field_bytes(6, s.encode("utf-8"))
    out += tail
    return bytes(out)


def render(profile: Profile, options: Options = Options()) -> bytes:
    return gzip.compress(encode(profile), mtime=0)

"""The raw recording: what was measured, saved before any attribution.

File format (version 2): a zip archive written by numpy (`.npz`, no pickles), members:
  meta.json          the run's metadata (command, python, engine, rates, meters, domains, threads,
                     processes: the process table, one row per profiled process of the run...)
  functions.json     [[name, qualname, file, firstline], ...]
  s_t_ns s_cpu_ns s_tid s_cpu s_stack s_pid   one entry per sample
  s_nvcsw            (optional) a thread without Python: its voluntary context switches so far
  s_native           (optional) a Python thread interrupted in a native library's code (not the
                     interpreter's, the C library's or the standard library's): a library call
  stack_offsets stack_func stack_line          stacks, root -> leaf, as (function, line) frames
  e_<i>_t_ns e_<i>_j                           energy domain i (meta["domains"][i]): cumulative J
  e_<i>_share                                  (GPU) this process's share of the device per reading
  sched_t_ns sched_busy_ns sched_proc_ns sched_prof_ns   scheduler timeline (cumulative ns)
Everything a report needs is in the file, so reports can be re-rendered, re-attributed and diffed.
Version 1 (one process, no s_pid, no process table) still loads: `load` fills both in.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from ._lazy import numpy as np

from .errors import UserError


# ---- the data model: what meters, scheduler backends and the sampler produce ------------------
@dataclasses.dataclass(frozen=True)
class FunctionInfo:
    name: str
    qualname: str
    file: str
    line: int  # first line of the function


NO_PYTHON_FRAME = FunctionInfo("<no Python frame>", "<no Python frame>", "", 0)  # a sample of native code only


@dataclasses.dataclass(frozen=True)
class Domain:
    """One energy domain a meter reports: `package`, `core`, `uncore`, `dram`, `psys`, `gpu:N`.

    Domains may overlap, and the meter that creates one says how, so totals never count a joule
    twice (`total_domains`): `inside` names the domains whose counters already hold this one's
    joules (RAPL core inside package), `contains` those whose joules this one's counter holds
    (psys, the whole platform, contains package and dram)."""

    name: str
    meter: str        # the meter that produced it, e.g. "rapl-powercap" or "model"
    measured: bool    # False: an estimate; `notes` then names the constants it used
    kind: str = "cpu"  # "cpu" | "dram" | "gpu" | "psys": which samples share it (CPU or wall-clock)
    notes: str = ""
    cpus: Tuple[int, ...] = ()  # a per-core domain (AMD core:N): only samples taken on these CPUs share it
    inside: Tuple[str, ...] = ()
    contains: Tuple[str, ...] = ()

    def __post_init__(self):
        # lists when loaded from JSON
        object.__setattr__(self, "cpus", tuple(int(c) for c in self.cpus))
        object.__setattr__(self, "inside", tuple(self.inside))
        object.__setattr__(self, "contains", tuple(self.contains))


def total_domains(names: Sequence[str], domains: Mapping[str, Domain]) -> List[str]:
    """Of `names`, the domains that add up to "the energy" without counting a joule twice. A
    domain is left out when a domain it is `inside` is present (its container has its joules), and
    when a domain it `contains` is present: the parts are charged to the code sample by sample,
    finer than a whole-platform counter, which stands in only when nothing inside it was read.
    A name not in `domains` (a Profile built by hand) overlaps nothing."""
    present = set(names)
    def counted(name: str) -> bool:
        d = domains.get(name)
        return d is None or not present.intersection(d.inside + d.contains)
    return [n for n in names if counted(n)]


def _nesting_by_name(name: str) -> Dict[str, Tuple[str, ...]]:
    """How domains nested before they said so (recordings saved without `inside` and `contains`
    in their meta domains): by name, as the RAPL meters of the time made them."""
    if name in ("core", "uncore") or name.startswith("core:"):
        return {"inside": ("package",)}
    if name == "psys":
        return {"contains": ("package", "dram")}
    return {}


@dataclasses.dataclass
class EnergySeries:
    t_ns: np.ndarray       # int64, increasing
    energy_j: np.ndarray   # float64 cumulative, energy_j[0] == 0, non-decreasing
    # A device that knows which process used it (NVML): this process's share of the interval
    # ending at each reading, in [0, 1]. None: the CPU share from the scheduler applies.
    share: Optional[np.ndarray] = None

    def __post_init__(self):
        self.t_ns = np.asarray(self.t_ns, dtype=np.int64)
        self.energy_j = np.asarray(self.energy_j, dtype=np.float64)
        if self.t_ns.shape != self.energy_j.shape:
            raise ValueError("t_ns and energy_j differ in length")
        if self.share is not None:
            self.share = np.asarray(self.share, dtype=np.float64)
            if self.share.shape != self.t_ns.shape:
                raise ValueError("t_ns and share differ in length")


@dataclasses.dataclass
class SchedTimeline:
    """Cumulative CPU time over the run, sampled at the collector's ticks (all int64 ns); every
    scheduler accounting backend produces this one type."""

    t_ns: np.ndarray
    machine_busy_ns: np.ndarray   # busy CPU time of the whole machine (all CPUs, all processes)
    process_cpu_ns: np.ndarray    # CPU time of this process (profiler included)
    profiler_cpu_ns: np.ndarray   # CPU time the profiler itself spent (collector + signal handler)
    ncpu: int
    backend: str
    resolution_note: str = ""     # e.g. "machine busy time has tick resolution (10 ms)"

    def __post_init__(self):
        for f in ("t_ns", "machine_busy_ns", "process_cpu_ns", "profiler_cpu_ns"):
            setattr(self, f, np.asarray(getattr(self, f), dtype=np.int64))


# ---- the recording ---------------------------------------------------------------------------

FORMAT = "pyprof-carbon recording"
VERSION = 2


@dataclasses.dataclass
class Recording:
    meta: dict
    functions: List[FunctionInfo]
    stacks: List[Tuple[Tuple[int, int], ...]]   # root -> leaf (function index, line)
    samples: Dict[str, np.ndarray]              # t_ns, cpu_ns, tid, cpu, stack, pid
    domains: List[Domain]
    energy: Dict[str, EnergySeries]
    sched: SchedTimeline

    def __post_init__(self):
        if "pid" not in self.samples:  # version 1, or built by hand: one process, the run's
            pid = int(self.meta.get("pid", 0))
            self.samples["pid"] = np.full(len(self.samples["t_ns"]), pid, dtype=np.int32)
            self.meta.setdefault("processes", [{
                "pid": pid, "ppid": 0, "argv": [str(a) for a in self.meta.get("command", [])], "how": "first",
                "complete": True, "exit_status": self.meta.get("exit_status"), "samples": self.n_samples}])

    @property
    def n_samples(self) -> int:
        return len(self.samples["t_ns"])

    def save(self, path: str) -> None:
        arrays = {f"s_{k}": v for k, v in self.samples.items()}
        lens = [len(s) for s in self.stacks]
        arrays["stack_offsets"] = np.concatenate(([0], np.cumsum(lens))).astype(np.int64)
        flat = [fr for s in self.stacks for fr in s]
        arrays["stack_func"] = np.array([f for f, _ in flat], dtype=np.int32)
        arrays["stack_line"] = np.array([ln for _, ln in flat], dtype=np.int32)
        for i, d in enumerate(self.domains):
            arrays[f"e_{i}_t_ns"] = self.energy[d.name].t_ns
            arrays[f"e_{i}_j"] = self.energy[d.name].energy_j
            if self.energy[d.name].share is not None:
                arrays[f"e_{i}_share"] = self.energy[d.name].share
        s = self.sched
        arrays.update(sched_t_ns=s.t_ns, sched_busy_ns=s.machine_busy_ns,
                      sched_proc_ns=s.process_cpu_ns, sched_prof_ns=s.profiler_cpu_ns)
        meta = dict(self.meta, format=FORMAT, format_version=VERSION,
                    domains=[dataclasses.asdict(d) for d in self.domains],
                    sched={"backend": s.backend, "ncpu": s.ncpu, "resolution_note": s.resolution_note})
        arrays["meta.json"] = _json_bytes(meta)
        arrays["functions.json"] = _json_bytes([[f.name, f.qualname, f.file, f.line] for f in self.functions])
        from .safe_write import atomic_writer
        with atomic_writer(path) as f:  # a reader never sees a half-written recording
            np.savez_compressed(f, **arrays)


def load(path: str, shown_as: Optional[str] = None) -> Recording:
    """Read a recording; any fault in the file is one UserError naming the file (`shown_as`, if
    given) and the fault."""
    from . import recording_check
    with read_errors(shown_as or path):
        meta, funcs, z = recording_check.read(path)
    functions = [FunctionInfo(*f) for f in funcs]
    off, func, line = z["stack_offsets.npy"].tolist(), z["stack_func.npy"].tolist(), z["stack_line.npy"].tolist()
    stacks = [tuple(zip(func[off[i]:off[i + 1]], line[off[i]:off[i + 1]])) for i in range(len(off) - 1)]
    samples = {k[2:-4]: v for k, v in z.items() if k.startswith("s_")}

    domains = [Domain(**d) if "inside" in d or "contains" in d else Domain(**d, **_nesting_by_name(d["name"]))
               for d in meta.pop("domains")]
    energy = {d.name: EnergySeries(z[f"e_{i}_t_ns.npy"], z[f"e_{i}_j.npy"], z.get(f"e_{i}_share.npy"))
              for i, d in enumerate(domains)}
    sm = meta.pop("sched")
    sched = SchedTimeline(z["sched_t_ns.npy"], z["sched_busy_ns.npy"], z["sched_proc_ns.npy"],
                          z["sched_prof_ns.npy"], ncpu=sm["ncpu"], backend=sm["backend"],
                          resolution_note=sm.get("resolution_note", ""))
    return Recording(meta, functions, stacks, samples, domains, energy, sched)


@contextlib.contextmanager
def read_errors(name: str, invalid: tuple = ()):
    """Any fault reading the recording file `name` as one UserError: it is missing, unreadable, or
    not to be trusted (recording_check.Invalid, and the exceptions in `invalid`)."""
    from . import recording_check
    try:
        yield
    except FileNotFoundError:
        raise UserError(f"no such recording: {name}") from None
    except OSError as e:
        raise UserError(f"cannot read {name}: {e.strerror or e}") from None
    except recording_check.Invalid as e:
        raise UserError(invalid_message(name, str(e))) from None
    except invalid as e:
        raise UserError(invalid_message(name, f"{type(e).__name__}: {e}")) from None


def checked(rec: Recording, source: str) -> Recording:
    """`rec`, which our code built from the parts of a run in `source` (what the errors name),
    read back through a file: every check a saved recording gets."""
    import tempfile
    with tempfile.TemporaryDirectory(prefix="pyprof-carbon-check-") as tmp:
        path = os.path.join(tmp, "checked.pcarbon")
        rec.save(path)
        return load(path, shown_as=source)


def invalid_message(path: str, what: str) -> str:
    """The one line every command prints for a file it cannot trust (names quoted from the file
    may hold control characters: shown escaped, so it stays one line)."""
    from .printable import visible
    return f"{path} is not a valid pyprof-carbon recording: {visible(what)}"


def _json_bytes(obj) -> np.ndarray:
    return np.frombuffer(json.dumps(obj).encode(), dtype=np.uint8)

"""Public API: Profiler, and `profile` as a context manager or decorator.

A Profiler opens the meters and the scheduler backend and lists their raw counter sources for the
native collector. Where the collector runs depends on who profiles: the in-code API (`start`,
`stop`) runs it in this process; `pyprof-carbon run` hands the sources to the program's own
interpreter (runner.py) and calls `follow` with its pid, then `finish` with what that process
handed over. Either way the raw results become a Recording here.
"""
from __future__ import annotations

import contextlib
import os
import platform
import sys
import threading
import time
import uuid
from typing import Dict, List, Optional, Sequence

import numpy as np

from . import named_regions, running_totals
from ._version import __version__
from .errors import UserError
from .meters.base import Meter, Ticks
from .attributed_profile import FunctionInfo
from .recording import Recording

DEFAULT_RATE = 997.0
ENGINES = ("auto", "perf", "timer", "wall")
_PKG_DIR = os.path.dirname(os.path.abspath(__file__))
NO_PYTHON_FRAME = FunctionInfo("<no Python frame>", "<no Python frame>", "", 0)
TRUNCATED = FunctionInfo("[truncated]", "[truncated]", "", 0)
UNREADABLE = FunctionInfo("[stack changing]", "[stack changing]", "", 0)


def _native():
    try:
        from . import _native as native
    except ImportError as e:  # a source checkout that was never built
        raise UserError(f"the native sampler is not built ({e}); run `pip install .`") from None
    return native


class Profiler:
    def __init__(self, rate: float = DEFAULT_RATE, engine: str = "auto",
                 meters: Sequence[str] = ("auto",), sched: str = "auto",
                 cadence_ms: Optional[float] = None, policy: str = "share",
                 baseline_s: float = 0.5, cpu_watts: Optional[float] = None,
                 tdp: Optional[float] = None, command: Optional[List[str]] = None,
                 intensity=None):
        if not 1 <= rate <= 100_000:
            raise UserError(f"--rate must be between 1 and 100000 Hz, not {rate:g}")
        if engine not in ENGINES:
            raise UserError(f"--engine must be one of {', '.join(ENGINES)}, not {engine!r}")
        self.rate, self.engine, self.policy = rate, engine, policy
        self.meter_names, self.sched_name = list(meters), sched
        self.cadence_ms, self.baseline_s = cadence_ms, baseline_s
        self.cpu_watts, self.tdp = cpu_watts, tdp
        self.command = command or [sys.argv[0]]
        self.intensity = intensity
        self.meters: List[Meter] = []
        self.meter_notes: List[dict] = []
        self.sched = None
        self._collector = None
        self._pid = None
        self._thread_names: Dict[int, str] = {}
        self._prev_thread_hook = None

    # ---- start ----------------------------------------------------------------------
    def open(self) -> None:
        """Open the scheduler backend and the meters, fix the cadence, measure the baseline
        (policy `dynamic`): everything but sampling, which runs where the program runs."""
        native = _native()
        from .meters.select import choose as choose_meters
        from .sched import choose as choose_sched

        self.sched = choose_sched(self.sched_name)
        self.meters, self.meter_notes = choose_meters(self.meter_names, cpu_watts=self.cpu_watts, tdp=self.tdp)
        sources, self._columns = [], {}
        from .meters.base import SOURCE_KINDS
        for owner in [self.sched, *self.meters]:
            srcs = list(owner.sources())
            self._columns[owner.name] = slice(len(sources), len(sources) + len(srcs))
            sources += [(SOURCE_KINDS.index(s.kind), s.fd, s.offset, s.key, s.size) for s in srcs]
        self.sources = sources
        cadence_ms = self.cadence_ms or min(m.cadence_ms for m in self.meters)
        for m in self.meters:
            if cadence_ms > m.max_interval_s() * 1e3:
                self._close()
                raise UserError(f"--cadence {cadence_ms:g} ms is too long for {m.name}: its counters can wrap "
                                f"unseen between reads longer than {m.max_interval_s() * 1e3:.0f} ms")
        self._cadence_ms = cadence_ms
        self._baseline_w = self._measure_baseline(native, sources, cadence_ms) if self.policy == "dynamic" else {}

    @property
    def cadence_ns(self) -> int:
        return int(self._cadence_ms * 1e6)

    def follow(self, pid: int) -> None:
        """Account for process `pid` (the program `run` started) and start the meters."""
        self._pid = pid
        for owner in [self.sched, *self.meters]:
            if hasattr(owner, "follow"):
                owner.follow(pid)
        for m in self.meters:
            m.start()

    def start(self) -> None:
        """Profile this process (the in-code API) from now on."""
        native = _native()
        self.open()
        self._collector = native.Collector(self.rate, self.engine, self.cadence_ns, self.sources)
        self._thread_names = {threading.get_native_id(): threading.current_thread().name}
        self._prev_thread_hook = threading.getprofile() if hasattr(threading, "getprofile") else None
        threading.setprofile(self._name_thread)  # removes itself in each new thread at once
        named_regions.start_keeping()
        try:
            self._start_unix = time.time()
            self._engine_used = self._collector.start()
        except RuntimeError as e:
            threading.setprofile(self._prev_thread_hook)
            named_regions.stop_keeping()
            self._close()
            raise UserError(f"cannot start sampling: {e}") from None
        self.follow(os.getpid())
        running_totals._in_process.append(self)  # pyprof_carbon.current() finds it there

    def _name_thread(self, frame, event, arg):
        sys.setprofile(None)  # a hook left active is called on every call and return of the thread
        t = threading.current_thread()
        self._thread_names[threading.get_native_id()] = t.name
        if self._prev_thread_hook is not None:
            sys.setprofile(self._prev_thread_hook)

    def _measure_baseline(self, native, sources, cadence_ms) -> Dict[str, float]:
        """Power of each domain before the script starts (policy `dynamic`): the collector reads
        the same counters for `baseline_s` with sampling off."""
        baseline = native.Collector(0, "auto", int(cadence_ms * 1e6), sources)
        baseline.start()
        for m in self.meters:
            m.start()
        time.sleep(self.baseline_s)
        for m in self.meters:
            m.stop()
        baseline.stop()
        baseline.resolve()
        r = decode_raw_results(baseline.raw_results())
        ticks = Ticks(r["tick_t_ns"].astype(np.int64), r["tick_raw"], self._columns)
        timeline = self.sched.timeline(ticks)
        power = {}
        for m in self.meters:
            for d, es in m.energy(ticks, timeline).items():
                dt = (es.t_ns[-1] - es.t_ns[0]) / 1e9
                power[d] = float(es.energy_j[-1] - es.energy_j[0]) / dt if dt > 0 else 0.0
        return power

    # ---- stop -----------------------------------------------------------------------
    def stop(self) -> Optional[Recording]:
        """Stop sampling this process and return the Recording (None in a child forked while profiling)."""
        if self._collector is None or os.getpid() != self._pid:
            return None
        threading.setprofile(self._prev_thread_hook)
        if self in running_totals._in_process:
            running_totals._in_process.remove(self)
        self._collector.stop()
        self._collector.resolve()
        raw = self._collector.raw_results()
        self._collector = None
        for t in threading.enumerate():
            if t.native_id is not None:
                self._thread_names.setdefault(t.native_id, t.name)
        raw.update(engine=self._engine_used, thread_names=self._thread_names, start_unix_s=self._start_unix,
                   regions=named_regions.stop_keeping())
        return self.finish(raw)

    def finish(self, raw: Optional[dict], exit_status: Optional[int] = None) -> Optional[Recording]:
        """Stop the meters, close everything, and build the Recording from the raw results the
        collector handed over with what its side knew (`engine`, `thread_names`, `start_unix_s`,
        `regions`); None: there are none, the program died before handing over."""
        for m in self.meters:
            m.stop()
        try:
            if raw is None:
                return None
            rec = self._recording(decode_raw_results(raw))
            if exit_status is not None:
                rec.meta["exit_status"] = exit_status
            return rec
        finally:
            self._close()

    def _close(self):
        for owner in [*self.meters, self.sched]:
            if owner is not None:
                owner.close()

    def _recording(self, r: dict) -> Recording:
        ticks = Ticks(r["tick_t_ns"].astype(np.int64), r["tick_raw"], self._columns)
        timeline = self.sched.timeline(ticks)
        domains, energy = [], {}
        for m in self.meters:
            domains += m.domains()
            energy.update(m.energy(ticks, timeline))
        functions, stacks, stack_map = convert_stacks(r)
        by_time = np.argsort(r["t_ns"], kind="stable")  # threads' samples interleave slightly in the ring
        samples = {"t_ns": r["t_ns"].astype(np.int64)[by_time], "cpu_ns": r["cpu_ns"].astype(np.int64)[by_time],
                   "tid": r["tid"][by_time], "cpu": r["cpu"][by_time],
                   "stack": stack_map[r["stack"]].astype(np.int32)[by_time]}
        st = r["stats"]
        duration = (timeline.t_ns[-1] - timeline.t_ns[0]) / 1e9 if len(timeline.t_ns) else 0.0
        user_cpu_s = max((timeline.process_cpu_ns[-1] - timeline.profiler_cpu_ns[-1]) / 1e9, 1e-9) \
            if len(timeline.t_ns) else 1e-9
        engine_used, thread_names = r["engine"], r.get("thread_names", {})
        threads = [{"tid": th["tid"], "name": thread_names.get(th["tid"], th["comm"]),
                    "comm": th["comm"], "arm_error": th["arm_error"]} for th in r["threads"]]
        from .meters.model import cpu_model, ram_total_gb
        meta = {
            "tool_version": __version__, "run_id": str(uuid.uuid4()),
            "command": self.command, "python": platform.python_version(),
            "python_implementation": platform.python_implementation(),
            "start_time": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(r["start_unix_s"])),
            "start_unix_s": r["start_unix_s"],
            "start_monotonic_ns": int(timeline.t_ns[0]) if len(timeline.t_ns) else 0,
            "duration_s": duration, "engine": engine_used,
            "rate_hz": achieved_rate(engine_used, self.rate, samples, user_cpu_s),
            "cadence_ms": self._cadence_ms, "samples": int(len(samples["t_ns"])),
            "lost_samples": int(st["lost"]), "unreadable_samples": int(st["unreadable"]), "lost_cpu_s": st["lost_cpu_ns"] / 1e9,
            "handler_s": st["handler_ns"] / 1e9, "collector_cpu_s": st["collector_cpu_ns"] / 1e9,
            "threads": threads, "meter_notes": self.meter_notes, "baseline_w": self._baseline_w,
            "cpu_model": cpu_model(), "cpu_count": os.cpu_count(), "ram_total_gb": ram_total_gb(),
            "os": platform.platform(), "hostname": platform.node(), "pid": self._pid,
            "regions": [{"name": n, "start_ns": int(a), "end_ns": int(b), "tid": int(tid)}
                        for n, a, b, tid in r.get("regions", [])],
        }
        if self.intensity is not None:
            meta["intensity"] = self.intensity.to_meta()
        return Recording(meta, functions, stacks, samples, domains, energy, timeline)


def decode_raw_results(raw: dict) -> dict:
    """The collector's raw results (arrays as bytes, csrc/module.cpp) as numpy arrays."""
    r = dict(raw)
    for name, dtype in (("t_ns", np.uint64), ("cpu_ns", np.uint64), ("tid", np.int32), ("cpu", np.int16),
                        ("stack", np.int32), ("stack_offsets", np.int64), ("stack_locs", np.int32),
                        ("loc_code", np.int32), ("loc_lasti", np.int32), ("loc_line", np.int32),
                        ("tick_t_ns", np.uint64)):
        r[name] = np.frombuffer(raw[name], dtype=dtype)
    r["tick_raw"] = np.frombuffer(raw["tick_raw"], dtype=np.uint64).reshape(-1, raw["nsources"])
    return r


def achieved_rate(engine: str, requested: float, samples: dict, user_cpu_s: float) -> dict:
    """Samples per CPU-second of the program (CPU engines) or per thread per second (wall)."""
    n = len(samples["t_ns"])
    if engine != "wall":
        return {"requested": requested, "achieved": n / user_cpu_s, "per": "CPU-second of the program's threads"}
    rates = []
    for tid in np.unique(samples["tid"]):
        t = samples["t_ns"][samples["tid"] == tid]
        if len(t) > 2 and t[-1] > t[0]:
            rates.append((len(t) - 1) / ((t[-1] - t[0]) / 1e9))
    return {"requested": requested, "achieved": float(np.median(rates)) if rates else 0.0,
            "per": "second of wall time, per thread (median)"}


def _is_own(file: str) -> bool:
    """Frames of the profiler's package: never shown (the named-region decorator's wrapper, the
    in-code API's enter and exit); their time is their caller's."""
    return file.startswith(_PKG_DIR + os.sep)


def _is_own_root(file: str) -> bool:
    """Frames of the profiler and of runpy (`python -m`), which stand below the user's code."""
    return _is_own(file) or os.path.basename(file) == "runpy.py" or file == "<frozen runpy>"


def convert_stacks(r: dict):
    """Native stacks (code-object locations, leaf first) -> functions and (function, line) stacks,
    root first, with the profiler's own root frames removed."""
    func_ids: Dict[FunctionInfo, int] = {}
    functions: List[FunctionInfo] = []

    def fid(info: FunctionInfo) -> int:
        if info not in func_ids:
            func_ids[info] = len(functions)
            functions.append(info)
        return func_ids[info]

    code_func = [fid(FunctionInfo(*c)) for c in r["codes"]]
    own_root = [_is_own_root(functions[f].file) for f in code_func]
    own = [_is_own(functions[f].file) for f in code_func]
    loc_code, loc_line = r["loc_code"].tolist(), r["loc_line"].tolist()
    offsets, locs = r["stack_offsets"].tolist(), r["stack_locs"].tolist()
    stack_ids: Dict[tuple, int] = {}
    stacks: List[tuple] = []
    stack_map = np.zeros(max(len(offsets) - 1, 0), dtype=np.int64)
    for i in range(len(offsets) - 1):
        frames = []
        for loc in reversed(locs[offsets[i]:offsets[i + 1]]):  # root first
            if loc < 0:  # -1: deeper than the sampler keeps; -2: caught mid-change
                frames.append((fid(TRUNCATED if loc == -1 else UNREADABLE), 0))
                continue
            code = loc_code[loc]
            if own[code] or (not frames and own_root[code]):
                continue  # the profiler's frames anywhere, and runpy's below the user's code
            f = code_func[code]
            line = loc_line[loc]
            frames.append((f, line if line >= 0 else functions[f].line))
        if not frames:
            frames.append((fid(NO_PYTHON_FRAME), 0))
        key = tuple(frames)
        if key not in stack_ids:
            stack_ids[key] = len(stacks)
            stacks.append(key)
        stack_map[i] = stack_ids[key]
    return functions, stacks, stack_map


class profile(contextlib.ContextDecorator):
    """Profile a block or a function: `with profile(output="run.pcarbon", formats=["html"]): ...`

    On exit the recording is saved to `output` (when given) and each format is rendered next to
    it; `.recording` and `.profile` hold the results.
    """

    def __init__(self, output: Optional[str] = None, formats: Sequence[str] = (), region: Optional[str] = None,
                 pue: float = 1.0, **profiler_options):
        self.output, self.formats, self.pue = output, list(formats), pue
        self.region = region
        self.options = profiler_options
        self.recording = self.profile = None

    def __enter__(self):
        from .commands.options import intensity_for
        self._profiler = Profiler(intensity=intensity_for(region=self.region), **self.options)
        self._profiler.pue = self.pue  # for pyprof_carbon.current()'s CO2
        self._profiler.start()
        return self

    def __exit__(self, *exc):
        from .output import write_outputs
        self.recording = self._profiler.stop()
        if self.recording is not None:
            self.profile, self.written = write_outputs(
                self.recording, self.output, self.formats, pue=self.pue)
        return False

"""Public API: Profiler, and `profile` as a context manager or decorator.

A Profiler opens the meters and the scheduler backend and lists their raw counter sources for the
native collector. Where the collector runs depends on who profiles: the in-code API (`start`,
`stop`) runs it in this process; `pyprof-carbon run` hands the sources to the program's own
interpreter (runner.py) and calls `follow` with its pid, then `finish` with what that process
handed over. Either way the raw results become a Recording here.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import threading
import time
from typing import Dict, List, Optional, Sequence

from ._lazy import numpy as np

from . import named_regions, process_stream, running_totals, speed_probe
from ._version import __version__
from .attribution import DEFAULT_POLICY, DEFAULT_SPLIT
from .errors import UserError
from .counters import SOURCE_KINDS, Ticks
from .meters.base import Meter
from .process_stream import ProcessStream
from .recording import NO_PYTHON_FRAME, FunctionInfo, Recording
from .sampling import DEFAULT_RATE, ENGINES
from .sampling_health import sampling_stats, sampling_warnings
from .sched.base import online_cpus

_PKG_DIR = os.path.dirname(os.path.abspath(__file__))
TRUNCATED = FunctionInfo("[truncated]", "[truncated]", "", 0)
STARTUP = FunctionInfo("[interpreter start-up]", "[interpreter start-up]", "", 0)
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
                 cadence_ms: Optional[float] = None, policy: str = DEFAULT_POLICY, split: str = DEFAULT_SPLIT,
                 baseline_s: float = 0.5, cpu_watts: Optional[float] = None,
                 tdp: Optional[float] = None, command: Optional[List[str]] = None,
                 intensity=None):
        if not 1 <= rate <= 100_000:
            raise UserError(f"--rate must be between 1 and 100000 Hz, not {rate:g}")
        if engine not in ENGINES:
            raise UserError(f"--engine must be one of {', '.join(ENGINES)}, not {engine!r}")
        self.rate, self.engine, self.policy, self.split = rate, engine, policy, split
        self.meter_names, self.sched_name = list(meters), sched
        self.cadence_ms, self.baseline_s = cadence_ms, baseline_s
        self.cpu_watts, self.tdp = cpu_watts, tdp
        self.command = command or [sys.argv[0]]
        self.intensity = intensity
        self.meters: List[Meter] = []
        self.meter_notes: List[dict] = []
        self.sched = None
        self._sched_closing = None  # release_sched's thread
        self._collector = None
        self._pid = None
        self._helper = None        # under sudo: the privileged helper (separate_privileges)
        self._held_owners = set()  # the meters and backend whose counters the helper reads
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
        for owner in [self.sched, *self.meters]:
            srcs = list(owner.sources())
            self._columns[owner.name] = slice(len(sources), len(sources) + len(srcs))
            sources += [(SOURCE_KINDS.index(s.kind), s.fd, s.offset, s.key, s.size) for s in srcs]
        self.sources = sources
        self.program_sources = sources  # what the program's own collector reads (all, but under sudo)
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

    def separate_privileges(self) -> str:
        """Under sudo, after open(): the counters opened with a descriptor go to a privileged
        helper process (privileges.start_helper), this process closes its copies, and the program
        will read only its own clocks (`program_sources`). A description for the recording."""
        from .privileges import start_helper
        held = [i for i, s in enumerate(self.sources) if s[1] >= 0]
        owners = [o for o in [self.sched, *self.meters] if any(self._columns[o.name].start <= i < self._columns[o.name].stop
                                                               for i in held)]
        self._helper = start_helper(owners, self.sources, held, self.cadence_ns)
        for o in owners:
            o.close()  # the helper holds them now; their arithmetic (energy, timeline) stays usable
        self._held_owners = {o.name for o in owners}
        self.program_sources = [s for s in self.sources if s[1] < 0]
        return (f"privileged helper (pid {self._helper.pid}) reads {len(held)} counters opened as root "
                f"({', '.join(sorted(self._held_owners))}); the program never held them")

    def follow(self, pid: int) -> None:
        """Account for process `pid` (the program `run` started) and start the meters."""
        self._pid = pid
        if self._helper is not None:
            self._helper.follow(pid)
        for owner in [self.sched, *self.meters]:
            if hasattr(owner, "follow") and owner.name not in self._held_owners:
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
        this = ProcessStream(process={"pid": self._pid, "ppid": os.getppid(), "argv": list(self.command),
                                      "how": "first", "start_unix_s": self._start_unix},
                             engine=self._engine_used, parts=[raw], thread_names=self._thread_names,
                             regions=named_regions.stop_keeping(), complete=True)
        return self.finish([this])

    def stop_meters(self) -> None:
        """The program has ended: meters that poll on their own (NVML) stop now, not after the
        streams are read, so their series ends with the program (a device reading after it would
        be the device's, not the program's). Again at finish: a no-op."""
        for m in self.meters:
            m.stop()
        if self._helper is not None:
            self._helper.close()  # its last readings are in; its BPF programs detached

    def release_sched(self) -> None:
        """The program has ended (`run`): the scheduler backend's kernel objects are closed in the
        background while the streams are merged, since detaching tracepoints waits for the
        kernel's RCU grace periods (~0.1 s here). Its counters were read in the program's
        process; timeline() needs none of them. _close waits for it."""
        if self.sched is not None and self._sched_closing is None and self.sched.name not in self._held_owners:
            self._sched_closing = threading.Thread(target=self.sched.close, name="pyprof-carbon sched close")
            self._sched_closing.start()

    def finish(self, streams: Sequence[ProcessStream], exit_status: Optional[int] = None) -> Optional[Recording]:
        """Stop the meters, close everything, and build the Recording from what the run's
        processes streamed, the first process of the run first (it read the counters); None when
        it left nothing (it died before its sampler started, or before its first samples were
        handed over)."""
        self.stop_meters()
        try:
            if not first_process_streamed(streams):
                return None
            rec = self._recording(streams)
            if exit_status is not None:
                with_exit_status(rec, exit_status)
            return rec
        finally:
            self._close()

    def close(self) -> None:
        """Stop the meters and close everything, building no recording: the run is saved
        unconverted (arithmetic(), unconverted.py)."""
        self.stop_meters()
        self._close()

    def arithmetic(self) -> Optional[dict]:
        """Everything but the streams that building the run's recording needs, as plain data (JSON),
        so that a run can be saved unconverted and converted where it is read (unconverted.py):
        the settings, the domains, each meter's arithmetic (Meter.arithmetic) and the scheduler
        backend's name and CPUs. None when the readings alone cannot be converted later: a meter
        polls from Python (NVML), or the privileged helper read some counters (sudo)."""
        meters = [m.arithmetic() for m in self.meters]
        if self._helper is not None or any(a is None for a in meters):
            return None
        return {**self.described(), "meters": meters, "sched": {"backend": self.sched.name, "ncpu": online_cpus()}}

    def described(self) -> dict:
        """The settings and the domains as plain data: what every journal's header holds, and the
        start of arithmetic()."""
        return {"settings": self.settings(),
                "domains": [dataclasses.asdict(d) for m in self.meters for d in m.domains()]}

    def _close(self):
        if self._sched_closing is not None:
            self._sched_closing.join()  # then sched.close() below finds nothing left to close
        if self._helper is not None:
            self._helper.close()
        for owner in [*self.meters, self.sched]:
            if owner is not None and owner.name not in self._held_owners:
                owner.close()

    def settings(self) -> dict:
        """What the rest of building a recording needs from this Profiler, as plain data: `assemble`
        takes it from here at the end of a run, and from the run's journal when the profiler was
        killed (journal.py)."""
        return {"command": list(self.command), "rate": float(self.rate), "cadence_ms": float(self._cadence_ms),
                "columns": {k: [v.start, v.stop] for k, v in self._columns.items()},
                "counts_descendants": bool(self.sched.counts_descendants), "meter_notes": self.meter_notes,
                "baseline_w": self._baseline_w, "policy": self.policy, "split": self.split,
                "intensity": self.intensity.to_meta() if self.intensity is not None else None}

    def program_ticks(self, tick_t, tick_raw) -> Ticks:
        """The readings of the run's first process (bytes or arrays, as its collector returns them)
        as Ticks of every source; under sudo the root-only sources' columns come from the
        privileged helper (privileges.Helper): its latest reading at each tick."""
        t = np.frombuffer(tick_t, dtype=np.uint64) if isinstance(tick_t, bytes) else np.asarray(tick_t)
        t = t.astype(np.int64)
        raw = np.frombuffer(tick_raw, dtype=np.uint64) if isinstance(tick_raw, bytes) else np.asarray(tick_raw)
        raw = raw.reshape(len(t), -1)
        if self._helper is not None:
            raw = self._helper.merged(t, raw, len(self.sources))
        return Ticks(t, raw, self._columns)

    def convert(self, ticks: Ticks):
        """(the scheduler timeline, {domain: EnergySeries}) of these readings."""
        timeline = self.sched.timeline(ticks)
        energy = {}
        for m in self.meters:
            energy.update(m.energy(ticks, timeline))
        return timeline, energy

    def _recording(self, streams: Sequence[ProcessStream]) -> Recording:
        processes = decoded(streams)
        r = processes[0][1]
        ticks = self.program_ticks(r["tick_t_ns"], r["tick_raw"])
        r["tick_raw"] = ticks.raw  # every source's column (under sudo, the helper's too)
        timeline, energy = self.convert(ticks)
        return assemble(self.settings(), [d for m in self.meters for d in m.domains()], energy, timeline,
                        processes, {s.pid for s in streams})


def with_exit_status(rec: Recording, status: int) -> None:
    """The program's exit status (Popen-style) in the recording: the run's, and its first process's."""
    rec.meta["exit_status"] = status
    rec.meta["processes"][0]["exit_status"] = status


def first_process_streamed(streams: Sequence[ProcessStream]) -> bool:
    """Whether the run's first process handed over samples (else there is nothing to record: it
    died before its sampler started, or before its first samples were handed over)."""
    return bool(streams) and streams[0].process.get("how") == "first" and bool(streams[0].parts)


def decoded(streams: Sequence[ProcessStream]) -> list:
    """(stream, its decoded raw results) of each process that streamed any, the first process first."""
    return [(s, decode_raw_results(process_stream.joined(s.parts))) for s in streams if s.parts]


def about_run(start_unix: float) -> dict:
    """The meta of a run that its data does not give: this tool, this machine, a new run id
    (taken when the run ends: a run saved unconverted keeps them for whoever converts it)."""
    import platform  # here, not at the top: `run` imports this module before the program starts
    import uuid
    from .meters.model import cpu_model, ram_total_gb
    return {"tool_version": __version__, "run_id": str(uuid.uuid4()), "python": platform.python_version(),
            "python_implementation": platform.python_implementation(),
            "start_time": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(start_unix)),
            "cpu_model": cpu_model(), "cpu_count": os.cpu_count(), "ram_total_gb": ram_total_gb(),
            "os": os_description(), "hostname": platform.node()}


def assemble(settings: dict, domains, energy, timeline, processes: list, profiled: set,
             about: Optional[dict] = None) -> Recording:
    """The Recording of a run: its settings (Profiler.settings), the energy and scheduler timeline
    its meters made of the first process's readings, and what every process streamed (`decoded`;
    `profiled`: the pids of every process that left a stream); `about`: about_run() of the run
    (None: taken now)."""
    first, r = processes[0]
    columns = {k: slice(*v) for k, v in settings["columns"].items()}
    if r["tick_raw"].shape[1] != max((c.stop for c in columns.values()), default=0):
        columns = {}  # a recovered run under sudo: the helper's columns never reached the streams
    others = unprofiled_children(processes, profiled)
    # a backend that follows every descendant (eBPF) counted their CPU time itself
    children_cpu = [] if settings["counts_descendants"] else \
        [own_clocks(raw, 0) for _, raw in processes[1:]] + [(c["t_ns"], c["cpu_ns"]) for c in others]
    timeline = with_children_cpu(timeline, children_cpu, [own_clocks(raw, 1) for _, raw in processes[1:]])
    functions, stacks, samples = merge_processes(processes, others)
    stats = {k: sum(int(raw["stats"][k]) for _, raw in processes)
             for k in ("lost", "unreadable", "lost_cpu_ns", "handler_ns", "collector_cpu_ns")}
    duration = (timeline.t_ns[-1] - timeline.t_ns[0]) / 1e9 if len(timeline.t_ns) else 0.0
    user_cpu_s = max((timeline.process_cpu_ns[-1] - timeline.profiler_cpu_ns[-1]) / 1e9, 1e-9) \
        if len(timeline.t_ns) else 1e-9
    engine_used = first.engine or "none"
    rate = achieved_rate(engine_used, settings["rate"], samples, user_cpu_s)
    threads, table, regions, warnings = [], [], [], []
    for s, raw in processes:
        names = s.thread_names
        mine = [{"tid": th["tid"], "pid": s.pid, "name": names.get(th["tid"], th["comm"]), "comm": th["comm"],
                 "arm_error": th["arm_error"], "blocked": th.get("blocked", False)} for th in raw["threads"]]
        threads += mine
        table.append(process_entry(s, raw))
        regions += [{"name": n, "start_ns": int(a), "end_ns": int(b), "tid": int(tid)}
                    for n, a, b, tid in s.regions]
        if s is first:
            warnings += sampling_warnings(raw["stats"], mine, rate, r["tick_raw"], columns, user_cpu_s)
        else:  # a child reads no counters; its rate is judged with the whole run's
            warnings += [f"process {s.pid}: {w}" for w in
                         sampling_warnings(raw["stats"], mine, {}, raw["tick_raw"][:0], {}, 0.0)]
    start_unix = float(first.process.get("start_unix_s", time.time()))
    meta = {
        **(about or about_run(start_unix)),
        "command": settings["command"],
        "start_unix_s": start_unix,
        "start_monotonic_ns": int(timeline.t_ns[0]) if len(timeline.t_ns) else 0,
        "duration_s": duration, "engine": engine_used,
        "rate_hz": rate,
        "cadence_ms": settings["cadence_ms"], "samples": int(len(samples["t_ns"])),
        "lost_samples": stats["lost"], "unreadable_samples": stats["unreadable"],
        "lost_cpu_s": stats["lost_cpu_ns"] / 1e9, "handler_s": stats["handler_ns"] / 1e9,
        "collector_cpu_s": stats["collector_cpu_ns"] / 1e9,
        "threads": threads, "processes": table, "meter_notes": settings["meter_notes"],
        "baseline_w": settings["baseline_w"], "pid": first.pid,
        "regions": sorted(regions, key=lambda g: g["start_ns"]),
        "sampling": sampling_stats(r["stats"]),
        "speed_probe": speed_probe.summarize([raw["stats"]["probe_hist"] for _, raw in processes
                                              if "probe_hist" in raw["stats"]], r["stats"].get("probe_unit", "")),
        "sampling_warnings": warnings,
        # the run's attribution settings travel with it: whoever attributes it reads them there
        "attribution": settings["policy"], "split": settings["split"],
    }
    for c in others:  # a child that ran no Python: its samples are its parent's, its row its own
        threads.append({"tid": c["pid"], "pid": c["pid"], "name": f"[subprocess] {c['comm']}", "comm": c["comm"],
                        "arm_error": "", "blocked": False})
        table.append({"pid": c["pid"], "ppid": c["parent"], "argv": c["argv"].split(" "), "how": "subprocess",
                      "start_ns": int(c["t_ns"][0]), "end_ns": int(c["t_ns"][-1]), "complete": True,
                      "exit_status": None, "samples": 0})
    if not first.complete:
        meta["cut_short"] = ("the program ended without its exit work (os._exit or a signal that cannot be "
                             "caught): its last moments, up to 50 ms, are missing")
    if settings["intensity"] is not None:
        meta["intensity"] = settings["intensity"]
    return Recording(meta, functions, stacks, samples, domains, energy, timeline)


def os_description() -> str:
    """platform.platform() ('Linux-6.18.44-x86_64-with-glibc2.36') without the processor field,
    which it drops whenever it is empty or the machine's name, as on Linux: looking it up there
    runs `uname -p` in a subprocess, 20-50 ms at the end of every run."""
    import platform
    if sys.platform != "linux":
        return platform.platform()
    u = platform.uname()
    lib, version = platform.libc_ver()
    return "-".join(p for p in (u.system, u.release, u.machine, "with" if lib else "", lib + version) if p)


def process_entry(s: ProcessStream, raw: dict) -> dict:
    """A row of the recording's process table."""
    t = raw["tick_t_ns"]
    return {"pid": s.pid, "ppid": int(s.process.get("ppid", 0)), "argv": [str(a) for a in s.process.get("argv", [])],
            "how": str(s.process.get("how", "")), "start_ns": int(t[0]) if len(t) else 0,
            "end_ns": int(t[-1]) if len(t) else 0, "complete": bool(s.complete), "exit_status": None,
            "samples": int(len(raw["t_ns"]))}


def with_children_cpu(timeline, process_cpu: Sequence[tuple], profiler_cpu: Sequence[tuple] = ()):
    """The run's CPU time is its whole process tree's: each (t_ns, cumulative ns) series of a
    child, on the same monotonic clock, is added at the first process's ticks (zero before the
    child's first reading, its last value after its end): its process CPU to the process column,
    its profiler's CPU to the profiler column."""
    if not (process_cpu or profiler_cpu) or not len(timeline.t_ns):
        return timeline
    t = timeline.t_ns.astype(np.float64)
    proc, prof = timeline.process_cpu_ns.astype(np.float64), timeline.profiler_cpu_ns.astype(np.float64)
    for total, series in ((proc, process_cpu), (prof, profiler_cpu)):
        for ct, cpu in series:
            if len(ct):
                total += np.interp(t, ct.astype(np.float64), cpu.astype(np.float64), left=0.0, right=float(cpu[-1]))
    return dataclasses.replace(timeline, process_cpu_ns=proc.astype(np.int64), profiler_cpu_ns=prof.astype(np.int64))


def own_clocks(raw: dict, column: int) -> tuple:
    """(t_ns, cumulative ns) of a profiled child's own clock: column 0 its process CPU, 1 its
    profiler's (the sources every child reads, sitecustomize.py)."""
    return raw["tick_t_ns"], raw["tick_raw"][:, column]


def unprofiled_children(processes, profiled) -> List[dict]:
    """Child processes that ran no profiled Python (a compiler, gzip, a C++ binary), seen by their
    parent's collector in /proc: their CPU time series, and the parent's stack that started them
    (the last process-starting audit event before the child was first seen)."""
    out = []
    for s, raw in processes:
        child_t, child_pid, child_cpu = raw["child_t_ns"], raw["child_pid"], raw["child_cpu_ns"]
        spawns = sorted(raw.get("spawns", []))
        for pid, first_seen, comm in raw.get("children", []):
            if pid in profiled:
                continue
            mine = child_pid == pid
            if not mine.any():
                continue
            before = [sp for sp in spawns if sp[0] <= first_seen]
            spawn = before[-1] if before else None
            out.append({"parent": s.pid, "pid": int(pid), "comm": str(comm),
                        "argv": spawn[3] if spawn else str(comm), "stack": spawn[2] if spawn else None,
                        "t_ns": child_t[mine].astype(np.int64), "cpu_ns": child_cpu[mine].astype(np.int64)})
    return out


def merge_processes(processes, others=()):
    """One function table, one stack table and one sample table (with a `pid` column) for the
    samples of every process, in time order. Each child that ran no profiled Python (`others`)
    becomes samples of its parent: one per increase of its CPU time, on the stack that started it
    with a `[subprocess] COMMAND` leaf, its pid standing for a thread id."""
    func_ids: Dict[FunctionInfo, int] = {}
    functions: List[FunctionInfo] = []
    stack_ids: Dict[tuple, int] = {}
    stacks: List[tuple] = []
    columns = {k: [] for k in ("t_ns", "cpu_ns", "tid", "cpu", "stack", "pid", "nvcsw", "native")}

    def fid(info: FunctionInfo) -> int:
        if info not in func_ids:
            func_ids[info] = len(functions)
            functions.append(info)
        return func_ids[info]

    def sid(key: tuple) -> int:
        if key not in stack_ids:
            stack_ids[key] = len(stacks)
            stacks.append(key)
        return stack_ids[key]

    def add(t, q, tid, stack, pid, cpu=None, nvcsw=None, native=None):
        k = len(t)
        columns["t_ns"].append(np.asarray(t, dtype=np.int64))
        columns["cpu_ns"].append(np.asarray(q, dtype=np.int64))
        columns["tid"].append(np.broadcast_to(np.int32(tid), (k,)) if np.isscalar(tid) else tid)
        columns["cpu"].append(np.full(k, -1, dtype=np.int16) if cpu is None else cpu)
        columns["stack"].append(np.broadcast_to(np.int32(stack), (k,)) if np.isscalar(stack) else stack)
        columns["pid"].append(np.full(k, pid, dtype=np.int32))
        columns["nvcsw"].append(np.zeros(k, dtype=np.uint32) if nvcsw is None else nvcsw)
        columns["native"].append(np.zeros(k, dtype=np.uint8) if native is None else native)

    for s, raw in processes:
        funcs, proc_stacks, stack_map = convert_stacks(raw)
        fmap = [fid(f) for f in funcs]
        smap = np.array([sid(tuple((fmap[f], line) for f, line in st)) for st in proc_stacks], dtype=np.int32)
        # the run's stack id of each of the process's stacks (-1: the profiler's own work), so
        # that a sample's column is looked up once, into its final int32 array
        to_run = np.where(stack_map >= 0, smap[np.maximum(stack_map, 0)] if len(smap) else -1, -1).astype(np.int32)
        own = np.flatnonzero(to_run < 0)
        # the program's samples; all of them (views, no copy) unless some are the profiler's own work
        sel = ~np.isin(raw["stack"], own) if len(own) else slice(None)
        add(raw["t_ns"].view(np.int64)[sel], raw["cpu_ns"].view(np.int64)[sel], raw["tid"][sel],
            to_run[raw["stack"][sel]], s.pid, cpu=raw["cpu"][sel],
            nvcsw=raw["nvcsw"].astype(np.uint32, copy=False)[sel], native=raw["native"][sel])
        if s.process.get("how") == "exec" and len(raw["tick_t_ns"]):
            # a Python child's CPU time before its sampler ran (its clock at the first tick): the
            # interpreter's start-up, site and .pth files; one sample of its own main thread
            add(raw["tick_t_ns"][:1], raw["tick_raw"][:1, 0], s.pid, sid(((fid(STARTUP), 0),)), s.pid)
        for c in (c for c in others if c["parent"] == s.pid):
            leaf = fid(FunctionInfo(f"[subprocess] {c['argv']}", f"[subprocess] {c['argv']}", "", 0))
            started_by = stack_map[c["stack"]] if c["stack"] is not None else -1
            caller = stacks[smap[started_by]] if started_by >= 0 else ()  # -1: in the profiler's own work
            add(c["t_ns"], np.diff(c["cpu_ns"], prepend=0), c["pid"], sid(tuple(caller) + ((leaf, 0),)), s.pid)
    samples = {k: _one_array(v) for k, v in columns.items()}
    t = samples["t_ns"]
    if len(t) > 1 and not (t[1:] >= t[:-1]).all():  # threads' samples interleave slightly in the ring
        by_time = np.argsort(t, kind="stable")
        for v in samples.values():  # in place, a column at a time: no second copy of the table
            v[...] = v[by_time]
    return functions, stacks, samples


def _one_array(parts: list) -> np.ndarray:
    """The parts of a sample column as one writable array: the part itself when there is one (a
    long run's first process: a view of its stream's bytes, not a copy), else their join."""
    if len(parts) == 1 and parts[0].flags.writeable and parts[0].flags.c_contiguous:
        return parts[0]
    return np.concatenate(parts) if parts else np.zeros(0)


def decode_raw_results(raw: dict) -> dict:
    """The collector's raw results (arrays as bytes, csrc/module.cpp) as numpy arrays."""
    r = dict(raw)
    for name, dtype in (("t_ns", np.uint64), ("cpu_ns", np.uint64), ("tid", np.int32), ("cpu", np.int16),
                        ("stack", np.int32), ("nvcsw", np.uint32), ("native", np.uint8), ("stack_offsets", np.int64), ("stack_locs", np.int32),
                        ("loc_code", np.int32), ("loc_lasti", np.int32), ("loc_line", np.int32),
                        ("tick_t_ns", np.uint64),
                        ("child_t_ns", np.uint64), ("child_pid", np.int32), ("child_cpu_ns", np.uint64)):
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


RUNS_USER_CODE = ("named_regions.py", "pytest_plugin.py", "ipython.py")  # our frames that call the program's


def _is_own(file: str) -> bool:
    """Frames of the profiler's package: never shown (the named-region decorator's wrapper, the
    in-code API's enter and exit); their time is their caller's."""
    return file.startswith(_PKG_DIR + os.sep)


def _is_own_root(file: str) -> bool:
    """Frames of the profiler and of runpy (`python -m`), which stand below the user's code."""
    return _is_own(file) or os.path.basename(file) == "runpy.py" or file == "<frozen runpy>"


def _is_site(file: str) -> bool:
    return file == "<frozen site>" or os.path.basename(file) == "site.py"


def convert_stacks(r: dict):
    """Native stacks (code-object locations, leaf first) -> functions and (function, line) stacks,
    root first, with the profiler's own frames removed. A stack that passes through the
    profiler's own work (the in-code API starting or stopping, its imports) is the profiler's,
    not the program's: its stack_map entry is -1 (the caller drops those samples). Frames of ours
    that run the program's code (a region's decorator, the pytest plugin, the IPython magics)
    are only left out."""
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
    own_work = [o and os.path.basename(functions[f].file) not in RUNS_USER_CODE for o, f in zip(own, code_func)]
    # the rest of `site` after our bootstrap (usercustomize, .pth files) is the interpreter's start-up
    in_site = [_is_site(functions[f].file) for f in code_func]
    loc_code, loc_line = r["loc_code"].tolist(), r["loc_line"].tolist()
    offsets, locs = r["stack_offsets"].tolist(), r["stack_locs"].tolist()
    stack_ids: Dict[tuple, int] = {}
    stacks: List[tuple] = []
    stack_map = np.zeros(max(len(offsets) - 1, 0), dtype=np.int64)
    for i in range(len(offsets) - 1):
        frames = []
        stack = locs[offsets[i]:offsets[i + 1]]
        if any(loc >= 0 and own_work[loc_code[loc]] for loc in stack):
            stack_map[i] = -1
            continue
        for loc in reversed(stack):  # root first
            if loc < 0:  # -1: deeper than the sampler keeps; -2: caught mid-change
                frames.append((fid(TRUNCATED if loc == -1 else UNREADABLE), 0))
                continue
            code = loc_code[loc]
            if own[code] or (not frames and own_root[code]):
                continue  # the profiler's frames anywhere, and runpy's below the user's code
            if not frames and in_site[code]:
                frames.append((fid(STARTUP), 0))
                break
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
        from .carbon import intensity
        self._profiler = Profiler(intensity=intensity(region=self.region), **self.options)
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

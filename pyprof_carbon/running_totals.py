"""`pyprof_carbon.current()`: the energy, CO2 and CPU time of the profiling session so far.

Two places can profile a program, and the totals are computed where the meters are:

- the in-code API (`with pyprof_carbon.profile(): ...`): the collector and the meters are both
  in this process; `current()` copies the collector's ticks so far (`Collector.snapshot()`) and
  runs the meters' math on them here (this imports numpy, which the API has imported anyway);
- `pyprof-carbon run script.py`: the collector runs in the program's interpreter, the meters
  (their constants, NVML's polling, the baseline) stay in the profiler's process. `run` passes
  the program one end of a socketpair (its descriptor in the bootstrap's config); `current()`
  sends the ticks so far over it and the profiler's process answers with the totals computed
  by the same function with its own meters (`serve`). The program imports nothing for this but
  this module (marshal and os are built in): no numpy in the program.

Each call sends all the readings so far (five sources at the default 10 ms cadence: about 14 MB
an hour) and the totals are recomputed from the start, so a call late in a long run costs more
than one early on; it is meant for checkpoints, not for a hot loop.

The figures are those of the report's totals, from the readings so far (the last is at most one
cadence, 10 ms by default, old): the energy attributed to the program with the run's policy,
without the profiler's own part (attribution.py, steps 1 and 2), its CO2eq at the run's carbon
intensity and PUE, and the program's CPU time without the profiler's. They need no samples, so
they are ready at any moment. One difference: a per-core energy domain (AMD `core:N`, counted
only when there is no package domain) is shared by the program's part of the whole machine's
CPU time, where the report follows the core each sample ran on.

Nothing profiling (or a child the program forked): `current()` returns None.
"""
import marshal
import os
import sys

_LENGTH = 8  # bytes of the length that precedes each marshal message on the socket
_in_process = []  # in-code Profilers running in this process (Profiler.start / stop)
_lock = None      # one request at a time on the socket, whichever thread asks


def current():
    """The running totals of the profiling session, or None when nothing profiles this process:
    {"energy_j", "energy_kind" ("measured", "estimated" or "partly measured"), "co2_g",
    "cpu_s", "duration_s", "domains": {name: {"energy_j", "measured", "meter"}}}."""
    for prof in reversed(_in_process):
        if prof._pid == os.getpid() and prof._collector is not None:
            t, raw = prof._collector.snapshot()
            return totals(prof, t, raw, getattr(prof, "pue", 1.0))
    state = getattr(sys.modules.get("pyprof_carbon"), "_run_totals", None)
    if state is None:
        return None
    collector, fd, pid = state
    if os.getpid() != pid or fd is None:  # a forked child: the session is its parent's
        return None
    global _lock
    if _lock is None:
        import _thread
        _lock = _thread.allocate_lock()
    t, raw = collector.snapshot()
    with _lock:
        _send(fd, (t, raw))
        answer = _receive(fd)
    if answer is None:
        raise RuntimeError("pyprof-carbon: the profiler's process did not answer")
    if "error" in answer:
        raise RuntimeError(f"pyprof-carbon: running totals failed: {answer['error']}")
    return answer


def _send(fd: int, obj) -> None:
    data = marshal.dumps(obj)
    data = len(data).to_bytes(_LENGTH, "little") + data
    while data:
        data = data[os.write(fd, data):]


def _receive(fd: int):
    """One message, or None at end of file."""
    head = _read_exactly(fd, _LENGTH)
    if head is None:
        return None
    body = _read_exactly(fd, int.from_bytes(head, "little"))
    return None if body is None else marshal.loads(body)


def _read_exactly(fd: int, n: int):
    parts, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            return None
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def totals(profiler, tick_t: bytes, tick_raw: bytes, pue: float = 1.0) -> dict:
    """The running totals from the ticks so far, with `profiler`'s meters and scheduler backend
    (the report's math for the totals: attribution.process_energy and the profiler's part)."""
    import time

    import numpy as np

    from . import carbon
    from .recording import total_domains
    from .attribution import SMOOTHING_NS, process_energy, windowed_diff

    ticks = profiler.program_ticks(tick_t, tick_raw)
    t = ticks.t_ns
    domains = [d for m in profiler.meters for d in m.domains()]
    out = {"energy_j": 0.0, "co2_g": 0.0, "cpu_s": 0.0, "duration_s": 0.0,
           "domains": {d.name: {"energy_j": 0.0, "measured": d.measured, "meter": d.meter} for d in domains}}
    counted = set(total_domains([d.name for d in domains], {d.name: d for d in domains}))
    kinds = {d.measured for d in domains if d.name in counted}
    out["energy_kind"] = "measured" if kinds == {True} else "estimated" if kinds == {False} else "partly measured"
    if len(t) < 2:
        return out
    sched, energy = profiler.convert(ticks)
    intensity = profiler.intensity
    if intensity is None:  # the Profiler was made without one: the default resolution, once
        from .carbon import intensity as resolve
        intensity = profiler.intensity = resolve()
    # CLOCK_MONOTONIC (the ticks') to Unix time, for the intensity in force at each interval
    to_unix = time.time() - time.monotonic_ns() / 1e9
    window = SMOOTHING_NS if sched.backend == "procfs" else 0
    sched_t = sched.t_ns.astype(np.float64)
    baseline = getattr(profiler, "_baseline_w", None) or {}
    for d in domains:
        es = energy[d.name]
        T = es.t_ns.astype(np.float64)
        if len(T) < 2:
            continue
        dE, dt_ns = np.diff(es.energy_j), np.diff(T)
        cum = {k: np.interp(T, sched_t, getattr(sched, k).astype(np.float64))
               for k in ("machine_busy_ns", "process_cpu_ns", "profiler_cpu_ns")}
        dC, dP = np.diff(cum["process_cpu_ns"]), np.diff(cum["profiler_cpu_ns"])
        dB_w = windowed_diff(cum["machine_busy_ns"], T, window)
        dC_w = windowed_diff(cum["process_cpu_ns"], T, window)
        device_share = es.share[1:] if es.share is not None else None
        A = process_energy(dE, dt_ns, dB_w, dC_w, sched.ncpu, profiler.policy, baseline.get(d.name, 0.0),
                           device_share)
        if device_share is None:  # the profiler's own part of the process's CPU time is its cost
            A = A - A * np.clip(np.divide(dP, dC, out=np.zeros_like(dE), where=dC > 0), 0.0, 1.0)
        e = float(A.sum())
        out["domains"][d.name]["energy_j"] = e
        if d.name in counted:
            out["energy_j"] += e
            out["co2_g"] += float(carbon.co2_g(A, to_unix + T[:-1] / 1e9, intensity, pue).sum())
    if len(sched.t_ns):
        out["cpu_s"] = max(float(sched.process_cpu_ns[-1] - sched.profiler_cpu_ns[-1]), 0.0) / 1e9
        out["duration_s"] = float(sched.t_ns[-1] - sched.t_ns[0]) / 1e9
    return out


class Server:
    """`run`'s side of the channel: a socketpair whose other end the program inherits
    (`child_fd`), and a thread that answers each request with `totals` of the profiler's meters
    until the program's end closes (or `close()`)."""

    def __init__(self, profiler, pue: float = 1.0):
        import socket
        import threading
        self._ours, self._theirs = socket.socketpair()
        self.child_fd = self._theirs.fileno()
        self._profiler, self._pue = profiler, pue
        self._stream = None
        # started by spawned(): under sudo, only once this process has dropped root (a request
        # from the program is never read by a privileged process)
        self._thread = threading.Thread(target=self._serve, name="pyprof-carbon current()", daemon=True)

    def spawned(self, child) -> None:
        """The program has its copy of the other end: ours closes, so its exit ends the thread.
        `child` (runner.Child): where the program streams the readings it no longer holds."""
        self._stream = os.path.join(child.workdir, f"proc-{child.process.pid}.stream")
        self._theirs.close()
        self._thread.start()

    def _readings(self, tick_t: bytes, tick_raw: bytes):
        """The program's readings so far: those it has streamed, then those it still held (a
        flush between its copy and this read puts some in both: kept once, by time)."""
        import numpy as np
        from . import process_stream
        try:
            streamed = process_stream.read(self._stream)
        except OSError:
            streamed = None
        if streamed is None or not streamed.parts:
            return tick_t, tick_raw
        done = process_stream.joined(streamed.parts)
        t0 = np.frombuffer(done["tick_t_ns"], dtype=np.uint64)
        raw0 = np.frombuffer(done["tick_raw"], dtype=np.uint64).reshape(len(t0), -1)
        t1 = np.frombuffer(tick_t, dtype=np.uint64)
        keep = t0 < t1[0] if len(t1) else np.ones(len(t0), bool)
        return (np.concatenate((t0[keep], t1)).tobytes(),
                np.concatenate((raw0[keep].ravel(), np.frombuffer(tick_raw, dtype=np.uint64))).tobytes())

    def _serve(self) -> None:
        fd = self._ours.fileno()
        try:
            while True:
                request = _receive(fd)
                if request is None:
                    return
                try:
                    answer = totals(self._profiler, *self._readings(request[0], request[1]), self._pue)
                except Exception as e:  # the program gets the reason, as a RuntimeError
                    answer = {"error": f"{type(e).__name__}: {e}"}
                _send(fd, answer)
        except OSError:  # closed under us by close(): the run is over
            pass
        finally:  # whatever ended the loop, the program's next request gets end of file, not a hang
            self._ours.close()

    def close(self) -> None:
        """After the program has exited and before the meters close: a grandchild that kept the
        descriptor open must not keep the thread (or the meters) in use."""
        import socket
        try:
            self._ours.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        if self._thread.ident is not None:
            self._thread.join(timeout=5.0)
        self._ours.close()
        if not self._theirs._closed:
            self._theirs.close()

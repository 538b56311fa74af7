"""What survives the profiler's own death: its journal in the run's working directory, and the
recovery of a run from that directory.

`run -o OUT.pcarbon` streams every profiled process's samples and readings into `OUT.pcarbon.partial/`
(process_stream.py). Those streams alone cannot make a recording: the meaning of the raw readings
(which counter is which domain, units, wraparound, the scheduler backend's arithmetic) and the
run's settings live in the profiler's process. So the profiler keeps a journal there too,
`profiler.stream`, in the same checksummed chunks. Where that meaning is plain data (every meter
but NVML, no privileged helper: Profiler.arithmetic), the journal is that one chunk,

    {"run": JSON of Profiler.arithmetic()}

and a recovery converts everything the streams hold with it (unconverted.convert). Otherwise the
energy has to be converted while the run goes on:

    {"run": JSON of {"settings": Profiler.settings(), "domains": [...]}}
    {"energy": {domain: {t_ns, j, share}}, "timeline": {t_ns, busy, proc, prof},
     "sched": {backend, ncpu, resolution_note}}                                     every INTERVAL_S

each later chunk holding the rows of the energy series and scheduler timeline converted since the
previous one (the journal reads the first process's stream as it grows, process_stream.Tail).
When the recording is saved the directory is removed. If the profiler was killed (SIGKILL, the
OOM killer) the directory stays, and `report OUT.pcarbon` (or `report OUT.pcarbon.partial`)
rebuilds the recording from it with the same code a finished run uses (profiler.assemble): the
samples up to each process's last chunk (and with checkpoints, the energy up to the journal's last
chunk, the samples after it left out), marked `cut_short`. `run` refuses to start over such a
directory, so nothing recoverable is overwritten.
"""
from __future__ import annotations

import json
import os
import threading
import time
from typing import Optional

from ._lazy import numpy as np

from . import process_stream
from .errors import UserError
from .recording import Domain, EnergySeries, Recording, SchedTimeline, checked
from .runner import workdir_for

NAME = "profiler.stream"
INTERVAL_S = 0.25  # a killed profiler loses this much of the readings (more on a long run: _loop)
KILLED = ("the profiler was killed before it finished: recovered from its working directory, up to the "
          "profiler's last checkpoint ({} samples after it are left out: no energy was converted for them)")
KILLED_CONVERTED = ("the profiler was killed before it finished: recovered from its working directory, with "
                    "everything its processes had streamed (their last moments, up to 50 ms each, are missing)")


class Journal:
    """The profiler's side of the working directory (module docstring)."""

    def __init__(self, profiler, workdir: str, first_pid: int, arithmetic: Optional[dict]):
        """`arithmetic`: profiler.arithmetic() (None: the journal converts as the run goes)."""
        self.profiler = profiler
        self.fd = os.open(os.path.join(workdir, NAME),
                          os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        # as JSON: the settings hold numpy numbers (a baseline's watts), which marshal refuses
        self._write({"run": json.dumps(arithmetic or profiler.described(), default=_plain)})
        self._stop = threading.Event()
        self._thread = None
        if arithmetic is not None:
            return  # the recovery converts what the streams hold with it: nothing to checkpoint
        self._tail = process_stream.Tail(os.path.join(workdir, process_stream.stream_name(first_pid)))
        self._t, self._raw = [], []
        self._done = {"timeline": 0}  # rows already written, per series
        self._thread = threading.Thread(target=self._loop, name="pyprof-carbon journal", daemon=True)
        self._thread.start()

    def _write(self, chunk: dict) -> None:
        data = process_stream.encode(chunk)
        while data:
            data = data[os.write(self.fd, data):]

    def _loop(self) -> None:
        wait = INTERVAL_S
        while not self._stop.wait(wait):
            t0 = time.thread_time()
            try:
                self.checkpoint()
            except Exception:  # a journal that fails costs only the recovery, never the run
                return
            # each checkpoint converts the readings from the start (a meter's arithmetic needs
            # them all): on a long run it spaces out, so the journal never costs more than 1/20
            # of a CPU
            wait = max(INTERVAL_S, 20 * (time.thread_time() - t0))

    def checkpoint(self) -> None:
        """Convert the readings the first process has streamed so far; write the new rows."""
        for c in self._tail.new_chunks():
            if isinstance(c.get("results"), dict):
                self._t.append(c["results"]["tick_t_ns"])
                self._raw.append(c["results"]["tick_raw"])
        if not self._t:
            return
        timeline, energy = self.profiler.convert(self.profiler.program_ticks(b"".join(self._t), b"".join(self._raw)))
        chunk = {"energy": {}, "sched": {"ncpu": timeline.ncpu, "backend": timeline.backend,
                                         "resolution_note": timeline.resolution_note}}
        k = self._done["timeline"]
        chunk["timeline"] = {name: getattr(timeline, field)[k:].astype(np.int64).tobytes()
                             for name, field in TIMELINE}
        self._done["timeline"] = len(timeline.t_ns)
        for d, es in energy.items():
            k = self._done.get(d, 0)
            chunk["energy"][d] = {"t_ns": es.t_ns[k:].astype(np.int64).tobytes(),
                                  "j": es.energy_j[k:].astype(np.float64).tobytes(),
                                  "share": None if es.share is None else es.share[k:].astype(np.float64).tobytes()}
            self._done[d] = len(es.t_ns)
        self._write(chunk)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        os.close(self.fd)


TIMELINE = (("t_ns", "t_ns"), ("busy", "machine_busy_ns"), ("proc", "process_cpu_ns"), ("prof", "profiler_cpu_ns"))


def find(path: str) -> Optional[str]:
    """The working directory of a killed run that `path` names (the run's output, which was never
    written, or the directory itself); None when `path` is something else."""
    if os.path.isdir(path) and os.path.isfile(os.path.join(path, NAME)):
        return path
    d = workdir_for(path)
    if not os.path.exists(path) and os.path.isfile(os.path.join(d, NAME)):
        return d
    return None


def load_any(path: str) -> Recording:
    """`report`'s and `diff`'s loader: a saved recording (converted, or a run saved unconverted:
    unconverted.py), or the run a killed profiler left at `path`."""
    from . import unconverted
    from .recording import load
    workdir = find(path)
    if workdir is not None:
        return recover(workdir)
    return unconverted.load(path) if unconverted.is_unconverted(path) else load(path)


def recover(workdir: str) -> Recording:
    """The recording of a killed run from its working directory, checked as a saved one is."""
    try:
        with open(os.path.join(workdir, NAME), "rb") as f:
            chunks, _, _ = process_stream.decode(f.read())
        streams = process_stream.read_all(workdir)
    except OSError as e:
        raise UserError(f"cannot read {workdir}: {e.strerror or e}") from None
    if not chunks or not isinstance(chunks[0].get("run"), str):
        raise UserError(f"{workdir}: the profiler's journal has no header: nothing to recover")
    from .profiler import first_process_streamed
    if not first_process_streamed(streams):
        raise UserError(f"{workdir}: the program left no samples: nothing to recover")
    try:
        header = json.loads(chunks[0]["run"])
        if "meters" in header:  # the meters' arithmetic (Profiler.arithmetic): every sample converts
            from .unconverted import convert
            rec = convert(header, streams)
            rec.meta["cut_short"] = KILLED_CONVERTED
        else:
            rec = _rebuild(header, chunks, streams)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
        raise UserError(f"{workdir}: cannot recover the run: {type(e).__name__}: {e}") from None
    return checked(rec, workdir)  # whatever the directory held is checked like any recording


def _rebuild(header, chunks, streams) -> Recording:
    from .profiler import achieved_rate, assemble, decoded
    columns = {name: [] for name, _ in TIMELINE}
    series, sched = {}, None
    for c in chunks[1:]:
        if not isinstance(c.get("timeline"), dict):
            continue
        sched = c["sched"]
        for name, _ in TIMELINE:
            columns[name].append(np.frombuffer(c["timeline"][name], dtype=np.int64))
        for d, part in c["energy"].items():
            s = series.setdefault(d, {"t_ns": [], "j": [], "share": []})
            s["t_ns"].append(np.frombuffer(part["t_ns"], dtype=np.int64))
            s["j"].append(np.frombuffer(part["j"], dtype=np.float64))
            if part["share"] is not None:
                s["share"].append(np.frombuffer(part["share"], dtype=np.float64))
    if sched is None:
        raise ValueError("the profiler was killed before its journal's first readings")
    # each checkpoint converts the readings from the start: a row already written can come out a
    # hair different the next time (a failed read filled in); a join never steps back
    timeline = SchedTimeline(**{field: _joined(columns[name], name != "t_ns") for name, field in TIMELINE},
                             ncpu=int(sched["ncpu"]), backend=str(sched["backend"]),
                             resolution_note=str(sched["resolution_note"]))
    domains = [Domain(**d) for d in header["domains"]]
    energy = {}
    for d in domains:
        s = series.get(d.name, {"t_ns": [], "j": [], "share": []})
        t = np.concatenate(s["t_ns"]) if s["t_ns"] else np.zeros(0, np.int64)
        share = np.concatenate(s["share"]) if s["share"] and len(s["share"]) == len(s["t_ns"]) else None
        energy[d.name] = EnergySeries(t, _joined(s["j"], True) if s["j"] else np.zeros(0), share)
    processes = decoded(streams)
    rec = assemble(header["settings"], domains, energy, timeline, processes, {s.pid for s in streams})
    # samples streamed after the last checkpoint have no scheduler or energy readings to share
    keep = rec.samples["t_ns"] <= (timeline.t_ns[-1] if len(timeline.t_ns) else 0)
    left_out = int((~keep).sum())
    rec.samples = {k: v[keep] for k, v in rec.samples.items()}
    rec.meta["samples"] = rec.n_samples
    for row in rec.meta["processes"]:
        row["samples"] = int((rec.samples["pid"] == row["pid"]).sum()) if row["how"] != "subprocess" else 0
    tl = rec.sched
    user_cpu_s = max((tl.process_cpu_ns[-1] - tl.profiler_cpu_ns[-1]) / 1e9, 1e-9) if len(tl.t_ns) else 1e-9
    rec.meta["rate_hz"] = achieved_rate(rec.meta["engine"], header["settings"]["rate"], rec.samples, user_cpu_s)
    rec.meta["cut_short"] = KILLED.format(left_out)
    return rec


def _joined(parts, cumulative: bool):
    v = np.concatenate(parts)
    return np.maximum.accumulate(v) if cumulative and len(v) else v


def _plain(value):
    return value.item() if hasattr(value, "item") else str(value)

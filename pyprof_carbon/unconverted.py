"""A run saved unconverted: what `run` writes when nothing it shows or renders needs the
recording itself (`-q` without `--format`), and how it is read.

Turning a run's raw parts into a recording (decoding the samples, the meters' and the scheduler
backend's arithmetic, merging the processes) needs numpy, and importing numpy is about 0.1 s of
one CPU here: as much as the rest of the profiler's own start-up. Such a run therefore keeps the
raw parts and the arithmetic as plain data, and whoever reads the file converts them, with the
same code a finished run uses (profiler.assemble). A zip archive (deflated), members:

    run.json     {"format": FORMAT, "version": VERSION,
                  "settings", "domains", "meters", "sched": Profiler.arithmetic(),
                  "about": profiler.about_run() at the run's end, "meta": what `run` adds (its PUE...),
                  "exit_status": the program's (Popen-style),
                  "processes": [{"process", "engine", "error", "complete", "damaged",
                                 "thread_names": [[tid, name]...], "regions",
                                 "results": the raw results but their arrays, "arrays": [their names]}...]}
    p<i>/<name>  each array of process i's raw results (process_stream.CONCATENATED, stack_offsets)
                 as the collector wrote it: machine order, the dtype profiler.decode_raw_results gives

The raw results hold tuples, bytes and dicts keyed by numbers, which JSON lacks: `_plain` writes
them tagged ({"$t": [...]}, {"$b": base64}, {"$d": [[key, value]...]}) and `_value` reads them back.
No pickle and no marshal: a recording may come from elsewhere, and neither is safe on a crafted file.
A file that fails any check is one line of error (UserError), as for a converted recording.
"""
from __future__ import annotations

import base64
import dataclasses
import json
import zipfile
import zlib
from typing import List

from . import process_stream, recording_check
from .errors import UserError
from .process_stream import ProcessStream
from .recording import Recording, checked, read_errors

FORMAT = "pyprof-carbon-unconverted-run"
VERSION = 1
HEADER = recording_check.UNCONVERTED


def save(path: str, arithmetic: dict, about: dict, meta: dict, exit_status: int,
         streams: List[ProcessStream]) -> None:
    """Write the run at `path` (atomically; a failure is a UserError): Profiler.arithmetic(),
    profiler.about_run(), what `run` adds to the meta, the program's exit status (Popen-style) and
    what its processes handed over."""
    from .safe_write import atomic_writer
    processes, arrays = [], {}
    for i, s in enumerate(streams):
        results = process_stream.joined(s.parts) or {}
        names = sorted(k for k, v in results.items() if isinstance(v, (bytes, bytearray)))
        arrays.update({f"p{i}/{k}": results[k] for k in names})
        processes.append({"process": s.process, "engine": s.engine, "error": s.error, "complete": s.complete,
                          "damaged": s.damaged, "thread_names": [[int(t), n] for t, n in s.thread_names.items()],
                          "regions": s.regions, "arrays": names,
                          "results": {k: v for k, v in results.items() if k not in names}})
    header = {"format": FORMAT, "version": VERSION, **arithmetic, "about": about, "meta": meta,
              "exit_status": exit_status, "processes": processes}
    try:
        with atomic_writer(path) as f, zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr(HEADER, json.dumps(_plain(header)))
            for name, data in arrays.items():
                z.writestr(name, bytes(data))
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror or e}") from None


def is_unconverted(path: str) -> bool:
    """Whether `path` is a file of this kind (a converted recording has no run.json)."""
    try:
        with recording_check.archive(path) as (_, infos):
            return HEADER in infos
    except (OSError, recording_check.Invalid):
        return False


def load(path: str) -> Recording:
    """The recording of the run saved at `path`, converted now and checked as a saved one is."""
    # a file that lies in any way surfaces as one of these while it is read and converted
    lies = (zipfile.BadZipFile, zlib.error, KeyError, TypeError, ValueError, IndexError, AttributeError,
            RecursionError, ZeroDivisionError, OverflowError, EOFError)
    with read_errors(path, lies):
        with recording_check.archive(path) as (z, infos):  # sizes checked before anything inflates
            header = _value(json.loads(z.read(infos[HEADER])))
            if not isinstance(header, dict) or header.get("format") != FORMAT:
                raise ValueError("run.json is not an unconverted run's header")
            if header.get("version") != VERSION:
                raise ValueError(f"unconverted run version {header.get('version')!r}: this version of "
                                 f"pyprof-carbon reads version {VERSION}")
            streams = [_stream(z, infos, i, p) for i, p in enumerate(header["processes"])]
        rec = convert(header, streams)
    return checked(rec, path)


def _stream(z: zipfile.ZipFile, infos: dict, i: int, p: dict) -> ProcessStream:
    results = dict(p["results"])
    for name in p["arrays"]:
        results[str(name)] = z.read(infos[f"p{i}/{name}"])
    return ProcessStream(process=dict(p["process"]), engine=p["engine"], error=p["error"],
                         parts=[results] if results else [],
                         thread_names={int(t): str(n) for t, n in p["thread_names"]},
                         regions=list(p["regions"]), complete=bool(p["complete"]), damaged=str(p["damaged"]))


def convert(header: dict, streams: List[ProcessStream]) -> Recording:
    """What Profiler.finish does with a run's streams, from the header's arithmetic (Profiler.
    arithmetic(), and optionally `about`, `meta`, `exit_status` as saved here) instead of the live
    meters and backend: also the recovery of a killed run (journal.py)."""
    from .counters import Ticks
    from .meters.base import energy_from
    from .profiler import assemble, decoded, first_process_streamed, with_exit_status
    from .recording import Domain
    from .sched import backend_class
    if not first_process_streamed(streams):
        raise ValueError("the run's first process handed over no samples")
    settings = header["settings"]
    processes = decoded(streams)
    r = processes[0][1]
    ticks = Ticks(r["tick_t_ns"].astype("int64"), r["tick_raw"],
                  {k: slice(int(a), int(b)) for k, (a, b) in settings["columns"].items()})
    sched = header["sched"]
    timeline = dataclasses.replace(backend_class(str(sched["backend"]))().timeline(ticks), ncpu=int(sched["ncpu"]))
    energy = {}
    for a in header["meters"]:
        energy.update(energy_from(a, ticks, timeline))
    domains = [Domain(**d) for d in header["domains"]]
    rec = assemble(settings, domains, energy, timeline, processes, {s.pid for s in streams},
                   about=header.get("about"))
    rec.meta.update(header.get("meta", {}))
    if header.get("exit_status") is not None:
        with_exit_status(rec, int(header["exit_status"]))
    return rec


def _plain(v):
    """`v` as JSON can hold it (module docstring)."""
    if isinstance(v, (bytes, bytearray)):
        return {"$b": base64.b64encode(v).decode()}
    if isinstance(v, tuple):
        return {"$t": [_plain(x) for x in v]}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        if all(isinstance(k, str) and not k.startswith("$") for k in v):
            return {k: _plain(x) for k, x in v.items()}
        return {"$d": [[_plain(k), _plain(x)] for k, x in v.items()]}
    if hasattr(v, "item"):  # a numpy number (a baseline's watts)
        return v.item()
    return v


def _value(v):
    """The inverse of _plain."""
    if isinstance(v, list):
        return [_value(x) for x in v]
    if isinstance(v, dict):
        if len(v) == 1 and "$b" in v:
            return base64.b64decode(v["$b"], validate=True)
        if len(v) == 1 and "$t" in v:
            return tuple(_value(x) for x in v["$t"])
        if len(v) == 1 and "$d" in v:
            return {_value(k): _value(x) for k, x in v["$d"]}
        return {k: _value(x) for k, x in v.items()}
    return v

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
                                 "batches": [{"results": raw results but their arrays,
                                              "arrays": [[name, bytes]...]}...]}...]}
    p<i>/<j>     batch j of process i: its arrays (process_stream.CONCATENATED, stack_offsets) one
                 after the other, as the collector wrote them: machine order, the dtypes
                 profiler.decode_raw_results gives

A batch is consecutive results parts of one process joined (process_stream.Joiner), about
BATCH_BYTES of arrays; the reader joins the batches the same way. The profiler's process holds one
batch at a time, never the run's samples: its memory at the end does not grow with the run's length.

Version 1 held each process's results as one part: "results" and "arrays" (their names) in
run.json, each array its own member p<i>/<name>. It is still read.

The raw results hold tuples, bytes and dicts keyed by numbers, which JSON lacks: `_plain` writes
them tagged ({"$t": [...]}, {"$b": base64}, {"$d": [[key, value]...]}) and `_value` reads them back.
No pickle and no marshal: a recording may come from elsewhere, and neither is safe on a crafted file.
A file that fails any check is one line of error (UserError), as for a converted recording.
"""
from __future__ import annotations

import base64
import dataclasses
import json
import time
import zipfile
import zlib
from typing import List

from . import process_stream, recording_check
from .errors import UserError
from .process_stream import ProcessStream
from .recording import Recording, checked, read_errors

FORMAT = "pyprof-carbon-unconverted-run"
VERSION = 2
HEADER = recording_check.UNCONVERTED
BATCH_BYTES = 1 << 20  # the arrays of one process the save holds at most (and one member's size)


class Unrecorded(Exception):
    """The run's first process handed over no samples: nothing was written. `error`: why its
    sampler could not start, when it said."""

    def __init__(self, error: str):
        super().__init__(error)
        self.error = error


def save(path: str, arithmetic: dict, meta: dict, exit_status: int, workdir: str) -> None:
    """Write the run whose processes streamed into `workdir` at `path` (atomically; a failure is
    a UserError): Profiler.arithmetic(), what `run` adds to the meta and the program's exit status
    (Popen-style). The streams are copied batch by batch (_Batches): the memory this takes does not
    grow with the run. Raises Unrecorded, having written nothing, when the first process handed
    over no samples."""
    from .profiler import about_run
    from .safe_write import atomic_writer
    processes = []
    try:
        with atomic_writer(path) as f, zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as z:
            for stream_path in process_stream.stream_paths(workdir):
                batches = _Batches(z, len(processes))
                s = process_stream.read(stream_path, add_results=batches.add)
                batches.flush()
                if not processes and (s is None or s.process.get("how") != "first" or not batches.saved):
                    said = s is not None and s.process.get("how") == "first" and s.error
                    raise Unrecorded(said or "")
                if s is not None:
                    processes.append({"process": s.process, "engine": s.engine, "error": s.error,
                                      "complete": s.complete, "damaged": s.damaged,
                                      "thread_names": [[int(t), n] for t, n in s.thread_names.items()],
                                      "regions": s.regions, "batches": batches.saved})
            if not processes:
                raise Unrecorded("")
            about = about_run(float(processes[0]["process"].get("start_unix_s", time.time())))
            z.writestr(HEADER, json.dumps(_plain({"format": FORMAT, "version": VERSION, **arithmetic, "about": about,
                                                  "meta": meta, "exit_status": exit_status,
                                                  "processes": processes})))
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror or e}") from None


class _Batches:
    """One process's results parts as they are read, joined into batches of about BATCH_BYTES of
    arrays; each batch is written out as one member (p<i>/<j>) once full, and dropped."""

    def __init__(self, z: zipfile.ZipFile, i: int):
        self.z, self.i = z, i
        self.saved: list = []  # per batch written: its results but their arrays, its arrays' names and sizes
        self.joiner = process_stream.Joiner()

    def add(self, part: dict) -> None:
        self.joiner.add(part)
        if self.joiner.nbytes >= BATCH_BYTES:
            self.flush()

    def flush(self) -> None:
        results, self.joiner = self.joiner.out, process_stream.Joiner()
        if results is None:
            return
        names = sorted(k for k, v in results.items() if isinstance(v, (bytes, bytearray)))
        with self.z.open(f"p{self.i}/{len(self.saved)}", "w") as member:
            for name in names:
                member.write(results[name])
        self.saved.append({"results": {k: v for k, v in results.items() if k not in names},
                           "arrays": [[name, len(results[name])] for name in names]})


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
            version = header.get("version")
            if version not in (1, VERSION):
                raise ValueError(f"unconverted run version {version!r}: this version of pyprof-carbon "
                                 f"reads versions 1 to {VERSION}")
            streams = [_stream(z, infos, i, p, version) for i, p in enumerate(header["processes"])]
        rec = convert(header, streams)
    return checked(rec, path)


def _stream(z: zipfile.ZipFile, infos: dict, i: int, p: dict, version: int = VERSION) -> ProcessStream:
    if version == 1:  # one part per process, each array its own member p<i>/<name>
        results = dict(p["results"], **{str(name): z.read(infos[f"p{i}/{name}"]) for name in p["arrays"]})
        parts = [results] if results else []
    else:
        parts = [_batch(z.read(infos[f"p{i}/{j}"]), batch, f"p{i}/{j}") for j, batch in enumerate(p["batches"])]
    return ProcessStream(process=dict(p["process"]), engine=p["engine"], error=p["error"], parts=parts,
                         thread_names={int(t): str(n) for t, n in p["thread_names"]},
                         regions=list(p["regions"]), complete=bool(p["complete"]), damaged=str(p["damaged"]))


def _batch(data: bytes, batch: dict, member: str) -> dict:
    """A batch's results: its arrays cut from its member's `data` by their sizes."""
    results, at = dict(batch["results"]), 0
    for name, size in batch["arrays"]:
        if not isinstance(size, int) or size < 0:
            raise ValueError(f"an array in {member} claims {size!r} bytes")
        results[str(name)], at = data[at:at + size], at + size
    if at != len(data):
        raise ValueError(f"the arrays do not fill their member {member}")
    return results


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

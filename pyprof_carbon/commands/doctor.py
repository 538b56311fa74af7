"""`pyprof-carbon doctor`: every meter, scheduler backend and sampling engine, working or not, and why."""
from __future__ import annotations

import json
import sys


def register(sub) -> None:
    p = sub.add_parser("doctor", help="which meters and scheduler backends work here, and why not")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=main)


def checks() -> list:
    from ..meters.base import MeterUnavailable
    from ..meters.select import METERS, open_meter
    from ..sched import BACKENDS, backend_class
    rows = []
    for name in METERS:
        try:
            m = open_meter(name)
            doms = m.domains()
            m.close()
            rows.append({"kind": "meter", "name": name, "ok": True, "measured": any(d.measured for d in doms),
                         "detail": ", ".join(f"{d.name} ({'measured' if d.measured else 'estimated'})" for d in doms)})
        except MeterUnavailable as e:
            rows.append({"kind": "meter", "name": name, "ok": False, "measured": False, "detail": e.reason, "fix": e.fix})
    for name in BACKENDS:
        try:
            b = backend_class(name)()
            b.open()
            b.close()
            rows.append({"kind": "scheduler", "name": name, "ok": True, "detail": "works"})
        except MeterUnavailable as e:
            rows.append({"kind": "scheduler", "name": name, "ok": False, "detail": e.reason, "fix": e.fix})
    try:
        from .. import _native
        perf = _native.probe_perf()
        rows.append({"kind": "engine", "name": "perf", "ok": not perf, "detail": perf or "task-clock events with a signal per thread",
                     "fix": "" if not perf else "set kernel.perf_event_paranoid <= 2 or run with CAP_PERFMON; the timer engine is used meanwhile"})
        rows.append({"kind": "engine", "name": "timer", "ok": True, "detail": "POSIX CPU timers (one per thread; fire on the scheduler tick)"})
    except ImportError as e:
        rows.append({"kind": "engine", "name": "native sampler", "ok": False, "detail": str(e), "fix": "pip install ."})
    return rows


def main(args) -> int:
    rows = checks()
    measured = [r for r in rows if r["kind"] == "meter" and r["ok"] and r.get("measured")]
    if args.format == "json":
        print(json.dumps({"checks": rows, "measured_meter_available": bool(measured)}, indent=1))
    else:
        for r in rows:
            mark = "ok " if r["ok"] else "no "
            line = f"{mark} {r['kind']:<9} {r['name']:<14} {r['detail']}"
            if not r["ok"] and r.get("fix"):
                line += f"\n{'':29}fix: {r['fix']}"
            print(line)
        if not measured:
            print("\nNo energy counter is readable here: runs use the `model` meter, and every joule is labeled estimated.")
    sys.stdout.flush()
    return 0 if measured else 1

"""`pyprof-carbon doctor`: every meter, scheduler backend and sampling engine, working or not, why
not, and the fix. It only opens and closes things: it never changes a permission or a sysctl.

Exit status 0 when at least one measured meter works here, 1 when only the model is left.
"""
from __future__ import annotations

import json
import sys


def register(sub) -> None:
    p = sub.add_parser("doctor", help="which meters and scheduler backends work here, and why not",
                       description="Check every energy meter and scheduler backend; for each one that "
                                   "does not work, say precisely why and what would fix it.")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=main)


def meter_rows(opener=None) -> list:
    from ..errors import Unavailable
    from ..meters import METERS
    from ..meters.select import open_meter
    opener = opener or (lambda name: open_meter(name))
    rows = []
    for name in METERS:
        try:
            m = opener(name)
        except Unavailable as e:
            status = "not built" if "not part of this build" in e.reason else "unavailable"
            rows.append({"kind": "meter", "name": name, "ok": False, "status": status, "measured": False,
                         "detail": e.reason, "fix": e.fix})
            continue
        except Exception as e:  # noqa: BLE001 (doctor reports; it must not crash on one meter)
            rows.append({"kind": "meter", "name": name, "ok": False, "status": "error", "measured": False,
                         "detail": f"{type(e).__name__}: {e}", "fix": "please report this"})
            continue
        try:
            doms = m.domains()
            extra = ""
            if hasattr(m, "devices"):
                extra = "; " + ", ".join(f"{d['domain']} = {d['name']}" for d in m.devices())
            if hasattr(m, "skipped") and m.skipped:
                extra += "; skipped: " + "; ".join(m.skipped)
        finally:
            m.close()
        measured = any(d.measured for d in doms)
        if not measured and doms:
            extra += f"; {doms[0].notes}"
        rows.append({"kind": "meter", "name": name, "ok": True, "status": "measured" if measured else "estimated",
                     "measured": measured, "domains": [d.name for d in doms],
                     "detail": ", ".join(f"{d.name} ({'measured' if d.measured else 'estimated'})" for d in doms) + extra,
                     "notes": {d.name: d.notes for d in doms}})
    return rows


def sched_rows() -> list:
    from ..errors import Unavailable
    from ..sched import BACKENDS, backend_class
    rows = []
    for name in BACKENDS:
        try:
            cls = backend_class(name)
        except Unavailable as e:
            rows.append({"kind": "scheduler", "name": name, "ok": False, "status": "not built",
                         "detail": e.reason, "fix": e.fix or "this backend is not part of this build yet"})
            continue
        except Exception as e:  # noqa: BLE001
            rows.append({"kind": "scheduler", "name": name, "ok": False, "status": "not built",
                         "detail": f"{type(e).__name__}: {e}", "fix": "reinstall pyprof-carbon"})
            continue
        try:
            b = cls()
            b.open()
            b.close()
            rows.append({"kind": "scheduler", "name": name, "ok": True, "status": "ok", "detail": "works"})
        except Unavailable as e:
            rows.append({"kind": "scheduler", "name": name, "ok": False, "status": "unavailable",
                         "detail": e.reason, "fix": e.fix})
        except Exception as e:  # noqa: BLE001
            rows.append({"kind": "scheduler", "name": name, "ok": False, "status": "error",
                         "detail": f"{type(e).__name__}: {e}", "fix": "please report this"})
    return rows


def engine_rows() -> list:
    try:
        from .. import _native
        perf = _native.probe_perf()
    except ImportError as e:
        return [{"kind": "engine", "name": "native sampler", "ok": False, "status": "not built",
                 "detail": str(e), "fix": "pip install ."}]
    return [{"kind": "engine", "name": "perf", "ok": not perf, "status": "ok" if not perf else "unavailable",
             "detail": perf or "task-clock events with a signal per thread",
             "fix": "" if not perf else "set kernel.perf_event_paranoid <= 2 or run with CAP_PERFMON; "
                                        "the timer engine is used meanwhile"},
            {"kind": "engine", "name": "timer", "ok": True, "status": "ok",
             "detail": "POSIX CPU timers (one per thread; fire on the scheduler tick)"},
            {"kind": "engine", "name": "observer", "ok": True, "status": "ok",
             "detail": "no signal: the collector thread reads the Python threads' stacks (--engine observer)"}]


def checks() -> list:
    return meter_rows() + sched_rows() + engine_rows()


def summary(rows: list) -> str:
    measured = [r["name"] for r in rows if r["kind"] == "meter" and r["ok"] and r.get("measured")]
    if measured:
        return f"Measured energy here: {', '.join(measured)} (`--meter auto` picks the best per domain)."
    return ("No energy counter is readable here: runs use the `model` meter, and every joule is labeled "
            "estimated. The model is used for any domain no measured meter covers.")


def render_text(rows: list) -> str:
    w_name = max(len(r["name"]) for r in rows)
    w_status = max(len(r.get("status", "")) for r in rows)
    lines = [f"{'':3} {'kind':<9} {'name':<{w_name}}  {'status':<{w_status}}  detail"]
    for r in rows:
        mark = "ok " if r["ok"] else "no "
        lines.append(f"{mark} {r['kind']:<9} {r['name']:<{w_name}}  {r.get('status', ''):<{w_status}}  {r['detail']}")
        if not r["ok"] and r.get("fix"):
            lines.append(f"{'':{3 + 1 + 9 + 1 + w_name + 2 + w_status + 2}}fix: {r['fix']}")
    lines.append("")
    lines.append(summary(rows))
    return "\n".join(lines) + "\n"


def main(args) -> int:
    rows = checks()
    measured = any(r["kind"] == "meter" and r["ok"] and r.get("measured") for r in rows)
    if getattr(args, "format", "text") == "json":
        print(json.dumps({"checks": rows, "measured_meter_available": measured, "summary": summary(rows)}, indent=1))
    else:
        sys.stdout.write(render_text(rows))
    sys.stdout.flush()
    return 0 if measured else 1

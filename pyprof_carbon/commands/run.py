"""`pyprof-carbon run [OPTIONS] (script.py | -m module) [ARGS...]`"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Optional

from .. import runner
from ..errors import UserError
from .options import add_report_options, finite_float


def register(sub) -> None:
    p = sub.add_parser("run", help="profile a script or module, like `python script.py`",
                       description="Run a Python script or module under the energy profiler.")
    p.add_argument("-o", "--output", metavar="PATH",
                   help="recording file (default: pyprof-carbon-<name>.pcarbon); other formats are written beside it")
    p.add_argument("--rate", type=finite_float(1.0, 20_000.0), default=997.0, help="samples per CPU-second (default 997)")
    p.add_argument("--engine", choices=("auto", "perf", "timer", "wall"), default="auto",
                   help="sampling timers: perf task-clock events (precise), POSIX CPU timers (tick-bound), "
                        "or wall-clock timers that also sample waiting threads (GPU work)")
    p.add_argument("--meter", dest="meters", action="append", metavar="METER",
                   choices=("auto", "rapl-powercap", "rapl-msr", "rapl-perf", "nvml", "model"),
                   help="energy meter, repeatable: auto, rapl-powercap, rapl-msr, rapl-perf, nvml, model")
    p.add_argument("--sched", default="auto", choices=("auto", "ebpf", "perf", "procfs"),
                   help="scheduler accounting backend")
    p.add_argument("--cadence", type=finite_float(0.1, 3_600_000.0), default=None, metavar="MS",
                   help="meter reading interval in ms (default 10, or the meter's own)")
    p.add_argument("--baseline", type=finite_float(0.0, 3600.0, lo_open=True), default=0.5, metavar="S",
                   help="seconds of baseline measured before the script (attribution `dynamic`)")
    p.add_argument("--cpu-watts", type=finite_float(0.0, 10_000.0, lo_open=True), default=None, metavar="W",
                   help="model meter: CPU power of this machine at full load")
    p.add_argument("--tdp", type=finite_float(0.0, 10_000.0, lo_open=True), default=None, metavar="W",
                   help="model meter: TDP of the physical CPU (shared by its hardware threads)")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary at the end")
    add_report_options(p)
    p.add_argument("-m", dest="module", metavar="MODULE", help="run a library module as a script")
    p.add_argument("target", nargs=argparse.REMAINDER, help="script.py [args...] (or args of -m MODULE)")
    p.set_defaults(func=main)


def main(args) -> int:
    from .. import carbon
    from ..output import write_outputs
    from ..profiler import Profiler
    from ..render.text import summary

    if args.module is None and not args.target:
        raise UserError("nothing to run: give a script (pyprof-carbon run script.py) or -m MODULE")
    script = None if args.module else args.target[0]
    script_args = args.target if args.module else args.target[1:]
    runner.check_target(script, args.module)
    name = args.module or os.path.splitext(os.path.basename(script))[0]
    output = args.output or f"pyprof-carbon-{name}.pcarbon"
    intensity = carbon.from_args(args)
    command = ["-m", args.module, *script_args] if args.module else [script, *script_args]
    prof = Profiler(rate=args.rate, engine=args.engine, meters=args.meters or ["auto"], sched=args.sched,
                    cadence_ms=args.cadence, policy=args.attribution or "share", baseline_s=args.baseline,
                    cpu_watts=args.cpu_watts, tdp=args.tdp, command=command, intensity=intensity)
    target = runner.prepare(script, args.module, script_args)
    prof.start()
    dropped = _drop_privileges(args.formats or [])
    outcome = runner.run(target)
    rec = prof.stop()
    if rec is not None:
        rec.meta["pue"] = args.pue
        rec.meta["privileges"] = dropped
        formats = args.formats or []
        profile, written = write_outputs(rec, output, formats, pue=args.pue, intensity=intensity,
                                         policy=args.attribution or "share", compare=args.compare,
                                         split=args.split or "power",
                                         options=vars(args))
        if not args.quiet:
            sys.stderr.write(summary(profile, vars(args), written, stream=sys.stderr))
    return runner.finish(outcome)


def _drop_privileges(formats) -> Optional[str]:
    """Under sudo, the meters are open now: run the script as the invoking user (privileges.py).
    What the stop path imports is imported first, so a package installed where only root can
    read it (a root-owned Python under /root) still writes the profile after the drop."""
    import importlib
    from .. import privileges
    if not privileges.would_drop():
        return None
    from ..render import renderer
    for mod in ("uuid", "platform", "zipfile", "numpy.ma", "pyprof_carbon.output", "pyprof_carbon.attribution",
                "pyprof_carbon.carbon", "pyprof_carbon.meters.model"):
        importlib.import_module(mod)
    for fmt in {"text", *formats}:
        renderer(fmt)
    return privileges.drop_to_invoking_user()

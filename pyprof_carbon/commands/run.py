"""`pyprof-carbon run [OPTIONS] (script.py | -m module) [ARGS...]`

Everything after the script (or after `-m module`) belongs to the program, untouched, as with
`python`: `run -m pytest -x -k name`, `run -m timeit -n 3 pass`. `--` may end the profiler's
options explicitly (`run -- script.py`); it is not passed on.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import List, Optional, Tuple

# Only what parsing the command line and starting the program's interpreter need: its start-up
# runs while this process imports the rest (the profiler, the meters, the backends) and opens them.
from .. import runner
from .._lazy import WarmUp
from ..meters import METERS
from ..sched import BACKENDS
from ..errors import UserError
from ..runner import check_no_leftover, workdir_for
from ..safe_write import check_output_path
from ..sampling import DEFAULT_RATE, ENGINES
from .options import add_report_options, bounded_int, finite_float, intensity_from_args

MAX_RUNS = 10_000  # --repeat and --warmup
# what turns the run into a recording, loaded while the program runs (_lazy.WarmUp)
AFTER_RUN = ("numpy", "pyprof_carbon.output", "pyprof_carbon.meters.model", "platform", "uuid")
# and what attributing and rendering it add (numpy.ma: np.unique's): ~15 ms a -q run does not wait for
AFTER_RUN_ATTRIBUTED = ("numpy.ma", "pyprof_carbon.render.text")
WARM_UP_AFTER_S = 0.05  # a program's first line runs within a millisecond or two of its stream's start


def register(sub) -> None:
    p = sub.add_parser("run", help="profile a script or module, like `python script.py`",
                       usage="pyprof-carbon run [OPTIONS] (script.py | -m module) [ARGS...]",
                       description="Run a Python script or module under the energy profiler. "
                                   "Everything after the script or -m MODULE goes to the program.")
    p.add_argument("-o", "--output", metavar="PATH",
                   help="recording file (default: pyprof-carbon-<name>.pcarbon); other formats are written beside it")
    p.add_argument("--rate", type=finite_float(1.0, 20_000.0), default=DEFAULT_RATE,
                   help=f"samples per CPU-second (default {DEFAULT_RATE:g})")
    p.add_argument("--engine", choices=ENGINES, default="auto",
                   help="sampling timers: perf task-clock events (precise), POSIX CPU timers (tick-bound), "
                        "or wall-clock timers that also sample waiting threads (GPU work)")
    p.add_argument("--meter", dest="meters", action="append", metavar="METER",
                   choices=("auto", *METERS),
                   help=f"energy meter, repeatable: {', '.join(('auto', *METERS))}")
    p.add_argument("--sched", default="auto", choices=("auto", *BACKENDS),
                   help="scheduler accounting backend")
    p.add_argument("--cadence", type=finite_float(0.1, 3_600_000.0), default=None, metavar="MS",
                   help="meter reading interval in ms (default 10, or the meter's own)")
    p.add_argument("--baseline", type=finite_float(0.0, 3600.0, lo_open=True), default=0.5, metavar="S",
                   help="seconds of baseline measured before the script (attribution `dynamic`)")
    p.add_argument("--cpu-watts", type=finite_float(0.0, 10_000.0, lo_open=True), default=None, metavar="W",
                   help="model meter: CPU power of this machine at full load")
    p.add_argument("--tdp", type=finite_float(0.0, 10_000.0, lo_open=True), default=None, metavar="W",
                   help="model meter: TDP of the physical CPU (shared by its hardware threads)")
    p.add_argument("--repeat", type=bounded_int(1, MAX_RUNS), default=1, metavar="N",
                   help="run the program N times, one recording each in the directory -o names "
                        "(default pyprof-carbon-<name>/run-001.pcarbon ...), then the mean and spread across runs")
    p.add_argument("--warmup", type=bounded_int(0, MAX_RUNS), default=0, metavar="K",
                   help="with --repeat: K runs first that are profiled but neither saved nor counted")
    p.add_argument("--no-subprocesses", dest="subprocesses", action="store_false",
                   help="profile the program's own process only (by default every Python process it starts, "
                        "by fork, multiprocessing or subprocess, is profiled too)")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary at the end")
    add_report_options(p)
    p.add_argument("-m", dest="module", metavar="MODULE", help="run a library module as a script")
    p.set_defaults(func=main, program=[])


def split_program(parser: argparse.ArgumentParser, argv: List[str]) -> Tuple[List[str], List[str]]:
    """(the profiler's options, the program: `script ARGS` or `-m module ARGS`). The program starts
    at the first word that is neither an option nor an option's value, or at `-m MODULE`."""
    takes_value = {s for a in parser._actions if a.nargs != 0 for s in a.option_strings}
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--":
            return argv[:i], argv[i + 1:]
        if word.startswith("-m"):  # -m module, -mmodule
            return argv[:i], argv[i:]
        if not word.startswith("-") or word == "-":
            return argv[:i], argv[i:]
        i += 2 if word in takes_value else 1
    return argv, []


def main(args) -> int:
    # The program shares our stderr: no warning of ours or of our dependencies (under -X dev,
    # say) may land in it. The program's own warnings are its interpreter's, untouched.
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _main(args)


def _main(args) -> int:
    module, script, script_args = _program(args.program)
    runner.check_target(script, module)
    name = module or os.path.splitext(os.path.basename(script))[0]
    command = ["-m", module, *script_args] if module else [script, *script_args]
    if args.repeat == 1 and args.warmup == 0:
        output = os.path.abspath(args.output or f"pyprof-carbon-{name}.pcarbon")
        check_output_path(output)  # now, not after a long run
        check_no_leftover(output)
        # attributed only for what is shown or written: the recording alone needs none of it
        return runner.finish(_profile_once(args, module, script, script_args, command, None, output,
                                           quiet=args.quiet, attributed=not args.quiet or bool(args.formats))[0])
    intensity = intensity_from_args(args)  # once for every run
    folder = os.path.abspath(args.output or f"pyprof-carbon-{name}")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create the directory {folder}: {e.strerror}") from None
    check_output_path(os.path.join(folder, "run-001.pcarbon"))
    check_only_these_runs(folder, args.repeat)
    for i in range(args.repeat):
        check_no_leftover(os.path.join(folder, f"run-{i + 1:03d}.pcarbon"))
    profiles = []
    for i in range(args.warmup + args.repeat):
        counted = i >= args.warmup
        label = f"run {i - args.warmup + 1} of {args.repeat}" if counted else f"warm-up {i + 1} of {args.warmup}"
        output = os.path.join(folder, f"run-{i - args.warmup + 1:03d}.pcarbon") if counted else None
        status, profile = _profile_once(args, module, script, script_args, command, intensity, output, quiet=True)
        if not args.quiet:
            total = profile.totals()["energy_j"]["total"] if profile is not None else float("nan")
            print(f"pyprof-carbon: {label}: {runner.describe(status)}, {total:.4g} J", file=sys.stderr)
        if status != 0:  # a failing run makes the others' figures meaningless: stop here
            return runner.finish(status)
        if counted and profile is not None:
            profiles.append(profile)
    if not args.quiet and profiles:
        from ..render.runs import repeat_summary
        sys.stderr.write(repeat_summary(profiles) + f"Written: {folder}/run-*.pcarbon\n")
    return 0


def check_only_these_runs(folder: str, repeat: int) -> None:
    """`diff` reads every recording in a folder: one that this --repeat will not overwrite (an
    earlier, longer --repeat, another program's run) would be compared as one of these runs."""
    ours = {f"run-{i + 1:03d}.pcarbon" for i in range(repeat)}
    others = sorted(f for f in os.listdir(folder) if f.endswith(".pcarbon") and f not in ours)
    if others:
        raise UserError(f"{folder} already holds {len(others)} other recording{'s' if len(others) > 1 else ''} "
                        f"({others[0]}{', ...' if len(others) > 1 else ''}) that diff would read with these runs: "
                        f"remove them or choose another folder")


def _profile_once(args, module, script, script_args, command, intensity, output, quiet, attributed=True):
    """Run the program once under the profiler; (its Popen-style status, the Profile or None).
    `output` None: nothing is written (a warm-up run). `intensity` None: resolved from `args` here,
    while the program's interpreter starts (it may ask the cloud's metadata service). `attributed`
    False: the recording is only saved (-q without formats), the Profile is None."""
    from .. import privileges
    # under sudo: the counters opened as root go to a privileged helper process; the program drops
    # to the invoking user in its bootstrap, this process right after configuring it (privileges.py)
    drop_to = privileges.invoking_user()
    # the program's interpreter starts first, while this process opens the counters; its bootstrap
    # waits for them (runner.start), so nothing of the program runs unmeasured
    child = runner.start(runner.interpreter_command(script, module, script_args),
                         workdir=workdir_for(output) if output else None, drop_to=drop_to,
                         subprocesses=args.subprocesses)
    try:
        if intensity is None:
            intensity = intensity_from_args(args)
        from ..attribution import DEFAULT_POLICY, DEFAULT_SPLIT
        from ..profiler import Profiler
        from ..running_totals import Server
        prof = Profiler(rate=args.rate, engine=args.engine, meters=args.meters or ["auto"], sched=args.sched,
                        cadence_ms=args.cadence, policy=args.attribution or DEFAULT_POLICY,
                        split=args.split or DEFAULT_SPLIT, baseline_s=args.baseline,
                        cpu_watts=args.cpu_watts, tdp=args.tdp, command=command, intensity=intensity)
        prof.open()
        helper = prof.separate_privileges() if drop_to is not None else None
        # nothing shown or rendered, and the meters' arithmetic is plain data: the run is saved as
        # its raw parts, and numpy (~0.1 s of one CPU) is never imported here (unconverted.py)
        arithmetic = prof.arithmetic()
        unconverted = bool(output) and not attributed and arithmetic is not None
        totals = Server(prof, args.pue)  # answers the program's pyprof_carbon.current()
    except BaseException:
        runner.abandon(child)
        raise
    dropped = None
    journal = None
    with runner.Finishing() as finishing:  # signals from the program's end until the recording is saved
        try:
            # until then, from before its script can start (configure), signals go to the program
            with runner.passing_signals(child):
                try:
                    # counted from before its collector's first reading (the eBPF backend's process tree)
                    prof.follow(child.process.pid)
                    runner.configure(child, prof.rate, prof.engine, prof.cadence_ns, prof.program_sources,
                                     totals_fd=totals.child_fd)
                except BaseException:
                    runner.abandon(child)
                    raise
                if drop_to is not None:  # the interpreter it runs may be root's to start, not the user's
                    dropped = f"{_drop_privileges(args.formats or [])}; {helper}"
                totals.spawned(child)
                own_cpu = time.process_time()  # this process's work while the program runs is profiling's
                imports = None if unconverted else WarmUp(AFTER_RUN + (AFTER_RUN_ATTRIBUTED if attributed else ()),
                                                          started=_warm_up_when(child.workdir))
                if output:  # what a killed profiler leaves for `report` to recover
                    from ..journal import Journal
                    journal = Journal(prof, child.workdir, child.process.pid, arithmetic)
                status = runner.wait(child)
            own_cpu = time.process_time() - own_cpu
            prof.stop_meters()
            prof.release_sched()
        finally:
            totals.close()  # before finish() closes the meters its thread uses
            if journal is not None:
                journal.close()
        if imports is not None:
            imports.join()
        if unconverted:
            return _save_unconverted(args, prof, arithmetic, child, status, output, finishing, own_cpu)
        return _save(args, prof, child, status, output, intensity, quiet, finishing, dropped, own_cpu, attributed)


def _handed_over(prof, child):
    try:
        return runner.handed_over(child)
    except UserError:
        prof.finish([])
        raise


def _nothing_recorded(child, status):
    runner.discard(child)
    print(f"pyprof-carbon: the program ended ({runner.describe(status)}) before it had handed over "
          "any samples: nothing was recorded", file=sys.stderr)
    return status, None


def _added_meta(args, own_cpu, dropped) -> dict:
    """What `run` adds to the recording's meta (the rest comes from the run's parts)."""
    meta = {"pue": args.pue, "profiler_process_cpu_s": own_cpu, "privileges": dropped}
    if args.native_threads:
        meta["native_threads"] = args.native_threads
    return meta


def _save_unconverted(args, prof, arithmetic, child, status, output, finishing, own_cpu):
    from .. import unconverted
    prof.close()
    try:
        unconverted.save(output, arithmetic, _added_meta(args, own_cpu, None), status, child.workdir)
    except unconverted.Unrecorded as e:
        if e.error:  # its sampler could not start (as runner.handed_over says it)
            runner.discard(child)
            raise UserError(e.error) from None
        return _nothing_recorded(child, status)
    runner.discard(child)
    finishing.sealed()
    return status, None


def _save(args, prof, child, status, output, intensity, quiet, finishing, dropped, own_cpu, attributed):
    from ..output import write_outputs
    from ..render import options_from
    streams = _handed_over(prof, child)
    rec = prof.finish(streams, exit_status=status)
    del streams  # the recording's sample columns are all that stays of them (profiler.merge_processes)
    if rec is None:
        return _nothing_recorded(child, status)
    rec.meta.update(_added_meta(args, own_cpu, dropped))
    formats = (args.formats or []) if output else []

    def saved():  # the recording is complete: its parts can go, and a held signal acts now
        runner.discard(child)
        finishing.sealed()
    profile, written = write_outputs(rec, output, formats, pue=args.pue, intensity=intensity, compare=args.compare,
                                     options={f: options_from(f, args) for f in formats}, saved=saved,
                                     attributed=attributed)
    if not quiet:
        from ..render.text import summary
        sys.stderr.write(summary(profile, options_from("text", args), written, stream=sys.stderr))
    return status, profile


def _warm_up_when(workdir: str):
    """When numpy, attribution and the renderers (~0.1 s of one CPU) start loading. With a CPU to
    spare, at once: they load on it while the program's interpreter starts on another, instead of
    after a short program's end, where the whole run waits for them. On a single CPU they would
    hold back the program's first line: they wait until it has run a while (or ended), never
    loading in the program's own process either way (tests/integration/test_startup_imports.py)."""
    from ..sched.base import online_cpus
    if online_cpus() > 1:
        return lambda: True
    return _running_for(workdir, WARM_UP_AFTER_S)


def _running_for(workdir: str, seconds: float):
    """A predicate: the program's first process has streamed for `seconds` (its stream file
    appears in `workdir` as its bootstrap starts the sampler, just before the script's first line)."""
    from ..process_stream import is_stream_name
    seen = []

    def check() -> bool:
        if not seen and any(is_stream_name(n) for n in os.listdir(workdir)):
            seen.append(time.monotonic())
        return bool(seen) and time.monotonic() - seen[0] >= seconds
    return check


def _program(program: List[str]) -> Tuple[Optional[str], Optional[str], List[str]]:
    """(module, script, args) from the words after the profiler's options."""
    if not program:
        raise UserError("nothing to run: give a script (pyprof-carbon run script.py) or -m MODULE")
    if program[0].startswith("-m"):
        module = program[0][2:] or (program[1] if len(program) > 1 else "")
        if not module:
            raise UserError("-m needs a module name")
        return module, None, program[1:] if program[0][2:] else program[2:]
    return None, program[0], program[1:]


def _drop_privileges(formats) -> Optional[str]:
    """Under sudo, once the privileged helper holds the root-opened counters, the rest (the
    program, attribution, the files written) runs as the invoking user. What the end of the run
    imports is imported first, so a package installed where only root can read it still writes
    the profile after the drop."""
    import importlib
    from .. import privileges
    if not privileges.would_drop():
        return None
    from ..render import renderer
    for mod in AFTER_RUN + AFTER_RUN_ATTRIBUTED + ("zipfile", "pyprof_carbon.attribution", "pyprof_carbon.carbon",
                            "pyprof_carbon.journal", "pyprof_carbon.profiler", "json", "tempfile"):
        importlib.import_module(mod)
    for fmt in {"text", *formats}:
        renderer(fmt)
    return privileges.drop_to_invoking_user()

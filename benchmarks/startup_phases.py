"""Where the fixed cost of `run` goes (issue 14, item 1): `run -q` of an empty script, its
profiler's steps timed from inside, against plain python on the same script.

Each run of the tool here is `python startup_phases.py --inside run -q -o OUT empty.py`: this file
then times the profiler's own steps (its imports, starting the program's interpreter, the carbon
intensity, opening the meters and the scheduler backend, configuring the program, waiting for it,
reading the streams, closing, saving the run unconverted, the interpreter's exit) on
CLOCK_MONOTONIC, which the empty script also reads for its first line. The outer run adds the time from the launch to the
profiler's first line (its interpreter's start-up) and to the end of the whole run. Prints when
each step began and ended, in ms from the launch (medians over `--runs` runs), with plain python's
launch-to-first-line and whole run alongside; compiles the package's bytecode first, as
overhead.py does.

    python benchmarks/startup_phases.py [--runs 15]
"""
import os  # only what the profiler's own start needs: the rest is imported where it is used
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
# the empty script: the time of its first line
EMPTY = "import sys, time\nopen(sys.argv[1], 'w').write(repr(time.monotonic()))\n"


def inside(argv, marks_path):
    """Run the CLI with `argv`, marking when each step begins and ends; the marks go to
    `marks_path` as JSON, in seconds of CLOCK_MONOTONIC. Modules are imported where `run` imports
    them (the profiler's right after the carbon intensity), so the steps keep their order."""
    marks = [("profiler's first line", time.monotonic())]
    from pyprof_carbon import cli, runner
    from pyprof_carbon.commands import run  # cli imports it first for `run`, too

    def timed(owner, name, label, then=None):
        f = getattr(owner, name)

        def wrapper(*a, **k):
            marks.append((label, time.monotonic()))
            try:
                return f(*a, **k)
            finally:
                marks.append((f"{label} done", time.monotonic()))
                if then:
                    then()
        setattr(owner, name, wrapper)

    def profiler_steps():
        from pyprof_carbon import profiler, unconverted
        timed(profiler.Profiler, "open", "open meters and scheduler backend")
        timed(runner, "handed_over", "read the streams")
        timed(profiler.Profiler, "close", "close meters and scheduler backend")
        timed(unconverted, "save", "save the run unconverted")

    marks.append(("imports done", time.monotonic()))
    timed(runner, "start", "start the program's interpreter")
    timed(run, "intensity_from_args", "carbon intensity", then=profiler_steps)
    timed(runner, "configure", "configure the program")
    timed(runner, "wait", "wait for the program")
    sys.argv = ["pyprof-carbon", *argv]
    try:
        status = cli.main()
    finally:
        marks.append(("recording saved", time.monotonic()))
        import json
        with open(marks_path, "w") as f:
            json.dump(marks, f)
    sys.exit(status)


def once(cmd, env, stamp):
    import subprocess
    t0 = time.monotonic()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.monotonic()
    with open(stamp) as f:
        first = float(f.read())
    return t0, first, end


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--inside":
        inside(sys.argv[3:], sys.argv[2])
        return
    import argparse
    import json
    import statistics
    import tempfile
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    a = ap.parse_args()
    sys.path.insert(0, HERE)
    from overhead import compiled, tool_env  # one home for the bytecode and the environment
    compiled()
    env = tool_env()
    steps, plain_first, plain_all = {}, [], []
    with tempfile.TemporaryDirectory() as tmp:
        script, stamp, marks_path, out = (os.path.join(tmp, n) for n in ("empty.py", "stamp", "marks", "r.pcarbon"))
        with open(script, "w") as f:
            f.write(EMPTY)
        tool = [sys.executable, os.path.abspath(__file__), "--inside", marks_path, "run", "-q", "-o", out, script, stamp]
        for i in range(a.runs + 1):  # the first pair warms the page cache
            t0, first, end = once([sys.executable, script, stamp], env, stamp)
            if i:
                plain_first.append(first - t0)
                plain_all.append(end - t0)
            t0, first, end = once(tool, env, stamp)
            with open(marks_path) as f:
                marks = json.load(f)
            if not i:
                continue
            for label, t in [*marks, ("program's first line", first), ("whole run ends", end)]:
                steps.setdefault(label, []).append(t - t0)
    print(f"# {time.strftime('%Y-%m-%d')} python {sys.version.split()[0]} cpus {os.cpu_count()}; "
          f"medians of {a.runs} runs; ms from the launch")
    print(f"plain python: first line {statistics.median(plain_first) * 1e3:6.1f}, "
          f"whole run {statistics.median(plain_all) * 1e3:6.1f}")
    for label, v in sorted(steps.items(), key=lambda kv: statistics.median(kv[1])):
        print(f"{label:45s} {statistics.median(v) * 1e3:6.1f}")


if __name__ == "__main__":
    main()

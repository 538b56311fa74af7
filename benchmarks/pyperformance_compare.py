#!/usr/bin/env python3
"""Run the pyperformance suite's benchmarks under plain `python` and under `pyprof-carbon run`,
and report every difference in exit status, stdout or stderr.

`pyprof-carbon run` must be indistinguishable from `python` (docs/transparency.md); the programs
of tests/transparency/ check one behaviour each, this script checks real programs: the 97
benchmark configurations of pyperformance 1.14.0 (its MANIFEST, each benchmark's
[tool.pyperformance] metadata: `pickle_pure_python` is `bm_pickle/run_benchmark.py --pure-python
pickle`, and so on).

What it does, for the interpreter under test (--python, default: this one):

1. creates a venv of that interpreter under --workdir (default ./.pyperformance-work, reused on
   later runs) and installs pyperformance==1.14.0 (which brings pyperf) and numpy (which the
   profiler's own process needs); if that fails it says so and exits with status 3 (no network);
2. checks that the profiler's native module imports there, with the repository root (found from
   this file) on PYTHONPATH, and builds it in place for that interpreter if not
   (`VENV/bin/python setup.py build_ext --inplace`, pybind11 and setuptools installed into the
   venv first; --no-build makes a missing module an error instead);
3. lists the benchmarks through pyperformance's own manifest loader; a benchmark whose
   requires-python excludes the interpreter is "skipped: python"; as `pyperformance run` does,
   each benchmark's requirements.txt is installed into the shared venv just before it runs, and
   one whose requirements do not install is "skipped: requirements" (with pip's last words);
4. runs each benchmark's run_benchmark.py once, in pyperf's debug mode inside the process
   (`--worker --debug-single-value`: one loop, one value, no warm-up, no worker processes, so the
   benchmark's code runs in the very interpreter that is profiled):
       python -u run_benchmark.py EXTRA_OPTS --worker --debug-single-value
       python -u -m pyprof_carbon run -q -o TMP.pcarbon run_benchmark.py EXTRA_OPTS --worker ...
   both with PYTHONPATH=<repository root>, from the same scratch directory, each with --timeout;
5. compares exit status, stdout and stderr after normalising what differs from run to run by
   nature: numbers with time, size or percent units (pyperf's timings), hexadecimal addresses,
   pids, temporary paths, the recording's path, and in log lines date-times, unix times, UUIDs and
   TCP ports (dask's logging). When they differ, the plain run is repeated:
   if the profiled run matches the repeat it is "same", if the two plain runs differ from each
   other it is "unstable" (the benchmark's output is not deterministic; nothing is concluded, but
   the detail says whether the profiled run has the same lines in another order), otherwise
   "differs", with an excerpt of the unified diff (plain -> profiled); except that a difference
   that a second profiled run does not repeat is "flaky" (a race in the program that the
   profiler's timing exposed; the diff is kept). A profiler note on stderr ("nothing was
   recorded") is a difference like any other.

Results: one line per benchmark, a count per status, --json OUT for the full record. The exit status
is 1 when any benchmark differs or times out under the profiler only, 0 otherwise
(3: the venv could not be set up, 2: bad arguments).

Examples:
    python benchmarks/pyperformance_compare.py --subset ci
    python benchmarks/pyperformance_compare.py --python /usr/bin/python3.12 --only nbody,pickle_pure_python
    python benchmarks/pyperformance_compare.py --json results-3.11.json       # the whole suite

The recordings are discarded; this compares behaviour, not speed (benchmarks/overhead.py measures
that).
"""
from __future__ import annotations

import argparse
import dataclasses
import difflib
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYPERFORMANCE = "pyperformance==1.14.0"
PYPERF_OPTS = ["--worker", "--debug-single-value"]
SETUP_FAILED = 3

# Quick, dependency-free benchmarks (each well under a second per run in debug mode), for CI and
# tests/integration/test_pyperformance_subset.py.
CI_SUBSET = ["nbody", "richards", "float", "pickle_pure_python", "json_dumps", "regex_compile",
             "deltablue", "go", "hexiom", "unpack_sequence", "chaos", "logging", "generators",
             "coroutines"]

# Run inside the venv: pyperformance's own view of its benchmarks.
LIST_BENCHMARKS = r"""
import json, os, sys
from pyperformance import _manifest
manifest = _manifest.load_manifest(None)
version = ".".join(map(str, sys.version_info[:3]))
out = []
for b in sorted(manifest.benchmarks, key=lambda b: b.name):
    lock = b.requirements_lockfile
    out.append({"name": b.name, "runscript": b.runscript, "extra_opts": list(b.extra_opts or ()),
                "python": str(b.python), "runs_here": version in b.python,
                "requirements": lock if lock and os.path.exists(lock) else None,
                "tags": list(b.tags or ())})
json.dump(out, sys.stdout)
"""


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def pip(python: str, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    return subprocess.run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", *args],
                          capture_output=True, text=True, timeout=timeout)


def tail(text: str, n: int = 4) -> str:
    lines = [l for l in text.strip().splitlines() if l.strip() and "is ignored: it is neither" not in l]
    return " | ".join(lines[-n:])


def run_env() -> Dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("PYPROF_CARBON_NO_CLOUD_METADATA", "1")  # no cloud metadata probes per run
    # -u on the command line, as pyperformance gives it, decides buffering (not an inherited
    # PYTHONUNBUFFERED); the venv is chosen by its interpreter's path alone
    for k in ("PYTHONUNBUFFERED", "PYTHONHOME", "VIRTUAL_ENV"):
        env.pop(k, None)
    return env


# ---------------------------------------------------------------- the venv


def venv_for(python: str, workdir: str, build: bool) -> str:
    """The venv's python, pyperformance installed and the native module importable; exits with
    SETUP_FAILED when pyperformance cannot be installed."""
    probe = subprocess.run([python, "-c", "import sys, platform; print(platform.python_implementation(), "
                            "'%d.%d.%d' % sys.version_info[:3])"], capture_output=True, text=True)
    if probe.returncode != 0:
        sys.exit(f"error: cannot run {python}: {probe.stderr.strip()}")
    impl, version = probe.stdout.split()
    key = hashlib.sha1(os.path.realpath(python).encode()).hexdigest()[:8]
    venv = os.path.join(workdir, f"venv-{impl.lower()}{version}-{key}")
    vpy = os.path.join(venv, "bin", "python")
    ready = os.path.join(venv, ".pyperformance-ready")
    if not os.path.exists(ready):
        log(f"setting up {venv} ({impl} {version}) ...")
        if not os.path.exists(vpy):
            r = subprocess.run([python, "-m", "venv", venv], capture_output=True, text=True)
            if r.returncode != 0:
                log(f"error: python -m venv failed: {tail(r.stderr + r.stdout)}")
                sys.exit(SETUP_FAILED)
        try:
            r = pip(vpy, PYPERFORMANCE, "numpy", timeout=900)
        except subprocess.TimeoutExpired:
            r = subprocess.CompletedProcess([], 1, "", "pip install timed out")
        if r.returncode != 0:
            log(f"error: cannot install {PYPERFORMANCE} into {venv} (no network?): {tail(r.stderr)}")
            sys.exit(SETUP_FAILED)
        open(ready, "w").write(PYPERFORMANCE + "\n")
    err = native_error(vpy)
    if err:
        if not build:
            log(f"error: the profiler's native module does not import on {python}: {err}\n"
                f"build it for that interpreter: {vpy} -m pip install pybind11 setuptools wheel && "
                f"cd {ROOT} && {vpy} setup.py build_ext --inplace")
            sys.exit(SETUP_FAILED)
        log(f"building the native module for {impl} {version} in {ROOT} ...")
        r = pip(vpy, "pybind11>=2.11", "setuptools>=64", "wheel")
        if r.returncode != 0:
            log(f"error: cannot install the build requirements: {tail(r.stderr)}")
            sys.exit(SETUP_FAILED)
        r = subprocess.run([vpy, "setup.py", "-q", "build_ext", "--inplace"], cwd=ROOT, capture_output=True,
                           text=True)
        err = native_error(vpy)
        if err:
            log(f"error: building the native module failed: {tail(r.stderr + r.stdout, 12)}")
            sys.exit(SETUP_FAILED)
    return vpy


def native_error(vpy: str) -> str:
    r = subprocess.run([vpy, "-c", "import pyprof_carbon._native"], env=run_env(), capture_output=True,
                       text=True, cwd=tempfile.gettempdir())
    return "" if r.returncode == 0 else tail(r.stderr, 1) or "?"


def list_benchmarks(vpy: str) -> List[dict]:
    r = subprocess.run([vpy, "-c", LIST_BENCHMARKS], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"error: cannot read pyperformance's manifest: {tail(r.stderr, 8)}")
    return json.loads(r.stdout)


def install_requirements(vpy: str, bench: dict) -> Optional[str]:
    """None when the benchmark's requirements are installed, else why not. As `pyperformance run`
    does: into the shared venv, just before the benchmark runs (a later pin may replace an earlier
    one). Outcomes are remembered per requirements file content."""
    req = bench["requirements"]
    if not req:
        return None
    state_file = os.path.join(os.path.dirname(os.path.dirname(vpy)), ".requirements-state.json")
    state = json.load(open(state_file)) if os.path.exists(state_file) else {}
    digest = hashlib.sha1(open(req, "rb").read()).hexdigest()
    last = state.get(digest)
    if last is not None and last.get("error") is None:
        # installed before; cheap re-check (another benchmark may have moved a pin)
        r = pip(vpy, "-r", req, "--no-deps")
        if r.returncode == 0:
            return None
    elif last is not None:
        return last["error"]
    log(f"  installing requirements of {bench['name']} ...")
    try:
        r = pip(vpy, "-r", req)
        error = None if r.returncode == 0 else tail(r.stderr, 3) or f"pip exited with {r.returncode}"
    except subprocess.TimeoutExpired:
        error = "pip install timed out"
    state[digest] = {"file": req, "error": error}
    json.dump(state, open(state_file, "w"), indent=1)
    return error


# ---------------------------------------------------------------- running and comparing


@dataclasses.dataclass
class Outcome:
    returncode: Optional[int]  # None: timed out
    stdout: str
    stderr: str
    seconds: float


def run_one(argv: List[str], cwd: str, timeout: float) -> Outcome:
    start = time.monotonic()
    p = subprocess.Popen(argv, cwd=cwd, env=run_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)  # the profiler and the program, and what they started
        except ProcessLookupError:
            pass
        out, err = p.communicate()
        rc = None
    return Outcome(rc, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), time.monotonic() - start)


TIME_UNITS = r"(?:ns|us|µs|ms|sec|s|seconds?|min|minutes?|h|hours?)"
SIZE_UNITS = r"(?:bytes|B|kB|KB|KiB|MB|MiB|GB|GiB)"
NUMBER = r"[-+]?\d+(?:[.,]\d+)*(?:[eE][-+]?\d+)?"


def normalise(text: str, paths: Tuple[str, ...] = ()) -> str:
    for p in sorted(paths, key=len, reverse=True):
        text = text.replace(p, "<path>")
    tmp = re.escape(tempfile.gettempdir().rstrip("/"))
    text = re.sub(tmp + r"/[^\s'\":,)\]]*", "<tmp>", text)
    text = re.sub(r"0x[0-9a-fA-F]+", "0x?", text)
    text = re.sub(r"\b\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d+)?", "<datetime>", text)  # log lines
    text = re.sub(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", "<uuid>", text)
    text = re.sub(r"\b1[6-9]\d{8}(?:\.\d+)?\b", "<unixtime>", text)
    text = re.sub(r"((?:\d{1,3}\.){3}\d{1,3}|localhost|\[[0-9a-fA-F:]+\]):\d+\b", r"\1:<port>", text)
    text = re.sub(r"\b(pid|process|Thread-|thread )\s?\d+", r"\1?", text)
    text = re.sub(NUMBER + r"\s?" + TIME_UNITS + r"\b", "<time>", text)
    text = re.sub(NUMBER + r"\s?" + SIZE_UNITS + r"\b", "<size>", text)
    text = re.sub(NUMBER + r"\s?%", "<pct>", text)
    text = re.sub(r"<time>(\s*\+-\s*<time>)+", "<time>", text)
    return text


def differences(a: Outcome, b: Outcome, paths: Tuple[str, ...],
                labels: Tuple[str, str] = ("python", "pyprof-carbon")) -> List[str]:
    """What differs between two runs, as readable lines ([] when they match)."""
    found = []
    if a.returncode != b.returncode:
        found.append(f"exit status {a.returncode} -> {b.returncode}")
    for stream in ("stdout", "stderr"):
        x, y = normalise(getattr(a, stream), paths), normalise(getattr(b, stream), paths)
        if x != y:
            diff = list(difflib.unified_diff(x.splitlines(), y.splitlines(), f"{labels[0]}:{stream}",
                                             f"{labels[1]}:{stream}", n=1, lineterm=""))
            excerpt = diff[:24] + ([f"... ({len(diff) - 24} more diff lines)"] if len(diff) > 24 else [])
            found.append(f"{stream} differs:\n" + "\n".join("    " + l for l in excerpt))
    return found


def compare(vpy: str, bench: dict, timeout: float, scratch: str) -> dict:
    script = bench["runscript"]
    args = [script, *bench["extra_opts"], *PYPERF_OPTS]
    rec = os.path.join(scratch, f"{bench['name']}.pcarbon")
    plain_cmd = [vpy, "-u", *args]
    prof_cmd = [vpy, "-u", "-m", "pyprof_carbon", "run", "-q", "-o", rec, *args]
    paths = (rec, os.path.dirname(script), os.path.dirname(os.path.dirname(vpy)))
    result = {"name": bench["name"], "command": " ".join(["python", "-u", os.path.relpath(script, os.path.dirname(
        os.path.dirname(os.path.dirname(script)))), *bench["extra_opts"], *PYPERF_OPTS])}
    plain = run_one(plain_cmd, scratch, timeout)
    prof = run_one(prof_cmd, scratch, timeout)
    result.update(plain_returncode=plain.returncode, profiled_returncode=prof.returncode,
                  plain_seconds=round(plain.seconds, 2), profiled_seconds=round(prof.seconds, 2),
                  recorded=os.path.exists(rec) and os.path.getsize(rec) > 0)
    if os.path.exists(rec):
        os.unlink(rec)
    if plain.returncode is None or prof.returncode is None:
        which = "both" if plain.returncode is prof.returncode else ("python" if plain.returncode is None
                                                                   else "pyprof-carbon")
        result.update(status="timeout", detail=f"timed out after {timeout:g} s under {which}")
        return result
    found = differences(plain, prof, paths)
    if not found:
        result["status"] = "same"
        return result
    again = run_one(plain_cmd, scratch, timeout)
    between_plain = differences(plain, again, paths, ("python", "python again")) if again.returncode is not None \
        else ["the second plain run timed out"]
    if again.returncode is not None and not differences(again, prof, paths):
        result.update(status="same", detail="matched a second plain run")
    elif between_plain and plain.returncode == again.returncode != prof.returncode:
        result.update(status="differs", detail="\n".join(found))  # the plain runs agree on the status
    elif between_plain:
        # the program's output is not deterministic; say whether the profiled output has the same lines
        same_lines = any(o.returncode == prof.returncode and
                         all(sorted(normalise(getattr(o, s), paths).splitlines()) ==
                             sorted(normalise(getattr(prof, s), paths).splitlines()) for s in ("stdout", "stderr"))
                         for o in (plain, again))
        result.update(status="unstable", detail="two plain runs differ from each other"
                      + (" (the profiled run's lines match a plain run's, in another order)" if same_lines else "")
                      + ":\n" + "\n".join(between_plain))
    else:
        # the two plain runs agree and the profiled run does not: run the profiled one again; a
        # difference that does not come back is a race in the program that the profiler's timing
        # exposed (reported as "flaky", with the first diff), not a behaviour of the profiler
        prof2 = run_one(prof_cmd, scratch, timeout)
        if os.path.exists(rec):
            os.unlink(rec)
        if prof2.returncode is not None and not differences(plain, prof2, paths):
            result.update(status="flaky", detail="a second profiled run matched; the first differed:\n"
                          + "\n".join(found))
        else:
            result.update(status="differs", detail="\n".join(found))
    if plain.returncode != 0:
        result["plain_stderr_tail"] = tail(plain.stderr, 6)
    return result


# ---------------------------------------------------------------- main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="See the module docstring and docs/transparency.md.")
    ap.add_argument("--python", default=sys.executable, help="interpreter under test (default: this one)")
    ap.add_argument("--workdir", default=".pyperformance-work",
                    help="venvs and scratch files, kept between runs (default ./.pyperformance-work)")
    ap.add_argument("--only", help="benchmark names, comma-separated (as pyperformance names them)")
    ap.add_argument("--subset", choices=["ci"], help=f"ci: {', '.join(CI_SUBSET)}")
    ap.add_argument("--timeout", type=float, default=300, help="seconds per run (default 300)")
    ap.add_argument("--json", metavar="OUT", help="write the results here as JSON")
    ap.add_argument("--no-build", action="store_true", help="do not build the native module if missing")
    ap.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    opts = ap.parse_args(argv)

    workdir = os.path.abspath(opts.workdir)
    os.makedirs(workdir, exist_ok=True)
    python = shutil.which(opts.python) or opts.python
    vpy = venv_for(python, workdir, build=not opts.no_build)
    benches = list_benchmarks(vpy)
    by_name = {b["name"]: b for b in benches}
    if opts.list:
        for b in benches:
            print(b["name"], " ".join(b["extra_opts"]), "" if b["runs_here"] else f"(python{b['python']})")
        return 0
    wanted = None
    if opts.subset == "ci":
        wanted = list(CI_SUBSET)
    if opts.only:
        wanted = (wanted or []) + [n.strip() for n in opts.only.split(",") if n.strip()]
    if wanted is not None:
        unknown = [n for n in wanted if n not in by_name]
        if unknown:
            ap.error(f"no such benchmark in pyperformance 1.14.0: {', '.join(unknown)}")
        benches = [by_name[n] for n in dict.fromkeys(wanted)]

    info = subprocess.run([vpy, "-c", "import sys, pyperf; print(sys.version.split()[0], pyperf.__version__)"],
                          capture_output=True, text=True).stdout.split()
    version, pyperf_version = (info + ["?", "?"])[:2]
    log(f"python {version} ({python}), {PYPERFORMANCE}, pyperf {pyperf_version}: {len(benches)} benchmarks")
    scratch = tempfile.mkdtemp(prefix="pyperf-compare-", dir=workdir)
    results = []
    started = time.time()
    try:
        for i, bench in enumerate(benches, 1):
            if not bench["runs_here"]:
                res = {"name": bench["name"], "status": "skipped", "reason": "python",
                       "detail": f"requires python{bench['python']}"}
            else:
                error = install_requirements(vpy, bench)
                if error:
                    res = {"name": bench["name"], "status": "skipped", "reason": "requirements", "detail": error}
                else:
                    res = compare(vpy, bench, opts.timeout, scratch)
            results.append(res)
            line = f"[{i}/{len(benches)}] {res['name']}: {res['status']}"
            if res["status"] == "skipped":
                line += f": {res['reason']} ({res['detail']})"
            elif res["status"] != "same" or res.get("detail"):
                line += f": {res.get('detail', '')}"
            if "plain_seconds" in res:
                line += f"  [{res['plain_seconds']} s / {res['profiled_seconds']} s]"
            print(line, flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    counts: Dict[str, int] = {}
    for r in results:
        key = r["status"] + (f": {r['reason']}" if r["status"] == "skipped" else "")
        counts[key] = counts.get(key, 0) + 1
    print(f"python {version}: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))
    if opts.json:
        with open(opts.json, "w") as f:
            json.dump({"python": python, "python_version": version, "pyperformance": PYPERFORMANCE.split("==")[1],
                       "pyperf": pyperf_version, "pyperf_opts": PYPERF_OPTS, "timeout": opts.timeout,
                       "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": platform.platform(),
                       "cpus": os.cpu_count(), "seconds": round(time.time() - started, 1),
                       "counts": counts, "results": results}, f, indent=1)
    failed = [r for r in results if r["status"] == "differs" or
              r["status"] == "timeout" and "under pyprof-carbon" in r.get("detail", "")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

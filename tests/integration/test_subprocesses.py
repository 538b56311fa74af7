"""Whole-program profiling: every Python process the program starts is profiled and its energy
lands on its own stacks (issue: child processes), on each interpreter under test.

The checks read the JSON report as a user would. Energy shares are compared with the CPU-time
shares the same recording measured, so a busy machine (other processes taking CPUs) changes
nothing about what is checked."""
import json
import os
import textwrap

import numpy as np
import pytest

from fakes.powercap import FakePowercap, FakeRaplWriter
from pcrun import interpreters, native_error, pc
from pyprof_carbon import load

PYTHONS = [pytest.param(p, id=os.path.basename(os.path.dirname(os.path.dirname(p))) or p) for p in interpreters()]

BURN = '''
def burn(n):
    s = 0
    for i in range(n):
        s += i * i
    return s
'''

POOL = BURN + '''
import sys
if __name__ == "__main__":
    how = sys.argv[1]
    if how == "executor":
        from concurrent.futures import ProcessPoolExecutor
        with ProcessPoolExecutor(2) as ex:
            print(sum(ex.map(burn, [N] * 4)))
    else:
        import multiprocessing as mp
        with mp.get_context(how).Pool(2) as p:
            print(sum(p.map(burn, [N] * 4)))
'''

NESTED = BURN + '''
import os
pid = os.fork()
if pid == 0:
    grandchild = os.fork()
    if grandchild == 0:
        burn(N)
        os._exit(0)
    os.waitpid(grandchild, 0)
    os._exit(0)
os.waitpid(pid, 0)
print("done")
'''

EXEC = '''
import os, subprocess, sys
CHILD = """
def child_burn(n):
    s = 0
    for i in range(n):
        s += i
    return s
import os, sys
child_burn(int(sys.argv[1]))
print(os.environ.get("PYTHONPATH"), "PYPROF_CARBON_CHILD" in os.environ)
"""
subprocess.run([sys.executable, "-c", CHILD, sys.argv[1]], check=True)
print(os.environ.get("PYTHONPATH"), "PYPROF_CARBON_CHILD" in os.environ)
'''


def run_json(tmp_path, python, source, *args, n=2_000_000, options=(), env=None):
    err = native_error(python)
    if err:
        pytest.skip(f"sampler not built for {python}: {err}")
    path = tmp_path / "prog.py"
    path.write_text(textwrap.dedent(source).replace("N)", f"{n})").replace("[N]", f"[{n}]"))
    out = tmp_path / "run.pcarbon"
    r = pc(["run", "-q", "-o", str(out), *options, str(path), *args], python=python, cwd=tmp_path, timeout=300,
           env=env)
    assert r.returncode == 0, r.stderr
    rep = pc(["report", str(out), "--format", "json"], python=python)
    assert rep.returncode == 0, rep.stderr
    return r, json.loads(rep.stdout)


def self_energy(report, name):
    return sum(f["self_energy_j"] for f in report["functions"] if f["name"] == name)


def attributed(report):
    return sum(f["self_energy_j"] for f in report["functions"])


@pytest.mark.parametrize("python", PYTHONS)
@pytest.mark.parametrize("how", ["fork", "spawn", "forkserver", "executor"])
def test_pool_workers_energy_lands_on_their_function(tmp_path, python, how):
    check_pool(tmp_path, python, how)


@pytest.mark.parametrize("how", ["fork", "executor"])
def test_pool_workers_energy_lands_on_their_function_with_a_measured_meter(tmp_path, how):
    """The same with RAPL counters (a fake powercap tree drawing 25 W on package, 4 W on dram)."""
    fake = FakePowercap(tmp_path / "powercap").socket(0, watts=25.0, core_w=None, dram_w=4.0)
    with FakeRaplWriter(fake.zones):
        rep = check_pool(tmp_path, PYTHONS[0].values[0], how, options=("--meter", "rapl-powercap"),
                         env={"PYPROF_CARBON_POWERCAP_ROOT": str(fake.root)})
    assert {m["meter"] for m in rep["meta"]["meters"]} == {"rapl-powercap"}


def check_pool(tmp_path, python, how, options=(), env=None):
    n = 9_000_000  # about 3.5 s of burn: start-up (interpreters, site, imports) stays a small part
    r, rep = run_json(tmp_path, python, POOL, how, n=n, options=options, env=env)
    assert r.stdout.strip() == str(4 * (n - 1) * n * (2 * n - 1) // 6)
    procs = rep["processes"]
    assert procs[0]["how"] == "first" and procs[0]["exit_status"] == 0
    workers = [p for p in procs[1:] if p["samples"] > 0]
    assert len(workers) >= 2, procs  # both workers (a forkserver or resource tracker may add more)
    burn = self_energy(rep, "burn")
    assert burn >= 0.8 * attributed(rep), [(f["name"], f["self_energy_j"]) for f in rep["functions"][:5]]
    # every worker's burn CPU is on a stack: the tree's CPU, not the parent's, is what was charged
    burn_cpu = sum(f["self_cpu_s"] for f in rep["functions"] if f["name"] == "burn")
    assert burn_cpu >= 0.8 * sum(p["cpu_s"] for p in workers)
    assert sum(p["energy_j"] for p in procs) == pytest.approx(attributed(rep) - self_energy(rep, "[not sampled]"), rel=1e-6)
    # The machine's energy lands on the tree's stacks as the tree's CPU time (children included,
    # the profiler's own threads not: they are charged their marginal energy apart) is a part of
    # the machine's busy CPU time, interval by interval. A whole-run ratio of the two, the tree's
    # profiler CPU in it, fell below 0.9 on a fresh clone when signals cost the most (the
    # profiler's threads and handlers took 13-15 % of the tree's CPU here).
    rec = load(str(tmp_path / "run.pcarbon"))
    t, cpu, busy = rec.sched.t_ns, rec.sched.process_cpu_ns - rec.sched.profiler_cpu_ns, rec.sched.machine_busy_ns
    energy = sum(np.diff(np.interp(t, e.t_ns, e.energy_j)) for e in rec.energy.values())
    share = np.clip(np.diff(cpu) / np.maximum(np.diff(busy), 1), 0.0, 1.0)
    expected = float((energy * share).sum())
    assert cpu[-1] - cpu[0] >= 0.9e9 * sum(p["cpu_s"] for p in workers)  # the workers' CPU is in it
    assert attributed(rep) >= 0.97 * expected, (attributed(rep), expected)
    return rep


@pytest.mark.parametrize("python", PYTHONS)
def test_nested_fork_grandchild_is_profiled(tmp_path, python):
    r, rep = run_json(tmp_path, python, NESTED, n=12_000_000)  # ~1 s: the first moments stay a small part
    assert r.stdout.strip() == "done"
    procs = {p["pid"]: p for p in rep["processes"]}
    assert len(procs) == 3
    first = rep["processes"][0]["pid"]
    child = next(p for p in procs.values() if p["ppid"] == first)
    grandchild = next(p for p in procs.values() if p["ppid"] == child["pid"])
    assert child["how"] == grandchild["how"] == "fork"
    assert grandchild["samples"] > 0 and self_energy(rep, "burn") >= 0.8 * attributed(rep)


@pytest.mark.parametrize("python", PYTHONS)
def test_python_subprocess_is_profiled_and_sees_the_users_environment(tmp_path, python):
    r, rep = run_json(tmp_path, python, EXEC, "8000000")  # ~0.4 s: well above two interpreters' start-up
    # the child's environment is the user's as the program's is: no variable of ours, and
    # PYTHONPATH as the user gave it
    child, program = r.stdout.strip().splitlines()
    assert child == program and program.endswith(" False") and "_boot" not in program
    execd = [p for p in rep["processes"] if p["how"] == "exec"]
    assert len(execd) == 1 and execd[0]["samples"] > 0
    assert self_energy(rep, "child_burn") > 0.5 * attributed(rep)


@pytest.mark.parametrize("python", PYTHONS[:1])
def test_no_subprocesses_profiles_the_program_only(tmp_path, python):
    r, rep = run_json(tmp_path, python, NESTED, options=["--no-subprocesses"])
    assert len(rep["processes"]) == 1
    assert self_energy(rep, "burn") == 0


@pytest.mark.parametrize("python", PYTHONS)
def test_os_exit_keeps_what_was_streamed(tmp_path, python):
    """A program that ends with os._exit runs no exit work: the stream up to its last chunk is
    the recording, and the report says it was cut short."""
    src = BURN + "\nimport os\nburn(N)\nos._exit(3)\n"
    err = native_error(python)
    if err:
        pytest.skip(err)
    path = tmp_path / "prog.py"
    path.write_text(src.replace("N)", "6000000)"))
    out = tmp_path / "run.pcarbon"
    r = pc(["run", "-o", str(out), str(path)], python=python, cwd=tmp_path)
    assert r.returncode == 3, r.stderr
    assert "cut short" in r.stderr
    rep = json.loads(pc(["report", str(out), "--format", "json"], python=python).stdout)
    assert rep["meta"]["cut_short"] and rep["processes"][0]["exit_status"] == 3
    assert self_energy(rep, "burn") > 0.5 * attributed(rep)


def test_version_1_recordings_still_load(tmp_path):
    """A recording of format 1 (one process: no pid column, no process table) loads with both
    filled in from its `pid`."""
    import io
    import zipfile
    from synthetic import recording as synthetic
    path = str(tmp_path / "v1.pcarbon")
    synthetic().save(path)
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist() if n != "s_pid.npy"}
    meta = json.loads(np.load(io.BytesIO(members["meta.json.npy"])).tobytes())
    meta["format_version"] = 1
    meta.pop("processes")
    buf = io.BytesIO()
    np.save(buf, np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    members["meta.json.npy"] = buf.getvalue()
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    back = load(path)
    assert back.meta["format_version"] == 1
    pid = meta.get("pid", 0)
    assert [p["pid"] for p in back.meta["processes"]] == [pid]
    assert (back.samples["pid"] == pid).all()


BUSY_C = r"""
#include <stdlib.h>
int main(int argc, char** argv) {
    volatile unsigned long x = 0;
    unsigned long n = strtoul(argv[1], 0, 10) * 1000000ul;
    for (unsigned long i = 0; i < n; ++i) x += i;
    return 0;
}
"""

NON_PYTHON = '''
import subprocess, sys
def compress():
    subprocess.run([sys.argv[1], sys.argv[2]], check=True)
def python_work():
    s = 0
    for i in range(1_000_000):
        s += i
compress()
python_work()
'''


@pytest.mark.parametrize("python", PYTHONS)
def test_non_python_child_is_charged_to_the_line_that_started_it(tmp_path, python):
    import shutil
    import subprocess
    if shutil.which("gcc") is None:
        pytest.skip("no C compiler to build the busy child")
    (tmp_path / "busy.c").write_text(BUSY_C)
    subprocess.run(["gcc", "-O1", "-o", str(tmp_path / "busy"), str(tmp_path / "busy.c")], check=True)
    # 1.2 billion additions: 0.4-0.9 s of the child's CPU as this VM's speed drifts, against the
    # Python side's ~0.1 s (at 400 million the child's share swung around one half)
    _, rep = run_json(tmp_path, python, NON_PYTHON, str(tmp_path / "busy"), "1200")
    child = [f for f in rep["functions"] if f["name"].startswith("[subprocess] ") and "busy 1200" in f["name"]]
    assert len(child) == 1, [f["name"] for f in rep["functions"]]
    # its CPU time is on it, and its energy is under the function that called subprocess.run
    assert child[0]["self_cpu_s"] > 0.5 * sum(f["self_cpu_s"] for f in rep["functions"])
    compress = next(f for f in rep["functions"] if f["name"] == "compress")
    assert compress["total_energy_j"] >= child[0]["self_energy_j"] > 0.3 * attributed(rep)
    row = next(p for p in rep["processes"] if p["how"] == "subprocess")
    assert row["energy_j"] == pytest.approx(child[0]["self_energy_j"], rel=1e-6)

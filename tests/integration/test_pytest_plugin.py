"""The pytest plugin: `--energy` table, `--energy-top`, `--energy-save`, `energy_budget`, and that
-x, -k, fixtures and output capture behave as without it. The plugin is loaded with
`-p pyprof_carbon.pytest_plugin`, the installed entry point's copy turned off (`-p no:pyprof_carbon`):
it may point at another checkout, and one module cannot be registered under two names."""
import os
import re

import pytest

from pcrun import ROOT, native_error

pytest_plugins = ["pytester"]
PLUGIN = ("-p", "no:pyprof_carbon", "-p", "pyprof_carbon.pytest_plugin")

pytestmark = pytest.mark.skipif(bool(native_error(__import__("sys").executable)), reason="native sampler not built")



@pytest.fixture(autouse=True, scope="module")
def imported_once():
    """pytester runs pytest in this process and then forgets the modules it imported; numpy and
    the native sampler cannot be imported twice, so one measured block here imports them all."""
    from pyprof_carbon.attribution import attribute
    from pyprof_carbon.pytest_plugin import EnergyPlugin  # noqa: F401
    from pyprof_carbon import load  # noqa: F401
    from pyprof_carbon.render import svg  # noqa: F401
    import pyprof_carbon
    with pyprof_carbon.profile(sched="procfs") as p:
        sum(range(1000))
    attribute(p.recording)


# the CPU-bound function the pytester test files below share
BUSY = '''
def busy(n):
    total = 0
    for i in range(n):
        total += i * i % 7
    return total
'''

TESTS = '''
import pytest

@pytest.fixture
def numbers():
    return list(range(10))
''' + BUSY + '''
def test_heavy(numbers):
    print("heavy says hello")
    assert busy(600_000) >= 0 and len(numbers) == 10

def test_light():
    print("light says hello")

def test_medium():
    assert busy(150_000) >= 0
'''


def table_rows(out: str):
    lines = out.splitlines()
    start = next(i for i, ln in enumerate(lines) if "energy per test (pyprof-carbon" in ln)
    rows = []
    for ln in lines[start + 2:]:
        if ln.startswith("total:"):
            break
        rows.append(ln)
    return lines[start], rows


def test_energy_table_most_energy_first(pytester):
    pytester.makepyfile(test_work=TESTS)
    r = pytester.runpytest(*PLUGIN, "--energy")
    r.assert_outcomes(passed=3)
    out = r.stdout.str()
    head, rows = table_rows(out)
    assert "top 3 of 3" in head
    ids = [row.split()[-1] for row in rows]
    assert ids[0] == "test_work.py::test_heavy" and set(ids) == {"test_work.py::test_heavy", "test_work.py::test_medium",
                                                                 "test_work.py::test_light"}
    energies = []
    for row in rows:
        m = re.match(r"\s*([\d.]+) (m|µ|n|)J\s+\S+\s+\S+ (m|µ|n|k|)g\s+([\d.]+)", row)
        assert m, row
        energies.append(float(m.group(1)) * {"": 1, "m": 1e-3, "µ": 1e-6, "n": 1e-9}[m.group(2)])
    assert energies == sorted(energies, reverse=True) and energies[0] > 0
    heavy_cpu = float(rows[0].split()[-2])
    assert heavy_cpu > 0
    assert "hello" not in out  # output capture untouched: passing tests' prints stay hidden
    assert re.search(r"^total: .* in 3 tests \(call phase only; ± J: E/√N for N samples, one run\)$", out, re.M)


def test_energy_top_and_selection(pytester):
    pytester.makepyfile(test_work=TESTS)
    r = pytester.runpytest(*PLUGIN, "--energy", "--energy-top", "1", "-k", "heavy or medium")
    r.assert_outcomes(passed=2, deselected=1)
    head, rows = table_rows(r.stdout.str())
    assert "top 1 of 2" in head and len(rows) == 1 and rows[0].endswith("test_work.py::test_heavy")


def test_exitfirst_and_capture_of_a_failure(pytester):
    pytester.makepyfile(test_fail='''
def test_a():
    print("captured before failing")
    assert 1 == 2

def test_b():
    pass
''')
    r = pytester.runpytest(*PLUGIN, "--energy", "-x")
    r.assert_outcomes(failed=1)
    out = r.stdout.str()
    assert "captured before failing" in out and "assert 1 == 2" in out  # the test's own failure, its output
    _, rows = table_rows(out)
    assert [row.split()[-1] for row in rows] == ["test_fail.py::test_a"]


def test_energy_save_keeps_one_recording_per_test(pytester, tmp_path):
    pytester.makepyfile(test_work=TESTS)
    save = tmp_path / "rec"
    r = pytester.runpytest(*PLUGIN, "--energy-save", str(save))
    r.assert_outcomes(passed=3)
    files = sorted(os.listdir(save))
    assert files == ["test_work.py_test_heavy.pcarbon", "test_work.py_test_light.pcarbon",
                     "test_work.py_test_medium.pcarbon"]
    from pyprof_carbon import load
    rec = load(str(save / files[0]))
    assert rec.meta["command"] == ["pytest", "test_work.py::test_heavy"] and rec.sched.backend == "procfs"
    from pyprof_carbon.attribution import attribute
    names = {f["qualname"] for f in attribute(rec).function_table()}
    assert "busy" in names  # the call phase was sampled
    assert f"recordings: {save}" in r.stdout.str()


def test_energy_budget(pytester):
    pytester.makepyfile(test_budget='''
import pytest
''' + BUSY + '''
@pytest.mark.energy_budget(joules=1e-6)
def test_over():
    busy(400_000)

@pytest.mark.energy_budget(joules=1e6)
def test_under():
    busy(100_000)

def test_unmarked():
    pass
''')
    r = pytester.runpytest(*PLUGIN)  # no --energy: budgets are measured anyway, no table
    r.assert_outcomes(passed=2, failed=1)
    out = r.stdout.str()
    assert re.search(r"test_over.*\n?.*energy [\d.e+-]+ J ± [\d.e+-]+ J \(E/√N, N = \d+ samples\) is above the budget of 1e-06 J", out)
    assert "energy per test" not in out and "PluggyTeardownRaisedWarning" not in out  # a clean failure
    r.stdout.fnmatch_lines(["*FAILED test_budget.py::test_over*"])


def test_without_the_plugin_the_option_is_unknown(pytester):
    pytester.makepyfile(test_x="def test_x(): pass")
    r = pytester.runpytest("-p", "no:pyprof_carbon", "--energy")
    assert r.ret != 0 and "--energy" in r.stderr.str()


def test_entry_point_is_declared():
    tomllib = pytest.importorskip("tomllib")
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        proj = tomllib.load(f)["project"]
    assert proj["entry-points"]["pytest11"] == {"pyprof_carbon": "pyprof_carbon.pytest_plugin"}
    assert any(d.startswith("ipython") for d in proj["optional-dependencies"]["test"])


def test_entry_point_loads_and_no_disables(tmp_path):
    """Through an entry point as pip would install it: loaded without -p, off with -p no:pyprof_carbon."""
    import subprocess
    import sys
    from pcrun import env_for
    dist = tmp_path / "site" / "pyprof_carbon_ep-0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: pyprof-carbon-ep\nVersion: 0\n")
    (dist / "entry_points.txt").write_text("[pytest11]\npyprof_carbon = pyprof_carbon.pytest_plugin\n")
    (tmp_path / "test_one.py").write_text("def test_one():\n    sum(range(100000))\n")
    env = env_for({"PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), ROOT])})
    env.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
    run = lambda *a: subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *a, "test_one.py"],
                                    cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    on = run("--energy")
    assert on.returncode == 0 and "energy per test (pyprof-carbon" in on.stdout, on.stdout + on.stderr
    off = run("-p", "no:pyprof_carbon", "--energy")
    assert off.returncode != 0 and "--energy" in off.stderr

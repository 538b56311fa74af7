"""The native sampler must not disturb the profiled program (docs/how-it-works.md#sampling, docs/design.md#architecture), on every
interpreter under test (PYPROF_CARBON_TEST_PYTHONS) and with both engines."""
import os
import re

import pytest

from pcrun import pc, report_json, script


def run_ok(python, tmp_path, name, *extra, marker):
    out = str(tmp_path / "rec.pcarbon")
    r = pc(["run", "-q", "--meter", "model", "-o", out, *extra, script(name)], python=python, cwd=str(tmp_path))
    assert r.returncode == 0, f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    assert marker in r.stdout, r.stdout
    assert "Traceback" not in r.stderr, r.stderr
    assert os.path.exists(out)
    return report_json(out, python=python), r


def function_names(rep):
    return {f["qualname"] for f in rep["functions"]}


@pytest.mark.parametrize("engine", ["perf", "timer"])
def test_threads_started_mid_run_are_sampled(python, tmp_path, engine):
    rep, r = run_ok(python, tmp_path, "threads_midrun.py", "--engine", engine, marker="threads done")
    assert rep["meta"]["engine"] == engine
    cpu = {name: float(s) for name, s in (kv.split("=") for kv in r.stdout.split("threads done")[1].split())}
    assert len(cpu) == 12
    sampled = {t["name"]: t["cpu_s"] for t in rep["threads"] if t["energy_j"] > 0}
    # A thread is armed at the collector's first scan after it starts (10 ms cadence); until then
    # it runs unsampled, and the CPU after its last sample is unsampled too (4 ms at the timer's
    # 250 Hz): 14 of its ~50 ms when the collector is on time, and the bound leaves room for a
    # collector held back ~20 ms more by a busy machine (CI once saw 0.14 of 20 ms threads). A
    # collector that waited for the GIL while the program's threads passed it among themselves
    # (up to 150 ms) armed some threads only as they ended, or never.
    covered = {name: round(sampled.get(name, 0.0) / s, 2) for name, s in cpu.items()}
    assert min(covered.values()) >= 0.25, covered


def test_fork_and_multiprocessing_children_run_normally(python, tmp_path):
    rep, _ = run_ok(python, tmp_path, "forks.py", marker="forks ok 2")
    assert "burn" in function_names(rep)
    assert rep["meta"]["pid"] != 0


@pytest.mark.parametrize("engine", ["perf", "timer"])
def test_blocking_calls_are_not_interrupted(python, tmp_path, engine):
    rep, _ = run_ok(python, tmp_path, "blocking_calls.py", "--engine", engine, "--rate", "5000",
                    marker="blocking ok")
    assert "burner" in function_names(rep)


def test_100k_code_objects_created_and_freed(python, tmp_path):
    rep, _ = run_ok(python, tmp_path, "many_codes.py", "--rate", "4000", marker="codes ok")
    names = function_names(rep)
    assert "stable_hot.<locals>.<genexpr>" in names or "<genexpr>" in names
    generated = [f for f in rep["functions"] if f["name"].startswith("gen_")]
    assert generated, "no sample landed in a generated function"
    for f in generated:  # a freed, reused code address must never lend its name to another
        assert f["file"] == f"<generated {f['name'][4:]}>", f


def test_deep_recursion(python, tmp_path):
    rep, _ = run_ok(python, tmp_path, "deep_recursion.py", marker="recursion ok")
    names = function_names(rep)
    assert "down" in names and "[truncated]" in names
    down = next(f for f in rep["functions"] if f["qualname"] == "down")
    assert down["total_energy_j"] > 0


def test_generators_and_asyncio(python, tmp_path):
    rep, _ = run_ok(python, tmp_path, "gens_asyncio.py", marker="asyncio ok")
    names = function_names(rep)
    assert "numbers" in names and "worker" in names


def test_script_with_its_own_sigprof_and_sigalrm(python, tmp_path):
    run_ok(python, tmp_path, "own_sigprof.py", marker="own signals ok True True")


def test_10khz_rate_is_reached(python, tmp_path):
    rep, _ = run_ok(python, tmp_path, "many_codes.py", "--rate", "10000", "--engine", "perf", marker="codes ok")
    rate = rep["meta"]["rate_hz"]
    assert rate["requested"] == 10000
    assert rate["achieved"] > 5000, rate  # perf task-clock is precise; timer would be tick-bound
    assert not re.search(r"\[stack changing\]", " ".join(function_names(rep))) or \
        rep["meta"]["unreadable_samples"] < 0.01 * rep["meta"]["samples"]

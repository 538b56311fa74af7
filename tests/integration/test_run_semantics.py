"""`pyprof-carbon run` behaves like `python` (docs/design.md#command-line-contract) and always saves the recording."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

import pyprof_carbon
from pcrun import ROOT, SCRIPTS, env_for, pc, report_json, script


def probe(tmp_path, cmd, cwd):
    out = tmp_path / f"probe{len(list(tmp_path.iterdir()))}.json"
    r = subprocess.run(cmd, cwd=cwd, env=env_for({"PROBE_OUT": str(out)}), capture_output=True, text=True)
    return r, json.loads(out.read_text())


def test_argv_main_and_path_like_python(tmp_path):
    plain_r, plain = probe(tmp_path, [sys.executable, script("argv_probe.py"), "a", "--b"], str(tmp_path))
    prof_r, prof = probe(tmp_path, [sys.executable, "-m", "pyprof_carbon", "run", "-q", script("argv_probe.py"),
                                    "a", "--b"], str(tmp_path))
    assert prof_r.returncode == plain_r.returncode == 0, prof_r.stderr
    assert prof == plain
    assert prof["name"] == "__main__" and prof["main_is_module"] and prof["path0"] == SCRIPTS
    assert prof_r.stdout == plain_r.stdout  # stdout untouched: the summary goes to stderr


def test_module_like_python_dash_m(tmp_path):
    plain_r, plain = probe(tmp_path, [sys.executable, "-m", "pkgmod", "x"], SCRIPTS)
    prof_r, prof = probe(tmp_path, [sys.executable, "-m", "pyprof_carbon", "run", "-q",
                                    "-o", str(tmp_path / "m.pcarbon"), "-m", "pkgmod", "x"], SCRIPTS)
    assert prof_r.returncode == 0, prof_r.stderr
    assert prof == plain
    assert (tmp_path / "m.pcarbon").exists()


def test_sys_exit_status_and_recording(tmp_path):
    out = tmp_path / "e.pcarbon"
    r = pc(["run", "-q", "-o", str(out), script("argv_probe.py"), "exit", "7"],
           env={"PROBE_OUT": str(tmp_path / "p.json")})
    assert r.returncode == 7
    assert out.exists()


def test_uncaught_exception_prints_traceback_exits_1_and_saves(tmp_path):
    out = tmp_path / "x.pcarbon"
    r = pc(["run", "-q", "-o", str(out), script("raise_error.py")])
    plain = subprocess.run([sys.executable, script("raise_error.py")], capture_output=True, text=True)
    assert r.returncode == plain.returncode == 1
    assert r.stderr.strip().splitlines()[-1] == "ValueError: the script failed on purpose"
    assert r.stderr.count("File ") == plain.stderr.count("File ")  # no frames of ours in it
    assert "pyprof_carbon" not in r.stderr
    rep = report_json(str(out))
    assert {"work", "fail"} & {f["qualname"] for f in rep["functions"]}


def _start_and_signal(tmp_path, sig):
    out = tmp_path / "s.pcarbon"
    # SIGINT at its default, as a shell's foreground job has it: a suite started in the background by
    # a non-interactive shell inherits SIGINT ignored, and python (and so the program) keeps it so
    p = subprocess.Popen([sys.executable, "-m", "pyprof_carbon", "run", "-q", "-o", str(out),
                          script("spin_until_signal.py")], env=env_for(), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert p.stdout.readline().strip() == "ready"
    time.sleep(0.3)
    p.send_signal(sig)
    _, err = p.communicate(timeout=60)
    return p.returncode, err, out


def test_ctrl_c_saves_and_exits_like_python(tmp_path):
    rc, err, out = _start_and_signal(tmp_path, signal.SIGINT)
    assert rc == -signal.SIGINT  # python re-raises SIGINT to die of it
    assert "KeyboardInterrupt" in err
    assert out.exists() and report_json(str(out))["totals"]["samples"] > 0


def test_sigterm_saves_and_dies_of_sigterm(tmp_path):
    rc, _, out = _start_and_signal(tmp_path, signal.SIGTERM)
    assert rc == -signal.SIGTERM
    assert out.exists() and report_json(str(out))["totals"]["samples"] > 0


def one_line_error(r):
    assert r.returncode != 0
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 or lines[-1].startswith("pyprof-carbon"), r.stderr
    return lines[-1]


def test_bad_input_is_one_line_error(tmp_path):
    assert "can't open file" in one_line_error(pc(["run", str(tmp_path / "missing.py")]))
    assert "no such recording" in one_line_error(pc(["report", str(tmp_path / "missing.pcarbon")]))
    junk = tmp_path / "junk.pcarbon"
    junk.write_text("not a recording")
    assert "is not a valid pyprof-carbon recording: " in one_line_error(pc(["report", str(junk)]))
    assert "--rate" in one_line_error(pc(["run", "--rate", "0", script("argv_probe.py")]))
    assert "nothing to run" in one_line_error(pc(["run"]))


def test_summary_is_labeled_estimated_on_stderr(tmp_path):
    r = pc(["run", "-o", str(tmp_path / "h.pcarbon"), os.path.join(ROOT, "examples", "hotspots.py")])
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    assert "Top functions by self energy (joules, estimated)" in r.stderr
    assert "crunch" in r.stderr and "model, estimated" in r.stderr


def test_python_api_context_manager_and_decorator(tmp_path):
    code = f"""
import pyprof_carbon

def busy():
    return sum(i * i for i in range(300_000))

with pyprof_carbon.profile(output={str(tmp_path / 'cm.pcarbon')!r}, formats=["json"]) as p:
    busy()
assert p.profile.totals()["samples"] > 0

@pyprof_carbon.profile(output={str(tmp_path / 'deco.pcarbon')!r})
def decorated():
    return busy()

decorated()
print("api ok")
"""
    r = subprocess.run([sys.executable, "-c", code], env=env_for(), capture_output=True, text=True, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "api ok" in r.stdout
    rep = json.loads((tmp_path / "cm.json").read_text())
    # the caller's frames, whatever file the API is used in: `busy` holds nearly every sample
    # (the block runs nothing else), and no frame of the profiler's own appears
    funcs = {f["qualname"]: f for f in rep["functions"]}
    assert funcs["busy"]["total_samples"] >= 0.9 * rep["totals"]["samples"], sorted(funcs)
    package = os.path.dirname(os.path.abspath(pyprof_carbon.__file__))
    assert not [f for f in rep["functions"] if f["file"].startswith(package)]
    assert (tmp_path / "deco.pcarbon").exists()


def test_a_meter_that_cannot_open_stops_the_run_before_any_of_the_program_runs(tmp_path):
    """The program's interpreter starts while the meters are opened (runner.start); when one
    cannot open, it is ended in its bootstrap: no line of the program ran, no working directory
    is left, and the error is the profiler's own."""
    marker = tmp_path / "ran"
    prog = tmp_path / "prog.py"
    prog.write_text(f"open({str(marker)!r}, 'w').write('ran')\nprint('program output')\n")
    out = tmp_path / "r.pcarbon"
    r = pc(["run", "-q", "--meter", "nvml", "-o", str(out), str(prog)])
    if r.returncode == 0:
        pytest.skip("an NVIDIA GPU is here: the nvml meter opened")
    assert r.returncode == 2, r.stderr
    assert "meter nvml is unavailable" in r.stderr
    assert r.stdout == ""
    assert not marker.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prog.py"]


def test_a_program_whose_profiler_goes_before_configuring_it_never_runs(tmp_path):
    """Between its start and its set-up the program's interpreter waits in its bootstrap; the
    profiler's death (end of file on the set-up socket) ends it there, before any of its lines."""
    from pyprof_carbon import runner
    marker = tmp_path / "ran"
    prog = tmp_path / "prog.py"
    prog.write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    child = runner.start([sys.executable, str(prog)], workdir=str(tmp_path / "work"))
    child.setup.close()  # what the profiler's death does to its end
    assert child.process.wait(timeout=60) == runner.START_FAILED
    assert not marker.exists()
    runner.discard(child)

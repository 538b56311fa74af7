"""`pyprof-carbon run` cannot be told apart from `python`: each program of tests/transparency/ runs
under both, on every interpreter of the matrix, with the same exit status, stdout and stderr."""
import os
import re
import subprocess
import sys

import pytest

from pcrun import ROOT, env_for

CORPUS = os.path.join(ROOT, "tests", "transparency")
PROGRAMS = sorted(f for f in os.listdir(CORPUS) if f.endswith(".py"))
TIMEOUT = 120  # a hang (the open thread pool) fails the test instead of stalling the suite


def normalise(text: str) -> str:
    text = re.sub(r"0x[0-9a-f]+", "0x?", text)
    text = re.sub(r"(pid|Thread-|process )\d+", r"\1?", text)
    text = re.sub(r"\d+\.\d+ ?(s|seconds)\b", "? s", text)
    return text


def run_both(python, tmp_path, program_args, env=None):
    plain = subprocess.run([python, *program_args], cwd=CORPUS, env=env_for(env), capture_output=True,
                           text=True, timeout=TIMEOUT)
    rec = str(tmp_path / "t.pcarbon")
    prof = subprocess.run([python, "-m", "pyprof_carbon", "run", "-q", "-o", rec, *program_args], cwd=CORPUS,
                          env=env_for(env), capture_output=True, text=True, timeout=TIMEOUT)
    return plain, prof, rec


def args_of(program: str):
    first = open(os.path.join(CORPUS, program)).read().splitlines()
    extra = next((line.split(":", 1)[1].split() for line in first if line.startswith("# args:")), [])
    return [program, *extra]


def profiler_notes(stderr: str):
    """(the program's stderr, the profiler's closing lines): the profiler writes only after the
    program has exited, and only lines of its own."""
    lines = stderr.splitlines(keepends=True)
    k = len(lines)
    while k and lines[k - 1].startswith("pyprof-carbon:"):
        k -= 1
    return "".join(lines[:k]), lines[k:]


@pytest.mark.parametrize("program", PROGRAMS)
def test_program_behaves_as_under_python(python, tmp_path, program):
    plain, prof, rec = run_both(python, tmp_path, args_of(program))
    assert prof.returncode == plain.returncode, prof.stderr
    assert normalise(prof.stdout) == normalise(plain.stdout)
    program_err, notes = profiler_notes(prof.stderr)
    assert normalise(program_err) == normalise(plain.stderr)
    if program == "os_exit.py":  # nothing can be handed over after os._exit: said, after the fact
        assert notes and "nothing was recorded" in notes[0]
    else:
        assert not notes, prof.stderr
        assert os.path.getsize(rec) > 0


def test_dash_m_package(python, tmp_path):
    plain, prof, rec = run_both(python, tmp_path, ["-m", "pkgmain", "x", "-v"])
    assert plain.returncode == prof.returncode == 0, prof.stderr
    assert prof.stdout == plain.stdout and prof.stderr == plain.stderr
    assert "pkgmain.__main__" in prof.stdout


def _first_line_modules(python, tmp_path, *launcher):
    probe = tmp_path / "probe.py"
    probe.write_text("import sys\nprint(len(sys.modules))\nprint(' '.join(sorted(sys.modules)))\n")
    r = subprocess.run([python, *launcher, str(probe)], env=env_for(), capture_output=True, text=True,
                       cwd=str(tmp_path), timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    count, names = r.stdout.splitlines()
    return int(count), set(names.split())


def test_modules_loaded_before_the_first_line(python, tmp_path):
    plain_n, plain = _first_line_modules(python, tmp_path)
    prof_n, prof = _first_line_modules(python, tmp_path, "-m", "pyprof_carbon", "run", "-q", "-o",
                                       str(tmp_path / "m.pcarbon"))
    assert prof_n <= plain_n + 15, sorted(prof - plain)
    assert not prof & {"numpy", "pickle", "_pickle", "json", "ctypes", "bcc", "argparse"}, sorted(prof - plain)
    assert prof - plain <= {"pyprof_carbon", "pyprof_carbon._native", "pyprof_carbon._version", "sitecustomize",
                            "atexit"}, sorted(prof - plain)


def test_openblas_setting_made_by_the_script_is_honoured(python, tmp_path):
    plain, prof, _ = run_both(python, tmp_path, ["env_before_import.py"], env={"OPENBLAS_NUM_THREADS": None})
    if "no numpy" in plain.stdout:
        pytest.skip("numpy is not installed for this interpreter")
    assert prof.stdout == plain.stdout


def test_environment_and_path_are_the_users(python, tmp_path):
    probe = "import os, sys; print(os.environ.get('PYTHONPATH')); print(sys.path); " \
            "print(sorted(k for k in os.environ if 'PYPROF' in k))"
    script = tmp_path / "env_probe.py"
    script.write_text(probe)
    plain = subprocess.run([python, str(script)], env=env_for(), capture_output=True, text=True)
    prof = subprocess.run([python, "-m", "pyprof_carbon", "run", "-q", "-o", str(tmp_path / "e.pcarbon"),
                           str(script)], env=env_for(), capture_output=True, text=True)
    assert prof.returncode == 0, prof.stderr
    assert prof.stdout == plain.stdout


def test_interpreter_options_reach_the_program(python, tmp_path):
    """`python -u -X dev -W error -m pyprof_carbon run s.py` runs the program as `python -u -X dev
    -W error s.py` would, and no warning of the profiler's own (bcc, dev mode) reaches stderr."""
    script = tmp_path / "flags.py"
    script.write_text("import sys\nprint(sys.flags.dev_mode, sys.stdout.write_through, sys.warnoptions, "
                      "sys.orig_argv[1:-1])\n")
    options = ["-u", "-X", "dev", "-W", "error::UserWarning"]
    plain = subprocess.run([python, *options, str(script)], env=env_for(), capture_output=True, text=True)
    prof = subprocess.run([python, *options, "-m", "pyprof_carbon", "run", "-q", "-o", str(tmp_path / "f.pcarbon"),
                           str(script)], env=env_for(), capture_output=True, text=True)
    assert prof.returncode == plain.returncode == 0, prof.stderr
    assert prof.stdout == plain.stdout and prof.stderr == plain.stderr == ""

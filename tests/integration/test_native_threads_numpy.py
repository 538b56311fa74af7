"""The work of BLAS threads lands on the Python line that called the library (native_threads.py):
numpy matmul alternating with a pure-Python loop, 2 OpenBLAS threads against 1; and the sampler's
library-call marks that rule rests on, on every interpreter."""
import json
import os

import pytest

from pcrun import interpreters, native_error, pc
from pyprof_carbon import load

PYTHONS = [pytest.param(p, id=os.path.basename(os.path.dirname(os.path.dirname(p))) or p) for p in interpreters()]


def alternating(setup, call, name, loop_n, reps):
    """A program that calls a library (`call`, in function `name`) and then runs a pure-Python
    loop (`python_loop`), `reps` times."""
    return f"""
{setup}
def {name}():
    return {call}
def python_loop():
    s = 0
    for i in range({loop_n}):
        s += i
    return s
for _ in range({reps}):
    {name}()
    python_loop()
"""


ZLIB_WORK = alternating("import zlib, random\ndata = random.Random(0).randbytes(1 << 20)",
                        "zlib.compress(data, 9)", "compress", 300_000, 8)
WORK = alternating("import numpy as np\na = np.random.default_rng(0).random((300, 300))",
                   "a @ a", "matmul_caller", 150_000, 60)


@pytest.mark.parametrize("python", PYTHONS)
def test_samples_inside_a_library_call_are_marked(tmp_path, python):
    # zlib.compress runs in libz (not the interpreter's code), the loop in the interpreter's
    if native_error(python):
        pytest.skip(native_error(python))
    prog = tmp_path / "z.py"
    prog.write_text(ZLIB_WORK)
    out = tmp_path / "z.pcarbon"
    r = pc(["run", "-q", "-o", str(out), str(prog)], python=python, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr
    rec = load(str(out))
    leaf = [rec.functions[rec.stacks[k][-1][0]].name for k in rec.samples["stack"]]
    marked = rec.samples["native"].astype(bool)
    in_compress = [m for m, f in zip(marked, leaf) if f == "compress"]
    in_loop = [m for m, f in zip(marked, leaf) if f == "python_loop"]
    assert len(in_compress) >= 20 and len(in_loop) >= 20, (len(in_compress), len(in_loop))
    assert sum(in_compress) >= 0.9 * len(in_compress), (sum(in_compress), len(in_compress))
    assert sum(in_loop) <= 0.1 * len(in_loop), (sum(in_loop), len(in_loop))


def shares(tmp_path, threads):
    pytest.importorskip("numpy")
    if native_error("python"):
        pytest.skip(native_error("python"))
    prog = tmp_path / "mm.py"
    prog.write_text(WORK)
    out = tmp_path / f"mm{threads}.pcarbon"
    r = pc(["run", "-q", "-o", str(out), str(prog)], cwd=tmp_path,
           env={"OPENBLAS_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}, timeout=300)
    assert r.returncode == 0, r.stderr
    rep = json.loads(pc(["report", str(out), "--format", "json"]).stdout)
    total = rep["totals"]["energy_j"]["total"]
    by_name = {f["name"]: f for f in rep["functions"]}
    return {k: by_name[k]["total_energy_j"] / total if k in by_name else 0.0
            for k in ("matmul_caller", "python_loop", "<no Python frame>", "[native threads]")}


def test_pool_threads_are_charged_to_the_matmul_caller(tmp_path):
    one, two = shares(tmp_path, 1), shares(tmp_path, 2)
    assert two["<no Python frame>"] <= 0.03, two
    assert two["matmul_caller"] >= one["matmul_caller"] - 0.05, (one, two)
    assert two["[native threads]"] > 0  # the pool's own threads ran, and are shown as such

"""The work of BLAS threads lands on the Python line that called the library (native_threads.py):
numpy matmul alternating with a pure-Python loop, 2 OpenBLAS threads against 1."""
import json

import pytest

from pcrun import native_error, pc

np = pytest.importorskip("numpy")

WORK = '''
import numpy as np
a = np.random.default_rng(0).random((300, 300))
def matmul_caller():
    return a @ a
def python_loop():
    s = 0
    for i in range(150_000):
        s += i
    return s
for _ in range(60):
    matmul_caller()
    python_loop()
'''


def shares(tmp_path, threads):
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

"""Real programs under `pyprof-carbon run`: the CI subset of pyperformance 1.14.0 (about a dozen
quick, dependency-free benchmarks) behaves exactly as under plain python (exit status, stdout,
stderr; timings normalised). benchmarks/pyperformance_compare.py does the work; it installs
pyperformance into a venv of its own under .pyperformance-work/ (kept between runs), so the test
needs the network the first time and skips, saying so, when pyperformance cannot be installed."""
import json
import os
import subprocess
import sys

import pytest

from pcrun import ROOT

SCRIPT = os.path.join(ROOT, "benchmarks", "pyperformance_compare.py")
WORKDIR = os.path.join(ROOT, ".pyperformance-work")
SETUP_FAILED = 3


@pytest.mark.slow
def test_ci_subset_behaves_as_under_python(tmp_path):
    out = tmp_path / "results.json"
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # the script puts the repository root there itself
    r = subprocess.run([sys.executable, SCRIPT, "--subset", "ci", "--workdir", WORKDIR, "--timeout", "120",
                        "--json", str(out)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    if r.returncode == SETUP_FAILED and "cannot install pyperformance" in r.stderr:
        pytest.skip("pyperformance cannot be installed (no network?): " + r.stderr.strip().splitlines()[-1])
    assert r.returncode in (0, 1), r.stdout + r.stderr
    results = json.loads(out.read_text())["results"]
    assert len(results) >= 12
    bad = [f"{x['name']}: {x['status']}: {x.get('detail', '')}" for x in results if x["status"] != "same"]
    assert not bad, "\n".join(bad)
    assert r.returncode == 0, r.stdout + r.stderr
    assert all(x["recorded"] for x in results), [x["name"] for x in results if not x["recorded"]]

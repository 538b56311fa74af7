"""speedscope: validated against the JSON schema shipped in the speedscope npm package."""
import glob
import json
import os

import pytest

from profile_fixtures import FUNCS, realistic
from pyprof_carbon.render import speedscope

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def schema():
    found = sorted(glob.glob(os.path.join(ROOT, "node_modules", "speedscope", "dist", "**", "file-format-schema.json"),
                             recursive=True))
    if not found:
        pytest.skip("speedscope npm package not installed (its file-format-schema.json): run scripts/setup.sh")
    with open(found[0]) as f:
        return json.load(f)


def test_validates_against_the_speedscope_schema():
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema not installed: run scripts/setup.sh")
    doc = json.loads(speedscope.render(realistic()))
    jsonschema.validate(doc, schema())


def test_one_energy_and_one_cpu_profile_per_thread():
    p = realistic()
    doc = json.loads(speedscope.render(p))
    assert doc["$schema"] == "https://www.speedscope.app/file-format-schema.json"
    profs = doc["profiles"]
    assert len(profs) == 6
    energy = [q for q in profs if q["name"].endswith("energy (µJ)")]
    cpu = [q for q in profs if q["unit"] == "nanoseconds"]
    assert len(energy) == 3 and len(cpu) == 3 and all(q["unit"] == "none" for q in energy)
    assert energy[0]["name"].startswith("MainThread (1001)")  # heaviest thread first
    frames = doc["shared"]["frames"]
    for q in profs:
        assert q["type"] == "sampled" and len(q["samples"]) == len(q["weights"])
        assert all(isinstance(w, int) and w > 0 for w in q["weights"])
        assert q["endValue"] == sum(q["weights"])
        for s in q["samples"]:
            assert all(0 <= i < len(frames) for i in s)
    # weights are integer microjoules: they add up to the profile's energy
    total_uj = sum(q["endValue"] for q in energy)
    assert abs(total_uj / 1e6 - p.totals()["energy_j"]["total"]) < 1e-4
    assert sum(q["endValue"] for q in cpu) == int(p.row_cpu_ns.sum())
    # samples are root -> leaf; frames carry file and line
    main = energy[0]
    hot = max(zip(main["weights"], main["samples"]))[1]
    assert [frames[i]["name"] for i in hot] == ["<module>", "main", "train", "matmul"]
    assert frames[hot[-1]] == {"name": "matmul", "file": "/app/model.py", "line": 50}
    # recursion stays as repeated frames
    assert any([frames[i]["name"] for i in s].count("fib") == 5 for s in main["samples"])

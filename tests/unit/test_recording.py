import json
import zipfile

import numpy as np
import pytest

from pyprof_carbon.errors import UserError
from pyprof_carbon.recording import VERSION, load
from synthetic import recording


def test_round_trip_keeps_everything(tmp_path):
    rec = recording()
    path = str(tmp_path / "r.pcarbon")
    rec.save(path)
    back = load(path)
    assert back.functions == rec.functions and back.stacks == rec.stacks
    for k, v in rec.samples.items():
        np.testing.assert_array_equal(back.samples[k], v)
    assert [d.name for d in back.domains] == ["package", "dram"] and back.domains[0].measured
    np.testing.assert_allclose(back.energy["dram"].energy_j, rec.energy["dram"].energy_j)
    np.testing.assert_array_equal(back.sched.machine_busy_ns, rec.sched.machine_busy_ns)
    assert back.sched.backend == "perf" and back.meta["format_version"] == VERSION


def test_newer_format_and_garbage_are_clear_errors(tmp_path):
    path = str(tmp_path / "r.pcarbon")
    recording().save(path)
    with zipfile.ZipFile(path) as z:
        meta = json.loads(bytes(np.load(z.open("meta.json.npy"))))
    meta["format_version"] = 99
    newer = str(tmp_path / "newer.pcarbon")
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(newer, "w") as dst:
        for item in src.namelist():
            if item != "meta.json.npy":
                dst.writestr(item, src.read(item))
        import io
        buf = io.BytesIO()
        np.save(buf, np.frombuffer(json.dumps(meta).encode(), np.uint8))
        dst.writestr("meta.json.npy", buf.getvalue())
    with pytest.raises(UserError, match="newer pyprof-carbon"):
        load(newer)
    junk = tmp_path / "junk.pcarbon"
    junk.write_bytes(b"\x00" * 10)
    with pytest.raises(UserError, match="is not a valid pyprof-carbon recording: "):
        load(str(junk))
    with pytest.raises(UserError, match="no such recording"):
        load(str(tmp_path / "missing.pcarbon"))

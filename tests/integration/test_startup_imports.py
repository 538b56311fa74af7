"""`run` starts the program before it loads what only the end of the run needs: numpy (the raw
ticks become arrays after the program ends), and with the ebpf backend no bcc/libbcc or clang
(the BPF programs are assembled bytecode). Checked from inside the program: it reads the
profiler's /proc/PPID/maps as it starts, so what counts is the real profiler process."""
import json

import pytest

from pcrun import backend_unavailable, pc, script



@pytest.mark.parametrize("backend", ["procfs", "perf", "ebpf"])
def test_profiler_has_not_loaded_numpy_or_bcc_when_the_program_starts(backend, tmp_path):
    why = backend_unavailable(backend)
    if why:
        pytest.skip(f"scheduler backend {backend} unavailable here: {why}")
    probe = tmp_path / "maps.json"
    r = pc(["run", "-q", "--sched", backend, "--meter", "model", "-o", str(tmp_path / "r.pcarbon"),
            script("parent_maps.py")], env={"PROBE_OUT": str(probe)}, timeout=120)
    assert r.returncode == 0, r.stderr
    seen = json.loads(probe.read_text())
    assert "pyprof_carbon" in seen["cmdline"] and "run" in seen["cmdline"], seen["cmdline"]
    # the probe itself sees the profiler's native module: the maps were read, and complete
    assert any("_native" in o for o in seen["objects"]), seen["objects"]
    loaded = [o for o in seen["objects"] if "_multiarray_umath" in o or "libbcc" in o or "libclang" in o
              or "libLLVM" in o]
    assert loaded == [], loaded

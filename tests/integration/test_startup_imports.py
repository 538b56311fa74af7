"""What the end of a run needs (numpy: the raw ticks become arrays after the program ends) never
loads in the program's own process; the profiler's process loads it while the program runs (on a
machine with one CPU, once it has run a while). With the ebpf backend no bcc/libbcc or clang loads
anywhere (the BPF programs are assembled bytecode). Checked from inside the program: it reads its
own and the profiler's /proc/PID/maps as it starts, so what counts is the real processes."""
import json

import pytest

from pcrun import backend_unavailable, pc, script



@pytest.mark.parametrize("backend", ["procfs", "perf", "ebpf"])
def test_neither_numpy_in_the_program_nor_bcc_anywhere_when_the_program_starts(backend, tmp_path):
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
    compilers = [o for o in seen["objects"] + seen["own_objects"] if "libbcc" in o or "libclang" in o
                 or "libLLVM" in o]
    assert compilers == [], compilers
    assert any("_native" in o for o in seen["own_objects"]), seen["own_objects"]  # its bootstrap ran
    numpy = [o for o in seen["own_objects"] if "_multiarray_umath" in o]
    assert numpy == [] and "numpy" not in seen["own_modules"], numpy

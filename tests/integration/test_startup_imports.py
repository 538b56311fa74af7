"""What the end of a run needs (numpy: the raw ticks become arrays after the program ends) never
loads in the program's own process; the profiler's process loads it while the program runs (on a
machine with one CPU, once it has run a while). With the ebpf backend no bcc/libbcc or clang loads
anywhere (the BPF programs are assembled bytecode). Checked from inside the program: it reads its
own and the profiler's /proc/PID/maps as it starts, so what counts is the real processes."""
import json
import subprocess
import sys

import pytest

from pcrun import backend_unavailable, env_for, pc, script



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


# Runs the command line in this interpreter and says, as it exits, whether numpy was imported.
NUMPY_AT_EXIT = ("import atexit, sys\n"
                 "atexit.register(lambda: print('numpy imported:', 'numpy' in sys.modules, file=sys.stderr))\n"
                 "from pyprof_carbon import cli\n"
                 "sys.exit(cli.main(sys.argv[1:]))\n")


@pytest.mark.parametrize("seconds", [0.0, 0.6])
def test_a_quiet_run_never_imports_numpy_in_the_profiler(tmp_path, seconds):
    """`run -q` (nothing shown or rendered) saves the run unconverted: the profiler's process never
    imports numpy (~0.1 s of one CPU and ~20 MB), for an empty script nor for one that runs past
    the journal's first checkpoint (0.25 s); `report` converts it. With a summary to show it does."""
    prog = tmp_path / "prog.py"
    prog.write_text(f"import time\nt = time.process_time() + {seconds}\nwhile time.process_time() < t:\n    pass\n")
    out = str(tmp_path / "r.pcarbon")
    r = subprocess.run([sys.executable, "-c", NUMPY_AT_EXIT, "run", "-q", "--meter", "model", "-o", out, str(prog)],
                       env=env_for(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stderr.endswith("numpy imported: False\n"), r.stderr
    assert pc(["report", out, "--format", "json"]).returncode == 0
    r = subprocess.run([sys.executable, "-c", NUMPY_AT_EXIT, "run", "--meter", "model", "-o", out, str(prog)],
                       env=env_for(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stderr.endswith("numpy imported: True\n"), r.stderr[-300:]

"""Writes to $PROBE_OUT what the process that started this one has loaded (its command line and
the shared objects in its /proc/PPID/maps), and what this process has loaded as its first line
runs (its own shared objects and modules). Under `pyprof-carbon run` that parent is the profiler,
caught as the program starts."""
import json
import os
import sys


def objects(pid):
    with open(f"/proc/{pid}/maps") as f:
        return sorted({line.split()[-1] for line in f if line.rstrip().endswith(".so") or ".so." in line})


ppid = os.getppid()
with open(f"/proc/{ppid}/cmdline", "rb") as f:
    cmdline = f.read().split(b"\0")
with open(os.environ["PROBE_OUT"], "w") as f:
    json.dump({"cmdline": [w.decode(errors="replace") for w in cmdline if w], "objects": objects(ppid),
               "own_objects": objects("self"), "own_modules": sorted(sys.modules)}, f)

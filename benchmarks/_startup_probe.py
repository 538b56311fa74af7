"""`python benchmarks/_startup_probe.py OUT.json ARGS...` is `python -m pyprof_carbon ARGS...`
that also writes its own peak RSS to OUT.json when it ends: os.wait4 on the profiler reports the
larger of its peak and its children's, not its own. (program_kb, RUSAGE_CHILDREN, is kept for
reference only: a child's ru_maxrss includes the profiler's RSS it was forked from.) Used by
overhead.py's start-up section."""
import json
import resource
import sys

out = sys.argv[1]
sys.argv = ["pyprof-carbon", *sys.argv[2:]]
from pyprof_carbon.cli import main  # noqa: E402

try:
    status = main()
finally:
    with open(out, "w") as f:
        json.dump({"profiler_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                   "program_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}, f)
sys.exit(status)

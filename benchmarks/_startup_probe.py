"""`python benchmarks/_startup_probe.py OUT.json ARGS...` is `python -m pyprof_carbon ARGS...`
that also writes its peak RSS and its children's (the program's) to OUT.json when it ends: the
profiler's own maxrss is only visible from inside it (os.wait4 on it reports the larger of the
two, not each). Used by overhead.py's start-up section."""
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

import json
import os
import sys

info = {"argv": sys.argv, "name": __name__, "path0": sys.path[0], "file": __file__,
        "main_is_module": sys.modules["__main__"].__dict__ is globals()}
with open(os.environ["PROBE_OUT"], "w") as f:
    json.dump(info, f)
if len(sys.argv) > 1 and sys.argv[1] == "exit":
    sys.exit(int(sys.argv[2]))

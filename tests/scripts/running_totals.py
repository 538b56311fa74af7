"""Calls pyprof_carbon.current() twice around some work, and once in a forked child; prints
the results as JSON (the test reads them) and whether numpy got imported into the program."""
import json
import os
import sys

import pyprof_carbon


def burn(n):
    x = 0
    for i in range(n):
        x += i * i % 7
    return x


burn(1_000_000)
first = pyprof_carbon.current()
burn(1_000_000)
second = pyprof_carbon.current()
r, w = os.pipe()
pid = os.fork()
if pid == 0:  # the session is the parent's: a forked child has none
    os.write(w, json.dumps(pyprof_carbon.current()).encode())
    os._exit(0)
os.close(w)
in_child = json.loads(os.read(r, 4096))
os.waitpid(pid, 0)
print(json.dumps({"first": first, "second": second, "forked_child": in_child,
                  "numpy_imported": "numpy" in sys.modules}))

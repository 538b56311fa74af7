"""Spin the CPU for argv[1] seconds of CPU time; write "uid euid" to $UID_OUT if set.
Imports only what is built in or already loaded: it also runs after a privilege drop, when the
standard library under a root-only prefix can no longer be read."""
import os
import sys
import time

if os.environ.get("UID_OUT"):
    with open(os.environ["UID_OUT"], "w") as f:
        f.write(f"{os.getuid()} {os.geteuid()}\n")
end = time.process_time() + float(sys.argv[1])
x = 0
while time.process_time() < end:
    x += 1

"""Two threads with a 2:1 CPU split, running at the same time; writes their measured CPU time."""
import json
import os
import threading
import time

used = {}


def busy(name, seconds):
    end = time.thread_time() + seconds
    x = 0
    while time.thread_time() < end:
        x += 1
    used[name] = time.thread_time()


a = threading.Thread(target=busy, args=("double", 1.0), name="double")
b = threading.Thread(target=busy, args=("single", 0.5), name="single")
a.start(); b.start(); a.join(); b.join()
with open(os.environ["PROBE_OUT"], "w") as f:
    json.dump(used, f)

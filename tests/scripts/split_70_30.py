"""Two functions taking 70% and 30% of the CPU time; writes their measured CPU time."""
import json
import os
import time


def spin(seconds):
    end = time.thread_time() + seconds
    x = 0
    while time.thread_time() < end:
        x += 1
    return x


def seventy(s):
    return spin(s)


def thirty(s):
    return spin(s)


used = {"seventy": 0.0, "thirty": 0.0}
for _ in range(10):  # interleaved, so both see the same machine conditions
    for fn, share in ((seventy, 0.7), (thirty, 0.3)):
        t0 = time.thread_time()
        fn(0.15 * share)
        used[fn.__name__] += time.thread_time() - t0
with open(os.environ["PROBE_OUT"], "w") as f:
    json.dump(used, f)

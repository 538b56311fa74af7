"""Two threads with a 2:1 CPU split, running at the same time; writes their measured CPU time."""
import json
import os
import threading
import time

used = {}


def busy(name, seconds):
    # time.thread_time() is a system call: polled every iteration, it kept the threads in the kernel
    # so much that perf, which skips overflows there, took 290 samples per CPU-second of the 997
    # asked, each standing for up to 10 ms of CPU placed over the other thread's turns with the GIL
    # too (up to 10 % of energy moved between the threads, run to run); polled every ~0.1 ms,
    # 990 a CPU-second and 0.4-2.6 %.
    end = time.thread_time() + seconds
    x = 0
    while time.thread_time() < end:
        for _ in range(2000):
            x += 1
    used[name] = time.thread_time()


a = threading.Thread(target=busy, args=("double", 1.0), name="double")
b = threading.Thread(target=busy, args=("single", 0.5), name="single")
a.start(); b.start(); a.join(); b.join()
with open(os.environ["PROBE_OUT"], "w") as f:
    json.dump(used, f)

"""Threads started while profiling runs, 4 at a time, each ~50 ms of CPU time while the others
want the GIL too; prints each one's CPU time, to compare with what the samples cover. The Thread
objects are kept to the end, so every thread has its Python name in the report."""
import threading
import time

cpu = {}


def burn(n):
    sum(i * i for i in range(n))
    cpu[threading.current_thread().name] = time.thread_time()


time.sleep(0.05)
kept = []
for wave in range(3):
    ts = [threading.Thread(target=burn, args=(750_000,), name=f"late-{wave}-{i}") for i in range(4)]
    kept += ts
    for t in ts:
        t.start()
    for t in ts:
        t.join()
print("threads done")
print(" ".join(f"{name}={s:.6f}" for name, s in sorted(cpu.items())))

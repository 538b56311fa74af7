"""Threads started while profiling runs, some short-lived, some long."""
import threading
import time


def burn(n):
    return sum(i * i for i in range(n))


time.sleep(0.05)
for wave in range(3):
    ts = [threading.Thread(target=burn, args=(300_000,), name=f"late-{wave}-{i}") for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
print("threads done")

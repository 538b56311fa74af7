"""Two CPU-bound threads sharing the GIL, about 2 s on this machine."""
import own_time  # first: the clock of the workload's own time starts here (this directory is on sys.path)
import sys
import threading


def work(n):
    total = 0
    for i in range(n):
        total += i % 7
    return total


scale = int(sys.argv[1]) if len(sys.argv) > 1 else 40
threads = [threading.Thread(target=work, args=(scale * 300_000,)) for _ in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
own_time.done()

"""The profiled workload: phase functions of known power, alternating every 50-100 ms.

Each phase function reports itself on the phase board (enter/leave) and spins in its own body (so
its samples' leaf frame is the phase function: the profiler's *self* energy of it is what is
compared). Usage: workload.py BOARD SECONDS THREADS SEED
"""
import random
import sys
import threading
import time

sys.path.insert(0, __import__("os").path.dirname(__file__))
from shared import PHASES, Board  # noqa: E402

BOARD = Board(sys.argv[1])
SECONDS, THREADS, SEED = float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])


def _phase_function(phase_id, name):
    """The phase function `name` (phase `phase_id`): spins for `seconds` of this thread's CPU time
    (with several threads each phase gets its CPU share). The phases differ only in their id and
    name; each gets its own code object under its own name, so its samples' leaf frame is it."""
    def phase(seconds):
        cell = BOARD.enter(phase_id)
        tick = BOARD.tick
        end = time.thread_time() + seconds
        x = 0
        while time.thread_time() < end:
            for i in range(200):
                x += i * i
            tick(cell)
        BOARD.leave()
        return x
    names = {"co_name": name, **({"co_qualname": name} if sys.version_info >= (3, 11) else {})}
    phase.__code__ = phase.__code__.replace(**names)
    phase.__name__ = phase.__qualname__ = name
    return phase


phase_low, phase_high = (_phase_function(i, name) for i, name in enumerate(PHASES, start=1))


def worker(seed):
    BOARD.register()
    rng = random.Random(seed)
    end = time.monotonic() + SECONDS
    while time.monotonic() < end:
        phase_low(rng.uniform(0.05, 0.10))
        phase_high(rng.uniform(0.05, 0.10))


def main():
    threads = [threading.Thread(target=worker, args=(SEED * 100 + i,), name=f"worker-{i}")
               for i in range(1, THREADS)]
    for t in threads:
        t.start()
    worker(SEED * 100)
    for t in threads:
        t.join()
    BOARD.done()


if __name__ == "__main__":
    main()

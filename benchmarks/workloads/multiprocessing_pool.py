"""A multiprocessing.Pool(2) that burns CPU in its workers only (the parent waits): the
child-process workload of benchmarks/overhead.py. Argument: work per task (x 100k iterations)."""
import own_time  # first: the clock of the workload's own time starts here (this directory is on sys.path)
import multiprocessing
import sys


def burn(n):
    s = 0
    for i in range(n):
        s += i * i
    return s


if __name__ == "__main__":
    scale = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    with multiprocessing.get_context("fork").Pool(2) as pool:
        print(sum(pool.map(burn, [scale * 100_000] * 8)))
    own_time.done()

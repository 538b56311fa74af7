"""numpy and Python together: matrix products (BLAS threads, no GIL) interleaved with a Python
loop, while a second Python thread works; about 2 s on this machine."""
import own_time  # first: the clock of the workload's own time starts here (this directory is on sys.path)
import sys
import threading

import numpy as np

from cpu_bound import loop  # the same pure-Python loop (this script's directory is on sys.path)


def main(scale):
    a = np.random.default_rng(0).random((300, 300))
    other = threading.Thread(target=loop, args=(scale * 200_000,))
    other.start()
    for _ in range(scale):
        a = a @ a
        a /= np.abs(a).max()
        loop(100_000)
    other.join()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 40)
    own_time.done()

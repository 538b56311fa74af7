"""Pure-Python CPU-bound workload (calls, loops, arithmetic), about 2 s on this machine."""
import own_time  # first: the clock of the workload's own time starts here (this directory is on sys.path)
import sys


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def loop(n):
    total = 0
    for i in range(n):
        total += i % 7
    return total


def main(scale):
    for _ in range(scale):
        fib(22)
        loop(400_000)


if __name__ == "__main__":  # numpy_mixed.py imports its loop
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 40)
    own_time.done()

"""Pure-Python CPU-bound workload (calls, loops, arithmetic), about 2 s on this machine."""
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


main(int(sys.argv[1]) if len(sys.argv) > 1 else 40)

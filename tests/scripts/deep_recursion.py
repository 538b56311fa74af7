import sys

sys.setrecursionlimit(100_000)


def down(n):
    if n == 0:
        return sum(i for i in range(300_000))
    return down(n - 1) + 0


for _ in range(5):
    down(5_000)
print("recursion ok")

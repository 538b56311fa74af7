"""Creates and frees 100,000 code objects while sampled (exec'd functions), so sampled code
objects die before the collector resolves them and their addresses are reused."""
import gc


def make(i):
    ns = {}
    exec(compile(f"def gen_{i}(n):\n    s = 0\n    for k in range(n):\n        s += k\n    return s\n",
                 f"<generated {i}>", "exec"), ns)
    return ns[f"gen_{i}"]


total = 0
for i in range(100_000):
    total += make(i)(30)
    if i % 10_000 == 0:
        gc.collect()


def stable_hot(n):
    return sum(k * k for k in range(n))


stable_hot(2_000_000)
print("codes ok", total)

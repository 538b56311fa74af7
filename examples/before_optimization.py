"""A report job with a wasteful hot spot; examples/after_optimization.py is the fix.

    pyprof-carbon run -o before.pcarbon examples/before_optimization.py
    pyprof-carbon run -o after.pcarbon examples/after_optimization.py
    pyprof-carbon diff before.pcarbon after.pcarbon --fail-if-increase 5
"""


def load(n):
    return [f"{i},{i * 7 % 13},{i % 5}" for i in range(n)]


def total_by_key(rows):
    """Slow: a linear scan of the keys for every row (quadratic)."""
    keys, sums = [], []
    for row in rows:
        _, value, key = row.split(",")
        if key not in keys:
            keys.append(key)
            sums.append(0)
        sums[keys.index(key)] += int(value) ** 2 % 7 + sum(int(c) for c in value)
    return dict(zip(keys, sums))


if __name__ == "__main__":
    print(total_by_key(load(300_000)))

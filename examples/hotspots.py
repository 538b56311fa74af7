"""A small program with an obvious energy hotspot, to try pyprof-carbon on.

    pyprof-carbon run examples/hotspots.py
"""
import threading


def parse(n):
    """Cheap per item: string work."""
    total = 0
    for i in range(n):
        total += len(str(i))
    return total


def crunch(n):
    """The hotspot: three times the work of parse()."""
    total = 0.0
    for i in range(3 * n):
        total += (i * 0.5) ** 0.5
    return total


def background(n):
    """Work on a second thread."""
    return sum(i * i for i in range(n))


def main(n=400_000):
    worker = threading.Thread(target=background, args=(n,), name="background")
    worker.start()
    parse(n)
    crunch(n)
    worker.join()


if __name__ == "__main__":
    main()

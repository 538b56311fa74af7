"""Cost of the sampling signal itself on this machine, without any profiler code: a C busy loop
plain vs with a perf task-clock signal (empty handler) at 1 kHz and 10 kHz. On a VM, timer
interrupts are costly; what is measured here bounds what any in-process sampler can reach.
overhead.py measures the same floor at its workloads' rates, in the same run.

    python benchmarks/signal_floor.py [--pairs 5]
"""
import argparse
import os
import statistics
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def build(tmp: str) -> str:
    """The busy loop, compiled into `tmp`; its path."""
    exe = os.path.join(tmp, "signal_floor")
    subprocess.run(["gcc", "-O2", "-o", exe, os.path.join(HERE, "signal_floor.c"), "-lrt"], check=True)
    return exe


def floor(exe: str, rate: float, pairs: int):
    """(median wall ratio of the loop with the signal at `rate` over the loop without, median
    microseconds per signal), alternating plain and signalled runs."""
    def run(r, mode):
        out = subprocess.run([exe, str(int(r)), str(mode)], check=True, capture_output=True, text=True).stdout
        secs, hits = out.split()
        return float(secs), int(hits)

    ratios, cost = [], []
    for _ in range(pairs):
        base, _ = run(1, 0)
        t, hits = run(rate, 1)
        ratios.append(t / base)
        cost.append((t - base) / max(hits, 1) * 1e6)
    return statistics.median(ratios), statistics.median(cost)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=5)
    pairs = ap.parse_args().pairs
    with tempfile.TemporaryDirectory() as tmp:
        exe = build(tmp)
        for rate in (1000, 10000):
            ratio, cost = floor(exe, rate, pairs)
            print(f"perf task-clock {rate} Hz, empty handler: wall ratio {ratio:.3f}, "
                  f"{cost:.1f} us per signal (median of {pairs})")


if __name__ == "__main__":
    main()

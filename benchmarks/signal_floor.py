"""Cost of the sampling signal itself on this machine, without any profiler code: a C busy loop
plain vs with a perf task-clock signal (empty handler) at 1 kHz and 10 kHz. On a VM, timer
interrupts are costly; what is measured here bounds what any in-process sampler can reach.

    python benchmarks/signal_floor.py [--pairs 5]
"""
import argparse
import os
import statistics
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=5)
    pairs = ap.parse_args().pairs
    with tempfile.TemporaryDirectory() as tmp:
        exe = os.path.join(tmp, "signal_floor")
        subprocess.run(["gcc", "-O2", "-o", exe, os.path.join(HERE, "signal_floor.c"), "-lrt"], check=True)

        def run(rate, mode):
            out = subprocess.run([exe, str(rate), str(mode)], check=True, capture_output=True, text=True).stdout
            secs, hits = out.split()
            return float(secs), int(hits)

        for rate in (1000, 10000):
            ratios, cost = [], []
            for _ in range(pairs):
                base, _ = run(1, 0)
                t, hits = run(rate, 1)
                ratios.append(t / base)
                cost.append((t - base) / max(hits, 1) * 1e6)
            print(f"perf task-clock {rate} Hz, empty handler: wall ratio {statistics.median(ratios):.3f}, "
                  f"{statistics.median(cost):.1f} us per signal (median of {pairs})")


if __name__ == "__main__":
    main()

"""Microseconds per counter read, per meter, through read_source() (the pure-Python twin of the
native collector's read; the native read skips the interpreter, so these are upper bounds of the
syscall + parse cost). Against the fakes in tests/fakes here; against the real counters where a
meter opens on this machine.

    python benchmarks/meter_read_cost.py [--reads N]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests")]

from pyprof_carbon.counters import read_source  # noqa: E402

from pyprof_carbon.errors import Unavailable  # noqa: E402


def cost_us(meter, reads: int) -> float:
    srcs = list(meter.sources())
    if not srcs:
        return float("nan")
    for s in srcs:
        read_source(s)
    t0 = time.perf_counter_ns()
    for _ in range(reads):
        for s in srcs:
            read_source(s)
    return (time.perf_counter_ns() - t0) / 1e3 / (reads * len(srcs))


def nvml_cost_us(meter, reads: int) -> float:
    t0 = time.perf_counter_ns()
    for _ in range(reads):
        meter.poll()
    return (time.perf_counter_ns() - t0) / 1e3 / (reads * max(1, len(meter.devs)))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reads", type=int, default=20000)
    args = ap.parse_args()
    from fakes import fake_pynvml
    from fakes.msr import FakeMsr
    from fakes.powercap import FakePowercap
    from pyprof_carbon.meters.msr import RaplMsr
    from pyprof_carbon.meters.nvml import Nvml
    from pyprof_carbon.meters.perf_pmu import RaplPerf
    from pyprof_carbon.meters.powercap import RaplPowercap

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        FakePowercap(os.path.join(tmp, "pc")).socket(0).socket(1)
        fm = FakeMsr(os.path.join(tmp, "msr"), packages=2).intel()
        pmu = os.path.join(tmp, "power")
        os.makedirs(os.path.join(pmu, "events"))
        for name, text in (("type", "1"), ("cpumask", "0"), ("events/energy-pkg", "event=0x00"),
                           ("events/energy-pkg.scale", "2.3283064365386962890625e-10"),
                           ("events/energy-pkg.unit", "Joules")):
            with open(os.path.join(pmu, name), "w") as f:
                f.write(text + "\n")
        fake_pynvml.reset([fake_pynvml.FakeGpu(), fake_pynvml.FakeGpu(energy_counter=False)])
        cases = [
            ("rapl-powercap", "fake (tmpfs/disk file, text)", lambda: RaplPowercap(root=os.path.join(tmp, "pc"))),
            ("rapl-msr", "fake (sparse file pread)", lambda: RaplMsr(root=fm.root, cpuinfo=fm.cpuinfo, cpu_root=fm.cpu_root)),
            ("rapl-perf", "perf software cpu-clock fd", lambda: RaplPerf(root=pmu)),
            ("nvml", "fake pynvml (Python calls only)", lambda: Nvml(pynvml=fake_pynvml)),
            ("rapl-powercap", "real", RaplPowercap),
            ("rapl-msr", "real", RaplMsr),
            ("rapl-perf", "real", RaplPerf),
            ("nvml", "real", Nvml),
        ]
        for name, what, make in cases:
            m = make()
            try:
                m.open()
            except Unavailable as e:
                rows.append((name, what, None, f"unavailable: {e.reason}"))
                continue
            try:
                us = nvml_cost_us(m, max(1, args.reads // 10)) if name == "nvml" else cost_us(m, args.reads)
                rows.append((name, what, us, f"{len(m.sources()) or len(getattr(m, 'devs', []))} counters"))
            finally:
                m.close()
    print(f"{'meter':<14} {'against':<34} {'µs/read':>8}  note")
    for name, what, us, note in rows:
        print(f"{name:<14} {what:<34} {'-' if us is None else f'{us:8.2f}':>8}  {note[:110]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

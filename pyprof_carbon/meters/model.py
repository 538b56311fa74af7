"""The `model` meter: an estimate of CPU and RAM power when no counter can be read.

CPU: P(u) = P_idle + (P_max - P_idle) * u, u = machine CPU utilization (busy CPU time over
available CPU time). Linear in utilization as in Fan, Weber & Barroso, "Power provisioning for a
warehouse-sized computer", ISCA 2007. P_max = TDP share of the CPUs this machine sees (TDP / the
part's hardware threads, times online CPUs; `data/cpu_tdp.csv`), 4 W per CPU when the part is not
listed (CodeCarbon 3.x's unknown-CPU default); P_idle = 0.1 * P_max (CodeCarbon's floor at zero
load). Being linear, cumulative energy is exact from cumulative busy time, whatever the resolution
of the busy-time source.
RAM: 0.375 W per GB of installed memory (3 W per 8 GB: CodeCarbon 2.x, Eco2AI), constant.
Every domain it produces is `measured=False` and names these constants.
"""
from __future__ import annotations

import csv
import os
from typing import Dict, List, Optional

import numpy as np

from .base import Domain, EnergySeries, Meter, Ticks

DEFAULT_W_PER_CPU = 4.0
IDLE_FRACTION = 0.1
RAM_W_PER_GB = 0.375
DATA = os.path.join(os.path.dirname(__file__), "data", "cpu_tdp.csv")


def cpu_model(cpuinfo_path: str = "/proc/cpuinfo") -> str:
    try:
        with open(cpuinfo_path) as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def lookup_tdp(model: str) -> Optional[dict]:
    """The TDP table row whose model text occurs in `model` (longest match wins)."""
    with open(DATA, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["model"].lower() in model.lower()]
    return max(rows, key=lambda r: len(r["model"])) if rows else None


def ram_total_gb(meminfo_path: str = "/proc/meminfo") -> float:
    try:
        with open(meminfo_path) as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / (1024 * 1024)
    except OSError:
        pass
    return 0.0


class ModelMeter(Meter):
    name = "model"

    def __init__(self, cpu_watts: Optional[float] = None, tdp: Optional[float] = None,
                 ncpu: Optional[int] = None, cpuinfo_path: str = "/proc/cpuinfo",
                 meminfo_path: str = "/proc/meminfo"):
        self.cpu_watts, self.tdp = cpu_watts, tdp
        self.ncpu = ncpu or len(os.sched_getaffinity(0))
        self.model = cpu_model(cpuinfo_path)
        self.ram_gb = ram_total_gb(meminfo_path)
        self.p_max = self.p_idle = self.ram_w = 0.0
        self.cpu_note = self.ram_note = ""

    def open(self) -> None:
        n = self.ncpu
        if self.cpu_watts is not None:
            self.p_max = float(self.cpu_watts)
            how = f"--cpu-watts {self.cpu_watts:g} W"
        else:
            row = lookup_tdp(self.model)
            threads = int(row["threads"]) if row else None
            if self.tdp is not None:
                per = self.tdp / (threads or n)
                how = f"--tdp {self.tdp:g} W / {threads or n} threads"
            elif row:
                per = float(row["tdp_w"]) / threads
                how = f"TDP {row['tdp_w']} W / {threads} threads of {row['model']} ({row['source']})"
            else:
                per = DEFAULT_W_PER_CPU
                how = f"unknown CPU '{self.model}': {DEFAULT_W_PER_CPU:g} W per CPU (CodeCarbon default)"
            self.p_max = per * n
            how = f"{per:.3g} W per CPU x {n} CPUs; {how}"
        self.p_idle = IDLE_FRACTION * self.p_max
        self.ram_w = RAM_W_PER_GB * self.ram_gb
        self.cpu_note = (f"estimated: P = P_idle + (P_max - P_idle) * utilization, P_max = {self.p_max:.3g} W "
                         f"({how}), P_idle = {IDLE_FRACTION:g} * P_max = {self.p_idle:.3g} W; linear model "
                         f"after Fan, Weber & Barroso (ISCA 2007)")
        self.ram_note = (f"estimated: {RAM_W_PER_GB} W per GB x {self.ram_gb:.1f} GB = {self.ram_w:.3g} W "
                         f"(3 W per 8 GB, CodeCarbon 2.x / Eco2AI), constant")

    def constants(self) -> dict:
        return {"cpu_model": self.model, "ncpu": self.ncpu, "p_max_w": self.p_max,
                "p_idle_w": self.p_idle, "ram_gb": self.ram_gb, "ram_w": self.ram_w}

    def domains(self) -> List[Domain]:
        return [Domain("package", self.name, False, "cpu", self.cpu_note),
                Domain("dram", self.name, False, "dram", self.ram_note)]

    def energy(self, ticks: Ticks, sched) -> Dict[str, EnergySeries]:
        t = sched.t_ns.astype(np.float64)
        elapsed = (t - t[0]) / 1e9
        busy_cpu_s = sched.machine_busy_ns.astype(np.float64) / 1e9
        # E(t) = P_idle * t + (P_max - P_idle) * (busy CPU-seconds / CPUs): the integral of P(u).
        cpu_j = self.p_idle * elapsed + (self.p_max - self.p_idle) * busy_cpu_s / self.ncpu
        return {"package": EnergySeries(sched.t_ns, np.maximum.accumulate(cpu_j)),
                "dram": EnergySeries(sched.t_ns, self.ram_w * elapsed)}

"""The attributed Profile: energy, CO2 and CPU time per (stack, thread, time bin).

Attribution (attribution.py) builds it from a Recording; every renderer reads only this.
Rows are aggregated: one row per distinct (stack, thread, time bin), so a profile of a million
samples stays small while still letting a report re-select a time range.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Dict, List, Tuple

from ._lazy import numpy as np

from .recording import Domain, FunctionInfo, total_domains

Frame = Tuple[int, int]  # (function index, line number)


@dataclasses.dataclass
class Profile:
    meta: dict
    functions: List[FunctionInfo]
    stacks: List[Tuple[Frame, ...]]         # root -> leaf
    thread_names: Dict[int, str]
    bin_edges_s: np.ndarray                 # time bins, seconds since the start of the run
    row_stack: np.ndarray                   # int32 [rows]
    row_tid: np.ndarray                     # int64 [rows]
    row_bin: np.ndarray                     # int32 [rows]
    row_energy_j: Dict[str, np.ndarray]     # domain -> float64 [rows]
    row_co2_g: np.ndarray                   # float64 [rows], counted domains only, PUE included
    row_cpu_ns: np.ndarray                  # int64 [rows]
    row_samples: np.ndarray                 # int64 [rows]
    measured_j: Dict[str, float]            # domain -> energy the meter measured over the run
    unattributed_j: Dict[str, float]        # domain -> energy not spent by this process
    timeline: Dict[str, Tuple[np.ndarray, np.ndarray]]  # domain -> (t_s, power_w) per interval
    profiler_cost: Dict[str, float] = dataclasses.field(default_factory=dict)  # cpu_s, energy_j
    # domain -> of unattributed_j, the energy of intervals in which the program used no CPU
    waiting_j: Dict[str, float] = dataclasses.field(default_factory=dict)
    # name -> the recording's Domain: how the domains nest, so totals count each joule once
    domain_info: Dict[str, Domain] = dataclasses.field(default_factory=dict)

    # ---- derived quantities -------------------------------------------------------------
    @property
    def domains(self) -> List[str]:
        return list(self.row_energy_j)

    def counted_domains(self, names=None) -> List[str]:
        """Of `names` (default: the profile's domains), those added into totals (recording.total_domains)."""
        return total_domains(list(self.row_energy_j if names is None else names), self.domain_info)

    def sum_counted(self, per_domain: Dict[str, float]) -> float:
        """The sum of a per-domain figure over the counted domains."""
        return float(sum(per_domain[d] for d in self.counted_domains(per_domain)))

    @property
    def row_energy_total(self) -> np.ndarray:
        counted = self.counted_domains()
        if not counted:
            return np.zeros(len(self.row_stack))
        return np.sum([self.row_energy_j[d] for d in counted], axis=0)

    def select(self, t0_s: float = -math.inf, t1_s: float = math.inf) -> "Profile":
        """The rows whose time bin overlaps [t0_s, t1_s)."""
        lo, hi = self.bin_edges_s[:-1], self.bin_edges_s[1:]
        keep_bins = np.nonzero((hi > t0_s) & (lo < t1_s))[0]
        m = np.isin(self.row_bin, keep_bins)
        return dataclasses.replace(
            self,
            row_stack=self.row_stack[m], row_tid=self.row_tid[m], row_bin=self.row_bin[m],
            row_energy_j={d: v[m] for d, v in self.row_energy_j.items()},
            row_co2_g=self.row_co2_g[m], row_cpu_ns=self.row_cpu_ns[m],
            row_samples=self.row_samples[m])

    def totals(self) -> dict:
        e = {d: float(v.sum()) for d, v in self.row_energy_j.items()}
        return {
            "energy_j": {**e, "total": self.sum_counted(e)},
            "co2_g": float(self.row_co2_g.sum()),
            "cpu_s": float(self.row_cpu_ns.sum()) / 1e9,
            "wall_s": float(self.meta.get("duration_s", 0.0)),
            "samples": int(self.row_samples.sum()),
        }

    def _per_stack(self, values: np.ndarray) -> np.ndarray:
        return np.bincount(self.row_stack, weights=values, minlength=len(self.stacks))

    def _stack_columns(self) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per stack: energy (counted domains), CO2, CPU ns, samples."""
        return (self._per_stack(self.row_energy_total), self._per_stack(self.row_co2_g),
                self._per_stack(self.row_cpu_ns.astype(np.float64)), self._per_stack(self.row_samples.astype(np.float64)))

    def function_table(self) -> List[dict]:
        """Self and total energy per function, sorted by self energy (`functions` of the JSON report, docs/design.md#json-report)."""
        energy, co2, cpu, samples = self._stack_columns()
        nf = len(self.functions)
        self_e, tot_e = np.zeros(nf), np.zeros(nf)
        self_c, tot_c = np.zeros(nf), np.zeros(nf)
        self_s, tot_s = np.zeros(nf), np.zeros(nf)
        self_co2, tot_co2 = np.zeros(nf), np.zeros(nf)
        for sid, stack in enumerate(self.stacks):
            if samples[sid] == 0 and energy[sid] == 0:
                continue
            if stack:
                leaf = stack[-1][0]
                self_e[leaf] += energy[sid]; self_c[leaf] += cpu[sid]
                self_s[leaf] += samples[sid]; self_co2[leaf] += co2[sid]
            for f in {fr[0] for fr in stack}:  # recursion counts once in total
                tot_e[f] += energy[sid]; tot_c[f] += cpu[sid]
                tot_s[f] += samples[sid]; tot_co2[f] += co2[sid]
        n_total = max(float(samples.sum()), 1.0)
        e_total = float(energy.sum())
        rows = []
        for i, fn in enumerate(self.functions):
            if tot_s[i] == 0 and tot_e[i] == 0:
                continue
            rows.append({
                "name": fn.name, "qualname": fn.qualname, "file": fn.file, "line": fn.line,
                "self_energy_j": float(self_e[i]), "total_energy_j": float(tot_e[i]),
                "self_energy_err_j": sampling_error(self_s[i], n_total, e_total),
                "self_cpu_s": self_c[i] / 1e9, "total_cpu_s": tot_c[i] / 1e9,
                "samples": int(self_s[i]), "total_samples": int(tot_s[i]),
                "co2_g": float(self_co2[i]), "total_co2_g": float(tot_co2[i]),
            })
        rows.sort(key=lambda r: (-r["self_energy_j"], -r["total_energy_j"], r["qualname"]))
        return rows

    def line_table(self) -> List[dict]:
        """Self energy per source line (the leaf frame's line)."""
        energy, co2, cpu, samples = self._stack_columns()
        acc: Dict[Frame, np.ndarray] = {}
        for sid, stack in enumerate(self.stacks):
            if stack and samples[sid] > 0:
                a = acc.setdefault(stack[-1], np.zeros(4))
                a += (energy[sid], cpu[sid], samples[sid], co2[sid])
        n_total = max(float(samples.sum()), 1.0)
        e_total = float(energy.sum())
        rows = []
        for (f, line), (e, c, s, g) in acc.items():
            fn = self.functions[f]
            rows.append({"file": fn.file, "line": line, "function": fn.qualname,
                         "self_energy_j": float(e), "self_cpu_s": c / 1e9, "samples": int(s),
                         "self_energy_err_j": sampling_error(s, n_total, e_total),
                         "co2_g": float(g)})
        rows.sort(key=lambda r: (-r["self_energy_j"], r["file"], r["line"]))
        return rows

    def thread_table(self) -> List[dict]:
        tids = np.unique(self.row_tid)
        e = self.row_energy_total
        rows = []
        for tid in tids:
            m = self.row_tid == tid
            rows.append({"tid": int(tid), "name": self.thread_names.get(int(tid), str(tid)),
                         "energy_j": float(e[m].sum()), "cpu_s": float(self.row_cpu_ns[m].sum()) / 1e9,
                         "co2_g": float(self.row_co2_g[m].sum()), "samples": int(self.row_samples[m].sum())})
        rows.sort(key=lambda r: -r["energy_j"])
        return rows

    def process_table(self) -> List[dict]:
        """Energy, CPU time and samples per process of the run (the recording's process table),
        in the order the processes started."""
        pid_of = {int(th["tid"]): int(th.get("pid", self.meta.get("pid", 0))) for th in self.meta.get("threads", [])}
        # thread 0 holds the energy no sample covers (attribution.add_unsampled): in no process's row
        pids = np.array([pid_of.get(int(t), int(self.meta.get("pid", 0))) if t else -1 for t in self.row_tid],
                        dtype=np.int64)
        e = self.row_energy_total
        rows = []
        for p in self.meta.get("processes") or [{"pid": self.meta.get("pid", 0), "argv": self.meta.get("command", [])}]:
            m = pids == int(p["pid"])
            rows.append({"pid": int(p["pid"]), "ppid": p.get("ppid"), "argv": list(p.get("argv") or []),
                         "how": p.get("how", "first"), "exit_status": p.get("exit_status"),
                         "complete": p.get("complete", True), "energy_j": float(e[m].sum()),
                         "cpu_s": float(self.row_cpu_ns[m].sum()) / 1e9, "samples": int(self.row_samples[m].sum()),
                         "co2_g": float(self.row_co2_g[m].sum())})
        return rows

    def stack_table(self) -> List[Tuple[Tuple[Frame, ...], float, float, int, float]]:
        """(stack, energy J, cpu s, samples, co2 g) per distinct stack (threads merged)."""
        energy = self._per_stack(self.row_energy_total)
        cpu = self._per_stack(self.row_cpu_ns.astype(np.float64))
        samples = self._per_stack(self.row_samples.astype(np.float64))
        co2 = self._per_stack(self.row_co2_g)
        return [(self.stacks[i], float(energy[i]), cpu[i] / 1e9, int(samples[i]), float(co2[i]))
                for i in range(len(self.stacks)) if samples[i] > 0 or energy[i] > 0]


def sampling_error(n_f: float, n_total: float, energy_total: float) -> float:
    """Binomial standard error of a share estimated from n_f of n_total samples, in joules."""
    if n_total <= 0:
        return 0.0
    p = n_f / n_total
    return float(energy_total * math.sqrt(max(p * (1 - p), 0.0) / n_total))

"""A simulated RAPL powercap tree whose power follows the phase the workload reports.

Creates ROOT/intel-rapl:0/{name, energy_uj, max_energy_range_uj} (the layout of
/sys/class/powercap) and, every PERIOD (0.5 ms), adds to energy_uj:
    BASE_W * dt  +  sum over the workload's threads of  POWER_W[phase] * (its CPU time in dt)
i.e. 2 W of base power plus 10 W (phase_low) or 40 W (phase_high) per CPU-second. A thread's CPU
time and phase are read from the board, where the thread keeps them current (see shared.py).
The truth is kept alongside: each phase's dynamic energy, plus the base energy of each step split
over the phases in proportion to the CPU time the workload's threads spent in them (what the
`share` policy would hand out if the workload were alone on the machine). Steps without workload
CPU time put their base energy in `idle`.

energy_uj is rewritten in place with one pwrite of a fixed-width, zero-padded decimal (the meter
keeps the file open and preads it, so a rename would not be seen; the width never changes, so a
read never sees a mix of two lengths). It wraps at max_energy_range_uj like the real counter.

Usage: simulator.py ROOT BOARD TRUTH_JSON [--period-ms 0.5] [--wrap-uj N]
Stops when the board says the workload is done (or after --timeout seconds); writes TRUTH_JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shared import PHASES, Board  # noqa: E402

BASE_W = 2.0
POWER_W = {0: 10.0, 1: 10.0, 2: 40.0}  # per CPU-second; 0 = outside the phase functions
NAMES = {0: "other", 1: PHASES[0], 2: PHASES[1]}
WIDTH = 20


def make_tree(root: str, wrap_uj: int) -> str:
    zone = os.path.join(root, "intel-rapl:0")
    os.makedirs(zone, exist_ok=True)
    with open(os.path.join(zone, "name"), "w") as f:
        f.write("package-0\n")
    with open(os.path.join(zone, "max_energy_range_uj"), "w") as f:
        f.write(f"{wrap_uj}\n")
    path = os.path.join(zone, "energy_uj")
    with open(path, "w") as f:
        f.write("0".zfill(WIDTH) + "\n")
    return path


def simulate(root: str, board_path: str, truth_path: str, period_s: float, wrap_uj: int, timeout: float):
    energy_path = make_tree(root, wrap_uj)
    fd = os.open(energy_path, os.O_WRONLY)
    board = Board(board_path)
    truth_j = {name: 0.0 for name in (*NAMES.values(), "idle")}
    cpu_s = {name: 0.0 for name in NAMES.values()}
    last_cpu: dict = {}
    total_uj = 0.0
    t_prev = time.monotonic()
    deadline = t_prev + timeout
    next_t = t_prev + period_s
    steps = late = 0
    while True:
        now = time.monotonic()
        if next_t > now:
            time.sleep(next_t - now)
        now = time.monotonic()
        if now - next_t > period_s:
            late += 1
        next_t += period_s
        if next_t < now:
            next_t = now + period_s
        dt = now - t_prev
        t_prev = now
        steps += 1
        pid = board.pid()
        dyn_j, base_split = 0.0, {}
        if pid:
            for tid, phase, c in board.threads():
                d = (c - last_cpu.get(tid, c)) / 1e9
                if d <= 0:
                    last_cpu.setdefault(tid, c)
                    continue
                last_cpu[tid] = c
                name = NAMES.get(phase, "other")
                e = POWER_W.get(phase, POWER_W[0]) * d
                dyn_j += e
                truth_j[name] += e
                cpu_s[name] += d
                base_split[name] = base_split.get(name, 0.0) + d
        base_j = BASE_W * dt
        if base_split:
            tot = sum(base_split.values())
            for name, d in base_split.items():
                truth_j[name] += base_j * d / tot
        else:
            truth_j["idle"] += base_j
        total_uj += (dyn_j + base_j) * 1e6
        os.pwrite(fd, (str(int(total_uj) % (wrap_uj + 1)).zfill(WIDTH) + "\n").encode(), 0)
        if board.is_done() or now > deadline:
            break
    os.close(fd)
    out = {"truth_j": truth_j, "cpu_s": cpu_s, "total_j": total_uj / 1e6, "steps": steps,
           "late_steps": late, "period_ms": period_s * 1e3, "base_w": BASE_W,
           "power_w_per_cpu_s": {NAMES[k]: v for k, v in POWER_W.items()}}
    tmp = truth_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(out, f, indent=1)
    os.replace(tmp, truth_path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("root")
    ap.add_argument("board")
    ap.add_argument("truth")
    ap.add_argument("--period-ms", type=float, default=0.5)
    ap.add_argument("--wrap-uj", type=int, default=262143328850)  # a real package's range
    ap.add_argument("--timeout", type=float, default=600.0)
    a = ap.parse_args(argv)
    simulate(a.root, a.board, a.truth, a.period_ms / 1e3, a.wrap_uj, a.timeout)


if __name__ == "__main__":
    main()

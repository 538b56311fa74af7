"""`nvml`: NVIDIA GPU energy through NVML (module `pynvml` from `pip install nvidia-ml-py`, also the
`gpu` extra).

Per device, `nvmlDeviceGetTotalEnergyConsumption` (mJ since the driver loaded; Volta and newer)
where the device supports it, otherwise `nvmlDeviceGetPowerUsage` (mW) integrated over the
polling cadence with the trapezoid rule (the domain's notes say which). NVML is a Python library,
so it is read from a Python polling thread (start()/stop(), every 20 ms by default, stamped with
time.monotonic_ns(), the collector's clock); `sources()` is empty and `energy()` returns the
meter's own timestamps. Caveat in the notes: NVML on A100/H100 samples power only ~25% of the
time (Yang, Adamek, Armour, SC24, arXiv 2312.02741).

The process's share of a device (docs/attribution.md, GPU domains) is `shares()`: this process's SM utilization over
all processes' from `nvmlDeviceGetProcessUtilization` where the driver gives it, else 1.0 when
this process is the only one in `nvmlDeviceGetComputeRunningProcesses` (an equal split among the
processes listed there otherwise; NaN when NVML answers neither). `energy()` puts it on each
reading (the first share read at or after it: utilization is read over the window before), and
attribution hands the device's energy out by it instead of by CPU share; unknown counts as 1.
"""
from __future__ import annotations

import os
import threading
import time
from typing import Dict, List, Optional, Tuple

from .._lazy import numpy as np

from ..counters import Ticks
from ..errors import Unavailable
from ..recording import Domain, EnergySeries
from .base import Meter

DEFAULT_INTERVAL_S = 0.020
SHARE_EVERY = 10  # utilization is read every 10th poll (NVML's utilization window is ~1/6 s or more)
NOT_SUPPORTED = 3  # NVML_ERROR_NOT_SUPPORTED (nvml.h)
NOT_FOUND = 6      # NVML_ERROR_NOT_FOUND
DRIVER_DEVICES = ("/dev/nvidiactl", "/dev/dxg")
DRIVER_FIX = "install the NVIDIA driver (nvidia-smi must work) on a machine with an NVIDIA GPU"


class Nvml(Meter):
    name = "nvml"

    def __init__(self, pynvml=None, interval_s: float = DEFAULT_INTERVAL_S, pid: Optional[int] = None):
        self._module = pynvml
        self.interval_s = interval_s
        self.pid = os.getpid() if pid is None else pid
        self.nv = None
        self.devs: List[dict] = []  # {index, name, handle, mode: "energy"|"power"}
        self._t: List[List[int]] = []
        self._v: List[List[float]] = []
        self._share_t: List[List[int]] = []
        self._share: List[List[float]] = []
        self._last_seen_us: List[int] = []
        self._thread: Optional[threading.Thread] = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._polls = 0
        self.errors: List[str] = []

    # ---- open -----------------------------------------------------------------------
    @staticmethod
    def rule_out() -> None:
        # importing pynvml alone takes ~30 ms; NVML needs the NVIDIA driver, whose control
        # device a GPU machine (or a container given a GPU) has, /dev/dxg under WSL 2
        if not any(os.path.exists(p) for p in DRIVER_DEVICES):
            raise Unavailable(f"no NVIDIA driver here (none of {', '.join(DRIVER_DEVICES)})", DRIVER_FIX)

    def _code(self, e) -> Optional[int]:
        return getattr(e, "value", None)

    def open(self) -> None:
        nv = self._module
        if nv is None:
            try:
                import pynvml as nv  # noqa: PLC0415 (optional dependency)
            except ImportError:
                raise Unavailable("pynvml is not installed (module of the nvidia-ml-py package)",
                                       "pip install nvidia-ml-py") from None
        err = getattr(nv, "NVMLError", Exception)
        try:
            nv.nvmlInit()
        except err as e:
            raise Unavailable(f"NVML could not start: {e} (no NVIDIA driver, or no GPU, here)", DRIVER_FIX) from None
        self.nv = nv
        try:
            n = nv.nvmlDeviceGetCount()
            for i in range(n):
                h = nv.nvmlDeviceGetHandleByIndex(i)
                name = nv.nvmlDeviceGetName(h)
                name = name.decode() if isinstance(name, bytes) else str(name)
                mode = None
                try:
                    nv.nvmlDeviceGetTotalEnergyConsumption(h)
                    mode = "energy"
                except err as e:
                    if self._code(e) != NOT_SUPPORTED:
                        self.errors.append(f"GPU {i}: energy counter: {e}")
                if mode is None:
                    try:
                        nv.nvmlDeviceGetPowerUsage(h)
                        mode = "power"
                    except err as e:
                        self.errors.append(f"GPU {i} ({name}): neither energy nor power readable: {e}")
                        continue
                self.devs.append({"index": i, "name": name, "handle": h, "mode": mode})
        except err as e:
            self.close()
            raise Unavailable(f"NVML failed while listing GPUs: {e}", "check nvidia-smi") from None
        if not self.devs:
            self.close()
            raise Unavailable("NVML found no GPU whose energy or power it can read"
                                   + (": " + "; ".join(self.errors) if self.errors else ""),
                                   "check nvidia-smi -q -d POWER")
        k = len(self.devs)
        self._t, self._v = [[] for _ in range(k)], [[] for _ in range(k)]
        self._share_t, self._share = [[] for _ in range(k)], [[] for _ in range(k)]
        self._last_seen_us = [0] * k

    def devices(self) -> List[dict]:
        return [{"domain": f"gpu:{d['index']}", "index": d["index"], "name": d["name"], "mode": d["mode"]}
                for d in self.devs]

    def restrict(self, keep) -> None:
        self.devs = [d for d in self.devs if f"gpu:{d['index']}" in keep]
        self.open_state_reset()

    def open_state_reset(self) -> None:
        k = len(self.devs)
        self._t, self._v = [[] for _ in range(k)], [[] for _ in range(k)]
        self._share_t, self._share = [[] for _ in range(k)], [[] for _ in range(k)]
        self._last_seen_us = [0] * k

    # ---- polling --------------------------------------------------------------------
    def poll(self) -> None:
        """One reading of every device (and, every SHARE_EVERY polls, of the process share)."""
        nv = self.nv
        err = getattr(nv, "NVMLError", Exception)
        for k, d in enumerate(self.devs):
            try:
                if d["mode"] == "energy":
                    v = float(nv.nvmlDeviceGetTotalEnergyConsumption(d["handle"]))  # mJ
                else:
                    v = float(nv.nvmlDeviceGetPowerUsage(d["handle"]))  # mW
            except err as e:
                self.errors.append(f"GPU {d['index']}: {e}")
                continue
            t = time.monotonic_ns()
            with self._lock:
                self._t[k].append(t)
                self._v[k].append(v)
            if self._polls % SHARE_EVERY == 0:
                s = self._process_share(k, d)
                with self._lock:
                    self._share_t[k].append(t)
                    self._share[k].append(s)
        self._polls += 1

    def _process_share(self, k: int, d: dict) -> float:
        nv, h = self.nv, d["handle"]
        err = getattr(nv, "NVMLError", Exception)
        try:
            samples = nv.nvmlDeviceGetProcessUtilization(h, self._last_seen_us[k])
            if samples:
                self._last_seen_us[k] = max(int(s.timeStamp) for s in samples)
                total = sum(float(s.smUtil) for s in samples)
                mine = sum(float(s.smUtil) for s in samples if s.pid == self.pid)
                return mine / total if total > 0 else 0.0
        except err as e:
            if self._code(e) == NOT_FOUND:
                return 0.0  # no process used the GPU since the last sample
        try:
            pids = {p.pid for p in nv.nvmlDeviceGetComputeRunningProcesses(h)}
        except err:
            return float("nan")
        if self.pid not in pids:
            return 0.0
        return 1.0 / len(pids)  # no per-process utilization: an equal split among its users

    def _run(self) -> None:
        nxt = time.monotonic()
        while not self._stop.is_set():
            self.poll()
            nxt += self.interval_s
            delay = nxt - time.monotonic()
            if delay < 0:
                nxt = time.monotonic()  # fell behind: do not burst
                delay = 0
            self._stop.wait(delay)

    def follow(self, pid: int) -> None:
        """Take the GPU share of process `pid` (the program `run` started)."""
        self.pid = pid

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self.poll()  # a reading at the start, synchronously
        self._thread = threading.Thread(target=self._run, name="pyprof-carbon-nvml", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None
        self.poll()  # and one at the end

    # ---- contract -------------------------------------------------------------------
    def domains(self) -> List[Domain]:
        out = []
        for d in self.devs:
            if d["mode"] == "energy":
                note = (f"measured: {d['name']}, nvmlDeviceGetTotalEnergyConsumption (mJ counter) read every "
                        f"{self.interval_s * 1e3:g} ms from a Python thread")
            else:
                note = (f"measured power, integrated: {d['name']} has no energy counter; nvmlDeviceGetPowerUsage "
                        f"(mW) read every {self.interval_s * 1e3:g} ms and integrated with the trapezoid rule")
            note += ("; this process's share from NVML per-process SM utilization, else an equal split among "
                     "the device's compute processes, else 1; NVML on A100/H100 samples power only ~25% of the "
                     "time (Yang et al., SC24)")
            out.append(Domain(f"gpu:{d['index']}", self.name, True, "gpu", note))
        return out

    def energy(self, ticks: Ticks, sched) -> Dict[str, EnergySeries]:
        """One series per device on the polling thread's own timestamps (the native ticks carry
        no NVML column): counter mode = (mJ - first mJ) / 1000, negative steps (a driver reload)
        count 0; power mode = trapezoid integral of W over the readings."""
        out = {}
        shares = self.shares()
        with self._lock:
            series = [(np.array(t, dtype=np.int64), np.array(v, dtype=np.float64)) for t, v in zip(self._t, self._v)]
        for d, (t, v) in zip(self.devs, series):
            if len(t) == 0:
                out[f"gpu:{d['index']}"] = EnergySeries(np.zeros(0, np.int64), np.zeros(0))
                continue
            if d["mode"] == "energy":
                step = np.maximum(np.diff(v), 0.0) / 1e3
            else:
                step = (v[1:] + v[:-1]) / 2 / 1e3 * np.diff(t) / 1e9
            out[f"gpu:{d['index']}"] = EnergySeries(t, np.concatenate(([0.0], np.cumsum(step))),
                                                    share_at(t, *shares[f"gpu:{d['index']}"]))
        return out

    def shares(self) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
        """domain -> (t_ns, this process's share of the device, NaN where unknown)."""
        with self._lock:
            return {f"gpu:{d['index']}": (np.array(self._share_t[k], dtype=np.int64), np.array(self._share[k]))
                    for k, d in enumerate(self.devs)}

    def close(self) -> None:
        self.stop()
        if self.nv is not None:
            try:
                self.nv.nvmlShutdown()
            except Exception:  # noqa: BLE001 (shutdown errors change nothing)
                pass
            self.nv = None


def share_at(t: np.ndarray, share_t: np.ndarray, share: np.ndarray) -> np.ndarray:
    """The process's share for the interval ending at each reading t: the first share read at or
    after it (the last one beyond the end); 1 where unknown (NaN, or never read)."""
    if len(share_t) == 0:
        return np.ones(len(t))
    k = np.minimum(np.searchsorted(share_t, t, side="left"), len(share_t) - 1)
    s = share[k]
    return np.where(np.isfinite(s), np.clip(s, 0.0, 1.0), 1.0)

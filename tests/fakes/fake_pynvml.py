"""A fake `pynvml` (nvidia-ml-py) module: the calls the nvml meter makes, with NVML's error codes.

Configure with `reset([FakeGpu(...), ...])`, pass the module to `Nvml(pynvml=fake_pynvml)`.
Semantics copied from the NVML API reference (nvml.h) and nvidia-ml-py's pynvml.py:
- every call but nvmlInit raises NVMLError(NVML_ERROR_UNINITIALIZED) before nvmlInit;
- nvmlDeviceGetTotalEnergyConsumption: mJ since the driver loaded (Volta and newer), else
  NVML_ERROR_NOT_SUPPORTED; nvmlDeviceGetPowerUsage: mW;
- nvmlDeviceGetProcessUtilization(handle, lastSeenTimeStamp): samples newer than the timestamp
  (µs), NVML_ERROR_NOT_FOUND when there are none, NOT_SUPPORTED on devices without it;
- nvmlDeviceGetComputeRunningProcesses: objects with `pid` and `usedGpuMemory`.
"""
from __future__ import annotations

import time
from types import SimpleNamespace
from typing import List, Optional

NVML_SUCCESS = 0
NVML_ERROR_UNINITIALIZED = 1
NVML_ERROR_INVALID_ARGUMENT = 2
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NO_PERMISSION = 4
NVML_ERROR_NOT_FOUND = 6
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_GPU_IS_LOST = 15
NVML_ERROR_UNKNOWN = 999

_MESSAGES = {NVML_ERROR_UNINITIALIZED: "Uninitialized", NVML_ERROR_INVALID_ARGUMENT: "Invalid Argument",
             NVML_ERROR_NOT_SUPPORTED: "Not Supported", NVML_ERROR_NO_PERMISSION: "Insufficient Permissions",
             NVML_ERROR_NOT_FOUND: "Not Found", NVML_ERROR_DRIVER_NOT_LOADED: "Driver Not Loaded",
             NVML_ERROR_LIBRARY_NOT_FOUND: "NVML Shared Library Not Found", NVML_ERROR_GPU_IS_LOST: "GPU is lost",
             NVML_ERROR_UNKNOWN: "Unknown Error"}


class NVMLError(Exception):
    def __init__(self, value: int):
        super().__init__(value)
        self.value = value

    def __str__(self) -> str:
        return _MESSAGES.get(self.value, f"Unknown Error {self.value}")


class FakeGpu:
    def __init__(self, name: str = "NVIDIA H100 80GB HBM3", watts: float = 200.0, energy_counter: bool = True,
                 start_mj: int = 123_456_789, utilization: Optional[dict] = None,
                 processes: Optional[List[int]] = None):
        self.name, self.watts, self.energy_counter, self.start_mj = name, watts, energy_counter, start_mj
        self.utilization = utilization  # pid -> SM %; None: nvmlDeviceGetProcessUtilization not supported
        self.processes = processes or []
        self.t0_ns = time.monotonic_ns()


_state = SimpleNamespace(devices=[], init_count=0, init_error=None)


def reset(devices: List[FakeGpu], init_error: Optional[int] = None) -> None:
    _state.devices, _state.init_count, _state.init_error = list(devices), 0, init_error


def _check():
    if _state.init_count <= 0:
        raise NVMLError(NVML_ERROR_UNINITIALIZED)


def _dev(handle) -> FakeGpu:
    _check()
    if not isinstance(handle, SimpleNamespace) or handle.index >= len(_state.devices):
        raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
    return _state.devices[handle.index]


def nvmlInit():
    if _state.init_error is not None:
        raise NVMLError(_state.init_error)
    _state.init_count += 1


def nvmlShutdown():
    _check()
    _state.init_count -= 1


def nvmlDeviceGetCount() -> int:
    _check()
    return len(_state.devices)


def nvmlDeviceGetHandleByIndex(index: int):
    _check()
    if not 0 <= index < len(_state.devices):
        raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
    return SimpleNamespace(index=index)


def nvmlDeviceGetName(handle) -> str:
    return _dev(handle).name


def nvmlDeviceGetTotalEnergyConsumption(handle) -> int:
    d = _dev(handle)
    if not d.energy_counter:
        raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
    return int(d.start_mj + d.watts * (time.monotonic_ns() - d.t0_ns) / 1e6)  # W * ns / 1e6 = mJ


def nvmlDeviceGetPowerUsage(handle) -> int:
    return int(round(_dev(handle).watts * 1000))


def nvmlDeviceGetProcessUtilization(handle, lastSeenTimeStamp: int):
    d = _dev(handle)
    if d.utilization is None:
        raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
    now_us = time.time_ns() // 1000
    samples = [SimpleNamespace(pid=pid, timeStamp=now_us, smUtil=sm, memUtil=0, encUtil=0, decUtil=0)
               for pid, sm in d.utilization.items() if now_us > lastSeenTimeStamp]
    if not samples:
        raise NVMLError(NVML_ERROR_NOT_FOUND)
    return samples


def nvmlDeviceGetComputeRunningProcesses(handle):
    d = _dev(handle)
    return [SimpleNamespace(pid=pid, usedGpuMemory=1 << 30) for pid in d.processes]


_SHIM = '''"""pynvml for this test: the fake module, one H200 at {watts} W, the program using 60 of 80 SM-%."""
import os, sys
sys.path.insert(0, {tests!r})
from fakes import fake_pynvml as _fake
from fakes.fake_pynvml import *  # noqa: F401,F403


class _ProgramUtilization(dict):
    """SM-% per pid: the profiled program (the profiler's newest child process, started after
    this import) 60, another process 20."""

    def items(self):
        kids = []
        for p in filter(str.isdigit, os.listdir("/proc")):
            try:
                stat = open(f"/proc/{{p}}/stat").read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == os.getpid():
                kids.append(int(p))
        return [(max(kids) if kids else os.getpid(), 60), (4242, 20)]


_fake.reset([_fake.FakeGpu("NVIDIA H200", watts={watts}, utilization=_ProgramUtilization())])
'''


def pynvml_shim(directory: str, watts: float) -> str:
    """A directory holding a `pynvml` module for a profiled run (put it first on PYTHONPATH): this
    fake, one H200 drawing `watts`, the profiler's newest child (the program) using 60 of its
    80 SM-%. Returns the directory."""
    import os
    os.makedirs(directory, exist_ok=True)
    tests = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(directory, "pynvml.py"), "w") as out:
        out.write(_SHIM.format(watts=watts, tests=tests))
    return directory

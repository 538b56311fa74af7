"""Giving up root after the energy counters are open.

`sudo pyprof-carbon run script.py` is the simplest way to read RAPL (energy_uj is root-only since
Linux 5.10, Platypus; MSRs need root). But the user's script should not run as root: files it
writes would belong to root, and a bug in it would have root's reach. So the profiler opens its
meters as root, hands them to a privileged helper process (below), and the profiler and the
program each call `drop_to_invoking_user()`, which switches the whole process to the user who ran
sudo (SUDO_UID/SUDO_GID). An open file descriptor keeps working after a drop (the kernel checks
permissions when a file is opened, not when it is read): that is why the descriptors opened as
root stay in the helper alone, and the program cannot open them anew.

Choices:
- All threads: os.setgroups/os.setgid/os.setuid go through glibc, which applies set*id to every
  thread of the process (the SIGSETXID broadcast; POSIX semantics), so the native collector
  thread and any Python thread drop too. Order: supplementary groups, then gid, then uid (after
  setuid the process could no longer change its groups). setuid as root sets real, effective and
  saved uid: there is no way back to root.
- Groups: the user's groups from the group database (os.getgrouplist), or only SUDO_GID when the
  user has no passwd entry.
- Environment: HOME, USER, LOGNAME (and SHELL when known) become the user's, so the script writes
  ~/ files to the user's home; the SUDO_* variables are removed (the script is no longer under
  sudo). Everything else sudo passed is kept.
- No-op (returns None) when not root, or when SUDO_UID/SUDO_GID are missing or name root: a real
  root login stays root.

Privilege separation (`run` under sudo): the user's program never holds a root-opened descriptor.
`start_helper` forks, while root and before anything else runs, a small helper process that keeps
the counters the profiler opened as root (every source with a descriptor: powercap energy_uj, MSR
files, perf PMU events, /proc/stat, the eBPF maps, with the eBPF programs and their attachments),
reads them with a native collector at the run's cadence and hands the readings to the profiler
as checksummed chunks (process_stream's framing) over a pipe. The profiler then closes its own
copies, drops to the invoking user, and starts the program as that user: the program's
interpreter opens its script as the user and reads only the counters of its own process
(CLOCK_PROCESS_CPUTIME_ID, its sampler's cost). The profiler puts the helper's latest reading at
each of the program's ticks (`Helper.merged`). The helper takes one command, `follow PID` (the
eBPF backend counts that process tree), and ends when its command pipe closes (the run's end, or
the profiler's death): it stops reading, sends the last readings, and closes every meter, which
detaches every BPF program it loaded. It ignores the terminal's Ctrl-C and SIGTERM: the profiler
decides when it ends.
"""
from __future__ import annotations

import os
import signal
import threading
from typing import List, Optional, Sequence

from ._lazy import numpy as np

FLUSH_NS = 50_000_000  # the helper hands its readings over this often
MISSING = 2**64 - 1    # counters.MISSING: no reading yet (before the helper's first)


def invoking_user() -> Optional[tuple]:
    """(uid, gid) of the user who ran sudo, when this process is root under sudo for someone else."""
    if os.geteuid() != 0:
        return None
    try:
        uid, gid = int(os.environ["SUDO_UID"]), int(os.environ["SUDO_GID"])
    except (KeyError, ValueError):
        return None
    return None if uid == 0 else (uid, gid)


def would_drop() -> bool:
    return invoking_user() is not None


def drop_to_invoking_user() -> Optional[str]:
    """Become the user who ran sudo, in every thread; a description of what was done, or None."""
    who = invoking_user()
    if who is None:
        return None
    uid, gid = who
    import pwd
    try:
        pw = pwd.getpwuid(uid)
    except KeyError:
        pw = None
    name = pw.pw_name if pw else os.environ.get("SUDO_USER", str(uid))
    try:
        groups = os.getgrouplist(pw.pw_name, gid) if pw else [gid]
    except OSError:
        groups = [gid]
    os.setgroups(groups)
    os.setgid(gid)
    os.setuid(uid)
    if pw:
        os.environ["HOME"] = pw.pw_dir
        if pw.pw_shell:
            os.environ["SHELL"] = pw.pw_shell
    os.environ["USER"] = os.environ["LOGNAME"] = name
    for k in ("SUDO_UID", "SUDO_GID", "SUDO_USER", "SUDO_COMMAND"):
        os.environ.pop(k, None)
    return (f"dropped root after opening the meters: now uid {uid} ({name}), gid {gid}, "
            f"groups {','.join(map(str, groups))}; open counters stay readable")


class Helper:
    """The profiler's side of the privileged helper (module docstring)."""

    def __init__(self, pid: int, commands: int, readings: int, held: List[int]):
        self.pid, self._commands, self._readings, self.held = pid, commands, readings, held
        self._t, self._raw, self._lock = [], [], threading.Lock()
        self._thread = threading.Thread(target=self._receive, name="pyprof-carbon helper readings", daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        from . import process_stream  # loaded by start_helper
        data = b""
        while True:
            part = os.read(self._readings, 1 << 16)
            if not part:
                return
            data += part
            chunks, end, _ = process_stream.decode(data)
            data = data[end:]
            with self._lock:
                for c in chunks:
                    self._t.append(c["t"])
                    self._raw.append(c["raw"])

    def follow(self, pid: int) -> None:
        os.write(self._commands, b"follow %d\n" % pid)

    def close(self) -> None:
        """End the helper: it sends its last readings, detaches its BPF programs and exits."""
        if self._commands < 0:
            return
        os.close(self._commands)
        self._commands = -1
        self._thread.join()
        os.close(self._readings)
        os.waitpid(self.pid, 0)

    def merged(self, t, program_raw, nsources: int):
        """Every source's column at the program's tick times `t`: the program's own columns as
        they are, each held column the helper's latest reading at or before the tick."""
        with self._lock:
            ht = np.frombuffer(b"".join(self._t), dtype=np.uint64).astype(np.int64)
            hraw = np.frombuffer(b"".join(self._raw), dtype=np.uint64).reshape(len(ht), -1)
        out = np.full((len(t), nsources), MISSING, dtype=np.uint64)
        mine = [i for i in range(nsources) if i not in set(self.held)]
        out[:, mine] = program_raw
        row = np.searchsorted(ht, t, side="right") - 1
        seen = row >= 0
        out[np.ix_(seen, self.held)] = hraw[row[seen]]
        return out


def start_helper(owners: Sequence, sources: Sequence[tuple], held: List[int], cadence_ns: int) -> Helper:
    """Fork the privileged helper for `owners` (the meters and scheduler backend whose sources are
    `held`, the indices of the descriptor-holding ones among `sources`); call as root, before any
    other thread of ours runs."""
    from . import _native, process_stream  # noqa: F401 (imported here, not in the forked helper)
    commands_r, commands_w = os.pipe()
    readings_r, readings_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            os.close(commands_w)
            os.close(readings_r)
            _helper(owners, [sources[i] for i in held], cadence_ns, commands_r, readings_w)
            status = 0
        finally:
            os._exit(status)
    os.close(commands_r)
    os.close(readings_w)
    return Helper(pid, commands_w, readings_r, list(held))


def _helper(owners, sources, cadence_ns: int, commands: int, readings: int) -> None:
    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, signal.SIG_IGN)
    from . import _native, process_stream  # loaded by start_helper, before the fork
    collector = _native.Collector(0, "auto", cadence_ns, list(sources))

    def send():
        raw = collector.raw_results()
        data = process_stream.encode({"t": raw["tick_t_ns"], "raw": raw["tick_raw"]})
        while data:
            data = data[os.write(readings, data):]

    collector.start()
    collector.on_flush(send, FLUSH_NS)
    pending = b""
    try:
        while True:
            part = os.read(commands, 4096)
            if not part:  # the profiler closed its end, or died
                break
            pending += part
            *lines, pending = pending.split(b"\n")
            for line in lines:
                word, _, arg = line.partition(b" ")
                if word == b"follow":
                    for owner in owners:
                        if hasattr(owner, "follow"):
                            owner.follow(int(arg))
    finally:
        collector.stop()
        collector.resolve()
        try:
            send()
        except OSError:  # the profiler is gone: nobody to hand the last readings to
            pass
        for owner in owners:  # closing the eBPF backend's descriptors detaches its programs
            owner.close()

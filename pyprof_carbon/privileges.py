"""Giving up root after the energy counters are open.

`sudo pyprof-carbon run script.py` is the simplest way to read RAPL (energy_uj is root-only since
Linux 5.10, Platypus; MSRs need root). But the user's script should not run as root: files it
writes would belong to root, and a bug in it would have root's reach. So the profiler opens its
meters as root and then calls `drop_to_invoking_user()`, which switches the whole process to the
user who ran sudo (SUDO_UID/SUDO_GID). The open file descriptors keep working: the kernel checks
permissions when a file is opened, not when it is read, so the collector keeps reading energy_uj,
the MSR files and perf events through the fds it already holds, while the script cannot open new
ones.

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
"""
from __future__ import annotations

import os
from typing import Optional


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

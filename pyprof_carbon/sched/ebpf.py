"""eBPF scheduler accounting: hand-written BPF programs on the scheduler's tracepoints.

The `sched_switch` program keeps, per CPU, in a BPF array (one value struct per CPU, layout below):
the busy time so far (a non-idle task ran), the time the followed processes' threads ran, when the
CPU's current interval started, and what is running in it (busy? ours?). The native collector
reads the fields each tick with one bpf(MAP_LOOKUP_ELEM) per CPU (`BPF_LOOKUP` sources: no Python
in the loop), and `timeline()` adds each CPU's running interval up to the tick's timestamp
(bpf_ktime_get_ns is CLOCK_MONOTONIC, the collector's clock).

Which threads are ours: the whole process tree of the program. `tgids` holds the followed
processes: the program's pid (`follow`, with the descendants it has by then, from
/proc/PID/task/*/children), and every process forked by a followed one (the `sched_process_fork`
program, run in the parent's context, adds the child). `sched_process_exit` takes a process out
when its last thread exits (`group_dead`; on kernels without that field, when the leader exits),
so a reused pid is not counted. A switched-out thread's owner is exact (the program runs in its
context: bpf_get_current_pid_tgid, its tgid looked up in `tgids`); the thread coming in is ours
when its tid is in `ours`, a hash seeded by `follow` and extended at each fork and each switch-out
of a followed thread. Only `cur` (the running interval's owner, counted up to the tick) depends
on `ours`; the committed `ours_ns` comes from the switch-out side alone.

The programs are bytecode assembled by bpf_asm.py and loaded with the raw bpf() system call: no
bcc, clang or kernel headers at run time (bcc compiled the same program in 0.67 s and ~160 MB on
every run). They are raw tracepoint programs where the kernel has BTF: their context is the
tracepoint's arguments, task pointers whose pid is read at struct task_struct's offset found in
/sys/kernel/btf/vmlinux (RawArgs), and detaching them is immediate. Elsewhere they are attached
through perf events and read the tracepoints' records at the offsets of the format files in tracefs
(Record); closing a tracepoint's last perf event makes the kernel wait for RCU grace periods, ~75 ms
for each of the three here, which `run` pays at the end of every run.
"""
from __future__ import annotations

import os
import struct
import time
from typing import Dict

from .._lazy import numpy as np
from ..counters import BPF_LOOKUP, PROCESS_CPU, PROFILER_CPU, CounterSource, Ticks, fill_missing
from ..errors import Unavailable
from ..recording import SchedTimeline
from . import bpf_asm as A
from .base import SchedBackend, close_concurrently, online_cpus

FIX = "run as root (CAP_BPF + CAP_PERFMON) with tracefs mounted (scripts/setup.sh mounts it)"

# struct cpu_state: six u64 fields (the last is padding, kept so the value stays 48 bytes).
FIELDS = ("busy_ns", "ours_ns", "last_ts", "cur")
VALUE_SIZE = 48
OFFSETS = {"busy_ns": 0, "ours_ns": 8, "last_ts": 16, "cur": 24, "switches": 32}
CUR_BUSY, CUR_OURS, CUR_KNOWN = 1, 2, 4
MAX_FOLLOWED = 65536  # entries of `ours` (threads) and `tgids` (processes)
EVENTS = ("sched_switch", "sched_process_fork", "sched_process_exit")

U32 = struct.Struct("<I")
ONE = b"\x01"


class Record:
    """A program's context when it is attached through a perf event: the tracepoint's record,
    its fields at the offsets of the event's format file (`offsets`: field -> offset; a field the
    kernel lacks is absent)."""

    def __init__(self, offsets: Dict[str, int]):
        self.offsets = offsets

    def has(self, field: str) -> bool:
        return field in self.offsets

    def pid(self, a, field: str, slot: int) -> None:
        """The pid_t `field` into the stack at `slot` (r6: the context; r0-r5 clobbered)."""
        a.load(A.R1, A.R6, self.offsets[field], 4)
        a.store(A.R10, slot, A.R1, 4)

    def flag(self, a, field: str, dst: int) -> None:
        a.load(dst, A.R6, self.offsets[field], 1)


class RawArgs:
    """A raw tracepoint program's context: the tracepoint's arguments (TP_PROTO, a u64 each).
    `args`: field -> the index of the task_struct pointer whose pid it is (read at `pid_offset`
    with bpf_probe_read_kernel), CURRENT for the task the tracepoint runs in, or the index of a
    flag argument."""

    def __init__(self, args: Dict[str, object], pid_offset: int):
        self.args, self.pid_offset = args, pid_offset

    def has(self, field: str) -> bool:
        return field in self.args

    def pid(self, a, field: str, slot: int) -> None:
        arg = self.args[field]
        if arg == CURRENT:
            a.call(A.GET_CURRENT_PID_TGID)
            a.store(A.R10, slot, A.R0, 4)  # the low half: the thread's id
            return
        a.stack_ptr(A.R1, slot)
        a.mov_imm(A.R2, 4)
        a.load(A.R3, A.R6, 8 * arg, 8)
        a.add_imm(A.R3, self.pid_offset)
        a.call(A.PROBE_READ_KERNEL)  # a failed read leaves zeros: the idle task, never ours

    def flag(self, a, field: str, dst: int) -> None:
        a.load(dst, A.R6, 8 * self.args[field], 8)


CURRENT = "current"
# The raw tracepoints' arguments (include/trace/events/sched.h): sched_switch(preempt, prev, next,
# ...) runs in prev's context; sched_process_fork(parent, child); sched_process_exit(p, group_dead)
# where its record has group_dead (taken from that argument), else (p).
RAW_SWITCH = {"prev_pid": CURRENT, "next_pid": 2}
RAW_FORK = {"child_pid": 1}
RAW_EXIT_GROUP_DEAD = {"group_dead": 1}


def this_cpu(a, cpus: int, slot: int, missing: str) -> None:
    """The start both scheduler programs share: r6 = ctx, r7 = this CPU's state in `cpus` (the
    CPU number kept at stack `slot`; jump to `missing` without one), r8 = now."""
    a.mov(A.R6, A.R1)
    a.call(A.GET_SMP_PROCESSOR_ID)
    a.store(A.R10, slot, A.R0, 4)
    a.ld_map_fd(A.R1, cpus)
    a.stack_ptr(A.R2, slot)
    a.call(A.MAP_LOOKUP_ELEM)
    a.jump_if(A.JEQ, A.R0, 0, missing)
    a.mov(A.R7, A.R0)
    a.call(A.KTIME_GET_NS)
    a.mov(A.R8, A.R0)


def current_is_followed(a, tgids: int, slot: int, otherwise: str) -> None:
    """Jump to `otherwise` unless the current task's process is in `tgids` (its tgid kept at
    stack `slot`)."""
    a.call(A.GET_CURRENT_PID_TGID)
    a.rsh_imm(A.R0, 32)
    a.store(A.R10, slot, A.R0, 4)
    a.ld_map_fd(A.R1, tgids)
    a.stack_ptr(A.R2, slot)
    a.call(A.MAP_LOOKUP_ELEM)
    a.jump_if(A.JEQ, A.R0, 0, otherwise)


def switch_program(cpus: int, tgids: int, ours: int, ctx) -> bytes:
    """On sched_switch (ctx: where prev_pid and next_pid are, a Record or RawArgs).

    Stack: -4 cpu, -8 prev's tgid, -12 prev's tid, -16 the u8 1, -20 next's tid.
    Registers kept across calls: r6 ctx, r7 this CPU's state, r8 now, r9 prev is ours (non-0)."""
    a = A.Asm()
    this_cpu(a, cpus, -4, "out")
    ctx.pid(a, "prev_pid", -12)
    a.load(A.R1, A.R10, -12, 4)
    a.mov_imm(A.R9, 0)
    a.jump_if(A.JEQ, A.R1, 0, "account")        # the idle task: never ours
    a.call(A.GET_CURRENT_PID_TGID)              # prev's: the tracepoint runs in its context
    a.rsh_imm(A.R0, 32)
    a.store(A.R10, -8, A.R0, 4)
    a.ld_map_fd(A.R1, tgids)
    a.stack_ptr(A.R2, -8)
    a.call(A.MAP_LOOKUP_ELEM)
    a.mov(A.R9, A.R0)
    a.label("account")                          # the interval that ends now
    a.load(A.R1, A.R7, OFFSETS["last_ts"], 8)
    a.jump_if(A.JEQ, A.R1, 0, "mark")           # not started yet
    a.jump_if_reg(A.JLE, A.R8, A.R1, "mark")
    a.mov(A.R2, A.R8)
    a.sub(A.R2, A.R1)
    a.load(A.R3, A.R10, -12, 4)
    a.jump_if(A.JEQ, A.R3, 0, "mark")           # idle ran: not busy
    a.load(A.R4, A.R7, OFFSETS["busy_ns"], 8)
    a.add(A.R4, A.R2)
    a.store(A.R7, OFFSETS["busy_ns"], A.R4, 8)
    a.jump_if(A.JEQ, A.R9, 0, "mark")
    a.load(A.R4, A.R7, OFFSETS["ours_ns"], 8)
    a.add(A.R4, A.R2)
    a.store(A.R7, OFFSETS["ours_ns"], A.R4, 8)
    a.label("mark")                             # keep `ours` right about prev's tid
    a.jump_if(A.JNE, A.R9, 0, "add_prev")
    a.load(A.R1, A.R7, OFFSETS["cur"], 8)       # not ours, but counted as ours when it came in:
    a.and_imm(A.R1, CUR_OURS)
    a.jump_if(A.JEQ, A.R1, 0, "next")           # a stale tid (its process exited, the tid reused)
    a.ld_map_fd(A.R1, ours)
    a.stack_ptr(A.R2, -12)
    a.call(A.MAP_DELETE_ELEM)
    a.goto("next")
    a.label("add_prev")                         # a thread of a followed process (one started
    a.store_imm(A.R10, -16, 1, 1)               # before `follow`, or a new one): ours from now on
    a.ld_map_fd(A.R1, ours)
    a.stack_ptr(A.R2, -12)
    a.stack_ptr(A.R3, -16)
    a.mov_imm(A.R4, 0)
    a.call(A.MAP_UPDATE_ELEM)
    a.label("next")                             # what runs from now on
    a.mov_imm(A.R9, CUR_KNOWN)
    ctx.pid(a, "next_pid", -20)
    a.load(A.R1, A.R10, -20, 4)
    a.jump_if(A.JEQ, A.R1, 0, "store")
    a.mov_imm(A.R9, CUR_KNOWN | CUR_BUSY)
    a.ld_map_fd(A.R1, ours)
    a.stack_ptr(A.R2, -20)
    a.call(A.MAP_LOOKUP_ELEM)
    a.jump_if(A.JEQ, A.R0, 0, "store")
    a.mov_imm(A.R9, CUR_KNOWN | CUR_BUSY | CUR_OURS)
    a.label("store")
    a.store(A.R7, OFFSETS["cur"], A.R9, 8)
    a.store(A.R7, OFFSETS["last_ts"], A.R8, 8)
    a.load(A.R1, A.R7, OFFSETS["switches"], 8)
    a.add_imm(A.R1, 1)
    a.store(A.R7, OFFSETS["switches"], A.R1, 8)
    a.label("out")
    a.mov_imm(A.R0, 0)
    a.exit()
    return a.code()


def fork_program(tgids: int, ours: int, ctx) -> bytes:
    """On sched_process_fork, in the parent's context: a child of a followed process is followed.
    A new thread (CLONE_THREAD) lands in `tgids` too, under its tid: no process can have that pid
    while the thread lives, and the exit program removes it."""
    a = A.Asm()
    a.mov(A.R6, A.R1)
    current_is_followed(a, tgids, -4, "out")
    ctx.pid(a, "child_pid", -8)
    a.store_imm(A.R10, -12, 1, 1)
    for m in (tgids, ours):
        a.ld_map_fd(A.R1, m)
        a.stack_ptr(A.R2, -8)
        a.stack_ptr(A.R3, -12)
        a.mov_imm(A.R4, 0)
        a.call(A.MAP_UPDATE_ELEM)
    a.label("out")
    a.mov_imm(A.R0, 0)
    a.exit()
    return a.code()


def exit_program(cpus: int, tgids: int, ours: int, ctx) -> bytes:
    """On sched_process_exit, in the exiting thread's context: first the interval it has been
    running in is committed to this CPU's busy and (if it is ours) ours time, since its final
    switch-out comes after this program has taken it out of `tgids` (without this, a thread that
    ran uninterrupted until it exited was not counted at all); then its tid leaves `ours` (and
    `tgids`, where a thread's fork put it); its process leaves `tgids` with its last thread
    (ctx.has("group_dead"): when that flag is set; on kernels without it, when the leader exits).

    Stack: -4 tid, -8 tgid, -12 cpu, -16 tgid for the commit. r7 tid, r8 tgid (after the commit:
    r7 the CPU's state, r8 now, r9 the interval)."""
    a = A.Asm()
    this_cpu(a, cpus, -12, "forget")
    a.load(A.R1, A.R7, OFFSETS["last_ts"], 8)
    a.jump_if(A.JEQ, A.R1, 0, "forget")
    a.jump_if_reg(A.JLE, A.R8, A.R1, "forget")
    a.mov(A.R9, A.R8)
    a.sub(A.R9, A.R1)
    a.load(A.R2, A.R7, OFFSETS["busy_ns"], 8)
    a.add(A.R2, A.R9)
    a.store(A.R7, OFFSETS["busy_ns"], A.R2, 8)
    a.store(A.R7, OFFSETS["last_ts"], A.R8, 8)
    current_is_followed(a, tgids, -16, "forget")
    a.load(A.R2, A.R7, OFFSETS["ours_ns"], 8)
    a.add(A.R2, A.R9)
    a.store(A.R7, OFFSETS["ours_ns"], A.R2, 8)
    a.label("forget")
    a.call(A.GET_CURRENT_PID_TGID)
    a.mov32(A.R7, A.R0)
    a.mov(A.R8, A.R0)
    a.rsh_imm(A.R8, 32)
    a.store(A.R10, -4, A.R7, 4)
    a.store(A.R10, -8, A.R8, 4)
    a.ld_map_fd(A.R1, ours)
    a.stack_ptr(A.R2, -4)
    a.call(A.MAP_DELETE_ELEM)
    a.jump_if_reg(A.JEQ, A.R7, A.R8, "group")
    a.ld_map_fd(A.R1, tgids)
    a.stack_ptr(A.R2, -4)
    a.call(A.MAP_DELETE_ELEM)
    a.label("group")
    if ctx.has("group_dead"):
        ctx.flag(a, "group_dead", A.R1)
        a.jump_if(A.JEQ, A.R1, 0, "out")
    else:
        a.jump_if_reg(A.JNE, A.R7, A.R8, "out")
    a.ld_map_fd(A.R1, tgids)
    a.stack_ptr(A.R2, -8)
    a.call(A.MAP_DELETE_ELEM)
    a.label("out")
    a.mov_imm(A.R0, 0)
    a.exit()
    return a.code()


def max_cpu_index() -> int:
    try:
        with open("/sys/devices/system/cpu/possible") as f:
            text = f.read().strip()
        return max(int(part.split("-")[-1]) for part in text.split(","))
    except (OSError, ValueError):
        return (os.cpu_count() or 1) - 1


class EbpfBackend(SchedBackend):
    name = "ebpf"
    counts_descendants = True

    def __init__(self):
        self.maps = {}
        self.fds = []     # programs and perf events: closing them detaches the programs
        self.cpus = []

    def open(self) -> None:
        if os.geteuid() != 0:
            raise Unavailable("loading eBPF programs needs root (CAP_BPF + CAP_PERFMON); not root", FIX)
        root = A.tracefs()
        if root is None:
            raise Unavailable("tracefs is not mounted (no events/sched/sched_switch under "
                                     f"{' or '.join(A.TRACEFS)})", FIX)
        try:
            self._load(root)
        except (OSError, KeyError, ValueError) as e:
            self.close()
            raise Unavailable(f"the BPF programs did not load: {e}", FIX) from None
        self._start_cpu_intervals()

    def _load(self, root: str) -> None:
        fields = {e: A.tracepoint_fields(root, "sched", e) for e in EVENTS}
        self.maps = {"cpus": A.Map(A.BPF_MAP_TYPE_ARRAY, 4, VALUE_SIZE, max_cpu_index() + 1, "pc_cpus"),
                     "ours": A.Map(A.BPF_MAP_TYPE_HASH, 4, 1, MAX_FOLLOWED, "pc_ours"),
                     "tgids": A.Map(A.BPF_MAP_TYPE_HASH, 4, 1, MAX_FOLLOWED, "pc_tgids")}
        pid_offset = A.struct_member_offset("task_struct", "pid")
        if pid_offset is not None:
            group_dead = RAW_EXIT_GROUP_DEAD if "group_dead" in fields["sched_process_exit"] else {}
            try:
                self._attach(lambda event, prog: A.attach_raw_tracepoint(event, prog), A.BPF_PROG_TYPE_RAW_TRACEPOINT,
                             [RawArgs(args, pid_offset) for args in (RAW_SWITCH, RAW_FORK, group_dead)])
                return
            except OSError:  # no raw tracepoints or no bpf_probe_read_kernel (kernels before 5.5)
                close_concurrently(self.fds)
                self.fds = []
        self._attach(lambda event, prog: A.attach_tracepoint(A.tracepoint_id(root, "sched", event), prog),
                     A.BPF_PROG_TYPE_TRACEPOINT,
                     [Record({k: off for k, (off, _size) in fields[e].items()}) for e in EVENTS])

    def _attach(self, attach, prog_type: int, contexts) -> None:
        """Load the three programs for `contexts` (one per event of EVENTS) and attach each."""
        cpus, ours, tgids = (self.maps[k].fd for k in ("cpus", "ours", "tgids"))
        switch, fork, exit_ = contexts
        programs = [("pc_switch", switch_program(cpus, tgids, ours, switch)),
                    ("pc_fork", fork_program(tgids, ours, fork)),
                    ("pc_exit", exit_program(cpus, tgids, ours, exit_))]
        for event, (name, code) in zip(EVENTS, programs):
            prog = A.load_tracepoint_program(code, name, prog_type=prog_type)
            self.fds.append(prog)
            self.fds.append(attach(event, prog))

    def follow(self, pid: int) -> None:
        """Count process `pid` and its descendants as ours: the threads they have now, and those
        the programs see later (forks, switch-outs)."""
        ours, tgids = self.maps["ours"], self.maps["tgids"]
        for proc in [pid, *descendants(pid)]:
            tgids.update(U32.pack(proc), ONE)
            try:
                tids = [int(t) for t in os.listdir(f"/proc/{proc}/task")]
            except OSError:  # it has exited already
                tids = [proc]
            for tid in tids:
                ours.update(U32.pack(tid), ONE)
        if pid == os.getpid():
            # Profiling ourselves (the in-code API): this thread has been running since before it
            # was in `ours`, and a thread is counted as running for us only from a switch-in on.
            # A CPU-bound block on an otherwise idle machine may never be switched out, and would
            # read as none of the process's time: a short sleep switches it out and in now.
            time.sleep(0.001)

    def read_cpu(self, cpu: int) -> dict:
        """One CPU's state, as the collector reads it (tests, doctor)."""
        raw = self.maps["cpus"].lookup(U32.pack(cpu))
        return dict(zip(("busy_ns", "ours_ns", "last_ts", "cur", "switches"), struct.unpack_from("<5Q", raw)))

    def _start_cpu_intervals(self) -> None:
        """Each online CPU's interval starting now."""
        table = self.maps["cpus"]
        self.cpus = sorted(_online_cpu_ids())
        now = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        for c in self.cpus:
            v = bytearray(table.lookup(U32.pack(c)))
            if struct.unpack_from("<Q", v, OFFSETS["last_ts"])[0] == 0:
                # the first switch on the CPU tells what ran there since now
                struct.pack_into("<Q", v, OFFSETS["last_ts"], now)
                table.update(U32.pack(c), bytes(v))

    def sources(self):
        fd = self.maps["cpus"].fd
        out = []
        for c in self.cpus:
            for f in FIELDS:
                out.append(CounterSource(BPF_LOOKUP, fd, offset=OFFSETS[f], key=c, size=VALUE_SIZE,
                                         label=f"bpf cpus[{c}].{f}"))
        out += [CounterSource(PROCESS_CPU, label="CLOCK_PROCESS_CPUTIME_ID"),
                CounterSource(PROFILER_CPU, label="collector thread + signal handler")]
        return out

    def timeline(self, ticks: Ticks) -> SchedTimeline:
        raw = ticks.of(self.name)
        t = ticks.t_ns.astype(np.float64)
        nf = len(FIELDS)
        ncpu = (raw.shape[1] - 2) // nf
        busy = np.zeros(len(t))
        ours = np.zeros(len(t))
        for c in range(ncpu):
            b, o, last, cur = (fill_missing(raw[:, c * nf + i]) for i in range(nf))
            cur = cur.astype(np.int64)
            running = np.where(last > 0, np.maximum(t - last, 0.0), 0.0)
            busy += b + np.where(cur & CUR_BUSY, running, 0.0)
            ours += o + np.where(cur & CUR_OURS, running, 0.0)
        prof = fill_missing(raw[:, ncpu * nf + 1])

        def cumulative(v):
            # a CPU's fields come from one lookup (csrc/counters.h), but the tick's timestamp is
            # taken before it: a switch in between counts its interval up to after the timestamp,
            # and the next tick can then sum to a little less; never report a decrease
            return np.maximum.accumulate(v - v[0]) if len(v) else v

        return SchedTimeline(t_ns=ticks.t_ns, machine_busy_ns=cumulative(busy), process_cpu_ns=cumulative(ours),
                             profiler_cpu_ns=cumulative(prof), ncpu=online_cpus(), backend=self.name,
                             resolution_note="exact: eBPF on sched_switch per CPU, running intervals counted "
                                             "to each tick (CLOCK_MONOTONIC)")

    def close(self) -> None:
        fds, self.fds = self.fds, []
        close_concurrently(fds)  # closing the links or perf events detaches the programs
        for m in self.maps.values():
            m.close()
        self.maps = {}


def _online_cpu_ids():
    try:
        with open("/sys/devices/system/cpu/online") as f:
            text = f.read().strip()
    except OSError:
        return list(range(os.cpu_count() or 1))
    out = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        out += list(range(int(a), int(b or a) + 1))
    return out


def descendants(pid: int):
    """The processes below `pid` now, from /proc/P/task/T/children (Linux >= 3.5 with
    CONFIG_PROC_CHILDREN; without it, none: the fork program still sees later ones)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for t in tasks:
            try:
                with open(f"/proc/{p}/task/{t}/children") as f:
                    kids = [int(k) for k in f.read().split()]
            except (OSError, ValueError):
                continue
            out += kids
            todo += kids
    return out

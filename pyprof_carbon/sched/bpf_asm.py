"""A small eBPF assembler and loader: maps, tracepoint programs and their attachment through the
raw bpf() and perf_event_open() system calls, with no compiler at run time; raw tracepoint
programs, and the offset of a field of a kernel struct from the kernel's BTF.

Why not bcc: it compiles C with clang on every run (0.67 s and ~160 MB of RSS in the profiler,
measured on 2026-12-03 before this module replaced it), for a program of a few dozen
instructions. The instructions are written here instead (ebpf.py), and the kernel's verifier
checks them as it would a compiled object. The encodings follow the kernel's uapi
(include/uapi/linux/bpf.h, bpf_common.h, perf_event.h).
"""
from __future__ import annotations

import ctypes
import errno
import os
import re
import struct
from typing import Dict, List, Optional, Tuple

# ---- system calls ----------------------------------------------------------------------------
# (bpf, perf_event_open) by machine: they are not in Python's os module
SYSCALLS = {"x86_64": (321, 298), "aarch64": (280, 241), "riscv64": (280, 241), "ppc64le": (361, 319),
            "s390x": (351, 331)}

BPF_MAP_CREATE, BPF_MAP_LOOKUP_ELEM, BPF_MAP_UPDATE_ELEM, BPF_MAP_DELETE_ELEM, BPF_PROG_LOAD = 0, 1, 2, 3, 5
BPF_RAW_TRACEPOINT_OPEN = 17
BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_ARRAY = 1, 2
BPF_PROG_TYPE_TRACEPOINT, BPF_PROG_TYPE_RAW_TRACEPOINT = 5, 17
PERF_TYPE_TRACEPOINT = 2
PERF_FLAG_FD_CLOEXEC = 1 << 3
PERF_EVENT_IOC_ENABLE = 0x2400
PERF_EVENT_IOC_DISABLE = 0x2401
PERF_EVENT_IOC_SET_BPF = 0x40042408
ATTR_SIZE = 160           # union bpf_attr as far as BPF_PROG_LOAD's fields go, zero-padded
PERF_ATTR_SIZE = 128      # PERF_ATTR_SIZE_VER7; the kernel accepts any known size

TRACEFS = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")

_libc = None


def _syscall(which: int, *args) -> int:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.syscall.restype = ctypes.c_long
    numbers = SYSCALLS.get(os.uname().machine)
    if numbers is None:
        raise OSError(errno.ENOSYS, f"no bpf() system call number known for {os.uname().machine}")
    r = _libc.syscall(ctypes.c_long(numbers[which]), *args)
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r


def bpf(cmd: int, attr: ctypes.Array) -> int:
    return _syscall(0, ctypes.c_long(cmd), attr, ctypes.c_long(len(attr)))


def _attr(*fields: Tuple[str, object], size: int = ATTR_SIZE) -> ctypes.Array:
    """A zeroed bpf_attr with the struct.pack'ed fields laid out from offset 0."""
    fmt = "<" + "".join(f for f, _ in fields)
    packed = struct.pack(fmt, *(v for _, v in fields))
    buf = ctypes.create_string_buffer(size)
    ctypes.memmove(buf, packed, len(packed))
    return buf


# ---- maps ------------------------------------------------------------------------------------
class Map:
    """A BPF map owned by this process (its fd closes with `close`)."""

    def __init__(self, map_type: int, key_size: int, value_size: int, max_entries: int, name: str):
        self.key_size, self.value_size = key_size, value_size
        # map_type, key_size, value_size, max_entries, map_flags, inner_map_fd, numa_node, map_name[16]
        attr = _attr(("I", map_type), ("I", key_size), ("I", value_size), ("I", max_entries), ("I", 0),
                     ("I", 0), ("I", 0), ("16s", name.encode()[:15]))
        self.fd = _with_memlock(lambda: bpf(BPF_MAP_CREATE, attr))

    def _elem(self, cmd: int, key: bytes, value: Optional[ctypes.Array], flags: int = 0) -> int:
        k = ctypes.create_string_buffer(key, self.key_size)
        # map_fd (u32, padded to 8), key (u64 pointer), value (u64 pointer), flags (u64)
        attr = _attr(("I", self.fd), ("I", 0), ("Q", ctypes.addressof(k)),
                     ("Q", ctypes.addressof(value) if value is not None else 0), ("Q", flags))
        return bpf(cmd, attr)

    def lookup(self, key: bytes) -> Optional[bytes]:
        v = ctypes.create_string_buffer(self.value_size)
        try:
            self._elem(BPF_MAP_LOOKUP_ELEM, key, v)
        except OSError as e:
            if e.errno == errno.ENOENT:
                return None
            raise
        return v.raw

    def update(self, key: bytes, value: bytes) -> None:
        self._elem(BPF_MAP_UPDATE_ELEM, key, ctypes.create_string_buffer(value, self.value_size))

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _with_memlock(create):
    """Kernels before 5.11 charge maps and programs to RLIMIT_MEMLOCK (64 KiB by default on many
    distributions): on EPERM, raise it and try once more. Later kernels charge the memory cgroup."""
    try:
        return create()
    except OSError as e:
        if e.errno != errno.EPERM:
            raise
        import resource
        try:
            resource.setrlimit(resource.RLIMIT_MEMLOCK, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        except (ValueError, OSError):
            raise e from None
        return create()


# ---- instructions ----------------------------------------------------------------------------
# classes, sizes, sources and operations of include/uapi/linux/bpf_common.h and bpf.h
LD, LDX, ST, STX, ALU, JMP, ALU64 = 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x07
W, H, B, DW = 0x00, 0x08, 0x10, 0x18
IMM, MEM = 0x00, 0x60
K, X = 0x00, 0x08
ADD, SUB, OR, AND, RSH, MOV = 0x00, 0x10, 0x40, 0x50, 0x70, 0xB0
JA, JEQ, JNE, JGT, JLE, CALL, EXIT = 0x00, 0x10, 0x50, 0x20, 0xB0, 0x80, 0x90
PSEUDO_MAP_FD = 1
R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10 = range(11)
SIZES = {1: B, 2: H, 4: W, 8: DW}

# helper function ids (enum bpf_func_id)
MAP_LOOKUP_ELEM, MAP_UPDATE_ELEM, MAP_DELETE_ELEM, KTIME_GET_NS, GET_SMP_PROCESSOR_ID, \
    GET_CURRENT_PID_TGID, PROBE_READ_KERNEL = 1, 2, 3, 5, 8, 14, 113


def _alu(code: int):
    """The Asm method emitting ALU instruction `code`: (dst, src) when its source is a register
    (X), (dst, imm) when it is an immediate (K)."""
    if code & X:
        def emit(self, dst, src):
            self._emit(code, dst, src)
    else:
        def emit(self, dst, imm):
            self._emit(code, dst, imm=imm)
    return emit


class Asm:
    """Instructions with symbolic jump labels; `code()` resolves the labels to offsets.

    Each method emits one instruction (ld_map_fd: the two of a 64-bit load), named after what it
    does, so a program reads close to the C it replaces."""

    def __init__(self):
        self.insns: List[list] = []      # [code, dst, src, off, imm]; off may be a label (str)
        self.labels: Dict[str, int] = {}

    def _emit(self, code, dst=0, src=0, off=0, imm=0):
        self.insns.append([code, dst, src, off, imm])

    def label(self, name: str) -> None:
        self.labels[name] = len(self.insns)

    # ALU instructions, dst op= src: `name(dst, src)` for a register source (X), `name_imm(dst, imm)`
    # for an immediate (K); mov32 is dst = (u32)src (a 32-bit move zeroes the upper half)
    mov, mov_imm = _alu(ALU64 | MOV | X), _alu(ALU64 | MOV | K)
    add, add_imm = _alu(ALU64 | ADD | X), _alu(ALU64 | ADD | K)
    sub = _alu(ALU64 | SUB | X)
    and_imm = _alu(ALU64 | AND | K)
    rsh_imm = _alu(ALU64 | RSH | K)
    mov32 = _alu(ALU | MOV | X)

    def load(self, dst, src, off, size):
        self._emit(LDX | MEM | SIZES[size], dst, src, off)

    def store(self, dst, off, src, size):
        self._emit(STX | MEM | SIZES[size], dst, src, off)

    def store_imm(self, dst, off, imm, size):
        self._emit(ST | MEM | SIZES[size], dst, off=off, imm=imm)

    def ld_map_fd(self, dst, fd):
        self._emit(LD | DW | IMM, dst, PSEUDO_MAP_FD, imm=fd)
        self._emit(0)

    def jump_if(self, op, dst, imm, label):
        self._emit(JMP | op | K, dst, off=label, imm=imm)

    def jump_if_reg(self, op, dst, src, label):
        self._emit(JMP | op | X, dst, src, off=label)

    def goto(self, label):
        self._emit(JMP | JA, off=label)

    def call(self, helper):
        self._emit(JMP | CALL, imm=helper)

    def exit(self):
        self._emit(JMP | EXIT)

    def stack_ptr(self, dst, off):
        """dst = a pointer `off` bytes into the stack (off < 0)."""
        self.mov(dst, R10)
        self.add_imm(dst, off)

    def code(self) -> bytes:
        out = bytearray()
        for i, (code, dst, src, off, imm) in enumerate(self.insns):
            if isinstance(off, str):
                off = self.labels[off] - i - 1  # jumps count from the next instruction
            out += struct.pack("<BBhi", code, (src << 4) | dst, off, imm)
        return bytes(out)


# ---- programs --------------------------------------------------------------------------------
def load_tracepoint_program(code: bytes, name: str, license: str = "Dual MIT/GPL",
                            prog_type: int = BPF_PROG_TYPE_TRACEPOINT) -> int:
    """BPF_PROG_LOAD of a tracepoint program (or a raw tracepoint one); the verifier's log is in
    the error if it refuses."""
    insns = ctypes.create_string_buffer(code, len(code))
    lic = ctypes.create_string_buffer(license.encode())
    log = ctypes.create_string_buffer(64 * 1024)

    def attempt(log_level):
        # prog_type, insn_cnt, insns, license, log_level, log_size, log_buf, kern_version, prog_flags,
        # prog_name[16]
        attr = _attr(("I", prog_type), ("I", len(code) // 8), ("Q", ctypes.addressof(insns)),
                     ("Q", ctypes.addressof(lic)), ("I", log_level), ("I", len(log) if log_level else 0),
                     ("Q", ctypes.addressof(log) if log_level else 0), ("I", 0), ("I", 0),
                     ("16s", name.encode()[:15]))
        return bpf(BPF_PROG_LOAD, attr)

    try:
        return _with_memlock(lambda: attempt(0))
    except OSError as e:
        if e.errno != errno.EACCES and e.errno != errno.EINVAL:
            raise
        try:  # load again only to have the verifier say why
            attempt(1)
        except OSError:
            pass
        why = log.value.decode(errors="replace").strip().splitlines()[-3:]
        raise OSError(e.errno, f"{e.strerror}: the verifier refused {name}: {' / '.join(why)}") from None


def tracefs() -> Optional[str]:
    for root in TRACEFS:
        if os.path.exists(f"{root}/events/sched/sched_switch/id"):
            return root
    return None


def tracepoint_id(root: str, category: str, event: str) -> int:
    with open(f"{root}/events/{category}/{event}/id") as f:
        return int(f.read())


def tracepoint_fields(root: str, category: str, event: str) -> Dict[str, Tuple[int, int]]:
    """{field: (offset, size)} from the event's format file: the layout of the program's context."""
    out = {}
    with open(f"{root}/events/{category}/{event}/format") as f:
        for line in f:
            line = line.strip()
            if not line.startswith("field:"):
                continue
            parts = dict(p.strip().split(":", 1) for p in line.split(";") if ":" in p)
            # "pid_t prev_pid", "char prev_comm[16]", "__data_loc char[] parent_comm"
            decl = re.sub(r"\[[^\]]*\]", "", parts["field"]).split()
            out[decl[-1]] = (int(parts["offset"]), int(parts["size"]))
    return out


def attach_tracepoint(tp_id: int, prog_fd: int) -> int:
    """perf_event_open of the tracepoint (any pid, CPU 0: a BPF program attached to a tracepoint
    event runs on every CPU), the program attached and enabled; the perf event's fd."""
    # perf_event_attr: type, size, config, sample_period, sample_type, read_format, flags...
    attr = _attr(("I", PERF_TYPE_TRACEPOINT), ("I", PERF_ATTR_SIZE), ("Q", tp_id), ("Q", 1), size=PERF_ATTR_SIZE)
    fd = _syscall(1, attr, ctypes.c_int(-1), ctypes.c_int(0), ctypes.c_int(-1), ctypes.c_ulong(PERF_FLAG_FD_CLOEXEC))
    try:
        import fcntl
        fcntl.ioctl(fd, PERF_EVENT_IOC_SET_BPF, prog_fd)
        fcntl.ioctl(fd, PERF_EVENT_IOC_ENABLE, 0)
    except OSError:
        os.close(fd)
        raise
    return fd


def attach_raw_tracepoint(name: str, prog_fd: int) -> int:
    """BPF_RAW_TRACEPOINT_OPEN: the raw tracepoint program attached to tracepoint `name`; the
    link's fd. Closing it detaches the program at once: closing a tracepoint's last perf event
    waits for the kernel's RCU grace periods (~75 ms each here, one per tracepoint)."""
    tp = ctypes.create_string_buffer(name.encode())
    # struct { u64 name; u32 prog_fd; }
    return bpf(BPF_RAW_TRACEPOINT_OPEN, _attr(("Q", ctypes.addressof(tp)), ("I", prog_fd), size=16))


# ---- BTF -------------------------------------------------------------------------------------
BTF_VMLINUX = "/sys/kernel/btf/vmlinux"
BTF_MAGIC, BTF_KIND_STRUCT = 0xEB9F, 4


def _mapped(f):
    """The file's bytes, mapped where the kernel lets its BTF be (since 6.16: the pages are the
    kernel's own, and only those searched are touched; 2-3 ms less than reading its 5 MB here),
    else read."""
    import mmap
    try:
        return mmap.mmap(f.fileno(), os.fstat(f.fileno()).st_size, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ)
    except (OSError, ValueError, OverflowError):  # an older kernel (EPERM), an empty or odd file
        return f.read()


def struct_member_offset(struct_name: str, member: str, path: str = BTF_VMLINUX) -> Optional[int]:
    """The byte offset of `member` in the kernel's `struct struct_name`, from its BTF (include/
    uapi/linux/btf.h), or None when there is no BTF or no single answer. The struct's record is
    found by its name's offset in the string section instead of a walk over every type (~100k:
    a tenth of a second in Python); a record starts at a multiple of 4 and says its kind."""
    try:
        with open(path, "rb") as f:
            data = _mapped(f)
        magic, _version, _flags, hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from("<HBBIIIII", data)
    except (OSError, struct.error):
        return None
    if magic != BTF_MAGIC:
        return None
    types, types_end = hdr_len + type_off, hdr_len + type_off + type_len  # searched in place: no copies
    strings, strings_end = hdr_len + str_off, hdr_len + str_off + str_len

    def name_offset(name: str) -> int:
        i = data.find(b"\0" + name.encode() + b"\0", strings, strings_end)
        return -1 if i < 0 else i + 1 - strings

    struct_off, member_off = name_offset(struct_name), name_offset(member)
    if struct_off < 0 or member_off < 0:
        return None
    # struct btf_type: name_off, info (vlen in bits 0-15, kind in 24-28, kflag 31), size: searched
    # for as the name's offset followed by a struct's info (the name's offset alone is also every
    # member's and typedef's of that name: ~100 hits, 2.5x the time)
    record = re.compile(re.escape(struct.pack("<I", struct_off)) + b"..\x00["
                        + bytes([BTF_KIND_STRUCT, BTF_KIND_STRUCT | 0x80]) + b"]", re.DOTALL)
    found = set()
    for m in record.finditer(data, types, types_end):
        i = m.start()
        if (i - types) % 4 or i + 12 > types_end:
            continue
        info = struct.unpack_from("<I", data, i + 4)[0]
        kind, vlen, bitfields = (info >> 24) & 0x1F, info & 0xFFFF, info >> 31
        if kind == BTF_KIND_STRUCT and i + 12 * (vlen + 1) <= types_end:
            for j in range(vlen):  # struct btf_member: name_off, type, offset (bits)
                name, _type, bits = struct.unpack_from("<III", data, i + 12 * (j + 1))
                bits = bits & 0xFFFFFF if bitfields else bits
                if name == member_off and bits % 8 == 0:
                    found.add(bits // 8)
    return found.pop() if len(found) == 1 else None

"""The BPF assembler's encoding, against the kernel's own instruction macros
(include/linux/filter.h: BPF_MOV64_IMM, BPF_LD_MAP_FD, BPF_JMP_IMM...), and the tracefs format
parser: no root or kernel needed."""
import struct

import pytest

from pyprof_carbon.sched import bpf_asm as A
from pyprof_carbon.sched import ebpf


def insns(code):
    return [struct.unpack("<BBhi", code[i:i + 8]) for i in range(0, len(code), 8)]


def test_encodings_match_the_kernel_macros():
    a = A.Asm()
    a.mov_imm(A.R0, 7)               # BPF_MOV64_IMM(R0, 7): 0xb7
    a.ld_map_fd(A.R1, 42)            # BPF_LD_MAP_FD(R1, 42): 0x18, src 1, then a zero half
    a.store(A.R10, -4, A.R0, 4)      # BPF_STX_MEM(BPF_W, R10, R0, -4): 0x63
    a.load(A.R2, A.R6, 24, 4)        # BPF_LDX_MEM(BPF_W, R2, R6, 24): 0x61
    a.store_imm(A.R10, -16, 1, 1)    # BPF_ST_MEM(BPF_B, R10, -16, 1): 0x72
    a.call(A.KTIME_GET_NS)           # BPF_EMIT_CALL(5): 0x85
    a.exit()                         # BPF_EXIT_INSN(): 0x95
    assert insns(a.code()) == [(0xB7, 0x00, 0, 7), (0x18, 0x11, 0, 42), (0, 0, 0, 0), (0x63, 0x0A, -4, 0),
                               (0x61, 0x62, 24, 0), (0x72, 0x0A, -16, 1), (0x85, 0, 0, 5), (0x95, 0, 0, 0)]


def test_jumps_resolve_to_offsets_from_the_next_instruction():
    a = A.Asm()
    a.jump_if(A.JEQ, A.R0, 0, "out")  # over the two-instruction load and one more
    a.ld_map_fd(A.R1, 3)
    a.mov(A.R2, A.R10)
    a.label("out")
    a.goto("top")
    a.label("top")
    a.exit()
    got = insns(a.code())
    assert got[0] == (0x15, 0x00, 3, 0)  # BPF_JMP_IMM(BPF_JEQ, R0, 0, 3)
    assert got[4] == (0x05, 0x00, 0, 0)  # BPF_JMP_A(0)


def test_programs_end_in_exit_and_use_the_offsets_given():
    code = ebpf.switch_program(3, 4, 5, ebpf.Record({"prev_pid": 24, "next_pid": 56}))
    got = insns(code)
    assert got[-1] == (0x95, 0, 0, 0)
    ctx_loads = {off for op, regs, off, _ in got if op == 0x61 and regs >> 4 == A.R6}
    assert ctx_loads == {24, 56}
    maps = {imm for op, regs, _, imm in got if op == 0x18 and regs >> 4 == A.PSEUDO_MAP_FD}
    assert maps == {3, 4, 5}
    # the exit program reads group_dead only where the kernel has it
    with_gd = insns(ebpf.exit_program(3, 4, 5, ebpf.Record({"pid": 24, "group_dead": 32})))
    without = insns(ebpf.exit_program(3, 4, 5, ebpf.Record({"pid": 24})))
    assert (0x71, 0x61, 32, 0) in with_gd  # BPF_LDX_MEM(BPF_B, R1, R6, 32)
    assert not any(op == 0x71 for op, *_ in without)
    # it commits the exiting thread's interval: it uses the CPU states too
    assert {imm for op, regs, _, imm in with_gd if op == 0x18 and regs >> 4 == A.PSEUDO_MAP_FD} == {3, 4, 5}


def test_tracefs_format_parser(tmp_path):
    d = tmp_path / "events" / "sched" / "sched_process_fork"
    d.mkdir(parents=True)
    (d / "format").write_text(
        "name: sched_process_fork\nID: 366\nformat:\n"
        "\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n"
        "\tfield:__data_loc char[] parent_comm;\toffset:8;\tsize:4;\tsigned:0;\n"
        "\tfield:char comm[16];\toffset:8;\tsize:16;\tsigned:0;\n"
        "\tfield:pid_t child_pid;\toffset:20;\tsize:4;\tsigned:1;\n")
    f = A.tracepoint_fields(str(tmp_path), "sched", "sched_process_fork")
    assert f["child_pid"] == (20, 4) and f["parent_comm"] == (8, 4) and f["comm"] == (8, 16)


def test_raw_programs_read_pids_through_the_task_pointers():
    """Raw tracepoint programs: prev is the current task; next is the third argument (ctx + 16),
    its pid read with bpf_probe_read_kernel at task_struct's pid offset; group_dead is the
    second argument of sched_process_exit."""
    got = insns(ebpf.switch_program(3, 4, 5, ebpf.RawArgs(ebpf.RAW_SWITCH, pid_offset=1264)))
    assert (0x79, 0x63, 16, 0) in got      # BPF_LDX_MEM(BPF_DW, R3, R6, 16): next
    assert (0x07, 0x03, 0, 1264) in got    # BPF_ALU64_IMM(BPF_ADD, R3, 1264): &next->pid
    assert (0x85, 0, 0, A.PROBE_READ_KERNEL) in got
    assert not any(op == 0x61 and regs >> 4 == A.R6 for op, regs, *_ in got)  # no record fields
    fork = insns(ebpf.fork_program(4, 5, ebpf.RawArgs(ebpf.RAW_FORK, pid_offset=1264)))
    assert (0x79, 0x63, 8, 0) in fork      # the child: the second argument
    exit_ = insns(ebpf.exit_program(3, 4, 5, ebpf.RawArgs(ebpf.RAW_EXIT_GROUP_DEAD, pid_offset=1264)))
    assert (0x79, 0x61, 8, 0) in exit_     # BPF_LDX_MEM(BPF_DW, R1, R6, 8): group_dead


def btf_blob(members, struct_name="task_struct", pad_types=b"", kflag=False):
    """A minimal BTF: an INT type, then `struct_name` with `members` ((name, bit offset)...);
    `kflag`: the struct has bitfields (member offsets in the low 24 bits, sizes above)."""
    import struct as st
    strings = b"\0int\0" + struct_name.encode() + b"\0" + b"".join(n.encode() + b"\0" for n, _ in members)
    off = {"int": 1, struct_name: 5}
    pos = 6 + len(struct_name)
    for n, _ in members:
        off[n] = pos
        pos += len(n) + 1
    types = pad_types + st.pack("<III", off["int"], 1 << 24, 4) + st.pack("<I", 0x20)  # INT, 32 bits
    types += st.pack("<III", off[struct_name], (kflag << 31) | (4 << 24) | len(members), 4096)
    for n, bits in members:
        types += st.pack("<III", off[n], 1, bits | ((3 << 24) if kflag else 0))
    hdr = st.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types), len(strings))
    return hdr + types + strings


@pytest.mark.parametrize("mapped", [True, False], ids=["mapped", "read"])
def test_struct_member_offset_from_btf(tmp_path, monkeypatch, mapped):
    if not mapped:  # a kernel before 6.16 refuses to map its BTF (EPERM): the file is read instead
        import mmap

        def refused(*args, **kwargs):
            raise PermissionError(1, "Operation not permitted")
        monkeypatch.setattr(mmap, "mmap", refused)
    p = tmp_path / "vmlinux"
    p.write_bytes(btf_blob([("state", 0), ("pid", 1264 * 8), ("tgid", 1268 * 8)]))
    assert A.struct_member_offset("task_struct", "pid", str(p)) == 1264
    assert A.struct_member_offset("task_struct", "tgid", str(p)) == 1268
    assert A.struct_member_offset("task_struct", "comm", str(p)) is None  # no such member
    assert A.struct_member_offset("mm_struct", "pid", str(p)) is None
    p.write_bytes(btf_blob([("state", 0), ("pid", 1264 * 8)], kflag=True))
    assert A.struct_member_offset("task_struct", "pid", str(p)) == 1264
    p.write_bytes(b"\0" * 64)
    assert A.struct_member_offset("task_struct", "pid", str(p)) is None  # not BTF
    p.write_bytes(b"")
    assert A.struct_member_offset("task_struct", "pid", str(p)) is None
    assert A.struct_member_offset("task_struct", "pid", str(tmp_path / "absent")) is None

"""A corpus of specific bad recordings: each is refused with the one-line error and exit 2, by
`report` (text and json) and by `diff`, and the reader never inflates more than the caps."""
import os
import zipfile

import numpy as np
import pytest

from pyprof_carbon import recording_check
from pyprof_carbon.errors import UserError
from pyprof_carbon.recording import VERSION, load
from recording_mutations import (cli, json_member, load_npy, make_real_recording,
                                 members, npy, npy_header_claiming, read_json_member, refused, write_members,
                                 zip_bomb)


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    return make_real_recording(str(tmp_path_factory.mktemp("good")))


def mutated(tmp_path, good, name="bad.pcarbon", **changes):
    items = members(good)
    for member, data in changes.items():
        member = member.replace("__", ".") + ".npy"
        if data is None:
            del items[member]
        else:
            items[member] = data
    return write_members(str(tmp_path / name), items)


def patched_meta(good, **patch):
    meta = read_json_member(members(good)["meta.json.npy"])
    meta.update(patch)
    return json_member(meta)


def test_the_good_recording_reads(good):
    assert cli(["report", good, "--format", "json"])[0] == 0
    assert cli(["diff", good, good])[0] == 0


def test_empty_file(tmp_path, good):
    p = tmp_path / "empty.pcarbon"
    p.write_bytes(b"")
    assert refused(str(p), good) == "the file is empty"


def test_not_a_zip(tmp_path, good):
    p = tmp_path / "text.pcarbon"
    p.write_text("hello")
    refused(str(p), good, "not a zip archive")


def test_truncated(tmp_path, good):
    data = open(good, "rb").read()
    for keep in (len(data) // 3, len(data) - 10):
        p = tmp_path / f"trunc{keep}.pcarbon"
        p.write_bytes(data[:keep])
        refused(str(p), good)


def test_one_bit_flipped_in_compressed_data(tmp_path, good):
    data = bytearray(open(good, "rb").read())
    with zipfile.ZipFile(good) as z:
        infos = z.infolist()
    for info in infos:
        start = info.header_offset + 30 + len(info.filename) + len(info.extra)
        pos = start + info.compress_size // 2
        flipped = bytearray(data)
        flipped[pos] ^= 0x08
        p = tmp_path / "flip.pcarbon"
        p.write_bytes(bytes(flipped))
        refused(str(p), good)  # the CRC, or the deflate stream, catches it


@pytest.mark.parametrize("member", ["meta.json", "functions.json", "s_t_ns", "s_stack", "stack_offsets",
                                    "stack_func", "e_0_j", "e_1_t_ns", "sched_busy_ns"])
def test_member_removed(tmp_path, good, member):
    p = mutated(tmp_path, good, **{member.replace(".", "__"): None})
    assert refused(p, good) == f"member {member} is missing"


@pytest.mark.parametrize("garbage", [b"{not json", b"\xff\xfe\x00", b"[1, 2", b"NaN", b"{\"a\": Infinity}"])
def test_garbled_json(tmp_path, good, garbage):
    arr = npy(np.frombuffer(garbage, np.uint8))
    refused(mutated(tmp_path, good, meta__json=arr), good, "meta.json is not valid JSON")
    refused(mutated(tmp_path, good, functions__json=arr), good, "functions.json is not valid JSON")


def test_json_of_the_wrong_shape(tmp_path, good):
    refused(mutated(tmp_path, good, meta__json=json_member([1, 2])), good, "meta.json is not an object")
    refused(mutated(tmp_path, good, functions__json=json_member({"a": 1})), good, "functions.json is not a list")
    refused(mutated(tmp_path, good, functions__json=json_member([["f", "f", "x.py"]])), good,
            "functions.json entry 0")
    refused(mutated(tmp_path, good, functions__json=json_member([[1, "f", "x.py", 3]])), good,
            "functions.json entry 0")
    for key, value in (("domains", {"x": 1}), ("sched", None), ("threads", [{"tid": "one"}]),
                       ("intensity", {"g_per_kwh": -1}), ("pue", 0.5),
                       ("command", "python x.py"), ("duration_s", -3), ("baseline_w", {"package": "a"}),
                       ("attribution", "everything")):
        refused(mutated(tmp_path, good, meta__json=patched_meta(good, **{key: value})), good, key)


@pytest.mark.parametrize("version", ["1", None, 1.0, True, 0, -1, [1]])
def test_format_version_not_a_whole_number(tmp_path, good, version):
    p = mutated(tmp_path, good, meta__json=patched_meta(good, format_version=version))
    assert "format_version is" in refused(p, good)


def test_newer_format_version_says_upgrade(tmp_path, good):
    p = mutated(tmp_path, good, meta__json=patched_meta(good, format_version=VERSION + 1))
    assert "newer pyprof-carbon" in refused(p, good)


def test_wrong_format_name(tmp_path, good):
    refused(mutated(tmp_path, good, meta__json=patched_meta(good, format="something else")), good, "format")


def test_two_dimensional_and_mismatched_arrays(tmp_path, good):
    m = members(good)
    t = load_npy(m["s_t_ns.npy"])
    refused(mutated(tmp_path, good, s_t_ns=npy(np.stack([t, t]))), good, "expected one dimension")
    refused(mutated(tmp_path, good, s_tid=npy(load_npy(m["s_tid.npy"])[:-1])), good, "s_tid has")
    refused(mutated(tmp_path, good, e_0_j=npy(load_npy(m["e_0_j.npy"])[:-1])), good, "e_0_j has")
    refused(mutated(tmp_path, good, stack_line=npy(load_npy(m["stack_line.npy"])[:-1])), good, "stack_line has")


def test_wrong_dtypes(tmp_path, good):
    m = members(good)
    t = load_npy(m["s_t_ns.npy"])
    refused(mutated(tmp_path, good, s_t_ns=npy(t.astype(np.float64))), good, "dtype")
    refused(mutated(tmp_path, good, s_t_ns=npy(t.astype(str))), good, "dtype")
    refused(mutated(tmp_path, good, e_0_j=npy(load_npy(m["e_0_j.npy"]).astype(np.complex128))), good, "dtype")
    refused(mutated(tmp_path, good, meta__json=npy(np.zeros(3, np.int32))), good, "dtype")


def test_big_endian_and_narrower_ints_still_read(tmp_path, good):
    m = members(good)
    p = mutated(tmp_path, good, s_t_ns=npy(load_npy(m["s_t_ns.npy"]).astype(">i8")),
                s_stack=npy(load_npy(m["s_stack.npy"]).astype(np.int16)))
    assert cli(["report", p, "--format", "json"])[0] == 0
    np.testing.assert_array_equal(load(p).samples["t_ns"], load(good).samples["t_ns"])


def test_index_out_of_range(tmp_path, good):
    m = members(good)
    stack = load_npy(m["s_stack.npy"]).copy()
    n_stacks = len(load_npy(m["stack_offsets.npy"])) - 1
    stack[0] = n_stacks
    refused(mutated(tmp_path, good, s_stack=npy(stack)), good, "s_stack has a stack index outside")
    func = load_npy(m["stack_func.npy"]).copy()
    func[0] = -1
    refused(mutated(tmp_path, good, stack_func=npy(func)), good, "stack_func has a function index outside")
    func[0] = 10**6
    refused(mutated(tmp_path, good, stack_func=npy(func)), good, "stack_func has a function index outside")
    off = load_npy(m["stack_offsets.npy"]).copy()
    off[-1] += 1
    refused(mutated(tmp_path, good, stack_offsets=npy(off)), good, "stack_offsets")
    tid = load_npy(m["s_tid.npy"]).copy()
    tid[0] = 0
    refused(mutated(tmp_path, good, s_tid=npy(tid)), good, "s_tid has a thread id")


def test_decreasing_cumulative_energy_and_counters(tmp_path, good):
    m = members(good)
    j = load_npy(m["e_0_j.npy"]).copy()
    j[-1] = j[-2] - 1.0
    refused(mutated(tmp_path, good, e_0_j=npy(j)), good, "e_0_j (")
    j[-1] = np.nan
    refused(mutated(tmp_path, good, e_0_j=npy(j)), good, "not a finite number of joules")
    busy = load_npy(m["sched_busy_ns.npy"]).copy()
    busy[-1] = -5
    refused(mutated(tmp_path, good, sched_busy_ns=npy(busy)), good, "sched_busy_ns decreases")
    t = load_npy(m["e_1_t_ns.npy"]).copy()
    t[1], t[2] = t[2], t[1]
    refused(mutated(tmp_path, good, e_1_t_ns=npy(t)), good, "not in time order")


def test_npy_header_claiming_1e15_elements(tmp_path, good):
    p = mutated(tmp_path, good, s_t_ns=npy_header_claiming(10**15))
    assert "claims 1,000,000,000,000,000 elements" in refused(p, good)


def test_zip_bomb_refused_from_the_header(tmp_path, good, monkeypatch):
    p = zip_bomb(str(tmp_path / "bomb.pcarbon"))
    with zipfile.ZipFile(p) as z:  # a genuine bomb: a valid npy that keeps inflating
        info = z.getinfo("s_t_ns.npy")
        assert info.file_size > 2 * 10**9 and info.compress_size < 3 * 10**6
        with z.open(info) as f:
            assert f.read(6) == b"\x93NUMPY" and f.read(1 << 20)[-100:] == bytes(100)
    opened = []
    real_open = zipfile.ZipFile.open
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda self, *a, **k: opened.append(self.filename) or real_open(self, *a, **k))
    assert "would inflate to 2,147,483,776 bytes" in refused(p, good)
    assert p not in opened  # refused from the central directory: no member of it opened


def test_ratio_beyond_deflate_is_refused(tmp_path):
    """A header that claims more than deflate can produce is a lie, whatever the absolute size."""
    p = write_members(str(tmp_path / "r.pcarbon"), {"s_t_ns.npy": bytes(100_000)})
    data = bytearray(open(p, "rb").read())
    with zipfile.ZipFile(p) as z:
        info = z.getinfo("s_t_ns.npy")
    claimed = (info.compress_size * recording_check.MAX_RATIO + recording_check.RATIO_SLACK + 1).to_bytes(4, "little")
    cd = data.rindex(b"PK\x01\x02")
    data[cd + 24:cd + 28] = claimed
    data[info.header_offset + 22:info.header_offset + 26] = claimed
    (tmp_path / "r.pcarbon").write_bytes(bytes(data))
    with pytest.raises(UserError, match="more than deflate can compress"):
        load(p)


def test_directory_and_missing_file_are_one_line(tmp_path, good):
    rc, _, err = cli(["report", str(tmp_path)])
    assert rc == 2 and err.count("\n") == 1 and err.startswith("pyprof-carbon: error: ")
    rc, _, err = cli(["report", str(tmp_path / "nope.pcarbon")])
    assert rc == 2 and "no such recording" in err and err.count("\n") == 1


@pytest.mark.parametrize("bit", [0x01, 0x20, 0x40])
def test_zip_flags_zipfile_cannot_read(tmp_path, good, bit):
    """Encrypted, patched or strongly encrypted members: zipfile raises NotImplementedError or
    RuntimeError for these; they must end in the one line too."""
    data = bytearray(open(good, "rb").read())
    cd = data.index(b"PK\x01\x02")
    data[cd + 8] |= bit
    p = tmp_path / "flags.pcarbon"
    p.write_bytes(bytes(data))
    refused(str(p), good)


def test_fifo_and_device_are_refused_without_blocking(tmp_path, good):
    fifo = tmp_path / "fifo.pcarbon"
    os.mkfifo(fifo)
    assert refused(str(fifo), good) == "it is not a regular file"
    assert refused("/dev/zero", good) == "it is not a regular file"


def test_a_member_name_with_a_newline_stays_one_line(tmp_path, good):
    items = members(good)
    items["evil\nname\x1b[2J.npy"] = items.pop("s_cpu.npy")
    p = write_members(str(tmp_path / "n.pcarbon"), items)
    assert refused(p, good) == "member s_cpu is missing"
    p = str(tmp_path / "m.pcarbon")
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("x\ny\x1b[2J.npy", b"data", compress_type=zipfile.ZIP_BZIP2)
    assert refused(p, good) == "member x\\ny\\x1b[2J.npy uses an unsupported compression (12)"

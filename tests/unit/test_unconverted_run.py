"""A run saved unconverted (`run -q`: pyprof_carbon/unconverted.py): it reads back as a full
recording, the meters' arithmetic survives its trip through JSON, and a bad file is the one line
of error and exit 2 from every command that reads it, as a converted recording's is."""
import json

import numpy as np
import pytest

import pyprof_carbon
from fakes.msr import FakeMsr, FakeMsrWriter
from fakes.powercap import FakePowercap, FakeRaplWriter, collect_ticks
from pyprof_carbon import recording_check, unconverted
from pyprof_carbon.counters import Ticks
from pyprof_carbon.errors import UserError
from pyprof_carbon.meters.base import energy_from
from pyprof_carbon.meters.model import ModelMeter
from pyprof_carbon.meters.msr import RaplMsr
from pyprof_carbon.meters.powercap import RaplPowercap
from pyprof_carbon.meters.select import Subset
from pyprof_carbon.recording import SchedTimeline, load as load_converted
from recording_mutations import assert_ok_or_invalid, cli, make_real_recording, members, refused, write_members


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    return make_real_recording(str(tmp_path_factory.mktemp("unconverted")), unconverted=True)


def header_of(path):
    return json.loads(members(path)[unconverted.HEADER])


def with_header(tmp_path, good, header, name="bad.pcarbon", items=None):
    items = items or members(good)
    items[unconverted.HEADER] = json.dumps(header).encode()
    return write_members(str(tmp_path / name), items)


def first_batch(good):
    """(the header, the first process's first batch's arrays by name)."""
    h, data, at, arrays = header_of(good), members(good)["p0/0"], 0, {}
    for name, size in h["processes"][0]["batches"][0]["arrays"]:
        arrays[name], at = data[at:at + size], at + size
    return h, arrays


def with_first_batch(tmp_path, good, header, arrays, name):
    """The good file with the first batch's arrays (and their sizes in the header) replaced."""
    header["processes"][0]["batches"][0]["arrays"] = [[k, len(v)] for k, v in arrays.items()]
    items = members(good)
    items["p0/0"] = b"".join(arrays.values())
    return with_header(tmp_path, good, header, name, items)


# ---- the good file ----------------------------------------------------------------------------

def test_run_q_saves_the_run_unconverted_and_it_reads_as_a_recording(good):
    assert unconverted.is_unconverted(good)
    names = set(members(good))
    assert unconverted.HEADER in names and "p0/0" in names and "meta.json.npy" not in names
    rec = pyprof_carbon.load(good)
    assert rec.n_samples > 0 and rec.meta["samples"] == rec.n_samples
    assert rec.meta["exit_status"] == 0 and rec.meta["processes"][0]["exit_status"] == 0
    assert rec.meta["pue"] == 1.0 and rec.meta["profiler_process_cpu_s"] >= 0
    assert {d.name for d in rec.domains} == {"package", "dram"} and rec.sched.backend in ("ebpf", "perf", "procfs")
    assert rec.energy["package"].energy_j[-1] > 0 and rec.sched.process_cpu_ns[-1] > 0
    # what only the run's machine knew is the run's, not the reader's, and stays the same
    again = pyprof_carbon.load(good)
    assert rec.meta["run_id"] == again.meta["run_id"] and rec.meta["hostname"] == header_of(good)["about"]["hostname"]
    assert np.array_equal(rec.samples["t_ns"], again.samples["t_ns"])
    assert cli(["report", good, "--format", "json"])[0] == 0 and cli(["diff", good, good])[0] == 0


def test_version_1_still_reads(tmp_path, good):
    """Version 1 held one part per process, each array its own member p<i>/<name>."""
    h, arrays = first_batch(good)
    assert len(h["processes"]) == 1 and len(h["processes"][0]["batches"]) == 1
    p = h["processes"][0]
    p["results"], p["arrays"] = p["batches"][0]["results"], list(arrays)
    del p["batches"]
    h["version"] = 1
    items = {k: v for k, v in members(good).items() if k != "p0/0"}
    items.update({f"p0/{name}": data for name, data in arrays.items()})
    old, new = pyprof_carbon.load(with_header(tmp_path, good, h, "v1.pcarbon", items)), pyprof_carbon.load(good)
    assert old.n_samples == new.n_samples and old.functions == new.functions
    assert np.array_equal(old.samples["t_ns"], new.samples["t_ns"])
    assert np.array_equal(old.energy["package"].energy_j, new.energy["package"].energy_j)


def test_the_converted_reader_names_the_loader_that_reads_it(good):
    with pytest.raises(UserError, match=r"saved unconverted \(`run -q`\)"):
        load_converted(good)


# ---- the meters' arithmetic as plain data ------------------------------------------------------

def through_json(meter):
    return json.loads(json.dumps(meter.arithmetic()))


def same_energy(a, b):
    assert a.keys() == b.keys()
    for d in a:
        assert np.array_equal(a[d].t_ns, b[d].t_ns) and np.array_equal(a[d].energy_j, b[d].energy_j), d


def test_powercap_arithmetic_wraps_as_the_meter_does(tmp_path):
    fake = (FakePowercap(tmp_path).control_type_dir()
            .socket(0, watts=40, core_w=25, dram_w=6, max_uj=10_000_000, start_uj=9_000_000)
            .socket(1, watts=30, core_w=20, dram_w=5, max_uj=10_000_000, start_uj=5_000_000))
    m = RaplPowercap(root=fake.root)
    m.open()
    with FakeRaplWriter(fake.zones):
        ticks = collect_ticks(m, 0.4)
    same_energy(energy_from(through_json(m), ticks, None), m.energy(ticks, None))
    kept = Subset(m, ["dram"])
    same_energy(energy_from(through_json(kept), ticks, None), kept.energy(ticks, None))
    m.close()


def test_msr_arithmetic_keeps_units_and_the_32_bit_wrap(tmp_path):
    fake = FakeMsr(tmp_path, model=0x55, packages=2, esu=14).intel(psys_w=90.0, dram_esu=16)
    m = RaplMsr(root=fake.root, cpuinfo=fake.cpuinfo, cpu_root=fake.cpu_root)
    m.open()
    with FakeMsrWriter(fake):
        ticks = collect_ticks(m, 0.4)
    same_energy(energy_from(through_json(m), ticks, None), m.energy(ticks, None))
    m.close()


def test_model_arithmetic_is_the_model():
    m = ModelMeter(cpu_watts=37.0, ncpu=3)
    m.open()
    t = np.arange(0, 50_000_000, 10_000_000, dtype=np.int64)
    tl = SchedTimeline(t, np.array([0, 5, 12, 20, 30]) * 1_000_000, t // 2, t // 10, ncpu=3, backend="procfs")
    ticks = Ticks(t, np.zeros((len(t), 0), dtype=np.uint64), {})
    same_energy(energy_from(through_json(m), ticks, tl), m.energy(ticks, tl))
    assert through_json(m)["p_max_w"] == 37.0


# ---- bad files ----------------------------------------------------------------------------------

def test_not_json_and_not_ours(tmp_path, good):
    items = members(good)
    items[unconverted.HEADER] = b"{not json"
    refused(write_members(str(tmp_path / "a.pcarbon"), items), good, "JSONDecodeError")
    refused(with_header(tmp_path, good, dict(header_of(good), format="something else"), "b.pcarbon"), good,
            "not an unconverted run")
    refused(with_header(tmp_path, good, dict(header_of(good), version=99), "c.pcarbon"), good, "version 99")
    refused(with_header(tmp_path, good, dict(header_of(good), version=1), "e.pcarbon"), good)  # not laid out as 1
    refused(with_header(tmp_path, good, [1, 2], "d.pcarbon"), good)


@pytest.mark.parametrize("change", ["no processes", "no batches", "negative size", "no codes", "bad thread names", "bad base64", "bad meter",
                                    "bad backend", "columns out of range", "codes cut"])
def test_a_header_that_lies(tmp_path, good, change):
    h = header_of(good)
    p = h["processes"][0]
    if change == "no processes":
        h["processes"] = []
    elif change == "no batches":
        p["batches"] = []
    elif change == "negative size":
        p["batches"][0]["arrays"][0][1] = -8
    elif change == "no codes":
        del p["batches"][0]["results"]["codes"]
    elif change == "bad thread names":
        p["thread_names"] = [[1, 2, 3]]
    elif change == "bad base64":
        p["batches"][0]["results"]["stats"] = {"$b": "not base64!"}
    elif change == "bad meter":
        h["meters"][0]["kind"] = "perpetual motion"
    elif change == "bad backend":
        h["sched"]["backend"] = "crystal ball"
    elif change == "columns out of range":
        h["settings"]["columns"] = {k: [900, 999] for k in h["settings"]["columns"]}
    else:  # the stacks name code objects that are not there
        p["batches"][0]["results"]["codes"] = []
    refused(with_header(tmp_path, good, h), good)


def test_array_members_missing_or_cut(tmp_path, good):
    items = members(good)
    del items["p0/0"]
    refused(write_members(str(tmp_path / "a.pcarbon"), items), good, "p0/0")
    items = members(good)
    items["p0/0"] = items["p0/0"][:-3]
    refused(write_members(str(tmp_path / "b.pcarbon"), items), good, "do not fill their member p0/0")
    h, arrays = first_batch(good)
    arrays["t_ns"] = arrays["t_ns"][:-3]  # not a whole number of int64
    refused(with_first_batch(tmp_path, good, h, arrays, "c.pcarbon"), good)
    h, arrays = first_batch(good)
    arrays["stack"] = np.full(len(arrays["stack"]) // 4, 2 ** 30, dtype=np.int32).tobytes()
    refused(with_first_batch(tmp_path, good, h, arrays, "d.pcarbon"), good)


def test_the_size_caps_apply_before_anything_inflates(good, monkeypatch):
    # the same member table as a converted recording's (recording_check.archive): a member over
    # the cap is refused from its header's claim, before it is read
    biggest = max(len(v) for v in members(good).values())
    monkeypatch.setattr(recording_check, "MAX_MEMBER_BYTES", biggest - 1)
    with pytest.raises(UserError, match="would inflate"):
        unconverted.load(good)


def test_every_member_with_a_byte_flipped(tmp_path, good):
    raw = open(good, "rb").read()
    for k in range(40, len(raw) - 40, max(1, len(raw) // 25)):
        bad = bytearray(raw)
        bad[k] ^= 0x5A
        path = tmp_path / f"flip{k}.pcarbon"
        path.write_bytes(bytes(bad))
        for argv in (["report", str(path), "--format", "json"], ["diff", good, str(path)]):
            assert_ok_or_invalid(cli(argv), str(path))

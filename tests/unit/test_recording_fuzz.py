"""Fuzzing the recording reader through the CLI: mutate a real recording (bytes, members, JSON,
arrays) and check that `report --format text|json` and `diff` either succeed or refuse the file
with exactly the one-line error and exit 2 (never a traceback, never an escaping exception).

The default budget is small for CI; PYPROF_CARBON_FUZZ_EXAMPLES=5000 runs longer (docs/reliability.md).
"""
import json
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from recording_mutations import (assert_ok_or_invalid, cli, json_member, load_npy, make_real_recording,
                                 members, npy, read_json_member, write_members)

EXAMPLES = int(os.environ.get("PYPROF_CARBON_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=not os.environ.get("PYPROF_CARBON_FUZZ_RANDOM"),
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
COUNTS = {"ran": 0, "refused": 0}

_cache = {}


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzz")
    path = make_real_recording(str(d))
    _cache.update(bytes=open(path, "rb").read(), members=members(path), dir=str(d))
    yield path
    print(f"\nfuzz: {COUNTS['ran']} mutated recordings, {COUNTS['refused']} refused with the one line")


def check(good, data: bytes):
    path = os.path.join(_cache["dir"], "mutant.pcarbon")
    with open(path, "wb") as f:
        f.write(data)
    results = [cli(["report", path, "--format", "text"]), cli(["report", path, "--format", "json"]),
               cli(["diff", good, path])]
    verdicts = {assert_ok_or_invalid(r, path) for r in results}
    assert len(verdicts) == 1, results  # the three commands agree on whether the file is valid
    if results[1][0] == 0:
        json.loads(results[1][1])
    COUNTS["ran"] += 1
    COUNTS["refused"] += verdicts.pop()


def rezip(items) -> bytes:
    path = os.path.join(_cache["dir"], "rezip.pcarbon")
    write_members(path, items)
    return open(path, "rb").read()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=8)


@st.composite
def byte_mutation(draw):
    data = bytearray(_cache["bytes"])
    kind = draw(st.sampled_from(["flip", "truncate", "overwrite"]))
    note(f"bytes: {kind}")
    if kind == "flip":
        for pos in draw(st.lists(st.integers(0, len(data) * 8 - 1), min_size=1, max_size=4)):
            data[pos // 8] ^= 1 << (pos % 8)
    elif kind == "truncate":
        data = data[:draw(st.integers(0, len(data) - 1))]
    else:
        pos = draw(st.integers(0, len(data) - 1))
        junk = draw(st.binary(min_size=1, max_size=16))
        data[pos:pos + len(junk)] = junk
    return bytes(data)


@st.composite
def member_mutation(draw):
    items = dict(_cache["members"])
    names = sorted(items)
    kind = draw(st.sampled_from(["remove", "swap", "random_npy", "raw_bytes"]))
    name = draw(st.sampled_from(names))
    note(f"member {name}: {kind}")
    if kind == "remove":
        del items[name]
    elif kind == "swap":
        items[name] = items[draw(st.sampled_from(names))]
    elif kind == "random_npy":
        dtype = draw(st.sampled_from(["<i8", ">i8", "<i4", "<i2", "<u8", "<f8", "<f4", "|u1", "|b1", "<c16", "<U3"]))
        shape = draw(st.sampled_from([(0,), (1,), (3,), (2, 2), (), (5,)]))
        values = draw(st.lists(st.integers(-2**31, 2**31), min_size=1, max_size=8))
        arr = np.resize(np.array(values), shape) if shape != () else np.array(values[0])
        items[name] = npy(arr.astype(dtype))
        note(f"-> {dtype} {shape} {values}")
    else:
        items[name] = draw(st.binary(max_size=64))
    return rezip(items)


@st.composite
def json_mutation(draw):
    items = dict(_cache["members"])
    which = draw(st.sampled_from(["meta.json.npy", "functions.json.npy"]))
    doc = read_json_member(items[which])
    kind = draw(st.sampled_from(["set", "delete", "garble", "replace_doc"]))
    note(f"{which}: {kind}")
    if kind == "garble":
        raw = bytearray(json.dumps(doc).encode())
        pos = draw(st.integers(0, len(raw)))
        raw[pos:pos] = draw(st.binary(min_size=1, max_size=4))
        items[which] = npy(np.frombuffer(bytes(raw), np.uint8))
        return rezip(items)
    if kind == "replace_doc":
        doc = draw(json_values)
    elif isinstance(doc, dict):
        key = draw(st.sampled_from(sorted(doc)))
        if kind == "delete":
            del doc[key]
        else:
            doc[key] = draw(json_values)
    elif doc:
        i = draw(st.integers(0, len(doc) - 1))
        if kind == "delete":
            del doc[i]
        else:
            doc[i][draw(st.integers(0, 3))] = draw(json_values)
    note(f"document: {json.dumps(doc)[:300]}")
    items[which] = json_member(doc)
    return rezip(items)


@st.composite
def array_mutation(draw):
    items = dict(_cache["members"])
    name = draw(st.sampled_from(sorted(n for n in items if not n.endswith(".json.npy"))))
    arr = load_npy(items[name]).copy()
    kind = draw(st.sampled_from(["set", "reverse", "drop", "two_d", "astype"]))
    if kind == "set" and len(arr):
        v = draw(st.integers(-2**40, 2**40) | st.sampled_from([-1, 0, 1, 2**31 - 1]))
        if arr.dtype.kind in "iu":
            v = int(np.clip(v, np.iinfo(arr.dtype).min, np.iinfo(arr.dtype).max))
        if arr.dtype.kind == "f":
            v = draw(st.floats() | st.just(float(v)))  # NaN, infinities, 1e308 too
        arr[draw(st.integers(0, len(arr) - 1))] = v
    elif kind == "reverse":
        arr = arr[::-1]
    elif kind == "drop":
        arr = arr[:-1]
    elif kind == "two_d" and len(arr) % 2 == 0:
        arr = arr.reshape(2, -1)
    elif kind == "astype":
        arr = arr.astype(draw(st.sampled_from([np.float64, np.int8, np.uint64, np.float32])))
    note(f"{name}: {kind} -> {arr.dtype} {arr.shape} {arr.ravel()[:20]}")
    items[name] = npy(arr)
    return rezip(items)


@pytest.mark.parametrize("mutation", [byte_mutation, member_mutation, json_mutation, array_mutation],
                         ids=["bytes", "members", "json", "arrays"])
@FUZZ
@given(data=st.data())
def test_fuzz(good, mutation, data):
    check(good, data.draw(mutation(), label=mutation.__name__))

"""The end of a run holds a bounded number of bytes per sample (issue 14, item 4): a long run's
stream is read once into compact columns, which become the recording's without further copies,
and attribution's per-sample steps work in chunks. Measured with tracemalloc, which sees numpy's
arrays and Python's bytes alike, on a synthetic stream of many 50 ms parts: deterministic, and
each bound is well above what the code needs now and well below what a copy too many costs."""
import json
import os
import tracemalloc
import zipfile

import numpy as np

from pyprof_carbon import process_stream, unconverted
from pyprof_carbon.attribution import attribute
from pyprof_carbon.profiler import decoded, merge_processes
from synthetic import recording

PARTS, PER_PART = 120, 1000  # 120,000 samples, streamed as a 5 kHz run's 50 ms parts would be
RAW_BYTES = 8 + 8 + 4 + 2 + 4 + 4 + 1  # t, cpu time, tid, cpu, stack, nvcsw, native: one sample as streamed


def part(i: int, rng) -> dict:
    """One flush's raw_results() (csrc/module.cpp): the first part brings the code objects,
    locations and stacks; later ones only samples and ticks."""
    n, first = PER_PART, i == 0
    t = np.sort(rng.integers(0, 50_000_000, n)).astype(np.uint64) + np.uint64(i * 50_000_000)
    stacks = [[0, 1], [2, 1]] if first else []
    offsets = np.concatenate(([0], np.cumsum([len(s) for s in stacks]))).astype(np.int64)
    return {
        "t_ns": t.tobytes(), "cpu_ns": np.full(n, 200_000, np.uint64).tobytes(),
        "tid": rng.integers(100, 103, n).astype(np.int32).tobytes(), "cpu": np.zeros(n, np.int16).tobytes(),
        "stack": rng.integers(0, 2, n).astype(np.int32).tobytes(), "nvcsw": np.zeros(n, np.uint32).tobytes(),
        "native": np.zeros(n, np.uint8).tobytes(),
        "first_stack": 0 if first else 2, "stack_offsets": offsets.tobytes(),
        "stack_locs": np.array([x for s in stacks for x in s], np.int32).tobytes(),
        "first_location": 0 if first else 3,
        "loc_code": np.array([0, 1, 2] if first else [], np.int32).tobytes(),
        "loc_lasti": np.array([4, 8, 12] if first else [], np.int32).tobytes(),
        "loc_line": np.array([3, 10, 20] if first else [], np.int32).tobytes(),
        "first_code": 0 if first else 3,
        "codes": [("a", "a", "/s/app.py", 1), ("main", "main", "/s/app.py", 9), ("b", "b", "/s/app.py", 19)]
        if first else [],
        "spawns": [], "children": [], "child_t_ns": b"", "child_pid": b"", "child_cpu_ns": b"",
        "nsources": 2, "tick_t_ns": np.array([i * 50_000_000], np.uint64).tobytes(),
        "tick_raw": np.array([i * 40_000_000, i * 100_000], np.uint64).tobytes(),
        "threads": [], "stats": {"lost": 0},
    }


def write_stream(path: str) -> None:
    rng = np.random.default_rng(0)
    with open(path, "wb") as f:
        f.write(process_stream.encode({"process": {"pid": 7, "ppid": 1, "argv": ["app.py"], "how": "first",
                                                   "start_unix_s": 0.0}}))
        f.write(process_stream.encode({"engine": "perf"}))
        for i in range(PARTS):
            f.write(process_stream.encode({"results": part(i, rng), "thread_names": {}}))


def peak_per_sample(fn, n: int):
    """(fn's result, the most bytes it held allocated at once, per sample)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        result = fn()
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    return result, peak / n


def test_reading_a_stream_holds_its_samples_once(tmp_path):
    path = str(tmp_path / process_stream.stream_name(7))
    write_stream(path)
    n = PARTS * PER_PART
    stream, per_sample = peak_per_sample(lambda: process_stream.read(path), n)
    assert len(stream.parts) == 1 and len(np.frombuffer(stream.parts[0]["t_ns"], np.uint64)) == n
    # the columns once, with a bytearray's growth slack; the file's bytes or its parts as well
    # would be twice this
    assert per_sample < 1.5 * RAW_BYTES, per_sample
    assert os.path.getsize(path) > n * RAW_BYTES  # the whole file was not what was held


def test_saving_a_run_unconverted_holds_one_batch_of_it(tmp_path, monkeypatch):
    """`run -q` copies the streams into its file batch by batch: what the profiler holds at the end
    is one batch, whatever the run's length; read back, the batches join into the stream's parts."""
    write_stream(str(tmp_path / process_stream.stream_name(7)))
    n, batch = PARTS * PER_PART, 256 << 10
    monkeypatch.setattr(unconverted, "BATCH_BYTES", batch)
    out = str(tmp_path / "run.pcarbon")
    from pyprof_carbon.profiler import about_run  # imported before tracing, as a run has it by then
    about_run(0.0)
    _, per_sample = peak_per_sample(lambda: unconverted.save(out, {}, {}, 0, str(tmp_path)), n)
    # a batch, the joiner's growth slack and the zip's buffers; the run's columns are 12x a batch
    assert per_sample * n < 4 * batch + (256 << 10) < n * RAW_BYTES / 2, per_sample * n
    with zipfile.ZipFile(out) as z:
        header = unconverted._value(json.loads(z.read(unconverted.HEADER)))
        batches = header["processes"][0]["batches"]
        sizes = [sum(size for _, size in b["arrays"]) for b in batches]
        # each batch closes with the part that fills it
        assert len(sizes) > 10 and all(batch <= s < batch + 2 * PER_PART * RAW_BYTES for s in sizes[:-1]), sizes
        saved = unconverted._stream(z, {i.filename: i for i in z.infolist()}, 0, header["processes"][0])
    expected = process_stream.read(str(tmp_path / process_stream.stream_name(7))).parts[0]
    got = process_stream.joined(saved.parts)
    assert got.keys() == expected.keys()
    for key in got:
        assert (bytes(got[key]) == bytes(expected[key]) if isinstance(got[key], (bytes, bytearray))
                else got[key] == expected[key]), key


def test_merging_a_stream_copies_no_sample_column(tmp_path):
    path = str(tmp_path / process_stream.stream_name(7))
    write_stream(path)
    stream = process_stream.read(path)
    n = PARTS * PER_PART
    (functions, stacks, samples), per_sample = peak_per_sample(lambda: merge_processes(decoded([stream])), n)
    assert len(samples["t_ns"]) == n and (np.diff(samples["t_ns"]) >= 0).all()
    # new: the pid column (4 B), the run's stack ids (4 B) and a sort's indices (8 B)
    assert per_sample < RAW_BYTES, per_sample


def test_attribution_needs_a_bounded_number_of_bytes_per_sample():
    n = 200_000
    rec = recording(n_samples=n, seconds=20.0)
    profile, per_sample = peak_per_sample(lambda: attribute(rec), n)
    assert profile.totals()["samples"] == n
    # ~75 B now: the float64 columns it keeps (CPU, previous sample, one energy per domain,
    # CO2) and one step's temporaries; 188 B before the per-sample steps were chunked and the
    # row keys built in place
    assert per_sample < 120, per_sample


def test_a_stream_cut_mid_chunk_keeps_every_whole_part(tmp_path):
    """Read chunk by chunk, a stream whose writer was killed mid-write still gives every part up
    to its last whole chunk, joined as the parts themselves concatenate, and says why it stopped."""
    path = str(tmp_path / process_stream.stream_name(7))
    write_stream(path)
    with open(path, "rb") as f:
        data = f.read()
    chunks, _, _ = process_stream.decode(data)
    parts = [c["results"] for c in chunks if "results" in c]
    cut = len(data) - 100  # inside the last chunk
    with open(path, "wb") as f:
        f.write(data[:cut])
    s = process_stream.read(path)
    assert s.damaged == "the last chunk is cut short" and not s.complete
    got = s.parts[0]
    for key in ("t_ns", "stack", "tick_raw"):
        assert bytes(got[key]) == b"".join(p[key] for p in parts[:-1])
    assert np.frombuffer(got["stack_offsets"], np.int64).tolist() == [0, 2, 4]  # the first part's two stacks
    assert got["codes"] == parts[0]["codes"]


def test_joined_stack_offsets_continue_across_parts():
    """Stacks interned in later parts: their offsets continue where the previous parts' end, as a
    single raw_results() at the end would have numbered them; the first part is not changed."""
    def stacks_part(stacks):
        offsets = np.concatenate(([0], np.cumsum([len(s) for s in stacks]))).astype(np.int64)
        p = {k: b"" for k in process_stream.CONCATENATED}
        locs = np.array([x for s in stacks for x in s], np.int32)
        p.update(stack_offsets=offsets.tobytes(), stack_locs=locs.tobytes(),
                 codes=[("f", "f", "/f.py", 1)] if stacks else [], spawns=[], children=[], stats={"n": len(stacks)})
        return p

    first = stacks_part([[0, 1], [2]])
    out = process_stream.joined([first, stacks_part([]), stacks_part([[3, 4, 5]]), stacks_part([[6]])])
    assert np.frombuffer(out["stack_offsets"], np.int64).tolist() == [0, 2, 3, 6, 7]
    assert np.frombuffer(out["stack_locs"], np.int32).tolist() == [0, 1, 2, 3, 4, 5, 6]
    assert len(out["codes"]) == 3 and out["stats"] == {"n": 1}  # cumulative values: the last part's
    assert np.frombuffer(first["stack_offsets"], np.int64).tolist() == [0, 2, 3] and len(first["codes"]) == 1

"""The program's process keeps no sample once it has streamed it (issue 14, item 4): what it
holds allocated over a stretch of pure-Python work sampled at 5 kHz grows by far less than the
samples taken in it would occupy (31 bytes each in the collector's columns, csrc/collector.h). The
profiler's side of the same promise is tests/unit/test_flat_memory.py."""
import json

from pcrun import pc, script
from pyprof_carbon import load

SAMPLE_BYTES = 8 + 8 + 4 + 2 + 4 + 4 + 1  # t, CPU time, tid, cpu, stack, nvcsw, native


def test_the_program_does_not_keep_its_streamed_samples(tmp_path):
    out = str(tmp_path / "m.pcarbon")
    r = pc(["run", "-q", "--rate", "5000", "-o", out, script("rss_per_sample.py"), "1.5", "4"], timeout=300)
    assert r.returncode == 0, r.stderr
    (t0, b0), (t1, b1) = json.loads(r.stdout.strip().splitlines()[-1])
    rec = load(out)
    t = rec.samples["t_ns"]
    n = int(((t > t0) & (t <= t1)).sum())
    assert n > 5000, n  # enough samples that keeping them would show (~4 CPU-s at 5 kHz)
    grown = b1 - b0
    # kept samples would add SAMPLE_BYTES each (more with the vectors' growth slack); what is
    # allowed is a third of that, for whatever is in flight at each mark
    assert grown < n * SAMPLE_BYTES / 3, (grown, n, grown / n)
    print(f"{grown / n:.1f} bytes per sample")

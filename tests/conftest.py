import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for p in (ROOT, os.path.join(ROOT, "tests")):
    if p not in sys.path:
        sys.path.insert(0, p)

from pcrun import interpreters, native_error  # noqa: E402


@pytest.fixture(params=interpreters(), ids=lambda p: os.path.basename(os.path.dirname(os.path.dirname(p))) or p)
def python(request):
    """Each interpreter the native sampler is tested on (skipped where it is not built)."""
    err = native_error(request.param)
    if err:
        pytest.skip(f"native sampler not built for {request.param}: {err}")
    return request.param


@pytest.fixture()
def rec_path(tmp_path):
    """A small synthetic recording saved as tmp_path/r.pcarbon (200 samples); its path."""
    from synthetic import recording
    p = str(tmp_path / "r.pcarbon")
    recording(n_samples=200).save(p)
    return p

"""The recording's `os` field: platform.platform()'s string, without the `uname -p` subprocess."""
import platform
import subprocess
import sys

import pytest

from pyprof_carbon.profiler import os_description


def test_same_string_as_platform_platform_without_running_uname(monkeypatch):
    if sys.platform == "linux" and platform.uname().processor not in ("", platform.machine()):
        pytest.skip("platform.platform() names this machine's processor, which os_description leaves out")
    expected = platform.platform()

    def no_subprocess(*a, **k):
        raise AssertionError("os_description started a subprocess")
    monkeypatch.setattr(subprocess, "Popen", no_subprocess)
    monkeypatch.setattr(subprocess, "check_output", no_subprocess)
    monkeypatch.setattr(platform, "_uname_cache", None, raising=False)  # a fresh lookup, as at a run's end
    assert os_description() == expected

"""Builds the native sampler extension `pyprof_carbon._native` from csrc/ with pybind11."""
import glob
import sys

# Fail before the compiler does, in one line: the sampler is built on Linux interfaces only.
if not sys.platform.startswith("linux"):
    sys.exit(f"pyprof-carbon supports Linux only (perf_event_open, /proc); this is {sys.platform}.")

from pybind11.setup_helpers import Pybind11Extension, build_ext
from setuptools import setup

ext = Pybind11Extension(
    "pyprof_carbon._native",
    sorted(glob.glob("csrc/*.cpp")),
    include_dirs=["csrc"],
    cxx_std=17,
    extra_compile_args=["-O2", "-fno-strict-aliasing", "-Wall"],
    libraries=["rt"],
)

setup(ext_modules=[ext], cmdclass={"build_ext": build_ext})

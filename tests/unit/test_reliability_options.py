"""Numeric options are checked when the command line is parsed (before any script starts), and
user-given intensities render in the text report."""
import contextlib
import io
import os

import pytest

from pcrun import pc
from pyprof_carbon.cli import parse_args
from recording_mutations import cli

BAD = [("--rate", v) for v in ("0", "-5", "nan", "inf", "20001", "1e9", "x")] + \
      [("--cadence", v) for v in ("0", "0.01", "nan", "-inf", "6e4000", "3600001")] + \
      [("--baseline", v) for v in ("0", "-1", "nan", "inf", "1e6")] + \
      [("--cpu-watts", v) for v in ("0", "-1", "nan", "inf", "10001")] + \
      [("--tdp", v) for v in ("0", "nan", "1e300")] + \
      [("--pue", v) for v in ("0.99", "nan", "inf", "10.5", "-1")] + \
      [("--carbon-intensity", v) for v in ("-1", "nan", "inf", "-inf")] + \
      [("--top", v) for v in ("-1", "1.5", "1e99")]
GOOD = [("--rate", "1"), ("--rate", "20000"), ("--cadence", "0.1"), ("--cadence", "3600000"),
        ("--baseline", "0.01"), ("--cpu-watts", "65"), ("--tdp", "10000"), ("--pue", "1"), ("--pue", "10"),
        ("--carbon-intensity", "0"), ("--carbon-intensity", "1e4"), ("--top", "0")]


def parse_error(argv):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), pytest.raises(SystemExit) as e:
        parse_args(argv)
    assert e.value.code == 2
    return err.getvalue().strip().splitlines()[-1]


@pytest.mark.parametrize("option,value", BAD)
def test_bad_numbers_are_refused_by_the_parser(option, value):
    last = parse_error(["run", option, value, "script.py"])
    assert last.startswith("pyprof-carbon run: error: argument " + option)
    if option in ("--pue", "--carbon-intensity", "--top"):  # shared with report
        assert parse_error(["report", "r.pcarbon", option, value]).startswith(
            "pyprof-carbon report: error: argument " + option)


@pytest.mark.parametrize("option,value", GOOD)
def test_values_in_range_are_accepted(option, value):
    args = parse_args(["run", option, value, "script.py"])
    assert args.program == ["script.py"]
    assert getattr(args, option[2:].replace("-", "_")) == float(value)


def test_the_script_does_not_start(tmp_path):
    marker = tmp_path / "started"
    script = tmp_path / "s.py"
    script.write_text(f"open({str(marker)!r}, 'w').close()\n")
    r = pc(["run", "--cadence", "nan", "-o", str(tmp_path / "r.pcarbon"), str(script)])
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("pyprof-carbon run: error: argument --cadence")
    assert not marker.exists() and not (tmp_path / "r.pcarbon").exists()


def test_user_intensity_without_region_renders_text(tmp_path, rec_path):
    rc, out, err = cli(["report", rec_path, "--carbon-intensity", "100"])
    assert rc == 0, err
    row = next(line for line in out.splitlines() if line.rstrip().endswith("this run"))
    assert row.split()[0] == "-" and " 100 " in row
    f = tmp_path / "i.csv"
    f.write_text("timestamp,g_per_kwh\n2020-01-01T00:00:00Z,200\n")
    rc, out, err = cli(["report", rec_path, "--intensity-file", str(f)])
    assert rc == 0, err
    assert any(line.rstrip().endswith("this run") and " 200 " in line for line in out.splitlines())


def test_intensity_file_not_utf8_is_one_line(tmp_path, rec_path):
    f = tmp_path / "latin1.csv"
    f.write_bytes("timestamp,g_per_kwh\n2020-01-01T00:00:00Z,100 \u00e9\n".encode("latin-1"))
    rc, _, err = cli(["report", rec_path, "--intensity-file", str(f)])
    assert rc == 2 and err == f"pyprof-carbon: error: intensity file {f} is not UTF-8 text\n"
    assert os.path.exists(rec_path)

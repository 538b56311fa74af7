"""Resolution order: --carbon-intensity, --intensity-file, --region, env, pyproject.toml, world."""
import argparse
import sys

import pytest

from pyprof_carbon import carbon
from pyprof_carbon.commands.options import add_carbon_options, intensity_from_args
from pyprof_carbon.carbon import resolve

NO_CLOUD = {"PYPROF_CARBON_NO_CLOUD_METADATA": "1"}


def parse(*argv):
    p = argparse.ArgumentParser()
    add_carbon_options(p)
    return p.parse_args(list(argv))


def test_defaults_after_add_arguments():
    a = parse()
    assert a.pue == 1.0 and a.compare is None and a.region is None and a.carbon_intensity is None
    assert a.intensity_file is None and a.no_cloud_metadata is False and a.live_intensity is None
    assert a.marginal is False
    a = parse("--pue", "1.4", "--compare", "FR, PL,US-CA", "--live-intensity")
    assert a.pue == 1.4 and a.compare == ["FR", "PL", "US-CA"] and a.live_intensity == ""
    assert parse("--live-intensity", "DE").live_intensity == "DE"


@pytest.mark.parametrize("argv", [["--pue", "0.9"], ["--pue", "x"], ["--carbon-intensity", "-1"],
                                  ["--carbon-intensity", "inf"], ["--compare", ","]])
def test_bad_option_values_are_argparse_errors(argv, capsys):
    with pytest.raises(SystemExit) as e:
        parse(*argv)
    assert e.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_explicit_intensity_wins(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.pyprof-carbon]\nregion = "PL"\n')
    s = intensity_from_args(parse("--carbon-intensity", "123", "--region", "FR"), str(tmp_path),
                         {"PYPROF_CARBON_REGION": "DE", **NO_CLOUD})
    assert (s.g_per_kwh, s.origin, s.code, s.kind, s.live) == (123.0, "--carbon-intensity", "FR", "average", False)
    s = intensity_from_args(parse("--carbon-intensity", "90", "--marginal"), str(tmp_path), NO_CLOUD)
    assert s.kind == "marginal" and s.code is None


def test_region_then_env_then_pyproject_then_world(tmp_path):
    sub = tmp_path / "a" / "b"
    sub.mkdir(parents=True)
    (tmp_path / "pyproject.toml").write_text('[project]\nname="x"\n\n[tool.pyprof-carbon]\nregion = "se-se1"  # north\n')
    env = {"PYPROF_CARBON_REGION": "aws:eu-west-3", **NO_CLOUD}
    s = intensity_from_args(parse("--region", "pol"), str(sub), env)
    assert (s.code, s.origin, s.g_per_kwh) == ("PL", "--region", 662.0)
    s = intensity_from_args(parse(), str(sub), env)
    assert (s.code, s.origin, s.provider, s.cloud_region, s.country) == (
        "aws:eu-west-3", "PYPROF_CARBON_REGION", "aws", "eu-west-3", "FR")
    s = intensity_from_args(parse(), str(sub), NO_CLOUD)
    assert s.code == "SE-SE1" and s.origin == f"pyproject.toml ({tmp_path / 'pyproject.toml'})"
    assert s.source.startswith("Electricity Maps")
    (tmp_path / "pyproject.toml").write_text('[project]\nname="x"\n')
    s = intensity_from_args(parse(), str(sub), NO_CLOUD)
    assert (s.code, s.origin, s.g_per_kwh) == ("WORLD", "world average", 480.0)
    assert any("world average" in n for n in s.notes)


def test_nearest_pyproject_stops_the_search(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.pyprof-carbon]\nregion = "PL"\n')
    inner = tmp_path / "pkg"
    inner.mkdir()
    (inner / "pyproject.toml").write_text('[project]\nname = "inner"\n')
    s = intensity_from_args(parse(), str(inner), NO_CLOUD)
    assert s.origin == "world average"


def test_bad_inputs_are_one_line_errors(tmp_path):
    with pytest.raises(carbon.CarbonError, match="unknown region 'ZZ'"):
        intensity_from_args(parse("--region", "ZZ"), str(tmp_path), NO_CLOUD)
    with pytest.raises(carbon.CarbonError, match="PYPROF_CARBON_REGION: unknown region"):
        intensity_from_args(parse(), str(tmp_path), {"PYPROF_CARBON_REGION": "nowhere", **NO_CLOUD})
    (tmp_path / "pyproject.toml").write_text('[tool.pyprof-carbon]\nregion = "mars"\n')
    with pytest.raises(carbon.CarbonError, match="pyproject.toml: unknown region 'mars'"):
        intensity_from_args(parse(), str(tmp_path), NO_CLOUD)
    (tmp_path / "pyproject.toml").write_text('[tool.pyprof-carbon\nregion = \n')
    with pytest.raises(carbon.CarbonError, match="invalid TOML"):
        intensity_from_args(parse(), str(tmp_path), NO_CLOUD)
    (tmp_path / "pyproject.toml").write_text('[tool.pyprof-carbon]\nregion = 5\n')
    with pytest.raises(carbon.CarbonError, match="must be a string"):
        intensity_from_args(parse(), str(tmp_path), NO_CLOUD)


def test_marginal_needs_a_marginal_value(tmp_path):
    with pytest.raises(carbon.CarbonError, match="average intensities"):
        intensity_from_args(parse("--region", "FR", "--marginal"), str(tmp_path), NO_CLOUD)


def test_only_one_explicit_source(tmp_path):
    f = tmp_path / "i.csv"
    f.write_text("timestamp,g_per_kwh\n0,1\n")
    with pytest.raises(carbon.CarbonError, match="only one of --carbon-intensity, --intensity-file"):
        intensity_from_args(parse("--carbon-intensity", "5", "--intensity-file", str(f)), str(tmp_path), NO_CLOUD)


def test_intensity_file_source(tmp_path):
    f = tmp_path / "i.csv"
    f.write_text("timestamp,g_per_kwh\n0,100\n3600,200\n")
    s = intensity_from_args(parse("--intensity-file", str(f), "--region", "de"), str(tmp_path), NO_CLOUD)
    assert s.origin == f"--intensity-file {f}" and s.code == "DE" and s.country == "DE"
    assert list(s.g_per_kwh_at([10, 3700])) == [100.0, 200.0]


def test_a_pyproject_that_does_not_name_our_table_is_not_parsed(tmp_path, monkeypatch):
    # invalid TOML that cannot set our region: the run goes on with the next source, and tomllib
    # (~10 ms of a run's start-up) is not even imported
    (tmp_path / "pyproject.toml").write_text('[project\nname = "x"\n[tool.other]\nregion = "FR"\n')
    monkeypatch.delitem(sys.modules, "tomllib", raising=False)
    assert intensity_from_args(parse(), str(tmp_path), NO_CLOUD).origin == "world average"
    assert "tomllib" not in sys.modules


def test_tiny_pyproject_parser_for_python_310():
    text = ('[project]\nregion = "no"\n[tool."pyprof-carbon"]\n# c\nregion = \'US-CA\' # x\n'
            '[tool.other]\nregion = "FR"\n')
    assert resolve._tiny_region(text) == "US-CA"
    assert resolve._tiny_region('[tool.pyprof-carbon]\npue = 1.2\n') is None


def test_compare_codes_are_checked_up_front(tmp_path):
    with pytest.raises(carbon.CarbonError, match="--compare: unknown region 'PLX'"):
        intensity_from_args(parse("--region", "FR", "--compare", "DE,PLX"), str(tmp_path), NO_CLOUD)
    assert intensity_from_args(parse("--region", "FR", "--compare", "de,aws:eu-west-3"), str(tmp_path), NO_CLOUD).code == "FR"

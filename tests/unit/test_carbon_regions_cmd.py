"""`pyprof-carbon regions [QUERY] [--format text|json]`."""
import argparse
import json

from pyprof_carbon.commands import regions as cmd


def run(capsys, *argv):
    p = argparse.ArgumentParser(prog="pyprof-carbon")
    sub = p.add_subparsers(dest="command")
    cmd.register(sub)
    args = p.parse_args(["regions", *argv])
    assert args.func is cmd.main
    rc = args.func(args)
    return rc, capsys.readouterr().out


def test_json_lists_150_countries_and_all_clouds_with_sources(capsys):
    rc, out = run(capsys, "--format", "json")
    assert rc == 0
    doc = json.loads(out)
    assert doc["unit"] == "gCO2eq/kWh"
    rows = doc["regions"]
    countries = [r for r in rows if r["kind"] == "country"]
    assert len(countries) >= 150
    for prov in ("aws", "gcp", "azure"):
        assert len([r for r in rows if r["kind"] == "cloud" and r["provider"] == prov]) >= 20
    assert all(r["source"] and r["year"] and r["g_per_kwh"] >= 0 for r in rows)
    assert {r["kind"] for r in rows} == {"country", "subregion", "cloud", "world"}


def test_text_query(capsys):
    rc, out = run(capsys, "eu-west-3")
    assert rc == 0
    assert "aws:eu-west-3" in out and "Paris, France -> FR" in out and "56 g/kWh" in out
    assert "Sources:" in out and "Ember" in out and "AWS Regions" in out
    rc, out = run(capsys, "poland")
    assert "PL POL" in out and "662 g/kWh" in out and "2023" in out


def test_text_lists_everything(capsys):
    rc, out = run(capsys)
    assert "Countries (202)" in out and "Grid subregions" in out and "Cloud regions" in out
    assert "US-CA" in out and "CA-QC" in out and "NO-NO1" in out and "WORLD" in out


def test_no_match(capsys):
    rc, out = run(capsys, "atlantis-xyz")
    assert rc == 1 and "no region matches" in out

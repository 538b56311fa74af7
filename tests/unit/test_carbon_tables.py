"""The shipped intensity tables: coverage, consistency, sources, lookup."""
import csv
import os

import pytest

from pyprof_carbon import carbon
from pyprof_carbon.carbon import tables

DATA = tables.DATA


def _rows(name):
    with open(os.path.join(DATA, name), newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_at_least_150_countries_with_unique_iso_codes():
    rows = _rows("countries.csv")
    assert len(rows) >= 150
    a2 = [r["alpha2"] for r in rows]
    a3 = [r["alpha3"] for r in rows]
    assert len(set(a2)) == len(a2) and len(set(a3)) == len(a3)
    assert all(len(x) == 2 and x.isupper() for x in a2)
    assert all(len(x) == 3 and x.isupper() for x in a3)
    for r in rows:
        g = float(r["g_per_kwh"])
        assert 0 < g < 1500, r
        assert r["year"] == "2023" and r["source"] in tables.SOURCES


def test_subregions_cover_us_states_canada_australia_nordic():
    codes = {r.code for r in carbon.regions() if r.kind == "subregion"}
    assert len([c for c in codes if c.startswith("US-")]) == 51  # 50 states + DC
    for c in ("US-CA", "CA-QC", "AU-NSW", "SE-SE1", "SE-SE4", "NO-NO1", "NO-NO5", "DK-DK1", "DK-DK2"):
        assert c in codes
    for r in _rows("subregions.csv"):
        assert r["source"] in tables.SOURCES
        assert carbon.lookup(r["country"]).kind == "country"


def test_every_cloud_region_maps_to_a_known_grid_and_takes_its_intensity():
    rows = _rows("cloud_regions.csv")
    providers = {r["provider"] for r in rows}
    assert providers == {"aws", "gcp", "azure"}
    for r in rows:
        reg = carbon.lookup(f"{r['provider']}:{r['region']}")
        grid = carbon.lookup(r["grid"])
        assert reg.kind == "cloud" and reg.grid == grid.code
        assert reg.g_per_kwh == grid.g_per_kwh and reg.year == grid.year
        assert grid.source in reg.source


def test_cloud_examples_from_the_issue():
    assert carbon.lookup("aws:eu-west-3").grid == "FR"
    assert carbon.lookup("gcp:europe-west1").grid == "BE"
    assert carbon.lookup("azure:westeurope").grid == "NL"
    assert carbon.lookup("AWS:EU-WEST-3").code == "aws:eu-west-3"
    assert carbon.lookup("google:europe-west9").grid == "FR"


def test_lookup_codes_case_insensitive_alpha3_and_names():
    fr = carbon.lookup("FR")
    assert (fr.name, fr.alpha3, fr.kind, fr.g_per_kwh) == ("France", "FRA", "country", 56.0)
    assert carbon.lookup("fra") == fr and carbon.lookup("france") == fr and carbon.lookup(" fr ") == fr
    ca = carbon.lookup("us-ca")
    assert ca.code == "US-CA" and ca.kind == "subregion" and ca.country == "US"
    assert carbon.lookup("se-se3").name.startswith("Sweden")


def test_world_average_is_cited():
    w = carbon.lookup("WORLD")
    assert w.kind == "world" and w.g_per_kwh == 480.0 and w.year == 2023
    assert "Ember" in w.source and "Global Electricity Review 2024" in w.source


def test_unknown_region_lists_close_matches():
    with pytest.raises(carbon.CarbonError) as e:
        carbon.lookup("FRX")
    msg = str(e.value)
    assert "unknown region 'FRX'" in msg and "FR" in msg and "\n" not in msg
    with pytest.raises(carbon.CarbonError, match="aws:eu-west-3"):
        carbon.lookup("aws:eu-west-33")
    with pytest.raises(carbon.CarbonError, match="France"):
        carbon.lookup("Frence")
    with pytest.raises(carbon.CarbonError):
        carbon.lookup("")


def test_carbon_error_is_a_user_error():
    from pyprof_carbon.errors import UserError
    assert issubclass(carbon.CarbonError, UserError)


def test_regions_filter_by_substring():
    paris = carbon.regions("paris")
    assert {r.code for r in paris} == {"aws:eu-west-3", "gcp:europe-west9", "azure:francecentral"}
    fr = carbon.regions("FR")
    assert fr[0].code == "FR"  # exact code first
    assert all("fr" in (r.code + r.name + (r.alpha3 or "") + (r.location or "")).lower() for r in fr)
    assert carbon.regions("no-such-place-xyz") == []
    assert len(carbon.regions()) == len(carbon.regions(None)) >= 150 + 80 + 100


def test_readme_cites_every_source_with_year_and_license():
    text = open(os.path.join(DATA, "README.md"), encoding="utf-8").read()
    for needle in ("countries.csv", "subregions.csv", "cloud_regions.csv", "world.csv",
                   "entered by hand", "CC BY 4.0", "eGRID2022", "National Inventory Report",
                   "National Greenhouse Accounts Factors 2024", "Electricity Maps", "ODbL",
                   "carbon-intensity-electricity", "480", "2023", "public domain"):
        assert needle in text, needle

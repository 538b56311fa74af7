"""The attribution policy and split of a run travel in its recording: `report` (and the API)
attribute with the recorded ones unless told otherwise."""
import argparse

from synthetic import recording

from pyprof_carbon.attribution import attribute
from pyprof_carbon.commands.report import profile_from_args


def test_attribute_reads_the_recorded_policy_and_split():
    rec = recording()
    rec.meta.update(attribution="active", split="cpu")
    recorded = attribute(rec)
    explicit = attribute(rec, policy="active", split="cpu")
    assert (recorded.meta["attribution"], recorded.meta["split"]) == ("active", "cpu")
    assert recorded.totals()["energy_j"] == explicit.totals()["energy_j"]


def test_an_explicit_policy_beats_the_recorded_one():
    rec = recording()
    rec.meta.update(attribution="active", split="cpu")
    p = attribute(rec, policy="share", split="power")
    assert (p.meta["attribution"], p.meta["split"]) == ("share", "power")


def test_defaults_when_nothing_is_recorded():
    p = attribute(recording())
    assert (p.meta["attribution"], p.meta["split"]) == ("share", "power")


def test_report_uses_the_recorded_policy_and_its_own_flag_wins(tmp_path):
    rec = recording()
    rec.meta.update(attribution="dynamic", split="cpu", baseline_w={"package": 1.0})
    path = str(tmp_path / "r.pcarbon")
    rec.save(path)
    given = dict(attribution=None, split=None, pue=None, compare=None, region_filter=None)
    p = profile_from_args(path, argparse.Namespace(**given))
    assert (p.meta["attribution"], p.meta["split"]) == ("dynamic", "cpu")
    p = profile_from_args(path, argparse.Namespace(**dict(given, attribution="share", split="power")))
    assert (p.meta["attribution"], p.meta["split"]) == ("share", "power")

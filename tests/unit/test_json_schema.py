"""The JSON report against the schema the package ships (pyprof_carbon/render/report.schema.json,
described in docs/design.md#json-report): real output validates, and a report with a key of the
wrong type, a missing key or an unknown key does not (so the check can fail)."""
import copy
import json
import os
import sys

import pytest

jsonschema = pytest.importorskip("jsonschema")

import pyprof_carbon.render as render_pkg
from pyprof_carbon.attribution import attribute
from pyprof_carbon.render import json_report
from pcrun import ROOT, native_error, pc, report_json, script
from synthetic import recording

SCHEMA_PATH = os.path.join(os.path.dirname(render_pkg.__file__), "report.schema.json")
needs_native = pytest.mark.skipif(bool(native_error(sys.executable)), reason="native sampler not built")


@pytest.fixture(scope="module")
def validator():
    with open(SCHEMA_PATH) as f:
        schema = json.load(f)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def errors(validator, report):
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(report)]


def synthetic_report():
    return json.loads(json_report.render(attribute(recording(), policy="share")))


@pytest.fixture(scope="module")
def real_reports(tmp_path_factory):
    """`report REC --format json` of two real runs: a CPU spin, and three named regions."""
    d = tmp_path_factory.mktemp("schema")
    out = {}
    for name, args in (("spin", [script("cpu_spin.py"), "0.2"]), ("regions", [script("three_regions.py")])):
        rec = str(d / f"{name}.pcarbon")
        r = pc(["run", "-q", "-o", rec, *args])
        assert r.returncode == 0, r.stderr
        out[name] = report_json(rec)
    return out


def test_schema_is_shipped_as_package_data():
    assert os.path.isfile(SCHEMA_PATH)
    with open(os.path.join(ROOT, "pyproject.toml")) as f:
        assert "render/report.schema.json" in f.read()


def test_synthetic_report_validates(validator):
    assert errors(validator, synthetic_report()) == []


@needs_native
def test_real_reports_validate(validator, real_reports):
    for name, rep in real_reports.items():
        assert errors(validator, rep) == [], name
    spin, regions = real_reports["spin"], real_reports["regions"]
    assert spin["functions"] and spin["threads"] and spin["lines"] and spin["regions"] == []
    assert [r["name"] for r in regions["regions"]] == ["load", "train", "eval", "(outside any region)"]
    assert regions["meta"]["regions"]  # the raw spans, as recorded


@pytest.mark.parametrize("path, value", [
    (("totals", "samples"), "315"),                    # a string where a count belongs
    (("functions", 0, "self_energy_j"), None),
    (("threads", 0, "tid"), 1.5),
    (("meta", "attribution"), "fair"),                 # not one of the policies
    (("meta", "meters", 0, "measured"), "yes"),
    (("measured_j",), {"package": "1 J"}),
    (("profiler_cost", "cpu_s"), -1.0),
])
def test_a_key_of_the_wrong_type_is_rejected(validator, path, value):
    rep = copy.deepcopy(synthetic_report())
    target = rep
    for k in path[:-1]:
        target = target[k]
    target[path[-1]] = value
    assert errors(validator, rep), path


def test_a_missing_or_unknown_top_level_key_is_rejected(validator):
    rep = synthetic_report()
    missing = {k: v for k, v in rep.items() if k != "totals"}
    assert errors(validator, missing)
    assert errors(validator, dict(rep, extra=1))
    row = copy.deepcopy(rep)
    row["functions"][0]["surprise"] = 0
    assert errors(validator, row)

"""text, collapsed and json from a hand-built recording (docs/design.md#json-report, #reports-json-collapsed-text)."""
import json

import pytest

from pyprof_carbon.attribution import attribute
from pyprof_carbon.render import collapsed, json_report, text
from synthetic import recording


def profile():
    return attribute(recording(), policy="share")


def test_json_report_has_the_contract_fields():
    rep = json.loads(json_report.render(profile()))
    assert set(rep) >= {"meta", "totals", "functions", "threads", "unattributed_j", "lines"}
    assert set(rep["totals"]) >= {"energy_j", "co2_g", "cpu_s", "wall_s", "samples"}
    f0 = rep["functions"][0]
    assert set(f0) >= {"name", "qualname", "file", "line", "self_energy_j", "total_energy_j", "self_cpu_s",
                       "total_cpu_s", "samples", "co2_g", "self_energy_err_j"}
    selfs = [f["self_energy_j"] for f in rep["functions"]]
    assert selfs == sorted(selfs, reverse=True) and f0["qualname"] == "a"
    assert {t["tid"] for t in rep["threads"]} == {11, 12}
    assert {m["domain"]: m["measured"] for m in rep["meta"]["meters"]} == {"package": True, "dram": False}
    ln = rep["lines"][0]
    assert (ln["file"], ln["line"], ln["function"]) == ("/s/app.py", 12, "a")
    assert ln["self_energy_err_j"] > 0


def test_collapsed_is_folded_stacks_in_integer_microjoules():
    p = profile()
    lines = collapsed.render(p).splitlines()
    assert len(lines) == 2
    total_uj = 0
    for ln in lines:
        stack, weight = ln.rsplit(" ", 1)
        assert stack.startswith("main (/s/app.py:") and weight.isdigit()
        total_uj += int(weight)
    assert abs(total_uj / 1e6 - p.totals()["energy_j"]["total"]) < 1e-5


def test_text_labels_each_domain_and_lists_threads():
    out = text.render(profile(), text.Options(lines=True))
    assert "package measured, dram estimated" in out
    assert "Top functions by self energy" in out and "Threads" in out and "Top lines" in out
    assert "\033[" not in out  # no color unless asked
    assert "\033[1m" in text.render(profile(), text.Options(), text.Style(True))


def _rapl(*names):
    from pyprof_carbon.meters.rapl_common import rapl_nesting
    from pyprof_carbon.recording import Domain
    return {n: Domain(n, "test", True, **rapl_nesting(n)) for n in names}


def test_total_counts_no_joule_twice():
    from pyprof_carbon.recording import total_domains
    doms = _rapl("package", "core", "uncore", "dram", "psys", "gpu:0", "core:0", "core:2")
    assert total_domains(["package", "core", "uncore", "dram", "psys", "gpu:0"], doms) == ["package", "dram", "gpu:0"]
    assert total_domains(["package", "core:0", "core:2"], doms) == ["package"]
    assert total_domains(["psys", "gpu:0"], doms) == ["psys", "gpu:0"]  # a platform counter alone is the total
    assert total_domains(["core"], doms) == ["core"]                    # its package was not read here


def _with_domain(rec, domain, watts):
    from pyprof_carbon.recording import EnergySeries
    T = rec.energy["package"].t_ns
    rec.domains.append(domain)
    rec.energy[domain.name] = EnergySeries(T, watts * T / 1e9)
    return rec


def test_a_new_domain_declared_to_contain_others_is_not_counted_twice():
    """A wall-plug meter (no such meter in the tree: its declaration is all totals need) whose
    counter holds package and dram: shown, not added to them."""
    from pyprof_carbon.recording import Domain
    rec = _with_domain(recording(), Domain("wall", "plug", True, "psys", contains=("package", "dram")), 40.0)
    p = attribute(rec, policy="share")
    e = p.totals()["energy_j"]
    assert e["wall"] > 0 and e["total"] == pytest.approx(e["package"] + e["dram"])
    assert p.sum_counted(p.measured_j) == pytest.approx(p.measured_j["package"] + p.measured_j["dram"])
    assert p.row_co2_g.sum() == pytest.approx(p.totals()["co2_g"])
    assert p.counted_domains(["wall", "gpu:0"]) == ["wall", "gpu:0"]  # without its parts, it is the total


def test_recordings_saved_before_domains_declared_nesting_fall_back_to_names(tmp_path):
    from recording_mutations import json_member, members, read_json_member, write_members
    from pyprof_carbon.recording import Domain, load
    rec = _with_domain(_with_domain(recording(), Domain("core", "test", True, inside=("package",)), 6.0),
                       Domain("psys", "test", True, "psys", contains=("package", "dram")), 30.0)
    path = str(tmp_path / "new.pcarbon")
    rec.save(path)
    items = members(path)
    meta = read_json_member(items["meta.json.npy"])
    for d in meta["domains"]:  # as written before the fields existed
        del d["inside"], d["contains"]
    old = write_members(str(tmp_path / "old.pcarbon"), dict(items, **{"meta.json.npy": json_member(meta)}))
    for p in (path, old):
        doms = {d.name: (d.inside, d.contains) for d in load(p).domains}
        assert doms == {"package": ((), ()), "dram": ((), ()), "core": (("package",), ()),
                        "psys": ((), ("package", "dram"))}
        assert attribute(load(p), policy="share").counted_domains() == ["package", "dram"]

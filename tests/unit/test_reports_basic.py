"""text, collapsed and json from a hand-built recording (docs/design.md#json-report, #reports-json-collapsed-text)."""
import json

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


def test_total_counts_no_joule_twice():
    from pyprof_carbon.attributed_profile import total_domains
    assert total_domains(["package", "core", "uncore", "dram", "psys", "gpu:0"]) == ["package", "dram", "gpu:0"]
    assert total_domains(["package", "core:0", "core:2"]) == ["package"]
    assert total_domains(["psys", "gpu:0"]) == ["psys", "gpu:0"]  # a platform counter alone is the total
    assert total_domains(["core"]) == ["core"]                    # nothing contains it here

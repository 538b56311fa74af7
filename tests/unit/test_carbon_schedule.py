"""Time-varying intensity: an hourly file as a step function, kinds, errors, meta round trip."""
import datetime as dt

import numpy as np
import pytest

from pyprof_carbon import carbon

T0 = dt.datetime(2024, 3, 1, 12, 0, tzinfo=dt.timezone.utc).timestamp()


def write(tmp_path, text, name="ci.csv"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_hourly_file_changes_per_interval_co2(tmp_path):
    path = write(tmp_path, "timestamp,g_per_kwh\n"
                 "2024-03-01T12:00:00Z,100\n2024-03-01T13:00:00Z,300\n2024-03-01T14:00:00+00:00,50\n")
    src = carbon.read_intensity_file(path)
    assert src.kind == "average" and not src.live and src.origin == f"--intensity-file {path}"
    assert src.g_per_kwh == pytest.approx(150.0)  # mean of the rows
    # intervals: before the first row, inside each hour, exactly on a boundary, after the last
    t = T0 + np.array([-600.0, 0.0, 1800.0, 3599.0, 3600.0, 5400.0, 7200.0, 99999.0])
    np.testing.assert_allclose(src.g_per_kwh_at(t), [100, 100, 100, 100, 300, 300, 50, 50])
    e = np.full(len(t), 3.6e6)  # 1 kWh each
    np.testing.assert_allclose(carbon.co2_g(e, t, src, 2.0), 2.0 * np.array([100, 100, 100, 100, 300, 300, 50, 50]))


def test_unix_seconds_and_kind_column(tmp_path):
    path = write(tmp_path, f"timestamp,g_per_kwh,kind\n{T0:.0f},400,marginal\n{T0 + 900:.0f},700,marginal\n")
    src = carbon.read_intensity_file(path)
    assert src.kind == "marginal"
    np.testing.assert_allclose(src.g_per_kwh_at(np.array([T0 + 899, T0 + 900])), [400, 700])


def test_marginal_flag_marks_a_file_without_kind(tmp_path):
    path = write(tmp_path, f"timestamp,g_per_kwh\n{T0},400\n")
    assert carbon.read_intensity_file(path, marginal=True).kind == "marginal"
    path2 = write(tmp_path, f"timestamp,g_per_kwh,kind\n{T0},400,average\n", "b.csv")
    with pytest.raises(carbon.CarbonError, match="--marginal"):
        carbon.read_intensity_file(path2, marginal=True)


def test_naive_iso_timestamp_is_utc(tmp_path):
    path = write(tmp_path, "timestamp,g_per_kwh\n2024-03-01T12:00:00,10\n2024-03-01T12:30,20\n")
    src = carbon.read_intensity_file(path)
    np.testing.assert_allclose(src.schedule_t, [T0, T0 + 1800])


@pytest.mark.parametrize("text,msg", [
    ("", "empty"),
    ("time,value\n1,2\n", "header"),
    ("timestamp,g_per_kwh\n", "no rows"),
    ("timestamp,g_per_kwh\nyesterday,5\n", "row 2: bad timestamp 'yesterday'"),
    ("timestamp,g_per_kwh\n1,abc\n", "row 2: g_per_kwh 'abc' is not a number"),
    ("timestamp,g_per_kwh\n1,-5\n", ">= 0"),
    ("timestamp,g_per_kwh\n1,nan\n", "finite"),
    ("timestamp,g_per_kwh\n10,5\n5,6\n", "row 3: timestamps must be strictly increasing"),
    ("timestamp,g_per_kwh,kind\n1,5,average\n2,5,marginal\n", "mixes"),
    ("timestamp,g_per_kwh,kind\n1,5,bogus\n", "kind must be"),
    ("timestamp,g_per_kwh\n1\n", "columns"),
])
def test_bad_files_give_one_line_errors(tmp_path, text, msg):
    path = write(tmp_path, text)
    with pytest.raises(carbon.CarbonError) as e:
        carbon.read_intensity_file(path)
    assert msg in str(e.value) and "\n" not in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(carbon.CarbonError, match="cannot read intensity file"):
        carbon.read_intensity_file(str(tmp_path / "nope.csv"))


def test_coarse_schedule_is_noted(tmp_path):
    path = write(tmp_path, f"timestamp,g_per_kwh\n{T0},1\n{T0 + 7200},2\n")
    assert any("hour" in n for n in carbon.read_intensity_file(path).notes)


def test_meta_round_trip_keeps_schedule(tmp_path):
    import json
    path = write(tmp_path, f"timestamp,g_per_kwh,kind\n{T0},100,marginal\n{T0 + 60},200,marginal\n")
    src = carbon.read_intensity_file(path, code="FR")
    meta = json.loads(json.dumps(src.to_meta()))  # JSON-safe
    back = carbon.IntensitySource.from_meta(meta)
    assert (back.code, back.kind, back.origin, back.g_per_kwh) == ("FR", "marginal", src.origin, 150.0)
    t = np.array([T0 - 1, T0 + 30, T0 + 61])
    np.testing.assert_allclose(back.g_per_kwh_at(t), src.g_per_kwh_at(t))
    const = carbon.IntensitySource(code="PL", name="Poland", g_per_kwh=662.0, origin="--region",
                                   source="s", year=2023)
    back2 = carbon.IntensitySource.from_meta(json.loads(json.dumps(const.to_meta())))
    assert back2 == const
    with pytest.raises(carbon.CarbonError):
        carbon.IntensitySource.from_meta({"code": "FR"})

"""Text report: fits the width, one number format (3 significant digits, SI prefix) everywhere,
everyday equivalents only when they mean something."""
import re

from profile_fixtures import realistic
from pyprof_carbon.render import text
from pyprof_carbon.render.tree import fmt_num, sig3


def test_fmt_num_three_significant_digits_with_prefix():
    assert fmt_num(2.5, "J") == "2.50 J"
    assert fmt_num(0.9997, "J") == "1.00 J"          # rounds up into the next prefix, not "1000 mJ"
    assert fmt_num(331.4e-6, "g") == "331 µg"
    assert fmt_num(1234.5, "J") == "1.23 kJ"
    assert fmt_num(-0.0123, "J") == "-12.3 mJ"
    assert fmt_num(0, "g") == "0 g" and fmt_num(float("nan"), "J") == "–"
    assert fmt_num(1234.4, "") == "1,234"
    assert [sig3(x) for x in (0.0319, 12, 1234.5)] == ["0.0319", "12.0", "1230"]


def test_svg_and_html_use_the_same_formatter():
    from pyprof_carbon.render import html, svg, tree as fmt
    assert svg.fmt_num is fmt.fmt_num and html.fmt_num is fmt.fmt_num


def _numbers_with_units(out):
    return re.findall(r"(?<![\w.])(-?\d[\d.,]*(?:e[+-]\d+)?) ([nµmkMG]?)(J|g|s)\b(?!/)", out)


def test_every_line_fits_80_columns_and_numbers_have_3_digits():
    out = text.render(realistic(), text.Options(lines=True, columns=80))
    assert max(len(ln) for ln in out.splitlines()) <= 80
    ours = "\n".join(ln for ln in out.splitlines() if "scheduler accounting" not in ln)  # that note is the meter's text
    nums = _numbers_with_units(ours)
    assert len(nums) > 40
    for num, prefix, unit in nums:
        if num == "0":
            continue
        digits = num.replace(",", "").replace("-", "").replace(".", "").lstrip("0")
        assert len(digits) == 3, (num, prefix, unit)
    # the names stay readable: a cut cell ends in an ellipsis, and the hot function is listed whole
    assert re.search(r"matmul  model\.py:50", out)


def test_wider_terminal_gets_longer_lines_and_the_sample_count():
    p = realistic()
    narrow = text.render(p, text.Options(columns=80))
    wide = text.render(p, text.Options(columns=160))
    assert max(len(ln) for ln in wide.splitlines()) > 80
    assert "samples  CO2eq" not in narrow.split("Top functions")[1].splitlines()[1]
    assert "samples" in wide.split("Top functions")[1].splitlines()[1]


def test_summary_wraps_to_the_terminal_or_80_when_piped(monkeypatch):
    import io

    class Tty(io.StringIO):
        def isatty(self):
            return True

    p = realistic()
    monkeypatch.setenv("COLUMNS", "120")
    piped = text.summary(p, text.Options(), [], io.StringIO())
    assert max(len(ln) for ln in piped.splitlines()) <= 80
    tty = text.summary(p, text.Options(color="never"), [], Tty())
    assert 80 < max(len(ln) for ln in tty.splitlines()) <= 120


def test_equivalents_only_from_a_hundredth_of_their_unit():
    tiny = text.equivalent_lines(300e-6)  # 300 µg: 3e-6 km, nothing a reader can picture
    assert tiny == []
    some = text.equivalent_lines(5.0)     # 5 g: 0.0469 km and 0.0125 miles
    assert [ln.split(" ")[1:3] for ln in some] == [["0.0469", "km"], ["0.0125", "miles"]]
    only_km = text.equivalent_lines(2.0)  # 0.0188 km, 0.005 miles (left out)
    assert len(only_km) == 1 and "km" in only_km[0]


def test_no_zero_grams_next_to_micrograms():
    out = text.render(realistic(), text.Options(columns=100))
    assert "0.00 g" not in out and "0.00 J" not in out

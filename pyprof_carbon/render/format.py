"""The one number format of every report: 3 significant digits with an SI prefix (2.50 J, 331 µg,
1.20 kJ), so a column of joules reads the same in the terminal, the HTML and the SVG. The HTML
report's script mirrors fmt_num (report.js `fmt`)."""
from __future__ import annotations

import math

_PREFIXES = ((1e-9, "n"), (1e-6, "µ"), (1e-3, "m"), (1.0, ""), (1e3, "k"), (1e6, "M"), (1e9, "G"))


def sig3(x: float) -> str:
    """x with 3 significant digits, trailing zeros kept (2.50, 25.0, 0.0319) so precision is
    the same on every line; no exponent for 0.001 <= |x| < 1e6."""
    if x == 0 or not math.isfinite(x):
        return "0" if x == 0 else str(x)
    digits = 2 - math.floor(math.log10(abs(float(f"{x:.3g}"))))  # after rounding: 999.7 -> 1000
    if not -3 <= 2 - digits < 6:
        return f"{x:.2e}"
    return f"{x:.{digits}f}" if digits >= 0 else f"{round(x, digits):.0f}"  # 1234.5 -> 1230


def fmt_num(v: float, unit: str) -> str:
    """2.50 J, 331 µg, 1.20 kJ; unit "" is a count (1,234)."""
    if unit == "":
        return f"{int(round(v)):,}"
    if not math.isfinite(v):
        return "–"
    if v == 0:
        return f"0 {unit}"
    r = float(f"{abs(v):.3g}")  # round first, so 999.7 mJ reads 1.00 J, not 1000 mJ
    for f, p in _PREFIXES:
        if r < f * 1000 or p == "G":
            return f"{sig3(v / f)} {p}{unit}"
    return f"{sig3(v)} {unit}"  # unreachable: the loop ends at G

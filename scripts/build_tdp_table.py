#!/usr/bin/env python3
"""Rebuilds pyprof_carbon/meters/data/cpu_tdp.csv (and the license beside it) from CodeCarbon's wheel.

The table is CodeCarbon's `codecarbon/data/hardware/cpu_power.csv` (CPU name, TDP in W; MIT
license), copied row for row: names are kept as CodeCarbon spells them and normalised only at
lookup time (pyprof_carbon/meters/model.py), so a diff against a newer CodeCarbon stays readable.

    python scripts/build_tdp_table.py                 # pip download --no-deps codecarbon==VERSION
    python scripts/build_tdp_table.py path/to/codecarbon-X-py3-none-any.whl

Rows are sorted by name; rows without a positive TDP are dropped (none in 3.3.2).
"""
import csv
import glob
import io
import os
import subprocess
import sys
import tempfile
import zipfile

VERSION = "3.3.2"  # the release the shipped table comes from (data/README.md)
MEMBER = "codecarbon/data/hardware/cpu_power.csv"
OUT = os.path.join(os.path.dirname(__file__), "..", "pyprof_carbon", "meters", "data")


def download(dest: str) -> str:
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                    f"codecarbon=={VERSION}", "-d", dest], check=True)
    return glob.glob(os.path.join(dest, "codecarbon-*.whl"))[0]


def build(wheel: str) -> int:
    with zipfile.ZipFile(wheel) as z:
        text = z.read(MEMBER).decode("utf-8")
        license_name = next(n for n in z.namelist() if n.endswith(".dist-info/licenses/LICENSE"))
        license_text = z.read(license_name).decode("utf-8")
    rows = []
    for r in csv.DictReader(io.StringIO(text)):
        try:
            tdp = float(r["TDP"])
        except (TypeError, ValueError):
            continue
        if tdp > 0:
            rows.append((r["Name"].strip(), f"{tdp:g}"))
    rows.sort()
    with open(os.path.join(OUT, "cpu_tdp.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["model", "tdp_w"])
        w.writerows(rows)
    with open(os.path.join(OUT, "LICENSE.codecarbon"), "w") as f:
        f.write(license_text)
    return len(rows)


def main() -> None:
    if len(sys.argv) > 1:
        n = build(sys.argv[1])
    else:
        with tempfile.TemporaryDirectory() as d:
            n = build(download(d))
    print(f"cpu_tdp.csv: {n} CPUs from CodeCarbon {VERSION} ({MEMBER})")


if __name__ == "__main__":
    main()

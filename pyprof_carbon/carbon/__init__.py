"""Carbon: joules to grams of CO2eq for a grid region (docs/design.md#carbon).

Tables ship in data/ (sources, years and licenses in data/README.md) and are never fetched at
run time; the only network use is opt-in (--live-intensity) or a cloud VM's own metadata service.
"""
from .base import CarbonError, IntensitySource, Region, UNIT
from .compare import (EQUIVALENTS, COMPARISON_REGIONS, co2_g, equivalents, same_work_elsewhere)
from .resolve import intensity, resolve_region
from .schedule import read_intensity_file
from .tables import lookup, regions, world

__all__ = [
    "CarbonError", "Region", "IntensitySource", "UNIT", "intensity",
    "resolve_region", "co2_g", "lookup", "regions", "world", "same_work_elsewhere",
    "equivalents", "read_intensity_file", "COMPARISON_REGIONS", "EQUIVALENTS",
]

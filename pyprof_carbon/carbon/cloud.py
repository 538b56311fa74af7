"""Which cloud region this VM runs in, from the provider's instance metadata service.

A cheap local check comes first (/sys/class/dmi/id, overridable by env PYPROF_CARBON_DMI_ROOT):
on a machine that does not say it is an AWS, GCP or Azure VM, nothing is contacted at all.
Base URL of the metadata service: env PYPROF_CARBON_METADATA_URL (tests: a loopback server).
"""
from __future__ import annotations

import os
import urllib.error
from typing import Mapping, Optional, Tuple

TIMEOUT_S = 0.3
DEFAULT_BASE = {"aws": "http://169.254.169.254", "gcp": "http://metadata.google.internal",
                "azure": "http://169.254.169.254"}
AZURE_ASSET_TAG = "7783-7084-3265-9085-8269-3286-77"  # chassis_asset_tag of every Azure VM


def _read(root: str, name: str) -> str:
    try:
        with open(os.path.join(root, name), encoding="utf-8", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return ""


def detect_provider(env: Mapping[str, str] = os.environ) -> Optional[str]:
    """'aws' | 'gcp' | 'azure' from DMI strings, or None (no network involved)."""
    root = env.get("PYPROF_CARBON_DMI_ROOT") or "/sys/class/dmi/id"
    vendor = _read(root, "sys_vendor").lower()
    product = _read(root, "product_name").lower()
    bios = (_read(root, "bios_vendor") + " " + _read(root, "bios_version")).lower()
    if "amazon" in vendor or "amazon" in bios:
        return "aws"
    if "google" in vendor or "google compute engine" in product:
        return "gcp"
    if _read(root, "chassis_asset_tag") == AZURE_ASSET_TAG:
        return "azure"
    return None


def _get(url: str, headers: dict, method: str = "GET", timeout: float = TIMEOUT_S) -> str:
    import urllib.request  # lazily: tens of ms at start-up, and most runs never need it
    req = urllib.request.Request(url, headers=headers, method=method)
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return resp.read().decode("utf-8", errors="replace").strip()


def query_region(provider: str, base: str, timeout: float = TIMEOUT_S) -> Optional[str]:
    """The provider's region name for this VM, or None when the service does not answer."""
    base = base.rstrip("/")
    try:
        if provider == "aws":  # IMDSv2: a session token first
            token = _get(f"{base}/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "60"},
                         method="PUT", timeout=timeout)
            return _get(f"{base}/latest/meta-data/placement/region",
                        {"X-aws-ec2-metadata-token": token}, timeout=timeout) or None
        if provider == "gcp":  # projects/<n>/zones/<region>-<letter>
            zone = _get(f"{base}/computeMetadata/v1/instance/zone", {"Metadata-Flavor": "Google"},
                        timeout=timeout).rsplit("/", 1)[-1]
            return zone.rsplit("-", 1)[0] if zone.count("-") >= 2 else (zone or None)
        if provider == "azure":
            return _get(f"{base}/metadata/instance/compute/location?api-version=2021-02-01&format=text",
                        {"Metadata": "true"}, timeout=timeout) or None
    except (urllib.error.URLError, OSError, ValueError):
        return None
    return None


def cloud_region(env: Mapping[str, str] = os.environ) -> Optional[Tuple[str, str]]:
    """(provider, region) when running on a cloud VM whose metadata service answers, else None."""
    if env.get("PYPROF_CARBON_NO_CLOUD_METADATA", "") not in ("", "0"):
        return None
    provider = detect_provider(env)
    if provider is None:
        return None
    region = query_region(provider, env.get("PYPROF_CARBON_METADATA_URL") or DEFAULT_BASE[provider])
    return (provider, region) if region else None

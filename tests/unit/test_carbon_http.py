"""Cloud metadata and the live provider, against fake HTTP servers on 127.0.0.1 only."""
import argparse
import http.server
import json
import threading

import pytest

from pyprof_carbon import carbon
from pyprof_carbon.commands.options import add_carbon_options, intensity_from_args
from pyprof_carbon.carbon import cloud, live


class FakeServer:
    """routes: (method, path-with-query) -> (status, body, {header: required value})."""

    def __init__(self, routes):
        self.routes, self.requests = routes, []
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def _do(self):
                outer.requests.append((self.command, self.path, dict(self.headers)))
                status, body, need = outer.routes.get((self.command, self.path), (404, "no", {}))
                if any(self.headers.get(k) != v for k, v in need.items()):
                    status, body = 401, "missing header"
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = _do

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    servers = []

    def make(routes):
        s = FakeServer(routes)
        servers.append(s)
        return s
    yield make
    for s in servers:
        s.close()


def dmi(tmp_path, **files):
    root = tmp_path / "dmi"
    root.mkdir(exist_ok=True)
    for k, v in files.items():
        (root / k).write_text(v + "\n")
    return str(root)


def parse(*argv):
    p = argparse.ArgumentParser()
    add_carbon_options(p)
    return p.parse_args(list(argv))


AWS_ROUTES = {
    ("PUT", "/latest/api/token"): (200, "tok123", {"X-aws-ec2-metadata-token-ttl-seconds": "60"}),
    ("GET", "/latest/meta-data/placement/region"): (200, "eu-west-3", {"X-aws-ec2-metadata-token": "tok123"}),
}


def test_detect_provider_from_dmi(tmp_path):
    assert cloud.detect_provider({"PYPROF_CARBON_DMI_ROOT": dmi(tmp_path, sys_vendor="Amazon EC2")}) == "aws"
    assert cloud.detect_provider({"PYPROF_CARBON_DMI_ROOT": dmi(tmp_path, sys_vendor="Google",
                                                                product_name="Google Compute Engine")}) == "gcp"
    root = dmi(tmp_path, sys_vendor="Microsoft Corporation", product_name="Virtual Machine",
               chassis_asset_tag=cloud.AZURE_ASSET_TAG)
    assert cloud.detect_provider({"PYPROF_CARBON_DMI_ROOT": root}) == "azure"
    assert cloud.detect_provider({"PYPROF_CARBON_DMI_ROOT": str(tmp_path / "none")}) is None


def test_aws_imdsv2_region_resolves_to_its_grid(tmp_path, server):
    s = server(AWS_ROUTES)
    env = {"PYPROF_CARBON_DMI_ROOT": dmi(tmp_path, sys_vendor="Amazon EC2"), "PYPROF_CARBON_METADATA_URL": s.url}
    src = intensity_from_args(parse(), str(tmp_path), env)
    assert (src.code, src.origin, src.g_per_kwh, src.provider) == ("aws:eu-west-3", "cloud metadata (aws)", 56.0, "aws")
    assert [(m, p) for m, p, _ in s.requests] == [("PUT", "/latest/api/token"),
                                                  ("GET", "/latest/meta-data/placement/region")]


def test_gcp_and_azure_metadata(tmp_path, server):
    s = server({
        ("GET", "/computeMetadata/v1/instance/zone"): (200, "projects/42/zones/europe-west1-b", {"Metadata-Flavor": "Google"}),
        ("GET", "/metadata/instance/compute/location?api-version=2021-02-01&format=text"): (200, "westeurope", {"Metadata": "true"}),
    })
    env = {"PYPROF_CARBON_DMI_ROOT": dmi(tmp_path, sys_vendor="Google"), "PYPROF_CARBON_METADATA_URL": s.url}
    src = intensity_from_args(parse(), str(tmp_path), env)
    assert (src.code, src.origin) == ("gcp:europe-west1", "cloud metadata (gcp)")
    azure = tmp_path / "dmi-azure"
    azure.mkdir()
    (azure / "sys_vendor").write_text("Microsoft Corporation\n")
    (azure / "chassis_asset_tag").write_text(cloud.AZURE_ASSET_TAG + "\n")
    env = {"PYPROF_CARBON_DMI_ROOT": str(azure), "PYPROF_CARBON_METADATA_URL": s.url}
    src = intensity_from_args(parse(), str(tmp_path), env)
    assert (src.code, src.origin, src.country) == ("azure:westeurope", "cloud metadata (azure)", "NL")
    assert (src.provider, src.cloud_region) == ("azure", "westeurope")


def test_opt_outs_and_non_cloud_machines_contact_nothing(tmp_path, server):
    s = server(AWS_ROUTES)
    base = {"PYPROF_CARBON_METADATA_URL": s.url}
    aws = dmi(tmp_path, sys_vendor="Amazon EC2")
    src = intensity_from_args(parse("--no-cloud-metadata"), str(tmp_path), {**base, "PYPROF_CARBON_DMI_ROOT": aws})
    assert src.origin == "world average"
    src = intensity_from_args(parse(), str(tmp_path), {**base, "PYPROF_CARBON_DMI_ROOT": aws,
                                                     "PYPROF_CARBON_NO_CLOUD_METADATA": "1"})
    assert src.origin == "world average"
    other = tmp_path / "plain"
    other.mkdir()
    (other / "sys_vendor").write_text("Dell Inc.\n")
    src = intensity_from_args(parse(), str(tmp_path), {**base, "PYPROF_CARBON_DMI_ROOT": str(other)})
    assert src.origin == "world average"
    assert s.requests == []


def test_unknown_cloud_region_or_dead_service_falls_back(tmp_path, server):
    s = server({**AWS_ROUTES, ("GET", "/latest/meta-data/placement/region"): (200, "xx-moon-1", {})})
    env = {"PYPROF_CARBON_DMI_ROOT": dmi(tmp_path, sys_vendor="Amazon EC2"), "PYPROF_CARBON_METADATA_URL": s.url}
    assert intensity_from_args(parse(), str(tmp_path), env).origin == "world average"
    s2 = server({})  # every path 404
    env["PYPROF_CARBON_METADATA_URL"] = s2.url
    assert intensity_from_args(parse(), str(tmp_path), env).origin == "world average"
    assert len(s2.requests) == 1


# ---- live (Electricity Maps style) ----------------------------------------------------------

def em_routes(zone="FR", value=57, token="t0k"):
    return {("GET", f"/v3/carbon-intensity/latest?zone={zone}"):
            (200, {"zone": zone, "carbonIntensity": value, "datetime": "2024-03-01T12:00:00.000Z",
                   "emissionFactorType": "lifecycle", "isEstimated": False}, {"auth-token": token})}


def em_env(tmp_path, s, token="t0k"):
    return {"PYPROF_CARBON_ELECTRICITYMAPS_URL": s.url, "ELECTRICITYMAPS_TOKEN": token,
            "PYPROF_CARBON_CACHE_DIR": str(tmp_path / "cache"), "PYPROF_CARBON_NO_CLOUD_METADATA": "1"}


def test_live_latest_labelled_live_and_cached(tmp_path, server):
    s = server(em_routes())
    env = em_env(tmp_path, s)
    src = intensity_from_args(parse("--region", "FR", "--live-intensity"), str(tmp_path), env)
    assert (src.g_per_kwh, src.live, src.origin, src.code, src.country) == (57.0, True, "live (electricitymaps)", "FR", "FR")
    assert "Electricity Maps" in src.source and src.to_meta()["live"] is True
    assert len(s.requests) == 1
    assert (tmp_path / "cache" / "electricitymaps-latest-FR.json").exists()
    again = live.latest("FR", env=env)  # fresh cache: no request
    assert again.g_per_kwh == 57.0 and len(s.requests) == 1 and any("cache" in n for n in again.notes)


def test_live_cache_expiry_and_stale_fallback(tmp_path, server):
    s = server(em_routes(value=60))
    env = em_env(tmp_path, s)
    live.latest("FR", env=env, now=1_000_000.0)
    assert live.latest("FR", env=env, now=1_000_000.0 + 3599).g_per_kwh == 60.0
    assert len(s.requests) == 1
    s.routes.update(em_routes(value=80))
    assert live.latest("FR", env=env, now=1_000_000.0 + 3601).g_per_kwh == 80.0
    assert len(s.requests) == 2
    s.routes.clear()  # the API now fails: the stale entry is used, and says so
    stale = live.latest("FR", env=env, now=1_000_000.0 + 3 * 3600)
    assert stale.g_per_kwh == 80.0 and any("stale" in n for n in stale.notes)


def test_live_errors(tmp_path, server):
    s = server(em_routes())
    env = em_env(tmp_path, s)
    with pytest.raises(carbon.CarbonError, match="ELECTRICITYMAPS_TOKEN"):
        live.latest("FR", env={k: v for k, v in env.items() if k != "ELECTRICITYMAPS_TOKEN"})
    with pytest.raises(carbon.CarbonError, match="HTTP 401"):
        live.latest("FR", env=dict(env, ELECTRICITYMAPS_TOKEN="wrong"))
    with pytest.raises(carbon.CarbonError, match="HTTP 404 for zone DE"):
        live.latest("DE", env=env)
    with pytest.raises(carbon.CarbonError, match="needs a region or a zone"):
        intensity_from_args(parse("--live-intensity"), str(tmp_path), env)
    with pytest.raises(carbon.CarbonError, match="balancing areas"):
        intensity_from_args(parse("--live-intensity", "--region", "US-CA"), str(tmp_path), env)
    s.routes.update({("GET", "/v3/carbon-intensity/latest?zone=XX"): (200, {"zone": "XX"}, {})})
    with pytest.raises(carbon.CarbonError, match="no carbonIntensity"):
        live.latest("XX", env=env)


def test_live_explicit_zone_and_cloud_grid(tmp_path, server):
    s = server({**em_routes("SE-SE3", 20), **em_routes("US-CAL-CISO", 210)})
    env = em_env(tmp_path, s)
    src = intensity_from_args(parse("--region", "azure:swedencentral", "--live-intensity"), str(tmp_path), env)
    assert (src.code, src.g_per_kwh, src.provider, src.cloud_region) == ("SE-SE3", 20.0, "azure", "swedencentral")
    src = intensity_from_args(parse("--region", "US-CA", "--live-intensity", "US-CAL-CISO"), str(tmp_path), env)
    assert (src.code, src.g_per_kwh, src.country) == ("US-CAL-CISO", 210.0, "US")

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.config.file import load
from exporter.config.proxy import ProxySettings
from exporter.errors import ConfigError
from exporter.plan.expand import build_plan
from exporter.plan.probe_settings import probe_settings, proxy_credentials
from exporter.plan.proxy_routes import environment_proxy_url, paths_for, route_plan
from exporter.plan.targets import NetworkPath as Route
from exporter.plan.targets import Target
from exporter.probes.prober import Protocol

HTTPS = Target("manage.microsoft.com", 443, Protocol.HTTPS)
NTP = Target("time.windows.com", 123, Protocol.NTP)
PROXY = "http://proxy.corp.example:3128"


def test_paths_follow_the_configuration() -> None:
    assert paths_for("163", HTTPS, ProxySettings(), {}) == [(Route.DIRECT, "")]
    assert paths_for("163", HTTPS, ProxySettings(url=PROXY), {}) == [(Route.PROXY, "proxy.corp.example:3128")]
    both = ProxySettings(url=PROXY, also_direct=True)
    assert paths_for("163", HTTPS, both, {}) == [(Route.PROXY, "proxy.corp.example:3128"), (Route.DIRECT, "")]
    assert paths_for("165", NTP, ProxySettings(url=PROXY), {}) == [(Route.DIRECT, "")]
    per_set = ProxySettings(url=PROXY, sets={"178": "direct", "56": "http://other:8080"})
    assert paths_for("178", HTTPS, per_set, {}) == [(Route.DIRECT, "")]
    assert paths_for("56", HTTPS, per_set, {}) == [(Route.PROXY, "other:8080")]


def test_paths_from_the_environment_honour_no_proxy() -> None:
    settings = ProxySettings(from_environment=True)
    environ = {"HTTPS_PROXY": "http://user:secret@proxy.corp.example:3128", "NO_PROXY": ".microsoft.com"}
    assert paths_for("163", HTTPS, settings, environ) == [(Route.DIRECT, "")]
    apple = Target("itunes.apple.com", 443, Protocol.HTTPS)
    assert paths_for("178", apple, settings, environ) == [(Route.PROXY, "proxy.corp.example:3128")]
    plain = Target("itunes.apple.com", 80, Protocol.HTTP)
    assert paths_for("178", plain, settings, environ) == [(Route.DIRECT, "")]  # no HTTP_PROXY
    assert environment_proxy_url("proxy.corp.example:8080") == "http://proxy.corp.example:8080"
    assert environment_proxy_url("socks5://proxy:1080") is None


def test_anonymous_path_only_for_flagged_entries_and_only_with_credentials(tmp_path: Path) -> None:
    loaded = load(None)
    plan = build_plan(loaded.config, loaded.catalogue)
    routed = route_plan(plan, ProxySettings(url=PROXY), has_credentials=True, environ={})
    anonymous = {t.host for t in routed.targets if t.path is Route.PROXY_ANONYMOUS}
    assert anonymous == {"manage.microsoft.com", "graph.microsoft.com", "intunecdnpeasd.azureedge.net"} | {
        t.host for t in routed.targets if t.host.endswith(".azureedge.net")
    }
    without = route_plan(plan, ProxySettings(url=PROXY), has_credentials=False, environ={})
    assert not any(t.path is Route.PROXY_ANONYMOUS for t in without.targets)


def test_credentials_from_a_variable_or_a_file_never_in_errors(tmp_path: Path) -> None:
    config_path = tmp_path / "exporter.yml"
    config_path.write_text(f"proxy:\n  url: {PROXY}\n  credentials_env: PROXY_LOGIN\n")
    loaded = load(config_path)
    assert proxy_credentials(loaded.config, loaded.source, {"PROXY_LOGIN": "svc:s3cret"}) == "svc:s3cret"
    with pytest.raises(ConfigError, match=r"field 'proxy\.credentials_env': environment variable is unset"):
        proxy_credentials(loaded.config, loaded.source, {})
    with pytest.raises(ConfigError) as caught:
        proxy_credentials(loaded.config, loaded.source, {"PROXY_LOGIN": "s3cret-without-user"})
    assert "s3cret" not in str(caught.value)

    (tmp_path / "login").write_text("svc:from-file\n")
    config_path.write_text(f"proxy:\n  url: {PROXY}\n  credentials_file: login\n")
    loaded = load(config_path)
    assert proxy_credentials(loaded.config, loaded.source) == "svc:from-file"
    route = probe_settings(loaded).routes["proxy.corp.example:3128"]
    assert "from-file" not in repr(route)
    assert route.display == "proxy.corp.example:3128"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("proxy:\n  url: http://user:pw@proxy:3128\n", "credentials do not belong in the URL"),
        ("proxy:\n  url: https://proxy:3128\n", "a proxy is 'http://HOST:PORT'"),
        ('proxy:\n  sets: {"999": direct}\n', "field 'proxy.sets[0]': unknown set id"),
        ("proxy:\n  url: http://proxy:3128\n  from_environment: true\n", "either url or from_environment"),
    ],
)
def test_bad_proxy_configuration(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "exporter.yml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert message in str(caught.value)

"""`catalogue export`: filters on every format, the PAC file evaluated by a PAC runtime, squid's ACL files
parsed by squid itself."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pacparser
import pytest

from exporter.catalogue import EndpointSet, builtin_editions, load_builtin
from exporter.catalogue.allowlist import allowlist, networks
from exporter.catalogue.pac import proxy_address
from exporter.cli import main
from exporter.config.file import load
from exporter.plan.selection import selected_sets
from tests.support.simulators.squid import squid_binary

PROXY = "127.0.0.1:3128"
VIA_PROXY = f"PROXY {PROXY}; DIRECT"


def export(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["catalogue", "export", *args]) == 0
    return capsys.readouterr().out


def failure(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["catalogue", "export", *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "Traceback" not in captured.err
    return captured.err


def web_set(set_id: str, urls: tuple[str, ...], ips: tuple[str, ...] = ()) -> EndpointSet:
    return EndpointSet(id=set_id, name=set_id, section="Test", urls=urls, ips=ips, tcp_ports=(443,))


# ---------------------------------------------------------------- deduplication


def test_squid_domains_keep_only_the_topmost_entries() -> None:
    sets = [
        web_set("a", ("*.example.com", "example.com", "a.example.com", "*.b.example.com", "Other.test")),
        web_set("b", ("*.other.test", "solo.example.org", "solo.example.org")),
        EndpointSet(id="ntp", name="ntp", section="Test", urls=("time.example.net",), udp_ports=(123,)),
    ]
    squid = allowlist(sets, domain_covers_apex=True)
    assert squid.domains == ("example.com", "other.test")
    assert squid.hosts == ("solo.example.org",)  # UDP-only sets are not proxied
    pac = allowlist(sets, domain_covers_apex=False)
    assert pac.domains == ("example.com", "other.test")
    assert pac.hosts == ("example.com", "solo.example.org", "other.test")


def test_ranges_are_merged() -> None:
    sets = [
        web_set("a", (), ("10.0.0.0/25", "10.0.0.128/25", "10.0.0.16/28", "2001:db8::/48", "192.0.2.0/24"))
    ]
    assert [str(n) for n in networks(sets)] == ["10.0.0.0/24", "192.0.2.0/24", "2001:db8::/48"]


# ---------------------------------------------------------------- PAC


@pytest.fixture
def pac_runtime() -> Iterator[None]:
    pacparser.init()
    try:
        yield
    finally:
        pacparser.cleanup()


def route(pac: str, host: str) -> str:
    pacparser.parse_pac_string(pac)
    answer: str = pacparser.find_proxy(f"https://{host}/", host)
    return answer


def test_pac_sends_catalogue_hosts_to_the_proxy(
    capsys: pytest.CaptureFixture[str], pac_runtime: None
) -> None:
    pac = export(capsys, "--format", "pac", "--proxy", PROXY)
    assert "function FindProxyForURL(url, host)" in pac
    chosen = selected_sets(load(None).config, load_builtin())
    exact = {url for s in chosen if s.tcp_ports for url in s.urls if not url.startswith("*.")}
    assert len(exact) > 50
    for host in sorted(exact):
        assert route(pac, host) == VIA_PROXY, host
    for host in (
        "a.manage.microsoft.com",  # *.manage.microsoft.com
        "Deep.Name.Manage.Microsoft.com",
        "x.prod.do.dsp.mp.microsoft.com",
        "anything.azureedge.net",
        "manage.microsoft.com.",  # a fully qualified name
    ):
        assert route(pac, host) == VIA_PROXY, host
    for host in (
        "example.org",
        "microsoft.com",
        "evilmanage.microsoft.com",
        "manage.microsoft.com.example.org",
        "azureedge.net",  # the apex of '*.azureedge.net' is not in the catalogue
        "time.windows.com",  # NTP over UDP: no proxy carries it
    ):
        assert route(pac, host) == "DIRECT", host


def test_pac_default_proxy_reverses_the_routes(capsys: pytest.CaptureFixture[str], pac_runtime: None) -> None:
    pac = export(capsys, "--format", "pac", "--proxy", "Proxy.Corp.Example:8080", "--pac-default", "proxy")
    assert route(pac, "manage.microsoft.com") == "DIRECT"
    assert route(pac, "x.manage.microsoft.com") == "DIRECT"
    assert route(pac, "example.org") == "PROXY proxy.corp.example:8080; DIRECT"


def test_pac_honours_the_set_filter(capsys: pytest.CaptureFixture[str], pac_runtime: None) -> None:
    pac = export(capsys, "--format", "pac", "--proxy", "[::1]:3128", "--set", "163")
    assert route(pac, "enterpriseenrollment.manage.microsoft.com") == "PROXY [::1]:3128; DIRECT"
    assert route(pac, "login.live.com") == "DIRECT"  # set 97


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("http://proxy:3128", "without a scheme"),
        ("proxy", "HOST:PORT"),
        ("proxy:0", "port from 1 to 65535"),
        ("proxy:70000", "port from 1 to 65535"),
        ("bad_host!:3128", "not a host name or IP address"),
        ("*.example.com:3128", "not a host name or IP address"),
        ("[nope]:3128", "not an IPv6 address"),
        ("::1:3128", "not a host name or IP address"),
    ],
)
def test_bad_proxy_is_a_usage_error(capsys: pytest.CaptureFixture[str], value: str, problem: str) -> None:
    err = failure(capsys, "--format", "pac", "--proxy", value)
    assert err.startswith("intune-exporter: --proxy: ")
    assert problem in err
    assert repr(value) in err


def test_proxy_addresses_are_normalised() -> None:
    assert proxy_address("10.1.2.3:3128") == "10.1.2.3:3128"
    assert proxy_address("[2001:DB8::1]:8080") == "[2001:db8::1]:8080"
    assert proxy_address("Proxy.Example.COM:03128") == "proxy.example.com:3128"


def test_pac_flags_go_together(capsys: pytest.CaptureFixture[str]) -> None:
    assert "--format pac needs --proxy HOST:PORT" in failure(capsys, "--format", "pac")
    assert "--proxy: only --format pac uses a proxy (got '127.0.0.1:3128')" in failure(
        capsys, "--format", "squid", "--proxy", PROXY
    )
    assert "--pac-default: only --format pac uses it (got 'proxy')" in failure(
        capsys, "--pac-default", "proxy"
    )


# ---------------------------------------------------------------- squid


def squid_parse(directory: Path, domains: str, ranges: str) -> subprocess.CompletedProcess[str]:
    (directory / "intune-domains.acl").write_text(domains)
    (directory / "intune-ips.acl").write_text(ranges)
    conf = directory / "squid.conf"
    conf.write_text(
        "\n".join(
            [
                "http_port 127.0.0.1:3128",
                f"pid_filename {directory / 'squid.pid'}",
                f"cache_log {directory / 'cache.log'}",
                f'acl intune_domains dstdomain "{directory / "intune-domains.acl"}"',
                f'acl intune_ips dst "{directory / "intune-ips.acl"}"',
                "http_access allow intune_domains",
                "http_access allow intune_ips",
                "http_access deny all",
                "",
            ]
        )
    )
    # -d 1 copies squid's messages, warnings included, to stderr.
    return subprocess.run(
        [squid_binary(), "-k", "parse", "-d", "1", "-f", str(conf)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@pytest.mark.parametrize("edition", builtin_editions())
def test_squid_accepts_both_acl_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], edition: str
) -> None:
    config = tmp_path / "exporter.yml"
    config.write_text(f"catalogue_edition: '{edition}'\n")
    domains = export(capsys, "--config", str(config), "--format", "squid")
    ranges = export(capsys, "--config", str(config), "--format", "squid-ips")
    assert f"edition {edition}," in domains.splitlines()[0]
    if edition != "seed":
        assert "\n2620:1ec:4a::/47\n" in ranges  # Azure Front Door's IPv6 ranges, after the IPv4 ones
    assert ".manage.microsoft.com\n" in domains
    assert "\nmanage.microsoft.com\n" not in domains  # covered by .manage.microsoft.com
    assert "13.86.221.176/28\n" in ranges
    done = squid_parse(tmp_path, domains, ranges)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log
    assert "Processing: acl intune_domains dstdomain" in log  # squid did read them
    assert "Processing: acl intune_ips dst" in log
    assert "WARNING" not in log
    assert "ERROR" not in log


def test_squid_would_reject_the_entries_the_export_drops(tmp_path: Path) -> None:
    """The check above can fail: every entry as written, wildcards as '.domain', is what squid refuses."""
    sets = selected_sets(load(None).config, load_builtin())
    naive = sorted({url.lower().removeprefix("*") for s in sets for url in s.urls})
    doubled = "13.86.221.176/28\n13.86.221.176/29\n"
    done = squid_parse(tmp_path, "\n".join(naive) + "\n", doubled)
    log = done.stdout + done.stderr
    assert "is a subdomain of" in log
    assert done.returncode != 0


def test_squid_ips_with_no_ranges_is_only_comments(capsys: pytest.CaptureFixture[str]) -> None:
    out = export(capsys, "--format", "squid-ips", "--set", "170")
    assert out and all(line.startswith("#") for line in out.splitlines())


# ---------------------------------------------------------------- selection and filters


def test_default_export_is_the_configurations_selection(capsys: pytest.CaptureFixture[str]) -> None:
    ids = [item["id"] for item in json.loads(export(capsys))]
    assert ids == [s.id for s in selected_sets(load(None).config, load_builtin())]
    assert "188" not in ids  # GCC only
    assert "do-peer" not in ids  # off by default
    everything = [item["id"] for item in json.loads(export(capsys, "--all"))]
    assert everything == [s.id for s in load_builtin().sets]


def test_tenant_location_and_filters_apply_to_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "exporter.yml"
    config.write_text("tenant_location: AMSUB0101\n")
    out = export(capsys, "--config", str(config), "--format", "csv", "--section", "scripts and win32 apps")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {r["set_id"] for r in rows} == {"asu-eu", "ime-diagnostics"}  # the latter serves every region
    out = export(capsys, "--format", "csv", "--set", "165", "--section", "Apple")
    assert {r["set_id"] for r in csv.DictReader(io.StringIO(out))} == {"165", "178"}


def test_set_filter_applies_to_squid(capsys: pytest.CaptureFixture[str]) -> None:
    out = export(capsys, "--format", "squid", "--set", "170")
    entries = [line for line in out.splitlines() if not line.startswith("#")]
    assert entries == sorted(load_builtin().by_id()["170"].urls, key=lambda h: h.split(".")[::-1])
    assert "# Sets: 170." in out


def test_filter_errors_name_the_flag_and_the_choices(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = failure(capsys, "--set", "999")
    assert err.startswith("intune-exporter: --set: unknown set id; known ids: 56, 59, 97,")
    assert err.endswith("(got '999')\n")
    err = failure(capsys, "--format", "squid", "--section", "Nowhere")
    assert "intune-exporter: --section: unknown section; known: Android, Apple," in err
    assert "(got 'Nowhere')" in err
    err = failure(capsys, "--set", "188")
    assert "--set: not selected by built-in default configuration (not used in cloud 'public')" in err
    err = failure(capsys, "--set", "do-peer")
    assert "(off by default; add it to sets.enabled)" in err
    config = tmp_path / "exporter.yml"
    config.write_text("sections:\n  disabled: [Apple]\n")
    err = failure(capsys, "--config", str(config), "--section", "apple")
    assert f"--section: {config} selects no set of this section; sections selected:" in err
    assert "cannot be combined with --set or --section" in failure(capsys, "--all", "--set", "163")


def test_extra_endpoint_sets_can_be_chosen(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "exporter.yml"
    config.write_text(
        "extra_endpoints:\n  - {set_id: corp, hosts: [app.corp.example], tcp_ports: [443], section: Corp}\n"
    )
    out = export(capsys, "--config", str(config), "--format", "squid", "--set", "CORP")
    assert out.splitlines()[-1] == "app.corp.example"
    assert "app.corp.example" in export(
        capsys, "--config", str(config), "--format", "csv", "--section", "corp"
    )
    config.write_text(config.read_text() + "sets:\n  disabled: [corp]\n")
    err = failure(capsys, "--config", str(config), "--set", "corp")
    assert f"--set: not selected by {config} (in sets.disabled)" in err

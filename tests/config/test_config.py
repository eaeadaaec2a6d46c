from __future__ import annotations

from pathlib import Path

import pytest

from exporter.catalogue import Cloud, default_edition, load_builtin
from exporter.config.durations import format_duration, parse_duration
from exporter.config.file import DEFAULT_LISTEN, load, split_listen
from exporter.errors import ConfigError
from exporter.probes.outcome import Phase
from tests.support.paths import DATA as TEST_DATA

DATA = TEST_DATA / "config"
PLANTED = "planted-password-3b9d"  # in the invalid-*-credentials.yml files; never in a message
PROXY_CREDENTIALS = (
    "contains credentials (user:password@); credentials do not belong in the URL: put them in "
    "proxy.credentials_env or proxy.credentials_file (got <redacted>)"
)
REFERENCE_CREDENTIALS = (
    "contains credentials (user:password@); references are fetched without authentication, so their URLs "
    "take none (got <redacted>)"
)

INVALID = {
    "invalid-unknown-key.yml": "invalid-unknown-key.yml: field 'bogus_key': unknown key",
    "invalid-wrong-type.yml": "field 'concurrency': Input should be a valid integer, unable to parse string "
    "as an integer (got 'lots')",
    "invalid-unknown-set.yml": "field 'sets.disabled[0]': unknown set id; known ids: 56, 59, 97,",
    "invalid-bad-duration.yml": "field 'interval': not a duration; use e.g. '500ms', '30s', '1m30s' or '2h' "
    "(got '5 minutes')",
    "invalid-bad-cidr.yml": "bad-cidr-catalogue.yml: field 'sets[0].ips[1]': not a CIDR range: '10.1.2.3/33' "
    "does not appear to be an IPv4 or IPv6 network (got '10.1.2.3/33')",
    "invalid-nameserver.yml": "field 'dns.nameservers[0]': not an IP address (got 'dns.corp.example')",
    "invalid-tenant-location.yml": "field 'tenant_location': tenant location must look like 'AMSUA0101'",
    "invalid-listen.yml": "field 'listen': listen address must be host:port",
    "invalid-yaml.yml": "invalid-yaml.yml: not valid YAML at line 2, column 1",
    "invalid-unknown-section.yml": "field 'sections.disabled[0]': unknown section; known: ['Android',",
    "invalid-negative-timeout.yml": "field 'timeouts.tls': not a duration",
    "invalid-probe-added-without-suffixes.yml": "invalid-probe-added-without-suffixes.yml: field 'drift': "
    "probe_added needs allowed_suffixes: name the domains a reference list may make the exporter probe, "
    "e.g. [microsoft.com, windows.net]",
    "invalid-catalogue-edition.yml": "invalid-catalogue-edition.yml: field 'catalogue_edition': "
    "unknown catalogue edition; built-in editions: 2025-08-21, seed (got '2019-01-01')",
    "invalid-proxy-url-credentials.yml": "invalid-proxy-url-credentials.yml: field 'proxy.url': "
    + PROXY_CREDENTIALS,
    "invalid-proxy-sets-credentials.yml": "invalid-proxy-sets-credentials.yml: field 'proxy.sets.163': "
    + PROXY_CREDENTIALS,
    "invalid-reference-url-credentials.yml": "invalid-reference-url-credentials.yml: "
    "field 'drift.references[0].url': " + REFERENCE_CREDENTIALS,
    "invalid-web-service-credentials.yml": "invalid-web-service-credentials.yml: "
    "field 'drift.web_service.base_url': " + REFERENCE_CREDENTIALS,
    "invalid-page-url-credentials.yml": "invalid-page-url-credentials.yml: field 'drift.page.url': "
    + REFERENCE_CREDENTIALS,
}


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_config_names_file_field_and_value(name: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(DATA / name)
    message = str(caught.value)
    assert INVALID[name] in message
    assert "Traceback" not in message
    assert PLANTED not in message
    if "credentials" in name:
        assert PLANTED in (DATA / name).read_text()
        assert message.endswith(INVALID[name])


def test_every_invalid_file_has_an_expected_message() -> None:
    assert {p.name for p in DATA.glob("invalid-*.yml")} == set(INVALID)


def test_builtin_defaults_need_no_file() -> None:
    loaded = load(None)
    config = loaded.config
    assert config.listen == DEFAULT_LISTEN
    assert config.interval == 60.0
    assert config.cloud is Cloud.PUBLIC
    assert config.phase_timeout(Phase.TLS) == 10.0
    assert loaded.source == "built-in default configuration"


def test_empty_file_means_defaults(tmp_path: Path) -> None:
    path = tmp_path / "empty.yml"
    path.write_text("")
    assert load(path).config == load(None).config


def test_full_file_is_read(tmp_path: Path) -> None:
    loaded = load(DATA / "valid-full.yml")
    config = loaded.config
    assert config.interval == 90.0
    assert config.phase_timeout(Phase.DNS) == 2.0
    assert config.phase_timeout(Phase.NTP) == 0.5
    assert config.phase_timeout(Phase.CONNECT) == 5.0
    assert config.tenant_location == "AMSUB0202"
    assert config.port_remap == {443: 8443}
    assert config.dns.nameservers == ("127.0.0.1",)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yml: cannot read file: No such file or directory"):
        load(tmp_path / "nope.yml")


def test_relative_ca_file_is_resolved_against_the_config(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("placeholder")
    path = tmp_path / "exporter.yml"
    path.write_text("tls:\n  ca_file: ca.pem\n")
    assert load(path).config.tls.ca_file == tmp_path / "ca.pem"
    path.write_text("tls:\n  ca_file: missing.pem\n")
    with pytest.raises(ConfigError, match=r"field 'tls.ca_file': file not found \(got 'missing.pem'\)"):
        load(path)


def test_catalogue_edition_selects_a_built_in_edition(tmp_path: Path) -> None:
    assert load(None).catalogue == load_builtin(default_edition())
    assert default_edition() == "2025-08-21"
    path = tmp_path / "exporter.yml"
    for text, edition in (
        ("catalogue_edition: seed\n", "seed"),
        ("catalogue_edition: 2025-08-21\n", "2025-08-21"),  # read by YAML as a date
        ("catalogue_edition: '2025-08-21'\n", "2025-08-21"),
        ("catalogue_edition: null\n", "2025-08-21"),
    ):
        path.write_text(text)
        loaded = load(path)
        assert loaded.catalogue.edition is not None
        assert loaded.catalogue.edition.id == edition, text
        assert loaded.catalogue == load_builtin(edition)


def test_catalogue_files_merge_over_the_selected_edition(tmp_path: Path) -> None:
    corp = "sets:\n  - {id: corp, name: Corp, section: Local, urls: [a.corp.example]}\n"
    (tmp_path / "corp.yaml").write_text(corp)
    path = tmp_path / "exporter.yml"
    path.write_text("catalogue_edition: seed\ncatalogue_files: [corp.yaml]\n")
    catalogue = load(path).catalogue
    assert catalogue.edition == load_builtin("seed").edition
    assert [s.id for s in catalogue.sets] == [s.id for s in load_builtin("seed").sets] + ["corp"]


def test_tenant_location_outside_every_region_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "exporter.yml"
    path.write_text("tenant_location: AMSUZ0101\n")
    with pytest.raises(ConfigError, match="no Azure Scale Unit set in the catalogue serves it"):
        load(path)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("30s", 30.0), ("1m30s", 90.0), ("2h", 7200.0), ("1.5s", 1.5), ("1d", 86400.0)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "5 minutes", "1x", "s", "-1s", "1s2"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_format_duration() -> None:
    assert [format_duration(s) for s in (0.25, 5.0, 120.0)] == ["250ms", "5s", "2m"]
    larger = (0.0, 1.5, 90.0, 21600.0, 86400.0)
    assert [format_duration(s) for s in larger] == ["0s", "1.5s", "90s", "6h", "1d"]
    assert all(parse_duration(format_duration(s)) == s for s in (0.25, 1.5, 90.0, 3600.0, 93784.0))


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0.0.0.0:10094", ("0.0.0.0", 10094)), (":9", ("0.0.0.0", 9)), ("[::]:10094", ("::", 10094))],
)
def test_listen_addresses(text: str, expected: tuple[str, int]) -> None:
    assert split_listen(text) == expected

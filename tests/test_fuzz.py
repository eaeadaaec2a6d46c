"""Property tests: untrusted input gives a result or the documented error, never another exception."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exporter.catalogue import load_builtin, pattern_matches, wildcard_matches
from exporter.config.drift import Limits
from exporter.config.durations import parse_duration
from exporter.config.file import load
from exporter.errors import ConfigError
from exporter.reference.drift import compute_drift
from exporter.reference.items import parse_ports, parse_reference
from exporter.reference.types import FetchFailure, ReferenceFetchError

CATALOGUE = load_builtin()
json_leaf = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40)
json_values = st.recursive(
    json_leaf,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)
ITEM_KEYS = [
    "id",
    "serviceArea",
    "urls",
    "ips",
    "tcpPorts",
    "udpPorts",
    "category",
    "required",
    "expressRoute",
    "notes",
]
items = st.dictionaries(st.sampled_from(ITEM_KEYS), json_values, max_size=len(ITEM_KEYS))
hostish = st.text(alphabet="abcxyz019.-*_ /:é\n", max_size=40)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(json_values | st.lists(items | json_values, max_size=8))
def test_reference_parser_never_raises_anything_else(data: Any) -> None:
    try:
        parsed = parse_reference(data, Limits(max_items=5, max_values_per_item=20))
    except ReferenceFetchError as exc:
        assert exc.reason is FetchFailure.BAD_SHAPE
        return
    for item in parsed.items:
        assert all(url == url.strip().lower() and " " not in url for url in item.urls)
        assert all(1 <= port <= 65535 for port in item.tcp_ports | item.udp_ports)
    compute_drift(CATALOGUE, parsed.items)  # whatever was accepted can be compared


@settings(max_examples=300)
@given(st.text(alphabet="0123456789,- x", max_size=30))
def test_port_lists(text: str) -> None:
    ports, bad = parse_ports(text)
    assert all(1 <= port <= 65535 for port in ports)
    assert all(isinstance(token, str) for token in bad)


@settings(max_examples=300)
@given(hostish, hostish)
def test_wildcard_matching(pattern: str, host: str) -> None:
    assert isinstance(wildcard_matches(pattern, host), bool)
    assert isinstance(pattern_matches(pattern, host), bool)
    if pattern.startswith("*.") and wildcard_matches(pattern, host):
        assert host.lower().endswith(pattern[1:].lower())


@settings(max_examples=300)
@given(st.text(max_size=12))
def test_durations(text: str) -> None:
    try:
        assert parse_duration(text) >= 0
    except ValueError as exc:
        assert "not a duration" in str(exc)


CONFIG_KEYS = [
    "interval",
    "timeout",
    "concurrency",
    "listen",
    "sets",
    "sections",
    "dns",
    "tls",
    "proxy",
    "drift",
    "tenant_location",
    "cloud",
    "port_remap",
    "extra_endpoints",
    "wildcard_representatives",
    "bogus",
]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(CONFIG_KEYS), json_values, max_size=4) | json_values)
def test_config_loader_gives_a_config_or_one_clear_error(data: Any) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "exporter.yml"
        path.write_text(yaml.safe_dump(data))
        try:
            load(path)
        except ConfigError as exc:
            message = str(exc)
            assert message.startswith(str(path))
            assert "\n" not in message.strip() or "YAML" in message

"""Fixtures: local DNS and NTP simulators."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.simulators.dns_server import DNSServer
from tests.support.simulators.ntp_server import NTPServer


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def dns_server() -> Iterator[DNSServer]:
    """A fresh DNS simulator on 127.0.0.1:`.port` with no records; configure it in the test."""
    with DNSServer() as server:
        yield server


@pytest.fixture
def ntp_server() -> Iterator[NTPServer]:
    """A fresh NTP simulator on 127.0.0.1:`.port` whose clock agrees with ours."""
    with NTPServer() as server:
        yield server

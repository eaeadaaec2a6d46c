"""Fixtures: real corporate proxies in front of the loopback lab (Squid, and mitmproxy for TLS inspection).

Each proxy resolves `LAB_HOSTS` itself (no real DNS): every concrete name of the built-in catalogue (every
edition) goes to HEALTHY (127.0.0.1), and a few role names to the lab's misbehaving addresses. Ports pass
through unchanged, so clients ask for ``manage.microsoft.com:{loopback_lab.https_port}``.

Note: the lab's leaf certificates cover ``*.example.test`` but not ``*.lab.example.test``, so a client
that completes TLS with ``untrusted.lab.example.test`` sees an untrusted chain (OpenSSL reports it before
the name) while ``expired.example.test`` is the name that shows an expired certificate.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from exporter.catalogue import builtin_editions, load_builtin
from tests.support.simulators.mitm import MitmProxy
from tests.support.simulators.squid import SquidProxy
from tests.support.simulators.tls_servers import (
    BLACKHOLE,
    EXPIRED,
    HEALTHY,
    REFUSED,
    SILENT,
    UNTRUSTED,
    LoopbackLab,
)


def _catalogue_hosts() -> list[str]:
    """The concrete names of every built-in edition."""
    names: set[str] = set()
    for catalogue in map(load_builtin, builtin_editions()):
        names |= {url.lower() for endpoint_set in catalogue.sets for url in endpoint_set.urls}
        names |= {host.lower() for hosts in catalogue.wildcard_representatives.values() for host in hosts}
    return sorted(name for name in names if "*" not in name)


LAB_HOSTS: dict[str, str] = {
    **dict.fromkeys(_catalogue_hosts(), HEALTHY),
    "refused.lab.example.test": REFUSED,
    "blackhole.lab.example.test": BLACKHOLE,
    "untrusted.lab.example.test": UNTRUSTED,
    "silent.lab.example.test": SILENT,
    "expired.example.test": EXPIRED,
}
"""Host name -> lab address, as every proxy fixture resolves it."""


@pytest.fixture(scope="session")
def squid_open() -> Iterator[SquidProxy]:
    """Squid that lets every local client through (CONNECT to any port)."""
    with SquidProxy(LAB_HOSTS) as proxy:
        yield proxy


@pytest.fixture(scope="session")
def squid_auth() -> Iterator[SquidProxy]:
    """Squid requiring basic auth (`.username`, `.password`, `.url_with_credentials`); else 407."""
    with SquidProxy(LAB_HOSTS, auth=True) as proxy:
        yield proxy


@pytest.fixture(scope="session")
def mitm_inspecting(loopback_lab: LoopbackLab) -> Iterator[MitmProxy]:
    """mitmproxy intercepting TLS with its own CA (`.ca_cert_path`), trusting the lab's CA upstream."""
    with MitmProxy(LAB_HOSTS, upstream_ca=loopback_lab.ca_pem_path) as proxy:
        yield proxy


@pytest.fixture(scope="session")
def mitm_range_stripping(loopback_lab: LoopbackLab) -> Iterator[MitmProxy]:
    """Like `mitm_inspecting`, but it removes Range headers: byte-range requests get the whole body."""
    with MitmProxy(LAB_HOSTS, upstream_ca=loopback_lab.ca_pem_path, strip_range=True) as proxy:
        yield proxy

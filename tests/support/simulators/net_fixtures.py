"""Fixtures: local TCP, TLS and HTTP simulators with their own CAs (see tls_servers for the lab)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from exporter.lab.certs import LabCA
from tests.support.simulators.tls_servers import TRUSTED_CA_NAME, UNTRUSTED_CA_NAME, LoopbackLab, running_lab


@pytest.fixture(scope="session")
def ca() -> LabCA:
    """The CA the lab trusts: `loopback_lab.ca_pem_path` holds it."""
    return LabCA(*TRUSTED_CA_NAME)


@pytest.fixture(scope="session")
def untrusted_ca() -> LabCA:
    """A CA nobody trusts, standing in for a TLS-inspecting proxy."""
    return LabCA(*UNTRUSTED_CA_NAME)


@pytest.fixture(scope="session")
def loopback_lab(
    tmp_path_factory: pytest.TempPathFactory, ca: LabCA, untrusted_ca: LabCA
) -> Iterator[LoopbackLab]:
    with running_lab(tmp_path_factory.mktemp("loopback-lab"), ca, untrusted_ca) as lab:
        yield lab

"""Stopping `serve`: SIGTERM ends it promptly even while probes hang, a stuck shutdown is cut short, and
state files are replaced atomically, so a kill at any moment leaves whole files."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from exporter.commands.exit_codes import EXIT_FAILED
from exporter.commands.shutdown import ShutdownDeadline
from exporter.lab.certs import LabCA
from exporter.reference.snapshot import Snapshot, SnapshotStore, load_or_create_client_id
from tests.support.fault_lab import arrange_dns, dns_host, write_catalogue, write_config
from tests.support.serving import exporter_command, started, wait_for
from tests.support.simulators.dns_server import DNSServer
from tests.support.simulators.faults import Fault, FaultLab, running_faults
from tests.support.simulators.processes import free_port

HANGING = [
    (Fault.TARPIT.host, "tls"),
    (Fault.TARPIT.host, "http"),
    (Fault.TARPIT.host, "https"),
    (Fault.DRIP.host, "http"),
    (Fault.BLACKHOLE.host, "https"),
    (dns_host("dns-timeout"), "https"),
]
"""Targets whose probes each wait out their 30 s timeout."""


def test_deadline_exits_with_an_error_when_shutdown_hangs(caplog: pytest.LogCaptureFixture) -> None:
    exits: list[int] = []
    called = threading.Event()

    def fake_exit(code: int) -> None:
        exits.append(code)
        called.set()

    ShutdownDeadline(0.1, exit=fake_exit).start()

    assert called.wait(5)
    assert exits == [EXIT_FAILED] and EXIT_FAILED != 0
    assert any(
        record.levelno == logging.ERROR and "shutdown did not finish within 0.1s" in record.getMessage()
        for record in caplog.records
    )


def test_deadline_cancelled_in_time_does_nothing() -> None:
    exits: list[int] = []
    deadline = ShutdownDeadline(0.2, exit=exits.append)
    deadline.start()
    deadline.cancel()
    time.sleep(0.5)
    assert exits == []


@pytest.fixture
def fault_lab(ca: LabCA, untrusted_ca: LabCA) -> Iterator[FaultLab]:
    with running_faults(ca, untrusted_ca) as lab:
        yield lab


@pytest.mark.parametrize("sent", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_serve_while_probes_hang(
    tmp_path: Path, fault_lab: FaultLab, dns_server: DNSServer, ca: LabCA, sent: signal.Signals
) -> None:
    arrange_dns(dns_server)
    catalogue = write_catalogue(tmp_path / "hanging.yml", HANGING)
    ca_file = tmp_path / "lab-ca.pem"
    ca_file.write_bytes(ca.cert_pem)
    config = write_config(
        tmp_path / "config.yml", catalogue, dns_server.port, fault_lab, ca_file, timeout="30s"
    )
    port = free_port()
    with started(exporter_command("serve", port, "--config", str(config))) as process:
        # Probes in flight: every hanging server has its connection, the DNS query is out, none is done.
        wait_for(
            lambda: (
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
                and fault_lab.accepted[Fault.TARPIT] >= 3
                and fault_lab.accepted[Fault.DRIP] >= 1
                and dns_server.queries[dns_host("dns-timeout")] >= 1
            ),
            process,
            what="probes in flight",
        )
        assert httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code == 503

        process.send_signal(sent)
        sent_at = time.monotonic()
        output, _ = process.communicate(timeout=5)
        elapsed = time.monotonic() - sent_at
    assert process.returncode == 0, output
    assert elapsed < 5
    assert f"received {sent.name}, shutting down" in output
    assert "stopped" in output
    assert "Traceback" not in output


def test_state_files_are_renamed_into_place_from_their_own_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state"
    renames: list[tuple[Path, Path]] = []
    real_replace = os.replace

    def recording_replace(source: str, destination: str) -> None:
        renames.append((Path(source), Path(destination)))
        real_replace(source, destination)

    monkeypatch.setattr(os, "replace", recording_replace)
    SnapshotStore(state).save(Snapshot("webservice-worldwide", "2025112700", 1.0, []))
    load_or_create_client_id(state)

    assert len(renames) == 2
    for source, destination in renames:
        assert source.parent == destination.parent == state  # same file system: rename(2) is atomic
        assert source != destination
        assert not source.exists() and destination.is_file()
    assert sorted(path.name for path in state.iterdir()) == sorted(dest.name for _, dest in renames)

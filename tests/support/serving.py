"""Running `intune-exporter` (serve, lab) as a subprocess for end-to-end tests."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.simulators.processes import free_port

EXPORTER = Path(sys.executable).parent / "intune-exporter"


class Served:
    def __init__(self, process: subprocess.Popen[str], base: str) -> None:
        self.process = process
        self.base = base

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.base + path, timeout=5)


@contextlib.contextmanager
def started(command: Sequence[str]) -> Iterator[subprocess.Popen[str]]:
    """`command` running, its output (stderr too) piped as text; killed on exit if it still runs."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


@contextlib.contextmanager
def serving_when_ready(command: Sequence[str], port: int) -> Iterator[Served]:
    """`command`, serving HTTP on 127.0.0.1:`port`, once its /ready answers 200; killed on exit."""
    with started(command) as process:
        served = Served(process, f"http://127.0.0.1:{port}")
        wait_for(lambda: served.get("/ready").status_code == 200, process, what="ready")
        yield served


def exporter_command(subcommand: str, port: int, *arguments: str) -> list[str]:
    """`intune-exporter SUBCOMMAND --listen 127.0.0.1:PORT ARGUMENTS...`."""
    assert EXPORTER.is_file(), f"console script not installed next to {sys.executable}: pip install -e ."
    return [str(EXPORTER), subcommand, "--listen", f"127.0.0.1:{port}", *arguments]


def exporter_serving(
    config: Path, port: int | None = None, flags: Sequence[str] = ()
) -> contextlib.AbstractContextManager[Served]:
    """`intune-exporter serve` on a loopback port (free by default), ready once its first cycle is done."""
    port = port or free_port()
    return serving_when_ready(exporter_command("serve", port, "--config", str(config), *flags), port)


def wait_for(
    condition: Callable[[], bool], process: subprocess.Popen[str], seconds: float = 30, what: str = ""
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[0]
        try:
            if condition():
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"the exporter never got there{': ' + what if what else ''}")


def sample_values(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }

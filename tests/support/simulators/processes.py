"""Helpers for the real servers the tests start as subprocesses (Squid, mitmproxy, Prometheus)."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from exporter.lab.ports import free_port

__all__ = ["STOP_TIMEOUT", "free_port", "start_logged", "terminate"]

STOP_TIMEOUT = 10.0


def start_logged(command: list[str], directory: Path, log_name: str) -> subprocess.Popen[bytes]:
    """`command` running in `directory`, its output going to `directory/log_name`."""
    with (directory / log_name).open("wb") as log:
        return subprocess.Popen(
            command, cwd=directory, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )


def terminate(process: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `timeout`."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

"""Helpers for the real servers the tests start as subprocesses (Squid, mitmproxy, Prometheus)."""

from __future__ import annotations

import signal
import socket
import subprocess
from pathlib import Path

STOP_TIMEOUT = 10.0


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


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

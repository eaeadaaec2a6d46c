"""A real TLS-inspecting proxy: mitmproxy's ``mitmdump`` on 127.0.0.1 with its own CA.

mitmproxy lives in its own virtual environment, ``.venv-mitm`` at the repository root (its pins clash with
ours; `.ci/run` creates it), or wherever the ``MITMDUMP`` environment variable points. Clients that trust
`MitmProxy.ca_cert_path` see every HTTPS site through certificates issued by mitmproxy's CA; mitmproxy
itself verifies the real (lab) servers against ``upstream_ca``. Host names resolve through the
`mitm_addon` mapping, never real DNS; ``strip_range`` makes it drop Range request headers.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from tests.support.paths import ROOT
from tests.support.simulators.processes import free_port, start_logged, terminate

VENV_MITMDUMP = ROOT / ".venv-mitm" / "bin" / "mitmdump"
ADDON = Path(__file__).with_name("mitm_addon.py")
INSTALL_HINT = (
    "python3 -m venv .venv-mitm && .venv-mitm/bin/pip install 'mitmproxy>=11,<12' (as .ci/run does), "
    "or set MITMDUMP to a mitmdump executable"
)
STOP_TIMEOUT = 10.0


def mitmdump_binary() -> Path:
    """``.venv-mitm/bin/mitmdump``, else ``$MITMDUMP``; fails the test loudly when neither exists."""
    if VENV_MITMDUMP.is_file():
        return VENV_MITMDUMP
    configured = os.environ.get("MITMDUMP")
    if configured and Path(configured).is_file():
        return Path(configured)
    where = f"MITMDUMP={configured!r} is not a file" if configured else "MITMDUMP is not set"
    pytest.fail(f"mitmdump not found at {VENV_MITMDUMP} and {where}: {INSTALL_HINT}", pytrace=False)


class MitmProxy:
    """Context manager: a running mitmdump, stopped and its directory removed on exit."""

    def __init__(
        self,
        hosts: Mapping[str, str],
        *,
        upstream_ca: Path | None = None,
        strip_range: bool = False,
        startup_timeout: float = 30.0,
    ) -> None:
        self.hosts = dict(hosts)
        self.upstream_ca = upstream_ca
        self.strip_range = strip_range
        self.startup_timeout = startup_timeout
        self.port = 0
        self.directory = Path()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ca_cert_path(self) -> Path:
        """mitmproxy's CA certificate (PEM): what a client must trust to accept its interception."""
        return self.directory / "mitmproxy-ca-cert.pem"

    @property
    def ca_cert(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.ca_cert_path.read_bytes())

    @property
    def ca_common_name(self) -> str:
        """Issuer CN of every certificate mitmproxy presents (``mitmproxy``)."""
        return _attribute(self.ca_cert.subject, NameOID.COMMON_NAME)

    @property
    def ca_organization(self) -> str:
        """Issuer O of every certificate mitmproxy presents (``mitmproxy``)."""
        return _attribute(self.ca_cert.subject, NameOID.ORGANIZATION_NAME)

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context trusting mitmproxy's CA and nothing else."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.load_verify_locations(cafile=self.ca_cert_path)
        return context

    def log(self) -> str:
        path = self.directory / "mitmdump.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def __enter__(self) -> MitmProxy:
        binary = mitmdump_binary()
        self.directory = Path(tempfile.mkdtemp(prefix="lab-mitm-"))
        try:
            self.port = free_port()
            hosts_file = self.directory / "hosts.json"
            hosts_file.write_text(json.dumps(self.hosts), encoding="utf-8")
            options: dict[str, object] = {
                "confdir": self.directory,
                "lab_hosts": hosts_file,
                "strip_range": str(self.strip_range).lower(),
                "lab_ready_file": self._ready_file,
            }
            if self.upstream_ca is not None:
                options["ssl_verify_upstream_trusted_ca"] = self.upstream_ca
            command = [str(binary), "-q", "--listen-host", "127.0.0.1", "--listen-port", str(self.port)]
            command += ["-s", str(ADDON)]
            for name, value in options.items():
                command += ["--set", f"{name}={value}"]
            self._process = start_logged(command, self.directory, "mitmdump.log")
            self._wait_until_running()
        except BaseException:
            self._stop()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop()

    @property
    def _ready_file(self) -> Path:
        return self.directory / "addon-ready"

    def _wait_until_running(self) -> None:
        """Until the addon has run (a broken addon only logs an error) and the port accepts connections."""
        assert self._process is not None
        deadline = time.monotonic() + self.startup_timeout
        while not (self._ready_file.exists() and _accepts(self.port)):
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"mitmdump exited with {self._process.returncode} at startup:\n{self.log()}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"mitmdump not ready after {self.startup_timeout}s:\n{self.log()}")
            time.sleep(0.05)

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            terminate(process, STOP_TIMEOUT)
        if self.directory != Path():
            shutil.rmtree(self.directory, ignore_errors=True)


def _attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    value = name.get_attributes_for_oid(oid)[0].value
    return value if isinstance(value, str) else value.decode()


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False

"""A real Squid forward proxy on 127.0.0.1, configured for the loopback lab.

Squid resolves names only from a generated hosts file (``dns_nameservers 127.0.0.1``, so no real DNS),
keeps no disk cache, and tunnels CONNECT to any port (the lab listens on high ports). Modes::

    SquidProxy(hosts)                      open: every client on 127.0.0.1 may use it
    SquidProxy(hosts, auth=True)           basic auth; requests without credentials get 407
    SquidProxy(hosts, deny_hosts=[...])    those destinations get 403 (also before authentication)

Squid runs in the foreground (``-N``) from a temporary directory that the ``proxy`` user can write,
since squid started as root drops privileges to it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

import pytest

from tests.support.simulators.processes import free_port, start_logged, terminate

INSTALL_HINT = "install Debian's squid package (apt-get install squid), as .ci/run does"
NCSA_AUTH_HELPERS = ("/usr/lib/squid/basic_ncsa_auth", "/usr/lib64/squid/basic_ncsa_auth")
STOP_TIMEOUT = 10.0


def squid_binary() -> str:
    """The squid executable; fails the test loudly when it is missing."""
    found = shutil.which("squid")
    if found is not None:
        return found
    if os.access("/usr/sbin/squid", os.X_OK):  # not on a non-root user's PATH
        return "/usr/sbin/squid"
    pytest.fail(f"squid not found: {INSTALL_HINT}", pytrace=False)


class SquidProxy:
    """Context manager: a running squid, stopped and its directory removed on exit."""

    def __init__(
        self,
        hosts: Mapping[str, str],
        *,
        auth: bool = False,
        deny_hosts: Sequence[str] = (),
        username: str = "lab-user",
        password: str = "lab-password",
        startup_timeout: float = 20.0,
    ) -> None:
        self.hosts = dict(hosts)
        self.auth = auth
        self.deny_hosts = list(deny_hosts)
        self.username: str | None = username if auth else None
        self.password: str | None = password if auth else None
        self.startup_timeout = startup_timeout
        self.port = 0
        self.directory = Path()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url_with_credentials(self) -> str:
        """The proxy URL with ``user:password@`` (just `url` in open mode)."""
        if self.username is None:
            return self.url
        return f"http://{self.username}:{self.password}@127.0.0.1:{self.port}"

    def access_log(self) -> str:
        path = self.directory / "access.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_for_access_log(self, text: str, timeout: float = 5.0) -> str:
        """The access log once it contains `text` (squid logs a tunnel when it closes)."""
        deadline = time.monotonic() + timeout
        while text not in (log := self.access_log()):
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not in squid's access log within {timeout}s:\n{log}")
            time.sleep(0.05)
        return log

    def _cache_log(self) -> str:
        path = self.directory / "cache.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def cache_log_tail(self, lines: int = 30) -> str:
        tails = []
        for name in ("cache.log", "squid.stderr"):
            path = self.directory / name
            if path.exists():
                tails.extend(path.read_text(errors="replace").splitlines()[-lines:])
        return "\n".join(tails)

    def __enter__(self) -> SquidProxy:
        binary = squid_binary()
        self.directory = Path(tempfile.mkdtemp(prefix="lab-squid-"))
        try:
            self.directory.chmod(0o777)  # squid started as root works as user `proxy`
            self.port = free_port()
            config = self._write_config()
            self._process = start_logged([binary, "-N", "-f", str(config)], self.directory, "squid.stderr")
            self._wait_until_listening()
        except BaseException:
            self._stop()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop()

    def _write_config(self) -> Path:
        directory = self.directory
        hosts_file = directory / "hosts"
        # One name a line: squid reads the hosts file through a 1 KiB line buffer.
        hosts_file.write_text("".join(f"{address} {name}\n" for name, address in self.hosts.items()))
        lines = [
            f"http_port 127.0.0.1:{self.port}",
            "visible_hostname squid.lab.example.test",
            f"pid_filename {directory / 'squid.pid'}",
            f"cache_log {directory / 'cache.log'}",
            f"access_log stdio:{directory / 'access.log'}",
            "cache_store_log none",
            f"coredump_dir {directory}",
            "cache deny all",
            "cache_mem 8 MB",
            f"hosts_file {hosts_file}",
            "dns_nameservers 127.0.0.1",  # names outside `hosts` fail fast, never reach real DNS
            "dns_timeout 1 seconds",
            "dns_retransmit_interval 1 seconds",
            "pinger_enable off",
            "netdb_filename none",
            "shutdown_lifetime 0 seconds",
            "logfile_rotate 0",
            # CONNECT may go to any port: no Safe_ports / SSL_ports rules, unlike Debian's default config
        ]
        if self.deny_hosts:
            lines += [f"acl blocked dstdomain {' '.join(self.deny_hosts)}", "http_access deny blocked"]
        if self.auth:
            passwd = directory / "passwd"
            passwd.write_text(f"{self.username}:{_apr1_hash(str(self.password))}\n")
            lines += [
                f"auth_param basic program {_ncsa_auth_helper()} {passwd}",
                "auth_param basic children 2 startup=1 idle=1",
                "auth_param basic realm intune-lab",
                "acl authenticated proxy_auth REQUIRED",
                "http_access allow authenticated",
            ]
        else:
            lines.append("http_access allow localhost")
        lines.append("http_access deny all")
        config = directory / "squid.conf"
        config.write_text("\n".join(lines) + "\n")
        return config

    def _wait_until_listening(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"squid exited with {self._process.returncode} at startup:\n{self.cache_log_tail()}"
                )
            # Not a test connection: that would leave an error line in the access log.
            listening = rf"Accepting HTTP Socket connections at \S+ local=127\.0\.0\.1:{self.port}\s"
            if re.search(listening, self._cache_log()):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"squid not listening after {self.startup_timeout}s:\n{self.cache_log_tail()}"
                )
            time.sleep(0.05)

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            terminate(process, STOP_TIMEOUT)
        if self.directory != Path():
            shutil.rmtree(self.directory, ignore_errors=True)


def _apr1_hash(password: str) -> str:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("openssl not found: install Debian's openssl package", pytrace=False)
    done = subprocess.run(
        [openssl, "passwd", "-apr1", "-stdin"], input=password, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def _ncsa_auth_helper() -> str:
    for path in NCSA_AUTH_HELPERS:
        if os.access(path, os.X_OK):
            return path
    pytest.fail(
        f"squid's basic_ncsa_auth helper not found in {NCSA_AUTH_HELPERS}: {INSTALL_HINT}", pytrace=False
    )

"""A real Prometheus server (Debian's `prometheus` package) on 127.0.0.1, scraping given targets with given
rule files, for end-to-end tests of alerts and dashboard queries; or started from a whole configuration
(`config=`), in agent mode (`agent=True`) or with extra flags."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import pytest
import yaml

from tests.support.simulators.processes import free_port

INSTALL_HINT = "install Debian's prometheus package (apt-get install prometheus); .ci/run does"


class PrometheusServer:
    def __init__(
        self,
        targets: dict[str, list[str]],
        rule_files: list[Path],
        *,
        labels: dict[str, str] | None = None,
        interval: str = "1s",
        config: dict[str, Any] | None = None,
        agent: bool = False,
        flags: Sequence[str] = (),
        files: Mapping[str, Path] | None = None,
    ) -> None:
        """`targets`: job name -> list of 'host:port'. `config`, when given, is the whole configuration file
        instead of the one built from `targets`, `rule_files`, `labels` and `interval`. `agent` runs
        Prometheus in agent mode (scrape and remote-write only: no queries, no rules); `flags` are added to
        the command line (e.g. '--web.enable-remote-write-receiver'); `files` (name -> file) are copied next
        to the configuration file, where its relative paths (rule files) point."""
        binary = shutil.which("prometheus")
        if binary is None:
            pytest.fail(f"prometheus not found: {INSTALL_HINT}")
        self._binary = binary
        self._targets = targets
        self._rule_files = rule_files
        self._labels = labels or {}
        self._interval = interval
        self._config = config
        self._agent = agent
        self._flags = tuple(flags)
        self._directory = Path(tempfile.mkdtemp(prefix="prometheus-"))
        for name, source in (files or {}).items():
            shutil.copyfile(source, self._directory / name)
        self.port = free_port()
        self._process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> PrometheusServer:
        config = self._config if self._config is not None else self._built_config()
        config_path = self._directory / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(config))
        storage = (
            ["--enable-feature=agent", f"--storage.agent.path={self._directory / 'agent'}"]
            if self._agent
            else [f"--storage.tsdb.path={self._directory / 'data'}"]
        )
        self._process = subprocess.Popen(
            [
                self._binary,
                f"--config.file={config_path}",
                *storage,
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
                *self._flags,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                pytest.fail(f"prometheus exited: {self._process.communicate()[0]}")
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.__exit__(None, None, None)
        pytest.fail("prometheus never became ready")

    def _built_config(self) -> dict[str, Any]:
        return {
            "global": {"scrape_interval": self._interval, "evaluation_interval": self._interval},
            "rule_files": [str(path) for path in self._rule_files],
            "scrape_configs": [
                {
                    "job_name": job,
                    "scrape_timeout": self._interval,
                    "static_configs": [{"targets": targets, "labels": self._labels}],
                }
                for job, targets in self._targets.items()
            ],
        }

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.communicate()
        shutil.rmtree(self._directory, ignore_errors=True)

    def api(self, path: str, **params: str) -> Any:
        response = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=10)
        body = response.json()
        assert body.get("status") == "success", (path, params, body)
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = self.api("query", query=expr)
        result: list[dict[str, Any]] = (
            data["result"] if data["resultType"] in ("vector", "matrix") else [data]
        )
        return result

"""`serve` with a background task that raises: the probe loop, a reference tracker, the page poller, a
reload. The exporter keeps answering /metrics, counts and logs the failure once, runs the task again after
its backoff, and still stops with exit 0 on SIGTERM. `serve` runs in this process (signals need the main
thread); a helper thread checks it over HTTP, then sends SIGTERM."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import yaml

from exporter.commands.exit_codes import EXIT_OK
from exporter.commands.serve import serve
from exporter.commands.supervisor import Supervisor
from exporter.config.file import load
from exporter.reference.snapshot import Snapshot, snapshot_file_name
from exporter.reference.sources import ListSource
from tests.support.serving import exporter_command, sample_values, started, wait_for
from tests.support.simulators.processes import free_port

RESTARTS = "intune_exporter_task_restarts_total"


@pytest.fixture(autouse=True)
def harmless_sigterm() -> Iterator[None]:
    """A SIGTERM that arrives after `serve` returned must not end the test run."""
    previous = signal.signal(signal.SIGTERM, lambda received, frame: None)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def write_config(tmp_path: Path, **drift: Any) -> Path:
    path = tmp_path / "exporter.yml"
    config = {
        "interval": "1h",
        "state_dir": str(tmp_path / "state"),
        "sets": {"only": ["163"]},
        "drift": {"page": {"enabled": False}, **drift},
    }
    path.write_text(yaml.safe_dump(config))
    return path


def restarts(base: str, task: str) -> float | None:
    return sample_values(httpx.get(base + "/metrics", timeout=5).text).get((RESTARTS, (("task", task),)))


def wait_until(condition: Callable[[], bool], what: str, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            if condition():
                return
        time.sleep(0.02)
    raise AssertionError(f"never happened: {what}")


def serve_and_check(config: Path, check: Callable[[str], None], supervisor: Supervisor | None = None) -> None:
    """Run `serve` on `config` while `check(base_url)` runs in a thread, then SIGTERM; asserts exit 0 within
    a few seconds of the signal."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    failures: list[BaseException] = []
    signalled: list[float] = []

    def checker() -> None:
        try:
            wait_until(lambda: httpx.get(base + "/healthz", timeout=5).status_code == 200, "healthz")
            check(base)
        except BaseException as exc:  # reported in the main thread
            failures.append(exc)
        finally:
            signalled.append(time.monotonic())
            os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=checker, daemon=True)
    thread.start()
    supervisor = supervisor or Supervisor(first_backoff=0.05, max_backoff=0.1)
    code = serve(load(config), f"127.0.0.1:{port}", config, supervisor=supervisor)
    stopped = time.monotonic()
    thread.join(10)
    if failures:
        raise failures[0]
    assert code == EXIT_OK
    assert signalled and stopped - signalled[0] < 5


def errors_of(caplog: pytest.LogCaptureFixture, task: str) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if record.levelno >= logging.ERROR and f"task {task} failed" in record.getMessage()
    ]


def test_a_failing_probe_loop_is_restarted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    runs: list[float] = []

    async def failing_run_forever(*args: object, **kwargs: object) -> None:
        runs.append(time.monotonic())
        if len(runs) <= 2:
            raise RuntimeError("a bug in the probe loop")
        await anyio.sleep_forever()

    monkeypatch.setattr("exporter.commands.serve.run_forever", failing_run_forever)

    def check(base: str) -> None:
        wait_until(lambda: len(runs) >= 3, "the probe loop ran again")
        assert restarts(base, "probe_loop") == 2
        assert restarts(base, "reload") == 0
        values = sample_values(httpx.get(base + "/metrics", timeout=5).text)
        assert values[("intune_exporter_targets", ())] > 0
        assert runs[2] - runs[1] >= 0.09  # the backoff doubled: 0.05, then 0.1

    serve_and_check(write_config(tmp_path), check)
    [logged] = errors_of(caplog, "probe_loop")
    assert logged.exc_info is not None and isinstance(logged.exc_info[1], RuntimeError)


@pytest.mark.parametrize(
    "failure",
    [
        RecursionError("maximum recursion depth exceeded"),
        UnicodeEncodeError("ascii", "\udcff", 0, 1, "surrogates not allowed"),
        RuntimeError("a bug in a source"),
    ],
    ids=lambda failure: type(failure).__name__,
)
def test_a_failing_reference_tracker_is_restarted(
    failure: BaseException, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[str | None] = []

    async def failing_fetch(self: ListSource, known_version: str | None) -> Snapshot | None:
        calls.append(known_version)
        raise failure

    monkeypatch.setattr(ListSource, "fetch", failing_fetch)
    monkeypatch.setattr("exporter.commands.serve.run_forever", _idle)
    references = [{"name": "consolidated", "file": str(tmp_path / "list.json")}]

    def check(base: str) -> None:
        wait_until(lambda: len(calls) >= 3, "the tracker ran again")
        wait_until(lambda: (restarts(base, "reference:consolidated") or 0) >= 3, "restarts counted")
        assert restarts(base, "probe_loop") == 0

    serve_and_check(write_config(tmp_path, references=references), check)
    [logged] = errors_of(caplog, "reference:consolidated")
    assert logged.exc_info is not None and logged.exc_info[1] is failure


def test_a_failing_page_poller_is_restarted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls = 0

    async def failing_fetch_document(*args: object, **kwargs: object) -> None:
        nonlocal calls
        calls += 1
        raise UnicodeEncodeError("latin-1", "\u2603", 0, 1, "ordinal not in range(256)")

    monkeypatch.setattr("exporter.reference.page_source.fetch_document", failing_fetch_document)
    monkeypatch.setattr("exporter.commands.serve.run_forever", _idle)
    page = {"url": "http://127.0.0.1:9/intune-endpoints.md"}

    def check(base: str) -> None:
        wait_until(lambda: calls >= 2, "the page poller ran again")
        wait_until(lambda: (restarts(base, "reference:intune-page") or 0) >= 2, "restarts counted")

    serve_and_check(write_config(tmp_path, page=page), check)
    [logged] = errors_of(caplog, "reference:intune-page")
    assert logged.exc_info is not None and isinstance(logged.exc_info[1], UnicodeEncodeError)


def test_a_failing_reload_keeps_the_running_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr("exporter.commands.serve.run_forever", _idle)
    config = write_config(tmp_path)
    real_load = load
    broken = [True]

    def load_or_fail(path: Path) -> Any:
        if broken[0]:
            raise RecursionError("maximum recursion depth exceeded")
        return real_load(path)

    monkeypatch.setattr("exporter.commands.reload.load", load_or_fail)

    def metric(base: str, name: str) -> float:
        return sample_values(httpx.get(base + "/metrics", timeout=5).text)[(name, ())]

    def check(base: str) -> None:
        os.kill(os.getpid(), signal.SIGHUP)
        wait_until(lambda: restarts(base, "reload") == 1, "the SIGHUP reload failure counted")
        answer = httpx.post(base + "/-/reload", timeout=5)
        assert answer.status_code == 500
        assert "the running configuration is kept" in answer.text
        assert restarts(base, "reload") == 2
        assert metric(base, "intune_exporter_config_last_reload_successful") == 0
        # set 163: two hosts on 80 and 443, and the zone check of *.dm.microsoft.com
        assert metric(base, "intune_exporter_targets") == 5

        broken[0] = False
        config.write_text(config.read_text().replace("- '163'", "- '163'\n  - '190'"))
        os.kill(os.getpid(), signal.SIGHUP)  # reloads still work
        wait_until(lambda: metric(base, "intune_exporter_targets") == 7, "the next reload applied")
        assert metric(base, "intune_exporter_config_last_reload_successful") == 1

    serve_and_check(config, check)
    [logged] = errors_of(caplog, "reload")
    assert logged.exc_info is not None and isinstance(logged.exc_info[1], RecursionError)


async def _idle(*args: object, **kwargs: object) -> None:
    """The probe loop, without probing."""
    await anyio.sleep_forever()


def test_a_sighup_as_soon_as_healthz_answers_reloads(tmp_path: Path) -> None:
    """The signal handlers are in place before the server accepts: the earliest SIGHUP reloads, it does not
    kill the process (its default action)."""
    config = write_config(tmp_path)
    config.write_text(
        config.read_text() + f"dns:\n  nameservers: ['127.0.0.1']\n  port: {free_port()}\ntimeout: 1s\n"
    )
    port = free_port()
    with started(exporter_command("serve", port, "--config", str(config))) as process:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            assert time.monotonic() < deadline, "healthz never answered"
            assert process.poll() is None, process.communicate()[0]
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(base + "/healthz", timeout=5).status_code == 200:
                    break
        config.write_text(config.read_text().replace("- '163'", "- '163'\n  - '190'"))
        process.send_signal(signal.SIGHUP)
        targets = ("intune_exporter_targets", ())
        wait_for(
            lambda: sample_values(httpx.get(base + "/metrics", timeout=5).text).get(targets) == 7,
            process,
            what="the early SIGHUP reloaded",
        )
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=15)
    assert process.returncode == 0, output
    assert "configuration reloaded" in output
    assert "Traceback" not in output


def test_serve_removes_temporaries_of_killed_saves_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("exporter.commands.serve.run_forever", _idle)
    state = tmp_path / "state"
    state.mkdir()
    left = state / f".{snapshot_file_name('intune-page')}.k1ll3d_x.tmp"
    left.write_text('{"format": 1, "sou')

    def check(base: str) -> None:
        assert not left.exists()

    serve_and_check(write_config(tmp_path), check)

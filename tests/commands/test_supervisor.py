"""The supervisor of `serve`'s background tasks: a failing task is logged once with its traceback, counted,
and restarted after a doubling backoff that resets after a healthy run; cancellation still stops it."""

from __future__ import annotations

import logging
import time

import anyio
import pytest
from prometheus_client import CollectorRegistry

from exporter.commands.supervisor import Supervisor
from exporter.metrics.tasks import TaskRestartsCollector

FAILURES: list[BaseException] = [
    RuntimeError("a bug"),
    UnicodeEncodeError("ascii", "\udcff", 0, 1, "surrogates not allowed"),
    RecursionError("maximum recursion depth exceeded"),
]


def errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.levelno >= logging.ERROR]


@pytest.mark.parametrize("failure", FAILURES, ids=lambda failure: type(failure).__name__)
@pytest.mark.anyio
async def test_a_failing_task_is_logged_once_counted_and_restarted(
    failure: BaseException, caplog: pytest.LogCaptureFixture
) -> None:
    supervisor = Supervisor(["probe_loop"], first_backoff=0.01, max_backoff=0.02)
    runs = 0

    async def task() -> None:
        nonlocal runs
        runs += 1
        if runs <= 3:
            raise failure
        await anyio.sleep_forever()

    async with anyio.create_task_group() as group:
        group.start_soon(supervisor.run, "probe_loop", task)
        with anyio.fail_after(5):
            while runs < 4:
                await anyio.sleep(0.01)
        group.cancel_scope.cancel()

    assert supervisor.restarts() == {"probe_loop": 3}
    [logged] = errors(caplog)
    assert logged.exc_info is not None and logged.exc_info[1] is failure
    assert "task probe_loop failed: " + type(failure).__name__ in logged.getMessage()
    repeats = [r for r in caplog.records if r.levelno == logging.WARNING and "failed again" in r.getMessage()]
    assert len(repeats) == 2 and all(r.exc_info is None for r in repeats)


@pytest.mark.anyio
async def test_a_different_failure_is_logged_with_its_traceback_too(caplog: pytest.LogCaptureFixture) -> None:
    supervisor = Supervisor(first_backoff=0.0)
    failures = iter([RuntimeError("one"), ValueError("two"), RuntimeError("one")])

    async def task() -> None:
        failure = next(failures, None)
        if failure is not None:
            raise failure

    with anyio.fail_after(5):
        await supervisor.run("reference:intune-page", task)  # returns once the task returns

    assert supervisor.restarts() == {"reference:intune-page": 3}
    assert [type(r.exc_info[1]) for r in errors(caplog) if r.exc_info] == [RuntimeError, ValueError]


@pytest.mark.anyio
async def test_the_backoff_doubles_to_its_cap_and_resets_after_a_healthy_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [0.0]
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr("exporter.commands.supervisor.anyio.sleep", fake_sleep)
    supervisor = Supervisor(first_backoff=1.0, max_backoff=5.0, healthy_after=60.0, clock=lambda: now[0])
    runs = 0

    async def task() -> None:
        nonlocal runs
        runs += 1
        if runs == 6:
            now[0] += 61.0  # a healthy run, then a failure
        if runs <= 7:
            raise RuntimeError("again")

    await supervisor.run("probe_loop", task)

    assert waits == [1.0, 2.0, 4.0, 5.0, 5.0, 1.0, 2.0]


@pytest.mark.anyio
async def test_cancellation_stops_a_task_at_once_even_while_it_waits_to_restart() -> None:
    supervisor = Supervisor(first_backoff=3600.0)
    failed = anyio.Event()

    async def task() -> None:
        failed.set()
        raise RuntimeError("bug")

    started = time.monotonic()
    async with anyio.create_task_group() as group:
        group.start_soon(supervisor.run, "probe_loop", task)
        await failed.wait()
        await anyio.sleep(0.01)
        group.cancel_scope.cancel()
    assert time.monotonic() - started < 2


@pytest.mark.anyio
async def test_cancellation_is_not_counted_as_a_failure(caplog: pytest.LogCaptureFixture) -> None:
    supervisor = Supervisor(["probe_loop"])
    with anyio.move_on_after(0.05):
        await supervisor.run("probe_loop", anyio.sleep_forever)
    assert supervisor.restarts() == {"probe_loop": 0}
    assert errors(caplog) == []


def test_call_returns_the_fallback_after_a_failure_and_counts_it(caplog: pytest.LogCaptureFixture) -> None:
    supervisor = Supervisor(["reload"])

    def reload() -> tuple[bool, str]:
        raise RecursionError("maximum recursion depth exceeded")

    assert supervisor.call("reload", reload, (False, "failed")) == (False, "failed")
    assert supervisor.call("reload", lambda: (True, "reloaded"), (False, "failed")) == (True, "reloaded")
    assert supervisor.restarts() == {"reload": 1}
    [logged] = errors(caplog)
    assert isinstance(logged.exc_info and logged.exc_info[1], RecursionError)


def test_a_failure_whose_message_holds_surrogates_is_logged_printably(
    caplog: pytest.LogCaptureFixture,
) -> None:
    supervisor = Supervisor()
    supervisor.call("reload", lambda: (_ for _ in ()).throw(ValueError("bad \udcff byte")), None)
    [logged] = errors(caplog)
    logged.getMessage().encode("utf-8")  # no lone surrogate left
    assert "\\udcff" in logged.getMessage()


def test_the_collector_exports_every_expected_task_from_zero() -> None:
    supervisor = Supervisor(["probe_loop", "reload"])
    supervisor.expect("reference:intune-page")
    registry = CollectorRegistry()
    registry.register(TaskRestartsCollector(supervisor.restarts))

    def value(task: str) -> float | None:
        return registry.get_sample_value("intune_exporter_task_restarts_total", {"task": task})

    assert [value(task) for task in ("probe_loop", "reload", "reference:intune-page")] == [0, 0, 0]
    supervisor.failed("reload", RuntimeError("bug"), "kept")
    assert value("reload") == 1

from __future__ import annotations

import errno
import socket

import anyio
import pytest

from exporter.probes import tcp
from exporter.probes.failures import connect_failure
from exporter.probes.outcome import Phase, Reason
from exporter.probes.prober import ProbeTarget
from tests.support.simulators.tls_servers import LoopbackLab

pytestmark = pytest.mark.anyio


async def test_connects_and_records_the_connect_phase(loopback_lab: LoopbackLab) -> None:
    outcome = await tcp.probe(
        ProbeTarget("x.example.test", loopback_lab.HEALTHY, 443), loopback_lab.probe_settings()
    )

    assert outcome.ok
    assert outcome.reason is None
    assert set(outcome.phases) == {Phase.CONNECT}


@pytest.mark.parametrize("catalogue_port", [443, 80, 5223])
async def test_dials_the_remapped_port(loopback_lab: LoopbackLab, catalogue_port: int) -> None:
    outcome = await tcp.probe(
        ProbeTarget("x.example.test", loopback_lab.HEALTHY, catalogue_port), loopback_lab.probe_settings()
    )

    assert outcome.ok


async def test_refused(loopback_lab: LoopbackLab) -> None:
    outcome = await tcp.probe(
        ProbeTarget("x.example.test", loopback_lab.REFUSED, 443), loopback_lab.probe_settings()
    )

    assert not outcome.ok
    assert outcome.reason is Reason.CONNECT_REFUSED
    assert outcome.detail == "Connection refused"
    assert set(outcome.phases) == {Phase.CONNECT}  # the failed phase is timed too


@pytest.mark.parametrize("catalogue_port", [443, 80])
async def test_blackhole_times_out(loopback_lab: LoopbackLab, catalogue_port: int) -> None:
    settings = loopback_lab.probe_settings(timeout=0.5)

    outcome = await tcp.probe(ProbeTarget("x.example.test", loopback_lab.BLACKHOLE, catalogue_port), settings)

    assert outcome.reason is Reason.CONNECT_TIMEOUT
    assert outcome.detail == "no connection within 0.5s"


async def test_connect_timeout_uses_the_connect_phase_timeout(loopback_lab: LoopbackLab) -> None:
    settings = loopback_lab.probe_settings(timeout=30.0)
    settings.timeouts[Phase.CONNECT] = 0.3

    outcome = await tcp.probe(ProbeTarget("x.example.test", loopback_lab.BLACKHOLE, 443), settings)

    assert outcome.reason is Reason.CONNECT_TIMEOUT
    assert outcome.detail == "no connection within 0.3s"


def _attempts_failed(cause: BaseException) -> OSError:
    """What anyio.connect_tcp raises: an errno-less OSError caused by the real error(s)."""
    try:
        raise OSError("All connection attempts failed") from cause
    except OSError as exc:
        return exc


@pytest.mark.parametrize(
    ("error", "reason", "detail"),
    [
        (
            ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed"),
            Reason.CONNECT_REFUSED,
            "Connection refused",
        ),
        (OSError(errno.EHOSTUNREACH, "x"), Reason.CONNECT_UNREACHABLE, "No route to host"),
        (OSError(errno.ENETUNREACH, "x"), Reason.CONNECT_UNREACHABLE, "Network is unreachable"),
        (OSError(errno.ETIMEDOUT, "x"), Reason.CONNECT_TIMEOUT, "Connection timed out"),
        (OSError(errno.EACCES, "x"), Reason.CONNECT_ERROR, "Permission denied"),
        (OSError("no errno at all"), Reason.CONNECT_ERROR, "no errno at all"),
    ],
)
def test_classifies_the_kernel_error_inside_anyio_wrappers(
    error: OSError, reason: Reason, detail: str
) -> None:
    for raised in (error, _attempts_failed(error), _attempts_failed(ExceptionGroup("attempts", [error]))):
        failure = connect_failure(raised)

        assert failure is not None
        assert (failure.reason, failure.detail) == (reason, detail)


def test_first_attempt_with_an_errno_wins_in_a_group() -> None:
    group = ExceptionGroup(
        "multiple connection attempts failed",
        [
            OSError("gai trouble"),
            OSError(errno.EHOSTUNREACH, "x"),
            ConnectionRefusedError(errno.ECONNREFUSED, "x"),
        ],
    )

    failure = connect_failure(_attempts_failed(group))

    assert failure is not None
    assert failure.reason is Reason.CONNECT_UNREACHABLE


def test_no_oserror_means_no_classification() -> None:
    assert connect_failure(ValueError("nope")) is None


async def test_connect_classifies_exception_groups(
    monkeypatch: pytest.MonkeyPatch, loopback_lab: LoopbackLab
) -> None:
    async def failing_connect(host: str, port: int) -> None:
        raise ExceptionGroup("attempts", [OSError(errno.ENETUNREACH, "x")])

    monkeypatch.setattr(anyio, "connect_tcp", failing_connect)

    outcome = await tcp.probe(ProbeTarget("x.example.test", "127.0.0.1", 443), loopback_lab.probe_settings())

    assert outcome.reason is Reason.CONNECT_UNREACHABLE
    assert outcome.detail == "Network is unreachable"


async def test_connect_lets_unrelated_exception_groups_through(monkeypatch: pytest.MonkeyPatch) -> None:
    async def failing_connect(host: str, port: int) -> None:
        raise ExceptionGroup("bug", [KeyError("x")])

    monkeypatch.setattr(anyio, "connect_tcp", failing_connect)

    with pytest.raises(ExceptionGroup):
        await tcp.connect("127.0.0.1", 9, 1.0)


async def test_closes_the_connection(loopback_lab: LoopbackLab) -> None:
    # The server sees the hang-up at once; a leaked socket would also fail the run (ResourceWarning).
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    with listener:
        settings = loopback_lab.probe_settings(port_remap={1: listener.getsockname()[1]})
        outcome = await tcp.probe(ProbeTarget("x.example.test", "127.0.0.1", 1), settings)
        peer, _ = listener.accept()
        with peer:
            assert peer.recv(1) == b""

    assert outcome.ok

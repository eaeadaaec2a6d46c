"""Judging a failure storm: most targets failing for one reason, and what it likely means."""

from __future__ import annotations

import pytest

from exporter.probes.outcome import ProbeOutcome, Reason
from exporter.results.storm import STORM_MIN_TARGETS, Cause, Storm, judge_storm

UP = ProbeOutcome(ok=True)


def failing(reason: Reason, count: int) -> list[ProbeOutcome]:
    return [ProbeOutcome.failure(reason, "detail")] * count


@pytest.mark.parametrize(
    ("reason", "cause"),
    [
        (Reason.DNS_NXDOMAIN, Cause.RESOLVER),
        (Reason.DNS_TIMEOUT, Cause.RESOLVER),
        (Reason.CONNECT_TIMEOUT, Cause.EGRESS),
        (Reason.CONNECT_REFUSED, Cause.EGRESS),
        (Reason.PROXY_AUTH_REQUIRED, Cause.PROXY),
        (Reason.TLS_UNTRUSTED, Cause.TLS_INSPECTION),
        (Reason.HTTP_ERROR, Cause.UNKNOWN),
    ],
)
def test_most_targets_failing_for_one_reason_is_a_storm(reason: Reason, cause: Cause) -> None:
    storm = judge_storm([*failing(reason, 170), *failing(Reason.TLS_EXPIRED, 1), UP, UP])
    assert storm == Storm(reason.value, 170, 173, cause)


def test_the_storm_line_names_the_count_the_reason_and_the_cause() -> None:
    storm = judge_storm(failing(Reason.DNS_NXDOMAIN, 194))
    assert storm is not None
    assert storm.line().startswith(
        "194 of 194 targets fail with dns_nxdomain, likely cause resolver: check the"
    )
    assert "dns.nameservers" in storm.line()
    unknown = Storm("http_error", 9, 10, Cause.UNKNOWN)
    assert unknown.line() == (
        "9 of 10 targets fail with http_error: look at one failing target: intune-exporter check --set ID"
    )


def test_no_storm_below_the_thresholds() -> None:
    assert judge_storm([]) is None
    assert judge_storm([UP] * 50) is None
    # Half failing is not most; a tiny plan failing whole is not a storm either.
    assert judge_storm([*failing(Reason.CONNECT_TIMEOUT, 10), *[UP] * 10]) is None
    assert judge_storm(failing(Reason.CONNECT_TIMEOUT, STORM_MIN_TARGETS - 1)) is None
    # Most targets fail, but for different reasons: no single cause to name.
    mixed = [*failing(Reason.CONNECT_TIMEOUT, 6), *failing(Reason.DNS_NXDOMAIN, 6), UP]
    assert judge_storm(mixed) is None

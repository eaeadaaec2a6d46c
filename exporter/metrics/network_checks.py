"""Metrics of the checks beyond reachability: TLS interception, unauthenticated proxy access, DNS answers
inside published ranges, byte ranges."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from exporter.catalogue import Flag
from exporter.metrics import table
from exporter.metrics.endpoints import TargetRows
from exporter.metrics.exposition import Family, Row
from exporter.plan.targets import Membership, NetworkPath, PlanHolder, Target
from exporter.probes.outcome import Reason
from exporter.results.store import ResultStore, TargetResult

_INTERCEPTED = Family(table.ENDPOINT_TLS_INTERCEPTED)
_RANGES = Family(table.ENDPOINT_HTTP_RANGE_SUPPORTED)


def _checks_row(target: Target, members: list[Membership], result: TargetResult) -> Row:
    outcome = result.outcome
    row: Row = {_INTERCEPTED.name: [], _RANGES.name: []}
    for member in members:
        labels = [member.set_id, target.host, str(target.port), target.path.value]
        if outcome.intercepted is not None:
            supported = "false" if Flag.SSL_INSPECTION_UNSUPPORTED in member.flags else "true"
            row[_INTERCEPTED.name].append(([*labels, supported], 1.0 if outcome.intercepted else 0.0))
        if outcome.range_supported is not None:
            row[_RANGES.name].append((labels, 1.0 if outcome.range_supported else 0.0))
    return row


class NetworkChecksCollector(Collector):
    def __init__(self, plans: PlanHolder, store: ResultStore) -> None:
        self._plans = plans
        self._store = store
        self._rows = TargetRows((_INTERCEPTED, _RANGES), _checks_row, plans, store)

    def collect(self) -> Iterable[Metric]:
        plan = self._plans.current
        results, _ = self._store.snapshot()
        intercepted, ranges = self._rows.families(plan, results)
        anonymous: dict[tuple[str, str], float] = {}
        # With proxy credentials the anonymous check has a path of its own; without, the proxied path is it.
        separate = {(t.host, t.port, t.via) for t in plan.targets if t.path is NetworkPath.PROXY_ANONYMOUS}
        for target, members in plan.targets.items():
            result = results.get(target)
            if target.path is NetworkPath.DIRECT or result is None:
                continue
            outcome = result.outcome
            is_anonymous = target.path is NetworkPath.PROXY_ANONYMOUS or (
                target.path is NetworkPath.PROXY and (target.host, target.port, target.via) not in separate
            )
            if not is_anonymous:
                continue
            for member in members:
                if Flag.UNAUTHENTICATED_PROXY_REQUIRED in member.flags:
                    key = (member.set_id, target.host)
                    if outcome.reason is Reason.PROXY_AUTH_REQUIRED:
                        anonymous[key] = 0.0
                    elif outcome.ok:
                        anonymous.setdefault(key, 1.0)
        unauthenticated = table.ENDPOINT_PROXY_UNAUTHENTICATED_ACCESS.gauge()
        for (set_id, host), value in sorted(anonymous.items()):
            unauthenticated.add_metric([set_id, host], value)
        in_ranges = table.ENDPOINT_DNS_ANSWER_IN_PUBLISHED_RANGES.gauge()
        for (set_id, host), outside in sorted(self._store.range_checks().items()):
            in_ranges.add_metric([set_id, host], 0.0 if outside else 1.0)
        yield from (intercepted, ranges, unauthenticated, in_ranges)

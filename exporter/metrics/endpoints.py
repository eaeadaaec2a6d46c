"""Prometheus collector: builds every metric family from the latest results at scrape time.

Probes run on their own schedule, so samples carry no timestamps; `intune_endpoint_probe_timestamp_seconds`
says when each result was taken.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from exporter import __version__
from exporter.catalogue import Catalogue
from exporter.metrics import table
from exporter.metrics.exposition import Family, RenderedFamily, Row, RowCache, bounded
from exporter.plan.targets import Membership, PlanHolder, Target, TargetPlan
from exporter.probes.outcome import Phase, Reason
from exporter.results.representatives import representative_checks
from exporter.results.store import ResultStore, TargetResult

_UP = Family(table.ENDPOINT_UP)
_DURATION = Family(table.ENDPOINT_PROBE_DURATION)
_REASON = Family(table.ENDPOINT_FAILURE_REASON)
_TAKEN = Family(table.ENDPOINT_PROBE_TIMESTAMP)
_FAMILY_UP = Family(table.ENDPOINT_FAMILY_UP)
_ADDRESSES = Family(table.ENDPOINT_ADDRESSES)
_ISSUER = Family(table.ENDPOINT_TLS_ISSUER_INFO)
_NOT_AFTER = Family(table.ENDPOINT_TLS_CERT_NOT_AFTER)
_VERIFIED = Family(table.ENDPOINT_TLS_VERIFIED)
_STATUS = Family(table.ENDPOINT_HTTP_STATUS_CODE)
_FROM_REFERENCE = Family(table.ENDPOINT_DRIFT_TARGET_INFO)
_ENDPOINT_FAMILIES = (
    *(_UP, _DURATION, _REASON, _TAKEN, _FAMILY_UP, _ADDRESSES, _ISSUER, _NOT_AFTER, _VERIFIED, _STATUS),
    _FROM_REFERENCE,  # after intune_ntp_offset_seconds, which is not per endpoint
)


def family_counts(result: TargetResult) -> dict[str, tuple[int, int]]:
    """Per family with addresses or a failed lookup: (reachable, unreachable) addresses. A family the name
    has no records of is left out."""
    counts: dict[str, tuple[int, int]] = {}
    for answer in result.families:
        if answer.addresses or answer.reason not in (None, Reason.DNS_NO_ANSWER):
            counts[answer.family] = (0, 0)
    for probe in result.per_address:
        ok, failed = counts.get(probe.family, (0, 0))
        counts[probe.family] = (ok + 1, failed) if probe.ok else (ok, failed + 1)
    return counts


def _endpoint_row(target: Target, members: list[Membership], result: TargetResult) -> Row:
    outcome = result.outcome
    certificate = outcome.certificate
    row: Row = {family.name: [] for family in _ENDPOINT_FAMILIES}
    by_family = sorted(family_counts(result).items())
    for member in members:
        labels = [member.set_id, target.host, str(target.port), target.protocol.value, target.path.value]
        if member.origin:
            row[_FROM_REFERENCE.name].append(([*labels, member.origin], 1.0))
        row[_UP.name].append((labels, 1.0 if outcome.ok else 0.0))
        row[_TAKEN.name].append((labels, result.finished_at))
        row[_DURATION.name].extend(
            ([*labels, phase.value], outcome.phases[phase]) for phase in Phase if phase in outcome.phases
        )
        if outcome.reason is not None:
            row[_REASON.name].append(([*labels, outcome.reason.value], 1.0))
        for family, (reachable, unreachable) in by_family:
            row[_FAMILY_UP.name].append(([*labels, family], 1.0 if reachable else 0.0))
            row[_ADDRESSES.name].append(([*labels, family, "reachable"], float(reachable)))
            row[_ADDRESSES.name].append(([*labels, family, "unreachable"], float(unreachable)))
        short = [*labels[:3], target.path.value]
        if certificate is not None:
            names = (certificate.issuer_cn, certificate.issuer_org, certificate.subject_cn)
            issuer = [*short, *(bounded(name) for name in (*names, certificate.product))]
            row[_ISSUER.name].append((issuer, 1.0))
            row[_NOT_AFTER.name].append((short, certificate.not_after))
            row[_VERIFIED.name].append((short, 1.0 if certificate.verified else 0.0))
        if outcome.http_status is not None:
            row[_STATUS.name].append((short, float(outcome.http_status)))
    return row


class TargetRows:
    """Per-endpoint families, one row per target of the plan, formatted when each result arrives (in the
    probe loop, through `ResultStore.listen`), so that scrapes only join text."""

    def __init__(
        self,
        families: Sequence[Family],
        row: Callable[[Target, list[Membership], TargetResult], Row],
        plans: PlanHolder,
        store: ResultStore,
    ) -> None:
        self._plans = plans
        self._cache: RowCache[Target, list[Membership], TargetResult] = RowCache(families, row)
        store.listen(self._prime)

    def _prime(self, result: TargetResult) -> None:
        members = self._plans.current.targets.get(result.target)
        if members is not None:
            self._cache.prime(result.target, members, result)

    def families(self, plan: TargetPlan, results: dict[Target, TargetResult]) -> list[RenderedFamily]:
        return self._cache.families(plan.targets, results)


class ExporterCollector(Collector):
    def __init__(self, plans: PlanHolder, catalogue: Catalogue, store: ResultStore) -> None:
        self._plans = plans
        self._catalogue = catalogue
        self._store = store
        self._rows = TargetRows(_ENDPOINT_FAMILIES, _endpoint_row, plans, store)

    def set_catalogue(self, catalogue: Catalogue) -> None:
        """The catalogue in force after a reload (a reload may select another edition)."""
        self._catalogue = catalogue

    def collect(self) -> Iterable[Metric]:
        plan = self._plans.current
        results, stats = self._store.snapshot()
        yield from self._endpoint_metrics(plan, results)
        yield from self._set_metrics(plan, results)
        yield from self._exporter_metrics(plan, stats.completed, stats.last_duration, stats.last_finished_at)

    def _endpoint_metrics(self, plan: TargetPlan, results: dict[Target, TargetResult]) -> Iterator[Metric]:
        rendered = self._rows.families(plan, results)
        offsets: dict[str, float] = {}
        for target in plan.targets:
            result = results.get(target)
            if result is not None and result.outcome.ntp_offset is not None:
                offsets[target.host] = result.outcome.ntp_offset
        ntp = table.NTP_OFFSET.gauge()
        for host, offset in sorted(offsets.items()):
            ntp.add_metric([host], offset)
        *per_target, from_reference = rendered
        yield from (*per_target, ntp, from_reference)

    def _set_metrics(self, plan: TargetPlan, results: dict[Target, TargetResult]) -> Iterator[Metric]:
        info = table.ENDPOINT_SET_INFO.gauge()
        ratio = table.ENDPOINT_SET_REACHABLE_RATIO.gauge()
        unprobed = table.CATALOGUE_UNPROBED_WILDCARDS.gauge()
        counts: dict[str, list[int]] = {}
        for target, members in plan.targets.items():
            result = results.get(target)
            if result is None:
                continue
            for member in members:
                tally = counts.setdefault(member.set_id, [0, 0])
                tally[0] += 1 if result.outcome.ok else 0
                tally[1] += 1
        for endpoint_set in plan.sets:
            info.add_metric(
                [
                    endpoint_set.id,
                    endpoint_set.name,
                    endpoint_set.section,
                    endpoint_set.category.value,
                    "true" if endpoint_set.required else "false",
                ],
                1.0,
            )
            unprobed.add_metric(
                [endpoint_set.id], float(len(plan.unprobed_wildcards.get(endpoint_set.id, [])))
            )
            if endpoint_set.id in counts:
                ok, total = counts[endpoint_set.id]
                ratio.add_metric([endpoint_set.id], ok / total)
        edition = table.CATALOGUE_EDITION_INFO.gauge()
        if self._catalogue.edition is not None:
            e = self._catalogue.edition
            edition.add_metric([e.title, e.language, e.encoded_on], 1.0)
        valid = table.CATALOGUE_REPRESENTATIVE_VALID.gauge()
        for check in representative_checks(plan, results):
            valid.add_metric([check.set_id, check.entry, check.host], 1.0 if check.valid else 0.0)
        yield from (info, ratio, unprobed, valid, edition)

    def _exporter_metrics(
        self, plan: TargetPlan, completed: int, last_duration: float | None, last_finished_at: float | None
    ) -> Iterator[Metric]:
        build = table.EXPORTER_BUILD_INFO.gauge()
        build.add_metric([__version__], 1.0)
        targets = table.EXPORTER_TARGETS.gauge()
        targets.add_metric([], float(len(plan.targets)))
        cycles = table.EXPORTER_CYCLES.counter()
        cycles.add_metric([], float(completed))
        yield from (build, targets, cycles)
        if last_duration is not None and last_finished_at is not None:
            duration = table.EXPORTER_CYCLE_DURATION.gauge()
            duration.add_metric([], last_duration)
            finished = table.EXPORTER_LAST_CYCLE_TIMESTAMP.gauge()
            finished.add_metric([], last_finished_at)
            yield from (duration, finished)

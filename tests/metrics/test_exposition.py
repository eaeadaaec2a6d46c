"""The pre-rendered /metrics text: byte for byte what prometheus_client writes, rows cached per result."""

from __future__ import annotations

import gzip
from collections.abc import Iterable

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from exporter.config.file import load
from exporter.metrics.endpoints import ExporterCollector
from exporter.metrics.exposition import CONTENT_TYPE, Family, RowCache, SeriesCap, metrics_app, render
from exporter.metrics.network_checks import NetworkChecksCollector
from exporter.metrics.table import EXPORTER_SERIES_DROPPED, MetricSpec, MetricType
from exporter.plan.expand import build_plan
from exporter.plan.targets import PlanHolder, TargetPlan
from exporter.probes.dns import FamilyAnswer
from exporter.probes.outcome import Certificate, Phase, ProbeOutcome, Reason
from exporter.results.store import AddressOutcome, ResultStore, TargetResult

CERT = Certificate(
    'odd "subject"\\', "Issuing CA\nline two", "Org", 1_900_000_000.0, verified=False, hostname_matches=True
)


def builtin_plan() -> TargetPlan:
    """The built-in configuration's plan: every default set."""
    loaded = load(None)
    return build_plan(loaded.config, loaded.catalogue)


@pytest.fixture
def plan() -> TargetPlan:
    return builtin_plan()


def outcome_for(index: int) -> ProbeOutcome:
    """A spread of outcomes: up with a certificate, failing, NTP, byte ranges, interception."""
    phases = {Phase.DNS: 0.001 * index, Phase.CONNECT: 1e-7, Phase.TLS: 0.25}
    if index % 4 == 0:
        return ProbeOutcome.failure(Reason.CONNECT_REFUSED, "Connection refused", phases)
    if index % 4 == 1:
        return ProbeOutcome(
            ok=True, phases=phases, certificate=CERT, http_status=403, intercepted=True, range_supported=False
        )
    if index % 4 == 2:
        return ProbeOutcome(ok=True, phases=phases, ntp_offset=-0.125, http_status=200, range_supported=True)
    return ProbeOutcome(ok=False, reason=Reason.TLS_INTERCEPTED, certificate=CERT, intercepted=True)


def filled_store(plan: TargetPlan, generation: int = 0) -> ResultStore:
    store = ResultStore()
    for index, target in enumerate(plan.targets):
        outcome = outcome_for(index + generation)
        addresses = (AddressOutcome("10.0.0.1", "ipv4", outcome.ok, outcome.reason),)
        families = (FamilyAnswer("ipv4", ("10.0.0.1",)),)
        store.put(TargetResult(target, outcome, "10.0.0.1", 1_700_000_000.5 + index, addresses, families))
    store.cycle_done(3.0)
    return store


class Fixed(Collector):
    def __init__(self, metrics: list[Metric]) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return self._metrics


def registry_for(plan: TargetPlan, store: ResultStore) -> CollectorRegistry:
    registry = CollectorRegistry()
    plans = PlanHolder(plan)
    registry.register(ExporterCollector(plans, load(None).catalogue, store))
    registry.register(NetworkChecksCollector(plans, store))
    return registry


def test_render_is_what_prometheus_client_writes(plan: TargetPlan) -> None:
    registry = registry_for(plan, filled_store(plan))

    ours = render(registry).decode()

    assert ours == generate_latest(registry).decode()
    assert ours.count("intune_endpoint_up{") == sum(len(m) for m in plan.targets.values())
    assert 'issuer_cn="Issuing CA\\nline two"' in ours
    assert 'subject_cn="odd \\"subject\\"\\\\"' in ours


def test_rows_are_rendered_again_only_when_their_result_changes(plan: TargetPlan) -> None:
    store = filled_store(plan)
    registry = registry_for(plan, store)
    first = render(registry)
    target = next(iter(plan.targets))
    store.put(TargetResult(target, ProbeOutcome(ok=True, http_status=204), "10.0.0.9", 1_800_000_000.0))

    second = render(registry).decode()

    assert second == generate_latest(registry).decode()
    assert second != first.decode()
    assert f'host="{target.host}"' in second
    assert "1.8e+09" in second


def test_rows_leave_with_their_targets(plan: TargetPlan) -> None:
    store = filled_store(plan)
    holder = PlanHolder(plan)
    registry = CollectorRegistry()
    registry.register(ExporterCollector(holder, load(None).catalogue, store))
    render(registry)
    kept = dict(list(plan.targets.items())[:3])
    holder.replace(TargetPlan(sets=plan.sets, targets=kept))

    text = render(registry).decode()

    assert text == generate_latest(registry).decode()
    assert text.count("intune_endpoint_up{") == sum(len(m) for m in kept.values())


def test_row_cache_formats_labels_in_name_order_and_escapes_values() -> None:
    family = Family(MetricSpec("demo_value", MetricType.GAUGE, "Demo.", ("zone", "host")))
    cache: RowCache[str, str, float] = RowCache(
        [family], lambda key, host, value: {"demo_value": [([key, host], value)]}
    )

    (rendered,) = cache.families({"z1": 'a"b', "z2": 'a"b', "z3": "no item"}, {"z1": 1.5, "z2": 2.0})

    assert rendered.header() == "# HELP demo_value Demo.\n# TYPE demo_value gauge\n"
    assert rendered.chunks == [
        b'demo_value{host="a\\"b",zone="z1"} 1.5\n',
        b'demo_value{host="a\\"b",zone="z2"} 2.0\n',
    ]
    assert [(s.labels, s.value) for s in rendered.samples] == [
        ({"zone": "z1", "host": 'a"b'}, 1.5),
        ({"zone": "z2", "host": 'a"b'}, 2.0),
    ]


def test_metrics_app_serves_text_and_gzip(plan: TargetPlan) -> None:
    registry = registry_for(plan, filled_store(plan))
    app = metrics_app(registry)
    answers: list[tuple[str, dict[str, str]]] = []

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        answers.append((status, dict(headers)))

    plain = b"".join(app({"REQUEST_METHOD": "GET"}, start_response))
    packed = b"".join(app({"REQUEST_METHOD": "GET", "HTTP_ACCEPT_ENCODING": "gzip, deflate"}, start_response))
    refused = b"".join(app({"REQUEST_METHOD": "POST"}, start_response))

    assert answers[0] == ("200 OK", {"Content-Type": CONTENT_TYPE, "Content-Length": str(len(plain))})
    assert answers[1][1]["Content-Encoding"] == "gzip"
    assert gzip.decompress(packed).count(b"intune_endpoint_up{") == plain.count(b"intune_endpoint_up{")
    assert answers[2][0] == "405 Method Not Allowed"
    assert refused == b"use GET\n"


def test_series_over_the_cap_are_left_out_whole_and_counted(
    plan: TargetPlan, caplog: pytest.LogCaptureFixture
) -> None:
    registry = registry_for(plan, filled_store(plan))
    full = render(registry).decode()
    up_lines = [line for line in full.splitlines() if line.startswith("intune_endpoint_up{")]
    cap = SeriesCap(lambda: 10)

    capped = render(registry, cap).decode()
    render(registry, cap)

    endpoint_series = [
        line
        for line in capped.splitlines()
        if line.startswith("intune_endpoint_") and not line.startswith("intune_endpoint_set_")
    ]
    assert len(endpoint_series) <= 10
    assert capped.count("intune_endpoint_up{") >= 1
    assert all(line in up_lines for line in capped.splitlines() if line.startswith("intune_endpoint_up{"))
    assert "intune_endpoint_set_info{" in capped  # per-set and exporter families are never capped
    dropped = float(capped.rsplit("intune_exporter_series_dropped_total ", 1)[1])
    total = sum(
        1
        for line in full.splitlines()
        if line.startswith("intune_endpoint_") and not line.startswith("intune_endpoint_set_")
    )
    assert dropped == total - len(endpoint_series)
    assert caplog.text.count("left out of this scrape") == 1  # logged when it starts, not every scrape
    uncapped = render(registry, SeriesCap(lambda: 1_000_000)).decode()
    assert uncapped.endswith("intune_exporter_series_dropped_total 0.0\n")


def test_series_dropped_counter_is_what_prometheus_client_writes() -> None:
    cap = SeriesCap(lambda: 0)
    cap.record(7)
    counter = EXPORTER_SERIES_DROPPED.counter()
    counter.add_metric([], 7.0)

    assert cap.family() == generate_latest(Fixed([counter]))


def test_only_gauges_are_pre_rendered() -> None:
    with pytest.raises(TypeError, match="gauges"):
        Family(EXPORTER_SERIES_DROPPED)


def test_certificate_names_are_bounded(plan: TargetPlan) -> None:
    target = next(iter(plan.targets))
    store = ResultStore()
    huge = Certificate("s" * 5000, "i" * 5000, "o", 1.9e9, verified=False, hostname_matches=False)
    store.put(TargetResult(target, ProbeOutcome(ok=True, certificate=huge), "10.0.0.1", 1.7e9))

    text = render(registry_for(plan, store)).decode()

    assert f'subject_cn="{"s" * 253}..."' in text
    assert "s" * 254 not in text

"""The metric table is the contract: every family the collectors yield is in it, with its type, help and
labels, and every metric in it is yielded."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.process_collector import ProcessCollector

from exporter.metrics import table
from exporter.metrics.drift import DriftCollector
from exporter.metrics.exposition import MAX_LABEL_VALUE, SeriesCap, render
from exporter.metrics.reload import ReloadCollector
from exporter.metrics.table import METRICS, MetricSpec, MetricType, Origin
from exporter.metrics.tasks import TaskRestartsCollector
from exporter.reference.drift import Direction, DriftEntry, Kind
from exporter.reference.snapshot import Snapshot
from exporter.reference.tracker import ReferenceStatus
from exporter.reference.types import FetchFailure
from tests.metrics.test_exposition import builtin_plan, filled_store, registry_for


def full_registry() -> CollectorRegistry:
    """Every collector `serve` registers, with something to say."""
    plan = builtin_plan()
    registry = registry_for(plan, filled_store(plan))
    status = ReferenceStatus(
        "webservice-worldwide",
        "Worldwide",
        Snapshot("webservice-worldwide", "2024010100", 1.7e9, []),
        invalid_entries=1,
        drift=(DriftEntry("163", Kind.URL, Direction.ADDED, "new.manage.microsoft.com"),),
        last_success=1.7e9,
        failures=Counter({FetchFailure.NOT_JSON: 1}),
    )
    edition = {
        "title": "Network endpoints for Microsoft Intune",
        "date": "2025-08-21",
        "locale": "en-us",
        "form": "html",
        "source": "https://learn.microsoft.com/en-us/intune/intune-service/fundamentals/intune-endpoints",
    }
    page = ReferenceStatus(
        "intune-page",
        "",
        Snapshot("intune-page", "sha256:0123456789abcdef", 1.7e9, [], {"edition": edition}),
        last_success=1.7e9,
    )
    trackers = [SimpleNamespace(status=status), SimpleNamespace(status=page)]
    registry.register(DriftCollector(trackers))  # type: ignore[arg-type]
    registry.register(ReloadCollector(lambda: (True, 1.7e9)))
    registry.register(TaskRestartsCollector(lambda: {"probe_loop": 0, "reload": 1}))
    registry.register(ProcessCollector(registry=None))
    return registry


def test_every_family_of_metrics_is_in_the_table_and_every_metric_is_exposed() -> None:
    text = render(full_registry(), SeriesCap(lambda: 1_000_000)).decode()
    exposed = {}
    for family in text_string_to_metric_families(text):
        sample_names = {sample.name for sample in family.samples}
        name = f"{family.name}_total" if family.type == "counter" else family.name
        assert sample_names <= {name}, family.name
        spec = table.BY_NAME.get(name)
        assert spec is not None, f"{name} is not in exporter/metrics/table.py"
        assert (family.type, family.documentation) == (spec.type.value, spec.help), name
        for sample in family.samples:
            assert set(sample.labels) == set(spec.labels), (name, sample.labels)
        exposed[name] = family
    assert set(exposed) == set(table.BY_NAME)
    # These need reference hosts, a proxy and resolved addresses; tests/commands/test_serve.py has them.
    assert {name for name, family in exposed.items() if not family.samples} == {
        table.ENDPOINT_DRIFT_TARGET_INFO.name,
        table.ENDPOINT_PROXY_UNAUTHENTICATED_ACCESS.name,
        table.ENDPOINT_DNS_ANSWER_IN_PUBLISHED_RANGES.name,
    }


def test_help_lines_are_what_prometheus_client_writes() -> None:
    text = generate_latest(full_registry()).decode()
    for metric in METRICS:
        if metric is not table.EXPORTER_SERIES_DROPPED:  # written by SeriesCap, see test_exposition
            assert metric.header() in text, metric.name


def test_process_metrics_are_marked_as_prometheus_clients() -> None:
    process = {metric.name for metric in METRICS if metric.origin is Origin.PROMETHEUS_CLIENT}
    assert process == {metric.name for metric in METRICS if metric.name.startswith("process_")}
    assert len(process) == 6


def test_counters_and_only_counters_end_in_total() -> None:
    for metric in METRICS:
        assert metric.name.endswith("_total") == (metric.type is MetricType.COUNTER), metric.name
    with pytest.raises(ValueError, match="counters"):
        MetricSpec("demo_events", MetricType.COUNTER, "Events.")
    with pytest.raises(ValueError, match="counters"):
        MetricSpec("demo_total", MetricType.GAUGE, "Total.")


def test_counter_families_take_the_name_without_total() -> None:
    counter = table.EXPORTER_CYCLES.counter()
    counter.add_metric([], 2.0)
    assert counter.name == "intune_exporter_cycles"
    assert [sample.name for sample in counter.samples] == ["intune_exporter_cycles_total"]
    with pytest.raises(TypeError, match="not a gauge"):
        table.EXPORTER_CYCLES.gauge()
    with pytest.raises(TypeError, match="not a counter"):
        table.ENDPOINT_UP.counter()


def test_gauge_families_have_the_labels_of_the_table() -> None:
    gauge = table.ENDPOINT_SET_REACHABLE_RATIO.gauge()
    gauge.add_metric(["163"], 0.5)
    assert gauge.documentation == table.ENDPOINT_SET_REACHABLE_RATIO.help
    assert gauge.samples[0].labels == {"set_id": "163"}


@pytest.mark.parametrize(
    ("help_text", "labels", "notes"),
    [
        ("Two\nlines.", (), ""),
        ("A `code` span.", (), ""),
        ("", (), ""),
        ("Fine.", ("host", "host"), ""),
        ("Fine.", ("__reserved",), ""),
        ("Fine.", (), "A | cell."),
    ],
)
def test_specs_are_checked(help_text: str, labels: tuple[str, ...], notes: str) -> None:
    with pytest.raises(ValueError):
        MetricSpec("demo_value", MetricType.GAUGE, help_text, labels, notes)


def test_names_are_unique_and_the_table_is_ordered_as_documented() -> None:
    assert len({metric.name for metric in METRICS}) == len(METRICS) == 43
    assert METRICS[0] is table.ENDPOINT_UP
    assert METRICS[-1] is table.PROCESS_START_TIME


def test_the_documented_bound_on_certificate_names_is_the_real_one() -> None:
    cut = f"longer than {MAX_LABEL_VALUE} characters, they are cut to {MAX_LABEL_VALUE - 3}"
    assert cut in table.ENDPOINT_TLS_ISSUER_INFO.notes

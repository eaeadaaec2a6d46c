"""docs/metrics.md is generated from the metric table: the committed page is what the code writes."""

from __future__ import annotations

import pytest

from exporter.metrics import docs
from exporter.metrics.table import METRICS
from exporter.probes.outcome import Reason
from tests.support.docs_tables import METRICS_DOC, metrics_doc_rows

STALE = f"docs/metrics.md is out of date with exporter/metrics/table.py; regenerate: {docs.REGENERATE}"


def test_committed_page_is_generated() -> None:
    assert METRICS_DOC.read_text(encoding="utf-8") == docs.markdown(), STALE


def test_page_table_reads_back_as_the_metric_table() -> None:
    rows = metrics_doc_rows()
    assert list(rows) == [metric.name for metric in METRICS]
    for metric in METRICS:
        assert rows[metric.name] == (metric.type.value, set(metric.labels)), metric.name


def test_every_meaning_starts_with_the_help_text() -> None:
    page = docs.markdown()
    for metric in METRICS:
        assert f"| `{metric.name}` | {metric.type.value} |" in page
        assert f"| {metric.help}" in page, metric.name


def test_every_reason_needs_a_documented_meaning(monkeypatch: pytest.MonkeyPatch) -> None:
    documented = dict(docs.REASONS)
    del documented[Reason.PROBE_ERROR]
    monkeypatch.setattr(docs, "REASONS", documented)
    with pytest.raises(LookupError, match="probe_error"):
        docs.markdown()

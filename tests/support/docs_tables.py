"""Reading the tables of docs/*.md, so tests can hold the code to what the documentation states.

docs/metrics.md is generated from the metric table (`exporter.metrics.table`), so its metrics are read
from there."""

from __future__ import annotations

import re
from pathlib import Path

from exporter.metrics.table import METRICS
from tests.support.paths import ROOT

METRICS_DOC = ROOT / "docs" / "metrics.md"


def section(path: Path, heading: str) -> str:
    """The text under `heading`, up to the next second-level heading."""
    return path.read_text(encoding="utf-8").split(heading, 1)[1].split("\n## ", 1)[0]


def table_first_column(path: Path, heading: str) -> set[str]:
    """The backquoted values of the first column of the table under `heading`."""
    return set(re.findall(r"^\| `([^`]+)` \|", section(path, heading), flags=re.MULTILINE))


def documented_metrics() -> set[str]:
    """Metric names of the metric table, which docs/metrics.md shows (tests/metrics/test_docs.py)."""
    return {metric.name for metric in METRICS}


def documented_metric_labels() -> dict[str, set[str]]:
    """Metric name -> labels, from the metric table."""
    return {metric.name: set(metric.labels) for metric in METRICS}


def metrics_doc_rows() -> dict[str, tuple[str, set[str]]]:
    """Metric name -> (type, labels), parsed from the table of docs/metrics.md as readers see it."""
    rows = re.finditer(
        r"^\| `([^`]+)` \|([^|]*)\|([^|]*)\|", section(METRICS_DOC, "## Exporter metrics"), flags=re.MULTILINE
    )
    return {
        row[1]: (row[2].strip(), {label.strip() for label in row[3].split(",") if label.strip()})
        for row in rows
    }

"""Reading the tables of docs/*.md, so tests can hold the code to what the documentation states."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.paths import ROOT

METRICS_DOC = ROOT / "docs" / "metrics.md"


def section(path: Path, heading: str) -> str:
    """The text under `heading`, up to the next second-level heading."""
    return path.read_text(encoding="utf-8").split(heading, 1)[1].split("\n## ", 1)[0]


def table_first_column(path: Path, heading: str) -> set[str]:
    """The backquoted values of the first column of the table under `heading`."""
    return set(re.findall(r"^\| `([^`]+)` \|", section(path, heading), flags=re.MULTILINE))


def documented_metrics() -> set[str]:
    """Metric names of docs/metrics.md's metrics table."""
    return table_first_column(METRICS_DOC, "## Exporter metrics")


def documented_metric_labels() -> dict[str, set[str]]:
    """Metric name -> labels, from docs/metrics.md's metrics table."""
    rows = re.finditer(
        r"^\| `([^`]+)` \|[^|]*\|([^|]*)\|", section(METRICS_DOC, "## Exporter metrics"), flags=re.MULTILINE
    )
    return {row[1]: {label.strip() for label in row[2].split(",") if label.strip()} for row in rows}

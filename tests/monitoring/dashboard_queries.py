"""Reading the queries out of a dashboard, for the tests that check them (tests/monitoring, and the
Prometheus end-to-end test): `panel_queries` lists a dashboard's PromQL (after substituting the variables
they are plain PromQL) and `variable_queries` its `label_values(...)` variable queries, which are Grafana
syntax; `label_values_parts` splits one into the series selector and the label name."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from exporter.monitoring.dashboards import panels_of


def panel_queries(dashboard: Mapping[str, Any]) -> list[str]:
    """The PromQL of every panel target, in panel order. Variables to substitute: `$job`, `$site`, `$set`,
    `$__rate_interval`, `$__range`."""
    return [target["expr"] for item in panels_of(dashboard) for target in item.get("targets", [])]


def variable_queries(dashboard: Mapping[str, Any]) -> list[str]:
    """The Grafana `label_values(...)` queries of the variables: not PromQL, see `label_values_parts`."""
    return [variable["query"] for variable in dashboard["templating"]["list"] if variable["type"] == "query"]


LABEL_VALUES = re.compile(r"label_values\(\s*(?:(?P<selector>.+?)\s*,\s*)?(?P<label>[a-zA-Z_]\w*)\s*\)")


def label_values_parts(query: str) -> tuple[str | None, str]:
    """`label_values(selector, label)` -> (selector or None, label): the `match[]` and label name of
    Prometheus's `/api/v1/label/<label>/values`."""
    match = LABEL_VALUES.fullmatch(query.strip())
    if match is None:
        raise ValueError(f"not a label_values query: {query}")
    return match["selector"], match["label"]

"""The Grafana dashboards: committed files match the generator, layout and variables are sound, and every
query selects the exporter through the variables and uses documented metrics only.

The real PromQL parse is promtool's (skipped without it); the lead's Prometheus test runs the queries.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.monitoring.dashboards import dashboards, markdown, panels_of, render
from exporter.monitoring.thresholds import MonitoringSettings
from tests.monitoring.dashboard_queries import label_values_parts, panel_queries, variable_queries
from tests.support.docs_tables import documented_metric_labels
from tests.support.paths import ROOT

DASHBOARDS_DIR = ROOT / "dashboards"
DOCS = ROOT / "docs" / "dashboards.md"
REGENERATE = (
    "regenerate: python -c 'from pathlib import Path; from exporter.monitoring.dashboards import *; "
    '[Path("dashboards", n).write_text(render(d)) for n, d in dashboards().items()]; '
    'Path("docs/dashboards.md").write_text(markdown())\''
)
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
PROMETHEUS_SERIES = {"up"}
"""Series Prometheus itself adds per target: allowed although the exporter does not expose them."""
SUBSTITUTIONS = {
    "$__rate_interval": "1m",
    "$__interval": "1m",
    "$__range": "1h",
    "$job": ".+",
    "$site": ".*",
    "$set": ".+",
}
SELECTOR = re.compile(r"(?P<metric>[a-zA-Z_:][a-zA-Z0-9_:]*)\{(?P<matchers>[^{}]*)\}")

ALL = dashboards()


def substitute(expr: str) -> str:
    for variable, value in SUBSTITUTIONS.items():
        expr = expr.replace(variable, value)
    return expr


def all_queries() -> list[tuple[str, str]]:
    return [(name, expr) for name, dashboard in ALL.items() for expr in panel_queries(dashboard)]


def without_strings(expr: str) -> str:
    return re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)


def balanced(expr: str) -> bool:
    closing = {")": "(", "}": "{", "]": "["}
    stack: list[str] = []
    for char in without_strings(expr):
        if char in "({[":
            stack.append(char)
        elif char in closing and (not stack or stack.pop() != closing[char]):
            return False
    return not stack


def test_committed_dashboards_are_up_to_date() -> None:
    committed = {path.name for path in DASHBOARDS_DIR.glob("*.json")}
    assert committed == set(ALL), REGENERATE
    for name, dashboard in ALL.items():
        assert (DASHBOARDS_DIR / name).read_text(encoding="utf-8") == render(dashboard), REGENERATE


def test_docs_are_up_to_date() -> None:
    assert DOCS.read_text(encoding="utf-8") == markdown(), REGENERATE


def test_the_six_dashboards() -> None:
    assert set(ALL) == {
        f"intune-endpoints-{slug}.json"
        for slug in ("overview", "fleet", "latency", "network", "drift", "exporter")
    }


def test_render_is_stable_json_with_a_trailing_newline() -> None:
    for dashboard in ALL.values():
        text = render(dashboard)
        assert text.endswith("}\n")
        assert json.loads(text) == dashboard
        assert render(json.loads(text)) == text


def test_uids_are_stable_unique_and_name_the_file() -> None:
    uids = [dashboard["uid"] for dashboard in ALL.values()]
    assert len(set(uids)) == len(uids)
    for name, dashboard in ALL.items():
        assert name == f"{dashboard['uid']}.json"
        assert dashboard["uid"].startswith("intune-endpoints-")
        assert len(dashboard["uid"]) <= 40  # Grafana's limit
        assert dashboard["id"] is None


def test_dashboard_model() -> None:
    settings = MonitoringSettings()
    for dashboard in ALL.values():
        assert dashboard["schemaVersion"] == 39
        assert dashboard["refresh"] == settings.dashboard_refresh
        assert dashboard["time"] == {"from": "now-6h", "to": "now"}
        assert dashboard["title"].startswith("Intune endpoints / ")
        assert dashboard["panels"]


def test_settings_are_honoured() -> None:
    settings = MonitoringSettings(
        dashboard_uid_prefix="lab", dashboard_refresh="30s", ntp_max_offset_seconds=5
    )
    built = dashboards(settings)
    assert set(built) == {name.replace("intune-endpoints", "lab") for name in ALL}
    assert all(dashboard["refresh"] == "30s" for dashboard in built.values())
    ntp = next(item for item in panels_of(built["lab-network.json"]) if item["title"] == "NTP offset")
    assert [step["value"] for step in ntp["fieldConfig"]["defaults"]["thresholds"]["steps"]] == [None, -5, 5]


def test_joins_match_on_the_instance_labels() -> None:
    joins = [expr for _, expr in all_queries() if " on (" in expr]
    assert joins
    assert all(" on (job, instance, site" in expr for expr in joins)
    cluster = dashboards(MonitoringSettings(instance_labels=("job", "instance", "cluster")))
    joined = [expr for dashboard in cluster.values() for expr in panel_queries(dashboard) if " on (" in expr]
    assert all(" on (job, instance, cluster" in expr for expr in joined)


def test_panel_ids_are_unique_per_dashboard() -> None:
    for dashboard in ALL.values():
        ids = [item["id"] for item in panels_of(dashboard)]
        assert len(set(ids)) == len(ids), dashboard["uid"]


def rectangle(item: dict[str, Any]) -> tuple[int, int, int, int]:
    grid = item["gridPos"]
    return grid["x"], grid["y"], grid["x"] + grid["w"], grid["y"] + grid["h"]


def test_panels_fit_the_grid_without_overlapping() -> None:
    for dashboard in ALL.values():
        boxes = {item["title"]: rectangle(item) for item in panels_of(dashboard)}
        assert len(boxes) == len(dashboard["panels"]), "panel titles are unique per dashboard"
        for left, top, right, bottom in boxes.values():
            assert 0 <= left < right <= 24
            assert 0 <= top < bottom
        for (a, (ax1, ay1, ax2, ay2)), (b, (bx1, by1, bx2, by2)) in combinations(boxes.items(), 2):
            overlap = ax1 < bx2 and bx1 < ax2 and ay1 < by2 and by1 < ay2
            assert not overlap, (dashboard["uid"], a, b)


def test_every_panel_and_target_uses_the_datasource_variable() -> None:
    for dashboard in ALL.values():
        for item in panels_of(dashboard):
            assert item["datasource"] == DATASOURCE, item["title"]
            assert item["description"], item["title"]
            assert item["targets"], item["title"]
            ref_ids = [target["refId"] for target in item["targets"]]
            assert len(set(ref_ids)) == len(ref_ids)
            for target in item["targets"]:
                assert target["datasource"] == DATASOURCE


def test_every_dashboard_has_the_variables() -> None:
    for dashboard in ALL.values():
        variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
        assert list(variables) == ["datasource", "job", "site", "set"]
        assert variables["datasource"]["type"] == "datasource"
        assert variables["datasource"]["query"] == "prometheus"
        assert variables["job"]["query"] == "label_values(intune_exporter_build_info, job)"
        assert variables["site"]["query"] == 'label_values(intune_exporter_build_info{job=~"$job"}, site)'
        assert variables["site"]["includeAll"] and variables["site"]["allValue"] == ".*"
        assert variables["set"]["query"] == 'label_values(intune_endpoint_set_info{job=~"$job"}, set_id)'
        assert variables["set"]["multi"] and variables["set"]["includeAll"]
        for name in ("job", "site", "set"):
            assert variables[name]["datasource"] == DATASOURCE
            assert variables[name]["definition"] == variables[name]["query"]
        assert variable_queries(dashboard) == [variables[name]["query"] for name in ("job", "site", "set")]


def test_label_values_parts() -> None:
    assert label_values_parts('label_values(up{job=~"$job"}, site)') == ('up{job=~"$job"}', "site")
    assert label_values_parts("label_values(intune_exporter_build_info, job)") == (
        "intune_exporter_build_info",
        "job",
    )
    assert label_values_parts("label_values(job)") == (None, "job")
    with pytest.raises(ValueError, match="not a label_values query"):
        label_values_parts("up")


def test_every_metric_used_is_documented() -> None:
    documented = documented_metric_labels()
    assert "process_cpu_seconds_total" in documented
    assert documented["intune_endpoint_set_reachable_ratio"] == {"set_id"}
    used = set()
    for name, expr in all_queries():
        plain = without_strings(expr)
        # Every series is selected with braces, so a bare name would be a mistake too.
        for bare in re.findall(r"\b((?:intune|process)_\w+)\b(?!\{)", plain):
            pytest.fail(f"{name}: {bare} without a selector in {expr}")
        assert "intune:" not in plain, "dashboards use raw metrics, not recording rules"
        used |= {match["metric"] for match in SELECTOR.finditer(expr)}
    assert used - documented.keys() <= PROMETHEUS_SERIES, used - documented.keys()


def test_every_selector_uses_the_variables() -> None:
    documented = documented_metric_labels()
    for name, expr in all_queries():
        assert balanced(expr), (name, expr)
        selectors = list(SELECTOR.finditer(expr))
        assert selectors, (name, expr)
        for selector in selectors:
            matchers = selector["matchers"]
            assert matchers.startswith('job=~"$job", site=~"$site"'), (name, expr)
            if "set_id" in documented.get(selector["metric"], set()):
                assert 'set_id=~"$set"' in matchers, (name, selector[0])
        for window in re.findall(r"\[([^\]]*)\]", expr):
            assert window in ("$__rate_interval", "$__range"), (name, expr)


def test_variable_queries_select_documented_series() -> None:
    documented = documented_metric_labels()
    for dashboard in ALL.values():
        for query in variable_queries(dashboard):
            selector, label = label_values_parts(query)
            assert selector is not None
            metric = selector.split("{", 1)[0]
            assert metric in documented
            assert label in documented[metric] | {"job", "site"}


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_queries_parse_with_promtool(tmp_path: Path) -> None:
    exprs = [substitute(expr) for _, expr in all_queries()]
    for dashboard in ALL.values():
        for query in variable_queries(dashboard):
            selector, _ = label_values_parts(query)
            assert selector is not None
            exprs.append(substitute(selector))
    rules = [{"record": f"dashboard:query_{index}:check", "expr": expr} for index, expr in enumerate(exprs)]
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    checked = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr

"""Grafana dashboards as code: plain dicts in Grafana's JSON model (schema version 39, Grafana 10+).

`dashboards(settings)` returns file name -> dashboard, `render` serialises one as committed under dashboards/,
`markdown` writes docs/dashboards.md from the same panels. Every panel reads Prometheus through the
`${datasource}` variable and selects the exporter with `settings.dashboard_selector` (the `job` and `site`
variables) and, for series per endpoint set, `set_id=~"$set"`. Raw metrics only: no recording rules needed.
Metric names come from the metric table (`exporter.metrics.table`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from exporter.metrics.table import (
    CATALOGUE_DRIFT_ENTRIES,
    CATALOGUE_EDITION_INFO,
    CATALOGUE_REPRESENTATIVE_VALID,
    CATALOGUE_UNPROBED_WILDCARDS,
    ENDPOINT_ADDRESSES,
    ENDPOINT_DNS_ANSWER_IN_PUBLISHED_RANGES,
    ENDPOINT_DRIFT_TARGET_INFO,
    ENDPOINT_FAILURE_REASON,
    ENDPOINT_FAMILY_UP,
    ENDPOINT_HTTP_RANGE_SUPPORTED,
    ENDPOINT_HTTP_STATUS_CODE,
    ENDPOINT_PROBE_DURATION,
    ENDPOINT_PROBE_TIMESTAMP,
    ENDPOINT_PROXY_UNAUTHENTICATED_ACCESS,
    ENDPOINT_SET_INFO,
    ENDPOINT_SET_REACHABLE_RATIO,
    ENDPOINT_TLS_CERT_NOT_AFTER,
    ENDPOINT_TLS_INTERCEPTED,
    ENDPOINT_TLS_ISSUER_INFO,
    ENDPOINT_TLS_VERIFIED,
    ENDPOINT_UP,
    EXPORTER_BUILD_INFO,
    EXPORTER_CYCLE_DURATION,
    EXPORTER_CYCLES,
    EXPORTER_LAST_CYCLE_TIMESTAMP,
    EXPORTER_TARGETS,
    NTP_OFFSET,
    PROCESS_CPU_SECONDS,
    PROCESS_MAX_FDS,
    PROCESS_OPEN_FDS,
    PROCESS_RESIDENT_MEMORY,
    PROCESS_START_TIME,
    PROCESS_VIRTUAL_MEMORY,
    REFERENCE_FETCH_FAILURES,
    REFERENCE_INVALID_ENTRIES,
    REFERENCE_LAST_SUCCESS_TIMESTAMP,
    REFERENCE_SNAPSHOT_TIMESTAMP,
    REFERENCE_VERSION_INFO,
)
from exporter.monitoring.thresholds import MonitoringSettings

Json = dict[str, Any]
Step = tuple[str, float | None]
"""A threshold step: colour from this value on (None: the base step)."""

SCHEMA_VERSION = 39
GRID_WIDTH = 24
DATASOURCE: Json = {"type": "prometheus", "uid": "${datasource}"}
SET_MATCHER = 'set_id=~"$set"'
DEFAULT_SETTINGS = MonitoringSettings()

GREEN: tuple[Step, ...] = (("green", None),)
ZERO_GOOD: tuple[Step, ...] = (("green", None), ("red", 1))
ONE_GOOD: tuple[Step, ...] = (("red", None), ("green", 1))
RATIO: tuple[Step, ...] = (("red", None), ("orange", 0.01), ("green", 1))
"""0 red, partial orange, 1 green (values are ratios 0..1)."""


def value_mapping(texts: Mapping[int, tuple[str, str]]) -> Json:
    """value -> (text, colour)."""
    options = {
        str(value): {"text": text, "color": colour, "index": index}
        for index, (value, (text, colour)) in enumerate(texts.items())
    }
    return {"type": "value", "options": options}


UP_DOWN = value_mapping({1: ("up", "green"), 0: ("down", "red")})


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Select:
    """Series selectors with the dashboards' variables (`metric{job=~"$job", site=~"$site", ...}`) and the
    matching clauses of joins."""

    matchers: str
    instance_labels: Sequence[str]
    """Labels telling one exporter from another: joins match on them, plus the series' own."""

    @classmethod
    def of(cls, settings: MonitoringSettings) -> Select:
        return cls(settings.dashboard_selector, settings.instance_labels)

    def __call__(self, metric: str, *extra: str) -> str:
        return metric + "{" + ", ".join((self.matchers, *extra)) + "}"

    def per_set(self, metric: str, *extra: str) -> str:
        return self(metric, SET_MATCHER, *extra)

    def on(self, *labels: str) -> str:
        """`on (job, instance, site, labels...)`."""
        return f"on ({', '.join((*self.instance_labels, *labels))})"

    def with_set(self, expr: str, labels: str = "name") -> str:
        """`expr` with the endpoint set's catalogue attributes (`labels`) from `intune_endpoint_set_info`."""
        info = self.per_set(ENDPOINT_SET_INFO.name)
        return f"{grouped(expr)} * {self.on('set_id')} group_left ({labels}) {info}"


def grouped(expr: str) -> str:
    """`expr`, in parentheses unless it is a single selector."""
    return expr if re.fullmatch(r"[\w:]+\{[^{}]*\}", expr) else f"({expr})"


def distinct_endpoints(expr: str) -> str:
    """One series per endpoint: a target listed by several sets is reported under each of them."""
    return f"max without (set_id) ({expr})"


def count_or_zero(expr: str) -> str:
    return f"count({expr}) or vector(0)"


# Panels. Each is built at its size; `layout` places them and numbers them.


def thresholds(steps: Sequence[Step]) -> Json:
    return {"mode": "absolute", "steps": [{"color": colour, "value": value} for colour, value in steps]}


def field_defaults(
    unit: str,
    steps: Sequence[Step],
    mappings: Sequence[Json] = (),
    *,
    colour: str = "thresholds",
    minimum: float | None = None,
    maximum: float | None = None,
    custom: Json | None = None,
) -> Json:
    defaults: Json = {
        "unit": unit,
        "color": {"mode": colour},
        "thresholds": thresholds(steps),
        "mappings": list(mappings),
    }
    if minimum is not None:
        defaults["min"] = minimum
    if maximum is not None:
        defaults["max"] = maximum
    if custom is not None:
        defaults["custom"] = custom
    return defaults


def panel(
    kind: str,
    title: str,
    description: str,
    queries: Sequence[Query],
    *,
    w: int,
    h: int,
    defaults: Json,
    options: Json,
    instant: bool = False,
    table: bool = False,
    overrides: Sequence[Json] = (),
    transformations: Sequence[Json] = (),
) -> Json:
    targets = [
        {
            "datasource": DATASOURCE,
            "editorMode": "code",
            "expr": query.expr,
            "format": "table" if table else "time_series",
            "instant": instant,
            "legendFormat": query.legend,
            "range": not instant,
            "refId": chr(ord("A") + index),
        }
        for index, query in enumerate(queries)
    ]
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "gridPos": {"h": h, "w": w, "x": 0, "y": 0},
        "targets": targets,
        "fieldConfig": {"defaults": defaults, "overrides": list(overrides)},
        "options": options,
        "transformations": list(transformations),
    }


def stat(
    title: str,
    description: str,
    queries: Sequence[Query],
    *,
    w: int = 4,
    h: int = 4,
    unit: str = "short",
    steps: Sequence[Step] = GREEN,
    mappings: Sequence[Json] = (),
    minimum: float | None = None,
    maximum: float | None = None,
    names: bool = False,
) -> Json:
    """The latest value of each series (instant queries): a cell per series, coloured by `steps`."""
    options = {
        "colorMode": "background",
        "graphMode": "none",
        "justifyMode": "auto",
        "orientation": "auto",
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "showPercentChange": False,
        "textMode": "value_and_name" if names else "value",
        "wideLayout": True,
    }
    defaults = field_defaults(unit, steps, mappings, minimum=minimum, maximum=maximum)
    return panel(
        "stat", title, description, queries, w=w, h=h, defaults=defaults, options=options, instant=True
    )


def timeseries(
    title: str,
    description: str,
    queries: Sequence[Query],
    *,
    w: int = 12,
    h: int = 8,
    unit: str = "short",
    steps: Sequence[Step] = GREEN,
    threshold_lines: bool = False,
    stacked: bool = False,
    bars: bool = False,
    legend_table: bool = False,
    minimum: float | None = None,
    maximum: float | None = None,
) -> Json:
    custom = {
        "axisSoftMin": 0,
        "drawStyle": "bars" if bars else "line",
        "fillOpacity": 30 if stacked or bars else 10,
        "lineWidth": 1,
        "showPoints": "never",
        "spanNulls": False,
        "stacking": {"group": "A", "mode": "normal" if stacked else "none"},
        "thresholdsStyle": {"mode": "dashed" if threshold_lines else "off"},
    }
    legend: Json = {"showLegend": True, "displayMode": "list", "placement": "bottom", "calcs": []}
    if legend_table:
        legend.update(
            displayMode="table", placement="right", calcs=["mean", "max"], sortBy="Max", sortDesc=True
        )
    options = {"legend": legend, "tooltip": {"mode": "multi", "sort": "desc"}}
    defaults = field_defaults(
        unit, steps, colour="palette-classic", minimum=minimum, maximum=maximum, custom=custom
    )
    return panel("timeseries", title, description, queries, w=w, h=h, defaults=defaults, options=options)


LABEL_TITLES = {
    "set_id": "Set",
    "name": "Set name",
    "instance": "Exporter",
    "issuer_cn": "Issuer CN",
    "issuer_org": "Issuer organisation",
    "subject_cn": "Subject CN",
    "product": "Inspection product",
    "exported_instance": "Web service instance",
    "encoded_on": "Encoded on",
}
"""Column titles of labels; the others are capitalised (`inspection_supported` -> `Inspection supported`)."""
ENDPOINT_COLUMNS = ("set_id", "host", "port", "protocol", "path")
WHERE = ("site", "instance")


def column_title(label: str) -> str:
    return LABEL_TITLES.get(label, label.replace("_", " ").capitalize())


def table(
    title: str,
    description: str,
    expr: str,
    *,
    columns: Sequence[str],
    value: str | None,
    w: int = 24,
    h: int = 8,
    unit: str = "short",
    steps: Sequence[Step] = GREEN,
    mappings: Sequence[Json] = (),
    sort_by: str | None = None,
    descending: bool = False,
) -> Json:
    """One row per series of an instant query: the labels in `columns` in that order (absent ones are
    skipped, unexpected ones come last), then the value, titled `value` and coloured by `steps` (None:
    hidden, for `_info` series). `sort_by` is a column title."""
    hidden = {"Time": True, "__name__": True, "job": True, "Value": value is None}
    rename = {column: column_title(column) for column in columns}
    if value is not None:
        rename["Value"] = value
    order = {column: index for index, column in enumerate([*columns, "Value"])}
    organize = {"excludeByName": hidden, "indexByName": order, "renameByName": rename}
    options: Json = {"cellHeight": "sm", "footer": {"show": False}, "showHeader": True}
    if sort_by is not None:
        options["sortBy"] = [{"displayName": sort_by, "desc": descending}]
    coloured = {
        "matcher": {"id": "byType", "options": "number"},
        "properties": [{"id": "custom.cellOptions", "value": {"type": "color-background"}}],
    }
    return panel(
        "table",
        title,
        description,
        [Query(expr)],
        w=w,
        h=h,
        defaults=field_defaults(unit, steps, mappings, custom={"align": "auto", "filterable": True}),
        options=options,
        instant=True,
        table=True,
        overrides=[coloured],
        transformations=[{"id": "organize", "options": organize}],
    )


def state_timeline(
    title: str,
    description: str,
    queries: Sequence[Query],
    *,
    w: int = 12,
    h: int = 8,
    unit: str = "short",
    steps: Sequence[Step] = GREEN,
    mappings: Sequence[Json] = (),
) -> Json:
    """One row per series, coloured by state over time."""
    options = {
        "alignValue": "left",
        "legend": {"displayMode": "list", "placement": "bottom", "showLegend": False},
        "mergeValues": True,
        "rowHeight": 0.9,
        "showValue": "never",
        "tooltip": {"mode": "single", "sort": "none"},
    }
    defaults = field_defaults(unit, steps, mappings, custom={"fillOpacity": 70, "lineWidth": 0})
    return panel("state-timeline", title, description, queries, w=w, h=h, defaults=defaults, options=options)


def layout(panels: Sequence[Json]) -> list[Json]:
    """Left to right, wrapping below the tallest panel of the row when the grid is full; ids 1, 2, ..."""
    placed = []
    x = y = row_height = 0
    for number, item in enumerate(panels, start=1):
        w, h = item["gridPos"]["w"], item["gridPos"]["h"]
        if x + w > GRID_WIDTH:
            x, y, row_height = 0, y + row_height, 0
        placed.append({**item, "id": number, "gridPos": {"h": h, "w": w, "x": x, "y": y}})
        x += w
        row_height = max(row_height, h)
    return placed


# Template variables and the dashboard.

ALL = {"selected": True, "text": ["All"], "value": ["$__all"]}


def query_variable(name: str, label: str, query: str, *, multi: bool, all_value: str | None = None) -> Json:
    variable: Json = {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "definition": query,
        "query": query,
        "refresh": 2,
        "regex": "",
        "sort": 1,
        "hide": 0,
        "multi": multi,
        "includeAll": all_value is not None,
        "current": {},
        "options": [],
        "skipUrlSync": False,
    }
    if all_value is not None:
        variable.update(allValue=all_value, current=ALL)
    return variable


def variables() -> list[Json]:
    datasource = {
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "regex": "",
        "hide": 0,
        "multi": False,
        "includeAll": False,
        "current": {},
        "options": [],
        "refresh": 1,
        "skipUrlSync": False,
    }
    return [
        datasource,
        query_variable("job", "Job", f"label_values({EXPORTER_BUILD_INFO.name}, job)", multi=False),
        query_variable(
            "site",
            "Site",
            f'label_values({EXPORTER_BUILD_INFO.name}{{job=~"$job"}}, site)',
            multi=True,
            all_value=".*",
        ),
        query_variable(
            "set",
            "Endpoint set",
            f'label_values({ENDPOINT_SET_INFO.name}{{job=~"$job"}}, set_id)',
            multi=True,
            all_value=".*",
        ),
    ]


def dashboard(
    settings: MonitoringSettings, slug: str, title: str, description: str, panels: Sequence[Json]
) -> Json:
    return {
        "uid": f"{settings.dashboard_uid_prefix}-{slug}",
        "title": title,
        "description": description,
        "tags": list(settings.dashboard_tags),
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "id": None,
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "liveNow": False,
        "refresh": settings.dashboard_refresh,
        "time": {"from": settings.dashboard_time_from, "to": "now"},
        "timepicker": {},
        "timezone": "browser",
        "weekStart": "",
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "links": [
            {
                "title": "Intune endpoints",
                "type": "dashboards",
                "tags": list(settings.dashboard_tags),
                "asDropdown": True,
                "includeVars": True,
                "keepTime": True,
                "icon": "external link",
                "targetBlank": False,
                "tooltip": "",
                "url": "",
            }
        ],
        "templating": {"list": variables()},
        "panels": layout(panels),
    }


# The dashboards.


def overview(settings: MonitoringSettings) -> Json:
    q = Select.of(settings)
    ratio = q.per_set(ENDPOINT_SET_REACHABLE_RATIO.name)
    up = q.per_set(ENDPOINT_UP.name)
    failing = q.per_set(ENDPOINT_FAILURE_REASON.name) + " == 1"
    interval = settings.probe_interval_seconds

    def failing_sets(required: str) -> str:
        info = q.per_set(ENDPOINT_SET_INFO.name, f'required="{required}"')
        return count_or_zero(f"count by (set_id) ({ratio} < 1 and {q.on('set_id')} {info})")

    def set_cells(required: str) -> str:
        info = q.per_set(ENDPOINT_SET_INFO.name, f'required="{required}"')
        joined = f"{ratio} * {q.on('set_id')} group_left (name) {info}"
        return f"min by (set_id, name) (({joined}) or {q.on('set_id')} (-1 * {info}))"

    panels = [
        stat(
            "Required sets failing",
            "Required endpoint sets with at least one endpoint down at a selected site. Above 0, enrolment, "
            "compliance or app installs break for the devices behind this network path.",
            [Query(failing_sets("true"))],
            steps=ZERO_GOOD,
        ),
        stat(
            "Optional sets failing",
            "Optional endpoint sets (features a tenant may not use) with at least one endpoint down.",
            [Query(failing_sets("false"))],
            steps=(("green", None), ("orange", 1)),
        ),
        stat(
            "Endpoints down",
            "Distinct endpoints (host, port, protocol, path) whose latest probe failed.",
            [Query(count_or_zero(distinct_endpoints(f"{up} == 0")))],
            steps=ZERO_GOOD,
        ),
        stat(
            "Endpoints reachable",
            "Share of the distinct endpoints probed whose latest probe succeeded.",
            [Query(f"avg({distinct_endpoints(up)})")],
            unit="percentunit",
            steps=RATIO,
            minimum=0,
            maximum=1,
        ),
        stat(
            "Endpoints probed",
            "Distinct endpoints with a result. A drop means the exporter probes less than before "
            "(configuration, catalogue) or has not finished its first cycle.",
            [Query(f"count({distinct_endpoints(up)})")],
            steps=(("blue", None),),
        ),
        stat(
            "Last probe cycle",
            "Time since the stalest selected exporter completed a probe cycle. Results older than a few "
            "intervals are not current: see the exporter dashboard.",
            [Query(f"time() - min({q(EXPORTER_LAST_CYCLE_TIMESTAMP.name)})")],
            unit="s",
            steps=(("green", None), ("orange", 2 * interval), ("red", 5 * interval)),
        ),
        stat(
            "Endpoint sets",
            "One cell per endpoint set, required sets first: the share of its endpoints that are up, at the "
            "worst selected site. Red: nothing gets through; orange: some endpoints fail (the table below "
            "says which and why); 'not probed': no result yet.",
            [
                Query(set_cells("true"), "{{set_id}} {{name}}"),
                Query(set_cells("false"), "{{set_id}} {{name}} (optional)"),
            ],
            w=24,
            h=12,
            unit="percentunit",
            steps=(("blue", None), ("red", 0), ("orange", 0.01), ("green", 1)),
            mappings=[value_mapping({-1: ("not probed", "blue")})],
            names=True,
        ),
        table(
            "Failing endpoints",
            "Every endpoint whose latest probe failed, with its set and the reason, required sets first. "
            "The reason names the first phase that failed: dns_* (resolver), connect_* (firewall; a timeout "
            "is a silent drop), tls_* (inspection, certificates), proxy_* (proxy policy or authentication), "
            "range_stripped. The exporter log has the detail.",
            q.with_set(failing, "name, required"),
            columns=("required", "set_id", "name", "host", "port", "protocol", "path", "reason", *WHERE),
            value=None,
            h=10,
            sort_by="Required",
            descending=True,
        ),
        timeseries(
            "Failing endpoints by reason",
            "Distinct failing endpoints over time, stacked by reason: when did it start, and what changed?",
            [Query(f"count by (reason) ({distinct_endpoints(failing)})", "{{reason}}")],
            w=24,
            stacked=True,
        ),
        state_timeline(
            "Set reachability history",
            "Each endpoint set's reachable share over time (worst selected site): when did a set start "
            "failing, and is it flapping?",
            [Query(f"min by (set_id, name) ({q.with_set(ratio)})", "{{set_id}} {{name}}")],
            w=24,
            h=14,
            unit="percentunit",
            steps=RATIO,
        ),
    ]
    return dashboard(
        settings,
        "overview",
        "Intune endpoints / Overview",
        "Which Intune endpoint sets the devices' network path can reach, and why the others fail.",
        panels,
    )


PHASES = {
    "dns": "DNS lookup",
    "connect": "TCP connect",
    "tls": "TLS handshake",
    "http": "HTTP response",
    "ntp": "NTP round trip",
}


def latency(settings: MonitoringSettings) -> Json:
    q = Select.of(settings)
    duration = q.per_set(ENDPOINT_PROBE_DURATION.name)
    status = q.per_set(ENDPOINT_HTTP_STATUS_CODE.name)
    days_left = f"({q.per_set(ENDPOINT_TLS_CERT_NOT_AFTER.name)} - time()) / 86400"
    expiry: tuple[Step, ...] = (
        ("red", None),
        ("orange", settings.tls_cert_critical_days),
        ("green", settings.tls_cert_warning_days),
    )

    def spread(phase: str, title: str, width: int) -> Json:
        phased = distinct_endpoints(q.per_set(ENDPOINT_PROBE_DURATION.name, f'phase="{phase}"'))
        return timeseries(
            title,
            f"The {phase} phase across the selected endpoints at each cycle: median, 90th percentile and "
            "slowest (spreads across endpoints of their latest probes, not request percentiles). A rising "
            "median is the network path; a lone slow maximum is one endpoint: find it below.",
            [
                Query(f"quantile(0.5, {phased})", "median"),
                Query(f"quantile(0.9, {phased})", "p90"),
                Query(f"max({phased})", "slowest"),
            ],
            w=width,
            unit="s",
        )

    widths = (8, 8, 8, 12, 12)
    panels = [
        *(spread(phase, title, width) for (phase, title), width in zip(PHASES.items(), widths, strict=True)),
        timeseries(
            "Duration by endpoint and phase",
            "Every endpoint's phases over time (narrow it with the set variable). Proxied targets have no "
            "dns phase: the proxy resolves.",
            [
                Query(
                    f"max by (host, port, protocol, path, phase) ({duration})",
                    "{{host}}:{{port}}/{{protocol}} {{phase}} ({{path}})",
                )
            ],
            w=24,
            h=12,
            unit="s",
            legend_table=True,
        ),
        table(
            "Slowest endpoints",
            "The 20 endpoints whose latest probe took longest, all phases together.",
            f"topk(20, sum without (phase) ({distinct_endpoints(duration)}))",
            columns=("host", "port", "protocol", "path", *WHERE),
            value="Duration",
            h=9,
            unit="s",
            sort_by="Duration",
            descending=True,
        ),
        timeseries(
            "HTTP status codes",
            "Distinct endpoints by the status of their latest HTTP response. Many Intune endpoints answer "
            "4xx to an anonymous GET, which still proves reachability. A shift, such as everything turning "
            "403 or 502, is a proxy or firewall answering instead of Microsoft.",
            [Query(f'count_values("code", {distinct_endpoints(status)})', "{{code}}")],
            w=10,
            h=10,
            stacked=True,
        ),
        table(
            "HTTP status by endpoint",
            "The latest HTTP status of each endpoint, 5xx first.",
            status,
            columns=("set_id", "host", "port", "path", *WHERE),
            value="Status",
            w=14,
            h=10,
            steps=(("green", None), ("blue", 300), ("yellow", 400), ("red", 500)),
            sort_by="Status",
            descending=True,
        ),
        stat(
            "Soonest certificate expiry",
            "Days until the first presented leaf certificate expires. Microsoft renews well ahead; a short "
            "or expired one is usually an inspecting proxy's.",
            [Query(f"min({days_left})")],
            w=6,
            h=10,
            unit="d",
            steps=expiry,
        ),
        table(
            "Certificate expiry",
            "Days left on the leaf certificate each TLS endpoint presented, soonest first.",
            days_left,
            columns=("set_id", "host", "port", "path", *WHERE),
            value="Days left",
            w=18,
            h=10,
            unit="d",
            steps=expiry,
            sort_by="Days left",
        ),
    ]
    return dashboard(
        settings,
        "latency",
        "Intune endpoints / Latency",
        "How long each probe phase takes, HTTP status codes and certificate expiry.",
        panels,
    )


def network(settings: MonitoringSettings) -> Json:
    q = Select.of(settings)
    intercepted = q.per_set(ENDPOINT_TLS_INTERCEPTED.name)
    unsupported = q.per_set(ENDPOINT_TLS_INTERCEPTED.name, 'inspection_supported="false"')
    issuer = q.per_set(ENDPOINT_TLS_ISSUER_INFO.name)
    verified = q.per_set(ENDPOINT_TLS_VERIFIED.name)
    anonymous = q.per_set(ENDPOINT_PROXY_UNAUTHENTICATED_ACCESS.name)
    ranges = q.per_set(ENDPOINT_HTTP_RANGE_SUPPORTED.name)
    published = q.per_set(ENDPOINT_DNS_ANSWER_IN_PUBLISHED_RANGES.name)
    up = q.per_set(ENDPOINT_UP.name)
    failing = q.per_set(ENDPOINT_FAILURE_REASON.name) + " == 1"
    duration = q.per_set(ENDPOINT_PROBE_DURATION.name)
    direct = q.per_set(ENDPOINT_UP.name, 'path="direct"')
    proxied = q.per_set(ENDPOINT_UP.name, 'path="proxy"')
    family_up = distinct_endpoints(q.per_set(ENDPOINT_FAMILY_UP.name))
    unreachable_addresses = q.per_set(ENDPOINT_ADDRESSES.name, 'state="unreachable"')
    unreachable = f"max without (set_id, state) ({unreachable_addresses})"
    representative = q.per_set(CATALOGUE_REPRESENTATIVE_VALID.name)
    offset = settings.ntp_max_offset_seconds

    def how_many(expr: str) -> str:
        return count_or_zero(distinct_endpoints(expr))

    panels = [
        stat(
            "TLS intercepted",
            "Distinct endpoints whose certificate comes from an inspection CA or product: TLS inspection.",
            [Query(how_many(f"{intercepted} == 1"))],
            steps=(("green", None), ("orange", 1)),
        ),
        stat(
            "Intercepted, unsupported",
            "Intercepted endpoints where Microsoft says inspection breaks Intune (*.manage.microsoft.com, "
            "*.dm.microsoft.com, attestation): exempt them from inspection.",
            [Query(how_many(f"{unsupported} == 1"))],
            steps=ZERO_GOOD,
        ),
        stat(
            "Certificates not verified",
            "Endpoints whose chain or host name did not verify against the trust store.",
            [Query(how_many(f"{verified} == 0"))],
            steps=(("green", None), ("orange", 1)),
        ),
        stat(
            "Proxy demands auth",
            "Hosts that need unauthenticated proxy access but got 407 without credentials.",
            [Query(how_many(f"{anonymous} == 0"))],
            steps=ZERO_GOOD,
        ),
        stat(
            "Byte ranges stripped",
            "Endpoints needing byte ranges (Delivery Optimization, Win32 apps) that got a whole body back.",
            [Query(how_many(f"{ranges} == 0"))],
            steps=ZERO_GOOD,
        ),
        stat(
            "DNS outside ranges",
            "Hosts resolving to an address outside their set's published ranges: an IP-allowlist firewall "
            "blocks them.",
            [Query(how_many(f"{published} == 0"))],
            steps=(("green", None), ("orange", 1)),
        ),
        table(
            "TLS issuers and interception",
            "The issuer and subject of the leaf certificate each endpoint presented, and whether that is "
            "inspection, intercepted first, with the inspection product when the issuer names one. "
            "Intercepted means evidence (a configured inspection issuer or CA, a known product); a missing "
            "intermediate or a self-signed certificate is not. Rows with inspection supported 'false'"
            " are the ones that break.",
            f"{intercepted} * {q.on('set_id', 'host', 'port', 'path')} "
            f"group_left (issuer_cn, issuer_org, subject_cn, product) {issuer}",
            columns=(
                "set_id",
                "host",
                "port",
                "path",
                "issuer_org",
                "issuer_cn",
                "product",
                "subject_cn",
                "inspection_supported",
                *WHERE,
            ),
            value="Intercepted",
            w=16,
            h=10,
            steps=ZERO_GOOD,
            mappings=[value_mapping({1: ("intercepted", "red"), 0: ("not inspected", "green")})],
            sort_by="Intercepted",
            descending=True,
        ),
        table(
            "Certificate issuers",
            "How many endpoints present certificates of each issuer. Microsoft's endpoints use a handful of "
            "public CAs; one issuer covering everything is an inspecting proxy.",
            f"count by (issuer_org, issuer_cn, product) ({distinct_endpoints(issuer)})",
            columns=("issuer_org", "issuer_cn", "product"),
            value="Endpoints",
            w=8,
            h=10,
            steps=(("blue", None),),
            sort_by="Endpoints",
            descending=True,
        ),
        state_timeline(
            "Unauthenticated proxy access",
            "manage.microsoft.com, *.azureedge.net and graph.microsoft.com must be reachable without proxy "
            "credentials: did the proxy let an anonymous request through? Empty without a proxy.",
            [Query(f"min by (set_id, host) ({anonymous})", "{{host}} ({{set_id}})")],
            steps=ONE_GOOD,
            mappings=[value_mapping({1: ("allowed", "green"), 0: ("407 auth required", "red")})],
        ),
        state_timeline(
            "Byte ranges",
            "Endpoints that must honour Range requests: 206 partial content, or a proxy stripped the range.",
            [
                Query(
                    f"min by (set_id, host, port, path) ({ranges})", "{{host}}:{{port}} {{path}} ({{set_id}})"
                )
            ],
            steps=ONE_GOOD,
            mappings=[value_mapping({1: ("206 partial", "green"), 0: ("range stripped", "red")})],
        ),
        state_timeline(
            "DNS answers in published ranges",
            "For sets with published CIDRs (163): are all resolved addresses inside them? 'outside': a "
            "firewall allowing only the published subnets blocks part of the answer (the exporter logs the "
            "addresses).",
            [Query(f"min by (set_id, host) ({published})", "{{host}} ({{set_id}})")],
            steps=(("orange", None), ("green", 1)),
            mappings=[value_mapping({1: ("inside", "green"), 0: ("outside", "orange")})],
        ),
        timeseries(
            "NTP offset",
            f"This machine's clock against each NTP server (positive: the server is ahead). Beyond "
            f"{offset:g} s (dashed), token and certificate checks start failing on devices with the same "
            "drift.",
            [Query(q(NTP_OFFSET.name), "{{host}} {{instance}}")],
            unit="s",
            steps=(("red", None), ("green", -offset), ("red", offset)),
            threshold_lines=True,
        ),
        timeseries(
            "Reachability by path",
            "Share of distinct endpoints up on each path: direct, through the proxy, through it without "
            "credentials (proxy_anonymous). A gap between proxy and direct is the proxy's doing.",
            [Query(f"avg by (path) ({distinct_endpoints(up)})", "{{path}}")],
            unit="percentunit",
            minimum=0,
            maximum=1,
        ),
        timeseries(
            "Mean phase duration by path",
            "Average duration of each phase per path: what the proxy adds.",
            [Query(f"avg by (path, phase) ({distinct_endpoints(duration)})", "{{path}} {{phase}}")],
            unit="s",
        ),
        table(
            "Proxy and direct disagree",
            "Endpoints probed both ways (proxy.also_direct) where one path works and the other does not.",
            f"{direct} != {q.on('set_id', 'host', 'port', 'protocol')} {proxied}",
            columns=("set_id", "host", "port", "protocol", *WHERE),
            value="Works",
            w=12,
            steps=(("orange", None),),
            mappings=[value_mapping({1: ("direct only", "orange"), 0: ("proxy only", "orange")})],
        ),
        table(
            "Failures by path and reason",
            "Distinct failing endpoints per path and reason; proxy_* reasons only occur on proxied paths.",
            f"count by (path, reason) ({distinct_endpoints(failing)})",
            columns=("path", "reason"),
            value="Endpoints",
            w=12,
            steps=(("orange", None),),
            sort_by="Endpoints",
            descending=True,
        ),
        table(
            "IPv4 / IPv6 reachability",
            "Directly probed endpoints, per address family, where the family is down (no address of it "
            "passed, or its lookup failed while the other family answered) or where some addresses fail "
            "while others work: clients handed such an address fail until they fall back. check and "
            "/api/status name the failing addresses.",
            f"{family_up} == 0 or ({family_up} and {unreachable} > 0)",
            columns=("host", "port", "protocol", "path", "family", *WHERE),
            value="Family",
            w=14,
            steps=(("red", None), ("orange", 1)),
            mappings=[value_mapping({0: ("down", "red"), 1: ("some addresses unreachable", "orange")})],
            sort_by="Family",
        ),
        table(
            "Representative hosts that no longer fit their wildcard",
            "Hosts probed for a wildcard entry that are no longer under its zone, no longer exist, or "
            "present a certificate that does not name them: their results say nothing about the wildcard. "
            "Pick another in wildcard_representatives.",
            f"{representative} == 0",
            columns=("set_id", "entry", "host", *WHERE),
            value="Fits",
            w=10,
            steps=ONE_GOOD,
            mappings=[value_mapping({0: ("no longer fits", "red"), 1: ("fits", "green")})],
        ),
    ]
    return dashboard(
        settings,
        "network",
        "Intune endpoints / Network",
        "Proxies, TLS inspection, IP allowlists, byte ranges and time: the traps of corporate networks.",
        panels,
    )


def drift(settings: MonitoringSettings) -> Json:
    q = Select.of(settings)
    entries = q.per_set(CATALOGUE_DRIFT_ENTRIES.name)
    per_kind = f"max by (source, set_id, kind, direction) ({entries})"
    failures = q(REFERENCE_FETCH_FAILURES.name)
    last_success = q(REFERENCE_LAST_SUCCESS_TIMESTAMP.name)
    drift_targets = q.per_set(ENDPOINT_DRIFT_TARGET_INFO.name)
    up = q.per_set(ENDPOINT_UP.name)
    stale = settings.reference_stale_seconds
    freshness: tuple[Step, ...] = (("green", None), ("orange", stale / 2), ("red", stale))

    def total(direction: str) -> str:
        selected = q.per_set(CATALOGUE_DRIFT_ENTRIES.name, f'direction="{direction}"')
        return f"sum(max by (source, set_id, kind) ({selected})) or vector(0)"

    panels = [
        stat(
            "Added by references",
            "Hosts, addresses, ports and sets a reference lists and the catalogue lacks: what a firewall "
            "built from the catalogue blocks once Microsoft turns them on. Allow them, then update the "
            "catalogue.",
            [Query(total("added"))],
            steps=ZERO_GOOD,
        ),
        stat(
            "Removed by references",
            "Catalogue entries a reference does not list. Against the page: retired or moved (see added), "
            "keep allowing them until the change is understood. Against the web service this usually means "
            "the page lists more than the service: keep allowing them.",
            [Query(total("removed"))],
            steps=(("blue", None),),
        ),
        stat(
            "Changed attributes",
            "Sets whose category, required flag or ExpressRoute differ: review.",
            [Query(total("changed"))],
            steps=(("green", None), ("orange", 1)),
        ),
        stat(
            "Invalid entries",
            "Entries of the reference lists that failed validation and are ignored.",
            [Query(f"sum(max by (source) ({q(REFERENCE_INVALID_ENTRIES.name)})) or vector(0)")],
            steps=(("green", None), ("orange", 1)),
        ),
        stat(
            "Oldest successful check",
            f"Time since the least recently confirmed reference source was last checked successfully; red "
            f"after {stale / 3600:g} h, when the drift shown may be out of date.",
            [Query(f"time() - min({last_success})")],
            unit="s",
            steps=freshness,
        ),
        stat(
            "Fetch failures",
            "Failed reference fetches in the dashboard's time range; the last good list stays in use.",
            [Query(f"sum(increase({failures}[$__range])) or vector(0)")],
            steps=(("green", None), ("orange", 1)),
        ),
        table(
            "Catalogue drift",
            "Differences between the catalogue and each reference list, per set, kind and direction, added "
            "first. `intune-exporter catalogue diff` prints the values themselves.",
            per_kind,
            columns=("direction", "source", "set_id", "kind"),
            value="Entries",
            w=14,
            h=10,
            steps=(("blue", None),),
            sort_by="Direction",
        ),
        timeseries(
            "Drift over time",
            "Entries per source and direction: a step up is Microsoft publishing changes.",
            [Query(f"sum by (source, direction) ({per_kind})", "{{source}} {{direction}}")],
            w=10,
            h=10,
        ),
        table(
            "Reference lists in use",
            "Each source's list in use (the last good one): its version and how long ago it was fetched. "
            "An old list is normal when nothing changed. The web service instance shows as "
            "exported_instance: Prometheus renames the exporter's instance label.",
            f"{q(REFERENCE_VERSION_INFO.name)} * {q.on('source')} "
            f"(time() - {q(REFERENCE_SNAPSHOT_TIMESTAMP.name)})",
            columns=("source", "version", "exported_instance", *WHERE),
            value="Age",
            w=16,
            unit="s",
            steps=(("blue", None),),
        ),
        stat(
            "Since last successful check",
            "Per source: the time since it was last checked successfully, also when its list had not "
            "changed. Hours mean the source cannot be reached (see the failures below).",
            [Query(f"time() - {last_success}", "{{source}}")],
            w=8,
            unit="s",
            steps=freshness,
            names=True,
        ),
        timeseries(
            "Fetch failures by reason",
            "Failed fetches per source and reason: not_json is typically a proxy's login page, rate_limited "
            "an HTTP 429, connection a blocked endpoints.office.com.",
            [
                Query(
                    f"sum by (source, reason) (increase({failures}[$__rate_interval]))",
                    "{{source}} {{reason}}",
                )
            ],
            bars=True,
            stacked=True,
        ),
        table(
            "Fetch failures in range",
            "Failed fetches per source and reason over the dashboard's time range.",
            f"sum by (source, reason) (increase({failures}[$__range])) > 0",
            columns=("source", "reason"),
            value="Failures",
            w=12,
            steps=(("orange", None),),
            sort_by="Failures",
            descending=True,
        ),
        table(
            "Catalogue edition",
            "The edition of Microsoft's endpoint page that each exporter's built-in catalogue encodes.",
            q(CATALOGUE_EDITION_INFO.name),
            columns=("title", "encoded_on", "language", *WHERE),
            value=None,
            w=16,
            h=6,
        ),
        stat(
            "Added endpoints reachable",
            "Share of the endpoints probed only because a reference adds them (drift.probe_added) that "
            "already get through.",
            [Query(f"avg({up} and {q.on(*ENDPOINT_COLUMNS)} {drift_targets})")],
            w=8,
            h=6,
            unit="percentunit",
            steps=RATIO,
            minimum=0,
            maximum=1,
        ),
        table(
            "Drift targets probed",
            "Endpoints a reference adds, probed before they go live: 'blocked' ones need a firewall or proxy "
            "change before Microsoft starts using them.",
            f"{drift_targets} * {q.on(*ENDPOINT_COLUMNS)} group_left {up}",
            columns=("source", *ENDPOINT_COLUMNS, *WHERE),
            value="Reachable",
            steps=ONE_GOOD,
            mappings=[value_mapping({1: ("reachable", "green"), 0: ("blocked", "red")})],
            sort_by="Reachable",
        ),
    ]
    return dashboard(
        settings,
        "drift",
        "Intune endpoints / Catalogue drift",
        "Differences between the probed catalogue and Microsoft's published lists, and the health of those "
        "reference sources.",
        panels,
    )


def exporter(settings: MonitoringSettings) -> Json:
    q = Select.of(settings)
    interval = settings.probe_interval_seconds
    slow = interval * settings.cycle_slow_ratio
    probe_errors = q.per_set(ENDPOINT_FAILURE_REASON.name, 'reason="probe_error"') + " == 1"
    unprobed = q.per_set(CATALOGUE_UNPROBED_WILDCARDS.name)
    cycle = q(EXPORTER_CYCLE_DURATION.name)
    age: tuple[Step, ...] = (("green", None), ("orange", 2 * interval), ("red", 5 * interval))

    panels = [
        stat(
            "Exporters down",
            "Selected exporters Prometheus failed to scrape (up == 0).",
            [Query(count_or_zero(f"{q('up')} == 0"))],
            steps=ZERO_GOOD,
        ),
        stat(
            "Cycle / interval",
            f"The slowest latest cycle as a share of the {interval:g} s probe interval. Near "
            f"{settings.cycle_slow_ratio:.0%} cycles run back to back and results age: raise concurrency or "
            "lower timeouts.",
            [Query(f"max({cycle}) / {interval:g}")],
            unit="percentunit",
            steps=(
                ("green", None),
                ("orange", 0.8 * settings.cycle_slow_ratio),
                ("red", settings.cycle_slow_ratio),
            ),
        ),
        stat(
            "Oldest probe result",
            "Age of the oldest endpoint result shown; it should stay near the probe interval.",
            [Query(f"time() - min({q.per_set(ENDPOINT_PROBE_TIMESTAMP.name)})")],
            unit="s",
            steps=age,
        ),
        stat(
            "Targets",
            "Distinct host/port/protocol targets probed each cycle, summed over the selected exporters.",
            [Query(f"sum({q(EXPORTER_TARGETS.name)})")],
            steps=(("blue", None),),
        ),
        stat(
            "Probe errors",
            "Endpoints whose probe failed inside the exporter (reason probe_error): a bug, logged with a "
            "traceback.",
            [Query(count_or_zero(distinct_endpoints(probe_errors)))],
            steps=ZERO_GOOD,
        ),
        stat(
            "Unprobed wildcards",
            "Wildcard entries without a representative host, so only their zone is checked (protocol dns): "
            "add wildcard_representatives to the configuration to probe their hosts.",
            [Query(f"sum(max by (set_id) ({unprobed})) or vector(0)")],
            steps=(("green", None), ("orange", 1)),
        ),
        timeseries(
            "Cycle duration",
            f"Duration of each exporter's latest probe cycle; the dashed line is {slow:g} s (interval x "
            "cycle_slow_ratio), where cycles start to overrun.",
            [Query(cycle, "{{instance}}")],
            unit="s",
            steps=(("green", None), ("red", slow)),
            threshold_lines=True,
        ),
        timeseries(
            "Probe cycles per minute",
            f"Completed cycles per minute, {60 / interval:g} at a {interval:g} s interval. Zero while "
            "scrapes succeed: the scheduler is stuck.",
            [Query(f"rate({q(EXPORTER_CYCLES.name)}[$__rate_interval]) * 60", "{{instance}}")],
        ),
        timeseries(
            "Targets probed",
            "Targets per cycle; changes with the configuration, the catalogue and drift targets.",
            [Query(q(EXPORTER_TARGETS.name), "{{instance}}")],
        ),
        state_timeline(
            "Scrapes",
            "Whether Prometheus could scrape each exporter.",
            [Query(q("up"), "{{instance}}")],
            steps=ONE_GOOD,
            mappings=[UP_DOWN],
        ),
        table(
            "Endpoints with probe errors",
            "Endpoints whose latest probe hit an exporter bug; search the log for the host.",
            probe_errors,
            columns=(*ENDPOINT_COLUMNS, *WHERE),
            value=None,
            w=12,
        ),
        table(
            "Unprobed wildcards by set",
            "Per set, the wildcard entries without a representative host (only their zone is checked).",
            f"max by (set_id, name) ({q.with_set(unprobed)}) > 0",
            columns=("set_id", "name"),
            value="Wildcards",
            w=12,
            steps=(("orange", None),),
            sort_by="Wildcards",
            descending=True,
        ),
        table(
            "Build",
            "Version and uptime of each exporter.",
            f"{q(EXPORTER_BUILD_INFO.name)} * {q.on()} (time() - {q(PROCESS_START_TIME.name)})",
            columns=("instance", "site", "version"),
            value="Uptime",
            h=6,
            unit="s",
            steps=(("blue", None),),
        ),
        timeseries(
            "Memory",
            "Resident and virtual memory of each exporter process.",
            [
                Query(q(PROCESS_RESIDENT_MEMORY.name), "{{instance}} resident"),
                Query(q(PROCESS_VIRTUAL_MEMORY.name), "{{instance}} virtual"),
            ],
            w=8,
            unit="bytes",
        ),
        timeseries(
            "CPU",
            "CPU used by each exporter process (1 = one core).",
            [Query(f"rate({q(PROCESS_CPU_SECONDS.name)}[$__rate_interval])", "{{instance}}")],
            w=8,
            unit="percentunit",
        ),
        timeseries(
            "File descriptors",
            "Open file descriptors as a share of the limit; every probe opens a socket.",
            [Query(f"{q(PROCESS_OPEN_FDS.name)} / {q(PROCESS_MAX_FDS.name)}", "{{instance}}")],
            w=8,
            unit="percentunit",
            steps=(("green", None), ("red", 0.8)),
            threshold_lines=True,
        ),
    ]
    return dashboard(
        settings,
        "exporter",
        "Intune endpoints / Exporter",
        "Health of the exporter itself: scrapes, probe cycles, errors and resources.",
        panels,
    )


def fleet(settings: MonitoringSettings) -> Json:
    q = Select.of(settings)
    interval = settings.probe_interval_seconds
    required = q.per_set(ENDPOINT_SET_INFO.name, 'required="true"')
    ratio = q.per_set(ENDPOINT_SET_REACHABLE_RATIO.name)
    # One value per site and required set, the worst of the site's exporters.
    site_sets = f"min by (site, set_id) ({ratio} * {q.on('set_id')} group_left {required})"
    failing_per_site = f"sum by (site) ({site_sets} < bool 1)"
    matrix = {"columnField": "set_id", "rowField": "site", "valueField": "Value", "emptyValue": "null"}
    grid = panel(
        "table",
        "Sites x required sets",
        "One row per site, one column per required endpoint set: the share of the set's endpoints that "
        "are up at that site (its worst exporter). A column red at every site points at Microsoft or the "
        "catalogue; a row red across points at that site's network (resolver, egress, proxy).",
        [Query(site_sets)],
        w=24,
        h=10,
        defaults=field_defaults(
            "percentunit", RATIO, custom={"align": "center", "cellOptions": {"type": "color-background"}}
        ),
        options={"cellHeight": "sm", "footer": {"show": False}, "showHeader": True},
        instant=True,
        table=True,
        transformations=[{"id": "groupingToMatrix", "options": matrix}],
    )
    panels = [
        table(
            "Sites overview",
            "Required endpoint sets failing at each site (a set counts once however many exporters the "
            "site has). Above 0, devices at that site cannot enrol, check compliance or install apps: open "
            "the Overview dashboard with that site selected.",
            failing_per_site,
            columns=("site",),
            value="Required sets failing",
            w=8,
            h=8,
            steps=ZERO_GOOD,
            sort_by="Required sets failing",
            descending=True,
        ),
        stat(
            "Exporters reporting",
            "Exporters per site whose metrics arrive. A site missing here is blind: no result from it "
            "is current (see the exporter-down alert).",
            [Query(f"count by (site) ({q(EXPORTER_BUILD_INFO.name)})", "{{site}}")],
            w=8,
            h=8,
            steps=(("blue", None),),
            names=True,
        ),
        stat(
            "Last probe cycle",
            "Time since the stalest exporter of each site completed a probe cycle.",
            [Query(f"time() - min by (site) ({q(EXPORTER_LAST_CYCLE_TIMESTAMP.name)})", "{{site}}")],
            w=8,
            h=8,
            unit="s",
            steps=(("green", None), ("orange", 2 * interval), ("red", 5 * interval)),
            names=True,
        ),
        grid,
        timeseries(
            "Required sets failing by site",
            "The sites overview over time: when did a site start failing, and did others follow?",
            [Query(failing_per_site, "{{site}}")],
            w=24,
        ),
    ]
    return dashboard(
        settings,
        "fleet",
        "Intune endpoints / Fleet",
        "Every site at once: which sites fail which required endpoint sets, and whether each site's "
        "exporters report.",
        panels,
    )


BUILDERS = (overview, fleet, latency, network, drift, exporter)


def dashboards(settings: MonitoringSettings = DEFAULT_SETTINGS) -> dict[str, Json]:
    """File name under dashboards/ -> dashboard JSON model."""
    built = (build(settings) for build in BUILDERS)
    return {f"{item['uid']}.json": item for item in built}


def render(dashboard: Mapping[str, Any]) -> str:
    """The committed form of a dashboard: stable key order, two-space indent, trailing newline."""
    return json.dumps(dashboard, indent=2, sort_keys=True) + "\n"


def panels_of(dashboard: Mapping[str, Any]) -> Iterator[Json]:
    """Every panel, also those nested in collapsed rows."""
    for item in dashboard.get("panels", []):
        yield item
        yield from item.get("panels", [])


# docs/dashboards.md

DOCS_INTRO = """\
# Dashboards

Generated from `exporter/monitoring/dashboards.py` (do not edit: `tests/monitoring/test_dashboards.py`
checks that this file and `dashboards/*.json` are what the code produces). Import the JSON files into
Grafana 10 or later, or provision them from `dashboards/`; `intune-exporter monitoring generate` rebuilds
them with other settings (`exporter/monitoring/thresholds.py`: uid prefix, refresh, thresholds).

Every dashboard has the same variables: `datasource` (a Prometheus data source), `job` (the scrape job of the
exporters), `site` (a target label you add per exporter location in the scrape configuration; "All" also
matches exporters without it) and `set` (endpoint set ids, several or all). Every query selects
`{selector}`
and, for series per endpoint set, `set_id=~"$set"`. Only raw metrics are used, so the dashboards work without
the recording rules. The dashboards link to each other (top right), keeping the time range and variables.

An endpoint listed by several sets is reported under each; "distinct endpoints" counts it once
(`max without (set_id)`).
"""


def markdown(settings: MonitoringSettings = DEFAULT_SETTINGS) -> str:
    """docs/dashboards.md: each dashboard, each panel with its queries and what it tells an SRE."""
    parts = [DOCS_INTRO.format(selector=settings.dashboard_selector)]
    for name, item in dashboards(settings).items():
        parts.append(
            f"## {item['title']}\n\n`dashboards/{name}`, uid `{item['uid']}`. {item['description']}\n"
        )
        for entry in panels_of(item):
            queries = "\n".join(target["expr"] for target in entry["targets"])
            heading = f"### {entry['title']}\n\n*{entry['type']}*: {entry['description']}"
            parts.append(f"{heading}\n\n```promql\n{queries}\n```\n")
    return "\n".join(parts)

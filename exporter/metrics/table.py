"""The metric table: every series name /metrics exposes, with its type, labels and help, in one place.

Collectors build their families from these specs (`gauge()`, `counter()`, `exposition.Family`), the
alerts and dashboards take the names from them, and docs/metrics.md is generated from them
(`exporter.metrics.docs`). `help` is the one line `# HELP` shows and the start of the docs' "meaning";
`notes` add what only the documentation needs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily


class MetricType(StrEnum):
    GAUGE = "gauge"
    COUNTER = "counter"


class Origin(StrEnum):
    """Who writes the metric."""

    EXPORTER = "exporter"
    PROMETHEUS_CLIENT = "prometheus_client"
    """prometheus_client's ProcessCollector: listed so the documentation covers all of /metrics."""


_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
COUNTER_SUFFIX = "_total"


@dataclass(frozen=True)
class MetricSpec:
    """One metric family of /metrics."""

    name: str
    """The name as PromQL selects it: a counter's ends in `_total`."""
    type: MetricType
    help: str
    """One line of plain text: the `# HELP` text, and the start of the documentation."""
    labels: tuple[str, ...] = ()
    notes: str = ""
    """More for the documentation (Markdown), after `help`."""
    origin: Origin = Origin.EXPORTER

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"not a metric name: {self.name!r}")
        if (self.type is MetricType.COUNTER) != self.name.endswith(COUNTER_SUFFIX):
            raise ValueError(f"{self.name}: counters, and only counters, end in {COUNTER_SUFFIX}")
        bad_labels = [label for label in self.labels if not _LABEL.fullmatch(label) or label.startswith("__")]
        if bad_labels or len(set(self.labels)) != len(self.labels):
            raise ValueError(f"{self.name}: bad or repeated label names {self.labels}")
        if not self.help or any(char in self.help for char in "\n\\`|"):
            raise ValueError(f"{self.name}: help must be one line of plain text, without \\ ` or |")
        if "\n\n" in self.notes or "|" in self.notes:
            raise ValueError(f"{self.name}: notes end up in a table cell: no blank line, no |")

    @property
    def family_name(self) -> str:
        """The name prometheus_client's metric families take: a counter's without `_total`."""
        return self.name.removesuffix(COUNTER_SUFFIX) if self.type is MetricType.COUNTER else self.name

    @property
    def description(self) -> str:
        """The documentation's "meaning": the help, then the notes."""
        return f"{self.help} {self.notes}".strip()

    def gauge(self) -> GaugeMetricFamily:
        """An empty gauge family with this name, help and labels."""
        self._expect(MetricType.GAUGE)
        return GaugeMetricFamily(self.name, self.help, labels=list(self.labels))

    def counter(self) -> CounterMetricFamily:
        """An empty counter family: its samples are named `name` (with `_total`)."""
        self._expect(MetricType.COUNTER)
        return CounterMetricFamily(self.family_name, self.help, labels=list(self.labels))

    def header(self) -> str:
        """The `# HELP` and `# TYPE` lines of the text format 0.0.4, as prometheus_client writes them."""
        return f"# HELP {self.name} {self.help}\n# TYPE {self.name} {self.type}\n"

    def _expect(self, kind: MetricType) -> None:
        if self.type is not kind:
            raise TypeError(f"{self.name} is a {self.type}, not a {kind}")


GAUGE = MetricType.GAUGE
COUNTER = MetricType.COUNTER

ENDPOINT_LABELS = ("set_id", "host", "port", "protocol", "path")
"""The labels of a probed endpoint (a target, under one of its sets)."""
TLS_LABELS = ("set_id", "host", "port", "path")
"""The labels of an endpoint's TLS facts: the protocol is implied."""


# Per endpoint, written from each probe result (exposition.Family: pre-rendered).

ENDPOINT_UP = MetricSpec(
    "intune_endpoint_up",
    GAUGE,
    "1 if the latest probe of the endpoint succeeded (every phase), else 0.",
    ENDPOINT_LABELS,
    "Any HTTP status counts as success: these endpoints often answer 4xx.",
)
ENDPOINT_PROBE_DURATION = MetricSpec(
    "intune_endpoint_probe_duration_seconds",
    GAUGE,
    "Duration of each phase of the latest probe.",
    (*ENDPOINT_LABELS, "phase"),
    "Phases that did not run are absent.",
)
ENDPOINT_FAILURE_REASON = MetricSpec(
    "intune_endpoint_failure_reason",
    GAUGE,
    "1 for the reason the latest probe failed; absent while the endpoint is up.",
    (*ENDPOINT_LABELS, "reason"),
    "See the vocabulary below.",
)
ENDPOINT_PROBE_TIMESTAMP = MetricSpec(
    "intune_endpoint_probe_timestamp_seconds",
    GAUGE,
    "Unix time the latest probe of the endpoint finished.",
    ENDPOINT_LABELS,
)
ENDPOINT_FAMILY_UP = MetricSpec(
    "intune_endpoint_family_up",
    GAUGE,
    "Per address family of a directly probed endpoint: 1 if some address of the family passed the probe, "
    "else 0.",
    (*ENDPOINT_LABELS, "family"),
    "`family` is `ipv4` or `ipv6`. 0 also when that family's lookup failed (e.g. an AAAA timeout) while the "
    "other answered; absent for a family the name has no records of, for families left out by "
    "`dns.families`, and for proxied paths.",
)
ENDPOINT_ADDRESSES = MetricSpec(
    "intune_endpoint_addresses",
    GAUGE,
    "Per address family of a directly probed endpoint: how many of its resolved addresses passed the probe "
    "(state reachable) and failed it (state unreachable).",
    (*ENDPOINT_LABELS, "family", "state"),
    "At most `dns.max_addresses_per_family` addresses are probed per family. The failing addresses are named "
    "in the probe's detail (log, `check`, `/api/status`), never in a label.",
)
ENDPOINT_TLS_ISSUER_INFO = MetricSpec(
    "intune_endpoint_tls_issuer_info",
    GAUGE,
    "Always 1: issuer and subject of the leaf certificate the endpoint presented.",
    (*TLS_LABELS, "issuer_cn", "issuer_org", "subject_cn", "product"),
    "Also when it does not verify. `product` is the TLS-inspection product the issuer names (Zscaler, Palo "
    "Alto Networks, Fortinet FortiGate, Netskope, ...; `exporter/probes/inspection_products.py`), empty when "
    "none. The names come from the server: longer than 256 characters, they are cut to 253 and end in `...`.",
)
ENDPOINT_TLS_CERT_NOT_AFTER = MetricSpec(
    "intune_endpoint_tls_cert_not_after_timestamp_seconds",
    GAUGE,
    "Expiry (Unix time) of the leaf certificate the endpoint presented.",
    TLS_LABELS,
)
ENDPOINT_TLS_VERIFIED = MetricSpec(
    "intune_endpoint_tls_verified",
    GAUGE,
    "1 if the certificate chain verified against the trust store and matched the host name.",
    TLS_LABELS,
    "The trust store holds the public Mozilla roots from certifi, or `tls.ca_file`.",
)
ENDPOINT_HTTP_STATUS_CODE = MetricSpec(
    "intune_endpoint_http_status_code",
    GAUGE,
    "Status code of the latest HTTP response.",
    TLS_LABELS,
)
ENDPOINT_TLS_INTERCEPTED = MetricSpec(
    "intune_endpoint_tls_intercepted",
    GAUGE,
    "1 on evidence of TLS inspection: the issuer is a configured inspection issuer or CA, or names a known "
    "inspection product or itself as an inspection CA. 0 otherwise, also for a chain that does not verify.",
    (*TLS_LABELS, "inspection_supported"),
    "`inspection_supported` is `false` where the page says inspection breaks the endpoint "
    "(`*.manage.microsoft.com`, `*.dm.microsoft.com`, attestation). A missing intermediate "
    "(`tls_chain_incomplete`), a self-signed certificate (`tls_self_signed`) or a private CA with no sign of "
    "inspection is 0: `tls.public_issuers` are always 0.",
)
ENDPOINT_PROXY_UNAUTHENTICATED_ACCESS = MetricSpec(
    "intune_endpoint_proxy_unauthenticated_access",
    GAUGE,
    "For the hosts the page says need unauthenticated proxy access: 1 if the proxy let a request without "
    "credentials through, 0 if it answered 407 Proxy Authentication Required.",
    ("set_id", "host"),
    "Those hosts are `manage.microsoft.com`, `*.azureedge.net` and `graph.microsoft.com`. Absent without a "
    "proxy.",
)
ENDPOINT_DNS_ANSWER_IN_PUBLISHED_RANGES = MetricSpec(
    "intune_endpoint_dns_answer_in_published_ranges",
    GAUGE,
    "For sets with published CIDRs: 1 if every address the host resolves to lies inside them, 0 if an "
    "IP-allowlist firewall would block some (the addresses are logged).",
    ("set_id", "host"),
    "Set 163 publishes CIDRs.",
)
ENDPOINT_HTTP_RANGE_SUPPORTED = MetricSpec(
    "intune_endpoint_http_range_supported",
    GAUGE,
    "For endpoints the page says need byte ranges: 1 if a Range: bytes=0-0 request got 206 Partial Content, "
    "0 if the whole body came back (200: a proxy stripped the range).",
    TLS_LABELS,
    "Those are Delivery Optimization, Win32 apps and scripts. Absent when the answer tells neither (e.g. "
    "`404` at `range_path`).",
)
NTP_OFFSET = MetricSpec(
    "intune_ntp_offset_seconds",
    GAUGE,
    "Offset of this machine's clock against the NTP server (positive: the server is ahead).",
    ("host",),
)

# Per endpoint set and catalogue.

ENDPOINT_SET_INFO = MetricSpec(
    "intune_endpoint_set_info",
    GAUGE,
    "Always 1, one per endpoint set being probed, with its catalogue attributes.",
    ("set_id", "name", "section", "category", "required"),
    "`required` is `true` or `false`.",
)
ENDPOINT_SET_REACHABLE_RATIO = MetricSpec(
    "intune_endpoint_set_reachable_ratio",
    GAUGE,
    "Share of the set's probed endpoints that are up, 0 to 1.",
    ("set_id",),
    "Absent until the set's first result.",
)
CATALOGUE_UNPROBED_WILDCARDS = MetricSpec(
    "intune_catalogue_unprobed_wildcards",
    GAUGE,
    "Wildcard entries of the set that have no representative host: only their zone is checked "
    "(protocol dns).",
    ("set_id",),
)
CATALOGUE_REPRESENTATIVE_VALID = MetricSpec(
    "intune_catalogue_representative_valid",
    GAUGE,
    "1 if the representative host probed for a wildcard entry still stands for it: a name under the "
    "wildcard's zone that exists, and every certificate it presented names it; else 0.",
    ("set_id", "entry", "host"),
    "`entry` is the wildcard as the catalogue writes it. Absent until the host's first result. At 0 the "
    "host's results say nothing about the wildcard, however green: choose another in "
    "`wildcard_representatives`.",
)
CATALOGUE_EDITION_INFO = MetricSpec(
    "intune_catalogue_edition_info",
    GAUGE,
    "Always 1: the edition of Microsoft's endpoint page that the built-in catalogue encodes.",
    ("title", "language", "encoded_on"),
)

# Reference lists and drift.

ENDPOINT_DRIFT_TARGET_INFO = MetricSpec(
    "intune_endpoint_drift_target_info",
    GAUGE,
    "Always 1, for endpoints probed only because a reference list adds them (drift.probe_added); source "
    "names the list.",
    (*ENDPOINT_LABELS, "source"),
    "Join on the endpoint labels to tell them apart.",
)
CATALOGUE_DRIFT_ENTRIES = MetricSpec(
    "intune_catalogue_drift_entries",
    GAUGE,
    "Number of differences between the catalogue and a reference list, per set, kind and direction (added: "
    "listed by the reference only; removed: by the catalogue only; changed: attributes).",
    ("source", "set_id", "kind", "direction"),
    "`kind`: `url`, `ip`, `port`, `set`, `attribute`. A firewall built from the catalogue may block what is "
    "`added`; `changed` means the category, required or ExpressRoute differ; `covered` (the page only) is a "
    "host the page adds that a wildcard of the catalogue already matches. Absent when there is no such "
    "difference. See [drift.md](drift.md).",
)
REFERENCE_VERSION_INFO = MetricSpec(
    "intune_catalogue_reference_version_info",
    GAUGE,
    "Always 1: the version of the reference list in use (the last good one).",
    ("source", "instance", "version"),
    "`instance` is the web service instance, empty for other lists.",
)
PAGE_EDITION_INFO = MetricSpec(
    "intune_catalogue_page_edition_info",
    GAUGE,
    "Always 1: the edition of Microsoft's Intune endpoint page in use as a reference (the last good one).",
    ("source", "title", "date", "locale"),
    "`date` is the article's date (YYYY-MM-DD, empty when the page gives none), `locale` its language "
    "(`en-us`). Absent until the page (drift.page) has been read once.",
)
REFERENCE_SNAPSHOT_TIMESTAMP = MetricSpec(
    "intune_catalogue_reference_snapshot_timestamp_seconds",
    GAUGE,
    "Unix time the reference list in use was fetched.",
    ("source",),
)
REFERENCE_LAST_SUCCESS_TIMESTAMP = MetricSpec(
    "intune_catalogue_reference_last_success_timestamp_seconds",
    GAUGE,
    "Unix time of the latest successful check of the source, also when the list had not changed.",
    ("source",),
)
REFERENCE_FETCH_FAILURES = MetricSpec(
    "intune_catalogue_reference_fetch_failures_total",
    COUNTER,
    "Failed fetches of the source by reason; the last good list stays in use.",
    ("source", "reason"),
    "See the vocabulary below.",
)
REFERENCE_INVALID_ENTRIES = MetricSpec(
    "intune_catalogue_reference_invalid_entries",
    GAUGE,
    "Entries of the reference list in use that failed validation and are ignored.",
    ("source",),
    "A bad host name, CIDR, port, type, or an entry over a cap: never probed, never a label.",
)

# The exporter itself.

EXPORTER_BUILD_INFO = MetricSpec(
    "intune_exporter_build_info", GAUGE, "Always 1: the exporter's version.", ("version",)
)
EXPORTER_TARGETS = MetricSpec(
    "intune_exporter_targets", GAUGE, "Distinct host/port/protocol targets probed each cycle."
)
CONFIG_LAST_RELOAD_SUCCESSFUL = MetricSpec(
    "intune_exporter_config_last_reload_successful",
    GAUGE,
    "1 if the latest configuration reload succeeded, or there was none; 0 while an invalid file is ignored "
    "and the previous configuration runs.",
    notes="A reload is a SIGHUP or a `POST /-/reload`.",
)
CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP = MetricSpec(
    "intune_exporter_config_last_reload_success_timestamp_seconds",
    GAUGE,
    "Unix time the configuration in force was loaded.",
)
EXPORTER_CYCLES = MetricSpec("intune_exporter_cycles_total", COUNTER, "Probe cycles completed since start.")
EXPORTER_SERIES_DROPPED = MetricSpec(
    "intune_exporter_series_dropped_total",
    COUNTER,
    "Per-endpoint series left out of scrapes because a scrape would have exceeded max_series.",
    notes="Whole endpoints are left out, the last in catalogue order. 0 normally; any increase means raise "
    "`max_series` or probe fewer sets.",
)
EXPORTER_CYCLE_DURATION = MetricSpec(
    "intune_exporter_cycle_duration_seconds",
    GAUGE,
    "Duration of the latest completed probe cycle.",
    notes="Absent until the first cycle ends.",
)
EXPORTER_LAST_CYCLE_TIMESTAMP = MetricSpec(
    "intune_exporter_last_cycle_timestamp_seconds",
    GAUGE,
    "Unix time the latest probe cycle completed.",
    notes="Absent until the first cycle ends.",
)
EXPORTER_TASK_RESTARTS = MetricSpec(
    "intune_exporter_task_restarts_total",
    COUNTER,
    "Restarts of a background task of serve after an unexpected error; the last good state stays served.",
    ("task",),
    "`task` is `probe_loop`, `reload`, or `reference:` and the reference source's name "
    "(`reference:intune-page`, ...). 0 normally: each increase is a bug, logged at ERROR with its "
    "traceback the first time it is seen; the task restarts after a backoff of 1 s doubling to 5 min. A "
    "reload that fails this way is counted under `reload` and keeps the running configuration.",
)

# prometheus_client's ProcessCollector: its names and help texts.

_PROCESS_NOTES = "Standard process metric, written by prometheus_client."


def _process(name: str, kind: MetricType, help_text: str) -> MetricSpec:
    return MetricSpec(name, kind, help_text, notes=_PROCESS_NOTES, origin=Origin.PROMETHEUS_CLIENT)


PROCESS_CPU_SECONDS = _process(
    "process_cpu_seconds_total", COUNTER, "Total user and system CPU time spent in seconds."
)
PROCESS_OPEN_FDS = _process("process_open_fds", GAUGE, "Number of open file descriptors.")
PROCESS_MAX_FDS = _process("process_max_fds", GAUGE, "Maximum number of open file descriptors.")
PROCESS_VIRTUAL_MEMORY = _process("process_virtual_memory_bytes", GAUGE, "Virtual memory size in bytes.")
PROCESS_RESIDENT_MEMORY = _process("process_resident_memory_bytes", GAUGE, "Resident memory size in bytes.")
PROCESS_START_TIME = _process(
    "process_start_time_seconds", GAUGE, "Start time of the process since unix epoch in seconds."
)


METRICS: tuple[MetricSpec, ...] = (
    ENDPOINT_UP,
    ENDPOINT_PROBE_DURATION,
    ENDPOINT_FAILURE_REASON,
    ENDPOINT_PROBE_TIMESTAMP,
    ENDPOINT_FAMILY_UP,
    ENDPOINT_ADDRESSES,
    ENDPOINT_TLS_ISSUER_INFO,
    ENDPOINT_TLS_CERT_NOT_AFTER,
    ENDPOINT_TLS_VERIFIED,
    ENDPOINT_HTTP_STATUS_CODE,
    ENDPOINT_TLS_INTERCEPTED,
    ENDPOINT_PROXY_UNAUTHENTICATED_ACCESS,
    ENDPOINT_DNS_ANSWER_IN_PUBLISHED_RANGES,
    ENDPOINT_HTTP_RANGE_SUPPORTED,
    NTP_OFFSET,
    ENDPOINT_SET_INFO,
    ENDPOINT_SET_REACHABLE_RATIO,
    CATALOGUE_UNPROBED_WILDCARDS,
    CATALOGUE_REPRESENTATIVE_VALID,
    CATALOGUE_EDITION_INFO,
    ENDPOINT_DRIFT_TARGET_INFO,
    CATALOGUE_DRIFT_ENTRIES,
    REFERENCE_VERSION_INFO,
    PAGE_EDITION_INFO,
    REFERENCE_SNAPSHOT_TIMESTAMP,
    REFERENCE_LAST_SUCCESS_TIMESTAMP,
    REFERENCE_FETCH_FAILURES,
    REFERENCE_INVALID_ENTRIES,
    EXPORTER_BUILD_INFO,
    EXPORTER_TARGETS,
    CONFIG_LAST_RELOAD_SUCCESSFUL,
    CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP,
    EXPORTER_CYCLES,
    EXPORTER_SERIES_DROPPED,
    EXPORTER_CYCLE_DURATION,
    EXPORTER_LAST_CYCLE_TIMESTAMP,
    EXPORTER_TASK_RESTARTS,
    PROCESS_CPU_SECONDS,
    PROCESS_OPEN_FDS,
    PROCESS_MAX_FDS,
    PROCESS_VIRTUAL_MEMORY,
    PROCESS_RESIDENT_MEMORY,
    PROCESS_START_TIME,
)
"""Every metric of /metrics, in the documentation's order."""

BY_NAME: dict[str, MetricSpec] = {metric.name: metric for metric in METRICS}
if len(BY_NAME) != len(METRICS):
    raise ValueError("metric names repeat in the table")

"""Selectors and thresholds shared by the alerting rules and the dashboards."""

from __future__ import annotations

from dataclasses import dataclass

RUNBOOK_BASE = (
    "https://github.com/intune-endpoint-exporter/intune-endpoint-exporter/blob/main/docs/runbooks.md"
)


@dataclass(frozen=True)
class MonitoringSettings:
    selector: str = 'job="intune-endpoint-exporter"'
    """PromQL label matchers selecting the exporter's series (without braces)."""
    runbook_base: str = RUNBOOK_BASE
    """Runbook links are `runbook_base#<alert name in lower case>`."""
    critical_sets: tuple[str, ...] = ("163", "56")
    """Sets whose loss pages at once: Intune core service and authentication."""
    down_for: str = "5m"
    """How long an endpoint set must be down before paging."""
    degraded_for: str = "15m"
    """How long partial loss, interception and the other network checks must last before a ticket."""
    ntp_max_offset_seconds: float = 60.0
    drift_for: str = "1h"
    reference_stale_seconds: float = 6 * 3600.0
    """A reference source not checked successfully for this long is failing."""
    cycle_slow_ratio: float = 1.0
    """Alert when a probe cycle takes longer than this share of the probe interval."""
    probe_interval_seconds: float = 60.0
    exporter_down_for: str = "5m"
    instance_labels: tuple[str, ...] = ("job", "instance", "site")
    """Labels telling exporter instances (vantage points) apart: every aggregation keeps them, so each
    instance alerts on its own sets. `site` is the target label the dashboards filter on; absent, it is
    simply empty."""
    ntp_sets: tuple[str, ...] = ("165",)
    """NTP sets: their loss is `IntuneNTPUnreachable` (warning), not a required set down."""
    reference_failing_for: str = "2h"
    """Longer than the one-hour wait after an HTTP 429, so one rate-limited check does not alert."""
    stalled_intervals: float = 5.0
    """Alert when no probe cycle has completed for this many probe intervals."""
    listed_endpoints: int = 10
    """Alert descriptions name at most this many failing endpoints."""
    dashboard_uid_prefix: str = "intune-endpoints"
    dashboard_refresh: str = "1m"
    dashboard_selector: str = 'job=~"$job", site=~"$site"'
    """Label matchers every dashboard query starts with; `$job` and `$site` are the dashboards' variables."""
    dashboard_time_from: str = "now-6h"
    dashboard_tags: tuple[str, ...] = ("intune", "intune-endpoint-exporter")
    """Also how the dashboards link to each other."""
    tls_cert_warning_days: float = 30.0
    """Dashboards colour a presented certificate orange when it expires within this many days..."""
    tls_cert_critical_days: float = 7.0
    """...and red within this many."""

    def matchers(self, *extra: str) -> str:
        """`{selector, extra...}`."""
        return "{" + ", ".join(part for part in (self.selector, *extra) if part) + "}"

"""Alerting rules and Grafana dashboards for the exporter, generated from code (mixin style).

`settings.MonitoringSettings` is the one place for selectors and thresholds; `alerts` and `dashboards` build
the files committed under alerts/ and dashboards/ (and shipped by the Helm chart), and
`intune-exporter monitoring generate` rebuilds them with other settings.
"""

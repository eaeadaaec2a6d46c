"""Writes the rule file and the dashboards: `intune-exporter monitoring generate [--out DIR]`."""

from __future__ import annotations

from pathlib import Path

from exporter.monitoring.alerts import render_rules
from exporter.monitoring.dashboards import dashboards, render
from exporter.monitoring.settings import MonitoringSettings

RULES_FILE = Path("alerts") / "intune-endpoint-exporter.rules.yml"
DASHBOARDS_DIR = Path("dashboards")


def generated_files(settings: MonitoringSettings | None = None) -> dict[Path, str]:
    """Relative path -> content of every generated file."""
    settings = settings or MonitoringSettings()
    files = {RULES_FILE: render_rules(settings)}
    for name, dashboard in dashboards(settings).items():
        files[DASHBOARDS_DIR / name] = render(dashboard)
    return files


def write(out: Path, settings: MonitoringSettings | None = None) -> list[Path]:
    written = []
    for relative, content in generated_files(settings).items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        written.append(path)
    return written

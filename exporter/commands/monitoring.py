"""Writes the rule file and the dashboards: `intune-exporter monitoring generate [--out DIR]`.

The Helm chart ships the same files: Helm's `.Files.Get` reads only inside the chart directory, so every file
is written a second time under `helm/intune-endpoint-exporter/files/`, byte for byte the same.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from exporter.commands.exit_codes import EXIT_OK
from exporter.monitoring.alerts import render_rules
from exporter.monitoring.dashboards import dashboards, render
from exporter.monitoring.thresholds import MonitoringSettings

RULES_FILE = Path("alerts") / "intune-endpoint-exporter.rules.yml"
DASHBOARDS_DIR = Path("dashboards")
CHART_FILES_DIR = Path("helm") / "intune-endpoint-exporter" / "files"
"""Where the chart keeps its copies of `alerts/` and `dashboards/` (PrometheusRule, dashboard ConfigMaps)."""


def add_generate_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", type=Path, default=Path("."), metavar="DIR", help="default: current directory"
    )
    parser.add_argument(
        "--selector",
        default=MonitoringSettings().selector,
        help="PromQL label matchers selecting the exporter's series (default: %(default)s)",
    )


def run(args: argparse.Namespace) -> int:
    """The `monitoring generate` command's handler."""
    for path in write(args.out, MonitoringSettings(selector=args.selector)):
        print(path)
    return EXIT_OK


def generated_files(settings: MonitoringSettings | None = None) -> dict[Path, str]:
    """Relative path -> content of every generated file, the chart's copies included."""
    settings = settings or MonitoringSettings()
    files = {RULES_FILE: render_rules(settings)}
    for name, dashboard in dashboards(settings).items():
        files[DASHBOARDS_DIR / name] = render(dashboard)
    for relative, content in list(files.items()):
        files[CHART_FILES_DIR / relative] = content
    return files


def write(out: Path, settings: MonitoringSettings | None = None) -> list[Path]:
    written = []
    for relative, content in generated_files(settings).items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        written.append(path)
    return written

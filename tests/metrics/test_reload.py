"""The reload gauges, read from the reloader's status."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry

from exporter.commands.reload import Reloader
from exporter.config.file import load
from exporter.metrics.reload import ReloadCollector


def test_reload_gauges_follow_the_status() -> None:
    status = [(True, 1_700_000_000.0)]
    registry = CollectorRegistry()
    registry.register(ReloadCollector(lambda: status[0]))

    assert registry.get_sample_value("intune_exporter_config_last_reload_successful") == 1
    assert registry.get_sample_value("intune_exporter_config_last_reload_success_timestamp_seconds") == 1.7e9

    status[0] = (False, 1_700_000_000.0)
    assert registry.get_sample_value("intune_exporter_config_last_reload_successful") == 0


def test_a_failed_reload_shows_in_the_gauges(tmp_path: Path) -> None:
    path = tmp_path / "exporter.yml"
    path.write_text("interval: 60s\n")
    reloader = Reloader(path, load(path), lambda loaded: None)
    registry = CollectorRegistry()
    registry.register(ReloadCollector(reloader.status))
    loaded_at = registry.get_sample_value("intune_exporter_config_last_reload_success_timestamp_seconds")

    path.write_text("interval: soon\n")
    assert reloader.reload()[0] == 500

    assert registry.get_sample_value("intune_exporter_config_last_reload_successful") == 0
    assert (
        registry.get_sample_value("intune_exporter_config_last_reload_success_timestamp_seconds") == loaded_at
    )

"""The `drift` section: Microsoft's page on by default and polled at most hourly, the web service opt-in."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from exporter.config.drift import DEFAULT_PAGE_URL, DriftSettings
from exporter.config.file import load
from exporter.errors import ConfigError


def write(tmp_path: Path, drift: object) -> Path:
    path = tmp_path / "exporter.yml"
    path.write_text(yaml.safe_dump({"drift": drift}))
    return path


def test_the_page_is_the_default_source_and_the_web_service_is_opt_in() -> None:
    drift = DriftSettings()
    assert drift.page.enabled is True
    assert drift.page.url == DEFAULT_PAGE_URL
    assert (
        DEFAULT_PAGE_URL
        == "https://learn.microsoft.com/en-us/intune/intune-service/fundamentals/intune-endpoints"
    )
    assert drift.page.check_interval == 3600
    assert drift.page.source_name == "intune-page"
    assert drift.web_service.enabled is False


def test_page_settings_are_read(tmp_path: Path) -> None:
    url = "https://learn.microsoft.com/ko-kr/intune/intune-service/fundamentals/intune-endpoints"
    loaded = load(write(tmp_path, {"page": {"url": url, "check_interval": "6h", "timeout": "10s"}}))
    page = loaded.config.drift.page
    assert (page.url, page.check_interval, page.timeout) == (url, 6 * 3600, 10)


@pytest.mark.parametrize(
    ("page", "message"),
    [
        (
            {"check_interval": "59m"},
            "field 'drift.page.check_interval': must be at least 1h: the page is a documentation article, "
            "not an API (got '59m')",
        ),
        ({"url": "learn.microsoft.com/intune"}, "field 'drift.page.url': not an http(s) URL"),
        ({"enabled": "sometimes"}, "field 'drift.page.enabled': Input should be a valid boolean"),
    ],
)
def test_bad_page_settings_are_refused(tmp_path: Path, page: object, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(write(tmp_path, {"page": page}))
    assert message in str(caught.value)


def test_a_reference_list_cannot_take_the_page_source_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="two sources are named 'intune-page'"):
        load(write(tmp_path, {"references": [{"name": "intune-page", "file": "x.json"}]}))

"""The status page of `intune-exporter serve`, probing the loopback lab, rendered by headless Chromium."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.support.chromium import run_chromium
from tests.support.e2e_lab import (
    BLACKHOLE_HOST,
    NXDOMAIN_HOST,
    REFUSED_HOST,
    UNTRUSTED_HOST,
    arrange,
    write_config,
)
from tests.support.paths import ROOT
from tests.support.serving import exporter_serving
from tests.support.simulators.dns_server import DNSServer
from tests.support.simulators.ntp_server import NTPServer
from tests.support.simulators.tls_servers import UNTRUSTED_CA_NAME, LoopbackLab

SCREENSHOT = ROOT / "build" / "screenshots" / "status-page.png"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

pytestmark = pytest.mark.e2e


class SetRows(HTMLParser):
    """Text of each `<tr id="set-...">` row, in document order, and the whole page's text."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, list[str]] = {}
        self.text: list[str] = []
        self._row: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        row_id = dict(attrs).get("id") or ""
        if tag == "tr" and row_id.startswith("set-"):
            self._row = self.rows.setdefault(row_id.removeprefix("set-"), [])
        self.handle_data(" ")  # cells and list items read as separate words

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr":
            self._row = None
        self.handle_data(" ")

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._row is not None:
            self._row.append(data)

    def row(self, set_id: str) -> str:
        return " ".join("".join(self.rows[set_id]).split())


def test_status_page_in_a_browser(
    tmp_path: Path, dns_server: DNSServer, ntp_server: NTPServer, loopback_lab: LoopbackLab
) -> None:
    arrange(dns_server, ntp_server)
    config = write_config(tmp_path / "lab.yml", dns_server, ntp_server, loopback_lab)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    with exporter_serving(config) as served:
        url = served.base + "/"
        document = served.get("/api/status").json()
        dom = run_chromium(tmp_path / "chromium", "--dump-dom", url)
        run_chromium(tmp_path / "chromium", f"--screenshot={SCREENSHOT}", "--window-size=1280,2000", url)
        off = run_chromium(tmp_path / "chromium", "--dump-dom", url + "?refresh=0")

    page = SetRows()
    page.feed(dom)
    text = " ".join("".join(page.text).split())
    assert "First probe cycle running" not in text
    assert list(page.rows) == [s["id"] for s in document["sets"]]
    assert len(page.rows) == document["exporter"]["sets"] > 25

    # Loopback answers are outside every set's published ranges: the set is up, with a warning badge.
    assert page.row("163").startswith("OK warning 163 ")
    assert "DNS answers outside the published ranges: manage.microsoft.com (127." in page.row("163")
    assert page.row("190").startswith("FAIL 190 ")
    assert f"{REFUSED_HOST}:443/https connect_refused" in page.row("190")
    assert f"{REFUSED_HOST}:80/http connect_refused" in page.row("190")
    assert page.row("97").startswith("PARTIAL 97 ")
    assert f"{NXDOMAIN_HOST}:443/https dns_nxdomain" in page.row("97")
    assert "not resolved" in page.row("97")
    assert f"{BLACKHOLE_HOST}:443/https connect_timeout" in page.row("189")
    assert f"{UNTRUSTED_HOST}:443/https tls_untrusted" in page.row("173")
    assert f"issuer {UNTRUSTED_CA_NAME[0]}" in page.row("173")
    assert "DNS-level check only (no representative host): *.dm.microsoft.com" in page.row("defender")

    verdicts = [page.row(set_id).split()[0] for set_id in page.rows]
    assert verdicts == sorted(verdicts, key=["FAIL", "PARTIAL", "UNPROBED", "OK"].index)
    summary = document["summary"]
    assert f"{summary['required_sets_failing']} required sets failing" in text
    assert f"{summary['optional_sets_failing']} optional sets failing" in text
    assert summary["required_sets_failing"] + summary["optional_sets_failing"] == summary["sets_failing"]
    assert f"{summary['sets_ok']} sets OK" in text
    assert summary["targets_failing"] == 5  # four broken hosts; the refused one on two ports

    # History strip: one box per finished cycle, coloured by the verdict then; no scripts anywhere.
    cycles = document["exporter"]["cycles_completed"]
    assert len(document["sets"][0]["history"]) == min(cycles, 30) >= 1
    assert dom.count('class="cycle fail"') >= document["summary"]["sets_failing"]
    assert "<script" not in dom
    # Auto-refresh on by default, with the link that turns it off; the issuer's whole name on hover.
    assert '<meta http-equiv="refresh" content="60">' in dom
    assert "Reloads every 60 s" in text and '<a href="?refresh=0">turn auto-refresh off</a>' in dom
    assert f'title="issuer: CN={UNTRUSTED_CA_NAME[0]}' in dom
    # Recent failures, newest first, with time, reason and address.
    assert "recent failures (" in page.row("190") and f"{REFUSED_HOST}:443/https" in page.row("190")
    assert 'http-equiv="refresh"' not in off and "Auto-refresh off" in off

    screenshot = SCREENSHOT.read_bytes()
    assert screenshot.startswith(PNG_SIGNATURE)
    assert len(screenshot) > 10_000

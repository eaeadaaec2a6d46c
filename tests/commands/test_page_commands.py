"""`catalogue diff --page` and `catalogue import --page` on small editions of the page
(tests/data/drift-page: the real page's structure, a few sets): exact outputs, exit codes, and one line on
stderr for every kind of bad input. The built-in catalogue is replaced by the first small edition, so the
outputs do not move with the built-in catalogue."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import pytest
import yaml
from pytest_httpserver import HTTPServer
from werkzeug import Response

from exporter.catalogue import load_file
from exporter.catalogue.export import to_json
from exporter.catalogue.page import ParsedPage, parse_page
from exporter.cli import main
from exporter.commands.references import build_sources, page_http_options
from exporter.config import file as config_file
from exporter.config.drift import DEFAULT_PAGE_URL
from exporter.config.file import LoadedConfig, load
from exporter.reference.page_source import PageSource, page_catalogue
from tests.support.paths import DATA
from tests.support.simulators.page_server import PageSimulator

SMALL = DATA / "drift-page"
FIRST = SMALL / "first.md"
SECOND = SMALL / "second.md"


def parsed(path: Path, source: str | None = None) -> ParsedPage:
    return parse_page(path.read_bytes(), source or str(path))


@pytest.fixture(autouse=True)
def small_catalogue(monkeypatch: pytest.MonkeyPatch) -> None:
    catalogue = page_catalogue(parsed(FIRST))
    monkeypatch.setattr(config_file, "load_builtin", lambda *_args, **_kwargs: catalogue)


def config_for(tmp_path: Path) -> str:
    path = tmp_path / "exporter.yml"
    path.write_text(
        yaml.safe_dump({"state_dir": str(tmp_path / "state"), "drift": {"page": {"timeout": "2s"}}})
    )
    return str(path)


def page_file(tmp_path: Path, body: bytes, name: str = "intune-endpoints.md") -> str:
    path = tmp_path / name
    path.write_bytes(body)
    return str(path)


def diff(tmp_path: Path, *arguments: str) -> int:
    return main(["catalogue", "diff", "--config", config_for(tmp_path), *arguments])


def test_diff_page_reports_drift_and_the_pages_own_inconsistencies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = str(SECOND)
    assert diff(tmp_path, "--page", page) == 3
    assert capsys.readouterr().out.splitlines() == [
        f'page {page}: "Network endpoints for Microsoft Intune", dated 2025-09-30, en-us, read as markdown',
        "  set 163",
        "    - ip 13.67.13.176/28",
        "    = url intunecdnpeasd.manage.microsoft.com (covered by *.manage.microsoft.com in set 163)",
        "  set 170",
        "    + url enterpriseregistration.windows.net",
        "  set 172",
        "    ~ attribute category: Default -> Allow",
        "  set 200",
        "    + port tcp/443",
        "    + set 200",
        "    + url *.newservice.manage.microsoft.com",
        "    = url mem-newservice.manage.microsoft.com (covered by *.manage.microsoft.com in set 163)",
        "  4 added, 1 removed, 1 changed, 2 covered",
        "page inconsistencies (consolidated list vs tables):",
        "  fqdn in the consolidated list only: graph.microsoft.com",
        "  fqdn in the tables only: enterpriseregistration.windows.net (set 170)",
        "  subnet in the consolidated list only: 13.67.13.176/28",
        "  subnet in the consolidated list only: 20.190.128.0/18",
    ]


def test_diff_page_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = str(SECOND)
    assert diff(tmp_path, "--page", page, "--format", "json") == 3
    document = json.loads(capsys.readouterr().out)
    assert document["page"] == {
        "source": page,
        "title": "Network endpoints for Microsoft Intune",
        "date": "2025-09-30",
        "locale": "en-us",
        "form": "markdown",
    }
    assert document["drift"][:2] == [
        {"setId": "163", "kind": "ip", "direction": "removed", "value": "13.67.13.176/28"},
        {
            "setId": "163",
            "kind": "url",
            "direction": "covered",
            "value": "intunecdnpeasd.manage.microsoft.com",
            "coveredBy": "*.manage.microsoft.com",
            "coveredBySet": "163",
        },
    ]
    assert len(document["drift"]) == 8
    assert document["invalidEntries"] == 0
    assert document["inconsistencies"] == {
        "consolidatedList": True,
        "fqdnsOnlyInConsolidatedList": ["graph.microsoft.com"],
        "fqdnsOnlyInTables": [{"value": "enterpriseregistration.windows.net", "setId": "170"}],
        "subnetsOnlyInConsolidatedList": ["13.67.13.176/28", "20.190.128.0/18"],
        "subnetsOnlyInTables": [],
    }
    assert document["warnings"] == []


def test_diff_page_without_drift_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert diff(tmp_path, "--page", str(FIRST)) == 0
    assert capsys.readouterr().out.splitlines()[1:] == [
        "  0 added, 0 removed, 0 changed",
        "page inconsistencies (consolidated list vs tables):",
        "  fqdn in the consolidated list only: graph.microsoft.com",
        "  subnet in the consolidated list only: 20.190.128.0/18",
    ]


def test_diff_page_from_a_url(
    tmp_path: Path, httpserver: HTTPServer, capsys: pytest.CaptureFixture[str]
) -> None:
    page = PageSimulator(httpserver)
    page.publish(SECOND.read_bytes())
    assert diff(tmp_path, "--page", page.url) == 3
    out = capsys.readouterr().out
    assert out.startswith(f'page {page.url}: "Network endpoints for Microsoft Intune", dated 2025-09-30')
    assert "    + url enterpriseregistration.windows.net\n" in out
    assert not (tmp_path / "state").exists()  # a one-off comparison: no snapshot saved


def bad_inputs(tmp_path: Path, httpserver: HTTPServer) -> list[tuple[str, str]]:
    """(--page argument, the one line expected on stderr)."""
    missing = str(tmp_path / "missing.md")
    other = page_file(tmp_path, b"# Some other article\n\nNo tables here.\n", "other.md")
    latin1 = page_file(tmp_path, "| Zone | \xe9t\xe9 |".encode("latin-1"), "latin1.md")
    first = FIRST.read_text(encoding="utf-8")
    cut = page_file(tmp_path, first[: first.index("| 172 |")].encode(), "cut.md")
    httpserver.expect_request("/down").respond_with_response(Response("oops", status=500))
    httpserver.expect_request("/gateway").respond_with_response(
        Response("<html><head><title>502 Bad Gateway</title></head></html>", content_type="text/html")
    )
    httpserver.expect_request("/login").respond_with_response(
        Response("<html><body><h1>Proxy sign-in</h1></body></html>", content_type="text/html")
    )
    down, gateway, login = (httpserver.url_for(path) for path in ("/down", "/gateway", "/login"))
    not_the_article = "not the Intune endpoints article: no table has an ID column"
    return [
        (missing, f"intune-exporter: {missing}: file not found"),
        (other, f"intune-exporter: {other}: {not_the_article}"),
        (latin1, f"intune-exporter: {latin1}: not UTF-8 text (byte 0xe9 at offset 9 is not UTF-8)"),
        (
            cut,
            f"intune-exporter: {cut}: only 2 endpoint sets in ID tables (a whole edition has about 20): the "
            "document is truncated",
        ),
        (down, f"intune-exporter: {down}: cannot read the page: HTTP 500 INTERNAL SERVER ERROR from {down}"),
        (
            gateway,
            f"intune-exporter: {gateway}: an HTML error page ('502 Bad Gateway'), not the endpoints article",
        ),
        (login, f"intune-exporter: {login}: {not_the_article}"),
    ]


@pytest.mark.parametrize("command", ["diff", "import"])
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, httpserver: HTTPServer, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    for argument, message in bad_inputs(tmp_path, httpserver):
        code = main(["catalogue", command, "--config", config_for(tmp_path), "--page", argument])
        captured = capsys.readouterr()
        assert (code, captured.err, captured.out) == (2, message + "\n", ""), argument


def test_page_and_reference_do_not_mix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = str(SECOND)
    assert diff(tmp_path, "--page", page, "--reference", page) == 2
    assert capsys.readouterr().err == "intune-exporter: --page: cannot be combined with --reference\n"


def test_import_yaml_is_a_catalogue_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = str(SECOND)
    out = tmp_path / "intune-page.yaml"
    assert (
        main(["catalogue", "import", "--config", config_for(tmp_path), "--page", page, "--out", str(out)])
        == 0
    )
    assert capsys.readouterr() == ("", "")
    text = out.read_text(encoding="utf-8")
    assert text.splitlines()[:3] == [
        "# Network endpoints for Microsoft Intune: imported by `intune-exporter catalogue import` from "
        + page,
        "# (page date 2025-09-30, locale en-us, read as markdown).",
        "# List this file in catalogue_files: its sets replace the built-in sets with the same id.",
    ]
    imported = load_file(out)
    assert imported == page_catalogue(parsed(SECOND))
    assert imported.edition is not None
    assert [s.id for s in imported.sets] == ["163", "170", "172", "178", "165", "200", "maa"]

    # The configuration takes it: the page has nothing more to add.
    config = tmp_path / "with-import.yml"
    config.write_text(yaml.safe_dump({"catalogue_files": [str(out)], "state_dir": str(tmp_path / "state")}))
    assert main(["catalogue", "diff", "--config", str(config), "--page", page]) == 0
    assert "  0 added, 0 removed, 0 changed\n" in capsys.readouterr().out


def test_import_json_is_the_web_service_shape(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = str(SECOND)
    assert (
        main(["catalogue", "import", "--config", config_for(tmp_path), "--page", page, "--format", "json"])
        == 0
    )
    out = capsys.readouterr().out
    catalogue = page_catalogue(parsed(SECOND))
    assert out == to_json(catalogue)
    items = json.loads(out)
    assert [item["id"] for item in items] == ["163", "170", "172", "178", "165", "200", "maa"]
    assert items[0]["tcpPorts"] == "80,443"

    # ... which catalogue diff --reference reads.
    reference = tmp_path / "page.json"
    reference.write_text(out)
    assert diff(tmp_path, "--reference", str(reference)) == 3


def loaded_with(tmp_path: Path, **config: object) -> LoadedConfig:
    path = tmp_path / "exporter.yml"
    path.write_text(yaml.safe_dump({"state_dir": str(tmp_path / "state"), **config}))
    return load(path)


def test_the_page_is_the_default_reference_source(tmp_path: Path) -> None:
    (source,) = build_sources(loaded_with(tmp_path))
    assert isinstance(source, PageSource)
    assert (source.name, source.url, source.interval, source.retry_interval) == (
        "intune-page",
        DEFAULT_PAGE_URL,
        3600,
        3600,
    )
    enabled = loaded_with(tmp_path, drift={"web_service": {"enabled": True}})
    assert [source.name for source in build_sources(enabled)] == ["intune-page", "webservice-worldwide"]
    assert build_sources(loaded_with(tmp_path, drift={"page": {"enabled": False}})) == []


def test_the_page_takes_the_probes_proxy(tmp_path: Path) -> None:
    url = DEFAULT_PAGE_URL
    direct = page_http_options(loaded_with(tmp_path), url, environ={"HTTPS_PROXY": "http://ignored:3128"})
    assert direct.proxy is None
    assert isinstance(direct.verify, ssl.SSLContext)

    configured = loaded_with(
        tmp_path, proxy={"url": "http://proxy.corp.example:3128", "credentials_env": "PROXY_AUTH"}
    )
    options = page_http_options(configured, url, environ={"PROXY_AUTH": "svc-intune:p@ss:word"})
    assert options.proxy == "http://svc-intune:p%40ss%3Aword@proxy.corp.example:3128"

    from_environment = loaded_with(tmp_path, proxy={"from_environment": True})
    environ = {"HTTPS_PROXY": "http://u:pw@envproxy.corp.example:8080", "NO_PROXY": ".internal.example"}
    assert page_http_options(from_environment, url, environ).proxy == "http://u:pw@envproxy.corp.example:8080"
    internal = "https://docs.internal.example/intune-endpoints.md"
    assert page_http_options(from_environment, internal, environ).proxy is None


def test_import_the_korean_seed_text_then_diff_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seed = str(DATA / "intune-endpoints-ko.txt")
    out = tmp_path / "seed.yaml"
    assert (
        main(["catalogue", "import", "--config", config_for(tmp_path), "--page", seed, "--out", str(out)])
        == 0
    )
    imported = load_file(out)
    assert imported == page_catalogue(parsed(DATA / "intune-endpoints-ko.txt", seed))
    assert imported.edition is not None and imported.edition.language == "ko-kr"
    assert {"163", "172", "asu-na", "maa"} <= {s.id for s in imported.sets}

    config = tmp_path / "with-seed.yml"
    config.write_text(yaml.safe_dump({"catalogue_files": [str(out)], "state_dir": str(tmp_path / "state")}))
    assert main(["catalogue", "diff", "--config", str(config), "--page", seed]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f'page {seed}: "Microsoft Intune에 대한 네트워크 엔드포인트", dated (no date), ko-kr, read as text',
        "  0 added, 0 removed, 0 changed",
        "page inconsistencies: none checked, this edition has no consolidated endpoint list",
    ]

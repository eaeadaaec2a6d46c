"""`catalogue diff` and `catalogue changes` from the command line, against files and the simulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from pytest_httpserver import HTTPServer
from werkzeug import Response

from exporter.catalogue import load_builtin
from exporter.catalogue.export import to_json
from exporter.cli import main
from tests.support.simulators.webservice import DATA, NEW_VERSION, WebServiceSimulator


def config_for(tmp_path: Path, simulator: WebServiceSimulator | None = None) -> Path:
    web_service = {"enabled": True, "base_url": simulator.base_url} if simulator else {"enabled": False}
    drift = {"page": {"enabled": False}, "web_service": web_service}
    path = tmp_path / "exporter.yml"
    # The web service fixtures (tests/data/webservice) hold the seed edition's MEM sets.
    config = {"catalogue_edition": "seed", "state_dir": str(tmp_path / "state"), "drift": drift}
    path.write_text(yaml.safe_dump(config))
    return path


def test_diff_against_a_file_reports_exactly_the_differences(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "catalogue",
            "diff",
            "--config",
            str(config_for(tmp_path)),
            "--reference",
            str(DATA / "endpoints-mem-new.json"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 3
    assert out.splitlines()[1:] == [
        "  set 163",
        "    - ip 13.67.13.176/28",
        "    + url intunecdnpeasd.manage.microsoft.com",
        "  set 172",
        "    ~ attribute category: Default -> Allow",
        "  set 200",
        "    + port tcp/443",
        "    + set 200",
        "    + url *.newservice.manage.microsoft.com",
        "    + url mem-newservice.manage.microsoft.com",
        "  5 added, 1 removed, 1 changed",
    ]
    assert out.startswith("file-endpoints-mem-new: version sha256:")


def test_diff_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "catalogue",
            "diff",
            "--config",
            str(config_for(tmp_path)),
            "--format",
            "json",
            "--reference",
            str(DATA / "endpoints-mem-new.json"),
        ]
    )
    document = json.loads(capsys.readouterr().out)
    assert code == 3
    (source,) = document["sources"]
    assert source["fresh"] is True
    assert source["invalidEntries"] == 0
    assert {
        "setId": "172",
        "kind": "attribute",
        "direction": "changed",
        "value": "category: Default -> Allow",
    } in (source["drift"])
    assert len(source["drift"]) == 7


def test_no_drift_against_our_own_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exported = tmp_path / "catalogue.json"
    exported.write_text(to_json(load_builtin("seed")))  # the edition config_for selects
    assert (
        main(["catalogue", "diff", "--config", str(config_for(tmp_path)), "--reference", str(exported)]) == 0
    )
    assert "0 added, 0 removed, 0 changed" in capsys.readouterr().out


def test_only_removed_drift_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    items = json.loads((DATA / "endpoints-mem.json").read_text())
    items[0]["urls"] = items[0]["urls"][1:]
    reference = tmp_path / "older.json"
    reference.write_text(json.dumps(items))
    assert (
        main(["catalogue", "diff", "--config", str(config_for(tmp_path)), "--reference", str(reference)]) == 0
    )
    assert "0 added, 1 removed, 0 changed" in capsys.readouterr().out


def test_diff_against_the_web_service_then_its_snapshot(
    tmp_path: Path, httpserver: HTTPServer, capsys: pytest.CaptureFixture[str]
) -> None:
    simulator = WebServiceSimulator(httpserver)
    simulator.publish_new_list()
    config = config_for(tmp_path, simulator)
    assert main(["catalogue", "diff", "--config", str(config)]) == 3
    assert capsys.readouterr().out.startswith(f"webservice-worldwide: version {NEW_VERSION} (fetched ")

    simulator.fault = Response("oops", status=500)
    assert main(["catalogue", "diff", "--config", str(config)]) == 3
    out = capsys.readouterr().out
    assert "fetching now failed (http_status: " in out
    assert "so this is the saved snapshot" in out
    assert "+ url mem-newservice.manage.microsoft.com" in out


def test_diff_with_the_web_service_down_and_no_snapshot_exits_1(
    tmp_path: Path, httpserver: HTTPServer, capsys: pytest.CaptureFixture[str]
) -> None:
    simulator = WebServiceSimulator(httpserver)
    simulator.fault = Response("<html>login</html>", content_type="text/html")
    assert main(["catalogue", "diff", "--config", str(config_for(tmp_path, simulator))]) == 1
    assert "webservice-worldwide: no list: not_json: " in capsys.readouterr().out


def test_diff_with_a_missing_reference_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["catalogue", "diff", "--config", str(config_for(tmp_path)), "--reference", "nope.json"])
    assert code == 2
    assert "--reference: field '#1': file not found (got 'nope.json')" in capsys.readouterr().err


def test_changes_since_a_version(
    tmp_path: Path, httpserver: HTTPServer, capsys: pytest.CaptureFixture[str]
) -> None:
    simulator = WebServiceSimulator(httpserver)
    config = config_for(tmp_path, simulator)
    assert main(["catalogue", "changes", "--config", str(config), "--since", "2025110100"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("webservice-worldwide: change log since 2025110100\n")
    assert "set 200" in out
    assert simulator.calls["changes"] == 1


def test_changes_needs_a_version(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = config_for(tmp_path)
    assert main(["catalogue", "changes", "--config", str(config)]) == 2
    assert "no saved snapshot to start from; give --since VERSION" in capsys.readouterr().err
    assert main(["catalogue", "changes", "--config", str(config), "--since", "yesterday"]) == 2
    assert "a version is 10 digits" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param(
            '[{"id": 163, "serviceArea": "MEM", "urls": ["a\\ud800.manage.microsoft.com"]}]',
            "invalid_text",
            id="surrogate-in-url",
        ),
        pytest.param(
            '[{"id": 163, "serviceArea": "MEM\\udfff"}]', "invalid_text", id="surrogate-in-set-name"
        ),
        pytest.param("[" * 980 + "]" * 980, "malformed_json", id="nested-980-deep"),
    ],
)
def test_diff_against_a_hostile_file_is_one_line_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str, reason: str
) -> None:
    reference = tmp_path / "hostile.json"
    reference.write_text(body)
    code = main(["catalogue", "diff", "--config", str(config_for(tmp_path)), "--reference", str(reference)])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.out.startswith(f"file-hostile: no list: {reason}: ")
    assert len(captured.out.splitlines()) == 1
    assert "Traceback" not in captured.err

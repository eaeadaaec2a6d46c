from __future__ import annotations

import argparse
import csv
import io
import json
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter import __version__
from exporter.catalogue import load_builtin
from exporter.cli import build_parser, main
from tests.support.paths import ROOT


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out == f"intune-exporter {__version__}\n"


def _leaf_commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """('catalogue diff', its parser) for every command that runs something."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, subparser in action.choices.items():
                yield from _leaf_commands(subparser, (*path, name))
            return
    yield " ".join(path), parser


def test_every_command_runs_a_handler_that_lives_with_it() -> None:
    handlers = {name: parser.get_default("func") for name, parser in _leaf_commands(build_parser())}
    assert {name: handler.__module__ for name, handler in handlers.items()} == {
        "serve": "exporter.commands.serve",
        "check": "exporter.commands.check",
        "probe": "exporter.commands.probe",
        "config check": "exporter.commands.config_check",
        "catalogue export": "exporter.commands.export",
        "catalogue import": "exporter.commands.catalogue_import",
        "catalogue diff": "exporter.commands.diff",
        "catalogue changes": "exporter.commands.changes",
        "monitoring generate": "exporter.commands.monitoring",
        "lab": "exporter.commands.lab",
    }


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main([])
    assert stopped.value.code == 2
    assert "required: COMMAND" in capsys.readouterr().err


def test_config_check_default_and_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "check"]) == 0
    assert capsys.readouterr().out.startswith("built-in default configuration: OK, 34 sets, 173 targets")
    path = tmp_path / "exporter.yml"
    path.write_text("catalogue_edition: seed\n")
    assert main(["config", "check", "--config", str(path)]) == 0
    assert capsys.readouterr().out == f"{path}: OK, 29 sets, 124 targets\n"
    path.write_text('sets:\n  only: ["163"]\n')
    assert main(["config", "check", "--config", str(path)]) == 0
    assert capsys.readouterr().out == f"{path}: OK, 1 sets, 5 targets\n"
    path.write_text("concurrency: 0\n")
    assert main(["config", "check", "--config", str(path)]) == 2
    assert capsys.readouterr().err == (
        f"intune-exporter: {path}: field 'concurrency': Input should be greater than or equal to 1 (got 0)\n"
    )


def test_bad_listen_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--listen", "nowhere"]) == 2
    assert "intune-exporter: --listen: listen address must be host:port" in capsys.readouterr().err


def test_listen_address_in_use(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--listen", f"127.0.0.1:{port}"]) == 1
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in capsys.readouterr().err


def test_export_json_is_shaped_like_the_web_service(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalogue", "export", "--format", "json", "--all"]) == 0
    items = json.loads(capsys.readouterr().out)
    assert len(items) == len(load_builtin().sets)
    first = next(item for item in items if item["id"] == "163")
    assert first["serviceArea"] == "MEM"
    assert first["tcpPorts"] == "80,443"
    assert first["category"] == "Allow"
    assert first["required"] is True
    assert first["expressRoute"] is False
    assert len(first["ips"]) == 90  # 50 in the seed edition


def test_export_csv_has_a_row_per_host_and_port(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalogue", "export", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    ntp = [r for r in rows if r["address"] == "time.windows.com"]
    assert [(r["set_id"], r["protocol"], r["port"]) for r in ntp] == [("165", "udp", "123")]
    apple = {r["port"] for r in rows if r["address"] == "5-courier.push.apple.com"}
    assert apple == {"80", "443", "5223"}


def test_export_includes_user_catalogue_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "corp.yml").write_text(
        "sets:\n  - {id: corp-proxy, name: Corporate proxy, section: Custom, urls: [proxy.corp.example],"
        " tcp_ports: [3128]}\n"
    )
    (tmp_path / "exporter.yml").write_text("catalogue_files: [corp.yml]\n")
    assert main(["catalogue", "export", "--config", str(tmp_path / "exporter.yml")]) == 0
    items = json.loads(capsys.readouterr().out)
    assert items[-1]["id"] == "corp-proxy"
    assert items[-1]["urls"] == ["proxy.corp.example"]


def test_python_dash_m_runs_the_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "exporter", "config", "check"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0
    assert "OK, 34 sets" in done.stdout


def test_ca_file_that_is_not_pem_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "ca.pem").write_text("not a certificate\n")
    (tmp_path / "exporter.yml").write_text("tls:\n  ca_file: ca.pem\n")
    assert main(["serve", "--config", str(tmp_path / "exporter.yml"), "--listen", "127.0.0.1:0"]) == 2
    err = capsys.readouterr().err
    assert "field 'tls.ca_file': not a PEM certificate bundle" in err
    assert str(tmp_path / "ca.pem") in err


def test_monitoring_generate_reproduces_the_committed_files(tmp_path: Path) -> None:
    root = ROOT
    assert main(["monitoring", "generate", "--out", str(tmp_path)]) == 0
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert generated
    for relative in generated:
        assert (tmp_path / relative).read_text() == (root / relative).read_text(), relative
    assert (
        main(["monitoring", "generate", "--out", str(tmp_path / "custom"), "--selector", 'job="intune"']) == 0
    )
    assert (
        'job="intune"' in (tmp_path / "custom" / "alerts" / "intune-endpoint-exporter.rules.yml").read_text()
    )


def _readme_command_rows() -> dict[str, str]:
    """'catalogue diff' -> the first cell of its row in README's command table."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8").split("## Commands", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in readme.splitlines():
        if line.startswith("| `intune-exporter "):
            cell = line.split("`")[1].removeprefix("intune-exporter ")
            words = [w for w in cell.split() if w.replace("-", "").isalpha() and w.islower()]
            rows[" ".join(words[: 2 if words[0] in {"config", "catalogue", "monitoring"} else 1])] = cell
    return rows


def test_readme_command_table_matches_the_parser() -> None:
    """Every command in README's table, and no other; every flag a row names exists on that command."""
    leaves = dict(_leaf_commands(build_parser()))
    rows = _readme_command_rows()
    assert set(rows) == set(leaves)
    for name, cell in rows.items():
        known = {option for action in leaves[name]._actions for option in action.option_strings}
        named = set(re.findall(r"--[a-z][a-z.-]*[a-z]", cell))
        assert named <= known, (name, named - known)


def test_catalogue_diff_help_lists_the_exit_codes_readme_gives(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["catalogue", "diff", "--help"])
    help_text = capsys.readouterr().out
    row = _readme_command_rows()["catalogue diff"]
    readme_row = next(line for line in (ROOT / "README.md").read_text().splitlines() if row in line)
    for code, meaning in (("0", "no reference adds"), ("1", "could not be fetched"), ("3", "adds endpoints")):
        assert re.search(rf"^  {code} +.*{meaning}", help_text, re.MULTILINE), code
        assert f"{code} when" in readme_row or f", {code} when" in readme_row, code

"""`--log.level`, `--log.format`: logfmt or JSON lines; probe failures carry set, host, port and reason."""

from __future__ import annotations

import json
import logging
import re
import signal
from pathlib import Path

import pytest

from exporter.cli import build_parser
from exporter.commands.logs import JsonFormatter, LogfmtFormatter
from tests.support.e2e_lab import NXDOMAIN_HOST, arrange, write_config
from tests.support.serving import exporter_serving
from tests.support.simulators.dns_server import DNSServer
from tests.support.simulators.ntp_server import NTPServer
from tests.support.simulators.tls_servers import LoopbackLab

LOGFMT_LINE = re.compile(r'^ts=\S+Z level=(debug|info|warn|error) logger=\S+ msg=("(?:[^"\\]|\\.)*"|\S+)')


def record(message: str, **fields: object) -> logging.LogRecord:
    made = logging.LogRecord("exporter.test", logging.WARNING, __file__, 1, message, None, None)
    made.__dict__.update(fields)
    return made


def test_logfmt_quotes_only_what_needs_it_and_redacts_credentials() -> None:
    line = LogfmtFormatter().format(
        record('a "b"', set="97", port=443, detail="x\ny", url="http://user:secret@proxy.example/", empty="")
    )
    assert LOGFMT_LINE.match(line)
    assert line.split(" ", 2)[1] == "level=warn"
    assert line.endswith(
        'logger=exporter.test msg="a \\"b\\"" set=97 port=443 detail="x\\ny" '
        'url=http://<redacted>@proxy.example/ empty=""'
    )
    document = json.loads(JsonFormatter().format(record("plain", host="login.live.com", port=443)))
    assert {key: document[key] for key in ("level", "logger", "msg", "host", "port")} == {
        "level": "warn",
        "logger": "exporter.test",
        "msg": "plain",
        "host": "login.live.com",
        "port": 443,
    }


def test_log_flags_are_checked(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        build_parser().parse_args(["serve", "--log.format", "xml"])
    assert raised.value.code == 2
    assert "argument --log.format: invalid choice: 'xml'" in capsys.readouterr().err
    args = build_parser().parse_args(["check", "--log.level", "warning", "--log.format", "json"])
    assert (args.log_level, args.log_format) == ("warning", "json")


@pytest.fixture
def lab_config(
    tmp_path: Path, dns_server: DNSServer, ntp_server: NTPServer, loopback_lab: LoopbackLab
) -> Path:
    arrange(dns_server, ntp_server)
    return write_config(
        tmp_path / "lab.yml", dns_server, ntp_server, loopback_lab, sets={"only": ["97", "190"]}
    )


def serve_and_stop(config: Path, flags: list[str]) -> list[str]:
    """Lines `serve` logged through its first cycle and its shutdown."""
    with exporter_serving(config, flags=flags) as served:
        served.process.send_signal(signal.SIGTERM)
        output, _ = served.process.communicate(timeout=30)
    return output.splitlines()


def test_serve_logs_logfmt_by_default(lab_config: Path) -> None:
    lines = serve_and_stop(lab_config, [])
    assert lines and all(LOGFMT_LINE.match(line) for line in lines), lines
    (failing,) = [line for line in lines if f'msg="{NXDOMAIN_HOST}:443/https failing' in line]
    assert " level=warn " in failing
    fields = f'set=97 host={NXDOMAIN_HOST} port=443 protocol=https path=direct reason=dns_nxdomain address=""'
    assert fields in failing
    assert not any(" level=debug " in line for line in lines)


def test_serve_logs_json_at_debug(lab_config: Path) -> None:
    records = [
        json.loads(line)
        for line in serve_and_stop(lab_config, ["--log.format", "json", "--log.level", "debug"])
    ]
    assert {"ts", "level", "logger", "msg"} <= set(records[0])
    refused = [r for r in records if r.get("reason") == "connect_refused"]
    assert {(r["set"], r["host"], r["port"], r["protocol"]) for r in refused} == {
        ("190", "go.microsoft.com", 80, "http"),
        ("190", "go.microsoft.com", 443, "https"),
    }
    assert {r["level"] for r in records} >= {"debug", "info", "warn"}

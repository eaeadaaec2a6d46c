"""No secret in any message: a password planted in every field that may hold credentials never shows up in
what `config check`, `catalogue diff` and `serve` print, log or serve (reload answers included)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import pytest
import yaml

from exporter.cli import main
from exporter.config.file import Config
from exporter.errors import (
    NO_VALUE,
    REDACTED,
    ConfigError,
    has_userinfo,
    redact_userinfo,
    sensitive_fields,
)
from tests.support.paths import ROOT
from tests.support.serving import exporter_command, wait_for
from tests.support.simulators.processes import free_port

SECRET = "planted-secret-b71f0e"  # the password that must never show up anywhere
LOGIN = f"svc:{SECRET}"
USERINFO_PROXY = f"http://{LOGIN}@127.0.0.1:3128"

# Every field that may hold a URL, each with the password in it, in the shapes a user may get wrong.
BAD_CONFIGS: dict[str, dict[str, Any]] = {
    "proxy-url": {"proxy": {"url": USERINFO_PROXY}},
    "proxy-url-not-a-string": {"proxy": {"url": [USERINFO_PROXY]}},
    "proxy-url-without-scheme": {"proxy": {"url": f"{LOGIN}@proxy.corp.example:3128"}},
    "proxy-url-login-only": {"proxy": {"url": LOGIN}},
    "proxy-sets": {"proxy": {"sets": {"163": USERINFO_PROXY}}},
    "proxy-sets-not-a-string": {"proxy": {"sets": {"163": {"url": USERINFO_PROXY}}}},
    "proxy-url-and-environment": {"proxy": {"url": USERINFO_PROXY, "from_environment": True}},
    "reference-url": {"drift": {"references": [{"name": "corp", "url": f"https://{LOGIN}@lists.example/x"}]}},
    "reference-url-and-file": {
        "drift": {"references": [{"name": "corp", "url": f"https://{LOGIN}@lists.example/x", "file": "x"}]}
    },
    "reference-url-without-scheme": {"drift": {"references": [{"name": "corp", "url": f"{LOGIN}@lists"}]}},
    "web-service-base-url": {"drift": {"web_service": {"base_url": f"https://{LOGIN}@endpoints.example"}}},
    "page-url": {"drift": {"page": {"url": f"https://{LOGIN}@docs.example/intune-endpoints"}}},
    "page-url-ftp": {"drift": {"page": {"url": f"ftp://{LOGIN}@docs.example/intune-endpoints"}}},
}


def write_config(directory: Path, name: str, data: dict[str, Any]) -> Path:
    path = directory / f"{name}.yml"
    path.write_text(yaml.safe_dump(data))
    assert SECRET in path.read_text()
    return path


def good_config(directory: Path, credentials: str = "env") -> Path:
    """Valid, with the proxy login in the environment (PROXY_LOGIN) or a file; the proxy, DNS server,
    page, web service and reference list are loopback ports nobody answers on."""
    dead = f"127.0.0.1:{free_port()}"
    proxy: dict[str, Any] = {"url": f"http://{dead}", "sets": {"163": f"http://{dead}"}}
    if credentials == "env":
        proxy["credentials_env"] = "PROXY_LOGIN"
    else:
        (directory / "proxy-login").write_text(LOGIN + "\n")
        proxy["credentials_file"] = "proxy-login"
    data = {
        "interval": "1h",
        "timeout": "1s",
        "sets": {"only": ["163"]},
        "dns": {"nameservers": ["127.0.0.1"], "port": free_port()},
        "state_dir": str(directory / "state"),
        "proxy": proxy,
        "drift": {
            "page": {"url": f"http://{dead}/intune-endpoints", "timeout": "1s"},
            "web_service": {"enabled": True, "base_url": f"http://{dead}", "timeout": "1s"},
            "references": [{"name": "corp", "url": f"http://{dead}/corp.json", "timeout": "1s"}],
        },
        "log_level": "debug",
    }
    path = directory / f"good-{credentials}.yml"
    path.write_text(yaml.safe_dump(data))
    return path


# The building blocks.


def test_a_config_error_can_redact_its_value() -> None:
    error = ConfigError("exporter.yml", "proxy.url", USERINFO_PROXY, "bad", redacted=True)
    assert str(error) == "exporter.yml: field 'proxy.url': bad (got <redacted>)"
    assert error.value is REDACTED
    assert str(ConfigError("f", "x", REDACTED, "bad")) == "f: field 'x': bad (got <redacted>)"
    assert str(ConfigError("f", "x", NO_VALUE, "bad", redacted=True)) == "f: field 'x': bad"


def test_userinfo_left_in_any_part_of_a_message_is_redacted() -> None:
    assert redact_userinfo(f"GET {USERINFO_PROXY}/x and https://a@b.example") == (
        "GET http://<redacted>@127.0.0.1:3128/x and https://<redacted>@b.example"
    )
    assert redact_userinfo("https://example.com/a@b?c=d@e mail a@b.example") == (
        "https://example.com/a@b?c=d@e mail a@b.example"
    )
    error = ConfigError(f"https://{LOGIN}@docs.example/page", "", USERINFO_PROXY, f"at {USERINFO_PROXY}")
    assert SECRET not in str(error)
    assert has_userinfo(USERINFO_PROXY) and has_userinfo("https://user@h")
    assert not has_userinfo("https://h.example/a@b") and not has_userinfo("https://h.example?x=@")


def test_http_client_logs_never_show_userinfo() -> None:
    """httpx logs each request's full URL at INFO, password included; our logging setup silences it, and
    strips credentials from any URL another logger writes."""
    program = f"""
import logging, httpx
from exporter.commands.logs import setup_logging
{{setup}}
client = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(200)))
client.get("http://{LOGIN}@lists.example/corp.json")
logging.getLogger("httpx").warning("retrying %s", "http://{LOGIN}@lists.example/corp.json")
logging.getLogger("exporter.reference").error("fetch of http://{LOGIN}@lists.example failed")
try:
    raise ValueError("http://{LOGIN}@lists.example: refused")
except ValueError:
    logging.getLogger("exporter").exception("failed")
"""

    def stderr(setup: str) -> str:
        command = [sys.executable, "-c", program.replace("{setup}", setup)]
        return subprocess.run(command, capture_output=True, text=True, check=True, timeout=60).stderr

    assert SECRET in stderr("logging.basicConfig(level='DEBUG')")  # what the filter is for
    for level in ("debug", "info", "error"):
        output = stderr(f"setup_logging({level!r})")
        assert SECRET not in output
        assert "HTTP Request" not in output
        assert "svc:" not in output
    output = stderr("setup_logging('debug')")
    assert "retrying http://<redacted>@lists.example/corp.json" in output
    assert "fetch of http://<redacted>@lists.example failed" in output
    assert "ValueError: http://<redacted>@lists.example: refused" in output


def test_every_url_field_is_sensitive_and_documented() -> None:
    fields = sensitive_fields(Config)
    assert fields == [
        "proxy.url",
        "proxy.sets",
        "drift.page.url",
        "drift.web_service.base_url",
        "drift.references[].url",
    ]
    secrets = (ROOT / "docs" / "security.md").read_text(encoding="utf-8").split("## Secrets", 1)[1]
    secrets = secrets.split("\n## ", 1)[0]
    for field in fields:
        assert f"`{field}`" in secrets or f"routes of `{field}`" in secrets, field


# The commands.


@pytest.mark.parametrize("name", sorted(BAD_CONFIGS))
def test_config_check_and_catalogue_diff_never_echo_a_planted_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    path = write_config(tmp_path, name, BAD_CONFIGS[name])
    for command in (["config", "check"], ["catalogue", "diff"]):
        assert main([*command, "--config", str(path)]) == 2, command
        out, err = capsys.readouterr()
        assert SECRET not in out + err
        assert err.startswith(f"intune-exporter: {path}: field '"), err
        assert err.count("\n") == 1


def test_proxy_credentials_from_the_environment_or_a_file_stay_out_of_the_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROXY_LOGIN", LOGIN)
    for credentials in ("env", "file"):
        path = good_config(tmp_path, credentials)
        assert main(["config", "check", "--config", str(path)]) == 0
        main(["catalogue", "diff", "--config", str(path)])  # nothing answers: exit code 1
        out, err = capsys.readouterr()
        assert "OK, 1 sets" in out
        assert "corp" in out + err
        assert SECRET not in out + err

    monkeypatch.setenv("PROXY_LOGIN", SECRET)  # no 'user:' part
    assert main(["config", "check", "--config", str(tmp_path / "good-env.yml")]) == 2
    (tmp_path / "proxy-login").write_text(f"{SECRET}\n{SECRET}\n")
    assert main(["config", "check", "--config", str(tmp_path / "good-file.yml")]) == 2
    out, err = capsys.readouterr()
    assert "must hold one line 'user:password' (content not shown)" in err
    assert SECRET not in out + err


def test_catalogue_diff_of_a_page_url_with_credentials(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = f"http://{LOGIN}@127.0.0.1:{free_port()}/intune-endpoints"
    config = good_config(tmp_path)
    assert main(["catalogue", "diff", "--config", str(config), "--page", page]) != 0
    out, err = capsys.readouterr()
    assert err
    assert SECRET not in out + err


def test_web_config_password_in_clear_is_not_echoed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    web = tmp_path / "web.yml"
    for users in ({"prometheus": SECRET}, [f"prometheus:{SECRET}"], {"prometheus": [SECRET]}):
        web.write_text(yaml.safe_dump({"basic_auth_users": users}))
        assert main(["config", "check", "--web-config-file", str(web)]) == 2
        out, err = capsys.readouterr()
        assert "basic_auth_users" in err
        assert SECRET not in out + err


def test_serve_and_its_reloads_never_show_a_planted_password(tmp_path: Path) -> None:
    config = good_config(tmp_path)
    hashed = bcrypt.hashpw(SECRET.encode(), bcrypt.gensalt(rounds=4)).decode()
    web = tmp_path / "web.yml"
    web.write_text(yaml.safe_dump({"basic_auth_users": {"prometheus": hashed}}))
    port = free_port()
    command = exporter_command("serve", port, "--config", str(config), "--web-config-file", str(web))
    environment = {**os.environ, "PROXY_LOGIN": LOGIN}
    served: list[str] = []
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment
    )
    try:
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", auth=("prometheus", SECRET), timeout=10)
        wait_for(lambda: client.get("/ready").status_code == 200, process, what="first cycle")
        good_text = config.read_text()
        for name, data in sorted(BAD_CONFIGS.items()):
            config.write_text(yaml.safe_dump(data))
            answer = client.post("/-/reload")
            assert answer.status_code == 500, (name, answer.text)
            assert "field '" in answer.text
            served.append(answer.text)
        config.write_text(good_text)
        assert client.post("/-/reload").status_code == 200
        for path in ("/metrics", "/api/status", "/"):
            response = client.get(path)
            assert response.status_code == 200
            served.append(response.text)
        process.terminate()
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert "reload failed" in output
    assert "Traceback" not in output
    for text in (output, *served):
        assert SECRET not in text
        assert hashed not in text

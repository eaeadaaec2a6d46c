"""The web configuration file: validation with clear, secret-free errors, and `intune-exporter serve` over
HTTPS with basic auth and client certificates."""

from __future__ import annotations

import contextlib
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import httpx
import pytest
import trustme
import yaml

from exporter.cli import main
from exporter.errors import ConfigError
from exporter.web.hardened_server import (
    HEAD_TIMEOUT,
    IO_TIMEOUT,
    LISTEN_BACKLOG,
    MAX_BODY_BYTES,
    MAX_CONNECTIONS,
    MAX_HEAD_BYTES,
    MAX_PENDING,
    MAX_PENDING_PER_CLIENT,
    MAX_REQUEST_LINE,
    READ_TIMEOUT,
    SLOT_WAIT,
)
from exporter.web.web_config import load_web_config
from tests.support.paths import DATA as TEST_DATA
from tests.support.paths import ROOT
from tests.support.serving import exporter_command, started, wait_for
from tests.support.simulators.processes import free_port
from tests.support.web_certs import WebCerts, write_certs

DATA = TEST_DATA / "web"
PASSWORD = "planted-password-8c1e"  # the secret that must never show up anywhere
PASSWORD_HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
NOT_BCRYPT = (
    "not a bcrypt hash ($2a$, $2b$ or $2y$, cost 04-31, 53 characters of salt and hash); "
    "passwords are given hashed, never in clear (got <redacted>)"
)

# {d} is the directory the file was copied to, next to server.crt, server.key, other.key and ca.crt.
INVALID = {
    "invalid-unknown-key.yml": "field 'tls_server_config.cipher_suites': unknown key",
    "invalid-unknown-section.yml": "field 'rate_limit': unknown key",
    "invalid-missing-key-file.yml": "field 'tls_server_config.key_file': required key is missing",
    "invalid-cert-not-found.yml": (
        "field 'tls_server_config.cert_file': file not found (got '{d}/missing.crt')"
    ),
    "invalid-cert-not-pem.yml": (
        "field 'tls_server_config.cert_file': not a PEM certificate file (got '{d}/server.key')"
    ),
    "invalid-key-not-pem.yml": (
        "field 'tls_server_config.key_file': not a PEM private key file (got '{d}/server.crt')"
    ),
    "invalid-key-mismatch.yml": (
        "field 'tls_server_config.key_file': the private key does not match the certificate in cert_file "
        "(KEY_VALUES_MISMATCH) (got '{d}/other.key')"
    ),
    "invalid-client-auth-type.yml": (
        "field 'tls_server_config.client_auth_type': Input should be 'NoClientCert' or "
        "'RequireAndVerifyClientCert' (got 'RequireAnyClientCert')"
    ),
    "invalid-client-ca-missing.yml": (
        "field 'tls_server_config.client_ca_file': RequireAndVerifyClientCert needs client_ca_file, "
        "the CA that signs client certificates"
    ),
    "invalid-client-ca-unused.yml": (
        "field 'tls_server_config.client_ca_file': client_auth_type is NoClientCert, so client "
        "certificates would not be checked; set client_auth_type: RequireAndVerifyClientCert "
        "(got '{d}/ca.crt')"
    ),
    "invalid-client-ca-not-pem.yml": (
        "field 'tls_server_config.client_ca_file': not a PEM certificate file (got '{d}/server.key')"
    ),
    "invalid-min-version.yml": (
        "field 'tls_server_config.min_version': Input should be 'TLS12' or 'TLS13' (got 'TLS11')"
    ),
    "invalid-password-in-clear.yml": "field 'basic_auth_users.prometheus': " + NOT_BCRYPT,
    "invalid-hash-not-bcrypt.yml": "field 'basic_auth_users.prometheus': " + NOT_BCRYPT,
    "invalid-hash-truncated.yml": "field 'basic_auth_users.prometheus': " + NOT_BCRYPT,
    "invalid-hash-missing.yml": "field 'basic_auth_users.prometheus': the password hash is missing",
    "invalid-users-not-mapping.yml": (
        "field 'basic_auth_users': must be a mapping of user names to bcrypt hashes (got <redacted>)"
    ),
    "invalid-user-name.yml": (
        "field 'basic_auth_users': a user name is a non-empty string without ':' (got 'prom:etheus')"
    ),
    "invalid-not-mapping.yml": "a web configuration must be a YAML mapping (got 'list')",
    "invalid-yaml.yml": "not valid YAML at line 3, column 2: expected <block end>, but found "
    "'<block mapping start>'",
}


@pytest.fixture
def certs(tmp_path: Path) -> WebCerts:
    return write_certs(tmp_path)


def write_web_config(directory: Path, content: object, name: str = "web.yml") -> Path:
    path = directory / name
    path.write_text(yaml.safe_dump(content))
    return path


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_web_config_names_file_field_and_value(name: str, certs: WebCerts) -> None:
    directory = certs.directory
    shutil.copy(DATA / name, directory)
    with pytest.raises(ConfigError) as caught:
        load_web_config(directory / name)
    message = str(caught.value)
    assert message == f"{directory / name}: " + INVALID[name].format(d=directory)
    assert "planted" not in message.replace(str(directory), "")


def test_every_invalid_web_config_has_an_expected_message() -> None:
    assert {p.name for p in DATA.glob("invalid-*.yml")} == set(INVALID)


def test_no_file_or_an_empty_one_means_plain_http_without_auth(tmp_path: Path) -> None:
    assert load_web_config(None).describe() == "plain HTTP, no basic auth"
    empty = tmp_path / "web.yml"
    empty.write_text("# nothing yet\n")
    web = load_web_config(empty)
    assert (web.tls, web.users, web.source) == (None, {}, str(empty))


def test_users_only(tmp_path: Path) -> None:
    toolkit_example = "$2y$10$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG"
    path = write_web_config(
        tmp_path, {"basic_auth_users": {"prometheus": toolkit_example, "ops": PASSWORD_HASH}}
    )
    web = load_web_config(path)
    assert web.tls is None
    assert web.users == {"prometheus": toolkit_example.encode(), "ops": PASSWORD_HASH.encode()}
    assert web.describe() == "plain HTTP, basic auth for 2 user(s)"


def test_tls_paths_are_relative_to_the_web_config(certs: WebCerts, tmp_path: Path) -> None:
    subdirectory = tmp_path / "conf"
    subdirectory.mkdir()
    tls = {
        "cert_file": "../server.crt",
        "key_file": str(tmp_path / "server.key"),
        "client_ca_file": "../ca.crt",
        "client_auth_type": "RequireAndVerifyClientCert",
        "min_version": "TLS13",
    }
    web = load_web_config(write_web_config(subdirectory, {"tls_server_config": tls}))
    assert web.tls is not None
    assert web.tls.minimum_version is ssl.TLSVersion.TLSv1_3
    assert web.tls.verify_mode is ssl.CERT_REQUIRED
    assert web.describe() == "TLS, client certificates required, no basic auth"


def test_default_tls_needs_no_client_certificate_and_allows_tls12(certs: WebCerts) -> None:
    tls = {"cert_file": "server.crt", "key_file": "server.key"}
    web = load_web_config(write_web_config(certs.directory, {"tls_server_config": tls}))
    assert web.tls is not None
    assert web.tls.minimum_version is ssl.TLSVersion.TLSv1_2
    assert web.tls.verify_mode is ssl.CERT_NONE


def test_config_check_validates_the_web_config(certs: WebCerts, capsys: pytest.CaptureFixture[str]) -> None:
    tls = {"cert_file": "server.crt", "key_file": "server.key"}
    path = write_web_config(
        certs.directory, {"tls_server_config": tls, "basic_auth_users": {"prometheus": PASSWORD_HASH}}
    )
    assert main(["config", "check", "--web-config-file", str(path)]) == 0
    assert capsys.readouterr().out.splitlines()[1] == f"{path}: OK, TLS, basic auth for 1 user(s)"

    path.write_text(f"basic_auth_users:\n  prometheus: {PASSWORD}\n")
    assert main(["config", "check", "--web.config.file", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == f"intune-exporter: {path}: field 'basic_auth_users.prometheus': {NOT_BCRYPT}\n"


def test_serve_refuses_a_bad_web_config_with_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.yml"
    assert main(["serve", "--web-config-file", str(missing)]) == 2
    assert capsys.readouterr().err == (
        f"intune-exporter: {missing}: cannot read file: No such file or directory\n"
    )


# End to end: `intune-exporter serve` with the web configuration, probing nothing reachable.


@contextlib.contextmanager
def serving_with_web_config(directory: Path, web_config: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    config = directory / "exporter.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "interval": "1h",
                "timeout": "1s",
                "sets": {"only": ["163"]},
                "dns": {"nameservers": ["127.0.0.1"], "port": free_port()},  # nobody answers there
                "state_dir": str(directory / "state"),
                "drift": {"page": {"enabled": False}},
                "log_level": "debug",
            }
        )
    )
    port = free_port()
    command = exporter_command("serve", port, "--config", str(config), "--web.config.file", str(web_config))
    with started(command) as process:
        yield process, f"127.0.0.1:{port}"


def test_https_with_basic_auth_end_to_end_and_no_secret_leaks(certs: WebCerts) -> None:
    tls = {"cert_file": "server.crt", "key_file": "server.key"}
    web_config = write_web_config(
        certs.directory, {"tls_server_config": tls, "basic_auth_users": {"prometheus": PASSWORD_HASH}}
    )
    with serving_with_web_config(certs.directory, web_config) as (process, address):
        https = httpx.Client(base_url=f"https://{address}", verify=certs.client_context(), timeout=5)
        wait_for(lambda: https.get("/healthz").status_code == 200, process, what="serving HTTPS")
        wait_for(lambda: https.get("/ready").status_code == 200, process, what="first cycle")

        denied = https.get("/metrics")
        assert denied.status_code == 401
        assert denied.headers["www-authenticate"] == 'Basic realm="intune-endpoint-exporter"'
        assert https.get("/metrics", auth=("prometheus", "wrong")).status_code == 401
        assert https.get("/metrics", auth=("nobody", PASSWORD)).status_code == 401
        assert https.post("/-/reload").status_code == 401
        scrape = https.get("/metrics", auth=("prometheus", PASSWORD))
        assert scrape.status_code == 200
        assert "intune_exporter_cycles_total" in scrape.text
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://{address}/healthz", timeout=5)  # plain HTTP to the TLS port

        process.terminate()
        output, _ = process.communicate(timeout=10)
    assert "TLS, basic auth for 1 user(s)" in output
    for secret in (PASSWORD, PASSWORD_HASH, PASSWORD_HASH[7:]):
        assert secret not in output
        assert secret not in scrape.text
    assert "Traceback" not in output


def test_client_certificate_required(certs: WebCerts) -> None:
    tls = {
        "cert_file": "server.crt",
        "key_file": "server.key",
        "client_ca_file": "ca.crt",
        "client_auth_type": "RequireAndVerifyClientCert",
    }
    web_config = write_web_config(certs.directory, {"tls_server_config": tls})
    with serving_with_web_config(certs.directory, web_config) as (process, address):
        with_cert = httpx.Client(verify=certs.client_context(with_certificate=True), timeout=5)
        wait_for(lambda: with_cert.get(f"https://{address}/metrics").status_code == 200, process)
        without_cert = httpx.Client(verify=certs.client_context(), timeout=5)
        with pytest.raises(httpx.TransportError):
            without_cert.get(f"https://{address}/metrics")
        # A client certificate from another CA is refused too.
        stranger = ssl.create_default_context(cafile=str(certs.directory / "ca.crt"))
        trustme.CA().issue_cert("stranger.example").configure_cert(stranger)
        with pytest.raises(httpx.TransportError):
            httpx.get(f"https://{address}/metrics", verify=stranger, timeout=5)
        host, port = address.split(":")
        with socket.create_connection((host, int(port)), timeout=5):
            pass  # a connection that never starts TLS does not stop the next scrape
        assert with_cert.get(f"https://{address}/healthz").status_code == 200


def test_documented_web_config_and_limits_are_the_real_ones(certs: WebCerts) -> None:
    text = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    example = yaml.safe_load(text.split("## The file", 1)[1].split("```yaml", 1)[1].split("```", 1)[0])
    for key in ("cert_file", "key_file", "client_ca_file"):  # server.crt, ... next to the file
        example["tls_server_config"][key] = Path(example["tls_server_config"][key]).name
    web = load_web_config(write_web_config(certs.directory, example))
    assert web.describe() == "TLS, client certificates required, basic auth for 1 user(s)"
    limits = text.split("## Request limits", 1)[1]
    for documented in (
        f"| {HEAD_TIMEOUT:.0f} s |",
        f"| {READ_TIMEOUT:.0f} s |",
        f"| {IO_TIMEOUT:.0f} s |",
        f"| {MAX_REQUEST_LINE // 1024} KiB |",
        f"| {MAX_HEAD_BYTES // 1024} KiB |",
        f"| {MAX_BODY_BYTES // 1024} KiB, `Content-Length` only |",
        f"| {MAX_CONNECTIONS} | waits up to {SLOT_WAIT:.0f} s",
        f"| {MAX_PENDING} |",
        f"| {MAX_PENDING_PER_CLIENT} |",
        f"| {LISTEN_BACKLOG} (",
    ):
        assert documented in limits

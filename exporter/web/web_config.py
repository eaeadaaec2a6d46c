"""The web configuration file (`--web-config-file`), in the format of Prometheus' exporter-toolkit: TLS for
the HTTP endpoint, optionally client certificates, and basic-auth users with bcrypt password hashes.

Read once at start. Every problem is a `ConfigError` naming the file, the field and the value; password
hashes never appear in one (they show as `<redacted>`).
"""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from pydantic import Field

from exporter.config.fields import Section
from exporter.errors import NO_VALUE, ConfigError, load_yaml_file, validated

BCRYPT_HASH = re.compile(r"^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$")


class _Redacted:
    def __repr__(self) -> str:
        return "<redacted>"


REDACTED: Any = _Redacted()


class ClientAuth(StrEnum):
    NONE = "NoClientCert"
    REQUIRE_AND_VERIFY = "RequireAndVerifyClientCert"


class TlsVersion(StrEnum):
    TLS12 = "TLS12"
    TLS13 = "TLS13"


class TlsServerConfig(Section):
    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None
    client_auth_type: ClientAuth = ClientAuth.NONE
    min_version: TlsVersion = TlsVersion.TLS12


class _WebConfigFile(Section):
    tls_server_config: TlsServerConfig | None = None
    basic_auth_users: Any = Field(default=None)
    """Checked by hand, not by pydantic, whose messages would quote the hashes."""


@dataclass(frozen=True)
class WebConfig:
    """What serving needs: a server TLS context (None: plain HTTP) and users to their bcrypt hashes."""

    source: str = "no web configuration"
    tls: ssl.SSLContext | None = None
    client_certificates: bool = False
    users: dict[str, bytes] = field(default_factory=dict)

    def describe(self) -> str:
        tls = "plain HTTP"
        if self.tls is not None:
            tls = "TLS, client certificates required" if self.client_certificates else "TLS"
        auth = f"basic auth for {len(self.users)} user(s)" if self.users else "no basic auth"
        return f"{tls}, {auth}"


def load_web_config(path: Path | None) -> WebConfig:
    """The web configuration in `path`; None or an empty file mean plain HTTP without authentication."""
    if path is None:
        return WebConfig()
    data = load_yaml_file(path)
    if data is None:
        return WebConfig(source=str(path))
    parsed = validated(_WebConfigFile, path, data, "a web configuration")
    users = _users(path, parsed.basic_auth_users)
    tls = parsed.tls_server_config
    if tls is None:
        return WebConfig(source=str(path), users=users)
    return WebConfig(
        source=str(path),
        tls=_context(path, tls),
        client_certificates=tls.client_auth_type is ClientAuth.REQUIRE_AND_VERIFY,
        users=users,
    )


def _users(path: Path, value: Any) -> dict[str, bytes]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(
            path, "basic_auth_users", REDACTED, "must be a mapping of user names to bcrypt hashes"
        )
    users: dict[str, bytes] = {}
    for user, hashed in value.items():
        if not isinstance(user, str) or not user or ":" in user:
            raise ConfigError(
                path, "basic_auth_users", str(user), "a user name is a non-empty string without ':'"
            )
        where = f"basic_auth_users.{user}"
        if hashed is None:
            raise ConfigError(path, where, NO_VALUE, "the password hash is missing")
        if not isinstance(hashed, str) or not BCRYPT_HASH.match(hashed):
            raise ConfigError(
                path,
                where,
                REDACTED,
                "not a bcrypt hash ($2a$, $2b$ or $2y$, cost 04-31, 53 characters of salt and hash); "
                "passwords are given hashed, never in clear",
            )
        users[user] = hashed.encode()
    return users


def _context(path: Path, tls: TlsServerConfig) -> ssl.SSLContext:
    base = path.parent
    cert = _existing(path, "tls_server_config.cert_file", base / tls.cert_file)
    key = _existing(path, "tls_server_config.key_file", base / tls.key_file)
    _check_certificates(path, "tls_server_config.cert_file", cert)
    _check_key(path, key)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = (
        ssl.TLSVersion.TLSv1_3 if tls.min_version is TlsVersion.TLS13 else ssl.TLSVersion.TLSv1_2
    )
    try:
        context.load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        raise ConfigError(
            path,
            "tls_server_config.key_file",
            str(key),
            f"the private key does not match the certificate in cert_file ({exc.reason})",
        ) from None
    if tls.client_auth_type is ClientAuth.NONE:
        if tls.client_ca_file is not None:
            raise ConfigError(
                path,
                "tls_server_config.client_ca_file",
                str(base / tls.client_ca_file),
                "client_auth_type is NoClientCert, so client certificates would not be checked; "
                "set client_auth_type: RequireAndVerifyClientCert",
            )
        return context
    if tls.client_ca_file is None:
        raise ConfigError(
            path,
            "tls_server_config.client_ca_file",
            NO_VALUE,
            "RequireAndVerifyClientCert needs client_ca_file, the CA that signs client certificates",
        )
    client_ca = _existing(path, "tls_server_config.client_ca_file", base / tls.client_ca_file)
    _check_certificates(path, "tls_server_config.client_ca_file", client_ca)
    context.load_verify_locations(cafile=client_ca)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def _existing(path: Path, where: str, file: Path) -> Path:
    if not file.is_file():
        raise ConfigError(path, where, str(file), "file not found")
    return file


def _check_certificates(path: Path, where: str, file: Path) -> None:
    try:
        x509.load_pem_x509_certificates(file.read_bytes())
    except (ValueError, OSError):
        raise ConfigError(path, where, str(file), "not a PEM certificate file") from None


def _check_key(path: Path, file: Path) -> None:
    where = "tls_server_config.key_file"
    try:
        serialization.load_pem_private_key(file.read_bytes(), password=None)
    except TypeError:
        raise ConfigError(path, where, str(file), "encrypted private keys are not supported") from None
    except (ValueError, OSError, UnsupportedAlgorithm):
        raise ConfigError(path, where, str(file), "not a PEM private key file") from None

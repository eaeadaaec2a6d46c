"""HTTP basic authentication against bcrypt hashes, as WSGI middleware.

Every path needs credentials except the Kubernetes probes `/healthz` and `/ready`. bcrypt is slow on
purpose (about 50 ms at cost 10), so successful checks are remembered, keyed by an HMAC of user and
password under a key that lives only in this process, in a bounded cache.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import bcrypt

EXEMPT_PATHS = frozenset({"/healthz", "/ready"})
REALM = "intune-endpoint-exporter"
CACHE_SIZE = 100
# The hash of a random password nobody knows: unknown users cost a bcrypt check too, so response times
# do not tell which user names exist.
_UNKNOWN_USER_HASH = b"$2b$10$ug6I5NET5OGYw62./aRRR.d6FNc3EEViuikAAYvu32X18BvquZ6ge"

App = Callable[..., Iterable[bytes]]


class BasicAuth:
    """Checks `Authorization` headers against `users` (user name to bcrypt hash)."""

    def __init__(self, users: Mapping[str, bytes]) -> None:
        self._users = dict(users)
        self._key = secrets.token_bytes(32)
        self._verified: OrderedDict[bytes, None] = OrderedDict()
        self._lock = threading.Lock()
        self._bcrypt_lock = threading.Lock()  # one CPU-heavy check at a time

    def allowed(self, header: str | None) -> bool:
        credentials = _parse(header)
        if credentials is None:
            return False
        user, password = credentials
        key = hmac.new(self._key, user + b"\0" + password, hashlib.sha256).digest()
        with self._lock:
            if key in self._verified:
                self._verified.move_to_end(key)
                return True
        known = self._users.get(user.decode("utf-8", "surrogateescape"))
        with self._bcrypt_lock:
            try:
                matches = bcrypt.checkpw(password, known or _UNKNOWN_USER_HASH)
            except ValueError:  # e.g. longer than bcrypt's 72 bytes
                matches = False
        if not (matches and known is not None):
            return False
        with self._lock:
            self._verified[key] = None
            if len(self._verified) > CACHE_SIZE:
                self._verified.popitem(last=False)
        return True


def _parse(header: str | None) -> tuple[bytes, bytes] | None:
    if not header:
        return None
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    user, colon, password = decoded.partition(b":")
    return (user, password) if colon else None


def require_basic_auth(app: App, auth: BasicAuth) -> App:
    """`app` behind `auth`, except for EXEMPT_PATHS."""

    def protected(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "/") in EXEMPT_PATHS or auth.allowed(environ.get("HTTP_AUTHORIZATION")):
            return app(environ, start_response)
        start_response(
            "401 Unauthorized",
            [
                ("Content-Type", "text/plain; charset=utf-8"),
                ("WWW-Authenticate", f'Basic realm="{REALM}"'),
            ],
        )
        return [b"unauthorized\n"]

    return protected

"""HTTP basic authentication against bcrypt hashes, as WSGI middleware.

Every path needs credentials except the Kubernetes probes `/healthz` and `/ready`. bcrypt is slow on
purpose (about 50 ms at cost 10), so successful checks are remembered, keyed by an HMAC of user and
password under a key that lives only in this process, in a bounded cache.

Every check costs the same bcrypt work, whatever the user name, so response times do not tell which user
names exist: that of the highest cost among the configured hashes. An unknown user is checked against a
hash of a random password made at start with that cost; a known user whose hash has a lower cost c is
checked against it and then against random hashes of costs c, c+1, ..., highest-1, whose work (2^c +
2^c + ... + 2^(highest-1)) adds up to that of the highest cost. The cache is looked up, with the same
HMAC, before the user name is.
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
DEFAULT_COST = 10
"""The cost of the unknown users' hash when no user is configured."""

App = Callable[..., Iterable[bytes]]


class BasicAuth:
    """Checks `Authorization` headers against `users` (user name to bcrypt hash)."""

    def __init__(self, users: Mapping[str, bytes]) -> None:
        self._users = dict(users)
        costs = {bcrypt_cost(hashed) for hashed in self._users.values()}
        self.cost = max(costs, default=DEFAULT_COST)
        # Hashes of random passwords nobody knows, one per cost a known user's check is padded with.
        self._dummies = {
            cost: bcrypt.hashpw(secrets.token_bytes(16).hex().encode(), bcrypt.gensalt(rounds=cost))
            for cost in range(min(costs, default=self.cost), self.cost + 1)
        }
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
            checks = [_checkpw(password, hashed) for hashed in self.checked_hashes(known)]
        matches = checks[0]  # the padding's random passwords never match
        if not (matches and known is not None):
            return False
        with self._lock:
            self._verified[key] = None
            if len(self._verified) > CACHE_SIZE:
                self._verified.popitem(last=False)
        return True

    def checked_hashes(self, known: bytes | None) -> list[bytes]:
        """The hashes a password is checked against: `known` (None: an unknown user), then padding, for a
        total work of one check at `self.cost`."""
        if known is None:
            return [self._dummies[self.cost]]
        return [known, *(self._dummies[cost] for cost in range(bcrypt_cost(known), self.cost))]


def _checkpw(password: bytes, hashed: bytes) -> bool:
    try:
        return bcrypt.checkpw(password, hashed)
    except ValueError:  # e.g. longer than bcrypt's 72 bytes
        return False


def bcrypt_cost(hashed: bytes) -> int:
    """The cost of a `$2a$`, `$2b$` or `$2y$` hash (`$2b$12$...`: 12)."""
    return int(hashed[4:6])


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

"""Turning the exceptions of a connection attempt into a `Reason`.

What the libraries raise, and the reason each one becomes::

    OSError (possibly wrapped: anyio's "All connection attempts failed", ExceptionGroup)
     ├── TimeoutError / ETIMEDOUT ........................ CONNECT_TIMEOUT
     ├── ConnectionRefusedError .......................... CONNECT_REFUSED
     ├── EHOSTUNREACH, ENETUNREACH, EHOSTDOWN, ENETDOWN .. CONNECT_UNREACHABLE
     └── anything else ................................... CONNECT_ERROR (detail: the errno text)
    during the TLS handshake:
     ├── ssl.SSLCertVerificationError
     │    ├── hostname / IP address mismatch ............. TLS_HOSTNAME_MISMATCH
     │    ├── certificate has expired .................... TLS_EXPIRED
     │    └── any other verification error ............... TLS_UNTRUSTED
     └── other ssl.SSLError, EOF, reset .................. TLS_HANDSHAKE_FAILED

Deadlines are the caller's business: it knows which phase was running and raises the matching *_TIMEOUT.
"""

from __future__ import annotations

import errno
import os
import ssl
from collections.abc import Iterator

import anyio

from exporter.probes.outcome import Reason

CERTIFICATE_REASONS = frozenset({Reason.TLS_UNTRUSTED, Reason.TLS_HOSTNAME_MISMATCH, Reason.TLS_EXPIRED})
"""Reasons that mean the server presented a certificate we refused (so there is a certificate to show)."""

_UNREACHABLE = frozenset({errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN})
# OpenSSL X509_V_ERR_* codes.
_HOSTNAME_MISMATCH = frozenset({62, 64})
_CERT_HAS_EXPIRED = 10


class ProbeFailed(Exception):
    """Ends a probe step with `reason`; the probe turns it into a failed `ProbeOutcome`."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, then what caused it, depth first through exception groups."""
    seen: set[int] = set()
    pending = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        nested = current.__cause__ or current.__context__
        if nested is not None:
            pending.append(nested)
        if isinstance(current, BaseExceptionGroup):
            pending.extend(reversed(current.exceptions))


def connect_failure(exc: BaseException) -> ProbeFailed | None:
    """The reason a TCP connect failed, or None if `exc` holds no OSError."""
    errors = [error for error in exception_chain(exc) if isinstance(error, OSError)]
    if not errors:
        return None
    # The innermost error carrying an errno is the kernel's answer; wrappers only aggregate.
    error = next((error for error in errors if error.errno is not None), errors[-1])
    detail = os.strerror(error.errno) if error.errno is not None else str(error) or type(error).__name__
    if isinstance(error, TimeoutError) or error.errno == errno.ETIMEDOUT:
        return ProbeFailed(Reason.CONNECT_TIMEOUT, detail)
    if isinstance(error, ConnectionRefusedError):
        return ProbeFailed(Reason.CONNECT_REFUSED, detail)
    if error.errno in _UNREACHABLE:
        return ProbeFailed(Reason.CONNECT_UNREACHABLE, detail)
    return ProbeFailed(Reason.CONNECT_ERROR, detail)


def tls_failure(exc: BaseException) -> ProbeFailed:
    """The reason a TLS handshake failed (timeouts excepted)."""
    chain = list(exception_chain(exc))
    for error in chain:
        if isinstance(error, ssl.SSLCertVerificationError):
            return _verification_failure(error)
    for error in chain:
        if isinstance(error, ssl.SSLError):
            reason = error.reason or str(error)
            return ProbeFailed(Reason.TLS_HANDSHAKE_FAILED, reason.lower().replace("_", " "))
    for error in chain:
        if isinstance(error, OSError) and error.errno is not None:
            return ProbeFailed(Reason.TLS_HANDSHAKE_FAILED, os.strerror(error.errno))
    if any(isinstance(error, anyio.EndOfStream | anyio.BrokenResourceError) for error in chain):
        return ProbeFailed(Reason.TLS_HANDSHAKE_FAILED, "connection closed during the TLS handshake")
    return ProbeFailed(Reason.TLS_HANDSHAKE_FAILED, str(exc) or type(exc).__name__)


def _verification_failure(error: ssl.SSLCertVerificationError) -> ProbeFailed:
    message = error.verify_message or str(error)
    detail = f"certificate verify failed: {message}"
    if error.verify_code in _HOSTNAME_MISMATCH or "mismatch" in message.lower():
        return ProbeFailed(Reason.TLS_HOSTNAME_MISMATCH, detail)
    if error.verify_code == _CERT_HAS_EXPIRED or "expired" in message.lower():
        return ProbeFailed(Reason.TLS_EXPIRED, detail)
    return ProbeFailed(Reason.TLS_UNTRUSTED, detail)

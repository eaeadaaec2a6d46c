"""The one result type every probe returns, and the fixed vocabulary of failure reasons."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum


class Reason(StrEnum):
    """Why a probe failed. Documented in docs/metrics.md; alerts and dashboards match on these values."""

    DNS_NXDOMAIN = "dns_nxdomain"
    DNS_SERVFAIL = "dns_servfail"
    DNS_TIMEOUT = "dns_timeout"
    DNS_NO_ANSWER = "dns_no_answer"
    DNS_ERROR = "dns_error"
    DNS_SINKHOLED = "dns_sinkholed"
    """Zone check only: a name below the zone is answered with a DNS filter's sinkhole address."""
    CONNECT_REFUSED = "connect_refused"
    CONNECT_TIMEOUT = "connect_timeout"
    CONNECT_UNREACHABLE = "connect_unreachable"
    CONNECT_ERROR = "connect_error"
    TLS_TIMEOUT = "tls_timeout"
    TLS_HANDSHAKE_FAILED = "tls_handshake_failed"
    TLS_UNTRUSTED = "tls_untrusted"
    TLS_HOSTNAME_MISMATCH = "tls_hostname_mismatch"
    TLS_EXPIRED = "tls_expired"
    TLS_SELF_SIGNED = "tls_self_signed"
    TLS_CHAIN_INCOMPLETE = "tls_chain_incomplete"
    HTTP_TIMEOUT = "http_timeout"
    HTTP_ERROR = "http_error"
    NTP_TIMEOUT = "ntp_timeout"
    NTP_BAD_RESPONSE = "ntp_bad_response"
    PROXY_AUTH_REQUIRED = "proxy_auth_required"
    PROXY_REFUSED = "proxy_refused"
    PROXY_ERROR = "proxy_error"
    TLS_INTERCEPTED = "tls_intercepted"
    RANGE_STRIPPED = "range_stripped"
    PROBE_ERROR = "probe_error"
    """The probe itself raised: a bug in the exporter, logged with its traceback."""


class Phase(StrEnum):
    """A timed step of a probe; the `phase` label of intune_endpoint_probe_duration_seconds."""

    DNS = "dns"
    CONNECT = "connect"
    TLS = "tls"
    HTTP = "http"
    NTP = "ntp"


@dataclass(frozen=True)
class Certificate:
    """What the TLS probe learned about the leaf certificate the server presented."""

    subject_cn: str
    issuer_cn: str
    issuer_org: str
    not_after: float
    """Expiry as a Unix timestamp."""
    verified: bool
    """The chain verified against the trust store and the name matched."""
    hostname_matches: bool
    issuer_dn: str = ""
    """The whole issuer name (RFC 4514), cut to ISSUER_DN_CHARS."""
    product: str = ""
    """The TLS-inspection product the issuer names (`probes/inspection_products.py`); "" when unknown."""


@dataclass(frozen=True)
class ProbeOutcome:
    """Result of one probe step. `reason` is None exactly when `ok` is true."""

    ok: bool
    reason: Reason | None = None
    detail: str = ""
    """One human line on failure (the exception text), for logs and the `check` table."""
    phases: dict[Phase, float] = field(default_factory=dict)
    addresses: tuple[str, ...] = ()
    certificate: Certificate | None = None
    http_status: int | None = None
    ntp_offset: float | None = None
    intercepted: bool | None = None
    """TLS only: True on evidence of TLS inspection (a configured inspection issuer or CA, a known inspection
    product or an issuer calling itself an inspection CA); False without such evidence, even when the chain
    did not verify (`probes/interception.py`). None when no certificate was seen."""
    range_supported: bool | None = None
    """Byte-range check only: True on 206, False when the range was ignored (200) or the request failed;
    None when the answer tells nothing (e.g. 404)."""

    @classmethod
    def failure(cls, reason: Reason, detail: str, phases: dict[Phase, float] | None = None) -> ProbeOutcome:
        return cls(ok=False, reason=reason, detail=detail, phases=dict(phases or {}))

    def then(self, step: ProbeOutcome) -> ProbeOutcome:
        """The outcome of `step` run after this one (a lookup then a probe, a handshake then a request):
        the phases add up, `step` decides success, and what `step` did not learn comes from this one."""
        return replace(
            step,
            phases={**self.phases, **step.phases},
            addresses=step.addresses or self.addresses,
            certificate=step.certificate or self.certificate,
            http_status=step.http_status if step.http_status is not None else self.http_status,
            ntp_offset=step.ntp_offset if step.ntp_offset is not None else self.ntp_offset,
            intercepted=step.intercepted if step.intercepted is not None else self.intercepted,
        )

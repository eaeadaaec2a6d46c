"""TLS probe: connect, then a verifying handshake with SNI and name checks for the catalogue host name.

When verification refuses the certificate (untrusted issuer, wrong name, expired), a second handshake
that verifies nothing fetches the leaf so the outcome still names its issuer: that is how TLS
inspection by a proxy shows up, judged only on evidence (`interception`: a self-signed leaf or a missing
intermediate is not inspection); where the page says inspection is unsupported, it fails the probe
(TLS_INTERCEPTED). `open_tls` hands the verified stream on, so an HTTPS request can follow on the same
connection (`https`).
"""

from __future__ import annotations

import functools
import ssl
import time
from dataclasses import replace

import anyio
from anyio.abc import SocketStream
from anyio.streams.tls import TLSAttribute, TLSStream

from exporter.catalogue import Flag
from exporter.probes import interception, trace
from exporter.probes.certificates import describe_certificate, issuer_name, sent_chain
from exporter.probes.failures import CERTIFICATE_REASONS, ProbeFailed, tls_failure
from exporter.probes.outcome import Certificate, Phase, ProbeOutcome, Reason
from exporter.probes.prober import ProbeTarget, closing
from exporter.probes.settings import ProbeSettings
from exporter.probes.tcp import connect
from exporter.probes.trace import Step


async def probe(target: ProbeTarget, settings: ProbeSettings) -> ProbeOutcome:
    """Handshake with the target's address as if it were its host. `phases` holds the steps that started."""
    return await closing(await open_tls(target, settings))


async def open_tls(target: ProbeTarget, settings: ProbeSettings) -> tuple[ProbeOutcome, TLSStream | None]:
    """As `probe`, and when the handshake succeeded, the open stream: the caller closes it."""
    outcome, stream = await _open_tls(target.host, target.address, target.port, settings)
    judged = judge_interception(outcome, target.flags)
    if judged is not outcome:
        trace.emit(Step.TLS, f"{judged.reason}: {judged.detail}", reason=str(judged.reason))
    if judged is not outcome and stream is not None:
        await anyio.aclose_forcefully(stream)
        stream = None
    return judged, stream


def judge_interception(outcome: ProbeOutcome, flags: frozenset[Flag]) -> ProbeOutcome:
    """An intercepted handshake fails endpoints on which the page says TLS inspection is unsupported."""
    if not outcome.intercepted or Flag.SSL_INSPECTION_UNSUPPORTED not in flags:
        return outcome
    certificate = outcome.certificate
    product = f", {certificate.product}" if certificate is not None and certificate.product else ""
    return replace(
        outcome,
        ok=False,
        reason=Reason.TLS_INTERCEPTED,
        detail=f"TLS inspected (certificate issued by {issuer_name(certificate)}{product}); "
        "unsupported on this endpoint",
    )


async def _open_tls(
    host: str, address: str, port: int, settings: ProbeSettings
) -> tuple[ProbeOutcome, TLSStream | None]:
    phases: dict[Phase, float] = {}
    try:
        stream = await _tls_stream(host, address, port, settings, settings.trust, phases)
    except ProbeFailed as failure:
        der = None
        if failure.reason in CERTIFICATE_REASONS:
            trace.emit(Step.TLS, "handshaking again, verifying nothing, to read the certificate")
            der = await _unverified_leaf(host, address, port, settings)
        certificate = _describe(der, host, verified=False)
        if (
            certificate is not None
            and failure.reason is Reason.TLS_UNTRUSTED
            and settings.inspection_trust is not None
            and not interception.exempt(certificate, settings)
        ):
            accepted = await _accepted_by_inspection_trust(host, address, port, settings)
            if not isinstance(accepted, ProbeFailed):
                return accepted
            if accepted.reason in CERTIFICATE_REASONS - {Reason.TLS_UNTRUSTED}:
                failure = accepted  # the inspection CA signed it: what devices trusting that CA see
        refusal = await interception.judge_refusal(
            failure.reason, failure.detail, certificate, der, host, settings
        )
        if trace.active() and der is not None:
            verdict, why = interception.judgement(certificate, settings, der)
            _trace_judgement(
                refusal.intercepted, why if verdict == refusal.intercepted else refusal.detail, certificate
            )
        failed = ProbeOutcome(
            ok=False,
            reason=refusal.reason,
            detail=refusal.detail,
            phases=phases,
            certificate=certificate,
            intercepted=refusal.intercepted,
        )
        return failed, None
    der = _peer_certificate(stream)
    certificate = _describe(der, host, verified=True)
    intercepted, why = interception.judgement(certificate, settings, der)
    if trace.active():
        _trace_judgement(intercepted, why, certificate)
    return ProbeOutcome(ok=True, phases=phases, certificate=certificate, intercepted=intercepted), stream


async def _accepted_by_inspection_trust(
    host: str, address: str, port: int, settings: ProbeSettings
) -> tuple[ProbeOutcome, TLSStream] | ProbeFailed:
    """The outcome for devices that trust the organisation's inspection CA if the chain verifies there,
    else why that handshake failed."""
    assert settings.inspection_trust is not None
    trace.emit(Step.TLS, "handshaking again, trusting tls.inspection_ca_file too")
    phases: dict[Phase, float] = {}
    try:
        stream = await _tls_stream(host, address, port, settings, settings.inspection_trust, phases)
    except ProbeFailed as failure:
        return failure
    certificate = _describe(_peer_certificate(stream), host, verified=False)
    return ProbeOutcome(ok=True, phases=phases, certificate=certificate, intercepted=True), stream


async def _tls_stream(
    host: str,
    address: str,
    port: int,
    settings: ProbeSettings,
    context: ssl.SSLContext,
    phases: dict[Phase, float],
) -> TLSStream:
    """Connect and handshake; `phases` gets the steps that started, the one that failed included (a tarpit
    costs the whole timeout). The caller closes the stream."""
    started = time.perf_counter()
    try:
        stream = await connect(
            address, settings.dial_port(port), settings.timeouts[Phase.CONNECT], settings.proxy
        )
    finally:
        phases[Phase.CONNECT] = time.perf_counter() - started
    started = time.perf_counter()
    try:
        tls_stream = await handshake(stream, host, context, settings.timeouts[Phase.TLS])
    except BaseException:
        await anyio.aclose_forcefully(stream)
        raise
    finally:
        phases[Phase.TLS] = time.perf_counter() - started
    return tls_stream


def _peer_certificate(stream: TLSStream) -> bytes | None:
    der: bytes | None = stream.extra(TLSAttribute.peer_certificate_binary)
    return der


async def handshake(stream: SocketStream, host: str, context: ssl.SSLContext, timeout: float) -> TLSStream:
    """TLS over `stream` for `host` (SNI and name checks), or ProbeFailed with a TLS_* reason. No ALPN
    is offered: a TLS-only service need not speak HTTP, and servers default to HTTP/1.1 without it."""
    started = time.perf_counter()
    try:
        tls_stream = await _wrap(stream, host, context, timeout)
    except ProbeFailed as failure:
        trace.emit(
            Step.TLS, f"handshake failed: {failure.reason} ({failure.detail})", reason=str(failure.reason)
        )
        raise
    if trace.active():
        _trace_handshake(tls_stream, host, context, time.perf_counter() - started)
    return tls_stream


async def _wrap(stream: SocketStream, host: str, context: ssl.SSLContext, timeout: float) -> TLSStream:
    try:
        with anyio.fail_after(timeout):
            return await TLSStream.wrap(stream, hostname=host, ssl_context=context, standard_compatible=False)
    except TimeoutError as exc:
        if exc.errno is None:
            raise ProbeFailed(Reason.TLS_TIMEOUT, f"no TLS handshake within {timeout:g}s") from None
        raise tls_failure(exc) from None
    except (OSError, anyio.EndOfStream, anyio.BrokenResourceError) as exc:
        raise tls_failure(exc) from None


def _trace_handshake(stream: TLSStream, host: str, context: ssl.SSLContext, seconds: float) -> None:
    cipher = stream.extra(TLSAttribute.cipher)
    version = stream.extra(TLSAttribute.tls_version)
    alpn = stream.extra(TLSAttribute.alpn_protocol)
    verified = context.verify_mode is not ssl.CERT_NONE
    checked = "chain and name verified" if verified else "nothing verified"
    trace.emit(
        Step.TLS,
        f"{version} {cipher[0]}, ALPN {alpn or 'none'}, SNI {host}, {checked}, "
        f"in {trace.milliseconds(seconds)}",
        version=version,
        cipher=cipher[0],
        alpn=alpn,
        sni=host,
        verified=verified,
        seconds=seconds,
    )
    for depth, link in enumerate(sent_chain(stream.extra(TLSAttribute.ssl_object))):
        trace.emit(
            Step.TLS,
            f"certificate {depth}: {link.subject}, issued by {link.issuer}, expires {link.not_after}",
            depth=depth,
            subject=link.subject,
            issuer=link.issuer,
            not_after=link.not_after,
        )


def _trace_judgement(intercepted: bool | None, why: str, certificate: Certificate | None) -> None:
    verdict = {True: "intercepted", False: "not intercepted", None: "interception unknown"}[intercepted]
    issuer = issuer_name(certificate)
    trace.emit(Step.TLS, f"{verdict} (issuer {issuer}): {why}", intercepted=intercepted, issuer=issuer)


async def _unverified_leaf(host: str, address: str, port: int, settings: ProbeSettings) -> bytes | None:
    try:
        stream = await _tls_stream(host, address, port, settings, _inspecting_context(), {})
    except ProbeFailed:
        return None
    der = _peer_certificate(stream)
    # Closing the TCP stream ends the TLS session with it (no close_notify wanted).
    await anyio.aclose_forcefully(stream)
    return der


def _describe(der: bytes | None, host: str, *, verified: bool) -> Certificate | None:
    if der is None:
        return None
    try:
        return describe_certificate(der, host, verified=verified)
    except ValueError:  # OpenSSL accepted what cryptography's stricter parser refuses
        return None


@functools.cache
def _inspecting_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context

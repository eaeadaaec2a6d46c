"""One-shot check: a verdict per endpoint set from one cycle's results (see check_text, check_json)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from enum import StrEnum

from exporter.catalogue import EndpointSet
from exporter.plan.targets import Target, TargetPlan
from exporter.probes.certificates import issuer_line
from exporter.probes.outcome import Certificate
from exporter.results.store import TargetResult


class Verdict(StrEnum):
    OK = "OK"
    PARTIAL = "PARTIAL"
    FAIL = "FAIL"
    UNPROBED = "UNPROBED"


@dataclass(frozen=True)
class SetReport:
    set_id: str
    name: str
    required: bool
    verdict: Verdict
    up: int
    total: int
    failures: list[TargetResult]
    unprobed: list[str]
    section: str = ""
    impact: str = ""
    """What breaks for users when the set fails: the catalogue's `impact`, else one derived from the name."""
    address_problems: list[TargetResult] = field(default_factory=list)
    """Targets that are up, yet some of their resolved addresses failed the probe."""


def reports(plan: TargetPlan, results: dict[Target, TargetResult]) -> list[SetReport]:
    out = []
    for endpoint_set in plan.sets:
        targets = plan.targets_of(endpoint_set.id)
        probed = [results[t] for t in targets if t in results]
        failures = [r for r in probed if not r.outcome.ok]
        address_problems = [r for r in probed if r.outcome.ok and r.failing_addresses()]
        up = len(probed) - len(failures)
        if not probed:
            verdict = Verdict.UNPROBED
        elif not failures:
            verdict = Verdict.OK
        elif up:
            verdict = Verdict.PARTIAL
        else:
            verdict = Verdict.FAIL
        unprobed = plan.unprobed_wildcards.get(endpoint_set.id, [])
        out.append(
            SetReport(
                endpoint_set.id,
                endpoint_set.name,
                endpoint_set.required,
                verdict,
                up,
                len(probed),
                failures,
                unprobed,
                endpoint_set.section,
                impact_of(endpoint_set),
                address_problems,
            )
        )
    return out


def impact_of(endpoint_set: EndpointSet) -> str:
    """The set's `impact`; sets without one (user catalogues, extra endpoints) get one from their name."""
    return endpoint_set.impact or f"What needs {endpoint_set.name!r} fails: its endpoints are unreachable."


AddressRecord = dict[str, str | bool]
Record = dict[str, str | int | bool | list[AddressRecord] | None]


def address_records(result: TargetResult) -> list[AddressRecord]:
    """{address, family, ok, reason} per address probed, in the order a client tries them (reason '' when
    ok); empty when resolution failed or a proxy resolved the name."""
    return [
        {
            "address": probe.address,
            "family": probe.family,
            "ok": probe.ok,
            "reason": probe.reason.value if probe.reason is not None else "",
        }
        for probe in result.per_address
    ]


def failure_record(result: TargetResult) -> Record:
    """A failing target as `check --format json` and `/api/status` both show it (docs/status.md)."""
    target, outcome = result.target, result.outcome
    return {
        "host": target.host,
        "port": target.port,
        "protocol": target.protocol.value,
        "path": target.path.value,
        "via": target.via,
        "reason": outcome.reason.value if outcome.reason is not None else "",
        "detail": outcome.detail,
        "address": result.address,
        "family": address_family(result.address),
        "intercepted": outcome.intercepted,
        "issuer": issuer_name(outcome.certificate),
        "product": inspection_product(outcome.certificate),
        "addresses": address_records(result),
    }


def address_problem_record(result: TargetResult) -> Record:
    """A target that is up while some of its addresses fail, as `check --format json` and `/api/status`
    show it: the address it is up through and every address probed."""
    target = result.target
    return {
        "host": target.host,
        "port": target.port,
        "protocol": target.protocol.value,
        "address": result.address,
        "family": address_family(result.address),
        "addresses": address_records(result),
    }


def address_problem_line(result: TargetResult) -> str:
    """'host:443/https up, but 10.0.0.9 (ipv4) connect_timeout, ...': the addresses a client may be handed
    and fail on although the endpoint works through another."""
    target = result.target
    failing = ", ".join(
        f"{probe.address} ({probe.family}) {probe.reason}" for probe in result.failing_addresses()
    )
    return f"{target.host}:{target.port}/{target.protocol} up, but {failing}"


def address_family(address: str) -> str:
    """'ipv4' or 'ipv6' for the address dialled; '' when there is none (resolution failed) or it is a name
    (a proxy resolved it)."""
    try:
        return f"ipv{ipaddress.ip_address(address).version}"
    except ValueError:
        return ""


def issuer_name(certificate: Certificate | None) -> str:
    """Who issued the certificate presented: its CN, else its O, else the whole issuer DN; '' without one."""
    return issuer_line(certificate) if certificate is not None else ""


def inspection_product(certificate: Certificate | None) -> str:
    """The TLS-inspection product the issuer identifies; '' when unknown or without a certificate."""
    return certificate.product if certificate is not None else ""


def failure_line(result: TargetResult) -> str:
    """'host:port/protocol reason (issued by ISSUER, PRODUCT; intercepted) ADDRESS (detail)': the evidence in
    the first parentheses when a certificate was seen, the address dialled when it is not the host itself,
    then the path when the target was probed through a proxy, and the detail."""
    target, outcome = result.target, result.outcome
    line = f"{target.host}:{target.port}/{target.protocol} {outcome.reason}"
    evidence = _evidence(result)
    if evidence:
        line += f" ({evidence})"
    if result.address and result.address != target.host:
        line += f" {result.address}"
    if target.via:
        line += f" [{target.path} via {target.via}]"
    return f"{line} ({outcome.detail})" if outcome.detail else line


def _evidence(result: TargetResult) -> str:
    """'issued by Zscaler Root CA, Zscaler; intercepted' (issuer, product, judgement: each when known); ''
    when the probe saw no certificate."""
    certificate, intercepted = result.outcome.certificate, result.outcome.intercepted
    parts = []
    issuer, product = issuer_name(certificate), inspection_product(certificate)
    if issuer:
        parts.append(f"issued by {issuer}, {product}" if product else f"issued by {issuer}")
    elif product:
        parts.append(product)
    if intercepted is not None:
        parts.append("intercepted" if intercepted else "not intercepted")
    return "; ".join(parts)


def failed_required(set_reports: list[SetReport]) -> bool:
    return any(r.required for r in failing(set_reports))


def failing(set_reports: list[SetReport]) -> list[SetReport]:
    return [r for r in set_reports if r.verdict in (Verdict.FAIL, Verdict.PARTIAL)]

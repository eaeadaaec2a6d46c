"""The HTML status page at `/`: one self-contained document, inline CSS, no scripts, every text escaped."""

from __future__ import annotations

from html import escape

from exporter.results.verdicts import Verdict
from exporter.web.status import AddressProbe, AddressProblem, FailingTarget, SetStatus, Status, TlsIssuer, iso

_BADGE = {
    Verdict.FAIL: "fail",
    Verdict.PARTIAL: "partial",
    Verdict.UNPROBED: "unprobed",
    Verdict.OK: "ok",
}


def ago(now: float, then: float) -> str:
    """'12 s ago', '5 min ago', '3 h ago'."""
    seconds = max(0, round(now - then))
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"


def _when(now: float, then: float | None, gap: str = "<br>") -> str:
    if then is None:
        return "never"
    return f'<time datetime="{iso(then)}">{iso(then)}</time>{gap}<span class="ago">({ago(now, then)})</span>'


def _issuer(issuer: TlsIssuer) -> str:
    name = issuer.cn or issuer.org or "unnamed issuer"
    text = escape(name + (f" ({issuer.org})" if issuer.org and issuer.cn else ""))
    text += f' <span class="tag">{escape(issuer.product)}</span>' if issuer.product else ""
    return text + (' <span class="tag warn">intercepted</span>' if issuer.intercepted else "")


def _probe(probe: AddressProbe) -> str:
    """'10.0.0.9 (ipv4) connect_timeout' or '10.0.0.1 (ipv4) up'."""
    return f"{probe.address} ({probe.family}) {probe.reason if not probe.ok else 'up'}"


def _addresses(probes: tuple[AddressProbe, ...]) -> str:
    """The compact list of a target's addresses: one line, the failing ones marked."""
    items = (f'<span class="addr{"" if p.ok else " bad"}">{escape(_probe(p))}</span>' for p in probes)
    return '<span class="addresses">addresses: ' + ", ".join(items) + "</span>"


def _address_problem(problem: AddressProblem) -> str:
    where = f"{problem.host}:{problem.port}/{problem.protocol}"
    failing = ", ".join(_probe(probe) for probe in problem.failing())
    return (
        f'<li class="address-problem"><code>{escape(where)}</code> up, but '
        f'<span class="reason">{escape(failing)}</span> {_addresses(problem.addresses)}</li>'
    )


def _failure(failing: FailingTarget) -> str:
    where = f"{failing.host}:{failing.port}/{failing.protocol}"
    parts = [f'<code>{escape(where)}</code> <span class="reason">{escape(failing.reason)}</span>']
    if failing.detail:
        parts.append(f'<span class="detail">{escape(failing.detail)}</span>')
    facts = []
    if failing.path != "direct":
        facts.append(f"{failing.path} via {failing.via}" if failing.via else failing.path)
    facts.append(f"address {failing.address}" if failing.address else "not resolved")
    if failing.tls_issuer is not None:
        facts.append("issuer " + failing.tls_issuer.cn)
    parts.append(f'<span class="facts">{escape("; ".join(facts))}</span>')
    if len(failing.addresses) > 1:
        parts.append(_addresses(failing.addresses))
    if failing.tls_issuer is not None and failing.tls_issuer.intercepted:
        parts.append('<span class="tag warn">intercepted</span>')
    return "<li>" + " ".join(parts) + "</li>"


def _set_row(endpoint_set: SetStatus, now: float) -> str:
    verdict = endpoint_set.verdict
    name = escape(endpoint_set.name)
    if endpoint_set.required:
        name += ' <span class="tag">required</span>'
    about = escape(endpoint_set.section)
    if endpoint_set.impact and verdict in (Verdict.FAIL, Verdict.PARTIAL):
        about += f'<br><span class="impact">{escape(endpoint_set.impact)}</span>'
    problems = "".join(_failure(f) for f in endpoint_set.failing)
    problems += "".join(_address_problem(p) for p in endpoint_set.address_problems)
    if endpoint_set.unprobed_wildcards:
        wildcards = escape(", ".join(endpoint_set.unprobed_wildcards))
        problems += f'<li class="muted">DNS-level check only (no representative host): {wildcards}</li>'
    issuers = "<br>".join(_issuer(i) for i in endpoint_set.tls_issuers) or '<span class="muted">-</span>'
    return (
        f'<tr id="set-{escape(endpoint_set.id)}" class="{_BADGE[verdict]}">'
        f'<td><span class="badge {_BADGE[verdict]}">{escape(verdict.value)}</span></td>'
        f"<td><code>{escape(endpoint_set.id)}</code></td>"
        f'<td>{name}<div class="section">{about}</div></td>'
        f'<td class="num">{endpoint_set.up}/{endpoint_set.total}</td>'
        f"<td>{f'<ul>{problems}</ul>' if problems else ''}</td>"
        f"<td>{issuers}</td>"
        f'<td class="when">{_when(now, endpoint_set.last_probe_at)}</td>'
        "</tr>"
    )


def _summary(status: Status) -> str:
    summary = status.summary
    cards = (
        ("fail", summary.sets_failing, "sets failing"),
        ("partial", summary.sets_partial, "sets partial"),
        ("unprobed", summary.sets_unprobed, "sets unprobed"),
        ("ok", summary.sets_ok, "sets OK"),
        ("fail" if summary.targets_failing else "ok", summary.targets_failing, "targets failing"),
    )
    items = "".join(
        f'<div class="card {kind}" id="count-{label.replace(" ", "-")}"><b>{count}</b> {label}</div>'
        for kind, count, label in cards
    )
    return f'<div class="cards">{items}</div>'


def _facts(status: Status) -> str:
    facts, now = status.exporter, status.generated_at
    lines = [
        f"Probing {facts.targets} targets in {facts.sets} endpoint sets "
        f"({status.summary.targets_probed} with results); configuration: "
        f"<code>{escape(facts.config_source)}</code>.",
    ]
    if facts.last_cycle_finished_at is not None and facts.last_cycle_duration_seconds is not None:
        finished = _when(now, facts.last_cycle_finished_at, " ")
        lines.append(
            f"Probe cycles completed: {facts.cycles_completed}; the last took "
            f"{facts.last_cycle_duration_seconds:.1f} s and finished at {finished}."
        )
    return "".join(f"<p>{line}</p>" for line in lines)


def render_page(status: Status) -> str:
    facts = status.exporter
    banner = ""
    if not facts.ready:
        banner = _FIRST_CYCLE
    rows = "".join(_set_row(s, status.generated_at) for s in status.sets)
    return _PAGE.format(
        version=escape(facts.version),
        generated=iso(status.generated_at),
        banner=banner,
        summary=_summary(status),
        facts=_facts(status),
        rows=rows,
    )


_FIRST_CYCLE = (
    '<p class="banner" id="first-cycle">First probe cycle running; results appear when it ends.</p>'
)

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Intune endpoint exporter</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #1d2330; background: #fff; }}
h1 {{ font-size: 1.4em; margin: 0 0 .2em; }}
header .sub, .muted, .ago, .section {{ color: #5b6475; }}
nav a {{ margin-right: 1em; }}
.banner {{ background: #fff4d6; border: 1px solid #e0b64a; padding: .6em 1em; font-weight: 600; }}
.cards {{ display: flex; gap: .6em; flex-wrap: wrap; margin: 1em 0; }}
.card {{ border: 1px solid #d5d9e0; border-left-width: 6px; padding: .4em .9em; min-width: 8em; }}
.card b {{ font-size: 1.5em; margin-right: .2em; }}
.card.fail {{ border-left-color: #c62828; }} .card.partial {{ border-left-color: #ef8f00; }}
.card.unprobed {{ border-left-color: #8a93a3; }} .card.ok {{ border-left-color: #2e7d32; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ border-bottom: 1px solid #e3e6eb; padding: .35em .5em; text-align: left; vertical-align: top; }}
th {{ background: #f3f5f8; position: sticky; top: 0; }}
tr.fail td {{ background: #fdf1f1; }} tr.partial td {{ background: #fff8ec; }}
td ul {{ margin: 0; padding-left: 1.1em; }}
td li {{ margin-bottom: .3em; overflow-wrap: break-word; }}
.num, .when {{ white-space: nowrap; }}
.badge {{ display: inline-block; min-width: 5.5em; text-align: center; padding: .1em .4em; border-radius: 3px;
  color: #fff; font-weight: 700; font-size: .85em; }}
.badge.fail {{ background: #c62828; }} .badge.partial {{ background: #d97b00; }}
.badge.unprobed {{ background: #79828f; }} .badge.ok {{ background: #2e7d32; }}
.tag {{ font-size: .75em; border: 1px solid #8a93a3; border-radius: 3px; padding: 0 .3em; color: #5b6475; }}
.tag.warn {{ border-color: #c62828; color: #c62828; }}
.reason {{ font-weight: 600; color: #b71c1c; }}
.detail, .facts, .impact, .addresses {{ display: block; font-size: .9em; color: #5b6475; }}
.addr.bad {{ color: #b71c1c; }}
.impact {{ color: #8a4b00; }}
code {{ font-family: ui-monospace, monospace; font-size: .95em; }}
footer {{ margin-top: 1.5em; color: #5b6475; }}
</style></head>
<body>
<header>
<h1>Intune endpoint exporter {version}</h1>
<div class="sub">Status at <time datetime="{generated}">{generated}</time> (UTC)</div>
<nav><a href="metrics">/metrics</a><a href="api/status">/api/status</a><a href="healthz">/healthz</a>\
<a href="ready">/ready</a></nav>
</header>
{banner}
{summary}
{facts}
<table>
<colgroup><col style="width: 6.5em"><col style="width: 4.5em"><col style="width: 24%">\
<col style="width: 3.5em"><col><col style="width: 12em"><col style="width: 10.5em"></colgroup>
<thead><tr><th>Verdict</th><th>Set</th><th>Name and section</th><th>Up</th>\
<th>Failing targets and addresses</th><th>TLS issuer</th><th>Last probe (UTC)</th></tr></thead>
<tbody>
{rows}
</tbody></table>
<footer>Refresh the page for new results; the same data as JSON: <a href="api/status">api/status</a>.</footer>
</body></html>
"""

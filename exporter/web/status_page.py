"""The HTML status page at `/`: one self-contained document, inline CSS, no scripts, every text escaped."""

from __future__ import annotations

from html import escape

from exporter.results.verdicts import Verdict
from exporter.web.status import (
    AddressProbe,
    AddressProblem,
    FailingTarget,
    HistoryCell,
    SetStatus,
    SetWarning,
    Status,
    StormStatus,
    TargetFailures,
    TlsIssuer,
    iso,
)

DEFAULT_REFRESH_SECONDS = 60
"""The page reloads itself this often unless `?refresh=0` turns it off."""
REFRESH_BOUNDS = (15, 300)

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


def refresh_seconds(values: list[str]) -> int:
    """The page's auto-refresh from the `refresh` query values: 0 turns it off, other numbers are kept
    within REFRESH_BOUNDS, anything else (or nothing) gives DEFAULT_REFRESH_SECONDS."""
    try:
        seconds = int(values[-1])
    except (IndexError, ValueError):
        return DEFAULT_REFRESH_SECONDS
    if seconds == 0:
        return 0
    low, high = REFRESH_BOUNDS
    return min(max(seconds, low), high)


_JUDGEMENT = {
    True: "judged intercepted (TLS inspection)",
    False: "judged not intercepted",
    None: "not judged",
}


def _issuer(issuer: TlsIssuer) -> str:
    """One short line (CN, product, intercepted); the whole issuer name, product and judgement on hover."""
    name = issuer.cn or issuer.org or "unnamed issuer"
    details = [f"issuer: {issuer.dn or issuer.cn or '-'}", f"organisation: {issuer.org or '-'}"]
    details += [f"product: {issuer.product}"] if issuer.product else []
    details.append(_JUDGEMENT[issuer.intercepted])
    text = escape(name)
    text += f' <span class="tag">{escape(issuer.product)}</span>' if issuer.product else ""
    text += ' <span class="tag warn">intercepted</span>' if issuer.intercepted else ""
    return f'<div class="issuer" title="{escape("; ".join(details))}">{text}</div>'


def _issuers(issuers: tuple[TlsIssuer, ...]) -> str:
    if not issuers:
        return '<span class="muted">-</span>'
    return "".join(_issuer(i) for i in issuers)


_WARNING_TEXT = {
    "outside_published_ranges": "DNS answers outside the published ranges",
    "tls_intercepted": "up through TLS inspection",
}


def _warning(warning: SetWarning) -> str:
    addresses = f" ({', '.join(warning.addresses)})" if warning.addresses else ""
    text = f"{_WARNING_TEXT.get(warning.kind, warning.kind)}: {warning.host}{addresses}"
    return f'<li class="warning"><span class="tag warn">warning</span> {escape(text)}</li>'


def _cell_title(cell: HistoryCell) -> str:
    """'2026-01-31T12:00:00Z PARTIAL 2/3 up'."""
    return f"{iso(cell.at)} {cell.verdict.value} {cell.up}/{cell.total} up"


def _history(cells: tuple[HistoryCell, ...]) -> str:
    """One box per cycle, oldest first, coloured by the set's verdict then; time and up/total on hover."""
    if not cells:
        return ""
    boxes = "".join(
        f'<span class="cycle {_BADGE[c.verdict]}" title="{_cell_title(c)}"></span>' for c in cells
    )
    return f'<div class="history" title="last {len(cells)} cycles, oldest first">{boxes}</div>'


def _recent(targets: tuple[TargetFailures, ...]) -> str:
    """A `<details>` listing each target's last failures, newest first."""
    if not targets:
        return ""
    items = []
    for target in targets:
        where = f"{target.host}:{target.port}/{target.protocol}" + (" (up again)" if target.up else "")
        lines = "".join(
            f'<li><time datetime="{iso(f.at)}">{iso(f.at)}</time> '
            f'<span class="reason">{escape(f.reason)}</span> {escape(f.address or "not resolved")}'
            f"{f' <span class=detail>{escape(f.detail)}</span>' if f.detail else ''}</li>"
            for f in target.failures
        )
        items.append(f"<li><code>{escape(where)}</code><ol>{lines}</ol></li>")
    count = sum(len(t.failures) for t in targets)
    return (
        f'<details class="recent"><summary>recent failures ({count})</summary><ul>{"".join(items)}</ul>'
        "</details>"
    )


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
    badge = f'<span class="badge {_BADGE[verdict]}">{escape(verdict.value)}</span>'
    if endpoint_set.warnings:
        badge += ' <span class="badge warning">warning</span>'
    name = escape(endpoint_set.name)
    if endpoint_set.required:
        name += ' <span class="tag">required</span>'
    about = escape(endpoint_set.section)
    if endpoint_set.impact and verdict in (Verdict.FAIL, Verdict.PARTIAL):
        about += f'<br><span class="impact">{escape(endpoint_set.impact)}</span>'
    problems = "".join(_warning(w) for w in endpoint_set.warnings)
    problems += "".join(_failure(f) for f in endpoint_set.failing)
    problems += "".join(_address_problem(p) for p in endpoint_set.address_problems)
    if endpoint_set.unprobed_wildcards:
        wildcards = escape(", ".join(endpoint_set.unprobed_wildcards))
        problems += f'<li class="muted">DNS-level check only (no representative host): {wildcards}</li>'
    recent = _recent(endpoint_set.recent_failures)
    return (
        f'<tr id="set-{escape(endpoint_set.id)}" class="{_BADGE[verdict]}">'
        f"<td>{badge}</td>"
        f"<td><code>{escape(endpoint_set.id)}</code></td>"
        f'<td>{name}<div class="section">{about}</div>{_history(endpoint_set.history)}</td>'
        f'<td class="num">{endpoint_set.up}/{endpoint_set.total}</td>'
        f"<td>{f'<ul>{problems}</ul>' if problems else ''}{recent}</td>"
        f'<td class="issuers">{_issuers(endpoint_set.tls_issuers)}</td>'
        f'<td class="when">{_when(now, endpoint_set.last_probe_at)}</td>'
        "</tr>"
    )


def _summary(status: Status) -> str:
    summary = status.summary
    cards = (
        ("fail", summary.required_sets_failing, "required sets failing"),
        (
            "fail" if summary.optional_sets_failing else "ok",
            summary.optional_sets_failing,
            "optional sets failing",
        ),
        ("partial", summary.required_sets_partial, "required sets partial"),
        (
            "partial" if summary.optional_sets_partial else "ok",
            summary.optional_sets_partial,
            "optional sets partial",
        ),
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


def _refresh_link(refresh: int) -> str:
    """The control that turns auto-refresh off or on: a relative link, so it works behind a path prefix."""
    if refresh:
        return (
            f'<span id="refresh">Reloads every {refresh} s '
            '(<a href="?refresh=0">turn auto-refresh off</a>)</span>'
        )
    return (
        '<span id="refresh">Auto-refresh off '
        f'(<a href="?refresh={DEFAULT_REFRESH_SECONDS}">turn it on</a>)</span>'
    )


def render_page(status: Status, refresh: int = DEFAULT_REFRESH_SECONDS) -> str:
    """The page; it reloads itself every `refresh` seconds (0: never)."""
    facts = status.exporter
    banner = _FIRST_CYCLE if not facts.ready else ""
    banner += _storm(status.storm) if status.storm else ""
    rows = "".join(_set_row(s, status.generated_at) for s in status.sets)
    return _PAGE.format(
        refresh_meta=f'<meta http-equiv="refresh" content="{refresh}">\n' if refresh else "",
        refresh_link=_refresh_link(refresh),
        version=escape(facts.version),
        generated=iso(status.generated_at),
        banner=banner,
        summary=_summary(status),
        facts=_facts(status),
        rows=rows,
    )


_CAUSE_TEXT = {
    "resolver": "the resolver",
    "egress": "egress (firewall, route)",
    "proxy": "the proxy",
    "tls_inspection": "TLS inspection",
}


def _storm(storm: StormStatus) -> str:
    """The banner: most targets fail for one reason, so look next to the exporter first."""
    cause = _CAUSE_TEXT.get(storm.cause)
    likely = f" Likely cause: <strong>{escape(cause)}</strong>." if cause else ""
    return (
        f'<p class="banner storm" id="storm">Most targets fail the same way: {storm.failing} of '
        f'{storm.targets} targets fail with <span class="reason">{escape(storm.reason)}</span>.{likely} '
        f"{escape(storm.advice[:1].upper() + storm.advice[1:])}.</p>"
    )


_FIRST_CYCLE = (
    '<p class="banner" id="first-cycle">First probe cycle running; results appear when it ends.</p>'
)

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
{refresh_meta}<title>Intune endpoint exporter</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #1d2330; background: #fff; }}
h1 {{ font-size: 1.4em; margin: 0 0 .2em; }}
header .sub, .muted, .ago, .section {{ color: #5b6475; }}
nav a {{ margin-right: 1em; }}
.banner {{ background: #fff4d6; border: 1px solid #e0b64a; padding: .6em 1em; font-weight: 600; }}
.banner.storm {{ background: #fde7e7; border-color: #c62828; font-weight: 400; }}
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
.badge.warning {{ background: #b26a00; min-width: 0; margin-top: .2em; }}
.issuer {{ white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }}
.history {{ display: flex; gap: 1px; margin-top: .3em; height: 10px; }}
.cycle {{ width: 5px; height: 10px; }}
.cycle.ok {{ background: #2e7d32; }} .cycle.partial {{ background: #ef8f00; }}
.cycle.fail {{ background: #c62828; }} .cycle.unprobed {{ background: #b8bec8; }}
details.recent summary {{ cursor: pointer; color: #5b6475; font-size: .9em; }}
details.recent ol {{ margin: 0; padding-left: 1.2em; font-size: .9em; }}
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
<div class="sub">Status at <time datetime="{generated}">{generated}</time> (UTC). {refresh_link}</div>
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
<footer>The same data as JSON: <a href="api/status">api/status</a>.</footer>
</body></html>
"""

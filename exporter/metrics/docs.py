"""docs/metrics.md, generated: the metric table (`exporter.metrics.table`) and the `reason` vocabularies,
between fixed prose. `tests/metrics/test_docs.py` holds the committed file to `markdown()`.

Regenerate: python -m exporter.metrics.docs > docs/metrics.md
"""

from __future__ import annotations

import sys
from collections.abc import Container, Iterable, Mapping, Sequence
from enum import Enum

from exporter.metrics.table import (
    ENDPOINT_PROBE_TIMESTAMP,
    ENDPOINT_TLS_INTERCEPTED,
    EXPORTER_SERIES_DROPPED,
    METRICS,
    REFERENCE_FETCH_FAILURES,
    MetricSpec,
)
from exporter.probes.outcome import Reason
from exporter.reference.types import FetchFailure

REGENERATE = "python -m exporter.metrics.docs > docs/metrics.md"

INTRO = f"""\
# Metrics

<!-- Generated from exporter/metrics/table.py by exporter/metrics/docs.py: do not edit.
Regenerate: {REGENERATE} -->

The exporter probes on its own schedule (`interval`, default 60 s) and a scrape only reads the latest
results: scraping never starts or waits for a probe. Samples carry no timestamps;
`{ENDPOINT_PROBE_TIMESTAMP.name}` tells when each result was taken.

`/metrics` answers in the Prometheus text format 0.0.4 (gzip-compressed when the scraper accepts it, as
Prometheus does). The per-endpoint series are formatted once per probe result, when the result arrives, so
a scrape only joins text: about 25 ms for the 15 MB of 10,000 targets ([benchmarks.md](benchmarks.md)).
`max_series` caps them; see `{EXPORTER_SERIES_DROPPED.name}`.

Labels used throughout:

| label | meaning |
| --- | --- |
| `set_id` | endpoint set id: Microsoft's number (`163`) or our stable id for unnumbered sections (`asu-na`, `maa`, ...) |
| `host` | concrete host probed, lower-case; for a wildcard entry, its representative host |
| `port` | port as listed in the catalogue (also when `port_remap` dials another one) |
| `protocol` | `tcp` (connect), `tls` (handshake), `http` (request on port 80), `https` (handshake, then a request on that connection), `ntp` (SNTP over UDP), `dns` (zone check of a wildcard without a representative host: `host` is the zone, `*.` removed, and `port` is 53) |
| `phase` | `dns`, `connect`, `tls`, `http`, `ntp` |
| `path` | `direct`; `proxy` (through the configured HTTP proxy); `proxy_anonymous` (through it without credentials, for the hosts the page says need unauthenticated access). See [network.md](network.md). |

A target (host, port, protocol) listed by several sets is probed once per cycle and reported under each set.
"""  # noqa: E501  (Markdown table rows)

METRICS_INTRO = """\
## Exporter metrics

The meaning starts with the metric's `# HELP` text. Every series of `/metrics` is in this table, and only
those: the tests compare the two.
"""

REASONS_INTRO = """\
## Failure reasons

The `reason` label takes exactly one of these values. The first failing phase decides it.
"""

REASONS: Mapping[Reason, tuple[str, str]] = {
    Reason.DNS_NXDOMAIN: ("dns", "The name does not exist (NXDOMAIN)."),
    Reason.DNS_SERVFAIL: ("dns", "Every nameserver answered SERVFAIL."),
    Reason.DNS_TIMEOUT: ("dns", "No answer within the DNS timeout."),
    Reason.DNS_NO_ANSWER: ("dns", "The name exists but has no A or AAAA record."),
    Reason.DNS_ERROR: ("dns", "Any other resolver failure (detail in the log)."),
    Reason.DNS_SINKHOLED: (
        "dns",
        "Zone check (protocol `dns`): a random name below the wildcard's zone is answered with an address "
        "no Internet service has (0.0.0.0, ::, loopback, private, link-local, shared or reserved), as a "
        "DNS filter sinkholes a blocked zone.",
    ),
    Reason.CONNECT_REFUSED: (
        "connect / ntp",
        "Connection refused (TCP RST, or ICMP port unreachable for NTP).",
    ),
    Reason.CONNECT_TIMEOUT: (
        "connect",
        "No TCP handshake within the connect timeout: typically a firewall dropping packets.",
    ),
    Reason.CONNECT_UNREACHABLE: ("connect", "No route to the host or network."),
    Reason.CONNECT_ERROR: ("connect", "Any other socket error."),
    Reason.TLS_TIMEOUT: ("tls", "The TLS handshake did not finish within the TLS timeout."),
    Reason.TLS_HANDSHAKE_FAILED: (
        "tls",
        "The handshake failed or the connection was closed or reset during it.",
    ),
    Reason.TLS_UNTRUSTED: (
        "tls",
        "The chain does not verify against the trust store (an SSL-inspecting proxy's CA, or a private CA: "
        f"`{ENDPOINT_TLS_INTERCEPTED.name}` says which on evidence).",
    ),
    Reason.TLS_HOSTNAME_MISMATCH: ("tls", "The certificate does not name the host."),
    Reason.TLS_EXPIRED: ("tls", "The certificate has expired."),
    Reason.TLS_SELF_SIGNED: (
        "tls",
        "The server presented a self-signed certificate: a server misconfiguration, not inspection.",
    ),
    Reason.TLS_CHAIN_INCOMPLETE: (
        "tls",
        "The server left out its intermediate certificate: the one its certificate's AIA URL names "
        "completes the chain. Devices that have it cached work, many do not; a server misconfiguration, "
        "not inspection.",
    ),
    Reason.HTTP_TIMEOUT: ("http", "No response headers within the HTTP timeout."),
    Reason.HTTP_ERROR: ("http", "The connection failed or the response was not valid HTTP."),
    Reason.NTP_TIMEOUT: ("ntp", "No NTP reply within the NTP timeout."),
    Reason.NTP_BAD_RESPONSE: (
        "ntp",
        "A reply that is not a valid server reply to our request (wrong mode, kiss-o'-death, wrong originate "
        "timestamp, too short).",
    ),
    Reason.PROXY_AUTH_REQUIRED: ("connect / http", "The proxy answered 407 Proxy Authentication Required."),
    Reason.PROXY_REFUSED: (
        "connect / http",
        "The proxy refused the destination (403 or another 4xx): its policy blocks it.",
    ),
    Reason.PROXY_ERROR: (
        "connect / http",
        "The proxy is unreachable, failed to reach the target (5xx) or did not answer in HTTP.",
    ),
    Reason.TLS_INTERCEPTED: (
        "tls",
        f"The TLS session is inspected (see `{ENDPOINT_TLS_INTERCEPTED.name}`) on an endpoint where the page "
        "says inspection is unsupported.",
    ),
    Reason.RANGE_STRIPPED: (
        "http",
        "A byte-range request came back whole: Delivery Optimization and Win32 app downloads break.",
    ),
    Reason.PROBE_ERROR: (
        "any",
        "The probe itself failed unexpectedly: a bug in the exporter, logged with its traceback.",
    ),
}
"""Per reason: the phase that reports it, and its meaning."""

FETCH_FAILURES_INTRO = f"""\
## Reference fetch failure reasons

The `reason` label of `{REFERENCE_FETCH_FAILURES.name}`:
"""

FETCH_FAILURES: Mapping[FetchFailure, str] = {
    FetchFailure.HTTP_STATUS: "The server answered with an HTTP error status (not 429).",
    FetchFailure.RATE_LIMITED: (
        "HTTP 429: the source is asked again after an hour (or its Retry-After, if longer)."
    ),
    FetchFailure.TIMEOUT: "No complete answer within the source's timeout.",
    FetchFailure.CONNECTION: "The connection failed (DNS, refused, TLS, proxy).",
    FetchFailure.TOO_LARGE: "The body exceeded `drift.max_response_bytes`; reading stopped there.",
    FetchFailure.NOT_JSON: "The body is not JSON, for example a proxy's HTML login page.",
    FetchFailure.MALFORMED_JSON: (
        "The body is broken JSON, for example truncated, or nested more than 32 levels deep."
    ),
    FetchFailure.INVALID_TEXT: (
        "A string of the JSON is not Unicode text: a lone surrogate escape such as `\\ud800`."
    ),
    FetchFailure.BAD_SHAPE: (
        "Valid JSON of the wrong shape (not a list of endpoint sets, a version that is not a version)."
    ),
    FetchFailure.EMPTY: "A list with no usable endpoint set: never allowed to replace a good one.",
    FetchFailure.FILE_ERROR: "The reference file cannot be read.",
    FetchFailure.PARSE_ERROR: (
        "The page (drift.page) is not an edition of Microsoft's Intune endpoint page: a proxy's login or "
        "error page, text that is not UTF-8, a layout the parser does not know. The last good edition stays."
    ),
    FetchFailure.IMPLAUSIBLE: (
        "The page parsed but holds far less than the last good edition (under half its sets or CIDRs, set "
        "163 without subnets, the consolidated list gone): refused, logged once, the last good edition stays "
        "and drift does not change."
    ),
}

PROTOCOLS = """\
## What each protocol does

* DNS: one lookup per host per cycle (A and AAAA, `dns.families`), shared by every target of that host. Each
  target is probed on every address (at most `dns.max_addresses_per_family` per family, in the resolver's
  order, IPv4 first) and reported as a client falling back across them would fare: up through the first
  address that works, else the first address's failure, the failing addresses named in the detail.
* `tcp`: TCP connect, then close.
* `tls`: TCP connect and a TLS handshake with SNI, verifying the chain and host name. When verification fails,
  a second, unverified handshake fetches the certificate so the issuer is still exported.
* `http` / `https`: as above, then one `GET {http_path}` (default `/`) with the catalogue host in `Host`;
  redirects are not followed, bodies are not read.
* `ntp`: one SNTP (RFC 4330) request over UDP; the round trip is the `ntp` phase.
* `dns` (zone check): for a wildcard entry with no representative host (`*.dm.microsoft.com`), the zone's SOA
  question must not be NXDOMAIN, and two random names below it (`intune-exporter-probe-<hex>.<zone>`) must not
  be answered with a sinkhole address (`dns_sinkholed`). No lookup precedes it; the whole check has the `dns`
  timeout and its `dns` phase. It always asks the configured resolver directly, also when `proxy` is set: the
  resolver is the organisation's, and a proxy would not show what devices' DNS answers.
"""


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    def line(cells: Sequence[str]) -> str:
        return "|" + "|".join(f" {cell} " if cell else " " for cell in cells) + "|\n"

    return line(header) + line(["---"] * len(header)) + "".join(line(row) for row in rows)


def _every(vocabulary: type[Enum], documented: Container[object]) -> None:
    missing = [member.value for member in vocabulary if member not in documented]
    if missing:
        raise LookupError(f"{vocabulary.__name__} values without a documented meaning: {missing}")


def metrics_table(metrics: Sequence[MetricSpec] = METRICS) -> str:
    """The metric table; `tests/support/docs_tables.py` and readers rely on its first column."""
    rows = [
        (f"`{metric.name}`", metric.type.value, ", ".join(metric.labels), metric.description)
        for metric in metrics
    ]
    return _table(("metric", "type", "labels", "meaning"), rows)


def reasons_table() -> str:
    _every(Reason, REASONS)
    rows = [(f"`{reason.value}`", *REASONS[reason]) for reason in Reason]
    return _table(("reason", "phase", "meaning"), rows)


def fetch_failures_table() -> str:
    _every(FetchFailure, FETCH_FAILURES)
    rows = [(f"`{failure.value}`", FETCH_FAILURES[failure]) for failure in FetchFailure]
    return _table(("reason", "meaning"), rows)


def markdown() -> str:
    """The whole of docs/metrics.md."""
    sections = [
        INTRO,
        METRICS_INTRO + "\n" + metrics_table(),
        REASONS_INTRO + "\n" + reasons_table(),
        FETCH_FAILURES_INTRO + "\n" + fetch_failures_table(),
        PROTOCOLS,
    ]
    return "\n".join(sections)


if __name__ == "__main__":
    sys.stdout.buffer.write(markdown().encode("utf-8"))

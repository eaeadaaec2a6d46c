"""Microsoft's "Network endpoints for Microsoft Intune" page as a reference source (`drift.page`).

Microsoft now says the Office 365 endpoint web service (service area MEM) no longer returns accurate data for
Intune and that the page is the source of truth, so the page is what drift is measured against by default.

How the page is polled:

- at most every `check_interval` (never less than an hour), also after a failure;
- with conditional requests: the ETag and Last-Modified of the copy in use go out as If-None-Match and
  If-Modified-Since, and 304 Not Modified is a successful check that changes nothing;
- through the probes' proxy (`proxy.url`, or the environment's with `proxy.from_environment`, with the same
  credentials) and trust store (`tls.ca_file`), reading at most `drift.max_response_bytes`;
- parsed by `exporter.catalogue.page.parse_page` and converted by `convert.to_catalogue`, then handed to the
  tracker in the web service's JSON shape (`catalogue.export`), so the page is validated and compared like
  any other reference list. Attributes the page does not state (sections without ids have no category, no
  set has a web service area) are not compared, so our values for them never show as `changed`; every
  numbered set of the catalogue is in scope, whatever its service area.

A document that is not the page (a proxy's login page, an error page, text that is not UTF-8) is
`parse_error`. One that parses but holds far less than the last good edition (`implausible`) is more likely
a broken page than Microsoft deleting half its endpoints: it is refused, so the last good edition stays in
use and drift does not fill with `removed` entries.

The version of an edition is a hash of what was read from it (sets, values, edition), not of the bytes: a
page re-rendered with the same content is the same version.
"""

from __future__ import annotations

import ipaddress
import logging
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx

from exporter.catalogue.export import to_service_items
from exporter.catalogue.model import Catalogue, Edition, wildcard_matches
from exporter.catalogue.page import parse_page
from exporter.catalogue.page.convert import to_catalogue
from exporter.catalogue.page.model import PageError, ParsedPage
from exporter.config.drift import Limits, PageSettings
from exporter.reference.drift import Direction, DriftEntry, compute_drift, covering_wildcard, mark_covered
from exporter.reference.fetch import Validators, fetch_document, one_line
from exporter.reference.items import parse_reference
from exporter.reference.page_edition import implausibility
from exporter.reference.snapshot import Snapshot
from exporter.reference.sources import content_version
from exporter.reference.types import FetchFailure, InvalidEntry, ReferenceFetchError
from exporter.reference.webservice import USER_AGENT

__all__ = [
    "HttpOptions",
    "Inconsistencies",
    "PageDiff",
    "PageSource",
    "compare_page",
    "inconsistencies",
    "page_catalogue",
    "read_page",
    "reference_items",
    "snapshot_of",
]

log = logging.getLogger(__name__)

MAX_REDIRECTS = 5
KEPT_VALIDATORS = 4
MAX_WARNINGS = 50


@dataclass(frozen=True)
class HttpOptions:
    """How the page is reached: the probes' proxy and trust store."""

    proxy: str | None = None
    """An http:// proxy URL, credentials included; None to go direct."""
    verify: ssl.SSLContext | bool = True
    transport: httpx.AsyncBaseTransport | None = None
    """For tests only."""

    def client(self, timeout: float) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            timeout=timeout,
            proxy=self.proxy,
            verify=self.verify,
            trust_env=False,
            follow_redirects=True,
            max_redirects=MAX_REDIRECTS,
            headers={"User-Agent": USER_AGENT},
            transport=self.transport,
        )


# ------------------------------------------------------------------------------------------ reading


def is_url(location: str) -> bool:
    return location.startswith(("http://", "https://"))


async def read_page(location: str, *, max_bytes: int, timeout: float, http: HttpOptions) -> ParsedPage:
    """The page from a file or an http(s) URL, parsed (for the commands). Raises ReferenceFetchError when it
    cannot be read, PageError when it is not the page."""
    if is_url(location):
        async with http.client(timeout) as client:
            document = await fetch_document(client, location, max_bytes=max_bytes, timeout=timeout)
        assert document is not None  # not a conditional request
        body, content_type = document.body, document.content_type
    else:
        body = await anyio.to_thread.run_sync(_read_file, Path(location), max_bytes)
        content_type = ""
    return await anyio.to_thread.run_sync(parse_page, body, location, content_type)


def _read_file(path: Path, max_bytes: int) -> bytes:
    try:
        with path.open("rb") as file:
            body = file.read(max_bytes + 1)
    except OSError as exc:
        raise ReferenceFetchError(
            FetchFailure.FILE_ERROR, f"cannot read {path}: {exc.strerror or exc}"
        ) from None
    if len(body) > max_bytes:
        raise ReferenceFetchError(FetchFailure.TOO_LARGE, f"{path} exceeds {max_bytes} bytes")
    return body


# ------------------------------------------------------------------------------------------ converting


def page_catalogue(parsed: ParsedPage) -> Catalogue:
    """The edition in our catalogue schema, with its edition metadata (filled in when the converter left it
    out). Raises PageError when the converter refuses the edition."""
    try:
        catalogue = to_catalogue(parsed)
    except PageError:
        raise
    except ValueError as exc:  # pydantic's ValidationError is one
        first = str(exc).splitlines()
        raise PageError(f"{parsed.edition.source}: cannot convert: {one_line(' '.join(first[:3]))}") from None
    if catalogue.edition is None:
        edition = parsed.edition
        catalogue = catalogue.model_copy(
            update={
                "edition": Edition(
                    title=edition.title,
                    language=edition.locale,
                    source=f"{edition.source} ({edition.form.value})",
                    encoded_on=edition.date,
                )
            }
        )
    return catalogue


def reference_items(parsed: ParsedPage, catalogue: Catalogue | None = None) -> list[dict[str, Any]]:
    """The edition's sets in the web service's JSON shape, without the attributes the page does not state
    (so that our defaults for them never show as drift)."""
    catalogue = page_catalogue(parsed) if catalogue is None else catalogue
    stated = parsed.by_id()
    items = []
    for item in to_service_items(catalogue):
        page_set = stated.get(str(item["id"]))
        if page_set is not None:
            unstated = {
                "category": page_set.category is None,
                "required": page_set.required is None,
                "expressRoute": page_set.express_route is None,
            }
            item = {key: value for key, value in item.items() if not unstated.get(key, False)}
        items.append(item)
    return items


def _meta(parsed: ParsedPage, url: str) -> dict[str, Any]:
    edition = parsed.edition
    return {
        "edition": {
            "title": edition.title,
            "date": edition.date,
            "locale": edition.locale,
            "form": edition.form.value,
            "source": url or edition.source,
        },
        "consolidated": {
            "fqdns": len(parsed.consolidated_fqdns),
            "subnets": len(parsed.consolidated_subnets),
        },
        "warnings": [one_line(warning) for warning in parsed.warnings[:MAX_WARNINGS]],
    }


def snapshot_of(parsed: ParsedPage, source_name: str, url: str = "") -> Snapshot:
    """A snapshot of the edition for the tracker; raises PageError when it cannot be converted."""
    items = reference_items(parsed)
    meta = _meta(parsed, url)
    edition = {key: meta["edition"][key] for key in ("title", "date", "locale")}
    version = content_version({"edition": edition, "items": items})
    return Snapshot(source_name, version, time.time(), items, meta)


# ------------------------------------------------------------------------------------------ the source


class PageSource:
    """Polls the page (see the module docstring). Its snapshots are the page's sets in the web service's
    JSON shape, with the edition in `meta`."""

    def __init__(self, settings: PageSettings, max_bytes: int, http: HttpOptions | None = None) -> None:
        self._settings = settings
        self._max_bytes = max_bytes
        self._http = http or HttpOptions()
        self._validators: dict[str, Validators] = {}
        """ETag and Last-Modified by the version they were sent with (the few latest)."""

    @property
    def name(self) -> str:
        return self._settings.source_name

    @property
    def instance(self) -> str:
        return ""

    @property
    def interval(self) -> float:
        return self._settings.check_interval

    @property
    def retry_interval(self) -> float:
        return self._settings.check_interval

    @property
    def service_areas(self) -> tuple[str, ...] | None:
        return None

    @property
    def url(self) -> str:
        return self._settings.url

    def implausible(self, previous: Snapshot | None, new: Snapshot) -> str | None:
        return implausibility(previous, new)

    async def fetch(self, known_version: str | None) -> Snapshot | None:
        validators = self._validators.get(known_version) if known_version is not None else None
        async with self._http.client(self._settings.timeout) as client:
            document = await fetch_document(
                client,
                self._settings.url,
                max_bytes=self._max_bytes,
                timeout=self._settings.timeout,
                validators=validators,
            )
        if document is None:
            return None
        try:
            snapshot = await anyio.to_thread.run_sync(
                self._snapshot, document.body, document.content_type, document.url
            )
        except PageError as exc:
            raise ReferenceFetchError(FetchFailure.PARSE_ERROR, one_line(str(exc))) from None
        except Exception as exc:  # a parser bug must not stop the exporter: the last good edition stays
            log.debug("%s: the page parser failed", self.name, exc_info=True)
            detail = f"{self._settings.url}: the parser failed: {type(exc).__name__}: {exc}"
            raise ReferenceFetchError(FetchFailure.PARSE_ERROR, one_line(detail)) from None
        assert snapshot.version is not None
        self._remember(snapshot.version, Validators(document.etag, document.last_modified))
        return None if snapshot.version == known_version else snapshot

    def _snapshot(self, body: bytes, content_type: str, url: str) -> Snapshot:
        return snapshot_of(parse_page(body, self._settings.url, content_type), self.name, url)

    def _remember(self, version: str, validators: Validators) -> None:
        if validators.etag is None and validators.last_modified is None:
            return
        self._validators.pop(version, None)
        self._validators[version] = validators
        while len(self._validators) > KEPT_VALIDATORS:
            del self._validators[next(iter(self._validators))]


# ------------------------------------------------------------------------------------------ comparing


@dataclass(frozen=True)
class Inconsistencies:
    """Where the page disagrees with itself: its final consolidated list against its tables."""

    consolidated_list: bool
    """The edition has a consolidated list at all (older editions do not)."""
    fqdns_only_in_list: tuple[str, ...] = ()
    fqdns_only_in_tables: tuple[tuple[str, str], ...] = ()
    """(host, set id)."""
    subnets_only_in_list: tuple[str, ...] = ()
    subnets_only_in_tables: tuple[tuple[str, str], ...] = ()

    def __bool__(self) -> bool:
        return bool(
            self.fqdns_only_in_list
            or self.fqdns_only_in_tables
            or self.subnets_only_in_list
            or self.subnets_only_in_tables
        )


def _covered_by(host: str, others: set[str]) -> bool:
    """`host` is in `others`, a `*.` wildcard of `others` matches it, or it is a wildcard matching a host of
    `others` (the list's `*.attest.azure.net` for the tables' attestation hosts)."""
    if host in others:
        return True
    if any(wildcard_matches(other, host) for other in others if other.startswith("*.")):
        return True
    return host.startswith("*.") and any(wildcard_matches(host, other) for other in others)


def _network(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        return None


def _within(network: ipaddress.IPv4Network | ipaddress.IPv6Network, others: list[Any]) -> bool:
    return any(network.version == other.version and network.subnet_of(other) for other in others)


def inconsistencies(parsed: ParsedPage) -> Inconsistencies:
    """FQDNs and subnets in the consolidated list and in no table, or the other way round. A host a wildcard
    of the other side matches (or a wildcard matching a host of the other side), and a subnet inside one of
    the other side, count as listed."""
    if not parsed.consolidated_fqdns and not parsed.consolidated_subnets:
        return Inconsistencies(consolidated_list=False)
    table_hosts: dict[str, str] = {}
    table_networks: dict[str, tuple[Any, str]] = {}
    for page_set in parsed.sets:
        for host in page_set.hosts:
            table_hosts.setdefault(host.lower(), page_set.id)
        for cidr in page_set.cidrs:
            network = _network(cidr)
            if network is not None:
                table_networks.setdefault(str(network), (network, page_set.id))
    listed_hosts = {fqdn.lower() for fqdn in parsed.consolidated_fqdns}
    listed_networks = {str(n): n for n in map(_network, parsed.consolidated_subnets) if n is not None}
    in_tables = [network for network, _ in table_networks.values()]
    return Inconsistencies(
        consolidated_list=True,
        fqdns_only_in_list=tuple(
            sorted(host for host in listed_hosts if not _covered_by(host, set(table_hosts)))
        ),
        fqdns_only_in_tables=tuple(
            sorted(
                (host, set_id) for host, set_id in table_hosts.items() if not _covered_by(host, listed_hosts)
            )
        ),
        subnets_only_in_list=tuple(
            sorted(
                (text for text, network in listed_networks.items() if not _within(network, in_tables)),
                key=_network_order,
            )
        ),
        subnets_only_in_tables=tuple(
            sorted(
                (
                    (text, set_id)
                    for text, (network, set_id) in table_networks.items()
                    if not _within(network, list(listed_networks.values()))
                ),
                key=lambda pair: _network_order(pair[0]),
            )
        ),
    )


def _network_order(text: str) -> tuple[int, int, int]:
    network = ipaddress.ip_network(text)
    return network.version, int(network.network_address), network.prefixlen


@dataclass(frozen=True)
class PageDiff:
    """An edition of the page against the running catalogue (`catalogue diff --page`)."""

    parsed: ParsedPage
    drift: tuple[DriftEntry, ...]
    covered_by: dict[str, tuple[str, str]]
    """Host reported `covered` -> (the catalogue wildcard, its set id)."""
    invalid: tuple[InvalidEntry, ...]
    inconsistencies: Inconsistencies


def compare_page(catalogue: Catalogue, parsed: ParsedPage, limits: Limits) -> PageDiff:
    """Drift of `catalogue` from the edition (every set the page lists), added hosts a catalogue wildcard
    matches marked `covered`; raises PageError when the edition cannot be converted."""
    reference = parse_reference(reference_items(parsed), limits)
    drift = mark_covered(catalogue, compute_drift(catalogue, reference.items, areas_stated=False))
    covered_by = {}
    for entry in drift:
        if entry.direction is Direction.COVERED:
            wildcard = covering_wildcard(catalogue, entry.value)
            if wildcard is not None:
                covered_by[entry.value] = wildcard
    return PageDiff(parsed, tuple(drift), covered_by, reference.invalid, inconsistencies(parsed))

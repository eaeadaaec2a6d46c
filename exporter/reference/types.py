"""Types shared by the reference-list modules: what a parsed reference holds, and why fetching failed."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


@dataclass(frozen=True)
class ReferenceItem:
    """One endpoint set as a reference (Microsoft's web service, or a list in its JSON shape) states it.

    Every value has been validated: host names and wildcards are lower-case and well-formed, CIDRs are
    canonical, ports are in range. Absent fields in the JSON are empty here; absent flags are None."""

    id: str
    service_area: str
    urls: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    tcp_ports: frozenset[int] = frozenset()
    udp_ports: frozenset[int] = frozenset()
    category: str | None = None
    required: bool | None = None
    express_route: bool | None = None
    notes: str = ""


@dataclass(frozen=True)
class InvalidEntry:
    """A value of the reference that failed validation: counted, logged, never probed or used as a label."""

    item: str
    """The item's id, or '#<index>' when the id itself is unusable."""
    field: str
    value: str
    """The offending value, shortened for logs."""
    problem: str


@dataclass(frozen=True)
class ParsedReference:
    items: tuple[ReferenceItem, ...]
    invalid: tuple[InvalidEntry, ...] = ()


class FetchFailure(StrEnum):
    """Why fetching or parsing a reference failed; the `reason` label of
    intune_catalogue_reference_fetch_failures_total."""

    HTTP_STATUS = "http_status"
    RATE_LIMITED = "rate_limited"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    TOO_LARGE = "too_large"
    NOT_JSON = "not_json"
    MALFORMED_JSON = "malformed_json"
    INVALID_TEXT = "invalid_text"
    """A string of the JSON is not Unicode text (a lone surrogate escape such as "\\ud800")."""
    BAD_SHAPE = "bad_shape"
    EMPTY = "empty"
    FILE_ERROR = "file_error"
    PARSE_ERROR = "parse_error"
    """The page (drift.page) could not be read as an edition of Microsoft's Intune endpoint page."""
    IMPLAUSIBLE = "implausible"
    """The page parsed, but far less than the last good edition: more likely a broken page than a change."""


class ReferenceFetchError(Exception):
    """Fetching or parsing a reference failed; the last good snapshot stays in use."""

    def __init__(self, reason: FetchFailure, detail: str, retry_after: float | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.retry_after = retry_after
        """Seconds the server asked us to wait (HTTP 429 Retry-After), when it said."""


JSON = Any

"""Client for Microsoft's "Microsoft 365 IP Address and URL web service" (https://endpoints.office.com).

Three methods, each called with our installation's `clientrequestid`:

    GET /version/{instance}                       -> {"instance": ..., "latest": "YYYYMMDDNN"}
    GET /endpoints/{instance}?ServiceAreas=MEM,.. -> list of endpoint sets (items.parse_reference validates)
    GET /changes/{instance}/{version}             -> list of change records since `version`

Failures raise `ReferenceFetchError` (see `exporter.reference.fetch`); a response of the wrong shape is
BAD_SHAPE. `format_changes` turns change records into log lines.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from typing import Any

import httpx

from exporter import __version__
from exporter.config.drift import INSTANCES
from exporter.reference.fetch import fetch_json, one_line
from exporter.reference.types import FetchFailure, ReferenceFetchError

__all__ = ["DEFAULT_BASE_URL", "INSTANCES", "USER_AGENT", "WebService", "format_changes"]

DEFAULT_BASE_URL = "https://endpoints.office.com"
USER_AGENT = f"intune-endpoint-exporter/{__version__}"
VERSION = re.compile(r"[0-9]{10}", re.ASCII)
SERVICE_AREA = re.compile(r"[A-Za-z0-9]{1,32}", re.ASCII)


class WebService:
    """One instance of the web service. Each call opens and closes its own HTTP client (calls are hourly).

    The client honours HTTP(S)_PROXY and NO_PROXY from the environment, does not follow redirects and gives
    up after `timeout` seconds for the whole call."""

    def __init__(
        self,
        base_url: str,
        instance: str,
        client_request_id: str,
        max_bytes: int,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if instance not in INSTANCES:
            raise ValueError(f"unknown instance {instance!r}; known: {', '.join(INSTANCES)}")
        if not re.match(r"https?://", base_url):
            raise ValueError(f"base URL {base_url!r} is not an http(s) URL")
        try:
            uuid.UUID(client_request_id)
        except ValueError:
            raise ValueError(f"client request id {client_request_id!r} is not a GUID") from None
        if max_bytes <= 0 or timeout <= 0:
            raise ValueError("max_bytes and timeout must be positive")
        self._base_url = base_url.rstrip("/")
        self._instance = instance
        self._client_request_id = client_request_id
        self._max_bytes = max_bytes
        self._timeout = timeout
        self._transport = transport

    @property
    def instance(self) -> str:
        return self._instance

    async def version(self) -> str:
        """The latest version of the instance's endpoint list, e.g. '2025112700'."""
        data = await self._get(f"version/{self._instance}")
        latest = data.get("latest") if isinstance(data, dict) else None
        if not isinstance(latest, str) or not VERSION.fullmatch(latest):
            shown = one_line(repr(latest), 40) if isinstance(data, dict) else type(data).__name__
            raise ReferenceFetchError(
                FetchFailure.BAD_SHAPE,
                f"/version: expected an object with a 'latest' YYYYMMDDNN, got {shown}",
            )
        return latest

    async def endpoints(self, service_areas: Sequence[str]) -> Any:
        """The raw endpoint list for `service_areas` (e.g. ['MEM', 'Common']), not yet validated."""
        if isinstance(service_areas, str) or not service_areas:
            raise ValueError("service_areas must be a non-empty sequence of names")
        for area in service_areas:
            if not SERVICE_AREA.fullmatch(area):
                raise ValueError(f"service area {area!r} is not a plain name")
        return await self._get(f"endpoints/{self._instance}", {"ServiceAreas": ",".join(service_areas)})

    async def changes(self, since_version: str) -> Any:
        """The raw change records published after `since_version` (a YYYYMMDDNN string)."""
        if not VERSION.fullmatch(since_version):
            raise ValueError(f"version {since_version!r} is not YYYYMMDDNN")
        data = await self._get(f"changes/{self._instance}/{since_version}")
        if not isinstance(data, list):
            raise ReferenceFetchError(
                FetchFailure.BAD_SHAPE,
                f"/changes: expected a list of change records, got {type(data).__name__}",
            )
        return data

    async def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        query = {**(params or {}), "clientrequestid": self._client_request_id}
        async with httpx.AsyncClient(
            timeout=self._timeout,
            trust_env=True,
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
            transport=self._transport,
        ) as client:
            return await fetch_json(
                client, f"{self._base_url}/{path}", query, max_bytes=self._max_bytes, timeout=self._timeout
            )


# ------------------------------------------------------------------------------------------ change records

LINE_LIMIT = 400
VALUE_LIMIT = 80
VALUES_SHOWN = 10


class _Skip(Exception):
    pass


class _Missing:
    pass


_MISSING = _Missing()


def format_changes(changes: Any, *, limit: int = 200) -> list[str]:
    """One readable line per change record of /changes, e.g.
    "2025112700 set 163 add: urls +new.manage.microsoft.com; ips +1.2.3.0/24 (effective 20251127)".

    The records are untrusted: a record that is not an object or lacks a usable endpointSetId or disposition
    gets a line saying it was skipped; text is sanitised and shortened; at most `limit` records are shown."""
    if not isinstance(changes, list):
        return [f"change records skipped: expected a list, got {type(changes).__name__}"]
    lines: list[str] = []
    for index, record in enumerate(changes):
        if index >= limit:
            lines.append(f"{len(changes) - index} more change records not shown")
            break
        try:
            lines.append(one_line(_format_change(record), LINE_LIMIT))
        except _Skip as skip:
            lines.append(f"change record #{index} skipped: {skip}")
    return lines


def _format_change(record: Any) -> str:
    if not isinstance(record, dict):
        raise _Skip(f"not an object but {type(record).__name__}")
    set_id = record.get("endpointSetId")
    if isinstance(set_id, str) and set_id.isascii() and set_id.isdigit():
        set_id = int(set_id)
    if not isinstance(set_id, int) or isinstance(set_id, bool) or not 0 <= set_id < 10**9:
        raise _Skip("endpointSetId missing or not an integer")
    disposition = record.get("disposition")
    if not isinstance(disposition, str) or not one_line(disposition, 20):
        raise _Skip("disposition missing or not a string")
    version = record.get("version")
    shown_version = one_line(version, 20) if isinstance(version, str) and version.strip() else "?"

    parts = _attribute_parts(record.get("previous", _MISSING), record.get("current", _MISSING))
    parts += _address_parts(record.get("add", _MISSING), "+", "add")
    parts += _address_parts(record.get("remove", _MISSING), "-", "remove")
    if not parts:
        impact = record.get("impact")
        parts = [f"impact {_value(impact)}" if isinstance(impact, str) else "no details"]
    return f"{shown_version} set {set_id} {one_line(disposition, 20)}: {'; '.join(parts)}"


def _value(value: Any) -> str:
    if isinstance(value, _Missing) or value is None:
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return one_line(repr(value), VALUE_LIMIT)
    if isinstance(value, str):
        return one_line(value, VALUE_LIMIT) or '""'
    if isinstance(value, list):
        return f"[{len(value)} values]"
    return f"<{type(value).__name__}>"


def _same(left: Any, right: Any) -> bool:
    """Equal JSON values of the same type (so that true and 1 differ)."""
    return type(left) is type(right) and left == right


def _attribute_parts(previous: Any, current: Any) -> list[str]:
    parts: list[str] = []
    for name, value in (("previous", previous), ("current", current)):
        if not isinstance(value, dict | _Missing):
            parts.append(f"{name} malformed ({type(value).__name__})")
    before = previous if isinstance(previous, dict) else {}
    after = current if isinstance(current, dict) else {}
    keys = list(dict.fromkeys([*after, *before]))
    if before and after:
        changed = [key for key in keys if not _same(before.get(key, _MISSING), after.get(key, _MISSING))]
        parts += [
            f"{_value(key)} {_value(before.get(key, _MISSING))} -> {_value(after.get(key, _MISSING))}"
            for key in changed
        ]
    elif after or before:
        label, values = ("now", after) if after else ("was", before)
        shown = [f"{_value(key)} {_value(value)}" for key, value in values.items() if value not in ("", None)]
        if shown:
            parts.append(f"{label} {', '.join(shown)}")
    return parts


def _address_parts(section: Any, sign: str, name: str) -> list[str]:
    if isinstance(section, _Missing):
        return []
    if not isinstance(section, dict):
        return [f"{name} malformed ({type(section).__name__})"]
    parts: list[str] = []
    for kind in ("urls", "ips"):
        values = section.get(kind, [])
        if not isinstance(values, list):
            parts.append(f"{kind} malformed ({type(values).__name__})")
            continue
        if not values:
            continue
        shown = ", ".join(sign + _value(value) for value in values[:VALUES_SHOWN])
        more = f" (and {len(values) - VALUES_SHOWN} more)" if len(values) > VALUES_SHOWN else ""
        parts.append(f"{kind} {shown}{more}")
    effective = section.get("effectiveDate")
    if parts and isinstance(effective, str) and effective.strip():
        parts[-1] += f" (effective {one_line(effective, 20)})"
    return parts

"""Where reference lists come from: Microsoft's Intune endpoint page (`page_source.PageSource`), the
Office 365 web service, or a list in its JSON shape (file or URL).

Each source's `fetch(known_version)` returns a new `Snapshot`, or None when the list has not changed since
`known_version`. Failures raise `ReferenceFetchError`.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any, Protocol

import anyio
import httpx

from exporter.config.drift import ReferenceListSettings, WebServiceSettings
from exporter.reference.fetch import encode_json, fetch_json, read_json_file
from exporter.reference.snapshot import Snapshot
from exporter.reference.webservice import USER_AGENT, WebService


class ReferenceSource(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def instance(self) -> str:
        """The web service instance ('Worldwide', ...), or '' for a list."""

    @property
    def interval(self) -> float:
        """Seconds between two checks for a new version."""

    @property
    def retry_interval(self) -> float:
        """Seconds before trying again after a failure (other than HTTP 429)."""

    @property
    def service_areas(self) -> tuple[str, ...] | None:
        """Service areas the source covers, or None to take them from its items."""

    def implausible(self, previous: Snapshot | None, new: Snapshot) -> str | None:
        """Why `new` cannot be right given the last good `previous`, or None to accept it."""

    async def fetch(self, known_version: str | None) -> Snapshot | None: ...


RETRY_AFTER_FAILURE = 300.0


class WebServiceSource:
    """Checks /version and fetches /endpoints only when the version moved, as Microsoft asks."""

    def __init__(self, settings: WebServiceSettings, client_request_id: str, max_bytes: int) -> None:
        self._settings = settings
        self._service = WebService(
            base_url=settings.base_url,
            instance=settings.instance,
            client_request_id=client_request_id,
            max_bytes=max_bytes,
            timeout=settings.timeout,
        )

    @property
    def name(self) -> str:
        return self._settings.source_name

    @property
    def instance(self) -> str:
        return self._settings.instance

    @property
    def interval(self) -> float:
        return self._settings.version_check_interval

    @property
    def retry_interval(self) -> float:
        return min(self.interval, RETRY_AFTER_FAILURE)

    def implausible(self, previous: Snapshot | None, new: Snapshot) -> str | None:
        return None

    @property
    def service_areas(self) -> tuple[str, ...] | None:
        return self._settings.service_areas

    @property
    def service(self) -> WebService:
        return self._service

    async def fetch(self, known_version: str | None) -> Snapshot | None:
        version = await self._service.version()
        if version == known_version:
            return None
        data = await self._service.endpoints(self._settings.service_areas)
        return Snapshot(self.name, version, time.time(), data)


class ListSource:
    """A list in the web service's JSON shape. Its version is a hash of its content."""

    def __init__(self, settings: ReferenceListSettings, max_bytes: int) -> None:
        self._settings = settings
        self._max_bytes = max_bytes

    @property
    def name(self) -> str:
        return self._settings.name

    @property
    def instance(self) -> str:
        return ""

    @property
    def interval(self) -> float:
        return self._settings.refresh

    @property
    def retry_interval(self) -> float:
        return min(self.interval, RETRY_AFTER_FAILURE)

    def implausible(self, previous: Snapshot | None, new: Snapshot) -> str | None:
        return None

    @property
    def service_areas(self) -> tuple[str, ...] | None:
        return None

    async def fetch(self, known_version: str | None) -> Snapshot | None:
        data = await self._read()
        # Hashing a large list takes a while: off the event loop, like parsing it.
        version = await anyio.to_thread.run_sync(content_version, data)
        if version == known_version:
            return None
        return Snapshot(self.name, version, time.time(), data)

    async def _read(self) -> Any:
        if self._settings.file is not None:
            path: Path = self._settings.file
            return await anyio.to_thread.run_sync(lambda: read_json_file(path, max_bytes=self._max_bytes))
        assert self._settings.url is not None  # the settings require one of file and url
        async with httpx.AsyncClient(
            timeout=self._settings.timeout, headers={"User-Agent": USER_AGENT}, follow_redirects=False
        ) as client:
            return await fetch_json(
                client, self._settings.url, {}, max_bytes=self._max_bytes, timeout=self._settings.timeout
            )


def content_version(data: Any) -> str:
    """A hash of `data`'s canonical JSON (`fetch.encode_json`, keys sorted); ReferenceFetchError when `data`
    is not JSON `fetch.check_json` accepts."""
    canonical = encode_json(data, sort_keys=True)
    return "sha256:" + hashlib.sha256(canonical).hexdigest()[:16]

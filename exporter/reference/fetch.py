"""Bounded fetching for reference lists: JSON over HTTP or from a file, and pages (`fetch_document`, with
conditional requests).

Every failure is a `ReferenceFetchError` whose `reason` says why:

    HTTP 429                                   -> RATE_LIMITED (retry_after from Retry-After, when it parses)
    any other non-2xx (redirects not followed) -> HTTP_STATUS
    httpx timeout, or the overall deadline     -> TIMEOUT
    connect, proxy, TLS and protocol errors    -> CONNECTION
    more than max_bytes of (decoded) body      -> TOO_LARGE
    a Content-Type that is not JSON            -> NOT_JSON
    invalid UTF-8 or JSON, truncated body,
    nesting deeper than MAX_JSON_DEPTH         -> MALFORMED_JSON
    a string that is not Unicode text
    (a lone surrogate escape such as "\\ud800")  -> INVALID_TEXT
    file cannot be opened or read              -> FILE_ERROR

Decoded JSON is checked where it is decoded (`check_json`, iteratively, whatever the depth), so what leaves
this module nests at most MAX_JSON_DEPTH levels and holds only valid Unicode strings. `encode_json` is the one
encoder of reference JSON (snapshot files, content versions): it cannot fail on data that passed the check.

The body is read in chunks and abandoned as soon as it passes `max_bytes`, so a hostile or broken server
cannot make us buffer more than that. Details are one line of at most 200 characters and quote at most a
short, sanitised prefix of a body.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import re
import time
from collections.abc import AsyncGenerator, Iterator
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any, cast

import anyio
import httpx

from exporter.reference.types import FetchFailure, ReferenceFetchError

__all__ = [
    "DETAIL_LIMIT",
    "MAX_JSON_DEPTH",
    "Document",
    "Validators",
    "check_json",
    "encode_json",
    "fetch_document",
    "fetch_json",
    "one_line",
    "parse_retry_after",
    "read_json_file",
]

DETAIL_LIMIT = 200
BODY_PREFIX_LIMIT = 40
LENIENT_MEDIA_TYPES = (None, "text/plain")
"""Media types accepted when the body itself starts like JSON (`[` or `{`)."""
UTF8_BOM = b"\xef\xbb\xbf"
_DELAY_SECONDS = re.compile(r"[0-9]{1,10}", re.ASCII)
_SURROGATE = re.compile("[\ud800-\udfff]")
MAX_JSON_DEPTH = 32
"""Deepest nesting of arrays and objects accepted in reference JSON (the lists nest 3 levels, snapshots 5)."""


def one_line(text: str, limit: int = DETAIL_LIMIT) -> str:
    """`text` on one line of printable characters, whitespace collapsed, cut to `limit` characters."""
    printable = "".join(char if char.isprintable() else " " for char in text)
    collapsed = " ".join(printable.split())
    return collapsed if len(collapsed) <= limit else collapsed[: limit - 1] + "…"


def _error(reason: FetchFailure, detail: str, retry_after: float | None = None) -> ReferenceFetchError:
    return ReferenceFetchError(reason, one_line(detail), retry_after)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or HTTP-date); None if absent or invalid."""
    if value is None:
        return None
    value = value.strip()
    if _DELAY_SECONDS.fullmatch(value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def _public_url(url: httpx.URL) -> str:
    """The URL for messages: no query (it holds our client id), fragment or credentials."""
    return str(url.copy_with(query=None, fragment=None, userinfo=b""))


def _media_type(header: str | None) -> str | None:
    if header is None:
        return None
    return header.split(";", 1)[0].strip().lower() or None


def _is_json_media_type(media_type: str | None) -> bool:
    if media_type is None:
        return False
    return media_type == "application/json" or ("/" in media_type and media_type.endswith("+json"))


def _starts_like_json(body: bytes) -> bool:
    return body.removeprefix(UTF8_BOM).lstrip()[:1] in (b"[", b"{")


def _prefix(body: bytes) -> str:
    return one_line(body[: BODY_PREFIX_LIMIT * 4].decode("utf-8", "replace"), BODY_PREFIX_LIMIT)


def _check_status(response: httpx.Response, where: str) -> None:
    status = response.status_code
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        wait = f" (Retry-After {retry_after:g}s)" if retry_after is not None else ""
        raise _error(FetchFailure.RATE_LIMITED, f"HTTP 429 Too Many Requests{wait} from {where}", retry_after)
    if 300 <= status < 400:
        location = one_line(response.headers.get("location", "?"), 80)
        raise _error(FetchFailure.HTTP_STATUS, f"HTTP {status} redirect to {location} not followed ({where})")
    if not 200 <= status < 300:
        phrase = one_line(response.reason_phrase, 40)
        raise _error(FetchFailure.HTTP_STATUS, f"HTTP {status} {phrase} from {where}")


def _check_declared_length(response: httpx.Response, max_bytes: int, where: str) -> None:
    """Refuse early when an uncompressed body announces it is too large."""
    if response.headers.get("content-encoding", "identity").strip().lower() != "identity":
        return
    declared = response.headers.get("content-length", "").strip()
    if declared.isdigit() and declared.isascii() and int(declared) > max_bytes:
        raise _error(FetchFailure.TOO_LARGE, f"body of {declared} bytes exceeds {max_bytes} bytes ({where})")


async def _read_capped(chunks: AsyncGenerator[bytes, None], max_bytes: int, where: str) -> bytes:
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > max_bytes:
            raise _error(FetchFailure.TOO_LARGE, f"body exceeds {max_bytes} bytes ({where})")
        parts.append(chunk)
    return b"".join(parts)


async def _get(client: httpx.AsyncClient, url: httpx.URL, params: dict[str, str], max_bytes: int) -> bytes:
    where = _public_url(url)
    headers = {"Accept": "application/json"}
    async with client.stream("GET", url, params=params, headers=headers) as response:
        _check_status(response, where)
        media_type = _media_type(response.headers.get("content-type"))
        json_type = _is_json_media_type(media_type)
        # httpx's aiter_bytes is an async generator: close it here rather than leave it to the GC.
        async with aclosing(cast(AsyncGenerator[bytes, None], response.aiter_bytes())) as chunks:
            if not json_type and media_type not in LENIENT_MEDIA_TYPES:
                first = await anext(chunks, b"")
                raise _error(
                    FetchFailure.NOT_JSON,
                    f"Content-Type {media_type} is not JSON ({where}); body starts {_prefix(first)!r}",
                )
            _check_declared_length(response, max_bytes, where)
            body = await _read_capped(chunks, max_bytes, where)
    if not json_type and not _starts_like_json(body):
        shown = media_type or "missing"
        raise _error(
            FetchFailure.NOT_JSON,
            f"Content-Type {shown} and the body does not start like JSON ({where}): {_prefix(body)!r}",
        )
    return body


@contextlib.contextmanager
def _translated(where: str, timeout: float | None) -> Iterator[None]:
    """Network failures inside the block, and the block outliving `timeout`, as ReferenceFetchError."""
    try:
        with anyio.fail_after(timeout):
            yield
    except TimeoutError:
        raise _error(FetchFailure.TIMEOUT, f"no complete response within {timeout:g}s from {where}") from None
    except httpx.TimeoutException as exc:
        raise _error(FetchFailure.TIMEOUT, f"{type(exc).__name__} from {where}") from None
    except httpx.DecodingError as exc:
        raise _error(FetchFailure.MALFORMED_JSON, f"content decoding failed ({where}): {exc}") from None
    except httpx.TooManyRedirects as exc:
        raise _error(FetchFailure.HTTP_STATUS, f"too many redirects ({where}): {exc}") from None
    except httpx.RequestError as exc:
        raise _error(FetchFailure.CONNECTION, f"{type(exc).__name__} ({where}): {exc}") from None
    except httpx.InvalidURL as exc:
        raise _error(FetchFailure.CONNECTION, f"invalid URL ({where}): {exc}") from None


def _parsed_url(url: str) -> httpx.URL:
    try:
        return httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise _error(FetchFailure.CONNECTION, f"invalid URL: {exc}") from None


async def fetch_json(
    client: httpx.AsyncClient,
    url: str,
    params: dict[str, str],
    *,
    max_bytes: int,
    timeout: float | None = None,
) -> Any:
    """GET `url` with `params` through `client` and decode the JSON body, reading at most `max_bytes`.

    `timeout`, when given, is a deadline for the whole exchange, body included; the client's own timeouts
    still apply to each phase (connect, each read)."""
    parsed_url = _parsed_url(url)
    where = _public_url(parsed_url)
    with _translated(where, timeout):
        body = await _get(client, parsed_url, params, max_bytes)
    return _decode(body, where)


@dataclass(frozen=True)
class Document:
    """A document fetched by `fetch_document`, with the validators for the next conditional request."""

    body: bytes
    content_type: str
    """The Content-Type header as sent, "" when absent."""
    etag: str | None = None
    last_modified: str | None = None
    url: str = ""
    """Where it came from after redirects, without query, fragment or credentials."""


@dataclass(frozen=True)
class Validators:
    """What a conditional request sends: the ETag and Last-Modified of the copy we hold."""

    etag: str | None = None
    last_modified: str | None = None

    def headers(self) -> dict[str, str]:
        headers = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers


def _header(response: httpx.Response, name: str) -> str | None:
    value = response.headers.get(name)
    if value is None or not value.isascii() or not value.isprintable() or len(value) > DETAIL_LIMIT:
        return None
    return value.strip() or None


async def fetch_document(
    client: httpx.AsyncClient,
    url: str,
    *,
    max_bytes: int,
    timeout: float | None = None,
    validators: Validators | None = None,
    accept: str = "text/html, text/markdown;q=0.9, text/plain;q=0.8",
) -> Document | None:
    """GET `url` (a page, not JSON), reading at most `max_bytes`; None when the server answers 304 Not
    Modified to the conditional request `validators` make. Failures as for `fetch_json`."""
    parsed_url = _parsed_url(url)
    where = _public_url(parsed_url)
    conditional = validators.headers() if validators is not None else {}
    headers = {"Accept": accept, **conditional}
    with _translated(where, timeout):
        async with client.stream("GET", parsed_url, headers=headers) as response:
            if response.status_code == 304:
                if not conditional:
                    raise _error(
                        FetchFailure.HTTP_STATUS, f"HTTP 304 to a request that was not conditional ({where})"
                    )
                return None
            final = _public_url(response.url)
            _check_status(response, final)
            _check_declared_length(response, max_bytes, final)
            async with aclosing(cast(AsyncGenerator[bytes, None], response.aiter_bytes())) as chunks:
                body = await _read_capped(chunks, max_bytes, final)
            return Document(
                body=body,
                content_type=response.headers.get("content-type", ""),
                etag=_header(response, "etag"),
                last_modified=_header(response, "last-modified"),
                url=final,
            )


def read_json_file(path: Path, *, max_bytes: int) -> Any:
    """Read and decode a JSON file of at most `max_bytes` bytes."""
    try:
        with path.open("rb") as file:
            body = file.read(max_bytes + 1)
    except OSError as exc:
        raise _error(FetchFailure.FILE_ERROR, f"cannot read {path}: {exc.strerror or exc}") from None
    if len(body) > max_bytes:
        raise _error(FetchFailure.TOO_LARGE, f"{path} exceeds {max_bytes} bytes")
    return _decode(body, str(path))


def _decode(body: bytes, where: str) -> Any:
    if not body.removeprefix(UTF8_BOM).strip():
        raise _error(FetchFailure.MALFORMED_JSON, f"empty body ({where})")
    try:
        value = json.loads(body)
    except UnicodeDecodeError as exc:
        raise _error(FetchFailure.MALFORMED_JSON, f"not UTF-8 text at byte {exc.start} ({where})") from None
    except json.JSONDecodeError as exc:
        ends_early = " (body ends early)" if exc.pos >= len(exc.doc.rstrip()) else ""
        detail = f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}{ends_early} ({where})"
        raise _error(FetchFailure.MALFORMED_JSON, detail) from None
    except RecursionError:
        raise _error(FetchFailure.MALFORMED_JSON, f"JSON nested too deeply ({where})") from None
    except ValueError as exc:
        raise _error(FetchFailure.MALFORMED_JSON, f"invalid JSON ({where}): {exc}") from None
    check_json(value, where)
    return value


def _check_text(text: str, where: str) -> None:
    found = _SURROGATE.search(text)
    if found is not None:
        raise _error(
            FetchFailure.INVALID_TEXT,
            f"a string holds a lone surrogate (U+{ord(found.group()):04X}), not Unicode text ({where})",
        )


def check_json(value: Any, where: str) -> None:
    """Raise ReferenceFetchError unless `value`, decoded JSON, nests at most MAX_JSON_DEPTH levels of arrays
    and objects (MALFORMED_JSON) and every string in it, keys included, is valid Unicode text: no lone
    surrogates (INVALID_TEXT). Iterative, so any depth is refused without recursion."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        current, depth = stack.pop()
        if isinstance(current, str):
            _check_text(current, where)
        elif isinstance(current, list | tuple | dict):
            if depth >= MAX_JSON_DEPTH:
                raise _error(
                    FetchFailure.MALFORMED_JSON, f"JSON nested deeper than {MAX_JSON_DEPTH} levels ({where})"
                )
            if isinstance(current, dict):
                for key, element in current.items():
                    if isinstance(key, str):
                        _check_text(key, where)
                    stack.append((element, depth + 1))
            else:
                stack.extend((element, depth + 1) for element in current)


def encode_json(value: Any, *, sort_keys: bool = False, where: str = "reference data") -> bytes:
    """`value` as compact JSON bytes: the one encoder of reference JSON (snapshot files, content versions).

    Output is ASCII (non-ASCII text escaped), so no text can fail to encode. `value` is checked first
    (`check_json`); anything JSON cannot hold is a ReferenceFetchError too, never another exception."""
    check_json(value, where)
    try:
        return json.dumps(value, sort_keys=sort_keys, separators=(",", ":"), ensure_ascii=True).encode(
            "ascii"
        )
    except (TypeError, ValueError, RecursionError) as exc:
        raise _error(FetchFailure.BAD_SHAPE, f"cannot encode as JSON ({where}): {exc}") from None

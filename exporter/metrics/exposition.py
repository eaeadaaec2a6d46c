"""The /metrics text, with the per-endpoint series rendered once per probe result instead of once per scrape.

At 10,000 targets the endpoint families hold about 150,000 series; formatting them on every scrape costs a
second of CPU, most of it in prometheus_client's per-sample formatting. The collectors instead yield
`RenderedFamily` objects whose text is joined from per-row chunks cached next to the result they came from
(`RowCache`), so a scrape formats only the rows whose result changed since the previous one. `render`
writes the text format (0.0.4) byte for byte as `prometheus_client.generate_latest` would: the tests hold
the two to the same output. A `RenderedFamily` still offers `samples` (built on demand), so registry
helpers such as `get_sample_value` keep working.
"""

from __future__ import annotations

import functools
import logging
import operator
import threading
import zlib
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Generic, TypeVar

from prometheus_client import generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

from exporter.metrics.table import EXPORTER_SERIES_DROPPED, MetricSpec, MetricType

_format_value: Callable[[float], str] = floatToGoString

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
GZIP_LEVEL = 1
"""The 15 MB text of 10,000 targets compresses 36x at level 1 (40x at 6) in about the same 40 ms;
smaller texts compress twice as fast at level 1 (bench/metrics_render.py)."""

GZIP_BATCH_BYTES = 1 << 20

LabelValues = Sequence[str]
Row = dict[str, list[tuple[LabelValues, float]]]
"""One result's samples, by family name: label values (in the family's label order) and the value."""

_Rendered = tuple[tuple[bytes, ...], tuple[int, ...]]
"""A row's text in each family, and its number of series in each."""

Key = TypeVar("Key", bound=Hashable)
Context = TypeVar("Context")
Item = TypeVar("Item")


MAX_LABEL_VALUE = 256
"""Characters kept of a label value that comes from outside (a certificate's names): a hostile server
must not bloat every scrape."""


def bounded(value: str) -> str:
    return value if len(value) <= MAX_LABEL_VALUE else value[: MAX_LABEL_VALUE - 3] + "..."


def escape_label_value(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


class Family:
    """A gauge family whose rows are pre-rendered: its spec (name, help, labels), and the line format."""

    def __init__(self, spec: MetricSpec) -> None:
        if spec.type is not MetricType.GAUGE:
            raise TypeError(f"{spec.name}: pre-rendered families are gauges")
        self.spec = spec
        self.name = spec.name
        self.labels = spec.labels
        # The text format sorts labels by name; precompute where each value goes.
        self._order = sorted(range(len(self.labels)), key=lambda i: self.labels[i])
        self._prefixes = [f'{self.labels[i]}="' for i in self._order]

    def line(self, values: LabelValues, value: float) -> str:
        if not self.labels:
            return f"{self.name} {_format_value(value)}\n"
        pairs = ",".join(
            prefix + escape_label_value(values[i]) + '"'
            for prefix, i in zip(self._prefixes, self._order, strict=True)
        )
        return f"{self.name}{{{pairs}}} {_format_value(value)}\n"


class RenderedFamily(Metric):
    """A gauge family whose text is ready; `samples` are materialised only when something reads them."""

    def __init__(
        self,
        family: Family,
        chunks: list[bytes],
        counts: list[int],
        samples: Callable[[], list[Sample]],
    ) -> None:
        super().__init__(family.name, family.spec.help, "gauge")
        self.spec = family.spec
        self.chunks = chunks
        self.counts = counts
        """Series in each chunk."""
        self._make_samples = samples

    @property
    def samples(self) -> list[Sample]:
        return self._make_samples()

    @samples.setter
    def samples(self, value: list[Sample]) -> None:
        pass  # Metric.__init__ assigns []: the samples come from `_make_samples`

    def header(self) -> str:
        return self.spec.header()


class RowCache(Generic[Key, Context, Item]):
    """Per-row text of several families. A row is named by a key (a target); its text is kept while both
    its context (the target's set memberships) and its item (a frozen probe result) are the same objects."""

    def __init__(self, families: Sequence[Family], row: Callable[[Key, Context, Item], Row]) -> None:
        self._families = tuple(families)
        self._row = row
        self._cache: dict[Key, tuple[Context, Item, _Rendered]] = {}

    def prime(self, key: Key, context: Context, item: Item) -> None:
        """Render a row ahead of the scrape that will need it (from the thread that produced `item`)."""
        self._cache[key] = (context, item, self._render(key, context, item))

    def families(self, contexts: Mapping[Key, Context], items: Mapping[Key, Item]) -> list[RenderedFamily]:
        """The families over the keys of `contexts` (in order) that have an item. A scrape between
        cycles allocates little beyond the lists of chunks, and no tuple per row: on a heap of 10,000
        targets' results, garbage collections cost more than the join."""
        cache = self._cache
        texts = []
        for key, context in contexts.items():
            item = items.get(key)
            if item is None:
                continue
            cached = cache.get(key)
            if cached is None or cached[1] is not item or cached[0] is not context:
                cached = cache[key] = (context, item, self._render(key, context, item))
            texts.append(cached[2])
        if len(cache) > len(texts):  # rows left the plan, or lost their result
            self._cache = {key: cache[key] for key in contexts if key in cache and key in items}
        rows = functools.partial(_rows, contexts, items)
        if not texts:
            return [RenderedFamily(family, [], [], self._sampler(family, rows)) for family in self._families]
        # Column by column, in C (a row with no series in a family has b"" and 0 there).
        text_rows = [text for text, _ in texts]
        count_rows = [count for _, count in texts]
        return [
            RenderedFamily(
                family,
                list(filter(None, map(operator.itemgetter(index), text_rows))),
                list(filter(None, map(operator.itemgetter(index), count_rows))),
                self._sampler(family, rows),
            )
            for index, family in enumerate(self._families)
        ]

    def _render(self, key: Key, context: Context, item: Item) -> _Rendered:
        row = self._row(key, context, item)
        samples = [row.get(family.name, ()) for family in self._families]
        return (
            tuple(
                "".join(family.line(values, value) for values, value in family_samples).encode()
                for family, family_samples in zip(self._families, samples, strict=True)
            ),
            tuple(len(family_samples) for family_samples in samples),
        )

    def _sampler(
        self, family: Family, rows: Callable[[], Iterable[tuple[Key, Context, Item]]]
    ) -> Callable[[], list[Sample]]:
        def samples() -> list[Sample]:
            return [
                Sample(family.name, dict(zip(family.labels, values, strict=True)), value)
                for key, context, item in rows()
                for values, value in self._row(key, context, item).get(family.name, ())
            ]

        return samples


class SeriesCap:
    """At most `limit()` per-endpoint series per scrape (whole rows, in plan order); the rest are left
    out and counted, so a runaway reference list or configuration cannot grow a scrape without bound."""

    def __init__(self, limit: Callable[[], int]) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._dropped = 0
        self._dropping = False

    def begin(self) -> int:
        return self._limit()

    def record(self, dropped: int) -> None:
        with self._lock:
            self._dropped += dropped
            if dropped and not self._dropping:
                log.warning(
                    "over %d endpoint series: %d left out of this scrape (max_series)", self._limit(), dropped
                )
            self._dropping = dropped > 0

    def family(self) -> bytes:
        with self._lock:
            dropped = self._dropped
        spec = EXPORTER_SERIES_DROPPED
        return f"{spec.header()}{spec.name} {_format_value(float(dropped))}\n".encode()


def _rows(contexts: Mapping[Key, Context], items: Mapping[Key, Item]) -> Iterator[tuple[Key, Context, Item]]:
    for key, context in contexts.items():
        item = items.get(key)
        if item is not None:
            yield key, context, item


def render(registry: Collector, cap: SeriesCap | None = None) -> bytes:
    """The text exposition (format 0.0.4) of every family `registry` collects, then `cap`'s counter."""
    return b"".join(render_parts(registry, cap))


def render_gzip(registry: Collector, cap: SeriesCap | None = None) -> bytes:
    """`render` compressed, without ever holding the whole text (15 MB at 10,000 targets) at once."""
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # gzip framing
    packed, batch, batched = [], [], 0
    # zlib lets go of the GIL on every call, and a busy probe loop may then hold it for a whole switch
    # interval: compress in few, large pieces rather than once per row.
    for part in render_parts(registry, cap):
        batch.append(part)
        batched += len(part)
        if batched >= GZIP_BATCH_BYTES:
            packed.append(compressor.compress(b"".join(batch)))
            batch, batched = [], 0
    packed.append(compressor.compress(b"".join(batch)))
    packed.append(compressor.flush())
    return b"".join(packed)


def render_parts(registry: Collector, cap: SeriesCap | None = None) -> list[bytes]:
    """The pieces of `render`, in order: cached rows are not copied."""
    parts: list[bytes] = []
    remaining = cap.begin() if cap is not None else None
    dropped = 0
    for metric in registry.collect():
        if isinstance(metric, RenderedFamily):
            parts.append(metric.header().encode())
            if remaining is None or sum(metric.counts) <= remaining:
                parts.extend(metric.chunks)
                remaining = None if remaining is None else remaining - sum(metric.counts)
                continue
            for chunk, count in zip(metric.chunks, metric.counts, strict=True):
                if count <= remaining:
                    parts.append(chunk)
                    remaining -= count
                else:
                    dropped += count
                    remaining = 0
        else:
            parts.append(generate_latest(_Single(metric)))
    if cap is not None:
        cap.record(dropped)
        parts.append(cap.family())
    return parts


class _Single(Collector):
    def __init__(self, metric: Metric) -> None:
        self._metric = metric

    def collect(self) -> Iterable[Metric]:
        return [self._metric]

    def describe(self) -> Iterable[Any]:
        return []


def metrics_app(registry: Collector, cap: SeriesCap | None = None) -> Callable[..., Iterable[bytes]]:
    """WSGI app serving `render(registry, cap)`, gzip-compressed when the client accepts it."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Allow", "GET, HEAD")])
            return [b"use GET\n"]
        headers = [("Content-Type", CONTENT_TYPE)]
        if "gzip" in environ.get("HTTP_ACCEPT_ENCODING", ""):
            body = render_gzip(registry, cap)
            headers.append(("Content-Encoding", "gzip"))
        else:
            body = render(registry, cap)
        headers.append(("Content-Length", str(len(body))))
        start_response("200 OK", headers)
        return [b""] if environ.get("REQUEST_METHOD") == "HEAD" else [body]

    return app

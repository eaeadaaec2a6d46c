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

import gzip
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any, Generic, TypeVar

from prometheus_client import generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

_format_value: Callable[[float], str] = floatToGoString

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
GZIP_LEVEL = 1
"""The 15 MB text of 10,000 targets compresses 36x at level 1 (40x at 6) in about the same 40 ms;
smaller texts compress twice as fast at level 1 (bench/metrics_render.py)."""

LabelValues = Sequence[str]
Row = dict[str, list[tuple[LabelValues, float]]]
"""One result's samples, by family name: label values (in the family's label order) and the value."""

Key = TypeVar("Key", bound=Hashable)
Context = TypeVar("Context")
Item = TypeVar("Item")


def escape_label_value(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


class Family:
    """Name, help and label names of a gauge family whose rows are pre-rendered."""

    def __init__(self, name: str, documentation: str, labels: Sequence[str]) -> None:
        self.name = name
        self.documentation = documentation
        self.labels = tuple(labels)
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

    def __init__(self, family: Family, chunks: list[bytes], samples: Callable[[], list[Sample]]) -> None:
        super().__init__(family.name, family.documentation, "gauge")
        self.chunks = chunks
        self._make_samples = samples

    @property
    def samples(self) -> list[Sample]:
        return self._make_samples()

    @samples.setter
    def samples(self, value: list[Sample]) -> None:
        pass  # Metric.__init__ assigns []: the samples come from `_make_samples`

    def header(self) -> str:
        help_text = self.documentation.replace("\\", r"\\").replace("\n", r"\n")
        return f"# HELP {self.name} {help_text}\n# TYPE {self.name} gauge\n"


class RowCache(Generic[Key, Context, Item]):
    """Per-row text of several families. A row is named by a key (a target); its text is kept while both
    its context (the target's set memberships) and its item (a frozen probe result) are the same objects."""

    def __init__(self, families: Sequence[Family], row: Callable[[Key, Context, Item], Row]) -> None:
        self._families = tuple(families)
        self._row = row
        self._cache: dict[Key, tuple[Context, Item, tuple[bytes, ...]]] = {}

    def prime(self, key: Key, context: Context, item: Item) -> None:
        """Render a row ahead of the scrape that will need it (from the thread that produced `item`)."""
        self._cache[key] = (context, item, self._render(key, context, item))

    def families(self, rows: Iterable[tuple[Key, Context, Item]]) -> list[RenderedFamily]:
        """The families over `rows`, in order."""
        rows = list(rows)
        cache, fresh = self._cache, {}
        texts = []
        for key, context, item in rows:
            cached = cache.get(key)
            if cached is None or cached[1] is not item or cached[0] is not context:
                cached = (context, item, self._render(key, context, item))
            fresh[key] = cached
            texts.append(cached[2])
        self._cache = fresh  # rows that left the plan leave the cache
        return [
            RenderedFamily(family, [row[index] for row in texts if row[index]], self._sampler(family, rows))
            for index, family in enumerate(self._families)
        ]

    def _render(self, key: Key, context: Context, item: Item) -> tuple[bytes, ...]:
        row = self._row(key, context, item)
        return tuple(
            "".join(family.line(values, value) for values, value in row.get(family.name, ())).encode()
            for family in self._families
        )

    def _sampler(self, family: Family, rows: list[tuple[Key, Context, Item]]) -> Callable[[], list[Sample]]:
        def samples() -> list[Sample]:
            return [
                Sample(family.name, dict(zip(family.labels, values, strict=True)), value)
                for key, context, item in rows
                for values, value in self._row(key, context, item).get(family.name, ())
            ]

        return samples


def render(registry: Collector) -> bytes:
    """The text exposition (format 0.0.4) of every family `registry` collects."""
    parts: list[bytes] = []
    for metric in registry.collect():
        if isinstance(metric, RenderedFamily):
            parts.append(metric.header().encode())
            parts.extend(metric.chunks)
        else:
            parts.append(generate_latest(_Single(metric)))
    return b"".join(parts)


class _Single(Collector):
    def __init__(self, metric: Metric) -> None:
        self._metric = metric

    def collect(self) -> Iterable[Metric]:
        return [self._metric]

    def describe(self) -> Iterable[Any]:
        return []


def metrics_app(registry: Collector) -> Callable[..., Iterable[bytes]]:
    """WSGI app serving `render(registry)`, gzip-compressed when the client accepts it."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Allow", "GET, HEAD")])
            return [b"use GET\n"]
        body = render(registry)
        headers = [("Content-Type", CONTENT_TYPE)]
        if "gzip" in environ.get("HTTP_ACCEPT_ENCODING", ""):
            body = gzip.compress(body, compresslevel=GZIP_LEVEL)
            headers.append(("Content-Encoding", "gzip"))
        headers.append(("Content-Length", str(len(body))))
        start_response("200 OK", headers)
        return [b""] if environ.get("REQUEST_METHOD") == "HEAD" else [body]

    return app

"""The intermediate form every reader produces: the page as a flat sequence of blocks.

HTML (and markdown, rendered to HTML first) and copied text are read into the same blocks, so the
interpretation (`interpret`) is written once. Blocks keep text only: no markup survives except the line
breaks inside table cells.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Heading:
    level: int
    """1 for the title; copied text, which has no levels, gives 2 to every other heading."""
    text: str


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Note:
    """A note, important or caution box (its label removed)."""

    text: str


@dataclass(frozen=True)
class ListBlock:
    items: tuple[str, ...]
    """Each item's own text; blocks nested in an item (a note under a bullet) follow the list."""


@dataclass(frozen=True)
class CodeBlock:
    lines: tuple[str, ...]


Cell = tuple[str, ...]
"""A table cell's lines (split at its line breaks)."""


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    cut: bool = False
    """The document ended inside the table's last row (copied text)."""


Block = Heading | Paragraph | Note | ListBlock | CodeBlock | Table


@dataclass(frozen=True)
class Document:
    """What a reader got from the document: its blocks and what it says about itself."""

    blocks: tuple[Block, ...]
    title: str = ""
    locale: str = ""
    date: str = ""
    """As the document writes it; `interpret` normalises it."""
    warnings: tuple[str, ...] = field(default=())

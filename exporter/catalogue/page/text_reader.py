"""Text copied from the rendered page to blocks.

Copied text has no markup. What is left to read it by:
- headings are short lines on their own, without sentence punctuation; the title is the first of them that
  names Intune (lines before it are the site's chrome, such as "Share via");
- bullets start with '•' (or '-', '*'); lines indented under a bullet are its nested blocks;
- a note is a paragraph after a line holding only a note label ('Note', '참고');
- an ID table starts at a header line beginning with 'ID' ("ID Desc 범주 ER Addresses 포트"); each row starts
  with its id, the cells follow on with a line break wherever the page had one (the id, description and
  first category word share a line), and ends with its `TCP:`/`UDP:` ports (then the Notes column, if any);
- a region table starts at a header line naming the CDN column and ending with the port column ("Region CDN
  Port"); each row ends with its ports;
- lines that are all host names, or all CIDRs, are a code block (the consolidated lists).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from exporter.catalogue.page import syntax, vocabulary
from exporter.catalogue.page.blocks import (
    Block,
    Cell,
    CodeBlock,
    Document,
    Heading,
    ListBlock,
    Note,
    Paragraph,
    Table,
)
from exporter.catalogue.page.vocabulary import Column

_BULLET = re.compile(r"^\s*(?:[•·▪◦]|[-*](?=\s))\s*")
_ROW_START = re.compile(r"^\s*\d{1,4}(?:\s|$)")
_TOKEN = re.compile(r"\S+")
_DATE = re.compile(r"\b(\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/\d{4}|\d{4}\.\s?\d{1,2}\.\s?\d{1,2}\.?)")
_NOT_IN_HEADINGS = set("[]|$=`{}<>'\"")
TITLE_SEARCH = 40
"""The title is looked for among the first lines only."""


def read_text(text: str) -> Document:
    lines = [line.replace("\t", " ").rstrip() for line in text.splitlines()]
    start, title = _find_title(lines)
    reader = _Reader(lines)
    reader.read(start)
    return Document(
        blocks=tuple(reader.blocks),
        title=title,
        locale="",
        date=_find_date(lines, reader.first_table),
    )


def heading_like(line: str) -> bool:
    text = line.strip()
    if not text or len(text) > 90 or len(text.split()) > 12 or text[-1] in ".:;,!?。":
        return False
    if text[0] in "(-*•·" or _NOT_IN_HEADINGS & set(text) or not any(c.isalpha() for c in text):
        return False
    return not (syntax.host(text) or syntax.looks_like_cidr(text) or syntax.PORT_MARKER.search(text))


def _find_title(lines: list[str]) -> tuple[int, str]:
    """(index of the first line after the title, the title)."""
    seen = 0
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        seen += 1
        if seen > TITLE_SEARCH:
            break
        if heading_like(line) and "intune" in line.casefold():
            return index + 1, line.strip()
    return 0, ""


def _find_date(lines: list[str], end: int) -> str:
    for line in lines[:end]:
        match = _DATE.search(line)
        if match is not None:
            return match.group(1)
    return ""


def _is_bullet(line: str) -> bool:
    return bool(_BULLET.match(line)) and not line.lstrip().startswith("*.")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _has_ports(lines: list[str]) -> bool:
    return any(syntax.PORT_MARKER.search(line) for line in lines)


@dataclass
class _Reader:
    lines: list[str]
    blocks: list[Block] = field(default_factory=list)
    first_table: int = -1
    """Index of the first table's header line (the date is looked for above it)."""

    def next_text(self, index: int) -> int:
        while index < len(self.lines) and not self.lines[index].strip():
            index += 1
        return index

    def read(self, index: int) -> None:
        index = self.next_text(index)
        while index < len(self.lines):
            index = self.next_text(self.block(index))

    def block(self, index: int) -> int:
        line = self.lines[index]
        if _is_bullet(line):
            return self.bullets(index)
        if vocabulary.is_note_label(line):
            return self.note(index)
        if self.id_header(index) or self.region_header(index):
            if self.first_table < 0:
                self.first_table = index
            return self.table(index)
        return self.paragraph(index)

    # ------------------------------------------------------------------ paragraphs, notes, bullets

    def paragraph_lines(self, index: int, nested: bool = False) -> tuple[list[str], int]:
        found: list[str] = []
        while index < len(self.lines) and self.lines[index].strip():
            line = self.lines[index]
            if found and (
                _is_bullet(line) or (not nested and (self.id_header(index) or self.region_header(index)))
            ):
                break
            found.append(line.strip())
            index += 1
        return found, index

    def paragraph(self, index: int) -> int:
        found, end = self.paragraph_lines(index)
        self.blocks.extend(_paragraph_blocks(found))
        return end

    def note(self, index: int) -> int:
        start = self.next_text(index + 1)
        if start >= len(self.lines) or _is_bullet(self.lines[start]):
            return index + 1
        found, end = self.paragraph_lines(start, nested=True)
        self.blocks.append(Note(" ".join(found)))
        return end

    def bullets(self, index: int) -> int:
        items: list[str] = []
        nested: list[Block] = []
        base = _indent(self.lines[index])
        while index < len(self.lines):
            line = self.lines[index]
            if _is_bullet(line) and _indent(line) >= base:
                text, index = self.bullet(index)
                items.append(text)
            elif _indent(line) > base:
                index = self.nested(index, nested)
            else:
                break
            following = self.next_text(index)
            if following >= len(self.lines) or _indent(self.lines[following]) < base:
                break
            index = following
        self.blocks.append(ListBlock(tuple(items)))
        self.blocks.extend(nested)
        return index

    def bullet(self, index: int) -> tuple[str, int]:
        parts = [_BULLET.sub("", self.lines[index]).strip()]
        index += 1
        base = _indent(self.lines[index - 1])
        while index < len(self.lines) and self.lines[index].strip() and not _is_bullet(self.lines[index]):
            if _indent(self.lines[index]) <= base:
                break
            parts.append(self.lines[index].strip())
            index += 1
        return " ".join(parts), index

    def nested(self, index: int, nested: list[Block]) -> int:
        if vocabulary.is_note_label(self.lines[index]):
            start = self.next_text(index + 1)
            found, end = self.paragraph_lines(start, nested=True)
            nested.append(Note(" ".join(found)))
            return end
        found, end = self.paragraph_lines(index, nested=True)
        nested.extend(_paragraph_blocks(found))
        return end

    # ------------------------------------------------------------------ tables

    def id_header(self, index: int) -> bool:
        tokens = self.lines[index].split()
        if len(tokens) < 3 or tokens[0] != "ID":
            return False
        following = self.next_text(index + 1)
        return following < len(self.lines) and bool(_ROW_START.match(self.lines[following]))

    def region_header(self, index: int) -> bool:
        tokens = self.lines[index].split()
        return (
            len(tokens) >= 2
            and "CDN" in tokens
            and tokens[-1] != "CDN"
            and vocabulary.column(tokens[-1]) is Column.PORTS
        )

    def table(self, index: int) -> int:
        header = self.lines[index].split()
        numbered = self.id_header(index)
        rows: list[list[str]] = []
        index += 1
        while index < len(self.lines):
            line = self.lines[index]
            current = rows[-1] if rows else None
            if not line.strip():
                following = self.next_text(index)
                if current is not None and not _has_ports(current) and following < len(self.lines):
                    current.append("")
                    index += 1
                    continue
                if not (numbered and following < len(self.lines) and _ROW_START.match(self.lines[following])):
                    break
                index = following
                continue
            if current is None or (_ROW_START.match(line) if numbered else _has_ports(current)):
                rows.append([line])
            else:
                current.append(line)
            index += 1
        cut = bool(rows) and not _has_ports(rows[-1])
        if numbered:
            roles = [vocabulary.column(word) for word in header]
            self.blocks.append(Table(tuple(header), tuple(_split_row(row, roles) for row in rows), cut))
        else:
            cells = tuple((tuple(line.strip() for line in row),) for row in rows)
            self.blocks.append(Table((" ".join(header),), cells, cut))
        return index


def _paragraph_blocks(lines: list[str]) -> list[Block]:
    if not lines:
        return []
    code = _code_lines(lines)
    if code is not None:
        return [CodeBlock(tuple(code))]
    if len(lines) >= 4 and _code_lines(lines[1:]) is not None:
        return [Paragraph(lines[0]), CodeBlock(tuple(lines[1:]))]
    if len(lines) == 1 and heading_like(lines[0]):
        return [Heading(2, lines[0])]
    return [Paragraph(" ".join(lines))]


def _code_lines(lines: list[str]) -> list[str] | None:
    """The lines, when there are at least three and all are host names or all are CIDRs."""
    if len(lines) < 3:
        return None
    if all(syntax.host(line) == line for line in lines) or all(syntax.cidr(line) for line in lines):
        return lines
    return None


# ---------------------------------------------------------------------------------------- ID table rows


def _split_row(lines: list[str], roles: list[Column | None]) -> tuple[Cell, ...]:
    """A copied ID-table row split back into cells, in the header's column order."""
    cells = _row_cells("\n".join(lines))
    return tuple(cells.get(role, ()) if role is not None else () for role in roles)


def _row_cells(text: str) -> dict[Column, Cell]:
    marker = syntax.PORT_MARKER.search(text)
    ports_at = marker.start() if marker is not None else len(text)
    tokens = list(_TOKEN.finditer(text[:ports_at]))
    if not tokens:
        return {}
    cells: dict[Column, Cell] = {Column.ID: (tokens[0].group(0),)}
    er = _er_index(tokens)
    if er is None:  # words in no vocabulary: everything before the ports is read as addresses
        cells[Column.ADDRESSES] = _lines(text[tokens[0].end() : ports_at])
    else:
        first = _category_start(tokens, er)
        cells[Column.DESC] = (" ".join(t.group(0) for t in tokens[1:first]),)
        cells[Column.CATEGORY] = tuple(t.group(0) for t in tokens[first:er])
        cells[Column.ER] = (tokens[er].group(0),)
        cells[Column.ADDRESSES] = _lines(text[tokens[er].end() : ports_at])
    ports, notes = _ports_and_notes(text[ports_at:])
    cells[Column.PORTS] = ports
    cells[Column.NOTES] = notes
    return cells


def _lines(text: str) -> Cell:
    return tuple(line.strip() for line in text.split("\n"))


def _er_index(tokens: list[re.Match[str]]) -> int | None:
    """The ER cell: the first true/false word right after a category or required word; failing that, the
    first true/false word followed by an address."""
    words = [t.group(0) for t in tokens]
    for index in range(2, len(words)):
        before = words[index - 1]
        if vocabulary.boolean(words[index]) is not None and (
            vocabulary.category(before) is not None or vocabulary.is_required(before)
        ):
            return index
    for index in range(2, len(words)):
        following = words[index + 1] if index + 1 < len(words) else ""
        if vocabulary.boolean(words[index]) is not None and (
            not following or syntax.host(following) or syntax.cidr(following)
        ):
            return index
    return None


def _category_start(tokens: list[re.Match[str]], er: int) -> int:
    """Where the category cell starts: one category word, then (optionally) the required word."""
    first = er
    if first > 2 and vocabulary.is_required(tokens[first - 1].group(0)):
        first -= 1
    if first > 1 and vocabulary.category(tokens[first - 1].group(0)) is not None:
        first -= 1
    return first if first < er else max(er - 1, 1)


def _ports_and_notes(text: str) -> tuple[Cell, Cell]:
    """The ports cell (the lines holding `TCP:`/`UDP:` markers and their numbers) and what follows."""
    ports: list[str] = []
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        rest = syntax.PORT_MARKER.sub(" ", line)
        if syntax.PORT_MARKER.search(line) or (ports and re.fullmatch(r"[\d,\s]*", rest)):
            head, tail = _split_port_line(line)
            ports.append(head)
            if tail:
                return tuple(ports), (tail, *(rest.strip() for rest in lines[index + 1 :]))
            continue
        return tuple(ports), tuple(rest.strip() for rest in lines[index:] if rest.strip())
    return tuple(ports), ()


def _split_port_line(line: str) -> tuple[str, str]:
    """'TCP: 80, 443 some note' -> ('TCP: 80, 443', 'some note')."""
    match = re.match(r"\s*(?:(?:TCP|UDP)\s*:\s*[\d,\s]*)+", line, re.IGNORECASE)
    end = match.end() if match is not None else 0
    return line[:end].strip(), line[end:].strip()

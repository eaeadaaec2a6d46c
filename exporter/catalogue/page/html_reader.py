"""HTML (learn.microsoft.com's, or the markdown source rendered by `markdown_reader`) to blocks.

Reads the article (`<main>` when there is one, so the site's navigation and footer are left out): headings,
paragraphs, lists, tables (cells split at `<br>`), `<pre>` code blocks, and notes (learn's
`<div class="NOTE">` or `<div class="alert">`, the markdown source's `> [!NOTE]` blockquotes). Tab groups
(`<div class="tabGroup">`, the markdown source's `# [Europe](#tab/europe)` headings) are read panel after
panel, without their labels.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from selectolax.lexbor import LexborHTMLParser, LexborNode

from exporter.catalogue.page import vocabulary
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

MAX_DEPTH = 100
"""Elements nested deeper than this are not read (a real page nests a dozen deep)."""

SKIPPED = {
    "script",
    "style",
    "template",
    "noscript",
    "nav",
    "button",
    "form",
    "svg",
    "iframe",
    "head",
    "-comment",
    "select",
    "input",
    "textarea",
    "object",
    "embed",
}
INLINE = {
    "-text",
    "a",
    "abbr",
    "b",
    "bdi",
    "bdo",
    "cite",
    "code",
    "data",
    "del",
    "dfn",
    "em",
    "i",
    "ins",
    "kbd",
    "mark",
    "q",
    "s",
    "samp",
    "small",
    "span",
    "strong",
    "sub",
    "sup",
    "time",
    "u",
    "var",
    "wbr",
    "img",
    "br",
    "font",
    "tt",
    "strike",
    "label",
}
NOTE_CLASSES = {"NOTE", "IMPORTANT", "CAUTION", "TIP", "WARNING"}
HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_SPACES = re.compile(r"\s+")
_NOTE_MARKER = re.compile(r"^\s*\[!(NOTE|IMPORTANT|CAUTION|TIP|WARNING)\]\s*", re.IGNORECASE)


def read_html(text: str) -> Document:
    tree = LexborHTMLParser(text)
    root = tree.css_first("main") or tree.body or tree.root
    blocks = tuple(_blocks(root, 0)) if root is not None else ()
    html = tree.css_first("html")
    locale = (html.attributes.get("lang") or "") if html is not None else ""
    return Document(
        blocks=blocks,
        title=_title(tree, blocks),
        locale=locale.strip().lower(),
        date=_meta(tree, "ms.date"),
    )


def page_title(text: str) -> str:
    """The document's `<title>` or first `<h1>` (to name an error page)."""
    tree = LexborHTMLParser(text)
    for selector in ("title", "h1"):
        node = tree.css_first(selector)
        if node is not None and node.text().strip():
            return _SPACES.sub(" ", node.text()).strip()
    return ""


def _title(tree: LexborHTMLParser, blocks: tuple[Block, ...]) -> str:
    for block in blocks:
        if isinstance(block, Heading) and block.level == 1:
            return block.text
    return page_title(tree.html or "")


def _meta(tree: LexborHTMLParser, name: str) -> str:
    for node in tree.css("meta"):
        if (node.attributes.get("name") or "").lower() == name:
            return (node.attributes.get("content") or "").strip()
    return ""


def _classes(node: LexborNode) -> set[str]:
    return set((node.attributes.get("class") or "").split())


def _blocks(node: LexborNode, depth: int) -> Iterator[Block]:
    """The blocks of a container's children, in order; runs of inline content become paragraphs."""
    if depth > MAX_DEPTH:
        return
    inline: list[LexborNode] = []
    for child in node.iter(include_text=True):
        if child.tag in INLINE:
            inline.append(child)
            continue
        yield from _paragraph(inline)
        inline = []
        yield from _block(child, depth + 1)
    yield from _paragraph(inline)


def _paragraph(nodes: list[LexborNode]) -> Iterator[Paragraph]:
    text = " ".join(_inline_lines(nodes)).strip()
    if text:
        yield Paragraph(text)


def _block(node: LexborNode, depth: int) -> Iterator[Block]:
    tag = node.tag or ""
    if tag in SKIPPED or node.attributes.get("role") == "tablist":
        return
    if tag in HEADINGS:
        yield from _heading(node, HEADINGS[tag])
    elif tag == "p":
        yield from _paragraph([node])
    elif tag in ("ul", "ol"):
        yield from _list(node, depth)
    elif tag == "table":
        yield from _table(node)
    elif tag == "pre":
        lines = tuple(line.rstrip() for line in node.text().splitlines())
        yield CodeBlock(tuple(line for line in lines if line.strip()))
    elif tag == "blockquote" or _classes(node) & NOTE_CLASSES or "alert" in _classes(node):
        yield from _note(node, depth)
    else:
        yield from _blocks(node, depth)


def _heading(node: LexborNode, level: int) -> Iterator[Heading]:
    link = node.css_first("a")
    if link is not None and (link.attributes.get("href") or "").startswith("#tab/"):
        return  # a tab label of the markdown source ('# [Europe](#tab/europe)'): not a section
    text = " ".join(_inline_lines([node])).strip()
    if text:
        yield Heading(level, text)


def _note(node: LexborNode, depth: int) -> Iterator[Block]:
    texts = []
    for block in _blocks(node, depth):
        if isinstance(block, Paragraph | Note):
            texts.append(block.text)
        elif isinstance(block, ListBlock):
            texts.extend(block.items)
        elif isinstance(block, CodeBlock):
            texts.extend(block.lines)
    if texts and vocabulary.is_note_label(texts[0]):
        texts = texts[1:]  # learn's label paragraph ('Note', '참고')
    text = _NOTE_MARKER.sub("", "\n".join(texts)).strip()
    if text:
        yield Note(text)


def _list(node: LexborNode, depth: int) -> Iterator[Block]:
    items: list[str] = []
    nested: list[Block] = []
    for item in node.iter(include_text=False):
        if item.tag != "li":
            continue
        own: list[LexborNode] = []
        for child in item.iter(include_text=True):
            if child.tag in INLINE or child.tag == "p":
                own.append(child)
            else:
                nested.extend(_block(child, depth + 1))
        text = " ".join(_inline_lines(own)).strip()
        if text:
            items.append(text)
    if items:
        yield ListBlock(tuple(items))
    yield from nested


def _table(node: LexborNode) -> Iterator[Table]:
    rows: list[tuple[Cell, ...]] = []
    header: tuple[str, ...] = ()
    for row in node.css("tr"):
        cells = [cell for cell in row.iter(include_text=False) if cell.tag in ("td", "th")]
        if not cells:
            continue
        if not header and all(cell.tag == "th" for cell in cells):
            header = tuple(" ".join(_inline_lines([cell])).strip() for cell in cells)
            continue
        rows.append(tuple(_cell_lines(cell) for cell in cells))
    if not header and rows:  # a table without <th>: its first row is the header
        header, rows = tuple(" ".join(cell).strip() for cell in rows[0]), rows[1:]
    if header:
        yield Table(header, tuple(rows))


def _cell_lines(node: LexborNode) -> Cell:
    return tuple(line.strip() for line in _inline_lines([node]))


def _inline_lines(nodes: list[LexborNode]) -> list[str]:
    """The text of inline content, as lines: `<br>` and block elements inside (a `<p>` in a cell) break
    lines; runs of white space become one space."""
    lines: list[str] = [""]
    _collect(nodes, lines, 0)
    return [_SPACES.sub(" ", line) for line in lines]


def _collect(nodes: list[LexborNode], lines: list[str], depth: int) -> None:
    if depth > MAX_DEPTH:
        return
    for node in nodes:
        tag = node.tag or ""
        if tag == "-text":
            lines[-1] += node.text(deep=False) or ""
        elif tag == "br":
            lines.append("")
        elif tag in SKIPPED:
            continue
        else:
            block = tag not in INLINE
            if block and lines[-1].strip():
                lines.append("")
            _collect(list(node.iter(include_text=True)), lines, depth + 1)
            if block and lines[-1].strip():
                lines.append("")

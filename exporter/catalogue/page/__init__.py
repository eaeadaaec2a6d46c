"""Microsoft's "Network endpoints for Microsoft Intune" page, read in any of its forms (learn.microsoft.com
HTML in any locale, the markdown source, text copied from the rendered page) into a `ParsedPage`.

`parse_page` detects the form, a reader turns the document into blocks (`html_reader`, `markdown_reader`,
`text_reader`), and `interpret` reads the facts from the blocks. `convert.to_catalogue` makes a catalogue
of the result. Anything that is not a usable edition raises `PageError`, one line naming the source.
"""

from __future__ import annotations

import codecs
import re

from exporter.catalogue.page.blocks import Document, Table
from exporter.catalogue.page.html_reader import page_title, read_html
from exporter.catalogue.page.interpret import interpret
from exporter.catalogue.page.markdown_reader import read_markdown
from exporter.catalogue.page.model import (
    UNNUMBERED_IDS,
    PageEdition,
    PageError,
    PageForm,
    PageSet,
    ParsedPage,
)
from exporter.catalogue.page.tables import is_id_table
from exporter.catalogue.page.text_reader import read_text

__all__ = [
    "UNNUMBERED_IDS",
    "PageEdition",
    "PageError",
    "PageForm",
    "PageSet",
    "ParsedPage",
    "detect_form",
    "parse_page",
]

_HTML_START = re.compile(r"\A\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html)[\s>]", re.IGNORECASE | re.DOTALL)
_HTML_ANYWHERE = re.compile(r"<html[\s>]", re.IGNORECASE)
_FRONT_MATTER = re.compile(r"\A\s*---[ \t]*\r?\n")
_PIPE_TABLE = re.compile(r"^\s*\|?\s*ID\s*\|", re.MULTILINE)
_ERROR_TITLE = re.compile(
    r"\b[45]\d\d\b|not found|error|forbidden|unavailable|denied|too many requests|bad gateway"
    r"|unauthori[sz]ed",
    re.IGNORECASE,
)


def detect_form(text: str, content_type: str = "") -> PageForm:
    """HTML by its Content-Type or its start; markdown by front matter or an `| ID |` pipe table; or text."""
    if "html" in content_type.lower() or _HTML_START.match(text):
        return PageForm.HTML
    if _FRONT_MATTER.match(text) or _PIPE_TABLE.search(text):
        return PageForm.MARKDOWN
    return PageForm.HTML if _HTML_ANYWHERE.search(text[:4096]) else PageForm.TEXT


def _decode(body: bytes, source: str) -> str:
    bom = len(codecs.BOM_UTF8) if body.startswith(codecs.BOM_UTF8) else 0
    try:
        text = body[bom:].decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = bom + exc.start
        raise PageError(
            f"{source}: not UTF-8 text (byte 0x{body[offset]:02x} at offset {offset} is not UTF-8)"
        ) from None
    if "\x00" in text:
        raise PageError(f"{source}: not text (it holds NUL characters)")
    return text


def _read(text: str, form: PageForm) -> Document:
    if form is PageForm.HTML:
        return read_html(text)
    if form is PageForm.MARKDOWN:
        return read_markdown(text)
    return read_text(text)


def _check_error_page(text: str, document: Document, source: str) -> None:
    if any(isinstance(block, Table) and is_id_table(block) for block in document.blocks):
        return
    title = page_title(text)
    if _ERROR_TITLE.search(title):
        raise PageError(f"{source}: an HTML error page ('{title[:80]}'), not the endpoints article")


def parse_page(body: bytes, source: str, content_type: str = "") -> ParsedPage:
    """The page's facts. Raises `PageError` (one line naming `source`) for a document that is not a usable
    edition: not UTF-8, an HTML error page, another article, a truncated one, a table missing a column."""
    if not body.strip():
        raise PageError(f"{source}: the document is empty")
    text = _decode(body, source)
    form = detect_form(text, content_type)
    document = _read(text, form)
    if form is PageForm.HTML:
        _check_error_page(text, document, source)
    return interpret(document, source, form)

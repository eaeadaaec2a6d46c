"""The article's markdown source to blocks: front matter read for the title and date, the rest rendered to
HTML (CommonMark with tables) and read like learn.microsoft.com's HTML."""

from __future__ import annotations

import datetime
import re
from typing import Any

import yaml
from markdown_it import MarkdownIt

from exporter.catalogue.page.blocks import Document
from exporter.catalogue.page.html_reader import read_html

_FRONT_MATTER = re.compile(r"\A\s*---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.DOTALL)


def split_front_matter(text: str) -> tuple[dict[str, Any], str, list[str]]:
    """(front matter, the rest, warnings)."""
    match = _FRONT_MATTER.match(text)
    if match is None:
        return {}, text, []
    try:
        data = yaml.safe_load(match.group(1))
    except yaml.YAMLError as exc:
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return {}, text[match.end() :], [f"front matter is not YAML ({problem}); title and date not read"]
    if not isinstance(data, dict):
        return {}, text[match.end() :], ["front matter is not a mapping; title and date not read"]
    return data, text[match.end() :], []


def _text(value: Any) -> str:
    if isinstance(value, datetime.date | datetime.datetime):
        return value.isoformat()
    return str(value).strip() if isinstance(value, str | int | float) else ""


def read_markdown(text: str) -> Document:
    front, body, warnings = split_front_matter(text)
    html = MarkdownIt("commonmark").enable("table").render(body)
    document = read_html(f"<html><body><main>{html}</main></body></html>")
    return Document(
        blocks=document.blocks,
        title=_text(front.get("title")) or document.title,
        locale=_text(front.get("ms.locale")).lower(),
        date=_text(front.get("ms.date")),
        warnings=tuple(warnings),
    )

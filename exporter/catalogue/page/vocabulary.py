"""The few words of the page the parser has to understand, per language.

Everything else is read from structure (the ID column, code spans, host and CIDR syntax, `TCP:` markers).
A word found where one of these is expected and known in no language is reported in `ParsedPage.warnings`.
Lookups accept the words of every language: the Korean edition, for one, writes its ER column in English
("True"). To read a new language, add a `Vocabulary` to `VOCABULARIES`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from exporter.catalogue.model import Category


class Column(StrEnum):
    """The columns of an ID table."""

    ID = "ID"
    DESC = "Desc"
    CATEGORY = "Category"
    ER = "ER"
    ADDRESSES = "Addresses"
    PORTS = "Ports"
    NOTES = "Notes"


REQUIRED_COLUMNS = (Column.ID, Column.DESC, Column.CATEGORY, Column.ER, Column.ADDRESSES, Column.PORTS)


@dataclass(frozen=True)
class Vocabulary:
    language: str
    """ISO 639-1 code, the first part of a locale ('ko' of 'ko-kr')."""
    locale: str
    """The locale a document in this language is guessed to be when it does not say."""
    categories: dict[str, Category]
    required: tuple[str, ...]
    true: tuple[str, ...]
    false: tuple[str, ...]
    columns: dict[str, Column]
    note_labels: tuple[str, ...]
    """The label a rendered note starts with ('Note', '참고'): it marks a note in copied text."""
    sections: dict[str, str] = field(default_factory=dict)
    """A phrase of a heading -> the unnumbered set id its host lists give."""
    byte_ranges: tuple[str, ...] = ()
    """Phrases saying byte-range (HTTP partial) requests must be allowed."""
    optional: tuple[str, ...] = ()
    port_words: tuple[str, ...] = ()


ENGLISH = Vocabulary(
    language="en",
    locale="en-us",
    categories={"allow": Category.ALLOW, "default": Category.DEFAULT, "optimize": Category.OPTIMIZE},
    required=("required",),
    true=("true", "yes"),
    false=("false", "no"),
    columns={
        "id": Column.ID,
        "desc": Column.DESC,
        "description": Column.DESC,
        "category": Column.CATEGORY,
        "er": Column.ER,
        "addresses": Column.ADDRESSES,
        "address": Column.ADDRESSES,
        "ports": Column.PORTS,
        "port": Column.PORTS,
        "notes": Column.NOTES,
        "note": Column.NOTES,
    },
    note_labels=("note", "important", "caution", "tip", "warning"),
    sections={
        "microsoft store": "store",
        "defender": "defender",
        "endpoint privilege management": "epm",
    },
    byte_ranges=("byte range", "partial response"),
    optional=("optional",),
    port_words=("port", "ports"),
)

KOREAN = Vocabulary(
    language="ko",
    locale="ko-kr",
    categories={"허용": Category.ALLOW, "기본": Category.DEFAULT, "최적화": Category.OPTIMIZE},
    required=("필수",),
    true=("참", "예"),
    false=("거짓", "아니요"),
    columns={
        "설명": Column.DESC,
        "범주": Column.CATEGORY,
        "주소": Column.ADDRESSES,
        "포트": Column.PORTS,
        "참고": Column.NOTES,
    },
    note_labels=("참고", "중요", "주의", "팁", "경고"),
    sections={
        "microsoft store": "store",
        "defender": "defender",
        "엔드포인트 권한 관리": "epm",
    },
    byte_ranges=("바이트 범위", "부분 응답"),
    optional=("선택 사항",),
    port_words=("포트",),
)

VOCABULARIES: dict[str, Vocabulary] = {v.language: v for v in (ENGLISH, KOREAN)}

# Terms the same in every language: protocol names (with the transport they run on) and the set names the
# page's notes use as abbreviations.
PROTOCOLS: dict[str, str] = {"tcp": "tcp", "udp": "udp", "http": "tcp", "https": "tcp", "teredo": "udp"}
"""Teredo (RFC 4380) tunnels over UDP: the page names its port without a transport."""
SSL_TERM = re.compile(r"(?<![A-Za-z0-9])(?:SSL|TLS)(?![A-Za-z0-9])", re.IGNORECASE)
SET_ABBREVIATIONS: dict[str, str] = {"DHA": "dha", "MAA": "maa"}


def _fold(word: str) -> str:
    return word.strip().strip(".,;:()").casefold()


def category(word: str) -> Category | None:
    folded = _fold(word)
    for vocabulary in VOCABULARIES.values():
        if folded in vocabulary.categories:
            return vocabulary.categories[folded]
    return None


def is_required(word: str) -> bool:
    return any(_fold(word) in v.required for v in VOCABULARIES.values())


def boolean(word: str) -> bool | None:
    folded = _fold(word)
    if any(folded in v.true for v in VOCABULARIES.values()):
        return True
    if any(folded in v.false for v in VOCABULARIES.values()):
        return False
    return None


def column(header: str) -> Column | None:
    folded = _fold(header)
    for vocabulary in VOCABULARIES.values():
        if folded in vocabulary.columns:
            return vocabulary.columns[folded]
    return None


def is_note_label(line: str) -> bool:
    return any(_fold(line) in v.note_labels for v in VOCABULARIES.values())


def section_set(heading: str) -> str | None:
    """The unnumbered set a heading's host lists give ('store', 'defender', 'epm'), by its words."""
    folded = heading.casefold()
    for vocabulary in VOCABULARIES.values():
        for phrase, set_id in vocabulary.sections.items():
            if phrase in folded:
                return set_id
    return None


def _says(text: str, phrases: tuple[str, ...]) -> bool:
    folded = text.casefold()
    return any(phrase in folded for phrase in phrases)


def says_byte_ranges(text: str) -> bool:
    return any(_says(text, v.byte_ranges) for v in VOCABULARIES.values())


def says_optional(text: str) -> bool:
    return any(_says(text, v.optional) for v in VOCABULARIES.values())


def says_ssl(text: str) -> bool:
    return SSL_TERM.search(text) is not None


def port_words() -> tuple[str, ...]:
    return tuple(word for v in VOCABULARIES.values() for word in v.port_words)


def known_word(word: str) -> bool:
    """A category, required or true/false word of some language."""
    return category(word) is not None or is_required(word) or boolean(word) is not None


def vocabulary_for(locale: str) -> Vocabulary | None:
    return VOCABULARIES.get(locale.split("-")[0].casefold())


_HANGUL = re.compile(r"[\uac00-\ud7a3]")
_KANA = re.compile(r"[\u3040-\u30ff]")
_WORD = re.compile(r"[^\W\d_]+")


def guess_locale(text: str) -> str:
    """A locale for a document that does not state one: Hangul -> ko-kr, kana -> ja-jp; otherwise the
    language whose category and true/false words the document uses most; '' when none."""
    if len(_HANGUL.findall(text)) > 50:
        return KOREAN.locale
    if len(_KANA.findall(text)) > 50:
        return "ja-jp"
    words = [w.casefold() for w in _WORD.findall(text)]
    best, best_hits = "", 0
    for vocabulary in VOCABULARIES.values():
        known = {*vocabulary.categories, *vocabulary.required, *vocabulary.true, *vocabulary.false}
        hits = sum(1 for w in words if w in known)
        if hits > best_hits:
            best, best_hits = vocabulary.locale, hits
    return best

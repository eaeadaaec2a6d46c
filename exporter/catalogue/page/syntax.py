"""Recognising the page's facts by their syntax: host names, CIDRs, scale unit codes, `TCP:` port markers and
port numbers in prose."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from exporter.catalogue.model import HOST, SCALE_UNIT
from exporter.catalogue.page import vocabulary

# A host name inside prose: optional '*.', dotted labels, a letter-only top-level label; not glued to other
# ASCII word characters (so "$_.ServiceArea" or "script.ps1" never count; a Korean particle may follow).
HOST_IN_TEXT = re.compile(
    r"(?<![A-Za-z0-9_*.@/$-])(?:\*\.)?(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?\.)+[A-Za-z]{2,}"
    r"(?![A-Za-z0-9_-]|\.[A-Za-z0-9])"
)
QUOTED = re.compile("['\u2018\u2019]([^'\u2018\u2019\\s]+)['\u2018\u2019]")
"""The page quotes hosts in prose in single quotes ('has.spserv.microsoft.com'); double quotes are code's."""
PARENTHETICAL = re.compile(r"\([^()]*\)")
PORT_MARKER = re.compile(r"\b(TCP|UDP)\s*:", re.IGNORECASE)
NUMBER = re.compile(r"\d+")
STORAGE_ACCOUNT = re.compile(r"^[a-z][a-z0-9]{2,23}$")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_URL_SCHEME = re.compile(r"\b(?:https?|ftp)://", re.IGNORECASE)
_TRIM = "`'\"\u2018\u2019\u201c\u201d<>[]{},;."
_IPV4_CIDR = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}/\d{1,2}$")
_IPV6_CIDR = re.compile(r"^[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*/\d{1,3}$")


def host(token: str) -> str | None:
    """The host name a token names ('https://host/path', quoted, in a code span), or None."""
    text = _SCHEME.sub("", token.strip(_TRIM)).split("/", 1)[0].strip(_TRIM)
    if HOST.match(text) and any(c.isalpha() for c in text.rsplit(".", 1)[-1]):
        return text
    return None


def looks_like_cidr(token: str) -> bool:
    text = token.strip(_TRIM)
    return bool(_IPV4_CIDR.match(text) or _IPV6_CIDR.match(text))


def cidr(token: str) -> tuple[str, str | None] | None:
    """(canonical CIDR, remark) for a CIDR token; the remark says when host bits had to be cleared."""
    text = token.strip(_TRIM)
    if not looks_like_cidr(text):
        return None
    try:
        return str(ipaddress.ip_network(text, strict=True)), None
    except ValueError:
        pass
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
    return str(network), f"{text} has host bits set; read as {network}"


def hosts_in_text(text: str) -> list[str]:
    """Host names written in prose, in order: quoted URLs and bare names alike."""
    found = []
    for match in HOST_IN_TEXT.finditer(_URL_SCHEME.sub(" ", text)):
        name = host(match.group(0))
        if name is not None:
            found.append(name)
    return found


def quoted_hosts(text: str) -> list[str]:
    """Host names the text quotes ('has.spserv.microsoft.com', 'https://intunemaape1...')."""
    return [name for name in (host(m.group(1)) for m in QUOTED.finditer(text)) if name is not None]


def without_parentheticals(text: str) -> str:
    """A cell's text without its remarks in parentheses ('(Starting March 2025, ...)')."""
    previous = None
    while previous != text:
        previous, text = text, PARENTHETICAL.sub(" ", text)
    return text


@dataclass
class Addresses:
    hosts: list[str] = field(default_factory=list)
    cidrs: list[str] = field(default_factory=list)
    scale_units: list[str] = field(default_factory=list)
    storage_accounts: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    remarks: list[str] = field(default_factory=list)

    def add(self, items: list[str], item: str) -> None:
        if item in items:
            self.remarks.append(f"{item} is listed twice; kept once")
        else:
            items.append(item)


def read_addresses(lines: tuple[str, ...] | list[str], *, storage: bool = False) -> Addresses:
    """Hosts, CIDRs (and, in a region table, scale units and storage names) of a cell's lines. A line ending
    with ':' is a label ('Azure Front Door Endpoints:'); remarks in parentheses are not addresses."""
    found = Addresses()
    for line in without_parentheticals("\n".join(lines)).splitlines():
        if line.strip().endswith(":"):
            continue
        for token in re.split(r"[\s,;]+", line):
            _read_token(found, token.strip(_TRIM), storage)
    return found


def _read_token(found: Addresses, token: str, storage: bool) -> None:
    if not token or not any(c.isalnum() for c in token):
        return
    network = cidr(token)
    if network is not None:
        found.add(found.cidrs, network[0])
        if network[1] is not None:
            found.remarks.append(network[1])
        return
    name = host(token)
    if name is not None:
        found.add(found.hosts, name)
    elif SCALE_UNIT.match(token):
        found.add(found.scale_units, token)
    elif storage and STORAGE_ACCOUNT.match(token):
        found.add(found.storage_accounts, token)
    else:
        found.unknown.append(token)


@dataclass
class Ports:
    tcp: list[int] = field(default_factory=list)
    udp: list[int] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


def read_ports(text: str) -> Ports:
    """`TCP: 80, 443` and `UDP: 123` markers and the numbers after each."""
    ports = Ports()
    markers = list(PORT_MARKER.finditer(text))
    if not markers:
        ports.unknown.extend(text.split())
        return ports
    leading = text[: markers[0].start()].strip()
    if leading:
        ports.unknown.append(leading)
    for index, marker in enumerate(markers):
        end = markers[index + 1].start() if index + 1 < len(markers) else len(text)
        target = ports.tcp if marker.group(1).lower() == "tcp" else ports.udp
        for token in re.split(r"[\s,/]+", text[marker.end() : end]):
            token = token.strip(_TRIM)
            if not token:
                continue
            if token.isdigit() and 0 < int(token) < 65536:
                if int(token) not in target:
                    target.append(int(token))
            elif token.casefold() not in ("and", "및", "or", "또는"):
                ports.unknown.append(token)
    return ports


# ------------------------------------------------------------------------------------------ prose ports

_SENTENCE = re.compile(r"(?<=[.!?。])\s+|(?<=다\.)|\n")
_PROTOCOL = re.compile(r"(?<![A-Za-z0-9])(TCP|UDP|HTTPS?|Teredo)(?![A-Za-z0-9])", re.IGNORECASE)
_PORT_NUMBER = re.compile(
    r"(?<![\w.:/-])(?:(TCP|UDP|HTTPS?)/)?([1-9]\d{1,4}(?:/[1-9]\d{1,4})*)(?![\d.,]\d|[\w-]*[A-Za-z%])"
)
_NAME_BEFORE = re.compile(r"\b([A-Z][a-z]+)\s+$")
"""'Windows 10', 'Office 365': a capitalised name before a number makes it a version, not a port."""


def prose_ports(text: str) -> list[tuple[str, int]]:
    """(transport, port) pairs a paragraph names: numbers in a sentence that names a protocol or the word
    for port, e.g. 'HTTPS/443', 'tcp port 443', '7680 for TCP/IP', 'Teredo on port 3544'. Each number gets
    the transport of the protocol named nearest to it (TCP when only 'port' is said)."""
    found: list[tuple[str, int]] = []
    for sentence in _SENTENCE.split(text):
        for transport, number in _sentence_ports(sentence):
            if (transport, number) not in found:
                found.append((transport, number))
    return found


def _sentence_ports(sentence: str) -> list[tuple[str, int]]:
    words = vocabulary.port_words()
    protocols = [
        (m.start(), m.end(), vocabulary.PROTOCOLS[m.group(1).lower()]) for m in _PROTOCOL.finditer(sentence)
    ]
    folded = sentence.casefold()
    if not protocols and not any(re.search(rf"(?<!\w){re.escape(w)}", folded) for w in words):
        return []
    found: list[tuple[str, int]] = []
    for match in _PORT_NUMBER.finditer(sentence):
        name = _NAME_BEFORE.search(sentence[: match.start()])
        if name is not None and name.group(1).casefold() not in words:
            continue
        transport = (
            vocabulary.PROTOCOLS[match.group(1).lower()]
            if match.group(1)
            else _nearest(sentence, match, protocols)
        )
        found.extend((transport, int(n)) for n in match.group(2).split("/") if int(n) <= 65535)
    return found


def _nearest(sentence: str, number: re.Match[str], protocols: list[tuple[int, int, str]]) -> str:
    """The transport of the protocol named nearest to `number`, in its clause (between commas) if one is
    named there; TCP when none is named."""
    start = max(sentence.rfind(",", 0, number.start()), sentence.rfind(";", 0, number.start()))
    ends = [i for i in (sentence.find(",", number.end()), sentence.find(";", number.end())) if i >= 0]
    end = min(ends) if ends else len(sentence)
    in_clause = [p for p in protocols if p[0] > start and p[1] <= end]
    candidates = in_clause or protocols
    if not candidates:
        return "tcp"

    def distance(protocol: tuple[int, int, str]) -> int:
        return max(protocol[0] - number.end(), number.start() - protocol[1], 0)

    return min(candidates, key=distance)[2]

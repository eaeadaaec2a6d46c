"""The page's tables to endpoint sets: ID tables (one numbered set per row) and region tables (one regional
set per row, named by its CDN hosts: asu-na/eu/ap, macos-na/eu/ap)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from exporter.catalogue.model import Category
from exporter.catalogue.page import syntax, vocabulary
from exporter.catalogue.page.blocks import Cell, Table
from exporter.catalogue.page.model import UNNUMBERED_IDS, PageError, PageSet
from exporter.catalogue.page.vocabulary import REQUIRED_COLUMNS, Column

T = TypeVar("T")


@dataclass
class Draft:
    """A set being read; `freeze` makes the `PageSet`."""

    id: str
    name: str
    section: str
    category: Category | None = None
    required: bool | None = None
    express_route: bool | None = None
    hosts: list[str] = field(default_factory=list)
    cidrs: list[str] = field(default_factory=list)
    tcp_ports: list[int] = field(default_factory=list)
    udp_ports: list[int] = field(default_factory=list)
    scale_units: list[str] = field(default_factory=list)
    storage_accounts: list[str] = field(default_factory=list)
    remarks: list[str] = field(default_factory=list)

    @classmethod
    def unnumbered(cls, set_id: str, section: str) -> Draft:
        return cls(set_id, UNNUMBERED_IDS[set_id], section)

    def add_addresses(self, found: syntax.Addresses) -> None:
        _extend(self.hosts, found.hosts, key=str.lower)
        _extend(self.cidrs, found.cidrs)
        _extend(self.scale_units, found.scale_units)
        _extend(self.storage_accounts, found.storage_accounts)
        _extend(self.remarks, found.remarks)

    def add_ports(self, tcp: list[int], udp: list[int]) -> None:
        _extend(self.tcp_ports, tcp)
        _extend(self.udp_ports, udp)

    def facts(self) -> tuple[object, ...]:
        return (
            self.category, self.required, self.express_route, [h.lower() for h in self.hosts], self.cidrs,
            self.tcp_ports, self.udp_ports, self.scale_units, self.storage_accounts,
        )  # fmt: skip

    def merge(self, other: Draft) -> None:
        """`other` lists the same set again (set 172 is in two tables): its facts are added."""
        self.category = self.category if self.category is not None else other.category
        self.required = self.required if self.required is not None else other.required
        self.express_route = self.express_route if self.express_route is not None else other.express_route
        _extend(self.hosts, other.hosts, key=str.lower)
        _extend(self.cidrs, other.cidrs)
        self.add_ports(other.tcp_ports, other.udp_ports)
        _extend(self.scale_units, other.scale_units)
        _extend(self.storage_accounts, other.storage_accounts)
        _extend(self.remarks, other.remarks)

    def freeze(self) -> PageSet:
        return PageSet(
            id=self.id,
            name=self.name,
            section=self.section,
            category=self.category,
            required=self.required,
            express_route=self.express_route,
            hosts=tuple(self.hosts),
            cidrs=tuple(self.cidrs),
            tcp_ports=tuple(self.tcp_ports),
            udp_ports=tuple(self.udp_ports),
            scale_units=tuple(self.scale_units),
            storage_accounts=tuple(self.storage_accounts),
            remarks=tuple(self.remarks),
        )


def _extend(target: list[T], items: list[T], key: Callable[[T], object] | None = None) -> None:
    def marker(item: T) -> object:
        return key(item) if key is not None else item

    seen = {marker(item) for item in target}
    for item in items:
        if marker(item) not in seen:
            target.append(item)
            seen.add(marker(item))


def is_id_table(table: Table) -> bool:
    return any(vocabulary.column(cell) is Column.ID for cell in table.header)


def names_intune(table: Table) -> bool:
    """Some cell of the table names manage.microsoft.com (Intune's own service)."""
    return any(
        "manage.microsoft.com" in line.casefold() for row in table.rows for cell in row for line in cell
    )


def _text(cell: Cell) -> str:
    return " ".join(line.strip() for line in cell).strip()


# ------------------------------------------------------------------------------------------ ID tables


@dataclass
class IdTable:
    table: Table
    section: str
    source: str
    last: bool
    """The table is the document's last block (a table cut there is a truncated document)."""
    warnings: list[str]

    def columns(self) -> dict[Column, int]:
        roles = [vocabulary.column(cell) for cell in self.table.header]
        for header, role in zip(self.table.header, roles, strict=True):
            if role is None:
                self.warnings.append(
                    f"the ID table under '{self.section}' has a column '{header}' known in "
                    "no vocabulary; ignored"
                )
        missing = [column for column in REQUIRED_COLUMNS if column not in roles]
        if missing:
            raise PageError(
                f"{self.source}: the ID table under '{self.section}' has no {missing[0].value} column "
                f"(its columns: {', '.join(self.table.header)})"
            )
        return {role: index for index, role in enumerate(roles) if role is not None}

    def check_cut(self, columns: dict[Column, int]) -> None:
        rows = [row for row in self.table.rows if any(_text(cell) for cell in row)]
        if not rows:
            return
        last = rows[-1]
        ports = last[columns[Column.PORTS]] if columns[Column.PORTS] < len(last) else ()
        if self.table.cut or (self.last and not _text(ports)):
            row_id = _text(last[columns[Column.ID]]) if columns[Column.ID] < len(last) else "?"
            raise PageError(
                f"{self.source}: the document ends in the middle of row {row_id or '?'} of the ID table "
                f"under '{self.section}' (no Ports): it is truncated"
            )

    def read(self) -> list[Draft]:
        columns = self.columns()
        self.check_cut(columns)
        drafts = []
        for row in self.table.rows:
            cells = {role: row[index] if index < len(row) else () for role, index in columns.items()}
            if not any(_text(cell) for cell in cells.values()):
                continue
            draft = self.row(cells)
            if draft is not None:
                drafts.append(draft)
        return drafts

    def row(self, cells: dict[Column, Cell]) -> Draft | None:
        id_text = _text(cells[Column.ID])
        number = re.search(r"\d+", id_text)
        if number is None:
            self.warnings.append(
                f"a row of the ID table under '{self.section}' has no number in its ID column "
                f"('{id_text}'); row skipped"
            )
            return None
        draft = Draft(str(int(number.group(0))), _text(cells[Column.DESC]), self.section)
        self.category(draft, cells[Column.CATEGORY])
        self.express_route(draft, cells[Column.ER])
        self.addresses(draft, cells[Column.ADDRESSES])
        self.ports(draft, cells[Column.PORTS])
        return draft

    def category(self, draft: Draft, cell: Cell) -> None:
        words = _text(cell).split()
        unknown = []
        for word in words:
            found = vocabulary.category(word)
            if found is not None and draft.category is None:
                draft.category = found
            elif vocabulary.is_required(word):
                draft.required = True
            else:
                unknown.append(word)
        if draft.category is not None and draft.required is None:
            draft.required = False
        if unknown:
            self.warnings.append(
                f"set {draft.id}: words in the Category column known in no vocabulary: {' '.join(unknown)}"
            )
        elif not words:
            self.warnings.append(f"set {draft.id}: the Category column is empty")

    def express_route(self, draft: Draft, cell: Cell) -> None:
        text = _text(cell)
        draft.express_route = vocabulary.boolean(text.split()[0]) if text else None
        if draft.express_route is None or len(text.split()) > 1:
            self.warnings.append(
                f"set {draft.id}: ER column '{text}' is not a true/false word of any vocabulary"
            )

    def addresses(self, draft: Draft, cell: Cell) -> None:
        found = syntax.read_addresses(cell)
        draft.add_addresses(found)
        if found.unknown:
            self.warnings.append(
                f"set {draft.id}: not a host name or CIDR in the Addresses column: {' '.join(found.unknown)}"
            )

    def ports(self, draft: Draft, cell: Cell) -> None:
        found = syntax.read_ports(_text(cell))
        draft.add_ports(found.tcp, found.udp)
        if found.unknown or not (found.tcp or found.udp):
            self.warnings.append(
                f"set {draft.id}: Ports column '{_text(cell)}' is not 'TCP: n, ...' or 'UDP: n'"
            )


# ------------------------------------------------------------------------------------------ region tables

_ASU_HOST = re.compile(r"^(na|eu|ap)prod", re.IGNORECASE)
_IME_HOST = re.compile(r"^imeswd([abc])-", re.IGNORECASE)
_MAC_HOST = re.compile(r"^macsidecar(?:prod)?(eu|ap)?$", re.IGNORECASE)
_IME_REGIONS = {"a": "na", "b": "eu", "c": "ap"}


def region_set_id(host: str) -> str | None:
    """asu-* or macos-* by the host's first label: naprodimedatapri (asu-na), imeswdb-afd-primary (asu-eu),
    macsidecarprodap (macos-ap), macsidecar (macos-na)."""
    label = host.split(".", 1)[0]
    if (match := _MAC_HOST.match(label)) is not None:
        return f"macos-{(match.group(1) or 'na').lower()}"
    if (match := _ASU_HOST.match(label)) is not None:
        return f"asu-{match.group(1).lower()}"
    if (match := _IME_HOST.match(label)) is not None:
        return f"asu-{_IME_REGIONS[match.group(1).lower()]}"
    return None


def read_region_table(
    table: Table, section: str, source: str, last: bool, warnings: list[str]
) -> list[Draft]:
    """One regional set per row of a table without an ID column; rows without region hosts are not read."""
    drafts = []
    rows = [row for row in table.rows if any(_text(cell) for cell in row)]
    for index, row in enumerate(rows):
        text = "\n".join(line for cell in row for line in cell)
        marker = syntax.PORT_MARKER.search(text)
        found = syntax.read_addresses(
            text[: marker.start() if marker else len(text)].splitlines(), storage=True
        )
        set_id = _region(found.hosts, section, warnings)
        if set_id is None:
            continue
        if marker is None and (table.cut or (last and index == len(rows) - 1)):
            raise PageError(
                f"{source}: the document ends in the middle of the table under '{section}' (a row without "
                "ports): it is truncated"
            )
        ports = syntax.read_ports(text[marker.start() :] if marker is not None else "")
        draft = Draft.unnumbered(set_id, section)
        draft.add_addresses(found)
        draft.add_ports(ports.tcp, ports.udp)
        if not (ports.tcp or ports.udp):
            warnings.append(f"set {set_id}: no 'TCP: n' ports in its row of the table under '{section}'")
        drafts.append(draft)
    return drafts


def _region(hosts: list[str], section: str, warnings: list[str]) -> str | None:
    """The regional set a row's hosts name (the most named one, if they disagree)."""
    votes = Counter(set_id for set_id in map(region_set_id, hosts) if set_id is not None)
    if not votes:
        if hosts:
            warnings.append(
                f"a row of the table under '{section}' lists hosts of no known region: {' '.join(hosts)}"
            )
        return None
    set_id = votes.most_common(1)[0][0]
    if len(votes) > 1:
        warnings.append(
            f"a row of the table under '{section}' mixes regions ({', '.join(votes)}); read as {set_id}"
        )
    return set_id

"""Blocks to a `ParsedPage`: the page's facts read from its structure.

- Numbered sets: the rows of the ID tables (`tables.IdTable`); a set listed in two tables is merged.
- Region tables (no ID column, CDN hosts per region): asu-na/eu/ap and macos-na/eu/ap by host prefix.
- Host lists (bullets), by where they are: before the first ID table, the hosts needing unauthenticated proxy
  access; `*.attest.azure.net` hosts, maa; under a heading naming the Microsoft Store, store (its first list)
  and win32-cache (later lists); Defender, defender; Endpoint Privilege Management, epm; after a region
  table, ime-diagnostics. A quoted host in the prose of the attestation section is dha.
- Prose: port numbers next to a protocol or the word for port; under an ID table, numbers that are not the
  table's ports make do-peer (Delivery Optimization's peer ports); elsewhere they are the ports of the
  section's lists. A sentence about SSL flags the hosts it names (or, naming none, the list right above
  it, else the section's lists); one about byte ranges or partial responses flags the section's table sets.
- Code blocks after the last ID table: all host names, the consolidated FQDN list; all CIDRs, the subnets.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field

from exporter.catalogue.page import syntax, vocabulary
from exporter.catalogue.page.blocks import (
    Block,
    CodeBlock,
    Document,
    Heading,
    ListBlock,
    Note,
    Paragraph,
    Table,
)
from exporter.catalogue.page.model import PageEdition, PageError, PageForm, ParsedPage
from exporter.catalogue.page.tables import Draft, IdTable, is_id_table, names_intune, read_region_table

MIN_SETS = 5
"""Fewer numbered sets than this and the document is a truncated edition (a whole one has about 20)."""
ATTESTATION_DOMAIN = ".attest.azure.net"
_ABBREVIATION = re.compile(r"\b[A-Z]{3}\b")


@dataclass
class _Section:
    heading: str
    table_sets: list[str] = field(default_factory=list)
    """Sets of the section's tables (and do-peer): what a byte-range sentence applies to."""
    list_sets: list[str] = field(default_factory=list)
    """Sets of the section's lists and prose (unnumbered)."""
    table_ports: set[int] = field(default_factory=set)
    hosts: set[str] = field(default_factory=set)
    id_table: bool = False
    region_table: bool = False
    store_lists: int = 0
    prose_ports: list[tuple[str, int]] = field(default_factory=list)
    optional: bool = False
    quoted: list[str] = field(default_factory=list)
    ssl: bool = False
    byte_ranges: bool = False
    previous_list: str | None = None


@dataclass
class _Interpreter:
    document: Document
    source: str
    form: PageForm
    drafts: dict[str, Draft] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    ssl_hosts: list[str] = field(default_factory=list)
    ssl_sets: list[str] = field(default_factory=list)
    unauthenticated: list[str] = field(default_factory=list)
    byte_range_sets: list[str] = field(default_factory=list)
    code_blocks: list[tuple[int, CodeBlock]] = field(default_factory=list)
    last_id_table: int = -1
    section: _Section = field(default_factory=lambda: _Section(""))

    def run(self) -> ParsedPage:
        self.check_article()
        blocks = self.document.blocks
        for index, block in enumerate(blocks):
            self.block(index, block, last=index == len(blocks) - 1)
        self.finish_section()
        numbered = [set_id for set_id in self.drafts if set_id.isdigit()]
        if len(numbered) < MIN_SETS:
            raise PageError(
                f"{self.source}: only {len(numbered)} endpoint sets in ID tables (a whole edition has about "
                "20): the document is truncated"
            )
        fqdns, subnets = self.consolidated()
        return ParsedPage(
            edition=self.edition(),
            sets=tuple(draft.freeze() for draft in self.drafts.values()),
            ssl_inspection_unsupported=_unique(self.ssl_hosts),
            ssl_inspection_unsupported_sets=_unique(self.ssl_sets),
            unauthenticated_proxy=_unique(self.unauthenticated),
            byte_ranges_required=_unique(self.byte_range_sets),
            consolidated_fqdns=fqdns,
            consolidated_subnets=subnets,
            warnings=(*self.document.warnings, *_unique(self.warnings)),
        )

    # ------------------------------------------------------------------ checks and edition

    def check_article(self) -> None:
        tables = [b for b in self.document.blocks if isinstance(b, Table) and is_id_table(b)]
        if not tables:
            raise PageError(f"{self.source}: not the Intune endpoints article: no table has an ID column")
        if not any(names_intune(table) for table in tables):
            raise PageError(
                f"{self.source}: not the Intune endpoints article: no ID table lists manage.microsoft.com"
            )

    def edition(self) -> PageEdition:
        locale = self.document.locale or vocabulary.guess_locale(_all_text(self.document.blocks))
        if locale and vocabulary.vocabulary_for(locale) is None:
            languages = ", ".join(vocabulary.VOCABULARIES)
            self.warnings.append(
                f"no vocabulary for locale {locale}: its words are read with those of {languages}"
            )
        return PageEdition(
            title=self.document.title,
            locale=locale,
            date=self.date(self.document.date),
            source=self.source,
            form=self.form,
        )

    def date(self, text: str) -> str:
        if not text:
            return ""
        date = _iso_date(text)
        if date is None:
            self.warnings.append(f"the date '{text}' is not a date; edition left undated")
            return ""
        return date

    # ------------------------------------------------------------------ blocks

    def block(self, index: int, block: Block, last: bool) -> None:
        previous_list = None
        if isinstance(block, Heading):
            self.finish_section()
            self.section = _Section(block.text)
        elif isinstance(block, Table):
            self.table(index, block, last)
        elif isinstance(block, ListBlock):
            previous_list = self.bullets(block)
        elif isinstance(block, Paragraph):
            self.statement(block.text)
            self.prose(block.text)
        elif isinstance(block, Note):
            self.statement(block.text)
        elif isinstance(block, CodeBlock):
            self.code_blocks.append((index, block))
        self.section.previous_list = previous_list

    def table(self, index: int, table: Table, last: bool) -> None:
        section = self.section
        if is_id_table(table):
            self.last_id_table = index
            section.id_table = True
            drafts = IdTable(table, section.heading, self.source, last, self.warnings).read()
            for draft in drafts:
                section.table_ports.update(draft.tcp_ports + draft.udp_ports)
        else:
            drafts = read_region_table(table, section.heading, self.source, last, self.warnings)
            section.region_table = section.region_table or bool(drafts)
        for draft in drafts:
            section.hosts.update(host.lower() for host in draft.hosts)
            section.table_sets.append(draft.id)
            self.add(draft)

    def add(self, draft: Draft) -> Draft:
        known = self.drafts.get(draft.id)
        if known is None:
            self.drafts[draft.id] = draft
            return draft
        if draft.id.isdigit():
            same = "the same facts" if known.facts() == draft.facts() else "other facts, merged"
            known.remarks.append(f"Listed again under '{draft.section}', with {same}.")
            if known.facts() != draft.facts():
                self.warnings.append(
                    f"set {draft.id} is listed under '{known.section}' and under "
                    f"'{draft.section}' with different facts; merged"
                )
        known.merge(draft)
        return known

    def unnumbered(self, set_id: str) -> Draft:
        draft = self.add(Draft.unnumbered(set_id, self.section.heading))
        if set_id not in self.section.list_sets and set_id not in self.section.table_sets:
            self.section.list_sets.append(set_id)
        return draft

    # ------------------------------------------------------------------ lists

    def bullets(self, block: ListBlock) -> str | None:
        hosts = _unique([host for item in block.items for host in syntax.hosts_in_text(item)])
        if not hosts:
            return None
        set_id = self.list_set(list(hosts))
        if set_id is None:
            return None
        self.unnumbered(set_id).add_addresses(syntax.Addresses(hosts=list(hosts)))
        self.section.hosts.update(host.lower() for host in hosts)
        return set_id

    def list_set(self, hosts: list[str]) -> str | None:
        """The unnumbered set a host list belongs to, by where it is (see the module's docstring)."""
        section = self.section
        named = vocabulary.section_set(section.heading)
        if self.last_id_table < 0:
            self.unauthenticated.extend(hosts)
            return "unauthenticated-proxy"
        if any(host.lower().endswith(ATTESTATION_DOMAIN) for host in hosts):
            return "maa"
        if named == "store":
            section.store_lists += 1
            return "store" if section.store_lists == 1 else "win32-cache"
        if named is not None:
            return named
        if section.region_table:
            return "ime-diagnostics"
        new = [host for host in hosts if host.lower() not in section.hosts]
        if new:
            self.warnings.append(
                f"hosts listed under '{section.heading}' are in no endpoint set: {' '.join(new)}"
            )
        return None

    # ------------------------------------------------------------------ prose

    def statement(self, text: str) -> None:
        """A paragraph or note: SSL inspection and byte-range requirements."""
        if vocabulary.says_byte_ranges(text):
            self.section.byte_ranges = True
        if not vocabulary.says_ssl(text):
            return
        hosts = syntax.hosts_in_text(text)
        named = [vocabulary.SET_ABBREVIATIONS[w] for w in _ABBREVIATION.findall(text)
                 if w in vocabulary.SET_ABBREVIATIONS]  # fmt: skip
        self.ssl_hosts.extend(hosts)
        self.ssl_sets.extend(named)
        if not hosts and not named:
            if self.section.previous_list is not None:
                self.ssl_sets.append(self.section.previous_list)
            else:
                self.section.ssl = True

    def prose(self, text: str) -> None:
        """A paragraph: ports in prose, hosts quoted in prose."""
        section = self.section
        ports = syntax.prose_ports(text)
        section.prose_ports.extend(ports)
        if any(number not in section.table_ports for _, number in ports) and vocabulary.says_optional(text):
            section.optional = True
        if not vocabulary.says_ssl(text):
            section.quoted.extend(syntax.quoted_hosts(text))

    # ------------------------------------------------------------------ end of a section

    def finish_section(self) -> None:
        self.quoted_hosts()
        if self.section.id_table:
            self.peer_ports()
        else:
            self.list_ports()
        self.section_flags()

    def quoted_hosts(self) -> None:
        section = self.section
        if not section.quoted:
            return
        if "maa" in section.list_sets:
            self.unnumbered("dha").add_addresses(syntax.Addresses(hosts=list(_unique(section.quoted))))
        else:
            self.warnings.append(
                f"hosts quoted in the prose under '{section.heading}' are in no endpoint set: "
                f"{' '.join(_unique(section.quoted))}"
            )

    def peer_ports(self) -> None:
        """Ports the prose under an ID table names besides the table's: Delivery Optimization's peers."""
        section = self.section
        extra = [(transport, n) for transport, n in section.prose_ports if n not in section.table_ports]
        if not extra:
            return
        draft = self.add(Draft.unnumbered("do-peer", section.heading))
        draft.add_ports([n for t, n in extra if t == "tcp"], [n for t, n in extra if t == "udp"])
        draft.required = False if section.optional else draft.required
        said = ", ".join(f"{transport.upper()} {number}" for transport, number in extra)
        draft.remarks.append(
            f"Ports from the prose under '{section.heading}' ({said}): each number takes the transport of "
            "the protocol named next to it (Teredo runs over UDP)."
        )
        section.table_sets.append("do-peer")

    def list_ports(self) -> None:
        section = self.section
        if not section.prose_ports:
            return
        said = ", ".join(f"{transport.upper()} {number}" for transport, number in section.prose_ports)
        for set_id in section.list_sets + section.table_sets:
            draft = self.drafts[set_id]
            if not (draft.tcp_ports or draft.udp_ports):
                draft.add_ports(
                    [n for t, n in section.prose_ports if t == "tcp"],
                    [n for t, n in section.prose_ports if t == "udp"],
                )
                draft.remarks.append(f"Ports from the prose under '{section.heading}' ({said}).")

    def section_flags(self) -> None:
        section = self.section
        if section.byte_ranges:
            if section.table_sets:
                self.byte_range_sets.extend(section.table_sets)
            else:
                self.warnings.append(
                    f"a byte-range requirement under '{section.heading}' has no table to apply to"
                )
        if section.ssl:
            if section.list_sets:
                self.ssl_sets.extend(section.list_sets)
            else:
                self.warnings.append(
                    f"an SSL inspection note under '{section.heading}' names no hosts and the "
                    "section lists none"
                )

    # ------------------------------------------------------------------ consolidated list

    def consolidated(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        fqdns: list[str] = []
        subnets: list[str] = []
        blocks = {"fqdn": 0, "subnet": 0}
        for index, block in self.code_blocks:
            if index < self.last_id_table:
                continue
            lines = [line.strip() for line in block.lines if line.strip()]
            if lines and all(syntax.host(line) == line for line in lines):
                fqdns.extend(lines)
                blocks["fqdn"] += 1
            elif lines and all(syntax.cidr(line) for line in lines):
                subnets.extend(network[0] for network in map(syntax.cidr, lines) if network is not None)
                blocks["subnet"] += 1
        for kind, count in blocks.items():
            if count > 1:
                self.warnings.append(
                    f"{count} {kind} code blocks after the last ID table; their lines are joined"
                )
        return _unique(fqdns), _unique(subnets)


def _unique(items: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _all_text(blocks: tuple[Block, ...]) -> str:
    parts: list[str] = []
    for block in blocks:
        if isinstance(block, Heading | Paragraph | Note):
            parts.append(block.text)
        elif isinstance(block, ListBlock):
            parts.extend(block.items)
        elif isinstance(block, Table):
            parts.extend(line for row in block.rows for cell in row for line in cell)
    return "\n".join(parts)


_DATE_FORMATS = (
    (re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ].*)?$"), (1, 2, 3)),
    (re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$"), (3, 1, 2)),  # ms.date is month/day/year
    (re.compile(r"^(\d{4})\.\s?(\d{1,2})\.\s?(\d{1,2})\.?$"), (1, 2, 3)),
)


def _iso_date(text: str) -> str | None:
    for pattern, (year, month, day) in _DATE_FORMATS:
        match = pattern.match(text.strip())
        if match is None:
            continue
        try:
            return datetime.date(
                int(match.group(year)), int(match.group(month)), int(match.group(day))
            ).isoformat()
        except ValueError:
            return None
    return None


def interpret(document: Document, source: str, form: PageForm) -> ParsedPage:
    return _Interpreter(document, source, form).run()

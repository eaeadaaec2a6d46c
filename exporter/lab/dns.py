"""A real DNS server on a loopback address (UDP and TCP on the same port), in background threads.

Behaviour comes from plain mutable attributes that tests may change while the server runs. Names are
matched case-insensitively and without the trailing dot; a pattern `*.example.com` matches any name
below example.com. Per name, the first rule that matches wins:

    drop        never answer (the client times out)
    garbage     answer with bytes that are not a DNS message
    wrong_id    a correct answer, but to another query id (a resolver must ignore it)
    truncated   over UDP, an empty answer with the TC bit; over TCP, never answer
    servfail    SERVFAIL
    refused     REFUSED
    nxdomain    NXDOMAIN
    no_answer   NOERROR with an empty answer section
    zones       zone apexes: SOA and NS questions answered with a SOA or NS record; other questions without a
                record answered NOERROR empty (the name exists)
    unregistered_prefix, when set: a name whose first label starts with it is NXDOMAIN, even under a `*.`
                record, as a real zone answers a name nobody registered (the zone check's random names)
    records     the addresses of the asked family (A: IPv4, AAAA: IPv6); NOERROR empty if none
    cnames      an alias: a CNAME to the target name, then the target's own answer by these rules (chains
                followed up to 8 links), as a recursive resolver answers
    default_address, when set, for every other name; otherwise NXDOMAIN

With `tcp=False` only UDP is served, so a TCP fallback (after TC) is refused. With `shuffle=False` the
addresses of a name are sent in the order of `records` (by default, as real servers, in a random order).
"""

from __future__ import annotations

import ipaddress
import socketserver
import threading
from collections import Counter
from types import TracebackType

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

TTL = 60
GARBAGE = bytes(range(7, 256, 3))
"""What `garbage` names get: fixed bytes that do not parse as a DNS message."""


class UnrecordedQueries(list[tuple[str, str]]):
    """A `DNSServer.log` that keeps nothing, for servers answering more queries than are worth keeping."""

    def append(self, item: tuple[str, str]) -> None:
        pass


def normalise(name: str) -> str:
    return name.lower().rstrip(".")


def _matches(name: str, patterns: set[str] | dict[str, list[str]]) -> str | None:
    """The pattern in `patterns` that covers `name`: the name itself, else the closest `*.` wildcard."""
    wanted = {normalise(pattern): pattern for pattern in list(patterns)}
    if name in wanted:
        return wanted[name]
    labels = name.split(".")
    for start in range(1, len(labels)):
        wildcard = "*." + ".".join(labels[start:])
        if wildcard in wanted:
            return wanted[wildcard]
    return None


def _parse(wire: bytes) -> dns.message.Message | None:
    """The query in `wire`, or None if it is no DNS message or asks no question."""
    try:
        query = dns.message.from_wire(wire)
    except dns.exception.DNSException:
        return None
    return query if query.question else None


def _bind_both(
    host: str,
    udp_handler: type[socketserver.BaseRequestHandler],
    tcp_handler: type[socketserver.BaseRequestHandler],
    *,
    listen_tcp: bool,
) -> tuple[socketserver.ThreadingUDPServer, socketserver.ThreadingTCPServer]:
    """UDP and TCP servers on the same port: a free UDP port, then claimed for TCP (retried on a race).
    Without `listen_tcp` the TCP socket is bound but never listens, so TCP connections are refused."""
    for _ in range(20):
        udp = socketserver.ThreadingUDPServer((host, 0), udp_handler)
        port = udp.server_address[1]
        tcp = socketserver.ThreadingTCPServer((host, port), tcp_handler, bind_and_activate=False)
        try:
            tcp.allow_reuse_address = True
            tcp.server_bind()
            if listen_tcp:
                tcp.server_activate()
        except OSError:
            tcp.server_close()
            udp.server_close()
            continue
        return udp, tcp
    raise RuntimeError("no free port for both UDP and TCP")


class DNSServer:
    def __init__(
        self,
        records: dict[str, list[str]] | None = None,
        *,
        default_address: str | None = None,
        host: str = "127.0.0.1",
        tcp: bool = True,
    ) -> None:
        self.records: dict[str, list[str]] = dict(records or {})
        self.default_address = default_address
        self.nxdomain: set[str] = set()
        self.servfail: set[str] = set()
        self.no_answer: set[str] = set()
        self.drop: set[str] = set()
        self.garbage: set[str] = set()
        self.wrong_id: set[str] = set()
        self.truncated: set[str] = set()
        self.refused: set[str] = set()
        self.cnames: dict[str, str] = {}
        """Alias -> target name: answered with a CNAME, then the target's answer."""
        self.shuffle = True
        """Records in a random order on the wire (False: the order of `records`)."""
        self.zones: set[str] = set()
        """Zone apexes answering SOA and NS."""
        self.unregistered_prefix: str | None = None
        self.tcp = tcp
        self.queries: Counter[str] = Counter()
        """Questions received per normalised name, dropped ones included."""
        self.log: list[tuple[str, str]] = []
        """(normalised name, query type) in arrival order."""
        self.host = host
        self.port = 0
        self._udp: socketserver.ThreadingUDPServer | None = None
        self._tcp: socketserver.ThreadingTCPServer | None = None
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def answer(self, wire: bytes, *, tcp: bool = False) -> bytes | None:
        """The response to one query in wire format (received over TCP if `tcp`), or None to stay silent."""
        query = _parse(wire)
        if query is None:
            return None
        question = query.question[0]
        name = normalise(question.name.to_text())
        with self._lock:
            self.queries[name] += 1
            self.log.append((name, dns.rdatatype.to_text(question.rdtype)))

        if _matches(name, self.drop) is not None:
            return None
        if _matches(name, self.garbage) is not None:
            return GARBAGE
        if tcp and _matches(name, self.truncated) is not None:
            return None  # the TCP fallback after TC never gets an answer
        response = dns.message.make_response(query)
        response.flags |= dns.flags.RA
        if _matches(name, self.wrong_id) is not None:
            response.id = (query.id + 1) % 65536
        self._fill(response, question, name)
        return response.to_wire(want_shuffle=self.shuffle)

    def _fill(self, response: dns.message.Message, question: dns.rrset.RRset, name: str) -> None:
        """The TC flag (over UDP), rcode or answer of the first rule that covers `name`."""
        if _matches(name, self.truncated) is not None:
            response.flags |= dns.flags.TC
            return
        owner = question.name
        for _ in range(8):
            alias = _matches(name, set(self.cnames)) if question.rdtype != dns.rdatatype.CNAME else None
            if alias is None:
                break
            target = dns.name.from_text(self.cnames[alias])
            cname = dns.rdatatype.CNAME
            response.answer.append(dns.rrset.from_text_list(owner, TTL, "IN", cname, [target.to_text()]))
            owner, name = target, normalise(target.to_text())
        rules = (
            (self.servfail, dns.rcode.SERVFAIL),
            (self.refused, dns.rcode.REFUSED),
            (self.nxdomain, dns.rcode.NXDOMAIN),
            (self.no_answer, dns.rcode.NOERROR),
        )
        for names, rcode in rules:
            if _matches(name, names) is not None:
                response.set_rcode(rcode)
                return
        if self._zone_answer(response, question, name):
            return
        addresses = self._addresses(name)
        if addresses is None:
            response.set_rcode(dns.rcode.NXDOMAIN)
        else:
            self._add_answer(response, question, addresses, owner)

    def _zone_answer(self, response: dns.message.Message, question: dns.rrset.RRset, name: str) -> bool:
        """Answer `name` if it is a zone apex (SOA, NS, or NOERROR empty) or an unregistered name (NXDOMAIN);
        False to let the records answer."""
        if name in {normalise(zone) for zone in self.zones}:
            rdatas = {
                dns.rdatatype.SOA: f"ns1.{name}. hostmaster.{name}. 1 3600 600 86400 {TTL}",
                dns.rdatatype.NS: f"ns1.{name}.",
            }
            if question.rdtype in rdatas:
                rrset = dns.rrset.from_text_list(
                    question.name, TTL, dns.rdataclass.IN, question.rdtype, [rdatas[question.rdtype]]
                )
                response.answer.append(rrset)
                return True
            return _matches(name, self.records) is None
        prefix = self.unregistered_prefix
        if prefix and name.split(".")[0].startswith(prefix) and name not in self.records:
            response.set_rcode(dns.rcode.NXDOMAIN)
            return True
        return False

    def _addresses(self, name: str) -> list[str] | None:
        pattern = _matches(name, self.records)
        if pattern is not None:
            return list(self.records[pattern])
        if self.default_address is not None:
            return [self.default_address]
        return None

    @staticmethod
    def _add_answer(
        response: dns.message.Message,
        question: dns.rrset.RRset,
        addresses: list[str],
        owner: dns.name.Name | None = None,
    ) -> None:
        versions = {dns.rdatatype.A: 4, dns.rdatatype.AAAA: 6}
        version = versions.get(question.rdtype)
        matching = [a for a in addresses if ipaddress.ip_address(a).version == version]
        if matching:
            rrset = dns.rrset.from_text_list(
                owner or question.name, TTL, dns.rdataclass.IN, question.rdtype, matching
            )
            response.answer.append(rrset)

    def start(self) -> DNSServer:
        server = self

        class UDPHandler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                data, sock = self.request
                reply = server.answer(data)
                if reply is not None:
                    sock.sendto(reply, self.client_address)

        class TCPHandler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                while length := self.rfile.read(2):
                    if len(length) < 2:
                        return
                    reply = server.answer(self.rfile.read(int.from_bytes(length, "big")), tcp=True)
                    if reply is not None:  # dropped: keep the connection open and silent
                        self.wfile.write(len(reply).to_bytes(2, "big") + reply)

        udp, tcp = _bind_both(self.host, UDPHandler, TCPHandler, listen_tcp=self.tcp)
        port = udp.server_address[1]
        udp.daemon_threads = tcp.daemon_threads = True
        self._udp, self._tcp, self.port = udp, tcp, port
        for srv in (udp, tcp) if self.tcp else (udp,):
            thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        for srv in (self._udp, self._tcp):
            if srv is not None:
                if srv is self._udp or self.tcp:  # shutdown() waits for a serve_forever that must have run
                    srv.shutdown()
                srv.server_close()
        for thread in self._threads:
            thread.join()
        self._udp = self._tcp = None
        self._threads.clear()

    def __enter__(self) -> DNSServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

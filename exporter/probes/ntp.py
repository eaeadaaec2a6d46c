"""NTP probe: one SNTP (RFC 4330) exchange, measuring clock offset and round-trip delay.

The socket is a plain non-blocking UDP socket awaited with `anyio.wait_readable`, not anyio's
`create_connected_udp_socket`: on the asyncio backend that wrapper stores the ICMP "port unreachable"
error and keeps waiting, so a closed port would look like a timeout instead of a refusal.

Failures::

    TimeoutError (no reply in time)                  -> Reason.NTP_TIMEOUT
    reply fails validation (`BadResponse`)           -> Reason.NTP_BAD_RESPONSE
    ConnectionRefusedError / ConnectionResetError    -> Reason.CONNECT_REFUSED (ICMP port unreachable)
    OSError ENETUNREACH / EHOSTUNREACH               -> Reason.CONNECT_UNREACHABLE
    any other OSError                                -> Reason.CONNECT_ERROR
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import struct
import time
from dataclasses import dataclass
from typing import Final

import anyio

from exporter.probes import trace
from exporter.probes.outcome import Phase, ProbeOutcome, Reason
from exporter.probes.prober import ProbeTarget
from exporter.probes.settings import ProbeSettings
from exporter.probes.trace import Step

PACKET_SIZE: Final = 48
NTP_VERSION: Final = 4
MODE_CLIENT: Final = 3
MODE_SERVER: Final = 4
LEAP_UNSYNCHRONIZED: Final = 3

NTP_UNIX_OFFSET: Final = 2_208_988_800
"""Seconds from the NTP epoch (1900-01-01) to the Unix epoch (1970-01-01)."""
_ERA_SECONDS: Final = 1 << 32
_FRACTION: Final = float(1 << 32)

# LI/VN/mode, stratum, poll, precision, root delay, root dispersion, reference id, then four
# 64-bit timestamps: reference, originate, receive, transmit.
_HEADER: Final = struct.Struct("!BBbbII4sQQQQ")

_UNREACHABLE_ERRNOS: Final = frozenset({errno.ENETUNREACH, errno.EHOSTUNREACH})


class BadResponse(ValueError):
    """The reply is not a usable server answer to our request; the message says why."""


@dataclass(frozen=True)
class NtpReply:
    leap: int
    version: int
    mode: int
    stratum: int
    reference_id: bytes
    originate: int
    """Raw 64-bit NTP timestamps from here on."""
    receive: int
    transmit: int


def to_ntp_timestamp(unix_seconds: float) -> int:
    """Unix time -> 64-bit NTP timestamp (32.32 fixed point, seconds modulo the 2036 era rollover)."""
    ntp = unix_seconds + NTP_UNIX_OFFSET
    seconds = int(ntp)
    fraction = int((ntp - seconds) * _FRACTION)
    return ((seconds % _ERA_SECONDS) << 32) | fraction


def from_ntp_timestamp(timestamp: int) -> float:
    """64-bit NTP timestamp -> Unix time, using RFC 4330's era rule.

    With the most significant bit set the time is 1968-2036 (era 0); without it, 2036-2104 (era 1).
    """
    seconds, fraction = timestamp >> 32, timestamp & 0xFFFFFFFF
    if not seconds & 0x80000000:
        seconds += _ERA_SECONDS
    return seconds - NTP_UNIX_OFFSET + fraction / _FRACTION


def encode_request(transmit: int) -> bytes:
    """A 48-byte client request: LI 0, version 4, mode 3, `transmit` as the transmit timestamp."""
    first = (0 << 6) | (NTP_VERSION << 3) | MODE_CLIENT
    return _HEADER.pack(first, 0, 0, 0, 0, 0, b"\0\0\0\0", 0, 0, 0, transmit)


def decode_reply(data: bytes, expected_originate: int) -> NtpReply:
    """Parse and validate a server reply to the request sent with `expected_originate`.

    Rejects (`BadResponse`): short packets, non-server modes, replies to another request, kiss-o'-death
    (stratum 0, the kiss code in the message), unsynchronized servers and a zero transmit timestamp.
    """
    if len(data) < PACKET_SIZE:
        raise BadResponse(f"reply is {len(data)} bytes, expected at least {PACKET_SIZE}")
    first, stratum, _poll, _precision, _delay, _dispersion, ref_id, _ref, originate, receive, transmit = (
        _HEADER.unpack_from(data)
    )
    reply = NtpReply(
        leap=first >> 6,
        version=(first >> 3) & 0b111,
        mode=first & 0b111,
        stratum=stratum,
        reference_id=ref_id,
        originate=originate,
        receive=receive,
        transmit=transmit,
    )
    if reply.mode != MODE_SERVER:
        raise BadResponse(f"reply mode is {reply.mode}, expected {MODE_SERVER} (server)")
    if reply.originate != expected_originate:
        raise BadResponse("reply originate timestamp does not match our transmit timestamp")
    if reply.stratum == 0:
        raise BadResponse(f"kiss-o'-death from server, code {_kiss_code(reply.reference_id)!r}")
    if reply.leap == LEAP_UNSYNCHRONIZED:
        raise BadResponse("server clock is not synchronized (leap indicator 3)")
    if reply.transmit == 0:
        raise BadResponse("reply transmit timestamp is zero")
    return reply


def offset_and_delay(t1: float, t2: float, t3: float, t4: float) -> tuple[float, float]:
    """Clock offset and round-trip delay (seconds) from client send, server receive, server send and
    client receive times."""
    offset = ((t2 - t1) + (t3 - t4)) / 2
    delay = (t4 - t1) - (t3 - t2)
    return offset, delay


async def probe(target: ProbeTarget, settings: ProbeSettings) -> ProbeOutcome:
    """Ask the NTP server at the target's address for the time once; the host only names it in details."""
    host, address = target.host, target.address
    dial_port = settings.dial_port(target.port)
    where = f"{host} ({address} udp/{dial_port})"
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
    except ValueError:
        return ProbeOutcome.failure(Reason.CONNECT_ERROR, f"{where}: not an IP address")

    timeout = settings.timeouts[Phase.NTP]
    started = time.perf_counter()

    def failed(reason: Reason, detail: str) -> ProbeOutcome:
        # The exchange that failed is timed too: a silent server costs the whole timeout.
        trace.emit(Step.NTP, f"{reason} ({detail})", reason=str(reason))
        return ProbeOutcome.failure(reason, f"{where}: {detail}", {Phase.NTP: time.perf_counter() - started})

    trace.emit(Step.NTP, f"asking {address} udp/{dial_port} for the time (SNTP v{NTP_VERSION})")
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as sock, anyio.fail_after(timeout):
            sock.setblocking(False)
            sock.connect((address, dial_port))
            t1 = time.time()
            transmit = to_ntp_timestamp(t1)
            sock.send(encode_request(transmit))
            data = await _receive(sock)
            t4 = time.time()
    except TimeoutError:
        return failed(Reason.NTP_TIMEOUT, f"no reply within {timeout:g}s")
    except (ConnectionRefusedError, ConnectionResetError) as exc:
        return failed(Reason.CONNECT_REFUSED, f"{exc.strerror or exc}")
    except OSError as exc:
        reason = Reason.CONNECT_UNREACHABLE if exc.errno in _UNREACHABLE_ERRNOS else Reason.CONNECT_ERROR
        return failed(reason, f"{exc.strerror or exc}")

    try:
        reply = decode_reply(data, transmit)
    except BadResponse as exc:
        return failed(Reason.NTP_BAD_RESPONSE, str(exc))

    t2, t3 = from_ntp_timestamp(reply.receive), from_ntp_timestamp(reply.transmit)
    offset, delay = offset_and_delay(t1, t2, t3, t4)
    # Stratum 1 servers name their clock source in ASCII ("GPS"); the others give their upstream's address.
    reference = _kiss_code(reply.reference_id) if reply.stratum == 1 else reply.reference_id.hex()
    trace.emit(
        Step.NTP,
        f"stratum {reply.stratum}, reference {reference}, "
        f"offset {trace.milliseconds(offset)}, round trip {trace.milliseconds(delay)}",
        stratum=reply.stratum,
        offset_seconds=offset,
        delay_seconds=delay,
    )
    # Server clock granularity can make a loopback delay come out a hair below zero.
    return ProbeOutcome(ok=True, phases={Phase.NTP: max(delay, 0.0)}, ntp_offset=offset)


async def _receive(sock: socket.socket) -> bytes:
    # Readable also means "an ICMP error is pending": recv() then raises it.
    while True:
        await anyio.wait_readable(sock)
        try:
            return sock.recv(1024)
        except BlockingIOError:
            continue


def _kiss_code(reference_id: bytes) -> str:
    return reference_id.decode("ascii", errors="replace").rstrip("\0")

from __future__ import annotations

import socket
import ssl
import struct
import time

import pytest

from exporter.probes import ntp
from exporter.probes.dns import make_resolver
from exporter.probes.ntp import (
    NTP_UNIX_OFFSET,
    BadResponse,
    decode_reply,
    encode_request,
    from_ntp_timestamp,
    offset_and_delay,
    to_ntp_timestamp,
)
from exporter.probes.outcome import Phase, ProbeOutcome, Reason
from exporter.probes.prober import ProbeTarget
from exporter.probes.settings import ProbeSettings
from tests.support.simulators.ntp_server import NTPServer


def settings_for(ntp_timeout: float = 2.0, port_remap: dict[int, int] | None = None) -> ProbeSettings:
    return ProbeSettings(
        timeouts={phase: 2.0 for phase in Phase} | {Phase.NTP: ntp_timeout},
        trust=ssl.create_default_context(),
        resolver=make_resolver(["127.0.0.1"]),
        port_remap=port_remap or {},
    )


async def probe(server: NTPServer, ntp_timeout: float = 2.0) -> ProbeOutcome:
    return await ntp.probe(
        ProbeTarget("time.windows.com", "127.0.0.1", server.port), settings_for(ntp_timeout)
    )


# --- against the simulator -------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("offset", [0.0, 2.5, -1.0])
async def test_measures_the_server_clock_offset(ntp_server: NTPServer, offset: float) -> None:
    ntp_server.offset = offset

    outcome = await probe(ntp_server)

    assert outcome.ok and outcome.reason is None, outcome.detail
    assert outcome.ntp_offset == pytest.approx(offset, abs=0.05)
    assert list(outcome.phases) == [Phase.NTP]
    assert 0 <= outcome.phases[Phase.NTP] < 2.0
    assert ntp_server.requests == 1


@pytest.mark.anyio
async def test_dials_the_remapped_port_for_the_catalogue_port(ntp_server: NTPServer) -> None:
    settings = settings_for(port_remap={123: ntp_server.port})

    outcome = await ntp.probe(ProbeTarget("time.windows.com", "127.0.0.1", 123), settings)

    assert outcome.ok, outcome.detail
    assert ntp_server.requests == 1


@pytest.mark.anyio
async def test_silent_server_times_out(ntp_server: NTPServer) -> None:
    ntp_server.silent = True

    outcome = await probe(ntp_server, ntp_timeout=0.3)

    assert (outcome.ok, outcome.reason) == (False, Reason.NTP_TIMEOUT)
    assert "time.windows.com" in outcome.detail
    assert ntp_server.requests == 1


@pytest.mark.anyio
async def test_kiss_o_death_is_a_bad_response_naming_the_code(ntp_server: NTPServer) -> None:
    ntp_server.kiss = True

    outcome = await probe(ntp_server)

    assert (outcome.ok, outcome.reason) == (False, Reason.NTP_BAD_RESPONSE)
    assert "RATE" in outcome.detail
    assert outcome.ntp_offset is None


@pytest.mark.anyio
async def test_reply_to_another_request_is_a_bad_response(ntp_server: NTPServer) -> None:
    ntp_server.wrong_originate = True

    outcome = await probe(ntp_server)

    assert (outcome.ok, outcome.reason) == (False, Reason.NTP_BAD_RESPONSE)
    assert "originate" in outcome.detail


@pytest.mark.anyio
async def test_closed_port_is_refused_via_icmp_port_unreachable() -> None:
    # Linux answers a datagram to a closed loopback port with ICMP port unreachable, which a connected
    # UDP socket reports as ECONNREFUSED on the next recv: a refusal, not a timeout.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]

    started = time.monotonic()
    outcome = await ntp.probe(
        ProbeTarget("time.windows.com", "127.0.0.1", closed_port), settings_for(ntp_timeout=5.0)
    )

    assert (outcome.ok, outcome.reason) == (False, Reason.CONNECT_REFUSED), outcome.detail
    assert "refused" in outcome.detail.lower()
    assert time.monotonic() - started < 5.0, "must not have waited for the timeout"


@pytest.mark.anyio
async def test_address_that_is_not_an_ip_is_a_connect_error() -> None:
    outcome = await ntp.probe(ProbeTarget("time.windows.com", "time.windows.com", 123), settings_for())

    assert (outcome.ok, outcome.reason) == (False, Reason.CONNECT_ERROR)


# --- packet encoding and decoding -------------------------------------------------------------------

NOW = 1_750_000_000.25


def test_request_is_48_bytes_sntp_v4_client_with_our_transmit_timestamp() -> None:
    transmit = to_ntp_timestamp(NOW)
    packet = encode_request(transmit)

    assert len(packet) == 48
    assert packet[0] == 0b00_100_011  # LI 0, VN 4, mode 3
    assert packet[1:40] == bytes(39)
    assert struct.unpack("!Q", packet[40:48])[0] == transmit


def test_timestamps_count_from_1900_with_a_32_bit_fraction() -> None:
    assert to_ntp_timestamp(0.0) == NTP_UNIX_OFFSET << 32
    assert to_ntp_timestamp(0.5) == (NTP_UNIX_OFFSET << 32) | 0x80000000
    assert from_ntp_timestamp((NTP_UNIX_OFFSET + 1) << 32 | 0x40000000) == 1.25
    assert from_ntp_timestamp(to_ntp_timestamp(NOW)) == pytest.approx(NOW, abs=1e-6)


def test_timestamps_after_the_2036_era_rollover_round_trip() -> None:
    after_rollover = 2_200_000_000.5  # 2039
    timestamp = to_ntp_timestamp(after_rollover)

    assert timestamp >> 32 < 0x80000000  # wrapped into era 1
    assert from_ntp_timestamp(timestamp) == pytest.approx(after_rollover, abs=1e-6)


def test_offset_and_delay() -> None:
    offset, delay = offset_and_delay(t1=100.0, t2=110.5, t3=110.6, t4=100.3)

    assert offset == pytest.approx(10.4)
    assert delay == pytest.approx(0.2)


def test_decodes_a_server_reply() -> None:
    transmit = to_ntp_timestamp(time.time())
    before = time.time()

    reply = decode_reply(NTPServer(offset=3.0, stratum=1).reply(encode_request(transmit)) or b"", transmit)

    assert (reply.mode, reply.version, reply.stratum, reply.leap) == (4, 4, 1, 0)
    assert reply.originate == transmit
    assert from_ntp_timestamp(reply.receive) == pytest.approx(before + 3.0, abs=0.05)
    assert reply.transmit >= reply.receive


def server_reply(transmit: int, **changes: int) -> bytes:
    """A valid reply to `transmit`, with header fields replaced by `changes`."""
    fields = {
        "first": 0b00_100_100,
        "stratum": 2,
        "originate": transmit,
        "receive": transmit,
        "xmit": transmit,
    }
    fields |= changes
    return struct.pack(
        "!BBbbII4sQQQQ",
        fields["first"],
        fields["stratum"],
        0,
        -20,
        0,
        0,
        b"RATE",
        0,
        fields["originate"],
        fields["receive"],
        fields["xmit"],
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (server_reply(1 << 40)[:47], "47 bytes"),
        (server_reply(1 << 40, first=0b00_100_011), "mode is 3"),
        (server_reply(1 << 40, originate=(1 << 40) + 1), "originate"),
        (server_reply(1 << 40, stratum=0), "kiss-o'-death from server, code 'RATE'"),
        (server_reply(1 << 40, first=0b11_100_100), "not synchronized"),
        (server_reply(1 << 40, xmit=0), "transmit timestamp is zero"),
    ],
    ids=["short", "client-mode", "originate-mismatch", "kiss", "unsynchronized", "zero-transmit"],
)
def test_rejects_unusable_replies(data: bytes, message: str) -> None:
    with pytest.raises(BadResponse, match=message):
        decode_reply(data, 1 << 40)


def test_accepts_longer_replies_with_extension_fields() -> None:
    reply = decode_reply(server_reply(1 << 40) + bytes(20), 1 << 40)

    assert reply.stratum == 2

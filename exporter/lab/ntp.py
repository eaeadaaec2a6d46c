"""An NTP server on a loopback address (UDP) in a background thread, its clock `offset` seconds off ours.

Deliberately independent of exporter.probes.ntp, so an encoding mistake there cannot hide itself.
Attributes may be changed while it runs: `offset`, `stratum`, `silent` (never reply), `kiss` (a
kiss-o'-death: stratum 0, code RATE), `wrong_originate` (reply to some other request), `garbage` (reply
with these bytes instead of an NTP packet).
"""

from __future__ import annotations

import socketserver
import struct
import threading
import time
from types import TracebackType

NTP_UNIX_OFFSET = 2_208_988_800
_PACKET = struct.Struct("!BBbbII4sQQQQ")


def ntp_now(offset: float) -> int:
    now = time.time() + offset + NTP_UNIX_OFFSET
    seconds = int(now)
    return ((seconds & 0xFFFFFFFF) << 32) | int((now - seconds) * 2**32)


class NTPServer:
    def __init__(
        self,
        *,
        offset: float = 0.0,
        stratum: int = 2,
        silent: bool = False,
        kiss: bool = False,
        wrong_originate: bool = False,
        garbage: bytes | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.offset = offset
        self.stratum = stratum
        self.silent = silent
        self.kiss = kiss
        self.wrong_originate = wrong_originate
        self.garbage = garbage
        self.requests = 0
        self.host = host
        self.port = 0
        self._server: socketserver.UDPServer | None = None
        self._thread: threading.Thread | None = None

    def reply(self, request: bytes) -> bytes | None:
        """The reply to one request datagram, or None to stay silent."""
        self.requests += 1
        received = ntp_now(self.offset)
        if self.silent or len(request) < _PACKET.size:
            return None
        if self.garbage is not None:
            return self.garbage
        first, _stratum, poll, *_rest, client_transmit = _PACKET.unpack_from(request)
        version = (first >> 3) & 0b111
        originate = client_transmit ^ 0xFFFF if self.wrong_originate else client_transmit
        if self.kiss:
            leap, stratum, ref_id, received = 3, 0, b"RATE", 0
        else:
            leap, stratum, ref_id = 0, self.stratum, b"\x7f\x00\x00\x01"
        reference = received - (16 << 32) if received else 0
        transmit = ntp_now(self.offset) if not self.kiss else 0
        return _PACKET.pack(
            (leap << 6) | (version << 3) | 4,
            stratum,
            poll,
            -20,
            0,
            0,
            ref_id,
            reference,
            originate,
            received,
            transmit,
        )

    def start(self) -> NTPServer:
        simulator = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                data, sock = self.request
                answer = simulator.reply(data)
                if answer is not None:
                    sock.sendto(answer, self.client_address)

        self._server = socketserver.UDPServer((self.host, 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> NTPServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

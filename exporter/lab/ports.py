"""Port numbers free on several loopback addresses at once, held by bound sockets until used."""

from __future__ import annotations

import socket
from collections.abc import Sequence

ATTEMPTS = 20


def claim_ports(
    addresses: Sequence[str], count: int
) -> tuple[list[int], dict[tuple[str, int], socket.socket]]:
    """`count` TCP port numbers free on every address, and one bound, not listening, socket per
    (address, port). Whoever takes a socket over must close it; `release` closes the others."""
    for _ in range(ATTEMPTS):
        held: dict[tuple[str, int], socket.socket] = {}
        try:
            ports = []
            for _ in range(count):
                sock = bound(addresses[0], 0)
                port: int = sock.getsockname()[1]
                held[addresses[0], port] = sock
                ports.append(port)
            for address in addresses[1:]:
                for port in ports:
                    held[address, port] = bound(address, port)
        except OSError:
            release(held)
            continue
        return ports, held
    raise OSError(f"found no {count} TCP port numbers free on all of {', '.join(addresses)}")


def bound(address: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((address, port))
    except BaseException:
        sock.close()
        raise
    return sock


def release(held: dict[tuple[str, int], socket.socket]) -> None:
    for sock in held.values():
        sock.close()

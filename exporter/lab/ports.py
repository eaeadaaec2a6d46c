"""Port numbers on loopback: several free on several addresses at once, held by bound sockets until used;
a single free one; and a blackholed listener (connect attempts time out)."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator, Sequence

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


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (nothing holds it: another process may take it first)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def blackhole(listener: socket.socket) -> Iterator[None]:
    """Fill `listener`'s accept queue and never accept, so the kernel drops further SYNs.

    With backlog 0 Linux queues one connection; the next connect attempt must time out, which is
    checked here so a kernel that refuses instead fails loudly rather than making tests lie.
    """
    listener.listen(0)
    fillers: list[socket.socket] = []
    try:
        for _ in range(8):
            client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            client.settimeout(0.25)
            try:
                client.connect(listener.getsockname())
            except TimeoutError:
                client.close()
                break
            except BaseException:
                client.close()
                raise
            fillers.append(client)
        else:
            raise RuntimeError(f"{listener.getsockname()}: a full accept queue does not drop SYNs here")
        yield
    finally:
        for client in fillers:
            client.close()

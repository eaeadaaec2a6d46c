"""CPU our DNS phase costs per 1,000 lookups, the part of a probe blackbox_compare's blackbox side skips.

    python bench/dns_cost.py --names 1000 --rounds 5

A child process serves the DNS simulator (exporter/lab/dns.py), so its CPU is not counted. This process
resolves N distinct names with `exporter.probes.dns.resolve` (the probe's own code, A then AAAA only when
A is empty) under 32 concurrent lookups, and prints the median CPU seconds per 1,000 lookups.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

from exporter.config.file import LoadedConfig, load
from exporter.lab.dns import DNSServer, UnrecordedQueries
from exporter.plan.probe_settings import probe_settings
from exporter.probes.dns import resolve


def serve_dns(ready: Any, stop: Any) -> None:
    with DNSServer(default_address="127.0.0.1") as server:
        server.log = UnrecordedQueries()
        ready.put(server.port)
        stop.wait()


async def resolve_all(names: list[str], loaded: LoadedConfig, concurrency: int) -> int:
    settings = probe_settings(loaded)
    pending = iter(names)
    answered = 0

    async def worker() -> None:
        nonlocal answered
        for name in pending:
            outcome = await resolve(name, settings)
            answered += outcome.ok

    async with anyio.create_task_group() as group:
        for _ in range(concurrency):
            group.start_soon(worker)
    return answered


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--names", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    ready: Any = multiprocessing.Queue()
    stop: Any = multiprocessing.Event()
    server = multiprocessing.Process(target=serve_dns, args=(ready, stop), daemon=True)
    server.start()
    try:
        port = ready.get(timeout=10)
        with tempfile.TemporaryDirectory() as directory:
            config = Path(directory) / "dns-cost.yml"
            config.write_text(f"dns:\n  nameservers: [127.0.0.1]\n  port: {port}\n")
            loaded = load(config)
        per_thousand = []
        for round_ in range(args.rounds):
            names = [f"t{i:05d}.r{round_}.bench.test" for i in range(args.names)]
            cpu = time.process_time()
            answered = anyio.run(resolve_all, names, loaded, 32)
            per_thousand.append((time.process_time() - cpu) / args.names * 1000)
            assert answered == args.names, f"{answered} of {args.names} names resolved"
        print(f"CPU s per 1,000 lookups: {statistics.median(per_thousand):.3f} (median of {args.rounds})")
    finally:
        stop.set()
        server.join(5)


if __name__ == "__main__":
    main()

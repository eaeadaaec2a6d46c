"""Time one full probe cycle of the built-in catalogue against the lab of `intune-exporter lab`.

The lab (exporter.lab.network, nothing broken) answers every name of the catalogue with a healthy
address: TLS with a leaf from the lab CA and HTTP on two ports, NTP, and its own DNS server.

Baseline, measured in the same run: a bare asyncio pass over the same targets with the same concurrency
(one TCP connect per target, plus a TLS handshake on TLS ports), i.e. the network work with none of the
exporter around it. The machine is noisy, so the result that matters is the ratio.

    python bench/check_lab.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import statistics
import tempfile
import time
from pathlib import Path

import anyio

from exporter.catalogue import load_builtin
from exporter.commands.lab import write_config
from exporter.config.file import load
from exporter.lab.network import running_network
from exporter.lab.scenario import HEALTHY
from exporter.plan.builder import build
from exporter.plan.probe_settings import probe_settings
from exporter.plan.targets import TargetPlan
from exporter.probes.prober import Protocol
from exporter.results.store import ResultStore
from exporter.scheduler.cycle import run_cycle


async def baseline(
    plan: TargetPlan, remap: dict[int, int], context: ssl.SSLContext, concurrency: int
) -> None:
    limit = asyncio.Semaphore(concurrency)

    async def one(host: str, port: int, protocol: Protocol) -> None:
        async with limit:
            if protocol in (Protocol.NTP, Protocol.DNS):  # a UDP exchange, not a connection: no baseline
                return
            tls = context if protocol in (Protocol.TLS, Protocol.HTTPS) else None
            _, writer = await asyncio.open_connection(
                HEALTHY, remap[port], ssl=tls, server_hostname=host if tls else None
            )
            writer.close()
            await writer.wait_closed()

    await asyncio.gather(*(one(t.host, t.port, t.protocol) for t in plan.targets))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=15)
    rounds = parser.parse_args().rounds
    with (
        tempfile.TemporaryDirectory(prefix="check-lab-") as name,
        running_network(Path(name), load_builtin(), broken=False, intercept=False) as network,
    ):
        loaded = load(write_config(Path(name), network, "127.0.0.1:0"))
        settings = probe_settings(loaded)
        plan = build(loaded, settings)
        trusted = ssl.create_default_context(cafile=str(network.ca_file))
        exporter_times, baseline_times = [], []
        for _ in range(rounds):
            store = ResultStore()
            exporter_times.append(anyio.run(run_cycle, plan, settings, store, loaded.config.concurrency))
            failing = [r for r in store.snapshot()[0].values() if not r.outcome.ok]
            assert not failing, failing[:3]
            started = time.perf_counter()
            asyncio.run(baseline(plan, loaded.config.port_remap, trusted, loaded.config.concurrency))
            baseline_times.append(time.perf_counter() - started)
    exporter_median = statistics.median(exporter_times)
    baseline_median = statistics.median(baseline_times)
    hosts = {target.host for target in plan.targets}
    print(f"targets: {len(plan.targets)} ({len(hosts)} hosts), rounds: {rounds}")
    print(f"exporter full cycle (DNS + TCP/TLS/HTTP/NTP probes): median {exporter_median:.3f}s")
    print(f"baseline (bare connect / TLS handshake per target): median {baseline_median:.3f}s")
    print(f"ratio exporter / baseline: {exporter_median / baseline_median:.2f}")


if __name__ == "__main__":
    main()

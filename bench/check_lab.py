"""Time one full probe cycle of the built-in catalogue against the loopback lab.

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
import sys
import tempfile
import time
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from exporter.config.file import load
from exporter.lab.certs import LabCA
from exporter.plan.builder import probe_settings
from exporter.plan.targets import Protocol, TargetPlan, build_plan
from exporter.results.store import ResultStore
from exporter.scheduler.cycle import run_cycle
from tests.support.e2e_lab import arrange, write_config
from tests.support.simulators.dns_server import DNSServer
from tests.support.simulators.ntp_server import NTPServer
from tests.support.simulators.tls_servers import TRUSTED_CA_NAME, UNTRUSTED_CA_NAME, running_lab


async def baseline(
    plan: TargetPlan, remap: dict[int, int], context: ssl.SSLContext, concurrency: int
) -> None:
    limit = asyncio.Semaphore(concurrency)

    async def one(host: str, port: int, protocol: Protocol) -> None:
        async with limit:
            if protocol is Protocol.NTP:
                return
            tls = context if protocol in (Protocol.TLS, Protocol.HTTPS) else None
            _, writer = await asyncio.open_connection(
                "127.0.0.1", remap[port], ssl=tls, server_hostname=host if tls else None
            )
            writer.close()
            await writer.wait_closed()

    await asyncio.gather(*(one(t.host, t.port, t.protocol) for t in plan.targets))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    rounds = parser.parse_args().rounds
    directory = Path(tempfile.mkdtemp())
    with (
        DNSServer() as dns,
        NTPServer() as ntp,
        running_lab(directory, LabCA(*TRUSTED_CA_NAME), LabCA(*UNTRUSTED_CA_NAME)) as lab,
    ):
        arrange(dns, ntp, broken=False)
        loaded = load(write_config(directory / "lab.yml", dns, ntp, lab))
        plan = build_plan(loaded.config, loaded.catalogue)
        settings = probe_settings(loaded)
        exporter_times, baseline_times = [], []
        for _ in range(rounds):
            store = ResultStore()
            exporter_times.append(anyio.run(run_cycle, plan, settings, store, loaded.config.concurrency))
            failing = [r for r in store.snapshot()[0].values() if not r.outcome.ok]
            assert not failing, failing[:3]
            started = time.perf_counter()
            asyncio.run(
                baseline(plan, loaded.config.port_remap, lab.trusted_context, loaded.config.concurrency)
            )
            baseline_times.append(time.perf_counter() - started)
    exporter_median = statistics.median(exporter_times)
    baseline_median = statistics.median(baseline_times)
    print(f"targets: {len(plan.targets)} ({len(plan.hosts)} hosts), rounds: {rounds}")
    print(f"exporter full cycle (DNS + TCP/TLS/HTTP/NTP probes): median {exporter_median:.3f}s")
    print(f"baseline (bare connect / TLS handshake per target): median {baseline_median:.3f}s")
    print(f"ratio exporter / baseline: {exporter_median / baseline_median:.2f}")


if __name__ == "__main__":
    main()

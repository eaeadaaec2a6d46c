"""Soak: the probe engine over healthy and faulty loopback targets for many cycles; fds and memory stay flat.

    python bench/soak.py [--cycles 2000] [--interval 0.05] [--timeout 0.25] [--scrape-every 10]
                         [--warmup 100] [--rss-growth 0.2]

Two processes, so that the servers' sockets and threads do not count as the exporter's:

- lab (child): the fault servers of exporter/lab/faults.py and the DNS simulator, set up by
  exporter/lab/fault_config.py (fault hosts resolve to their fault's address; the dns-* names misbehave).
- this one: `run_cycle` in-process, `--interval` apart, over `TARGETS` (36 targets: healthy ones, tarpits,
  resets, garbage TLS, bad certificates, broken HTTP, DNS timeouts and errors), every phase timed out after
  `--timeout`. Every `--scrape-every` cycles, /metrics is rendered as a scrape gets it (`render_gzip` of
  a registry with the exporter's collectors and the `max_series` cap). RSS (VmRSS) and open fds are
  sampled after `--warmup` cycles, at 10 points after it, and at the end.

Exits 1 when the open fds at the end exceed those after warm-up, when RSS grew by more than `--rss-growth`
(a fraction) since warm-up, or when any probe raised (reason probe_error); 0 otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HEALTHY_NAMES = [f"ok-{i}.fault.test" for i in range(1, 7)]


def targets() -> list[tuple[str, str]]:
    """(host, protocol) of every soak target."""
    from exporter.lab.fault_config import dns_host
    from exporter.lab.faults import Fault as F

    pairs = [(name, "https") for name in HEALTHY_NAMES]
    pairs += [(F.HEALTHY_HTTP.host, p) for p in ("tcp", "http")] + [
        (F.HEALTHY_TLS.host, p) for p in ("tls", "https")
    ]
    pairs += [(F.TARPIT.host, p) for p in ("tcp", "tls", "http", "https")]
    pairs += [(F.RESET.host, p) for p in ("tls", "http", "https")] + [(F.RESET_ON_DATA.host, "https")]
    pairs += [(F.BLACKHOLE.host, "https"), (F.TLS_GARBAGE.host, "tls"), (F.TLS_GARBAGE.host, "https")]
    faulty_https = (F.TLS_CLOSE_MID_HANDSHAKE, F.TLS_EXPIRED, F.TLS_WRONG_NAME, F.TLS_UNTRUSTED, F.TLS_DRIP)
    pairs += [(fault.host, "https") for fault in faulty_https]
    faulty_http = (F.ENDLESS_HEADERS, F.ENDLESS_BODY, F.DRIP, F.HTTP09, F.HUGE_LENGTH)
    pairs += [(fault.host, "http") for fault in faulty_http]
    dns_faults = ("dns-timeout", "dns-servfail", "dns-nxdomain", "dns-truncated", "dns-garbage")
    pairs += [(dns_host(label), "https") for label in dns_faults]
    return pairs


# ---------------------------------------------------------------------------------------------- lab child


def lab_main(directory: Path) -> None:
    from exporter.lab.certs import LabCA
    from exporter.lab.dns import DNSServer, UnrecordedQueries
    from exporter.lab.fault_config import arrange_dns
    from exporter.lab.faults import Fault, running_faults
    from exporter.lab.network import LAB_CA_NAME, UNTRUSTED_CA_NAME

    ca, untrusted_ca = LabCA(*LAB_CA_NAME), LabCA(*UNTRUSTED_CA_NAME)
    (directory / "ca.pem").write_bytes(ca.cert_pem)
    with running_faults(ca, untrusted_ca) as lab, DNSServer() as dns:
        arrange_dns(dns)
        dns.records.update({name: [Fault.HEALTHY_TLS.address] for name in HEALTHY_NAMES})
        dns.log = UnrecordedQueries()  # every cycle asks again: do not keep every query
        print(json.dumps({"dns_port": dns.port, "port": lab.port}), flush=True)
        sys.stdin.read()  # EOF: the parent is done or gone


# ---------------------------------------------------------------------------------------------- soak


@dataclass
class Sample:
    cycle: int
    elapsed: float
    rss_kb: int
    fds: int
    failing: int
    cycle_s: float


def rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


class _Count(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def soak(args: argparse.Namespace, config: Path) -> int:
    import anyio
    from prometheus_client import CollectorRegistry

    from exporter.config.file import load
    from exporter.metrics.endpoints import ExporterCollector
    from exporter.metrics.exposition import SeriesCap, render_gzip
    from exporter.metrics.network_checks import NetworkChecksCollector
    from exporter.plan.expand import build_plan
    from exporter.plan.probe_settings import probe_settings
    from exporter.plan.targets import PlanHolder
    from exporter.probes.outcome import Reason
    from exporter.results.store import ResultStore
    from exporter.scheduler.cycle import run_cycle

    exporter_log = logging.getLogger("exporter")
    exporter_log.setLevel(logging.ERROR)  # failing targets that flap would log every cycle
    errors = _Count()
    exporter_log.addHandler(errors)
    loaded = load(config)
    plan = build_plan(loaded.config, loaded.catalogue)
    settings = probe_settings(loaded)
    store = ResultStore()
    registry = CollectorRegistry()
    registry.register(ExporterCollector(PlanHolder(plan), loaded.catalogue, store))
    registry.register(NetworkChecksCollector(PlanHolder(plan), store))
    cap = SeriesCap(lambda: loaded.config.max_series)
    step = max((args.cycles - args.warmup) // 10, 1)
    checkpoints = {args.warmup + step * i for i in range(11)} | {args.cycles}
    samples: list[Sample] = []
    probe_errors = 0
    scraped = 0
    started = time.monotonic()

    async def run() -> None:
        nonlocal probe_errors, scraped
        for cycle in range(1, args.cycles + 1):
            duration = await run_cycle(plan, settings, store, loaded.config.concurrency)
            results = store.snapshot()[0]
            probe_errors += sum(1 for r in results.values() if r.outcome.reason is Reason.PROBE_ERROR)
            if cycle % args.scrape_every == 0:
                scraped += len(render_gzip(registry, cap)) > 0
            if cycle in checkpoints:
                failing = sum(1 for r in results.values() if not r.outcome.ok)
                sample = Sample(cycle, time.monotonic() - started, rss_kb(), open_fds(), failing, duration)
                samples.append(sample)
                print(_row(sample), file=sys.stderr, flush=True)
            await anyio.sleep(args.interval)

    print(f"{len(plan.targets)} targets; sampling from cycle {args.warmup}", file=sys.stderr)
    print(_header(), file=sys.stderr)
    anyio.run(run)
    gc.collect()
    warm, end = samples[0], samples[-1]
    growth = end.rss_kb / warm.rss_kb - 1
    verdicts = [
        (end.fds <= warm.fds, f"open fds {warm.fds} -> {end.fds}"),
        (
            growth <= args.rss_growth,
            f"RSS {warm.rss_kb / 1024:.1f} -> {end.rss_kb / 1024:.1f} MB ({growth:+.1%})",
        ),
        (
            probe_errors == 0 and errors.count == 0,
            f"probe errors {probe_errors}, error log lines {errors.count}",
        ),
    ]
    print(f"\n{args.cycles} cycles in {end.elapsed:.0f}s; {scraped} /metrics renders", file=sys.stderr)
    for ok, text in verdicts:
        print(f"{'ok  ' if ok else 'FAIL'} {text}", file=sys.stderr)
    return 0 if all(ok for ok, _ in verdicts) else 1


def _header() -> str:
    return f"{'cycle':>7} {'elapsed s':>10} {'RSS MB':>8} {'fds':>5} {'failing':>8} {'cycle s':>8}"


def _row(s: Sample) -> str:
    return (
        f"{s.cycle:>7} {s.elapsed:>10.1f} {s.rss_kb / 1024:>8.1f} {s.fds:>5} {s.failing:>8} {s.cycle_s:>8.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cycles", type=int, default=2000)
    parser.add_argument("--interval", type=float, default=0.05, help="seconds between cycles")
    parser.add_argument("--timeout", type=float, default=0.25, help="seconds per phase")
    parser.add_argument("--scrape-every", type=int, default=10, help="render /metrics every N cycles")
    parser.add_argument("--warmup", type=int, default=100, help="cycles before the first sample")
    parser.add_argument("--rss-growth", type=float, default=0.2, help="largest RSS growth allowed (fraction)")
    parser.add_argument("--lab", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.lab:
        lab_main(Path(args.lab))
        return
    if not 0 < args.warmup < args.cycles:
        parser.error("--warmup must be between 0 and --cycles")

    from exporter.lab.fault_config import write_catalogue, write_config
    from exporter.lab.faults import FaultLab

    with tempfile.TemporaryDirectory(prefix="soak-") as name:
        directory = Path(name)
        lab = subprocess.Popen(
            [sys.executable, __file__, "--lab", name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert lab.stdout is not None and lab.stdin is not None
        try:
            ready = json.loads(lab.stdout.readline())
            catalogue = write_catalogue(directory / "soak.yml", targets())
            config = write_config(
                directory / "soak-config.yml",
                catalogue,
                ready["dns_port"],
                FaultLab(ready["port"]),
                directory / "ca.pem",
                timeout=f"{args.timeout}s",
                concurrency=64,
                log_level="error",
            )
            code = soak(args, config)
        finally:
            with contextlib.suppress(OSError):
                lab.stdin.close()
            lab.wait(10)
    sys.exit(code)


if __name__ == "__main__":
    main()

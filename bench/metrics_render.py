"""/metrics render cost at N targets, in-process and without a network: ours vs prometheus_client's.

    python bench/metrics_render.py --targets 1000,10000 --repeat 5

For each N it fills a ResultStore with N https results (4 phases, a certificate, a status each) and
times, median of --repeat runs:

- `generate_latest`: prometheus_client formatting every sample of the same registry (the baseline: what
  a scrape cost before rows were pre-rendered);
- `render, all rows new`: our render when every result changed since the last scrape and none was primed;
- `render, nothing new`: a second scrape between cycles;
- `render, 10% new (primed)`: a scrape during a cycle, a tenth of the results stored since the last one
  (stored through ResultStore.put, so the collectors' listeners have rendered them already);
- gzip of the text at level 1 (ours) and 6 (prometheus_client's default).

Ratios are against `generate_latest` measured in the same run.
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, generate_latest

from exporter.catalogue import Catalogue
from exporter.metrics.endpoints import ExporterCollector
from exporter.metrics.exposition import render
from exporter.metrics.network_checks import NetworkChecksCollector
from exporter.plan.targets import Membership, PlanHolder, Target, TargetPlan
from exporter.probes.outcome import Certificate, Phase, ProbeOutcome
from exporter.probes.prober import Protocol
from exporter.results.store import ResultStore, TargetResult

CERT = Certificate(
    "t.bench.test", "Bench Issuing CA 01", "Bench Org", 1.9e9, verified=True, hostname_matches=True
)


def outcome(seed: float) -> ProbeOutcome:
    phases = {Phase.DNS: 0.0011 + seed, Phase.CONNECT: 0.0012, Phase.TLS: 0.0113, Phase.HTTP: 0.0054}
    return ProbeOutcome(ok=True, phases=phases, certificate=CERT, http_status=200, intercepted=False)


def timed(action: Callable[[], object], repeat: int, before: Callable[[], None] | None = None) -> float:
    samples = []
    for _ in range(repeat):
        if before is not None:
            before()
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def measure(n: int, repeat: int) -> dict[str, float]:
    targets = {
        Target(f"t{i:05d}.ok.bench.test", 443, Protocol.HTTPS): [
            Membership("bench", "*.bench.test", frozenset())
        ]
        for i in range(n)
    }
    plan = TargetPlan(sets=[], targets=targets)
    store = ResultStore()
    registry = CollectorRegistry()
    plans = PlanHolder(plan)
    registry.register(ExporterCollector(plans, Catalogue(), store))
    registry.register(NetworkChecksCollector(plans, store))
    generation = [0.0]

    def store_all(share: float = 1.0, *, priming: bool = True) -> None:
        generation[0] += 1e-6
        listeners = store._listeners
        if not priming:
            store._listeners = []
        for index, target in enumerate(targets):
            if index < n * share:
                store.put(TargetResult(target, outcome(generation[0]), "127.0.0.1", time.time()))
        store._listeners = listeners

    store_all()
    figures = {"generate_latest": timed(lambda: generate_latest(registry), repeat)}
    figures["render, all rows new"] = timed(
        lambda: render(registry), repeat, lambda: store_all(priming=False)
    )
    render(registry)
    figures["render, nothing new"] = timed(lambda: render(registry), repeat)
    figures["render, 10% new (primed)"] = timed(lambda: render(registry), repeat, lambda: store_all(0.1))
    text = render(registry)
    figures["size (MB)"] = len(text) / 1e6
    figures["gzip level 1"] = timed(lambda: gzip.compress(text, compresslevel=1), repeat)
    figures["gzip level 6"] = timed(lambda: gzip.compress(text, compresslevel=6), repeat)
    figures["gzip level 1 size (MB)"] = len(gzip.compress(text, compresslevel=1)) / 1e6
    figures["gzip level 6 size (MB)"] = len(gzip.compress(text, compresslevel=6)) / 1e6
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--targets", default="1000,10000", help="comma-separated sizes (default %(default)s)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print("| N | measure | ms (or MB) | ratio to generate_latest |")
    print("|---|---|---|---|")
    for n in (int(size) for size in args.targets.split(",")):
        figures = measure(n, args.repeat)
        baseline = figures["generate_latest"]
        for name, value in figures.items():
            if "MB" in name:
                print(f"| {n} | {name} | {value:.2f} | - |")
            else:
                print(f"| {n} | {name} | {value * 1000:.1f} | {value / baseline:.3f} |")


if __name__ == "__main__":
    main()

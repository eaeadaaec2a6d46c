"""Compare one probe cycle of this exporter with Prometheus' blackbox_exporter over the same loopback targets.

    python bench/blackbox_compare.py [--targets 200,1000] [--rounds 5] [--concurrency 32] [--timeout 5]
                                     [--latency-ms 0] [--slow-share 0] [--slow-ms 2000] [--blackhole-share 0]

Needs Debian's blackbox_exporter on PATH (`apt-get install prometheus-blackbox-exporter`); the script
installs nothing. Three processes besides blackbox_exporter, so each side's CPU and RSS are its own:

- lab (child): the local DNS simulator (exporter/lab/dns.py) and an asyncio TLS+HTTP server with a
  leaf from the lab CA (`LabCA`). Healthy targets live on 127.0.0.1:P, slow ones on 127.0.0.7:P (answer
  after --slow-ms), blackholed ones on 127.0.0.3:P (accept queue full, SYNs dropped, like the lab's
  BLACKHOLE role). --latency-ms delays every HTTP answer.
- ours (child): `run_cycle` in-process over a plan from a generated catalogue file (one set, N hosts,
  TCP 443 = https: a TLS handshake, then a GET on that connection), plus our collectors for /metrics renders.
- main: drives blackbox_exporter's /probe endpoint with httpx under the same concurrency, and measures it.

Fairness: our exporter resolves each of the N names through the DNS simulator (name -> 127.0.0.x) and
dials the remapped port. blackbox_exporter resolves through the system resolver, which we may not point
at the simulator, so it probes `https://127.0.0.x:P/` with `tls_config.server_name` set to a name the
leaf covers: same TLS work, no DNS lookup on its side. Timeouts: ours applies `timeout` to each phase;
blackbox applies the module timeout to the whole probe.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import resource
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:  # the children import what they use, so that each side loads only its own code
    from prometheus_client import CollectorRegistry

    from exporter.results.store import ResultStore

BLACKBOX = "prometheus-blackbox-exporter"
OK, SLOW, HOLE = "127.0.0.1", "127.0.0.7", "127.0.0.3"
DOMAIN = "bench.test"
SERVER_NAME = f"probe.ok.{DOMAIN}"
SET_ID = "bench"
SCRAPE_GAP = 1.0
"""Seconds between the end of one /metrics render and the next during the scrape-during-a-cycle run."""


@dataclass(frozen=True)
class Spec:
    n: int
    blackhole_share: float
    slow_share: float

    def kinds(self) -> list[str]:
        """Per target index: "bh", "slow" or "ok" (blackholed first, then slow, then healthy)."""
        holes = round(self.n * self.blackhole_share)
        slow = round(self.n * self.slow_share)
        return ["bh"] * holes + ["slow"] * slow + ["ok"] * (self.n - holes - slow)

    def hosts(self) -> list[str]:
        return [f"t{i:05d}.{kind}.{DOMAIN}" for i, kind in enumerate(self.kinds())]


# ---------------------------------------------------------------------------------------------- lab child


def lab_main(args: argparse.Namespace) -> None:
    from exporter.lab.certs import LabCA
    from exporter.lab.dns import DNSServer, UnrecordedQueries
    from exporter.lab.network import LAB_CA_NAME
    from exporter.lab.ports import blackhole

    directory = Path(args.dir)
    ca = LabCA(*LAB_CA_NAME)
    leaf = ca.issue([f"*.ok.{DOMAIN}", f"*.slow.{DOMAIN}", f"*.bh.{DOMAIN}"], common_name=SERVER_NAME)
    (directory / "ca.pem").write_bytes(ca.cert_pem)
    context = leaf.server_context()
    delay, slow_delay = args.latency_ms / 1000, (args.latency_ms + args.slow_ms) / 1000

    with contextlib.ExitStack() as stack:
        dns = stack.enter_context(DNSServer(default_address=OK))
        dns.records.update({f"*.slow.{DOMAIN}": [SLOW], f"*.bh.{DOMAIN}": [HOLE]})
        dns.log = UnrecordedQueries()  # 10,000 names per cycle: do not keep every query
        port, sockets = _claim(stack)
        stack.enter_context(blackhole(sockets[HOLE]))
        stop = threading.Event()

        def wait_for_parent() -> None:
            sys.stdin.read()  # EOF: the parent is done or gone
            stop.set()

        threading.Thread(target=wait_for_parent, daemon=True).start()
        ready = {"dns_port": dns.port, "https_port": port, "ca_file": str(directory / "ca.pem")}
        asyncio.run(_serve(context, {OK: sockets[OK], SLOW: sockets[SLOW]}, delay, slow_delay, stop, ready))


def _claim(stack: contextlib.ExitStack) -> tuple[int, dict[str, socket.socket]]:
    """One port number free on all three addresses, with a bound socket on each."""
    from exporter.lab.ports import claim_ports, release

    (port,), held = claim_ports((OK, SLOW, HOLE), 1)
    stack.callback(release, held)
    return port, {address: held[address, port] for address in (OK, SLOW, HOLE)}


async def _serve(
    context: ssl.SSLContext,
    listeners: dict[str, socket.socket],
    delay: float,
    slow_delay: float,
    stop: threading.Event,
    ready: dict[str, Any],
) -> None:
    answer = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 11\r\nConnection: close\r\n\r\n"

    def handler(wait: float) -> Any:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                await reader.readuntil(b"\r\n\r\n")
                if wait:
                    await asyncio.sleep(wait)
                writer.write(answer + b"intune lab\n")
                await writer.drain()
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ssl.SSLError):
                pass  # a TLS-only probe hangs up after the handshake
            finally:
                writer.close()
                with contextlib.suppress(OSError, ssl.SSLError):
                    await writer.wait_closed()

        return handle

    servers = []
    for address, wait in ((OK, delay), (SLOW, slow_delay)):
        listeners[address].listen(4096)
        server = await asyncio.start_server(handler(wait), sock=listeners[address], ssl=context, backlog=4096)
        servers.append(server)
    print(json.dumps(ready), flush=True)
    while not stop.is_set():
        await asyncio.sleep(0.1)
    for server in servers:
        server.close()


# --------------------------------------------------------------------------------------------- ours child


def ours_main(args: argparse.Namespace) -> None:
    import anyio
    from prometheus_client import CollectorRegistry
    from prometheus_client.process_collector import ProcessCollector

    from exporter.config.file import load
    from exporter.metrics.endpoints import ExporterCollector
    from exporter.metrics.network_checks import NetworkChecksCollector
    from exporter.plan.builder import build
    from exporter.plan.probe_settings import probe_settings
    from exporter.plan.targets import PlanHolder
    from exporter.results.store import ResultStore
    from exporter.scheduler.cycle import run_cycle

    logging.getLogger("exporter").setLevel(logging.CRITICAL)  # N failing targets would log N lines
    loaded = load(Path(args.config))
    durations = _time_probes()
    settings = probe_settings(loaded)
    plan = build(loaded, settings)
    store = ResultStore()
    plans = PlanHolder(plan)
    registry = CollectorRegistry()
    registry.register(ExporterCollector(plans, loaded.catalogue, store))
    registry.register(NetworkChecksCollector(plans, store))
    ProcessCollector(registry=registry)

    fds_start = len(os.listdir("/proc/self/fd"))
    for line in sys.stdin:
        command = line.strip()
        if command == "quit":
            break
        scrapes: list[float] = []
        cpu = time.process_time()
        with _scraping(registry, scrapes, enabled=command == "cycle+scrape"):
            wall = anyio.run(run_cycle, plan, settings, store, loaded.config.concurrency)
        cpu = time.process_time() - cpu
        report = _round_report(store, registry, durations, scrapes)
        report.update(wall=wall, cpu=cpu, fds_start=fds_start)
        print(json.dumps(report), flush=True)


def _time_probes() -> dict[str, float]:
    """Seconds of each target's probes, DNS excluded, by host: the registry's `run_probe` wrapped in a
    timer (a run_cycle worker calls it once the host is resolved). A failed probe carries no phase for
    the step that timed out, hence a timer of our own."""
    from exporter.probes import registry
    from exporter.probes.outcome import ProbeOutcome
    from exporter.probes.prober import ProbeTarget, Protocol
    from exporter.probes.settings import ProbeSettings

    durations: dict[str, float] = {}
    run_probe = registry.run_probe

    async def timed(protocol: Protocol, target: ProbeTarget, settings: ProbeSettings) -> ProbeOutcome:
        started = time.perf_counter()
        try:
            return await run_probe(protocol, target, settings)
        finally:
            durations[target.host] = time.perf_counter() - started

    registry.run_probe = timed
    return durations


def _render_gzip(registry: CollectorRegistry) -> tuple[float, int]:
    """A scrape's body as Prometheus asks for it (gzip): seconds, compressed bytes."""
    from exporter.metrics.exposition import render_gzip

    started = time.perf_counter()
    size = len(render_gzip(registry))
    return time.perf_counter() - started, size


def _render_text(registry: CollectorRegistry) -> tuple[float, int]:
    from exporter.metrics.exposition import render

    started = time.perf_counter()
    size = len(render(registry))
    return time.perf_counter() - started, size


@contextlib.contextmanager
def _scraping(registry: CollectorRegistry, scrapes: list[float], *, enabled: bool) -> Iterator[None]:
    """While the block runs (if `enabled`): gzip scrapes from its start, SCRAPE_GAP apart, timed into
    `scrapes`."""
    if not enabled:
        yield
        return
    done = threading.Event()

    def scrape_loop() -> None:
        while True:
            scrapes.append(_render_gzip(registry)[0])
            if done.wait(SCRAPE_GAP):
                return

    scraper = threading.Thread(target=scrape_loop)
    scraper.start()
    try:
        yield
    finally:
        done.set()
        scraper.join()


def _round_report(
    store: ResultStore, registry: CollectorRegistry, durations: dict[str, float], scrapes: list[float]
) -> dict[str, Any]:
    from exporter.probes.outcome import Phase

    results = store.snapshot()[0].values()
    maxrss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before any plain render
    first_render_s, gzip_size = _render_gzip(registry)  # formats the rows the cycle changed, if any are left
    return {
        "ok": sum(1 for r in results if r.outcome.ok),
        "slowest": max(
            (durations.get(r.target.host, 0.0) + r.outcome.phases.get(Phase.DNS, 0.0) for r in results),
            default=0.0,
        ),
        "maxrss_mb": maxrss_mb,
        "render_s": statistics.median(_render_gzip(registry)[0] for _ in range(5)),
        "first_render_s": first_render_s,
        "text_s": statistics.median(_render_text(registry)[0] for _ in range(5)),
        "render_bytes": _render_text(registry)[1],
        "gzip_bytes": gzip_size,
        "scrape_during_s": statistics.median(scrapes) if scrapes else None,
        "fds": len(os.listdir("/proc/self/fd")),
    }


# ---------------------------------------------------------------------------------------------- blackbox


@contextlib.contextmanager
def running_blackbox(directory: Path, ca_file: str, timeout: float) -> Iterator[tuple[int, int]]:
    """(pid, port) of a blackbox_exporter with one module `https_lab`: TLS + GET, the lab CA trusted."""
    config = directory / "blackbox.yml"
    config.write_text(
        "modules:\n"
        "  https_lab:\n"
        "    prober: http\n"
        f"    timeout: {timeout}s\n"
        "    http:\n"
        "      method: GET\n"
        "      preferred_ip_protocol: ip4\n"
        "      ip_protocol_fallback: false\n"
        "      fail_if_not_ssl: true\n"
        "      tls_config:\n"
        f"        ca_file: {ca_file}\n"
        f"        server_name: {SERVER_NAME}\n"
    )
    from exporter.lab.ports import free_port

    port = free_port()
    process = subprocess.Popen(
        [BLACKBOX, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        stdout=subprocess.DEVNULL,
        stderr=(directory / "blackbox.log").open("w"),
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    log = directory / "blackbox.log"
                    raise RuntimeError(f"{BLACKBOX} did not start; see {log}") from None
                time.sleep(0.05)
        yield process.pid, port
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def proc_memory_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) in MB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


async def drive_blackbox(port: int, urls: list[str], concurrency: int, timeout: float) -> tuple[int, float]:
    """Probe every url once through /probe; (successes, slowest probe_duration_seconds)."""
    import httpx

    limit = asyncio.Semaphore(concurrency)
    headers = {"X-Prometheus-Scrape-Timeout-Seconds": str(timeout + 0.5)}

    async def one(client: httpx.AsyncClient, url: str) -> tuple[bool, float]:
        async with limit:
            response = await client.get(
                f"http://127.0.0.1:{port}/probe", params={"module": "https_lab", "target": url}
            )
        values = {}
        for line in response.text.splitlines():
            if line.startswith(("probe_success ", "probe_duration_seconds ")):
                name, value = line.split()
                values[name] = float(value)
        return values.get("probe_success") == 1.0, values.get("probe_duration_seconds", 0.0)

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    client = httpx.AsyncClient(limits=limits, timeout=timeout + 10, headers=headers, trust_env=False)
    async with client:
        outcomes = await asyncio.gather(*(one(client, url) for url in urls))
    return sum(ok for ok, _ in outcomes), max((d for _, d in outcomes), default=0.0)


# -------------------------------------------------------------------------------------------------- main


def child(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def ask(process: subprocess.Popen[str], command: str) -> dict[str, Any]:
    stdin, stdout = process.stdin, process.stdout
    assert stdin is not None and stdout is not None
    stdin.write(command + "\n")
    stdin.flush()
    line = stdout.readline()
    if not line:
        raise RuntimeError(f"child exited with {process.wait()}")
    return dict(json.loads(line))


def stop_child(process: subprocess.Popen[str]) -> None:
    streams: list[IO[str] | None] = [process.stdin, process.stdout]
    with contextlib.suppress(OSError):
        if process.stdin is not None:
            process.stdin.close()  # EOF: the child stops by itself
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)
        process.wait(5)
    for stream in streams:
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()


def write_config(path: Path, spec: Spec, lab: dict[str, Any], concurrency: int, timeout: float) -> Path:
    import yaml

    catalogue = {
        "sets": [
            {"id": SET_ID, "name": "Benchmark", "section": "Bench", "urls": spec.hosts(), "tcp_ports": [443]}
        ]
    }
    (path.parent / "bench-catalogue.yml").write_text(yaml.safe_dump(catalogue))
    config = {
        "interval": "1h",
        "jitter": "0s",
        "timeout": f"{timeout}s",
        "concurrency": concurrency,
        "dns": {"nameservers": ["127.0.0.1"], "port": lab["dns_port"]},
        "tls": {"ca_file": lab["ca_file"]},
        "port_remap": {443: lab["https_port"]},
        "catalogue_files": ["bench-catalogue.yml"],
        "sets": {"only": [SET_ID]},
        "state_dir": str(path.parent / "state"),
        "drift": {"page": {"enabled": False}},
        "log_level": "error",
    }
    path.write_text(yaml.safe_dump(config))
    return path


def measure(args: argparse.Namespace, n: int) -> dict[str, dict[str, float | None]]:
    spec = Spec(n, args.blackhole_share, args.slow_share)
    directory = Path(tempfile.mkdtemp(prefix="bb-compare-"))
    lab_args = ["--role", "lab", "--dir", str(directory), "--latency-ms", str(args.latency_ms)]
    lab = child([*lab_args, "--slow-ms", str(args.slow_ms)])
    ours = None
    try:
        assert lab.stdout is not None
        ready = json.loads(lab.stdout.readline())
        config = write_config(directory / "bench.yml", spec, ready, args.concurrency, args.timeout)
        ours = child(["--role", "ours", "--config", str(config)])
        addresses = {"ok": OK, "slow": SLOW, "bh": HOLE}
        urls = [f"https://{addresses[kind]}:{ready['https_port']}/" for kind in spec.kinds()]
        rows: dict[str, list[tuple[float | None, float | None]]] = {}

        def add(name: str, mine: float | None, theirs: float | None) -> None:
            rows.setdefault(name, []).append((mine, theirs))

        with running_blackbox(directory, ready["ca_file"], args.timeout) as (pid, port):
            for round_ in range(args.rounds):
                mine = ask(ours, "cycle")
                cpu, driver = proc_cpu(pid), time.process_time()
                started = time.perf_counter()
                ok, slowest = asyncio.run(drive_blackbox(port, urls, args.concurrency, args.timeout))
                wall = time.perf_counter() - started
                cpu, driver = proc_cpu(pid) - cpu, time.process_time() - driver
                rss, hwm = proc_memory_mb(pid)
                print(
                    f"  N={n} round {round_ + 1}: ours {mine['wall']:.2f}s {mine['ok']} ok, "
                    f"blackbox {wall:.2f}s {ok} ok",
                    file=sys.stderr,
                )
                add("targets ok", mine["ok"], ok)
                add("cycle wall (s)", mine["wall"], wall)
                add("slowest target (s)", mine["slowest"], slowest)
                add("cycle wall / slowest target", mine["wall"] / mine["slowest"], wall / slowest)
                add("CPU s per 1,000 TLS probes", mine["cpu"] / n * 1000, cpu / n * 1000)
                add("  driver CPU s per 1,000 (blackbox only)", None, driver / n * 1000)
                add("peak RSS (MB)", mine["maxrss_mb"], hwm)
                add("RSS after round (MB)", None, rss)
                add("/metrics gzip body, first after the cycle (ms)", mine["first_render_s"] * 1000, None)
                add("/metrics gzip body (ms)", mine["render_s"] * 1000, None)
                add("/metrics text only, no gzip (ms)", mine["text_s"] * 1000, None)
                add("/metrics text size (KB)", mine["render_bytes"] / 1024, None)
                add("/metrics gzip size (KB)", mine["gzip_bytes"] / 1024, None)
                add("open fds (start -> after round)", mine["fds"], None)
            fds_start = mine["fds_start"]
        during = ask(ours, "cycle+scrape")
        rows["/metrics gzip body during a cycle (ms)"] = [(during["scrape_during_s"] * 1000, None)]
        rows["cycle wall with those scrapes (s)"] = [(during["wall"], None)]
        idle = statistics.median(m for m, _ in rows["/metrics gzip body (ms)"] if m is not None)
        rows["gzip body during / between cycles"] = [(during["scrape_during_s"] * 1000 / idle, None)]
        rows["open fds (start -> after round)"].insert(0, (fds_start, None))
        ask_quit(ours)
    finally:
        if ours is not None:
            stop_child(ours)
        stop_child(lab)
        shutil.rmtree(directory, ignore_errors=True)
    result: dict[str, dict[str, float | None]] = {}
    for name, pairs in rows.items():
        if name.startswith("open fds"):
            result[name] = {"ours_first": pairs[0][0], "ours": pairs[-1][0], "blackbox": None}
            continue
        mine_values = [m for m, _ in pairs if m is not None]
        their_values = [t for _, t in pairs if t is not None]
        result[name] = {
            "ours": statistics.median(mine_values) if mine_values else None,
            "blackbox": statistics.median(their_values) if their_values else None,
        }
    return result


def ask_quit(process: subprocess.Popen[str]) -> None:
    if process.stdin is not None:
        process.stdin.write("quit\n")
        process.stdin.flush()


def table(results: dict[int, dict[str, dict[str, float | None]]]) -> str:
    def number(value: float | None) -> str:
        if value is None:
            return "-"
        return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"

    lines = ["| N | measure | ours | blackbox | ours / blackbox |", "|---|---|---|---|---|"]
    for n, rows in results.items():
        for name, row in rows.items():
            mine, theirs = row["ours"], row["blackbox"]
            if "ours_first" in row:
                lines.append(f"| {n} | {name} | {number(row['ours_first'])} -> {number(mine)} | - | - |")
                continue
            ratio = f"{mine / theirs:.2f}" if mine is not None and theirs else "-"
            lines.append(f"| {n} | {name} | {number(mine)} | {number(theirs)} | {ratio} |")
    return "\n".join(lines)


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--targets", default="200,1000", help="comma-separated target counts")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every HTTP answer")
    parser.add_argument("--slow-share", type=float, default=0.0, help="share of targets answering late")
    parser.add_argument("--slow-ms", type=float, default=2000.0, help="extra delay of the slow targets")
    parser.add_argument("--blackhole-share", type=float, default=0.0, help="share of targets dropping SYNs")
    parser.add_argument("--json", type=Path, help="also write the medians here")
    parser.add_argument("--role", choices=["main", "lab", "ours"], default="main", help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "lab":
        lab_main(args)
        return
    if args.role == "ours":
        ours_main(args)
        return
    if shutil.which(BLACKBOX) is None:
        sys.exit(f"{BLACKBOX} not found on PATH; install it: apt-get install -y prometheus-blackbox-exporter")
    results: dict[int, dict[str, dict[str, float | None]]] = {}
    for n in (int(part) for part in args.targets.split(",")):
        results[n] = measure(args, n)
        print(table({n: results[n]}), file=sys.stderr, flush=True)  # partial results survive an abort
    print(table(results))
    if args.json is not None:
        args.json.write_text(json.dumps({str(n): rows for n, rows in results.items()}, indent=2))


if __name__ == "__main__":
    main()

"""`intune-exporter lab`: a simulated Intune network on loopback and an exporter probing it, until SIGTERM."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import tempfile
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import yaml

from exporter.catalogue import Catalogue, builtin_editions, default_edition, load_builtin
from exporter.commands.exit_codes import EXIT_FAILED
from exporter.commands.logs import add_log_flags, setup_logging
from exporter.commands.serve import check_listen_flag, serve
from exporter.config.file import load, split_listen
from exporter.lab.network import Network, running_network
from exporter.lab.scenario import BREAKAGES, HEALTHY

LAB_LISTEN = "127.0.0.1:10094"
INTERVAL = "15s"


def add_lab_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--listen",
        default=LAB_LISTEN,
        metavar="ADDR",
        help="address the exporter serves on (default: %(default)s)",
    )
    parser.add_argument("--no-broken", action="store_true", help="break no endpoint set on purpose")
    parser.add_argument(
        "--edition",
        choices=builtin_editions(),
        default=default_edition(),
        help="built-in catalogue edition the lab simulates and the exporter probes (default: %(default)s)",
    )
    parser.add_argument(
        "--intercept",
        action="store_true",
        help="inspect every other HTTPS endpoint with a TLS-inspection CA the devices trust",
    )
    add_log_flags(parser, default_level="info")


def run(args: argparse.Namespace) -> int:
    """The `lab` command's handler: returns the exit code; the caller reports a ConfigError."""
    check_listen_flag(args.listen)
    setup_logging(args.log_level or "info", args.log_format or "logfmt")
    previous = signal.signal(signal.SIGTERM, _interrupt)  # serve() takes SIGTERM over once it runs
    catalogue = load_builtin(args.edition)
    broken = not args.no_broken
    try:
        with tempfile.TemporaryDirectory(prefix="intune-lab-") as directory, contextlib.ExitStack() as stack:
            try:
                network = stack.enter_context(
                    running_network(Path(directory), catalogue, broken=broken, intercept=args.intercept)
                )
            except OSError as exc:
                print(f"intune-exporter lab: cannot start the lab: {exc}", file=sys.stderr)
                return EXIT_FAILED
            path = write_config(Path(directory), network, args.listen, args.edition)
            loaded = load(path)
            describe(
                sys.stdout, network, catalogue, args.listen, path, broken=broken, intercept=args.intercept
            )
            return serve(loaded, args.listen, path)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(_signal: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def write_config(directory: Path, network: Network, listen: str, edition: str | None = None) -> Path:
    """The exporter's configuration for the lab, as a YAML file for the normal loader (and reloads)."""
    config: dict[str, Any] = {
        "listen": listen,
        "catalogue_edition": edition,
        "interval": INTERVAL,
        "jitter": "0s",
        "timeout": "5s",
        "timeouts": {"connect": "2s", "tls": "3s", "http": "3s"},
        "dns": {"nameservers": [HEALTHY], "port": network.dns_port},
        "tls": {"ca_file": str(network.ca_file)},
        "port_remap": network.port_remap,
        "state_dir": str(directory / "state"),
        "drift": {"page": {"enabled": False}},
    }
    if network.inspection_ca_file is not None:
        config["tls"]["inspection_ca_file"] = str(network.inspection_ca_file)
    path = directory / "lab.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def describe(
    out: TextIO,
    network: Network,
    catalogue: Catalogue,
    listen: str,
    path: Path,
    *,
    broken: bool,
    intercept: bool,
) -> None:
    """What the lab started and what it breaks on purpose."""
    host, port = split_listen(listen)
    host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}/"
    dns = f"{HEALTHY}:{network.dns_port}"
    lines = [
        "Intune lab: a simulated Intune network on loopback, probed by the exporter.",
        f"  catalogue      {_edition_name(catalogue)}",
        f"  exporter       {url}  (metrics: {url}metrics; a probe cycle every {INTERVAL})",
        f"  DNS server     {dns} UDP/TCP, e.g. dig @{HEALTHY} -p {network.dns_port} manage.microsoft.com",
        f"  HTTPS, HTTP    127.0.0.x port {network.https_port} (for 443, 5223), {network.http_port} (for 80)",
        f"  NTP            {HEALTHY}:{network.ntp_port} (for 123)",
        f"  configuration  {path}",
    ]
    names = {endpoint_set.id: endpoint_set for endpoint_set in catalogue.sets}
    if broken:
        lines.append("Broken on purpose (--no-broken turns this off):")
        for breakage in BREAKAGES:
            endpoint_set = names[breakage.set_id]
            required = "required" if endpoint_set.required else "optional"
            name = endpoint_set.name if len(endpoint_set.name) <= 60 else endpoint_set.name[:59] + "~"
            lines.append(f"  set {breakage.set_id:<12} {name} ({required})")
            lines.append(f"      {breakage.reason}: {breakage.how}")
    if intercept:
        lines += [
            "Intercepted (--intercept): a firewall inspects every other HTTPS endpoint with a CA the devices",
            "  trust; sets where the page forbids TLS inspection fail with tls_intercepted.",
        ]
    lines.append("Stop with Ctrl-C.")
    out.write("\n".join(lines) + "\n")
    out.flush()


def _edition_name(catalogue: Catalogue) -> str:
    edition = catalogue.edition
    if edition is None or edition.id is None:
        return "built-in"
    return f"edition {edition.id} ({edition.language}), {len(catalogue.sets)} sets"

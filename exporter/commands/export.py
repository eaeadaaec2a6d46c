"""`intune-exporter catalogue export`: the selected sets as JSON, CSV, a PAC file or squid ACL files."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from exporter.catalogue import Catalogue
from exporter.catalogue.allowlist import allowlist, networks, proxied_sets
from exporter.catalogue.export import to_csv, to_json
from exporter.catalogue.pac import DEFAULTS, proxy_address, to_pac
from exporter.catalogue.squid import to_dst, to_dstdomain
from exporter.commands.exit_codes import EXIT_OK
from exporter.config.file import LoadedConfig, load
from exporter.errors import NO_VALUE, ConfigError
from exporter.plan.filters import add_filter_flags, chosen_sets

FORMATS = ("json", "csv", "pac", "squid", "squid-ips")


@dataclass(frozen=True)
class ExportOptions:
    format: str = "json"
    set_ids: Sequence[str] = ()
    sections: Sequence[str] = ()
    all_sets: bool = False
    proxy: str | None = None
    pac_default: str | None = None


def add_export_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="json",
        help="json, csv, pac (proxy auto-config), squid (dstdomain ACL), squid-ips (dst ACL); default: json",
    )
    add_filter_flags(parser)
    parser.add_argument(
        "--all", action="store_true", help="every set of the catalogue, whatever the configuration selects"
    )
    parser.add_argument("--proxy", metavar="HOST:PORT", help="the proxy a PAC file names (--format pac)")
    parser.add_argument(
        "--pac-default",
        choices=DEFAULTS,
        help="where a PAC file sends hosts outside the catalogue (default: direct; catalogue hosts go the "
        "other way)",
    )


def run(args: argparse.Namespace) -> int:
    """The `catalogue export` command's handler."""
    loaded = load(args.config)
    options = ExportOptions(args.format, args.set, args.section, args.all, args.proxy, args.pac_default)
    sys.stdout.write(export(loaded, options))
    return EXIT_OK


def export(loaded: LoadedConfig, options: ExportOptions) -> str:
    _check_flags(options)
    if options.all_sets:
        sets = list(loaded.catalogue.sets)
    else:
        sets = chosen_sets(loaded, options.set_ids, options.sections)
    catalogue = loaded.catalogue.model_copy(update={"sets": tuple(sets)})
    if options.format == "json":
        return to_json(catalogue)
    if options.format == "csv":
        return to_csv(catalogue)
    ids = [s.id for s in proxied_sets(sets)]
    if options.format == "pac":
        assert options.proxy is not None  # _check_flags
        allowed = allowlist(sets, domain_covers_apex=False)
        proxy = proxy_address(options.proxy)
        return to_pac(allowed, proxy, options.pac_default or "direct", ids, _edition(catalogue))
    if options.format == "squid":
        return to_dstdomain(allowlist(sets, domain_covers_apex=True), ids, _edition(catalogue))
    return to_dst(networks(sets), ids, _edition(catalogue))


def _check_flags(options: ExportOptions) -> None:
    if options.all_sets and (options.set_ids or options.sections):
        raise ConfigError("--all", "", NO_VALUE, "cannot be combined with --set or --section")
    pac = options.format == "pac"
    if options.proxy is not None and not pac:
        raise ConfigError("--proxy", "", options.proxy, "only --format pac uses a proxy")
    if options.pac_default is not None and not pac:
        raise ConfigError("--pac-default", "", options.pac_default, "only --format pac uses it")
    if pac and options.proxy is None:
        raise ConfigError("--proxy", "", NO_VALUE, "--format pac needs --proxy HOST:PORT")
    if options.proxy is not None:
        try:
            proxy_address(options.proxy)
        except ValueError as exc:
            raise ConfigError("--proxy", "", options.proxy, str(exc)) from None


def _edition(catalogue: Catalogue) -> str:
    edition = catalogue.edition
    if edition is None:
        return "the catalogue"
    name = f"edition {edition.id}, " if edition.id else ""
    return f'"{edition.title}" ({name}{edition.language}, encoded {edition.encoded_on})'

"""`intune-exporter config check`: load the configuration (and the web configuration) as `serve` would,
build the plan, and say what it holds, without probing."""

from __future__ import annotations

import argparse

from exporter.commands.exit_codes import EXIT_OK
from exporter.config.file import load
from exporter.plan.builder import build
from exporter.plan.probe_settings import probe_settings
from exporter.web.web_config import load_web_config


def run(args: argparse.Namespace) -> int:
    """The `config check` command's handler; a problem raises ConfigError."""
    loaded = load(args.config)
    plan = build(loaded, probe_settings(loaded))
    print(f"{loaded.source}: OK, {len(plan.sets)} sets, {len(plan.targets)} targets")
    if args.web_config_file is not None:
        web = load_web_config(args.web_config_file)
        print(f"{web.source}: OK, {web.describe()}")
    return EXIT_OK

"""The exit codes of every command, defined once (README.md's table and `check --help` list them)."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
"""`check`: a required set has failures; `catalogue diff` and `catalogue changes`: a reference could not be
read; `serve` and `lab`: cannot listen, cannot start, or stopping outlasted its grace period."""
EXIT_USAGE = 2
"""A bad flag or configuration: one message on stderr, no traceback (argparse exits 2 too)."""
EXIT_ADDED_DRIFT = 3
"""`catalogue diff`: a reference adds endpoints the catalogue lacks."""
EXIT_INTERRUPTED = 130
"""Ctrl-C."""

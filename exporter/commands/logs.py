"""Logging for the commands that log: one line per record on stderr, at the level the command runs at."""

from __future__ import annotations

import logging
import sys


def setup_logging(level: str) -> None:
    """`level` as the configuration spells it ('info', 'error', ...)."""
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )

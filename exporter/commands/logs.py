"""Logging for the commands that log: one line per record on stderr, at the level the command runs at.

No record shows the credentials of a URL: httpx and httpcore, which log every request's URL at INFO (and
connection details at DEBUG), only log warnings, and every handler of the root logger replaces the
'user:password' of any 'scheme://user:password@host' in a record with `<redacted>`."""

from __future__ import annotations

import logging
import sys

from exporter.errors import redact_userinfo

QUIET_LOGGERS = ("httpx", "httpcore")
"""Libraries whose request logs would quote URLs (and their credentials): warnings and errors only."""


class RedactUserinfo(logging.Filter):
    """Rewrites a record whose message, traceback or stack holds 'scheme://user:password@'."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact_userinfo(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_userinfo(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_userinfo(record.stack_info)
        return True


def setup_logging(level: str) -> None:
    """`level` as the configuration spells it ('info', 'error', ...)."""
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(existing, RedactUserinfo) for existing in handler.filters):
            handler.addFilter(RedactUserinfo())

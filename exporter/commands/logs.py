"""Logging for the commands that log: one line per record on stderr, at the level the command runs at, in
logfmt (`ts=... level=warn logger=... msg="..." set=163 host=...`) or JSON (one object per line), as
Prometheus' exporters write them (`--log.level`, `--log.format`). A record's `extra` fields (a probe
failure's set, host, port, protocol, reason) become keys of the line.

No record shows the credentials of a URL: httpx and httpcore, which log every request's URL at INFO (and
connection details at DEBUG), only log warnings, and every handler of the root logger replaces the
'user:password' of any 'scheme://user:password@host' in a record with `<redacted>`."""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import sys
from typing import Any

from exporter.errors import redact_userinfo

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR}
"""`--log.level` values, as Prometheus' exporters name them; 'warning' is accepted for 'warn'."""
FORMATS = ("logfmt", "json")
_LEVEL_NAMES = {logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warn", logging.ERROR: "error"}
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}

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


def level_number(level: str) -> int:
    """'debug', 'info', 'warn' (or 'warning'), 'error' -> the logging level."""
    return LEVELS["warn" if level.lower() == "warning" else level.lower()]


def add_log_flags(parser: argparse.ArgumentParser, default_level: str) -> None:
    """`--log.level` and `--log.format`; unset, they leave the configuration's `log_level`/`log_format`."""
    parser.add_argument(
        "--log.level",
        dest="log_level",
        choices=[*LEVELS, "warning"],
        metavar="LEVEL",
        help=f"only log at this level or above: debug, info, warn, error (default: {default_level})",
    )
    parser.add_argument(
        "--log.format",
        dest="log_format",
        choices=FORMATS,
        metavar="FORMAT",
        help="logfmt or json, one record per line on stderr (default: logfmt)",
    )


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The line's keys in order: ts, level, logger, msg, the record's extra fields, then exc (a traceback)."""
    at = datetime.datetime.fromtimestamp(record.created, datetime.UTC)
    fields: dict[str, Any] = {
        "ts": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "level": _LEVEL_NAMES.get(record.levelno, record.levelname.lower()),
        "logger": record.name,
        "msg": record.getMessage(),
    }
    fields.update((key, value) for key, value in vars(record).items() if key not in _STANDARD)
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        fields["exc"] = record.exc_text
    return fields


def _logfmt_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value) if isinstance(value, bool) else str(value)
    if text and not any(c in text for c in ' ="\\') and text.isprintable():
        return text
    return json.dumps(text, ensure_ascii=False)


class LogfmtFormatter(logging.Formatter):
    """`key=value` pairs, values quoted (JSON string escapes) when they hold spaces, quotes or newlines."""

    def format(self, record: logging.LogRecord) -> str:
        line = " ".join(f"{key}={_logfmt_value(value)}" for key, value in record_fields(record).items())
        return redact_userinfo(line)


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_userinfo(json.dumps(record_fields(record), ensure_ascii=False, default=str))


def setup_logging(level: str, log_format: str = "logfmt") -> None:
    """`level` as `--log.level` or the configuration spells it ('info', 'warn', ...); `log_format` one of
    FORMATS. Like `logging.basicConfig`, it sets the level and installs its stderr handler only when the
    root logger has no handler of someone else's (an embedding program's, pytest's); a later call replaces
    its own."""
    root = logging.getLogger()
    for existing in [h for h in root.handlers if getattr(h, "installed_by_exporter", False)]:
        root.removeHandler(existing)
    if not root.handlers:
        root.setLevel(level_number(level))
        stderr = logging.StreamHandler(sys.stderr)
        stderr.setFormatter(JsonFormatter() if log_format == "json" else LogfmtFormatter())
        stderr.installed_by_exporter = True  # type: ignore[attr-defined]
        root.addHandler(stderr)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for handler in root.handlers:
        if not any(isinstance(existing, RedactUserinfo) for existing in handler.filters):
            handler.addFilter(RedactUserinfo())

"""Reloading the configuration file on SIGHUP or `POST /-/reload` without a restart.

A new file that fails validation changes nothing: the old configuration keeps running and
`intune_exporter_config_last_reload_successful` drops to 0. What a reload applies: everything that shapes
probing (sets, catalogue edition and files, timeouts, DNS, TLS, proxy, representatives, extra endpoints).
What needs a restart: `listen`, `state_dir`, `interval`, `jitter`, `concurrency` and `drift` (logged when
they change).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from pathlib import Path

from exporter.config.file import LoadedConfig, load
from exporter.errors import ConfigError

log = logging.getLogger(__name__)

NO_FILE = (
    "the exporter runs on its built-in default configuration: there is no file to reload "
    "(start it with --config FILE to make it reloadable)"
)
RESTART_ONLY = ("listen", "state_dir", "interval", "jitter", "concurrency", "drift")


class Reloader:
    def __init__(
        self, path: Path | None, current: LoadedConfig, apply: Callable[[LoadedConfig], None]
    ) -> None:
        self._path = path
        self._current = current
        self._apply = apply
        self._lock = threading.Lock()
        self._successful = True
        self._last_success = time.time()

    def reload(self) -> tuple[HTTPStatus, str]:
        """Returns the answer of `POST /-/reload` and a line saying what happened: 200 (the new
        configuration is in force), 409 (no file: the built-in configuration runs), 500 (the file is invalid:
        the running configuration is kept)."""
        with self._lock:
            if self._path is None:
                log.warning("reload requested, but %s", NO_FILE)
                return HTTPStatus.CONFLICT, NO_FILE
            try:
                loaded = load(self._path)
                self._apply(loaded)
            except ConfigError as exc:
                self._successful = False
                log.error("reload failed, keeping the running configuration: %s", exc)
                return HTTPStatus.INTERNAL_SERVER_ERROR, str(exc)
            except Exception:
                self._successful = False  # a bug: the caller (the supervisor) logs and counts it
                raise
            for key in RESTART_ONLY:
                if getattr(loaded.config, key) != getattr(self._current.config, key):
                    log.warning("reload: '%s' changed; it takes effect at the next restart", key)
            self._current = loaded
            self._successful = True
            self._last_success = time.time()
            log.info("configuration reloaded from %s", self._path)
            return HTTPStatus.OK, "reloaded"

    def status(self) -> tuple[bool, float]:
        """Whether the latest reload (or the start) succeeded, and when the configuration in force was
        loaded: what `exporter.metrics.reload.ReloadCollector` exports."""
        with self._lock:
            return self._successful, self._last_success

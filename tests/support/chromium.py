"""Headless Debian `chromium` for browser tests, kept off the network: it resolves 127.0.0.1 only."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

OFFLINE_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-breakpad",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--metrics-recording-only",
    "--no-proxy-server",
    # Every name but the loopback address fails to resolve, whatever Chromium would like to fetch.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
)


def chromium_binary() -> str:
    found = shutil.which("chromium")
    assert found, "Debian's chromium package is not installed: .ci/run installs it"
    return found


def run_chromium(profile: Path, *arguments: str, timeout: float = 90) -> str:
    """Runs chromium with a throwaway profile under `profile`; returns its standard output."""
    profile.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "HOME": str(profile),
        "XDG_CONFIG_HOME": str(profile / "config"),
        "XDG_CACHE_HOME": str(profile / "cache"),
    }
    completed = subprocess.run(
        [chromium_binary(), *OFFLINE_FLAGS, f"--user-data-dir={profile / 'data'}", *arguments],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    return completed.stdout

"""mitmproxy addon for the loopback lab, loaded by `tests.support.simulators.mitm` with ``mitmdump -s``.

It runs inside mitmproxy's own virtual environment, so it imports nothing from the test suite. Options
(``--set NAME=VALUE``):

    lab_hosts        JSON file {host name: IP address}: upstream connections to those names go to the
                     address instead (the port is kept), so no real DNS is needed; TLS SNI and upstream
                     certificate checks still use the name
    strip_range      remove the Range request header: a proxy that breaks byte ranges
    lab_ready_file   written once the proxy runs with these options applied
"""

from __future__ import annotations

import json
from pathlib import Path

from mitmproxy import ctx, http
from mitmproxy.addonmanager import Loader
from mitmproxy.proxy.server_hooks import ServerConnectionHookData


class LabAddon:
    def __init__(self) -> None:
        self.hosts: dict[str, str] = {}

    def load(self, loader: Loader) -> None:
        loader.add_option("lab_hosts", str, "", "JSON file mapping upstream host names to IP addresses.")
        loader.add_option("strip_range", bool, False, "Remove the Range header from every request.")
        loader.add_option("lab_ready_file", str, "", "File to write once the proxy is running.")

    def configure(self, updated: set[str]) -> None:
        if "lab_hosts" in updated:
            path = ctx.options.lab_hosts
            mapping = json.loads(Path(path).read_text(encoding="utf-8")) if path else {}
            self.hosts = {name.lower().rstrip("."): address for name, address in mapping.items()}

    def running(self) -> None:
        if ctx.options.lab_ready_file:
            Path(ctx.options.lab_ready_file).write_text(f"{len(self.hosts)} hosts\n", encoding="utf-8")

    def server_connect(self, data: ServerConnectionHookData) -> None:
        if data.server.address is None:
            return
        host, port = data.server.address
        address = self.hosts.get(str(host).lower().rstrip("."))
        if address is not None:
            data.server.address = (address, port)

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if ctx.options.strip_range:
            flow.request.headers.pop("Range", None)


addons = [LabAddon()]

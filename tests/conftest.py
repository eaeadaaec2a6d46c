pytest_plugins = [
    "tests.simulators.dns_fixtures",
    "tests.simulators.net_fixtures",
    "tests.simulators.proxy_fixtures",
]

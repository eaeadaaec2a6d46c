pytest_plugins = [
    "tests.support.simulators.dns_fixtures",
    "tests.support.simulators.net_fixtures",
    "tests.support.simulators.proxy_fixtures",
]

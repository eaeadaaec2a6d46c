"""A fleet of two sites, all real processes on loopback: an exporter per site (paris with the lab's broken
hosts, lyon healthy), each scraped by a Prometheus agent that adds the `site` label and remote-writes to a
central Prometheus, which evaluates the shipped rules. Proves what docs/kubernetes.md ("A fleet of sites")
describes: the dashboards' `site` variable, the alerts' `site` label, the overview's per-site counts and
the fleet dashboard, all on the central server.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import pytest

from exporter.monitoring.dashboards import dashboards
from tests.e2e.test_prometheus import JOB, RULES, substituted
from tests.monitoring.dashboard_queries import panel_queries
from tests.support.e2e_lab import arrange, write_config
from tests.support.serving import Served, exporter_serving, wait_for
from tests.support.simulators.dns_server import DNSServer
from tests.support.simulators.ntp_server import NTPServer
from tests.support.simulators.prometheus import PrometheusServer
from tests.support.simulators.tls_servers import LoopbackLab

SITES = {"paris": True, "lyon": False}
"""Site -> whether its network breaks the lab's broken hosts (tests/support/e2e_lab.py)."""
SETS = ["163", "190", "97"]
"""Required sets: 163 (healthy everywhere), 190 (refused at paris: down), 97 (one host NXDOMAIN at paris)."""
FLEET = "intune-endpoints-fleet.json"
OVERVIEW = "intune-endpoints-overview.json"


def agent_config(exporter: Served, site: str, central: PrometheusServer) -> dict[str, Any]:
    """The site's Prometheus agent, as docs/kubernetes.md shows it (intervals shortened for the test)."""
    return {
        "global": {"scrape_interval": "1s"},
        "scrape_configs": [
            {
                "job_name": JOB,
                "scrape_timeout": "1s",
                "static_configs": [
                    {"targets": [exporter.base.removeprefix("http://")], "labels": {"site": site}}
                ],
            }
        ],
        "remote_write": [
            {
                "url": f"{central.url}/api/v1/write",
                "queue_config": {"batch_send_deadline": "1s", "min_backoff": "100ms", "max_backoff": "1s"},
            }
        ],
    }


@pytest.fixture(scope="module")
def central(
    tmp_path_factory: pytest.TempPathFactory, loopback_lab: LoopbackLab
) -> Iterator[PrometheusServer]:
    """The central Prometheus once both sites' data and alerts have arrived."""
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(
            PrometheusServer({}, [RULES], flags=["--web.enable-remote-write-receiver"])
        )
        exporters = []
        for site, broken in SITES.items():
            dns_server, ntp_server = stack.enter_context(DNSServer()), stack.enter_context(NTPServer())
            arrange(dns_server, ntp_server, broken=broken)
            directory = tmp_path_factory.mktemp(site)
            config = write_config(
                directory / "exporter.yml", dns_server, ntp_server, loopback_lab, sets={"only": SETS}
            )
            exporter = stack.enter_context(exporter_serving(config))
            exporters.append(exporter)
            stack.enter_context(
                PrometheusServer({}, [], config=agent_config(exporter, site, server), agent=True)
            )

        def arrived() -> bool:
            sites = {s["metric"].get("site") for s in server.query("intune_exporter_build_info")}
            pending = [
                a
                for a in server.api("alerts")["alerts"]
                if a["labels"]["alertname"] == "IntuneRequiredEndpointSetDown"
            ]
            return sites == set(SITES) and bool(pending)

        wait_for(arrived, exporters[0].process, seconds=60, what="both sites at the central server")
        time.sleep(3)  # a few rule evaluations on complete data
        yield server


def by_site(result: list[dict[str, Any]]) -> dict[str, float]:
    return {series["metric"]["site"]: float(series["value"][1]) for series in result}


def query_of(file_name: str, title: str) -> str:
    dashboard = dashboards()[file_name]
    panel = next(p for p in dashboard["panels"] if p["title"] == title)
    (target,) = panel["targets"]
    expr: str = target["expr"]
    assert expr in panel_queries(dashboard)
    return expr


@pytest.mark.e2e
def test_the_site_variable_lists_both_sites(central: PrometheusServer) -> None:
    for dashboard in dashboards().values():
        site_variable = next(v for v in dashboard["templating"]["list"] if v["name"] == "site")
        selector = site_variable["query"].removeprefix("label_values(").removesuffix(", site)")
        values = central.api("label/site/values", **{"match[]": substituted(selector)})
        assert sorted(values) == ["lyon", "paris"]


@pytest.mark.e2e
def test_alerts_carry_the_failing_site_only(central: PrometheusServer) -> None:
    alerts = central.api("alerts")["alerts"]
    # The lab answers every name with a loopback address, outside the ranges Microsoft publishes for set
    # 163: that warning is right at both sites. Every other alert is about paris.
    per_set = [
        a
        for a in alerts
        if "set_id" in a["labels"] and a["labels"]["alertname"] != "IntuneDNSAnswerOutsidePublishedRanges"
    ]
    assert {a["labels"]["site"] for a in per_set} == {"paris"}
    down = {
        a["labels"]["set_id"] for a in per_set if a["labels"]["alertname"] == "IntuneRequiredEndpointSetDown"
    }
    assert down == {"190"}
    assert all(a["labels"]["job"] == JOB and a["labels"]["instance"] for a in per_set)
    assert {a["labels"]["alertname"] for a in alerts if a["labels"].get("site") == "lyon"} == {
        "IntuneDNSAnswerOutsidePublishedRanges"
    }


@pytest.mark.e2e
def test_the_overview_counts_each_site_apart(central: PrometheusServer) -> None:
    expr = query_of(OVERVIEW, "Required sets failing")
    counts = {
        site: float(central.query(substituted(expr).replace('site=~".*"', f'site=~"{site}"'))[0]["value"][1])
        for site in SITES
    }
    assert counts["lyon"] == 0
    assert counts["paris"] >= 1


@pytest.mark.e2e
def test_the_fleet_dashboard_shows_sites_by_sets(central: PrometheusServer) -> None:
    failing = by_site(central.query(substituted(query_of(FLEET, "Sites overview"))))
    assert failing == {"lyon": 0.0, "paris": 2.0}  # 190 down, 97 partly; 163 up
    reporting = by_site(central.query(substituted(query_of(FLEET, "Exporters reporting"))))
    assert reporting == {"lyon": 1.0, "paris": 1.0}
    cells = central.query(substituted(query_of(FLEET, "Sites x required sets")))
    grid = {(s["metric"]["site"], s["metric"]["set_id"]): float(s["value"][1]) for s in cells}
    assert {site for site, _ in grid} == set(SITES)
    assert grid[("paris", "190")] == 0.0 and grid[("lyon", "190")] == 1.0
    assert grid[("paris", "163")] == grid[("lyon", "163")] == 1.0
    cycle_age = by_site(central.query(substituted(query_of(FLEET, "Last probe cycle"))))
    assert set(cycle_age) == set(SITES) and all(age < 120 for age in cycle_age.values())

"""README's Prometheus and Grafana set-up, copied as a user would, against a real Prometheus.

The scrape job and rule file come from README's block verbatim; only what a user fills in changes: the
exporter's address (the loopback lab's exporter) and intervals short enough for a test.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.commands.monitoring import DASHBOARDS_DIR, RULES_FILE
from tests.support.e2e_lab import arrange, write_config
from tests.support.paths import ROOT
from tests.support.serving import exporter_serving, wait_for
from tests.support.simulators.dns_server import DNSServer
from tests.support.simulators.ntp_server import NTPServer
from tests.support.simulators.prometheus import INSTALL_HINT, PrometheusServer
from tests.support.simulators.tls_servers import LoopbackLab

pytestmark = pytest.mark.e2e


def readme_block(marker: str) -> Any:
    """The YAML of the fenced block right after the comment naming this test and `marker`."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(
        rf"<!-- tests/e2e/test_readme.py {marker}[^>]*-->\n```yaml\n(.*?)```", readme, re.DOTALL
    )
    assert match is not None, f"README has no block marked '{marker}'"
    return yaml.safe_load(match.group(1))


def test_readme_scrape_job_and_rules_reach_a_working_prometheus(
    tmp_path: Path, dns_server: DNSServer, ntp_server: NTPServer, loopback_lab: LoopbackLab
) -> None:
    config = readme_block("runs this block")
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "intune-endpoint-exporter"
    assert config["rule_files"] == [RULES_FILE.name]
    job |= {"scrape_interval": "1s", "scrape_timeout": "1s"}
    config["global"] = {"evaluation_interval": "1s"}

    promtool = shutil.which("promtool")
    assert promtool is not None, INSTALL_HINT
    checked = tmp_path / "prometheus"
    checked.mkdir()
    shutil.copyfile(ROOT / RULES_FILE, checked / RULES_FILE.name)
    (checked / "prometheus.yml").write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [promtool, "check", "config", str(checked / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr

    arrange(dns_server, ntp_server)
    lab = write_config(
        tmp_path / "lab.yml", dns_server, ntp_server, loopback_lab, sets={"only": ["163", "190"]}
    )
    with exporter_serving(lab) as served:
        job["static_configs"][0]["targets"] = [served.base.removeprefix("http://")]
        with PrometheusServer(
            {}, [], config=config, files={RULES_FILE.name: ROOT / RULES_FILE}
        ) as prometheus:
            up = 'up{job="intune-endpoint-exporter", site="paris"}'
            wait_for(lambda: [r["value"][1] for r in prometheus.query(up)] == ["1"], served.process, what=up)
            groups = prometheus.api("rules")["groups"]
            shipped = yaml.safe_load((ROOT / RULES_FILE).read_text())["groups"]
            assert sum(len(g["rules"]) for g in groups) == sum(len(g["rules"]) for g in shipped) >= 20

            def set_190_alerted() -> bool:
                return any(
                    a["labels"]["alertname"] == "IntuneRequiredEndpointSetDown"
                    and a["labels"].get("set_id") == "190"
                    for a in prometheus.api("alerts")["alerts"]
                )

            wait_for(set_190_alerted, served.process, what="the alert about set 190 (refused)")
            (alert,) = [a for a in prometheus.api("alerts")["alerts"] if a["labels"].get("set_id") == "190"]
            assert (alert["labels"]["site"], alert["labels"]["job"]) == ("paris", "intune-endpoint-exporter")
            # The dashboards' job and site variables find what README's job gives them.
            assert "intune-endpoint-exporter" in prometheus.api("label/job/values")
            assert prometheus.api("label/site/values", **{"match[]": "intune_endpoint_up"}) == ["paris"]


def test_readme_grafana_provisioning_points_at_the_shipped_dashboards() -> None:
    provisioning = readme_block("checks this block")
    assert provisioning["apiVersion"] == 1
    (provider,) = provisioning["providers"]
    assert provider["type"] == "file" and provider["options"]["path"].startswith("/")
    files = sorted((ROOT / DASHBOARDS_DIR).glob("*.json"))
    assert len(files) >= 5
    for path in files:
        dashboard = json.loads(path.read_text())
        assert dashboard["uid"] and dashboard["title"]
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}
        # Importable as is: a data source variable instead of an __inputs section to fill in.
        assert (
            variables["datasource"]["type"] == "datasource"
            and variables["datasource"]["query"] == "prometheus"
        )
        assert "__inputs" not in dashboard
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"`{DASHBOARDS_DIR}/*.json`" in readme and f"`{RULES_FILE}`" in readme

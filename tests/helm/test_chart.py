"""The Helm chart, rendered by the real Helm engine and checked object by object.

helm-python-sdk binds Helm v4's Go library (no helm binary); kubernetes-validate holds the Kubernetes
JSON schemas offline. Every case is the default values or one of the chart's `ci/*.yaml` files. Kinds the
Kubernetes schemas do not know (ServiceMonitor, PrometheusRule) are checked against their documented fields,
and the PrometheusRule with promtool. The rendered exporter configuration goes through `config check`.
"""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

import exporter
from exporter.cli import main
from exporter.commands.monitoring import CHART_FILES_DIR, DASHBOARDS_DIR, RULES_FILE, generated_files
from exporter.config.durations import parse_duration
from exporter.config.file import DEFAULT_PORT, split_listen
from exporter.monitoring.thresholds import MonitoringSettings
from tests.support.paths import ROOT
from tests.support.web_certs import write_certs

CHART_DIR = ROOT / "helm" / "intune-endpoint-exporter"
RELEASE = "intune-endpoint-exporter"
NAMESPACE = "monitoring"
KUBERNETES_VERSIONS = ("1.25.0", "1.30.0", "1.35.0")
"""The floor of Chart.yaml's kubeVersion, and two later releases kubernetes-validate ships."""
CASES: dict[str, dict[str, Any]] = {
    "default": {},
    **{path.stem: yaml.safe_load(path.read_text()) for path in sorted((CHART_DIR / "ci").glob("*.yaml"))},
}
MONITORING_KINDS = {"ServiceMonitor", "PrometheusRule"}
CONFIG_FILE = "/etc/intune-exporter/config.yaml"
BASE_EGRESS = {("UDP", 53), ("TCP", 53), ("TCP", 80), ("TCP", 443), ("TCP", 5223), ("UDP", 123)}
RESTRICTED_VOLUME_TYPES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
"""Volume types the restricted Pod Security Standard allows."""

Object = dict[str, Any]


@pytest.fixture(scope="module")
def chart() -> Iterator[helm.Chart]:
    with helm.Chart.load(CHART_DIR) as loaded:
        yield loaded


def render(chart: helm.Chart, values: dict[str, Any]) -> list[Object]:
    """The objects Helm renders (NOTES.txt left out), sorted by template."""
    manifests = chart.render(values=values, name=RELEASE, namespace=NAMESPACE)
    assert manifests, "Helm rendered nothing"
    return [
        document
        for template, text in sorted(manifests.items())
        if template.endswith(".yaml")
        for document in yaml.safe_load_all(text)
        if document
    ]


def notes(chart: helm.Chart, values: dict[str, Any]) -> str:
    return chart.render(values=values, name=RELEASE, namespace=NAMESPACE)[f"{RELEASE}/templates/NOTES.txt"]


def only(objects: list[Object], kind: str, name: str | None = None) -> Object:
    found = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, got {[o['metadata']['name'] for o in found]}"
    return found[0]


def kinds(objects: list[Object]) -> list[str]:
    return [o["kind"] for o in objects]


def pod_spec(objects: list[Object]) -> Object:
    spec: Object = only(objects, "Deployment")["spec"]["template"]["spec"]
    return spec


def container(objects: list[Object]) -> Object:
    containers = pod_spec(objects)["containers"]
    assert [c["name"] for c in containers] == ["exporter"]
    result: Object = containers[0]
    return result


def mounts(objects: list[Object]) -> dict[str, str]:
    return {m["name"]: m["mountPath"] for m in container(objects)["volumeMounts"]}


def volumes(objects: list[Object]) -> dict[str, Object]:
    return {v["name"]: v for v in pod_spec(objects)["volumes"]}


def config_text(objects: list[Object]) -> str:
    """The exporter configuration file, from the ConfigMap the pod mounts."""
    configmap = only(objects, "ConfigMap", volumes(objects)["config"]["configMap"]["name"])
    assert set(configmap["data"]) == {"config.yaml"}
    text: str = configmap["data"]["config.yaml"]
    return text


def exporter_config(objects: list[Object]) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(config_text(objects))
    return config


# ---------------------------------------------------------------------------------------------- the chart


def test_chart_metadata_follows_the_exporter() -> None:
    metadata = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())
    assert metadata["apiVersion"] == "v2"
    assert metadata["name"] == "intune-endpoint-exporter"
    assert metadata["appVersion"] == exporter.__version__
    assert metadata["kubeVersion"] == ">=1.25.0-0"
    assert min(KUBERNETES_VERSIONS).startswith("1.25.")
    shipped = {version.rsplit(".", 1)[0] for version in kubernetes_validate.utils.all_versions()}
    assert {version.rsplit(".", 1)[0] for version in KUBERNETES_VERSIONS} <= shipped


def test_default_values_render_the_exporter_and_nothing_optional(chart: helm.Chart) -> None:
    objects = render(chart, {})
    assert sorted((o["kind"], o["metadata"]["name"]) for o in objects) == [
        ("ConfigMap", RELEASE),
        ("Deployment", RELEASE),
        ("PodDisruptionBudget", RELEASE),
        ("Service", RELEASE),
        ("ServiceAccount", RELEASE),
    ]
    assert {o["metadata"]["namespace"] for o in objects} == {NAMESPACE}
    exporter_container = container(objects)
    assert exporter_container["image"] == (
        f"ghcr.io/intune-endpoint-exporter/intune-endpoint-exporter:{exporter.__version__}"
    )
    assert exporter_container["command"] + exporter_container["args"] == [
        "intune-exporter",
        "serve",
        "--config",
        CONFIG_FILE,
    ]
    assert exporter_container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http-metrics"}
    assert exporter_container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http-metrics"}
    assert exporter_container["ports"] == [
        {"name": "http-metrics", "containerPort": DEFAULT_PORT, "protocol": "TCP"}
    ]
    resources = exporter_container["resources"]
    assert set(resources["requests"]) == set(resources["limits"]) == {"cpu", "memory"}
    assert volumes(objects)["state"] == {"name": "state", "emptyDir": {"sizeLimit": "64Mi"}}
    assert "proxy" not in exporter_config(objects)
    service = only(objects, "Service")
    assert service["spec"]["ports"] == [
        {"name": "http-metrics", "port": DEFAULT_PORT, "targetPort": "http-metrics", "protocol": "TCP"}
    ]
    text = notes(chart, {})
    assert f"kubectl --namespace {NAMESPACE} port-forward service/{RELEASE} {DEFAULT_PORT}" in text
    assert "No site set" in text


@pytest.mark.parametrize("case", CASES)
def test_helm_lint_finds_nothing_to_warn_about(case: str) -> None:
    report = helm.lint(CHART_DIR, CASES[case], strict=True, namespace=NAMESPACE)
    assert report["errors"] == []
    # Severity 1 is information ("icon is recommended"); 2 is a warning, 3 an error.
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("case", CASES)
def test_every_object_is_valid_for_kubernetes(chart: helm.Chart, case: str, version: str) -> None:
    objects = render(chart, CASES[case])
    built_in = [o for o in objects if o["kind"] not in MONITORING_KINDS]
    assert built_in
    for resource in built_in:
        try:
            kubernetes_validate.validate(resource, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(part) for part in error.path)
            pytest.fail(f"{resource['kind']}/{resource['metadata']['name']} at {path}: {error.message}")
    for resource in objects:
        assert resource["apiVersion"] != "monitoring.coreos.com/v1" or resource["kind"] in MONITORING_KINDS


def test_the_ci_cases_turn_every_switch_on(chart: helm.Chart) -> None:
    rendered = {case: kinds(render(chart, values)) for case, values in CASES.items()}
    every_kind = {kind for found in rendered.values() for kind in found}
    assert every_kind == {
        "ConfigMap",
        "Deployment",
        "NetworkPolicy",
        "PersistentVolumeClaim",
        "PodDisruptionBudget",
        "PrometheusRule",
        "Secret",
        "Service",
        "ServiceAccount",
        "ServiceMonitor",
    }
    assert {"ServiceMonitor", "PrometheusRule", "NetworkPolicy", "Secret"} <= set(
        rendered["all-switches-values"]
    )
    assert "Secret" not in rendered["existing-secret-values"]
    assert "ServiceAccount" not in rendered["custom-config-values"]


# ---------------------------------------------------------------------------------------------- the pod


@pytest.mark.parametrize("case", CASES)
def test_pod_meets_the_restricted_pod_security_standard(chart: helm.Chart, case: str) -> None:
    objects = render(chart, CASES[case])
    spec = pod_spec(objects)
    pod_context = spec["securityContext"]
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        assert spec.get(field) in (None, False), field
    assert "sysctls" not in pod_context
    for volume in spec["volumes"]:
        kind = set(volume) - {"name"}
        assert kind <= RESTRICTED_VOLUME_TYPES, volume
    containers = spec["containers"] + spec.get("initContainers", [])
    for each in containers:
        context = each["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context.get("privileged") in (None, False)
        assert "ALL" in context["capabilities"]["drop"]
        assert set(context["capabilities"].get("add", [])) <= {"NET_BIND_SERVICE"}
        assert (context.get("runAsNonRoot", pod_context.get("runAsNonRoot"))) is True
        assert context.get("runAsUser", pod_context.get("runAsUser")) != 0
        seccomp = context.get("seccompProfile", pod_context.get("seccompProfile"))
        assert seccomp["type"] in {"RuntimeDefault", "Localhost"}
        assert all("hostPort" not in port for port in each.get("ports", []))
        assert context["readOnlyRootFilesystem"] is True
    assert pod_context["runAsUser"] == pod_context["runAsGroup"] == 65532
    assert spec["automountServiceAccountToken"] is False
    for account in (o for o in objects if o["kind"] == "ServiceAccount"):
        assert account["automountServiceAccountToken"] is False
        assert spec["serviceAccountName"] == account["metadata"]["name"]


def test_the_image_runs_as_the_pods_user() -> None:
    """The Dockerfile cannot be built here (no Docker engine): check what the chart relies on."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    instructions = [
        line.split(None, 1) for line in text.splitlines() if line.strip() and not line.startswith("#")
    ]
    stages = [index for index, (keyword, _) in enumerate(instructions) if keyword == "FROM"]
    assert len(stages) == 2, "a builder stage and the final stage"
    assert "pip wheel" in " ".join(rest for keyword, rest in instructions[: stages[1]] if keyword == "RUN")
    final: dict[str, list[str]] = {}
    for keyword, rest in instructions[stages[1] :]:
        final.setdefault(keyword, []).append(rest.strip())
    security = yaml.safe_load((CHART_DIR / "values.yaml").read_text())["podSecurityContext"]
    assert final["FROM"] == ["python:3.11-slim-bookworm"]
    assert final["COPY"] == ["--from=builder /dist/ /tmp/dist/"], "only the wheel comes from the builder"
    assert final["USER"] == [f"{security['runAsUser']}:{security['runAsGroup']}"]
    assert final["EXPOSE"] == [str(DEFAULT_PORT)]
    assert final["ENTRYPOINT"] == ['["intune-exporter"]']
    assert final["CMD"] == ['["serve"]']
    assert "HEALTHCHECK" not in final
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert {"!pyproject.toml", "!README.md", "!exporter"} <= set(ignored)


# ---------------------------------------------------------------------------------------------- the config


@pytest.mark.parametrize("case", CASES)
def test_rendered_config_passes_config_check(
    chart: helm.Chart, case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    values = CASES[case]
    objects = render(chart, values)
    config = exporter_config(objects)
    merged = chart.merge_values(values)

    # The chart owns three keys; everything else is values.config as given.
    host, port = split_listen(config.pop("listen"))
    assert port == merged["containerPort"] == container(objects)["ports"][0]["containerPort"]
    assert (f"[{host}]" if ":" in host else host) == merged["listenHost"]
    state_dir = config.pop("state_dir")
    assert state_dir == mounts(objects)["state"] == merged["persistence"]["mountPath"]
    assert set(volumes(objects)["state"]) & {"emptyDir", "persistentVolumeClaim"}
    credentials_file = config.get("proxy", {}).pop("credentials_file", None)
    if credentials_file is not None:
        assert credentials_file == mounts(objects)["proxy-credentials"] + "/credentials"
    assert config == merged["config"]
    assert mounts(objects)["config"] == str(Path(CONFIG_FILE).parent)

    # `config check` on the file as rendered; only the mounted secret's path moves into tmp_path.
    text = config_text(objects)
    if credentials_file is not None:
        secret_file = tmp_path / "credentials"
        secret_file.write_text("user:password\n")
        assert text.count(credentials_file) == 1
        text = text.replace(credentials_file, str(secret_file))
    config_file = tmp_path / "config.yaml"
    config_file.write_text(text)
    assert main(["config", "check", "--config", str(config_file)]) == 0
    assert capsys.readouterr().out.startswith(f"{config_file}: OK")


def test_a_config_change_rolls_the_pods(chart: helm.Chart) -> None:
    def checksum(values: dict[str, Any]) -> str:
        annotations = only(render(chart, values), "Deployment")["spec"]["template"]["metadata"]["annotations"]
        value: str = annotations["checksum/config"]
        return value

    default = checksum({})
    assert re.fullmatch(r"[0-9a-f]{64}", default)
    assert checksum({"replicaCount": 2, "podLabels": {"a": "b"}, "site": "paris"}) == default
    assert checksum({"config": {"interval": "2m"}}) != default
    assert checksum({"persistence": {"mountPath": "/var/lib/state"}}) != default
    assert checksum({"proxyCredentials": {"existingSecret": "creds"}}) != default


def test_values_are_rejected_early_with_a_clear_message(chart: helm.Chart) -> None:
    with pytest.raises(helm.HelmValuesError, match=r"/serviceMonitor/enabled.*want boolean"):
        render(chart, {"serviceMonitor": {"enabled": "yes"}})
    with pytest.raises(helm.HelmValuesError, match=r"additional properties 'sevrice' not allowed"):
        render(chart, {"sevrice": {"port": 80}})
    for key in ("listen", "state_dir"):
        with pytest.raises(helm.HelmRenderError, match=rf"config\.{key} is set by the chart"):
            render(chart, {"config": {key: "x"}})
    with pytest.raises(helm.HelmRenderError, match="either value or existingSecret, not both"):
        render(chart, {"proxyCredentials": {"value": "u:p", "existingSecret": "s"}})
    with pytest.raises(helm.HelmRenderError, match="give the credentials in one place"):
        render(
            chart,
            {"proxyCredentials": {"existingSecret": "s"}, "config": {"proxy": {"credentials_env": "X"}}},
        )


def test_values_yaml_and_the_schema_name_the_same_keys() -> None:
    values = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    schema = yaml.safe_load((CHART_DIR / "values.schema.json").read_text())

    def compare(value: Any, node: dict[str, Any], where: str) -> None:
        if "properties" not in node:
            return
        assert set(value) == set(node["properties"]) - {"global"}, where
        for key, sub in value.items():
            compare(sub, node["properties"][key], f"{where}.{key}")

    compare(values, schema, "values")
    assert schema["additionalProperties"] is False


def test_every_values_key_is_documented() -> None:
    """Each key has a `# --` comment block right above it, except section headers (whose keys have one
    each) and the keys inside a documented object (a security context, a probe)."""
    lines = (CHART_DIR / "values.yaml").read_text().splitlines()
    key = re.compile(r"^(\s*)([A-Za-z][A-Za-z0-9_]*):(.*)$")
    parents: list[tuple[int, bool]] = []  # (indent, whether its keys need a comment each)
    undocumented = []
    for index, line in enumerate(lines):
        match = key.match(line)
        if match is None:
            continue
        indent, name, value = len(match.group(1)), match.group(2), match.group(3).strip()
        while parents and parents[-1][0] >= indent:
            parents.pop()
        checked = not parents or parents[-1][1]
        comment = []
        for above in reversed(lines[:index]):
            if not above.strip().startswith("#"):
                break
            comment.append(above.strip())
        documented = any(part.startswith("# --") for part in comment)
        if checked and value and not documented:
            undocumented.append(name)
        parents.append((indent, checked and not value and not documented))
    assert undocumented == []


# ---------------------------------------------------------------------------------------------- wiring


def test_proxy_credentials_reach_the_exporter_as_a_file(chart: helm.Chart) -> None:
    objects = render(chart, CASES["all-switches-values"])
    secret = only(objects, "Secret")
    value = CASES["all-switches-values"]["proxyCredentials"]["value"]
    assert base64.b64decode(secret["data"]["credentials"]).decode() == value
    volume = volumes(objects)["proxy-credentials"]["secret"]
    assert volume["secretName"] == secret["metadata"]["name"]
    assert volume["items"] == [{"key": "credentials", "path": "credentials"}]
    assert volume["defaultMode"] == 0o440
    assert exporter_config(objects)["proxy"]["credentials_file"] == (
        "/var/run/secrets/intune-exporter/proxy/credentials"
    )

    # A new password rolls the pods (the exporter reads the file at start); the annotation is no plain hash.
    def rolled(password: str) -> str:
        deployment = only(render(chart, {"proxyCredentials": {"value": password}}), "Deployment")
        checksum: str = deployment["spec"]["template"]["metadata"]["annotations"][
            "checksum/proxy-credentials"
        ]
        return checksum

    assert rolled(value) == rolled(value) != rolled(value + "2")
    assert rolled(value) != hashlib.sha256(value.encode()).hexdigest()

    objects = render(chart, CASES["existing-secret-values"])
    assert "Secret" not in kinds(objects)
    volume = volumes(objects)["proxy-credentials"]["secret"]
    assert volume["secretName"] == "intune-proxy-credentials"
    assert volume["items"] == [{"key": "proxy-auth", "path": "credentials"}]
    assert (
        exporter_config(objects)["proxy"]["credentials_file"]
        == mounts(objects)["proxy-credentials"] + "/credentials"
    )

    objects = render(chart, {})
    assert "proxy-credentials" not in volumes(objects)


def test_persistence_keeps_the_state_directory_on_a_claim(chart: helm.Chart) -> None:
    objects = render(chart, CASES["all-switches-values"])
    claim = only(objects, "PersistentVolumeClaim")
    assert claim["spec"]["resources"]["requests"]["storage"] == "128Mi"
    assert claim["spec"]["storageClassName"] == "standard"
    assert volumes(objects)["state"]["persistentVolumeClaim"] == {"claimName": claim["metadata"]["name"]}
    assert only(objects, "Deployment")["spec"]["strategy"] == {"type": "Recreate"}

    objects = render(chart, CASES["custom-config-values"])
    assert "PersistentVolumeClaim" not in kinds(objects)
    assert volumes(objects)["state"]["persistentVolumeClaim"] == {"claimName": "intune-probe-berlin-state"}

    assert "strategy" not in only(render(chart, {}), "Deployment")["spec"]


def test_web_config_secret_is_mounted_and_passed_to_serve(
    chart: helm.Chart, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    objects = render(chart, CASES["all-switches-values"])
    volume = volumes(objects)["web-config"]["secret"]
    assert volume == {"secretName": "intune-exporter-web", "defaultMode": 0o440}
    args = container(objects)["args"]
    web_file = args[args.index("--web-config-file") + 1]
    assert web_file == mounts(objects)["web-config"] + "/web.yml"
    assert container(objects)["livenessProbe"]["httpGet"]["scheme"] == "HTTPS"
    endpoint = only(objects, "ServiceMonitor")["spec"]["endpoints"][0]
    assert endpoint["scheme"] == "https"
    assert endpoint["tlsConfig"]["ca"]["secret"] == {"name": "intune-exporter-web", "key": "ca.crt"}
    assert set(endpoint["basicAuth"]) == {"username", "password"}

    # The Secret's keys land side by side: a web config naming its files by relative path works there.
    write_certs(tmp_path)
    (tmp_path / "web.yml").write_text("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n")
    mounted = tmp_path / Path(web_file).relative_to(mounts(objects)["web-config"])
    assert main(["config", "check", "--web-config-file", str(mounted)]) == 0
    assert capsys.readouterr().out.endswith(f"{mounted}: OK, TLS, no basic auth\n")

    objects = render(chart, {})
    assert "web-config" not in volumes(objects)
    assert "--web-config-file" not in container(objects)["args"]
    monitor = only(render(chart, {"serviceMonitor": {"enabled": True}}), "ServiceMonitor")
    assert monitor["spec"]["endpoints"][0]["scheme"] == "http"


def egress_ports(objects: list[Object]) -> set[tuple[str, int]]:
    policy = only(objects, "NetworkPolicy")
    assert (
        policy["spec"]["podSelector"]["matchLabels"]
        == only(objects, "Deployment")["spec"]["selector"]["matchLabels"]
    )
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert [rule["ports"] for rule in policy["spec"]["ingress"]] == [
        [{"port": "http-metrics", "protocol": "TCP"}]
    ]
    (rule,) = policy["spec"]["egress"]
    return {(port["protocol"], port["port"]) for port in rule["ports"]}


def test_network_policy_lets_out_exactly_the_probed_ports(chart: helm.Chart) -> None:
    assert egress_ports(render(chart, {"networkPolicy": {"enabled": True}})) == BASE_EGRESS
    # The proxy of config.proxy.url.
    assert egress_ports(render(chart, CASES["all-switches-values"])) == BASE_EGRESS | {("TCP", 3128)}
    # The default proxy and a per-set one ("direct" routes add nothing).
    assert egress_ports(render(chart, CASES["existing-secret-values"])) == BASE_EGRESS | {
        ("TCP", 8080),
        ("TCP", 3129),
    }
    # An extra endpoint's TCP port.
    assert egress_ports(render(chart, CASES["custom-config-values"])) == BASE_EGRESS | {("TCP", 8080)}
    values = {
        "networkPolicy": {"enabled": True},
        "config": {"dns": {"port": 5353}, "extra_endpoints": [{"set_id": "x", "udp_ports": [3544]}]},
    }
    assert egress_ports(render(chart, values)) == BASE_EGRESS | {("UDP", 5353), ("TCP", 5353), ("UDP", 3544)}
    peers = [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}]
    policy = only(render(chart, {"networkPolicy": {"enabled": True, "egressTo": peers}}), "NetworkPolicy")
    assert policy["spec"]["egress"][0]["to"] == peers


def test_selectors_match_the_pods(chart: helm.Chart) -> None:
    for values in CASES.values():
        objects = render(chart, values)
        pod_labels = only(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
        service = only(objects, "Service")
        assert service["spec"]["selector"].items() <= pod_labels.items()
        for budget in (o for o in objects if o["kind"] == "PodDisruptionBudget"):
            assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
        assert container(objects)["ports"][0]["name"] == service["spec"]["ports"][0]["targetPort"]


# ---------------------------------------------------------------------------------------------- monitoring


def test_chart_copies_equal_the_repository_files_byte_for_byte() -> None:
    files = CHART_DIR / "files"
    repository = {RULES_FILE, *(path.relative_to(ROOT) for path in (ROOT / DASHBOARDS_DIR).glob("*.json"))}
    chart_copies = {path.relative_to(files) for path in files.rglob("*") if path.is_file()}
    assert chart_copies == repository
    for relative in repository:
        assert (files / relative).read_bytes() == (ROOT / relative).read_bytes(), (
            f"{relative}: run `intune-exporter monitoring generate`"
        )
    generated = generated_files()
    for relative in repository:
        assert generated[CHART_FILES_DIR / relative] == generated[relative]
    assert files == ROOT / CHART_FILES_DIR


def test_prometheus_rule_is_the_alerts_file(chart: helm.Chart, tmp_path: Path) -> None:
    objects = render(chart, CASES["all-switches-values"])
    rule = only(objects, "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert rule["spec"] == yaml.safe_load((ROOT / RULES_FILE).read_text())
    rule_file = tmp_path / "rules.yml"
    rule_file.write_text(yaml.safe_dump(rule["spec"]))
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not installed: install Debian's prometheus package, or run .ci/run as root")
    checked = subprocess.run(
        [promtool, "check", "rules", str(rule_file)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout


def test_dashboard_config_maps_are_the_dashboards_files(chart: helm.Chart) -> None:
    objects = render(chart, CASES["all-switches-values"])
    maps = [
        o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["labels"].get("grafana_dashboard")
    ]
    assert {m["metadata"]["labels"]["grafana_dashboard"] for m in maps} == {"1"}
    assert {m["metadata"]["namespace"] for m in maps} == {"grafana"}
    assert all(m["metadata"]["annotations"] == {"grafana_folder": "Intune"} for m in maps)
    assert all(len(m["data"]) == 1 for m in maps), "one dashboard per ConfigMap"
    shipped = {name: text for m in maps for name, text in m["data"].items()}
    assert shipped == {path.name: path.read_text() for path in (ROOT / DASHBOARDS_DIR).glob("*.json")}

    values = {"dashboards": {"enabled": True, "label": "dashboards", "labelValue": "intune"}}
    maps = [
        o
        for o in render(chart, values)
        if o["kind"] == "ConfigMap" and "dashboards" in o["metadata"]["labels"]
    ]
    assert len(maps) == len(shipped)
    assert {m["metadata"]["labels"]["dashboards"] for m in maps} == {"intune"}
    assert {m["metadata"]["namespace"] for m in maps} == {NAMESPACE}


SERVICE_MONITOR_SPEC = {"jobLabel", "namespaceSelector", "selector", "endpoints"}
ENDPOINT_FIELDS = {
    "port",
    "path",
    "scheme",
    "tlsConfig",
    "basicAuth",
    "interval",
    "scrapeTimeout",
    "honorLabels",
    "relabelings",
    "metricRelabelings",
}
RELABEL_FIELDS = {"action", "sourceLabels", "separator", "targetLabel", "regex", "modulus", "replacement"}
PROMETHEUS_DURATION = re.compile(
    r"^(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?$"
)


@pytest.mark.parametrize("case", ["all-switches-values", "existing-secret-values"])
def test_service_monitor_scrapes_the_service_as_the_rules_expect(chart: helm.Chart, case: str) -> None:
    values = CASES[case]
    objects = render(chart, values)
    monitor = only(objects, "ServiceMonitor")
    service = only(objects, "Service")
    spec = monitor["spec"]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert set(spec) <= SERVICE_MONITOR_SPEC
    assert spec["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert spec["namespaceSelector"] == {"matchNames": [service["metadata"]["namespace"]]}
    # The job label comes from a Service label whose value is the job the rules and dashboards select.
    job = re.fullmatch(r'job="([^"]+)"', MonitoringSettings().selector)
    assert job is not None
    assert service["metadata"]["labels"][spec["jobLabel"]] == job.group(1)

    (endpoint,) = spec["endpoints"]
    assert set(endpoint) <= ENDPOINT_FIELDS
    assert endpoint["port"] == service["spec"]["ports"][0]["name"]
    assert endpoint["path"] == "/metrics"
    merged = chart.merge_values(values)["serviceMonitor"]
    assert (endpoint["interval"], endpoint["scrapeTimeout"]) == (merged["interval"], merged["scrapeTimeout"])
    assert PROMETHEUS_DURATION.match(endpoint["interval"]) and PROMETHEUS_DURATION.match(
        endpoint["scrapeTimeout"]
    )
    assert parse_duration(endpoint["scrapeTimeout"]) <= parse_duration(endpoint["interval"])
    relabelings = endpoint["relabelings"]
    assert relabelings[0] == {"action": "replace", "targetLabel": "site", "replacement": values["site"]}
    assert relabelings[1:] == merged["relabelings"]
    for relabeling in relabelings + endpoint.get("metricRelabelings", []):
        assert set(relabeling) <= RELABEL_FIELDS
    assert endpoint.get("metricRelabelings", []) == merged["metricRelabelings"]
    assert f'with site="{values["site"]}"' in notes(chart, values)


def test_service_monitor_without_a_site_adds_no_label(chart: helm.Chart) -> None:
    monitor = only(render(chart, {"serviceMonitor": {"enabled": True, "jobLabel": ""}}), "ServiceMonitor")
    assert "relabelings" not in monitor["spec"]["endpoints"][0]
    assert "jobLabel" not in monitor["spec"]

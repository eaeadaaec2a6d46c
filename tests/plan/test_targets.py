from __future__ import annotations

from pathlib import Path

from exporter.catalogue import Flag
from exporter.config.file import Config, LoadedConfig, load
from exporter.plan.expand import build_plan
from exporter.plan.proxy_routes import route_plan
from exporter.plan.targets import NetworkPath, Target, TargetPlan
from exporter.probes.prober import Protocol


def plan_for(tmp_path: Path, text: str = "") -> tuple[TargetPlan, LoadedConfig]:
    path = tmp_path / "exporter.yml"
    path.write_text(text)
    loaded = load(path)
    return build_plan(loaded.config, loaded.catalogue), loaded


def set_ids(plan: TargetPlan) -> list[str]:
    return [s.id for s in plan.sets]


def test_default_plan_covers_every_set_on_by_default(tmp_path: Path) -> None:
    plan, loaded = plan_for(tmp_path)
    expected = [s.id for s in loaded.catalogue.sets if s.enabled_by_default and Config().cloud in s.clouds]
    assert set_ids(plan) == expected
    assert "do-peer" not in set_ids(plan)
    assert "188" not in set_ids(plan)  # GCC only


def test_ports_map_to_protocols(tmp_path: Path) -> None:
    plan, _ = plan_for(tmp_path)
    assert Target("manage.microsoft.com", 80, Protocol.HTTP) in plan.targets
    assert Target("manage.microsoft.com", 443, Protocol.HTTPS) in plan.targets
    assert Target("5-courier.push.apple.com", 5223, Protocol.TLS) in plan.targets
    assert Target("time.windows.com", 123, Protocol.NTP) in plan.targets


def test_shared_host_is_one_target_reported_under_each_set(tmp_path: Path) -> None:
    plan, _ = plan_for(tmp_path)
    members = plan.targets[Target("manage.microsoft.com", 443, Protocol.HTTPS)]
    assert {m.set_id for m in members} >= {"163", "unauthenticated-proxy"}
    assert len(plan.targets) == len(set(plan.targets))


def test_wildcard_uses_a_host_of_its_own_set(tmp_path: Path) -> None:
    plan, _ = plan_for(tmp_path)
    members = plan.targets[Target("enterpriseenrollment.manage.microsoft.com", 443, Protocol.HTTPS)]
    entries = {m.entry for m in members if m.set_id == "163"}
    assert entries <= {"EnterpriseEnrollment.manage.microsoft.com", "*.manage.microsoft.com"}
    assert all(Flag.SSL_INSPECTION_UNSUPPORTED in m.flags for m in members if m.set_id == "163")


def test_wildcard_uses_the_default_table_then_the_configuration(tmp_path: Path) -> None:
    plan, _ = plan_for(tmp_path)
    assert Target("download.windowsupdate.com", 443, Protocol.HTTPS) in plan.targets
    plan, _ = plan_for(
        tmp_path, 'wildcard_representatives:\n  "*.windowsupdate.com": [au.windowsupdate.com]\n'
    )
    assert Target("au.windowsupdate.com", 443, Protocol.HTTPS) in plan.targets
    assert Target("download.windowsupdate.com", 443, Protocol.HTTPS) not in plan.targets


def test_wildcard_without_representative_is_counted_not_dropped(tmp_path: Path) -> None:
    plan, _ = plan_for(tmp_path)
    assert plan.unprobed_wildcards["defender"] == ["*.dm.microsoft.com"]
    assert plan.unprobed_wildcards["163"] == ["*.dm.microsoft.com"]  # in set 163 since the 2025-08-21 edition
    assert plan.unprobed_wildcards["170"] == []
    plan, _ = plan_for(tmp_path, 'wildcard_representatives:\n  "*.dm.microsoft.com": [a.dm.microsoft.com]\n')
    assert plan.unprobed_wildcards["defender"] == []
    assert plan.unprobed_wildcards["163"] == []
    assert Target("a.dm.microsoft.com", 443, Protocol.HTTPS) in plan.targets
    assert Target("dm.microsoft.com", 53, Protocol.DNS) not in plan.targets


def test_wildcard_without_representative_gets_one_zone_check_for_its_sets(tmp_path: Path) -> None:
    plan, _ = plan_for(tmp_path)
    zone = Target("dm.microsoft.com", 53, Protocol.DNS)
    members = plan.targets[zone]
    assert {(m.set_id, m.entry) for m in members} >= {
        ("defender", "*.dm.microsoft.com"),
        ("epm", "*.dm.microsoft.com"),
        ("163", "*.dm.microsoft.com"),
    }
    assert len(members) == len({m.set_id for m in members})
    assert zone in plan.targets_of("defender")
    zone_targets = {t for t in plan.targets if t.protocol is Protocol.DNS}
    unprobed = {w.removeprefix("*.") for ws in plan.unprobed_wildcards.values() for w in ws}
    assert {t.host for t in zone_targets} == unprobed
    assert {(t.port, t.path) for t in zone_targets} == {(53, NetworkPath.DIRECT)}


def test_zone_checks_stay_direct_when_a_proxy_is_configured(tmp_path: Path) -> None:
    plan, loaded = plan_for(tmp_path, "proxy:\n  url: http://proxy.example.test:3128\n")
    routed = route_plan(plan, loaded.config.proxy, has_credentials=False, environ={})
    zone_paths = {(t.host, t.path) for t in routed.targets if t.protocol is Protocol.DNS}
    assert ("dm.microsoft.com", NetworkPath.DIRECT) in zone_paths
    assert {path for _, path in zone_paths} == {NetworkPath.DIRECT}
    assert Target("manage.microsoft.com", 443, Protocol.HTTPS) not in routed.targets  # the others are proxied


def test_tenant_location_selects_its_region(tmp_path: Path) -> None:
    plan, _ = plan_for(tmp_path)
    assert {"asu-na", "asu-eu", "asu-ap"} <= set(set_ids(plan))
    plan, _ = plan_for(tmp_path, "tenant_location: AMSUB0101\n")
    assert [i for i in set_ids(plan) if i.startswith("asu-")] == ["asu-eu"]
    assert Target("euprodimedatapri.azureedge.net", 443, Protocol.HTTPS) in plan.targets
    assert Target("naprodimedatapri.azureedge.net", 443, Protocol.HTTPS) not in plan.targets
    plan, _ = plan_for(tmp_path, "tenant_location: AMSUD0101\n")
    assert [i for i in set_ids(plan) if i.startswith("asu-")] == ["asu-ap"]
    # A scale unit newer than the catalogue still finds its region by prefix.
    plan, _ = plan_for(tmp_path, "tenant_location: AMSUB9901\n")
    assert [i for i in set_ids(plan) if i.startswith("asu-")] == ["asu-eu"]
    # The macOS rows are per region too.
    assert [i for i in set_ids(plan) if i.startswith("macos-")] == ["macos-eu"]
    assert Target("macsidecareu.manage.microsoft.com", 443, Protocol.HTTPS) in plan.targets
    assert Target("macsidecar.manage.microsoft.com", 443, Protocol.HTTPS) not in plan.targets


def test_cloud_selects_gcc_sets(tmp_path: Path) -> None:
    plan, _ = plan_for(tmp_path, "cloud: gcc\n")
    assert "188" in set_ids(plan)
    assert Target("gcc.remotehelp.microsoft.com", 443, Protocol.HTTPS) in plan.targets
    plan, _ = plan_for(tmp_path, "cloud: gcc-high\n")
    assert "maa" not in set_ids(plan)
    assert "dha" in set_ids(plan)


def test_switches_for_sets_and_sections(tmp_path: Path) -> None:
    plan, _ = plan_for(
        tmp_path, 'sets:\n  enabled: [do-peer]\n  disabled: ["150"]\nsections:\n  disabled: [Apple]\n'
    )
    ids = set_ids(plan)
    assert "do-peer" in ids
    assert "150" not in ids
    assert "178" not in ids
    assert not any(t.host.endswith("apple.com") for t in plan.targets)


def test_only_selects_exactly_the_named_sets(tmp_path: Path) -> None:
    plan, _ = plan_for(tmp_path, 'sets:\n  only: ["163", do-peer, "188"]\n')
    # `only` also turns on sets that are off by default; the cloud still rules out GCC-only sets.
    assert set_ids(plan) == ["163", "do-peer"]


def test_extra_endpoints_add_to_a_set_or_create_one(tmp_path: Path) -> None:
    plan, _ = plan_for(
        tmp_path,
        "extra_endpoints:\n"
        "  - set_id: corp-proxy\n    hosts: [proxy.corp.example]\n    tcp_ports: [8080]\n    required: true\n"
        '  - set_id: "163"\n    hosts: [extra.manage.microsoft.com]\n'
        "  - set_id: peers\n    hosts: [peer.corp.example]\n    udp_ports: [3544]\n",
    )
    corp = next(s for s in plan.sets if s.id == "corp-proxy")
    assert corp.required
    assert Target("proxy.corp.example", 8080, Protocol.TCP) in plan.targets
    assert {m.set_id for m in plan.targets[Target("extra.manage.microsoft.com", 443, Protocol.HTTPS)]} == {
        "163"
    }
    assert [(u.set_id, u.port) for u in plan.unprobeable_ports] == [("peers", 3544)]

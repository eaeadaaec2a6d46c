"""The built-in editions of the catalogue: which exist, how one is selected, the 2025-08-21 edition's facts,
and what every edition must do (load, validate, export in every format, make a plan)."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest

from exporter.catalogue import Flag, builtin_editions, default_edition, entry_flags, load_builtin, parse
from exporter.catalogue.export import to_service_items
from exporter.catalogue.page import parse_page
from exporter.commands.export import FORMATS, ExportOptions, export
from exporter.config.drift import Limits
from exporter.config.file import load
from exporter.plan.expand import build_plan
from exporter.reference.drift import compute_drift
from exporter.reference.items import parse_reference
from tests.support.paths import DATA

NEWEST = "2025-08-21"
SIZES = {
    # edition: (sets, numbered sets, host entries, CIDR ranges, default plan's sets, default plan's targets)
    "seed": (31, 20, 116, 50, 29, 124),
    NEWEST: (36, 21, 148, 90, 34, 173),
}


def config_file(tmp_path: Path, edition: str, extra: str = "") -> Path:
    path = tmp_path / "exporter.yml"
    path.write_text(f"catalogue_edition: '{edition}'\n{extra}")
    return path


def test_editions_newest_first_and_named_by_their_file() -> None:
    assert builtin_editions() == (NEWEST, "seed")
    assert default_edition() == NEWEST
    for edition in builtin_editions():
        catalogue = load_builtin(edition)
        assert catalogue.edition is not None and catalogue.edition.id == edition
        assert catalogue.edition.title == "Network endpoints for Microsoft Intune"
    assert load_builtin() is load_builtin(NEWEST)


def test_unknown_edition_is_refused() -> None:
    with pytest.raises(
        ValueError, match=r"unknown catalogue edition '2019-01-01'; built-in editions: 2025-08-21, seed"
    ):
        load_builtin("2019-01-01")


@pytest.mark.parametrize("edition", builtin_editions())
def test_every_edition_loads_validates_exports_and_plans(tmp_path: Path, edition: str) -> None:
    sets, numbered, hosts, cidrs, planned_sets, targets = SIZES[edition]
    catalogue = load_builtin(edition)
    assert len(catalogue.sets) == sets
    assert sum(s.id.isdigit() for s in catalogue.sets) == numbered
    assert sum(len(s.urls) for s in catalogue.sets) == hosts
    assert sum(len(s.ips) for s in catalogue.sets) == cidrs
    # It validates as a user's catalogue file would, and its own export has no drift against it.
    assert parse("copy", catalogue.model_dump(mode="json")) == catalogue
    reference = parse_reference(json.loads(json.dumps(to_service_items(catalogue))), Limits())
    assert reference.invalid == ()
    assert compute_drift(catalogue, reference.items) == []

    loaded = load(config_file(tmp_path, edition))
    assert loaded.catalogue == catalogue
    for format in FORMATS:
        options = ExportOptions(format, proxy="proxy.corp.example:3128" if format == "pac" else None)
        text = export(loaded, options)
        assert text.strip(), format
        if format in ("pac", "squid", "squid-ips"):
            assert f"edition {edition}," in text, format
    assert len(json.loads(export(loaded, ExportOptions("json", all_sets=True)))) == sets

    plan = build_plan(loaded.config, loaded.catalogue)
    assert (len(plan.sets), len(plan.targets)) == (planned_sets, targets)
    for endpoint_set in plan.sets:
        probed = any(m.set_id == endpoint_set.id for members in plan.targets.values() for m in members)
        assert probed or plan.unprobed_wildcards.get(endpoint_set.id), endpoint_set.id


@pytest.mark.parametrize("edition", builtin_editions())
def test_tenant_location_selects_the_region_in_every_edition(tmp_path: Path, edition: str) -> None:
    regional = {s.id for s in load_builtin(edition).sets if s.regional}
    for location, region in (
        ("AMSUA0101", "na"),
        ("AMSUB0202", "eu"),
        ("AMSUD0101", "ap"),
        ("AMSUC9901", "ap"),
    ):
        loaded = load(config_file(tmp_path, edition, f"tenant_location: {location}\n"))
        chosen = {s.id for s in build_plan(loaded.config, loaded.catalogue).sets} & regional
        assert chosen == {i for i in regional if i.endswith(f"-{region}")}, (edition, location)


# ---------------------------------------------------------------- the 2025-08-21 edition's facts


def test_newest_edition_sets() -> None:
    catalogue = load_builtin(NEWEST)
    assert catalogue.edition is not None
    assert (catalogue.edition.language, catalogue.edition.encoded_on) == ("en", "2026-11-29")
    numbered = {s.id for s in catalogue.sets if s.id.isdigit()}
    expected = "163 172 170 97 190 189 192 56 150 59 179 178 171 181 187 188 164 165 169 173 182"
    assert numbered == set(expected.split())
    unnumbered = [s.id for s in catalogue.sets if not s.id.isdigit()]
    expected = (
        "do-peer defender epm store win32-cache maa dha macos-na macos-eu macos-ap asu-na asu-eu asu-ap "
        "ime-diagnostics unauthenticated-proxy"
    )
    assert sorted(unnumbered) == sorted(expected.split())
    for endpoint_set in catalogue.sets:
        assert endpoint_set.impact, endpoint_set.id
        if not endpoint_set.id.isdigit():
            assert any("no category" in note for note in endpoint_set.annotations), endpoint_set.id
    # Set 178 has no table in this edition: kept from the seed, and says so.
    apple = catalogue.by_id()["178"]
    assert apple == load_builtin("seed").by_id()["178"].model_copy(update={"annotations": apple.annotations})
    assert any("Not in this edition's tables" in note for note in apple.annotations)


def test_newest_edition_set_163() -> None:
    intune = load_builtin(NEWEST).by_id()["163"]
    assert intune.urls == (
        "*.manage.microsoft.com",
        "manage.microsoft.com",
        "*.dm.microsoft.com",
        "EnterpriseEnrollment.manage.microsoft.com",
    )
    networks = [ipaddress.ip_network(cidr) for cidr in intune.ips]
    assert len(networks) == len(set(networks)) == 90
    assert [str(n) for n in networks if n.version == 6] == [
        "2620:1ec:40::/48",
        "2620:1ec:49::/48",
        "2620:1ec:4a::/47",
    ]
    assert intune.ips[-7:-3] == ("13.107.219.0/24", "13.107.227.0/24", "13.107.228.0/23", "150.171.97.0/24")
    assert intune.ips.count("20.43.129.0/24") == 1  # twice on the page
    assert "20.189.172.160/27" not in intune.ips  # only in the page's consolidated list
    seed = set(load_builtin("seed").by_id()["163"].ips)
    assert seed - set(intune.ips) == {"13.71.199.64/28", "13.73.244.48/28", "20.49.93.160/27"}
    assert len(set(intune.ips) - seed) == 43
    assert intune.tcp_ports == (80, 443)


def test_newest_edition_changed_rows() -> None:
    by_id = load_builtin(NEWEST).by_id()
    assert by_id["192"].urls == (
        "fd.api.orgmsg.microsoft.com",
        "ris.prod.api.personalization.ideas.microsoft.com",
    )
    assert by_id["189"].urls == ("config.edge.skype.com", "ecs.office.com")
    assert by_id["59"].urls[-1] == "certauth.enterpriseregistration.windows.net"
    assert by_id["179"].urls == ("intunecdnpeasd.azureedge.net", "intunecdnpeasd.manage.microsoft.com")
    assert by_id["170"].tcp_ports == by_id["store"].tcp_ports == by_id["win32-cache"].tcp_ports == (80, 443)
    assert len(by_id["181"].urls) == 22 and "v10c.events.data.microsoft.com" in by_id["181"].urls
    assert len(by_id["182"].urls) == 5
    assert by_id["188"].urls == load_builtin("seed").by_id()["188"].urls
    assert by_id["win32-cache"].urls == ("cdn.storeedgefd.dsx.mp.microsoft.com",)
    maa = by_id["maa"].urls
    assert len(maa) == 16 and maa[-1] == "intunemaape19.jpe.attest.azure.net"
    for region, letter, prefixes in (
        ("na", "a", ("AMSUA",)),
        ("eu", "b", ("AMSUB",)),
        ("ap", "c", ("AMSUC", "AMSUD")),
    ):
        asu = by_id[f"asu-{region}"]
        assert asu.scale_units == asu.storage_accounts == ()
        assert asu.scale_unit_prefixes == by_id[f"macos-{region}"].scale_unit_prefixes == prefixes
        assert asu.urls[3:] == tuple(
            f"imeswd{letter}-afd-{kind}.manage.microsoft.com" for kind in ("primary", "secondary", "hotfix")
        )
        assert all("azureedge.net" in url for url in asu.urls[:3])
        assert [url.split(".", 1)[1] for url in by_id[f"macos-{region}"].urls] == [
            "manage.microsoft.com",
            "azureedge.net",
        ]
    assert by_id["ime-diagnostics"].urls == ("*.events.data.microsoft.com",)
    assert by_id["ime-diagnostics"].required is False


def test_newest_edition_flags_and_representatives() -> None:
    catalogue = load_builtin(NEWEST)
    by_id = catalogue.by_id()
    ssl = Flag.SSL_INSPECTION_UNSUPPORTED
    assert ssl in entry_flags(catalogue, by_id["store"], "displaycatalog.mp.microsoft.com")
    assert ssl not in entry_flags(catalogue, by_id["win32-cache"], "cdn.storeedgefd.dsx.mp.microsoft.com")
    for url in ("imeswda-afd-primary.manage.microsoft.com", "macsidecar.manage.microsoft.com"):
        set_id = "asu-na" if url.startswith("ime") else "macos-na"
        assert ssl in entry_flags(catalogue, by_id[set_id], url)
    assert Flag.BYTE_RANGES_REQUIRED in entry_flags(
        catalogue, by_id["asu-na"], "imeswda-afd-hotfix.manage.microsoft.com"
    )
    assert entry_flags(catalogue, by_id["macos-na"], "macsidecarprod.azureedge.net") == {
        Flag.UNAUTHENTICATED_PROXY_REQUIRED
    }
    assert catalogue.wildcard_representatives["*.events.data.microsoft.com"] == (
        "v10c.events.data.microsoft.com",
    )


def test_newest_edition_matches_its_page_as_the_parser_reads_it() -> None:
    """The hand encoding against exporter/catalogue/page's reading of the same edition's markdown source."""
    page = parse_page((DATA / "page" / "2025-08-21.md").read_bytes(), "2025-08-21.md")
    assert page.warnings == ()
    catalogue = load_builtin(NEWEST).by_id()
    assert set(catalogue) - set(page.by_id()) == {"178"}  # no table in this edition: kept from the seed
    for set_id, parsed in page.by_id().items():
        encoded = catalogue[set_id]
        assert [host.lower() for host in parsed.hosts] == [url.lower() for url in encoded.urls], set_id
        assert parsed.cidrs == encoded.ips, set_id
        if parsed.tcp_ports or parsed.udp_ports:
            assert (parsed.tcp_ports, parsed.udp_ports) == (encoded.tcp_ports, encoded.udp_ports), set_id
        else:
            assert any("TCP 443 is assumed" in note for note in encoded.annotations), set_id
        for field in ("category", "required", "express_route"):
            if getattr(parsed, field) is not None:
                assert getattr(parsed, field) == getattr(encoded, field), (set_id, field)

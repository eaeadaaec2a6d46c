"""docs/architecture.md is the map of the package: it must name every package, in the order of the
import-linter layers, and every file it points to must exist."""

from __future__ import annotations

import re
import tomllib

from tests.support.paths import ROOT

DOC = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
EXPORTER = ROOT / "exporter"


def layer_table_packages() -> list[str]:
    """Packages named in the first column of the 'Packages and layers' table, top to bottom."""
    table = DOC.split("## Packages and layers", 1)[1].split("\n## ", 1)[0]
    names: list[str] = []
    for cell in re.findall(r"^\| ([^|]+) \|", table, flags=re.MULTILINE):
        names.extend(re.findall(r"`(?:exporter/)?([a-z_]+)(?:/|\.py)`", cell))
    return names


def contract_layers() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contract = next(c for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers")
    return [name.strip() for layer in contract["layers"] for name in layer.split("|")]


def test_the_doc_names_every_package_in_the_order_of_the_layers() -> None:
    packages = {path.parent.name for path in EXPORTER.glob("*/__init__.py")}
    assert set(contract_layers()) == packages | {"cli", "errors"}
    assert layer_table_packages() == contract_layers()


def test_every_file_the_doc_points_to_exists() -> None:
    mentioned = set(re.findall(r"`((?:[a-z_]+/)+[a-z_]+\.py)", DOC))
    assert mentioned
    missing = [
        path
        for path in sorted(mentioned)
        if not any((base / path).is_file() for base in (ROOT, EXPORTER, ROOT / "tests"))
    ]
    assert missing == []

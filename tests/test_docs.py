"""The documentation states the interfaces others rely on; these tests keep it true."""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import BaseModel

from exporter.config.file import DEFAULT_PORT, Config
from exporter.probes.outcome import Phase, Reason
from exporter.reference.drift import Direction, Kind
from exporter.reference.types import FetchFailure
from tests.support.docs_tables import table_first_column
from tests.support.paths import ROOT


def test_reason_vocabulary_is_documented_exactly() -> None:
    assert table_first_column(ROOT / "docs" / "metrics.md", "## Failure reasons") == {r.value for r in Reason}


def test_phases_are_documented() -> None:
    text = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    for phase in Phase:
        assert f"`{phase.value}`" in text


def keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    found = set()
    for name, field in model.model_fields.items():
        found.add(prefix + name)
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found |= keys(annotation, f"{prefix}{name}.")
    return found


def flatten(data: dict[str, Any], prefix: str = "") -> set[str]:
    found = set()
    for name, value in data.items():
        found.add(prefix + name)
        if isinstance(value, dict) and value and name not in {"wildcard_representatives", "port_remap"}:
            found |= flatten(value, f"{prefix}{name}.")
    return found


def test_configuration_reference_lists_every_key_with_its_default() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    reference = text.split("## Reference", 1)[1].split("```yaml", 1)[1].split("```", 1)[0]
    documented = yaml.safe_load(reference)
    assert flatten(documented) == keys(Config)
    # The documented defaults are the real ones.
    assert Config.model_validate(documented) == Config()


def test_readme_names_the_default_port_and_the_docs() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"localhost:{DEFAULT_PORT}/metrics" in readme
    for doc in ("docs/metrics.md", "docs/configuration.md", "docs/catalogue.md"):
        assert doc in readme
        assert (ROOT / doc).is_file()


def test_reference_failure_reasons_are_documented_exactly() -> None:
    documented = table_first_column(ROOT / "docs" / "metrics.md", "## Reference fetch failure reasons")
    assert documented == {reason.value for reason in FetchFailure}


def test_drift_kinds_and_directions_are_documented() -> None:
    text = (ROOT / "docs" / "drift.md").read_text(encoding="utf-8")
    for value in [*Kind, *Direction]:
        assert f"`{value.value}`" in text

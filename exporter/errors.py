"""User-facing errors. Each one names the file, the field and the offending value; the CLI prints it and
exits 2 without a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import pydantic
import yaml


class ConfigError(Exception):
    def __init__(self, source: str | Path, field: str, value: Any, problem: str) -> None:
        self.source = str(source)
        self.field = field
        self.value = value
        self.problem = problem
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.source}: field '{_printable(self.field)}'" if self.field else f"{self.source}"
        if self.value is _NO_VALUE:
            return f"{where}: {self.problem}"
        return f"{where}: {self.problem} (got {_show(self.value)})"


_NO_VALUE: Any = object()


def _printable(text: str) -> str:
    """`text` with control characters escaped: one error, one line, whatever the file holds."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def field_path(location: tuple[int | str, ...]) -> str:
    """('sets', 3, 'ips', 0) -> 'sets[3].ips[0]'."""
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def from_validation_error(source: str | Path, error: pydantic.ValidationError) -> ConfigError:
    """The first problem pydantic found, in our wording."""
    first = error.errors(include_url=False)[0]
    location = tuple(part for part in first["loc"] if not _is_pydantic_branch(part))
    problem = first["msg"]
    if first["type"] == "extra_forbidden":
        problem = "unknown key"
        return ConfigError(source, field_path(location), _NO_VALUE, problem)
    if first["type"] == "missing":
        return ConfigError(source, field_path(location), _NO_VALUE, "required key is missing")
    problem = problem.removeprefix("Value error, ")
    return ConfigError(source, field_path(location), first.get("input"), problem)


def _is_pydantic_branch(part: int | str) -> bool:
    # Union members and function validators show up in locations as e.g. 'function-after[...]'.
    return isinstance(part, str) and ("[" in part or part in {"str", "int"})


M = TypeVar("M", bound=pydantic.BaseModel)


def validated(model: type[M], source: str | Path, data: Any, what: str) -> M:
    """`data` (parsed YAML) as a `model`, or the ConfigError naming the first problem."""
    if not isinstance(data, dict):
        raise ConfigError(source, "", type(data).__name__, f"{what} must be a YAML mapping")
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise from_validation_error(source, exc) from None


def from_yaml_error(source: str | Path, error: yaml.YAMLError) -> ConfigError:
    mark = getattr(error, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = getattr(error, "problem", None) or str(error)
    return ConfigError(source, "", _NO_VALUE, f"not valid YAML{where}: {problem}")


def load_yaml_file(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(path, "", _NO_VALUE, f"cannot read file: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(path, "", _NO_VALUE, "file is not UTF-8 text") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise from_yaml_error(path, exc) from None


NO_VALUE = _NO_VALUE

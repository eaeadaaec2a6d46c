"""User-facing errors. Each one names the file, the field and the offending value; the CLI prints it and
exits 2 without a traceback.

Values that may hold credentials are never shown: fields marked `SENSITIVE` in a schema show as
`<redacted>`, and any `scheme://user:password@` left in a message loses its user part.
"""

from __future__ import annotations

import re
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import pydantic
import yaml


class ConfigError(Exception):
    """`redacted=True` (or `value=REDACTED`): the value may hold a secret and shows as `<redacted>`."""

    def __init__(
        self, source: str | Path, field: str, value: Any, problem: str, *, redacted: bool = False
    ) -> None:
        self.source = str(source)
        self.field = field
        self.value = REDACTED if redacted and value is not _NO_VALUE else value
        self.problem = problem
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.source}: field '{_printable(self.field)}'" if self.field else f"{self.source}"
        if self.value is _NO_VALUE:
            return redact_userinfo(f"{where}: {self.problem}")
        return redact_userinfo(f"{where}: {self.problem} (got {_show(self.value)})")


_NO_VALUE: Any = object()


class _Redacted:
    def __repr__(self) -> str:
        return "<redacted>"


REDACTED: Any = _Redacted()
"""The value of a ConfigError whose value may hold a secret: shown as `<redacted>`."""


class Sensitive:
    """Marks a schema field that may hold credentials (`Annotated[str, SENSITIVE]`): pydantic's problems
    with it never quote its input."""

    def __repr__(self) -> str:
        return "SENSITIVE"


SENSITIVE = Sensitive()

_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#\s@'\"]*@")


def has_userinfo(url: str) -> bool:
    """`url` carries credentials: 'user:password@' (or 'user@') before its host."""
    _, sep, rest = url.partition("://")
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0] if sep else ""
    return "@" in authority


def redact_userinfo(text: str) -> str:
    """`text` with the user part of every URL in it replaced: 'http://u:p@host' -> 'http://<redacted>@host'."""
    return _USERINFO.sub(r"\1<redacted>@", text)


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


def from_validation_error(
    source: str | Path, error: pydantic.ValidationError, model: type[pydantic.BaseModel] | None = None
) -> ConfigError:
    """The first problem pydantic found, in our wording. With the `model` validated, the input of a field
    marked SENSITIVE (or of a section holding one) shows as `<redacted>`."""
    first = error.errors(include_url=False)[0]
    location = tuple(part for part in first["loc"] if not _is_pydantic_branch(part))
    problem = first["msg"]
    if first["type"] == "extra_forbidden":
        problem = "unknown key"
        return ConfigError(source, field_path(location), _NO_VALUE, problem)
    if first["type"] == "missing":
        return ConfigError(source, field_path(location), _NO_VALUE, "required key is missing")
    problem = problem.removeprefix("Value error, ")
    value = first.get("input")
    if model is not None and _is_sensitive(model, first["loc"]):
        value = REDACTED
    return ConfigError(source, field_path(location), value, problem)


def _is_sensitive(model: type[pydantic.BaseModel], location: tuple[int | str, ...]) -> bool:
    """The input at `location` (pydantic's, branches included) may hold a secret: a SENSITIVE field lies on
    the way to it, or within it (a section's own check quotes the whole section)."""
    models: list[type[pydantic.BaseModel]] = [model]
    for part in location:
        fields = [m.model_fields[part] for m in models if isinstance(part, str) and part in m.model_fields]
        if not fields:
            continue  # an index, a mapping's key or a union branch
        if any(_marked(info) for info in fields):
            return True
        models = [m for info in fields for m in _models_in(info.annotation)]
    return any(_holds_sensitive(m, set()) for m in models)


def _models_in(annotation: Any) -> list[type[pydantic.BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return [annotation]
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _models_in(typing.get_args(annotation)[0])
    if origin is None and not isinstance(annotation, types.UnionType):
        return []
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def _holds_sensitive(model: type[pydantic.BaseModel], seen: set[type[pydantic.BaseModel]]) -> bool:
    if model in seen:
        return False
    seen.add(model)
    for info in model.model_fields.values():
        if _marked(info) or any(_holds_sensitive(m, seen) for m in _models_in(info.annotation)):
            return True
    return False


def sensitive_fields(model: type[pydantic.BaseModel], prefix: str = "") -> list[str]:
    """Dotted paths of the fields marked SENSITIVE in `model` and its sections ('[]' for sequences)."""
    found = []
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        if _marked(info):
            found.append(path)
        is_sequence = typing.get_origin(info.annotation) in (tuple, list)
        for section in _models_in(info.annotation):
            found += sensitive_fields(section, f"{path}[]." if is_sequence else f"{path}.")
    return found


def _marked(info: Any) -> bool:
    return SENSITIVE in info.metadata or _annotated_with_sensitive(info.annotation)


def _annotated_with_sensitive(annotation: Any) -> bool:
    if typing.get_origin(annotation) is typing.Annotated and SENSITIVE in typing.get_args(annotation)[1:]:
        return True
    return any(_annotated_with_sensitive(arg) for arg in typing.get_args(annotation))


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
        raise from_validation_error(source, exc, model) from None


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

"""Building blocks of the configuration schema: strict sections and Prometheus-style durations."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from exporter.config.durations import parse_duration


def _duration(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("not a duration; use e.g. '500ms', '30s', '1m30s' or '2h'")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        return parse_duration(value)
    return value


Duration = Annotated[float, BeforeValidator(_duration), Field(gt=0)]


class Section(BaseModel):
    """A configuration mapping: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


NonNegativeDuration = Annotated[float, BeforeValidator(_duration), Field(ge=0)]

"""A traced probe (`single_probe`) as people and programs read it: text lines, one per event, and one JSON
document. The `probe` command and `/debug/probe` print the same."""

from __future__ import annotations

from typing import Any

from exporter.probes.trace import TraceEvent
from exporter.scheduler.single_probe import Choice, TracedProbe

STEP_WIDTH = 8


def heading(choice: Choice) -> str:
    """What is probed, how, and what the plan says of it."""
    target = choice.target
    how = f"via proxy {target.via}" if target.via else "direct"
    if target.path.value == "proxy_anonymous":
        how += " without credentials"
    line = f"probing {target.host}:{target.port} ({target.protocol}, {how})"
    if choice.sets and choice.in_plan:
        line += f"; sets {', '.join(choice.sets)}"
    elif choice.sets:
        line += f"; not in this exporter's plan, under a wildcard of sets {', '.join(choice.sets)}"
    else:
        line += "; not in this exporter's plan: no set, catalogue defaults for the port"
    if choice.flags:
        line += f"; page says: {', '.join(sorted(flag.value for flag in choice.flags))}"
    return line


def event_line(event: TraceEvent) -> str:
    """'+  12.3 ms  tls      TLSv1.3 ...'"""
    return f"+{event.seconds * 1000:8.1f} ms  {event.step.value:<{STEP_WIDTH}} {event.message}"


def text_report(traced: TracedProbe) -> str:
    lines = [heading(traced.choice), *map(event_line, traced.events)]
    return "\n".join(lines) + "\n"


def json_document(traced: TracedProbe) -> dict[str, Any]:
    choice, outcome = traced.choice, traced.outcome
    target = choice.target
    return {
        "target": {
            "host": target.host,
            "port": target.port,
            "protocol": str(target.protocol),
            "path": str(target.path),
            "via": target.via,
        },
        "sets": list(choice.sets),
        "flags": sorted(flag.value for flag in choice.flags),
        "in_plan": choice.in_plan,
        "ok": outcome.ok,
        "reason": str(outcome.reason) if outcome.reason else None,
        "detail": outcome.detail,
        "address": traced.address,
        "phases": {str(phase): seconds for phase, seconds in outcome.phases.items()},
        "events": [
            {
                "seconds": event.seconds,
                "step": event.step.value,
                "message": event.message,
                "fields": event.fields,
            }
            for event in traced.events
        ],
    }

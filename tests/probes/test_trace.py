"""The probe trace: silent outside a recording, in order inside one, seen by the tasks a probe starts."""

from __future__ import annotations

import anyio

from exporter.probes import trace
from exporter.probes.trace import Step, Trace, TraceEvent


def test_emit_outside_a_recording_keeps_nothing() -> None:
    assert not trace.active()
    trace.emit(Step.DNS, "nobody listens")
    recorded = Trace()
    with trace.recording(recorded):
        assert trace.active()
    trace.emit(Step.DNS, "after the block")
    assert recorded.events == []
    assert not trace.active()


def test_events_arrive_in_order_with_their_fields_and_reach_the_callback_at_once() -> None:
    told: list[tuple[TraceEvent, int]] = []
    recorded = Trace(lambda event: told.append((event, len(recorded.events))))
    with trace.recording(recorded):
        trace.emit(Step.DNS, "first", ttl=60)
        trace.emit(Step.VERDICT, "second")
    assert [(e.step, e.message, dict(e.fields)) for e in recorded.events] == [
        (Step.DNS, "first", {"ttl": 60}),
        (Step.VERDICT, "second", {}),
    ]
    assert [event.message for event, _ in told] == ["first", "second"]
    assert [seen for _, seen in told] == [1, 2]  # each told as it was added, not at the end
    assert recorded.events[0].seconds <= recorded.events[1].seconds


def test_tasks_started_inside_a_recording_emit_into_it_and_concurrent_recordings_stay_apart() -> None:
    async def probe(name: str, recorded: Trace) -> None:
        with trace.recording(recorded):
            async with anyio.create_task_group() as group:
                for family in ("ipv4", "ipv6"):
                    group.start_soon(_answer, name, family)

    async def _answer(name: str, family: str) -> None:
        await anyio.sleep(0)
        trace.emit(Step.DNS, f"{name} {family}")

    first, second = Trace(), Trace()

    async def both() -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(probe, "a", first)
            group.start_soon(probe, "b", second)

    anyio.run(both)
    assert sorted(e.message for e in first.events) == ["a ipv4", "a ipv6"]
    assert sorted(e.message for e in second.events) == ["b ipv4", "b ipv6"]

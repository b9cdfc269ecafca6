"""Tests for the event bus: subject matching, the in-process bus and NATS JetStream."""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import nats
import pytest
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from peel.core.config import EventBusKind, Settings
from peel.core.events import (
    Event,
    EventBus,
    EventBusError,
    EventBusUnavailable,
    InMemoryEventBus,
    NatsEventBus,
    event_bus_from_settings,
    subject_matches,
    validate_pattern,
    validate_subject,
)
from tests.conftest import Collector, run

NATS_URL = os.environ.get("PEEL_TEST_NATS_URL", "nats://127.0.0.1:4222")
WAIT_SECONDS = 10.0


# --- subject matching -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "subject", "expected"),
    [
        ("peel.anpr.alert", "peel.anpr.alert", True),
        ("peel.anpr.alert", "peel.anpr.sighting", False),
        ("peel.anpr.*", "peel.anpr.alert", True),
        ("peel.anpr.*", "peel.anpr", False),
        ("peel.anpr.*", "peel.anpr.alert.high", False),
        ("peel.*.alert", "peel.anpr.alert", True),
        ("peel.*.alert", "peel.anpr.sighting", False),
        ("peel.>", "peel.anpr", True),
        ("peel.>", "peel.anpr.alert.high", True),
        ("peel.>", "peel", False),
        ("peel.anpr.>", "peel.anpr", False),
        ("peel.anpr.>", "peel.anpr.alert", True),
        ("peel.*.>", "peel.reporting.created", True),
        ("peel.*.>", "peel.reporting", False),
        ("peel.anpr", "peel.anpr.alert", False),
        ("peel.anpr.alert", "peel.anpr", False),
    ],
)
def test_subject_matches_table(pattern: str, subject: str, expected: bool) -> None:
    assert subject_matches(pattern, subject) is expected


def _reference_regex(pattern: str) -> re.Pattern[str]:
    """An independent oracle: translate a NATS pattern into a regular expression."""
    parts = []
    for part in pattern.split("."):
        parts.append({"*": r"[^.]+", ">": r".+"}.get(part, re.escape(part)))
    return re.compile(r"\.".join(parts))


_token = st.sampled_from(["a", "b", "ab"])
_subjects = st.lists(_token, min_size=1, max_size=5).map(lambda t: "peel." + ".".join(t))
_patterns = st.tuples(
    st.lists(st.one_of(_token, st.just("*")), min_size=0, max_size=5), st.booleans()
).map(lambda p: ".".join(["peel", *p[0]] + ([">"] if p[1] or not p[0] else [])))


@given(pattern=_patterns, subject=_subjects)
def test_subject_matches_agrees_with_reference(pattern: str, subject: str) -> None:
    validate_pattern(pattern)
    validate_subject(subject)
    expected = _reference_regex(pattern).fullmatch(subject) is not None
    assert subject_matches(pattern, subject) is expected


@given(subject=_subjects, data=st.data())
def test_a_subject_matches_its_generalisations(subject: str, data: st.DataObject) -> None:
    parts = subject.split(".")
    wild = [p if not data.draw(st.booleans()) else "*" for p in parts[1:]]
    assert subject_matches(".".join(["peel", *wild]), subject)
    keep = data.draw(st.integers(min_value=0, max_value=len(wild) - 1))
    assert subject_matches(".".join(["peel", *wild[:keep], ">"]), subject)


@pytest.mark.parametrize(
    "subject",
    [
        "",
        "peel",
        "anpr.alert",
        "police.anpr.alert",
        "peel..alert",
        "peel.anpr.",
        ".peel.anpr",
        "peel.anpr alert",
        "peel.anpr.\talert",
        "peel.anpr.*",
        "peel.>",
        "peel.an*pr",
    ],
)
def test_invalid_publish_subjects(subject: str) -> None:
    with pytest.raises(ValueError, match="subject"):
        validate_subject(subject)
    bus = InMemoryEventBus()
    with pytest.raises(ValueError, match="subject"):
        run(bus.publish(subject, {}))


@pytest.mark.parametrize(
    "pattern", ["", "peel", ">", "*.anpr", "peel.>.alert", "peel.an*", "peel.a b", "peel..x"]
)
def test_invalid_patterns(pattern: str) -> None:
    with pytest.raises(ValueError, match="subject"):
        validate_pattern(pattern)

    async def scenario() -> None:
        async def handler(event: Event) -> None:
            pass

        with pytest.raises(ValueError, match="subject"):
            await InMemoryEventBus().subscribe(pattern, handler)

    run(scenario())


def test_publishing_outside_peel_says_why() -> None:
    with pytest.raises(ValueError, match=r"start with 'peel\.'"):
        run(InMemoryEventBus().publish("anpr.alert", {}))


# --- events -----------------------------------------------------------------------------------


def test_event_defaults_and_wire_round_trip() -> None:
    event = Event("peel.anpr.alert", {"vrm": "AB12CDE", "score": 0.9, "tags": ["stolen"]})
    assert re.fullmatch(r"[0-9a-f]{32}", event.id)
    assert event.published_at.tzinfo is not None
    assert event.published_at.utcoffset() == UTC.utcoffset(None)
    assert Event.decode(event.encode()) == event


def test_event_refuses_naive_time_and_bad_payloads() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Event("peel.x", {}, published_at=datetime(2024, 1, 1))
    for payload in (
        b"not json",
        b"[]",
        b'{"id": "x"}',
        b'{"id":"x","subject":"peel.x","data":[],"published_at":"2024-01-01T00:00:00+00:00"}',
    ):
        with pytest.raises(ValueError, match="not a Peel event"):
            Event.decode(payload)


def test_event_data_must_be_json() -> None:
    with pytest.raises(ValueError, match="plain JSON"):
        run(InMemoryEventBus().publish("peel.x", {"when": datetime.now(UTC)}))
    with pytest.raises(ValueError, match="plain JSON"):
        run(InMemoryEventBus().publish("peel.x", {"score": float("nan")}))


# --- in-memory bus ----------------------------------------------------------------------------


def test_in_memory_publish_subscribe_in_order() -> None:
    async def scenario() -> None:
        bus = InMemoryEventBus()
        received = Collector()
        await bus.subscribe("peel.reporting.created", received)
        published = [await bus.publish("peel.reporting.created", {"n": n}) for n in range(50)]
        await bus.drain()
        assert received.events == published
        assert [e.data["n"] for e in received.events] == list(range(50))
        await bus.close()

    run(scenario())


def test_in_memory_order_holds_for_slow_handlers() -> None:
    async def scenario() -> None:
        bus = InMemoryEventBus()
        seen: list[int] = []

        async def slow(event: Event) -> None:
            await asyncio.sleep(0.001 * (event.data["n"] % 3))
            seen.append(event.data["n"])

        await bus.subscribe("peel.>", slow)
        for n in range(20):
            await bus.publish("peel.jobs.step", {"n": n})
        await bus.drain()
        assert seen == list(range(20))

    run(scenario())


def test_in_memory_wildcards() -> None:
    async def scenario() -> None:
        bus = InMemoryEventBus()
        one, deep, everything = Collector(), Collector(), Collector()
        await bus.subscribe("peel.anpr.*", one)
        await bus.subscribe("peel.anpr.>", deep)
        await bus.subscribe("peel.>", everything)
        for subject in ("peel.anpr.alert", "peel.anpr.alert.high", "peel.reporting.created"):
            await bus.publish(subject, {})
        await bus.drain()
        assert [e.subject for e in one.events] == ["peel.anpr.alert"]
        assert [e.subject for e in deep.events] == ["peel.anpr.alert", "peel.anpr.alert.high"]
        assert len(everything.events) == 3

    run(scenario())


def test_in_memory_unsubscribe() -> None:
    async def scenario() -> None:
        bus = InMemoryEventBus()
        kept, dropped = Collector(), Collector()
        await bus.subscribe("peel.>", kept)
        subscription = await bus.subscribe("peel.>", dropped)
        await bus.publish("peel.a", {})
        await bus.drain()
        await subscription.unsubscribe()
        await subscription.unsubscribe()
        await bus.publish("peel.b", {})
        await bus.drain()
        assert [e.subject for e in dropped.events] == ["peel.a"]
        assert [e.subject for e in kept.events] == ["peel.a", "peel.b"]

    run(scenario())


def test_in_memory_handler_can_unsubscribe_itself() -> None:
    async def scenario() -> None:
        bus = InMemoryEventBus()
        seen: list[str] = []

        async def once(event: Event) -> None:
            await subscription.unsubscribe()
            await asyncio.sleep(0)
            seen.append(event.subject)

        subscription = await bus.subscribe("peel.>", once)
        await bus.publish("peel.a", {})
        await bus.publish("peel.b", {})
        await bus.drain()
        assert seen == ["peel.a"]

    run(scenario())


def test_failing_handler_is_logged_and_isolated() -> None:
    async def scenario() -> None:
        bus = InMemoryEventBus()
        healthy = Collector()
        attempts: list[str] = []

        async def broken(event: Event) -> None:
            attempts.append(event.subject)
            raise RuntimeError("handler bug")

        await bus.subscribe("peel.>", broken)
        await bus.subscribe("peel.>", healthy)
        with capture_logs() as logs:
            await bus.publish("peel.a", {})
            await bus.publish("peel.b", {})
            await bus.drain()
        assert [e.subject for e in healthy.events] == ["peel.a", "peel.b"]
        assert attempts == ["peel.a", "peel.b"]
        failures = [log for log in logs if log["event"] == "event handler failed"]
        assert [log["subject"] for log in failures] == ["peel.a", "peel.b"]
        assert all(log["log_level"] == "error" for log in failures)

    run(scenario())


def test_in_memory_drops_a_repeated_event_id() -> None:
    async def scenario() -> None:
        bus = InMemoryEventBus()
        received = Collector()
        await bus.subscribe("peel.>", received)
        first = await bus.publish("peel.a", {"n": 1}, event_id="retry-1")
        await bus.publish("peel.a", {"n": 1}, event_id="retry-1")
        await bus.drain()
        assert received.events == [first]
        with pytest.raises(ValueError, match="event_id"):
            await bus.publish("peel.a", {}, event_id="../bad id")

    run(scenario())


def test_handlers_get_their_own_copy_of_data() -> None:
    async def scenario() -> None:
        bus = InMemoryEventBus()
        received = Collector()
        await bus.subscribe("peel.>", received)
        data: dict[str, Any] = {"items": [1, 2]}
        event = await bus.publish("peel.a", data)
        data["items"].append(3)
        await bus.drain()
        assert received.events[0].data == {"items": [1, 2]} == event.data

    run(scenario())


def test_in_memory_context_manager_closes_subscriptions() -> None:
    async def scenario() -> None:
        received = Collector()
        async with InMemoryEventBus() as bus:
            assert isinstance(bus, InMemoryEventBus)
            await bus.subscribe("peel.>", received)
        await bus.publish("peel.after", {})
        await bus.drain()
        assert received.events == []

    run(scenario())


def test_event_bus_from_settings() -> None:
    assert isinstance(event_bus_from_settings(Settings()), InMemoryEventBus)
    bus = event_bus_from_settings(
        Settings(event_bus=EventBusKind.nats, nats_url="nats://nats.example:4222")
    )
    assert isinstance(bus, NatsEventBus)
    assert bus.url == "nats://nats.example:4222"
    assert (bus.stream, bus.subject_prefix) == ("PEEL", "peel")


def test_nats_bus_rejects_bad_names() -> None:
    with pytest.raises(ValueError, match="stream"):
        NatsEventBus(NATS_URL, stream="PEEL.X")
    with pytest.raises(ValueError, match="subject_prefix"):
        NatsEventBus(NATS_URL, subject_prefix="a.b")


def test_unreachable_nats_gives_a_clear_error() -> None:
    bus = NatsEventBus("nats://127.0.0.1:1", connect_timeout=1)
    with pytest.raises(EventBusUnavailable, match=r"cannot reach NATS at nats://127\.0\.0\.1:1"):
        run(bus.connect())


def test_nats_publish_before_connect_says_what_to_do() -> None:
    with pytest.raises(EventBusError, match=r"call connect\(\) first"):
        run(NatsEventBus(NATS_URL).publish("peel.a", {}))


# --- NATS JetStream ---------------------------------------------------------------------------


@dataclass
class NatsTarget:
    url: str
    stream: str
    prefix: str

    def bus(self) -> NatsEventBus:
        return NatsEventBus(self.url, stream=self.stream, subject_prefix=self.prefix)


async def _delete_stream(url: str, stream: str) -> None:
    nc = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=1)
    try:
        await nc.jetstream().delete_stream(stream)
    except nats.js.errors.NotFoundError:
        pass
    finally:
        await nc.close()


async def _probe_jetstream(url: str) -> str | None:
    """None if JetStream answers at ``url``, otherwise the reason it does not."""
    try:
        nc = await asyncio.wait_for(nats.connect(url, allow_reconnect=False), 3)
    except Exception as exc:
        return f"cannot reach NATS at {url}: {exc!r}"
    try:
        await nc.jetstream().account_info()
    except Exception as exc:
        return f"NATS at {url} has no JetStream: {exc!r}"
    finally:
        await nc.close()
    return None


@pytest.fixture(scope="session")
def nats_url() -> str:
    """The test NATS server; skipped when it is missing, except on CI where that fails."""
    problem = run(_probe_jetstream(NATS_URL))
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but NATS JetStream is unavailable: {problem}")
        pytest.skip(f"{problem} (start nats-server -js or set PEEL_TEST_NATS_URL)")
    return NATS_URL


@pytest.fixture
def nats_target(nats_url: str) -> Iterator[NatsTarget]:
    """A unique stream and subject prefix on the test NATS server, deleted afterwards."""
    suffix = uuid.uuid4().hex
    target = NatsTarget(nats_url, f"PEEL_TEST_{suffix}", f"peeltest{suffix}")
    yield target
    run(_delete_stream(target.url, target.stream))


def in_bus(target: NatsTarget, body: Callable[[NatsEventBus], Awaitable[None]]) -> None:
    async def scenario() -> None:
        async with target.bus() as bus:
            assert isinstance(bus, NatsEventBus)
            await body(bus)

    run(scenario())


@pytest.mark.nats
def test_nats_publish_reaches_a_subscriber(nats_target: NatsTarget) -> None:
    async def body(bus: NatsEventBus) -> None:
        await bus.publish("peel.anpr.alert", {"vrm": "before"})
        received = Collector()
        await bus.subscribe("peel.anpr.*", received)
        await bus.publish("peel.reporting.created", {"ignored": True})
        sent = await bus.publish("peel.anpr.alert", {"vrm": "AB12CDE", "score": 0.97})
        assert await received.wait_for(1) == [sent]

    in_bus(nats_target, body)


@pytest.mark.nats
def test_nats_durable_subscriber_catches_up_after_reconnecting(nats_target: NatsTarget) -> None:
    async def scenario() -> None:
        first = Collector()
        async with nats_target.bus() as bus:
            subscription = await bus.subscribe("peel.audit.>", first, durable="audit-writer")
            seen = await bus.publish("peel.audit.login", {"n": 1})
            assert await first.wait_for(1) == [seen]
            await subscription.unsubscribe()
        async with nats_target.bus() as publisher:
            missed = [await publisher.publish("peel.audit.login", {"n": n}) for n in (2, 3)]
        later = Collector()
        async with nats_target.bus() as bus:
            await bus.subscribe("peel.audit.>", later, durable="audit-writer")
            assert await later.wait_for(2) == missed
            with pytest.raises(EventBusError, match="another durable name"):
                await bus.subscribe("peel.other.>", later, durable="audit-writer")

    run(scenario())


@pytest.mark.nats
def test_nats_drops_duplicate_message_ids(nats_target: NatsTarget) -> None:
    async def body(bus: NatsEventBus) -> None:
        received = Collector()
        await bus.subscribe("peel.>", received)
        original = await bus.publish("peel.reporting.created", {"n": 1}, event_id="report-1")
        await bus.publish("peel.reporting.created", {"n": 1}, event_id="report-1")
        sentinel = await bus.publish("peel.reporting.created", {"n": 2})
        events = await received.wait_for(2)
        assert [e.id for e in events] == [original.id, sentinel.id]

    in_bus(nats_target, body)


@pytest.mark.nats
def test_nats_redelivers_after_a_failing_handler(nats_target: NatsTarget) -> None:
    async def body(bus: NatsEventBus) -> None:
        attempts = Collector()

        async def flaky(event: Event) -> None:
            await attempts(event)
            if len(attempts.events) == 1:
                raise RuntimeError("temporary failure")

        await bus.subscribe("peel.jobs.>", flaky)
        sent = await bus.publish("peel.jobs.queued", {"job": "export"})
        assert await attempts.wait_for(2) == [sent, sent]

    in_bus(nats_target, body)


@pytest.mark.nats
def test_nats_unsubscribe_stops_delivery(nats_target: NatsTarget) -> None:
    async def body(bus: NatsEventBus) -> None:
        stopped, kept = Collector(), Collector()
        subscription = await bus.subscribe("peel.>", stopped)
        await bus.subscribe("peel.>", kept)
        await subscription.unsubscribe()
        sent = await bus.publish("peel.a", {})
        assert await kept.wait_for(1) == [sent]
        assert stopped.events == []

    in_bus(nats_target, body)


def test_the_bus_interface_is_shared() -> None:
    assert issubclass(InMemoryEventBus, EventBus)
    assert issubclass(NatsEventBus, EventBus)

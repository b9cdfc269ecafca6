"""One event bus interface: in-process by default, NATS JetStream for several processes.

Subjects use NATS syntax: tokens separated by ``.``; in subscription patterns ``*`` matches
exactly one token and ``>`` (last token only) matches one or more trailing tokens. Every
Peel subject starts with ``peel.``, for example ``peel.anpr.alert``. Delivery is at least
once, so handlers should be idempotent (use ``Event.id`` to spot repeats).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import uuid
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

import nats
import nats.errors
import nats.js.errors
import structlog
from nats.js import api as js_api

from peel.core.config import EventBusKind, Settings

if TYPE_CHECKING:
    from nats.aio.client import Client as NatsClient
    from nats.aio.msg import Msg
    from nats.js import JetStreamContext

logger = structlog.get_logger(__name__)

SUBJECT_ROOT = "peel"
_NAME = re.compile(r"[A-Za-z0-9_-]+")
_BAD_TOKEN_CHARS = re.compile(r"[\s*>]")

Handler = Callable[["Event"], Awaitable[None]]


def _new_event_id() -> str:
    return uuid.uuid4().hex


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Event:
    """Something that happened, as published on the bus; ``data`` is plain JSON."""

    subject: str
    data: dict[str, Any]
    id: str = field(default_factory=_new_event_id)
    published_at: datetime = field(default_factory=_utcnow)

    def __post_init__(self) -> None:
        if self.published_at.tzinfo is None:
            raise ValueError("Event.published_at must be timezone-aware (UTC)")

    def encode(self) -> bytes:
        """The JSON wire form: id, subject, data and published_at (ISO 8601)."""
        body = {
            "id": self.id,
            "subject": self.subject,
            "data": self.data,
            "published_at": self.published_at.astimezone(UTC).isoformat(),
        }
        try:
            return json.dumps(body, allow_nan=False, separators=(",", ":")).encode()
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"event data for {self.subject} must be plain JSON (str, int, float, bool, "
                f"None, list, dict with str keys): {exc}"
            ) from exc

    @classmethod
    def decode(cls, payload: bytes) -> Event:
        """Rebuild an event from its JSON wire form; ValueError if it is not one."""
        try:
            body = json.loads(payload)
            published_at = datetime.fromisoformat(body["published_at"])
            event = cls(str(body["subject"]), body["data"], str(body["id"]), published_at)
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"not a Peel event: {exc}") from exc
        if not isinstance(event.data, dict):
            raise ValueError("not a Peel event: data is not a JSON object")
        return event


class EventBusError(RuntimeError):
    """The event bus refused an operation; the message says what to change."""


class EventBusUnavailable(EventBusError):
    """The event bus server cannot be reached or has no JetStream."""


def _split(subject: str, what: str) -> list[str]:
    """Split a subject into tokens, refusing empty tokens and whitespace."""
    if not isinstance(subject, str) or not subject:
        raise ValueError(f"{what} must be a non-empty string like 'peel.anpr.alert'")
    parts = subject.split(".")
    if any(not part or re.search(r"\s", part) for part in parts):
        raise ValueError(
            f"invalid {what} {subject!r}: tokens are separated by single dots "
            "and cannot be empty or contain spaces"
        )
    if parts[0] != SUBJECT_ROOT or len(parts) < 2:
        raise ValueError(f"invalid {what} {subject!r}: Peel subjects start with '{SUBJECT_ROOT}.'")
    return parts


def validate_subject(subject: str) -> str:
    """Check a subject to publish on (no wildcards) and return it unchanged."""
    for part in _split(subject, "subject"):
        if _BAD_TOKEN_CHARS.search(part):
            raise ValueError(
                f"invalid subject {subject!r}: '*' and '>' are only for subscription patterns"
            )
    return subject


def validate_pattern(pattern: str) -> str:
    """Check a subscription pattern (``*`` as a whole token, ``>`` only as the last)."""
    parts = _split(pattern, "subject pattern")
    for index, part in enumerate(parts):
        if part == "*" or (part == ">" and index == len(parts) - 1):
            continue
        if _BAD_TOKEN_CHARS.search(part):
            raise ValueError(
                f"invalid subject pattern {pattern!r}: '*' must be a whole token "
                "and '>' may only be the whole last token"
            )
    return pattern


def subject_matches(pattern: str, subject: str) -> bool:
    """Whether a NATS-style ``pattern`` matches a concrete ``subject`` (pure; no validation)."""
    wanted = pattern.split(".")
    actual = subject.split(".")
    for index, part in enumerate(wanted):
        if part == ">" and index == len(wanted) - 1:
            return len(actual) > index
        if index >= len(actual) or (part != "*" and part != actual[index]):
            return False
    return len(actual) == len(wanted)


class Subscription(ABC):
    """A live subscription; call ``unsubscribe()`` to stop delivery."""

    pattern: str
    durable: str | None

    @abstractmethod
    async def unsubscribe(self) -> None:
        """Stop delivering events to this subscription's handler."""


class EventBus(ABC):
    """Publish events and subscribe handlers; the same interface in-process or over NATS."""

    @abstractmethod
    async def connect(self) -> None:
        """Get ready to publish and subscribe (a no-op for the in-process bus)."""

    @abstractmethod
    async def publish(
        self, subject: str, data: Mapping[str, Any] | None = None, *, event_id: str | None = None
    ) -> Event:
        """Publish an event; reuse ``event_id`` when retrying so subscribers see it only once."""

    @abstractmethod
    async def subscribe(
        self, subject_pattern: str, handler: Handler, durable: str | None = None
    ) -> Subscription:
        """Call ``handler`` for each matching event, in publish order per subscription.

        Without ``durable`` only events published from now on are delivered. With a durable
        name (on NATS), events published while no subscriber was connected are delivered
        when one returns, and processes sharing the name share the work. A handler that
        raises is logged; on NATS its event is retried later, so order is best effort then.
        """

    @abstractmethod
    async def close(self) -> None:
        """Stop all subscriptions and release connections."""

    async def __aenter__(self) -> EventBus:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def _make_event(subject: str, data: Mapping[str, Any] | None, event_id: str | None) -> Event:
    """Validate and build an event whose data survives a JSON round trip unchanged."""
    validate_subject(subject)
    if event_id is not None and not _NAME.fullmatch(event_id):
        raise ValueError(f"event_id must be letters, digits, '-' or '_', not {event_id!r}")
    draft = Event(subject, dict(data or {}), event_id or _new_event_id())
    return Event.decode(draft.encode())


def _validate_durable(durable: str | None) -> None:
    if durable is not None and not _NAME.fullmatch(durable):
        raise ValueError(
            f"durable name must be letters, digits, '-' or '_' (no dots or spaces): {durable!r}"
        )


async def _run_handler(handler: Handler, event: Event, pattern: str) -> bool:
    """Call a handler, logging (not raising) its failure; True if it succeeded."""
    try:
        await handler(event)
    except Exception:
        logger.exception(
            "event handler failed",
            subject=event.subject,
            event_id=event.id,
            pattern=pattern,
            handler=getattr(handler, "__qualname__", repr(handler)),
        )
        return False
    return True


class _MemorySubscription(Subscription):
    """One queue and one worker task per subscriber, so each sees events in publish order."""

    def __init__(self, bus: InMemoryEventBus, pattern: str, handler: Handler) -> None:
        self.pattern = pattern
        self.durable = None
        self._bus = bus
        self._handler = handler
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._pending = 0
        self._stopped = False
        self._task = asyncio.create_task(self._run(), name=f"peel-events:{pattern}")

    @property
    def idle(self) -> bool:
        return self._pending == 0

    def deliver(self, event: Event) -> None:
        self._pending += 1
        self._queue.put_nowait(event)

    async def join(self) -> None:
        await self._queue.join()

    async def _run(self) -> None:
        while not self._stopped:
            event = await self._queue.get()
            try:
                await _run_handler(self._handler, event, self.pattern)
            finally:
                self._done()

    def _done(self) -> None:
        self._pending -= 1
        self._queue.task_done()

    async def unsubscribe(self) -> None:
        self._bus._remove(self)
        self._stopped = True
        if asyncio.current_task() is not self._task:  # from its own handler: let that finish
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        while not self._queue.empty():
            self._queue.get_nowait()
            self._done()


class InMemoryEventBus(EventBus):
    """Delivers events to handlers in this process only (development, tests, one server).

    Nothing outlives the process: durable names are accepted but have nothing to resume,
    and a failed handler's event is not retried. ``drain()`` waits for delivery in tests.
    """

    def __init__(self, dedup_window: int = 10_000) -> None:
        self._subscriptions: list[_MemorySubscription] = []
        self._recent_ids: OrderedDict[str, None] = OrderedDict()
        self._dedup_window = dedup_window

    async def connect(self) -> None:
        return None

    async def publish(
        self, subject: str, data: Mapping[str, Any] | None = None, *, event_id: str | None = None
    ) -> Event:
        event = _make_event(subject, data, event_id)
        if event.id in self._recent_ids:
            return event
        self._recent_ids[event.id] = None
        if len(self._recent_ids) > self._dedup_window:
            self._recent_ids.popitem(last=False)
        for subscription in list(self._subscriptions):
            if subject_matches(subscription.pattern, event.subject):
                subscription.deliver(event)
        return event

    async def subscribe(
        self, subject_pattern: str, handler: Handler, durable: str | None = None
    ) -> Subscription:
        validate_pattern(subject_pattern)
        _validate_durable(durable)
        subscription = _MemorySubscription(self, subject_pattern, handler)
        self._subscriptions.append(subscription)
        return subscription

    async def drain(self) -> None:
        """Wait until every event published so far (and any they cause) has been handled."""
        while not all(sub.idle for sub in self._subscriptions):
            await asyncio.gather(*(sub.join() for sub in list(self._subscriptions)))

    async def close(self) -> None:
        for subscription in list(self._subscriptions):
            await subscription.unsubscribe()

    def _remove(self, subscription: _MemorySubscription) -> None:
        with contextlib.suppress(ValueError):
            self._subscriptions.remove(subscription)


ACK_WAIT_SECONDS = 60.0
MAX_DELIVER = 5
MAX_ACK_PENDING = 1000


def _retry_delay(msg: Msg) -> float:
    """Back off 2, 4, 8... seconds (at most 60) before redelivering a failed event."""
    try:
        attempts = msg.metadata.num_delivered or 1
    except (nats.errors.Error, ValueError, AttributeError):
        attempts = 1
    return float(min(2**attempts, 60))


async def _settle(action: Awaitable[object], event_id: str | None) -> None:
    """Ack/nak/term a message; if the connection dropped, JetStream redelivers anyway."""
    try:
        await action
    except (nats.errors.Error, TimeoutError) as exc:
        logger.warning("could not acknowledge event", event_id=event_id, error=str(exc))


class _NatsSubscription(Subscription):
    """A JetStream push consumer whose messages are decoded, handled, then acknowledged."""

    def __init__(
        self, bus: NatsEventBus, pattern: str, handler: Handler, durable: str | None
    ) -> None:
        self.pattern = pattern
        self.durable = durable
        self.consumer = durable or f"peel-{_new_event_id()}"
        self._bus = bus
        self._handler = handler
        self._sub: JetStreamContext.PushSubscription | None = None

    async def on_message(self, msg: Msg) -> None:
        try:
            event = Event.decode(msg.data)
        except ValueError as exc:
            logger.error("discarding a message that is not a Peel event", error=str(exc))
            await _settle(msg.term(), None)
            return
        if await _run_handler(self._handler, event, self.pattern):
            await _settle(msg.ack_sync(), event.id)
        else:
            await _settle(msg.nak(delay=_retry_delay(msg)), event.id)

    def bind(self, sub: JetStreamContext.PushSubscription) -> None:
        self._sub = sub

    async def unsubscribe(self) -> None:
        self._bus._forget(self)
        sub, self._sub = self._sub, None
        if sub is None:
            return
        with contextlib.suppress(nats.errors.Error):
            await sub.unsubscribe()
        if self.durable is None:
            await self._bus._delete_consumer(self.consumer)


class NatsEventBus(EventBus):
    """Events through a NATS JetStream stream, so several Peel processes share them.

    ``subject_prefix`` replaces the leading ``peel`` token on the wire (``peel.anpr.alert``
    is sent as ``<prefix>.anpr.alert``) so separate deployments or test runs can share one
    NATS server; handlers always see ``peel.`` subjects. Publishing carries a
    ``Nats-Msg-Id`` header, so JetStream drops a retried publish with the same event id.
    A failed handler's event is redelivered with back-off, at most ``MAX_DELIVER`` times.
    """

    def __init__(
        self,
        url: str,
        stream: str = "PEEL",
        subject_prefix: str = SUBJECT_ROOT,
        connect_timeout: float = 5.0,
    ) -> None:
        for label, value in (("stream", stream), ("subject_prefix", subject_prefix)):
            if not _NAME.fullmatch(value):
                raise ValueError(f"NATS {label} must be letters, digits, '-' or '_': {value!r}")
        self.url = url
        self.stream = stream
        self.subject_prefix = subject_prefix
        self.connect_timeout = connect_timeout
        self._nc: NatsClient | None = None
        self._js: JetStreamContext | None = None
        self._subscriptions: list[_NatsSubscription] = []

    def _to_wire(self, subject: str) -> str:
        return self.subject_prefix + subject[len(SUBJECT_ROOT) :]

    def _require_js(self) -> JetStreamContext:
        if self._js is None:
            raise EventBusError("the NATS event bus is not connected; call connect() first")
        return self._js

    async def connect(self) -> None:
        if self._nc is not None:
            return
        nc = await self._open_connection()
        try:
            self._js = nc.jetstream()
            await self._ensure_stream(self._js)
        except BaseException:
            self._js = None
            await nc.close()
            raise
        self._nc = nc

    async def _open_connection(self) -> NatsClient:
        """Connect within ``connect_timeout``, then keep reconnecting if the link drops later."""
        errors: list[str] = []

        async def on_error(exc: Exception) -> None:
            errors.append(str(exc) or type(exc).__name__)
            logger.warning("NATS connection problem", url=self.url, error=errors[-1])

        try:
            return await asyncio.wait_for(
                nats.connect(
                    self.url,
                    name="peel",
                    error_cb=on_error,
                    connect_timeout=max(1, int(self.connect_timeout)),
                    reconnect_time_wait=1,
                    max_reconnect_attempts=-1,
                ),
                timeout=self.connect_timeout,
            )
        except (OSError, TimeoutError, nats.errors.Error) as exc:
            reason = errors[-1] if errors else str(exc) or type(exc).__name__
            raise EventBusUnavailable(
                f"cannot reach NATS at {self.url}: {reason} (is nats-server running with -js, "
                "and is PEEL_NATS_URL right?)"
            ) from exc

    async def _ensure_stream(self, js: JetStreamContext) -> None:
        """Create the stream for ``<prefix>.>``, or point an existing one at it."""
        subjects = [f"{self.subject_prefix}.>"]
        try:
            try:
                info = await js.stream_info(self.stream)
            except nats.js.errors.NotFoundError:
                await js.add_stream(name=self.stream, subjects=subjects)
                return
            if info.config.subjects != subjects:
                info.config.subjects = subjects
                await js.update_stream(info.config)
        except nats.errors.NoRespondersError as exc:
            raise EventBusUnavailable(
                f"NATS at {self.url} has no JetStream; start nats-server with -js"
            ) from exc
        except nats.js.errors.APIError as exc:
            raise EventBusError(
                f"cannot set up JetStream stream {self.stream!r} for {subjects[0]}: "
                f"{exc.description} (another stream may already own these subjects)"
            ) from exc

    async def publish(
        self, subject: str, data: Mapping[str, Any] | None = None, *, event_id: str | None = None
    ) -> Event:
        event = _make_event(subject, data, event_id)
        js = self._require_js()
        try:
            await js.publish(
                self._to_wire(event.subject),
                event.encode(),
                stream=self.stream,
                headers={"Nats-Msg-Id": event.id},
            )
        except (nats.errors.NoRespondersError, nats.errors.TimeoutError, TimeoutError) as exc:
            raise EventBusUnavailable(
                f"NATS at {self.url} did not store {event.subject} (event {event.id}); "
                "retry with the same event_id"
            ) from exc
        except nats.errors.Error as exc:
            raise EventBusError(f"publishing {event.subject} failed: {exc}") from exc
        return event

    async def subscribe(
        self, subject_pattern: str, handler: Handler, durable: str | None = None
    ) -> Subscription:
        validate_pattern(subject_pattern)
        _validate_durable(durable)
        js = self._require_js()
        subscription = _NatsSubscription(self, subject_pattern, handler, durable)
        try:
            info = await self._consumer_for(js, subscription)
            sub = await js.subscribe_bind(
                stream=self.stream,
                config=info.config,
                consumer=info.name,
                cb=subscription.on_message,
                manual_ack=True,
            )
        except nats.errors.Error as exc:
            raise EventBusError(f"cannot subscribe to {subject_pattern}: {exc}") from exc
        subscription.bind(sub)
        self._subscriptions.append(subscription)
        return subscription

    async def _consumer_for(
        self, js: JetStreamContext, subscription: _NatsSubscription
    ) -> js_api.ConsumerInfo:
        """Find or create the JetStream consumer behind a subscription."""
        wire = self._to_wire(subscription.pattern)
        name = subscription.consumer
        if subscription.durable:
            with contextlib.suppress(nats.js.errors.NotFoundError):
                info = await js.consumer_info(self.stream, name)
                if info.config.filter_subject != wire:
                    raise EventBusError(
                        f"durable subscriber {name!r} already follows "
                        f"{info.config.filter_subject}, not {wire}; use another durable name"
                    )
                return info
        config = js_api.ConsumerConfig(
            name=name,
            durable_name=subscription.durable,
            deliver_subject=f"_PEEL_DELIVER.{self.stream}.{name}",
            deliver_group=subscription.durable,
            deliver_policy=js_api.DeliverPolicy.NEW,
            ack_policy=js_api.AckPolicy.EXPLICIT,
            ack_wait=ACK_WAIT_SECONDS,
            max_deliver=MAX_DELIVER,
            max_ack_pending=MAX_ACK_PENDING,
            filter_subject=wire,
        )
        return await js.add_consumer(self.stream, config)

    async def _delete_consumer(self, name: str) -> None:
        if self._js is None:
            return
        with contextlib.suppress(nats.errors.Error):
            await self._js.delete_consumer(self.stream, name)

    def _forget(self, subscription: _NatsSubscription) -> None:
        with contextlib.suppress(ValueError):
            self._subscriptions.remove(subscription)

    async def close(self) -> None:
        for subscription in list(self._subscriptions):
            await subscription.unsubscribe()
        nc, self._nc, self._js = self._nc, None, None
        if nc is not None and not nc.is_closed:
            with contextlib.suppress(nats.errors.Error):
                await nc.flush()
            await nc.close()


def event_bus_from_settings(settings: Settings) -> EventBus:
    """The event bus ``PEEL_EVENT_BUS`` selects (not yet connected)."""
    if settings.event_bus == EventBusKind.nats:
        return NatsEventBus(settings.nats_url)
    return InMemoryEventBus()

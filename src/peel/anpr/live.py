"""Live reads: check each against the hotlists, raise alerts at once, land reads in batches.

:class:`LiveIngest` (one per process, on ``app.state.anpr_live``) takes batches of reads from
the event bus (``settings.anpr_live_subject``, data ``{"reads": [...], "source": "..."}``) and
from the HTTP endpoint. For each batch it:

1. validates the rows with :func:`peel.anpr.ingest.prepare_reads` against the cameras table
   (cached; changes read every minute, or sooner when a read names an unknown camera);
2. drops reads it has already seen (recent ``read_id`` values are kept in memory; the Parquet
   store drops older repeats when it lands them);
3. matches every read against the in-memory :class:`~peel.anpr.hotlists.HotlistIndex`;
4. hands the alerts to this process's :class:`AlertBroadcaster` listeners (the SSE stream),
   publishes each as ``peel.anpr.alert`` on the event bus, then records them in one
   transaction in a worker thread (after delivery, so the thread does not slow it);
5. buffers the reads, which are appended to the :class:`~peel.anpr.store.ReadStore` every
   ``anpr_flush_seconds`` (or when 50,000 are waiting) with one ``AnprIngestBatch`` row per
   flush, and once more on shutdown.

A bus event is acknowledged only when step 4 is done for its reads; several are in flight at
once on NATS and those waiting are checked as one batch, so feeds that send one read per
message cost little more than feeds that batch. Reads are in memory until they are flushed.

Other processes' alerts arrive through the bus (``peel.anpr.alert``) and reach this process's
listeners too, so ``peel serve --workers N`` with NATS streams every alert to every browser.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import FrameType
from typing import Any

import pyarrow as pa
import structlog
from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from peel.anpr import ingest, plates
from peel.anpr.hotlists import LOAD_OVERLAP, HotlistIndex, Match
from peel.anpr.models import AnprAlert, AnprCamera, AnprIngestBatch
from peel.anpr.store import READ_SCHEMA, AppendResult, ReadStore, connect
from peel.core.config import Settings
from peel.core.db import new_id, utcnow, write_intent
from peel.core.enums import TLP
from peel.core.events import Event, EventBus, InMemoryEventBus, NatsEventBus, Subscription
from peel.core.policy import Labelled, can_view
from peel.core.principal import Principal

logger = structlog.get_logger(__name__)

ALERT_SUBJECT = "peel.anpr.alert"
#: Durable consumer name shared by every Peel process reading the live subject.
CONSUMER = "peel-anpr-live"
#: Feed events a process handles at once on NATS (their acknowledgements overlap).
CONSUMER_CONCURRENCY = 16
#: Reads from waiting feed events checked together in one batch, at most.
INTAKE_MAX_ROWS = 10_000
#: Flush before the next tick when this many reads are waiting.
MAX_BUFFER_ROWS = 50_000
#: Read ids remembered to drop repeats (about two minutes at 2,000 reads a second).
SEEN_CAPACITY = 250_000
CAMERA_REFRESH_SECONDS = 60.0
#: A read naming an unknown camera reloads the cameras at most this often.
CAMERA_RETRY_SECONDS = 5.0
#: Batches larger than this are validated in a worker thread rather than on the event loop.
INLINE_ROWS = 500
MAX_PROBLEMS_KEPT = 100
#: Buffered tables joined into one as they arrive (feeds often send one read at a time).
CONSOLIDATE_TABLES = 64
#: DuckDB threads a flush may use (alert delivery needs a core while reads land).
FLUSH_THREADS = 1
MAX_SOURCE = 300


# --- what an alert looks like on the bus and in the browser ---------------------------------


@dataclass(frozen=True)
class CameraInfo:
    name: str
    lat: float | None
    lon: float | None
    owner_org_id: str


@dataclass(frozen=True)
class AlertMessage:
    """One alert as the event bus and the live stream carry it."""

    id: str
    entry_id: str
    read_id: str
    plate: str
    plate_read: str
    camera_id: str
    camera_name: str
    lat: float | None
    lon: float | None
    read_at: datetime
    match: str
    priority: int
    owner_org_id: str
    tlp: TLP
    reason: str
    list_name: str
    created_at: datetime

    @property
    def labelled(self) -> Labelled:
        return Labelled(owner_org_id=self.owner_org_id, tlp=self.tlp)

    def bus_data(self, origin: str = "") -> dict[str, Any]:
        """The ``peel.anpr.alert`` event data (the bus is internal to the platform)."""
        return {
            "alert_id": self.id,
            "entry_id": self.entry_id,
            "read_id": self.read_id,
            "plate": self.plate,
            "plate_read": self.plate_read,
            "camera_id": self.camera_id,
            "camera_name": self.camera_name,
            "lat": self.lat,
            "lon": self.lon,
            "read_at": self.read_at.isoformat(),
            "match": self.match,
            "priority": self.priority,
            "owner_org_id": self.owner_org_id,
            "tlp": self.tlp.value,
            "reason": self.reason,
            "list_name": self.list_name,
            "created_at": self.created_at.isoformat(),
            "origin": origin,
        }

    @classmethod
    def from_bus(cls, data: Mapping[str, Any]) -> AlertMessage:
        """Rebuild an alert from event data; KeyError/ValueError if it is not one."""
        return cls(
            id=str(data["alert_id"]),
            entry_id=str(data["entry_id"]),
            read_id=str(data.get("read_id") or ""),
            plate=str(data["plate"]),
            plate_read=str(data.get("plate_read") or data["plate"]),
            camera_id=str(data["camera_id"]),
            camera_name=str(data.get("camera_name") or data["camera_id"]),
            lat=_float_or_none(data.get("lat")),
            lon=_float_or_none(data.get("lon")),
            read_at=datetime.fromisoformat(str(data["read_at"])),
            match=str(data["match"]),
            priority=int(data["priority"]),
            owner_org_id=str(data["owner_org_id"]),
            tlp=TLP(data["tlp"]),
            reason=str(data.get("reason") or ""),
            list_name=str(data.get("list_name") or ""),
            created_at=datetime.fromisoformat(str(data.get("created_at") or data["read_at"])),
        )

    def view(self) -> dict[str, Any]:
        """What the alert list and map show (the shape of :func:`peel.anpr.pages.alert_view`)."""
        return {
            "id": self.id,
            "entry_id": self.entry_id,
            "read_id": self.read_id,
            "plate": self.plate,
            "plate_display": plates.display(self.plate),
            "plate_read": self.plate_read,
            "camera_id": self.camera_id,
            "camera_name": self.camera_name,
            "lat": self.lat,
            "lon": self.lon,
            "read_at": self.read_at.isoformat(),
            "read_at_text": self.read_at.astimezone(UTC).strftime("%d %b %Y %H:%M:%S"),
            "match": self.match,
            "priority": self.priority,
            "reason": self.reason,
            "list_name": self.list_name,
            "tlp": self.tlp.value,
            "acknowledged": False,
            "outcome": "",
            "created_at": self.created_at.isoformat(),
        }


def _float_or_none(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number else None  # NaN is no position


def alert_message(alert: AnprAlert, camera: CameraInfo | None) -> AlertMessage:
    """An alert row (with its entry) as the stream sends it."""
    entry = alert.entry
    return AlertMessage(
        id=alert.id,
        entry_id=alert.hotlist_entry_id,
        read_id=alert.read_id,
        plate=alert.plate,
        plate_read=alert.plate_read,
        camera_id=alert.camera_id,
        camera_name=camera.name if camera else alert.camera_id,
        lat=camera.lat if camera else None,
        lon=camera.lon if camera else None,
        read_at=alert.read_at,
        match=alert.match,
        priority=alert.priority,
        owner_org_id=alert.owner_org_id,
        tlp=TLP(alert.tlp),
        reason=entry.reason if entry else "",
        list_name=entry.list_name if entry else "",
        created_at=alert.created_at,
    )


# --- fan-out to live listeners ---------------------------------------------------------------


class AlertListener:
    """One open live stream: the alerts its principal may see, in order."""

    def __init__(self, broadcaster: AlertBroadcaster, principal: Principal, size: int) -> None:
        self.principal = principal
        self._broadcaster = broadcaster
        self._queue: asyncio.Queue[AlertMessage | None] = asyncio.Queue(maxsize=size)
        self.closed = False

    def offer(self, alert: AlertMessage) -> bool:
        """Queue an alert if this listener may view it; a listener that falls behind is ended."""
        if self.closed or not can_view(self.principal, alert.labelled):
            return False
        try:
            self._queue.put_nowait(alert)
        except asyncio.QueueFull:
            logger.warning("live alert listener fell behind; ending its stream")
            self.close()
            return False
        return True

    async def get(self) -> AlertMessage | None:
        """The next alert, waiting for one; None once the stream has ended."""
        if self.closed and self._queue.empty():
            return None
        return await self._queue.get()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._broadcaster._remove(self)
        try:
            self._queue.put_nowait(None)
        except asyncio.QueueFull:  # a stream ended for falling behind: drop one for the marker
            self._queue.get_nowait()
            self._queue.put_nowait(None)


class AlertBroadcaster:
    """Sends each alert, once, to every open listener whose principal may view it."""

    def __init__(self, queue_size: int = 1000, remember: int = 10_000) -> None:
        self.queue_size = queue_size
        self._listeners: set[AlertListener] = set()
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._remember = remember
        self.closed = False

    def __len__(self) -> int:
        return len(self._listeners)

    def listen(self, principal: Principal) -> AlertListener:
        """Open a listener (call from the event loop); ``close()`` it when the client goes."""
        listener = AlertListener(self, principal, self.queue_size)
        if self.closed:
            listener.close()
        else:
            self._listeners.add(listener)
        return listener

    def publish(self, alert: AlertMessage) -> int:
        """Offer an alert to every listener; returns how many received it."""
        if alert.id in self._recent:
            return 0
        self._recent[alert.id] = None
        if len(self._recent) > self._remember:
            self._recent.popitem(last=False)
        return sum(listener.offer(alert) for listener in list(self._listeners))

    def reopen(self) -> None:
        """Accept listeners again (the app is starting again)."""
        self.closed = False

    def close(self) -> None:
        """End every stream (the server is stopping)."""
        self.closed = True
        for listener in list(self._listeners):
            listener.close()

    def _remove(self, listener: AlertListener) -> None:
        self._listeners.discard(listener)


# --- state kept between batches -------------------------------------------------------------


class RecentReads:
    """The last ``capacity`` read ids, to drop a repeated read before it raises an alert."""

    def __init__(self, capacity: int = SEEN_CAPACITY) -> None:
        self.capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, read_id: object) -> bool:
        return read_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, read_ids: Sequence[str]) -> None:
        for read_id in read_ids:
            self._ids[read_id] = None
        while len(self._ids) > self.capacity:
            self._ids.popitem(last=False)

    def forget(self, read_ids: Sequence[str]) -> None:
        for read_id in read_ids:
            self._ids.pop(read_id, None)


@dataclass
class _Buffer:
    """Reads waiting to land in Parquet: one AnprIngestBatch when flushed."""

    channel: str
    owner_org_id: str | None
    batch_id: str = field(default_factory=new_id)
    #: Reads as a few large tables (many one-read tables make Arrow and DuckDB slow).
    tables: list[pa.Table] = field(default_factory=list)
    recent: list[pa.Table] = field(default_factory=list)
    rows: int = 0
    rows_read: int = 0
    rows_rejected: int = 0
    duplicates: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)
    sources: set[str] = field(default_factory=set)
    created_by: set[str] = field(default_factory=set)

    def add(
        self,
        table: pa.Table,
        rows_read: int,
        rejected: int,
        duplicates: int,
        problems: list[dict[str, Any]],
    ) -> None:
        if table.num_rows:
            self.recent.append(table)
            self.rows += table.num_rows
            if len(self.recent) >= CONSOLIDATE_TABLES:
                self.tables.append(pa.concat_tables(self.recent).combine_chunks())
                self.recent = []
        self.rows_read += rows_read
        self.rows_rejected += rejected
        self.duplicates += duplicates
        room = MAX_PROBLEMS_KEPT - len(self.problems)
        if room > 0:
            self.problems.extend(problems[:room])

    def note(self, source_name: str, actor_name: str) -> None:
        if source_name:
            self.sources.add(source_name[:MAX_SOURCE])
        if actor_name:
            self.created_by.add(actor_name[:MAX_SOURCE])

    def merge(self, older: _Buffer) -> None:
        """Put back a buffer whose flush failed, ahead of what arrived since."""
        self.tables[:0] = older.tables + older.recent
        self.rows += older.rows
        self.rows_read += older.rows_read
        self.rows_rejected += older.rows_rejected
        self.duplicates += older.duplicates
        self.problems[:0] = older.problems
        del self.problems[MAX_PROBLEMS_KEPT:]
        self.sources |= older.sources
        self.created_by |= older.created_by


@dataclass(frozen=True)
class FlushResult:
    batch_id: str
    channel: str
    rows_read: int
    rows_landed: int
    rows_duplicate: int
    rows_rejected: int


@dataclass(frozen=True)
class SubmitResult:
    """What happened to one batch: reads accepted (including repeats), refused, alerts raised."""

    accepted: int
    rejected: int
    problems: list[dict[str, Any]]
    alerts: list[AlertMessage]
    duplicates: int = 0


@dataclass(frozen=True)
class _Pending:
    """A feed event waiting to be submitted with others; ``done`` resolves when it has been."""

    rows: list[dict[str, Any]]
    source: str
    subject: str
    done: asyncio.Future[None] | None


@dataclass(frozen=True)
class _Hit:
    row: int
    match: Match


class _Cameras:
    """Active cameras from the database: changes every minute, everything now and then.

    A read naming an unknown camera brings the changes in sooner (at most every few
    seconds), so a camera imported a moment ago is known to its first read.
    """

    FULL_RELOAD_SECONDS = 900.0

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self.by_id: dict[str, ingest.KnownCamera] = {}
        self.info: dict[str, CameraInfo] = {}
        self._owned: dict[str, dict[str, ingest.KnownCamera]] = {}
        self.loaded_at = float("-inf")
        self._full_at = float("-inf")
        self._since: datetime | None = None
        self._lock = asyncio.Lock()

    @property
    def age(self) -> float:
        return time.monotonic() - self.loaded_at

    async def refresh(self, older_than: float) -> None:
        async with self._lock:
            if self.age > older_than:
                full = time.monotonic() - self._full_at > self.FULL_RELOAD_SECONDS
                await asyncio.to_thread(self._load, full or self._since is None)

    def _load(self, full: bool) -> None:
        now = utcnow()
        stmt = select(
            AnprCamera.id,
            AnprCamera.name,
            AnprCamera.lat,
            AnprCamera.lon,
            AnprCamera.owner_org_id,
            AnprCamera.active,
        )
        if not full and self._since is not None:
            stmt = stmt.where(AnprCamera.updated_at >= self._since - LOAD_OVERLAP)
        token = write_intent.set(False)
        try:
            with self._sessions() as session:
                rows = session.execute(stmt).all()
                session.rollback()
        finally:
            write_intent.reset(token)
        by_id = {} if full else dict(self.by_id)
        info = {} if full else dict(self.info)
        for row in rows:
            if not row.active:
                by_id.pop(row.id, None)
                info.pop(row.id, None)
                continue
            lat, lon = float(row.lat), float(row.lon)
            by_id[row.id] = ingest.KnownCamera(row.id, row.owner_org_id, lat, lon)
            info[row.id] = CameraInfo(row.name, lat, lon, row.owner_org_id)
        if full or rows:
            self.by_id, self.info, self._owned = by_id, info, {}
        self._since, self.loaded_at = now, time.monotonic()
        if full:
            self._full_at = self.loaded_at

    def owned_by(self, org_id: str | None) -> dict[str, ingest.KnownCamera]:
        """Every camera, or only one force's (what its back office may report reads for)."""
        if org_id is None:
            return self.by_id
        if org_id not in self._owned:
            self._owned[org_id] = {
                cid: cam for cid, cam in self.by_id.items() if cam.owner_org_id == org_id
            }
        return self._owned[org_id]


# --- the live ingest ------------------------------------------------------------------------


class LiveIngest:
    """Live reads in, alerts out within milliseconds, reads landed in Parquet in batches."""

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        bus: EventBus,
        store: ReadStore,
        *,
        index: HotlistIndex | None = None,
        broadcaster: AlertBroadcaster | None = None,
        max_buffer_rows: int = MAX_BUFFER_ROWS,
        seen_capacity: int = SEEN_CAPACITY,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.bus = bus
        self.store = store
        self.index = index or HotlistIndex(sessions)
        self.broadcaster = broadcaster or AlertBroadcaster()
        self.max_buffer_rows = max_buffer_rows
        self.instance = uuid.uuid4().hex
        self.seen = RecentReads(seen_capacity)
        #: Milliseconds from a batch arriving to its alerts reaching listeners and the bus.
        self.alert_latencies_ms: deque[float] = deque(maxlen=10_000)
        self.flushes: deque[FlushResult] = deque(maxlen=100)
        self._cameras = _Cameras(sessions)
        self._buffers: dict[tuple[str, str | None], _Buffer] = {}
        self._flush_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._subscriptions: list[Subscription] = []
        self._flush_loop: asyncio.Task[None] | None = None
        self._unwritten: list[AlertMessage] = []
        self._intake: asyncio.Queue[_Pending | None] = asyncio.Queue()
        self._intake_task: asyncio.Task[None] | None = None
        self._reloading: asyncio.Task[int] | None = None
        self._restore_signals: Callable[[], None] | None = None
        self.running = False
        self._starts = 0
        #: Seconds between keep-alive comments on the live stream.
        self.heartbeat_seconds = 15.0
        #: The time hotlist expiry is judged at (replaceable in tests).
        self.clock: Callable[[], datetime] = utcnow

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self, consume: bool | None = None, handle_exit_signals: bool = False) -> None:
        """Follow the live subject and other processes' alerts; flush on a timer.

        ``consume`` defaults to following the bus only when it reaches other processes (NATS):
        nothing outside this process can publish on the in-process bus. ``handle_exit_signals``
        ends open live streams on SIGINT/SIGTERM, so a server that waits for its connections
        to close before it shuts down is not held open by them. Starting again while running
        (a second lifespan of the same app) only counts; the last :meth:`stop` stops.
        """
        self._starts += 1
        if self._starts > 1:
            return
        self.running = True
        self.broadcaster.reopen()
        if consume is None:
            consume = not isinstance(self.bus, InMemoryEventBus)
        if consume:
            self._intake = asyncio.Queue()
            self._intake_task = asyncio.create_task(self._take_intake(), name="peel-anpr-intake")
            copies = CONSUMER_CONCURRENCY if isinstance(self.bus, NatsEventBus) else 1
            for _ in range(copies):  # a queue group: NATS shares the events among them
                self._subscriptions.append(
                    await self.bus.subscribe(
                        self.settings.anpr_live_subject, self.on_reads_event, durable=CONSUMER
                    )
                )
            self._subscriptions.append(await self.bus.subscribe(ALERT_SUBJECT, self.on_alert_event))
        self._flush_loop = asyncio.create_task(self._flush_every(), name="peel-anpr-flush")
        if handle_exit_signals:
            self._restore_signals = _end_streams_on_exit(self.broadcaster)

    async def stop(self) -> None:
        """Stop taking reads, land everything buffered, and end the live streams."""
        self._starts = max(0, self._starts - 1)
        if self._starts > 0:
            return
        if self._restore_signals is not None:
            self._restore_signals()
            self._restore_signals = None
        for subscription in self._subscriptions:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()
        self._subscriptions.clear()
        loop = asyncio.get_running_loop()
        if self._intake_task is not None:
            self._intake.put_nowait(None)  # finish what has arrived, then end
            if self._intake_task.get_loop() is loop:
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await self._intake_task
            else:
                self._intake_task.cancel()
            self._intake_task = None
        if self._flush_loop is not None:
            self._flush_loop.cancel()
            if self._flush_loop.get_loop() is loop:
                with contextlib.suppress(asyncio.CancelledError):
                    await self._flush_loop
            self._flush_loop = None
        for task in [t for t in self._tasks if t.get_loop() is loop]:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await task
        await self.flush()
        self.broadcaster.close()
        self.running = False

    async def _flush_every(self) -> None:
        while True:
            await asyncio.sleep(self.settings.anpr_flush_seconds)
            try:
                await self.flush()
            except Exception:
                logger.exception("flushing live ANPR reads failed; they stay buffered")

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --- event bus --------------------------------------------------------------------------

    async def on_reads_event(self, event: Event) -> None:
        """A batch from a camera feed: ``{"reads": [...], "source": "..."}``.

        Returns once its reads are matched, their alerts recorded and the reads buffered, so
        the bus acknowledges the event only then. Events arriving together (several are in
        flight at once on NATS) are checked as one batch, which keeps the cost per event low
        when feeds send one read per message.
        """
        reads = event.data.get("reads")
        if not isinstance(reads, list):
            logger.warning("live reads event without a reads list", event_id=event.id)
            return
        rows = [r if isinstance(r, dict) else {} for r in reads]
        source = str(event.data.get("source") or event.subject)[:MAX_SOURCE]
        if self._intake_task is None or self._intake_task.done():
            await self._submit_group([_Pending(rows, source, event.subject, None)])
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._intake.put_nowait(_Pending(rows, source, event.subject, done))
        await done

    async def _take_intake(self) -> None:
        """Submit waiting feed events together, as many as have arrived (up to a limit)."""
        ending = False
        while not ending:
            first = await self._intake.get()
            if first is None:
                return
            group, rows = [first], len(first.rows)
            while rows < INTAKE_MAX_ROWS and not self._intake.empty():
                item = self._intake.get_nowait()
                if item is None:
                    ending = True
                    break
                group.append(item)
                rows += len(item.rows)
            try:
                await self._submit_group(group)
            except Exception as exc:
                for item in group:
                    if item.done is not None and not item.done.done():
                        item.done.set_exception(exc)
            else:
                for item in group:
                    if item.done is not None and not item.done.done():
                        item.done.set_result(None)

    async def _submit_group(self, group: list[_Pending]) -> None:
        rows = [row for item in group for row in item.rows]
        sources = ", ".join(sorted({item.source for item in group}))[:MAX_SOURCE]
        subjects = ", ".join(sorted({item.subject for item in group}))
        result = await self.submit(rows, "live", sources, f"bus:{subjects}"[:MAX_SOURCE])
        if result.rejected:
            logger.info(
                "live reads refused",
                sources=sources,
                rejected=result.rejected,
                first=result.problems[:1],
            )

    async def on_alert_event(self, event: Event) -> None:
        """Another process's alert: pass it to this process's listeners."""
        if event.data.get("origin") == self.instance:
            return
        try:
            alert = AlertMessage.from_bus(event.data)
        except (KeyError, ValueError, TypeError) as exc:
            logger.warning("ignoring a malformed alert event", event_id=event.id, error=str(exc))
            return
        self.broadcaster.publish(alert)

    # --- one batch --------------------------------------------------------------------------

    async def submit(
        self,
        rows: list[dict[str, Any]],
        channel: str = "live",
        source_name: str = "",
        actor_name: str = "",
        owner_org_id: str | None = None,
    ) -> SubmitResult:
        """Validate, match and buffer a batch; record and send its alerts before returning.

        ``owner_org_id`` limits the reads to that force's cameras (the HTTP endpoint passes
        the caller's force); live feeds on the bus may report any camera.
        """
        received = time.perf_counter()
        table, problems = await self._prepare(rows, owner_org_id)
        fresh, duplicates = self._drop_repeats(table)
        await self._ensure_index()
        alerts = self._alerts_for(fresh, self._match(fresh))
        self.seen.add(fresh.column("read_id").to_pylist() if fresh.num_rows else [])
        buffer = self._buffer_for(channel, owner_org_id)
        buffer.add(fresh, len(rows), len(rows) - table.num_rows, duplicates, problems)
        buffer.note(source_name, actor_name)
        self._flush_if_full()
        if alerts:
            await self._deliver(alerts, received)
        return SubmitResult(
            accepted=table.num_rows,
            rejected=len(rows) - table.num_rows,
            problems=problems,
            alerts=alerts,
            duplicates=duplicates,
        )

    async def _prepare(
        self, rows: list[dict[str, Any]], owner_org_id: str | None
    ) -> tuple[pa.Table, list[dict[str, Any]]]:
        await self._cameras.refresh(CAMERA_REFRESH_SECONDS)
        table, problems = await self._validate(rows, owner_org_id)
        if any(p.get("field") == "camera_id" for p in problems):
            before = self._cameras.by_id
            await self._cameras.refresh(CAMERA_RETRY_SECONDS)
            if self._cameras.by_id is not before:
                table, problems = await self._validate(rows, owner_org_id)
        return table, problems

    async def _validate(
        self, rows: list[dict[str, Any]], owner_org_id: str | None
    ) -> tuple[pa.Table, list[dict[str, Any]]]:
        cameras = self._cameras.owned_by(owner_org_id)
        if len(rows) <= INLINE_ROWS:
            table, problems = ingest.prepare_reads(rows, cameras, batch_id="live")
        else:
            table, problems = await asyncio.to_thread(
                ingest.prepare_reads, rows, cameras, batch_id="live"
            )
        return table, [dict(p) for p in problems]

    def _drop_repeats(self, table: pa.Table) -> tuple[pa.Table, int]:
        """The reads not seen before (in this batch or recently), and how many were repeats."""
        if not table.num_rows:
            return table, 0
        keep: list[bool] = []
        here: set[str] = set()
        for read_id in table.column("read_id").to_pylist():
            new = read_id not in here and read_id not in self.seen
            here.add(read_id)
            keep.append(new)
        dropped = keep.count(False)
        return (table.filter(pa.array(keep)) if dropped else table), dropped

    async def _ensure_index(self) -> None:
        """Reload the index now if a hotlist changed here; in the background if merely old."""
        if self.index.must_reload:
            await asyncio.to_thread(self.index.refresh)
        elif self.index.is_old and (self._reloading is None or self._reloading.done()):
            self._reloading = self._spawn(asyncio.to_thread(self.index.refresh), "peel-hotlists")

    def _match(self, table: pa.Table) -> list[_Hit]:
        if not table.num_rows or not len(self.index):
            return []
        now = self.clock()
        match = self.index.match
        found = []
        columns = zip(
            table.column("plate").to_pylist(), table.column("fuzzy").to_pylist(), strict=True
        )
        for row, (plate, fuzzy) in enumerate(columns):
            for hit in match(plate, fuzzy, now):
                found.append(_Hit(row, hit))
        return found

    def _alerts_for(self, table: pa.Table, hits: list[_Hit]) -> list[AlertMessage]:
        """One alert for each (read, entry) hit, labelled like the entry it matched."""
        if not hits:
            return []
        rows = sorted({h.row for h in hits})
        reads = dict(zip(rows, table.take(pa.array(rows)).to_pylist(), strict=True))
        created_at = utcnow()
        return [self._message(reads[hit.row], hit.match, created_at) for hit in hits]

    async def _deliver(self, alerts: list[AlertMessage], received: float) -> None:
        """Listeners at once, then the bus, then the database.

        The database write runs in a worker thread, which competes for the interpreter
        with the event loop; starting it only after the streams and the bus have the alert
        keeps it off their path.
        """
        for alert in alerts:
            self.broadcaster.publish(alert)
        results = await asyncio.gather(
            *(
                self.bus.publish(ALERT_SUBJECT, a.bus_data(self.instance), event_id=a.id)
                for a in alerts
            ),
            return_exceptions=True,
        )
        self.alert_latencies_ms.append((time.perf_counter() - received) * 1000)
        for alert, result in zip(alerts, results, strict=True):
            if isinstance(result, BaseException):
                logger.error(
                    "could not publish an ANPR alert", alert_id=alert.id, error=str(result)
                )
        await self._write_alerts(alerts)

    async def _write_alerts(self, alerts: list[AlertMessage]) -> None:
        """Record alerts in one transaction; on failure keep them and try again later."""
        pending, self._unwritten = self._unwritten + alerts, []
        if not pending:
            return
        try:
            await asyncio.to_thread(self._insert_alerts, pending)
        except Exception:
            logger.exception("could not record ANPR alerts; will try again", count=len(pending))
            self._unwritten = pending + self._unwritten

    def _insert_alerts(self, alerts: list[AlertMessage]) -> None:
        """Insert alert rows, leaving out any (read, entry) pair already recorded."""
        with self.sessions() as session, session.begin():
            done = {
                (row.read_id, row.hotlist_entry_id)
                for row in session.execute(
                    select(AnprAlert.read_id, AnprAlert.hotlist_entry_id).where(
                        AnprAlert.read_id.in_({a.read_id for a in alerts})
                    )
                )
            }
            rows = []
            for alert in alerts:
                if (alert.read_id, alert.entry_id) in done:
                    logger.info("alert already recorded by another process", read_id=alert.read_id)
                    continue
                done.add((alert.read_id, alert.entry_id))
                rows.append(
                    {
                        "id": alert.id,
                        "hotlist_entry_id": alert.entry_id,
                        "read_id": alert.read_id,
                        "camera_id": alert.camera_id,
                        "plate_read": alert.plate_read,
                        "plate": alert.plate,
                        "read_at": alert.read_at,
                        "match": alert.match,
                        "priority": alert.priority,
                        "owner_org_id": alert.owner_org_id,
                        "tlp": alert.tlp.value,
                        "created_at": alert.created_at,
                        "outcome": "",
                    }
                )
            if rows:
                session.execute(insert(AnprAlert), rows)

    def _message(self, read: dict[str, Any], match: Match, created_at: datetime) -> AlertMessage:
        camera = self._cameras.info.get(read["camera_id"])
        lat = _float_or_none(read.get("lat"))
        lon = _float_or_none(read.get("lon"))
        if (lat is None or lon is None) and camera is not None:
            lat, lon = camera.lat, camera.lon
        return AlertMessage(
            id=new_id(),
            entry_id=match.entry_id,
            read_id=read["read_id"],
            plate=read["plate"],
            plate_read=str(read["plate_raw"])[:32],
            camera_id=read["camera_id"],
            camera_name=camera.name if camera else read["camera_id"],
            lat=lat,
            lon=lon,
            read_at=read["read_at"],
            match=match.kind,
            priority=match.priority,
            owner_org_id=match.owner_org_id,
            tlp=match.tlp,
            reason=match.reason,
            list_name=match.list_name,
            created_at=created_at,
        )

    # --- buffering and flushing -------------------------------------------------------------

    def _buffer_for(self, channel: str, owner_org_id: str | None) -> _Buffer:
        key = (channel, owner_org_id)
        if key not in self._buffers:
            self._buffers[key] = _Buffer(channel, owner_org_id)
        return self._buffers[key]

    def _flush_if_full(self) -> None:
        if self.buffered_rows >= self.max_buffer_rows and not self._flush_lock.locked():
            self._spawn(self.flush(), "peel-anpr-flush-now")

    @property
    def buffered_rows(self) -> int:
        return sum(b.rows for b in self._buffers.values())

    async def flush(self) -> list[FlushResult]:
        """Append every buffered read to the store; one AnprIngestBatch row per buffer."""
        if self._unwritten:
            await self._write_alerts([])
        async with self._flush_lock:
            buffers, self._buffers = self._buffers, {}
            results: list[FlushResult] = []
            for key, buffer in buffers.items():
                if not buffer.rows_read:
                    continue
                try:
                    result = await asyncio.to_thread(self._land, buffer)
                except Exception:
                    logger.exception("could not land live reads; keeping them", rows=buffer.rows)
                    later = self._buffers.get(key)
                    if later is not None:
                        later.merge(buffer)
                    else:
                        self._buffers[key] = buffer
                    continue
                self.flushes.append(result)
                results.append(result)
            return results

    def _append(self, table: pa.Table) -> AppendResult:
        """Land reads with one DuckDB thread, leaving the other cores to the live path."""
        con = connect()
        try:
            con.execute(f"SET threads = {FLUSH_THREADS}")
            con.register("peel_live_reads", table.cast(READ_SCHEMA))
            return self.store.append_sql(con, "SELECT * FROM peel_live_reads")
        finally:
            con.close()

    def _land(self, buffer: _Buffer) -> FlushResult:
        landed = duplicate = 0
        if buffer.rows:
            table = pa.concat_tables(buffer.tables + buffer.recent).combine_chunks()
            position = table.schema.get_field_index("batch_id")
            table = table.set_column(
                position,
                table.schema.field(position),
                pa.array([buffer.batch_id] * table.num_rows, table.schema.field(position).type),
            )
            appended = self._append(table)
            landed, duplicate = appended.landed, appended.duplicate
        with self.sessions() as session, session.begin():
            existing = session.get(AnprIngestBatch, buffer.batch_id)
            batch = existing or AnprIngestBatch(id=buffer.batch_id)
            batch.channel = buffer.channel
            batch.source_name = ", ".join(sorted(buffer.sources))[:MAX_SOURCE]
            batch.owner_org_id = buffer.owner_org_id
            batch.rows_read = buffer.rows_read
            batch.rows_landed = landed + (existing.rows_landed if existing else 0)
            batch.rows_duplicate = duplicate + buffer.duplicates
            batch.rows_rejected = buffer.rows_rejected
            batch.problems = buffer.problems[:MAX_PROBLEMS_KEPT]
            batch.created_by = ", ".join(sorted(buffer.created_by))[:MAX_SOURCE]
            session.add(batch)
        return FlushResult(
            buffer.batch_id,
            buffer.channel,
            buffer.rows_read,
            landed,
            duplicate + buffer.duplicates,
            buffer.rows_rejected,
        )

    # --- for the SSE stream -----------------------------------------------------------------

    def camera_info(self, camera_id: str) -> CameraInfo | None:
        return self._cameras.info.get(camera_id)

    def latency_percentiles(self) -> dict[str, float]:
        """p50/p99/max of recent batch-to-alert times (ms), for operators and benchmarks."""
        values = sorted(self.alert_latencies_ms)
        if not values:
            return {}

        def at(share: float) -> float:
            return round(values[min(len(values) - 1, int(share * len(values)))], 2)

        return {"count": float(len(values)), "p50": at(0.5), "p99": at(0.99), "max": values[-1]}


def _end_streams_on_exit(broadcaster: AlertBroadcaster) -> Callable[[], None] | None:
    """Chain SIGINT/SIGTERM so they end the live streams first (main thread only).

    uvicorn waits for open connections to finish before it tells the application to shut
    down; an event stream never finishes by itself, so without this a server would wait.
    """
    if threading.current_thread() is not threading.main_thread():
        return None
    loop = asyncio.get_running_loop()
    previous: dict[int, Any] = {}

    def handler(signum: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(broadcaster.close)
        before = previous.get(signum)
        if callable(before):
            before(signum, frame)
        elif before == signal.SIG_DFL and signum == signal.SIGINT:
            raise KeyboardInterrupt

    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.getsignal(signum)
        signal.signal(signum, handler)

    def restore() -> None:
        for signum, before in previous.items():
            if signal.getsignal(signum) is handler and before is not None:
                signal.signal(signum, before)

    return restore

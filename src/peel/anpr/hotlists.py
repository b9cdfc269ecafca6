"""Hotlists: plates a force is looking for, the alerts they raise, and the in-memory index.

Entries and alerts are protected records (owning force + TLP label, AMBER by default): they
are fetched through :func:`peel.core.policy.access_record`, listed with ``visible_clause``,
and every change is audited in the caller's transaction. Only police officers, analysts and
supervisors (:func:`peel.anpr.service.can_use_anpr`) create, list or withdraw entries.

:class:`HotlistIndex` holds every active entry (not withdrawn, not expired) in two dicts, by
plate and by fuzzy key, so checking a read costs two dictionary look-ups. It is told to
refresh when a transaction that changed a hotlist commits in this process, and refreshes
every ``refresh_seconds`` to pick up other processes' changes (reading only entries created
or withdrawn since, so a refresh is cheap beside live traffic); expiry is checked at match
time.
"""

from __future__ import annotations

import csv
import io
import threading
import time
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from pathlib import Path
from typing import Any

from sqlalchemy import event, or_, select
from sqlalchemy.orm import Session, sessionmaker

from peel.anpr import plates
from peel.anpr.models import AnprAlert, AnprHotlistEntry
from peel.anpr.service import require_anpr
from peel.core.audit import changes_between, created, record_audit
from peel.core.db import utcnow, write_intent
from peel.core.enums import TLP
from peel.core.errors import Conflict, InvalidInput
from peel.core.policy import access_record, visible_clause
from peel.core.principal import Principal

ENTRY = AnprHotlistEntry.record_type
ALERT = AnprAlert.record_type
DEFAULT_LIST = "Force hotlist"
#: Labels a hotlist entry may carry. RED needs named people, which a force-wide alert has not.
ENTRY_LABELS = (TLP.green, TLP.amber, TLP.amber_strict)
MAX_REASON = 2000
MAX_IMPORT_ROWS = 100_000
#: How many problems an import reports before it stops looking.
MAX_IMPORT_PROBLEMS = 50
_CHANGED = "peel.anpr.hotlists_changed"


# --- validation -----------------------------------------------------------------------------


def clean_plate(raw: str, field: str = "plate") -> str:
    plate = plates.normalise(raw or "")
    if not plates.is_valid(plate):
        raise InvalidInput(
            {field: f"must be a number plate of 1 to {plates.MAX_PLATE_LENGTH} letters and digits"}
        )
    return plate


def _clean_reason(reason: str) -> str:
    text = " ".join((reason or "").split())
    if not text:
        raise InvalidInput({"reason": "say why this vehicle is of interest"})
    if len(text) > MAX_REASON:
        raise InvalidInput({"reason": f"must be at most {MAX_REASON} characters"})
    return text


def _clean_priority(priority: Any) -> int:
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise InvalidInput({"priority": "must be a whole number from 0 to 100"})
    if not 0 <= priority <= 100:
        raise InvalidInput({"priority": "must be from 0 (lowest) to 100 (most urgent)"})
    return priority


def _clean_expiry(expires_at: datetime | None, now: datetime) -> datetime | None:
    if expires_at is None:
        return None
    if expires_at.tzinfo is None:
        raise InvalidInput({"expires_at": "must include a time zone (UTC)"})
    expires_at = expires_at.astimezone(UTC)
    if expires_at <= now:
        raise InvalidInput({"expires_at": "must be in the future"})
    return expires_at


def _clean_label(tlp: TLP | str) -> TLP:
    try:
        label = TLP(tlp)
    except ValueError:
        label = None
    if label not in ENTRY_LABELS:
        allowed = ", ".join(t.value for t in ENTRY_LABELS)
        raise InvalidInput({"tlp": f"must be one of {allowed}"})
    return label


def _clean_list_name(name: str) -> str:
    text = " ".join((name or "").split())
    if not text or len(text) > 100:
        raise InvalidInput({"list_name": "must be 1 to 100 characters"})
    return text


def parse_expiry(text: str, field: str = "expires_at") -> datetime | None:
    """An ISO 8601 time (no zone means UTC) or a date (the end of that day, UTC); blank: none."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime.combine(day + timedelta(days=1), dt_time.min, UTC) - timedelta(
                microseconds=1
            )
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            {field: "must be an ISO 8601 date or time, e.g. 2027-01-31 or 2027-01-31T18:00Z"}
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# --- entries --------------------------------------------------------------------------------


def _changed(session: Session) -> None:
    """Mark the transaction so every index in this process reloads once it commits."""
    session.info[_CHANGED] = True


def _values(entry: AnprHotlistEntry) -> dict[str, Any]:
    return {
        "plate": entry.plate,
        "list_name": entry.list_name,
        "reason": entry.reason,
        "priority": entry.priority,
        "expires_at": entry.expires_at,
        "match_fuzzy": entry.match_fuzzy,
        "tlp": entry.tlp,
    }


def _active_duplicate(
    session: Session, owner_org_id: str, list_name: str, plate: str, now: datetime
) -> str | None:
    return session.scalar(
        select(AnprHotlistEntry.id).where(
            AnprHotlistEntry.owner_org_id == owner_org_id,
            AnprHotlistEntry.list_name == list_name,
            AnprHotlistEntry.plate == plate,
            AnprHotlistEntry.withdrawn_at.is_(None),
            or_(AnprHotlistEntry.expires_at.is_(None), AnprHotlistEntry.expires_at > now),
        )
    )


def create_entry(
    session: Session,
    actor: Principal,
    plate: str,
    reason: str,
    priority: int = 50,
    expires_at: datetime | None = None,
    tlp: TLP | str = TLP.amber,
    match_fuzzy: bool = False,
    list_name: str = DEFAULT_LIST,
) -> AnprHotlistEntry:
    """Put a plate on the actor's force hotlist; refuses a second active entry on one list."""
    require_anpr(actor)
    assert actor.organisation_id is not None
    now = utcnow()
    entry = AnprHotlistEntry(
        plate=clean_plate(plate),
        reason=_clean_reason(reason),
        priority=_clean_priority(priority),
        expires_at=_clean_expiry(expires_at, now),
        tlp=_clean_label(tlp),
        match_fuzzy=bool(match_fuzzy),
        list_name=_clean_list_name(list_name),
        owner_org_id=actor.organisation_id,
        created_by_id=actor.user_id,
        created_at=now,
    )
    entry.fuzzy_key = plates.fuzzy_key(entry.plate)
    existing = _active_duplicate(session, entry.owner_org_id, entry.list_name, entry.plate, now)
    if existing is not None:
        raise Conflict(
            {"plate": f"{entry.plate} is already on {entry.list_name} (entry {existing})"},
            title="The plate is already listed",
        )
    session.add(entry)
    session.flush()
    record_audit(
        session,
        actor,
        "anpr.hotlist.create",
        ENTRY,
        entry.id,
        created(_values(entry)),
        record_org_id=entry.owner_org_id,
    )
    _changed(session)
    return entry


def access_entry(
    session: Session, actor: Principal, entry_id: str, action: str = "view"
) -> AnprHotlistEntry:
    """The one door to an entry: police searchers only; missing and hidden look the same."""
    require_anpr(actor)
    return access_record(session, actor, AnprHotlistEntry, entry_id, action)[0]


def withdraw_entry(
    session: Session, actor: Principal, entry_id: str, reason: str = ""
) -> AnprHotlistEntry:
    """Stop an entry raising alerts (it is kept, with who withdrew it and why)."""
    entry = access_entry(session, actor, entry_id, "edit")
    if entry.withdrawn_at is not None:
        raise Conflict({"entry_id": "this entry has already been withdrawn"})
    text = " ".join((reason or "").split())
    if len(text) > MAX_REASON:
        raise InvalidInput({"reason": f"must be at most {MAX_REASON} characters"})
    entry.withdrawn_at = utcnow()
    entry.withdrawn_reason = text
    session.flush()
    record_audit(
        session,
        actor,
        "anpr.hotlist.withdraw",
        ENTRY,
        entry.id,
        changes_between(
            {"withdrawn_at": None, "withdrawn_reason": ""},
            {"withdrawn_at": entry.withdrawn_at, "withdrawn_reason": text},
        ),
        record_org_id=entry.owner_org_id,
    )
    _changed(session)
    return entry


def visible_entries(
    session: Session, actor: Principal, include_expired: bool = False, limit: int = 1000
) -> list[AnprHotlistEntry]:
    """Entries the actor may see, most urgent first; expired and withdrawn ones on request."""
    require_anpr(actor)
    stmt = select(AnprHotlistEntry).where(visible_clause(actor, AnprHotlistEntry, ENTRY))
    if not include_expired:
        now = utcnow()
        stmt = stmt.where(
            AnprHotlistEntry.withdrawn_at.is_(None),
            or_(AnprHotlistEntry.expires_at.is_(None), AnprHotlistEntry.expires_at > now),
        )
    stmt = stmt.order_by(AnprHotlistEntry.priority.desc(), AnprHotlistEntry.created_at.desc())
    return list(session.scalars(stmt.limit(limit)))


def is_active(entry: AnprHotlistEntry, now: datetime | None = None) -> bool:
    now = now or utcnow()
    return entry.withdrawn_at is None and (entry.expires_at is None or entry.expires_at > now)


# --- import ---------------------------------------------------------------------------------

IMPORT_COLUMNS = ("plate", "reason", "priority", "expires_at")


@dataclass(frozen=True)
class _ImportRow:
    line: int
    plate: str
    reason: str
    priority: int
    expires_at: datetime | None


def _import_row(line: int, row: dict[str, str], now: datetime) -> _ImportRow:
    """One CSV row checked like :func:`create_entry`; InvalidInput names the line."""
    try:
        plate = clean_plate(row.get("plate") or "")
        reason = _clean_reason(row.get("reason") or "")
        raw_priority = (row.get("priority") or "").strip()
        try:
            priority = int(raw_priority) if raw_priority else 50
        except ValueError:
            raise InvalidInput({"priority": "must be a whole number from 0 to 100"}) from None
        priority = _clean_priority(priority)
        expires_at = _clean_expiry(parse_expiry(row.get("expires_at") or ""), now)
    except InvalidInput as exc:
        field, message = next(iter(exc.errors.items()))
        raise InvalidInput({f"line {line}": f"{field}: {message}"}) from None
    return _ImportRow(line, plate, reason, priority, expires_at)


def _read_import(text: str, now: datetime) -> list[_ImportRow]:
    reader = csv.DictReader(io.StringIO(text))
    header = [(name or "").strip().lower() for name in reader.fieldnames or []]
    if "plate" not in header or "reason" not in header:
        raise InvalidInput(
            {"line 1": "expected a header with the columns " + ", ".join(IMPORT_COLUMNS)}
        )
    reader.fieldnames = header
    rows: list[_ImportRow] = []
    problems: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for record in reader:
        line = reader.line_num
        if len(rows) >= MAX_IMPORT_ROWS:
            raise InvalidInput({f"line {line}": f"a file may hold at most {MAX_IMPORT_ROWS} rows"})
        if not any((value or "").strip() for value in record.values() if isinstance(value, str)):
            continue
        try:
            row = _import_row(line, {k: v for k, v in record.items() if isinstance(v, str)}, now)
        except InvalidInput as exc:
            problems.update(exc.errors)
        else:
            if row.plate in first_line:
                problems[f"line {line}"] = (
                    f"plate: {row.plate} is already on line {first_line[row.plate]}"
                )
            first_line.setdefault(row.plate, line)
            rows.append(row)
        if len(problems) >= MAX_IMPORT_PROBLEMS:
            break
    if problems:
        raise InvalidInput(problems, title="The hotlist file has invalid rows; nothing was added")
    if not rows:
        raise InvalidInput({"line 2": "the file holds no entries"})
    return rows


def import_hotlist(
    session: Session,
    actor: Principal,
    path: Path,
    tlp: TLP | str = TLP.amber,
    match_fuzzy: bool = False,
    list_name: str = DEFAULT_LIST,
) -> list[AnprHotlistEntry]:
    """Add every row of a CSV (plate, reason, priority, expires_at) or, on any problem, none.

    The problems name their line numbers (the header is line 1). Each entry is audited as a
    create, and the import itself once with the file name and count.
    """
    require_anpr(actor)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput({"file": f"cannot read {path.name} as UTF-8 CSV: {exc}"}) from None
    rows = _read_import(text, utcnow())
    label = _clean_label(tlp)
    name = _clean_list_name(list_name)
    entries: list[AnprHotlistEntry] = []
    for row in rows:
        try:
            entries.append(
                create_entry(
                    session,
                    actor,
                    row.plate,
                    row.reason,
                    row.priority,
                    row.expires_at,
                    label,
                    match_fuzzy,
                    name,
                )
            )
        except InvalidInput as exc:
            field, message = next(iter(exc.errors.items()))
            raise type(exc)(
                {f"line {row.line}": f"{field}: {message}"},
                title="The hotlist file has invalid rows; nothing was added",
            ) from None
    record_audit(
        session,
        actor,
        "anpr.hotlist.import",
        ENTRY,
        None,
        detail=f"{len(entries)} entries from {path.name} onto {name} (TLP:{label.value})",
        record_org_id=actor.organisation_id,
    )
    return entries


# --- alerts ---------------------------------------------------------------------------------


def visible_alerts(
    session: Session,
    actor: Principal,
    since: datetime | None = None,
    unacknowledged: bool = False,
    limit: int = 100,
) -> list[AnprAlert]:
    """Alerts the actor may see, newest first."""
    require_anpr(actor)
    stmt = select(AnprAlert).where(visible_clause(actor, AnprAlert, ALERT))
    if since is not None:
        stmt = stmt.where(AnprAlert.created_at >= since)
    if unacknowledged:
        stmt = stmt.where(AnprAlert.acknowledged_at.is_(None))
    stmt = stmt.order_by(AnprAlert.created_at.desc(), AnprAlert.id.desc()).limit(limit)
    return list(session.scalars(stmt))


def alerts_after(
    session: Session, actor: Principal, alert_id: str, limit: int = 100
) -> list[AnprAlert]:
    """Alerts the actor may see raised after the given one, oldest first (stream catch-up)."""
    after = session.get(AnprAlert, alert_id) if alert_id else None
    if after is None:
        return []
    stmt = (
        select(AnprAlert)
        .where(
            visible_clause(actor, AnprAlert, ALERT),
            AnprAlert.created_at >= after.created_at,
            AnprAlert.id != after.id,
        )
        .order_by(AnprAlert.created_at, AnprAlert.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def acknowledge_alert(
    session: Session, actor: Principal, alert_id: str, outcome: str = ""
) -> AnprAlert:
    """Record that the owning force has dealt with an alert, and what happened."""
    require_anpr(actor)
    alert = access_record(session, actor, AnprAlert, alert_id, "edit")[0]
    if alert.acknowledged_at is not None:
        raise Conflict({"alert_id": "this alert has already been acknowledged"})
    text = " ".join((outcome or "").split())
    if len(text) > MAX_REASON:
        raise InvalidInput({"outcome": f"must be at most {MAX_REASON} characters"})
    alert.acknowledged_at = utcnow()
    alert.acknowledged_by_id = actor.user_id
    alert.outcome = text
    session.flush()
    record_audit(
        session,
        actor,
        "anpr.alert.acknowledge",
        ALERT,
        alert.id,
        changes_between(
            {"acknowledged_at": None, "outcome": ""},
            {"acknowledged_at": alert.acknowledged_at, "outcome": text},
        ),
        record_org_id=alert.owner_org_id,
    )
    return alert


# --- the in-memory index --------------------------------------------------------------------


@dataclass(frozen=True)
class Match:
    """A hotlist entry a read matched; ``kind`` is ``exact`` or ``fuzzy`` (look-alikes)."""

    entry_id: str
    kind: str
    priority: int
    owner_org_id: str
    tlp: TLP
    reason: str
    list_name: str
    #: The plate as listed (differs from the read's plate for fuzzy matches).
    plate: str = ""


@dataclass(frozen=True)
class _Indexed:
    entry_id: str
    plate: str
    fuzzy_key: str
    match_fuzzy: bool
    priority: int
    owner_org_id: str
    tlp: TLP
    reason: str
    list_name: str
    expires_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> _Indexed:
        return cls(
            row.id,
            row.plate,
            row.fuzzy_key,
            bool(row.match_fuzzy),
            row.priority,
            row.owner_org_id,
            TLP(row.tlp),
            row.reason,
            row.list_name,
            row.expires_at,
        )

    def as_match(self, kind: str) -> Match:
        return Match(
            self.entry_id,
            kind,
            self.priority,
            self.owner_org_id,
            self.tlp,
            self.reason,
            self.list_name,
            self.plate,
        )


@dataclass(frozen=True)
class _Snapshot:
    exact: dict[str, tuple[_Indexed, ...]]
    fuzzy: dict[str, tuple[_Indexed, ...]]
    by_id: dict[str, _Indexed]
    loaded_at: float


_EMPTY = _Snapshot({}, {}, {}, float("-inf"))
_INDEXES: weakref.WeakSet[HotlistIndex] = weakref.WeakSet()
_INDEXES_LOCK = threading.Lock()
#: How far back an incremental load looks before the previous one began: covers clocks that
#: differ between processes and transactions that commit a while after they stamped a row.
LOAD_OVERLAP = timedelta(minutes=2)
_COLUMNS = (
    AnprHotlistEntry.id,
    AnprHotlistEntry.plate,
    AnprHotlistEntry.fuzzy_key,
    AnprHotlistEntry.match_fuzzy,
    AnprHotlistEntry.priority,
    AnprHotlistEntry.owner_org_id,
    AnprHotlistEntry.tlp,
    AnprHotlistEntry.reason,
    AnprHotlistEntry.list_name,
    AnprHotlistEntry.expires_at,
    AnprHotlistEntry.withdrawn_at,
)


def _by_priority(items: Iterable[_Indexed]) -> tuple[_Indexed, ...]:
    return tuple(sorted(items, key=lambda e: -e.priority))


def _group(items: Iterable[tuple[str, _Indexed]]) -> dict[str, tuple[_Indexed, ...]]:
    grouped: dict[str, list[_Indexed]] = {}
    for key, item in items:
        grouped.setdefault(key, []).append(item)
    return {key: _by_priority(v) for key, v in grouped.items()}


def _regroup(
    groups: dict[str, tuple[_Indexed, ...]],
    key: str,
    drop: str,
    add: _Indexed | None,
) -> None:
    """Replace entry ``drop`` (if present) under ``key`` by ``add`` (if given), in place."""
    kept = [e for e in groups.get(key, ()) if e.entry_id != drop]
    if add is not None:
        kept.append(add)
    if kept:
        groups[key] = _by_priority(kept)
    else:
        groups.pop(key, None)


class HotlistIndex:
    """Active hotlist entries in memory: ``match`` is two dict look-ups per read.

    :meth:`refresh` reads only the entries created or withdrawn since the previous load
    (cheap enough to run every ``refresh_seconds`` beside live traffic), and everything
    again every ``full_reload_seconds`` to pick up any other change.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session] | None = None,
        refresh_seconds: float = 30.0,
        full_reload_seconds: float = 900.0,
    ) -> None:
        self._sessions = sessions
        self.refresh_seconds = refresh_seconds
        self.full_reload_seconds = full_reload_seconds
        self._snapshot = _EMPTY
        self._invalidated = True
        self._since: datetime | None = None
        self._full_at = float("-inf")
        self._lock = threading.Lock()
        with _INDEXES_LOCK:
            _INDEXES.add(self)

    @property
    def loaded(self) -> bool:
        return self._since is not None

    @property
    def must_reload(self) -> bool:
        """Never loaded, or a hotlist changed in this process since the last load."""
        return self._invalidated

    @property
    def is_old(self) -> bool:
        """Older than ``refresh_seconds``: another process may have changed a hotlist."""
        return time.monotonic() - self._snapshot.loaded_at > self.refresh_seconds

    def __len__(self) -> int:
        return len(self._snapshot.by_id)

    def invalidate(self) -> None:
        self._invalidated = True

    def reload(self, session: Session | None = None) -> int:
        """Read every active entry and swap them in; returns how many there are."""
        return self._run(self._load_all, session)

    def refresh(self, session: Session | None = None) -> int:
        """Apply entries created or withdrawn since the last load (everything when due)."""
        due = time.monotonic() - self._full_at > self.full_reload_seconds
        if self._since is None or due:
            return self.reload(session)
        return self._run(self._load_changes, session)

    def _run(self, load: Any, session: Session | None) -> int:
        if session is not None:
            with self._lock:
                return int(load(session))
        if self._sessions is None:
            raise RuntimeError("HotlistIndex needs sessions or a session to load from")
        with self._lock:
            token = write_intent.set(False)
            try:
                with self._sessions() as own:
                    count = int(load(own))
                    own.rollback()
            finally:
                write_intent.reset(token)
            return count

    def _load_all(self, session: Session) -> int:
        self._invalidated = False  # a change committed while loading marks it again
        now = utcnow()
        rows = session.execute(
            select(*_COLUMNS).where(
                AnprHotlistEntry.withdrawn_at.is_(None),
                or_(AnprHotlistEntry.expires_at.is_(None), AnprHotlistEntry.expires_at > now),
            )
        ).all()
        self._swap(rows)
        self._since, self._full_at = now, time.monotonic()
        return len(rows)

    def _load_changes(self, session: Session) -> int:
        self._invalidated = False
        now = utcnow()
        assert self._since is not None
        since = self._since - LOAD_OVERLAP
        rows = session.execute(
            select(*_COLUMNS).where(
                or_(
                    AnprHotlistEntry.created_at >= since,
                    AnprHotlistEntry.withdrawn_at >= since,
                )
            )
        ).all()
        self._merge(rows, now)
        self._since = now
        return len(self._snapshot.by_id)

    def _merge(self, rows: Sequence[Any], now: datetime) -> None:
        """Copy the snapshot with these entries added, changed or (withdrawn) removed."""
        old = self._snapshot
        exact, fuzzy, by_id = dict(old.exact), dict(old.fuzzy), dict(old.by_id)
        for row in rows:
            item = _Indexed.of(row)
            active = row.withdrawn_at is None and _live(item, now)
            before = by_id.pop(item.entry_id, None)
            if before is None and not active:
                continue
            if before is not None:
                _regroup(exact, before.plate, before.entry_id, None)
                if before.match_fuzzy:
                    _regroup(fuzzy, before.fuzzy_key, before.entry_id, None)
            if active:
                by_id[item.entry_id] = item
                _regroup(exact, item.plate, item.entry_id, item)
                if item.match_fuzzy:
                    _regroup(fuzzy, item.fuzzy_key, item.entry_id, item)
        self._snapshot = _Snapshot(exact, fuzzy, by_id, time.monotonic())

    @classmethod
    def from_entries(cls, entries: Iterable[AnprHotlistEntry]) -> HotlistIndex:
        """An index of the given entries as they are (no database; for tests and benchmarks)."""
        index = cls()
        now = utcnow()
        index._swap([e for e in entries if is_active(e, now)])
        index._invalidated = False
        return index

    def _swap(self, rows: Sequence[Any]) -> None:
        items = [_Indexed.of(row) for row in rows]
        self._snapshot = _Snapshot(
            exact=_group((item.plate, item) for item in items),
            fuzzy=_group((item.fuzzy_key, item) for item in items if item.match_fuzzy),
            by_id={item.entry_id: item for item in items},
            loaded_at=time.monotonic(),
        )

    def match(
        self, plate: str, fuzzy: str | None = None, now: datetime | None = None
    ) -> list[Match]:
        """The active entries a normalised plate hits: exact ones, then fuzzy ones."""
        snapshot = self._snapshot
        exact = snapshot.exact.get(plate, ())
        close = snapshot.fuzzy.get(fuzzy if fuzzy is not None else plates.fuzzy_key(plate), ())
        if not exact and not close:
            return []
        now = now or utcnow()
        found = [e.as_match("exact") for e in exact if _live(e, now)]
        found += [e.as_match("fuzzy") for e in close if e.plate != plate and _live(e, now)]
        return found

    def entry(self, entry_id: str) -> Match | None:
        """An active entry by id (as an exact match), for describing alerts."""
        item = self._snapshot.by_id.get(entry_id)
        return item.as_match("exact") if item else None


def _live(entry: _Indexed, now: datetime) -> bool:
    return entry.expires_at is None or entry.expires_at > now


def _invalidate_all() -> None:
    with _INDEXES_LOCK:
        indexes = list(_INDEXES)
    for index in indexes:
        index.invalidate()


@event.listens_for(Session, "after_commit")
def _reload_indexes_after_commit(session: Session) -> None:
    if session.info.pop(_CHANGED, False):
        _invalidate_all()


@event.listens_for(Session, "after_rollback")
def _forget_changes_after_rollback(session: Session) -> None:
    session.info.pop(_CHANGED, None)


def entry_summary(entries: Sequence[AnprHotlistEntry]) -> list[dict[str, Any]]:
    """Entries as plain dicts (CLI ``--json`` and tests)."""
    return [
        {
            "id": e.id,
            "plate": e.plate,
            "display": plates.display(e.plate),
            "list_name": e.list_name,
            "reason": e.reason,
            "priority": e.priority,
            "expires_at": e.expires_at.isoformat() if e.expires_at else None,
            "match_fuzzy": e.match_fuzzy,
            "tlp": TLP(e.tlp).value,
            "owner": e.owner_org.name if e.owner_org else e.owner_org_id,
            "withdrawn_at": e.withdrawn_at.isoformat() if e.withdrawn_at else None,
            "created_at": e.created_at.isoformat(),
        }
        for e in entries
    ]

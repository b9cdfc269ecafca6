"""Reports: submit, route to the owning force, flag, triage, message, close; all audited."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from peel.core.audit import changes_between, created, record_audit
from peel.core.config import Settings
from peel.core.db import utcnow
from peel.core.enums import TLP, OrganisationType
from peel.core.errors import InvalidInput
from peel.core.geo import Location
from peel.core.models import Organisation
from peel.core.policy import access_record, visible_clause
from peel.core.principal import Principal
from peel.core.security import constant_time_equal, token_digest
from peel.reporting.enums import CATEGORY_BY_SLUG, MessageDirection, ReportStatus
from peel.reporting.models import Report, ReportAttachment, ReportEvent, ReportMessage
from peel.reporting.schemas import ReportCreate

# No 0/O, 1/I/L, U or other look-alikes: references are read out over the phone.
REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
PUBLIC = Principal(display_name="member of the public")
VULNERABILITY_WORDS = (
    "child",
    "children",
    "baby",
    "pregnant",
    "disabled",
    "disability",
    "elderly",
    "vulnerable",
    "dementia",
    "suicid",
    "self-harm",
    "self harm",
    "domestic",
    "partner hit",
    "stalk",
    "threat to kill",
    "kill me",
    "knife",
    "gun",
    "weapon",
    "hate",
    "racist",
    "homophobic",
    "scared",
    "afraid",
    "sexual",
    "rape",
    "groom",
    "exploit",
    "carer",
    "mental health",
)
REPEAT_LOCATION_METRES = 100
REPEAT_WINDOW_DAYS = 90


@dataclass(frozen=True)
class NewAttachment:
    sha256: str
    size: int
    content_type: str
    kind: str
    original_name: str


def new_reference() -> str:
    chars = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(8))
    return f"{chars[:4]}-{chars[4:]}"


def normalise_reference(text: str) -> str:
    """Accept references typed in lower case, without the hyphen or with spaces."""
    cleaned = re.sub(r"[^0-9A-Za-z]", "", text).upper()
    return f"{cleaned[:4]}-{cleaned[4:]}" if len(cleaned) == 8 else cleaned


def new_tracking_secret() -> str:
    return "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(12))


def vulnerability_flags(text: str) -> list[str]:
    lowered = text.lower()
    return sorted({w.strip() for w in VULNERABILITY_WORDS if w in lowered})


def owning_force(session: Session, settings: Settings, force_area: str | None) -> Organisation:
    """The police force whose area holds the location, else the configured default."""
    forces = list(
        session.scalars(
            select(Organisation)
            .where(Organisation.type == OrganisationType.police_force)
            .order_by(Organisation.created_at)
        )
    )
    if force_area:
        wanted = force_area.lower().replace(" police", "").strip()
        for force in forces:
            if wanted and wanted in force.name.lower():
                return force
    if settings.reporting_default_force:
        for force in forces:
            if force.code == settings.reporting_default_force:
                return force
    if not forces:
        raise InvalidInput({"location": "No police force is set up to receive reports yet"})
    return forces[0]


def _repeat_flags(session: Session, data: ReportCreate, location: Location | None) -> list[str]:
    flags = []
    since = utcnow() - timedelta(days=REPEAT_WINDOW_DAYS)
    if location is not None:
        near = session.scalar(
            select(func.count())
            .select_from(Report)
            .where(
                Report.created_at >= since,
                Report.easting.between(
                    location.easting - REPEAT_LOCATION_METRES,
                    location.easting + REPEAT_LOCATION_METRES,
                ),
                Report.northing.between(
                    location.northing - REPEAT_LOCATION_METRES,
                    location.northing + REPEAT_LOCATION_METRES,
                ),
            )
        )
        if near:
            flags.append("repeat location")
    if data.reporter_email:
        earlier = session.scalar(
            select(func.count())
            .select_from(Report)
            .where(
                Report.reporter_email == str(data.reporter_email).lower(),
                Report.created_at >= utcnow() - timedelta(days=365),
            )
        )
        if earlier:
            flags.append("repeat victim")
    return flags


def submit_report(
    session: Session,
    settings: Settings,
    data: ReportCreate,
    location: Location | None,
    force_area: tuple[str | None, str | None],
    attachments: list[NewAttachment],
    submission_key: str,
    actor: Principal = PUBLIC,
) -> tuple[Report, str | None]:
    """Store a new report; a repeated submission key returns the first report and no secret."""
    existing = session.scalar(select(Report).where(Report.submission_key == submission_key))
    if existing is not None:
        return existing, None
    lsoa_code, area_name = force_area
    owner = owning_force(session, settings, area_name)
    text = " ".join([data.description, data.victim, data.witness, data.suspect])
    secret = new_tracking_secret()
    report = Report(
        reference=new_reference(),
        tracking_secret_hash=token_digest(secret),
        submission_key=submission_key,
        owner_org_id=owner.id,
        tlp=TLP.amber,
        category=data.category,
        status=ReportStatus.received,
        description=data.description,
        occurred_from=data.occurred_at,
        occurred_to=data.occurred_until,
        location_text=(data.location.description if data.location else "")[:300],
        people={
            k: v
            for k, v in (
                ("victim", data.victim),
                ("witness", data.witness),
                ("suspect", data.suspect),
            )
            if v
        },
        property_text=data.property_text,
        anonymous=data.anonymous,
        reporter_name=data.reporter_name,
        reporter_email=str(data.reporter_email).lower() if data.reporter_email else None,
        reporter_phone=data.reporter_phone,
        flags=vulnerability_flags(text) + _repeat_flags(session, data, location),
        lsoa_code=lsoa_code,
        force_area=area_name,
    )
    if location is not None:
        report.lat, report.lon = location.lat, location.lon
        report.easting, report.northing = location.easting, location.northing
        report.location_source, report.postcode = location.source, location.postcode
    elif data.location and data.location.postcode:
        report.postcode = data.location.postcode.strip().upper()
        report.location_source = "postcode"
    session.add(report)
    _flush_with_fresh_reference(session, report)
    for item in attachments:
        attach(session, report, item)
    _add_event(session, report, ReportStatus.received, "reporter")
    record_audit(
        session,
        actor,
        "report.create",
        "report",
        report.id,
        created(
            {
                "reference": report.reference,
                "category": report.category,
                "owner": owner.code,
                "attachments": len(attachments),
                "flags": report.flags,
            }
        ),
        record_org_id=owner.id,
    )
    session.flush()
    return report, secret


def attach(
    session: Session, report: Report, item: NewAttachment, added_by: str = "reporter"
) -> ReportAttachment:
    """Record a stored file against a report (the bytes are already in the blob store)."""
    row = ReportAttachment(
        report_id=report.id,
        sha256=item.sha256,
        size=item.size,
        content_type=item.content_type,
        kind=item.kind,
        original_name=item.original_name[:255],
        added_by=added_by,
    )
    session.add(row)
    return row


def _flush_with_fresh_reference(session: Session, report: Report) -> None:
    for _ in range(5):
        try:
            with session.begin_nested():
                session.flush()
            return
        except IntegrityError:
            report.reference = new_reference()
    raise RuntimeError("could not find a free report reference")


def _add_event(
    session: Session,
    report: Report,
    status: ReportStatus,
    actor: str,
    public_message: str | None = None,
) -> None:
    session.add(
        ReportEvent(
            report_id=report.id,
            status=status,
            public_message=public_message or status.public_wording,
            actor=actor,
        )
    )


def report_by_tracking(session: Session, reference: str, secret: str) -> Report | None:
    """The report for a reference and tracking secret; None for any mismatch, in equal time."""
    report = session.scalar(
        select(Report).where(Report.reference == normalise_reference(reference))
    )
    expected = report.tracking_secret_hash if report else "0" * 64
    given = token_digest(re.sub(r"[^0-9A-Za-z]", "", secret).upper())
    if not constant_time_equal(expected, given) or report is None:
        return None
    return report


def tracking_cookie_value(secret_key: str, report: Report) -> str:
    """A browser token that proves the reference and secret were given, without holding them."""
    message = f"track:{report.id}:{report.tracking_secret_hash}".encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()


def list_reports(
    session: Session, actor: Principal, status: str | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[Report], int]:
    where = [visible_clause(actor, Report, "report")]
    if status:
        where.append(Report.status == status)
    total = session.scalar(select(func.count()).select_from(Report).where(*where)) or 0
    rows = session.scalars(
        select(Report).where(*where).order_by(Report.created_at.desc()).limit(limit).offset(offset)
    ).all()
    return list(rows), total


def get_report(session: Session, actor: Principal, report_id: str, action: str = "view") -> Report:
    report, _ = access_record(session, actor, Report, report_id, action)
    return report


def change_status(
    session: Session,
    actor: Principal,
    report: Report,
    status: ReportStatus,
    changes: dict[str, Any],
    public_message: str | None = None,
    action: str = "report.update",
) -> None:
    """Apply field changes and a status step; audited with old and new values."""
    before = {k: getattr(report, k) for k in changes} | {"status": report.status}
    for key, value in changes.items():
        setattr(report, key, value)
    report.status = status
    _add_event(session, report, status, actor.audit_name, public_message)
    record_audit(
        session,
        actor,
        action,
        "report",
        report.id,
        changes_between(before, {**changes, "status": status}),
        record_org_id=report.owner_org_id,
    )
    session.flush()


def add_message(
    session: Session, report: Report, direction: MessageDirection, body: str, author: Principal
) -> ReportMessage:
    message = ReportMessage(
        report_id=report.id, direction=direction, body=body, author=author.audit_name
    )
    session.add(message)
    record_audit(
        session,
        author,
        f"report.message.{direction.value}",
        "report",
        report.id,
        detail=f"{len(body)} characters",
        record_org_id=report.owner_org_id,
    )
    session.flush()
    return message


def messages_of(session: Session, report: Report) -> list[ReportMessage]:
    return list(
        session.scalars(
            select(ReportMessage)
            .where(ReportMessage.report_id == report.id)
            .order_by(ReportMessage.at)
        )
    )


def events_of(session: Session, report: Report) -> list[ReportEvent]:
    return list(
        session.scalars(
            select(ReportEvent)
            .where(ReportEvent.report_id == report.id)
            .order_by(ReportEvent.at, ReportEvent.id)
        )
    )


def category_label(slug: str) -> str:
    category = CATEGORY_BY_SLUG.get(slug)
    return category.label if category else slug

"""Staff and reporter actions on a report: each is one audited step the reporter can see."""

from __future__ import annotations

import structlog
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from peel.core.audit import record_audit
from peel.core.config import Settings
from peel.core.errors import InvalidInput
from peel.core.notify import Notifier
from peel.core.policy import Forbidden
from peel.core.principal import Principal
from peel.core.service import user_by_email
from peel.reporting import service
from peel.reporting.enums import CATEGORY_BY_SLUG, MessageDirection, ReportStatus, Response
from peel.reporting.models import Report
from peel.reporting.schemas import AssignIn, CloseIn, CrimeIn, DuplicateIn, TriageIn

log = structlog.get_logger(__name__)

CLOSED = (ReportStatus.closed, ReportStatus.duplicate)


def _editable(session: Session, actor: Principal, report_id: str) -> Report:
    report = service.get_report(session, actor, report_id, "edit")
    if report.status in CLOSED:
        raise InvalidInput({"status": f"Report {report.reference} is {report.status} already"})
    return report


def notify_reporter(notifier: Notifier, settings: Settings, report: Report, text: str) -> None:
    """Email the reporter when they gave an address; a failure to send is logged, not fatal."""
    if not report.reporter_email:
        return
    link = f"{settings.public_url or 'http://' + settings.host + ':' + str(settings.port)}/track"
    body = (
        f"{text}\n\nYour reference: {report.reference}\n"
        f"See progress and reply at {link} with your reference and tracking code.\n"
    )
    try:
        notifier.send(report.reporter_email, f"Your report {report.reference}", body)
    except OSError as exc:
        log.warning("could not email reporter", report=report.reference, error=str(exc))


def triage(session: Session, actor: Principal, report_id: str, data: TriageIn) -> Report:
    report = _editable(session, actor, report_id)
    status = (
        ReportStatus.referred
        if data.response == Response.refer_to_partner
        else ReportStatus.under_review
    )
    service.change_status(
        session,
        actor,
        report,
        status,
        {"thrive": {k: v.value for k, v in data.thrive.items()}, "response": data.response.value},
        action="report.triage",
    )
    return report


def assign(session: Session, actor: Principal, report_id: str, data: AssignIn) -> Report:
    report = _editable(session, actor, report_id)
    changes: dict[str, object] = {"assigned_team": data.team}
    if data.user_email:
        officer = user_by_email(session, str(data.user_email))
        if officer is None or officer.organisation_id != report.owner_org_id:
            raise InvalidInput({"user_email": "No officer of this force has that email"})
        changes["assigned_to_id"] = officer.id
    service.change_status(
        session, actor, report, ReportStatus.assigned, changes, action="report.assign"
    )
    return report


def record_crime(session: Session, actor: Principal, report_id: str, data: CrimeIn) -> Report:
    report = _editable(session, actor, report_id)
    category = CATEGORY_BY_SLUG[report.category]
    if not category.is_crime and not data.counting_category:
        raise InvalidInput({"counting_category": "Give the Home Office counting category"})
    year = report.created_at.year
    count = (
        session.scalar(
            select(func.count())
            .select_from(Report)
            .where(Report.owner_org_id == report.owner_org_id, Report.crime_reference.is_not(None))
        )
        or 0
    )
    crime_reference = f"{year}/{count + 1:06d}"
    service.change_status(
        session,
        actor,
        report,
        ReportStatus.crime_recorded,
        {"crime_reference": crime_reference, "counting_category": data.counting_category},
        public_message=f"We have recorded a crime. Your crime reference is {crime_reference}.",
        action="report.crime",
    )
    return report


def link_duplicate(session: Session, actor: Principal, report_id: str, data: DuplicateIn) -> Report:
    report = _editable(session, actor, report_id)
    original = session.scalar(
        select(Report).where(Report.reference == service.normalise_reference(data.reference))
    )
    if original is None or original.owner_org_id != report.owner_org_id:
        raise InvalidInput({"reference": "No report of this force has that reference"})
    if original.id == report.id:
        raise InvalidInput({"reference": "A report cannot duplicate itself"})
    service.change_status(
        session,
        actor,
        report,
        ReportStatus.duplicate,
        {"duplicate_of_id": original.id},
        action="report.duplicate",
    )
    return report


def close(session: Session, actor: Principal, report_id: str, data: CloseIn) -> Report:
    report = _editable(session, actor, report_id)
    service.change_status(
        session,
        actor,
        report,
        ReportStatus.closed,
        {"outcome": data.outcome},
        public_message=f"We have finished dealing with your report: {data.outcome}",
        action="report.close",
    )
    return report


def message_reporter(session: Session, actor: Principal, report_id: str, body: str) -> Report:
    report = service.get_report(session, actor, report_id, "edit")
    service.add_message(session, report, MessageDirection.to_reporter, body, actor)
    return report


def reporter_reply(session: Session, report: Report, body: str) -> None:
    if report.status in CLOSED:
        raise Forbidden("This report is closed; make a new report if something has changed")
    service.add_message(session, report, MessageDirection.from_reporter, body, service.PUBLIC)


def reporter_adds_evidence(
    session: Session, report: Report, items: list[service.NewAttachment]
) -> None:
    if report.status in CLOSED:
        raise Forbidden("This report is closed; make a new report if something has changed")
    for item in items:
        service.attach(session, report, item)
        record_audit(
            session,
            service.PUBLIC,
            "report.attachment.add",
            "report",
            report.id,
            detail=f"{item.original_name} ({item.size} bytes, sha256 {item.sha256})",
            record_org_id=report.owner_org_id,
        )
    session.flush()

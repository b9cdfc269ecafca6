"""Staff pages for online reports: the force's queue, one report, the actions and evidence."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, sessionmaker

from peel.app import create_app
from peel.core import streaming
from peel.core.config import Settings
from peel.core.db import Base, new_id, utcnow
from peel.core.enums import Role
from peel.core.events import InMemoryEventBus
from peel.core.geo import Location
from peel.core.jobs import JobRunner
from peel.core.models import AuditEvent
from peel.core.notify import MailFolderNotifier
from peel.reporting import flows, service, staff_pages
from peel.reporting.models import (
    Report,
    ReportAttachment,
    ReportDraft,
    ReportEvent,
    ReportMessage,
)
from peel.reporting.schemas import LocationIn, ReportCreate, TriageIn
from tests.conftest import World, csrf_of, make_org, make_user, sign_in

GOOD_THRIVE = {
    "thrive_threat": "high",
    "thrive_harm": "medium",
    "thrive_risk": "medium",
    "thrive_investigation": "low",
    "thrive_vulnerability": "high",
    "thrive_engagement": "low",
}
WESTMINSTER = Location(
    lat=51.501009,
    lon=-0.141588,
    easting=529090.0,
    northing=179645.0,
    source="latlon",
    text="51.501009, -0.141588",
    postcode=None,
)


@pytest.fixture(autouse=True)
def report_tables(connection: Connection) -> None:
    """The report tables, until their migration lands (rolled back with the test)."""
    Base.metadata.create_all(
        connection,
        tables=[
            Base.metadata.tables[model.__tablename__]
            for model in (Report, ReportEvent, ReportMessage, ReportAttachment, ReportDraft)
        ],
        checkfirst=True,
    )


@pytest.fixture
def app(
    settings: Settings, sessions: sessionmaker[Session], tmp_path: Path, report_tables: None
) -> FastAPI:
    application = create_app(
        settings,
        sessions=sessions,
        jobs=JobRunner(sessions, inline=True),
        events=InMemoryEventBus(),
    )
    if not any(getattr(r, "path", "") == "/staff/reports" for r in application.routes):
        application.include_router(staff_pages.router)
    if not hasattr(application.state, "notifier"):
        application.state.notifier = MailFolderNotifier(tmp_path / "mail", "Peel <x@y.z>")
    return application


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://testserver") as test_client:
        yield test_client


def make_report(
    db: Session,
    settings: Settings,
    force: str = "test-force",
    at: Location | None = None,
    **fields: Any,
) -> Report:
    data = ReportCreate(
        **{
            "category": "criminal-damage-arson",
            "description": "Someone smashed the window of my shed last night.",
            **fields,
        }
    )
    routed = settings.model_copy(update={"reporting_default_force": force})
    report, secret = service.submit_report(
        db,
        routed,
        data,
        location=at,
        force_area=(None, None),
        attachments=[],
        submission_key=new_id(),
    )
    assert secret is not None
    db.flush()
    return report


def page_of(client: TestClient, report: Report) -> str:
    response = client.get(f"/staff/reports/{report.id}")
    assert response.status_code == 200, response.text
    return response.text


def post(client: TestClient, report: Report, action: str, data: dict[str, str]) -> Any:
    token = csrf_of(page_of(client, report))
    return client.post(
        f"/staff/reports/{report.id}/{action}",
        data={"csrf_token": token, **data},
        follow_redirects=False,
    )


# --- the queue -------------------------------------------------------------------------------


def test_queue_shows_the_forces_reports_and_not_another_forces(
    client: TestClient, world: World, db: Session, settings: Settings
) -> None:
    make_org(db, "other-force")
    make_user(db, "pc@other.example", "other-force", [Role.officer])
    ours = make_report(db, settings, at=WESTMINSTER)
    theirs = make_report(db, settings, force="other-force", category="burglary")

    sign_in(client, "officer@force.example")
    queue = client.get("/staff/reports")
    assert queue.status_code == 200
    assert ours.reference in queue.text
    assert theirs.reference not in queue.text
    assert "Criminal damage or arson" in queue.text
    assert "less than a minute" in queue.text
    assert "TQ 2909 7964" in queue.text  # 8-figure grid reference for a point with no postcode
    attribute = re.search(r"data-points='([^']*)'", queue.text)
    assert attribute is not None
    points = json.loads(unescape(attribute[1]))
    assert points == [
        {
            "id": ours.id,
            "reference": ours.reference,
            "category": "Criminal damage or arson",
            "status": "Received",
            "lat": 51.501009,
            "lon": -0.141588,
        }
    ]
    assert '<script src="/static/vendor/leaflet/leaflet.js"></script>' in queue.text
    assert 'src="/static/reporting/staff-map.js"' in queue.text
    assert " style=" not in queue.text
    assert client.get(f"/staff/reports/{theirs.id}").status_code == 404

    client.cookies.clear()
    sign_in(client, "pc@other.example")
    other = client.get("/staff/reports").text
    assert theirs.reference in other and ours.reference not in other
    assert "No location" in other
    assert "data-points" not in other and "None of the reports on this page" in other


def test_queue_filters_by_status_and_pages_by_25(
    client: TestClient, world: World, db: Session, settings: Settings
) -> None:
    reports = [make_report(db, settings) for _ in range(26)]
    flows.triage(
        db,
        world.principal("officer"),
        reports[0].id,
        TriageIn.model_validate(
            {
                "thrive": {k.removeprefix("thrive_"): v for k, v in GOOD_THRIVE.items()},
                "response": "scheduled",
            }
        ),
    )
    db.flush()
    sign_in(client, "officer@force.example")

    first = client.get("/staff/reports").text
    assert "26 reports" in first and "Page 1 of 2" in first
    assert first.count('href="/staff/reports/') == 25
    assert reports[-1].reference in first  # newest first
    second = client.get("/staff/reports?page=2").text
    assert second.count('href="/staff/reports/') == 1

    graded = client.get("/staff/reports?status=under_review").text
    assert "1 report with status “Under review”" in graded
    assert reports[0].reference in graded and reports[1].reference not in graded
    assert '<option value="under_review" selected>' in graded
    none = client.get("/staff/reports?status=closed").text
    assert "No reports with status “Closed”" in none


def test_queue_has_a_helpful_empty_state_and_needs_sign_in(
    client: TestClient, world: World, db: Session, settings: Settings
) -> None:
    make_report(db, settings)
    anonymous = client.get("/staff/reports", follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/login?next=")
    sign_in(client, "lawyer@cps.example")
    page = client.get("/staff/reports").text
    assert "No reports yet" in page


def test_queue_flags_show_as_tags(
    client: TestClient, world: World, db: Session, settings: Settings
) -> None:
    make_report(db, settings, reporter_email="victim@example.com", at=WESTMINSTER)
    make_report(
        db,
        settings,
        reporter_email="victim@example.com",
        at=WESTMINSTER,
        description="My elderly neighbour was threatened with a knife again.",
    )
    sign_in(client, "officer@force.example")
    page = client.get("/staff/reports").text
    for flag, colour in (
        ("repeat location", "orange"),
        ("repeat victim", "orange"),
        ("elderly", "red"),
        ("knife", "red"),
    ):
        assert f'<strong class="govuk-tag govuk-tag--{colour}">{flag}</strong>' in page


def test_age_text() -> None:
    now = utcnow()
    assert staff_pages.age_text(now, now) == "less than a minute"
    assert staff_pages.age_text(now - timedelta(minutes=1), now) == "1 minute"
    assert staff_pages.age_text(now - timedelta(hours=3, minutes=5), now) == "3 hours"
    assert staff_pages.age_text(now - timedelta(days=2, hours=1), now) == "2 days"
    assert staff_pages.age_text(now - timedelta(days=21), now) == "3 weeks"
    assert staff_pages.age_text(now - timedelta(days=100), now) == "3 months"
    assert staff_pages.age_text(now - timedelta(days=800), now) == "2 years"
    assert staff_pages.age_text(now + timedelta(seconds=5), now) == "less than a minute"


# --- one report --------------------------------------------------------------------------------


def test_report_page_shows_everything(
    client: TestClient, world: World, db: Session, settings: Settings
) -> None:
    report = make_report(
        db,
        settings,
        at=WESTMINSTER,
        category="burglary",
        victim="Me, aged 40",
        suspect="Tall, dark coat",
        property_text="Laptop",
        reporter_name="Sam Jones",
        reporter_phone="07700 900123",
    )
    sign_in(client, "officer@force.example")
    page = page_of(client, report)
    for text in (
        "Burglary",
        "Counting rules group: Burglary",
        "Someone smashed the window",
        "51.501009, -0.141588",
        "easting 529090, northing 179645",
        "TQ 29090 79645",
        "Tall, dark coat",
        "Laptop",
        "Sam Jones",
        "07700 900123",
        "TLP:AMBER",
        "We have received your report.",
        "No photos or videos",
        "Grade with THRIVE",
    ):
        assert text in page, text
    assert '<option value="Burglary" selected>' in page
    assert " style=" not in page
    anonymous = make_report(db, settings, anonymous=True, reporter_name="Hidden")
    page = page_of(client, anonymous)
    assert "Anonymous" in page and "Hidden" not in page


def test_other_organisations_get_404(
    client: TestClient, world: World, db: Session, settings: Settings, app: FastAPI
) -> None:
    report = make_report(db, settings)
    blob = app.state.blobs.put_stream([b"GIF89a secret"])
    attachment = ReportAttachment(
        report_id=report.id,
        sha256=blob.sha256,
        size=blob.size,
        content_type="image/gif",
        kind="image",
        original_name="a.gif",
        added_by="reporter",
    )
    db.add(attachment)
    db.flush()
    sign_in(client, "lawyer@cps.example")
    assert client.get(f"/staff/reports/{report.id}").status_code == 404
    served = client.get(f"/staff/reports/{report.id}/attachments/{attachment.id}")
    assert served.status_code == 404 and b"secret" not in served.content
    assert client.get("/staff/reports/not-a-report").status_code == 404


def test_grading_with_thrive_is_stored_and_shown_to_the_reporter(
    client: TestClient, world: World, db: Session, settings: Settings
) -> None:
    report = make_report(db, settings)
    sign_in(client, "officer@force.example")
    done = post(
        client,
        report,
        "triage",
        {**GOOD_THRIVE, "response": "priority", "triage_note": "Check CCTV"},
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/staff/reports/{report.id}?done=triage"
    page = client.get(done.headers["location"]).text
    assert "Report graded" in page
    assert "An officer is looking at your report." in page
    assert "Response: Priority" in page
    db.refresh(report)
    assert report.thrive == {k.removeprefix("thrive_"): v for k, v in GOOD_THRIVE.items()}
    assert report.response == "priority" and report.status == "under_review"
    assert 'value="high" checked' in page  # the form shows the current grading


def test_a_missing_thrive_rating_is_a_400_naming_the_field(
    client: TestClient, world: World, db: Session, settings: Settings
) -> None:
    report = make_report(db, settings)
    sign_in(client, "officer@force.example")
    answers = {k: v for k, v in GOOD_THRIVE.items() if k != "thrive_harm"}
    response = post(client, report, "triage", {**answers, "response": "priority"})
    assert response.status_code == 400
    assert "There is a problem" in response.text
    assert '<a href="#thrive_harm">Choose low, medium or high for harm</a>' in response.text
    assert 'value="high" checked' in response.text  # what was chosen is kept
    bad = post(client, report, "triage", {**GOOD_THRIVE, "response": "teleport"})
    assert bad.status_code == 400 and 'href="#response"' in bad.text
    db.refresh(report)
    assert report.status == "received" and report.thrive == {}


def test_recording_a_crime_gives_a_crime_reference(
    client: TestClient, world: World, db: Session, settings: Settings
) -> None:
    report = make_report(db, settings)
    sign_in(client, "officer@force.example")
    assert '<option value="Arson and criminal damage" selected>' in page_of(client, report)
    done = post(client, report, "crime", {"counting_category": "Arson and criminal damage"})
    assert done.status_code == 303
    page = client.get(done.headers["location"]).text
    db.refresh(report)
    assert report.crime_reference and report.status == "crime_recorded"
    assert "Crime recorded" in page
    assert f"Your crime reference is {report.crime_reference}." in page
    assert report.counting_category == "Arson and criminal damage"

    other = make_report(db, settings)
    wrong = post(client, other, "crime", {"counting_category": "Made up offences"})
    assert wrong.status_code == 400 and 'href="#counting_category"' in wrong.text


def test_assign_duplicate_and_close(
    client: TestClient, world: World, db: Session, settings: Settings
) -> None:
    first = make_report(db, settings)
    second = make_report(db, settings)
    sign_in(client, "sup@force.example")

    unknown = post(client, first, "assign", {"user_email": "nobody@force.example", "team": ""})
    assert unknown.status_code == 400
    assert '<a href="#user_email">No officer of this force has that email</a>' in unknown.text
    empty = post(client, first, "assign", {"user_email": "", "team": ""})
    assert empty.status_code == 400 and "Give an officer" in empty.text
    assigned = post(
        client, first, "assign", {"user_email": "officer@force.example", "team": "NPT North"}
    )
    page = client.get(assigned.headers["location"]).text
    assert "Report assigned" in page and "Officer (officer@force.example), NPT North" in page

    itself = post(client, second, "duplicate", {"duplicate_reference": second.reference})
    assert itself.status_code == 400 and 'href="#duplicate_reference"' in itself.text
    linked = post(
        client,
        second,
        "duplicate",
        {"duplicate_reference": first.reference.lower().replace("-", "")},
    )
    page = client.get(linked.headers["location"]).text
    assert "Report linked as a duplicate" in page
    assert f'href="/staff/reports/{first.id}">{first.reference}</a>' in page
    assert "Grade with THRIVE" not in page and "no longer be changed" in page

    short = post(client, first, "close", {"outcome": "ok"})
    assert short.status_code == 400 and 'href="#outcome"' in short.text
    closed = post(client, first, "close", {"outcome": "Advice given; no further action"})
    page = client.get(closed.headers["location"]).text
    assert "Report closed" in page
    assert "We have finished dealing with your report: Advice given; no further action" in page
    assert 'action="/staff/reports/' not in page.replace('action="/logout"', "")
    stale = client.post(
        f"/staff/reports/{first.id}/close",
        data={"csrf_token": csrf_of(page), "outcome": "Again"},
        follow_redirects=False,
    )
    assert stale.status_code == 400 and "closed already" in stale.text


def test_partner_viewers_of_the_force_cannot_act(
    client: TestClient, world: World, db: Session, settings: Settings
) -> None:
    make_user(db, "viewer@force.example", "test-force", [Role.partner_viewer])
    report = make_report(db, settings)
    sign_in(client, "viewer@force.example")
    page = page_of(client, report)
    assert "Grade with THRIVE" not in page and "can read this report" in page
    refused = client.post(
        f"/staff/reports/{report.id}/triage",
        data={"csrf_token": csrf_of(page), **GOOD_THRIVE, "response": "priority"},
        follow_redirects=False,
    )
    assert refused.status_code == 403


def test_a_message_to_the_reporter_is_emailed(
    client: TestClient, world: World, db: Session, settings: Settings, app: FastAPI
) -> None:
    report = make_report(db, settings, reporter_email="victim@example.com")
    sign_in(client, "officer@force.example")
    blank = post(client, report, "message", {"message_body": "  "})
    assert blank.status_code == 400 and 'href="#message_body"' in blank.text
    sent = post(client, report, "message", {"message_body": "Can you send a photo of it?"})
    assert sent.status_code == 303
    page = client.get(sent.headers["location"]).text
    assert "Message sent to the reporter" in page
    assert "Can you send a photo of it?" in page and "To the reporter, from Officer" in page
    mails = list(Path(app.state.notifier.folder).glob("*.eml"))
    assert len(mails) == 1
    mail = mails[0].read_text()
    assert "To: victim@example.com" in mail and report.reference in mail
    assert "There is a new message about your report." in mail
    assert "Can you send a photo" not in mail  # the text itself stays on Peel

    silent = make_report(db, settings)
    sent = post(client, silent, "message", {"message_body": "Please call 101."})
    assert "gave no email address" in client.get(sent.headers["location"]).text
    assert len(list(Path(app.state.notifier.folder).glob("*.eml"))) == 1


# --- evidence --------------------------------------------------------------------------------


def _attach(
    db: Session,
    app: FastAPI,
    report: Report,
    content: bytes,
    content_type: str,
    kind: str,
    name: str,
) -> ReportAttachment:
    blob = app.state.blobs.put_stream([content])
    item = ReportAttachment(
        report_id=report.id,
        sha256=blob.sha256,
        size=blob.size,
        content_type=content_type,
        kind=kind,
        original_name=name,
        added_by="reporter",
    )
    db.add(item)
    db.flush()
    return item


def test_attachments_are_served_inline_and_the_read_is_audited(
    client: TestClient, world: World, db: Session, settings: Settings, app: FastAPI
) -> None:
    report = make_report(db, settings)
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    image = _attach(db, app, report, png, "image/png", "image", 'shed "door"\r\n.png')
    video = _attach(
        db, app, report, b"\x00\x00\x00\x18ftypmp42" + b"v" * 100, "video/mp4", "video", "clip.mp4"
    )
    other = _attach(db, app, report, b"II*\x00tiff", "image/tiff", "image", "scan.tif")
    sign_in(client, "officer@force.example")

    page = page_of(client, report)
    url = f"/staff/reports/{report.id}/attachments/{image.id}"
    assert f'<img src="{url}"' in page
    video_url = f"/staff/reports/{report.id}/attachments/{video.id}"
    assert f'<video controls preload="metadata" width="320" src="{video_url}">' in page
    assert f'<img src="/staff/reports/{report.id}/attachments/{other.id}"' not in page
    assert "shed &#34;door&#34;" in page

    served = client.get(url)
    assert served.status_code == 200
    assert served.content == png
    assert served.headers["content-type"] == "image/png"
    assert served.headers["content-disposition"].startswith('inline; filename="shed _door_.png"')
    assert "\r" not in served.headers["content-disposition"]
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["content-length"] == str(len(png))
    reads = db.scalars(
        select(AuditEvent).where(
            AuditEvent.action == "report.read",
            AuditEvent.record_id == report.id,
            AuditEvent.actor_user_id == world.users["officer"].id,
        )
    ).all()
    assert reads and reads[-1].detail == "TLP:AMBER"

    part = client.get(video_url, headers={"Range": "bytes=4-11"})
    assert part.status_code == 206
    assert part.content == b"ftypmp42"
    assert part.headers["content-range"] == f"bytes 4-11/{video.size}"
    tail = client.get(video_url, headers={"Range": "bytes=-3"})
    assert tail.status_code == 206 and tail.content == b"vvv"
    beyond = client.get(video_url, headers={"Range": f"bytes={video.size}-"})
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{video.size}"

    wrong_report = make_report(db, settings)
    assert client.get(f"/staff/reports/{wrong_report.id}/attachments/{image.id}").status_code == 404


def test_files_that_are_not_media_are_downloads(
    client: TestClient, world: World, db: Session, settings: Settings, app: FastAPI
) -> None:
    report = make_report(db, settings)
    item = _attach(
        db, app, report, b"<html><script>alert(1)</script>", "text/html", "other", "evil.html"
    )
    sign_in(client, "officer@force.example")
    served = client.get(f"/staff/reports/{report.id}/attachments/{item.id}")
    assert served.status_code == 200
    assert served.headers["content-type"] == "application/octet-stream"
    assert served.headers["content-disposition"] == 'attachment; filename="evil.html"'


def test_content_disposition_and_ranges() -> None:
    assert streaming.safe_filename("../../etc/passwd") == "etc_passwd"
    assert streaming.safe_filename("") == "attachment"
    header = streaming.content_disposition("inline", "café photo.jpg")
    assert header == "inline; filename=\"caf_ photo.jpg\"; filename*=UTF-8''caf%C3%A9%20photo.jpg"
    assert streaming.byte_range(None, 10) is None
    assert streaming.byte_range("bytes=0-0", 10) == (0, 0)
    assert streaming.byte_range("bytes=5-100", 10) == (5, 9)
    assert streaming.byte_range("bytes=0-1,4-5", 10) is None
    with pytest.raises(streaming.Unsatisfiable):
        streaming.byte_range("bytes=7-3", 10)


# --- escaping -------------------------------------------------------------------------------


def test_hostile_text_is_escaped(
    client: TestClient, world: World, db: Session, settings: Settings
) -> None:
    hostile = "<script>alert('pwned')</script>"
    report = make_report(
        db,
        settings,
        description=f"It said {hostile} on the wall",
        reporter_name=hostile,
        suspect=f'" onmouseover="x {hostile}',
        location=LocationIn(kind="postcode", postcode="SW1A 2AA", description=hostile),
    )
    sign_in(client, "officer@force.example")
    page = page_of(client, report)
    assert hostile not in page
    assert "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;" in page
    assert "&#34; onmouseover=&#34;x" in page
    client.post(
        f"/staff/reports/{report.id}/message",
        data={"csrf_token": csrf_of(page), "message_body": hostile},
    )
    queue = client.get("/staff/reports").text
    assert hostile not in queue and "SW1A 2AA" in queue
    assert hostile not in page_of(client, report)

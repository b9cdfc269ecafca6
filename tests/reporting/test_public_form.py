"""A member of the public reports, step by step without JavaScript, then tracks and replies."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from peel.core.models import AuditEvent
from peel.reporting import flows, service
from peel.reporting.enums import THRIVE, Rating, Response
from peel.reporting.models import Report, ReportAttachment
from peel.reporting.schemas import TriageIn
from tests.conftest import World, csrf_of, png_bytes


@pytest.fixture
def public(client: TestClient, world: World) -> TestClient:
    client.app.state.settings = client.app.state.settings.model_copy(  # type: ignore[attr-defined]
        update={"reporting_default_force": "test-force"}
    )
    return client


def start(client: TestClient) -> str:
    token = csrf_of(client.get("/report/safety").text)
    response = client.post("/report/safety", data={"csrf_token": token, "danger": "no"})
    assert response.url.path == "/report/what"
    return token


def fill(client: TestClient, token: str, email: str | None = "victim@example.com") -> None:
    steps = [
        ("what", {"category": "burglary"}),
        (
            "where",
            {
                "location_kind": "grid_reference",
                "grid_reference": "SZ 08 91",
                "place": "back garden",
            },
        ),
        ("when", {"day": "1", "month": "11", "year": "2026", "time": "21:30"}),
        (
            "details",
            {
                "description": "Shed broken into overnight; two bikes taken.",
                "suspect": "<script>alert(1)</script>",
            },
        ),
        (
            "contact",
            {"anonymous": "no", "reporter_name": "Val Victim", "reporter_email": email or ""}
            if email
            else {"anonymous": "yes"},
        ),
    ]
    for step, values in steps:
        response = client.post(f"/report/{step}", data={"csrf_token": token, **values})
        assert response.status_code == 200, (step, response.text[:500])
    evidence = client.post(
        "/report/evidence",
        data={"csrf_token": token, "action": "add"},
        files={"evidence": ("shed.png", png_bytes(1, 1), "image/png")},
    )
    assert evidence.status_code == 200 and "shed.png" in evidence.text


def test_report_with_a_photo_then_track_and_reply(
    public: TestClient, world: World, settings
) -> None:
    token = start(public)
    fill(public, token)
    check = public.get("/report/check")
    assert "Burglary" in check.text and "SZ 08 91" in check.text
    assert "&lt;script&gt;" in check.text or "alert" not in check.text
    done = public.post("/report/submit", data={"csrf_token": token, "website": ""})
    assert done.status_code == 200 and "Report sent" in done.text
    reference = re.search(r'peel-reference">([^<]+)<', done.text).group(1)
    secret = "".join(re.search(r'peel-secret">([^<]+)<', done.text).group(1).split())
    report = world.db.scalar(select(Report).where(Report.reference == reference))
    assert report.owner_org_id == world.orgs["force"].id and report.tlp == "AMBER"
    assert report.easting == 408500 and report.northing == 91500  # centre of SZ 08 91
    (attachment,) = report.attachments
    assert attachment.content_type == "image/png" and attachment.size == len(png_bytes(1, 1))
    assert public.app.state.blobs.exists(attachment.sha256)  # type: ignore[attr-defined]
    mail = list((settings.data_dir / "mail").glob("*.eml"))
    assert mail and reference in mail[0].read_text()

    again = public.post("/report/submit", data={"csrf_token": token, "website": ""})
    assert "You have already sent this report" in again.text
    assert world.db.scalar(select(Report).where(Report.reference == reference)) is not None
    assert len(world.db.scalars(select(Report)).all()) == 1

    flows.triage(
        world.db,
        world.principal("supervisor"),
        report.id,
        TriageIn(thrive={k: Rating.medium for k in THRIVE}, response=Response.scheduled),
    )
    flows.message_reporter(
        world.db,
        world.principal("officer"),
        report.id,
        "Please keep the shed as it is; CSI will visit.",
    )
    tracked = public.post(
        "/track", data={"csrf_token": token, "reference": reference.lower(), "code": secret}
    )
    assert tracked.url.path == f"/track/{reference}"
    assert "An officer is looking at your report." in tracked.text
    assert "CSI will visit" in tracked.text
    reply = public.post(
        f"/track/{reference}/reply",
        data={"csrf_token": token, "message": "The neighbour has CCTV too."},
    )
    assert "Message sent to the officer" in reply.text
    more = public.post(
        f"/track/{reference}/evidence",
        data={"csrf_token": token},
        files={"evidence": ("cctv.png", png_bytes(1, 1) + b"x", "image/png")},
    )
    assert "1 file added" in more.text


def test_wrong_tracking_code_and_unknown_reference_look_the_same(
    public: TestClient, world: World
) -> None:
    token = start(public)
    fill(public, token, email=None)
    done = public.post("/report/submit", data={"csrf_token": token, "website": ""})
    reference = re.search(r'peel-reference">([^<]+)<', done.text).group(1)
    wrong_code = public.post(
        "/track", data={"csrf_token": token, "reference": reference, "code": "AAAAAAAAAAAA"}
    )
    unknown = public.post(
        "/track", data={"csrf_token": token, "reference": "2222-2222", "code": "AAAAAAAAAAAA"}
    )
    assert wrong_code.status_code == unknown.status_code == 400
    assert "The reference or tracking code is not right" in wrong_code.text
    assert public.get(f"/track/{reference}", follow_redirects=False).status_code == 303


@pytest.mark.parametrize(
    ("step", "values", "field", "message"),
    [
        ("where", {"location_kind": "postcode", "postcode": "NOT A CODE"}, "postcode", "postcode"),
        (
            "where",
            {"location_kind": "latlon", "lat_text": "48.8566", "lon_text": "2.3522"},
            "lat_text",
            "outside the UK",
        ),
        (
            "where",
            {"location_kind": "grid_reference", "grid_reference": "ZZ 123 456"},
            "grid_reference",
            "",
        ),
        ("where", {"location_kind": "plus_code", "plus_code": "not+a+code"}, "plus_code", ""),
        ("where", {"location_kind": "bng", "easting": "-5", "northing": "10"}, "easting", ""),
        ("when", {"day": "1", "month": "1", "year": "2999"}, "day", "today or in the past"),
        ("when", {"day": "31", "month": "2", "year": "2026"}, "day", "real date"),
        ("details", {"description": "short"}, "description", "a few words"),
        (
            "contact",
            {"anonymous": "no", "reporter_email": "not-an-email"},
            "reporter_email",
            "email address",
        ),
        ("what", {"category": "time-travel"}, "category", "Select what happened"),
    ],
)
def test_bad_answers_get_a_clear_message(
    public: TestClient, step: str, values: dict[str, str], field: str, message: str
) -> None:
    token = start(public)
    response = public.post(f"/report/{step}", data={"csrf_token": token, **values})
    assert response.status_code == 400
    assert "There is a problem" in response.text
    assert f'href="#{field}"' in response.text
    assert message in response.text


def test_files_are_checked_by_their_bytes(public: TestClient) -> None:
    token = start(public)
    for name, data, declared in [
        ("holiday.jpg", b"MZ\x90\x00" + b"\x00" * 200, "image/jpeg"),
        ("empty.png", b"", "image/png"),
        ("notes.zip", b"PK\x03\x04" + b"\x00" * 100, "application/zip"),
    ]:
        response = public.post(
            "/report/evidence",
            data={"csrf_token": token, "action": "add"},
            files={"evidence": (name, data, declared)},
        )
        assert response.status_code == 400, name
        assert name in response.text


def test_honeypot_and_missing_answers_do_not_create_a_report(
    public: TestClient, world: World
) -> None:
    token = start(public)
    early = public.post("/report/submit", data={"csrf_token": token, "website": ""})
    assert early.status_code == 400 and "Answer every question" in early.text
    fill(public, token)
    bot = public.post("/report/submit", data={"csrf_token": token, "website": "http://spam"})
    assert bot.status_code == 400
    assert world.db.scalars(select(Report)).all() == []


def test_someone_in_danger_is_told_to_call_999(public: TestClient) -> None:
    token = csrf_of(public.get("/report/safety").text)
    response = public.post("/report/safety", data={"csrf_token": token, "danger": "yes"})
    assert "Call 999 now" in response.text


def test_api_submission_is_idempotent_and_audited(public: TestClient, world: World) -> None:
    body = {
        "category": "vehicle-crime",
        "description": "Catalytic converter cut off overnight.",
        "location": {"kind": "latlon", "lat": "50.72", "lon": "-1.88"},
    }
    first = public.post("/api/v1/reports", json=body, headers={"Idempotency-Key": "abc-1"})
    assert first.status_code == 201
    created = first.json()
    assert re.fullmatch(r"[2-9A-HJKMNP-TV-Z]{4}-[2-9A-HJKMNP-TV-Z]{4}", created["reference"])
    again = public.post("/api/v1/reports", json=body, headers={"Idempotency-Key": "abc-1"})
    assert again.status_code == 409 and created["reference"] in again.json()["detail"]
    bad = public.post("/api/v1/reports", json={**body, "occurred_at": "2999-01-01T00:00:00Z"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "occurred_at"
    events = world.db.scalars(select(AuditEvent).where(AuditEvent.action == "report.create"))
    assert [e.record_id for e in events] == [created["id"]]


def test_another_force_and_partners_cannot_see_a_report(public: TestClient, world: World) -> None:
    response = public.post(
        "/api/v1/reports",
        json={"category": "burglary", "description": "Front door kicked in while we were away."},
    )
    report_id = response.json()["id"]
    from peel.core.policy import NotFound

    for who in ("lawyer", "teacher", "social"):
        with pytest.raises(NotFound):
            service.get_report(world.db, world.principal(who), report_id)
    assert service.get_report(world.db, world.principal("officer"), report_id).id == report_id


def test_attachment_rows_point_at_stored_bytes(
    public: TestClient, world: World, tmp_path: Path
) -> None:
    token = start(public)
    fill(public, token)
    public.post("/report/submit", data={"csrf_token": token, "website": ""})
    for attachment in world.db.scalars(select(ReportAttachment)):
        assert public.app.state.blobs.verify(attachment.sha256)  # type: ignore[attr-defined]


def test_a_file_the_virus_check_flags_is_refused_and_forgotten(public: TestClient) -> None:
    from peel.core.scan import ClamdScanner
    from tests.core.test_scan import EICAR_MARK, FakeClamd

    clamd = FakeClamd()
    try:
        public.app.state.scanner = ClamdScanner(clamd.address, timeout=5)  # type: ignore[attr-defined]
        token = start(public)
        bad = png_bytes(1, 1) + EICAR_MARK
        response = public.post(
            "/report/evidence",
            data={"csrf_token": token, "action": "add"},
            files={"evidence": ("photo.png", bad, "image/png")},
        )
        assert response.status_code == 400 and "refused by the virus check" in response.text
        import hashlib

        assert not public.app.state.blobs.exists(hashlib.sha256(bad).hexdigest())  # type: ignore[attr-defined]
        ok = public.post(
            "/report/evidence",
            data={"csrf_token": token, "action": "add"},
            files={"evidence": ("photo.png", png_bytes(1, 1), "image/png")},
        )
        assert ok.status_code == 200 and "photo.png" in ok.text
    finally:
        clamd.close()

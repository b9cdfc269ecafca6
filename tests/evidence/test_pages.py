"""The digital evidence pages, driven through the real forms as officers, the CPS and others."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import zipfile
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from peel.core.db import new_id, utcnow
from peel.core.models import AuditEvent, Job
from peel.core.uploads import encode_metadata
from peel.evidence import item_pages, links, oversight_pages, pages, service
from peel.evidence.models import CustodyEvent, EvidenceHold, EvidenceItem, ShareLink
from peel.reporting import service as report_service
from peel.reporting.schemas import ReportCreate
from tests.conftest import World, csrf_of, png_bytes, sign_in

OFFICER = "officer@force.example"
SUPERVISOR = "sup@force.example"
LAWYER = "lawyer@cps.example"
SOCIAL_WORKER = "social@council.example"
PNG = png_bytes(16, 12)


# --- helpers: a person in a browser ---------------------------------------------------------


def browser(app: FastAPI, email: str) -> TestClient:
    """Another signed-in browser on the same app (each keeps its own session cookie)."""
    other = TestClient(app, base_url="http://testserver")
    assert sign_in(other, email).status_code == 303
    return other


def post_form(client: TestClient, page_url: str, action: str, data: dict, **kwargs):
    """Post a form the way a browser does: with the CSRF token of the page it is on."""
    token = csrf_of(client.get(page_url).text)
    return client.post(action, data={"csrf_token": token, **data}, follow_redirects=False, **kwargs)


def open_case(client: TestClient, title: str = "Burglary at 14 Mill Lane", tlp: str = "AMBER"):
    response = post_form(
        client,
        "/evidence/cases/new",
        "/evidence/cases/new",
        {"title": title, "description": "Rear door forced", "tlp": tlp, "officer_in_charge": ""},
    )
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.endswith("?done=opened")
    return location.split("/evidence/cases/", 1)[1].split("?", 1)[0]


def add_png(client: TestClient, case_id: str, name: str = "door.png", content: bytes = PNG):
    url = f"/evidence/cases/{case_id}"
    response = post_form(
        client,
        url,
        f"{url}/files",
        {"description": "Photo of the forced door"},
        files={"files": (name, content, "image/png")},
    )
    assert response.status_code == 303, response.text
    return response


def items_of(world: World, case_id: str) -> list[EvidenceItem]:
    return list(
        world.db.scalars(
            select(EvidenceItem)
            .where(EvidenceItem.case_id == case_id)
            .order_by(EvidenceItem.added_at)
            .execution_options(populate_existing=True)
        )
    )


def custody_kinds(world: World, item_id: str) -> list[str]:
    return list(
        world.db.scalars(
            select(CustodyEvent.kind)
            .where(CustodyEvent.item_id == item_id)
            .order_by(CustodyEvent.seq)
        )
    )


@pytest.fixture
def case_with_file(client: TestClient, world: World) -> tuple[str, EvidenceItem]:
    """The officer's case holding one photo, added through the plain form."""
    sign_in(client, OFFICER)
    case_id = open_case(client)
    add_png(client, case_id)
    (item,) = items_of(world, case_id)
    return case_id, item


# --- the officer's flow ---------------------------------------------------------------------


def test_officer_opens_a_case_adds_a_photo_and_sees_its_custody(client: TestClient, world: World):
    sign_in(client, OFFICER)
    home = client.get("/evidence")
    assert home.status_code == 200
    assert "No cases yet" in home.text and 'href="/evidence/cases/new"' in home.text

    case_id = open_case(client)
    page = client.get(f"/evidence/cases/{case_id}?done=opened").text
    assert "Case opened" in page and "Burglary at 14 Mill Lane" in page
    assert "No files in this case yet" in page
    assert 'data-resumable="/api/v1/uploads/"' in page and "/static/evidence/upload.js" in page

    added = add_png(client, case_id)
    assert added.headers["location"] == f"/evidence/cases/{case_id}?done=uploaded#items"
    (item,) = items_of(world, case_id)
    assert item.sha256 == hashlib.sha256(PNG).hexdigest()
    assert item.source == "upload" and item.kind == "image"
    assert item.thumb_sha256 and item.preview_status == "original"  # described by the job

    page = client.get(f"/evidence/cases/{case_id}").text
    assert "door.png" in page and f'<img src="/evidence/items/{item.id}/thumb"' in page
    assert client.get("/evidence").text.count(f'href="/evidence/cases/{case_id}"') == 1

    item_page = client.get(f"/evidence/items/{item.id}")
    assert item_page.status_code == 200
    assert item.sha256 in item_page.text
    assert f'src="/evidence/items/{item.id}/preview"' in item_page.text
    for label in ("Received", "Preview made", "Viewed"):
        assert f'<td class="govuk-table__cell">{label}</td>' in item_page.text
    assert "/api/v1/evidence/log/proof/inclusion?index=" in item_page.text
    assert custody_kinds(world, item.id) == ["received", "preview", "viewed"]

    thumb = client.get(f"/evidence/items/{item.id}/thumb")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    preview = client.get(f"/evidence/items/{item.id}/preview")
    assert preview.status_code == 200 and preview.content == PNG
    assert preview.headers["content-type"] == "image/png"


def test_the_hash_check_is_recorded_and_shown(
    client: TestClient, world: World, case_with_file: tuple[str, EvidenceItem]
):
    _case_id, item = case_with_file
    url = f"/evidence/items/{item.id}"
    checked = post_form(client, url, f"{url}/hash", {})
    assert checked.status_code == 303 and checked.headers["location"] == f"{url}?done=hashed"
    page = client.get(checked.headers["location"]).text
    assert "The file is unchanged" in page and "Hash checked" in page
    assert custody_kinds(world, item.id)[-2:] == ["hashed", "viewed"]

    # Bytes changed behind Peel's back are reported, and the mismatch is in the log too.
    path = client.app.state.blobs.path_for(item.sha256)  # type: ignore[attr-defined]
    path.chmod(0o644)
    path.write_bytes(PNG + b"tampered")
    post_form(client, url, f"{url}/hash", {})
    page = client.get(f"{url}?done=hashed").text
    assert "The file does not match its hash" in page
    entry = world.db.scalars(
        select(CustodyEvent.entry)
        .where(CustodyEvent.item_id == item.id, CustodyEvent.kind == "hashed")
        .order_by(CustodyEvent.seq.desc())
    ).first()
    assert entry is not None and '"match":false' in entry.replace(" ", "")
    audits = world.db.scalars(
        select(AuditEvent.detail).where(AuditEvent.action == "evidence_item.hash_check")
    ).all()
    assert "the SHA-256 matches" in audits and any(d.startswith("MISMATCH") for d in audits)


def test_a_download_is_audited_and_appended_to_the_custody_log(
    client: TestClient, world: World, case_with_file: tuple[str, EvidenceItem]
):
    _case_id, item = case_with_file
    response = client.get(f"/evidence/items/{item.id}/download")
    assert response.status_code == 200 and response.content == PNG
    assert response.headers["content-disposition"].startswith("attachment")
    assert custody_kinds(world, item.id)[-1] == "downloaded"
    audited = world.db.scalars(
        select(AuditEvent).where(
            AuditEvent.action == "evidence_item.downloaded", AuditEvent.record_id == item.id
        )
    ).all()
    assert len(audited) == 1 and audited[0].detail == "original"

    marked = client.get(f"/evidence/items/{item.id}/download?watermark=1")
    assert marked.status_code == 200 and marked.content.startswith(b"\x89PNG")
    assert marked.content != PNG
    assert custody_kinds(world, item.id)[-1] == "downloaded"


# --- sharing with the CPS, and who cannot see ----------------------------------------------


def test_shared_with_the_cps_and_hidden_from_the_council(
    client: TestClient, app: FastAPI, world: World, case_with_file: tuple[str, EvidenceItem]
):
    case_id, item = case_with_file
    case_url = f"/evidence/cases/{case_id}"
    # The officer may send the case to the prosecutor, and to nobody else.
    page = client.get(case_url).text
    assert 'action="/evidence/cases/' + case_id + '/shares"' in page
    assert "Test Cps" in page and "Test Council" not in page
    refused = post_form(
        client, case_url, f"{case_url}/shares", {"share_organisation": "test-council"}
    )
    assert refused.status_code == 403

    supervisor = browser(app, SUPERVISOR)
    shared = post_form(
        supervisor, case_url, f"{case_url}/shares", {"share_organisation": "test-cps"}
    )
    assert shared.status_code == 303
    page = supervisor.get(f"{case_url}?done=shared").text
    assert "Test Cps" in page and "The whole case" in page

    lawyer = browser(app, LAWYER)
    listing = lawyer.get("/evidence/shared").text
    assert "Burglary at 14 Mill Lane" in listing and "door.png" in listing
    assert f'href="/evidence/items/{item.id}"' in listing
    seen = lawyer.get(f"/evidence/items/{item.id}")
    assert seen.status_code == 200 and item.sha256 in seen.text
    assert "Delete file" not in seen.text and "Change retention" not in seen.text
    assert lawyer.get(f"/evidence/items/{item.id}/thumb").status_code == 200
    assert lawyer.get(case_url).status_code == 200
    viewers = world.db.scalars(
        select(CustodyEvent.actor).where(
            CustodyEvent.item_id == item.id, CustodyEvent.kind == "viewed"
        )
    ).all()
    assert any(LAWYER in actor for actor in viewers)

    council = browser(app, SOCIAL_WORKER)
    for url in (
        case_url,
        f"/evidence/items/{item.id}",
        f"/evidence/items/{item.id}/thumb",
        f"/evidence/items/{item.id}/preview",
        f"/evidence/items/{item.id}/download",
    ):
        response = council.get(url)
        assert response.status_code == 404, url
        assert "door.png" not in response.text
    assert "Nothing shared with you yet" in council.get("/evidence/shared").text

    # Stopping the share takes it away from the CPS again.
    stopped = post_form(supervisor, case_url, f"{case_url}/shares/test-cps/remove", {})
    assert stopped.status_code == 303
    assert lawyer.get(f"/evidence/items/{item.id}").status_code == 404


def test_sharing_chosen_files_with_an_expiry(
    client: TestClient, app: FastAPI, world: World, case_with_file: tuple[str, EvidenceItem]
):
    case_id, item = case_with_file
    add_png(client, case_id, "window.png", png_bytes(5, 5))
    other = next(i for i in items_of(world, case_id) if i.id != item.id)
    supervisor = browser(app, SUPERVISOR)
    case_url = f"/evidence/cases/{case_id}"
    bad = post_form(
        supervisor,
        case_url,
        f"{case_url}/shares",
        {"share_organisation": "test-cps", "share_expires": "31/01/2027"},
    )
    assert bad.status_code == 400 and "govuk-error-summary" in bad.text
    assert 'href="#share_expires"' in bad.text
    until = (utcnow() + timedelta(days=30)).strftime("%Y-%m-%d")
    ok = post_form(
        supervisor,
        case_url,
        f"{case_url}/shares",
        {"share_organisation": "test-cps", "share_expires": until, "share_items": [item.id]},
    )
    assert ok.status_code == 303
    lawyer = browser(app, LAWYER)
    assert lawyer.get(f"/evidence/items/{item.id}").status_code == 200
    assert lawyer.get(f"/evidence/items/{other.id}").status_code == 404
    assert lawyer.get(case_url).status_code == 404  # only the file was shared, not the case
    assert f"File {item.name}" in supervisor.get(case_url).text


# --- share links ----------------------------------------------------------------------------


def test_a_share_link_shows_its_code_once(
    client: TestClient, app: FastAPI, world: World, case_with_file: tuple[str, EvidenceItem]
):
    case_id, _item = case_with_file
    supervisor = browser(app, SUPERVISOR)
    case_url = f"/evidence/cases/{case_id}"
    missing = post_form(supervisor, case_url, f"{case_url}/links", {"link_days": "7"})
    assert missing.status_code == 400 and 'href="#link_name"' in missing.text

    made = post_form(
        supervisor,
        case_url,
        f"{case_url}/links",
        {
            "link_name": "Dana Defence",
            "link_email": "dana@defence.example",
            "link_purpose": "Defence disclosure",
            "link_days": "7",
            "link_watermark": "yes",
        },
    )
    assert made.status_code == 200
    assert made.headers["cache-control"] == "no-store"
    url = re.search(r'value="(http://testserver/evidence/link/[A-Za-z0-9_-]{20,})"', made.text)
    code = re.search(r'id="link-code">(\d{4}) (\d{4})<', made.text)
    assert url and code
    assert "Send the code separately" in made.text
    link = world.db.scalars(select(ShareLink).where(ShareLink.case_id == case_id)).one()
    assert links.find_link(world.db, url.group(1).rsplit("/", 1)[1]).id == link.id
    assert links.check_code(world.db, link, code.group(1) + code.group(2))
    world.db.flush()

    page = supervisor.get(case_url).text
    assert "Dana Defence" in page and "Not opened yet" not in page  # the code was used above
    assert code.group(1) + " " + code.group(2) not in page
    revoked = post_form(supervisor, case_url, f"/evidence/links/{link.id}/revoke", {})
    assert revoked.status_code == 303
    assert "Withdrawn" in supervisor.get(case_url).text
    # Officers cannot make links: the form is not offered and a forged post is refused.
    assert f'action="{case_url}/links"' not in client.get(case_url).text
    forged = post_form(client, case_url, f"{case_url}/links", {"link_name": "x"})
    assert forged.status_code == 403


# --- holds, deletion and retention ----------------------------------------------------------


def test_delete_is_refused_while_on_hold(
    client: TestClient, app: FastAPI, world: World, case_with_file: tuple[str, EvidenceItem]
):
    case_id, item = case_with_file
    case_url, item_url = f"/evidence/cases/{case_id}", f"/evidence/items/{item.id}"
    held = post_form(
        client,
        case_url,
        f"{case_url}/holds",
        {"hold_kind": "complaint", "hold_reason": "IOPC 2026/0042", "hold_item": ""},
    )
    assert held.status_code == 303
    assert "IOPC 2026/0042" in client.get(case_url).text
    assert "Delete file" not in client.get(item_url).text  # officers do not delete
    forbidden = post_form(client, item_url, f"{item_url}/delete", {"delete_reason": "x"})
    assert forbidden.status_code == 403

    supervisor = browser(app, SUPERVISOR)
    refused = post_form(supervisor, item_url, f"{item_url}/delete", {"delete_reason": "Not needed"})
    assert refused.status_code == 400
    assert "govuk-error-summary" in refused.text
    assert "cannot be deleted while on hold: Complaint (IOPC 2026/0042)" in refused.text
    assert items_of(world, case_id)[0].status == "present"

    hold = world.db.scalars(select(EvidenceHold).where(EvidenceHold.case_id == case_id)).one()
    no_reason = post_form(supervisor, "/evidence/holds", f"/evidence/holds/{hold.id}/release", {})
    assert no_reason.status_code == 400 and f'href="#release-{hold.id}"' in no_reason.text
    released = post_form(
        supervisor,
        "/evidence/holds",
        f"/evidence/holds/{hold.id}/release",
        {"reason": "Complaint closed"},
    )
    assert released.status_code == 303
    holds_page = supervisor.get("/evidence/holds").text
    assert "No holds are in force" in holds_page and "Complaint closed" in holds_page

    deleted = post_form(supervisor, item_url, f"{item_url}/delete", {"delete_reason": "Not needed"})
    assert deleted.status_code == 303
    page = supervisor.get(item_url).text
    assert "Deleted" in page and item.sha256 in page and "Download original" not in page
    assert supervisor.get(f"{item_url}/thumb").status_code == 404
    assert supervisor.get(f"{item_url}/download").status_code == 404
    assert "Not needed" in supervisor.get(case_url).text  # the tombstone stays in the case
    assert custody_kinds(world, item.id)[-2:] == ["deleted", "viewed"]


def test_retention_page_lists_a_due_clip_and_runs(client: TestClient, app: FastAPI, world: World):
    officer = world.principal("officer")
    clip = service.add_item(
        world.db,
        officer,
        service.NewItem(
            sha256=hashlib.sha256(b"clip").hexdigest(),
            size=4,
            content_type="video/mp4",
            kind="video",
            name="bwv-clip-0042.mp4",
            source="bwv",
            categories=("bwv-non-evidential",),
            captured_at=utcnow() - timedelta(days=40),
            device_id="BWV-0042",
            captured_by="PC 1234 Sam Patel",
        ),
    )
    world.db.flush()
    sign_in(client, OFFICER)
    page = client.get("/evidence/retention").text
    due = page.split("Due now", 1)[1].split("Coming up", 1)[0]
    assert "bwv-clip-0042.mp4" in due and "31 days from capture" in due
    assert "Run retention now" not in page  # officers see the plan but do not run it
    unfiled = client.get("/evidence/unfiled").text
    assert "BWV-0042" in unfiled and "PC 1234 Sam Patel" in unfiled
    assert "Due for deletion now" in unfiled

    supervisor = browser(app, SUPERVISOR)
    page = supervisor.get("/evidence/retention").text
    assert "Run retention now" in page and "bwv-non-evidential" in page
    run = post_form(supervisor, "/evidence/retention", "/evidence/retention/run", {})
    assert run.status_code == 303 and run.headers["location"].startswith("/jobs/")
    job = world.db.get(Job, run.headers["location"].rsplit("/", 1)[1])
    assert job is not None and job.status == "done", job.message if job else None
    world.db.refresh(clip)
    assert clip.status == "deleted"
    assert "Nothing is due for deletion" in supervisor.get("/evidence/retention").text


def test_a_retention_category_is_changed_from_the_page(
    client: TestClient, app: FastAPI, world: World
):
    supervisor = browser(app, SUPERVISOR)
    form = supervisor.get("/evidence/retention?change=bwv-non-evidential").text
    assert 'value="31"' in form
    data = {"code": "bwv-non-evidential", "name": "BWV", "rule": "fixed", "days": "abc"}
    bad = post_form(supervisor, "/evidence/retention", "/evidence/retention/categories", data)
    assert bad.status_code == 400 and 'href="#days"' in bad.text
    saved = post_form(
        supervisor,
        "/evidence/retention",
        "/evidence/retention/categories",
        {**data, "days": "28"},
    )
    assert saved.status_code == 303
    assert service.categories_of(world.db, world.orgs["force"].id)["bwv-non-evidential"].days == 28
    sign_in(client, OFFICER)
    refused = post_form(
        client, "/evidence/retention", "/evidence/retention/categories", {**data, "days": "5"}
    )
    assert refused.status_code == 403


def test_unfiled_video_is_added_to_a_case(client: TestClient, world: World):
    clip = service.add_item(
        world.db,
        world.principal("officer"),
        service.NewItem(
            sha256=hashlib.sha256(b"clip two").hexdigest(),
            size=8,
            content_type="video/mp4",
            kind="video",
            name="bwv-clip-0043.mp4",
            source="bwv",
            categories=("bwv-non-evidential",),
            captured_at=utcnow() - timedelta(days=2),
            device_id="BWV-0043",
            captured_by="PC 77 Ali Khan",
        ),
    )
    world.db.flush()
    sign_in(client, OFFICER)
    case_id = open_case(client, "Assault outside the Red Lion")
    unfiled = client.get("/evidence/unfiled").text
    assert "Assault outside the Red Lion" in unfiled and "days)" in unfiled
    missing = post_form(
        client, "/evidence/unfiled", f"/evidence/items/{clip.id}/file", {"back": "unfiled"}
    )
    assert missing.status_code == 400 and f'href="#case-{clip.id}"' in missing.text
    filed = post_form(
        client,
        "/evidence/unfiled",
        f"/evidence/items/{clip.id}/file",
        {"back": "unfiled", "case_id": case_id},
    )
    assert filed.status_code == 303 and filed.headers["location"] == "/evidence/unfiled?done=filed"
    assert "No unfiled files" in client.get("/evidence/unfiled").text
    assert "bwv-clip-0043.mp4" in client.get(f"/evidence/cases/{case_id}").text
    assert "filed" in custody_kinds(world, clip.id)


def test_closing_a_case_hides_adding_files(client: TestClient, world: World):
    sign_in(client, OFFICER)
    case_id = open_case(client)
    url = f"/evidence/cases/{case_id}"
    closed = post_form(client, url, f"{url}/status", {"status": "closed", "status_reason": "NFA"})
    assert closed.status_code == 303 and closed.headers["location"].endswith("done=closed")
    page = client.get(url).text
    assert "Case closed" not in page  # no banner without ?done
    assert "This case is closed. Reopen it to add files." in page
    assert f'action="{url}/files"' not in page
    reopened = post_form(client, url, f"{url}/status", {"status": "open"})
    assert reopened.headers["location"].endswith("done=reopened")


# --- other ways in: resumable uploads and online reports -------------------------------------


def test_a_resumable_upload_is_added_to_the_case(client: TestClient, world: World):
    sign_in(client, OFFICER)
    case_id = open_case(client)
    token = csrf_of(client.get(f"/evidence/cases/{case_id}").text)
    created = client.post(
        "/api/v1/uploads/",
        headers={
            "Tus-Resumable": "1.0.0",
            "Upload-Length": str(len(PNG)),
            "Upload-Metadata": encode_metadata(
                {"filename": "cctv.png", "filetype": "image/png", "purpose": "evidence"}
            ),
            "X-CSRF-Token": token,
        },
    )
    assert created.status_code == 201, created.text
    upload_id = created.headers["location"].rstrip("/").rsplit("/", 1)[1]
    patched = client.patch(
        f"/api/v1/uploads/{upload_id}",
        content=PNG,
        headers={
            "Tus-Resumable": "1.0.0",
            "Upload-Offset": "0",
            "Content-Type": "application/offset+octet-stream",
            "X-CSRF-Token": token,
        },
    )
    assert patched.status_code == 204, patched.text
    added = client.post(
        f"/evidence/cases/{case_id}/uploads",
        data={"csrf_token": token, "upload_id": upload_id},
        headers={"Accept": "application/json"},
    )
    assert added.status_code == 200, added.text
    (item,) = added.json()["items"]
    assert item["name"] == "cctv.png" and item["url"] == f"/evidence/items/{item['id']}"
    again = client.post(
        f"/evidence/cases/{case_id}/uploads",
        data={"csrf_token": token, "upload_id": new_id()},
        headers={"Accept": "application/json"},
    )
    assert again.status_code == 400 and "upload the file again" in again.json()["errors"]["files"]
    assert [i.name for i in items_of(world, case_id)] == ["cctv.png"]


def test_a_reports_photos_are_taken_into_the_case(client: TestClient, app: FastAPI, world: World):
    blob = app.state.blobs.put_stream([PNG])
    settings = app.state.settings.model_copy(update={"reporting_default_force": "test-force"})
    report, _secret = report_service.submit_report(
        world.db,
        settings,
        ReportCreate(
            category="criminal-damage-arson",
            description="Someone broke into my shed last night.",
        ),
        location=None,
        force_area=(None, None),
        attachments=[
            report_service.NewAttachment(blob.sha256, blob.size, "image/png", "image", "shed.png")
        ],
        submission_key=new_id(),
    )
    world.db.flush()
    sign_in(client, OFFICER)
    case_id = open_case(client)
    url = f"/evidence/cases/{case_id}"
    unknown = post_form(client, url, f"{url}/report", {"report_reference": "AAAA-AAAA"})
    assert unknown.status_code == 400 and 'href="#report_reference"' in unknown.text
    taken = post_form(client, url, f"{url}/report", {"report_reference": report.reference})
    assert taken.headers["location"].endswith("done=imported#items")
    (item,) = items_of(world, case_id)
    assert item.sha256 == blob.sha256 and item.source == "report"
    again = post_form(client, url, f"{url}/report", {"report_reference": report.reference})
    assert again.headers["location"].endswith("done=nothing#items")


# --- court bundles and the custody log ------------------------------------------------------


def test_a_court_bundle_is_exported_and_downloaded_by_its_maker(
    client: TestClient, app: FastAPI, world: World, case_with_file: tuple[str, EvidenceItem]
):
    case_id, _item = case_with_file
    url = f"/evidence/cases/{case_id}"
    started = post_form(client, url, f"{url}/export", {})
    assert started.status_code == 303 and started.headers["location"].startswith("/jobs/")
    job_id = started.headers["location"].rsplit("/", 1)[1]
    job = world.db.get(Job, job_id)
    assert job is not None and job.status == "done", job.message if job else None
    assert f'href="/evidence/exports/{job_id}"' in client.get(url).text

    bundle = client.get(f"/evidence/exports/{job_id}")
    assert bundle.status_code == 200 and bundle.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(bundle.content)).namelist()
    assert any(name.endswith("door.png") for name in names)
    assert world.db.scalars(
        select(AuditEvent).where(
            AuditEvent.action == "evidence.bundle_download", AuditEvent.record_id == job_id
        )
    ).one()
    assert (
        "exported"
        in world.db.scalars(select(CustodyEvent.kind).where(CustodyEvent.case_id == case_id)).all()
    )
    # Someone else in the same force did not ask for it and cannot download it.
    assert browser(app, SUPERVISOR).get(f"/evidence/exports/{job_id}").status_code == 404
    assert browser(app, LAWYER).get(f"/evidence/exports/{job_id}").status_code == 404


def test_the_custody_log_page_explains_how_to_check_a_bundle(client: TestClient, world: World):
    sign_in(client, OFFICER)
    page = client.get("/evidence/log").text
    assert "BEGIN PUBLIC KEY" in page
    assert "peel evidence verify bundle.zip --key key.pem" in page
    assert "No tree head has been signed yet" in page
    published = post_form(client, "/evidence/log", "/evidence/log/heads", {})
    assert published.status_code == 303
    page = client.get("/evidence/log?done=published").text
    assert "Signed tree head published" in page and "No tree head has been signed" not in page
    signature = re.search(r'<code class="peel-prewrap">([A-Za-z0-9+/=]{80,})</code>', page)
    assert signature and len(base64.b64decode(signature.group(1))) == 64


# --- errors, escaping, empty states, CSRF --------------------------------------------------


def test_form_errors_show_a_summary_and_keep_the_answers(client: TestClient, world: World):
    sign_in(client, OFFICER)
    short = post_form(
        client, "/evidence/cases/new", "/evidence/cases/new", {"title": "ab", "tlp": "AMBER"}
    )
    assert short.status_code == 400
    assert "<title>Error: Open a case" in short.text
    assert 'href="#title"' in short.text and "3 to 200 characters" in short.text
    assert 'value="ab"' in short.text
    green = post_form(
        client, "/evidence/cases/new", "/evidence/cases/new", {"title": "abc", "tlp": "GREEN"}
    )
    assert green.status_code == 400 and 'href="#tlp"' in green.text

    case_id = open_case(client)
    url = f"/evidence/cases/{case_id}"
    page = post_form(
        client, url, f"{url}/files", {}, files={"files": ("run.exe", b"MZ\x90\x00" * 64, "")}
    )
    assert page.status_code == 400 and 'href="#files"' in page.text
    assert "run.exe" in page.text and "Programs and scripts are not accepted" in page.text
    nothing = post_form(client, url, f"{url}/files", {}, files={"files": ("", b"", "")})
    assert nothing.status_code == 400 and "Choose one or more files" in nothing.text
    assert items_of(world, case_id) == []


def test_hostile_text_is_escaped(client: TestClient, world: World):
    sign_in(client, OFFICER)
    title = '<script>alert("case")</script>'
    case_id = open_case(client, title)
    add_png(client, case_id, "<img src=x onerror=alert(1)>.png")
    for url in ("/evidence", f"/evidence/cases/{case_id}"):
        page = client.get(url).text
        assert "<script>alert" not in page and "&lt;script&gt;alert(" in page
        assert "<img src=x" not in page
    (item,) = items_of(world, case_id)
    assert "<img src=x" not in client.get(f"/evidence/items/{item.id}").text


def test_empty_states_say_what_to_do(client: TestClient, app: FastAPI, world: World):
    sign_in(client, OFFICER)
    assert "No unfiled files" in client.get("/evidence/unfiled").text
    assert "Nothing shared with you yet" in client.get("/evidence/shared").text
    assert "No holds are in force" in client.get("/evidence/holds").text
    retention_page = client.get("/evidence/retention").text
    assert "Nothing is due for deletion" in retention_page
    assert "No file has a deletion date yet" in retention_page
    home = client.get("/evidence").text
    assert "No cases yet" in home and "Open a case for each investigation" in home
    teacher = browser(app, "teacher@school.example")
    home = teacher.get("/evidence").text
    assert "when a police force shares it with your organisation" in home
    assert 'href="/evidence/cases/new"' not in home
    searched = client.get("/evidence?q=nothing-like-this&status=closed").text
    assert "No cases match" in searched


def test_pages_need_sign_in_and_missing_things_are_404(client: TestClient, world: World):
    anonymous = client.get("/evidence", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    sign_in(client, OFFICER)
    for url in (
        f"/evidence/cases/{new_id()}",
        f"/evidence/items/{new_id()}",
        f"/evidence/items/{new_id()}/thumb",
        f"/evidence/exports/{new_id()}",
    ):
        response = client.get(url, headers={"Accept": "text/html"})
        assert response.status_code == 404 and "Page not found" in response.text, url


def test_every_evidence_form_needs_the_csrf_token(
    client: TestClient, world: World, case_with_file: tuple[str, EvidenceItem]
):
    case_id, item = case_with_file
    posts = [
        r.path  # type: ignore[attr-defined]
        for module in (pages, item_pages, oversight_pages)
        for r in module.router.routes
        if "POST" in getattr(r, "methods", set())
    ]
    assert len(posts) >= 20
    for path in posts:
        concrete = (
            path.replace("{case_id}", case_id)
            .replace("{item_id}", item.id)
            .replace("{organisation}", "test-cps")
            .replace("{hold_id}", new_id())
            .replace("{link_id}", new_id())
        )
        response = client.post(concrete, data={"csrf_token": "forged", "title": "Forged case"})
        assert response.status_code == 403, path
        assert client.post(concrete, data={"title": "Forged case"}).status_code == 403, path
    assert len(items_of(world, case_id)) == 1

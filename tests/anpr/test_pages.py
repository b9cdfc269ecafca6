"""ANPR pages: the overview, the searches with their audit and 90-day rule, hotlists, alerts."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from peel.anpr import hotlists, pages, search, search_views
from peel.anpr.models import AnprAlert, AnprHotlistEntry, AnprIngestBatch
from peel.core.config import Settings
from peel.core.enums import Role
from peel.core.models import AuditEvent
from tests.anpr.web_fixtures import (
    CITY,
    CLONE,
    FOLLOWER,
    RUNNER,
    STAKER,
    TARGET,
    VISITOR,
    Region,
    write_region,
)
from tests.conftest import World, csrf_of, make_user, sign_in

SEARCH_PAGES = [
    "/anpr/history",
    "/anpr/convoy",
    "/anpr/clones",
    "/anpr/visitors",
    "/anpr/stakeout",
    "/anpr/county-lines",
]
PAGES = ["/anpr", *SEARCH_PAGES, "/anpr/hotlists", "/anpr/alerts"]


def with_anpr_routers(app: FastAPI) -> FastAPI:
    """The app with the ANPR pages and search API, whether or not ROUTERS lists them yet."""
    paths = {getattr(r, "path", "") for r in app.routes}
    if "/anpr" not in paths:
        app.include_router(pages.router)
    if "/api/v1/anpr/search/clones" not in paths:
        app.include_router(search_views.router)
    return app


@pytest.fixture
def anpr_client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(with_anpr_routers(app), base_url="http://testserver") as test_client:
        yield test_client


@pytest.fixture
def region(settings: Settings, world: World) -> Region:
    return write_region(settings.anpr_dir, world.orgs["force"].id)


@pytest.fixture
def officer(anpr_client: TestClient, world: World) -> TestClient:
    assert sign_in(anpr_client, "officer@force.example").status_code == 303
    return anpr_client


@pytest.fixture
def supervisor(anpr_client: TestClient, world: World) -> TestClient:
    assert sign_in(anpr_client, "sup@force.example").status_code == 303
    return anpr_client


def window(region: Region) -> dict[str, str]:
    return {"start": f"{region.start:%Y-%m-%dT%H:%M}", "end": f"{region.end:%Y-%m-%dT%H:%M}"}


def audits(db: Session, action: str) -> list[AuditEvent]:
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def table_rows(html: str, table_id: str) -> list[str]:
    table = html.split(f'id="{table_id}"', 1)[1]
    body = table.split("<tbody", 1)[1].split("</tbody>", 1)[0]
    return re.findall(r'<tr class="govuk-table__row[^"]*"[^>]*>(.*?)</tr>', body, flags=re.S)


# --- who may see the pages ------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_for_an_officer(officer: TestClient, path: str) -> None:
    page = officer.get(path)
    assert page.status_code == 200, page.text
    assert "<h1" in page.text
    assert "style=" not in page.text
    # Scripts only by src: the Content-Security-Policy forbids inline ones.
    assert all("src=" in tag for tag in re.findall(r"<script\b[^>]*>", page.text))


@pytest.mark.parametrize("path", PAGES)
def test_council_officer_is_told_there_is_nothing_here(
    anpr_client: TestClient, world: World, path: str
) -> None:
    sign_in(anpr_client, "social@council.example")
    page = anpr_client.get(path, headers={"accept": "text/html"})
    assert page.status_code == 404


@pytest.mark.parametrize("path", ["/anpr", "/anpr/history", "/anpr/hotlists"])
def test_force_auditor_and_admin_may_not_search(
    anpr_client: TestClient, world: World, path: str
) -> None:
    for email in ("auditor@force.example", "admin@force.example"):
        sign_in(anpr_client, email)
        assert anpr_client.get(path, headers={"accept": "text/html"}).status_code == 403


@pytest.mark.parametrize("path", PAGES)
def test_anonymous_visitors_are_sent_to_sign_in(anpr_client: TestClient, path: str) -> None:
    page = anpr_client.get(path, follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"].startswith("/login?next=")


def test_anonymous_search_is_not_run_or_audited(
    anpr_client: TestClient, region: Region, db: Session
) -> None:
    page = anpr_client.get(
        "/anpr/history",
        params={"plate": TARGET, "reason": "op test", **window(region)},
        follow_redirects=False,
    )
    assert page.status_code == 303
    assert audits(db, "anpr.search.history") == []


# --- the overview ---------------------------------------------------------------------------


def test_overview_empty_states(officer: TestClient) -> None:
    html = officer.get("/anpr").text
    assert 'id="anpr-no-cameras"' in html and "peel anpr cameras import FILE" in html
    assert 'id="anpr-alerts-empty"' in html and "No hotlist alerts yet" in html
    assert 'id="anpr-alerts-empty" hidden' not in html
    assert 'id="anpr-no-batches"' in html
    assert "No reads have been imported yet" in html
    assert 'id="anpr-overview-map"' not in html


def add_alert(db: Session, world: World, plate: str, camera_id: str, reason: str) -> AnprAlert:
    officer = world.principal("officer")
    entry = hotlists.create_entry(db, officer, plate, reason, priority=90)
    alert = AnprAlert(
        hotlist_entry_id=entry.id,
        read_id=f"read-{plate}",
        camera_id=camera_id,
        plate_read=plate,
        plate=plate,
        read_at=datetime.now(UTC) - timedelta(minutes=3),
        match="exact",
        priority=entry.priority,
        owner_org_id=entry.owner_org_id,
        tlp=entry.tlp,
    )
    db.add(alert)
    db.commit()
    return alert


def test_overview_counts_map_alerts_and_batches(
    officer: TestClient, region: Region, world: World, db: Session
) -> None:
    add_alert(db, world, TARGET, CITY[2], "Stolen <b>car</b>")
    db.add(
        AnprIngestBatch(
            channel="file",
            source_name="reads-week.csv",
            rows_read=12,
            rows_landed=10,
            rows_duplicate=1,
            rows_rejected=1,
        )
    )
    db.commit()
    html = officer.get("/anpr").text
    counts = html.split('id="anpr-counts"', 1)[1].split("</dl>", 1)[0]
    values = re.findall(r'govuk-summary-list__value">(?:<a[^>]*>)?([\d,]+)', counts)
    assert values == ["3", "10", "1"]  # reads today, cameras, active hotlist entries
    cameras = json.loads(html.split("data-cameras='", 1)[1].split("'", 1)[0].replace("&#39;", "'"))
    assert len(cameras["features"]) == 10
    assert {f["properties"]["id"] for f in cameras["features"]} >= set(CITY)
    # A camera's name is data: escaped in the list, a JSON string in the attribute.
    assert "Market Street &lt;north&gt;" in html
    assert "<north>" not in html
    alerts = html.split('id="anpr-alerts"', 1)[1].split("</ul>", 1)[0]
    assert "AB12 CDE" in alerts and "Priority 90" in alerts and "govuk-tag--red" in alerts
    assert "Stolen &lt;b&gt;car&lt;/b&gt;" in alerts
    assert "Station Road 2" in alerts
    assert 'id="anpr-alerts-empty" hidden' in html
    assert "/static/anpr/overview.js" in html
    assert "reads-week.csv" in html.split('id="anpr-batches"', 1)[1]
    assert 'data-stream="/anpr/alerts/stream"' in html
    assert 'href="/anpr">Refresh the list</a>' in html


# --- searches -------------------------------------------------------------------------------


def test_search_forms_explain_the_open_period(officer: TestClient, settings: Settings) -> None:
    html = officer.get("/anpr/history").text
    assert f"the last {settings.anpr_open_search_days} days" in html
    assert "a supervisor and a written justification of at least 20 characters" in html
    assert 'name="reason"' in html and 'type="datetime-local"' in html
    assert 'id="anpr-searched"' not in html  # nothing is searched without a reason


def test_history_search_shows_sightings_trail_and_audits_the_reason(
    officer: TestClient, region: Region, db: Session
) -> None:
    page = officer.get(
        "/anpr/history",
        params={"plate": "ab12 cde", "reason": "Burglary CR/1234/25", **window(region)},
    )
    assert page.status_code == 200, page.text
    html = page.text
    sightings = region.of(TARGET)
    assert len(table_rows(html, "anpr-sightings")) == len(sightings) == 40
    summary = html.split('id="anpr-history-summary"', 1)[1].split("</dl>", 1)[0]
    assert pages.when(sightings[0]["read_at"]) in summary
    assert pages.when(sightings[-1]["read_at"]) in summary
    trail = json.loads(html.split("data-trail='", 1)[1].split("'", 1)[0])
    assert len(trail) == 40
    assert [p["t"] for p in trail] == sorted(p["t"] for p in trail)
    assert trail[0]["lat"] == pytest.approx(51.0)
    assert 'type="range" id="anpr-time"' in html and "/static/anpr/history.js" in html
    [event] = audits(db, "anpr.search.history")
    detail = json.loads(event.detail or "{}")
    assert detail["subject"] == TARGET
    assert detail["reason"] == "Burglary CR/1234/25"
    assert event.actor_user_id is not None


def test_history_of_an_unseen_plate_says_so(
    officer: TestClient, region: Region, db: Session
) -> None:
    page = officer.get(
        "/anpr/history", params={"plate": "ZZ99ZZZ", "reason": "Op Nimbus", **window(region)}
    )
    assert page.status_code == 200
    assert 'id="anpr-no-sightings"' in page.text
    assert len(audits(db, "anpr.search.history")) == 1


def test_convoy_search_ranks_the_follower_first_and_links_to_its_history(
    officer: TestClient, region: Region, db: Session
) -> None:
    page = officer.get(
        "/anpr/convoy",
        params={"plate": TARGET, "reason": "Op Convoy 7", "window": "60", **window(region)},
    )
    assert page.status_code == 200, page.text
    rows = table_rows(page.text, "anpr-convoy")
    assert rows, "no convoy candidates"
    first = rows[0]
    assert "FL61 RWR" in first
    cells = re.findall(r'govuk-table__cell--numeric[^"]*">([^<]*)<', first)
    journeys, co_sightings, cameras, expected, score = cells[:5]
    assert int(journeys) == 5  # five mornings
    assert int(co_sightings) == 5 * len(CITY)  # every camera, every morning
    assert int(cameras) == len(CITY)
    assert float(score) >= search.DEFAULT_MIN_SCORE > float(expected)
    assert 'value="4"' in page.text  # the minimum score field, at its default
    assert "co-sighting" in first and "<details" in first
    link = re.search(r'href="(/anpr/history\?[^"]+)"', first)
    assert link is not None and f"plate={FOLLOWER}" in link.group(1)
    [event] = audits(db, "anpr.search.convoy")
    assert json.loads(event.detail or "{}")["reason"] == "Op Convoy 7"
    followed = officer.get(link.group(1).replace("&amp;", "&"))
    assert followed.status_code == 200
    assert len(table_rows(followed.text, "anpr-sightings")) == len(region.of(FOLLOWER))


def test_convoy_minimum_score_is_passed_through(
    officer: TestClient, region: Region, db: Session
) -> None:
    params = {"plate": TARGET, "reason": "Op Convoy 8", **window(region)}
    strict = officer.get("/anpr/convoy", params={**params, "min_score": "6.5"})
    assert strict.status_code == 200, strict.text
    assert 'id="anpr-convoy"' not in strict.text
    empty = strict.text.split('id="anpr-no-candidates"', 1)[1].split("</p>", 1)[0]
    assert "lower minimum score" in empty and "longer time range" in empty
    assert 'value="6.5"' in strict.text
    everyone = officer.get("/anpr/convoy", params={**params, "min_score": "0"})
    assert everyone.status_code == 200, everyone.text
    rows = table_rows(everyone.text, "anpr-convoy")
    assert rows and "FL61 RWR" in rows[0]
    assert len(audits(db, "anpr.search.convoy")) == 2


def test_other_searches_find_what_was_planted(
    officer: TestClient, region: Region, db: Session
) -> None:
    base = {"reason": "Op Planted", **window(region)}
    clones = officer.get("/anpr/clones", params={**base, "plate": ""})
    assert clones.status_code == 200, clones.text
    assert "CL07 NED" in clones.text.split('id="anpr-clones"', 1)[1]
    visitors = officer.get("/anpr/visitors", params={**base, "cameras": CITY[3]})
    assert visitors.status_code == 200, visitors.text
    assert "VS19 TOR" in visitors.text.split('id="anpr-visitors"', 1)[1]
    stakeout = officer.get(
        "/anpr/stakeout",
        params={
            "reason": "Op Planted",
            "cameras_1": CITY[1],
            "start_1": f"{region.day(3):%Y-%m-%d}T21:30",
            "end_1": f"{region.day(3):%Y-%m-%d}T23:30",
            "cameras_2": CITY[6],
            "start_2": f"{region.day(2):%Y-%m-%d}T21:30",
            "end_2": f"{region.day(2):%Y-%m-%d}T23:30",
            "min_windows": "2",
        },
    )
    assert stakeout.status_code == 200, stakeout.text
    rows = table_rows(stakeout.text, "anpr-stakeout")
    assert len(rows) == 1 and "SK20 OUT" in rows[0] and ">1, 2<" in rows[0]
    county = officer.get("/anpr/county-lines", params={**base, "hub_camera": CITY[7]})
    assert county.status_code == 200, county.text
    assert "RN68 LNS" in county.text.split('id="anpr-county-lines"', 1)[1]
    for kind in ("clones", "visitors", "stakeout", "county_lines"):
        [event] = audits(db, f"anpr.search.{kind}")
        assert json.loads(event.detail or "{}")["reason"] == "Op Planted"
    assert CLONE and VISITOR and STAKER and RUNNER


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"plate": "!!!"}, "plate", "Enter a number plate"),
        ({"plate": TARGET, "reason": ""}, "reason", "say why you are searching"),
        ({"plate": TARGET, "start": "yesterday"}, "start", "YYYY-MM-DDTHH:MM"),
        ({"plate": TARGET, "end": "2001-01-01T00:00"}, "end", "after the start"),
    ],
)
def test_invalid_searches_name_the_field_in_the_error_summary(
    officer: TestClient,
    region: Region,
    db: Session,
    params: dict[str, str],
    field: str,
    message: str,
) -> None:
    query = {"reason": "Op Errors", **window(region), **params}
    page = officer.get("/anpr/history", params=query)
    assert page.status_code == 400
    summary = page.text.split('class="govuk-error-summary"', 1)[1].split("</ul>", 1)[0]
    assert f'href="#{field}"' in summary and message in summary
    assert f'id="{field}-error"' in page.text
    assert audits(db, "anpr.search.history") == []


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/anpr/visitors", {"lat": "51.0"}, "lon"),
        ("/anpr/visitors", {"cameras": CITY[0], "from_hour": "25"}, "from_hour"),
        ("/anpr/stakeout", {"cameras_1": CITY[0]}, "start_1"),
        (
            "/anpr/stakeout",
            {"cameras_1": CITY[0], "start_1": "2025-01-01T00:00", "end_1": "2025-01-01T01:00"},
            "cameras_1",
        ),
        ("/anpr/county-lines", {}, "hub_camera"),
        ("/anpr/county-lines", {"hub_camera": "NOPE"}, "hub_camera"),
        ("/anpr/county-lines", {"hub_camera": CITY[0], "min_distance": "1"}, "min_distance"),
        ("/anpr/convoy", {"plate": TARGET, "window": "0"}, "window"),
        ("/anpr/convoy", {"plate": TARGET, "min_score": "-1"}, "min_score"),
        ("/anpr/convoy", {"plate": TARGET, "min_score": "nan"}, "min_score"),
        ("/anpr/clones", {"max_speed": "fast"}, "max_speed"),
    ],
)
def test_other_search_errors_name_their_field(
    officer: TestClient, region: Region, path: str, params: dict[str, str], field: str
) -> None:
    page = officer.get(path, params={"reason": "Op Errors", **window(region), **params})
    assert page.status_code == 400, page.text
    summary = page.text.split('class="govuk-error-summary"', 1)[1].split("</ul>", 1)[0]
    assert f'href="#{field}"' in summary
    assert f'id="{field}"' in page.text  # the link leads to a control


def test_unknown_camera_is_named(officer: TestClient, region: Region) -> None:
    page = officer.get(
        "/anpr/visitors", params={"cameras": "NOPE9", "reason": "Op Cam", **window(region)}
    )
    assert page.status_code == 400
    assert 'href="#cameras"' in page.text and "NOPE9" in page.text


def test_officer_cannot_search_beyond_the_open_period(
    officer: TestClient, region: Region, db: Session, settings: Settings
) -> None:
    start = datetime.now(UTC) - timedelta(days=settings.anpr_open_search_days + 30)
    page = officer.get(
        "/anpr/convoy",
        params={
            "plate": TARGET,
            "reason": "Cold case review of a series of burglaries",
            "start": f"{start:%Y-%m-%dT%H:%M}",
            "end": window(region)["end"],
        },
    )
    assert page.status_code == 403
    html = page.text
    assert "govuk-warning-text" in html and "Only a supervisor may run it" in html
    summary = html.split('class="govuk-error-summary"', 1)[1].split("</ul>", 1)[0]
    assert 'href="#start"' in summary and "supervisor" in summary
    assert 'id="anpr-convoy"' not in html
    assert audits(db, "anpr.search.convoy") == []


def test_supervisor_beyond_the_open_period_needs_a_written_justification(
    supervisor: TestClient, region: Region, db: Session, settings: Settings
) -> None:
    start = datetime.now(UTC) - timedelta(days=settings.anpr_open_search_days + 30)
    query = {"plate": TARGET, "start": f"{start:%Y-%m-%dT%H:%M}", "end": window(region)["end"]}
    short = supervisor.get("/anpr/history", params={**query, "reason": "Op X"})
    assert short.status_code == 400
    assert "justification of at least 20 characters" in short.text
    assert audits(db, "anpr.search.history") == []
    why = "Murder inquiry MIR/7/25: vehicle seen near the scene in March"
    page = supervisor.get("/anpr/history", params={**query, "reason": why})
    assert page.status_code == 200, page.text
    assert len(table_rows(page.text, "anpr-sightings")) == 40
    [event] = audits(db, "anpr.search.history")
    detail = json.loads(event.detail or "{}")
    assert detail["reason"] == why
    assert datetime.fromisoformat(detail["start"]) < datetime.now(UTC) - timedelta(days=90)


def test_user_strings_come_back_escaped(officer: TestClient, region: Region) -> None:
    hostile = "<script>alert('x')</script>"
    page = officer.get(
        "/anpr/history", params={"plate": TARGET, "reason": hostile, **window(region)}
    )
    assert page.status_code == 200
    assert "<script>alert" not in page.text
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page.text
    bad_plate = officer.get(
        "/anpr/history", params={"plate": hostile, "reason": "Op Escape", **window(region)}
    )
    assert bad_plate.status_code == 400  # too long for a plate once normalised
    assert "<script>alert" not in bad_plate.text
    assert 'value="&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"' in bad_plate.text
    clones = officer.get(
        "/anpr/clones", params={"plate": "", "reason": "Op Escape", **window(region)}
    )
    assert "<north>" not in clones.text


def test_searches_before_any_reads_say_how_to_import(officer: TestClient, db: Session) -> None:
    now = datetime.now(UTC)
    page = officer.get(
        "/anpr/convoy",
        params={
            "plate": TARGET,
            "reason": "Op Empty",
            "start": f"{now - timedelta(days=1):%Y-%m-%dT%H:%M}",
            "end": f"{now:%Y-%m-%dT%H:%M}",
        },
    )
    assert page.status_code == 200
    assert "No reads have been imported yet" in page.text
    assert 'id="anpr-no-candidates"' in page.text
    assert len(audits(db, "anpr.search.convoy")) == 1


# --- hotlists and alerts --------------------------------------------------------------------


def test_hotlist_add_list_and_withdraw(officer: TestClient, world: World, db: Session) -> None:
    page = officer.get("/anpr/hotlists")
    assert 'id="anpr-no-entries"' in page.text
    form: dict[str, Any] = {
        "csrf_token": csrf_of(page.text),
        "plate": "ab12 cde",
        "reason": "Stolen <b>car</b> in burglary",
        "priority": "80",
        "expires_at": "",
        "list_name": "Force hotlist",
        "tlp": "AMBER",
        "match_fuzzy": "yes",
    }
    added = officer.post("/anpr/hotlists", data=form, follow_redirects=False)
    assert added.status_code == 303
    listed = officer.get(added.headers["location"]).text
    assert "Plate added to the hotlist" in listed
    rows = table_rows(listed, "anpr-hotlist")
    assert len(rows) == 1 and "AB12 CDE" in rows[0] and "Priority 80" in rows[0]
    assert "Stolen &lt;b&gt;car&lt;/b&gt; in burglary" in rows[0] and "look-alikes" in rows[0]
    [entry] = db.scalars(select(AnprHotlistEntry)).all()
    assert entry.match_fuzzy and entry.priority == 80
    again = officer.post("/anpr/hotlists", data=form)
    assert again.status_code == 400 and "already on Force hotlist" in again.text
    withdrawn = officer.post(
        f"/anpr/hotlists/{entry.id}/withdraw",
        data={"csrf_token": csrf_of(listed), "withdraw_reason": "Recovered"},
        follow_redirects=False,
    )
    assert withdrawn.status_code == 303
    after = officer.get("/anpr/hotlists").text
    assert 'id="anpr-no-entries"' in after
    everything = officer.get("/anpr/hotlists?show=all").text
    assert "Recovered" in everything
    assert [e.action for e in db.scalars(select(AuditEvent)) if "hotlist" in e.action] == [
        "anpr.hotlist.create",
        "anpr.hotlist.withdraw",
    ]


def test_hotlist_form_errors_and_csrf(officer: TestClient) -> None:
    page = officer.get("/anpr/hotlists")
    form = {"csrf_token": csrf_of(page.text), "plate": "", "reason": "x", "priority": "500"}
    refused = officer.post("/anpr/hotlists", data=form)
    assert refused.status_code == 400
    assert 'href="#priority"' in refused.text
    form["priority"] = "50"
    refused = officer.post("/anpr/hotlists", data=form)
    assert refused.status_code == 400 and 'href="#plate"' in refused.text
    no_token = officer.post("/anpr/hotlists", data={**form, "csrf_token": "forged"})
    assert no_token.status_code == 403


def test_other_forces_entries_cannot_be_withdrawn_from_the_page(
    anpr_client: TestClient, world: World, db: Session
) -> None:
    from tests.conftest import make_org

    make_org(db, "other-force")
    make_user(db, "pc@other.example", "other-force", [Role.officer])
    db.commit()
    add_alert(db, world, TARGET, CITY[0], "Wanted")
    sign_in(anpr_client, "pc@other.example")
    page = anpr_client.get("/anpr/hotlists").text
    assert 'id="anpr-no-entries"' in page  # AMBER: the owning force only
    [entry] = db.scalars(select(AnprHotlistEntry)).all()
    refused = anpr_client.post(
        f"/anpr/hotlists/{entry.id}/withdraw",
        data={"csrf_token": csrf_of(page), "withdraw_reason": "mine now"},
        headers={"accept": "text/html"},
    )
    assert refused.status_code == 404
    assert db.get(AnprHotlistEntry, entry.id).withdrawn_at is None  # type: ignore[union-attr]


def test_alerts_are_listed_newest_first_and_acknowledged(
    officer: TestClient, world: World, db: Session, region: Region
) -> None:
    first = add_alert(db, world, TARGET, CITY[0], "Wanted for robbery")
    second = add_alert(db, world, FOLLOWER, CITY[1], "Disqualified driver")
    page = officer.get("/anpr/alerts")
    rows = table_rows(page.text, "anpr-alert-table")
    assert [("FL61 RWR" in r, "AB12 CDE" in r) for r in rows] == [(True, False), (False, True)]
    assert "Station Road 1" in rows[0]
    done = officer.post(
        f"/anpr/alerts/{first.id}/acknowledge",
        data={"csrf_token": csrf_of(page.text), "outcome": "Stopped; driver arrested"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    listed = officer.get(done.headers["location"]).text
    assert "Alert acknowledged" in listed and "Acknowledged: Stopped; driver arrested" in listed
    open_only = officer.get("/anpr/alerts?show=open").text
    rows = table_rows(open_only, "anpr-alert-table")
    assert len(rows) == 1 and second.id in open_only and first.id not in open_only
    overview = officer.get("/anpr").text
    assert "Acknowledged: Stopped; driver arrested" in overview


def test_alerts_empty_state(officer: TestClient) -> None:
    page = officer.get("/anpr/alerts")
    assert 'id="anpr-no-alerts"' in page.text and "No hotlist alerts yet" in page.text

"""The ANPR search API with bearer tokens: results, audit, the 90-day rule, problem details."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from peel.anpr import search
from peel.core import service as core_service
from peel.core.config import Settings
from peel.core.enums import Role
from peel.core.models import AuditEvent
from peel.core.schemas import ApiClientCreate
from tests.anpr.test_pages import with_anpr_routers
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
from tests.conftest import BOOTSTRAP, World, sign_in

API = "/api/v1/anpr/search"
PROBLEM = "application/problem+json"


@pytest.fixture
def api(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(with_anpr_routers(app), base_url="http://testserver") as client:
        yield client


@pytest.fixture
def region(settings: Settings, world: World) -> Region:
    return write_region(settings.anpr_dir, world.orgs["force"].id)


def token(world: World, org: str, roles: list[Role]) -> dict[str, str]:
    _, secret = core_service.create_api_client(
        world.db, BOOTSTRAP, ApiClientCreate(name=f"{org} system", organisation=org, roles=roles)
    )
    world.db.commit()
    return {"authorization": f"Bearer {secret}"}


@pytest.fixture
def officer(world: World) -> dict[str, str]:
    return token(world, "test-force", [Role.officer])


@pytest.fixture
def supervisor(world: World) -> dict[str, str]:
    return token(world, "test-force", [Role.supervisor])


def times(region: Region, **extra: Any) -> dict[str, Any]:
    return {"start": region.start.isoformat(), "end": region.end.isoformat(), **extra}


def searches(db: Session, kind: str) -> list[dict[str, Any]]:
    rows = db.scalars(select(AuditEvent).where(AuditEvent.action == f"anpr.search.{kind}"))
    return [json.loads(e.detail or "{}") | {"actor": e.actor} for e in rows]


def assert_problem(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    if field is not None:
        assert field in {e["field"] for e in body.get("errors", [])}, body
    return body


def test_history(api: TestClient, officer: dict[str, str], region: Region, db: Session) -> None:
    answer = api.get(
        f"{API}/history/ab12 cde", headers=officer, params=times(region, reason="CR/42/25")
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["plate"] == TARGET
    assert len(body["sightings"]) == 40 == len(region.of(TARGET))
    assert body["distinct_cameras"] == 8
    first = region.of(TARGET)[0]
    assert datetime.fromisoformat(body["first_seen"]) == first["read_at"]
    assert body["sightings"][0]["camera_name"] == "Station Road 0"
    assert body["sightings"][0]["lat"] == pytest.approx(51.0)
    [audit] = searches(db, "history")
    assert audit["subject"] == TARGET and audit["reason"] == "CR/42/25"
    assert audit["actor"].startswith("api-client:")


def test_convoy_ranks_the_follower_first(
    api: TestClient, officer: dict[str, str], region: Region, db: Session
) -> None:
    answer = api.get(
        f"{API}/convoy/{TARGET}", headers=officer, params=times(region, reason="Op Shadow")
    )
    assert answer.status_code == 200, answer.text
    candidates = answer.json()
    assert candidates[0]["plate"] == FOLLOWER
    top = candidates[0]
    assert top["occasions"] == 5  # every morning
    assert top["co_sightings"] == len(top["evidence"]) == 5 * len(CITY)
    assert top["distinct_cameras"] == len(CITY)
    assert top["score"] >= search.DEFAULT_MIN_SCORE > top["expected"] >= 0
    gaps = {round(e["gap_s"]) for e in top["evidence"]}
    assert gaps == {20}
    assert all(search.DEFAULT_MIN_SCORE <= c["score"] <= top["score"] for c in candidates)
    assert len(searches(db, "convoy")) == 1


def test_convoy_minimum_score_is_passed_through(
    api: TestClient, officer: dict[str, str], region: Region, db: Session
) -> None:
    url = f"{API}/convoy/{TARGET}"
    strict = api.get(url, headers=officer, params=times(region, reason="Op S", min_score=6.5))
    assert strict.status_code == 200, strict.text
    assert strict.json() == []
    loose = api.get(url, headers=officer, params=times(region, reason="Op S", min_score=0))
    assert loose.status_code == 200, loose.text
    assert loose.json()[0]["plate"] == FOLLOWER
    assert all(c["occasions"] >= 2 for c in loose.json())
    bad = api.get(url, headers=officer, params=times(region, reason="Op S", min_score=-1))
    assert_problem(bad, 422, "min_score")
    assert len(searches(db, "convoy")) == 2


def test_clones_visitors_stakeout_county_lines(
    api: TestClient, officer: dict[str, str], region: Region, db: Session
) -> None:
    clones = api.get(f"{API}/clones", headers=officer, params=times(region, reason="Op C"))
    assert clones.status_code == 200, clones.text
    travel = [c for c in clones.json() if c["reason"] == "impossible_travel"]
    assert [c["plate"] for c in travel] == [CLONE]
    visitors = api.get(
        f"{API}/visitors",
        headers=officer,
        params=times(region, reason="Op V", camera=CITY[3], min_days=4),
    )
    assert visitors.status_code == 200, visitors.text
    found = {v["plate"]: v for v in visitors.json()}
    assert found[VISITOR]["distinct_days"] == 5
    night = {
        "windows": [
            {
                "camera_ids": [CITY[1]],
                "start": (region.day(3) + timedelta(hours=21)).isoformat(),
                "end": (region.day(3) + timedelta(hours=23)).isoformat(),
            },
            {
                "camera_ids": [CITY[6]],
                "start": (region.day(2) + timedelta(hours=21)).isoformat(),
                "end": (region.day(2) + timedelta(hours=23)).isoformat(),
            },
        ],
        "min_windows": 2,
    }
    stakeout = api.post(f"{API}/stakeout", headers=officer, params={"reason": "Op S"}, json=night)
    assert stakeout.status_code == 200, stakeout.text
    [hit] = stakeout.json()
    assert hit["plate"] == STAKER and hit["windows_matched"] == [0, 1]
    assert len(hit["evidence"]) == 2
    [audit] = searches(db, "stakeout")
    assert audit["start"].startswith(f"{region.day(3):%Y-%m-%d}T21:00")
    assert CITY[1] in audit["subject"] and CITY[6] in audit["subject"]
    lines = api.get(
        f"{API}/county-lines",
        headers=officer,
        params=times(region, reason="Op L", hub_camera=CITY[7]),
    )
    assert lines.status_code == 200, lines.text
    [runner] = lines.json()
    assert runner["plate"] == RUNNER and runner["trips"] == 3
    assert runner["destinations"] == ["Market Street south"]
    for kind in ("clones", "visitors", "stakeout", "county_lines"):
        assert len(searches(db, kind)) == 1


def test_area_searches(api: TestClient, officer: dict[str, str], region: Region) -> None:
    visitors = api.get(
        f"{API}/visitors",
        headers=officer,
        params=times(region, reason="Op Area", lat=51.027, lon=-1.30, radius_m=300),
    )
    assert visitors.status_code == 200, visitors.text
    assert VISITOR in {v["plate"] for v in visitors.json()}
    lines = api.get(
        f"{API}/county-lines",
        headers=officer,
        params=times(region, reason="Op Area", hub_lat=51.063, hub_lon=-1.30, radius_m=500),
    )
    assert lines.status_code == 200, lines.text
    assert [c["plate"] for c in lines.json()] == [RUNNER]


def test_anonymous_and_partner_agencies_are_refused(
    api: TestClient, world: World, region: Region, db: Session
) -> None:
    params = times(region, reason="Op Nope")
    assert_problem(api.get(f"{API}/history/{TARGET}", params=params), 401)
    council = token(world, "test-council", [Role.officer])
    assert_problem(api.get(f"{API}/history/{TARGET}", headers=council, params=params), 403)
    auditor = token(world, "test-force", [Role.auditor])
    assert_problem(api.get(f"{API}/convoy/{TARGET}", headers=auditor, params=params), 403)
    assert searches(db, "history") == searches(db, "convoy") == []


def test_bad_input_is_a_problem_naming_the_field(
    api: TestClient, officer: dict[str, str], region: Region, db: Session
) -> None:
    base = times(region, reason="Op Bad")
    assert_problem(api.get(f"{API}/history/{'!' * 5}", headers=officer, params=base), 422, "plate")
    no_reason = {k: v for k, v in base.items() if k != "reason"}
    assert_problem(api.get(f"{API}/history/{TARGET}", headers=officer, params=no_reason), 422)
    naive = {**base, "start": "2025-01-01T00:00:00"}
    assert_problem(api.get(f"{API}/history/{TARGET}", headers=officer, params=naive), 422)
    backwards = {**base, "start": base["end"], "end": base["start"]}
    assert_problem(
        api.get(f"{API}/history/{TARGET}", headers=officer, params=backwards), 422, "end"
    )
    ancient = {**base, "start": "0001-01-01T00:00:00+05:00"}
    assert_problem(
        api.get(f"{API}/history/{TARGET}", headers=officer, params=ancient), 422, "start"
    )
    short = {**base, "reason": "x"}
    assert_problem(api.get(f"{API}/convoy/{TARGET}", headers=officer, params=short), 422, "reason")
    assert_problem(
        api.get(f"{API}/visitors", headers=officer, params={**base, "camera": "NOPE"}),
        422,
        "camera",
    )
    assert_problem(api.get(f"{API}/visitors", headers=officer, params=base), 422, "camera")
    assert_problem(
        api.get(f"{API}/county-lines", headers=officer, params={**base, "hub_lat": 51.0}),
        422,
        "hub_lon",
    )
    one_window = {
        "windows": [{"camera_ids": [CITY[0]], "start": base["start"], "end": base["end"]}]
    }
    assert_problem(
        api.post(f"{API}/stakeout", headers=officer, params={"reason": "Op"}, json=one_window),
        422,
    )
    assert searches(db, "history") == searches(db, "convoy") == []


def test_the_open_period_needs_a_supervisor_and_a_justification(
    api: TestClient,
    officer: dict[str, str],
    supervisor: dict[str, str],
    region: Region,
    db: Session,
    settings: Settings,
) -> None:
    old = datetime.now(UTC) - timedelta(days=settings.anpr_open_search_days + 10)
    params = {"start": old.isoformat(), "end": region.end.isoformat()}
    why = "Murder inquiry MIR/7/25: the suspect vehicle in February"
    body = assert_problem(
        api.get(f"{API}/history/{TARGET}", headers=officer, params={**params, "reason": why}),
        403,
    )
    assert "supervisor" in body["detail"]
    assert_problem(
        api.get(f"{API}/history/{TARGET}", headers=supervisor, params={**params, "reason": "X1"}),
        422,
        "reason",
    )
    assert searches(db, "history") == []
    allowed = api.get(
        f"{API}/history/{TARGET}", headers=supervisor, params={**params, "reason": why}
    )
    assert allowed.status_code == 200, allowed.text
    assert len(allowed.json()["sightings"]) == 40
    [audit] = searches(db, "history")
    assert audit["reason"] == why
    assert datetime.fromisoformat(audit["start"]) < old + timedelta(seconds=1)


def test_a_browser_session_may_search_with_its_cookie(
    api: TestClient, world: World, region: Region
) -> None:
    sign_in(api, "officer@force.example")
    answer = api.get(f"{API}/history/{TARGET}", params=times(region, reason="Op Cookie"))
    assert answer.status_code == 200
    # A POST with only the cookie needs the CSRF header, like every cookie-authenticated call.
    refused = api.post(f"{API}/stakeout", params={"reason": "Op Cookie"}, json={"windows": []})
    assert refused.status_code == 403


def test_the_openapi_document_describes_the_searches(api: TestClient) -> None:
    paths = api.get("/api/v1/openapi.json").json()["paths"]
    for path in (
        "/history/{plate}",
        "/convoy/{plate}",
        "/clones",
        "/visitors",
        "/county-lines",
    ):
        operation = paths[API + path]["get"]
        names = {p["name"] for p in operation["parameters"]}
        assert {"reason", "start", "end"} <= names, path
        assert "422" in operation["responses"] and "403" in operation["responses"]
    assert "post" in paths[f"{API}/stakeout"]

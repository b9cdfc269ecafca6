"""The fusion API: the caller's scope only, problem documents for errors, audited decisions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from peel.core import service
from peel.core.enums import JobStatus, Role
from peel.core.models import AuditEvent, Job
from peel.core.schemas import ApiClientCreate
from peel.fusion.jobs import ANALYSIS_KIND
from peel.fusion.models import FusionRun
from tests.conftest import BOOTSTRAP, World
from tests.fusion.web_fixtures import Picture, plant

API = "/api/v1/fusion"
PROBLEM = "application/problem+json"


@pytest.fixture
def pic(db: Session, world: World) -> Picture:
    return plant(db, world.orgs)


def bearer(db: Session, org: str, *roles: Role) -> dict[str, str]:
    _, token = service.create_api_client(
        db, BOOTSTRAP, ApiClientCreate(name=f"{org} case system", organisation=org, roles=roles)
    )
    db.flush()
    return {"authorization": f"Bearer {token}"}


@pytest.fixture
def council(db: Session, world: World) -> dict[str, str]:
    return bearer(db, "test-council", Role.officer)


@pytest.fixture
def force(db: Session, world: World) -> dict[str, str]:
    return bearer(db, "test-force", Role.officer)


def test_the_queue_answers_from_the_callers_scope(
    client: TestClient, pic: Picture, council: dict[str, str], force: dict[str, str]
) -> None:
    mine = client.get(f"{API}/queue", headers=council)
    assert mine.status_code == 200, mine.text
    body = mine.json()
    assert [(i["caption"], i["rag"]) for i in body["items"]] == [
        ("Amy Smith", "red"),
        ("Ben Jones", "green"),
    ]
    theirs = client.get(f"{API}/queue", params={"rag": "amber"}, headers=force).json()
    assert [i["entity_id"] for i in theirs["items"]] == [pic.amy["force"]]
    assert [i["code"] for i in theirs["items"][0]["indicators"]] == ["missing-3-in-90"]


def test_anonymous_and_roles_without_fusion_are_refused_with_problems(
    client: TestClient, db: Session, pic: Picture
) -> None:
    anonymous = client.get(f"{API}/queue")
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"].startswith(PROBLEM)
    viewer = bearer(db, "test-school", Role.partner_viewer)
    refused = client.get(f"{API}/entities/{pic.amy['force']}", headers=viewer)
    assert refused.status_code == 403
    assert refused.json()["status"] == 403
    bad = client.get(f"{API}/queue", params={"rag": "purple"}, headers=bearer(db, "test-force"))
    assert bad.status_code == 422 and bad.headers["content-type"].startswith(PROBLEM)


def test_an_entity_outside_the_scope_is_not_found_and_hidden_facts_never_leave(
    client: TestClient, db: Session, pic: Picture, force: dict[str, str]
) -> None:
    knife = pic.entities[("council", "knife")]
    missing = client.get(f"{API}/entities/{knife}", headers=force)
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith(PROBLEM)
    amy = client.get(f"{API}/entities/{pic.amy['force']}", headers=force)
    assert amy.status_code == 200
    for secret in (pic.records["amy_a"].id, pic.records["knife"].id, "Test Health", "knife"):
        assert secret not in amy.text
    reads = db.scalars(select(AuditEvent).where(AuditEvent.action == "fusion.entity.read")).all()
    assert [a.record_id for a in reads] == [pic.amy["force"]]


def test_a_review_decision_is_recorded_and_checked(
    client: TestClient, db: Session, pic: Picture, council: dict[str, str]
) -> None:
    url = f"{API}/entities/{pic.amy['council']}/decisions"
    made = client.post(
        url, json={"outcome": "refer", "reason": "Referred to the MASH today"}, headers=council
    )
    assert made.status_code == 201, made.text
    assert (made.json()["outcome"], made.json()["rag"]) == ("refer", "red")
    assert made.json()["organisation"] == "Test Council"
    short = client.post(url, json={"outcome": "refer", "reason": "short"}, headers=council)
    assert short.status_code == 422
    assert [e["field"] for e in short.json()["errors"]] == ["reason"]
    wrong = client.post(url, json={"outcome": "arrest", "reason": "A" * 20}, headers=council)
    assert wrong.status_code == 422
    seen = client.get(f"{API}/entities/{pic.amy['council']}", headers=council).json()
    assert [d["reason"] for d in seen["decisions"]] == ["Referred to the MASH today"]


def test_a_link_decision_names_only_visible_person_records(
    client: TestClient, db: Session, pic: Picture, force: dict[str, str]
) -> None:
    body = {
        "kind": "merge",
        "left": [pic.records["ben_p"].id],
        "right": [pic.records["benjamin_c"].id],
        "reason": "Same school, same mother",
    }
    made = client.post(f"{API}/link-decisions", json=body, headers=force)
    assert made.status_code == 201, made.text
    assert made.json()["kind"] == "merge"
    hidden = {**body, "right": [pic.records["amy_a"].id]}
    assert client.post(f"{API}/link-decisions", json=hidden, headers=force).status_code == 404


def test_groups_and_a_group(
    client: TestClient, pic: Picture, force: dict[str, str], council: dict[str, str]
) -> None:
    [group] = client.get(f"{API}/groups", headers=force).json()
    assert group["key_people"][0]["caption"] == "Amy Smith"
    detail = client.get(f"{API}/groups/{pic.group}", headers=force)
    assert detail.status_code == 200
    assert {m["caption"] for m in detail.json()["members"]} == {
        "Amy Smith",
        "Ben Jones",
        "Carl Dean",
    }
    assert client.get(f"{API}/groups/nosuchgroup", headers=council).status_code == 404


def test_runs_need_an_analyst_and_one_at_a_time(
    client: TestClient, db: Session, world: World, force: dict[str, str]
) -> None:
    refused = client.post(f"{API}/runs", headers=force)
    assert refused.status_code == 403
    db.add(
        Job(
            kind=ANALYSIS_KIND,
            title="Link records and analyse risk",
            status=JobStatus.running,
            organisation_id=world.orgs["force"].id,
            created_at=datetime.now(UTC),
        )
    )
    db.flush()
    busy = client.post(f"{API}/runs", headers=bearer(db, "test-force", Role.analyst))
    assert busy.status_code == 409
    assert "already in progress" in busy.json()["detail"]
    assert client.get(f"{API}/runs", headers=force).json() == []


def test_a_run_links_and_analyses_as_a_job(
    client: TestClient, db: Session, world: World, pic: Picture
) -> None:
    analyst = bearer(db, "test-force", Role.analyst)
    started = client.post(f"{API}/runs", headers=analyst)
    assert started.status_code == 202, started.text
    job = client.get(started.json()["link"], headers=analyst).json()
    assert job["kind"] == ANALYSIS_KIND
    assert job["status"] == "done", job
    [run] = client.get(f"{API}/runs", headers=analyst).json()
    assert (run["id"], run["status"]) == (job["result"]["run"], "done")
    # The run rebuilt the force's queue from the records themselves.
    queue = client.get(f"{API}/queue", headers=analyst).json()
    assert queue["analysed"] is True


def test_a_run_shows_each_caller_only_what_it_found_in_their_own_scope(
    client: TestClient, db: Session, pic: Picture, force: dict[str, str]
) -> None:
    def scope_figures(scope: str, red: int) -> dict[str, object]:
        return {"scope": scope, "source_ids": ["x"], "records": 40 + red, "persons": 9, "red": red}

    db.add(
        FusionRun(
            status="done",
            stats={
                "as_of": "2026-06-01",
                "records": 5000,  # every source's records, the A&E source's among them
                "persons": 900,
                "pairs": 321,
                "linkage": {"records": 900},
                "by_scope": [
                    scope_figures(pic.scopes["council"], 7),
                    scope_figures(pic.scopes["force"], 2),
                ],
            },
        )
    )
    db.flush()
    [run] = client.get(f"{API}/runs", headers=force).json()
    assert run["stats"] == {"as_of": "2026-06-01", "records": 42, "persons": 9, "red": 2}

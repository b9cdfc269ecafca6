"""Fusion pages: what each viewer sees, forms that work without JavaScript, the network chart."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from peel.core.models import AuditEvent, RecordShare
from peel.fusion.models import (
    FusionImport,
    FusionLinkDecision,
    FusionRecord,
    FusionReviewDecision,
    FusionSource,
)
from tests.conftest import World, csrf_of, sign_in
from tests.fusion.fixtures import add_person
from tests.fusion.web_fixtures import Picture, add_entity, plant

PAGES = ["/fusion", "/fusion/queue", "/fusion/groups", "/fusion/sources"]
MAPPING = """
entities:
  child:
    schema: Person
    key: [id]
    properties:
      given_name: first
      family_name: last
      date_of_birth: {column: dob, format: "%d/%m/%Y"}
"""


@pytest.fixture
def pic(db: Session, world: World) -> Picture:
    return plant(db, world.orgs)


def as_user(client: TestClient, email: str) -> TestClient:
    assert sign_in(client, email).status_code == 303
    return client


def audits(db: Session, action: str) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
    return list(db.scalars(query))


def section(html: str, section_id: str) -> str:
    return html.split(f'id="{section_id}"', 1)[1].split("</section>", 1)[0]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_without_inline_script_or_style(
    client: TestClient, pic: Picture, path: str
) -> None:
    page = as_user(client, "officer@force.example").get(path)
    assert page.status_code == 200, page.text
    assert "<h1" in page.text
    assert "style=" not in page.text
    assert all("src=" in tag for tag in re.findall(r"<script\b[^>]*>", page.text))


def test_people_without_a_fusion_role_are_told_so(client: TestClient, pic: Picture) -> None:
    as_user(client, "teacher@school.example")
    page = client.get("/fusion/queue", headers={"accept": "text/html"})
    assert page.status_code == 403
    assert "officers, analysts, supervisors and administrators" in page.text
    client.cookies.clear()
    anonymous = client.get("/fusion", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")


def test_the_overview_lists_sources_counts_and_the_run_button(
    client: TestClient, pic: Picture
) -> None:
    page = as_user(client, "sup@force.example").get("/fusion").text
    sources = page.split('id="fusion-sources"', 1)[1].split("</table>", 1)[0]
    assert "Police incidents" in sources and "Children&#39;s social care" in sources
    assert "A&amp;E attendances" not in page  # not shared with the force
    assert "Children Act 2004 s.11" in sources and "TLP:AMBER" in sources
    assert "Run analysis" in page
    counts = page.split('id="fusion-counts"', 1)[1].split("</dl>", 1)[0]
    assert "Amber</strong> 1" in counts
    officer_view = as_user(client, "officer@force.example").get("/fusion").text
    assert "Run analysis" not in officer_view


def test_the_overview_says_what_to_do_when_there_is_nothing(
    client: TestClient, world: World
) -> None:
    page = as_user(client, "lawyer@cps.example").get("/fusion").text
    assert 'id="fusion-no-sources"' in page
    assert "/fusion/sources" in page
    queue = client.get("/fusion/queue").text
    assert 'id="fusion-queue-empty"' in queue and "not yet run" in queue


def test_the_queue_has_the_banner_rag_tags_and_a_filter(
    client: TestClient, db: Session, pic: Picture
) -> None:
    page = as_user(client, "social@council.example").get("/fusion/queue").text
    assert "Indicators inform, people decide." in page
    rows = re.findall(
        r'<tr class="govuk-table__row" data-entity-id="([^"]+)" data-rag="(\w+)"', page
    )
    assert rows == [(pic.amy["council"], "red"), (pic.entities[("council", "ben")], "green")]
    assert "govuk-tag--red" in page and "A&amp;E attendance with a knife injury" in page
    green = client.get("/fusion/queue?rag=green").text
    assert pic.amy["council"] not in green.split('id="fusion-queue"', 1)[1]
    assert len(audits(db, "fusion.queue.read")) == 2


def test_the_entity_page_shows_every_agency_and_the_evidence(
    client: TestClient, pic: Picture
) -> None:
    page = as_user(client, "social@council.example").get(f"/fusion/entities/{pic.amy['council']}")
    assert page.status_code == 200
    html = page.text
    indicators = section(html, "indicators")
    assert "Laceration to the hand" in indicators and "Test Health" in indicators
    assert 'href="https://' in indicators  # the indicator's published source
    timeline = section(html, "timeline")
    assert timeline.count('<tr class="govuk-table__row" data-record-id') == 4
    assert "A&amp;E attendance" in timeline and "Patient" in timeline
    records = section(html, "records")
    for agency in ("Test Force", "Test Council", "Test Health"):
        assert agency in records
    linkage = section(html, "linkage")
    assert "Exact match" in linkage and "+9.1" in linkage


def test_another_organisation_never_sees_a_hidden_source_on_the_entity_page(
    client: TestClient, pic: Picture
) -> None:
    html = as_user(client, "officer@force.example").get(f"/fusion/entities/{pic.amy['force']}").text
    for secret in (
        "Test Health",
        "A&amp;E",
        "Laceration",
        "9434765919",
        pic.records["amy_a"].id,
        pic.records["knife"].id,
    ):
        assert secret not in html
    knife = pic.entities[("council", "knife")]
    missing = client.get(f"/fusion/entities/{knife}", headers={"accept": "text/html"})
    assert missing.status_code == 404
    assert "Laceration" not in missing.text


def test_the_network_chart_is_svg_with_the_planted_nodes_and_a_table(
    client: TestClient, pic: Picture
) -> None:
    html = as_user(client, "officer@force.example").get(f"/fusion/entities/{pic.amy['force']}").text
    chart = html.split('<svg class="peel-fusion-network"', 1)[1].split("</svg>", 1)[0]
    assert 'role="group"' in chart and "<title id=" in chart and "<desc id=" in chart
    nodes = dict(re.findall(r'data-node-id="([^"]+)" data-schema="(\w+)"', chart))
    assert nodes[pic.amy["force"]] == "Person"
    assert nodes[pic.entities[("force", "home")]] == "Address"
    assert nodes[pic.entities[("force", "carl")]] == "Person"
    assert nodes[pic.entities[("force", "missing1")]] == "Event"
    assert len(nodes) == 7
    assert "<title>Carl Dean (Person)</title>" in chart
    assert "peel-fusion-node--key" in chart and "<polygon" in chart and "<rect" in chart
    table = html.split('id="entity-network-table"', 1)[1].split("</table>", 1)[0]
    assert "Lives at" in table and "Carl Dean" in table


def test_the_review_decision_form_works_without_javascript(
    client: TestClient, db: Session, pic: Picture
) -> None:
    url = f"/fusion/entities/{pic.amy['force']}"
    page = as_user(client, "officer@force.example").get(url).text
    form = {
        "csrf_token": csrf_of(page),
        "outcome": "strategy_discussion",
        "reason": "Three missing episodes; <b>strategy</b> meeting with social care",
    }
    sent = client.post(f"{url}/decisions", data=form, follow_redirects=False)
    assert sent.status_code == 303
    assert sent.headers["location"].endswith("?done=decided#decisions")
    after = client.get(sent.headers["location"]).text
    history = after.split('id="fusion-decisions"', 1)[1].split("</table>", 1)[0]
    assert "Strategy discussion" in history
    assert "&lt;b&gt;strategy&lt;/b&gt;" in history and "<b>strategy</b>" not in history
    [decision] = db.scalars(select(FusionReviewDecision)).all()
    assert (decision.entity_id, decision.rag) == (pic.amy["force"], "amber")
    assert [a.record_id for a in audits(db, "fusion.review.decided")] == [decision.id]


def test_the_review_decision_form_explains_what_is_wrong(
    client: TestClient, db: Session, pic: Picture
) -> None:
    url = f"/fusion/entities/{pic.amy['force']}"
    page = as_user(client, "officer@force.example").get(url).text
    sent = client.post(
        f"{url}/decisions", data={"csrf_token": csrf_of(page), "reason": "too short"}
    )
    assert sent.status_code == 400
    assert "govuk-error-summary" in sent.text and "Choose the outcome" in sent.text
    sent = client.post(
        f"{url}/decisions",
        data={"csrf_token": csrf_of(page), "outcome": "refer", "reason": "too short"},
    )
    assert sent.status_code == 400 and "at least 10 characters" in sent.text
    assert 'value="refer" checked' in sent.text  # what was chosen is kept
    missing_token = client.post(f"{url}/decisions", data={"outcome": "refer", "reason": "A" * 20})
    assert missing_token.status_code == 403
    assert db.scalars(select(FusionReviewDecision)).all() == []


def test_splitting_records_off_from_the_entity_page(
    client: TestClient, db: Session, pic: Picture
) -> None:
    url = f"/fusion/entities/{pic.amy['force']}"
    page = as_user(client, "officer@force.example").get(url).text
    amy_p, amy_c = pic.records["amy_p"].id, pic.records["amy_c"].id
    assert f'value="{amy_p}"' in page.split('id="fusion-link-form"', 1)[1]
    form = {
        "csrf_token": csrf_of(page),
        "kind": "split",
        "records": amy_c,
        "link_reason": "Different dates of birth on the school roll",
    }
    sent = client.post(f"{url}/link-decisions", data=form, follow_redirects=False)
    assert sent.status_code == 303, sent.text
    [decision] = db.scalars(select(FusionLinkDecision)).all()
    assert (decision.kind, decision.left_records, decision.right_records) == (
        "split",
        [amy_c],
        [amy_p],
    )
    all_of_them = {**form, "records": [amy_c, amy_p]}
    refused = client.post(f"{url}/link-decisions", data=all_of_them)
    assert refused.status_code == 400 and "some, not all" in refused.text


def test_merging_with_a_possible_match(client: TestClient, db: Session, pic: Picture) -> None:
    ben = pic.entities[("force", "ben")]
    benjamin = pic.entities[("force", "benjamin")]
    page = as_user(client, "officer@force.example").get(f"/fusion/entities/{ben}").text
    assert "Benjamin Jones: 70% likely the same person" in page
    form = {
        "csrf_token": csrf_of(page),
        "kind": "merge",
        "merge_with": benjamin,
        "link_reason": "Same mother and address on both records",
    }
    sent = client.post(f"/fusion/entities/{ben}/link-decisions", data=form, follow_redirects=False)
    assert sent.status_code == 303
    [decision] = db.scalars(select(FusionLinkDecision)).all()
    assert decision.left_records == [pic.records["ben_p"].id]
    assert decision.right_records == [pic.records["benjamin_c"].id]
    typed = {**form, "merge_with": "", "merge_entity": pic.entities[("council", "knife")]}
    refused = client.post(f"/fusion/entities/{ben}/link-decisions", data=typed)
    assert refused.status_code == 400 and "records you can see" in refused.text


def test_user_supplied_text_is_escaped(client: TestClient, db: Session, pic: Picture) -> None:
    record = add_person(db, pic.sources["police"], "P9", "<script>alert(1)</script>", "Smith")
    db.flush()
    eid = add_entity(db, pic.scopes["force"], [record], record.caption, rag="red", is_child=True)
    db.flush()
    html = as_user(client, "officer@force.example").get(f"/fusion/entities/{eid}").text
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    queue = client.get("/fusion/queue").text
    assert "<script>alert(1)</script>" not in queue


def test_the_group_pages_show_key_people_and_their_ties(client: TestClient, pic: Picture) -> None:
    as_user(client, "officer@force.example")
    listing = client.get("/fusion/groups").text
    assert "Canal Row group" in listing
    page = client.get(f"/fusion/groups/{pic.group}").text
    chart = page.split('<svg class="peel-fusion-network"', 1)[1].split("</svg>", 1)[0]
    key = re.search(r'<g class="([^"]*)" data-node-id="' + pic.amy["force"], chart)
    assert key is not None and "peel-fusion-node--key" in key.group(1)
    assert "Recorded as associates" in page
    assert client.get("/fusion/groups/nosuch", headers={"accept": "text/html"}).status_code == 404


# --- sources --------------------------------------------------------------------------------


def test_registering_a_source_and_importing_a_file_from_the_pages(
    client: TestClient, db: Session, world: World
) -> None:
    page = as_user(client, "sup@force.example").get("/fusion/sources").text
    form = {
        "csrf_token": csrf_of(page),
        "code": "custody",
        "name": "Custody records",
        "legal_basis_kind": "law_enforcement",
        "legal_basis": "Data Protection Act 2018 Part 3",
        "tlp": "AMBER",
        "share_with": "test-council",
    }
    made = client.post("/fusion/sources", data=form, follow_redirects=False)
    assert made.status_code == 303, made.text
    source_url = made.headers["location"].split("?", 1)[0]
    page = client.get(made.headers["location"]).text
    assert "Source registered" in page and "Test Council" in page
    bad = b"id,first,last,dob\n1,Amy,Smith,31/02/2011\n"
    sent = client.post(
        f"{source_url}/imports",
        data={"csrf_token": csrf_of(page), "mapping": MAPPING},
        files={"file": ("custody.csv", bad, "text/csv")},
    )
    assert sent.status_code == 400
    problems = sent.text.split('id="fusion-import-problems"', 1)[1].split("</table>", 1)[0]
    assert ">1<" in problems and "dob" in problems
    good = b"id,first,last,dob\n1,Amy,Smith,02/03/2011\n2,Ben,Jones,05/01/2012\n"
    sent = client.post(
        f"{source_url}/imports",
        data={"csrf_token": csrf_of(page), "mapping": MAPPING},
        files={"file": ("custody.csv", good, "text/csv")},
        follow_redirects=False,
    )
    assert sent.status_code == 303, sent.text
    source = db.scalars(select(FusionSource).where(FusionSource.code == "custody")).one()
    assert source.record_count == 2
    records = db.scalars(select(FusionRecord).where(FusionRecord.source_id == source.id)).all()
    assert sorted(r.caption for r in records) == ["Amy Smith", "Ben Jones"]
    statuses = db.scalars(select(FusionImport.status).where(FusionImport.source_id == source.id))
    assert sorted(statuses) == ["done", "failed"]


def test_only_the_owners_source_managers_get_the_import_form(
    client: TestClient, pic: Picture
) -> None:
    police = pic.sources["police"].id
    officer = as_user(client, "officer@force.example").get(f"/fusion/sources/{police}").text
    assert "Import a file" not in officer and "Police incidents" in officer
    social = as_user(client, "sup@force.example").get(f"/fusion/sources/{police}").text
    assert "Import a file" in social and "Sharing" in social
    hidden = pic.sources["ae"].id
    as_user(client, "officer@force.example")
    assert (
        client.get(f"/fusion/sources/{hidden}", headers={"accept": "text/html"}).status_code == 404
    )


def test_run_analysis_from_the_overview_and_review_what_it_found(
    client: TestClient, db: Session, pic: Picture
) -> None:
    page = as_user(client, "sup@force.example").get("/fusion").text
    started = client.post(
        "/fusion/runs", data={"csrf_token": csrf_of(page)}, follow_redirects=False
    )
    assert started.status_code == 303
    job = client.get(started.headers["location"]).text
    assert "Link records and analyse risk" in job and "Done" in job, job
    queue = client.get("/fusion/queue").text
    flagged = re.findall(r'data-entity-id="([^"]+)" data-rag="(\w+)"', queue)
    assert flagged, "the run flagged no one"
    for entity_id, _rag in flagged:
        entity = client.get(f"/fusion/entities/{entity_id}")
        assert entity.status_code == 200
        assert "Test Health" not in entity.text
    amy = client.get(f"/fusion/entities/{flagged[0][0]}").text
    assert "Three or more missing episodes in 90 days" in amy
    overview = client.get("/fusion").text
    assert 'id="fusion-last-run"' in overview and "Done" in overview


def test_after_a_source_stops_being_shared_nothing_found_before_is_shown(
    client: TestClient, db: Session, pic: Picture
) -> None:
    """Until analysis runs again the force's scope has no results: none of the old, wider
    ones, and the pages say why."""
    db.execute(
        delete(RecordShare).where(
            RecordShare.record_id == pic.sources["social"].id,
            RecordShare.organisation_id == pic.orgs["force"].id,
        )
    )
    db.flush()
    officer = as_user(client, "officer@force.example")
    queue = officer.get("/fusion/queue")
    assert queue.status_code == 200 and "Amy Smith" not in queue.text
    assert "stopped being shared" in section(queue.text, "fusion-queue-empty")
    assert "stopped being shared" in officer.get("/fusion").text
    assert officer.get(f"/fusion/entities/{pic.amy['force']}").status_code == 404
    assert officer.get(f"/fusion/groups/{pic.group}").status_code == 404

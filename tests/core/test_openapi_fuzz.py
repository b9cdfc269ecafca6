"""Schemathesis fuzzing of Peel's OpenAPI document, driving the ASGI app in process.

Every operation in ``/api/v1/openapi.json`` is exercised on each database backend:

* anonymously, with schema-conforming data;
* with the bearer token of a force API client holding admin, supervisor, officer and auditor,
  with schema-conforming data, with data that breaks the schema, and with path parameters
  naming records that exist (so requests get past "not found" into the service code).

Every response must not be a server error, must match the document where Schemathesis can
check it, and every 4xx must be an RFC 9457 ``application/problem+json`` document.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import CheckContext, CheckFunction, not_a_server_error
from schemathesis.core.result import Err, Ok

from peel.anpr.hotlists import create_entry
from peel.anpr.models import AnprAlert
from peel.core import bulletins, service
from peel.core.config import Environment, Settings
from peel.core.enums import Role
from peel.core.schemas import ApiClientCreate, BulletinCreate
from peel.evidence import service as evidence_service
from peel.reporting.schemas import ReportCreate
from peel.reporting.service import submit_report
from tests.conftest import BOOTSTRAP, World, png_bytes
from tests.fusion.web_fixtures import plant as plant_fusion

OPENAPI = "/api/v1/openapi.json"
PROBLEM_JSON = "application/problem+json"
EXAMPLES = 15
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    # Shrinking replays requests against a database the first run changed; report what failed.
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def problem_details_for_client_errors(
    ctx: CheckContext, response: schemathesis.Response, case: Case
) -> bool | None:
    """Every 4xx is an RFC 9457 problem document with ``type``, ``title`` and ``status``."""
    if not 400 <= response.status_code < 500:
        return None
    content_type = (response.headers.get("content-type") or [""])[0]
    assert content_type.split(";")[0].strip() == PROBLEM_JSON, (
        f"{response.status_code} came as {content_type!r}, not {PROBLEM_JSON}"
    )
    body = json.loads(response.content)
    assert isinstance(body, dict), f"the problem document is not an object: {body!r}"
    missing = {"type", "title", "status"} - body.keys()
    assert not missing, f"the problem document lacks {sorted(missing)}: {body!r}"
    assert body["status"] == response.status_code, body
    return None


CHECKS: list[CheckFunction] = [
    not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_headers_conformance,
    schemathesis.checks.response_schema_conformance,
    problem_details_for_client_errors,
]


def known_records(world: World, app: FastAPI) -> tuple[str, dict[str, str]]:
    """The fuzzing client's token and ids of records that exist, by path parameter name."""
    db = world.db
    _, token = service.create_api_client(
        db,
        BOOTSTRAP,
        ApiClientCreate(
            name="fuzzer",
            organisation="test-force",
            roles=[Role.admin, Role.supervisor, Role.officer, Role.auditor],
        ),
    )
    # Revoked by the fuzzer, never the client it authenticates with.
    spare, _ = service.create_api_client(
        db, BOOTSTRAP, ApiClientCreate(name="spare", organisation="test-force")
    )
    bulletin = bulletins.create_bulletin(
        db,
        world.principal("officer"),
        BulletinCreate(title="Fuzzing target", body="Shared with the CPS"),
    )
    report, _ = submit_report(
        db,
        app.state.settings.model_copy(update={"reporting_default_force": "test-force"}),
        ReportCreate(category="burglary", description="Fuzzing target report"),
        None,
        (None, None),
        [],
        "fuzz:1",
    )
    officer = world.principal("officer")
    case = evidence_service.open_case(db, officer, "Fuzzing target case")
    blob = app.state.blobs.put_stream([png_bytes()])
    item = evidence_service.add_item(
        db,
        officer,
        evidence_service.NewItem(blob.sha256, blob.size, "image/png", "image", "a.png", "upload"),
        case=case,
    )
    entry = create_entry(db, officer, "AB51CDE", "Fuzzing target")
    alert = AnprAlert(
        hotlist_entry_id=entry.id,
        read_id="fuzz",
        camera_id="fuzz",
        plate_read="AB51CDE",
        plate="AB51CDE",
        read_at=entry.created_at,
        match="exact",
        priority=50,
        owner_org_id=entry.owner_org_id,
        tlp=entry.tlp,
    )
    db.add(alert)
    fusion = plant_fusion(db, world.orgs)
    db.commit()
    job_id = app.state.jobs.submit(world.principal("officer"), "fuzz", "Fuzz", lambda _ctx: {})
    return token, {
        "user_id": world.users["officer"].id,
        "client_id": spare.id,
        "bulletin_id": bulletin.id,
        "organisation": "test-cps",
        "job_id": job_id,
        "report_id": report.id,
        "upload_id": "0" * 32,
        "case_id": case.id,
        "item_id": item.id,
        "entry_id": entry.id,
        "alert_id": alert.id,
        "plate": "AB51CDE",
        "entity_id": fusion.amy["force"],
        "group_id": fusion.group,
        "source_id": fusion.sources["police"].id,
    }


@pytest.fixture(name="settings")
def quiet_settings(tmp_path: Path) -> Settings:
    """Settings whose background ANPR flush never runs during the test.

    Every request here shares the test's one connection; a flush of live reads from its own
    thread every few seconds would interleave its savepoints with a request's.
    """
    return Settings(
        env=Environment.test,
        data_dir=tmp_path / "var",
        log_level="WARNING",
        anpr_flush_seconds=24 * 3600,
    )


def strategies(operation: APIOperation, known: dict[str, str]) -> dict[str, tuple[bool, Any]]:
    """The named strategies to run against one operation, and whether each is authenticated."""
    chosen: dict[str, tuple[bool, Any]] = {
        "anonymous": (False, operation.as_strategy(GenerationMode.POSITIVE)),
        "positive": (True, operation.as_strategy(GenerationMode.POSITIVE)),
    }
    if operation.query or operation.body:
        # Only query parameters and bodies have schemas that data can break.
        chosen["negative"] = (True, operation.as_strategy(GenerationMode.NEGATIVE))
    names = {p.name for p in operation.path_parameters}
    if names:
        assert names <= known.keys(), f"add records for {names - known.keys()} to known_records"
        fixed = {name: known[name] for name in names}
        chosen["known ids"] = (True, operation.as_strategy(path_parameters=fixed))
    return chosen


def fuzz(label: str, strategy: Any, call: Callable[[Case], None]) -> str | None:
    """Run one strategy; return a report of what failed, or None."""

    @FUZZ
    @given(case=strategy)
    def run(case: Case) -> None:
        call(case)

    try:
        run()
    except (Exception, BaseExceptionGroup) as exc:  # report every operation's failures
        return f"=== {label} ===\n" + "".join(traceback.format_exception_only(exc))
    return None


def test_every_operation_survives_fuzzing(app: FastAPI, world: World) -> None:
    token, known = known_records(world, app)
    schema = schemathesis.openapi.from_asgi(OPENAPI, app)
    bearer = {"Authorization": f"Bearer {token}"}

    def call_as(headers: dict[str, str] | None) -> Callable[[Case], None]:
        def call(case: Case) -> None:
            response = case.call(headers=headers)
            case.validate_response(response, checks=CHECKS, headers=headers)

        return call

    results = list(schema.get_all_operations())
    broken = [result.err() for result in results if isinstance(result, Err)]
    assert not broken, broken
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) >= 20, [op.label for op in operations]
    failures = []
    for operation in operations:
        for name, (authenticated, strategy) in strategies(operation, known).items():
            report = fuzz(
                f"{operation.label} ({name})",
                strategy,
                call_as(bearer if authenticated else None),
            )
            if report:
                failures.append(report)
    assert not failures, "\n\n".join(failures)

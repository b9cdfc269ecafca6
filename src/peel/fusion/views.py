"""The fusion API under /api/v1/fusion: the review queue, entities, decisions, groups, runs.

Everything answers from the caller's own scope (the sources they may see); an entity or group
outside it is "not found" like a missing one. Reading the queue, an entity or a group is
audited; decisions are audited with their old and new values.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam

from peel.core.deps import DB, AppSettings, Authenticated
from peel.core.views import NOT_FOUND, problem_responses, refuse_nul_characters
from peel.fusion import decisions, jobs, queries, scoped
from peel.fusion.enums import Rag
from peel.fusion.schemas import (
    EntityDetail,
    GroupDetail,
    GroupSummary,
    LinkDecisionCreate,
    LinkDecisionRead,
    QueuePage,
    ReviewDecisionCreate,
    ReviewDecisionRead,
    RunRead,
    RunStarted,
)
from peel.fusion.scoped import MAX_ID

router = APIRouter(
    prefix="/api/v1/fusion",
    tags=["fusion"],
    dependencies=[Depends(refuse_nul_characters)],
    responses=problem_responses(400, 401, 403, 422),
)

EntityId = Annotated[str, PathParam(min_length=1, max_length=MAX_ID)]
GroupId = Annotated[str, PathParam(min_length=1, max_length=MAX_ID)]
MAX_PAGE = 100_000


@router.get("/queue")
def review_queue(
    db: DB,
    settings: AppSettings,
    principal: Authenticated,
    rag: Annotated[Rag | None, Query(description="Only this RAG rating")] = None,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
) -> QueuePage:
    """People flagged by risk indicators: children first, then red, amber, green, by score."""
    return queries.review_queue(db, principal, rag.value if rag else None, page, settings=settings)


@router.get("/entities/{entity_id}", responses=NOT_FOUND)
def entity(
    db: DB, settings: AppSettings, principal: Authenticated, entity_id: EntityId
) -> EntityDetail:
    """One person (or address, event, …) with every record, link, indicator and decision."""
    return queries.entity_detail(db, principal, entity_id, settings=settings)


@router.post("/entities/{entity_id}/decisions", status_code=201, responses=NOT_FOUND)
def review_decision(
    db: DB, principal: Authenticated, entity_id: EntityId, body: ReviewDecisionCreate
) -> ReviewDecisionRead:
    """Record the review outcome for a flagged person, and the reason."""
    decision = decisions.record_review_decision(db, principal, entity_id, body.outcome, body.reason)
    decided = queries.review_decisions(db, principal, [decision.entity_id])
    return next(d for d in decided if d.id == decision.id)


@router.post("/link-decisions", status_code=201, responses=NOT_FOUND)
def link_decision(db: DB, principal: Authenticated, body: LinkDecisionCreate) -> LinkDecisionRead:
    """Merge person records into one person, or keep them apart; applied at the next run."""
    decision = decisions.record_link_decision(
        db, principal, body.kind, body.left, body.right, body.reason
    )
    users = {principal.user_id: principal.display_name} if principal.user_id else {}
    orgs = (
        {principal.organisation_id: principal.organisation_name}
        if principal.organisation_id
        else {}
    )
    return scoped.link_decision_read(decision, users, orgs)


@router.get("/groups")
def list_groups(db: DB, principal: Authenticated) -> list[GroupSummary]:
    """Groups found in the association and co-offending network, largest first."""
    return queries.groups(db, principal)


@router.get("/groups/{group_id}", responses=NOT_FOUND)
def group(db: DB, principal: Authenticated, group_id: GroupId) -> GroupDetail:
    """One group: members, key people, and the links between them with their evidence."""
    return queries.group_detail(db, principal, group_id)


@router.post("/runs", status_code=202, responses=problem_responses(409))
def start_run(
    request: Request, db: DB, settings: AppSettings, principal: Authenticated
) -> RunStarted:
    """Start linking records and analysing risk; follow the job at /api/v1/jobs/{job_id}."""
    job_id = jobs.submit_analysis(db, request.app.state.jobs, settings, principal)
    return RunStarted(job_id=job_id, link=f"/api/v1/jobs/{job_id}")


@router.get("/runs")
def list_runs(db: DB, principal: Authenticated) -> list[RunRead]:
    """The latest linkage and analysis runs, newest first."""
    return queries.recent_runs(db, principal)

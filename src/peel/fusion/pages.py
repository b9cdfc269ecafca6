"""Fusion pages for safeguarding teams: overview, review queue, entity pages, groups.

Every page works without JavaScript: filters are links and GET forms, decisions are plain
forms with a CSRF token, and the network charts are SVG drawn on the server (with a table
saying the same in words). What a page shows comes from :mod:`peel.fusion.queries`, which
reads only the viewer's scope; what it changes goes through :mod:`peel.fusion.decisions` and
:mod:`peel.fusion.jobs`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from peel.core.deps import DB, AppSettings, CsrfForm, Person
from peel.core.errors import InvalidInput
from peel.core.policy import NotFound
from peel.core.principal import Principal
from peel.fusion import charts, decisions, jobs, queries
from peel.fusion.enums import LinkDecisionKind, Rag, ReviewOutcome
from peel.fusion.schemas import MIN_REASON, EntityDetail
from peel.fusion.service import require_fusion
from peel.web.templating import render

router = APIRouter(include_in_schema=False, prefix="/fusion")

MAX_TEXT = 5000
RAG_TAGS = {"red": "govuk-tag--red", "amber": "govuk-tag--orange", "green": "govuk-tag--green"}
OUTCOMES = [(o.value, o.label) for o in ReviewOutcome]
DONE = {
    "decided": "Decision recorded. It is kept with the reason in the decision history below.",
    "merged": "Merge recorded. Analysis applies it the next time it runs.",
    "split": "Split recorded. Analysis applies it the next time it runs.",
}


def rag_label(rag: str) -> str:
    return Rag(rag).label if rag in RAG_TAGS else "Not flagged"


def link_or_text(text: str) -> tuple[str, str | None]:
    """A published source as (text, address) when it is a web address, else (text, None)."""
    for word in text.split():
        candidate = word.strip("()<>[],;")
        if candidate.startswith(("https://", "http://")):
            return text, candidate
    return text, None


HELPERS: dict[str, Any] = {
    "rag_tags": RAG_TAGS,
    "rag_label": rag_label,
    "node_shape": charts.node_shape,
    "node_style": charts.style_of,
    "short_label": charts.short_label,
    "legend": charts.legend,
    "chart_width": charts.WIDTH,
    "chart_height": charts.HEIGHT,
    "link_or_text": link_or_text,
    "min_reason": MIN_REASON,
}


def _page(principal: Principal) -> None:
    """Fusion pages are for the roles that may use fusion (403 with a reason otherwise)."""
    require_fusion(principal)


def _text(form: FormData, name: str, limit: int = MAX_TEXT) -> str:
    value = form.get(name, "")
    return value.strip()[:limit] if isinstance(value, str) else ""


def _whole(raw: str | None, default: int = 1) -> int:
    return int(raw) if raw and raw.isdigit() and 0 < int(raw) < 100_000 else default


# --- the overview ---------------------------------------------------------------------------


def _overview(
    request: Request, db: Session, principal: Principal, errors: dict[str, str], status: int = 200
) -> Response:
    running = jobs.running_analysis(db)
    ctx = {
        **HELPERS,
        "sources": queries.visible_sources(db, principal),
        "summary": queries.scope_summary(db, principal),
        "runs": queries.recent_runs(db, principal, limit=5),
        "running": running,
        "own_run": running is not None and running.organisation_id == principal.organisation_id,
        "may_run": jobs.may_run_analysis(principal),
        "errors": errors,
    }
    return render(request, "fusion/index.html", ctx, status)


@router.get("")
def overview(request: Request, db: DB, principal: Person) -> Response:
    _page(principal)
    return _overview(request, db, principal, {})


@router.post("/runs")
def start_run(
    request: Request, form: CsrfForm, db: DB, settings: AppSettings, principal: Person
) -> Response:
    """Start linkage and analysis; the job page shows its progress."""
    _page(principal)
    try:
        job_id = jobs.submit_analysis(db, request.app.state.jobs, settings, principal)
    except InvalidInput as exc:
        return _overview(request, db, principal, dict(exc.errors), 409)
    return RedirectResponse(f"/jobs/{job_id}", status_code=303)


# --- the review queue -----------------------------------------------------------------------


def queue_link(rag: str | None, page: int = 1) -> str:
    params = {k: v for k, v in (("rag", rag), ("page", page if page > 1 else None)) if v}
    return "/fusion/queue" + (f"?{urlencode(params)}" if params else "")


@router.get("/queue")
def queue(request: Request, db: DB, principal: Person) -> Response:
    _page(principal)
    rag = request.query_params.get("rag", "").strip().lower() or None
    if rag not in (None, *RAG_TAGS):
        rag = None
    page = _whole(request.query_params.get("page"))
    settings = request.app.state.settings
    found = queries.review_queue(db, principal, rag, page, settings=settings)
    ctx = {**HELPERS, "queue": found, "queue_link": queue_link}
    return render(request, "fusion/queue.html", ctx)


# --- an entity ------------------------------------------------------------------------------


def record_labels(detail: EntityDetail) -> dict[str, str]:
    """How the page names each member record: its agency, source and the source's own key."""
    return {
        r.record_id: f"{r.source.agency}: {r.source.name} {r.source_key}" for r in detail.records
    }


def _entity_page(
    request: Request,
    db: Session,
    principal: Principal,
    entity_id: str,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    settings = request.app.state.settings
    detail = queries.entity_detail(db, principal, entity_id, settings=settings)
    ctx = {
        **HELPERS,
        "entity": detail,
        "labels": record_labels(detail),
        "people_records": [r for r in detail.records if r.schema_name == "Person"],
        "outcomes": OUTCOMES,
        "values": values or {},
        "errors": errors or {},
        "notice": DONE.get(request.query_params.get("done", "")),
    }
    return render(request, "fusion/entity.html", ctx, status)


@router.get("/entities/{entity_id}")
def entity_page(request: Request, entity_id: str, db: DB, principal: Person) -> Response:
    _page(principal)
    return _entity_page(request, db, principal, entity_id)


@router.post("/entities/{entity_id}/decisions")
def review_decision(
    request: Request, entity_id: str, form: CsrfForm, db: DB, principal: Person
) -> Response:
    """The review decision form: an outcome and the reason for it."""
    _page(principal)
    values = {"outcome": _text(form, "outcome", 40), "reason": _text(form, "reason")}
    errors: dict[str, str] = {}
    if not values["outcome"]:
        errors["outcome"] = "Choose the outcome of your review"
    if not errors:
        try:
            decisions.record_review_decision(
                db, principal, entity_id, values["outcome"], values["reason"]
            )
        except InvalidInput as exc:
            errors.update(exc.errors)
        else:
            return RedirectResponse(
                f"/fusion/entities/{entity_id}?done=decided#decisions", status_code=303
            )
    db.rollback()
    return _entity_page(request, db, principal, entity_id, values, errors, 400)


def _link_sides(
    db: Session, principal: Principal, entity_id: str, form: FormData, kind: str
) -> tuple[list[str], list[str]]:
    """The two sides of a merge or split chosen on the entity page; InvalidInput if unclear."""
    own = queries.person_records(db, principal, entity_id)
    if kind == LinkDecisionKind.split:
        chosen = [str(r) for r in form.getlist("records") if str(r) in own]
        if not chosen or len(chosen) == len(own):
            raise InvalidInput(
                {"records": "Choose the records that are a different person (some, not all)"}
            )
        return chosen, [r for r in own if r not in chosen]
    others = [str(e).strip() for e in form.getlist("merge_with") if str(e).strip()]
    typed = _text(form, "merge_entity", 60)
    if typed:
        others.append(typed)
    if not others:
        raise InvalidInput(
            {"merge_entity": "Choose a possible match, or enter the id of the person to merge with"}
        )
    right: list[str] = []
    for other in dict.fromkeys(others):
        if other == entity_id:
            raise InvalidInput({"merge_entity": "Choose a different person from this one"})
        try:
            right += queries.person_records(db, principal, other)
        except NotFound:
            raise InvalidInput(
                {"merge_entity": f"No person with id {other} is in the records you can see"}
            ) from None
    return own, right


@router.post("/entities/{entity_id}/link-decisions")
def link_decision(
    request: Request, entity_id: str, form: CsrfForm, db: DB, principal: Person
) -> Response:
    """Merge this person with another, or split some of their records off."""
    _page(principal)
    kind = _text(form, "kind", 10)
    values: dict[str, Any] = {
        "kind": kind,
        "link_reason": _text(form, "link_reason"),
        "merge_entity": _text(form, "merge_entity", 60),
        "merge_with": [str(v) for v in form.getlist("merge_with")],
        "records": [str(v) for v in form.getlist("records")],
    }
    errors: dict[str, str] = {}
    try:
        if kind not in (LinkDecisionKind.merge, LinkDecisionKind.split):
            raise InvalidInput({"kind": "Choose whether to merge or split"})
        left, right = _link_sides(db, principal, entity_id, form, kind)
        decisions.record_link_decision(db, principal, kind, left, right, values["link_reason"])
    except InvalidInput as exc:
        side = "records" if kind == LinkDecisionKind.split else "merge_entity"
        names = {"reason": "link_reason", "left": side, "right": side, "records": side}
        errors.update({names.get(k, k): v for k, v in exc.errors.items()})
    else:
        done = "merged" if kind == LinkDecisionKind.merge else "split"
        return RedirectResponse(f"/fusion/entities/{entity_id}?done={done}#linkage", 303)
    db.rollback()
    return _entity_page(request, db, principal, entity_id, values, errors, 400)


# --- groups ---------------------------------------------------------------------------------


@router.get("/groups")
def groups_page(request: Request, db: DB, principal: Person) -> Response:
    _page(principal)
    ctx = {**HELPERS, "groups": queries.groups(db, principal)}
    return render(request, "fusion/groups.html", ctx)


@router.get("/groups/{group_id}")
def group_page(request: Request, group_id: str, db: DB, principal: Person) -> Response:
    _page(principal)
    ctx = {**HELPERS, "group": queries.group_detail(db, principal, group_id)}
    return render(request, "fusion/group.html", ctx)

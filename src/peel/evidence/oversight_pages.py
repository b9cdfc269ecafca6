"""Digital evidence pages across cases: unfiled video, shared with us, holds, retention, the log."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from peel.core import service as core_service
from peel.core.db import utcnow
from peel.core.deps import DB, AppSettings, CsrfForm, Person
from peel.core.errors import InvalidInput
from peel.core.policy import can_view
from peel.core.principal import Principal
from peel.evidence import custody, jobs, retention, service
from peel.evidence.models import EvidenceCase, EvidenceHold, EvidenceItem
from peel.evidence.pagekit import (
    DONE,
    HELPERS,
    RULES,
    SUPERVISORS,
    case_options,
    field_errors,
    redirect,
    require,
    text,
    whole_number,
)
from peel.web.templating import render

router = APIRouter(include_in_schema=False)


# --- across cases ---------------------------------------------------------------------------


def unfiled_view(
    request: Request,
    db: Session,
    principal: Principal,
    *,
    errors: dict[str, str] | None = None,
    done: str | None = None,
    status: int = 200,
) -> Response:
    items = service.unfiled_items(db, principal)
    now = utcnow()
    holds: dict[str, list[EvidenceHold]] = {}
    categories = {}
    if items and principal.organisation_id:
        categories = service.categories_of(db, principal.organisation_id)
        for hold in db.scalars(
            select(EvidenceHold).where(
                EvidenceHold.released_at.is_(None),
                EvidenceHold.item_id.in_([i.id for i in items]),
            )
        ):
            holds.setdefault(hold.item_id or "", []).append(hold)
    rows = [
        {"item": i, "decision": retention.decide(i, None, categories, holds.get(i.id, []), now)}
        for i in items
    ]
    return render(
        request,
        "evidence/unfiled.html",
        {
            **HELPERS,
            "rows": rows,
            "case_options": case_options(db, principal),
            "errors": errors or {},
            "notice": DONE.get(done or ""),
            "now": now,
        },
        status,
    )


@router.get("/evidence/unfiled")
def unfiled_page(
    request: Request,
    db: DB,
    principal: Person,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    return unfiled_view(request, db, principal, done=done)


@router.get("/evidence/shared")
def shared_page(request: Request, db: DB, principal: Person) -> Response:
    """What other organisations shared with the person's own, grouped by case."""
    names = {o.id: o.name for o in core_service.list_organisations(db)}
    groups: dict[str, dict[str, Any]] = {}
    for item in service.items_shared_with(db, principal):
        key = item.case.reference if item.case else ""
        group = groups.get(key)
        if group is None:
            case = item.case
            group = groups[key] = {
                "case": case,
                "case_visible": case is not None
                and can_view(principal, service.case_labelled(db, case)),
                "owner": names.get(item.owner_org_id, ""),
                "items": [],
            }
        group["items"].append(item)
    return render(request, "evidence/shared.html", {**HELPERS, "groups": list(groups.values())})


def _hold_target(db: Session, hold: EvidenceHold) -> dict[str, str] | None:
    """Where a hold applies, as a link (``service.holds_of_org`` kept only visible ones)."""
    if hold.item_id:
        item = db.get(EvidenceItem, hold.item_id)
        return {"href": f"/evidence/items/{item.id}", "text": f"File {item.name}"} if item else None
    case = db.get(EvidenceCase, hold.case_id) if hold.case_id else None
    if case is None:
        return None
    return {"href": f"/evidence/cases/{case.id}", "text": f"Case {case.reference}: {case.title}"}


def _holds_page(
    request: Request,
    db: Session,
    principal: Principal,
    *,
    errors: dict[str, str] | None = None,
    done: str | None = None,
    status: int = 200,
) -> Response:
    holds = service.holds_of_org(db, principal)
    rows = [{"hold": h, "target": _hold_target(db, h)} for h in holds]
    return render(
        request,
        "evidence/holds.html",
        {
            **HELPERS,
            "active": [r for r, h in zip(rows, holds, strict=True) if h.released_at is None],
            "released": [r for r, h in zip(rows, holds, strict=True) if h.released_at],
            "can_release": principal.has_any(*SUPERVISORS),
            "errors": errors or {},
            "notice": DONE.get(done or ""),
        },
        status,
    )


@router.get("/evidence/holds")
def holds_page(
    request: Request,
    db: DB,
    principal: Person,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    return _holds_page(request, db, principal, done=done)


@router.post("/evidence/holds/{hold_id}/release")
def hold_release(
    request: Request, hold_id: str, form: CsrfForm, db: DB, principal: Person
) -> Response:
    try:
        service.release_hold(db, principal, hold_id, text(form, "reason"))
    except InvalidInput as exc:
        db.rollback()
        errors = {f"release-{hold_id}": next(iter(exc.errors.values()))}
        return _holds_page(request, db, principal, errors=errors, status=400)
    return redirect("/evidence/holds?done=released")


# --- retention ------------------------------------------------------------------------------


def _plan_for(db: Session, principal: Principal) -> list[retention.Decision]:
    """The force's retention plan, leaving out RED items the person is not named on."""
    if not principal.organisation_id:
        return []
    return retention.plan(db, organisation_id=principal.organisation_id, visible_to=principal)


def _retention_page(
    request: Request,
    db: Session,
    principal: Principal,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    done: str | None = None,
    status: int = 200,
) -> Response:
    decisions = _plan_for(db, principal)
    categories = (
        list(service.categories_of(db, principal.organisation_id).values())
        if principal.organisation_id
        else []
    )
    return render(
        request,
        "evidence/retention.html",
        {
            "due": [d for d in decisions if d.will_delete],
            "held": [d for d in decisions if d.due and d.held_by],
            "scheduled": [d for d in decisions if d.delete_after and not d.due][:200],
            "kept": len([d for d in decisions if d.delete_after is None]),
            "categories": categories,
            "rules": dict(RULES),
            "rule_choices": RULES,
            "can_manage": principal.has_any(*SUPERVISORS),
            "errors": errors or {},
            "values": values or {"rule": "fixed"},
            "notice": DONE.get(done or ""),
            "now": utcnow(),
        },
        status,
    )


@router.get("/evidence/retention")
def retention_page(
    request: Request,
    db: DB,
    principal: Person,
    done: Annotated[str | None, Query(max_length=20)] = None,
    change: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    values = None
    if change and principal.organisation_id:
        row = service.categories_of(db, principal.organisation_id).get(change)
        if row is not None:
            values = {
                "code": row.code,
                "name": row.name,
                "rule": row.rule,
                "days": "" if row.days is None else str(row.days),
                "review_days": "" if row.review_days is None else str(row.review_days),
                "description": row.description,
            }
    return _retention_page(request, db, principal, values=values, done=done)


@router.post("/evidence/retention/run")
def retention_run(
    request: Request, form: CsrfForm, db: DB, settings: AppSettings, principal: Person
) -> Response:
    require(principal, SUPERVISORS, "Only a supervisor or admin runs retention")
    db.commit()
    job_id = jobs.submit_retention(
        request.app.state.jobs,
        request.app.state.blobs,
        settings,
        principal,
        principal.organisation_id,
    )
    return redirect(f"/jobs/{job_id}")


@router.post("/evidence/retention/categories")
def retention_category(request: Request, form: CsrfForm, db: DB, principal: Person) -> Response:
    names = ("code", "name", "rule", "days", "review_days", "description")
    values = {name: text(form, name, 120 if name != "description" else 2000) for name in names}
    values["code"] = values["code"].lower()
    errors: dict[str, str] = {}
    days = whole_number(values["days"], "days", errors)
    review_days = whole_number(values["review_days"], "review_days", errors)
    if not errors:
        try:
            service.set_category(
                db,
                principal,
                values["code"],
                values["name"],
                values["rule"],
                days,
                review_days,
                values["description"],
            )
        except InvalidInput as exc:
            errors = field_errors(exc, {"rule": "rule", "days": "days"}, "code")
    if errors:
        db.rollback()
        return _retention_page(request, db, principal, errors=errors, values=values, status=400)
    return redirect("/evidence/retention?done=category#categories")


# --- the custody log ------------------------------------------------------------------------


@router.get("/evidence/log")
def custody_log(
    request: Request,
    db: DB,
    settings: AppSettings,
    principal: Person,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    size, root = custody.head(db)
    signer = custody.signer_for(settings)
    heads = [
        {
            "tree_size": h.tree_size,
            "root": h.root_hash.hex(),
            "at": datetime.fromtimestamp(h.timestamp_ms / 1000, UTC),
            "key_id": h.key_id,
            "signature": base64.b64encode(h.signature).decode(),
        }
        for h in custody.tree_heads(db, 20)
    ]
    return render(
        request,
        "evidence/log.html",
        {
            "size": size,
            "root": root.hex(),
            "heads": heads,
            "key_pem": signer.public_key_pem().decode(),
            "key_id": signer.key_id,
            "notice": DONE.get(done or ""),
        },
    )


@router.post("/evidence/log/heads")
def publish_head(form: CsrfForm, db: DB, settings: AppSettings, principal: Person) -> Response:
    custody.publish_tree_head(db, custody.signer_for(settings))
    return redirect("/evidence/log?done=published")

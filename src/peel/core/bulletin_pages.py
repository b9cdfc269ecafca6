"""Bulletin pages: list what the access policy lets you see, write, label and share."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from peel.core import bulletins as bulletin_service
from peel.core import service
from peel.core.deps import DB, CsrfForm, Person
from peel.core.enums import TLP
from peel.core.errors import InvalidInput
from peel.core.models import RecordRecipient, User
from peel.core.policy import EDITOR_ROLES, can_relabel
from peel.core.principal import Principal
from peel.core.schemas import BulletinCreate, ShareCreate
from peel.web.templating import render

router = APIRouter(include_in_schema=False, prefix="/bulletins")

TLP_CHOICES = [
    (TLP.clear.value, "TLP:CLEAR – anyone, including the public"),
    (TLP.green.value, "TLP:GREEN – any organisation on Peel"),
    (TLP.amber.value, "TLP:AMBER – your organisation, those you share with, and their clients"),
    (TLP.amber_strict.value, "TLP:AMBER+STRICT – your organisation and those you share with"),
    (TLP.red.value, "TLP:RED – named people only"),
]


@router.get("")
def bulletin_list(
    request: Request,
    db: DB,
    principal: Person,
    page: Annotated[int, Query(ge=1, le=10000)] = 1,
) -> Response:
    rows, total = bulletin_service.list_bulletins(db, principal, 25, (page - 1) * 25)
    return render(
        request,
        "core/bulletins.html",
        {
            "bulletins": rows,
            "total": total,
            "page": page,
            "pages": max(1, -(-total // 25)),
            "can_write": principal.has_any(*EDITOR_ROLES),
        },
    )


def _new_form(
    request: Request,
    principal: Principal,
    errors: dict[str, str],
    values: dict[str, str],
    status: int = 200,
) -> Response:
    return render(
        request,
        "core/bulletin_new.html",
        {"errors": errors, "values": values, "tlp_choices": TLP_CHOICES},
        status,
    )


@router.get("/new")
def bulletin_new(request: Request, principal: Person) -> Response:
    return _new_form(request, principal, {}, {"tlp": TLP.amber.value})


@router.post("/new")
def bulletin_create(request: Request, form: CsrfForm, db: DB, principal: Person) -> Response:
    values = {k: str(form.get(k, "")) for k in ("title", "body", "tlp", "recipients")}
    recipients = [e.strip() for e in values["recipients"].replace(";", ",").split(",") if e.strip()]
    try:
        data = BulletinCreate(
            title=values["title"],
            body=values["body"],
            tlp=values["tlp"] or TLP.amber,
            recipients=recipients,
        )
        bulletin = bulletin_service.create_bulletin(db, principal, data)
    except ValidationError as exc:
        errors = {str(e["loc"][0]): e["msg"] for e in exc.errors()}
        return _new_form(request, principal, errors, values, 400)
    except InvalidInput as exc:
        errors = {k.split("[")[0]: v for k, v in exc.errors.items()}
        return _new_form(request, principal, errors, values, 400)
    return RedirectResponse(f"/bulletins/{bulletin.id}?created=1", status_code=303)


def _detail(
    request: Request,
    db: DB,
    principal: Principal,
    bulletin_id: str,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    bulletin, labelled = bulletin_service.get_bulletin(db, principal, bulletin_id)
    recipients = (
        db.query(User)
        .join(RecordRecipient, RecordRecipient.user_id == User.id)
        .filter(RecordRecipient.record_type == "bulletin", RecordRecipient.record_id == bulletin.id)
        .all()
    )
    return render(
        request,
        "core/bulletin.html",
        {
            "bulletin": bulletin,
            "shares": bulletin_service.shares_of(db, bulletin.id),
            "recipients": recipients,
            "can_share": can_relabel(principal, labelled),
            "organisations": [
                o for o in service.list_organisations(db) if o.id != bulletin.owner_org_id
            ],
            "errors": errors or {},
            "notice": notice,
        },
        status,
    )


@router.get("/{bulletin_id}")
def bulletin_detail(
    request: Request, bulletin_id: str, db: DB, principal: Person, created: int = 0
) -> Response:
    return _detail(
        request, db, principal, bulletin_id, notice="Bulletin published" if created else None
    )


@router.post("/{bulletin_id}/shares")
def bulletin_share(
    request: Request, bulletin_id: str, form: CsrfForm, db: DB, principal: Person
) -> Response:
    errors: dict[str, str] = {}
    expires_raw = str(form.get("expires", "")).strip()
    expires_at = None
    if expires_raw:
        try:
            expires_at = datetime.strptime(expires_raw, "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            errors["expires"] = "Enter the expiry as YYYY-MM-DD, for example 2027-01-31"
    if not errors:
        try:
            data = ShareCreate(
                organisation=str(form.get("organisation", "")), expires_at=expires_at
            )
            bulletin_service.share_bulletin(db, principal, bulletin_id, data)
        except InvalidInput as exc:
            errors = {"expires" if k == "expires_at" else k: v for k, v in exc.errors.items()}
    if errors:
        db.rollback()
        return _detail(request, db, principal, bulletin_id, errors=errors, status=400)
    return _detail(request, db, principal, bulletin_id, notice="Shared")


@router.post("/{bulletin_id}/shares/{organisation}/remove")
def bulletin_unshare(
    request: Request,
    bulletin_id: str,
    organisation: str,
    form: CsrfForm,
    db: DB,
    principal: Person,
) -> Response:
    bulletin_service.unshare_bulletin(db, principal, bulletin_id, organisation)
    return RedirectResponse(f"/bulletins/{bulletin_id}", status_code=303)

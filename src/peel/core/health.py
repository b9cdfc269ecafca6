"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from peel.core.migrate import head_revision

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    """The database answers and its schema is at the newest migration."""
    head = request.app.state.migration_head
    try:
        with request.app.state.sessions() as session:
            current = session.scalar(text("SELECT version_num FROM alembic_version"))
    except SQLAlchemyError as exc:
        if "alembic_version" in str(exc):
            current = None
        else:
            return JSONResponse(
                {"status": "unavailable", "database": "unreachable", "detail": type(exc).__name__},
                status_code=503,
            )
    if current != head:
        return JSONResponse(
            {
                "status": "unavailable",
                "database": "ok",
                "migrations": "behind",
                "current": current,
                "head": head,
            },
            status_code=503,
        )
    return JSONResponse(
        {"status": "ok", "database": "ok", "migrations": "current", "revision": current}
    )


def migration_head() -> str | None:
    return head_revision()

"""Linkage and analysis as a job: started from the web or the API, followed at /jobs/{id}.

One run links every source's person records, then recomputes entities, groups, indicators
and the review queue for each scope (:func:`peel.fusion.analyse.run_analysis`). Runs write
the same derived tables, so a new one is refused while another is queued or running.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from peel.core.config import Settings
from peel.core.db import utcnow
from peel.core.enums import JobStatus
from peel.core.errors import Conflict
from peel.core.jobs import JobContext, JobRunner
from peel.core.models import Job
from peel.core.policy import Forbidden
from peel.core.principal import Principal
from peel.fusion.service import SOURCE_MANAGER_ROLES, require_fusion

ANALYSIS_KIND = "fusion.analysis"
#: A run still "running" after this long is taken to have died with its server.
STALE_AFTER = timedelta(hours=6)


def may_run_analysis(principal: Principal) -> bool:
    """Analysts, supervisors and administrators start runs; officers review what they find."""
    return principal.is_authenticated and principal.has_any(*SOURCE_MANAGER_ROLES)


def running_analysis(session: Session) -> Job | None:
    """The analysis job queued or running now, if any."""
    return session.scalars(
        select(Job)
        .where(
            Job.kind == ANALYSIS_KIND,
            Job.status.in_([JobStatus.queued.value, JobStatus.running.value]),
            Job.created_at > utcnow() - STALE_AFTER,
        )
        .order_by(Job.created_at.desc())
        .limit(1)
    ).first()


def submit_analysis(session: Session, jobs: JobRunner, settings: Settings, actor: Principal) -> str:
    """Start a linkage and analysis run as a job; returns the job id.

    ``session`` (the request's) is read to refuse a second run, then committed: the job
    writes in transactions of its own, which on SQLite would wait for this one to end.
    """
    require_fusion(actor)
    if not may_run_analysis(actor):
        raise Forbidden("Only analysts, supervisors and administrators may start analysis runs")
    busy = running_analysis(session)
    if busy is not None:
        where = (
            f"; follow it at /jobs/{busy.id}"
            if busy.organisation_id == actor.organisation_id
            else ""
        )
        raise Conflict({"run": f"An analysis run is already in progress{where}"})
    session.commit()

    def run(context: JobContext) -> dict[str, Any]:
        from peel.fusion.analyse import run_analysis

        run_id = run_analysis(context.sessions, actor, settings, progress=context.progress)
        return {"run": run_id, "link": "/fusion"}

    return jobs.submit(actor, ANALYSIS_KIND, "Link records and analyse risk", run, {})

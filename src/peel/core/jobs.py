"""Long work as jobs: a row with status and progress, run in-process on a small thread pool."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from peel.core.audit import record_audit
from peel.core.db import transaction, utcnow
from peel.core.enums import JobStatus
from peel.core.models import Job
from peel.core.policy import NotFound
from peel.core.principal import Principal

log = structlog.get_logger(__name__)


@dataclass
class JobContext:
    """Handed to the job function: report progress, read parameters, open transactions."""

    job_id: str
    params: dict[str, Any]
    sessions: sessionmaker[Session]
    actor: Principal

    def progress(self, percent: float, message: str = "") -> None:
        with transaction(self.sessions) as session:
            job = session.get(Job, self.job_id)
            if job is not None:
                job.progress = max(0, min(100, int(percent)))
                if message:
                    job.message = message[:2000]


JobFunction = Callable[[JobContext], dict[str, Any] | None]


class JobRunner:
    """Runs job functions in background threads (or inline, for tests and the CLI)."""

    def __init__(self, sessions: sessionmaker[Session], workers: int = 2, inline: bool = False):
        self.sessions = sessions
        self.inline = inline
        self._pool = None if inline else ThreadPoolExecutor(workers, thread_name_prefix="peel-job")
        self.futures: dict[str, Future[None]] = {}

    def submit(
        self,
        actor: Principal,
        kind: str,
        title: str,
        fn: JobFunction,
        params: dict[str, Any] | None = None,
    ) -> str:
        with transaction(self.sessions) as session:
            job = Job(
                kind=kind,
                title=title,
                organisation_id=actor.organisation_id,
                started_by_id=actor.user_id,
                started_by=actor.audit_name,
                params=params or {},
            )
            session.add(job)
            session.flush()
            record_audit(
                session,
                actor,
                "job.submit",
                "job",
                job.id,
                detail=f"{kind}: {title}",
                record_org_id=actor.organisation_id,
            )
            job_id = job.id
        context = JobContext(job_id, dict(params or {}), self.sessions, actor)
        if self._pool is None:
            self._run(fn, context)
        else:
            self.futures[job_id] = self._pool.submit(self._run, fn, context)
        return job_id

    def _run(self, fn: JobFunction, context: JobContext) -> None:
        self._set(context.job_id, status=JobStatus.running, started_at=utcnow())
        try:
            result = fn(context)
        except Exception as exc:
            log.error(
                "job failed", job_id=context.job_id, error=str(exc), trace=traceback.format_exc()
            )
            self._set(
                context.job_id,
                status=JobStatus.failed,
                finished_at=utcnow(),
                message=f"Failed: {exc}"[:2000],
            )
            return
        self._set(
            context.job_id,
            status=JobStatus.done,
            progress=100,
            finished_at=utcnow(),
            result=result or {},
        )

    def _set(self, job_id: str, **values: Any) -> None:
        with transaction(self.sessions) as session:
            job = session.get(Job, job_id)
            if job is not None:
                for key, value in values.items():
                    setattr(job, key, value)

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=False)


def visible_jobs(session: Session, actor: Principal, limit: int = 50) -> list[Job]:
    stmt = select(Job).order_by(Job.created_at.desc()).limit(limit)
    if not actor.is_platform_admin:
        stmt = stmt.where(Job.organisation_id == actor.organisation_id)
    return list(session.scalars(stmt))


def get_job(session: Session, actor: Principal, job_id: str) -> Job:
    job = session.get(Job, job_id)
    if (
        job is None
        or not actor.is_authenticated
        or (not actor.is_platform_admin and job.organisation_id != actor.organisation_id)
    ):
        raise NotFound("job", job_id)
    return job

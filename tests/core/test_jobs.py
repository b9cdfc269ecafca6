"""Jobs: progress is recorded as work runs, failures are kept with their reason."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from peel.core.enums import JobStatus
from peel.core.jobs import JobContext, JobRunner, get_job
from peel.core.models import Job
from peel.core.policy import NotFound
from tests.conftest import World, sign_in


def test_inline_job_reports_progress_and_result(sessions: sessionmaker[Session], world: World):
    seen: list[int] = []

    def count_to_three(ctx: JobContext) -> dict[str, int]:
        for step in range(1, 4):
            ctx.progress(step * 33, f"step {step}")
            with sessions() as s:
                seen.append(s.get(Job, ctx.job_id).progress)
        return {"counted": 3}

    runner = JobRunner(sessions, inline=True)
    job_id = runner.submit(
        world.principal("officer"), "test.count", "Count to three", count_to_three
    )
    job = world.db.get(Job, job_id)
    world.db.refresh(job)
    assert seen == [33, 66, 99]
    assert job.status == JobStatus.done and job.progress == 100
    assert job.result == {"counted": 3} and job.finished_at is not None


def test_failed_job_keeps_its_reason(sessions: sessionmaker[Session], world: World):
    def broken(ctx: JobContext) -> None:
        ctx.progress(10, "reading file")
        raise ValueError("line 7: expected a date, got 'soon'")

    job_id = JobRunner(sessions, inline=True).submit(
        world.principal("officer"), "test.broken", "Broken import", broken
    )
    job = world.db.get(Job, job_id)
    world.db.refresh(job)
    assert job.status == JobStatus.failed
    assert "line 7: expected a date" in job.message


def test_background_runner_finishes(sessions: sessionmaker[Session], world: World):
    runner = JobRunner(sessions, workers=1)
    job_id = runner.submit(world.principal("officer"), "test.bg", "Background", lambda ctx: {})
    runner.futures[job_id].result(timeout=30)
    runner.shutdown()
    with sessions() as s:
        assert s.get(Job, job_id).status == JobStatus.done


def test_jobs_are_visible_to_their_organisation_only(
    client: TestClient, sessions: sessionmaker[Session], world: World
):
    job_id = JobRunner(sessions, inline=True).submit(
        world.principal("officer"), "test.x", "Force job", lambda ctx: {"rows": 12}
    )
    assert get_job(world.db, world.principal("supervisor"), job_id).title == "Force job"
    with pytest.raises(NotFound):
        get_job(world.db, world.principal("lawyer"), job_id)
    sign_in(client, "sup@force.example")
    page = client.get(f"/jobs/{job_id}")
    assert page.status_code == 200 and "Done" in page.text and "12" in page.text
    assert "Force job" in client.get("/jobs").text

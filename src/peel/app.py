"""The FastAPI application factory: one app serving the API, the web pages and static files."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm import Session, sessionmaker

from peel import __version__
from peel.analytics import pages as analytics_pages
from peel.analytics import views as analytics_views
from peel.anpr import pages as anpr_pages
from peel.anpr import search_views as anpr_search_views
from peel.anpr import views as anpr_views
from peel.anpr.demo import start_demo_feed, stop_demo_feed
from peel.anpr.jobs import retention_schedule as anpr_housekeeping
from peel.anpr.live import LiveIngest
from peel.anpr.store import ReadStore
from peel.core import admin_pages, bulletin_pages, health, pages, uploads, views
from peel.core.blobstore import BlobStore, blob_store_from_settings
from peel.core.config import Environment, Settings, get_settings
from peel.core.db import build_engine, make_sessionmaker
from peel.core.deps import LoginRequired
from peel.core.events import EventBus, event_bus_from_settings
from peel.core.geo import AreaLookup, OfflineGeocoder
from peel.core.http import PeelMiddleware, install_problem_handlers
from peel.core.jobs import JobRunner
from peel.core.logging import configure_logging
from peel.core.notify import Notifier, notifier_from_settings
from peel.core.ratelimit import RateLimiter
from peel.core.scan import scanner_from_settings
from peel.evidence import item_pages as evidence_item_pages
from peel.evidence import link_pages as evidence_link_pages
from peel.evidence import oversight_pages as evidence_oversight_pages
from peel.evidence import pages as evidence_pages
from peel.evidence import redact_pages as evidence_redact_pages
from peel.evidence import views as evidence_views
from peel.evidence.jobs import retention_schedule
from peel.fusion import pages as fusion_pages
from peel.fusion import source_pages as fusion_source_pages
from peel.fusion import source_views as fusion_source_views
from peel.fusion import views as fusion_views
from peel.reporting import pages as report_pages
from peel.reporting import staff_pages as report_staff_pages
from peel.reporting import track_pages
from peel.reporting import views as report_views
from peel.web.templating import STATIC, render

#: Every router the app serves, in order.
ROUTERS = (
    health.router,
    views.router,
    uploads.router,
    report_views.router,
    pages.router,
    admin_pages.router,
    bulletin_pages.router,
    report_pages.router,
    track_pages.router,
    report_staff_pages.router,
    analytics_views.router,
    analytics_pages.router,
    evidence_views.router,
    evidence_pages.router,
    evidence_item_pages.router,
    evidence_oversight_pages.router,
    evidence_redact_pages.router,
    evidence_link_pages.router,
    anpr_views.router,
    anpr_search_views.router,
    anpr_pages.router,
    fusion_views.router,
    fusion_source_views.router,
    fusion_pages.router,
    fusion_source_pages.router,
)


def body_limits(settings: Settings) -> tuple[tuple[str, int | None], ...]:
    """Resumable uploads enforce their own limit; forms with files get a larger one."""
    with_files = settings.form_upload_max_bytes + 1024 * 1024
    fusion_files = (settings.fusion_max_upload_mb + 1) * 1024 * 1024
    return (
        ("/api/v1/uploads", None),
        ("/report/evidence", with_files),
        ("/track/", with_files),
        ("/evidence/cases/", with_files),
        ("/fusion/sources/", fusion_files),
        ("/api/v1/fusion/sources/", fusion_files),
    )


def create_app(
    settings: Settings | None = None,
    sessions: sessionmaker[Session] | None = None,
    jobs: JobRunner | None = None,
    blobs: BlobStore | None = None,
    events: EventBus | None = None,
    notifier: Notifier | None = None,
) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings)
    settings.ensure_data_dir()
    engine = None
    if sessions is None:
        engine = build_engine(settings.resolved_database_url)
        sessions = make_sessionmaker(engine)
    bus = events or event_bus_from_settings(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await bus.connect()
        await app.state.anpr_live.start(handle_exit_signals=True)
        background = []
        if settings.evidence_retention_every_hours > 0 and settings.env != Environment.test:
            background.append(
                asyncio.create_task(retention_schedule(app.state.jobs, app.state.blobs, settings))
            )
        if settings.env != Environment.test:
            background.append(asyncio.create_task(anpr_housekeeping(settings)))
        feed = start_demo_feed(app)
        yield
        await stop_demo_feed(feed)
        for task in background:
            task.cancel()
        await app.state.anpr_live.stop()
        await bus.close()
        app.state.jobs.shutdown()
        if engine is not None:
            engine.dispose()

    app = FastAPI(
        title="Peel",
        version=__version__,
        description="Shared, audited data for police forces and partner agencies.",
        openapi_url="/api/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.sessions = sessions
    app.state.jobs = jobs or JobRunner(sessions, settings.job_workers)
    app.state.blobs = blobs or blob_store_from_settings(settings)
    app.state.events = bus
    app.state.anpr_live = LiveIngest(settings, sessions, bus, ReadStore(settings.anpr_dir))
    app.state.notifier = notifier or notifier_from_settings(settings)
    app.state.scanner = scanner_from_settings(settings)
    app.state.report_limiter = RateLimiter(settings.report_rate_per_hour, 3600)
    app.state.track_limiter = RateLimiter(settings.track_rate_per_hour, 3600)
    app.state.upload_limiter = RateLimiter(settings.upload_rate_per_hour, 3600)
    app.state.geocoder = OfflineGeocoder(settings.postcode_csv)
    app.state.areas = (
        AreaLookup.from_paths(settings.boundary_shapefile, settings.force_lookup_csv)
        if settings.boundary_shapefile
        else None
    )
    app.state.migration_head = health.migration_head()

    install_problem_handlers(app, _html_error)
    app.add_exception_handler(LoginRequired, _login_redirect)
    app.add_middleware(PeelMiddleware, settings=settings, body_limits=body_limits(settings))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for router in ROUTERS:
        app.include_router(router)
    return app


def _html_error(request: Request, status: int, title: str, detail: str | None) -> Response:
    template = "errors/404.html" if status == 404 else "errors/error.html"
    return render(
        request, template, {"status": status, "title": title, "detail": detail}, status=status
    )


async def _login_redirect(request: Request, _exc: Any) -> Response:
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)

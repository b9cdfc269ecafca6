"""Analytics pages and API: hotspots, trend, time of week, back-test and Knox jobs."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from peel.analytics import pages, views
from peel.analytics.demo import DATASET, load_crime_demo
from peel.core.config import Settings
from tests.conftest import World, csrf_of, sign_in


@pytest.fixture(scope="module")
def demo_parquet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("analytics") / "parquet"
    folder.mkdir()
    load_crime_demo(folder)
    return folder


@pytest.fixture
def analytics_client(app: FastAPI) -> Iterator[TestClient]:
    routes = {getattr(r, "path", "") for r in app.routes}
    if "/analytics" not in routes:
        app.include_router(pages.router)
    if "/api/v1/analytics/hotspots" not in routes:
        app.include_router(views.router)
    with TestClient(app, base_url="http://testserver") as test_client:
        yield test_client


@pytest.fixture
def with_demo(settings: Settings, demo_parquet: Path) -> Path:
    settings.parquet_dir.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(demo_parquet, settings.parquet_dir, dirs_exist_ok=True)
    return settings.parquet_dir


@pytest.fixture
def officer(analytics_client: TestClient, world: World) -> TestClient:
    assert sign_in(analytics_client, "officer@force.example").status_code == 303
    return analytics_client


def test_page_shows_map_trend_and_heat_map(officer: TestClient, with_demo: Path) -> None:
    page = officer.get("/analytics", params={"dataset": DATASET, "surface": "kde"})
    assert page.status_code == 200
    html = page.text
    assert "data-cells='{" in html and "FeatureCollection" in html
    assert "/static/analytics/map.js" in html
    assert 'id="trend-chart-title"' in html and "<rect" in html
    assert 'aria-labelledby="trend-chart-title trend-chart-desc"' in html
    assert 'id="heat-map"' in html and "peel-heat-5" in html
    assert re.search(r"<td class=\"govuk-table__cell\">[A-Z]{2} \d{4} \d{4}</td>", html)
    assert "style=" not in html


def test_category_and_grid_surface(officer: TestClient, with_demo: Path) -> None:
    page = officer.get(
        "/analytics",
        params={"dataset": DATASET, "category": "burglary", "cell": "400", "surface": "grid"},
    )
    assert page.status_code == 200
    assert '<option value="burglary" selected>' in page.text


def test_other_organisations_get_404(
    analytics_client: TestClient, world: World, with_demo: Path
) -> None:
    sign_in(analytics_client, "lawyer@cps.example")
    assert analytics_client.get("/analytics").status_code == 404
    api = analytics_client.get("/api/v1/analytics/datasets")
    assert api.status_code == 403


def test_empty_state(officer: TestClient) -> None:
    page = officer.get("/analytics")
    assert page.status_code == 200
    assert "peel analytics import" in page.text and "peel demo load" in page.text


def test_bad_cell_size_is_a_400_with_error_summary(officer: TestClient, with_demo: Path) -> None:
    page = officer.get("/analytics", params={"dataset": DATASET, "cell": "ten"})
    assert page.status_code == 400
    assert "govuk-error-summary" in page.text and "Cell size must be a number" in page.text
    page = officer.get("/analytics", params={"dataset": DATASET, "cell": "5"})
    assert page.status_code == 400
    assert "between 50 and 2000" in page.text


def test_backtest_job_shows_scores_beside_baselines(officer: TestClient, with_demo: Path) -> None:
    page = officer.get("/analytics", params={"dataset": DATASET, "cell": "400"})
    started = officer.post(
        "/analytics/backtest",
        data={
            "csrf_token": csrf_of(page.text),
            "dataset": DATASET,
            "category": "burglary",
            "months": "1",
            "cell": "400",
        },
        follow_redirects=False,
    )
    assert started.status_code == 303
    assert started.headers["location"].startswith("/analytics/backtest/")
    result = officer.get(started.headers["location"])
    assert result.status_code == 200
    html = result.text
    assert 'id="backtest-table"' in html
    assert '>naive <strong class="govuk-tag govuk-tag--grey">Baseline</strong>' in html
    assert ">kde <strong" in html
    assert "PAI 5%" in html and re.search(r"\d+\.\d\d</td>", html)
    assert 'id="pai-chart-title"' in html
    assert "beats the naive and kernel density baselines" in html


def test_backtest_refuses_bad_months(officer: TestClient, with_demo: Path) -> None:
    page = officer.get("/analytics", params={"dataset": DATASET})
    bad = officer.post(
        "/analytics/backtest",
        data={"csrf_token": csrf_of(page.text), "dataset": DATASET, "months": "99", "cell": "200"},
    )
    assert bad.status_code == 400
    assert "Months to test must be a whole number from 1 to 24" in bad.text


def test_knox_job_table(officer: TestClient, with_demo: Path) -> None:
    page = officer.get("/analytics", params={"dataset": DATASET})
    started = officer.post(
        "/analytics/knox",
        data={
            "csrf_token": csrf_of(page.text),
            "dataset": DATASET,
            "knox_category": "burglary",
            "spatial_bandwidth": "100",
            "spatial_bands": "3",
            "temporal_bandwidth": "7",
            "temporal_bands": "3",
            "iterations": "19",
        },
        follow_redirects=False,
    )
    assert started.status_code == 303
    result = officer.get(started.headers["location"])
    assert result.status_code == 200
    assert 'id="knox-table"' in result.text and 'id="knox-heat"' in result.text
    assert "Same location" in result.text and "0 to 7 days" in result.text


def test_api_hotspots_and_trend(officer: TestClient, with_demo: Path) -> None:
    listed = officer.get("/api/v1/analytics/datasets")
    assert listed.status_code == 200 and listed.json()[0]["name"] == DATASET
    spots = officer.get(
        "/api/v1/analytics/hotspots", params={"dataset": DATASET, "cell": 400, "surface": "kde"}
    )
    assert spots.status_code == 200
    body = spots.json()
    assert body["type"] == "FeatureCollection" and body["features"]
    assert body["features"][0]["geometry"]["type"] == "Polygon"
    trend = officer.get("/api/v1/analytics/trend", params={"dataset": DATASET})
    assert trend.status_code == 200 and {"month", "count"} <= set(trend.json()[0])


def test_hostile_query_text_is_escaped(officer: TestClient, with_demo: Path) -> None:
    hostile = "<script>alert(1)</script>"
    page = officer.get("/analytics", params={"dataset": DATASET, "category": hostile})
    assert page.status_code == 400
    assert hostile not in page.text
    page = officer.get("/analytics", params={"dataset": DATASET, "cell": hostile})
    assert page.status_code == 400 and hostile not in page.text
    assert "&lt;script&gt;" in page.text


def test_months_only_datasets_are_recognised() -> None:
    import numpy as np

    from peel.analytics.hotspots import Events

    firsts = np.array(["2025-01-01", "2025-02-01"], dtype="datetime64[us]")
    assert pages.months_only(Events.from_arrays([0.0, 1.0], [0.0, 1.0], firsts))
    dated = np.array(["2025-01-01", "2025-02-03"], dtype="datetime64[us]")
    assert not pages.months_only(Events.from_arrays([0.0, 1.0], [0.0, 1.0], dated))


def test_map_period_filter(officer: TestClient, with_demo: Path) -> None:
    import re

    def crimes(query: str) -> int:
        page = officer.get("/analytics?dataset=wessex-demo" + query)
        assert page.status_code == 200, page.text[:300]
        return int(re.search(r"([\d,]+) crimes with a place", page.text).group(1).replace(",", ""))

    everything = crimes("")
    one_month = crimes("&since=2025-06&until=2025-06")
    assert 0 < one_month < everything / 10
    bad = officer.get("/analytics?dataset=wessex-demo&since=June")
    assert bad.status_code == 400 and 'href="#since"' in bad.text
    backwards = officer.get("/analytics?dataset=wessex-demo&since=2025-06&until=2025-01")
    assert backwards.status_code == 400 and "must not be before" in backwards.text


def test_h3_hexagons_on_the_page_and_the_api(officer: TestClient, with_demo: Path) -> None:
    page = officer.get("/analytics", params={"dataset": DATASET, "surface": "h3", "cell": "300"})
    assert page.status_code == 200 and "data-cells='{" in page.text
    collection = officer.get(
        "/api/v1/analytics/hotspots", params={"dataset": DATASET, "surface": "h3", "cell": "300"}
    ).json()
    features = collection["features"]
    assert features and len(features[0]["geometry"]["coordinates"][0]) == 7  # a closed hexagon
    values = [f["properties"]["value"] for f in features]
    assert values == sorted(values, reverse=True)


def test_lsoa_choropleth_when_boundaries_are_configured(officer: TestClient, app, settings) -> None:
    from tests.conftest import SHARED_DATA

    city = SHARED_DATA / "crime" / "city_of_london_2016-01_to_2017-06"
    shapes = SHARED_DATA / "boundaries" / "london-2011-lsoa-gen20.shp"
    if not (city.exists() and shapes.exists()):
        pytest.skip(f"shared data not present: {city} or {shapes}")
    from peel.analytics.ingest import import_police_uk

    settings.ensure_data_dir()
    import_police_uk(city, "city", settings.parquet_dir)
    assert "lsoa" not in officer.get("/analytics?dataset=city").text.split("Surface")[1][:2000]
    app.state.settings = settings.model_copy(update={"boundary_shapefile": shapes})
    page = officer.get("/analytics", params={"dataset": "city", "surface": "lsoa"})
    assert page.status_code == 200, page.text[:500]
    assert "City of London 001F (E01032739)" in page.text
    assert '"code": "E01032739"' in page.text or "E01032739" in page.text

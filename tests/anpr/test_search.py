"""Investigative search on DuckDB over a small region whose right answers are planted."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from scipy.stats import binom, poisson

from peel.anpr import search
from peel.anpr.plates import fuzzy_key
from peel.anpr.search import Area, DuckDBEngine, PlaceWindow
from peel.anpr.store import READ_SCHEMA, ReadStore, read_id_for
from peel.core.errors import InvalidInput
from tests.anpr import search_fixtures as F


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> DuckDBEngine:
    return DuckDBEngine(F.build_scenario(tmp_path_factory.mktemp("anpr")))


@pytest.fixture(scope="module")
def reads() -> list[dict]:
    return F.scenario_reads()


# --- history ----------------------------------------------------------------------------------


def test_history_is_every_read_of_the_plate_in_time_order(engine, reads):
    found = search.history(engine, "tg51 abc", F.START, F.END)
    planted = sorted(r["read_at"] for r in reads if r["plate"] == F.TARGET)
    assert found.plate == F.TARGET
    assert [s.read_at for s in found.sightings] == planted
    assert {s.plate for s in found.sightings} == {F.TARGET}
    assert found.first_seen == planted[0] and found.last_seen == planted[-1]
    assert found.distinct_cameras == 8
    first = found.sightings[0]
    assert first.camera_name == "Ring road rush-hour gantry"
    assert (first.lat, first.lon) == F.CAMERAS["C0"][1]  # a fixed camera: its own position
    assert len(first.read_id) == 32


def test_fuzzy_history_adds_look_alike_plates(engine):
    exact = search.history(engine, F.TARGET, F.START, F.END)
    fuzzy = search.history(engine, F.TARGET, F.START, F.END, fuzzy=True)
    assert {s.plate for s in fuzzy.sightings} == {F.TARGET, F.TARGET_MISREAD, F.TARGET_TWIN_READ}
    assert len(fuzzy.sightings) == len(exact.sightings) + 11
    assert [s.read_at for s in fuzzy.sightings] == sorted(s.read_at for s in fuzzy.sightings)


def test_reads_outside_the_time_range_are_never_returned(engine, reads):
    start, end = F.day(3, 7.5), F.day(5, 12)
    found = search.history(engine, F.COMMUTER, start, end)
    expected = sorted(
        r["read_at"] for r in reads if r["plate"] == F.COMMUTER and start <= r["read_at"] <= end
    )
    assert [s.read_at for s in found.sightings] == expected
    assert len(expected) == 5  # day 3 evening, days 4 and 5 morning, day 4 evening
    # only the files of days 3 to 5 are opened
    files = search.read_files(engine.store, search.to_us(start, "s"), search.to_us(end, "e"))
    assert [Path(f).parent.name for f in files.files] == [
        "day=2024-03-07",
        "day=2024-03-08",
        "day=2024-03-09",
    ]


def test_history_of_an_unknown_plate_is_empty(engine):
    found = search.history(engine, "ZZ99ZZZ", F.START, F.END)
    assert found.sightings == [] and found.first_seen is None and found.distinct_cameras == 0


def test_bad_input_names_the_field(engine):
    with pytest.raises(InvalidInput) as caught:
        search.history(engine, F.TARGET, F.START.replace(tzinfo=None), F.END)
    assert "start" in caught.value.errors
    with pytest.raises(InvalidInput) as caught:
        search.history(engine, F.TARGET, F.END, F.START)
    assert "end" in caught.value.errors
    with pytest.raises(InvalidInput) as caught:
        search.history(engine, "--", F.START, F.END)
    assert "plate" in caught.value.errors


def test_history_reads_what_the_read_store_writes(tmp_path):
    """The store's own files (zstd, its row groups and file names) are read the same way."""
    store = ReadStore(tmp_path)
    at = datetime(2024, 5, 1, 23, 59, 59, tzinfo=UTC)
    rows = []
    for n, plate in enumerate(["AB12CDE", "AB12CDE", "XY99ZZZ"]):
        when = at + timedelta(seconds=n)
        rows.append(
            {
                "read_id": read_id_for("CAM", plate, when),
                "camera_id": "CAM",
                "plate": plate,
                "plate_raw": plate,
                "fuzzy": fuzzy_key(plate),
                "read_at": when,
                "confidence": 0.9,
                "batch_id": "b1",
            }
        )
    store.append(pa.Table.from_pylist(rows, schema=READ_SCHEMA))
    found = search.history(DuckDBEngine(store), "AB12CDE", at, at + timedelta(days=1))
    assert [s.read_at for s in found.sightings] == [at, at + timedelta(seconds=1)]
    assert found.sightings[0].confidence == 0.9 and found.sightings[0].camera_name is None


# --- convoy -----------------------------------------------------------------------------------


def test_convoy_ranks_the_follower_above_a_commuter_with_more_co_sightings(engine):
    found = search.convoy(engine, F.TARGET, F.START, F.END, min_score=0)
    by_plate = {c.plate: c for c in found}
    follower, commuter = by_plate[F.FOLLOWER], by_plate[F.COMMUTER]
    # Naive counting puts the commuter first: it meets the target more often …
    assert commuter.co_sightings > follower.co_sightings
    assert commuter.occasions > follower.occasions
    assert max(found, key=lambda c: c.co_sightings).plate == F.COMMUTER
    # … but only where and when its own routine puts it anyway; the follower is the convoy.
    assert found[0].plate == F.FOLLOWER
    assert follower.score > search.DEFAULT_MIN_SCORE > 1 > commuter.score
    assert follower.expected < 1 < commuter.expected
    assert follower.co_sightings == 5 and follower.distinct_cameras == 5
    assert follower.occasions == 5  # five afternoons: five journeys of the target
    assert [e.camera_id for e in follower.evidence] == ["C1", "C2", "C3", "C4", "C9"]
    assert all(20 <= e.gap_s <= 40 for e in follower.evidence)
    assert all(
        e.other_read_at - e.target_read_at == timedelta(seconds=e.gap_s) for e in follower.evidence
    )
    assert follower.evidence[0].camera_name == "Canal bridge"
    # At the default threshold only the follower is left.
    assert [c.plate for c in search.convoy(engine, F.TARGET, F.START, F.END)] == [F.FOLLOWER]


def test_a_stranger_sharing_one_journey_is_not_a_convoy(engine):
    """Four co-sightings at four cameras, but all on one trip: one occasion, not a convoy."""
    single = search.convoy(engine, F.TARGET, F.START, F.END, min_score=0, min_occasions=1)
    stranger = next(c for c in single if c.plate == F.STRANGER)
    assert (stranger.co_sightings, stranger.distinct_cameras, stranger.occasions) == (4, 4, 1)
    assert [e.camera_id for e in stranger.evidence] == ["C3", "C9", "C4", "C8"]
    assert all(e.gap_s == 30 for e in stranger.evidence)
    # Counting co-sightings would rank it with the follower (four against five) …
    follower = next(c for c in single if c.plate == F.FOLLOWER)
    assert stranger.co_sightings >= follower.co_sightings - 1
    # … but one shared journey is a single chance event, scored as one occasion …
    assert stranger.score < 3 < search.DEFAULT_MIN_SCORE < follower.score
    # … and by default never a convoy at all (at least two occasions are needed).
    default = search.convoy(engine, F.TARGET, F.START, F.END, min_score=0)
    assert F.STRANGER not in {c.plate for c in default}
    assert search.DEFAULT_MIN_OCCASIONS == 2


def test_journeys_split_the_target_reads_at_long_gaps():
    minute = 60 * search.US
    times = [0, 5 * minute, 20 * minute, 55 * minute, 56 * minute, 200 * minute]
    journeys = search._journeys(times, 30 * minute)
    assert [journeys[t] for t in times] == [0, 0, 0, 1, 1, 2]
    rows = [("A", 0), ("B", 5 * minute), ("A", 55 * minute), ("A", 56 * minute)]
    passages = search._passages(rows, minute, 0, 10**12, 30 * minute)
    assert [(p.camera_id, len(p.times), p.journey) for p in passages] == [
        ("A", 1, 0),
        ("A", 2, 1),
        ("B", 1, 0),
    ]


def test_a_routine_is_judged_only_on_days_without_the_target():
    """A candidate at a journey's cameras at the same time of day on other days is routine;
    days on which it was with the target (following it) do not count as routine."""
    day, hour = sql_day(), 3_600_000_000
    t0, t1 = 0, 10 * day
    journey = [
        search._Passage(
            0,
            "C",
            [2 * day + 8 * hour],
            2 * day + 8 * hour - 60_000_000,
            2 * day + 8 * hour + 60_000_000,
            0,
        )
    ]
    at_8 = [d * day + 8 * hour + 10_000_000 for d in range(10)]
    assert search._routine_chance(journey, {"C": at_8}, t0, t1, set()) == 1.0
    # with it on days 2, 4 and 6: the other six days still show the routine
    assert search._routine_chance(journey, {"C": at_8}, t0, t1, {2, 4, 6}) == 1.0
    # a follower there only on the days it followed has no routine at all
    following = [d * day + 8 * hour + 10_000_000 for d in (2, 4, 6)]
    assert search._routine_chance(journey, {"C": following}, t0, t1, set()) == pytest.approx(2 / 9)
    assert search._routine_chance(journey, {"C": following}, t0, t1, {2, 4, 6}) == 0.0
    assert search._routine_chance(journey, {"C": []}, t0, t1, set(range(10))) == 0.0


def sql_day() -> int:
    return 86_400_000_000


def test_convoy_leaves_out_the_target_and_its_misreads(engine):
    found = search.convoy(
        engine, F.TARGET, F.START, F.END, 60, 1, 1, min_occasions=1, min_score=0, limit=500
    )
    plates = {c.plate for c in found}
    assert F.FOLLOWER in plates and F.COMMUTER in plates
    assert not plates & {F.TARGET, F.TARGET_MISREAD, F.TARGET_TWIN_READ}
    assert search.is_misread_of("TG51AB", F.TARGET)  # a character dropped
    assert not search.is_misread_of("TG51ABD", F.TARGET)


def test_convoy_window_and_time_range_bound_the_co_sightings(engine):
    tight = search.convoy(engine, F.TARGET, F.START, F.END, window_s=10)
    assert F.FOLLOWER not in {c.plate for c in tight}  # it trails by 20–40 s
    early = search.convoy(
        engine, F.TARGET, F.START, F.day(4), min_co_sightings=1, min_cameras=1, min_score=0
    )
    follower = next(c for c in early if c.plate == F.FOLLOWER)
    assert [e.camera_id for e in follower.evidence] == ["C1", "C2"]
    assert all(F.START <= e.other_read_at <= F.day(4) for c in early for e in c.evidence)


def test_convoy_of_an_unseen_plate_is_empty(engine):
    assert search.convoy(engine, "ZZ99ZZZ", F.START, F.END) == []
    with pytest.raises(InvalidInput):
        search.convoy(engine, F.TARGET, F.START, F.END, window_s=0)


def test_chance_score_is_the_poisson_tail_and_stays_finite():
    assert search.chance_score(3, 0.5) == pytest.approx(-math.log10(poisson.sf(2, 0.5)))
    assert search.chance_score(0, 0.5) == 0.0
    assert search.chance_score(4, 0.1) > search.chance_score(3, 0.1) > search.chance_score(3, 1)
    extreme = search.chance_score(200, 1e-6)
    assert 300 >= extreme > 100 and math.isfinite(extreme)
    near = search.chance_score(40, 1e-6)  # far in the tail: the series from the pmf
    assert near == pytest.approx(-poisson.logpmf(40, 1e-6) / math.log(10), rel=1e-6)


def test_at_least_score_is_the_exact_poisson_binomial_tail():
    chances = [0.5, 0.2, 0.05, 0.9]
    for k in range(6):
        tail = sum(
            math.prod(c if bit else 1 - c for c, bit in zip(chances, bits, strict=True))
            for bits in itertools.product((0, 1), repeat=len(chances))
            if sum(bits) >= k
        )
        expected = 0.0 if k == 0 else (search.MAX_SCORE if tail == 0 else -math.log10(tail))
        assert search.at_least_score(k, chances) == pytest.approx(expected)
    assert search.at_least_score(3, [0.01] * 3) == pytest.approx(6.0)
    assert search.at_least_score(2, [1.0, 1.0]) == 0.0
    assert search.at_least_score(200, [1e-3] * 200) == search.MAX_SCORE
    # Fewer trips can never be surprising less: each one that meets the target is rarer.
    assert search.at_least_score(4, [0.1] * 4) > search.at_least_score(4, [0.1] * 10)


# --- clones -----------------------------------------------------------------------------------


def _by(findings: list[search.CloneFinding]) -> dict[tuple[str, str], search.CloneFinding]:
    return {(f.plate, f.reason): f for f in findings}


def test_impossible_travel_is_found_and_jitter_is_not(engine):
    found = _by(search.clones(engine, F.START, F.END))
    clone = found[(F.CLONE, "impossible_travel")]
    assert len(clone.evidence) == 3
    for pair in clone.evidence:
        assert pair["from"]["camera_id"] == "C0" and pair["to"]["camera_id"] == "F1"
        assert pair["to"]["camera_name"] == "Northtown high street"
        assert pair["distance_km"] == pytest.approx(60.0, abs=0.5)
        assert pair["minutes"] == 15
        assert pair["implied_kmh"] == pytest.approx(240, abs=2)
    assert (F.LOWCONF, "impossible_travel") in found
    assert not any(plate == F.JITTER for plate, _ in found)
    assert not any(plate.startswith("B") for plate, _ in found)  # ordinary traffic


def test_clone_speed_and_confidence_thresholds(engine):
    faster = _by(search.clones(engine, F.START, F.END, max_speed_kmh=300))
    assert (F.CLONE, "impossible_travel") not in faster  # 240 km/h is possible at 300
    assert (F.LOWCONF, "impossible_travel") in faster  # 350 km/h is not
    confident = _by(search.clones(engine, F.START, F.END, min_confidence=0.8))
    assert (F.LOWCONF, "impossible_travel") not in confident
    assert (F.CLONE, "impossible_travel") in confident
    only = search.clones(engine, F.START, F.END, plate=F.CLONE)
    assert {f.plate for f in only} == {F.CLONE}


def test_description_mismatch_with_the_register_and_between_sightings(engine):
    found = _by(search.clones(engine, F.START, F.END))
    # Of the plates' described reads in the register, how many disagree with it, with the prior:
    # colour: REGISTERED 3 of 3, HONEST 0 of 5, GREYISH 3 of 33; make: 3 of 3, 1 of 5, 0 of 33.
    prior = search.MISDESCRIPTION_PRIOR * search.MISDESCRIPTION_PRIOR_READS
    colour_rate = (6 + prior) / (41 + search.MISDESCRIPTION_PRIOR_READS)
    make_rate = (4 + prior) / (41 + search.MISDESCRIPTION_PRIOR_READS)
    judged = 8  # (plate, attribute) pairs with a described read: four plates, two attributes

    def chance(k: int, n: int, rate: float) -> float:
        return -math.log10(binom.sf(k - 1, n, rate))

    registered = found[(F.REGISTERED, "description_mismatch")]
    assert [
        {k: e[k] for k in ("attribute", "registered", "seen", "contradicting_sightings")}
        for e in registered.evidence
    ] == [
        {
            "attribute": "colour",
            "registered": "BLUE",
            "seen": {"RED": 3},
            "contradicting_sightings": 3,
        },
        {
            "attribute": "make",
            "registered": "FORD",
            "seen": {"VAUXHALL": 3},
            "contradicting_sightings": 3,
        },
    ]
    colour, make = registered.evidence
    assert colour["contradicting_value"] == "RED" and colour["described_sightings"] == 3
    assert colour["misdescription_rate"] == pytest.approx(colour_rate, abs=1e-5)
    assert colour["chance_score"] == pytest.approx(chance(3, 3, colour_rate), abs=1e-3)
    assert make["chance_score"] == pytest.approx(chance(3, 3, make_rate), abs=1e-3)
    assert registered.score == pytest.approx(
        max(chance(3, 3, colour_rate), chance(3, 3, make_rate)) - math.log10(judged)
    )
    [unregistered] = found[(F.NOREG, "description_mismatch")].evidence
    assert unregistered["seen"] == {"AUDI": 3, "BMW": 3}
    assert unregistered["registered"] is None
    assert unregistered["contradicting_sightings"] == 3 and unregistered["described_sightings"] == 6
    assert found[(F.NOREG, "description_mismatch")].score >= search.DEFAULT_MIN_DESCRIPTION_SCORE
    # one odd sighting against four that match the register is a camera's mistake
    assert not any(plate == F.HONEST for plate, _ in found)


def test_occasional_misdescription_is_not_a_clone(engine):
    """Three black sightings of a blue car among 33 are what cameras do; a share that small is
    never a second vehicle, and its chance under the period's misdescription rate is not low."""
    everything = _by(search.clones(engine, F.START, F.END, min_description_score=-100))
    assert (F.GREYISH, "description_mismatch") not in everything
    # a share test alone would not be enough: with the share met, the binomial tail decides
    assert (F.REGISTERED, "description_mismatch") in everything
    only = search.clones(engine, F.START, F.END, plate=F.GREYISH, min_description_score=-100)
    assert only == []
    # asked about one plate: the period's misdescription rate, and no correction for the many
    # plates (only for its two attributes)
    just_one = search.clones(engine, F.START, F.END, plate=F.REGISTERED)
    assert [f.reason for f in just_one] == ["description_mismatch"]
    assert just_one[0].evidence == everything[(F.REGISTERED, "description_mismatch")].evidence
    assert just_one[0].score == pytest.approx(
        max(e["chance_score"] for e in just_one[0].evidence) - math.log10(2), abs=1e-3
    )
    stricter = search.clones(engine, F.START, F.END, min_description_score=50)
    assert {f.reason for f in stricter} == {"impossible_travel"}


# --- frequent visitors, stakeouts, county lines -------------------------------------------------


def test_frequent_visitors_at_night(engine):
    found = search.frequent_visitors(engine, F.START, F.END, camera_ids=["C6"], hours=(22, 2))
    assert [(v.plate, v.visits, v.distinct_days) for v in found] == [(F.VISITOR, 5, 5)]
    assert found[0].first_seen == F.day(0, 23, 60) and found[0].last_seen == F.day(8, 23, 600)
    twice = search.frequent_visitors(
        engine, F.START, F.END, camera_ids=["C6"], hours=(22, 2), min_days=2
    )
    assert [v.plate for v in twice] == [F.VISITOR, F.ONCE]
    daytime = search.frequent_visitors(engine, F.START, F.END, camera_ids=["C6"], hours=(8, 12))
    assert F.VISITOR not in {v.plate for v in daytime}


def test_frequent_visitors_in_an_area(engine):
    lat, lon = F.CAMERAS["C6"][1]
    near = search.frequent_visitors(engine, F.START, F.END, area=Area(lat, lon, 300), hours=(22, 2))
    assert [v.plate for v in near] == [F.VISITOR]
    elsewhere = search.frequent_visitors(
        engine, F.START, F.END, area=Area(lat + 0.05, lon, 300), hours=(22, 2)
    )
    assert elsewhere == []
    with pytest.raises(InvalidInput):
        search.frequent_visitors(engine, F.START, F.END, ["C6"], Area(lat, lon, 300))


def test_stakeout_plates_in_k_of_n_windows(engine):
    windows = F.stakeout_windows()
    every = search.stakeout(engine, windows)
    assert [(h.plate, h.windows_matched) for h in every] == [(F.STAKE3, [0, 1, 2])]
    assert [s.camera_id for s in every[0].evidence] == ["C7", "C8", "C9"]
    two = search.stakeout(engine, windows, min_windows=2)
    assert [(h.plate, h.windows_matched) for h in two] == [
        (F.STAKE3, [0, 1, 2]),
        (F.STAKE2, [0, 1]),
    ]
    assert [s.camera_id for s in two[1].evidence] == ["C7", "C8"]  # not C9 on the wrong day
    with pytest.raises(InvalidInput):
        search.stakeout(engine, windows, min_windows=4)
    with pytest.raises(InvalidInput):
        search.stakeout(engine, [PlaceWindow(None, None, F.START, F.END)])


def test_county_lines_round_trips(engine):
    found = search.county_lines(engine, F.START, F.END, F.HUB)
    assert [(c.plate, c.trips) for c in found] == [(F.RUNNER, 4)]
    runner = found[0]
    assert runner.destinations == ["Northtown high street", "Southport bypass"]
    assert runner.score > 5
    assert [e["hours_away"] for e in runner.evidence] == [2.5] * 4
    assert runner.evidence[1]["farthest_km"] == pytest.approx(70, abs=0.5)


def test_county_lines_thresholds(engine):
    assert search.county_lines(engine, F.START, F.END, F.HUB, max_dwell_hours=2) == []
    farther = search.county_lines(engine, F.START, F.END, F.HUB, min_distance_km=65, min_trips=2)
    assert [(c.plate, c.trips, c.destinations) for c in farther] == [
        (F.RUNNER, 2, ["Southport bypass"])
    ]
    long_days = search.county_lines(engine, F.START, F.END, F.HUB, max_dwell_hours=13)
    assert F.WORKER in {c.plate for c in long_days}  # the worker's 11.5-hour days, if allowed
    with pytest.raises(InvalidInput):
        search.county_lines(engine, F.START, F.END, F.HUB, min_distance_km=1)

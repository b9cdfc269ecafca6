"""Probabilistic person linkage: which records, from any agency, are the same person.

A flat person table (:data:`PERSON_COLUMNS`, optionally :data:`IDENTIFIER_COLUMNS`) is
normalised here, scored pair by pair with a Fellegi–Sunter model trained without labels
(:mod:`peel.fusion.linkage_model`, on DuckDB or Spark), and the pairs at or above the match
threshold are joined into people by :func:`cluster`, which also applies practitioners' merge
and split decisions. Every kept pair carries its evidence: each comparison's level and weight,
and for a pair looking like twins or a parent and child of one name, a ``household`` entry
(see :mod:`peel.fusion.linkage_model`). Records with different NHS numbers (NI numbers, PNC
ids) are kept apart by :func:`cluster` when it is given them, as :func:`link_file` does.

**Default match threshold.** ``LinkageConfig.match_threshold`` is 0.9, the platform's
``fusion_match_threshold``: chosen before measuring, as the round figure at which a pair is
nine times likelier the same person than not, and kept after one look at the labelled
historical-figures set (``benchmarks/fusion.py``), not tuned on it: there pairwise F1 is
about 0.89 at 0.9, 0.88 at 0.8 and 0.90 at 0.95, falling to 0.72 at 0.5 and 0.87 at 0.99.

**What ``link_file`` writes as ``match_probability``.** For a record joined to others, the
strongest scored link between it and another record of its entity (how sure the strongest
reason for putting it there is); 1.0 when only a practitioner's merge joins it; empty when
it stands alone, since there is no link to report (not 1.0, which would read as certainty).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from peel.core.errors import InvalidInput
from peel.fusion import linkage_model
from peel.fusion.linkage_names import name_meanings

PERSON_COLUMNS: tuple[str, ...] = (
    "record_id",
    "source",
    "given_name",
    "family_name",
    "date_of_birth",
    "sex",
    "address",
    "postcode",
)
IDENTIFIER_COLUMNS: tuple[str, ...] = ("nhs_number", "ni_number", "pnc_id")
ENGINES = ("duckdb", "spark")
PAIR_SCHEMA = pa.schema(
    [
        ("record_a", pa.string()),
        ("record_b", pa.string()),
        ("match_probability", pa.float64()),
        ("match_weight", pa.float64()),
        ("evidence", pa.string()),
    ]
)
OUTPUT_SCHEMA = pa.schema(
    [("record_id", pa.string()), ("entity_id", pa.string()), ("match_probability", pa.float64())]
)
Progress = Callable[[float, str], None]


class LinkageInputError(InvalidInput):
    """A person file or table cannot be linked; the message names the file and column."""


@dataclass(frozen=True)
class LinkageConfig:
    """How to link: pairs at or above ``match_threshold`` join; pairs kept for review from
    ``keep_threshold``; the engine (``duckdb`` or ``spark``); the training seed."""

    match_threshold: float = 0.9
    keep_threshold: float = 0.5
    engine: str = "duckdb"
    seed: int = 42

    def __post_init__(self) -> None:
        problems = {}
        if not 0 < self.keep_threshold < 1:
            problems["keep_threshold"] = "must be between 0 and 1"
        if not 0 < self.match_threshold < 1:
            problems["match_threshold"] = "must be between 0 and 1"
        elif self.keep_threshold > self.match_threshold:
            problems["keep_threshold"] = "must not be above the match threshold"
        if self.engine not in ENGINES:
            problems["engine"] = f"must be one of {', '.join(ENGINES)}, not {self.engine!r}"
        if problems:
            raise LinkageInputError(problems, "Invalid linkage settings")


@dataclass
class LinkageResult:
    """Scored pairs (``record_a < record_b``, kept from the keep threshold), the trained
    Splink model as JSON-able settings, and figures: records, pairs and seconds per stage."""

    pairs: pa.Table
    model: dict[str, Any]
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LinkConstraint:
    """A practitioner's decision about records in play: ``merge`` puts ``left`` and ``right``
    in one person; ``split`` keeps every record of ``left`` apart from every one of ``right``."""

    kind: str
    left: tuple[str, ...]
    right: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.kind not in ("merge", "split"):
            raise ValueError(f"a link decision is 'merge' or 'split', not {self.kind!r}")


# --- reading and checking input ---------------------------------------------------------------


def read_table(path: Path | str, what: str = "file") -> pa.Table:
    """A CSV (every column read as text) or Parquet file; errors name the file."""
    path = Path(path)
    parquet = path.suffix.lower() in (".parquet", ".pq")
    if not path.is_file():
        raise LinkageInputError({str(path): "no such file"}, f"Cannot read the {what}")
    try:
        if parquet:
            return pq.read_table(path)
        with pacsv.open_csv(path) as reader:
            names = reader.schema.names
        text = pacsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=True
        )
        return pacsv.read_csv(path, convert_options=text)
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as exc:
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        kind = "Parquet" if parquet else "CSV"
        raise LinkageInputError(
            {str(path): f"not a readable {kind} file ({problem})"}, f"Cannot read the {what}"
        ) from exc


def read_person_file(path: Path | str) -> pa.Table:
    """A person file (CSV or Parquet) as a table of strings, checked for the needed columns."""
    return check_persons(read_table(path, "person file"), str(path))


def check_persons(table: pa.Table, where: str = "persons") -> pa.Table:
    """The person columns (and identifiers present) as strings; errors name what is wrong."""
    missing = [c for c in PERSON_COLUMNS if c not in table.column_names]
    if missing:
        raise LinkageInputError(
            {
                f"{where}: column {c}": "missing (needed: " + ", ".join(PERSON_COLUMNS) + ")"
                for c in missing
            },
            "The person table lacks columns",
        )
    wanted = [*PERSON_COLUMNS, *(c for c in IDENTIFIER_COLUMNS if c in table.column_names)]
    columns = {}
    for name in wanted:
        column = table[name]
        if not pa.types.is_string(column.type):
            try:
                column = pc.cast(column, pa.string())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise LinkageInputError(
                    {f"{where}: column {name}": f"holds {column.type}, expected text"}
                ) from exc
        columns[name] = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    checked = pa.table(columns)
    ids = checked["record_id"]
    empty = pc.or_kleene(pc.is_null(ids), pc.equal(pc.utf8_trim_whitespace(ids), ""))
    if pc.any(empty).as_py():
        row = int(pc.index(empty, True).as_py()) + 1
        raise LinkageInputError({f"{where}: row {row}, column record_id": "is empty"})
    if pc.count_distinct(ids).as_py() != len(ids):
        counts = pc.value_counts(ids)
        twice = counts.filter(pc.greater(counts.field("counts"), 1))[0]["values"].as_py()
        raise LinkageInputError(
            {f"{where}: column record_id": f"{twice!r} appears more than once; ids must be unique"}
        )
    return checked


# --- normalising ------------------------------------------------------------------------------


def _text(values: pa.Array, keep: str = "a-z0-9") -> pa.Array:
    """Lower case, accents dropped, apostrophes removed, other marks as single spaces."""
    folded = pc.replace_substring_regex(pc.utf8_normalize(values, "NFKD"), r"\p{M}", "")
    lowered = pc.replace_substring_regex(pc.utf8_lower(folded), r"['’`]", "")
    spaced = pc.replace_substring_regex(lowered, f"[^{keep}]+", " ")
    trimmed = pc.utf8_trim_whitespace(spaced)
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)


def _dates(values: pa.Array) -> pa.Array:
    """ISO dates (a time after the date is ignored). Impossible ones such as ``1990-13-45``
    are kept: a typo still matches its original digit for digit, though not by date."""
    head = pc.utf8_slice_codeunits(pc.utf8_trim_whitespace(values), 0, 10)
    shaped = pc.match_substring_regex(head, r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
    return pc.if_else(shaped, head, pa.scalar(None, pa.string()))


def _days(dates: pa.Array) -> pa.Array:
    """Days since 1970 of each possible date, for differences in days (impossible: null)."""
    parsed = pc.strptime(dates, format="%Y-%m-%d", unit="s", error_is_null=True)
    again = pc.strftime(parsed, format="%Y-%m-%d")
    days = pc.cast(pc.cast(parsed, pa.date32()), pa.int32())
    return pc.if_else(pc.equal(again, dates), days, pa.scalar(None, pa.int32()))


def _capped_key(parts: list[pa.Array], limit: int) -> pa.Array:
    """The parts joined with ``|``, or null where any is missing or more than ``limit``
    records share the joined value (a blocking key that would make too many pairs)."""
    key = pc.binary_join_element_wise(*parts, "|")
    counts = pc.value_counts(key)
    shared_by = pc.take(counts.field("counts"), pc.index_in(key, counts.field("values")))
    return pc.if_else(pc.less_equal(shared_by, limit), key, pa.scalar(None, pa.string()))


def _swapped_day_month(dates: pa.Array) -> pa.Array:
    """``YYYY-DD-MM`` where the day could be a month and differs from it, else missing."""
    year = pc.utf8_slice_codeunits(dates, 0, 4)
    month = pc.utf8_slice_codeunits(dates, 5, 7)
    day = pc.utf8_slice_codeunits(dates, 8, 10)
    swappable = pc.and_(pc.less_equal(day, "12"), pc.not_equal(day, month))
    swapped = pc.binary_join_element_wise(year, day, month, "-")
    return pc.if_else(swappable, swapped, pa.scalar(None, pa.string()))


STREET_WORDS = {
    "rd": "road",
    "st": "street",
    "str": "street",
    "ave": "avenue",
    "av": "avenue",
    "gdns": "gardens",
    "gdn": "garden",
    "gr": "grove",
    "gro": "grove",
    "cl": "close",
    "ln": "lane",
    "dr": "drive",
    "cres": "crescent",
    "cr": "crescent",
    "pl": "place",
    "sq": "square",
    "ter": "terrace",
    "terr": "terrace",
    "ct": "court",
    "pde": "parade",
    "hse": "house",
    "apt": "flat",
    "apartment": "flat",
    "bldgs": "buildings",
    "mt": "mount",
    "pk": "park",
    "wy": "way",
}
HOUSE_NUMBER = r"(?:^|\s)(?P<number>[0-9]+[a-z]?)(?:\s|$)"


def _address(values: pa.Array) -> pa.Array:
    """An address line as lower-case words, common street abbreviations written out."""
    words = pc.utf8_split_whitespace(_text(values))
    flat = pc.list_flatten(words)
    spelt = pc.take(
        pa.array(list(STREET_WORDS.values())), pc.index_in(flat, pa.array(list(STREET_WORDS)))
    )
    rebuilt = pa.ListArray.from_arrays(
        words.offsets, pc.coalesce(spelt, flat), mask=pc.is_null(words)
    )
    return pc.binary_join(rebuilt, " ")


SEX_WORDS = {
    "female": ("f", "female", "woman", "girl", "w"),
    "male": ("m", "male", "man", "boy"),
    "other": ("other", "x", "o", "non-binary", "nonbinary"),
}


def _sex(values: pa.Array) -> pa.Array:
    """``female``, ``male`` or ``other``; unknown and anything else become missing."""
    words = [w for ws in SEX_WORDS.values() for w in ws]
    meaning = pa.array([k for k, ws in SEX_WORDS.items() for _ in ws])
    found = pc.index_in(pc.utf8_lower(pc.utf8_trim_whitespace(values)), pa.array(words))
    return pc.take(meaning, found)


POSTCODE = r"^(?P<outward>[A-Z]{1,2}[0-9][A-Z0-9]?)(?P<inward>[0-9][A-Z]{2})$"


def _postcodes(values: pa.Array) -> tuple[pa.Array, pa.Array, pa.Array]:
    """Postcode (``BH1 1AA``), sector (``BH1 1``) and district (``BH1``)."""
    squashed = pc.replace_substring_regex(pc.utf8_upper(values), "[^A-Z0-9]", "")
    squashed = pc.if_else(pc.equal(squashed, ""), pa.scalar(None, pa.string()), squashed)
    parts = pc.extract_regex(squashed, POSTCODE)
    valid = pc.fill_null(pc.is_valid(parts), False)
    nothing = pa.scalar(None, pa.string())
    outward = pc.if_else(valid, pc.struct_field(parts, "outward"), nothing)
    inward = pc.if_else(valid, pc.struct_field(parts, "inward"), nothing)
    full = pc.if_else(valid, pc.binary_join_element_wise(outward, inward, " "), squashed)
    sector = pc.binary_join_element_wise(outward, pc.utf8_slice_codeunits(inward, 0, 1), " ")
    return full, sector, outward


def _identifier(name: str, values: pa.Array) -> pa.Array:
    """NHS numbers as digits; NI numbers and PNC ids upper case without spaces."""
    pattern = "[^0-9]" if name == "nhs_number" else "[^A-Z0-9/]"
    cleaned = pc.replace_substring_regex(pc.utf8_upper(values), pattern, "")
    return pc.if_else(pc.equal(cleaned, ""), pa.scalar(None, pa.string()), cleaned)


def prepare_persons(persons: pa.Table) -> tuple[pa.Table, list[str]]:
    """The normalised columns the model compares, and the names of those holding any value."""
    checked = check_persons(persons)

    def column(name: str) -> pa.Array:
        return checked[name].combine_chunks()

    given = _text(column("given_name"), "a-z")
    family = _text(column("family_name"), "a-z")
    dob = _dates(column("date_of_birth"))
    address = _address(column("address"))
    postcode, sector, district = _postcodes(column("postcode"))
    columns: dict[str, pa.Array] = {
        "unique_id": column("record_id"),
        "given_name": given,
        "family_name": family,
        "given_name_meanings": name_meanings(given),
        "given_prefix": pc.utf8_slice_codeunits(given, 0, 2),
        "family_prefix": pc.utf8_slice_codeunits(family, 0, 2),
        "date_of_birth": dob,
        "dob_swapped": _swapped_day_month(dob),
        "dob_year": pc.utf8_slice_codeunits(dob, 0, 4),
        "sex": _sex(column("sex")),
        "address": address,
        "house_number": pc.struct_field(pc.extract_regex(address, HOUSE_NUMBER), "number"),
        "postcode": postcode,
        "postcode_sector": sector,
        "postcode_district": district,
    }
    for name in IDENTIFIER_COLUMNS:
        if name in checked.column_names:
            columns[name] = _identifier(name, column(name))
    columns["birth_day"] = _days(dob)
    for key, (parts, limit) in linkage_model.LOOSE_KEYS.items():
        columns[key] = _capped_key([columns[p] for p in parts], limit)
    prepared = pa.table(columns)
    present = [n for n in prepared.column_names[1:] if prepared[n].null_count < len(prepared)]
    return prepared, present


# --- scoring ----------------------------------------------------------------------------------


def _database(engine: str, spark: Any) -> Any:
    """A Splink database API for the engine (DuckDB in memory, or the given Spark session)."""
    if engine == "spark":
        from peel.fusion.linkage_spark import splink_spark_api

        return splink_spark_api(spark)
    from splink import DuckDBAPI

    return DuckDBAPI()


class _Stages:
    """Reports progress and times each stage of a linkage run into ``seconds``."""

    def __init__(self, progress: Progress | None) -> None:
        self.report = progress or (lambda fraction, message: None)
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str, fraction: float, message: str) -> Iterator[None]:
        self.report(fraction, message)
        began = time.perf_counter()
        yield
        self.seconds[name] = round(time.perf_counter() - began, 3)


@contextmanager
def _quiet_splink() -> Iterator[None]:
    """Keep Splink's training chatter (levels not observed and the like) off the console."""
    logger = logging.getLogger("splink")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def score_pairs(
    persons: pa.Table,
    config: LinkageConfig,
    progress: Progress | None = None,
    spark: Any = None,
    *,
    model: dict[str, Any] | None = None,
) -> LinkageResult:
    """Train the model on ``persons`` (or reuse a trained ``model``) and score candidate pairs.

    Returns the pairs at or above ``config.keep_threshold`` with their evidence.
    """
    stages = _Stages(progress)
    stats: dict[str, Any] = {"records": persons.num_rows, "seconds": stages.seconds}
    with stages.stage("normalise", 0.0, "Normalising records"):
        prepared, present = prepare_persons(persons)
    if prepared.num_rows < 2 or not linkage_model.comparisons(present):
        stats.update(candidate_pairs=0, kept_pairs=0)
        return LinkageResult(PAIR_SCHEMA.empty_table(), model or {}, stats)
    with _quiet_splink():
        pairs, trained = _score(prepared, present, config, stages, stats, spark, model)
    stages.report(1.0, f"Scored {stats['candidate_pairs']:,} pairs; kept {pairs.num_rows:,}")
    return LinkageResult(pairs, trained, stats)


def _score(
    prepared: pa.Table,
    present: list[str],
    config: LinkageConfig,
    stages: _Stages,
    stats: dict[str, Any],
    spark: Any,
    model: dict[str, Any] | None,
) -> tuple[pa.Table, dict[str, Any]]:
    from splink import Linker

    database = _database(config.engine, spark)
    settings = linkage_model.settings(present, model)
    linker = Linker(database.register(prepared), settings, log_level=None)
    if model is None:
        with stages.stage("train", 0.05, "Training the model (no labels needed)"):
            linkage_model.train(linker, prepared, present, config.seed)
    with stages.stage("block", 0.35, "Finding candidate pairs"):
        stats["candidate_pairs"] = _count(linker.inference.compute_blocked_pairs_for_predict())
    with stages.stage("score", 0.5, f"Scoring {stats['candidate_pairs']:,} candidate pairs"):
        predictions = linker.inference.predict(
            threshold_match_probability=config.keep_threshold, warning_mode="never"
        )
        columns = ", ".join(_evidence_columns(linker))  # names from the model, not from input
        scored = predictions.query_sql(f"SELECT {columns} FROM {{this}}")  # noqa: S608
        scored = scored.as_pyarrow_table()
    with stages.stage("evidence", 0.9, "Recording the evidence for each pair"):
        patterns = linkage_model.household_patterns(linker, prepared, present)
        stats["household"] = {p.name: [p.pairs, round(p.expected_matches, 1)] for p in patterns}
        pairs = _pairs_with_evidence(scored, linker, patterns, config.keep_threshold)
    stats["kept_pairs"] = pairs.num_rows
    return pairs, linker.misc.save_model_to_json()


def _count(frame: Any) -> int:
    counted = frame.query_sql("SELECT count(*) AS n FROM {this}")
    rows = counted.as_record_list()
    counted.drop_table_from_database_and_remove_from_cache()
    return int(rows[0]["n"])


def _evidence_columns(linker: Any) -> list[str]:
    """The prediction columns the evidence needs: each comparison's level and weight parts."""
    columns = ["unique_id_l", "unique_id_r", "match_probability", "match_weight"]
    for comparison in linker._settings_obj.comparisons:
        columns.extend(comparison._match_weight_columns_to_sum)
        columns.append(comparison._gamma_column_name)
    return columns


def _pairs_with_evidence(
    scored: pa.Table,
    linker: Any,
    patterns: Sequence[linkage_model.HouseholdPattern] = (),
    keep: float = 0.0,
) -> pa.Table:
    """Predictions as :data:`PAIR_SCHEMA`, the evidence JSON built column by column.

    A pair showing a household pattern (twins, a parent and child of one name) has its
    name, birth and home evidence replaced by how often that pattern marks one person
    (:func:`peel.fusion.linkage_model.household_patterns`), shown as a ``household`` entry.
    """
    a = pc.cast(scored["unique_id_l"], pa.string())
    b = pc.cast(scored["unique_id_r"], pa.string())
    in_order = pc.less(a, b)
    comparisons = linker._settings_obj.comparisons
    weights = {c.output_column_name: _comparison_weight(scored, c) for c in comparisons}
    labels = {c.output_column_name: _comparison_label(scored, c) for c in comparisons}
    parts = [_evidence_part(c, weights, labels) for c in comparisons]
    total = np.asarray(pc.cast(scored["match_weight"], pa.float64()), dtype=np.float64)
    probability = np.asarray(pc.cast(scored["match_probability"], pa.float64()), dtype=np.float64)
    prior = linker._settings_obj._probability_two_random_records_match
    household = _household(patterns, weights, labels, math.log2(prior / (1 - prior)))
    if household is not None:
        parts.append(household[0])
        total = total + household[1]
        probability = np.where(household[1] < 0, 1.0 / (1.0 + np.exp2(-total)), probability)
    joined = pc.binary_join_element_wise(*parts, ", ") if parts else pa.array([""] * len(a))
    evidence = pc.binary_join_element_wise("{", joined, "}", "")
    pairs = pa.table(
        [
            pc.if_else(in_order, a, b),
            pc.if_else(in_order, b, a),
            pa.array(probability, pa.float64()),
            pa.array(total, pa.float64()),
            evidence,
        ],
        schema=PAIR_SCHEMA,
    )
    if household is None:
        return pairs
    return pairs.filter(pc.greater_equal(pairs["match_probability"], keep))


def _comparison_weight(scored: pa.Table, comparison: Any) -> np.ndarray:
    """One comparison's weight (log2 Bayes factor, term frequencies included) for every pair."""
    weight = np.zeros(scored.num_rows)
    for column in comparison._match_weight_columns_to_sum:
        weight += np.asarray(pc.fill_null(scored[column], 0.0), dtype=np.float64)
    return weight


def _comparison_label(scored: pa.Table, comparison: Any) -> pa.Array:
    """One comparison's level, in words, for every pair."""
    levels = {
        lvl.comparison_vector_value: lvl.label_for_charts for lvl in comparison.comparison_levels
    }
    codes = sorted(levels)
    gamma = pc.cast(scored[comparison._gamma_column_name], pa.int64())
    return pc.take(pa.array([levels[c] for c in codes]), pc.index_in(gamma, pa.array(codes)))


def _evidence_part(
    comparison: Any, weights: dict[str, np.ndarray], labels: dict[str, pa.Array]
) -> pa.Array:
    """``"name": {"level": label, "weight": w}`` for one comparison, for every pair."""
    name = comparison.output_column_name
    return _json_part(name, labels[name], weights[name])


def _json_part(name: str, label: pa.Array, weight: np.ndarray) -> pa.Array:
    shown = np.clip(np.round(weight, 3), -60.0, 60.0) + 0.0
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(label, '"', '\\"'), '"', "")
    return pc.binary_join_element_wise(
        f'{json.dumps(name)}: {{"level": ',
        quoted,
        ', "weight": ',
        pc.cast(pa.array(shown), pa.string()),
        "}",
        "",
    )


def _household(
    patterns: Sequence[linkage_model.HouseholdPattern],
    weights: dict[str, np.ndarray],
    labels: dict[str, pa.Array],
    prior: float,
) -> tuple[pa.Array, np.ndarray] | None:
    """The ``household`` evidence part and the change of weight it makes, or None if no
    pair shows a pattern that warns. The change only ever lowers a pair's weight."""
    rows = len(next(iter(labels.values()), []))
    change = np.zeros(rows)
    label = pa.nulls(rows, pa.string())
    for pattern in patterns:
        if pattern.weight is None:
            continue
        shows = np.ones(rows, dtype=bool)
        for comparison, wanted in pattern.levels.items():
            shows &= np.asarray(pc.fill_null(pc.is_in(labels[comparison], pa.array(wanted)), False))
        replaced = sum(weights[c] for c in pattern.levels)
        lowered = np.minimum(pattern.weight - prior - replaced, 0.0)
        change = np.where(shows, lowered, change)
        label = pc.if_else(pa.array(shows), pa.scalar(pattern.label), label)
    if label.null_count == rows:
        return None
    label = pc.fill_null(label, "no household pattern")
    return _json_part("household", label, change), change


# --- clustering -------------------------------------------------------------------------------

MERGED = 2.0  # the weight of a practitioner's merge: above any probability, so never cut first


def cluster(
    record_ids: Sequence[str] | pa.Array,
    pairs: Iterable[tuple[str, str, float]] | pa.Table,
    threshold: float,
    constraints: Sequence[LinkConstraint] = (),
    *,
    identifiers: pa.Table | None = None,
) -> dict[str, str]:
    """Each record's entity: the smallest record id among the records linked to it.

    Pairs at or above ``threshold`` link records (transitively); a ``merge`` decision links
    its records whatever the scores; a ``split`` decision keeps its two sides apart, dropping
    links across and, where the sides stay connected through others, cutting the weakest
    links on those paths (strongest links are kept first, as in Kruskal's algorithm). A split
    outranks a merge it contradicts. Pairs naming records not in ``record_ids`` are ignored.
    ``pairs`` may be a table with ``record_a``, ``record_b``, ``match_probability``.

    ``identifiers`` (``record_id`` and any of :data:`IDENTIFIER_COLUMNS`) adds automatic
    splits: two records whose NHS numbers (or NI numbers, or PNC ids) are both present and
    differ are not put in one entity through a chain of other links; the weakest links are
    cut as for a split. A practitioner's merge outranks such a conflict (they have seen both
    numbers, and one may be a recording error or a temporary number); a split outranks both.
    """
    ids = pa.array(record_ids, pa.string()) if not isinstance(record_ids, pa.Array) else record_ids
    entity = cluster_array(ids, _pair_table(pairs), threshold, constraints, identifiers=identifiers)
    return dict(zip(ids.to_pylist(), entity.to_pylist(), strict=True))


def _pair_table(pairs: Iterable[tuple[str, str, float]] | pa.Table) -> pa.Table:
    if isinstance(pairs, pa.Table):
        return pairs.select(["record_a", "record_b", "match_probability"])
    a, b, p = [], [], []
    for left, right, probability in pairs:
        a.append(left)
        b.append(right)
        p.append(probability)
    return pa.table(
        {
            "record_a": pa.array(a, pa.string()),
            "record_b": pa.array(b, pa.string()),
            "match_probability": pa.array(p, pa.float64()),
        }
    )


@dataclass
class _Graph:
    """Records as ranks in sorted order (so the smallest rank is the smallest id), and edges."""

    ids: pa.Array  # sorted
    a: np.ndarray
    b: np.ndarray
    weight: np.ndarray

    def rank(self, values: Sequence[str] | pa.Array) -> np.ndarray:
        found = pc.index_in(pa.array(values, pa.string()), self.ids)
        return np.asarray(pc.fill_null(found, -1), dtype=np.int64)


def _graph(
    ids: pa.Array, pairs: pa.Table, threshold: float, merges: list[LinkConstraint]
) -> _Graph:
    if pc.count_distinct(ids).as_py() != len(ids):
        raise ValueError("record ids must be unique")
    ordered = pc.take(ids, pc.sort_indices(ids))
    graph = _Graph(ordered, np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0))
    strong = pairs.filter(pc.greater_equal(pairs["match_probability"], threshold))
    a = graph.rank(strong["record_a"].combine_chunks())
    b = graph.rank(strong["record_b"].combine_chunks())
    weight = np.asarray(strong["match_probability"].combine_chunks(), dtype=np.float64)
    parts_a, parts_b, parts_w = [a], [b], [weight]
    for merge in merges:
        members = graph.rank([*merge.left, *merge.right])
        members = members[members >= 0]
        parts_a.append(np.full(max(len(members) - 1, 0), members[0] if len(members) else 0))
        parts_b.append(members[1:])
        parts_w.append(np.full(max(len(members) - 1, 0), MERGED))
    a, b, weight = np.concatenate(parts_a), np.concatenate(parts_b), np.concatenate(parts_w)
    usable = (a >= 0) & (b >= 0) & (a != b)
    graph.a, graph.b, graph.weight = a[usable], b[usable], weight[usable]
    return graph


def _components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    matrix = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n))
    return connected_components(matrix, directed=False)[1]


def cluster_array(
    ids: pa.Array,
    pairs: pa.Table,
    threshold: float,
    constraints: Sequence[LinkConstraint] = (),
    *,
    identifiers: pa.Table | None = None,
) -> pa.Array:
    """:func:`cluster` for Arrow input and output: the entity of each of ``ids``, in order."""
    merges = [c for c in constraints if c.kind == "merge"]
    splits = [c for c in constraints if c.kind == "split"]
    graph = _graph(ids, pairs, threshold, merges)
    n = len(graph.ids)
    label = _components(n, graph.a, graph.b)
    numbers = _numbers_by_rank(graph, identifiers)
    sides, troubled = _split_sides(graph, label, splits)
    for values in numbers.values():
        troubled |= _conflicting_components(label, values)
    if troubled:
        label = _relink(graph, label, troubled, _KeptApart(sides, numbers))
    smallest = np.full(label.max() + 1 if n else 0, n, dtype=np.int64)
    np.minimum.at(smallest, label, np.arange(n))
    entity_sorted = pc.take(graph.ids, pa.array(smallest[label]))
    return pc.take(entity_sorted, pa.array(graph.rank(ids)))


def _numbers_by_rank(graph: _Graph, identifiers: pa.Table | None) -> dict[str, pa.Array]:
    """Each reference number column, normalised, for every record by rank (missing: null)."""
    if identifiers is None:
        return {}
    rank = graph.rank(identifiers["record_id"].combine_chunks())
    known = rank >= 0
    numbers = {}
    for name in IDENTIFIER_COLUMNS:
        if name not in identifiers.column_names:
            continue
        values = _identifier(name, pc.cast(identifiers[name].combine_chunks(), pa.string()))
        by_rank = pa.nulls(len(graph.ids), pa.string()).to_numpy(zero_copy_only=False).copy()
        by_rank[rank[known]] = values.filter(pa.array(known)).to_numpy(zero_copy_only=False)
        column = pa.array(by_rank, pa.string())
        if column.null_count < len(column) - 1:
            numbers[name] = column
    return numbers


def _conflicting_components(label: np.ndarray, values: pa.Array) -> set[int]:
    """Components holding two or more different values of one reference number."""
    table = pa.table({"label": pa.array(label), "value": values}).filter(pc.is_valid(values))
    counted = table.group_by("label").aggregate([("value", "count_distinct")])
    return set(counted.filter(pc.greater(counted["value_count_distinct"], 1))["label"].to_pylist())


class _KeptApart:
    """Union-find whose groups remember which side of each split they hold (bit 1 or 2) and
    which reference numbers their records carry."""

    def __init__(self, sides: dict[int, dict[int, int]], numbers: dict[str, pa.Array]) -> None:
        self.parent: dict[int, int] = {}
        self.sides = sides
        self.numbers = {
            name: values.to_numpy(zero_copy_only=False) for name, values in numbers.items()
        }
        self.held: dict[int, dict[str, set[str]]] = {}

    def root(self, x: int) -> int:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def _held(self, root: int) -> dict[str, set[str]]:
        if root not in self.held:
            self.held[root] = {
                name: {values[root]} for name, values in self.numbers.items() if values[root]
            }
        return self.held[root]

    def join(self, x: int, y: int, merged: bool = False) -> None:
        """Join the groups of ``x`` and ``y`` unless that would put a split's sides together
        or (unless a practitioner ``merged`` them) two different reference numbers."""
        rx, ry = self.root(x), self.root(y)
        first, second = self.sides.get(rx, {}), self.sides.get(ry, {})
        if rx == ry or any(first.get(k, 0) | bit == 3 for k, bit in second.items()):
            return  # already one, or the link is cut
        mine, theirs = self._held(rx), self._held(ry)
        if not merged and any(mine.get(k, v) & v == set() for k, v in theirs.items()):
            return  # the numbers differ: the link is cut
        if len(first) < len(second):
            rx, ry, first, second = ry, rx, second, first
            mine, theirs = theirs, mine
        self.parent[ry] = rx
        for k, bit in second.items():
            first[k] = first.get(k, 0) | bit
        self.sides[rx] = first
        for name, values in theirs.items():
            mine[name] = mine.get(name, set()) | values
        self.held[rx] = mine


def _split_sides(
    graph: _Graph, label: np.ndarray, splits: list[LinkConstraint]
) -> tuple[dict[int, dict[int, int]], set[int]]:
    """Each record's side of each split, and the components holding both sides of one."""
    sides: dict[int, dict[int, int]] = {}
    troubled: set[int] = set()
    for k, split in enumerate(splits):
        left, right = graph.rank(split.left), graph.rank(split.right)
        left, right = left[left >= 0], right[right >= 0]
        if set(left.tolist()) & set(right.tolist()):
            raise ValueError("a split decision cannot put a record on both sides")
        for node, bit in [*((x, 1) for x in left.tolist()), *((x, 2) for x in right.tolist())]:
            sides.setdefault(node, {})[k] = sides.get(node, {}).get(k, 0) | bit
        troubled |= set(label[left].tolist()) & set(label[right].tolist())
    return sides, troubled


def _relink(graph: _Graph, label: np.ndarray, troubled: set[int], groups: _KeptApart) -> np.ndarray:
    """Relink the components holding records that must stay apart, strongest links first."""
    inside = np.isin(label[graph.a], list(troubled))
    a, b, weight = graph.a[inside], graph.b[inside], graph.weight[inside]
    for i in np.lexsort((b, a, -weight)).tolist():
        groups.join(int(a[i]), int(b[i]), merged=bool(weight[i] >= MERGED))
    relabelled = label.copy()
    members = np.flatnonzero(np.isin(label, list(troubled)))
    roots = np.array([groups.root(int(x)) for x in members.tolist()], dtype=np.int64)
    relabelled[members] = label.max() + 1 + roots  # a new label per surviving component
    return np.unique(relabelled, return_inverse=True)[1]


# --- a file in, a file out --------------------------------------------------------------------


@dataclass(frozen=True)
class LinkReport:
    """What ``link_file`` did: records in, entities out, pairs scored and kept, seconds."""

    records: int
    entities: int
    linked_records: int
    stats: dict[str, Any]


def entity_table(ids: pa.Array, pairs: pa.Table, entity: pa.Array) -> pa.Table:
    """``record_id, entity_id, match_probability``: each record's strongest link inside its
    entity; 1.0 when only a practitioner's merge joins it; empty when it stands alone."""
    position = pa.table(
        {"record_id": ids, "entity_id": entity, "row": pa.array(np.arange(len(ids)))}
    )
    lookup = position.select(["record_id", "entity_id"])
    ends = pairs.select(["record_a", "record_b", "match_probability"])
    ends = ends.join(lookup.rename_columns(["record_a", "entity_a"]), "record_a")
    ends = ends.join(lookup.rename_columns(["record_b", "entity_b"]), "record_b")
    inside = ends.filter(pc.equal(ends["entity_a"], ends["entity_b"]))
    both = pa.concat_tables(
        [
            inside.select(["record_a", "match_probability"]).rename_columns(["record_id", "p"]),
            inside.select(["record_b", "match_probability"]).rename_columns(["record_id", "p"]),
        ]
    )
    best = both.group_by("record_id").aggregate([("p", "max")])
    joined = position.join(best, "record_id").sort_by("row")
    sizes = pc.value_counts(entity)
    size_of = pc.take(
        sizes.field("counts"), pc.index_in(joined["entity_id"], sizes.field("values"))
    )
    alone = pc.equal(size_of, 1)
    strongest = pc.if_else(alone, pa.scalar(None, pa.float64()), pc.fill_null(joined["p_max"], 1.0))
    return pa.table([joined["record_id"], joined["entity_id"], strongest], schema=OUTPUT_SCHEMA)


def write_table(table: pa.Table, path: Path) -> None:
    """Parquet for ``.parquet``, otherwise CSV."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".parquet", ".pq"):
        pq.write_table(table, path)
    else:
        pacsv.write_csv(table, path)


def link_file(
    input: Path | str,
    output: Path | str,
    config: LinkageConfig | None = None,
    progress: Progress | None = None,
    spark: Any = None,
) -> LinkReport:
    """Link the people in a person file and write each record's entity (CSV or Parquet)."""
    config = config or LinkageConfig()
    output = Path(output)
    if output.suffix.lower() not in (".csv", ".parquet", ".pq"):
        raise LinkageInputError({str(output): "must end in .csv or .parquet"}, "Cannot write there")
    persons = read_person_file(input)
    result = score_pairs(persons, config, progress, spark)
    began = time.perf_counter()
    ids = persons["record_id"]
    entity = cluster_array(ids, result.pairs, config.match_threshold, identifiers=persons)
    table = entity_table(ids, result.pairs, entity)
    result.stats["seconds"]["cluster"] = time.perf_counter() - began
    began = time.perf_counter()
    write_table(table, output)
    result.stats["seconds"]["write"] = time.perf_counter() - began
    entities = pc.count_distinct(entity).as_py()
    linked = int(pc.sum(pc.is_valid(table["match_probability"])).as_py() or 0)
    return LinkReport(len(ids), entities, linked, result.stats)

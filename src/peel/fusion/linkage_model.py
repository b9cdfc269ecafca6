"""The person-linkage model: Splink comparisons, blocking rules and unsupervised training.

One Fellegi–Sunter model for every engine: the comparisons are built from Splink's level
library over columns that :func:`peel.fusion.linkage.prepare_persons` has already normalised
(so the SQL stays simple enough for DuckDB and Spark alike), and training needs no labels:

1. the u probabilities (how often each level happens by chance) from random pairs;
2. the m probabilities (how often each level happens for one person's records) by
   expectation maximisation, starting from the typical values written next to each level:
   on pairs sharing a reference number when there are enough, otherwise on pairs sharing
   both names and on pairs sharing a date of birth (each estimating what it does not fix).
   A data set too small for a session keeps the starting values for what it would estimate;
3. the prior (``probability_two_random_records_match``) from the pairs that exact rules find,
   divided by those rules' recall as the trained model predicts it (:func:`estimate_prior`).

After training, :func:`household_patterns` counts the pairs showing a pattern relatives
share (twins; a parent and child of one name at one address), so that scoring can weigh such
a pair by how often the pattern marks one person in this data rather than by its fields alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import splink.comparison_level_library as cll
from splink import block_on
from splink.internals.blocking_rule_creator import BlockingRuleCreator
from splink.internals.comparison_creator import ComparisonCreator
from splink.internals.comparison_library import CustomComparison
from splink.internals.linker import Linker

# The least recall credited to the exact rules when working out the prior.
MIN_RULE_RECALL = 0.01
# Random pairs sampled to estimate u (at most; 100 per record, from a million up); more
# only sharpens levels that are rare by chance.
U_SAMPLE_PAIRS = 5e6
# Pairs each EM session looks at, at most (a deterministic sample when there are more).
EM_MAX_PAIRS = 2e6
# Pairs an EM session needs before its estimates are trusted over the starting values.
EM_MIN_PAIRS = 200
# The least share of one person's pairs any level is assumed to hold (see smoothing).
M_FLOOR = 0.001
# Share of one person's records whose reference numbers disagree (mistyped, or wrongly
# matched at source). Fixed rather than learnt: EM would mistake namesakes for errors.
IDENTIFIER_ERRORS = 0.002
IDENTIFIER_LABELS = {"nhs_number": "NHS number", "ni_number": "NI number", "pnc_id": "PNC id"}


def _level(creator: Any, label: str, m: float | None = None) -> Any:
    """A level with a label people can read and, optionally, its starting m probability."""
    if m is None:
        return creator.configure(label_for_charts=label)
    return creator.configure(label_for_charts=label, m_probability=m)


def _missing(column: str) -> Any:
    return _level(cll.NullLevel(column), "missing")


def _name(column: str, other: str, label: str) -> ComparisonCreator:
    """A name: exact (rarer names weigh more), close spellings, swapped with the other name.

    A swap, or one name alone written in the other's field, is weighed once, under the given
    name: weighing it under the family name too would count one slip twice.
    """
    given = column == "given_name"
    levels = [
        _missing(column),
        _level(cll.ExactMatchLevel(column, term_frequency_adjustments=True), "exact", 0.82),
        _level(cll.JaroWinklerLevel(column, 0.92), "very similar", 0.06),
    ]
    if given:
        short = cll.ArrayIntersectLevel("given_name_meanings", 1)
        levels.append(_level(short, "short form of the same name", 0.03))
    swapped = cll.ColumnsReversedLevel(column, other, symmetrical=True)
    if given:
        levels.append(_level(swapped, f"swapped with the {label}", 0.01))
    else:  # one swap, already weighed under the given name: neutral here, not "different"
        levels.append(
            _level(swapped, "swapped with the given name (weighed there)").configure(
                is_null_level=True
            )
        )
    if given:
        misplaced = cll.CustomLevel(
            "(given_name_l = family_name_r OR given_name_r = family_name_l)"
        )
        levels.append(_level(misplaced, "one record's given name is the other's family name", 0.01))
    levels += [
        _level(cll.JaroWinklerLevel(column, 0.8), "similar", 0.04),
        _level(cll.ElseLevel(), "different", 0.03),
    ]
    return CustomComparison(comparison_levels=levels, output_column_name=column)


def _date_of_birth() -> ComparisonCreator:
    """Date of birth: exact, one typo or transposed digits, day and month swapped, near."""
    col = "date_of_birth"
    levels = [
        _missing(col),
        _level(cll.ExactMatchLevel(col, term_frequency_adjustments=True), "exact", 0.9),
        _level(cll.DamerauLevenshteinLevel(col, 1), "one digit wrong or two swapped", 0.05),
        _level(cll.ColumnsReversedLevel(col, "dob_swapped"), "day and month swapped", 0.01),
        _level(cll.CustomLevel("abs(birth_day_l - birth_day_r) <= 366"), "within a year", 0.01),
        _level(cll.CustomLevel("abs(birth_day_l - birth_day_r) <= 3653"), "within ten years", 0.01),
        _level(cll.ElseLevel(), "different", 0.02),
    ]
    return CustomComparison(comparison_levels=levels, output_column_name=col)


def _sex() -> ComparisonCreator:
    levels = [
        _missing("sex"),
        _level(cll.ExactMatchLevel("sex"), "same", 0.98),
        _level(cll.ElseLevel(), "different", 0.02),
    ]
    return CustomComparison(comparison_levels=levels, output_column_name="sex")


def _similar_address() -> Any:
    """Spelt nearly alike (abbreviations expanded, town left off) with no other house number."""
    return cll.And(
        cll.JaroWinklerLevel("address", 0.9),
        cll.Or(cll.ExactMatchLevel("house_number"), cll.NullLevel("house_number")),
    )


def _address() -> ComparisonCreator:
    """Where they live: address and postcode as one comparison, since they say the same thing
    (weighing both separately would count one fact twice and let anyone in the household
    look like the same person)."""
    rarer = {"tf_adjustment_column": "address", "disable_tf_exact_match_detection": True}
    same_address = cll.ExactMatchLevel("address")
    same_postcode = cll.ExactMatchLevel("postcode")
    levels = [
        _level(cll.And(cll.NullLevel("address"), cll.NullLevel("postcode")), "missing"),
        _level(cll.And(same_address, same_postcode), "same address and postcode", 0.55).configure(
            **rarer
        ),
        _level(
            cll.ExactMatchLevel("address"), "same address, another postcode or none", 0.05
        ).configure(**rarer),
        _level(cll.And(_similar_address(), same_postcode), "similar address, same postcode", 0.1),
        _level(cll.ExactMatchLevel("postcode"), "same postcode, another address", 0.08),
        _level(_similar_address(), "similar address", 0.03),
        _level(cll.ExactMatchLevel("postcode_sector"), "same sector", 0.02),
        _level(cll.ExactMatchLevel("postcode_district"), "same district", 0.02),
        _level(cll.ElseLevel(), "different", 0.15),
    ]
    return CustomComparison(comparison_levels=levels, output_column_name="address")


def _identifier(column: str) -> ComparisonCreator:
    """A reference number: the same one is strong evidence, a different one strong against."""
    levels = [
        _missing(column),
        _level(cll.ExactMatchLevel(column), "same", 1 - IDENTIFIER_ERRORS).configure(
            fix_m_probability=True
        ),
        _level(cll.ElseLevel(), "different", IDENTIFIER_ERRORS).configure(fix_m_probability=True),
    ]
    return CustomComparison(comparison_levels=levels, output_column_name=column)


COMPARISONS: dict[str, Callable[[], ComparisonCreator]] = {
    "given_name": lambda: _name("given_name", "family_name", "family name"),
    "family_name": lambda: _name("family_name", "given_name", "given name"),
    "date_of_birth": _date_of_birth,
    "sex": _sex,
    "address": _address,
    "nhs_number": lambda: _identifier("nhs_number"),
    "ni_number": lambda: _identifier("ni_number"),
    "pnc_id": lambda: _identifier("pnc_id"),
}


# Comparisons that read more than their own column (used when any of these holds values).
USES = {"address": ("address", "postcode")}


def comparisons(present: Sequence[str], model: dict[str, Any] | None = None) -> list[Any]:
    """The comparisons for the columns that hold values; with ``model``, its trained m and u."""
    made = [
        make() for name, make in COMPARISONS.items() if set(USES.get(name, (name,))) & set(present)
    ]
    if model is not None:
        trained = {c["output_column_name"]: c["comparison_levels"] for c in model["comparisons"]}
        for creator in made:
            _set_parameters(creator, trained.get(str(creator.create_output_column_name())))
    return made


def _set_parameters(creator: ComparisonCreator, levels: list[dict[str, Any]] | None) -> None:
    name = creator.create_output_column_name()
    mine = creator.create_comparison_levels()
    if levels is None or len(levels) != len(mine):
        raise ValueError(f"the trained model has no comparison matching {name!r}")
    for level_creator, level in zip(mine, levels, strict=True):
        if not level.get("is_null_level"):
            level_creator.configure(
                m_probability=level.get("m_probability"), u_probability=level.get("u_probability")
            )


# Loose keys reach records mistyped in several fields (surname with birth year: a typo in
# the day or month; surname with the first two letters of the given name: a nickname or
# typo after them; the date of birth alone: both names garbled). Common values would make
# millions of such pairs, most of them wrong, so a value shared by more records than its
# limit is not used as a key (the people behind it are still reached through other keys).
LOOSE_KEYS: dict[str, tuple[tuple[str, ...], int]] = {
    "surname_birth_year": (("family_name", "dob_year"), 30),
    "surname_given_start": (("family_name", "given_prefix"), 30),
    "initials_birth_year": (("given_prefix", "family_prefix", "dob_year"), 30),
    "birth_date": (("date_of_birth",), 10),
}

# Candidate pairs: records agreeing on any one of these sets of fields.
PREDICTION_KEYS: tuple[tuple[str, ...], ...] = (
    ("given_name", "family_name"),
    ("family_name", "date_of_birth"),
    ("given_name", "date_of_birth"),
    ("postcode", "given_name"),
    ("postcode", "family_name"),
    ("date_of_birth", "postcode_district"),
    ("family_name", "address"),
    ("given_name", "address"),
    ("address", "dob_year"),
    *((key,) for key in LOOSE_KEYS),
    ("nhs_number",),
    ("ni_number",),
    ("pnc_id",),
)
# Names in each other's places: both swapped, or one name written in the wrong field (the
# other missing or different) with the same date of birth.
SWAPPED_NAME_RULES = (
    "l.given_name = r.family_name AND l.family_name = r.given_name",
    "l.given_name = r.family_name AND l.date_of_birth = r.date_of_birth",
    "l.family_name = r.given_name AND l.date_of_birth = r.date_of_birth",
)
# EM sessions: the first reference number with enough pairs alone, else the last two.
EM_KEYS: tuple[tuple[str, ...], ...] = (
    *((name,) for name in IDENTIFIER_LABELS),
    ("given_name", "family_name"),
    ("date_of_birth",),
)
DETERMINISTIC_KEYS: tuple[tuple[str, ...], ...] = (
    ("given_name", "family_name", "date_of_birth"),
    ("nhs_number",),
    ("ni_number",),
    ("pnc_id",),
)


def _rules(present: Sequence[str], wanted: Sequence[tuple[str, ...]]) -> list[BlockingRuleCreator]:
    return [block_on(*keys) for keys in wanted if all(k in present for k in keys)]


def prediction_rules(present: Sequence[str]) -> list[BlockingRuleCreator | str]:
    """Blocking rules that generate the pairs to score."""
    rules: list[BlockingRuleCreator | str] = list(_rules(present, PREDICTION_KEYS))
    if {"given_name", "family_name"} <= set(present):
        rules.append(SWAPPED_NAME_RULES[0])
        if "date_of_birth" in present:
            rules.extend(SWAPPED_NAME_RULES[1:])
    return rules


def settings(present: Sequence[str], model: dict[str, Any] | None = None) -> dict[str, Any]:
    """The Splink settings for these columns: untrained, or with ``model``'s parameters."""
    made: dict[str, Any] = {
        "link_type": "dedupe_only",
        "unique_id_column_name": "unique_id",
        "comparisons": comparisons(present, model),
        "blocking_rules_to_generate_predictions": prediction_rules(present),
        "retain_matching_columns": True,  # needed for the comparison levels (gamma_*)
        "retain_intermediate_calculation_columns": True,
    }
    if model is not None:
        made["probability_two_random_records_match"] = model["probability_two_random_records_match"]
    return made


def pairs_sharing(prepared: pa.Table, columns: Sequence[str]) -> int:
    """How many pairs of records agree on all of ``columns`` (none missing)."""
    parts = [prepared[c].combine_chunks() for c in columns]
    key = parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, "\x1f")
    sizes = np.asarray(pc.value_counts(pc.drop_null(key)).field("counts"), dtype=np.int64)
    return int((sizes * (sizes - 1) // 2).sum())


def train(linker: Linker, prepared: pa.Table, present: Sequence[str], seed: int) -> None:
    """Estimate u, m and the prior without labels (see the module docstring).

    m comes from pairs sharing a reference number when there are enough of them: unlike pairs
    sharing a name or a birthday, they do not mix in twins and relatives of one household,
    whose differences EM would otherwise learn as ordinary recording errors.
    """
    training = linker.training
    sample = min(U_SAMPLE_PAIRS, max(1e6, 100.0 * len(prepared)))
    training.estimate_u_using_random_sampling(max_pairs=sample, seed=seed)
    usable = [
        keys
        for keys in EM_KEYS
        if all(k in present for k in keys) and pairs_sharing(prepared, keys) >= EM_MIN_PAIRS
    ]
    by_identifier = [keys for keys in usable if keys[0] in IDENTIFIER_LABELS]
    for keys in by_identifier[:1] or usable:
        training.estimate_parameters_using_expectation_maximisation(
            block_on(*keys), estimate_without_term_frequencies=True, max_pairs=EM_MAX_PAIRS
        )
    smooth_m_probabilities(linker)
    estimate_prior(linker, prepared, present)


def estimate_prior(linker: Linker, prepared: pa.Table, present: Sequence[str]) -> None:
    """The chance two random records match: pairs found by exact rules over those rules' recall.

    Splink's usual method assumes a recall for the rules; here it is worked out from the
    model itself (each field present on both records, and exactly equal for a match, as the
    trained m probabilities say), so heavily mistyped data gets a fittingly higher prior.
    """
    rules = [keys for keys in DETERMINISTIC_KEYS if all(k in present for k in keys)]
    if not any(pairs_sharing(prepared, keys) for keys in rules):
        return  # nothing to go on: keep Splink's default
    linker.training.estimate_probability_two_random_records_match(
        [block_on(*keys) for keys in rules], recall=1.0
    )
    found = linker._settings_obj._probability_two_random_records_match
    exact = {
        c.output_column_name: c._comparison_levels_excluding_null[0].m_probability or 0.0
        for c in linker._settings_obj.comparisons
    }
    equal = {
        field: (1 - prepared[field].null_count / len(prepared)) ** 2 * exact.get(field, 0.0)
        for field in {f for keys in rules for f in keys}
    }
    recall = 0.0  # P(any rule holds | match), by inclusion and exclusion, fields independent
    for size in range(1, len(rules) + 1):
        for chosen in combinations(rules, size):
            fields = set().union(*chosen)
            recall += (-1) ** (size + 1) * math.prod(equal[f] for f in fields)
    prior = min(found / min(max(recall, MIN_RULE_RECALL), 1.0), 0.5)
    linker._settings_obj._probability_two_random_records_match = prior


def smooth_m_probabilities(linker: Linker) -> None:
    """Give every level at least :data:`M_FLOOR` of a person's pairs, then renormalise.

    A level EM never saw among matches (no sex mismatch in clean training pairs, say) would
    otherwise fall back to Splink's generic defaults, or, at an m near zero, veto a pair
    outright; any field can be wrong now and then.
    """
    for comparison in linker._settings_obj.comparisons:
        levels = list(comparison._comparison_levels_excluding_null)
        learnt = [lvl for lvl in levels if not lvl._fix_m_probability]
        if not learnt:
            continue
        fixed = sum(lvl.m_probability or 0.0 for lvl in levels if lvl._fix_m_probability)
        values = [max(_known(lvl._m_probability, lvl.m_probability), M_FLOOR) for lvl in learnt]
        scale = (1.0 - fixed) / sum(values)
        for level, value in zip(learnt, values, strict=True):
            level.m_probability = value * scale


def _known(raw: Any, starting: float | None) -> float:
    """A trained or starting m probability; a level EM found empty counts as 0."""
    if isinstance(raw, float | int):
        return float(raw)
    return 0.0 if raw is not None else float(starting or 0.0)


# --- households: twins and namesakes --------------------------------------------------------------
#
# The model weighs each field on its own, as if agreeing on a family name, a date of birth and
# a home were independent among different people. In a household they are not: twins share
# all three, and a father and son of one name share the names and the home. For pairs showing
# one of these patterns the weight of the four name, birth and home comparisons is replaced by
# how often the pattern marks one person in this data: the matching pairs the trained model
# expects to show it, against how many pairs of records show it at all (the rest are
# relatives). Nothing else is assumed: in data without twins the pattern is no warning.

HOME_LEVELS = ("same address and postcode", "same address, another postcode or none")
GIVEN_DIFFERENT = (
    "l.given_name <> r.given_name AND jaro_winkler_similarity(l.given_name, r.given_name) < 0.8"
    " AND coalesce(len(list_intersect(l.given_name_meanings, r.given_name_meanings)), 0) = 0"
    " AND l.given_name <> r.family_name AND r.given_name <> l.family_name"
)
BIRTH_DIFFERENT = (
    "l.date_of_birth <> r.date_of_birth AND damerau_levenshtein(l.date_of_birth, r.date_of_birth)"
    " > 1 AND coalesce(l.date_of_birth <> r.dob_swapped, true)"
    " AND coalesce(abs(l.birth_day - r.birth_day) > 3653, true)"
)
# Records sharing one key beyond this many are left out of the count (a placeholder birth
# date and address would otherwise make millions of pairs); the pattern is still applied.
PATTERN_GROUP_LIMIT = 100


@dataclass(frozen=True)
class HouseholdPattern:
    """A pattern relatives show: the comparison levels that make it, how many pairs show it,
    how many of those the model expects to be one person, and the weight it then carries."""

    name: str
    label: str
    levels: dict[str, tuple[str, ...]]  # comparison -> the levels that count
    pairs: int
    expected_matches: float

    @property
    def weight(self) -> float | None:
        """log2 of the odds that a pair showing the pattern is one person (None: no warning)."""
        others = self.pairs - self.expected_matches
        if others <= 0 or self.expected_matches <= 0:
            return None
        return math.log2(self.expected_matches / others)


PATTERNS: dict[str, tuple[str, dict[str, tuple[str, ...]], tuple[str, ...], str]] = {
    # name: (label, levels, the key of the count, the condition of the count)
    "twins": (
        "same family name, birth date and home, another given name (as twins)",
        {
            "given_name": ("different",),
            "family_name": ("exact",),
            "date_of_birth": ("exact",),
            "address": HOME_LEVELS,
        },
        ("family_name", "date_of_birth", "address"),
        GIVEN_DIFFERENT,
    ),
    "namesakes": (
        "same names and home, birth dates far apart (as a parent and child)",
        {
            "given_name": ("exact",),
            "family_name": ("exact",),
            "date_of_birth": ("different",),
            "address": HOME_LEVELS,
        },
        ("given_name", "family_name", "address"),
        BIRTH_DIFFERENT,
    ),
}


def household_patterns(
    linker: Linker, prepared: pa.Table, present: Sequence[str]
) -> list[HouseholdPattern]:
    """The household patterns this data allows, counted, with the trained model's expectation."""
    needed = {"given_name", "family_name", "date_of_birth", "address"}
    if not needed <= set(present):
        return []
    settings_obj = linker._settings_obj
    prior = settings_obj._probability_two_random_records_match
    m = {
        c.output_column_name: {
            lvl.label_for_charts: lvl.m_probability or 0.0
            for lvl in c._comparison_levels_excluding_null
        }
        for c in settings_obj.comparisons
    }
    n = len(prepared)
    found = []
    for name, (label, levels, key, condition) in PATTERNS.items():
        expected = prior * n * (n - 1) / 2  # matching pairs, then those showing the pattern
        for comparison, wanted in levels.items():
            present_both = (1 - prepared[comparison].null_count / n) ** 2
            expected *= present_both * sum(m[comparison].get(level, 0.0) for level in wanted)
        pairs = _pairs_showing(prepared, key, condition)
        found.append(HouseholdPattern(name, label, levels, pairs, expected))
    return found


def _pairs_showing(prepared: pa.Table, key: Sequence[str], condition: str) -> int:
    """Pairs of records agreeing on all of ``key`` and meeting ``condition`` (SQL, l and r)."""
    import duckdb

    columns = ["unique_id", "given_name", "family_name", "given_name_meanings"]
    columns += ["date_of_birth", "dob_swapped", "birth_day", "address"]
    same = " AND ".join(f"l.{k} = r.{k}" for k in key)
    groups = ", ".join(key)
    sql = f"""
        WITH t AS (
            SELECT * FROM records WHERE ({groups}) IN (
                SELECT ({groups}) FROM records WHERE {" AND ".join(f"{k} IS NOT NULL" for k in key)}
                GROUP BY ALL HAVING count(*) BETWEEN 2 AND {PATTERN_GROUP_LIMIT}
            )
        )
        SELECT count(*) FROM t l JOIN t r ON {same} AND l.unique_id < r.unique_id
        WHERE {condition}
    """  # noqa: S608 (column names and conditions are constants of this module)
    with duckdb.connect() as con:
        con.register("records", prepared.select(columns))
        return int(con.sql(sql).fetchall()[0][0])

"""Mapping YAML: a good mapping parses; every kind of mistake names its path and what to do."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from peel.fusion.mapping import MappingError, missing_columns, parse_mapping

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "fusion"


WITH = "entities: {p: {schema: Person, key: [id], properties: "


def problems_of(text: str) -> dict[str, str]:
    with pytest.raises(MappingError) as caught:
        parse_mapping(text)
    return caught.value.problems


def test_the_documented_mapping_parses_into_rules() -> None:
    mapping = parse_mapping((FIXTURES / "children.yaml").read_text())
    assert mapping.format == "csv"
    assert list(mapping.entities) == ["child", "home", "episode"]
    child = mapping.entities["child"]
    assert child.schema.name == "Person"
    assert child.key == ("child_id",)
    rules = {p.property.name: p.rule for p in child.properties}
    assert rules["given_name"].column == "first_name"
    assert rules["date_of_birth"].format == "%d/%m/%Y"
    assert rules["date_of_birth"].required
    assert rules["flags"].split == ";"
    marker = rules["markers"]
    assert marker.value == "gang-associated"
    assert marker.when is not None and marker.when.holds({"gang_flag": " y "})
    assert not marker.when.holds({"gang_flag": "N"})
    episode = {p.property.name: p.rule for p in mapping.entities["episode"].properties}
    assert episode["kind"].value == "missing-episode"
    involved = mapping.relations[1]
    assert (involved.kind.name, involved.from_entity, involved.to_entity) == (
        "involved_in", "child", "episode",
    )  # fmt: skip
    assert involved.role is not None and involved.role.column == "role"
    assert mapping.columns()["dob"] == "entities.child.properties.date_of_birth"
    assert missing_columns(mapping, ["child_id", "first_name"])["surname"] == (
        "entities.child.properties.family_name"
    )


def test_rules_take_values_from_a_row() -> None:
    mapping = parse_mapping(
        "entities:\n  p:\n    schema: Person\n    key: [id, site]\n"
        "    properties: {flags: {column: f, split: '|'}}\n"
    )
    person = mapping.entities["p"]
    assert person.key_of({"id": " 7 ", "site": "A"}) == "7|A"
    assert person.key_of({"id": "7", "site": ""}) == "7|"
    assert person.key_of({"id": " ", "site": ""}) is None
    rule = person.properties[0].rule
    assert rule.raw_values({"f": "send | | looked-after"}) == ["send", "looked-after"]


def test_constants_are_normalised_when_the_mapping_is_read() -> None:
    mapping = parse_mapping(
        "entities:\n  e:\n    schema: Event\n    key: [id]\n"
        "    properties: {kind: {value: A&E attendance}}\n"
        "  p: {schema: Person, key: [pid]}\n"
        "relations:\n  - {kind: involved_in, from: p, to: e, role: {value: Missing Person}}\n"
    )
    assert mapping.entities["e"].properties[0].rule.value == "ae-attendance"
    role = mapping.relations[0].role
    assert role is not None and role.value == "missing-person"


@pytest.mark.parametrize(
    ("text", "path", "expected"),
    [
        ("- a\n- b\n", "mapping", "expected a YAML mapping"),
        ("entities: [\n", "line 2, column 1", "not valid YAML"),
        ("entities: {}\n", "entities", "expected at least one entity"),
        (
            "format: xls\nentities: {p: {schema: Person, key: [id]}}\n",
            "format",
            "expected one of csv, excel, json, parquet",
        ),
        ("colour: red\nentities: {p: {schema: Person, key: [id]}}\n", "colour", "unknown setting"),
        (
            "entities: {p: {schema: Pet, key: [id]}}\n",
            "entities.p.schema",
            "expected an entity type (Person, Address",
        ),
        ("entities: {p: {schema: Person}}\n", "entities.p.key", "expected a list of the columns"),
        (
            "entities: {p: {schema: Person, key: [id], properties: {shoe_size: s}}}\n",
            "entities.p.properties.shoe_size",
            "Person has no property 'shoe_size'; expected one of",
        ),
        (
            "entities: {p: {schema: Person, key: [id], properties: {sex: {colum: g}}}}\n",
            "entities.p.properties.sex.colum",
            "unknown setting; expected one of column",
        ),
        (
            WITH + "{sex: {column: g, value: F}}}}\n",
            "entities.p.properties.sex",
            "exactly one of `column` or `value`",
        ),
        (
            "entities: {p: {schema: Person, key: [id], properties: {sex: {value: sometimes}}}}\n",
            "entities.p.properties.sex.value",
            "expected female, male, other or unknown",
        ),
        (
            WITH + "{sex: {column: g, format: '%d'}}}}\n",
            "entities.p.properties.sex.format",
            "only to date properties",
        ),
        (
            "entities: {p: {schema: Person, key: [id], properties: "
            "{date_of_birth: {column: d, format: dd/mm/yyyy}}}}\n",
            "entities.p.properties.date_of_birth.format",
            "expected a strptime format",
        ),
        (
            "entities: {p: {schema: Person, key: [id], properties: "
            "{markers: {value: gang, when: {column: g}}}}}\n",
            "entities.p.properties.markers.when",
            "exactly one of `equals` or `in`",
        ),
        (
            WITH + "{sex: {value: F, required: true}}}}\n",
            "entities.p.properties.sex.required",
            "with a column",
        ),
    ],
)
def test_entity_mistakes_name_their_path(text: str, path: str, expected: str) -> None:
    problems = problems_of(text)
    assert path in problems, problems
    assert expected in problems[path]


PEOPLE = (
    "entities:\n"
    "  child: {schema: Person, key: [cid]}\n"
    "  home: {schema: Address, key: [addr]}\n"
    "  episode: {schema: Event, key: [eid]}\n"
)


@pytest.mark.parametrize(
    ("relation", "path", "expected"),
    [
        (
            "{kind: knows, from: child, to: home}",
            "relations[0].kind",
            "expected a relation kind (lives_at, involved_in",
        ),
        (
            "{kind: lives_at, from: kid, to: home}",
            "relations[0].from",
            "expected an entity of this mapping (child, home, episode), got 'kid'",
        ),
        (
            "{kind: lives_at, from: home, to: child}",
            "relations[0].from",
            "lives_at from must be Person, but home is Address",
        ),
        (
            "{kind: lives_at, from: child, to: episode}",
            "relations[0].to",
            "lives_at to must be Address, but episode is Event",
        ),
        (
            "{kind: involved_in, from: child, to: episode}",
            "relations[0].role",
            "involved_in needs a role",
        ),
        (
            "{kind: involved_in, from: child, to: episode, role: {value: bystander}}",
            "relations[0].role.value",
            "expected one of victim, suspect",
        ),
        (
            "{kind: lives_at, from: child, to: home, role: {value: owner}}",
            "relations[0].role",
            "lives_at takes no role",
        ),
        (
            "{kind: lives_at, from: child, to: home, properties: {since: moved}}",
            "relations[0].properties.since",
            "lives_at has no property 'since'",
        ),
        (
            "{kind: lives_at, from: child, to: home, via: post}",
            "relations[0].via",
            "unknown setting",
        ),
    ],
)
def test_relation_mistakes_name_their_path(relation: str, path: str, expected: str) -> None:
    problems = problems_of(PEOPLE + f"relations:\n  - {relation}\n")
    assert path in problems, problems
    assert expected in problems[path]


def test_every_problem_is_reported_at_once() -> None:
    problems = problems_of(
        "entities:\n"
        "  a: {schema: Pet, key: [id]}\n"
        "  b: {schema: Person, key: [id], properties: {height: h}}\n"
        "relations: [{kind: knows, from: a, to: b}]\n"
    )
    assert set(problems) == {
        "entities.a.schema", "entities.b.properties.height", "relations[0].kind",
    }  # fmt: skip
    assert "entities.a.schema" in str(MappingError(problems))


def test_relation_properties_and_conditions_parse() -> None:
    mapping = parse_mapping(
        PEOPLE + "relations:\n"
        "  - kind: lives_at\n    from: child\n    to: home\n"
        "    properties: {from: {column: moved_in, format: '%d/%m/%Y'}}\n"
        "    when: {column: current, in: [yes, y]}\n"
    )
    relation = mapping.relations[0]
    assert relation.properties[0].property.type == "date"
    assert relation.when is not None and relation.when.holds({"current": "Yes"})
    assert {"moved_in", "current"} <= set(mapping.columns())


def test_yaml_is_read_safely() -> None:
    problems = problems_of("!!python/object/apply:os.system ['true']\n")
    assert any("not valid YAML" in p for p in problems.values())


_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=12),
    st.sampled_from(["Person", "Event", "lives_at", "involved_in", "id", "%d/%m/%Y", "victim"]),
)  # fmt: skip
_KEYS = st.sampled_from(
    ["entities", "relations", "schema", "key", "properties", "column", "value", "format",
     "split", "required", "when", "equals", "in", "kind", "from", "to", "role", "p", "e",
     "given_name", "date_of_birth", "kind"]
)  # fmt: skip
_DOCUMENTS = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=4),
    max_leaves=25,
)


def parses_or_explains(document: object) -> None:
    try:
        parse_mapping(yaml.safe_dump(document))
    except MappingError as error:
        assert error.problems
        assert all(isinstance(p, str) and p for p in error.problems.values())


@given(_DOCUMENTS)
def test_any_document_either_parses_or_says_what_is_wrong(document: object) -> None:
    parses_or_explains(document)


_RULES = st.dictionaries(_KEYS, _DOCUMENTS, max_size=4) | _SCALARS
_NEAR_MISSES = st.fixed_dictionaries(
    {
        "entities": st.fixed_dictionaries(
            {
                "p": st.fixed_dictionaries(
                    {"schema": st.sampled_from(["Person", "Event"]), "key": _DOCUMENTS,
                     "properties": st.dictionaries(_KEYS, _RULES, max_size=3)}
                ),
                "e": st.fixed_dictionaries({"schema": st.just("Event"), "key": st.just(["id"])}),
            }
        ),
        "relations": st.lists(st.dictionaries(_KEYS, _DOCUMENTS, max_size=5), max_size=2),
    }
)  # fmt: skip


@given(_NEAR_MISSES)
def test_near_miss_mappings_either_parse_or_say_what_is_wrong(document: object) -> None:
    parses_or_explains(document)

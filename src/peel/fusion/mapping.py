"""A source's mapping: how the columns of an agency's file become Peel's entities and relations.

The mapping is YAML (read with ``yaml.safe_load`` only) stored on the source. It names, for
each entity of a row (a child, their home, a missing episode …), its entity type, the columns
that form the source's own key, and where each property's values come from: a column, a
constant, or a constant when a column holds a given value. Relations join two entities of the
same row. Every problem names the YAML path and what was expected, so the agency can fix it.

Example::

    entities:
      child:
        schema: Person
        key: [child_id]
        properties:
          given_name: first_name
          date_of_birth: {column: dob, format: "%d/%m/%Y"}
          markers: {value: gang-associated, when: {column: gang_flag, equals: "Y"}}
    relations:
      - {kind: involved_in, from: child, to: episode, role: {value: missing-person}}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import yaml

from peel.fusion.schema import EntityModel, EntityType, Property, RelationKind, entity_model

FORMATS = ("csv", "excel", "json", "parquet")
MAX_MAPPING_CHARS = 200_000
_TOP_KEYS = {"format", "sheet", "records", "entities", "relations"}
_ENTITY_KEYS = {"schema", "key", "properties"}
_RULE_KEYS = {"column", "value", "format", "split", "required", "when"}
_RELATION_KEYS = {"kind", "from", "to", "role", "properties", "when"}
_WHEN_KEYS = {"column", "equals", "in"}


class MappingError(ValueError):
    """The mapping is not valid; ``problems`` maps each YAML path to what was expected."""

    def __init__(self, problems: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{path}: {problem}" for path, problem in problems.items()))
        self.problems = dict(problems)


@dataclass(frozen=True)
class Condition:
    """Take a value only when ``column`` holds one of ``values`` (compared without case)."""

    column: str
    values: frozenset[str]

    def holds(self, row: Mapping[str, str]) -> bool:
        return (row.get(self.column) or "").strip().casefold() in self.values


@dataclass(frozen=True)
class ValueRule:
    """Where one property's (or a role's) values come from in a row."""

    path: str
    column: str | None = None
    value: str | None = None
    format: str | None = None
    split: str | None = None
    required: bool = False
    when: Condition | None = None

    def raw_values(self, row: Mapping[str, str]) -> list[str]:
        """The row's raw, non-empty values for this rule (before normalising)."""
        if self.when is not None and not self.when.holds(row):
            return []
        if self.value is not None:
            return [self.value]
        cell = (row.get(self.column or "") or "").strip()
        if not cell:
            return []
        parts = cell.split(self.split) if self.split else [cell]
        return [part.strip() for part in parts if part.strip()]

    def columns(self) -> set[str]:
        found = {self.column} if self.column else set()
        return found | ({self.when.column} if self.when else set())


@dataclass(frozen=True)
class PropertyRule:
    """One mapped property: its declared type and where its values come from."""

    property: Property
    rule: ValueRule


@dataclass(frozen=True)
class EntityMapping:
    """One entity of each row: its type, its key columns and its properties."""

    name: str
    schema: EntityType
    key: tuple[str, ...]
    properties: tuple[PropertyRule, ...]

    def key_of(self, row: Mapping[str, str]) -> str | None:
        """The source's key for this row's entity, or None when every key column is empty."""
        parts = [(row.get(column) or "").strip() for column in self.key]
        return "|".join(parts) if any(parts) else None


@dataclass(frozen=True)
class RelationMapping:
    """A relation between two entities of the same row."""

    path: str
    kind: RelationKind
    from_entity: str
    to_entity: str
    role: ValueRule | None = None
    properties: tuple[PropertyRule, ...] = ()
    when: Condition | None = None


@dataclass(frozen=True)
class SourceMapping:
    """A whole, validated mapping."""

    entities: Mapping[str, EntityMapping]
    relations: tuple[RelationMapping, ...] = ()
    format: str | None = None
    sheet: str | None = None
    records: str | None = None
    text: str = field(default="", compare=False)

    def columns(self) -> dict[str, str]:
        """Every column the mapping reads, with the YAML path of its first use."""
        found: dict[str, str] = {}
        for entity in self.entities.values():
            for column in entity.key:
                found.setdefault(column, f"entities.{entity.name}.key")
            for prop in entity.properties:
                for column in sorted(prop.rule.columns()):
                    found.setdefault(column, prop.rule.path)
        for relation in self.relations:
            rules = [p.rule for p in relation.properties] + (
                [relation.role] if relation.role else []
            )
            for rule in rules:
                for column in sorted(rule.columns()):
                    found.setdefault(column, rule.path)
            if relation.when:
                found.setdefault(relation.when.column, f"{relation.path}.when")
        return found


def _as_written(value: Any) -> tuple[str, ...]:
    """What a YAML value may have been written as: YAML reads yes, on and true all as true."""
    if value is True:
        return ("true", "yes", "on")
    if value is False:
        return ("false", "no", "off")
    return (str(value).strip().casefold(),)


class _Parser:
    """Walks the YAML once, collecting every problem with its path."""

    def __init__(self, model: EntityModel) -> None:
        self.model = model
        self.problems: dict[str, str] = {}

    def problem(self, path: str, text: str) -> None:
        self.problems.setdefault(path, text)

    def text(self, raw: Any, path: str, what: str = "text") -> str | None:
        if isinstance(raw, bool) or not isinstance(raw, str | int | float) or str(raw) == "":
            self.problem(path, f"expected {what}, got {raw!r}")
            return None
        return str(raw)

    def unknown_keys(self, raw: Mapping[Any, Any], allowed: set[str], path: str) -> None:
        for key in raw:
            if key not in allowed:
                where = f"{path}.{key}" if path else str(key)
                self.problem(
                    where, f"unknown setting; expected one of {', '.join(sorted(allowed))}"
                )

    def condition(self, raw: Any, path: str) -> Condition | None:
        if not isinstance(raw, dict):
            self.problem(path, "expected {column: NAME, equals: VALUE} or {column, in: [VALUES]}")
            return None
        self.unknown_keys(raw, _WHEN_KEYS, path)
        column = self.text(raw.get("column"), f"{path}.column", "a column name")
        if ("equals" in raw) == ("in" in raw):
            self.problem(path, "expected exactly one of `equals` or `in`")
            return None
        wanted = [raw["equals"]] if "equals" in raw else raw["in"]
        if not isinstance(wanted, list) or not wanted:
            self.problem(f"{path}.in", "expected a list of values")
            return None
        values = frozenset(text for v in wanted if v is not None for text in _as_written(v))
        return Condition(column, values) if column else None

    def date_format(self, fmt: Any, path: str, prop: Property | None) -> str | None:
        if fmt is None:
            return None
        if prop is None or prop.type != "date":
            self.problem(path, "a format applies only to date properties")
            return None
        if not isinstance(fmt, str) or "%" not in fmt:
            self.problem(path, f"expected a strptime format like '%d/%m/%Y', got {fmt!r}")
            return None
        return fmt

    def rule(self, raw: Any, path: str, prop: Property | None) -> ValueRule | None:
        """A value rule: a column name, or {column|value, format, split, required, when}."""
        if isinstance(raw, str | int) and not isinstance(raw, bool):
            raw = {"column": raw}
        if not isinstance(raw, dict):
            self.problem(path, "expected a column name or {column: NAME} or {value: CONSTANT}")
            return None
        self.unknown_keys(raw, _RULE_KEYS, path)
        if ("column" in raw) == ("value" in raw):
            self.problem(path, "expected exactly one of `column` or `value`")
            return None
        column = (
            self.text(raw["column"], f"{path}.column", "a column name") if "column" in raw else None
        )
        value = self.text(raw["value"], f"{path}.value", "a value") if "value" in raw else None
        fmt = self.date_format(raw.get("format"), f"{path}.format", prop)
        split = raw.get("split")
        if split is not None and (column is None or not isinstance(split, str) or not split):
            self.problem(f"{path}.split", "expected a separator (like ';') for a column's values")
        required = raw.get("required", False)
        if not isinstance(required, bool) or (required and column is None):
            self.problem(f"{path}.required", "expected true or false, with a column")
        when = self.condition(raw["when"], f"{path}.when") if "when" in raw else None
        if value is not None and prop is not None:
            try:
                value = prop.normalise(value, fmt)
            except ValueError as error:
                self.problem(f"{path}.value", str(error))
        return ValueRule(
            path=path,
            column=column,
            value=value,
            format=fmt,
            split=split if isinstance(split, str) and split else None,
            required=required is True,
            when=when,
        )

    def properties(
        self, raw: Any, path: str, declared: Mapping[str, Property], owner: str
    ) -> tuple[PropertyRule, ...]:
        if raw is None:
            return ()
        if not isinstance(raw, dict):
            self.problem(path, "expected a mapping of property: column or rule")
            return ()
        rules: list[PropertyRule] = []
        for name, spec in raw.items():
            where = f"{path}.{name}"
            prop = declared.get(str(name))
            if prop is None:
                known = ", ".join(declared) or "none"
                self.problem(where, f"{owner} has no property {name!r}; expected one of {known}")
                continue
            rule = self.rule(spec, where, prop)
            if rule is not None:
                rules.append(PropertyRule(prop, rule))
        return tuple(rules)

    def key(self, raw: Any, path: str) -> tuple[str, ...]:
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, list) or not raw:
            self.problem(path, "expected a list of the columns that identify the entity")
            return ()
        columns = [self.text(c, f"{path}[{i}]", "a column name") for i, c in enumerate(raw)]
        return tuple(c for c in columns if c)

    def entity(self, name: str, raw: Any) -> EntityMapping | None:
        path = f"entities.{name}"
        if not isinstance(raw, dict):
            self.problem(path, "expected {schema, key, properties}")
            return None
        self.unknown_keys(raw, _ENTITY_KEYS, path)
        schema_name = str(raw.get("schema"))
        if schema_name not in self.model.entities:
            known = ", ".join(self.model.entities)
            self.problem(
                f"{path}.schema", f"expected an entity type ({known}), got {raw.get('schema')!r}"
            )
            return None
        etype = self.model.entities[schema_name]
        key = self.key(raw.get("key"), f"{path}.key")
        props = self.properties(
            raw.get("properties"), f"{path}.properties", etype.properties, etype.name
        )
        return EntityMapping(name, etype, key, props) if key else None

    def relation(
        self, index: int, raw: Any, entities: Mapping[str, EntityMapping]
    ) -> RelationMapping | None:
        path = f"relations[{index}]"
        if not isinstance(raw, dict):
            self.problem(path, "expected {kind, from, to}")
            return None
        self.unknown_keys(raw, _RELATION_KEYS, path)
        kind = self.model.relations.get(str(raw.get("kind")))
        if kind is None:
            known = ", ".join(self.model.relations)
            self.problem(
                f"{path}.kind", f"expected a relation kind ({known}), got {raw.get('kind')!r}"
            )
            return None
        ends = {}
        for end, allowed in (("from", kind.from_types), ("to", kind.to_types)):
            name = raw.get(end)
            entity = entities.get(str(name)) if name is not None else None
            if entity is None:
                known = ", ".join(entities) or "none"
                self.problem(
                    f"{path}.{end}", f"expected an entity of this mapping ({known}), got {name!r}"
                )
            elif entity.schema.name not in allowed:
                self.problem(
                    f"{path}.{end}",
                    f"{kind.name} {end} must be {' or '.join(allowed)}, "
                    f"but {name} is {entity.schema.name}",
                )
            else:
                ends[end] = entity.name
        role = self.role(raw.get("role"), f"{path}.role", kind)
        props = self.properties(
            raw.get("properties"), f"{path}.properties", kind.properties, kind.name
        )
        when = self.condition(raw["when"], f"{path}.when") if "when" in raw else None
        if len(ends) < 2:
            return None
        return RelationMapping(path, kind, ends["from"], ends["to"], role, props, when)

    def role(self, raw: Any, path: str, kind: RelationKind) -> ValueRule | None:
        if kind.roles is None:
            if raw is not None:
                self.problem(path, f"{kind.name} takes no role")
            return None
        if raw is None:
            roles = ", ".join(kind.roles)
            self.problem(
                path, f"{kind.name} needs a role: {{value: ROLE}} or {{column: NAME}} ({roles})"
            )
            return None
        rule = self.rule(raw, path, None)
        if rule is not None and rule.value is not None:
            try:
                rule = replace(rule, value=kind.normalise_role(rule.value))
            except ValueError as error:
                self.problem(f"{path}.value", str(error))
        return rule


def _top_level(parser: _Parser, raw: dict[Any, Any]) -> dict[str, str | None]:
    parser.unknown_keys(raw, _TOP_KEYS, "")
    found: dict[str, str | None] = {}
    for key in ("format", "sheet", "records"):
        value = raw.get(key)
        found[key] = parser.text(value, key) if value is not None else None
    if found["format"] is not None and found["format"] not in FORMATS:
        parser.problem("format", f"expected one of {', '.join(FORMATS)}, got {found['format']!r}")
    return found


def parse_mapping(text: str, model: EntityModel | None = None) -> SourceMapping:
    """Validate mapping YAML; :class:`MappingError` names every wrong path and what was expected."""
    if len(text) > MAX_MAPPING_CHARS:
        raise MappingError({"mapping": f"expected at most {MAX_MAPPING_CHARS} characters"})
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "mapping"
        problem = getattr(error, "problem", None) or str(error)
        raise MappingError({where: f"not valid YAML: {problem}"}) from None
    if not isinstance(raw, dict):
        raise MappingError(
            {"mapping": "expected a YAML mapping with `entities:` (and `relations:`)"}
        )
    parser = _Parser(model or entity_model())
    top = _top_level(parser, raw)
    raw_entities = raw.get("entities")
    entities: dict[str, EntityMapping] = {}
    if not isinstance(raw_entities, dict) or not raw_entities:
        parser.problem(
            "entities", "expected at least one entity: {name: {schema, key, properties}}"
        )
    else:
        for name, spec in raw_entities.items():
            entity = parser.entity(str(name), spec)
            if entity is not None:
                entities[entity.name] = entity
    relations = _relations(parser, raw.get("relations"), entities)
    if parser.problems:
        raise MappingError(parser.problems)
    return SourceMapping(entities, relations, top["format"], top["sheet"], top["records"], text)


def _relations(
    parser: _Parser, raw: Any, entities: Mapping[str, EntityMapping]
) -> tuple[RelationMapping, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        parser.problem("relations", "expected a list of {kind, from, to}")
        return ()
    found = [parser.relation(i, spec, entities) for i, spec in enumerate(raw)]
    return tuple(r for r in found if r is not None)


def mapping_problems(text: str) -> dict[str, str]:
    """The problems of a mapping, or an empty dict when it is valid (for forms)."""
    try:
        parse_mapping(text)
    except MappingError as error:
        return error.problems
    return {}


def missing_columns(mapping: SourceMapping, columns: Sequence[str]) -> dict[str, str]:
    """Columns the mapping reads that the file lacks, each with where the mapping names it."""
    present = set(columns)
    return {column: path for column, path in mapping.columns().items() if column not in present}
